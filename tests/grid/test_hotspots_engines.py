"""Conformance: the Ibis parts of hotspots and classification give the same
results on DuckDB and PySpark as on an in-memory pandas input."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from sourcegrid.grid.classify import classify_cells
from sourcegrid.grid.hotspots import monthly_lists, persistence, rank_cells

from . import test_classify as crafted_types
from . import test_hotspots as crafted


def _cases():
    return {
        "rank": (crafted._ranking_hours(), lambda t: rank_cells(
            t, "2026-03-01", "2026-03-02", top=3, cells=crafted.CELLS)),
        "persistence": (crafted._persistence_hours(), lambda t: persistence(
            t, "2026-03-01T08:00", "2026-03-01T12:00", top_percent=34)),
        "monthly": (crafted._monthly_hours(), lambda t: monthly_lists(
            t, "2026-03", top=2, cells=crafted.CELLS)),
        "classify": (crafted_types._crafted(), lambda t: classify_cells(
            t, "2026-03-01", "2026-03-02")),
    }


def _check_on(backend) -> None:
    for name, (frame, run) in _cases().items():
        expected = run(frame)
        # a temporary view: nothing written to disk (no spark-warehouse folder)
        table = backend.create_view(f"case_{name}", ibis.memtable(frame),
                                    overwrite=True)
        got = run(table)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True),
                                      check_dtype=False, obj=name)


def test_duckdb_matches_pandas_input(duckdb_backend):
    _check_on(duckdb_backend)


@pytest.mark.spark
def test_pyspark_matches_pandas_input(spark_backend):
    _check_on(spark_backend)


@pytest.mark.pg
def test_postgres_matches_pandas_input(postgres_backend):
    _check_on(postgres_backend)
