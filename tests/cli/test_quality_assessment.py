"""The composite, gooddays, water and targets commands end to end on small files.

The commands are registered on an app built here, as ``sourcegrid.cli.main``
registers them. Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from sourcegrid.cli import quality_assessment

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    app = typer.Typer(pretty_exceptions_enable=False)
    groups = {"targets": typer.Typer(no_args_is_help=True)}
    quality_assessment.register(app, groups)
    app.add_typer(groups["targets"], name="targets")
    return app


def _invoke(app, *args):
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result


# Station A: constant hourly values, so daily means, the O3 daily max 8-h and the
# percentiles all equal the constant: I = 12/60 + 36/40 + 84/70 + 42/35 + 1.6/4 + 176/160
# = 0.2 + 0.9 + 1.2 + 1.2 + 0.4 + 1.1 = 5.0 (GB 3095-2012 Grade II). Station B: half of A,
# index 2.5. City X = hourly mean of A and B: 0.75 of A where both stations report.
A = {"SO2": 12.0, "NO2": 36.0, "PM10": 84.0, "PM2.5": 42.0, "CO": 1.6, "O3": 176.0}


def _hourly_file(path):
    rows = []
    for site, scale in (("A", 1.0), ("B", 0.5)):
        for time in pd.date_range("2019-06-01 00:00", "2019-06-02 23:00", freq="h"):
            rows.append({"time": time.strftime("%Y-%m-%d %H:%M"), "site_id": site, "city": "X",
                         **{p: f"{v * scale:g}" for p, v in A.items()}})
    frame = pd.DataFrame(rows)
    frame.loc[3, "PM2.5"] = "abc"   # row 5 in the file: not a number
    frame.loc[4, "SO2"] = "-5"      # row 6: negative
    frame.to_csv(path, index=False)
    return path


def test_composite_per_station_and_city(app, tmp_path):
    data = _hourly_file(tmp_path / "hourly.csv")
    out = tmp_path / "composite.csv"
    result = _invoke(app, "composite", data, "--out", out)
    assert result.exit_code == 0, result.output
    assert "bad values rejected and left out: 2 (negative_value 1, not_a_number 1)" in \
        result.output
    frame = pd.read_csv(out).set_index("site_id")
    assert frame.loc["A", "composite_index"] == pytest.approx(5.0)
    assert frame.loc["B", "composite_index"] == pytest.approx(2.5)
    assert frame.loc["B", "rank"] == 1 and frame.loc["A", "rank"] == 2
    assert frame.loc["A", "edition"] == 2012
    result = _invoke(app, "composite", data, "--city-column", "city", "--out", out)
    assert result.exit_code == 0, result.output
    city = pd.read_csv(out).set_index("city")
    # City hourly values are the mean of the stations present that hour. A's rejected
    # hours (PM2.5 at 03:00, SO2 at 04:00 on 1 June) leave B's value alone there:
    # PM2.5 day 1 (23 * 31.5 + 21) / 24 = 31.0625, day 2 31.5 -> 31.28125 / 35 = 0.89375;
    # SO2 day 1 (23 * 9 + 6) / 24 = 8.875, day 2 9 -> 8.9375 / 60 = 0.1489583;
    # others 0.75 of A: 27/40 + 63/70 + 1.2/4 + 132/160 = 0.675 + 0.9 + 0.3 + 0.825.
    expected = 0.89375 + 8.9375 / 60 + 0.675 + 0.9 + 0.3 + 0.825
    assert city.loc["X", "composite_index"] == pytest.approx(expected)
    assert expected == pytest.approx(3.7427083, abs=1e-7)


def test_composite_daily_long_file_with_base_period(app, tmp_path):
    rows = []
    for start, scale in (("2019-06-01", 1.0), ("2018-06-01", 1.25)):
        for day in pd.date_range(start, periods=3).date:
            for pollutant, value in A.items():
                name = "O3_8h" if pollutant == "O3" else pollutant
                rows.append({"date": str(day), "site_id": "A", "pollutant": name,
                             "value": value * scale})
    path = tmp_path / "daily.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "c.xlsx"
    result = _invoke(app, "composite", path, "--period-from", "2019-06-01", "--period-to",
                     "2019-06-03", "--base-from", "2018-06-01", "--base-to", "2018-06-03",
                     "--out", out)
    assert result.exit_code == 0, result.output
    row = pd.read_excel(out).iloc[0]
    # base 5.0 * 1.25 = 6.25; change (5 - 6.25)/6.25 = -20 %
    assert row["composite_index"] == pytest.approx(5.0)
    assert row["base_composite_index"] == pytest.approx(6.25)
    assert row["change_percent"] == pytest.approx(-20.0)


def test_composite_needs_both_base_dates(app, tmp_path):
    data = _hourly_file(tmp_path / "hourly.csv")
    result = _invoke(app, "composite", data, "--base-from", "2018-01-01")
    assert result.exit_code == 2
    assert "give both --base-from and --base-to" in result.output


def test_gooddays_from_a_daily_aqi_table(app, tmp_path):
    frame = pd.DataFrame({
        "date": [f"2020-01-0{d}" for d in range(1, 5)] + [f"2019-01-0{d}" for d in range(1, 5)],
        "site_id": "A",
        # 2020: 50, 100 good; 101 not; '-1' rejected -> 2 good of 3 valid = 66.67 %
        # 2019: 1 good of 4 = 25 %; change +1 day, +41.67 percentage points
        "aqi": ["50", "100", "101", "-1", "50", "150", "160", "170"],
    })
    path = tmp_path / "aqi.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "good.csv"
    result = _invoke(app, "gooddays", path, "--from", "2020-01-01", "--to", "2020-01-04",
                     "--out", out)
    assert result.exit_code == 0, result.output
    assert "bad values rejected and left out: 1 (negative_value 1)" in result.output
    row = pd.read_csv(out).iloc[0]
    assert row["good_days"] == 2 and row["valid_days"] == 3
    assert row["good_ratio"] == pytest.approx(200 / 3)
    assert row["good_days_change"] == 1
    assert row["good_ratio_change"] == pytest.approx(200 / 3 - 25.0)


def test_gooddays_by_city_from_hourly_readings(app, tmp_path):
    data = _hourly_file(tmp_path / "hourly.csv")
    out = tmp_path / "good.csv"
    result = _invoke(app, "gooddays", data, "--by", "city", "--out", out)
    assert result.exit_code == 0, result.output
    assert "no year-on-year comparison" in result.output
    row = pd.read_csv(out).iloc[0]
    assert row["city"] == "X"
    # city = 0.75 x A: PM2.5 31.5, PM10 63, O3 8-h 132 ... all below IAQI 100 -> 2 good days
    assert row["good_days"] == 2


def test_gooddays_by_city_needs_concentrations(app, tmp_path):
    path = tmp_path / "aqi.csv"
    pd.DataFrame({"date": ["2020-01-01"], "site_id": ["A"], "aqi": [50]}).to_csv(path, index=False)
    result = _invoke(app, "gooddays", path, "--by", "city")
    assert result.exit_code == 2
    assert "--by city needs concentrations" in result.output


def test_water_command(app, tmp_path):
    frame = pd.DataFrame({
        "断面": ["S1", "S1", "S2", "S2", "S3"],
        "流域": ["B", "B", "B", "B", "B"],
        "监测项目": ["氨氮", "总磷", "氨氮", "溶解氧", "总磷"],
        "浓度": ["1.2", "0.1", "2.5", "abc", "0.02"],
    })
    path = tmp_path / "water.csv"
    frame.to_csv(path, index=False)
    out, basins = tmp_path / "sections.csv", tmp_path / "basins.csv"
    result = _invoke(app, "water", path, "--out", out, "--basins-out", basins)
    assert result.exit_code == 0, result.output
    assert "bad values rejected and left out: 1 (not_a_number 1)" in result.output
    sections = pd.read_csv(out).set_index("section_id")
    # S1: NH3-N 1.2 -> IV, TP 0.1 -> II => IV; S2: NH3-N 2.5 -> 劣V; S3: TP 0.02 -> I
    assert sections["class_label"].to_dict() == {"S1": "IV", "S2": "劣V", "S3": "I"}
    assert sections.loc["S1", "exceeding"] == "NH3-N(0.20)"
    basin = pd.read_csv(basins).iloc[0]
    # 1 of 3 in I-III = 33.3 %, 劣V 1 of 3 = 33.3 %; fewer than 5 sections: graded from
    # mean concentrations NH3-N (1.2+2.5)/2 = 1.85 -> V, TP (0.1+0.02)/2 = 0.06 -> II => 中度污染
    assert basin["share_I_III"] == pytest.approx(100 / 3)
    assert basin["grade"] == "中度污染"
    assert basin["method"] == "mean_concentration"


def test_water_unknown_group_column(app, tmp_path):
    path = tmp_path / "water.csv"
    pd.DataFrame({"section_id": ["S1"], "TP": ["0.1"]}).to_csv(path, index=False)
    result = _invoke(app, "water", path, "--by", "province")
    assert result.exit_code == 2
    assert "no column 'province' to group by" in result.output


def test_targets_add_list_report(app, tmp_path):
    workspace = tmp_path / "ws"
    result = _invoke(app, "targets", "add", "--indicator", "PM2.5", "--region", "石家庄",
                     "--base-year", 2020, "--base-value", 58, "--target", 45, "--deadline", 2025,
                     "--unit", "µg/m³", "--workspace", workspace)
    assert result.exit_code == 0, result.output
    result = _invoke(app, "targets", "list", "--workspace", workspace)
    assert result.exit_code == 0 and "石家庄" in result.output and "decrease" in result.output
    current = tmp_path / "current.csv"
    pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"], "year": [2023],
                  "value": [50]}).to_csv(current, index=False)
    out = tmp_path / "progress.csv"
    result = _invoke(app, "targets", "report", "--current", current, "--out", out,
                     "--workspace", workspace)
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out).iloc[0]
    # expected 58 - 13 * 3/5 = 50.2; achieved 8 of 13 = 61.5 %; on track
    assert row["expected_value"] == pytest.approx(50.2)
    assert row["achieved_share"] == pytest.approx(100 * 8 / 13)
    assert bool(row["on_track"]) is True


def test_targets_add_rejects_an_inconsistent_target(app, tmp_path):
    result = _invoke(app, "targets", "add", "--indicator", "PM2.5", "--region", "x",
                     "--base-year", 2020, "--base-value", 58, "--target", 65, "--deadline", 2025,
                     "--direction", "decrease", "--workspace", tmp_path / "ws")
    assert result.exit_code == 2
    assert "direction_mismatch" in result.output


DATA = Path(__file__).parents[1] / "data"


def test_readme_examples(app, tmp_path):
    """The commands of the README section, as written there (paths from the repo root)."""
    beijing = DATA / "beijing" / "beijing_2017-01_2sites.csv"
    result = _invoke(app, "composite", beijing, "--unit", "CO=ug/m3", "--out",
                     tmp_path / "composite.csv")
    assert result.exit_code == 0, result.output
    composite = pd.read_csv(tmp_path / "composite.csv")
    assert list(composite["site_id"]) == ["Dingling", "Dongsi"]  # ranked, lowest first
    assert composite["valid"].all()
    result = _invoke(app, "gooddays", beijing, "--unit", "CO=ug/m3", "--from", "2017-01-01",
                     "--to", "2017-01-31", "--out", tmp_path / "gooddays.csv")
    assert result.exit_code == 0, result.output
    good = pd.read_csv(tmp_path / "gooddays.csv")
    assert list(good["site_id"]) == ["Dingling", "Dongsi", "(mean)"]
    assert (good["valid_days"] == 31).all()
    result = _invoke(app, "water", DATA / "water" / "sections_sample.csv", "--by", "basin",
                     "--out", tmp_path / "sections.csv", "--basins-out", tmp_path / "basins.csv",
                     "--rejects", tmp_path / "water_rejects.csv")
    assert result.exit_code == 0, result.output
    assert "bad values rejected and left out: 10 (below_detection_limit 9, negative_value 1)" \
        in result.output
    basins = pd.read_csv(tmp_path / "basins.csv").set_index("basin")
    # 甲河: 6 sections, I-III 4 of 6 = 66.7 %, 劣V 1 of 6 = 16.7 % -> 轻度污染
    assert basins.loc["甲河", "grade"] == "轻度污染"
    assert basins.loc["甲河", "share_I_III"] == pytest.approx(400 / 6)
    assert len(pd.read_csv(tmp_path / "water_rejects.csv")) == 10
    workspace = tmp_path / "ws"
    result = _invoke(app, "targets", "add", "--indicator", "PM2.5", "--region", "石家庄",
                     "--base-year", "2020", "--base-value", "58", "--target", "45",
                     "--deadline", "2025", "--unit", "µg/m³", "--workspace", workspace)
    assert result.exit_code == 0, result.output
    result = _invoke(app, "targets", "add", "--indicator", "good_ratio", "--region", "石家庄",
                     "--base-year", "2020", "--base-value", "70", "--target", "80",
                     "--deadline", "2025", "--unit", "%", "--workspace", workspace)
    assert result.exit_code == 0, result.output
    assert _invoke(app, "targets", "list", "--workspace", workspace).exit_code == 0
    result = _invoke(app, "targets", "report", "--current",
                     DATA / "targets" / "current_sample.csv", "--workspace", workspace,
                     "--out", tmp_path / "progress.csv")
    assert result.exit_code == 0, result.output
    progress = pd.read_csv(tmp_path / "progress.csv").set_index("indicator")
    # good_ratio 2023: expected 70 + 10 * 3/5 = 76; 73 < 76 -> behind
    assert progress.loc["good_ratio", "expected_value"] == pytest.approx(76.0)
    assert not progress.loc["good_ratio", "on_track"]


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_water_reads_parquet_and_xlsx(app, tmp_path, suffix):
    frame = pd.read_csv(DATA / "water" / "sections_sample.csv", dtype=str)
    path = tmp_path / f"sections{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False)
    out = tmp_path / "sections.csv"
    result = _invoke(app, "water", path, "--below-detection", "half", "--out", out)
    assert result.exit_code == 0, result.output
    # with non-detects counted as half the limit only the negative COD is rejected
    assert "bad values rejected and left out: 1 (negative_value 1)" in result.output
    sections = pd.read_csv(out).set_index("section_id")
    assert sections.loc["甲河入江口", "class_label"] == "劣V"
    assert sections.loc["甲河源头", "class_label"] == "I"


def test_mixed_site_kinds_use_reference_sites_unless_asked(app, tmp_path):
    data = _hourly_file(tmp_path / "hourly.csv")
    frame = pd.read_csv(data)
    frame["site_kind"] = frame["site_id"].map({"A": "reference", "B": "micro"})
    frame.to_csv(data, index=False)
    out = tmp_path / "c.csv"
    result = _invoke(app, "composite", data, "--out", out)
    assert result.exit_code == 0, result.output
    # B's 48 hours x 6 pollutants are not used, and the output says so
    assert "288 readings of non-reference sites not used (micro 288); --all-sites" in \
        result.output
    assert list(pd.read_csv(out)["site_id"]) == ["A"]
    result = _invoke(app, "composite", data, "--all-sites", "--out", out)
    assert sorted(pd.read_csv(out)["site_id"]) == ["A", "B"]
