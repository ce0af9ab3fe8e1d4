"""The ``sourcegrid`` command line.

Each topic module (accounting, coefficients, quality, observations, grid,
hotspots) registers its commands on the main app or on a command group.
"""

from __future__ import annotations

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

app = typer.Typer(
    name="sourcegrid",
    help="sourcegrid: emission accounting (二污普 coefficient method), hotspot grid monitoring "
    "and environmental quality assessment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

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

for module in (accounting, coefficients, quality, quality_more, observe, grid, hotspots):
    module.register(app, groups)

for name, group in groups.items():
    app.add_typer(group, name=name)


if __name__ == "__main__":  # pragma: no cover
    app()
