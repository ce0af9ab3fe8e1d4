"""Conformance: the same hand-checked cases give equal results on every engine.

The accounting query is one Ibis expression graph; here it runs on DuckDB, on a local
PySpark session and on the PostgreSQL test server, and the results must be equal row for row.
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


ENGINES = [pytest.param("spark_backend", marks=[pytest.mark.spark, pytest.mark.slow], id="pyspark"),
           pytest.param("postgres_backend", marks=pytest.mark.pg, id="postgres")]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", ["good", "bad"])
def test_duckdb_and_other_engine_agree(case, engine, duckdb_backend, request):
    activity, treatment = ((GOOD_ACTIVITY, GOOD_TREATMENT) if case == "good"
                           else (BAD_ACTIVITY, BAD_TREATMENT))
    duck, duck_rejects = _run(duckdb_backend, activity, treatment)
    other, other_rejects = _run(request.getfixturevalue(engine), activity, treatment)
    pd.testing.assert_frame_equal(duck[KEYS].astype(str), other[KEYS].astype(str))
    pd.testing.assert_frame_equal(duck[NUMERIC], other[NUMERIC], rtol=1e-12, check_dtype=False)
    pd.testing.assert_frame_equal(
        duck_rejects[["row", "reason", "column", "value"]].astype(str),
        other_rejects[["row", "reason", "column", "value"]].astype(str))
    if case == "good":  # and both equal the hand-worked numbers
        got = {(e, p): (g, r, x) for e, p, g, r, x in other[
            ["enterprise_id", "pollutant", "generation", "removal", "emission"]].itertuples(
            index=False)}
        for key, expected in EXPECTED.items():
            assert got[key] == pytest.approx(expected, rel=1e-12), key
