"""A user's flow on a PostgreSQL workspace and on a Spark workspace, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.sample.library import sample_library_path
from sourcegrid.store import Workspace, engines

runner = CliRunner()

ACTIVITY = """企业编号,企业名称,行业代码,行政区划代码,工段名称,原料名称,工艺名称,生产规模,规模单位,活动水平,活动水平单位,年份,S,A
P1,示例电厂,4411,130902,锅炉,燃煤,煤粉炉,600,MW,1,万吨,2017,0.8,20
P2,示例电厂二,4411,130902,锅炉,燃煤,煤粉炉,600,MW,-3,万吨,2017,0.8,20
"""
TREATMENT = """enterprise_id,section,pollutant,treatment,k
P1,锅炉,SO2,石灰石-石膏法,0.9
"""
SECRET = "Pw-7Hq2-never-shown"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (engines.ENGINE_VAR, engines.DSN_VAR, engines.MASTER_VAR):
        monkeypatch.delenv(name, raising=False)


def _with_password(dsn: str) -> str:
    import psycopg.conninfo

    return psycopg.conninfo.make_conninfo(dsn, password=SECRET)  # the test server trusts


@pytest.mark.pg
def test_postgres_workspace_user_flow(tmp_path, postgres_dsn):
    ws = str(tmp_path / "ws")
    (tmp_path / "activity.csv").write_text(ACTIVITY, encoding="utf-8")
    (tmp_path / "treatment.csv").write_text(TREATMENT, encoding="utf-8")
    result = runner.invoke(app, ["init", "--engine", "postgres", "--dsn",
                                 _with_password(postgres_dsn), "-w", ws])
    assert result.exit_code == 0, result.output
    assert "on postgres (" in result.output and SECRET not in result.output
    config = (tmp_path / "ws" / engines.CONFIG_FILE).read_text(encoding="utf-8")
    assert 'engine = "postgres"' in config and SECRET not in config

    result = runner.invoke(app, ["coefficients", "import", str(sample_library_path()),
                                 "--name", "census2017", "-w", ws])
    assert result.exit_code == 0, result.output

    # two processes account into the same workspace at once; both runs are kept
    procs = [subprocess.Popen(
        [sys.executable, "-m", "sourcegrid.cli.main", "account", str(tmp_path / "activity.csv"),
         "--treatment", str(tmp_path / "treatment.csv"), "--library", "census2017",
         "--run", f"run{i}", "-w", ws], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "COLUMNS": "200"}) for i in (1, 2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    with Workspace(ws) as workspace:
        assert workspace.engine == "postgres"
        assert {"coefficient_libraries", "coefficient_rows", "emissions", "account_runs",
                "account_rejects"} <= set(workspace.tables())
        runs = workspace.read("account_runs")
        assert sorted(runs["run"]) == ["run1", "run2"]
        emissions = workspace.read("emissions")
    so2 = emissions[emissions["pollutant"] == "SO2"].set_index("run")
    # sample library: SO2 = 17*S kg/t coal, S = 0.8 %, 1 万吨 = 10 000 t → G = 136 000 kg;
    # 石灰石-石膏法 η = 0.95, k = 0.9 → E = 136 000 × (1 − 0.855) = 19 720 kg, in each run
    assert so2.loc[["run1", "run2"], "emission"].tolist() == pytest.approx([19_720.0] * 2)

    # the workflow's alert log runs on PostgreSQL too
    result = runner.invoke(app, ["alerts", "add", "R0001C0001", "--title", "smoke", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "(new)" in result.output
    result = runner.invoke(app, ["alerts", "list", "-w", ws])
    assert result.exit_code == 0 and "R0001C0001" in result.output, result.output


@pytest.mark.pg
def test_a_refused_connection_never_shows_the_password(tmp_path, postgres_server):
    dsn = f"postgresql://someone:{SECRET}@127.0.0.1:1/nowhere"
    result = runner.invoke(app, ["init", "--engine", "postgres", "--dsn", dsn, "-w",
                                 str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "cannot connect to the PostgreSQL workspace" in result.output
    assert SECRET not in result.output
    assert not (tmp_path / "ws" / engines.CONFIG_FILE).exists()
    debug = runner.invoke(app, ["--debug", "init", "--engine", "postgres", "--dsn", dsn, "-w",
                                str(tmp_path / "ws")])
    assert debug.exit_code == 2 and SECRET not in debug.output


_SPARK_FLOW = textwrap.dedent("""
    import json, sys
    from typer.testing import CliRunner
    from sourcegrid.cli.main import app
    from sourcegrid.store import Workspace
    runner = CliRunner()
    ws, folder = sys.argv[1], sys.argv[2]
    codes = []
    for args in (["init", "--engine", "spark", "-w", ws],
                 ["grid", "create", "--bbox", "116.3,39.8,116.5,40.0", "-w", ws],
                 ["observe", "ingest", folder + "/reference.csv", "--kind", "reference",
                  "-w", ws],
                 ["observe", "ingest", folder + "/micro.csv", "--kind", "micro", "-w", ws],
                 ["observe", "qc", "-w", ws],
                 ["observe", "calibrate", "-p", "PM2.5", "-w", ws],
                 ["grid", "fuse", "--from", "2024-01-10T08:00", "--to", "2024-01-10T09:00",
                  "--observed-only", "-w", ws]):
        result = runner.invoke(app, args)
        codes.append([args[0] + " " + args[1], result.exit_code, result.output[-2000:]])
    with Workspace(ws) as workspace:
        tables = workspace.tables()
        hours = workspace.read("cell_hours") if "cell_hours" in tables else None
        fits = (workspace.read("calibrations")[["site_id", "n_pairs", "intercept", "slope"]]
                .to_dict("records") if "calibrations" in tables else None)
    print(json.dumps({"codes": codes, "tables": tables, "engine": workspace.engine,
                      "fits": fits,
                      "hours": None if hours is None else hours[
                          ["pollutant", "value", "uncertainty"]].to_dict("records")}))
