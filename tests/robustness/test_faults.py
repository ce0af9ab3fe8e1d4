"""Kill ``sourcegrid account`` and ``sourcegrid observe ingest`` (SIGKILL, SIGTERM) at named
points and check that the workspace is as before, helpers are gone, outputs are the
previous file or a complete new one, and a re-run stores exactly the right rows.

The named points are :func:`sourcegrid.io.tables.fault_point` calls, inert unless
``SOURCEGRID_TEST_FAULT`` names them: the process then says it is there and sleeps to be
killed. A timed kill checks the same invariants at an arbitrary moment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.coefficients import sample_library
from sourcegrid.io.tables import write_table
from sourcegrid.sample.enterprises import generate_enterprises
from sourcegrid.store import Workspace

runner = CliRunner()


# --------------------------------------------------------------------------- helpers


def cli(*args) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def faulted(args, point: str | None, folder: Path, *, sig=signal.SIGKILL,
            after: float | None = None) -> tuple[int, str]:
    """Run the CLI in a process, stop it at ``point`` (or after ``after`` s) with ``sig``."""
    ready = folder / f"ready-{time.monotonic_ns()}"
    env = {**os.environ, "SOURCEGRID_TEST_FAULT_READY": str(ready),
           "SOURCEGRID_TEST_FAULT_SLEEP": "120"}
    if point:
        env["SOURCEGRID_TEST_FAULT"] = point
    process = subprocess.Popen([sys.executable, "-m", "sourcegrid.cli.main",
                                *map(str, args)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + (after if after is not None else 90)
    while time.monotonic() < deadline and process.poll() is None:
        if point and ready.exists():
            break
        time.sleep(0.02)
    if point:
        assert ready.exists(), f"never reached {point}: {process.communicate()}"
    if process.poll() is None:
        process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in out + err
    return process.returncode, out + err


def helpers(path: Path) -> list[str]:
    """Helper views and tables in the file (opened read-only: nothing is cleaned here)."""
    with Workspace(path, read_only=True) as ws:
        rows = ws.con.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND (starts_with(table_name, '_sg_') OR table_name = "
            "'_last_run_emissions')").fetchall()
    return [name for (name,) in rows]


def stored(path: Path, table: str) -> pd.DataFrame:
    with Workspace(path, read_only=True) as ws:
        return ws.read(table) if ws.has(table) else pd.DataFrame()


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".sg-tmp-" in p.name)


# --------------------------------------------------------------------------- account


@pytest.fixture(scope="module")
def account_case(tmp_path_factory):
    """Inputs, a reference run of the big input, and a workspace holding a small run."""
    folder = tmp_path_factory.mktemp("account")
    activity, treatment = generate_enterprises(800, library=sample_library(), seed=12)
    write_table(activity, folder / "big.csv")
    write_table(treatment, folder / "treatment.csv")
    write_table(activity.head(30), folder / "small.csv")
    cli("account", folder / "big.csv", "-t", folder / "treatment.csv", "-w", folder / "ref",
        "--run", "r2")
    reference = stored(folder / "ref", "emissions")
    base = folder / "base"
    for out in ("em.parquet", "em.csv"):
        cli("account", folder / "small.csv", "-t", folder / "treatment.csv", "-w", base / "ws",
            "--run", "r1", "--out", base / out)
    return {"folder": folder, "base": base, "reference": reference,
            "r1": stored(base / "ws", "emissions"),
            "runs": list(stored(base / "ws", "account_runs")["run"]), "csv": (base / "em.csv").read_bytes(),
            "parquet": (base / "em.parquet").read_bytes()}


def copy_case(case, tmp_path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(case["base"], target)
    return target


def account_args(case, target: Path, out: str = "em.csv"):
    folder = case["folder"]
    return ["account", folder / "big.csv", "-t", folder / "treatment.csv", "-w", target / "ws",
            "--run", "r2", "--out", target / out, "--rejects", target / "rejects.csv"]


def assert_account_as_before(case, target: Path) -> None:
    runs = stored(target / "ws", "account_runs")
    assert list(runs["run"]) == case["runs"] == ["r1", "r1"]  # no run without its rows
    emissions = stored(target / "ws", "emissions")
    assert set(emissions["run"]) == {"r1"} and len(emissions) == len(case["r1"])
    assert set(stored(target / "ws", "account_rejects").get("run", pd.Series(["r1"]))) <= {"r1"}
    assert helpers(target / "ws") == []


def assert_rerun_is_exact(case, target: Path) -> None:
    cli(*account_args(case, target))
    runs = stored(target / "ws", "account_runs")
    assert list(runs["run"]) == [*case["runs"], "r2"]
    emissions = stored(target / "ws", "emissions")
    mine = emissions[emissions["run"] == "r2"]
    key = ["source_row", "pollutant"]
    reference = case["reference"]
    assert len(mine) == len(reference) == int(runs.set_index("run").loc["r2", "emission_rows"])
    assert not mine.duplicated(key).any()
    pd.testing.assert_series_equal(
        mine.sort_values(key)["emission"].reset_index(drop=True),
        reference.sort_values(key)["emission"].reset_index(drop=True))
    assert len(pd.read_csv(target / "em.csv", encoding="utf-8-sig")) == len(reference)
    assert temps(target) == []                   # a killed writer's temp file is gone too
    assert helpers(target / "ws") == []


@pytest.mark.parametrize("point", ["save_run:after_emissions", "write:after_first_batch",
                                   "atomic:before_replace"])
def test_account_killed_at_a_point_leaves_workspace_and_output_as_before(account_case,
                                                                         tmp_path, point):
    target = copy_case(account_case, tmp_path)
    code, _ = faulted(account_args(account_case, target), point, tmp_path)
    assert code == -signal.SIGKILL
    assert_account_as_before(account_case, target)
    assert (target / "em.csv").read_bytes() == account_case["csv"]   # the previous file
    assert not (target / "rejects.csv").exists()                      # or none
    if point == "atomic:before_replace":
        assert_rerun_is_exact(account_case, target)


def test_account_killed_before_commit_keeps_complete_files_only(account_case, tmp_path):
    target = copy_case(account_case, tmp_path)
    code, _ = faulted(account_args(account_case, target), "workspace:before_commit", tmp_path)
    assert code == -signal.SIGKILL
    assert_account_as_before(account_case, target)
    # the outputs were complete before the commit: the new file, whole
    written = pd.read_csv(target / "em.csv", encoding="utf-8-sig")
    assert len(written) == len(account_case["reference"])
    assert_rerun_is_exact(account_case, target)


def test_account_terminated_writing_parquet_unwinds_cleanly_with_exit_143(account_case,
                                                                          tmp_path):
    target = copy_case(account_case, tmp_path)
    code, output = faulted(account_args(account_case, target, "em.parquet"),
                           "atomic:before_replace", tmp_path, sig=signal.SIGTERM)
    assert code == 143
    assert "terminated (SIGTERM): the workspace was left as it was before this command" in \
        " ".join(output.split())
    assert_account_as_before(account_case, target)
    assert (target / "em.parquet").read_bytes() == account_case["parquet"]
    assert temps(target) == []                   # unwound: the temp file was removed


def test_account_killed_at_any_moment_is_all_or_nothing(account_case, tmp_path):
    target = copy_case(account_case, tmp_path)
    faulted(account_args(account_case, target), None, tmp_path, after=3.0)
    runs = stored(target / "ws", "account_runs")
    emissions = stored(target / "ws", "emissions")
    assert helpers(target / "ws") == []
    if "r2" in set(runs["run"]):  # it finished first: all of it
        assert (emissions["run"] == "r2").sum() == len(account_case["reference"])
    else:
        assert_account_as_before(account_case, target)
    csv = (target / "em.csv").read_bytes()
    assert csv == account_case["csv"] or len(pd.read_csv(
        target / "em.csv", encoding="utf-8-sig")) == len(account_case["reference"])


# --------------------------------------------------------------------------- observe ingest

SITES = 10


def micro_file(path: Path, first: int, last: int) -> Path:
    """Micro-station minutes [first, last) at SITES sites, PM2.5 and PM10 (plausible values)."""
    minutes = np.tile(np.arange(first, last), SITES)
    times = pd.Timestamp("2024-01-10 00:00") + pd.to_timedelta(minutes, unit="min")
    pd.DataFrame({
        "time": times.strftime("%Y-%m-%d %H:%M"),
        "site_id": np.repeat([f"M{i}" for i in range(SITES)], last - first),
        "lon": 116.4, "lat": 39.9, "PM2.5": 20 + minutes % 50, "PM10": 40 + minutes % 60,
    }).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ingest_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest")
    first = micro_file(folder / "first.csv", 0, 600)
    micro_file(folder / "second.csv", 300, 1500)
    base = folder / "base"
    cli("observe", "ingest", first, "--kind", "micro", "-w", base)
    return {"folder": folder, "base": base}


def assert_ingest_as_before(path: Path) -> None:
    # first.csv alone: 10 sites x 600 minutes x 2 pollutants
    assert len(stored(path, "observations")) == SITES * 600 * 2
    assert list(stored(path, "ingested_files")["source"]) == ["first.csv"]


@pytest.mark.parametrize("point", ["ingest:after_chunk", "workspace:before_commit", None])
def test_ingest_killed_leaves_the_workspace_as_before_and_a_rerun_is_exact(ingest_case,
                                                                           tmp_path, point):
    target = tmp_path / "ws"
    shutil.copytree(ingest_case["base"], target)
    args = ["observe", "ingest", ingest_case["folder"] / "second.csv", "--kind", "micro",
            "-w", target]
    faulted(args, point, tmp_path, after=None if point else 2.0)
    if point is not None or "second.csv" not in set(stored(target, "ingested_files")["source"]):
        assert_ingest_as_before(target)
    cli(*args)
    cli(*args)   # the same file again adds nothing
    # minutes 0..1499 at 10 sites, 2 pollutants: the overlap (300..599) is stored once
    observations = stored(target, "observations")
    assert len(observations) == SITES * 1500 * 2
    assert not observations.duplicated(["site_id", "time", "pollutant"]).any()
    assert sorted(stored(target, "ingested_files")["source"]) == ["first.csv", "second.csv"]


# --------------------------------------------------------------------------- the pieces


def test_a_transaction_is_all_or_nothing_and_nested_blocks_join_it(tmp_path):
    with Workspace(tmp_path / "ws", create=True) as ws:
        ws.write("t", pd.DataFrame({"x": [1]}))
        with pytest.raises(RuntimeError), ws.transaction():
            ws.write("t", pd.DataFrame({"x": [2]}), mode="append")
            with ws.transaction():           # joins: its end commits nothing yet
                ws.write("u", pd.DataFrame({"y": [1]}))
            assert ws.in_transaction
            raise RuntimeError("stop")
        assert not ws.in_transaction
        assert ws.read("t")["x"].tolist() == [1] and not ws.has("u")
        with ws.transaction():
            ws.write("t", pd.DataFrame({"x": [3]}), mode="append")
        assert ws.read("t")["x"].tolist() == [1, 3]
        ws.begin()
        ws.write("v", pd.DataFrame({"z": [1]}))
    # closing with an open transaction and no error commits it (context manager) ...
    with Workspace(tmp_path / "ws") as ws:
        assert ws.has("v")
        ws.begin()
        ws.write("w", pd.DataFrame({"z": [1]}))
        ws.close()                           # ... a bare close() rolls it back
    with Workspace(tmp_path / "ws") as ws:
        assert not ws.has("w")


def test_helpers_a_killed_run_left_are_dropped_at_the_next_write_open(tmp_path):
    with Workspace(tmp_path / "ws", create=True) as ws:
        ws.con.con.execute("CREATE TABLE _last_run_emissions AS SELECT 1 AS x")
        ws.con.con.execute("CREATE TABLE kept AS SELECT 1 AS x")
        ws.con.con.execute("CREATE VIEW _sg_activity_0123 AS SELECT * FROM kept")
    assert sorted(helpers(tmp_path / "ws")) == ["_last_run_emissions", "_sg_activity_0123"]
    Workspace(tmp_path / "ws").close()
    assert helpers(tmp_path / "ws") == []
    with Workspace(tmp_path / "ws", read_only=True) as ws:
        assert ws.has("kept")
