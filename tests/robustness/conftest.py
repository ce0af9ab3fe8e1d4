"""Shared pieces of the domain and fuzz tests: a small grid workspace and a CLI runner
that fails on any traceback or unhandled exception.

The grid workspace is the README's grid example (a 3 km grid over central Beijing,
one reference and one micro-station, fused into cell-hours for 2024-01-10 08:00 to
10:00 Beijing time); it is built once per session and copied for each test that
changes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app

REFERENCE_CSV = """time,site_id,lon,lat,PM2.5,PM10
2024-01-10 08:00,R1,116.40,39.90,35,60
2024-01-10 09:00,R1,116.40,39.90,40,70
"""
MICRO_CSV = """time,site_id,lon,lat,PM2.5,RH
2024-01-10 08:00,M1,116.45,39.95,50,60
2024-01-10 08:01,M1,116.45,39.95,52,61
"""
BBOX = "116.3,39.8,116.5,40.0"

#: Exit codes a command may end with on bad input (sourcegrid.errors.EXIT_CODES):
#: 0 done, 2 bad input, 3 workspace busy, 4 workspace corrupt. 1 only with --strict.
CLEAN_EXIT_CODES = {0, 2, 3, 4}


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def run_cli(args, *, allowed=frozenset(CLEAN_EXIT_CODES), **kwargs):
    """Invoke the CLI in-process; fail on a traceback, an unhandled exception or an exit
    code outside ``allowed``."""
    runner = CliRunner()
    result = runner.invoke(app, [str(a) for a in args], **kwargs)
    output = result.output
    assert "Traceback (most recent call last)" not in output, output
    exception = result.exception
    unhandled = exception is not None and not isinstance(exception, SystemExit)
    assert not unhandled, f"{args}: unhandled {exception!r}\n{output}"
    assert result.exit_code in allowed, f"{args}: exit {result.exit_code}\n{output}"
    assert "internal error" not in output, output
    return result


@pytest.fixture(scope="session")
def grid_workspace(tmp_path_factory) -> Path:
    """A workspace with grid, cells, observations and cell_hours (README grid example)."""
    folder = tmp_path_factory.mktemp("grid")
    ws = folder / "ws"
    (folder / "reference.csv").write_text(REFERENCE_CSV, encoding="utf-8")
    (folder / "micro.csv").write_text(MICRO_CSV, encoding="utf-8")
    for args in (
        ["grid", "create", "--bbox", BBOX, "--cell-size", "3000", "-w", ws],
        ["observe", "ingest", folder / "reference.csv", "--kind", "reference", "-w", ws],
        ["observe", "ingest", folder / "micro.csv", "--kind", "micro", "-w", ws],
        ["grid", "fuse", "--from", "2024-01-10T08:00", "--to", "2024-01-10T10:00", "-w", ws],
    ):
        result = run_cli(args, allowed={0})
        assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def workspace_copy(grid_workspace, tmp_path) -> Path:
    """A private copy of the grid workspace, free to change."""
    target = tmp_path / "ws"
    shutil.copytree(grid_workspace, target, ignore=shutil.ignore_patterns("*.lock", "*.wal"))
    return target


def stored_rows(workspace: Path, table: str) -> int:
    """Rows of a workspace table (0 when it does not exist)."""
    from sourcegrid.store import Workspace

    with Workspace(workspace) as ws:
        return int(ws.table(table).count().to_pyarrow().as_py()) if ws.has(table) else 0
