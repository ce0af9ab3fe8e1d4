"""The coefficient method of the 2nd National Pollution Source Census (二污普).

For every activity row and pollutant:

- generation  G = c × A, c the generation coefficient (产污系数) of the matching
  combination (industry, section, product, raw material, process, scale tier),
  A the activity in the coefficient's unit basis;
- removal     R = G × η × k, η the average removal efficiency (平均去除效率) of the
  end-of-pipe technology (末端治理技术), k the operating rate (实际运行率) from the
  library's k formula (参考k值计算公式) or given directly, clipped to [0, 1];
- emission    E = G − R.

Technologies in series without a combined library row: η·k = 1 − Π(1 − η_i·k_i).

The per-row work (matching joins, coefficient and k formulas, G/R/E, rejects)
is one Ibis expression graph, so it runs unchanged on DuckDB (the default),
PySpark and PostgreSQL. Small dimension tables that depend only on the library
and on the distinct units and treatments in the input (unit factors, treatment
resolution) are prepared with pandas and pint before the query.

The graph is built in named stages, each a function with its own tests
(tests/accounting/test_engine_stages.py):

1. :func:`stage_inputs`: check and type the activity and treatment tables;
2. :func:`stage_matching`: the most specific combination, resolved once per
   distinct (keys, scale-tier signature) and joined back to the rows;
3. :func:`stage_generation`: G = c × A;
4. :func:`stage_treatment`: η·k of one technology or several in series, R and E;
5. :func:`stage_rejects`: every row that cannot be accounted, with its reason;
6. :func:`stage_output`: the emission rows and their note.

A run from files too large for DuckDB's memory limit is accounted in parts of whole
enterprises: every check that compares rows, and the treatment join, stay within an
enterprise, so each part is a whole run. Files sorted by enterprise are read a range of
rows a part, the parts' emissions following each other (:func:`_account_in_ranges`);
others are split by a hash of the enterprise id and merged back in source-row order
(:func:`_account_in_parts`).

References
----------
.. [1] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 使用说明.
.. [2] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd

from sourcegrid.accounting.inputs import KEY_COLUMNS, prepare_activity, prepare_treatment
from sourcegrid.errors import UnitError, problems_frame
from sourcegrid.expressions import parse
from sourcegrid.io.engine_files import drop_copies, insertion_order
from sourcegrid.io.tables import ROW, SOURCE
from sourcegrid.store.portable import as_count, drop_views, engine_table, rstrip
from sourcegrid.units import conversion_factor

__all__ = ["AccountingResult", "account", "aggregate", "EMISSION_COLUMNS", "AGGREGATE_KEYS",
           "ClippedOperatingRate"]

EMISSION_COLUMNS = [
    "enterprise_id", "period", "section", "pollutant", "pollutant_category",
    "generation", "removal", "emission", "method", "library", "coefficient_row",
    "treatment", "removal_efficiency", "k", "note",
]
EXPLAIN_COLUMNS = [
    "enterprise_name", "industry_code", "region_code", "lon", "lat", "product", "raw_material",
    "process", "scale", "capacity", "capacity_unit", "activity", "activity_unit",
    "activity_in_basis", "coefficient_unit", "generation_coefficient", "coefficient_expression",
    "k_source", "k_formula", "source_row",
]
AGGREGATE_KEYS = ("enterprise", "region", "industry", "section", "pollutant")
_AGGREGATE_COLUMNS = {
    "enterprise": ["enterprise_id", "enterprise_name"],
    "region": ["region_code"],
    "industry": ["industry_code"],
    "section": ["section"],
    "pollutant": ["pollutant_category", "pollutant"],
}


class ClippedOperatingRate(UserWarning):
    """A k computed outside [0, 1] was clipped; the row's note says so."""


@dataclass
class AccountingResult:
    """What one accounting run produced.

    Attributes
    ----------
    emissions : pandas.DataFrame
        One row per accounted (activity row, pollutant): EMISSION_COLUMNS, plus the
        explanation columns (EXPLAIN_COLUMNS). Masses in kg.
    rejects : pandas.DataFrame
        source, row, column, value, reason, message: one row per problem.
    activity_rows, accounted_rows : int
        Activity rows read and activity rows with at least one pollutant accounted.
    clipped : int
        Pollutant rows whose k was clipped to [0, 1].
    parts : int
        Parts of whole enterprises the run was accounted in (1: one pass).
    """

    emissions: pd.DataFrame | None
    rejects: pd.DataFrame
    activity_rows: int
    accounted_rows: int
    clipped: int = 0
    library: str = ""
    engine: str = ""
    emission_rows: int = 0
    emissions_table: ibis.Table | None = field(default=None, repr=False)
    parts: int = 1

    @property
    def rejected_rows(self) -> int:
        """Activity rows with at least one problem (some may be partly accounted)."""
        return int(self.rejects.drop_duplicates(["source", "row"]).shape[0])

    def summary(self) -> pd.DataFrame:
        """Counts for the end-of-run table."""
        reasons = self.rejects.groupby("reason").size()
        rows = [("activity rows", self.activity_rows),
                ("accounted rows", self.accounted_rows),
                ("emission rows (row × pollutant)", self.emission_rows),
                ("rows with problems", self.rejected_rows),
                ("k clipped to [0, 1]", self.clipped)]
        rows += [(f"  rejected: {reason}", int(n)) for reason, n in reasons.items()]
        if self.parts > 1:
            rows.append(("accounted in parts of whole enterprises", self.parts))
        return pd.DataFrame(rows, columns=["item", "count"])


# --------------------------------------------------------------------------- helpers


def _formula_columns(library: pd.DataFrame) -> tuple[set[str], set[str]]:
    generation, k = set(), set()
    for text in library["generation_expression"].dropna().unique():
        if text:
            generation |= parse(text).variables
    for text in library["k_formula"].dropna().unique():
        if text:
            k |= parse(text).variables
    return generation, k


def _combinations(library: pd.DataFrame) -> pd.DataFrame:
    """Number each combination and mark its base row (the first row of it)."""
    library = library.copy()
    keys = ["industry_code", *KEY_COLUMNS, "scale", "pollutant"]
    library["combination_id"] = library.groupby(keys, sort=False).ngroup().astype("int64")
    first = library.groupby("combination_id")["coefficient_row"].transform("min")
    library["is_base"] = library["coefficient_row"] == first
    # a library row repeated for several industry codes keeps one base per code
    library["specificity"] = (
        (library["industry_code"] != "*").astype("int64")
        + sum((library[c] != "").astype("int64") for c in KEY_COLUMNS)
        + (library["scale"] != "").astype("int64")
    )
    return library


def _unit_factors(pairs: pd.DataFrame, left: str, right: str, name: str) -> pd.DataFrame:
    """Conversion factor of each distinct (left unit, right unit) pair that converts."""
    rows = []
    for a, b in pairs[[left, right]].drop_duplicates().itertuples(index=False):
        if not a or not b:
            continue
        try:
            rows.append((a, b, conversion_factor(a, b)))
        except UnitError:
            continue
    return pd.DataFrame(rows, columns=[left, right, name]).astype(
        {left: "string", right: "string", name: "float64"})


def _treatment_parts(library: pd.DataFrame, treatments: Sequence[str]) -> pd.DataFrame:
    """Resolve each (combination, treatment text) into the library rows that treat it.

    A text equal to a library treatment is one part (a combined row when the text
    names a series). Otherwise a ';'-separated series is split and every
    technology must have a row of its own; unresolved pairs get no parts.
    """
    rows = library.loc[library["treatment"] != "",
                       ["combination_id", "treatment", "coefficient_row", "removal_efficiency",
                        "k_formula"]]
    columns = ["combination_id", "treatment_text", "part_no", "part_treatment", "part_row",
               "part_efficiency", "part_k_formula"]
    out = []
    texts = pd.DataFrame({"treatment_text": pd.Series(sorted(set(treatments) - {""}),
                                                      dtype="string")})
    if texts.empty or rows.empty:
        return pd.DataFrame(columns=columns).astype({
            "combination_id": "int64", "part_no": "int64", "part_row": "int64",
            "part_efficiency": "float64", "treatment_text": "string", "part_treatment": "string",
            "part_k_formula": "string"})
    # whole-text matches (including combined rows for a series)
    whole = texts.merge(rows, left_on="treatment_text", right_on="treatment")
    whole = whole.assign(part_no=1).rename(columns={
        "treatment": "part_treatment", "coefficient_row": "part_row",
        "removal_efficiency": "part_efficiency", "k_formula": "part_k_formula"})
    out.append(whole[columns])
    # series split into technologies, each looked up on its own
    series = texts.loc[texts["treatment_text"].str.contains(";", regex=False)].copy()
    if not series.empty:
        series["part_treatment"] = series["treatment_text"].str.split(";")
        series = series.explode("part_treatment")
        series["part_treatment"] = series["part_treatment"].str.strip()
        series["part_no"] = series.groupby("treatment_text").cumcount() + 1
        series["n_parts"] = series.groupby("treatment_text")["part_no"].transform("max")
        parts = series.merge(rows, left_on="part_treatment", right_on="treatment")
        found = parts.groupby(["combination_id", "treatment_text"])["part_no"].transform("size")
        parts = parts.loc[found == parts["n_parts"]]
        parts = parts.rename(columns={"coefficient_row": "part_row",
                                      "removal_efficiency": "part_efficiency",
                                      "k_formula": "part_k_formula"})
        have_whole = whole[["combination_id", "treatment_text"]].drop_duplicates()
        parts = parts.merge(have_whole, how="left", indicator=True)
        out.append(parts.loc[parts["_merge"] == "left_only", columns])
    result = pd.concat(out, ignore_index=True)
    return result.astype({"combination_id": "int64", "part_no": "int64", "part_row": "int64",
                          "part_efficiency": "float64", "treatment_text": "string",
                          "part_treatment": "string", "part_k_formula": "string"})


