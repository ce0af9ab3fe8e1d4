"""Fuzz the command line (issue 12, §6): every README command with bad files and bad options.

Each invocation must end without a traceback, without an unhandled exception and with
an exit code of :data:`CLEAN_EXIT_CODES` (0 done, 2 bad input, 3 busy, 4 corrupt;
70 = internal error is a failure). For every input a command ACCEPTS, the results it
stores or writes stay physical: finite, non-negative, within their range.

The bad files are the issue's list: empty, header only, binary garbage, a folder
where a file is expected, a path that does not exist, a Parquet or XLSX file that is
not one, and generated CSV text. Options get out-of-domain numbers (negative, zero,
NaN, inf, 1e300), reversed periods and impossible dates. Hypothesis generates the
values with few examples each, so the whole file stays within about two minutes.
"""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourcegrid.observations.readers import PHYSICAL_RANGES

from .conftest import BBOX, run_cli

FUZZ = settings(max_examples=5, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# --------------------------------------------------------------------------- bad files

#: Headers a real file of each kind would have: a header-only file is "no rows".
HEADERS = {
    "activity": "enterprise_id,industry_code,section,activity,activity_unit,period\n",
    "library": "行业代码,行业类型,工段名称,污染物类别,污染物指标,单位,产污系数\n",
    "readings": "time,site_id,lon,lat,PM2.5\n",
    "wind": "time,site_id,lon,lat,wind_speed,wind_dir\n",
    "water": "section_id,parameter,value\n",
    "current": "indicator,region,year,value\n",
    "admin": "cell_id,city_code\n",
}
BAD_KINDS = ["empty", "header_only", "garbage", "directory", "missing", "bad_parquet",
             "bad_xlsx", "gbk"]


def bad_file(folder, kind: str, header: str):
    """A bad input of ``kind`` in ``folder``."""
    if kind == "directory":
        path = folder / "a_folder.csv"
        path.mkdir()
        return path
    if kind == "missing":
        return folder / "does_not_exist.csv"
    if kind == "bad_parquet":
        path = folder / "bad.parquet"
        path.write_bytes(b"PAR1 this is not parquet")
        return path
    if kind == "bad_xlsx":
        path = folder / "bad.xlsx"
        path.write_bytes(b"PK\x03\x04 not a workbook")
        return path
    path = folder / f"{kind}.csv"
    data = {"empty": b"", "header_only": header.encode("utf-8"),
            "garbage": bytes(range(256)) * 4,
            "gbk": (header + "甲,乙\n").encode("gbk")}[kind]
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def module_workspace(grid_workspace, tmp_path_factory):
    """A copy of the grid workspace shared by this module's tests (with the sample library)."""
    target = tmp_path_factory.mktemp("fuzz") / "ws"
    shutil.copytree(grid_workspace, target)
    run_cli(["init", "-w", target], allowed={0})
    run_cli(["targets", "add", "--indicator", "PM2.5", "--region", "X", "--base-year", "2020",
             "--base-value", "58", "--target", "45", "--deadline", "2025", "-w", target],
            allowed={0})
    return target


#: (command template, header kind): FILE is replaced by the bad file, WS by the workspace.
FILE_COMMANDS = [
    (["account", "FILE", "-w", "WS"], "activity"),
    (["account", "ACTIVITY", "--treatment", "FILE", "-w", "WS"], "activity"),
    (["coefficients", "validate", "FILE"], "library"),
    (["coefficients", "import", "FILE", "--name", "fuzz", "-w", "WS"], "library"),
    (["aqi", "FILE", "--out", "OUT.csv"], "readings"),
    (["composite", "FILE"], "readings"),
    (["gooddays", "FILE"], "readings"),
    (["water", "FILE"], "water"),
    (["targets", "report", "--current", "FILE", "-w", "WS"], "current"),
    (["observe", "ingest", "FILE", "--kind", "reference", "-w", "WS"], "readings"),
    (["observe", "ingest", "FILE", "--kind", "wind", "-w", "WS"], "wind"),
    (["observe", "ingest", "FILE", "--kind", "satellite", "--date", "2024-01-10", "-w", "WS"],
     "readings"),
    (["grid", "create", "--bbox", BBOX, "--admin", "FILE", "-w", "NEWWS"], "admin"),
    (["grid", "create", "--boundary", "FILE", "-w", "NEWWS"], "admin"),
]


def _fill(template, path, folder, workspace):
    activity = folder / "good_activity.csv"
    if not activity.exists():
        activity.write_text(HEADERS["activity"] + "E1,4411,锅炉,1,吨,2017\n", encoding="utf-8")
    values = {"FILE": str(path), "WS": str(workspace), "NEWWS": str(folder / "new_ws"),
              "OUT.csv": str(folder / "out.csv"), "ACTIVITY": str(activity)}
    return [values.get(part, part) for part in template]


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("template, header", FILE_COMMANDS,
                         ids=[" ".join(t[:2]) + f"[{i}]" for i, (t, _) in
                              enumerate(FILE_COMMANDS)])
def test_bad_files_are_refused_cleanly(module_workspace, tmp_path, template, header, kind):
    path = bad_file(tmp_path, kind, HEADERS[header])
    before = _tables(module_workspace)
    result = run_cli(_fill(template, path, tmp_path, module_workspace))
    # a bad file is bad input; a header-only treatment or admin table may be fine, and a
    # GBK file (the usual encoding of Chinese spreadsheets' CSV) may be read
    if result.exit_code == 0:
        assert kind in ("header_only", "gbk"), result.output
    else:
        assert result.exit_code == 2, result.output
        assert _tables(module_workspace) == before  # nothing half-stored
    assert not (tmp_path / "out.csv").exists() or result.exit_code == 0


def _tables(workspace) -> dict[str, int]:
    from sourcegrid.store import Workspace

    with Workspace(workspace) as ws:
        return {name: int(ws.table(name).count().to_pyarrow().as_py())
                for name in ws.tables() if not name.startswith("_")}


@pytest.mark.parametrize("out", ["missing_folder/x.csv", "x.unknown", "a_folder"])
def test_bad_output_paths(module_workspace, tmp_path, out):
    (tmp_path / "a_folder").mkdir()
    target = tmp_path / out
    for args in (["grid", "export", "--table", "cells", "--out", target, "-w", module_workspace],
                 ["coefficients", "export", "sample", "--out", target, "-w", module_workspace]):
        result = run_cli(args)
        if result.exit_code == 0:  # a missing folder is created, as the README says
            assert out.startswith("missing_folder") and target.is_file()
        else:
            assert result.exit_code == 2


# --------------------------------------------------------------------------- generated CSV

CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "abc", "NaN", "inf", "-0", "1e300", "-1e300", "0x10", "１２", "12L",
                     "2024-13-45", "—", "NA", "\"", "a,b", "8784", "-80"]),
)


