"""Conformance: the 2007 route, the route comparison and the macro checks on every engine.

Each case runs on DuckDB, on a local PySpark session (marks spark + slow) and on the
PostgreSQL test server (mark pg); the results must equal DuckDB's and the hand-worked
numbers written beside each case.

Sources of the numbers:

- the 2007 route E = e × A (第一次全国污染源普查 工业污染源产排污系数手册, 2008: 排污系数 by
  治理技术, the generation coefficient not used), on the hand-made library of ``cases.py``
  with the illustrative emission coefficients of ``test_methods_census2007.py``;
- the change between two library versions: the census article quoted in issue 9 (oil,
  石油类, in synthetic-ammonia wastewater fell 82.3 % per tonne between the censuses); the
  coefficients are illustrative numbers chosen to give that change;
- the macro checks: the 2nd census bulletin's national totals of 2017 (DESIGN.md), the
  bound 2 × coal × S/100 (M(SO2)/M(S) = 2) and the modified z-score of Iglewicz and
  Hoaglin (1993), z = 0.6745 (ln x − ln median) / MAD.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sourcegrid.accounting.census2007 import census2007_account, compare_routes
from sourcegrid.accounting.macro import macro_check

from .cases import (
    ANY,
    BAD_ACTIVITY,
    BAD_TREATMENT,
    GOOD_ACTIVITY,
    GOOD_TREATMENT,
    LIBRARY,
    _row,
    activity_row,
)
from .test_methods_census2007 import EMISSION

ENGINES = [pytest.param("spark_backend", marks=[pytest.mark.spark, pytest.mark.slow],
                        id="pyspark"),
           pytest.param("postgres_backend", marks=pytest.mark.pg, id="postgres")]

# row 8 (FGD, <300MW tier) divides by S: an enterprise reporting S = 0 gets no finite value
LIBRARY_2007 = LIBRARY.assign(emission_coefficient=[*EMISSION[:6], "0.85/S", *EMISSION[7:]])

#: good and bad rows in one table (one run per engine): the rows of cases.py, then
ACTIVITY = pd.DataFrame([
    *GOOD_ACTIVITY.to_dict("records"), *BAD_ACTIVITY.to_dict("records"),
        # row 16: small tier, S = 0 → e = 0.85 / 0 for its FGD: invalid_coefficient
        activity_row("C1", "4411", "燃烧", "燃煤", "煤粉炉", 100, "吨", 200, S=0.0),
        # row 17: S is not a number → the untreated SO2 coefficient 17*S lacks it
        activity_row("C2", "4411", "燃烧", "燃煤", "煤粉炉", 100, "吨", 600, S="abc"),
        # row 18: S outside its domain [0, 100] % → the same
        activity_row("C3", "4411", "燃烧", "燃煤", "煤粉炉", 100, "吨", 600, S=150.0),
])
TREATMENT = pd.DataFrame([
    *GOOD_TREATMENT.to_dict("records"), *BAD_TREATMENT.to_dict("records"),
    dict(enterprise_id="C1", section="燃烧", pollutant="SO2", treatment="石灰石-石膏法", k=None,
         run_hours=None, production_hours=None),
    # a duplicate of the C1 row: rejected by the treatment checks (as for census2017)
    dict(enterprise_id="C1", section="燃烧", pollutant="SO2", treatment="石灰石-石膏法", k=None,
         run_hours=None, production_hours=None),
])

#: (enterprise, pollutant) → emission [kg], E = e × A, worked out by hand
EXPECTED = {
    # FGD row 3: e = 0.85 × S(0.8) = 0.68 kg/t × 10 000 t (1 万吨)
    ("E1", "SO2"): 6800.0,
    # untreated rows 2 and 4: 17 × 1.0 × 5 000 t and 7.5 × 5 000 t
    ("E2", "SO2"): 85000.0, ("E2", "NOx"): 37500.0,
    # <300MW, FGD row 8 as changed above: e = 0.85 / S(0.5) = 1.7 kg/t × 2 000 t
    ("E3", "SO2"): 3400.0,
    # bag filter row 10 of the shared welding section: 0.09 kg/t × 20 t
    ("E4", "PM"): 1.8,
    # B1 (no S): NOx untreated, row 4: 7.5 × 1 000 t; its SO2 is rejected
    ("B1", "NOx"): 7500.0,
    # B9: SO2 FGD row 3, e = 0.85 × 1 = 0.85 kg/t × 1 000 t; NOx untreated 7.5 × 1 000 t
    ("B9", "SO2"): 850.0, ("B9", "NOx"): 7500.0,
    # C1..C3: NOx untreated, 7.5 × 100 t; C1 is 200 MW: the <300MW tier has no NOx row
    ("C2", "NOx"): 750.0, ("C3", "NOx"): 750.0,
}
#: (row, reason, column, value) of every reject, the header being row 1
EXPECTED_REJECTS = {
    (2, "no_emission_coefficient", "treatment", "SCR;SNCR"),  # E1 NOx: no series row
    (6, "missing_variable", "emission_coefficient", "17*S"),  # B1: no S
    (7, "unknown_industry", "industry_code", "9999"),
    (8, "negative_amount", "activity", "-5"),
    (9, "not_a_number", "activity", "abc"),
    (10, "unit_mismatch", "activity_unit", "件"),  # once per pollutant (SO2 and NOx)
    (11, "no_matching_scale", "capacity", "  "),  # capacity, unit and scale: all blank
    (12, "no_matching_coefficient", "section", "脱硝"),
    (13, "no_emission_coefficient", "treatment", "静电除尘"),  # B8: no 2007 row for it
    (14, "duplicate_row", "enterprise_id", "B8"),
    (16, "invalid_coefficient", "emission_coefficient", "0.85/S"),  # C1: S = 0
    (17, "missing_variable", "emission_coefficient", "17*S"),  # C2: S = 'abc'
    (18, "missing_variable", "emission_coefficient", "17*S"),  # C3: S = 150 %
    (9, "duplicate_row", "enterprise_id", "C1"),  # treatment row 9 (of TREATMENT)
}


def _route(con):
    result = census2007_account(ACTIVITY, LIBRARY_2007, TREATMENT, con=con)
    emissions = result.emissions.sort_values(["enterprise_id", "pollutant"], ignore_index=True)
    rejects = result.rejects.sort_values(["row", "reason", "column", "source", "value",
                                          "message"], ignore_index=True)
    return result, emissions, rejects


def _check_route(result, emissions, rejects):
    got = dict(zip(zip(emissions["enterprise_id"], emissions["pollutant"], strict=True),
                   emissions["emission"], strict=True))
    assert set(got) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        assert got[key] == pytest.approx(expected, rel=1e-12), key
    assert emissions["generation"].isna().all() and emissions["removal"].isna().all()
    assert {(int(r), s, c, v) for r, s, c, v in rejects[["row", "reason", "column", "value"]]
            .itertuples(index=False)} == EXPECTED_REJECTS
    assert (rejects["reason"] == "unit_mismatch").sum() == 2
    assert result.activity_rows == 17 and result.emission_rows == len(EXPECTED)
    # E1 (its SO2), E2, E3, E4, B1, B9, C2, C3; C1 has nothing (SO2 invalid, no NOx row)
    assert result.accounted_rows == 8


def test_route_on_duckdb_by_hand(duckdb_backend):
    _check_route(*_route(duckdb_backend))


@pytest.mark.parametrize("engine", ENGINES)
def test_route_duckdb_and_other_engine_agree(engine, duckdb_backend, request):
    duck_result, duck, duck_rejects = _route(duckdb_backend)
    result, other, rejects = _route(request.getfixturevalue(engine))
    _check_route(result, other, rejects)
    keys = ["enterprise_id", "pollutant", "period", "section", "coefficient_row", "treatment",
            "source_row", "library", "coefficient_unit"]
    pd.testing.assert_frame_equal(duck[keys].astype(str), other[keys].astype(str))
    pd.testing.assert_frame_equal(duck[["emission", "generation_coefficient",
                                        "activity_in_basis"]],
                                  other[["emission", "generation_coefficient",
                                         "activity_in_basis"]], rtol=1e-12, check_dtype=False)
    columns = ["source", "row", "reason", "column", "value", "message"]
    pd.testing.assert_frame_equal(duck_rejects[columns].astype(str),
                                  rejects[columns].astype(str))


# --------------------------------------------------------------------------- two versions

def _ammonia_library(name: str, coefficient: str) -> pd.DataFrame:
    """One 2007-route row: oil (石油类) in the wastewater of synthetic ammonia (合成氨,
    GB/T 4754-2017 class 2621 氮肥制造), untreated, in g per t of product."""
    row = _row(2, "2621", "process", "合成氨", "", "", *ANY, "water", "石油类", 1.0, "", "",
               0.0, "", unit="克/吨-产品", factor=0.001)
    return pd.DataFrame([row | dict(library=name, product="合成氨", basis="product",
                                    emission_coefficient=coefficient)])


AMMONIA = pd.DataFrame([
    activity_row("A1", "2621", "合成氨", "", "", 20, "万吨") | dict(product="合成氨"),
    activity_row("A2", "2621", "合成氨", "", "", 50000, "吨") | dict(product="合成氨"),
])


@pytest.mark.parametrize("engine", ["duckdb_backend", *ENGINES])
def test_two_library_versions_by_industry_section_pollutant(engine, duckdb_backend, request):
    # the same enterprises by two versions: e = 10 g/t (older) and 1.77 g/t (newer), run on
    # DuckDB (the route's engines are compared above); the sums run on ``engine``
    old = census2007_account(AMMONIA, _ammonia_library("v1", "10"), None, con=duckdb_backend)
    new = census2007_account(AMMONIA, _ammonia_library("v2", "1.77"), None,
                             con=duckdb_backend)
    con = request.getfixturevalue(engine)
    table = compare_routes(old.emissions, new.emissions, names=("v1", "v2"), con=con)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["industry_code"], row["section"], row["pollutant"]) == ("2621", "合成氨",
                                                                       "石油类")
    # activity 20 万吨 + 50 000 t = 250 000 t of ammonia
    assert row["activity_v1"] == pytest.approx(250_000.0)
    # v1: 10 g/t × 250 000 t = 2 500 000 g = 2 500 kg; v2: 1.77 × 250 000 g = 442.5 kg
    assert row["emission_v1"] == pytest.approx(2500.0, rel=1e-12)
    assert row["emission_v2"] == pytest.approx(442.5, rel=1e-12)
    # per tonne: 0.01 → 0.00177 kg/t, 100 × (1.77 − 10) / 10 = −82.3 % (the article's figure)
    assert row["per_unit_v1"] == pytest.approx(0.01, rel=1e-12)
    assert row["per_unit_change_percent"] == pytest.approx(-82.3, rel=1e-12)
    assert row["change_percent"] == pytest.approx(-82.3, rel=1e-12)


def test_compare_tables_in_the_engine(duckdb_backend):
    """Runs kept in the engine (``into``) are compared there: only the sums come back."""
    first = census2007_account(AMMONIA, _ammonia_library("v1", "10"), None,
                               con=duckdb_backend, into="run_v1")
    second = census2007_account(AMMONIA, _ammonia_library("v2", "1.77"), None,
                                con=duckdb_backend, into="run_v2")
    assert first.emissions is None and first.emission_rows == 2 and first.accounted_rows == 2
    table = compare_routes(first.emissions_table, second.emissions_table,
                           ["enterprise_id", "pollutant"], names=("v1", "v2"))
    table = table.set_index("enterprise_id")
    # A1: 20 万吨 = 200 000 t: 10 g/t → 2 000 kg, 1.77 g/t → 354 kg; A2: 50 000 t → 500, 88.5
    assert table.loc["A1", "emission_v1"] == pytest.approx(2000.0, rel=1e-12)
    assert table.loc["A1", "emission_v2"] == pytest.approx(354.0, rel=1e-12)
    assert table.loc["A2", "emission_v2"] == pytest.approx(88.5, rel=1e-12)
    assert list(table["change_percent"].round(9)) == [-82.3, -82.3]


# --------------------------------------------------------------------------- macro checks

def _macro_emissions() -> pd.DataFrame:
    """Two combinations of enterprises with known intensities (activity 1 t each, so the
    emission [kg] is the intensity [kg/t]), and the totals the other checks read."""
    # combination A (4411 锅炉 SO2), 7 enterprises: ln x = −0.2, −0.1, 0, 0.05, 0.1, 0.2, 3.0
    a_logs = [-0.2, -0.1, 0.0, 0.05, 0.1, 0.2, 3.0]
    # combination B (3311 焊接 PM), 6 enterprises: x = 1, 2, 4, 8, 16, 4096
    b_values = [1.0, 2.0, 4.0, 8.0, 16.0, 4096.0]
    a = pd.DataFrame(dict(enterprise_id=[f"A{i}" for i in range(7)], region_code="130902",
                          industry_code="4411", section="锅炉", product="", raw_material="燃煤",
                          process="", pollutant="SO2", emission=[math.exp(v) for v in a_logs],
                          generation=1.0e6, activity_in_basis=1.0))
    b = pd.DataFrame(dict(enterprise_id=[f"B{i}" for i in range(6)], region_code="130903",
                          industry_code="3311", section="焊接", product="", raw_material="焊材",
                          process="", pollutant="PM", emission=b_values, generation=0.0,
                          activity_in_basis=1.0))
    return pd.concat([a, b], ignore_index=True)


ENERGY = pd.DataFrame(dict(region_code=["130902", "130903"], coal=["25", "1"],
                           coal_unit=["万吨", "万吨"], sulfur_percent=["1.0", "1.0"]))
PRODUCTION = pd.DataFrame(dict(industry_code=["4411", "1713"], output=["16000", "10"],
                               unit=["吨", "吨"]))
PRODUCTION_ACTIVITY = pd.DataFrame(dict(industry_code=["4411", "4411", "1713", "1713"],
                                        activity=["1", "5000", "10", "x"],
                                        activity_unit=["万吨", "吨", "吨", "吨"]))


def _macro(con):
    checks, far = macro_check(_macro_emissions(), population=13_900_800, energy=ENERGY,
                              production=PRODUCTION, activity=PRODUCTION_ACTIVITY, con=con)
    return checks, far


def _check_macro(checks, far):
    reference = checks.loc[checks["check"] == "reference census2017"].set_index("pollutant")
    # SO2: Σ e^{ln x} over A = 7.4136 … kg → t; share 13 900 800 / 1 390 080 000 = 0.01
    so2 = sum(math.exp(v) for v in [-0.2, -0.1, 0.0, 0.05, 0.1, 0.2, 3.0]) / 1000
    assert reference.loc["SO2", "accounted_t"] == pytest.approx(so2, rel=1e-12)
    assert reference.loc["SO2", "reference_t"] == pytest.approx(69632.0)  # 696.32e4 × 0.01
    # PM: (1 + 2 + 4 + 8 + 16 + 4096) kg = 4.127 t against 1684.05e4 × 0.01 = 168 405 t
    assert reference.loc["PM", "accounted_t"] == pytest.approx(4.127, rel=1e-12)
    assert reference.loc["PM", "reference_t"] == pytest.approx(168405.0)
    assert reference.loc["COD", "accounted_t"] == 0.0
    assert set(reference["status"]) == {"below"}
    energy = checks.loc[checks["check"].str.startswith("energy")].set_index("region_code")
    # 130902: SO2 generation 7 × 1e6 kg = 7 000 t > 2 × 250 000 t × 1 % = 5 000 t: above
    assert energy.loc["130902", "accounted_t"] == pytest.approx(7000.0)
    assert energy.loc["130902", "reference_t"] == pytest.approx(5000.0)
    assert energy.loc["130902", "status"] == "above"
    # 130903: no SO2 at all, bound 200 t: below 0.3 × bound
    assert energy.loc["130903", "accounted_t"] == 0.0
    assert energy.loc["130903", "status"] == "below"
    production = checks.loc[checks["check"].str.startswith("production")].set_index(
        "industry_code")
    # 4411: 1 万吨 + 5 000 t = 15 000 t against 16 000 t (ratio 0.9375, within ±20 %);
    # 1713: 10 t ('x' is not a number and counts as nothing) against 10 t
    assert production.loc["4411", "accounted_t"] == pytest.approx(15000.0)
    assert production.loc["4411", "status"] == "within"
    assert production.loc["1713", "ratio"] == pytest.approx(1.0)
    # outliers, farthest first:
    # A: median ln x = 0.05 (odd n: the middle one, so ln median = 0.05); |ln x − 0.05| =
    #    0.25, 0.15, 0.05, 0, 0.05, 0.15, 2.95 → MAD 0.15; A6: z = 0.6745 × 2.95 / 0.15
    # B: median x = (4 + 8) / 2 = 6; median ln x = 2.5 ln 2; |ln x − 2.5 ln 2| = 2.5, 1.5,
    #    0.5, 0.5, 1.5, 9.5 (× ln 2) → MAD 1.5 ln 2; B5: z = 0.6745 (12 ln 2 − ln 6)/(1.5 ln 2)
    assert list(far["enterprise_id"]) == ["A6", "B5"]
    far = far.set_index("enterprise_id")
    assert far.loc["A6", "z"] == pytest.approx(0.6745 * 2.95 / 0.15, rel=1e-9)
    assert far.loc["A6", "median"] == pytest.approx(math.exp(0.05), rel=1e-12)
    assert far.loc["A6", "ratio"] == pytest.approx(math.exp(2.95), rel=1e-9)
    assert far.loc["B5", "z"] == pytest.approx(
        0.6745 * (12 * math.log(2) - math.log(6)) / (1.5 * math.log(2)), rel=1e-9)
    assert far.loc["B5", "median"] == pytest.approx(6.0, rel=1e-12)
    assert far.loc["B5", "ratio"] == pytest.approx(4096 / 6, rel=1e-12)
    assert list(far["n"]) == [7, 6]


def test_macro_on_duckdb_by_hand(duckdb_backend):
    _check_macro(*_macro(duckdb_backend))


@pytest.mark.parametrize("engine", ENGINES)
def test_macro_duckdb_and_other_engine_agree(engine, duckdb_backend, request):
    duck_checks, duck_far = _macro(duckdb_backend)
    checks, far = _macro(request.getfixturevalue(engine))
    _check_macro(checks, far)
    pd.testing.assert_frame_equal(duck_checks, checks, rtol=1e-12, check_dtype=False)
    pd.testing.assert_frame_equal(duck_far, far, rtol=1e-12, check_dtype=False)