def _wide_parts(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per (combination, treatment text), its parts side by side in the order of
    ``parts``: part1_treatment, part1_row, part1_efficiency, part1_k_formula, part2_...
    (NULL where a treatment has fewer parts than the longest one)."""
    keys = ["combination_id", "treatment_text"]
    fields = {"part_treatment": "string", "part_row": "Int64", "part_efficiency": "float64",
              "part_k_formula": "string"}
    number = parts.groupby(keys, sort=False).cumcount() + 1
    longest = int(number.max()) if len(parts) else 1
    wide = parts[keys].drop_duplicates().reset_index(drop=True)
    types = {"combination_id": "int64", "treatment_text": "string"}
    for j in range(1, longest + 1):
        names = {field: field.replace("part_", f"part{j}_") for field in fields}
        part = parts.loc[number == j, [*keys, *fields]].rename(columns=names)
        wide = wide.merge(part, on=keys, how="left")
        types |= {names[field]: kind for field, kind in fields.items()}
    return wide.astype(types)


def formula_case(column: ibis.Value, formulas: Sequence[str], compile_one, default) -> ibis.Value:
    """CASE column WHEN formula_1 THEN compiled_1 ... over the distinct formulas."""
    branches = [(column == text, compile_one(text)) for text in formulas if text]
    if not branches:
        return default
    return ibis.cases(*branches, else_=default)


def missing_variables(column: ibis.Value, formulas: Sequence[str], resolve) -> ibis.Value:
    """The variables a row's formula needs and lacks, as 'a b ' ('' when none)."""
    def names(text: str) -> ibis.Value:
        pieces = [ibis.ifelse(resolve(v).isnull(), ibis.literal(v + " "), ibis.literal(""))
                  for v in sorted(parse(text).variables)]
        out = ibis.literal("")
        for piece in pieces:
            out = out.concat(piece)
        return out

    return formula_case(column, formulas, names, ibis.literal(""))



# --------------------------------------------------------------------------- engine


def account(activity, library, treatment=None, *, con=None, library_name: str | None = None,
            activity_source: str = "activity", treatment_source: str = "treatment",
            into: str | None = None, out=None, explain: bool = True,
            part_rows: int | None = None, progress=None) -> AccountingResult:
    """Account generation, removal and emission by the coefficient method.

    Parameters
    ----------
    activity : pandas.DataFrame, pyarrow.Table or ibis.Table
        Activity table (DESIGN.md, "Activity"), text or typed; Chinese headers accepted.
        Files are read with :func:`sourcegrid.io.tables.read_arrow`, or, for large CSV
        and Parquet files, by the engine itself (an Ibis table on ``con`` from
        :func:`sourcegrid.accounting.inputs.engine_input`: the rows stay in the engine,
        within its memory limit).
    library : CoefficientLibrary or pandas.DataFrame
        A validated library (``sourcegrid.coefficients``) or its normalized rows.
    treatment : pandas.DataFrame or pyarrow.Table, optional
        Treatment table (DESIGN.md, "Treatment"); a pollutant without a row is untreated.
    con : ibis backend, optional
        Where the query runs (default: an in-memory DuckDB). Pass a PySpark or
        PostgreSQL backend to run the same expressions there.
    explain : bool
        Write the whole derivation into ``note`` (G = c × A = ..., η·k = ...). Without it
        the note only holds what the columns cannot say (series, clipped k, untreated).
    into : str, optional
        Keep the emissions in the backend as this table (replaced) instead of fetching
        them: for large runs, written out by the engine itself.
    out : str or pathlib.Path, optional
        Write the emissions straight to this file (.parquet, .csv; atomically, by the
        engine) instead of fetching or storing them; ``emissions`` is then None. The file
        has the explanation columns (EXPLAIN_COLUMNS) only with ``explain``.
    part_rows : int, optional
        On DuckDB, with ``into`` or ``out`` and the inputs as engine tables
        (:func:`~sourcegrid.accounting.inputs.engine_input`): account at most about this
        many activity rows at once, in parts of whole enterprises (default: as many as
        fit in the engine's memory limit, :data:`ROWS_PER_GIB`). The results are the same
        as in one pass; only the time and memory differ. Inputs sorted by enterprise are
        read a range of rows a part (:func:`_account_in_ranges`), others split by a hash
        of the enterprise id and merged (:func:`_account_in_parts`).
    progress : callable(done, total), optional
        Called after each part of a run in parts (the CLI shows it).

    Returns
    -------
    AccountingResult
        Emissions [kg] with their explanation (a DataFrame, ``emissions_table`` in the
        backend with ``into``, or None with ``out``), and the rejects.
    """
    con = con if con is not None else ibis.duckdb.connect()
    try:
        with unordered(con):
            parts = _part_count(con, activity, treatment, into, out, part_rows)
            if parts > 1:
                ranges = _row_ranges(con, activity, treatment, parts)
                if ranges is not None:
                    return _account_in_ranges(activity, library, treatment, con, ranges,
                                              library_name, activity_source, treatment_source,
                                              into, out, explain, progress)
                return _account_in_parts(activity, library, treatment, con, parts, library_name,
                                         activity_source, treatment_source, into, out, explain,
                                         progress)
            return _account(activity, library, treatment, con, library_name, activity_source,
                            treatment_source, into, out, explain)
    finally:
        drop_copies(con)  # the numbered copies of CSV files engine_input made


#: Activity rows accounted at once per GiB of DuckDB's memory limit. Above it a run from
#: files is accounted in parts of whole enterprises (:func:`_account_in_ranges`,
#: :func:`_account_in_parts`): in one
#: pass, 10^7 rows under a 2 GB limit took 16 times as long as 10^6 rows (its joins and
#: sorts spilled to disk). Measured under 2 GB (1.8 GiB): 10^6 rows in one pass 7.6 s,
#: in two parts 12.6 s; 10^7 rows in parts of 2·10^6 rows 16 s a part, of 10^6 rows
#: 6.3 s a part.
ROWS_PER_GIB = 600_000
#: The fewest activity rows a part holds, whatever the memory limit (each part has a fixed
#: cost of about a second).
MIN_PART_ROWS = 100_000


def _rows_per_part(con) -> int:
    """Activity rows one part may hold under the connection's memory limit (DuckDB)."""
    from sourcegrid.store.engines import size_bytes

    limit = size_bytes(con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0])
    if limit is None:
        return 10**18  # a limit DuckDB writes otherwise: one pass, as before
    return max(int(limit / 2**30 * ROWS_PER_GIB), MIN_PART_ROWS)