@FUZZ
@given(values=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=6))
def test_generated_readings_are_ingested_physical_or_rejected(module_workspace, tmp_path_factory,
                                                              values):
    folder = tmp_path_factory.mktemp("readings")
    lines = ["time,site_id,lon,lat,PM2.5,TEMP,RH"]
    for number, (pm, temp, rh) in enumerate(values):
        lines.append(f"2024-01-10 {number % 24:02d}:00,F{number},116.4,39.9,"
                     f"{_csv(pm)},{_csv(temp)},{_csv(rh)}")
    path = folder / "readings.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(["observe", "ingest", path, "--kind", "micro", "--force",
                      "-w", module_workspace])
    if result.exit_code == 0:
        from sourcegrid.store import Workspace

        with Workspace(module_workspace) as ws:
            stored = ws.read("observations")
        for pollutant, (low, high) in PHYSICAL_RANGES.items():
            chosen = stored.loc[stored["pollutant"] == pollutant, "value"]
            assert chosen.map(math.isfinite).all()
            assert chosen.between(low, high).all(), (pollutant, chosen.tolist())
        assert stored["lon"].between(-180, 180).all() and stored["lat"].between(-90, 90).all()
    # the AQI of the same file: every accepted value gives an AQI of 0-500, or none
    out = folder / "aqi.csv"
    result = run_cli(["aqi", path, "--hourly", "--out", out])
    if result.exit_code == 0:
        aqi = pd.read_csv(out)["aqi"].dropna()
        assert aqi.between(0, 500).all()


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text


