"""Conformance: derivation, dynamic update, library counts and uncertainty on every engine.

Each case runs on DuckDB and on the other engine (a local PySpark session, the PostgreSQL
test server) and the results must be equal; the figures are also checked against numbers
worked out by hand (in each test, with the formula and its source).

Sources of the formulas: the Student-t interval of a mean and the modified z-score of
Iglewicz and Hoaglin (1993) (|0.6745 (x − median) / MAD| > 3.5); the Wilcoxon (1945)
signed-rank test (n equal-signed differences: exact two-sided p = 2 / 2ⁿ); IPCC 2006
Vol. 1 Ch. 3, Eq. 3.1/3.2 (Approach 1: σ of a sum of fully correlated terms is u × ΣE; of
independent terms √Σ(uE)²; for E = G (1 − ηk), ∂E/∂η = −Gk, so σ = G k η u_η).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.accounting.uncertainty import analytic, monte_carlo, propagate
from sourcegrid.coefficients import sample_library
from sourcegrid.coefficients.derivation import estimate_generation, estimate_removal, validate
from sourcegrid.coefficients.stats import accounting_steps, library_stats
from sourcegrid.coefficients.update import (
    default_library_name,
    evidence,
    propose,
    review,
    review_log,
    store_proposal,
)
from sourcegrid.errors import InputError, OptionError

KEYS = dict(industry_code="3311", section="焊接", product="", raw_material="焊材",
            process="手工电弧焊", scale="", pollutant="PM")
SPARK = pytest.param("spark_backend", marks=[pytest.mark.spark, pytest.mark.slow],
                     id="pyspark")
POSTGRES = pytest.param("postgres_backend", marks=pytest.mark.pg, id="postgres")
ENGINES = [SPARK, POSTGRES]


def measurements(values, prefix="S", **keys):
    return pd.DataFrame([dict(enterprise_id=f"{prefix}{i}", **{**KEYS, **keys},
                              generation=str(v), activity="2") for i, v in enumerate(values)])


def both(engine, request, duckdb_backend, run):
    """``run(con)`` on DuckDB and on the other engine."""
    return run(duckdb_backend), run(request.getfixturevalue(engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_generation_coefficients(engine, request, duckdb_backend):
    sample = pd.concat([measurements([18, 20, 22, 20, 19, 200]),
                        measurements([4, 6], prefix="T", pollutant="SO2")], ignore_index=True)
    duck, other = both(engine, request, duckdb_backend,
                       lambda con: estimate_generation(sample, con=con))
    for mine, theirs in zip(duck, other, strict=True):
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, rtol=1e-12)
    estimates, per = other
    pm = estimates.set_index("pollutant").loc["PM"]
    # c_i = G / 2 t: 9, 10, 11, 10, 9.5, 100 kg/t; median 10, |deviations| 1, 0, 1, 0, 0.5,
    # 90 → MAD 0.75; 100 has z = 0.6745 × 90 / 0.75 = 80.9 > 3.5: flagged, left out
    assert list(per["outlier"]) == [False] * 5 + [True, False, False]
    assert list(per["coefficient"]) == pytest.approx([9, 10, 11, 10, 9.5, 100, 2, 3])
    assert (pm["n"], pm["outliers"]) == (5, 1) and pm["mean"] == pytest.approx(9.9)
    # s = √(2.2 / 4) = 0.741620; t(0.975, 4) = 2.776445: 9.9 ± 0.920843
    assert (pm["ci_low"], pm["ci_high"]) == pytest.approx((8.979157, 10.820843), rel=1e-6)
    so2 = estimates.set_index("pollutant").loc["SO2"]
    # c = 2, 3: mean 2.5, s = 0.707107, t(0.975, 1) = 12.706205: 2.5 ± 12.706205 × 0.707107 / √2
    # = 2.5 ± 6.353102
    assert so2["mean"] == pytest.approx(2.5)
    assert (so2["ci_low"], so2["ci_high"]) == pytest.approx((-3.853102, 8.853102), rel=1e-6)


@pytest.mark.parametrize("engine", [POSTGRES])
def test_removal_and_validation(engine, request, duckdb_backend):
    pairs = pd.DataFrame([dict(enterprise_id=f"S{i}", **KEYS, treatment="焊烟净化器",
                               inlet="100", outlet=str(v)) for i, v in enumerate([10, 12, 8])])
    holdout = measurements([30, 18], prefix="H")
    estimates = estimate_generation(measurements([18, 20, 22, 20, 19]))[0]

    def run(con):
        return (estimate_removal(pairs, con=con), *validate(estimates, holdout, con=con))

    duck, other = both(engine, request, duckdb_backend, run)
    for mine, theirs in zip(duck, other, strict=True):
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, rtol=1e-12)
    removal, per_enterprise, per_combination = other
    # η = 1 − (10, 12, 8) / 100 = 0.90, 0.88, 0.92; s = 0.02; t(0.975, 2) = 4.302653:
    # 0.9 ± 4.302653 × 0.02 / √3 = 0.9 ± 0.049683
    row = removal.iloc[0]
    assert row["mean"] == pytest.approx(0.9)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.850317, 0.949683), rel=1e-5)
    # hold-out enterprises: predicted 9.9 × 2 = 19.8 for both; (19.8 − 30) / 30 = −0.34,
    # (19.8 − 18) / 18 = 0.1; mean |error| 0.22, max 0.34
    assert list(per_enterprise["relative_error"]) == pytest.approx([-0.34, 0.1])
    assert per_combination.iloc[0][["enterprises", "mean_abs_relative_error",
                                    "max_abs_relative_error"]].tolist() == pytest.approx(
        [2, 0.22, 0.34])


@pytest.mark.parametrize("engine", [POSTGRES])
def test_bad_measurements_all_at_once(engine, request, duckdb_backend):
    bad = measurements([18, "x", "-1", ""]).assign(activity=["2", "2", "abc", "2"])

    def run(con):
        with pytest.raises(InputError) as caught:
            estimate_generation(bad, con=con)
        return [(p.row, p.column, p.value, p.reason, p.message) for p in caught.value.problems]

    duck, other = both(engine, request, duckdb_backend, run)
    assert duck == other == [
        (5, "generation", "", "missing_value", "generation: expected a value (a number ≥ 0)"),
        (3, "generation", "x", "not_a_number", "generation: expected a number ≥ 0"),
        (4, "generation", "-1", "negative_amount", "generation: expected a number ≥ 0"),
        (4, "activity", "abc", "not_a_number", "activity: expected a number ≥ 0")]
    # the numbers right, the zero activity of row 2 is reported
    zero = measurements([18, 20]).assign(activity=["0", "2"])
    with pytest.raises(InputError) as caught:
        estimate_generation(zero, con=request.getfixturevalue(engine))
    assert [(p.row, p.reason) for p in caught.value.problems] == [(2, "zero_activity")]


def pair(n=12, ratio=0.8, row=103):
    accounted = pd.DataFrame(dict(enterprise_id=[f"E{i}" for i in range(n)], period="2017",
                                  pollutant="PM", emission=100.0 + 10 * np.arange(n),
                                  coefficient_row=row))
    measured = accounted[["enterprise_id", "period", "pollutant"]].assign(
        emission=accounted["emission"] * ratio)
    return measured, accounted


@pytest.mark.parametrize("engine", ENGINES)
def test_evidence(engine, request, duckdb_backend):
    measured, accounted = pair()
    few_measured, few_accounted = pair(n=5, ratio=1.25, row=105)
    few_measured["enterprise_id"] += "f"
    few_accounted["enterprise_id"] += "f"
    # E0 also has PM from a second row in another period: its 2018 pollutant comes from
    # two rows and does not count
    two = pd.DataFrame(dict(enterprise_id="E0", period="2018", pollutant="PM",
                            emission=[50.0, 50.0], coefficient_row=[103, 105]))
    measured = pd.concat([measured, few_measured, two.iloc[:1].drop(
        columns="coefficient_row")], ignore_index=True)
    accounted = pd.concat([accounted, few_accounted, two], ignore_index=True)

    duck, other = both(engine, request, duckdb_backend,
                       lambda con: evidence(measured, accounted, con=con))
    pd.testing.assert_frame_equal(duck, other, check_dtype=False, rtol=1e-12)
    table = other.set_index("coefficient_row")
    # 12 enterprises all at 0.8: geometric mean 0.8, exact p = 2 / 2¹² = 0.000488
    assert table.loc[103, "enterprises"] == 12 and table.loc[103, "ratio"] == pytest.approx(0.8)
    assert table.loc[103, "p_value"] == pytest.approx(2 / 2 ** 12, rel=1e-6)
    assert table.loc[103, "significant"]
    # 5 enterprises: too few to test
    assert table.loc[105, "enterprises"] == 5 and np.isnan(table.loc[105, "p_value"])
    assert table.loc[105, "ratio"] == pytest.approx(1.25) and not table.loc[105, "significant"]
    with pytest.raises(OptionError, match="significance level"):
        evidence(measured, accounted, alpha=2, con=request.getfixturevalue(engine))


@pytest.mark.parametrize("engine", [POSTGRES])
def test_review_log_on_the_workspace(engine, request, tmp_path):
    from sourcegrid.store import Workspace

    workspaces = [Workspace(tmp_path / "ws", create=True),
                  Workspace.from_backend(request.getfixturevalue(engine))]
    for ws in workspaces:
        library, diff = propose(sample_library(), evidence(*pair(), con=ws.con), name="pm2026")
        store_proposal(ws, library, diff, base="sample", by="census team")
        assert default_library_name(ws) == "sample"
        review(ws, "pm2026", "rejected", by="李工", note="permits disagree")
        library.name = "pm2027"
        store_proposal(ws, library, diff, base="sample", by="census team")
        review(ws, "pm2027", "approved", by="王工")
        assert default_library_name(ws) == "pm2027"
        log = review_log(ws)
        assert list(log["seq"]) == [1, 2, 3, 4]
        assert list(zip(log["library"], log["state"], strict=True)) == [
            ("pm2026", "proposed"), ("pm2026", "rejected"), ("pm2027", "proposed"),
            ("pm2027", "approved")]
        with pytest.raises(OptionError, match="already rejected"):
            review(ws, "pm2026", "approved", by="x")
        assert len(review_log(ws)) == 4  # nothing appended by the refused review


LIBRARY = pd.DataFrame(dict(
    coefficient_row=[1, 2, 3, 4, 5],
    industry_code=["4411", "4411", "3311", "3312", "*"],
    section=["燃烧", "燃烧", "焊接", "焊接", "涂装"],
    product=["电力", "电力", "", "", ""], raw_material=["燃煤", "燃煤", "焊材", "焊材", "涂料"],
    process=["煤粉炉", "煤粉炉", "", "", ""], scale=["", "", "", "", ""],
    pollutant=["SO2", "SO2", "PM", "PM", "VOCs"],
    generation_coefficient=[np.nan, np.nan, 9.2, 9.2, 3.0],
    generation_expression=["17*S", "17*S", "", "", ""],
    treatment=["", "石灰石-石膏法", "", "焊烟净化器", ""]))


@pytest.mark.parametrize("engine", ENGINES)
def test_library_counts(engine, request, duckdb_backend):
    duck, other = both(engine, request, duckdb_backend,
                       lambda con: (library_stats(LIBRARY, con=con),
                                    accounting_steps(LIBRARY, con=con, names=("a", "b"))))
    pd.testing.assert_frame_equal(duck[0], other[0])
    pd.testing.assert_frame_equal(duck[1], other[1], check_dtype=False)
    counts = other[0].set_index("item")["count"]
    # 5 rows; 大类 44, 33 (the '*' row is no class); 小类 4411, 3311, 3312; sections 燃烧,
    # 焊接, 涂装; products 电力; raw materials 燃煤, 焊材, 涂料; processes 煤粉炉;
    # generation coefficients: (燃烧 电力 燃煤 煤粉炉 SO2), (焊接 焊材 PM), (涂装 涂料 VOCs)
    # → 3; treated rows 2, 4 → 2
    assert counts.to_dict() == {
        "rows (file rows)": 5, "industries, major groups": 2, "industries, classes": 3,
        "sections": 3, "products": 1, "raw materials": 3, "processes": 1,
        "generation coefficients": 3, "treatment efficiencies": 2}
    # steps: each industry's own sections plus the shared 涂装: 4411 {燃烧, 涂装} = 2,
    # 3311 {焊接, 涂装} = 2, 3312 = 2
    assert other[1].set_index("industry_code")["steps_a"].to_dict() == {
        "3311": 2, "3312": 2, "4411": 2}


def emission_rows():
    """SO2: two rows of one coefficient row (500 kg each, u_c 10 %); NOx: one treated row
    (G 1000 kg, η 0.9, k 1, u_η 5 %: E = 100 kg)."""
    return pd.DataFrame(dict(
        enterprise_id=["E0", "E1", "E2"], period="2017", source_row=[2, 3, 4],
        region_code="130900", industry_code="4411", pollutant=["SO2", "SO2", "NOx"],
        coefficient_row=[5, 5, 7], treatment=["", "", "SCR"],
        generation=[500.0, 500.0, 1000.0], emission=[500.0, 500.0, 100.0],
        removal_efficiency=[0.0, 0.0, 0.9], k=[np.nan, np.nan, 1.0],
        generation_coefficient_rsd=[0.1, 0.1, 0.0], activity_rsd=0.0,
        removal_efficiency_rsd=[0.0, 0.0, 0.05], k_rsd=0.1))


@pytest.mark.parametrize("engine", ENGINES)
def test_uncertainty(engine, request, duckdb_backend):
    rows = emission_rows()

    def run(con):
        result = propagate(rows, ["pollutant"], draws=20000, seed=7, con=con)
        return result.totals, result.contributions

    duck, other = both(engine, request, duckdb_backend, run)
    pd.testing.assert_frame_equal(duck[0], other[0], check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(duck[1], other[1], check_dtype=False, rtol=1e-9)
    totals = other[0].set_index("pollutant")
    # SO2: fully correlated, σ = 0.1 × 1000 = 100; NOx: σ = 1000 × 1 × 0.9 × 0.05 = 45 (k = 1
    # cannot vary: its sd cap 0.5 √(1 · 0) = 0)
    assert totals.loc["SO2", "sd"] == pytest.approx(100.0)
    assert totals.loc["NOx", "sd"] == pytest.approx(45.0)
    assert totals.loc["SO2", "mc_sd"] == pytest.approx(100.0, rel=0.03)
    assert totals.loc["NOx", "mc_sd"] == pytest.approx(45.0, rel=0.04)
    assert totals.loc["NOx", "mc_mean"] == pytest.approx(100.0, rel=0.01)
    top = other[1]
    first = top.groupby("pollutant").head(1).set_index("pollutant")
    # the largest term: SO2 all from coefficient row 5; NOx all from η of (row 7, SCR)
    assert first.loc["SO2", ["parameter", "shared_id"]].tolist() == [
        "generation_coefficient", "5"]
    assert first.loc["NOx", ["parameter", "shared_id"]].tolist() == [
        "removal_efficiency", "7 SCR"]
    assert first["share"].tolist() == pytest.approx([1.0, 1.0])


def test_uncertainty_of_a_table_and_chunks(duckdb_backend):
    """An Ibis table runs in its engine; chunks of any size give the same draws where the
    rows draw nothing of their own (only the shared coefficient varies)."""
    rows = emission_rows().assign(removal_efficiency_rsd=0.0, k_rsd=0.0)
    table = duckdb_backend.create_table("emissions", rows)
    totals, _ = analytic(table, by=["region"])
    # one region: SO2 (σ 100) and NOx (no uncertainty left) → σ = 100
    assert totals.iloc[0]["sd"] == pytest.approx(100.0)
    together = propagate(table, ["pollutant"], draws=200).totals.set_index("pollutant")
    assert together["sd"].to_dict() == pytest.approx({"NOx": 0.0, "SO2": 100.0})
    whole = monte_carlo(table, by=["region"], draws=500, seed=1)
    chunked = monte_carlo(table, by=["region"], draws=500, seed=1, chunk_rows=1)
    pd.testing.assert_frame_equal(whole, chunked)
