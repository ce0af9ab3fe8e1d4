"""The 2007 route (排污系数), route comparison and library counts, hand-worked.

The library is the hand-made one of ``cases.py`` with an emission coefficient per row
(illustrative numbers). E = e × A: the 2007 route (第一次全国污染源普查 工业污染源产排污系数
手册, 2008: 排污系数 by treatment), the generation coefficient not used.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.accounting.census2007 import (
    census2007_account,
    compare_routes,
    illustrative_emission_coefficients,
    route_account,
)
from sourcegrid.accounting.engine import account
from sourcegrid.cli.main import app
from sourcegrid.coefficients.stats import accounting_steps, library_stats
from sourcegrid.errors import InputError, NotFoundError

from .cases import GOOD_ACTIVITY, GOOD_TREATMENT, LIBRARY

runner = CliRunner()

# rows 2..10 of cases.LIBRARY (row 9 and 10 appear twice: industries 3311 and 3951)
EMISSION = ["17*S", "0.85*S", "7.5", "1.5", "4.5", "17*S", "1.7*S", "9.19", "9.19", "0.09",
            "0.09"]


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def library_2007():
    return LIBRARY.assign(emission_coefficient=EMISSION)


def test_emission_coefficient_by_treatment():
    result = census2007_account(GOOD_ACTIVITY, library_2007(), GOOD_TREATMENT)
    got = result.emissions.set_index(["enterprise_id", "pollutant"])["emission"]
    # E1 SO2: FGD row 3, e = 0.85 × S(0.8) = 0.68 kg/t × 10 000 t (1 万吨) = 6 800 kg
    assert got[("E1", "SO2")] == pytest.approx(6800.0)
    # E2 untreated (no treatment rows): SO2 e = 17 × 1.0 × 5 000 t = 85 000 kg; NOx 7.5 × 5 000
    assert got[("E2", "SO2")] == pytest.approx(85000.0)
    assert got[("E2", "NOx")] == pytest.approx(37500.0)
    # E3 (<300MW tier) FGD row 8: 1.7 × 0.5 × 2 000 = 1 700 kg
    assert got[("E3", "SO2")] == pytest.approx(1700.0)
    # E4 welding in 3951 through the shared section, bag filter: 0.09 × 20 = 1.8 kg (once)
    assert got[("E4", "PM")] == pytest.approx(1.8)
    assert result.emissions["generation"].isna().all()  # not used by this route
    assert set(result.emissions["library"]) == {"handmade@census2007"}
    assert "E = e × A" in result.emissions["note"].iloc[0]
    # E1 NOx treated by SCR;SNCR in series: the 2007 library has no such row
    reject = result.rejects.set_index("reason").loc["no_emission_coefficient"]
    assert reject["row"] == 2 and "SCR;SNCR" in reject["message"]


def test_missing_variable_and_bad_coefficients():
    activity = GOOD_ACTIVITY.copy()
    activity.loc[activity["enterprise_id"] == "E2", "S"] = None
    result = census2007_account(activity, library_2007(), GOOD_TREATMENT)
    # the engine rejects E2's SO2 for the missing S (unit coefficient needs none, so the
    # route reports it for its own expression)
    assert ("E2", "SO2") not in set(zip(result.emissions["enterprise_id"],
                                        result.emissions["pollutant"], strict=True))
    assert "missing_variable" in set(result.rejects["reason"])
    bad = LIBRARY.assign(emission_coefficient=["17*", "-1", *EMISSION[2:]])
    with pytest.raises(InputError) as caught:
        census2007_account(GOOD_ACTIVITY, bad, GOOD_TREATMENT)
    assert [(p.row, p.reason) for p in caught.value.problems] == [(2, "bad_coefficient"),
                                                                   (3, "bad_coefficient")]
    with pytest.raises(NotFoundError, match="emission_coefficient"):
        census2007_account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT)
    with pytest.raises(NotFoundError, match="census2007, census2017"):
        route_account("census1990", GOOD_ACTIVITY, LIBRARY)


def test_compare_two_routes_per_unit():
    first = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions
    second = census2007_account(GOOD_ACTIVITY, library_2007(), GOOD_TREATMENT).emissions
    table = compare_routes(first, second, ["enterprise_id", "pollutant"],
                           names=("y2017", "y2007")).set_index(["enterprise_id", "pollutant"])
    # E1 SO2, 2017 route (cases.py): G = 13.6 × 10 000 = 136 000 kg, η k = 0.95 × 0.9
    # → E = 136 000 × (1 − 0.855) = 19 720 kg; 2007 route 6 800 kg: −65.52 %
    row = table.loc[("E1", "SO2")]
    assert row["emission_y2017"] == pytest.approx(19720.0)
    assert row["change_percent"] == pytest.approx(100 * (6800 - 19720) / 19720)
    assert row["per_unit_y2017"] == pytest.approx(1.972)  # kg per t coal
    assert row["per_unit_change_percent"] == pytest.approx(row["change_percent"])


def test_library_counts_and_steps():
    stats = library_stats(LIBRARY).set_index("item")["count"]
    # codes 4411, 3311, 3951: 大类 44, 33, 39; sections 燃烧, 焊接; raw materials 燃煤, 焊材;
    # processes 煤粉炉; combinations × pollutant with a coefficient: 4411 SO2 ≥300, NOx ≥300,
    # SO2 <300, PM (rows 9) → 4; treatment rows 3, 5, 6, 8, 10 → 5
    assert stats["industries, major groups"] == 3 and stats["industries, classes"] == 3
    assert (stats["sections"], stats["raw materials"], stats["processes"]) == (2, 2, 1)
    assert stats["generation coefficients"] == 4
    assert stats["treatment efficiencies"] == 5
    # the article's example: 14 sections of 3952 in one version, 6 common ones in the next
    old = pd.DataFrame(dict(industry_code="3952", section=[f"s{i}" for i in range(14)]))
    new = pd.DataFrame(dict(industry_code=["*"] * 6, section=[f"c{i}" for i in range(6)]))
    new = pd.concat([new, pd.DataFrame(dict(industry_code=["3952"], section=[""]))])
    steps = accounting_steps(old, new, names=("2007", "2017")).set_index("industry_code")
    assert steps.loc["3952", "steps_2007"] == 14 and steps.loc["3952", "steps_2017"] == 6
    assert steps.loc["3952", "change_percent"] == pytest.approx(-57.142857, rel=1e-6)


def test_illustrative_emission_coefficients():
    lib = illustrative_emission_coefficients(LIBRARY, "h2007")
    e = lib.rows.set_index("coefficient_row")["emission_coefficient"]
    # row 3: 17*S with η 0.95 → (17*S)*0.05; row 5: 7.5 × (1 − 0.8) = 1.5; row 2 untreated
    assert e[3] == "(17*S)*0.05" and e[5] == "1.5" and e[2] == "17*S"


def test_cli_route_compare_stats(tmp_path):
    ws = str(tmp_path / "ws")
    activity, treatment = tmp_path / "a.csv", tmp_path / "t.csv"
    GOOD_ACTIVITY.to_csv(activity, index=False)
    GOOD_TREATMENT.to_csv(treatment, index=False)
    result = runner.invoke(app, ["coefficients", "emission-coefficients", "sample", "--name",
                                 "s2007", "--workspace", ws])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["account", str(activity), "--route", "census1990",
                                 "--workspace", ws])
    assert result.exit_code == 2 and "unknown accounting route" in result.output
    # the 2007 route on enterprises of the sample library, stored like any run (the
    # emissions stay in the engine)
    from sourcegrid.coefficients import sample_library
    from sourcegrid.sample.enterprises import generate_enterprises
    from sourcegrid.store import Workspace

    sample_activity, sample_treatment = generate_enterprises(12, library=sample_library(),
                                                             seed=3)
    sample_a, sample_t = tmp_path / "sa.csv", tmp_path / "st.csv"
    sample_activity.to_csv(sample_a, index=False)
    sample_treatment.to_csv(sample_t, index=False)
    result = runner.invoke(app, ["account", str(sample_a), "--treatment", str(sample_t),
                                 "--route", "census2007", "--library", "s2007", "--run", "r07",
                                 "--workspace", ws])
    assert result.exit_code == 0, result.output
    assert "library s2007@census2007" in result.output
    with Workspace(ws) as workspace:
        stored = workspace.read("emissions")
    assert len(stored) > 0 and set(stored["library"]) == {"s2007@census2007"}
    assert stored["generation"].isna().all() and (stored["emission"] >= 0).all()
    result = runner.invoke(app, ["coefficients", "stats", "sample", "--against", "s2007",
                                 "--workspace", ws])
    assert result.exit_code == 0, result.output
    assert "行业小类" in result.output and "排污系数" in result.output
    result = runner.invoke(app, ["compare-routes", str(activity), "--a", "census2017",
                                 "--workspace", ws])
    assert result.exit_code == 2 and "ROUTE:LIBRARY" in result.output
    for command in (["compare-routes"], ["coefficients", "stats"],
                    ["coefficients", "emission-coefficients"]):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0