@settings(FUZZ, max_examples=3)  # one accounting run takes a few seconds
@given(activity=CELL, sulfur=CELL, run_hours=CELL)
def test_generated_activity_gives_physical_emissions_or_rejects(module_workspace,
                                                                tmp_path_factory, activity,
                                                                sulfur, run_hours):
    folder = tmp_path_factory.mktemp("activity")
    path = folder / "activity.csv"
    path.write_text(
        "enterprise_id,industry_code,section,raw_material,process,capacity,capacity_unit,"
        "activity,activity_unit,period,S,A\n"
        f"P1,4411,锅炉,燃煤,煤粉炉,600,MW,{_csv(activity)},吨,2017,{_csv(sulfur)},20\n",
        encoding="utf-8")
    treatment = folder / "treatment.csv"
    treatment.write_text("enterprise_id,section,pollutant,treatment,run_hours,production_hours\n"
                         f"P1,锅炉,SO2,石灰石-石膏法,{_csv(run_hours)},8000\n", encoding="utf-8")
    out = folder / "emissions.csv"
    result = run_cli(["account", path, "--treatment", treatment, "--out", out,
                      "-w", module_workspace])
    if result.exit_code == 0 and out.exists():
        emissions = pd.read_csv(out)
        for column in ("generation", "removal", "emission"):
            assert emissions[column].map(math.isfinite).all()
            assert (emissions[column] >= 0).all()
        assert (emissions["generation"] - emissions["removal"] - emissions["emission"]).abs(
        ).le(1e-6 * emissions["generation"].abs() + 1e-9).all()
        # an activity above the bound or a sulfur content outside 0-100 % never counts
        assert (emissions["generation"] <= 1e12 * 1000).all()


@FUZZ
@given(coefficient=CELL, efficiency=CELL)
def test_generated_library_values_are_valid_or_rejected(tmp_path_factory, coefficient,
                                                        efficiency):
    folder = tmp_path_factory.mktemp("library")
    path = folder / "library.csv"
    path.write_text(
        "行业代码,行业类型,工段名称,原料名称,工艺名称,规模等级,污染物类别,污染物指标,单位,产污系数,"
        "末端治理技术名称,末端治理技术平均去除效率(%),参考k值计算公式\n"
        f"4411,流程型,锅炉,燃煤,煤粉炉,所有规模,废气,二氧化硫,千克/吨-原料,{_csv(coefficient)},"
        f"石灰石-石膏法,{_csv(efficiency)},\n", encoding="utf-8")
    result = run_cli(["coefficients", "validate", path])
    if result.exit_code == 0:
        from sourcegrid.coefficients import load_library

        rows = load_library(path, "fuzz").rows
        numbers = rows["generation_coefficient"].dropna()
        assert numbers.map(math.isfinite).all() and (numbers >= 0).all()
        assert rows["removal_efficiency"].between(0, 1).all()


@FUZZ
@given(value=CELL, year=CELL)
def test_generated_target_values(module_workspace, tmp_path_factory, value, year):
    folder = tmp_path_factory.mktemp("current")
    path = folder / "current.csv"
    path.write_text(f"indicator,region,year,value\nPM2.5,X,{_csv(year)},{_csv(value)}\n",
                    encoding="utf-8")
    out = folder / "progress.csv"
    result = run_cli(["targets", "report", "--current", path, "--out", out,
                      "-w", module_workspace])
    if result.exit_code == 0:
        report = pd.read_csv(out)
        expected = report["expected_value"].dropna()
        # the line from 58 (2020) to 45 (2025) never leaves [45, 58]
        assert expected.between(45, 58).all()
        assert (report["current_value"].dropna() >= 0).all()


# --------------------------------------------------------------------------- options

NUMBER = st.one_of(st.sampled_from([-1.0, 0.0, math.nan, math.inf, -math.inf, 1e300, 150.0,
                                    2.0, 0.5, 1.0, 100.0]),
                   st.floats(allow_nan=True, allow_infinity=True, width=32))
