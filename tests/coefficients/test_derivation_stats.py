"""Deriving coefficients (系数制定): sample size, allocation, draw, estimation, validation.

Hand-worked: Cochran (1977) n0 = (z CV / r)², n = n0 / (1 + n0/N); the Student-t interval
of a mean; the modified z-score of Iglewicz and Hoaglin (1993).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.coefficients import sample_library
from sourcegrid.coefficients.derivation import (
    allocate,
    derived_library,
    draw_sample,
    estimate_generation,
    estimate_removal,
    sample_size,
    validate,
)
from sourcegrid.errors import InputError, NotFoundError, OptionError

runner = CliRunner()
KEYS = dict(industry_code="3311", section="焊接", product="", raw_material="焊材",
            process="手工电弧焊", scale="", pollutant="PM")


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def measurements(values, prefix="S"):
    return pd.DataFrame([dict(enterprise_id=f"{prefix}{i}", **KEYS, generation=str(v),
                              activity="2") for i, v in enumerate(values)])


def test_sample_size_cochran():
    # z = 1.959964; n0 = (1.959964 × 0.5 / 0.1)² = 96.04 → 97; N = 100: 96.04 / 1.9604 = 48.99 → 49
    assert sample_size(0.5, 0.1) == 97
    assert sample_size(0.5, 0.1, population=100) == 49
    with pytest.raises(OptionError, match="relative precision"):
        sample_size(0.5, 1.5)


def test_allocation_and_seeded_draw():
    population = pd.DataFrame(dict(enterprise_id=[f"E{i}" for i in range(100)],
                                   industry_code=["3311"] * 60 + ["1713"] * 40,
                                   region_code=["A", "B"] * 50, sd=[1.0] * 60 + [3.0] * 40))
    table = allocate(population, ["industry_code", "region_code"], 20)
    # proportional: 20 × 30/100 = 6 per 3311 stratum, 20 × 20/100 = 4 per 1713 stratum
    assert table.set_index(["industry_code", "region_code"])["n"].to_dict() == {
        ("1713", "A"): 4, ("1713", "B"): 4, ("3311", "A"): 6, ("3311", "B"): 6}
    neyman = allocate(population, ["industry_code"], 18, method="neyman", sd="sd")
    # N_h S_h: 1713: 40 × 3 = 120, 3311: 60 × 1 = 60 → 12 and 6
    assert neyman.set_index("industry_code")["n"].to_dict() == {"1713": 12, "3311": 6}
    first = draw_sample(population, table, ["industry_code", "region_code"], seed=5)
    again = draw_sample(population, table, ["industry_code", "region_code"], seed=5)
    assert first["selected"].sum() == 20 and first["selected"].equals(again["selected"])
    assert first.groupby("industry_code")["selected"].sum().to_dict() == {"1713": 8,
                                                                           "3311": 12}
    with pytest.raises(NotFoundError, match="neyman, proportional"):
        allocate(population, ["industry_code"], 5, method="optimal")
    # an Ibis table as the sampling frame: the same allocation and the same seeded draw
    import ibis

    frame = ibis.memtable(population)
    pd.testing.assert_frame_equal(allocate(frame, ["industry_code", "region_code"], 20),
                                  table)
    drawn = draw_sample(frame, table, ["industry_code", "region_code"], seed=5)
    assert drawn["selected"].equals(first["selected"])


def test_estimate_with_outlier_and_interval():
    # c_i = G / 2 t: 9, 10, 11, 10, 9.5 and 100 kg/t; median 10, |deviations| 1, 0, 1, 0,
    # 0.5, 90 → MAD 0.75: 100 is an outlier (z = 0.6745 × 90 / 0.75 = 80.9 > 3.5)
    estimates, per = estimate_generation(measurements([18, 20, 22, 20, 19, 200]))
    row = estimates.iloc[0]
    assert list(per["outlier"]) == [False] * 5 + [True]
    assert row["n"] == 5 and row["mean"] == pytest.approx(9.9)
    # s = √(2.2 / 4) = 0.741620; t(0.975, 4) = 2.776445; half-width 0.920843
    assert row["sd"] == pytest.approx(0.741620, rel=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((8.979157, 10.820843), rel=1e-6)
    assert row["rsd_of_mean"] == pytest.approx(0.741620 / (np.sqrt(5) * 9.9), rel=1e-5)
    bad = measurements([18, "x"]).assign(activity=["0", "1"])
    with pytest.raises(InputError) as caught:
        estimate_generation(bad)
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (3, "generation", "not_a_number")]


def test_estimate_from_an_ibis_table():
    import ibis

    con = ibis.duckdb.connect()
    table = con.create_table("sample", measurements([18, 20, 22, 20, 19, 200]).assign(
        generation=lambda f: f["generation"].astype(float)))
    estimates, per = estimate_generation(table)
    # the same sample as above: mean 9.9 of five, the 100 kg/t left out
    assert isinstance(per, ibis.Table)
    assert (estimates["n"].iloc[0], estimates["mean"].iloc[0]) == (5, pytest.approx(9.9))
    flagged = per.filter(per.outlier).to_pandas()
    assert list(flagged["enterprise_id"]) == ["S5"]
    # a table without row numbers: the problems name no row, but the value and column
    bad = con.create_table("bad", measurements([18, "x"]))
    with pytest.raises(InputError) as caught:
        estimate_generation(bad)
    assert [(p.row, p.column, p.value, p.reason) for p in caught.value.problems] == [
        (None, "generation", "x", "not_a_number")]


def test_removal_pairs_validation_and_library():
    pairs = pd.DataFrame([dict(enterprise_id=f"S{i}", **KEYS, treatment="焊烟净化器",
                               inlet="100", outlet=str(v)) for i, v in enumerate([10, 12, 8])])
    efficiency = estimate_removal(pairs).iloc[0]
    assert efficiency["mean"] == pytest.approx(0.90)  # 1 − (10, 12, 8)/100 → 0.9, 0.88, 0.92
    estimates, _ = estimate_generation(measurements([18, 20, 22, 20, 19]))
    holdout = measurements([30, 18], prefix="H")  # c = 9.9: predicted 19.8 for both
    per, combination = validate(estimates, holdout)
    assert list(per["relative_error"]) == pytest.approx([(19.8 - 30) / 30, (19.8 - 18) / 18])
    assert combination["mean_abs_relative_error"].iloc[0] == pytest.approx(
        (10.2 / 30 + 1.8 / 18) / 2)
    library, unmatched = derived_library(sample_library(), estimates, name="derived",
                                         efficiencies=estimate_removal(pairs), sample="s1")
    rows = library.rows.loc[library.rows["industry_code"] == "3311"].set_index("coefficient_row")
    assert rows.loc[103, "generation_coefficient"] == pytest.approx(9.9)  # kg/t, factor 1
    assert rows.loc[103, "removal_efficiency"] == pytest.approx(0.90)
    assert rows.loc[104, "generation_coefficient"] == pytest.approx(9.9)  # untreated row
    assert "derived" in rows.loc[103, "source"] and "s1" in rows.loc[103, "source"]
    assert rows.loc[105, "generation_coefficient"] == pytest.approx(5.2)  # untouched
    assert unmatched.empty


def test_cli_design_and_derive(tmp_path):
    population = tmp_path / "population.csv"
    pd.DataFrame(dict(enterprise_id=[f"E{i}" for i in range(100)],
                      industry_code=["3311"] * 60 + ["1713"] * 40,
                      region_code=["A", "B"] * 50)).to_csv(population, index=False)
    out = tmp_path / "drawn.csv"
    result = runner.invoke(app, ["coefficients", "sample-design", str(population), "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    assert "sample size n = 49 of N = 100" in result.output
    assert pd.read_csv(out)["selected"].sum() == 49
    sample = tmp_path / "sample.csv"
    measurements([18, 20, 22, 20, 19]).to_csv(sample, index=False)
    result = runner.invoke(app, ["coefficients", "derive", str(sample), "--name", "welding2026",
                                 "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "stored library welding2026" in result.output
    result = runner.invoke(app, ["coefficients", "sample-design", str(population), "--strata",
                                 "county"])
    assert result.exit_code == 2 and "--strata county" in result.output
