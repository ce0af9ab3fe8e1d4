"""Values and options checked against their domain (issue 12, §2), one test per example.

Every example of the issue's list is here: a value outside its physics is rejected
where it enters, with a reason code and the bound in the message, and rejects only
what depends on it; an option outside its domain fails before any work with exit
code 2 and leaves the stored results as they were. Expected numbers are worked out
by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sourcegrid.accounting.engine import account
from sourcegrid.accounting.inputs import AMOUNT_MAX, VARIABLE_DOMAINS
from sourcegrid.errors import InputError, OptionError
from sourcegrid.observations.readers import (
    PHYSICAL_RANGES,
    normalize_observations,
    normalize_wind,
    utc_period,
)

from ..accounting.cases import BIG, _row
from .conftest import BBOX, flat, run_cli, stored_rows

NAN = math.nan

# --------------------------------------------------------------------------- accounting

#: A hand-made library: coal boiler ≥300 MW, SO2 = 17·S kg/t (FGD η 0.95, k by run
#: hours) and NOx 7.5 kg/t (SCR η 0.8, k by the denitrifier used over its design amount).
LIBRARY = pd.DataFrame([
    _row(2, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "SO2", NAN, "17*S", "", 0.0, ""),
    _row(3, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "SO2", NAN, "17*S",
         "石灰石-石膏法", 0.95, "run_hours / production_hours"),
    _row(4, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "NOx", 7.5, "", "", 0.0, ""),
    _row(5, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "NOx", 7.5, "", "SCR", 0.8,
         "denitrifier_used / denitrifier_design"),
])


def _activity(eid: str, activity, S) -> dict:
    return dict(enterprise_id=eid, enterprise_name=eid, industry_code="4411",
                region_code="130900", section="燃烧", product="", raw_material="燃煤",
                process="煤粉炉", capacity=600, capacity_unit="MW", activity=activity,
                activity_unit="吨", period="2017", S=S)


@pytest.fixture(scope="module")
def accounted():
    """One run over every accounting example (one engine run keeps the suite fast)."""
    activity = pd.DataFrame([
        _activity("S_NEG", 10_000, "-5"),     # sulfur −5 %: below the domain
        _activity("S_200", 10_000, "200"),    # sulfur 200 %: above it
        _activity("S_ABC", 10_000, "abc"),    # not a number
        _activity("HUGE", "1e300", "0.8"),    # an absurd activity
        _activity("PLANT", 10_000, "0.8"),    # good row; its treatment row has a bad run_hours
    ]).astype(str)
    treatment = pd.DataFrame([
        # the NOx row's k formula uses the denitrifier amounts only; run_hours is another
        # formula's variable (FGD), written badly here
        dict(enterprise_id="PLANT", section="燃烧", pollutant="NOx", treatment="SCR",
             run_hours="abc", production_hours="8000", denitrifier_used="900",
             denitrifier_design="1000"),
    ])
    return account(activity, LIBRARY, treatment)


def _rejects(result, enterprise_row: int):
    rejects = result.rejects
    return rejects.loc[rejects["row"] == enterprise_row]


def test_variable_domains_name_their_bounds_and_source():
    assert VARIABLE_DOMAINS["S"][:2] == (0.0, 100.0)
    assert VARIABLE_DOMAINS["A"][:2] == (0.0, 100.0)
    assert VARIABLE_DOMAINS["run_hours"][:2] == (0.0, 8784.0)  # 366 days × 24 h
    assert "%" in VARIABLE_DOMAINS["S"][2]


@pytest.mark.parametrize("row, value", [(2, "-5"), (3, "200")])
def test_sulfur_outside_0_100_percent_rejects_only_so2(accounted, row, value):
    problems = _rejects(accounted, row)
    domain = problems.loc[problems["reason"] == "out_of_domain"]
    assert list(domain["column"]) == ["S"] and list(domain["value"]) == [value]
    assert "must lie in [0, 100]" in domain["message"].iloc[0]
    # SO2 (17·S) is rejected for the missing variable; NOx (7.5 kg/t) does not use S
    assert "missing_variable" in set(problems["reason"])
    emissions = accounted.emissions
    eid = {2: "S_NEG", 3: "S_200"}[row]
    mine = emissions.loc[emissions["enterprise_id"] == eid]
    assert list(mine["pollutant"]) == ["NOx"]
    # NOx untreated: G = E = 7.5 kg/t × 10 000 t = 75 000 kg
    assert mine["emission"].iloc[0] == pytest.approx(75_000.0)
    assert (emissions["generation"] >= 0).all()


def test_sulfur_not_a_number_rejects_only_so2(accounted):
    problems = _rejects(accounted, 4)
    assert "not_a_number" in set(problems["reason"])
    emissions = accounted.emissions
    assert list(emissions.loc[emissions["enterprise_id"] == "S_ABC", "pollutant"]) == ["NOx"]


def test_absurd_activity_is_rejected_with_the_bound(accounted):
    problems = _rejects(accounted, 5)
    bad = problems.loc[problems["reason"] == "out_of_domain"]
    assert list(bad["column"]) == ["activity"]
    assert f"{AMOUNT_MAX:.0e}" in bad["message"].iloc[0]   # '1e+12'
    assert "HUGE" not in set(accounted.emissions["enterprise_id"])


def test_bad_variable_no_formula_of_the_row_uses_is_a_warning_not_a_change_of_method(accounted):
    """The issue's plant: NOx was accounted untreated (269.66 t instead of 160.45 t) because
    a treatment column its k formula does not use was bad. Here: G = 7.5 × 10 000 =
    75 000 kg; k = 900 / 1000 = 0.9; R = G × 0.8 × 0.9 = 54 000; E = 21 000 kg."""
    emissions = accounted.emissions.set_index(["enterprise_id", "pollutant"])
    nox = emissions.loc[("PLANT", "NOx")]
    assert nox["treatment"] == "SCR"
    assert nox["k"] == pytest.approx(0.9)
    assert nox["removal"] == pytest.approx(54_000.0)
    assert nox["emission"] == pytest.approx(21_000.0)
    # SO2 of the plant: no treatment row for SO2 → untreated, G = 17 × 0.8 × 10 000
    assert emissions.loc[("PLANT", "SO2"), "emission"] == pytest.approx(136_000.0)
    # the bad value is reported (the treatment file's row 2), saying it was left out
    warning = accounted.rejects.loc[accounted.rejects["source"] == "treatment"]
    assert list(warning["column"]) == ["run_hours"]
    assert list(warning["reason"]) == ["not_a_number"]
    assert "left out of the treatment row" in warning["message"].iloc[0]
    assert "the others are accounted" in warning["message"].iloc[0]


def test_k_formula_that_needs_the_bad_variable_rejects_that_pollutant_not_the_method():
    """run_hours is bad and the SO2 FGD's k formula needs it: SO2 is rejected
    (missing_variable), never accounted as untreated."""
    activity = pd.DataFrame([_activity("P", 10_000, "0.8")]).astype(str)
    treatment = pd.DataFrame([dict(enterprise_id="P", section="燃烧", pollutant="SO2",
                                   treatment="石灰石-石膏法", run_hours="-3",
                                   production_hours="8000")])
    result = account(activity, LIBRARY, treatment)
    assert list(result.emissions["pollutant"]) == ["NOx"]
    reasons = set(result.rejects["reason"])
    assert {"out_of_domain", "missing_variable"} <= reasons
    message = result.rejects.loc[result.rejects["reason"] == "missing_variable", "message"]
    assert "run_hours" in message.iloc[0]


# --------------------------------------------------------------------------- coefficients

BAD_LIBRARY = """行业代码,行业类型,工段名称,产品名称,原料名称,工艺名称,规模等级,污染物类别,污染物指标,单位,产污系数,末端治理技术名称,末端治理技术平均去除效率(%),参考k值计算公式,来源
4411,流程型,锅炉,电力,燃煤,煤粉炉,所有规模,废气,二氧化硫,千克/吨-原料,NaN,,,,x
4411,流程型,锅炉,电力,燃煤,层燃炉,所有规模,废气,二氧化硫,千克/吨-原料,inf,,,,x
4411,流程型,锅炉,电力,燃煤,循环流化床,所有规模,废气,二氧化硫,千克/吨-原料,abc,,,,x
4411,流程型,锅炉,电力,燃煤,其他,所有规模,废气,二氧化硫,千克/吨-原料,1e999,,,,x
"""


def test_coefficients_nan_inf_abc_are_invalid_and_never_imported(tmp_path):
    path = tmp_path / "library.csv"
    path.write_text(BAD_LIBRARY, encoding="utf-8")
    from sourcegrid.coefficients import load_library

    result = run_cli(["coefficients", "validate", path])
    assert result.exit_code == 2
    assert flat(result.output).count("bad_coefficient") == 4
    with pytest.raises(InputError) as error:
        load_library(path, "bad")
    messages = {p.value: p.message for p in error.value.problems}
    assert "'NaN' is not a finite number" in messages["NaN"]
    assert "'inf' is not a finite number" in messages["inf"]
    assert "'1e999' is not a finite number" in messages["1e999"]
    assert "'abc' is a bare name" in messages["abc"]
    assert {p.reason for p in error.value.problems} == {"bad_coefficient"}
    ws = tmp_path / "ws"
    result = run_cli(["coefficients", "import", path, "--name", "bad", "-w", ws])
    assert result.exit_code == 2
    listed = run_cli(["coefficients", "list", "-w", ws])
    assert "bad" not in listed.output.split("coefficient libraries")[-1].split()


# --------------------------------------------------------------------------- readings

def _readings(rows, **kwargs):
    frame = pd.DataFrame(rows, columns=["time", "site_id", "lon", "lat", "pollutant", "value"])
    return normalize_observations(frame, site_kind="micro", **kwargs)


def test_temperature_minus_80_is_out_of_range_and_negatives_count():
    batch = _readings([
        ("2024-01-10 08:00", "M1", 116.4, 39.9, "TEMP", "-80"),   # below −60 °C
        ("2024-01-10 08:00", "M1", 116.4, 39.9, "TEMP", "-30"),   # a cold winter hour: fine
        ("2024-01-10 08:00", "M1", 116.4, 39.9, "RH", "120"),     # above 100 %
        ("2024-01-10 08:00", "M1", 116.4, 39.9, "PM2.5", "-5"),   # negative concentration
        ("2024-01-10 08:00", "M1", 116.4, 39.9, "PM2.5", "5000"),  # above 3000 µg/m³
    ])
    reasons = dict(zip(batch.rejects["value"], batch.rejects["reason"], strict=True))
    assert reasons == {"-80": "out_of_range", "120": "out_of_range", "-5": "negative_value",
                       "5000": "out_of_range"}
    message = batch.rejects.set_index("value").loc["-80", "message"]
    assert "TEMP -60 to 60 degC" in message
    assert list(batch.readings["value"]) == [-30.0]
    for pollutant, (low, high) in PHYSICAL_RANGES.items():
        chosen = batch.readings.loc[batch.readings["pollutant"] == pollutant, "value"]
        assert chosen.between(low, high).all()


def test_readings_without_a_position_are_rejected_not_stored():
    batch = _readings([("2024-01-10 08:00", "M1", None, None, "PM2.5", "40"),
                       ("2024-01-10 08:00", "M2", 116.4, None, "PM2.5", "40"),
                       ("2024-01-10 08:00", "M3", 116.4, 39.9, "PM2.5", "40")])
    assert list(batch.rejects["reason"]) == ["missing_position", "missing_position"]
    assert list(batch.readings["site_id"]) == ["M3"]
    # a reference file with positions: an empty one is a fault too
    frame = pd.DataFrame({"time": ["2024-01-10 08:00"] * 2, "site_id": ["R1", "R2"],
                          "lon": [116.4, None], "lat": [39.9, None], "PM2.5": [30, 31]})
    reference = normalize_observations(frame, site_kind="reference")
    assert list(reference.rejects["reason"]) == ["missing_position"]
    # assessment (AQI, composite) reads stations by id and may skip the check
    assessed = normalize_observations(frame, site_kind="reference", require_position=False)
    assert len(assessed.readings) == 2


def test_wind_station_at_lon_500_is_rejected():
    frame = pd.DataFrame({"time": ["2024-01-10 08:00", "2024-01-10 08:00"],
                          "site_id": ["W1", "W2"], "lon": ["500", "116.4"],
                          "lat": ["39.9", "39.9"],
                          "wind_speed": [2.0, 3.0], "wind_dir": ["N", "SW"]})
    wind, rejects = normalize_wind(frame)
    assert list(rejects["reason"]) == ["bad_coordinate"] and list(rejects["value"]) == ["500"]
    assert list(wind["site_id"]) == ["W2"]


def test_satellite_pixels_minus_50_and_1e30_are_rejected(grid_workspace, tmp_path):
    import rasterio
    from affine import Affine

    from sourcegrid.grid.spec import read_spec
    from sourcegrid.observations.satellite import pixel_problems, read_raster
    from sourcegrid.store import Workspace

    values = np.full((8, 8), 40.0, dtype=np.float64)
    values[0, 0], values[3, 3] = -50.0, 1e30
    path = tmp_path / "pm25.tif"
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=1, dtype="float64",
                       crs="EPSG:4326", transform=Affine(0.025, 0, 116.3, 0, -0.025, 40.0)) as dst:
        dst.write(values, 1)
    _, problems = pixel_problems(read_raster(path), source=path.name)
    assert sorted(p.reason for p in problems) == ["negative_value", "out_of_range"]
    assert {p.value for p in problems} == {"-50", "1e+30"}
    ws_path = tmp_path / "ws"
    import shutil

    shutil.copytree(grid_workspace, ws_path)
    result = run_cli(["observe", "ingest", path, "--kind", "satellite", "--date", "2024-01-10",
                      "-w", ws_path])
    assert result.exit_code == 0, result.output
    with Workspace(ws_path) as ws:
        stored = ws.read("satellite")
        read_spec(ws)
    assert len(stored) and stored["value"].between(0, 3000).all()
    assert stored["value"].to_numpy() == pytest.approx(40.0)  # the bad pixels never count


# --------------------------------------------------------------------------- water, targets

def test_exact_duplicate_water_sample_is_counted_once():
    from sourcegrid.quality.water import normalize_samples

    frame = pd.DataFrame({"section_id": ["S1", "S1", "S1"],
                          "date": ["2024-01-05"] * 3,
                          "parameter": ["COD", "COD", "NH3-N"], "value": ["12", "12", "0.5"]})
    samples, rejects = normalize_samples(frame)
    assert len(samples) == 2
    assert list(rejects["reason"]) == ["duplicate_sample"]
    assert "exact duplicate of row 2" in rejects["message"].iloc[0]
    assert list(rejects["row"]) == [3]


def test_targets_negative_current_base_year_and_far_report_year():
    from sourcegrid.quality.targets import Target, progress

    with pytest.raises(InputError) as error:
        Target("PM2.5", "石家庄", -5, 58, 45, 2025).checked()
    assert [p.reason for p in error.value.problems] == ["bad_year"]
    with pytest.raises(InputError) as error:
        Target("PM2.5", "石家庄", 2020, -58, 45, 2025).checked()
    assert "negative_value" in [p.reason for p in error.value.problems]
    with pytest.raises(InputError) as error:
        Target("good_ratio", "石家庄", 2020, 70, 180, 2025, unit="%").checked()
    assert "out_of_range" in [p.reason for p in error.value.problems]

    target = Target("PM2.5", "石家庄", 2020, 58, 45, 2025, unit="µg/m³").checked()
    targets = pd.DataFrame([target.__dict__])
    with pytest.raises(InputError) as error:
        progress(targets, pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"],
                                        "year": [2024], "value": [-5.0]}))
    assert [p.reason for p in error.value.problems] == ["negative_value"]
    # 2099: the line from (2020, 58) to (2025, 45) ends at the deadline; expected = 45,
    # not 58 − 13 × 79 / 5 = −147.4 µg/m³
    report = progress(targets, pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"],
                                             "year": [2099], "value": [40.0]}))
    assert report["expected_value"].iloc[0] == pytest.approx(45.0)
    assert "after the deadline 2025" in report["year_note"].iloc[0]
    # within the line: 2023 → 58 − 13 × 3 / 5 = 50.2
    report = progress(targets, pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"],
                                             "year": [2023], "value": [50.0]}))
    assert report["expected_value"].iloc[0] == pytest.approx(50.2)
    assert report["year_note"].iloc[0] == ""


def test_targets_cli_refuses_out_of_domain_values(tmp_path):
    ws = tmp_path / "ws"
    base = ["targets", "add", "--indicator", "PM2.5", "--region", "石家庄", "--target", "45",
            "--deadline", "2025", "-w", ws]
    result = run_cli([*base, "--base-year=-5", "--base-value", "58"])
    assert result.exit_code == 2 and "bad_year" in result.output
    result = run_cli([*base, "--base-year", "2020", "--base-value=-5"])
    assert result.exit_code == 2 and "negative_value" in result.output
    run_cli([*base, "--base-year", "2020", "--base-value", "58"], allowed={0})
    current = tmp_path / "current.csv"
    current.write_text("indicator,region,year,value\nPM2.5,石家庄,2024,-5\n", encoding="utf-8")
    result = run_cli(["targets", "report", "--current", current, "-w", ws])
    assert result.exit_code == 2 and "negative_value" in result.output


# --------------------------------------------------------------------------- periods

@pytest.mark.parametrize("start, end, expected", [
    ("2024-01-11", "2024-01-10", "the period is reversed or empty"),
    ("2024-01-10", "2024-01-10", "the period is reversed or empty"),
    ("2024-13-45", "2024-01-10", "expected a date or date-time"),
    ("2024-01-10", "yesterday", "expected a date or date-time"),
])
def test_period_checks(start, end, expected):
    with pytest.raises(OptionError) as error:
        utc_period(start, end)
    assert expected in str(error.value)


def test_fuse_reversed_period_keeps_cell_hours(workspace_copy):
    before = stored_rows(workspace_copy, "cell_hours")
    assert before > 0
    result = run_cli(["grid", "fuse", "--from", "2024-01-11", "--to", "2024-01-10",
                      "-w", workspace_copy])
    assert result.exit_code == 2
    assert "reversed or empty" in flat(result.output)
    result = run_cli(["grid", "fuse", "--from", "2024-13-45", "--to", "2024-01-10",
                      "-w", workspace_copy])
    assert result.exit_code == 2 and "expected a date" in flat(result.output)
    assert "DateParseError" not in result.output
    # a period without readings refuses to replace the stored cell-hours with nothing
    result = run_cli(["grid", "fuse", "--from", "2023-01-01", "--to", "2023-01-02",
                      "-w", workspace_copy])
    assert result.exit_code == 2 and "were kept" in flat(result.output)
    assert stored_rows(workspace_copy, "cell_hours") == before


# --------------------------------------------------------------------------- grid create

@pytest.mark.parametrize("bbox, cell, expected", [
    ("116.5,39.8,116.3,40.0", "3000", "reversed"),
    ("500,39.8,501,40.0", "3000", "out of range"),
    ("116.3,39.8,116.5", "3000", "min_lon,min_lat,max_lon,max_lat"),
    (BBOX, "0", "--cell-size 0.0"),
    (BBOX, "-5", "--cell-size -5.0"),
    (BBOX, "nan", "--cell-size nan"),
    (BBOX, "1e9", "at most 100000"),
])
def test_grid_create_bad_boxes_and_sizes(tmp_path, bbox, cell, expected):
    result = run_cli(["grid", "create", f"--bbox={bbox}", f"--cell-size={cell}",
                      "-w", tmp_path / "ws"])
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert not (tmp_path / "ws").exists() or stored_rows(tmp_path / "ws", "cells") == 0


def test_grid_create_tiny_cell_over_a_big_box_says_cells_and_memory(tmp_path):
    # China's box at 1 m: (65° × ~5 500 km) ... billions of cells
    result = run_cli(["grid", "create", "--bbox", "73,18,135,54", "--cell-size", "1",
                      "-w", tmp_path / "ws"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "cells of 1 m" in text and "GiB of memory" in text and "--cell-size" in text


def test_grid_create_over_stored_cell_hours_asks_for_replace(workspace_copy):
    before = stored_rows(workspace_copy, "cell_hours")
    result = run_cli(["grid", "create", "--bbox", BBOX, "--cell-size", "1000",
                      "-w", workspace_copy])
    assert result.exit_code == 2
    assert "--replace" in flat(result.output) and "cell_hours" in result.output
    assert stored_rows(workspace_copy, "cell_hours") == before
    # the same grid again is harmless
    run_cli(["grid", "create", "--bbox", BBOX, "--cell-size", "3000", "-w", workspace_copy],
            allowed={0})
    assert stored_rows(workspace_copy, "cell_hours") == before
    result = run_cli(["grid", "create", "--bbox", BBOX, "--cell-size", "1000", "--replace",
                      "-w", workspace_copy], allowed={0})
    assert "dropped cell_hours" in flat(result.output)
    assert stored_rows(workspace_copy, "cell_hours") == 0


# --------------------------------------------------------------------------- hotspots

HOTSPOT_PERIOD = ["--from", "2024-01-10", "--to", "2024-01-11"]


@pytest.mark.parametrize("options, expected", [
    (["--method", "gistar", "--alpha", "2"], "--alpha 2.0: expected a significance level"),
    (["--method", "gistar", "--alpha", "0"], "strictly between 0 and 1"),
    (["--method", "gistar", "--radius=-1"], "--radius -1.0"),
    (["--top-percent", "150"], "--top-percent 150.0"),
    (["--top-percent", "0"], "--top-percent 0.0"),
    (["--top", "0"], "--top 0"),
    (["--method", "persistence", "--threshold=-5"], "--threshold -5.0"),
    (["--pollutant", "XYZ"], "expected one of PM2.5, PM10"),
    (["--pollutant", "RH"], "expected one of PM2.5"),
])
def test_hotspot_options_out_of_domain_keep_the_stored_hotspots(workspace_copy, options,
                                                                  expected):
    run_cli(["hotspots", *HOTSPOT_PERIOD, "-w", workspace_copy], allowed={0})
    before = stored_rows(workspace_copy, "hotspots")
    result = run_cli(["hotspots", *HOTSPOT_PERIOD, *options, "-w", workspace_copy])
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert stored_rows(workspace_copy, "hotspots") == before


def test_hotspots_reversed_period_and_empty_period(workspace_copy):
    run_cli(["hotspots", *HOTSPOT_PERIOD, "-w", workspace_copy], allowed={0})
    before = stored_rows(workspace_copy, "hotspots")
    result = run_cli(["hotspots", "--from", "2024-01-11", "--to", "2024-01-10",
                      "-w", workspace_copy])
    assert result.exit_code == 2 and "reversed" in flat(result.output)
    result = run_cli(["hotspots", "--from", "2023-01-01", "--to", "2023-01-02",
                      "-w", workspace_copy])
    assert result.exit_code == 2 and "was kept" in flat(result.output)
    assert stored_rows(workspace_copy, "hotspots") == before


def test_monthly_lists_refuse_top_percent_and_a_foreign_to(workspace_copy):
    result = run_cli(["hotspots", "--method", "monthly", "--from", "2024-01", "--top-percent",
                      "150", "-w", workspace_copy])
    assert result.exit_code == 2 and "--top-percent" in flat(result.output)
    result = run_cli(["hotspots", "--method", "monthly", "--from", "2024-01", "--to",
                      "2024-03-01", "-w", workspace_copy])
    assert result.exit_code == 2
    assert "calendar month of --from (2024-01), ending 2024-02-01" in flat(result.output)
    # the month's own end is accepted
    result = run_cli(["hotspots", "--method", "monthly", "--from", "2024-01", "--to",
                      "2024-02-01", "-w", workspace_copy], allowed={0})
    assert "stored" in result.output


@pytest.mark.parametrize("options, expected", [
    (["--threshold=-5"], "--threshold -5.0"),
    (["--consecutive", "0"], "--consecutive 0"),
    (["--radius-km=-1"], "--radius-km -1.0"),
    (["--neighbour-factor", "0"], "--neighbour-factor 0.0"),
    (["--max-gap", "abc"], "--max-gap 'abc'"),
    (["--from", "2024-01-11", "--to", "2024-01-10"], "reversed"),
    (["--pollutant", "XYZ"], "expected one of"),
])
def test_alert_options(workspace_copy, options, expected):
    result = run_cli(["grid", "alerts", "check", *options, "-w", workspace_copy])
    assert result.exit_code == 2
    assert expected in flat(result.output)


@pytest.mark.parametrize("args, expected", [
    (["grid", "classify", "--from", "2024-01-11", "--to", "2024-01-10"], "reversed"),
    (["grid", "classify", *HOTSPOT_PERIOD, "--pollutant", "XYZ"], "expected one of"),
    (["grid", "classify", *HOTSPOT_PERIOD, "--levels", "nope"], "valid: hj633_2012"),
    (["grid", "export", "--table", "cell_hours", "--pollutant", "XYZ", "--out", "x.csv"],
     "expected one of"),
    (["grid", "fuse", *HOTSPOT_PERIOD, "--max-distance=-1"], "--max-distance -1.0"),
    (["observe", "calibrate", "--max-distance=-1"], "--max-distance -1.0"),
    (["observe", "calibrate", "--pollutant", "XYZ"], "expected one of"),
    (["observe", "calibrate", "--from", "2024-13-45"], "expected a date"),
])
def test_grid_and_observe_options(workspace_copy, args, expected):
    before = stored_rows(workspace_copy, "cell_hours")
    result = run_cli([*args, "-w", workspace_copy])
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert stored_rows(workspace_copy, "cell_hours") == before


def test_satellite_date_is_checked_before_reading(workspace_copy, tmp_path):
    raster = tmp_path / "x.tif"
    raster.write_bytes(b"not a raster")
    result = run_cli(["observe", "ingest", raster, "--kind", "satellite", "--date",
                      "2024-13-45", "-w", workspace_copy])
    assert result.exit_code == 2 and "--date '2024-13-45'" in flat(result.output)


# --------------------------------------------------------------------------- quality options

BEIJING = "tests/data/beijing/beijing_2017-01_2sites.csv"
WATER = "tests/data/water/sections_sample.csv"


@pytest.mark.parametrize("args, expected", [
    (["composite", BEIJING, "--period-from", "2017-01-31", "--period-to", "2017-01-01"],
     "a last day on or after the first day"),
    (["composite", BEIJING, "--edition", "2020"], "unknown GB 3095 edition '2020'"),
    (["composite", BEIJING, "--weights", "nope"], "unknown weight set 'nope'"),
    (["composite", BEIJING, "--period-from", "2017-13-45"], "expected a date"),
    (["gooddays", BEIJING, "--from", "2017-01-31", "--to", "2017-01-01"], "on or after"),
    (["gooddays", BEIJING, "--edition", "2020"], "unknown HJ 633 edition"),
    (["water", WATER, "--min-sections=-1"], "--min-sections -1"),
    (["water", WATER, "--below-detection", "drop"], "unknown below-detection rule"),
    (["water", WATER, "--waterbody", "sea"], "unknown waterbody 'sea'"),
    (["aqi", BEIJING, "--kind", "satelite", "--out", "x.csv"], "unknown site kind"),
    (["aqi", BEIJING, "--edition", "2020", "--out", "x.csv"], "unknown HJ 633 edition"),
])
def test_quality_options(tmp_path, monkeypatch, args, expected):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    args = [str(root / a) if a.startswith("tests/") else a for a in args]
    result = run_cli(args)
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert not (tmp_path / "x.csv").exists()


def test_account_and_coefficients_options(tmp_path):
    activity = tmp_path / "activity.csv"
    activity.write_text("enterprise_id,industry_code,section,activity,activity_unit,period\n"
                        "E1,4411,锅炉,1,吨,2017\n", encoding="utf-8")
    ws = tmp_path / "ws"
    result = run_cli(["account", activity, "--totals", tmp_path / "t.csv", "-w", ws])
    assert result.exit_code == 2 and "--by KEYS as well" in flat(result.output)
    result = run_cli(["account", activity, "--by", "county", "-w", ws])
    assert result.exit_code == 2 and "unknown aggregation key 'county'" in flat(result.output)
    result = run_cli(["account", activity, "--library", "nope", "-w", ws])
    assert result.exit_code == 2
    run_cli(["init", "-w", ws], allowed={0})
    result = run_cli(["coefficients", "show", "sample", "--industry", "441", "-w", ws])
    assert result.exit_code == 2 and "4-digit" in flat(result.output)
    result = run_cli(["coefficients", "show", "sample", "--pollutant", "XYZ", "-w", ws])
    assert result.exit_code == 2 and "unknown pollutant 'XYZ'; valid:" in flat(result.output)


# --------------------------------------------------------------------------- nothing replaces

def test_account_that_accounts_nothing_keeps_the_stored_run(tmp_path):
    ws = tmp_path / "ws"
    good = tmp_path / "good.csv"
    good.write_text("enterprise_id,industry_code,section,raw_material,process,capacity,"
                    "capacity_unit,activity,activity_unit,period,S,A\n"
                    "P1,4411,锅炉,燃煤,煤粉炉,600,MW,1,万吨,2017,0.8,20\n", encoding="utf-8")
    result = run_cli(["account", good, "--run", "city", "-w", ws], allowed={0})
    before = stored_rows(ws, "emissions")
    assert before > 0
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text(encoding="utf-8").replace(",1,万吨,", ",-1,万吨,"),
                   encoding="utf-8")
    result = run_cli(["account", bad, "--run", "city", "-w", ws])
    assert result.exit_code == 2
    assert "the stored run 'city' was kept" in flat(result.output)
    assert stored_rows(ws, "emissions") == before
    # under a new name the all-rejected run is recorded (with its rejects)
    result = run_cli(["account", bad, "--run", "other", "-w", ws])
    assert result.exit_code == 0


def test_aqi_with_no_valid_reading_writes_nothing(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("time,site_id,PM2.5\n2017-01-01 00:00,A,-5\n2017-01-01 01:00,A,abc\n",
                    encoding="utf-8")
    out = tmp_path / "aqi.csv"
    out.write_text("previous report\n", encoding="utf-8")
    result = run_cli(["aqi", data, "--out", out])
    assert result.exit_code == 2 and "no valid readings" in flat(result.output)
    assert out.read_text(encoding="utf-8") == "previous report\n"
