"""The ``sourcegrid`` command line.

Each topic module (accounting and its other methods, coefficients, inventory, quality,
observations, grid, hotspots, tracing, weather, workflow, the web server and the demo)
registers its commands on the main app or on a command group.

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
    demo,
    grid,
    hotspots,
    inventory,
    methods,
    observe,
    quality,
    quality_assessment,
    serve,
    tracing,
    weather,
    workflow,
)
from sourcegrid.cli.common import SafeGroup, set_debug

app = typer.Typer(
    name="sourcegrid",
    help="sourcegrid: emission accounting (二污普), hotspot grid monitoring, source tracing "
    "(溯源), grid management and environmental quality assessment.",
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








for module in (accounting, coefficients, quality, quality_assessment, observe, grid, hotspots, demo,
               weather, serve, workflow, tracing, inventory, methods):
    module.register(app, groups)

for name, group in groups.items():
    app.add_typer(group, name=name)


def main() -> None:
    """Console entry point (the same as calling ``app``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
