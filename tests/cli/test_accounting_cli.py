"""``sourcegrid init``, ``account`` and ``demo`` through the real command line app."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.store import Workspace

runner = CliRunner()

ACTIVITY = """企业编号,企业名称,行业代码,行政区划代码,工段名称,原料名称,工艺名称,生产规模,规模单位,活动水平,活动水平单位,年份,S,A
P1,示例电厂,4411,130902,锅炉,燃煤,煤粉炉,600,MW,1,万吨,2017,0.8,20
P2,示例电厂二,4411,130902,锅炉,燃煤,煤粉炉,600,MW,-3,万吨,2017,0.8,20
"""
TREATMENT = """enterprise_id,section,pollutant,treatment,k
P1,锅炉,SO2,石灰石-石膏法,0.9
"""


@pytest.fixture
def files(tmp_path):
    activity = tmp_path / "activity.csv"
    activity.write_text(ACTIVITY, encoding="utf-8")
    treatment = tmp_path / "treatment.csv"
    treatment.write_text(TREATMENT, encoding="utf-8")
    return tmp_path, activity, treatment


def test_init_creates_a_workspace_with_the_sample_library(tmp_path):
    result = runner.invoke(app, ["init", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    with Workspace(tmp_path / "ws") as ws:
        assert "sample" in set(ws.read("coefficient_libraries")["name"])


def test_account_writes_emissions_and_rejects_and_strict_fails(files):
    folder, activity, treatment = files
    out, rejects = folder / "emissions.xlsx", folder / "rejects.csv"
    args = ["account", str(activity), "--treatment", str(treatment), "--workspace",
            str(folder / "ws"), "--out", str(out), "--rejects", str(rejects)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    emissions = pd.read_excel(out)
    so2 = emissions.set_index("pollutant").loc["SO2"]
    # sample library row: SO2 = 17*S kg/t coal, S = 0.8 %, 1 万吨 = 10 000 t → G = 136 000 kg;
    # 石灰石-石膏法 η = 0.95 (sample library), k = 0.9 given → R = 116 280, E = 19 720
    assert so2["generation"] == pytest.approx(136_000.0)
    assert so2["emission"] == pytest.approx(19_720.0)
    bad = pd.read_csv(rejects, encoding="utf-8-sig")
    assert bad[["row", "column", "reason"]].values.tolist() == [[3, "activity", "negative_amount"]]
    assert "Rejected rows" in result.output
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1
    with Workspace(folder / "ws") as ws:
        runs = ws.read("account_runs")
        assert list(runs["rejected_rows"]) == [1, 1]
        # a re-run of the same name replaces the stored emissions instead of doubling them
        assert len(ws.read("emissions")) == len(emissions)


def test_account_with_a_missing_column_prints_the_problem_and_exits_2(files):
    folder, activity, _ = files
    activity.write_text(ACTIVITY.replace("活动水平单位", "单位x"), encoding="utf-8")
    result = runner.invoke(app, ["account", str(activity), "--workspace", str(folder / "ws")])
    assert result.exit_code == 2
    assert "missing_column" in result.output
    assert "activity_unit" in result.output


def test_demo_prints_totals_by_industry_and_pollutant(tmp_path):
    result = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws"), "--rows", "60", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert "火力发电 thermal power" in result.output
    assert "rows with problems" in result.output
    emissions = pd.read_csv(tmp_path / "ws" / "demo" / "emissions.csv", encoding="utf-8-sig")
    assert (emissions["generation"] - emissions["removal"] - emissions["emission"]).abs().max() \
        < 1e-6


def test_account_totals_by_region_and_pollutant(files):
    folder, activity, treatment = files
    totals = folder / "totals.csv"
    result = runner.invoke(app, ["account", str(activity), "--treatment", str(treatment),
                                 "--workspace", str(folder / "ws"), "--by", "region,pollutant",
                                 "--totals", str(totals)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(totals, encoding="utf-8-sig").set_index("pollutant")
    # one accounted enterprise in county 130902: SO2 emission 19 720 kg (see above)
    assert frame.loc["SO2", "emission"] == pytest.approx(19_720.0)
    assert set(frame["region_code"]) == {130902}
    bad = runner.invoke(app, ["account", str(activity), "--workspace", str(folder / "ws"),
                              "--by", "county"])
    assert bad.exit_code == 2
    assert "unknown aggregation key 'county'" in bad.output
