r"""Ibis expressions whose SQL differs between engines, written once here.

Science modules build Ibis expressions and never ask which engine runs them. A few
operations Ibis compiles to SQL that one engine lacks; their portable form lives
here so that the same expression gives the same answer on DuckDB, PySpark and
PostgreSQL (the conformance suite checks it).

=================  ==========================================================================
function           why
=================  ==========================================================================
``try_float``      PostgreSQL has no TRY_CAST: Ibis compiles ``try_cast`` to a plain CAST,
                   which fails the whole query on the first 'abc'. Here a text is cast only
                   when it has the form of a decimal number (a regular expression guards the
                   cast inside a CASE), through NUMERIC so that '1e999' is out of range
                   instead of an error.
``as_count``       PostgreSQL cannot CAST a boolean to BIGINT: ``condition.ifelse(1, 0)``.
``strip``,         Ibis compiles ``strip``/``rstrip`` for PySpark to ``TRIM(' \t\n\r\v\f' FROM x)``,
``rstrip``         whose character list Spark's parser reads with ``\v`` and ``\f`` as the
                   letters v and f: 'E0f' would lose its f. Where the engine may be Spark (or
                   is not known yet: a memtable), a regular expression over ``\s`` instead.
=================  ==========================================================================

Below them, the few helpers that put data on an engine and fetch small results back
(``engine_table``, ``drop_views``, ``cache``, ``fetch``, ``engine_name``) and the typed
column readers built on the functions above (``number``, ``text``).
"""

from __future__ import annotations

import decimal
import uuid

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["engine_of", "try_float", "as_count", "strip", "rstrip", "POSITION", "engine_table",
           "VIEW_PREFIX", "drop_views", "backend_of", "cache", "fetch", "engine_name", "number",
           "text"]

# what DuckDB's TRY_CAST(text AS DOUBLE) reads: sign, digits with single underscores
# between them, a decimal point, an exponent; blanks around
_DIGITS = r"[0-9](_?[0-9])*"
_NUMBER = rf"^\s*[+-]?({_DIGITS}(\.({_DIGITS})?)?|\.{_DIGITS})([eE][+-]?{_DIGITS})?\s*$"
_LARGEST = decimal.Decimal("1.7976931348623157E+308")  # the largest finite float64
_SMALLEST = decimal.Decimal("2.2250738585072014E-308")  # the smallest normal float64


def engine_of(expr: ibis.Expr) -> str:
    """Name of the backend an expression runs on ('duckdb' for in-memory data)."""
    try:
        return expr._find_backend(use_default=True).name
    except Exception:  # no backend can be found: the default (DuckDB) runs it
        return "duckdb"


def try_float(text: ibis.Value, engine: str | None = None) -> ibis.Value:
    """``text`` as float64, NULL where it is not a number (DuckDB's TRY_CAST on every engine).

    On PostgreSQL a value beyond the float64 range is NULL (DuckDB reads it as ±inf)
    and one below the smallest normal float64 is 0 (DuckDB keeps subnormals); callers
    that take finite numbers only (``inf`` is not an amount) see the same on both.

    ``engine`` names the engine that will run the expression when ``text`` cannot tell
    (a memtable has no backend of its own until it is executed); by default the
    expression's own backend.
    """
    if (engine or engine_of(text)) != "postgres":
        return text.try_cast("float64")
    looks = text.re_search(_NUMBER).fill_null(False)
    exact = text.replace("_", "").strip().cast(dt.Decimal())
    size = exact.abs()
    largest = ibis.literal(_LARGEST, type=dt.Decimal())
    smallest = ibis.literal(_SMALLEST, type=dt.Decimal())
    value = ibis.cases(
        (size > largest, ibis.null("float64")),
        (size < smallest, ibis.literal(0.0)),
        else_=exact.cast("float64"),
    )
    return ibis.ifelse(looks, value, ibis.null("float64"))


def as_count(condition: ibis.Value) -> ibis.Value:
    """A boolean as 1 / 0 (int64), to be summed: the cast PostgreSQL lacks."""
    return condition.ifelse(1, 0).cast("int64")


def _bound_engine(expr: ibis.Expr) -> str | None:
    """The backend an expression is bound to; None for unbound (in-memory) data."""
    try:
        return expr._find_backend(use_default=False).name
    except Exception:  # only memtables: it runs wherever it is executed
        return None


def strip(text: ibis.Value) -> ibis.Value:
    """``text`` without leading and trailing whitespace, the same on every engine."""
    if _bound_engine(text) in ("duckdb", "postgres"):
        return text.strip()
    return text.re_replace(r"^\s+|\s+$", "")


