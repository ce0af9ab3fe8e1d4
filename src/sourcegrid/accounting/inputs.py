"""Activity and treatment tables: headers, types and row checks, as Ibis expressions.

Both tables arrive as text (a file read by :func:`sourcegrid.io.tables.read_arrow`,
or a DataFrame) and are checked inside the engine, so a million rows never pass
through Python one by one: numbers are numbers (``TRY_CAST``), amounts are not
negative, keys are present and well formed, rows are not duplicated. Every
problem becomes a reject row (source, row, column, value, reason, message);
the rows without problems go on to the accounting. Variables the coefficient
and k formulas name (S, A, run_hours, ...) are any extra columns; a variable
that is present but not a number, or outside its physical domain
(:data:`VARIABLE_DOMAINS`: a sulfur content is 0-100 %, run hours 0-8784 h), is
reported and left out of the row: only the pollutants whose formula needs it are
rejected (``missing_variable``); the others are accounted as usual, so a bad value
never silently changes the method (a treatment row is never dropped for a variable
its k formula does not use). Amounts (activity, capacity) are finite, non-negative
and at most :data:`AMOUNT_MAX`.

References
----------
.. [1] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 使用说明 (S, A as mass %).
.. [2] GB/T 212-2008 煤的工业分析方法 (ash, volatile matter as mass %); GB/T 214-2007 煤中
   全硫的测定方法 (total sulfur as mass %); GB 17820-2018 天然气 (total sulfur of natural
   gas, class 2 at most 100 mg/m³).
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.io.tables import ROW, SOURCE, canonical_headers, to_text_arrow
from sourcegrid.store.portable import as_count, engine_table, strip, try_float

__all__ = [
    "AMOUNT_MAX",
    "VARIABLE_DOMAINS",
    "variable_domain",
    "ACTIVITY_ALIASES",
    "TREATMENT_ALIASES",
    "KEY_COLUMNS",
    "prepare_activity",
    "prepare_treatment",
    "as_arrow",
    "engine_input",
    "enterprise_hash",
    "enterprise_key",
    "read_number",
    "in_domain",
]

KEY_COLUMNS = ["section", "product", "raw_material", "process"]

#: Largest activity or capacity accepted [in the row's own unit]. More than any one
#: enterprise reports in any census unit (China's whole 2017 raw coal output was
#: 3.5e9 t, its electricity 6.4e12 kWh, and an enterprise reports a share of that in
#: t, 万吨, m³, 万立方米, kWh or MWh); larger values are typing or unit faults (1e300).
AMOUNT_MAX = 1e12

#: Physical domain [low, high] of the formula variables the coefficient and k formulas
#: name, with their unit and source. A value outside it is rejected for the pollutants
#: whose formula uses it. Variables not named here are amounts: finite, 0 to AMOUNT_MAX.
VARIABLE_DOMAINS: dict[str, tuple[float, float, str]] = {
    # contents as mass fractions [%]: 二污普 manual 使用说明 (S, A in %), GB/T 214-2007
    # (total sulfur), GB/T 212-2008 (ash, volatile matter, moisture); the natural-gas
    # rows' 0.02*S read S as total sulfur in mg/m³, at most 100 in GB 17820-2018 class 2
    "S": (0.0, 100.0, "sulfur content [%] (natural gas: total sulfur [mg/m³])"),
    "A": (0.0, 100.0, "ash content [%]"),
    "V": (0.0, 100.0, "volatile matter content [%]"),
    "M": (0.0, 100.0, "moisture content [%]"),
    "N": (0.0, 100.0, "nitrogen content [%]"),
    # hours of a year: at most 366 × 24 = 8784 (a leap year)
    "run_hours": (0.0, 8784.0, "run hours of the treatment facility [h/a]"),
    "production_hours": (0.0, 8784.0, "production hours [h/a]"),
}
_AMOUNT_DOMAIN = (0.0, AMOUNT_MAX, "an amount (volume, mass, energy)")


def variable_domain(name: str) -> tuple[float, float, str]:
    """(low, high, description) of a formula variable (:data:`VARIABLE_DOMAINS`)."""
    return VARIABLE_DOMAINS.get(name, _AMOUNT_DOMAIN)

ACTIVITY_ALIASES = {
    "企业编号": "enterprise_id", "统一社会信用代码": "enterprise_id", "企业代码": "enterprise_id",
    "企业名称": "enterprise_name", "单位名称": "enterprise_name",
    "行业代码": "industry_code", "行政区划代码": "region_code", "区划代码": "region_code",
    "经度": "lon", "纬度": "lat",
    "工段名称": "section", "工段": "section",
    "产品名称": "product", "产品": "product",
    "原料名称": "raw_material", "原料": "raw_material",
    "工艺名称": "process", "工艺": "process",
    "生产规模": "capacity", "产能": "capacity", "规模": "capacity",
    "规模单位": "capacity_unit", "产能单位": "capacity_unit",
    "规模等级": "scale",
    "活动水平": "activity", "产量": "activity", "用量": "activity",
    "活动水平单位": "activity_unit", "计量单位": "activity_unit",
    "时段": "period", "年份": "period", "核算期": "period",
}

TREATMENT_ALIASES = {
    "企业编号": "enterprise_id", "统一社会信用代码": "enterprise_id",
    "工段名称": "section", "工段": "section",
    "污染物指标": "pollutant", "污染物": "pollutant",
    "污染物类别": "pollutant_category",
    "末端治理技术名称": "treatment", "末端治理技术": "treatment", "治理技术": "treatment",
    "实际运行率": "k", "k值": "k",
}

ACTIVITY_TEXT = ["enterprise_id", "enterprise_name", "industry_code", "region_code", "section",
                 "product", "raw_material", "process", "capacity_unit", "scale", "activity_unit",
                 "period"]
_ACTIVITY_REQUIRED = ["enterprise_id", "industry_code", "section", "activity", "activity_unit",
                      "period"]
_TREATMENT_TEXT = ["enterprise_id", "section", "pollutant", "pollutant_category", "treatment"]
_ANY = ["所有", "所有产品", "所有原料", "所有工艺", "all", "*", "-", "/"]
_CATEGORIES = {"废气": "air", "废水": "water", "air": "air", "water": "water", "AIR": "air",
               "WATER": "water", "Air": "air", "Water": "water"}


#: Text columns of each table (the others are numbers or formula variables).
_TEXT_COLUMNS = {"activity": ACTIVITY_TEXT, "treatment": _TREATMENT_TEXT}
INDEX = "_sg_index"  # position of the row in the bound table: joins rejects back to raw values
_WHITESPACE = " \t\n\r\x0b\x0c"  # what Ibis' strip() removes, on every backend
_BATCH_ROWS = 65_536


def as_arrow(data: pa.Table | pd.DataFrame, aliases: dict[str, str], source: str,
             numbers: Iterable[str] = (), strip: Iterable[str] = ()) -> pa.Table:
    """Text Arrow table with canonical headers, ``_row`` and ``_source``.

    Columns whose canonical name is in ``numbers`` and that are float64 already stay
    numbers (exactly the numbers their text reads as), not text parsed again. Text
    columns named in ``strip`` lose leading and trailing whitespace here (Arrow's
    kernel, far cheaper than a TRIM in the engine), as :func:`_text` would.
    """
    numbers = set(numbers)
    names = [str(c) for c in (data.columns if isinstance(data, pd.DataFrame)
                              else data.column_names)]
    keep = [n for n, c in zip(names, canonical_headers(names, aliases), strict=True)
            if c in numbers]
    table = to_text_arrow(data, source, numbers=keep)
    table = table.rename_columns(canonical_headers(table.column_names, aliases))
    for name in set(strip) & set(table.column_names):
        column = table[name]
        if ((pa.types.is_string(column.type) or pa.types.is_large_string(column.type))
                and _needs_trim(column)):
            table = table.set_column(table.column_names.index(name), name,
                                     pc.utf8_trim(column, characters=_WHITESPACE))
    return table


_SPACE_BYTES = np.frombuffer(_WHITESPACE.encode("ascii"), dtype=np.uint8)


def _needs_trim(column: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any text starts or ends with whitespace.

    Reads the first and last byte of every text from Arrow's buffers (the offsets and
    the UTF-8 bytes), with no copy of the text and no regex: 9 ms instead of 78 ms
    for a column of 10^6 texts. The whitespace is ASCII, and no byte of a longer UTF-8
    character is ASCII, so a byte test is exact. A null slot that holds bytes can only
    make the column be trimmed, which leaves a null null.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        if len(chunk) == 0 or chunk.null_count == len(chunk):
            continue
        _, offsets, data = chunk.buffers()
        if data is None:
            continue  # every text is empty
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
        start, end = bounds[:-1], bounds[1:]
        filled = end > start
        text = np.frombuffer(data, dtype=np.uint8)
        edges = np.concatenate([text[start[filled]], text[end[filled] - 1]])
        if np.isin(edges, _SPACE_BYTES).any():
            return True
    return False


def _indexed(arrow: pa.Table) -> pa.Table:
    """The table with its row positions (INDEX), in batches the engine scans in parallel."""
    arrow = arrow.append_column(INDEX, pa.array(np.arange(arrow.num_rows, dtype="int64")))
    return pa.Table.from_batches(arrow.to_batches(max_chunksize=_BATCH_ROWS), arrow.schema)


def _stripped(table: ibis.Table, name: str, stripped: bool = True) -> ibis.Value:
    """A text column, stripped ('' when missing or absent); ``stripped``: by
    :func:`as_arrow` already, else here by the engine."""
    if name not in table.columns:
        return ibis.literal("")
    column = table[name]
    if not stripped or not column.type().is_string():
        return _text(column)
    return column.fill_null("")


def _bound(data, aliases: dict[str, str], source: str, con, *, view: str,
           numbers: Iterable[str], strip: Iterable[str]) -> tuple[ibis.Table, bool]:
    """The input as a table of the backend, with canonical headers, ``_row``, ``_source``
    and the row position INDEX; and whether its texts are stripped already.

    An Arrow table or DataFrame is converted by :func:`as_arrow` and bound to ``con``
    (texts stripped by Arrow). An Ibis table (on ``con``: a file the engine read, see
    :func:`engine_input`) is taken as it is: its texts are stripped by the engine
    (unless engine_input marked them stripped already), its rows numbered in the
    engine's order when it has no ``_row``.
    """
    if not isinstance(data, ibis.Table):
        arrow = as_arrow(data, aliases, source, numbers=numbers, strip=strip)
        raw, _, _ = engine_table(_indexed(arrow), con, position=False, view=view)
        return raw, True
    stripped = _STRIPPED in data.columns  # by engine_input, where a text needed it
    if stripped:
        data = data.drop(_STRIPPED)
    columns = list(data.columns)
    names = canonical_headers(columns, aliases)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError([Problem(source, 1, name, name, "duplicate_column",
                                  f"two headers of the {view} table both mean {name!r}")
                          for name in repeated], f"cannot read the {view} table {source}")
    table = data.rename({new: old for new, old in zip(names, columns, strict=True) if new != old})
    if ROW not in table.columns:
        table = table.mutate(**{ROW: ibis.row_number() + 2})
    if SOURCE not in table.columns:
        table = table.mutate(**{SOURCE: ibis.literal(source, "string")})
    return table.mutate(**{INDEX: table[ROW].cast("int64") - 2}), stripped


def engine_input(con, path, *, kind: str = "activity") -> ibis.Table | None:
    """An activity or treatment file read by the engine itself, or None for read_arrow.

    CSV (UTF-8) and Parquet files on DuckDB, and Parquet files on Spark, are read by the
    engine: the rows never pass through Python, and the engine keeps them within its
    memory limit. The others come back as None, for
    :func:`sourcegrid.io.tables.read_arrow`, which reads them or says what is wrong:
    other formats and encodings; a CSV with a row that has a field too few (its values
    would stand in the wrong columns) or too many, or that the engine refuses anywhere
    (read in full once here); a Parquet column outside the number columns that is
    neither text nor an integer (read_arrow writes such values as text the way the
    checks expect); headers that repeat once made canonical.

    Parameters
    ----------
    con : ibis backend
    path : str or pathlib.Path
    kind : {'activity', 'treatment'}

    Returns
    -------
    ibis.Table or None
        The file's columns with ``_row`` (spreadsheet row) and ``_source`` (file name),
        for :func:`sourcegrid.accounting.engine.account` on ``con``.

    Raises
    ------
    InputError
        As read_arrow for a path that is missing, a folder, empty or not the format its
        name says.
    NotFoundError
        ``kind`` is neither 'activity' nor 'treatment'.
    """
    from sourcegrid.io.engine_files import drop_copies, read_numbered
    from sourcegrid.io.tables import check_input_path

    if kind not in _TEXT_COLUMNS:
        raise NotFoundError("input kind", kind, _TEXT_COLUMNS)
    aliases = ACTIVITY_ALIASES if kind == "activity" else TREATMENT_ALIASES
    path = check_input_path(path)  # a missing or binary file: the error read_arrow gives
    # DuckDB reads both; Spark only Parquet: its CSV reader fills a row that lost a field
    # with nulls, where Arrow's (and DuckDB's, told so) refuses the file
    parquet = path.suffix.lower() == ".parquet"
    if not (con.name == "duckdb" or (con.name == "pyspark" and parquet)):
        return None
    table = read_numbered(con, path, pad_short_rows=False)
    if table is None:
        return None
    names = canonical_headers(list(table.columns), aliases)
    if not _engine_takes(table, names, kind):
        drop_copies(con, table)  # read_arrow reads the file: its numbered copy goes
        return None
    if not parquet:
        return table
    texts = [name for name, canonical in zip(table.columns, names, strict=True)
             if canonical in _TEXT_COLUMNS[kind] and table[name].type().is_string()]
    clean = _clean_texts(path, texts)
    # only the texts that need it are trimmed by the engine (a TRIM of every text column
    # was 0.7 s of the 2.4 s typed copy of 10^6 activity rows; this check takes 0.27 s)
    return table.mutate(**{name: strip(table[name]) for name in texts if name not in clean},
                        **{_STRIPPED: ibis.literal(True)})


_STRIPPED = "_sg_stripped"  # engine_input's mark: the text columns are stripped


def _engine_takes(table: ibis.Table, names: list[str], kind: str) -> bool:
    """The engine's table of a file goes on as it is: no two headers mean one column, and
    every column is text or an integer, or a float outside the text columns (read_arrow
    writes such values as text the way the checks expect)."""
    if len(set(names)) != len(names):
        return False
    for name, canonical in zip(table.columns, names, strict=True):
        kind_of = table[name].type()
        if name in (ROW, SOURCE) or kind_of.is_string() or kind_of.is_integer():
            continue
        if not (kind_of.is_floating() and canonical not in _TEXT_COLUMNS[kind]):
            return False
    return True


def enterprise_key(table: ibis.Table, kind: str = "activity") -> ibis.Value | None:
    """Each row's enterprise id as the checks read it (the stripped text, '' when
    missing), or None when the table has no enterprise column.

    Every check that compares rows (repeated keys) and the join of treatment to activity
    compare rows of one enterprise only, so the rows can be accounted in parts of whole
    enterprises (:func:`sourcegrid.accounting.engine.account`).
    """
    aliases = ACTIVITY_ALIASES if kind == "activity" else TREATMENT_ALIASES
    # the headers made canonical as the checks make them (_bound)
    names = canonical_headers(list(table.columns), aliases)
    for name, canonical in zip(table.columns, names, strict=True):
        if canonical == "enterprise_id":
            if _STRIPPED in table.columns:  # engine_input stripped it where it needed it
                return table[name].cast("string").fill_null("")
            return _text(table[name])
    return None


def enterprise_hash(table: ibis.Table, kind: str = "activity") -> ibis.Value | None:
    """A 64-bit hash of :func:`enterprise_key` (None without an enterprise column)."""
    key = enterprise_key(table, kind)
    return None if key is None else key.hash()


def _clean_texts(path, names: list[str]) -> set[str]:
    """The text columns of a Parquet file with no text that starts or ends with
    whitespace, read a batch at a time (the memory does not grow with the rows)."""
    import pyarrow.parquet as pq

    clean = set(names)
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(columns=names, batch_size=_BATCH_ROWS):
            for name in list(clean):
                column = batch.column(name)
                text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                if not text or _needs_trim(column):
                    clean.discard(name)
            if not clean:
                break
    return clean


def _finite(number: ibis.Value) -> ibis.Value:
    """NULL for ±inf (and NaN): an amount that is not finite is not a number."""
    return ibis.ifelse((number.isinf() | number.isnan()).fill_null(False),
                       ibis.null("float64"), number)


def read_number(column: ibis.Value) -> tuple[ibis.Value, ibis.Value]:
    """(number, blank) of a raw column: text is stripped and TRY_CAST, float64 is used as is.

    'inf', '1e999' and NaN read as not a number, so they are rejected, never accounted.
    """
    if column.type().is_floating():
        return _finite(column), column.isnull()
    text = _text(column)
    return _finite(try_float(text)), text == ""  # TRY_CAST on every engine


def _structure(columns: Iterable[str], required: list[str], source: str, what: str) -> None:
    present = [c for c in columns if not c.startswith("_")]
    problems = [Problem(source, 1, name, "", "missing_column",
                        f"the {what} table needs a column {name!r}; columns present: "
                        f"{', '.join(present)}")
                for name in required if name not in columns]
    if problems:
        raise InputError(problems, f"cannot read the {what} table {source}")


def _text(column: ibis.Value) -> ibis.Value:
    return strip(column.cast("string")).fill_null("")


def _blank_any(column: ibis.Value) -> ibis.Value:
    # a NULLIF chain names the column once: CASE WHEN c IN (...) THEN '' ELSE c END made
    # DuckDB compute the TRIM of c twice (0.73 s instead of 1.25 s for 4 columns of 10^6
    # padded texts); c is never NULL here (texts are '' when missing)
    for word in _ANY:
        column = column.nullif(word)
    return column.fill_null("")


class _Checks:
    """Collects row checks on one table and evaluates them in one pass.

    Each check is (condition, column, reason, message, value). All conditions
    become boolean columns of one table (the typed columns and the flags, no raw
    text), which is cached: the input is scanned and typed once. One query on it
    counts each check and the repeated keys (a hash aggregate). When none fired, the
    typed rows are the cached table without the flags; otherwise only checks that
    fired build reject rows, taking raw values from the bound input by row position,
    and duplicate keys are joined back only when there are any.
    """

    def __init__(self, table: ibis.Table, raw: ibis.Table, drop: Iterable[str] = (),
                 caches: list | None = None) -> None:
        self.table = table
        self.caches = caches if caches is not None else []  # the tables result() caches
        self.raw = raw
        self.drop = list(drop)
        self.checks: list[tuple] = []
        self.rows: int | None = None  # rows of the table, counted by :meth:`result`

    def __call__(self, condition: ibis.Value, column: str, reason: str, message: str,
                 value: str | None = None, raw=None, drop: bool = True) -> None:
        """``value``: a column of the table; ``raw``: a function of the raw input instead.
        ``drop=False``: the problem is reported but the row goes on (the caller leaves
        the bad value out)."""
        self.checks.append((condition.fill_null(False), column, reason, message,
                            value or column, raw, drop))

    def _part(self, bad: ibis.Table, column: str, reason: str, message: ibis.Value | str,
              value: str, raw) -> ibis.Table:
        number = ibis.null("float64")
        if raw is not None:
            original = self.raw.select(INDEX, _value=raw(self.raw))
            bad = bad.join(original, INDEX)
            text = bad._value
            if text.type().is_floating():  # typed input: written as text after fetching
                number, text = text, ibis.null("string")
        else:
            text = bad[value]
        return bad.select(
            source=bad[SOURCE].cast("string"), row=bad[ROW].cast("int64"),
            column=ibis.literal(column), value=text.cast("string").fill_null(""),
            reason=ibis.literal(reason),
            message=(ibis.literal(message) if isinstance(message, str)
                     else message).cast("string"),
            number=number,
        )

    def result(self, keys: list[str], duplicate_message) -> tuple[ibis.Table, ibis.Table | None]:
        """(rows without problems, rejects or None); rejects have a float ``number``
        column, non-null where the value is a number still to be written as text."""
        flags = {f"_bad{i}": check[0] for i, check in enumerate(self.checks)}
        # scanned and typed once (counting on the input itself, then caching it, read
        # and converted a file twice: 2.2 + 1.9 s for 10^6 activity rows, now 2.3 s)
        flagged = self.table.mutate(**flags).drop(*self.drop).cache()
        self.caches.append(flagged)

        def repeated_keys(table: ibis.Table) -> ibis.Table:
            repeated = table.group_by(keys).aggregate(first_row=table[ROW].min(),
                                                      copies=table.count())
            return repeated.filter(repeated.copies > 1).drop("copies")

        # the rows, each check and the repeated keys counted, in one query
        repeated = repeated_keys(flagged)
        totals = flagged.aggregate(
            n_rows=flagged.count(),
            **{f"n{i}": as_count(flagged[name]).sum() for i, name in enumerate(flags)},
        ).cross_join(repeated.aggregate(n_repeated=repeated.count()))
        counts = totals.to_pyarrow().to_pylist()[0]
        self.rows = int(counts["n_rows"])
        n_repeated = counts["n_repeated"]
        fired = [i for i in range(len(self.checks)) if counts.get(f"n{i}")]
        if not fired and not n_repeated:
            # nothing to reject: the typed rows, without the flags
            return flagged.drop(*flags), None
        source = flagged
        problem = ibis.literal(False)
        parts = []
        if n_repeated:
            repeated = repeated.cache()
            self.caches.append(repeated)
            source = flagged.left_join(repeated, keys).drop(*[f"{k}_right" for k in keys])
            source = source.mutate(_duplicate=(source.first_row.notnull()
                                               & (source[ROW] != source.first_row)).fill_null(False))
        for i in fired:
            _, column, reason, message, value, raw, drop = self.checks[i]
            parts.append(self._part(source.filter(source[f"_bad{i}"]), column, reason, message,
                                    value, raw))
            if drop:
                problem = problem | source[f"_bad{i}"]
        if n_repeated:
            bad = source.filter(source._duplicate)
            parts.append(self._part(bad, "enterprise_id", "duplicate_row",
                                    duplicate_message(bad.first_row), "enterprise_id", None))
            problem = problem | source._duplicate
        good = source.filter(~problem.fill_null(False)) if parts else source
        return good, (ibis.union(*parts) if parts else None)


def prepare_activity(data: pa.Table | pd.DataFrame, *, variables: Iterable[str] = (),
                     source: str = "activity", con=None, caches: list | None = None
                     ) -> tuple[ibis.Table, ibis.Table | None, list[str], int]:
    """Check and type an activity table (DESIGN.md, "Activity").

    ``caches``: a list that gets the tables the checks cache in the backend, for the
    caller to release once the results are written (else the garbage collector drops
    them, perhaps after the connection has closed).

    Returns
    -------
    (activity, rejects, variables, rows)
        ``activity``: typed Ibis table (``activity_row``, ``_row``, ...), rows without
        problems only; ``rejects``: Ibis table of problems (or None); ``variables``: the
        formula variables the table has; ``rows``: the rows read (counted with the
        checks, so a file the engine reads is not scanned again for it). A reject whose value is a number of a typed
        (float64) input column has ``value`` '' and the number in ``number``;
        :func:`sourcegrid.accounting.engine.account` writes it as the input's text.
    """
    variables = set(variables)
    raw, stripped = _bound(data, ACTIVITY_ALIASES, source, con, view="activity",
                           numbers={"activity", "capacity", "lon", "lat", *variables}
                           - set(ACTIVITY_TEXT), strip=ACTIVITY_TEXT)
    _structure(raw.columns, _ACTIVITY_REQUIRED, source, "activity")
    present = sorted(v for v in variables if v in raw.columns)
    numeric = [c for c in ("activity", "capacity", "lon", "lat") if c in raw.columns]
    text = {c: _stripped(raw, c, stripped) for c in ACTIVITY_TEXT}
    for c in KEY_COLUMNS:
        text[c] = _blank_any(text[c])
    typed = {c: read_number(raw[c]) for c in [*numeric, *present]}
    t = raw.select(INDEX, ROW, SOURCE, **text, **{f"num_{c}": n for c, (n, _) in typed.items()},
                   **{f"blank_{c}": b for c, (_, b) in typed.items()})
    check = _Checks(t, raw, drop=[f"blank_{c}" for c in typed], caches=caches)

    def original(name: str):
        return lambda r: r[name]

    for column in ("enterprise_id", "industry_code", "section", "activity_unit", "period"):
        check(t[column] == "", column, "missing_value", f"{column} must not be empty")
    check((t.industry_code != "") & ~t.industry_code.re_search(r"^[0-9]{4}$"), "industry_code",
          "bad_industry_code", "expected a 4-digit GB/T 4754-2017 industry class code, e.g. 4411")
    check((t.region_code != "") & ~t.region_code.re_search(r"^[0-9]{6}$"), "region_code",
          "bad_region_code", "expected a 6-digit administrative division code")
    check((t.period != "") & ~t.period.re_search(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"), "period",
          "bad_period", "expected a period as YYYY or YYYY-MM")
    check(t.blank_activity, "activity", "missing_value", "activity must not be empty",
          raw=original("activity"))
    check(~t.blank_activity & t.num_activity.isnull(), "activity", "not_a_number",
          "activity must be a number", raw=original("activity"))
    check(t.num_activity < 0, "activity", "negative_amount", "activity must be >= 0",
          raw=original("activity"))
    check(t.num_activity > AMOUNT_MAX, "activity", "out_of_domain",
          f"activity must be at most {AMOUNT_MAX:.0e} (in its unit); larger is a typing or "
          "unit fault", raw=original("activity"))
    if "capacity" in numeric:
        check(~t.blank_capacity & t.num_capacity.isnull(), "capacity", "not_a_number",
              "capacity must be a number", raw=original("capacity"))
        check(t.num_capacity < 0, "capacity", "negative_amount", "capacity must be >= 0",
              raw=original("capacity"))
        check(t.num_capacity > AMOUNT_MAX, "capacity", "out_of_domain",
              f"capacity must be at most {AMOUNT_MAX:.0e} (in its unit)",
              raw=original("capacity"))
        check(t.num_capacity.notnull() & (t.capacity_unit == ""), "capacity_unit",
              "missing_value", "a capacity needs its unit (capacity_unit), e.g. MW or 万吨/年")
    for column, limit in (("lon", 180), ("lat", 90)):
        if column in numeric:
            number = t[f"num_{column}"]
            check(~t[f"blank_{column}"] & (number.isnull() | (number.abs() > limit)),
                  column, "bad_coordinate", f"expected {column} in degrees within ±{limit}",
                  raw=original(column))
    _check_variables(check, t, present, original, "activity row")

    good, rejects = check.result(
        ["enterprise_id", *KEY_COLUMNS, "period"],
        lambda first: "duplicate of row " + first.cast("string") + " (same enterprise, section, "
        "product, raw material, process and period)")
    missing = ibis.null("float64")
    good = good.select(
        activity_row=good[ROW].cast("int64"), **{ROW: good[ROW].cast("int64")},
        **{SOURCE: good[SOURCE].cast("string")}, **{c: good[c] for c in ACTIVITY_TEXT},
        **{c: (good[f"num_{c}"] if c in numeric else missing)
           for c in ("activity", "capacity", "lon", "lat")},
        **{v: in_domain(good[f"num_{v}"], v) for v in present},
    )
    return good, rejects, present, check.rows


def in_domain(number: ibis.Value, name: str) -> ibis.Value:
    """The variable's value, NULL outside its domain (reported by :func:`_check_variables`)."""
    low, high, _ = variable_domain(name)
    return ibis.ifelse(((number < low) | (number > high)).fill_null(False),
                       ibis.null("float64"), number)


