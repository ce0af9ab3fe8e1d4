"""The portable expressions give the same text on DuckDB, PySpark and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.store.portable import (
    POSITION,
    drop_views,
    engine_of,
    engine_table,
    rstrip,
    strip,
    try_float,
)

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


def test_engine_table_of_frame_arrow_and_table(duckdb_backend):
    import ibis
    import pyarrow as pa

    con = duckdb_backend
    # a DataFrame: text columns as strings (an all-missing one too), its row position
    frame = pd.DataFrame({"a": ["x", None], "b": [None, None], "n": [1.5, 2.5]}, index=[7, 3])
    table, backend, was_frame = engine_table(frame, con)
    assert backend is con and was_frame
    assert table.schema()["a"].is_string() and table.schema()["b"].is_string()
    assert con.to_pyarrow(table.order_by(POSITION))[POSITION].to_pylist() == [0, 1]
    # an Arrow table: as it is, with the position appended
    arrow = pa.table({"a": ["x", "y", "z"]})
    table, _, was_frame = engine_table(arrow, con)
    assert was_frame and table.columns == ("a", POSITION)
    assert con.to_pyarrow(table.order_by(POSITION))["a"].to_pylist() == ["x", "y", "z"]
    # an Ibis table: used as it is, not a frame
    stored = con.create_table("stored", arrow, overwrite=True)
    table, backend, was_frame = engine_table(stored, None, position=False)
    assert table is stored and not was_frame and backend.name == "duckdb"
    # without a connection, no view: a memtable
    table, backend, _ = engine_table(frame, None, position=False, view="test")
    assert backend is None and isinstance(table.op(), ibis.expr.operations.InMemoryTable)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_table_view_bound_to_the_engine_and_dropped(engine, request):
    """A view knows its engine: strip and try_float compile for it; drop_views removes it."""
    con = request.getfixturevalue(engine)
    frame = pd.DataFrame({"i": range(len(VALUES)), "x": VALUES})
    table, _, _ = engine_table(frame, con, position=False, view="texts")
    assert table.get_name().startswith("_sg_texts_")
    assert engine_of(table) == con.name
    got = con.to_pyarrow(table.select("i", s=strip(table.x), r=rstrip(table.x),
                                      v=try_float(table.x)).order_by("i")).to_pydict()
    assert got["s"] == STRIPPED and got["r"] == RSTRIPPED
    assert got["v"] == [None] * len(VALUES)  # none of them is a number
    drop_views(con)
    assert not [n for n in con.list_tables() if n.startswith("_sg_")]