""")


@pytest.mark.spark
@pytest.mark.slow
def test_spark_workspace_user_flow(tmp_path):
    """init --engine spark, grid create, observe ingest, qc, calibrate, grid fuse in one process
    (one JVM);
    the tables are Parquet in the workspace's warehouse and open again in a new process."""
    # R1 reads 20 + i in hour i (PM10 twice that); M1, 85 m east of R1, reads exactly
    # 2 × R1 + 5 each hour, so the calibration R1 = a + b · M1 is b = 0.5, a = −2.5
    hours = [f"2024-01-{10 + (8 + i) // 24} {(8 + i) % 24:02d}:00" for i in range(30)]
    reference = [20.0 + i for i in range(30)]
    (tmp_path / "reference.csv").write_text(
        "time,site_id,lon,lat,PM2.5,PM10\n" + "".join(
            f"{t},R1,116.40,39.90,{r},{2 * r}\n" for t, r in zip(hours, reference, strict=True)),
        encoding="utf-8")
    (tmp_path / "micro.csv").write_text(
        "time,site_id,lon,lat,PM2.5\n" + "".join(
            f"{t},M1,116.401,39.90,{2 * r + 5}\n" for t, r in zip(hours, reference, strict=True)),
        encoding="utf-8")
    ws = tmp_path / "ws"
    done = subprocess.run([sys.executable, "-c", _SPARK_FLOW, str(ws), str(tmp_path)],
                          capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert [code for _, code, _ in report["codes"]] == [0] * 7, report["codes"]
    assert report["engine"] == "pyspark"
    assert {"coefficient_libraries", "cells", "observations", "cell_hours", "observation_flags",
            "calibrations"} <= set(report["tables"])
    [fit] = report["fits"]
    assert fit["site_id"] == "M1" and fit["n_pairs"] == 30
    assert (fit["intercept"], fit["slope"]) == pytest.approx((-2.5, 0.5), abs=1e-9)
    # 08:00 Beijing, one cell: PM10 from R1 alone, 40 with the reference u = 10 % (4.0);
    # PM2.5 from R1 (20, weight 1/0.10² = 100) and M1 calibrated (0.5 · 45 − 2.5 = 20, weight
    # 1/0.25² = 16): x̂ = 20, u = x̂ / √(100 + 16) (fusion.py, weighting 'observed')
    got = {h["pollutant"]: (h["value"], h["uncertainty"]) for h in report["hours"]}
    assert len(report["hours"]) == 2
    assert got["PM2.5"] == pytest.approx((20.0, 20.0 / 116 ** 0.5))
    assert got["PM10"] == pytest.approx((40.0, 4.0))
    assert 'engine = "spark"' in (ws / engines.CONFIG_FILE).read_text(encoding="utf-8")
    assert any(Path(ws, engines.WAREHOUSE_DIR).iterdir())
    assert not (ws / "workspace.duckdb").exists()
    assert not (tmp_path / "spark-warehouse").exists()  # nothing outside the workspace


def test_a_duckdb_workspace_keeps_its_memory_limit(tmp_path, monkeypatch):
    monkeypatch.delenv(engines.MEMORY_VAR, raising=False)
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", "--memory-limit", "1GB", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "memory limit 1GB" in result.output
    assert 'memory_limit = "1GB"' in (ws / engines.CONFIG_FILE).read_text(encoding="utf-8")
    with Workspace(ws) as workspace:  # every later open applies it: 1 GB = 953.6 MiB
        assert workspace.con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0] == (
            "953.6 MiB")
    monkeypatch.setenv(engines.MEMORY_VAR, "2GiB")  # the environment overrides the file
    with Workspace(ws) as workspace:
        assert workspace.con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0] == (
            "2.0 GiB")
    monkeypatch.setenv(engines.MEMORY_VAR, "lots")
    (tmp_path / "activity.csv").write_text(ACTIVITY, encoding="utf-8")
    result = runner.invoke(app, ["account", str(tmp_path / "activity.csv"), "-w", str(ws)])
    assert result.exit_code != 0
    assert "the memory limit 'lots' ($SOURCEGRID_MEMORY_LIMIT) is not a size" in (
        " ".join(result.output.split()))
    assert "Traceback" not in result.output
    monkeypatch.delenv(engines.MEMORY_VAR)
    (ws / engines.CONFIG_FILE).write_text('[workspace]\nmemory_limit = "1 elephant"\n',
                                          encoding="utf-8")
    with pytest.raises(engines.WorkspaceError, match="is not a size; expected a number and a "
                       "unit, e.g. 4GB"):
        Workspace(ws)
