"""The portable expressions give the same text on DuckDB, PySpark and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.store.portable import rstrip, strip

# Ibis' own strip() on PySpark compiles to TRIM(' \t\n\r\v\f' FROM x), which Spark reads with
# the letters v and f in the list: 'E0f' became 'E0' and 'v' became ''. Expected values are
# the texts with their blanks (space, tab, newline) taken off, by hand.
VALUES = [" E0f ", "\tA1\n", "v", "f  x  f", "", "  "]
STRIPPED = ["E0f", "A1", "v", "f  x  f", "", ""]
RSTRIPPED = [" E0f", "\tA1", "v", "f  x  f", "", ""]

ENGINES = ["duckdb_backend",
           pytest.param("spark_backend", marks=[pytest.mark.spark, pytest.mark.slow]),
           pytest.param("postgres_backend", marks=pytest.mark.pg)]


@pytest.mark.parametrize("engine", ENGINES)
def test_strip_keeps_letters_on_every_engine(engine, request):
    con = request.getfixturevalue(engine)
    table = con.create_table("texts", pd.DataFrame({"i": range(len(VALUES)), "x": VALUES}),
                             overwrite=True)
    got = con.execute(table.select("i", s=strip(table.x), r=rstrip(table.x)).order_by("i"))
    assert got["s"].tolist() == STRIPPED
    assert got["r"].tolist() == RSTRIPPED
    con.drop_table("texts")


@pytest.mark.spark
@pytest.mark.slow
def test_strip_of_unbound_data_run_on_spark(spark_backend):
    import ibis

    memtable = ibis.memtable(pd.DataFrame({"x": VALUES}))
    got = spark_backend.execute(memtable.select(s=strip(memtable.x)))
    assert sorted(got["s"]) == sorted(STRIPPED)
