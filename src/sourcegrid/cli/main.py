"""The ``sourcegrid`` command line.

Each topic module (accounting, coefficients, quality, observations, grid,
hotspots) registers its commands on the main app or on a command group.

``app`` itself is the protected entry point: its click group
(:class:`sourcegrid.cli.common.SafeGroup`) runs every command, of every module,
inside one error path (no traceback reaches a user unless ``--debug``; exit codes
in :mod:`sourcegrid.cli.common`) and one workspace transaction per command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sourcegrid.cli import (
    accounting,
    coefficients,
    grid,
    hotspots,
    observe,
    quality,
    quality_more,
)
from sourcegrid.cli.common import SafeGroup, set_debug

app = typer.Typer(
    name="sourcegrid",
    help="sourcegrid: emission accounting (二污普 coefficient method), hotspot grid monitoring "
    "and environmental quality assessment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=SafeGroup,
)


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the Python traceback of an error (also SOURCEGRID_DEBUG=1).")]
    = False,
) -> None:
    set_debug(debug)

groups: dict[str, typer.Typer] = {
    "coefficients": typer.Typer(help="Coefficient libraries (系数库): import, list, show, "
                                "validate, compare.", no_args_is_help=True),
    "grid": typer.Typer(help="The monitoring grid (网格): create, fuse, classify.",
                        no_args_is_help=True),
    "observe": typer.Typer(help="Observation feeds: ingest, quality control, calibration.",
                           no_args_is_help=True),
    "targets": typer.Typer(help="Binding targets (约束性指标): add, list, report.",
                           no_args_is_help=True),
}

from sourcegrid.cli import demo  # noqa: E402 (the demo helper's module)

from sourcegrid.cli import weather  # noqa: E402 (weather normalisation, trend)

from sourcegrid.cli import serve  # noqa: E402 (the web app: serve, web password/token)

from sourcegrid.cli import workflow  # noqa: E402 (org, alerts, dossier, assess)

from sourcegrid.cli import tracing  # noqa: E402 (trace, findings)

from sourcegrid.cli import inventory  # noqa: E402 (inventory import, build, show)

from sourcegrid.cli import methods  # noqa: E402 (monitoring, balance, uncertainty, macro)

for module in (accounting, coefficients, quality, quality_more, observe, grid, hotspots, demo,
               weather, serve, workflow, tracing, inventory, methods):
    module.register(app, groups)

for name, group in groups.items():
    app.add_typer(group, name=name)


def main() -> None:
    """Console entry point (the same as calling ``app``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