DATE = st.sampled_from(["2024-01-10", "2024-01-11", "2024-13-45", "2024-02-30", "yesterday",
                        "", "0000-00-00", "2024-01-10T25:00", "99999-01-01", "2024-01-10T08:00",
                        "2024-01"])


@FUZZ
@given(alpha=NUMBER, top_percent=NUMBER, radius=NUMBER, threshold=NUMBER,
       method=st.sampled_from(["rank", "gistar", "persistence", "monthly"]),
       start=DATE, end=DATE)
def test_hotspot_options(module_workspace, alpha, top_percent, radius, threshold, method,
                         start, end):
    args = ["hotspots", "--method", method, f"--from={start}", f"--to={end}",
            f"--alpha={alpha!r}", f"--radius={radius!r}", "-w", module_workspace]
    if method == "persistence":
        args.append(f"--threshold={threshold!r}")
    elif method != "monthly":
        args.append(f"--top-percent={top_percent!r}")
    result = run_cli(args)
    if result.exit_code == 0:
        from sourcegrid.store import Workspace

        with Workspace(module_workspace) as ws:
            stored = ws.read("hotspots")
        assert len(stored)
        assert stored["mean"].map(math.isfinite).all() and (stored["mean"] >= 0).all()
        if "p_two_sided" in stored:
            assert stored["p_two_sided"].dropna().between(0, 1).all()
        if "persistence" in stored:
            assert stored["persistence"].between(0, 1).all()
        assert 0 < alpha < 1 and 0 < radius


@FUZZ
@given(cell_size=NUMBER, bbox=st.one_of(
    st.sampled_from([BBOX, "116.5,39.8,116.3,40.0", "500,1,501,2", "a,b,c,d", "1,2,3",
                     "-180,-90,180,90", "116.3,39.8,116.3,39.8"]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=4, max_size=4).map(
        lambda v: ",".join(map(repr, v)))))
def test_grid_create_options(tmp_path_factory, cell_size, bbox):
    ws = tmp_path_factory.mktemp("create") / "ws"
    result = run_cli(["grid", "create", f"--bbox={bbox}", f"--cell-size={cell_size!r}",
                      "--max-cells", "200000", "-w", ws])
    if result.exit_code == 0:
        from sourcegrid.store import Workspace

        with Workspace(ws) as store:
            cells = store.read("cells")
        assert 0 < len(cells) <= 200_000
        assert cells["lon"].between(-180, 180).all() and cells["lat"].between(-90, 90).all()


@FUZZ
@given(start=DATE, end=DATE, max_distance=NUMBER)
def test_fuse_options_never_empty_cell_hours(grid_workspace, tmp_path_factory, start, end,
                                             max_distance):
    ws = tmp_path_factory.mktemp("fuse") / "ws"
    shutil.copytree(grid_workspace, ws)
    before = _tables(ws)["cell_hours"]
    result = run_cli(["grid", "fuse", f"--from={start}", f"--to={end}",
                      f"--max-distance={max_distance!r}", "-w", ws])
    after = _tables(ws)["cell_hours"]
    if result.exit_code == 0:
        assert after > 0
        from sourcegrid.store import Workspace

        with Workspace(ws) as store:
            hours = store.read("cell_hours")
        assert (hours["value"] >= 0).all() and (hours["uncertainty"] >= 0).all()
    else:
        assert after == before


@FUZZ
@given(threshold=NUMBER, consecutive=st.integers(-5, 5), radius=NUMBER, start=DATE, end=DATE,
       gap=st.sampled_from(["2min", "0s", "-1h", "abc", "", "1h"]))
def test_alert_options(module_workspace, threshold, consecutive, radius, start, end, gap):
    result = run_cli(["grid", "alerts", "check", f"--threshold={threshold!r}",
                      f"--consecutive={consecutive}", f"--radius-km={radius!r}",
                      f"--from={start}", f"--to={end}", f"--max-gap={gap}",
                      "-w", module_workspace])
    if result.exit_code == 0:
        assert threshold >= 0 and consecutive >= 1 and radius > 0