def _part_count(con, activity, treatment, into, out, part_rows) -> int:
    """How many parts of whole enterprises to account ``activity`` in (1: one pass).

    Only a DuckDB run from engine tables written to ``into`` or ``out`` (CSV, Parquet) is
    split; fetched emissions, frames and other engines take one pass.
    """
    from sourcegrid.accounting.inputs import enterprise_key

    if con.name != "duckdb" or (into is None and out is None):
        return 1
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet"):
        return 1
    tables = [activity] if treatment is None else [activity, treatment]
    if not all(isinstance(t, ibis.Table) for t in tables):
        return 1
    if enterprise_key(activity) is None or (
            treatment is not None and enterprise_key(treatment, "treatment") is None):
        return 1  # the missing column is reported by the checks of the one pass
    per_part = part_rows if part_rows is not None else _rows_per_part(con)
    rows = int(con.to_pyarrow(activity.count().name("n").as_table())["n"][0].as_py())
    return max(1, -(-rows // max(int(per_part), 1)))


@dataclass(frozen=True)
class _RowRange:
    """The input rows of one part of a run in row ranges: ``_row`` in [low, high) of each
    input (None: no bound), and, in the first part, every row with a blank enterprise id.
    ``treatment`` None: the treatment is split by the part of the enterprise's activity
    (:func:`_split_treatment`)."""

    activity: tuple
    treatment: tuple | None
    first: bool


def _row_ranges(con, activity, treatment, parts: int) -> list[_RowRange] | None:
    """Consecutive ranges of activity rows, about ``parts`` of them, each a whole set of
    enterprises, and the same parts of the treatment rows (``treatment`` None when the
    treatment's enterprises do not follow the activity's order: it is then split by the
    part of each enterprise's activity); None when the activity's enterprises are
    interleaved.

    A census file is usually sorted by enterprise. Then each part can read its own range
    of rows (DuckDB skips the rest of a Parquet file or table), its emissions follow the
    previous part's in source-row order, and the run needs neither the split of the
    inputs nor the merge of the parts (:func:`_account_in_parts`): 34 s of 105 s for
    10^7 rows. The enterprises are grouped by a hash of their id; two that share a hash
    only count as one, which can cost a cut but never splits an enterprise. Rows with a
    blank enterprise id (rejected, never accounted) all go to the first part, so that
    they are checked together as in one pass.
    """
    act = _enterprise_spans(activity, "activity").cache()
    cached = [act]
    try:
        bounds = con.to_pyarrow(act.aggregate(low=act.lo.min(), high=act.hi.max())
                                ).to_pylist()[0]
        if bounds["low"] is None:
            return None
        low, high = int(bounds["low"]), int(bounds["high"])
        width = -(-(high - low + 1) // parts)
        # a cut before an enterprise is possible where every enterprise before it ends
        before = act.hi.max().over(ibis.window(order_by=act.lo, rows=(None, -1)))
        cuts = act.mutate(before=before).filter(lambda t: t.before < t.lo)
        cuts = cuts.mutate(part=((cuts.lo - low) // width).cast("int64"))
        cuts = cuts.filter(cuts.part > 0).group_by("part").aggregate(cut=cuts.lo.min())
        activity_cuts = sorted(int(c) for c in con.to_pyarrow(cuts)["cut"].to_pylist())
        if not activity_cuts:
            return None
        treatment_cuts = None
        if treatment is not None:
            trt = _enterprise_spans(treatment, "treatment")
            known = act.select(_sg_akey=act._sg_key, a_lo=act.lo)
            joined = trt.left_join(known, trt._sg_key == known._sg_akey).cache()
            cached.append(joined)
            treatment_cuts = _treatment_cuts(con, joined, activity_cuts)
    finally:
        for table in cached:
            table.release()
    edges = [None, *activity_cuts, None]
    trt_edges = [None, *treatment_cuts, None] if treatment_cuts is not None else None
    return [_RowRange((edges[k], edges[k + 1]),
                      (trt_edges[k], trt_edges[k + 1]) if trt_edges else None, k == 0)
            for k in range(len(edges) - 1)]


def _enterprise_code(table, kind: str) -> ibis.Value:
    """A hash of each row's enterprise id, NULL for a blank id (no hash can stand for it).
    One expression, so the id is stripped once (a filter beside it made DuckDB strip it
    twice)."""
    from sourcegrid.accounting.inputs import enterprise_key

    key = enterprise_key(table, kind)
    return ibis.ifelse(key == "", ibis.null("int64"), key.hash())


def _enterprise_spans(table, kind: str) -> ibis.Table:
    """Each enterprise's first and last row (``_sg_key``: :func:`_enterprise_code`; lo,
    hi); rows with a blank id are left out."""
    rows = table.select(_sg_key=_enterprise_code(table, kind),
                        _sg_row=table[ROW].cast("int64"))
    spans = rows.group_by("_sg_key").aggregate(lo=rows._sg_row.min(), hi=rows._sg_row.max())
    return spans.filter(spans._sg_key.notnull())


def _part_of(row: ibis.Value, cuts: list[int]) -> ibis.Value:
    """The part (0, 1, ...) of ``row`` among ranges cut at ``cuts`` (ascending)."""
    total = ibis.literal(0, "int64")
    for cut in cuts:
        total = total + (row >= cut).cast("int64")
    return total


def _treatment_cuts(con, joined, activity_cuts: list[int]) -> list[int] | None:
    """Treatment rows cut where the activity is: part k's treatment rows from the first
    row of an enterprise whose activity is in part k or later. ``joined``: each
    enterprise's first and last treatment row (lo, hi) and first activity row (a_lo,
    NULL without activity). None when an enterprise's treatment rows would fall in
    another part than its activity, or in two parts."""
    far = 2**62  # past every row
    joined = joined.mutate(part=ibis.ifelse(joined.a_lo.isnull(), ibis.null("int64"),
                                            _part_of(joined.a_lo, activity_cuts)))
    firsts = con.to_pyarrow(joined.aggregate(**{
        f"t{k}": ibis.ifelse(joined.part >= k, joined.lo, ibis.null("int64")).min()
        for k in range(1, len(activity_cuts) + 1)})).to_pylist()[0]
    # non-decreasing: each minimum is over the enterprises of the next one and more
    cuts = [far if firsts[f"t{k}"] is None else int(firsts[f"t{k}"])
            for k in range(1, len(activity_cuts) + 1)]
    starts, ends = _part_of(joined.lo, cuts), _part_of(joined.hi, cuts)
    wrong = (starts != ends) | (joined.part.notnull() & (starts != joined.part))
    if int(con.to_pyarrow(joined.aggregate(n=as_count(wrong).sum())).to_pylist()[0]["n"] or 0):
        return None
    return cuts


def _in_range(table, kind: str, rows: tuple, first: bool):
    """The rows of ``table`` in one :class:`_RowRange` part."""
    from sourcegrid.accounting.inputs import enterprise_key

    low, high = rows
    row = table[ROW]
    inside = ibis.literal(True)
    if low is not None:
        inside = inside & (row >= low)
    if high is not None:
        inside = inside & (row < high)
    blank = enterprise_key(table, kind) == ""
    if not first:
        return table.filter(inside & ~blank)
    # two filters, so the engine still reads only its range of rows for the first
    return table.filter(inside).union(table.filter(~inside & blank))


def _account_in_ranges(activity, library, treatment, con, ranges: list[_RowRange],
                       library_name, activity_source, treatment_source, into, out, explain,
                       progress=None) -> AccountingResult:
    """Account each :class:`_RowRange` part in turn, its emissions written straight after
    the previous part's (to ``out``'s one file, or inserted into ``into``): in order,
    they are the one pass's ordered emissions. Rejects are merged and sorted as one run
    sorts them; the counts are summed."""
    from sourcegrid.io.tables import table_writer

    results, clipped_warnings, created, views = [], 0, [], []
    columns = ALL_COLUMNS if into is not None else None
    folder, treatment_parts = None, None

    def into_table(expr) -> None:
        if created:
            con.insert(into, expr)
        else:
            con.create_table(into, expr, overwrite=True)
            created.append(into)

    def treatment_of(number: int, part: _RowRange):
        if treatment is None:
            return None
        if part.treatment is not None:
            return _in_range(treatment, "treatment", part.treatment, part.first)
        return _bucket_rows(con, treatment, treatment_parts[number], views)

    try:
        if treatment is not None and ranges[0].treatment is None:
            folder = _parts_folder(Path(out).parent if out is not None else _spill_parent(con))
            treatment_parts = _split_treatment(con, activity, treatment,
                                               [r.activity[0] for r in ranges[1:]],
                                               folder / "treatment")
        with ExitStack() as stack:
            sink = (into_table if into is not None
                    else stack.enter_context(table_writer(con, out)))
            for number, part in enumerate(ranges):
                with warnings.catch_warnings(record=True) as caught, unordered(con):
                    warnings.simplefilter("always", ClippedOperatingRate)
                    results.append(_account(
                        _in_range(activity, "activity", part.activity, part.first), library,
                        treatment_of(number, part), con, library_name, activity_source,
                        treatment_source, None, None, explain, columns=columns, sink=sink))
                clipped_warnings += _reraise_others(caught)
                if progress is not None:
                    progress(number + 1, len(ranges))
    finally:
        for view in views:
            con.drop_view(view, force=True)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    emissions_table = con.table(into) if into is not None else None
    return _merged(results, clipped_warnings, con, emissions_table, len(ranges))


def _split_treatment(con, activity, treatment, activity_cuts: list[int], folder
                     ) -> dict[int, list]:
    """The treatment written once into a Parquet folder per part (``folder/_sg_bucket=N/``,
    by the engine): each row in the part of its enterprise's activity; rows of enterprises
    without activity in a part by a hash of the id (as they may be many), rows with a blank
    id in the first. Returns each part's files."""
    known = _enterprise_spans(activity, "activity")
    known = known.select(_sg_akey=known._sg_key, a_lo=known.lo)
    rows = treatment.mutate(_sg_key=_enterprise_code(treatment, "treatment"))
    rows = rows.left_join(known, rows._sg_key == known._sg_akey)
    parts = len(activity_cuts) + 1
    alone = ibis.ifelse(rows._sg_key.isnull(), 0, (rows._sg_key % parts + parts) % parts)
    part = ibis.ifelse(rows.a_lo.isnull(), alone, _part_of(rows.a_lo, activity_cuts))
    return _write_buckets(con, rows.mutate(**{_BUCKET: part}).drop("_sg_key", "_sg_akey",
                                                                    "a_lo"), folder, parts)


def _reraise_others(caught) -> int:
    """Warn again what a part warned, except the clipped operating rates (counted once
    for the run); returns how many of those there were."""
    clipped = 0
    for caught_warning in caught:
        if issubclass(caught_warning.category, ClippedOperatingRate):
            clipped += 1
        else:
            warnings.warn_explicit(caught_warning.message, caught_warning.category,
                                   caught_warning.filename, caught_warning.lineno)
    return clipped


def _merged(results: list, clipped_warnings: int, con, emissions_table, parts: int
            ) -> AccountingResult:
    """One result of the parts' results: rejects merged and sorted as one run sorts them,
    counts summed, one warning for the clipped operating rates."""
    rejects = [r.rejects for r in results if len(r.rejects)]
    merged = (pd.concat(rejects, ignore_index=True).drop_duplicates()
              .sort_values(["row", "reason"], kind="stable", ignore_index=True)
              if rejects else problems_frame([]))
    clipped = sum(r.clipped for r in results)
    if clipped_warnings:
        warnings.warn(f"{clipped} operating rate(s) k outside [0, 1] were clipped; see the "
                      "note column", ClippedOperatingRate, stacklevel=4)
    return AccountingResult(None, merged, sum(r.activity_rows for r in results),
                            sum(r.accounted_rows for r in results), clipped, results[0].library,
                            con.name, emission_rows=sum(r.emission_rows for r in results),
                            emissions_table=emissions_table, parts=parts)


def _account_in_parts(activity, library, treatment, con, parts, library_name,
                      activity_source, treatment_source, into, out, explain,
                      progress=None) -> AccountingResult:
    """Account the rows of each hash bucket of enterprise ids in turn, then merge.

    Rows of one enterprise fall in one bucket (:func:`~sourcegrid.accounting.inputs.
    enterprise_hash`), and every check that compares rows and the treatment join stay
    within an enterprise, so each bucket is a whole run of its own. Each input is split
    once, by one pass of the engine, into a Parquet file per bucket in a temporary folder
    (reading the whole input again for every bucket cost more than the spilling it
    saved: 149 s for 10^7 rows in 10 parts against 136 s in one). Each bucket's
    emissions go to a Parquet file sorted by source row; the files are then read back a
    range of source rows at a time (row groups outside the range are skipped) and
    written in order to ``out`` or ``into``. Rejects are merged and sorted as one run
    sorts them; the counts are summed.
    """
    folder = _parts_folder(Path(out).parent if out is not None else _spill_parent(con))
    results, clipped_warnings, views = [], 0, []

    def bucket(kind: str, table, number: int):
        """The bucket's rows of one input (None without it)."""
        return None if table is None else _bucket_rows(con, table, split[kind][number], views)

    try:
        split = {kind: _split(con, table, kind, parts, folder / kind)
                 for kind, table in (("activity", activity), ("treatment", treatment))
                 if table is not None}
        for number in range(parts):
            if not any(split[kind][number] for kind in split):
                continue  # no enterprise fell in this bucket
            path = folder / f"emissions-{number:04d}.parquet"
            with warnings.catch_warnings(record=True) as caught, unordered(con):
                warnings.simplefilter("always", ClippedOperatingRate)
                results.append(_account(
                    bucket("activity", activity, number), library,
                    bucket("treatment", treatment, number), con, library_name, activity_source, treatment_source,
                    None, path, explain, columns=ALL_COLUMNS if explain or into is not None
                    else [*EMISSION_COLUMNS, "source_row"]))
            clipped_warnings += _reraise_others(caught)
            if progress is not None:
                progress(number + 1, parts)
        stored = con.read_parquet([str(folder / f"emissions-{n:04d}.parquet")
                                   for n in range(parts)
                                   if (folder / f"emissions-{n:04d}.parquet").exists()])
        views.append(stored.get_name())
        written = list(stored.columns) if explain or into is not None else EMISSION_COLUMNS
        pieces = [piece.select(*written) for piece in
                  _source_row_ranges(con, stored, max(r.activity_rows for r in results))]
        ordered(con)
        emissions_table = None
        if into is not None:
            emissions_table = con.create_table(into, pieces[0], overwrite=True)
            for piece in pieces[1:]:
                con.insert(into, piece)
        else:
            from sourcegrid.io.tables import write_ibis_table

            write_ibis_table(con, pieces, out)
    finally:
        for view in views:
            con.drop_view(view, force=True)
        shutil.rmtree(folder, ignore_errors=True)
    return _merged(results, clipped_warnings, con, emissions_table, parts)


_BUCKET = "_sg_bucket"
ALL_COLUMNS = ("*",)  # _account's ``columns``: every emission column
_PARTS_PREFIX = "sourcegrid-parts-"


def _spill_parent(con) -> Path:
    """Where the parts of a run into a table go: beside DuckDB's own spill folder (a
    workspace file's ``workspace.duckdb.tmp``, so in the workspace folder, on the disk that
    holds the data), else the system's temporary folder (an in-memory DuckDB)."""
    text = str(con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] or "")
    spill = Path(text).absolute()
    if text in ("", ".tmp") or not spill.parent.is_dir():  # '.tmp': an in-memory database's
        return Path(tempfile.gettempdir())
    return spill.parent


def _parts_folder(parent):
    """A new folder for the parts of one run in ``parent`` (named with this process's
    id); folders that killed runs left there (their process is gone) are removed."""
    from sourcegrid.io.tables import process_alive

    for stale in parent.glob(f"{_PARTS_PREFIX}*"):
        pid = stale.name[len(_PARTS_PREFIX):].split("-", 1)[0]
        if stale.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_PARTS_PREFIX}{os.getpid()}-", dir=parent))


def _split(con, table: ibis.Table, kind: str, parts: int, folder) -> dict[int, list]:
    """``table`` written once into a Parquet folder per bucket of enterprise ids
    (``folder/_sg_bucket=N/``, by the engine); returns each bucket's files ([] if none)."""
    from sourcegrid.accounting.inputs import enterprise_hash

    bucket = enterprise_hash(table, kind) % parts
    return _write_buckets(con, table.mutate(**{_BUCKET: (bucket + parts) % parts}), folder,
                          parts)


def _write_buckets(con, table: ibis.Table, folder, parts: int) -> dict[int, list]:
    """``table`` (with a ``_sg_bucket`` column, 0 … parts − 1) written once by the engine
    into a Parquet folder per bucket (``folder/_sg_bucket=N/``, the column itself left
    out); returns each bucket's files ([] if none)."""
    with insertion_order(con, keep=False):
        con.to_parquet(table, folder, partition_by=_BUCKET)
    return {number: sorted((folder / f"{_BUCKET}={number}").glob("*.parquet"))
            for number in range(parts)}


def _bucket_rows(con, table: ibis.Table, files: list, views: list) -> ibis.Table:
    """The rows of one bucket's ``files`` (written by :func:`_write_buckets` from
    ``table``); none: ``table`` without rows. The view read is added to ``views``."""
    if not files:
        return table.filter(ibis.literal(False))
    rows = con.read_parquet([str(f) for f in files], hive_partitioning=False)
    views.append(rows.get_name())
    return rows


def _source_row_ranges(con, stored, width: int) -> list:
    """``stored`` as consecutive ranges of about ``width`` source rows, each sorted by
    source row and pollutant: in order, they are the one run's ordered emissions."""
    bounds = con.to_pyarrow(stored.aggregate(low=stored.source_row.min(),
                                             high=stored.source_row.max())).to_pylist()[0]
    key = ["source_row", "pollutant"]
    if bounds["low"] is None:
        return [stored.order_by(key)]
    low, high, width = int(bounds["low"]), int(bounds["high"]), max(int(width), 1)
    return [stored.filter((stored.source_row >= start) & (stored.source_row < start + width))
            .order_by(key) for start in range(low, high + 1, width)]


@contextmanager
def unordered(con):
    """On DuckDB, let the intermediate tables be built without keeping row order (less
    memory and time); the outputs are ordered explicitly (:func:`ordered`). The
    connection's setting is restored afterwards."""
    with insertion_order(con, keep=False):
        yield


def ordered(con) -> None:
    """Tables written from here on keep their ORDER BY (DuckDB)."""
    if con.name == "duckdb":
        con.raw_sql("SET preserve_insertion_order = true")


def _account(activity, library, treatment, con, library_name, activity_source,
             treatment_source, into, out, explain, columns: Sequence[str] | None = None,
             sink=None) -> AccountingResult:
    """Run the stages in order, then execute: rejects first, emissions last.

    ``columns``: those ``out`` or ``sink`` gets (default: all with ``explain``, else
    EMISSION_COLUMNS; ``ALL_COLUMNS``: all). ``sink``: called with the ordered emissions
    (an Ibis table) to write them, instead of ``into`` or ``out``.
    """
    inputs = stage_inputs(activity, library, treatment, con, library_name=library_name,
                          activity_source=activity_source, treatment_source=treatment_source)
    del activity
    matching = stage_matching(inputs)
    generated = stage_generation(inputs, matching.chosen)
    treated = stage_treatment(inputs, generated).cache()
    checked = stage_rejects(inputs, matching, treated)
    emissions_expr = stage_output(inputs, checked.good, explain)

    rejects = problems_frame([])  # no kind of problem found: nothing to fetch
    if checked.rejects:
        fetched = fetch_rejects(con, ibis.union(*[typed_rejects(r) for r in checked.rejects])
                                 .order_by(["row", "reason"]))
        if len(fetched):
            rejects = fetched.astype({"row": "Int64"})
    for cached in (*matching.caches, checked.problems):  # freed before the emissions are written
        cached.release()
    ordered(con)
    emissions, emissions_table = None, None
    if into is None and out is None and sink is None:
        emissions = fetch_frame(con, emissions_expr)
        stats = {"n": len(emissions), "accounted": emissions["source_row"].nunique(),
                 "clipped": int(emissions["note"].str.contains("clipped", regex=False).sum())}
    else:
        # counted on the narrow cached table, not on the written emissions
        good = treated.filter(checked.accountable(treated))
        stats = con.to_pyarrow(good.aggregate(
            n=good.count(), accounted=good.activity_row.nunique(),
            clipped=as_count(good.clipped > 0).sum())).to_pylist()[0]
        if into is not None:
            emissions_table = con.create_table(into, emissions_expr, overwrite=True)
        else:
            from sourcegrid.io.tables import write_ibis_table

            # straight to the file; the explanation columns only when asked
            if columns is None:
                columns = ALL_COLUMNS if explain else EMISSION_COLUMNS
            if columns == ALL_COLUMNS:
                columns = emissions_expr.columns
            written = emissions_expr.select(*columns)
            if sink is not None:
                sink(written)
            else:
                write_ibis_table(con, written, out)
    treated.release()
    for cached in inputs.caches:  # the checked inputs, released here, not by the collector
        cached.release()
    drop_views(con)
    clipped = int(stats["clipped"] or 0)
    if clipped:
        warnings.warn(f"{clipped} operating rate(s) k outside [0, 1] were clipped; see the "
                      "note column", ClippedOperatingRate, stacklevel=3)
    return AccountingResult(emissions, rejects, inputs.n_activity, int(stats["accounted"] or 0),
                            clipped, inputs.name, con.name, emission_rows=int(stats["n"] or 0),
                            emissions_table=emissions_table)


# --------------------------------------------------------------------------- stages
#
# inputs → matching → generation → treatment → rejects → output. Each stage takes Ibis
# tables and returns Ibis tables (nothing runs until the rejects are fetched and the
# emissions written), except where a small dimension table is prepared from the
# library and the distinct units and treatment texts of the input.


@dataclass
class Inputs:
    """The checked input tables in the backend and the library prepared for the query.

    Attributes
    ----------
    con : ibis backend
    name : str
        Library name.
    library : pandas.DataFrame
        Library rows with ``combination_id``, ``is_base``, ``specificity`` and ``tier_no``
        (1, 2, ... for each distinct scale tier; 0 where the row has none).
    activity, treatment : ibis.Table
        Rows without problems, typed; activity rows of industries the library knows.
    rejects : list of ibis.Table
        Problems found by the input checks (rows, headers, unknown industries).
    base : ibis.Table
        The base row of each combination (keys prefixed ``lib_``).
    tiers : pandas.DataFrame
        The distinct scale tiers (``tier_no``, bounds, unit).
    capacity_factors : pandas.DataFrame
        Factor of each (capacity unit of the input, scale unit of the library).
    unit_factors, parts : ibis.Table
        Activity-unit factors; treatment parts side by side (:func:`_wide_parts`).
    variables, k_variables : list of str
        Variables of the generation and k formulas, and of the k formulas alone.
    expressions, k_formulas : list of str
        The distinct generation expressions and k formulas of the library.
    n_activity : int
        Activity rows read.
    caches : list of ibis.Table
        The checked inputs cached in the backend, released when the run is written.
    """

    con: object
    name: str
    library: pd.DataFrame
    activity: ibis.Table
    treatment: ibis.Table
    rejects: list
    base: ibis.Table
    tiers: pd.DataFrame
    capacity_factors: pd.DataFrame
    unit_factors: ibis.Table
    parts: ibis.Table
    variables: list
    k_variables: list
    expressions: list
    k_formulas: list
    n_activity: int
    caches: list = field(default_factory=list)


def stage_inputs(activity, library, treatment, con, *, library_name: str | None = None,
                 activity_source: str = "activity",
                 treatment_source: str = "treatment") -> Inputs:
    """Stage 1, inputs: check and type the activity and treatment tables, set apart rows
    of industries the library does not know, and prepare the small tables the query
    joins (library, unit factors, treatment parts) from the library and the distinct
    units and treatment texts of the input."""
    rows = library.rows if hasattr(library, "rows") else library
    name = library_name or getattr(library, "name", None) or (
        str(rows["library"].iloc[0]) if len(rows) else "")
    rows = _tiers(_combinations(rows.reset_index(drop=True)))
    generation_vars, k_vars = _formula_columns(rows)

    caches: list = []
    act, act_rejects, act_vars, n_activity = prepare_activity(
        activity, variables=generation_vars | k_vars, source=activity_source, con=con,
        caches=caches)
    del activity
    trt, trt_rejects, trt_vars = prepare_treatment(treatment, variables=k_vars,
                                                   source=treatment_source, con=con,
                                                   caches=caches)
    variables = sorted(generation_vars | k_vars)
    k_variables = sorted(k_vars)
    act = act.mutate(**{v: ibis.null("float64") for v in variables if v not in act_vars})
    if trt is None:
        none = pd.DataFrame({c: pd.Series(dtype="string") for c in [
            "enterprise_id", "section", "pollutant", "pollutant_category", "treatment"]}).assign(
            k=pd.Series(dtype="float64"))
        trt, _, _ = engine_table(none, con, position=False, view="no_treatment")
    trt = trt.mutate(**{v: ibis.null("float64") for v in k_variables if v not in trt_vars})

    # the distinct texts the small tables depend on, in one query per table
    act_units = _distinct_values(con, act, ["activity_unit", "capacity_unit", "industry_code"])
    trt_texts = _distinct_values(con, trt, ["pollutant", "treatment"])

    # treatment pollutant names → canonical (二氧化硫 → SO2): a few distinct names
    from sourcegrid.coefficients.model import canonical_pollutant

    mapping = {n: canonical_pollutant(n) for n in trt_texts["pollutant"]}
    if any(k != v for k, v in mapping.items()):
        trt = trt.mutate(pollutant=trt.pollutant.substitute(mapping, else_=trt.pollutant))

    # industry codes the library does not know at all
    known = sorted(set(rows["industry_code"]))
    rejects = [r for r in (act_rejects, trt_rejects) if r is not None]
    if "*" not in known and set(act_units["industry_code"]) - set(known):
        unknown = act.filter(~act.industry_code.isin(known))
        rejects.append(unknown.select(
            source=unknown[SOURCE], row=unknown[ROW], column=ibis.literal("industry_code"),
            value=unknown.industry_code, reason=ibis.literal("unknown_industry"),
            message=ibis.literal(f"library {name!r} has no coefficients for this industry "
                                 "code")))
        act = act.filter(act.industry_code.isin(known))

    lib = _library_table(rows)
    unit_factors = _unit_factors(
        pd.DataFrame({"activity_unit": act_units["activity_unit"]}).merge(
            lib[["lib_activity_unit"]].drop_duplicates(), how="cross"),
        "activity_unit", "lib_activity_unit", "unit_factor")
    capacity_factors = _unit_factors(
        pd.DataFrame({"capacity_unit": act_units["capacity_unit"]}).merge(
            lib[["scale_unit"]].drop_duplicates(), how="cross"),
        "capacity_unit", "scale_unit", "capacity_factor")
    parts = _wide_parts(_treatment_parts(rows, trt_texts["treatment"]))
    tier_columns = ["tier_no", "scale", "scale_min", "scale_min_inclusive", "scale_max",
                    "scale_max_inclusive", "scale_unit"]
    tiers = rows.loc[rows["is_base"] & (rows["tier_no"] > 0), tier_columns].drop_duplicates(
        "tier_no").sort_values("tier_no", ignore_index=True)
    base, _, _ = engine_table(lib, con, position=False, view="library")
    unit_table, _, _ = engine_table(unit_factors, con, position=False, view="unit_factors")
    part_table, _, _ = engine_table(parts, con, position=False, view="parts")
    return Inputs(
        con=con, name=name, library=rows, activity=act, treatment=trt, rejects=rejects,
        base=nan_to_null(base).filter(lambda t: t.is_base), tiers=tiers,
        capacity_factors=capacity_factors, unit_factors=unit_table,
        parts=nan_to_null(part_table), variables=variables, k_variables=k_variables,
        expressions=sorted({t for t in rows["generation_expression"] if t}),
        k_formulas=sorted({t for t in rows["k_formula"] if t}), n_activity=n_activity,
        caches=caches)


@dataclass
class Matching:
    """The combination chosen for each (activity row, pollutant), and the rows without one.

    Attributes
    ----------
    chosen : ibis.Table
        activity_row, combination_id: the single most specific combination of each
        (activity row, pollutant).
    no_combination, no_tier : ibis.Table
        Activity rows (all activity columns) no combination matches by its keys, or
        whose capacity / scale label fits no tier of the matching combinations.
    ambiguous : ibis.Table
        activity_row, pollutant, rows (the tied coefficient rows), _row, _source.
    caches : list of ibis.Table
        Cached small tables, released once the rejects are fetched.
    found : dict of str to ibis.Table
        For no_combination, no_tier and ambiguous: the distinct (keys, signature) with
        that problem, a small table that is empty exactly when the rows above are.
    """

    chosen: ibis.Table
    no_combination: ibis.Table
    no_tier: ibis.Table
    ambiguous: ibis.Table
    caches: list
    found: dict = field(default_factory=dict)


MATCH_KEYS = ["industry_code", *KEY_COLUMNS]


def tier_signature(act: ibis.Table, tiers: pd.DataFrame,
                   capacity_factors: pd.DataFrame) -> ibis.Value:
    """Which scale tiers each activity row fits, as text: character i is '1' when the
    row's scale label is tier i's label or its capacity (converted to the tier's unit)
    lies inside the tier, else '0' ('' when the library has no tiers).

    Rows with equal keys and equal signatures match the same combinations, so the most
    specific combination is resolved once per distinct (keys, signature).
    """
    if tiers.empty:
        return ibis.literal("")
    capacity = {}
    for unit in tiers["scale_unit"].unique():
        factors = capacity_factors.loc[capacity_factors["scale_unit"] == unit]
        factor = ibis.cases(*[(act.capacity_unit == a, ibis.literal(float(f)))
                              for a, f in zip(factors["capacity_unit"],
                                              factors["capacity_factor"], strict=True)],
                            else_=ibis.null("float64")) if len(factors) else ibis.null("float64")
        capacity[unit] = act.capacity * factor
    def bound(value: float) -> ibis.Value:
        """An unbounded side (NaN) is never compared; a literal NaN is not portable SQL."""
        return ibis.literal(0.0 if pd.isna(value) else float(value))

    signature = ibis.literal("")
    for tier in tiers.itertuples(index=False):
        lower = ibis.literal(bool(pd.isna(tier.scale_min))) | (
            capacity[tier.scale_unit] > bound(tier.scale_min)) | (
            (capacity[tier.scale_unit] == bound(tier.scale_min))
            & bool(tier.scale_min_inclusive))
        upper = ibis.literal(bool(pd.isna(tier.scale_max))) | (
            capacity[tier.scale_unit] < bound(tier.scale_max)) | (
            (capacity[tier.scale_unit] == bound(tier.scale_max))
            & bool(tier.scale_max_inclusive))
        inside = lower & upper
        fits = ((act.scale == tier.scale) | inside).fill_null(False)
        signature = signature + ibis.ifelse(fits, "1", "0")
    return signature


def stage_matching(inputs: Inputs) -> Matching:
    """Stage 2, matching: the most specific combination for each (activity row, pollutant).

    A combination matches a row when its industry code is the row's (or '*'), each of its
    keys is the row's or blank, and the row fits its scale tier (or it has none). Among
    the matches of a pollutant the most specific wins (:func:`_combinations`); two
    equally specific ones are ambiguous. All of this depends only on the row's keys and
    tier signature (:func:`tier_signature`), so it is resolved on the distinct
    (keys, signature) and joined back to the rows.
    """
    act, base, tiers = inputs.activity, inputs.base, inputs.tiers
    # narrow and read four times (chosen, and three kinds of rejects): cached once
    keyed = act.select("activity_row", *MATCH_KEYS,
                       signature=tier_signature(act, tiers, inputs.capacity_factors)).cache()
    by = [*MATCH_KEYS, "signature"]
    keys = keyed.select(*by).distinct()
    candidates = keys.cross_join(base.select(
        "combination_id", "specificity", "coefficient_row", "pollutant", "tier_no",
        lib_industry_code=base.lib_industry_code,
        **{f"lib_{c}": base[f"lib_{c}"] for c in KEY_COLUMNS}))
    candidates = candidates.filter(
        (candidates.lib_industry_code == candidates.industry_code)
        | (candidates.lib_industry_code == "*"),
        *[(candidates[f"lib_{c}"] == "") | (candidates[f"lib_{c}"] == candidates[c])
          for c in KEY_COLUMNS])
    scale_ok = ibis.cases(*[(candidates.tier_no == int(t),
                             candidates.signature.substr(int(t) - 1, 1) == "1")
                            for t in tiers["tier_no"]], else_=True) if len(tiers) else True
    candidates = candidates.select(*by, "pollutant", "combination_id", "specificity",
                                   "coefficient_row", scale_ok=scale_ok).cache()
    fits = candidates.group_by(by).aggregate(fits=candidates.scale_ok.any())

    matched = candidates.filter(candidates.scale_ok)
    group = [*by, "pollutant"]
    best = matched.group_by(group).aggregate(best=matched.specificity.max())
    top = matched.join(best, group)
    top = top.filter(top.specificity == top.best)
    resolved = top.group_by(group).aggregate(
        n_best=top.count(), combination_id=top.combination_id.max(),
        rows=top.coefficient_row.cast("string").group_concat(", ")).cache()

    chosen = keyed.join(resolved.filter(resolved.n_best == 1).select(
        *by, "combination_id"), by).select("activity_row", "combination_id")
    tied = keyed.join(resolved.filter(resolved.n_best > 1).select(*group, "rows"), by)
    ambiguous = tied.select("activity_row", "pollutant", "rows").join(
        act.select("activity_row", ROW, SOURCE), "activity_row")

    def rows_of(key_table: ibis.Table) -> ibis.Table:
        return keyed.semi_join(key_table, by).select("activity_row").join(act, "activity_row")

    unmatched, untiered = keys.anti_join(candidates, by), fits.filter(~fits.fits)
    found = {"no_combination": unmatched, "no_tier": untiered,
             "ambiguous": resolved.filter(resolved.n_best > 1)}
    return Matching(chosen, rows_of(unmatched), rows_of(untiered), ambiguous,
                    [keyed, candidates, resolved], found)


def stage_generation(inputs: Inputs, chosen: ibis.Table) -> ibis.Table:
    """Stage 3, generation G = c × A in the coefficient's basis, for each chosen
    (activity row, pollutant): c the coefficient or its expression of the row's
    variables (finite and non-negative, else NULL: invalid_coefficient), A the activity
    converted to the coefficient's activity unit (NULL factor: unit_mismatch)."""
    expressions = inputs.expressions
    chosen = chosen.join(inputs.base.select(
        "combination_id", "coefficient_row", "pollutant", "pollutant_category", "unit",
        "lib_activity_unit", "coefficient_factor", "generation_coefficient",
        "generation_expression"), "combination_id")
    chosen = chosen.join(inputs.activity.select(
        "activity_row", "enterprise_id", "section", "activity", "activity_unit",
        *inputs.variables), "activity_row")
    chosen = chosen.left_join(inputs.unit_factors, ["activity_unit", "lib_activity_unit"]).drop(
        "activity_unit_right", "lib_activity_unit_right")

    def column(name: str) -> ibis.Value:
        return chosen[name]

    formula_value = formula_case(chosen.generation_expression, expressions,
                          lambda t: parse(t).to_ibis(column), ibis.null("float64"))
    coefficient = ibis.ifelse(chosen.generation_expression == "", chosen.generation_coefficient,
                              formula_value)
    # a coefficient is finite and non-negative; anything else is invalid_coefficient
    coefficient = ibis.ifelse(
        ((coefficient < 0) | coefficient.isinf() | coefficient.isnan()).fill_null(False),
        ibis.null("float64"), coefficient)
    chosen = chosen.mutate(
        coefficient_value=coefficient,
        missing_generation=missing_variables(chosen.generation_expression, expressions, column),
        activity_in_basis=chosen.activity * chosen.unit_factor,
    )
    return chosen.mutate(
        generation=chosen.coefficient_value * chosen.coefficient_factor * chosen.activity_in_basis)


GENERATED_COLUMNS = ["activity_row", "pollutant", "combination_id", "coefficient_row",
                     "pollutant_category", "coefficient_value", "missing_generation",
                     "activity_in_basis", "unit_factor", "generation"]


def _treatment_text(inputs: Inputs, generated: ibis.Table) -> ibis.Table:
    """Each generated row with the enterprise's treatment text, given k and k variables:
    a row for the pollutant beats a row for its pollutant category."""
    treatment, k_variables = inputs.treatment, inputs.k_variables
    by_pollutant = treatment.filter(treatment.pollutant != "")
    by_category = treatment.filter((treatment.pollutant == "")
                                   & (treatment.pollutant_category != ""))
    carried = ["treatment", "k", *k_variables]
    tp = by_pollutant.select(tp_enterprise_id=by_pollutant.enterprise_id,
                             tp_section=by_pollutant.section, tp_pollutant=by_pollutant.pollutant,
                             **{f"tp_{c}": by_pollutant[c] for c in carried})
    tc = by_category.select(tc_enterprise_id=by_category.enterprise_id,
                            tc_section=by_category.section,
                            tc_category=by_category.pollutant_category,
                            **{f"tc_{c}": by_category[c] for c in carried})
    r = generated.left_join(tp, [generated.enterprise_id == tp.tp_enterprise_id,
                                 generated.section == tp.tp_section,
                                 generated.pollutant == tp.tp_pollutant])
    r = r.left_join(tc, [r.enterprise_id == tc.tc_enterprise_id, r.section == tc.tc_section,
                         r.pollutant_category == tc.tc_category])
    use_pollutant_row = r.tp_treatment.notnull()
    r = r.select(
        *GENERATED_COLUMNS,
        treatment_text=ibis.ifelse(use_pollutant_row, r.tp_treatment,
                                   r.tc_treatment.fill_null("")),
        k_given=ibis.ifelse(use_pollutant_row, r.tp_k, r.tc_k),
        **{f"k_{v}": ibis.ifelse(use_pollutant_row, r[f"tp_{v}"],
                                 r[f"tc_{v}"]).fill_null(r[v]) for v in k_variables},
    )
    return r.view()  # a fresh relation: ibis cannot join onto this projection of a join chain


def stage_treatment(inputs: Inputs, generated: ibis.Table) -> ibis.Table:
    """Stage 4, treatment: removal R = G × η·k and emission E = G − R.

    Each technology of the enterprise's treatment (one, or several in series) is a
    column group part1_..., partN_... of one row (:func:`_wide_parts`), so each
    (activity row, pollutant) stays one row: η·k = 1 − Π(1 − η_i·k_i) over the parts,
    k_i given or from the part's k formula, clipped to [0, 1].
    """
    k_formulas = inputs.k_formulas
    r = _treatment_text(inputs, generated)
    parts = inputs.parts
    widest = sum(1 for c in parts.columns if c.startswith("part") and c.endswith("_row"))
    parts = parts.rename(part_combination_id="combination_id",
                         part_treatment_text="treatment_text")
    p = r.left_join(parts, [r.combination_id == parts.part_combination_id,
                            r.treatment_text == parts.part_treatment_text])

    def k_column(name: str) -> ibis.Value:
        return p[f"k_{name}"]

    given = p.k_given.notnull()
    each = []
    for j in range(1, widest + 1):
        row, efficiency = p[f"part{j}_row"], p[f"part{j}_efficiency"]
        k_formula = p[f"part{j}_k_formula"].fill_null("")
        k_value = formula_case(k_formula, k_formulas, lambda t: parse(t).to_ibis(k_column),
                        ibis.literal(1.0, type="float64"))
        k_raw = ibis.ifelse(given, p.k_given, k_value)
        missing_k = ibis.ifelse(given, ibis.literal(""),
                                missing_variables(k_formula, k_formulas, k_column))
        k_part = ibis.greatest(ibis.least(k_raw, 1.0), 0.0)
        keep = 1 - (efficiency * k_part).fill_null(0.0)
        nominal = 1 - efficiency.fill_null(0.0)
        # the first part always counts (a treatment without parts is one empty part)
        counts = ibis.literal(True) if j == 1 else row.notnull()
        each.append(dict(
            counts=counts, row=row, k_raw=k_raw, missing_k=missing_k, k_part=k_part,
            k_formula=k_formula, keep=keep, nominal=nominal,
            k_source=ibis.ifelse(given, "given",
                                 ibis.ifelse(k_formula == "", "default", "formula")),
            clipped=((k_raw < 0) | (k_raw > 1)).fill_null(False),
            series=p.treatment_text.contains(";") & row.notnull(),
            detail=(p[f"part{j}_treatment"] + " η=" + as_text(efficiency)
                    + " k=" + as_text(k_part.round(6))),
        ))

    def total(term) -> ibis.Value:
        """Sum over the parts that count (as SUM over part rows did)."""
        values = [ibis.ifelse(e["counts"], term(e), 0) if j else term(e)
                  for j, e in enumerate(each)]
        out = values[0]
        for value in values[1:]:
            out = out + value
        return out

    def largest(name: str) -> ibis.Value:
        """MAX over the parts that count (NULLs skipped)."""
        values = [e[name] if j == 0 else ibis.ifelse(e["counts"], e[name], ibis.null())
                  for j, e in enumerate(each)]
        return values[0] if len(values) == 1 else ibis.greatest(*values)

    def joined(name: str, separator: str) -> ibis.Value:
        """The texts of the parts in series, in part order (NULL when none)."""
        values = [ibis.ifelse(e["series"], e[name].cast("string"), ibis.null("string"))
                  for e in each]
        text = values[0] if len(values) == 1 else ibis.literal(separator).join(values)
        return ibis.ifelse(ibis.or_(*[e["series"] for e in each]), text, ibis.null("string"))

    out = p.select(
        *GENERATED_COLUMNS, "treatment_text", "k_given",
        n_parts=total(lambda e: as_count(e["row"].notnull())),
        zero_keep=total(lambda e: as_count(e["keep"] <= 0)),
        log_keep=total(lambda e: ibis.ifelse(e["keep"] > 0, e["keep"].ln(), 0.0)),
        zero_nominal=total(lambda e: as_count(e["nominal"] <= 0)),
        log_nominal=total(lambda e: ibis.ifelse(e["nominal"] > 0, e["nominal"].ln(), 0.0)),
        k_single=largest("k_part"),
        k_raw=largest("k_raw"),
        k_source=largest("k_source"),
        k_formula=largest("k_formula"),
        clipped=total(lambda e: as_count(e["clipped"])),
        missing_k=largest("missing_k"),
        invalid_k=total(lambda e: as_count(e["row"].notnull() & e["k_raw"].isnull()
                                           & (e["missing_k"] == ""))),
        part_rows=joined("row", ", "),
        detail=joined("detail", "; "),
    )
    fraction = 1 - ibis.ifelse(out.zero_keep > 0, 0.0, out.log_keep.exp())
    efficiency = 1 - ibis.ifelse(out.zero_nominal > 0, 0.0, out.log_nominal.exp())
    series = out.n_parts > 1
    out = out.mutate(
        removed_fraction=ibis.ifelse(out.treatment_text == "", 0.0, fraction),
        removal_efficiency=ibis.ifelse(out.treatment_text == "", 0.0, efficiency),
    )
    out = out.mutate(
        k=ibis.ifelse(out.treatment_text == "", ibis.null("float64"),
                      ibis.ifelse(series, out.removed_fraction / out.removal_efficiency.nullif(0),
                                  out.k_single)),
        removal=out.generation * out.removed_fraction,
    )
    out = out.mutate(emission=out.generation - out.removal)
    # only what the emissions and the rejects read is kept; the library's text of the
    # combination is looked up again by the output stage (a few hundred rows)
    return out.drop("k_given", "zero_keep", "log_keep", "zero_nominal", "log_nominal",
                    "k_single", "pollutant_category")


@dataclass
class Checked:
    """The treated rows split into accountable ones and rejects.

    Attributes
    ----------
    good : ibis.Table
        Accountable rows with the combination's text and the activity row's columns.
    rejects : list of ibis.Table
        Every reject table of the run (input checks, matching, accounting).
    problems : ibis.Table
        The cached rows that cannot be accounted (released after the rejects are fetched).
    accountable : callable
        The condition a treated row meets when it can be accounted.
    """

    good: ibis.Table
    rejects: list
    problems: ibis.Table
    accountable: object


def _accountable(t: ibis.Table) -> ibis.Value:
    return (t.unit_factor.notnull() & (t.missing_generation == "")
            & t.coefficient_value.notnull() & ((t.treatment_text == "") | (t.n_parts > 0))
            & (t.missing_k == "") & (t.invalid_k == 0)).fill_null(False)


def stage_rejects(inputs: Inputs, matching: Matching, treated: ibis.Table) -> Checked:
    """Stage 5, rejects: one reject row per problem, with its reason and message, and the
    accountable rows. Pass ``treated`` cached: the few rows that cannot be accounted are
    set apart once (not one pass over all rows per reason)."""
    act = inputs.activity
    base = inputs.base
    combination = base.select("combination_id", "coefficient_row", "pollutant_category",
                              "unit", "lib_activity_unit", "generation_expression").distinct()

    def described(t: ibis.Table) -> ibis.Table:
        """With the combination's text and the descriptive columns of the activity row."""
        t = t.join(combination, ["combination_id", "coefficient_row"])
        return t.join(act.drop(*inputs.variables), "activity_row")

    problems = treated.filter(~_accountable(treated)).cache()
    no_combination, no_tier, ambiguous = (matching.no_combination, matching.no_tier,
                                          matching.ambiguous)
    # one query says which kinds of problem there are (counted on matching's small
    # tables of distinct keys where it has them); only those build reject tables, so a
    # clean run compiles and runs none of them
    present = _row_counts({"problems": problems, "no_combination": no_combination,
                           "no_tier": no_tier, "ambiguous": ambiguous, **matching.found})
    out = described(problems)
    no_unit = out.filter(out.unit_factor.isnull())
    missing_gen = out.filter(out.missing_generation != "")
    bad_coefficient = out.filter(out.unit_factor.notnull() & (out.missing_generation == "")
                                 & out.coefficient_value.isnull())
    unknown_treatment = out.filter((out.treatment_text != "") & (out.n_parts == 0))
    missing_k_rows = out.filter((out.n_parts > 0) & (out.missing_k != ""))
    invalid_k = out.filter((out.n_parts > 0) & (out.missing_k == "") & (out.invalid_k > 0))

    def keys_text(t: ibis.Table) -> ibis.Value:
        return ("industry " + t.industry_code + ", section " + t.section + ", product "
                + t.product + ", raw material " + t.raw_material + ", process " + t.process)

    rejects = [
        _reject_table(no_combination, "section", no_combination.section,
                      "no_matching_coefficient",
                      "no coefficient combination matches " + keys_text(no_combination)),
        _reject_table(no_tier, "capacity",
                      as_text(no_tier.capacity) + " " + no_tier.capacity_unit + " " + no_tier.scale,
                      "no_matching_scale",
                      ibis.ifelse(no_tier.capacity.isnull() & (no_tier.scale == ""),
                                  "the matching combinations have scale tiers (规模等级); give "
                                  "capacity + capacity_unit or a scale label",
                                  "no scale tier (规模等级) of the matching combinations contains "
                                  "capacity " + as_text(no_tier.capacity) + " "
                                  + no_tier.capacity_unit + " / scale " + no_tier.scale)),
        _reject_table(ambiguous, "pollutant", ambiguous.pollutant, "ambiguous_match",
                      ambiguous.pollutant + ": several equally specific coefficient rows match ("
                      + ambiguous.rows + "); make the activity row more specific"),
        _reject_table(no_unit, "activity_unit", no_unit.activity_unit, "unit_mismatch",
                      no_unit.pollutant + ": activity unit " + no_unit.activity_unit
                      + " does not convert to the coefficient basis " + no_unit.unit
                      + " (coefficient row " + as_text(no_unit.coefficient_row) + ")"),
        _reject_table(missing_gen, "generation_coefficient", missing_gen.generation_expression,
                      "missing_variable",
                      missing_gen.pollutant + ": the coefficient " + missing_gen.generation_expression
                      + " needs variable(s) " + rstrip(missing_gen.missing_generation)
                      + " that the activity row does not report (or not as a number in "
                      "its domain)"),
        _reject_table(bad_coefficient, "generation_coefficient",
                      bad_coefficient.generation_expression, "invalid_coefficient",
                      bad_coefficient.pollutant + ": the coefficient "
                      + bad_coefficient.generation_expression
                      + " gives no finite, non-negative value with the reported variables "
                      "(division by zero?)"),
        _reject_table(unknown_treatment, "treatment", unknown_treatment.treatment_text,
                      "unknown_treatment",
                      unknown_treatment.pollutant + ": treatment " + unknown_treatment.treatment_text
                      + " has no removal efficiency in the library for coefficient row "
                      + as_text(unknown_treatment.coefficient_row)),
        _reject_table(missing_k_rows, "k", missing_k_rows.k_formula, "missing_variable",
                      missing_k_rows.pollutant + ": the k formula " + missing_k_rows.k_formula
                      + " needs variable(s) " + rstrip(missing_k_rows.missing_k)
                      + " that the enterprise does not report, or not as a number in its domain "
                      "(or give k directly)"),
        _reject_table(invalid_k, "k", invalid_k.k_formula, "invalid_k",
                      invalid_k.pollutant + ": the k formula " + invalid_k.k_formula
                      + " cannot be evaluated (division by zero?)"),
    ]
    good = described(treated.filter(_accountable(treated)))
    kinds = ["no_combination", "no_tier", "ambiguous", *["problems"] * 6]
    rejects = [r for kind, r in zip(kinds, rejects, strict=True) if present[kind]]
    return Checked(good, [*inputs.rejects, *rejects], problems, _accountable)


def _row_counts(tables: dict[str, ibis.Table]) -> dict[str, int]:
    """The number of rows of each table, from one query."""
    counts = [t.aggregate(**{name: t.count()}) for name, t in tables.items()]
    query = counts[0]
    for count in counts[1:]:
        query = query.cross_join(count)
    return {name: int(n or 0) for name, n in query.to_pyarrow().to_pylist()[0].items()}


def stage_output(inputs: Inputs, good: ibis.Table, explain: bool) -> ibis.Table:
    """Stage 6, output: the emission rows (EMISSION_COLUMNS, then EXPLAIN_COLUMNS) with
    their note, ordered by source row and pollutant."""

    def number(value: ibis.Value) -> ibis.Value:
        return as_text(value.round(6))

    treated = (good.treatment_text != "")
    series = ibis.ifelse(
        good.n_parts > 1,
        "series, η·k = 1 − Π(1 − η_i·k_i) = " + number(good.removed_fraction) + " ["
        + good.detail.fill_null("") + "; rows " + good.part_rows.fill_null("") + "]", "")
    clipped = ibis.ifelse(good.clipped > 0, "k clipped to [0, 1] from " + number(good.k_raw), "")
    if explain:
        note = ("G = c × A = " + number(good.coefficient_value)
                + ibis.ifelse(good.generation_expression != "",
                              " (" + good.generation_expression + ")", "")
                + " " + good.unit + " × " + number(good.activity_in_basis) + " "
                + good.lib_activity_unit + "; "
                + ibis.ifelse(
                    treated,
                    ibis.ifelse(good.n_parts > 1, series,
                                "η·k = " + number(good.removal_efficiency) + " × "
                                + number(good.k) + " (k " + good.k_source
                                + ibis.ifelse(good.k_source == "formula",
                                              ": " + good.k_formula, "") + ")"),
                    "no treatment: E = G")
                + ibis.ifelse(good.clipped > 0, "; " + clipped, ""))
    else:
        # the columns say the rest; the note only says what they cannot
        note = ibis.ifelse(
            treated, ibis.ifelse(good.n_parts > 1, series, "")
            + ibis.ifelse((good.n_parts > 1) & (good.clipped > 0), "; ", "") + clipped,
            "no treatment: E = G")
    return good.select(
        "enterprise_id", "period", "section", "pollutant", "pollutant_category",
        "generation", "removal", "emission",
        method=ibis.literal("coefficient"),
        library=ibis.literal(inputs.name),
        coefficient_row=good.coefficient_row,
        treatment=good.treatment_text,
        removal_efficiency=good.removal_efficiency,
        k=good.k,
        note=note,
        enterprise_name=good.enterprise_name, industry_code=good.industry_code,
        region_code=good.region_code, lon=good.lon, lat=good.lat, product=good.product,
        raw_material=good.raw_material, process=good.process, scale=good.scale,
        capacity=good.capacity, capacity_unit=good.capacity_unit, activity=good.activity,
        activity_unit=good.activity_unit, activity_in_basis=good.activity_in_basis,
        coefficient_unit=good.unit, generation_coefficient=good.coefficient_value,
        coefficient_expression=good.generation_expression,
        k_source=ibis.ifelse(treated, good.k_source, "none"),
        k_formula=good.k_formula.fill_null(""),
        source_row=good[ROW],
    ).order_by(["source_row", "pollutant"])


# --------------------------------------------------------------------------- execution


def typed_rejects(table: ibis.Table) -> ibis.Table:
    """Reject rows with the columns and types every reject table shares, to be unioned."""
    number = table.number if "number" in table.columns else ibis.null("float64")
    return table.select(source=table.source.cast("string"), row=table.row.cast("int64"),
                        column=table.column.cast("string"), value=table.value.cast("string"),
                        reason=table.reason.cast("string"), message=table.message.cast("string"),
                        number=number.cast("float64"))


def fetch_rejects(con, table: ibis.Table) -> pd.DataFrame:
    """The rejects as a DataFrame; a value that is a number (typed input) is written as the
    text the input would have had (:func:`sourcegrid.io.tables.to_text_arrow`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from sourcegrid.io.tables import _text_array

    data = con.to_pyarrow(table)
    number = data["number"]
    if number.null_count < len(number):
        value = pc.if_else(pc.is_null(number), data["value"], _text_array(number))
        data = data.set_column(data.column_names.index("value"), "value", value)
    data = data.drop_columns(["number"])
    strings = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
    return data.to_pandas(types_mapper=strings.get)


def _distinct_values(con, table: ibis.Table, columns: Sequence[str]) -> dict[str, list[str]]:
    """The sorted distinct non-empty values of each column, from one query."""
    import pyarrow.compute as pc

    data = con.to_pyarrow(table.select(*columns).distinct())
    return {c: sorted(v for v in pc.unique(data[c]).to_pylist() if v) for c in columns}


def _tiers(library: pd.DataFrame) -> pd.DataFrame:
    """Number the distinct scale tiers (label, bounds, unit): ``tier_no`` 1, 2, ...;
    0 for a row without a tier."""
    columns = ["scale", "scale_min", "scale_min_inclusive", "scale_max",
               "scale_max_inclusive", "scale_unit"]
    library = library.copy()
    tiered = library["scale"] != ""
    number = library.loc[tiered].groupby(columns, dropna=False, sort=True).ngroup() + 1
    library["tier_no"] = 0
    library.loc[tiered, "tier_no"] = number
    library["tier_no"] = library["tier_no"].astype("int64")
    return library


def _library_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The library rows the query needs, with the key columns prefixed ``lib_``."""
    columns = ["combination_id", "is_base", "specificity", "tier_no", "coefficient_row",
               "industry_code", *KEY_COLUMNS, "scale", "scale_min", "scale_min_inclusive",
               "scale_max", "scale_max_inclusive", "scale_unit", "pollutant_category",
               "pollutant", "unit", "activity_unit", "coefficient_factor",
               "generation_coefficient", "generation_expression", "treatment",
               "removal_efficiency", "k_formula"]
    lib = rows[columns].rename(columns={c: f"lib_{c}" for c in [
        "industry_code", *KEY_COLUMNS, "scale", "activity_unit", "treatment"]})
    text = ["lib_industry_code", *[f"lib_{c}" for c in KEY_COLUMNS], "lib_scale", "scale_unit",
            "pollutant", "pollutant_category", "unit", "lib_activity_unit",
            "generation_expression", "lib_treatment", "k_formula"]
    return lib.astype({**{c: "string" for c in text},
                       "scale_min_inclusive": "bool", "scale_max_inclusive": "bool",
                       "coefficient_row": "int64", "specificity": "int64", "is_base": "bool",
                       "tier_no": "int64", "scale_min": "float64", "scale_max": "float64",
                       "coefficient_factor": "float64", "generation_coefficient": "float64",
                       "removal_efficiency": "float64"})


def fetch_frame(con, table: ibis.Table) -> pd.DataFrame:
    """Fetch a result with Arrow-backed string columns (no per-value Python strings)."""
    import pyarrow as pa

    strings = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
    return con.to_pyarrow(table).to_pandas(types_mapper=strings.get)


def nan_to_null(table: ibis.Table) -> ibis.Table:
    """NaN → NULL in every float column, so 'missing' means NULL on every engine."""
    return table.mutate(**{
        name: ibis.ifelse(table[name].isnan().fill_null(False), ibis.null("float64"), table[name])
        for name, dtype in table.schema().items() if dtype.is_floating()
    })


def as_text(value) -> ibis.Value:
    """A value as text, '' where it is missing (no stripping, no number formatting)."""
    return value.cast("string").fill_null("")


def _reject_table(rows: ibis.Table, column: str | ibis.Value, value: ibis.Value, reason: str,
                  message: ibis.Value) -> ibis.Table:
    return rows.select(
        source=rows[SOURCE].cast("string"),
        row=rows[ROW].cast("int64"),
        column=ibis.literal(column) if isinstance(column, str) else column,
        value=as_text(value),
        reason=ibis.literal(reason),
        message=message.cast("string"),
    )


def aggregate(emissions: pd.DataFrame | ibis.Table, by: Sequence[str] = ("pollutant",), *,
              unit: str = "kg"):
    """Sum generation, removal and emission by any of AGGREGATE_KEYS.

    Parameters
    ----------
    emissions : pandas.DataFrame or ibis.Table
        Emission rows [kg]; an Ibis table is aggregated in its backend.
    by : sequence of str
        Keys among enterprise, region, industry, section, pollutant.
    unit : str
        Mass unit of the sums (kg, t, 万吨, ...), converted with pint.

    Returns
    -------
    The sums and ``removed_percent`` (100 × removal / generation) per group; a DataFrame
    for a DataFrame input, else an Ibis table.
    """
    from sourcegrid.errors import NotFoundError
    from sourcegrid.units import conversion_factor

    columns: list[str] = []
    for key in by:
        if key not in _AGGREGATE_COLUMNS:
            raise NotFoundError("aggregation key", key, AGGREGATE_KEYS)
        columns += [c for c in _AGGREGATE_COLUMNS[key] if c not in columns]
    factor = conversion_factor("kg", unit)
    table = ibis.memtable(emissions) if isinstance(emissions, pd.DataFrame) else emissions
    result = table.group_by(columns).aggregate(
        generation=table.generation.sum() * factor, removal=table.removal.sum() * factor,
        emission=table.emission.sum() * factor, rows=table.count(),
    )
    result = result.mutate(
        removed_percent=100 * result.removal / result.generation.nullif(0)).order_by(columns)
    return result.to_pandas() if isinstance(emissions, pd.DataFrame) else result
