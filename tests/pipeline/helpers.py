"""One small city run through the pipeline and the report, shared by the tests of a session.

The sample city of :mod:`sourcegrid.sample.city`, over a short period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sourcegrid.sample.city import generate_city

SEED = 7
DAYS = 3

_CACHE: dict[str, object] = {}


@dataclass
class DemoRun:
    city: object
    workspace: object
    result: object
    reports: list
    report: Path


def small_city(seed: int = SEED, days: int = DAYS):
    """The sample city over ``days`` days."""
    return generate_city(seed, days=days, n_enterprises=80, n_micro=40, extent_km=30.0)


def demo_run(tmp_path_factory) -> DemoRun:
    """Run the pipeline and build the report once per test session."""
    if "run" not in _CACHE:
        from sourcegrid.pipeline import run_city_pipeline
        from sourcegrid.report import build_report
        from sourcegrid.store import Workspace

        folder = tmp_path_factory.mktemp("demo-run")
        city = small_city()
        workspace = Workspace(folder / "ws", create=True)
        reports: list = []
        result = run_city_pipeline(workspace, city, progress=reports.append)
        report = build_report(workspace, folder / "report")
        _CACHE["run"] = DemoRun(city, workspace, result, reports, report)
    return _CACHE["run"]  # type: ignore[return-value]
