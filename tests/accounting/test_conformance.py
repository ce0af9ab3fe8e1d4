"""Conformance: the same hand-checked cases give equal results on every engine.

The accounting query is one Ibis expression graph; here it runs on DuckDB and on
a local PySpark session, and the results must be equal row for row.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.accounting.engine import account

from .cases import BAD_ACTIVITY, BAD_TREATMENT, EXPECTED, GOOD_ACTIVITY, GOOD_TREATMENT, LIBRARY

NUMERIC = ["generation", "removal", "emission", "removal_efficiency", "k"]
KEYS = ["enterprise_id", "pollutant", "period", "section", "coefficient_row", "treatment",
        "k_source"]


def _run(con, activity, treatment):
    result = account(activity, LIBRARY, treatment, con=con)
    emissions = result.emissions.sort_values(["enterprise_id", "pollutant"], ignore_index=True)
    rejects = result.rejects.sort_values(["row", "reason", "column"], ignore_index=True)
    return emissions, rejects


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("case", ["good", "bad"])
def test_duckdb_and_pyspark_agree(case, duckdb_backend, spark_backend):
    activity, treatment = ((GOOD_ACTIVITY, GOOD_TREATMENT) if case == "good"
                           else (BAD_ACTIVITY, BAD_TREATMENT))
    duck, duck_rejects = _run(duckdb_backend, activity, treatment)
    spark, spark_rejects = _run(spark_backend, activity, treatment)
    pd.testing.assert_frame_equal(duck[KEYS].astype(str), spark[KEYS].astype(str))
    pd.testing.assert_frame_equal(duck[NUMERIC], spark[NUMERIC], rtol=1e-12, check_dtype=False)
    pd.testing.assert_frame_equal(
        duck_rejects[["row", "reason", "column", "value"]].astype(str),
        spark_rejects[["row", "reason", "column", "value"]].astype(str))
    if case == "good":  # and both equal the hand-worked numbers
        got = {(e, p): (g, r, x) for e, p, g, r, x in spark[
            ["enterprise_id", "pollutant", "generation", "removal", "emission"]].itertuples(
            index=False)}
        for key, expected in EXPECTED.items():
            assert got[key] == pytest.approx(expected, rel=1e-12), key


@pytest.mark.pg
@pytest.mark.parametrize("case", ["good", "bad"])
def test_duckdb_and_postgres_agree(case, duckdb_backend, postgres_backend):
    activity, treatment = ((GOOD_ACTIVITY, GOOD_TREATMENT) if case == "good"
                           else (BAD_ACTIVITY, BAD_TREATMENT))
    duck, duck_rejects = _run(duckdb_backend, activity, treatment)
    pg, pg_rejects = _run(postgres_backend, activity, treatment)
    pd.testing.assert_frame_equal(duck[KEYS].astype(str), pg[KEYS].astype(str))
    pd.testing.assert_frame_equal(duck[NUMERIC], pg[NUMERIC], rtol=1e-12, check_dtype=False)
    pd.testing.assert_frame_equal(
        duck_rejects[["row", "reason", "column", "value"]].astype(str),
        pg_rejects[["row", "reason", "column", "value"]].astype(str))
    if case == "good":  # and both equal the hand-worked numbers
        got = {(e, p): (g, r, x) for e, p, g, r, x in pg[
            ["enterprise_id", "pollutant", "generation", "removal", "emission"]].itertuples(
            index=False)}
        for key, expected in EXPECTED.items():
            assert got[key] == pytest.approx(expected, rel=1e-12), key