@FUZZ
@given(start=DATE, end=DATE, edition=st.sampled_from(["2012", "2026", "2020", ""]),
       command=st.sampled_from(["composite", "gooddays"]))
def test_quality_period_options(tmp_path_factory, start, end, edition, command):
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "beijing" / "beijing_2017-01_2sites.csv"
    out = tmp_path_factory.mktemp("quality") / "out.csv"
    names = ("--period-from", "--period-to") if command == "composite" else ("--from", "--to")
    result = run_cli([command, data, "--unit", "CO=ug/m3", f"{names[0]}={start}",
                      f"{names[1]}={end}", f"--edition={edition}", "--out", out])
    if result.exit_code == 0:
        table = pd.read_csv(out)
        numeric = table.select_dtypes("number")
        assert (numeric.fillna(0) > -1e-9).all().all() or command == "gooddays"


@FUZZ
@given(base_year=st.integers(-10, 3000), base=NUMBER, target=NUMBER,
       unit=st.sampled_from(["%", "µg/m³", ""]))
def test_target_add_options(tmp_path_factory, base_year, base, target, unit):
    ws = tmp_path_factory.mktemp("targets") / "ws"
    result = run_cli(["targets", "add", "--indicator", "PM2.5", "--region", "R",
                      f"--base-year={base_year}", f"--base-value={base!r}",
                      f"--target={target!r}", "--deadline", "2030", f"--unit={unit}",
                      "-w", ws])
    if result.exit_code == 0:
        assert 1900 <= base_year < 2030
        assert 0 <= base and 0 <= target and math.isfinite(base) and math.isfinite(target)
        if unit == "%":
            assert base <= 100 and target <= 100


# --------------------------------------------------------------------------- every command

WORKSPACE_COMMANDS = [
    ["coefficients", "list"], ["coefficients", "show", "sample", "--industry", "4411"],
    ["coefficients", "show", "nope"], ["coefficients", "compare", "sample", "nope"],
    ["coefficients", "remove", "nope"], ["targets", "list"], ["observe", "qc"],
    ["observe", "calibrate"], ["grid", "export", "--table", "cell_hours", "--out", "OUT.csv"],
    ["grid", "classify", "--from", "2024-01-10", "--to", "2024-01-11"],
    ["hotspots", "--from", "2024-01-10", "--to", "2024-01-11"],
]


@pytest.mark.parametrize("args", WORKSPACE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_commands_on_a_missing_and_an_empty_workspace(tmp_path, args):
    args = [str(tmp_path / "out.csv") if a == "OUT.csv" else a for a in args]
    missing = tmp_path / "no_such_workspace"
    result = run_cli([*args, "-w", missing])
    assert result.exit_code == 2
    assert not missing.exists()  # reading a workspace never creates one
    empty = tmp_path / "empty"
    run_cli(["init", "-w", empty], allowed={0})
    run_cli([*args, "-w", empty])


def test_corrupt_workspace_file(tmp_path):
    ws = tmp_path / "ws"
    run_cli(["init", "-w", ws], allowed={0})
    for database in ws.glob("*.duckdb"):
        database.write_bytes(b"\x00garbage" * 100)
    result = run_cli(["coefficients", "list", "-w", ws])
    assert result.exit_code in (2, 4)


def _command_paths():
    """Every command of the app, as argument lists (['grid', 'alerts', 'check'], ...)."""
    import typer

    from sourcegrid.cli.main import app

    def walk(command, prefix):
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield prefix
            return
        for name, sub in sorted(subcommands.items()):
            yield from walk(sub, [*prefix, name])

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_has_help_and_refuses_an_unknown_option(path):
    assert "Usage" in run_cli([*path, "--help"], allowed={0}).output
    result = run_cli([*path, "--no-such-option"])
    assert result.exit_code == 2


@pytest.mark.parametrize("options", [["--days", "0"], ["--rows", "1"], ["--days", "abc"]])
def test_demo_options(tmp_path, options):
    result = run_cli(["demo", *options, "-w", tmp_path / "ws"])
    assert result.exit_code == 2
    assert not (tmp_path / "ws").exists()