def rstrip(text: ibis.Value) -> ibis.Value:
    """``text`` without trailing whitespace, the same on every engine."""
    if _bound_engine(text) in ("duckdb", "postgres"):
        return text.rstrip()
    return text.re_replace(r"\s+$", "")


# --------------------------------------------------------------------------- data on an engine
#
# The accounting, derivation, update, stats and uncertainty functions take Ibis tables (the
# result runs in their engine) or pandas DataFrames / Arrow tables (wrapped as a memtable
# and run on ``con``, an in-memory DuckDB by default). Only small results are fetched.

POSITION = "_position"
VIEW_PREFIX = "_sg_"  # the views engine_table makes; drop_views drops them


def engine_table(data, con=None, *, position: bool = True, view: str | None = None):
    """``(table, backend, was_frame)``: an Ibis table for ``data`` and the backend it runs on.

    A DataFrame becomes a memtable with its row position (``_position``, 0, 1, ...) and its
    text columns as strings (an all-missing column would have no type on PostgreSQL and
    PySpark); an Arrow table becomes a memtable as it is (with ``_position`` appended);
    a table is used as it is, on ``con`` or its own backend.

    With ``view`` (a name) and ``con``, the memtable is bound to ``con`` as the view
    ``_sg_<view>_<random>`` (zero-copy on DuckDB), so that the expressions over it know
    their engine (:func:`try_float`, :func:`strip`); the caller drops it
    (``con.drop_view``, or every such view with :func:`drop_views`). Without ``con`` it
    stays a memtable.
    """
    if isinstance(data, ibis.Table):
        return data, con if con is not None else backend_of(data), False
    if isinstance(data, pa.Table):
        frame = data
        if position:
            frame = frame.append_column(POSITION, pa.array(np.arange(frame.num_rows,
                                                                     dtype="int64")))
    else:
        frame = data.reset_index(drop=True)
        frame = frame.astype({c: "string" for c in frame.columns
                              if frame[c].dtype == object or frame[c].dtype == "str"})
        if position:
            frame = frame.assign(**{POSITION: np.arange(len(frame), dtype="int64")})
    table = ibis.memtable(frame)
    if view is not None and con is not None:
        name = f"{VIEW_PREFIX}{view}_{uuid.uuid4().hex[:12]}"
        table = con.create_view(name, table, overwrite=True)
    return table, con, True


def drop_views(con) -> None:
    """Drop every view :func:`engine_table` made on ``con`` (names starting ``_sg_``)."""
    for name in con.list_tables(like=VIEW_PREFIX):
        if name.startswith(VIEW_PREFIX):
            con.drop_view(name, force=True)


def backend_of(expr):
    """The backend an expression runs on (the default DuckDB for in-memory data)."""
    try:
        return expr._find_backend(use_default=True)
    except Exception:  # noqa: BLE001 - no backend can be found: the default one runs it
        return ibis.get_backend()


def cache(con, expr: ibis.Table) -> ibis.Table:
    """``expr.cache()`` on ``con``: a memtable's expression has no backend of its own, so
    ``Table.cache`` would cache it on the default one (release with ``.release()``)."""
    return (con if con is not None else backend_of(expr))._cached_table(expr)


def fetch(con, expr) -> pd.DataFrame:
    """Run ``expr`` on ``con`` (or its own backend) and fetch it as a DataFrame."""
    return (con if con is not None else backend_of(expr)).to_pandas(expr)


def engine_name(con, table: ibis.Table) -> str:
    """The engine an expression over ``table`` will run on: ``con``'s, else the table's."""
    return con.name if con is not None else engine_of(table)


def number(table: ibis.Table, column: str, engine: str = "duckdb") -> ibis.Value:
    """A column as float64 (text through :func:`try_float`), NaN as NULL, so that
    'missing' means NULL on every engine."""
    value = table[column]
    value = try_float(strip(value), engine) if value.type().is_string() else \
        value.cast("float64")
    return ibis.ifelse(value.isnan().fill_null(False), ibis.null("float64"), value)


def text(table: ibis.Table, column: str) -> ibis.Value:
    """A column as stripped text, '' where missing or absent; integral numbers without
    '.0' (a coefficient row 103 read as 103.0 is '103')."""
    if column not in table.columns:
        return ibis.literal("", "string")
    value = table[column]
    if value.type().is_floating():
        value = ibis.ifelse(value.isnan().fill_null(False), ibis.null("float64"), value)
        whole = (value == value.round(0)) & (value.abs() < 1e15)
        value = ibis.ifelse(whole, value.cast("int64").cast("string"), value.cast("string"))
    return strip(value.cast("string")).fill_null("")