def _check_variables(check: _Checks, t: ibis.Table, present: Iterable[str], original,
                     where: str) -> None:
    """Report formula variables that are not numbers or lie outside their domain.

    The row is kept: the value is left out (NULL), so a pollutant whose formula needs
    it is rejected (``missing_variable``) and the others are accounted unchanged.
    """
    for name in present:
        low, high, what = variable_domain(name)
        number = t[f"num_{name}"]
        consequence = (f"; left out of the {where}: a pollutant whose formula needs "
                       f"{name} is rejected, the others are accounted")
        check(~t[f"blank_{name}"] & number.isnull(), name, "not_a_number",
              f"variable {name!r} must be a number{consequence}", raw=original(name),
              drop=False)
        check((number < low) | (number > high), name, "out_of_domain",
              f"variable {name!r} ({what}) must lie in [{low:g}, {high:g}]{consequence}",
              raw=original(name), drop=False)


def prepare_treatment(data: pa.Table | pd.DataFrame | None, *, variables: Iterable[str] = (),
                      source: str = "treatment", con=None, caches: list | None = None
                      ) -> tuple[ibis.Table | None, ibis.Table | None, list[str]]:
    """Check and type a treatment table (DESIGN.md, "Treatment").

    A row covers one pollutant, or every pollutant of a ``pollutant_category``
    (废气/废水, air/water). ``k`` given directly must lie in [0, 1] (values above 1 up
    to 100 are read as percent). Returns (treatment, rejects, variables); all None
    without a table. Rejects and ``caches`` as in :func:`prepare_activity` (``number``).
    """
    if data is None:
        return None, None, []
    variables = set(variables)
    raw, stripped = _bound(data, TREATMENT_ALIASES, source, con, view="treatment",
                           numbers={"k", *variables} - set(_TREATMENT_TEXT),
                           strip=_TREATMENT_TEXT)
    _structure(raw.columns, ["enterprise_id", "section", "treatment"], source, "treatment")
    present = sorted(v for v in variables if v in raw.columns)
    numeric = [c for c in ("k",) if c in raw.columns]
    text = {c: _stripped(raw, c, stripped) for c in _TREATMENT_TEXT}
    text["treatment"] = text["treatment"].replace("；", ";")
    category = text["pollutant_category"]
    text["pollutant_category"] = category.substitute(_CATEGORIES, else_=category)
    typed = {c: read_number(raw[c]) for c in [*numeric, *present]}
    t = raw.select(INDEX, ROW, SOURCE, **text, **{f"num_{c}": n for c, (n, _) in typed.items()},
                   **{f"blank_{c}": b for c, (_, b) in typed.items()})
    check = _Checks(t, raw, drop=[f"blank_{c}" for c in typed], caches=caches)

    def original(name: str):
        return lambda r: r[name]

    check(t.enterprise_id == "", "enterprise_id", "missing_value",
          "enterprise_id must not be empty")
    check((t.pollutant == "") & (t.pollutant_category == ""), "pollutant", "missing_value",
          "give a pollutant or a pollutant_category (废气/废水)")
    check((t.pollutant_category != "") & ~t.pollutant_category.isin(["air", "water"]),
          "pollutant_category", "bad_category", "expected 废气, 废水, air or water",
          raw=lambda r: _text(r["pollutant_category"]))
    if numeric:
        check(~t.blank_k & t.num_k.isnull(), "k", "not_a_number", "k must be a number",
              raw=original("k"))
        check((t.num_k < 0) | (t.num_k > 100), "k", "bad_k",
              "k is an operating rate: 0-1 (or 0-100 as percent)", raw=original("k"))
    _check_variables(check, t, present, original, "treatment row")
    good, rejects = check.result(
        ["enterprise_id", "section", "pollutant", "pollutant_category"],
        lambda first: "duplicate of row " + first.cast("string") + " (same enterprise, section "
        "and pollutant)")
    k = good.num_k if numeric else ibis.null("float64")
    good = good.select(
        ROW, SOURCE, *_TREATMENT_TEXT,
        k=ibis.ifelse(k > 1, k / 100, k),
        **{v: in_domain(good[f"num_{v}"], v) for v in present},
    )
    return good, rejects, present
