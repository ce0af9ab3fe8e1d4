"""Activity and treatment tables: headers, types and row checks, as Ibis expressions.

Both tables arrive as text (a file read by :func:`sourcegrid.io.tables.read_arrow`,
or a DataFrame) and are checked inside the engine, so a million rows never pass
through Python one by one: numbers are numbers (``TRY_CAST``), amounts are not
negative, keys are present and well formed, rows are not duplicated. Every
problem becomes a reject row (source, row, column, value, reason, message);
the rows without problems go on to the accounting. Variables the coefficient
and k formulas name (S, A, run_hours, ...) are any extra columns; a variable
that is present but not a number is a reject too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import ibis
import pandas as pd
import pyarrow as pa

from sourcegrid.errors import InputError, Problem
from sourcegrid.io.tables import ROW, SOURCE, canonical_headers, to_text_arrow

__all__ = [
    "ACTIVITY_ALIASES",
    "TREATMENT_ALIASES",
    "KEY_COLUMNS",
    "prepare_activity",
    "prepare_treatment",
    "as_arrow",
    "bind",
]

KEY_COLUMNS = ["section", "product", "raw_material", "process"]

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


def bind(con, data: pa.Table | pd.DataFrame, prefix: str) -> ibis.Table:
    """A table in ``con`` (a view over the data; zero-copy on DuckDB), or a memtable."""
    table = ibis.memtable(data)
    if con is None:
        return table
    name = f"_sg_{prefix}_{uuid.uuid4().hex[:12]}"
    return con.create_view(name, table, overwrite=True)


def as_arrow(data: pa.Table | pd.DataFrame, aliases: dict[str, str], source: str) -> pa.Table:
    """Text Arrow table with canonical headers, ``_row`` and ``_source``."""
    table = to_text_arrow(data, source)
    return table.rename_columns(canonical_headers(table.column_names, aliases))


def _structure(columns: Iterable[str], required: list[str], source: str, what: str) -> None:
    present = [c for c in columns if not c.startswith("_")]
    problems = [Problem(source, 1, name, "", "missing_column",
                        f"the {what} table needs a column {name!r}; columns present: "
                        f"{', '.join(present)}")
                for name in required if name not in columns]
    if problems:
        raise InputError(problems, f"cannot read the {what} table {source}")


def _text(column: ibis.Value) -> ibis.Value:
    return column.cast("string").strip().fill_null("")


def _blank_any(column: ibis.Value) -> ibis.Value:
    return ibis.ifelse(column.isin(_ANY), "", column)


class _Checks:
    """Collects row checks on one table and evaluates them in one pass.

    Each check is (condition, column, reason, message, value column). All
    conditions become boolean columns of one cached table, so the input is
    scanned and typed once; the rejects are filters on those flags.
    """

    def __init__(self, table: ibis.Table) -> None:
        self.table = table
        self.checks: list[tuple] = []

    def __call__(self, condition: ibis.Value, column: str, reason: str,
                 message: str | ibis.Value, value: str | None = None) -> None:
        self.checks.append((condition.fill_null(False), column, reason, message,
                            value or column))

    def result(self) -> tuple[ibis.Table, ibis.Table | None]:
        t = self.table
        columns = {}
        for i, (condition, _, _, message, _) in enumerate(self.checks):
            columns[f"_bad{i}"] = condition
            if not isinstance(message, str):
                columns[f"_message{i}"] = message
        flagged = t.mutate(**columns).cache()
        parts = []
        any_bad = ibis.literal(False)
        for i, (_, column, reason, message, value) in enumerate(self.checks):
            bad = flagged.filter(flagged[f"_bad{i}"])
            parts.append(bad.select(
                source=bad[SOURCE].cast("string"), row=bad[ROW].cast("int64"),
                column=ibis.literal(column), value=bad[value].cast("string").fill_null(""),
                reason=ibis.literal(reason),
                message=(ibis.literal(message) if isinstance(message, str)
                         else bad[f"_message{i}"]).cast("string"),
            ))
            any_bad = any_bad | flagged[f"_bad{i}"]
        good = flagged.filter(~any_bad).drop(*columns)
        return good, (ibis.union(*parts) if parts else None)


def _first_of_key(t: ibis.Table, keys: list[str]) -> ibis.Table:
    """Add ``first_row``: the first row of the row's key when the key repeats, else NULL.

    A hash aggregate joined back (rather than a window, which sorts every row).
    """
    groups = t.group_by(keys).aggregate(first_row=t[ROW].min(), copies=t.count())
    repeated = groups.filter(groups.copies > 1).drop("copies")
    joined = t.left_join(repeated, keys)
    return joined.drop(*[f"{k}_right" for k in keys])


def prepare_activity(data: pa.Table | pd.DataFrame, *, variables: Iterable[str] = (),
                     source: str = "activity", con=None) -> tuple[ibis.Table, ibis.Table | None, list[str]]:
    """Check and type an activity table (DESIGN.md, "Activity").

    Returns
    -------
    (activity, rejects, variables)
        ``activity``: typed Ibis table (``activity_row``, ``_row``, ...), rows without
        problems only; ``rejects``: Ibis table of problems (or None); ``variables``: the
        formula variables the table has.
    """
    arrow = as_arrow(data, ACTIVITY_ALIASES, source)
    _structure(arrow.column_names, _ACTIVITY_REQUIRED, source, "activity")
    t = bind(con, arrow, "activity")
    present = sorted(v for v in set(variables) if v in t.columns)
    numeric = [c for c in ("activity", "capacity", "lon", "lat") if c in t.columns]
    text = {c: (_text(t[c]) if c in t.columns else ibis.literal("")) for c in ACTIVITY_TEXT}
    for c in KEY_COLUMNS:
        text[c] = _blank_any(text[c])
    # text and typed versions side by side: the checks read both, the output the typed
    t = t.select(ROW, SOURCE, **text, **{f"raw_{c}": t[c] for c in [*numeric, *present]})
    t = t.mutate(**{f"num_{c}": _text(t[f"raw_{c}"]).try_cast("float64")
                    for c in [*numeric, *present]})
    t = _first_of_key(t, ["enterprise_id", *KEY_COLUMNS, "period"])
    check = _Checks(t)

    for column in ("enterprise_id", "industry_code", "section", "activity_unit", "period"):
        check(t[column] == "", column, "missing_value", f"{column} must not be empty")
    check((t.industry_code != "") & ~t.industry_code.re_search(r"^[0-9]{4}$"), "industry_code",
          "bad_industry_code", "expected a 4-digit GB/T 4754-2017 industry class code, e.g. 4411")
    check((t.region_code != "") & ~t.region_code.re_search(r"^[0-9]{6}$"), "region_code",
          "bad_region_code", "expected a 6-digit administrative division code")
    check((t.period != "") & ~t.period.re_search(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"), "period",
          "bad_period", "expected a period as YYYY or YYYY-MM")
    check(_text(t.raw_activity) == "", "activity", "missing_value", "activity must not be empty",
          value="raw_activity")
    check((_text(t.raw_activity) != "") & t.num_activity.isnull(), "activity", "not_a_number",
          "activity must be a number", value="raw_activity")
    check(t.num_activity < 0, "activity", "negative_amount", "activity must be >= 0",
          value="raw_activity")
    if "capacity" in numeric:
        check((_text(t.raw_capacity) != "") & t.num_capacity.isnull(), "capacity", "not_a_number",
              "capacity must be a number", value="raw_capacity")
        check(t.num_capacity < 0, "capacity", "negative_amount", "capacity must be >= 0",
              value="raw_capacity")
        check(t.num_capacity.notnull() & (t.capacity_unit == ""), "capacity_unit",
              "missing_value", "a capacity needs its unit (capacity_unit), e.g. MW or 万吨/年")
    for column, limit in (("lon", 180), ("lat", 90)):
        if column in numeric:
            number = t[f"num_{column}"]
            check((_text(t[f"raw_{column}"]) != "") & (number.isnull() | (number.abs() > limit)),
                  column, "bad_coordinate", f"expected {column} in degrees within ±{limit}",
                  value=f"raw_{column}")
    for name in present:
        check((_text(t[f"raw_{name}"]) != "") & t[f"num_{name}"].isnull(), name, "not_a_number",
              f"variable {name!r} must be a number", value=f"raw_{name}")

    check(t.first_row.notnull() & (t[ROW] != t.first_row), "enterprise_id", "duplicate_row",
          "duplicate of row " + t.first_row.cast("string") + " (same enterprise, section, "
          "product, raw material, process and period)")

    good, rejects = check.result()
    missing = ibis.null("float64")
    good = good.select(
        activity_row=good[ROW].cast("int64"), **{ROW: good[ROW].cast("int64")},
        **{SOURCE: good[SOURCE].cast("string")}, **{c: good[c] for c in ACTIVITY_TEXT},
        **{c: (good[f"num_{c}"] if c in numeric else missing)
           for c in ("activity", "capacity", "lon", "lat")},
        **{v: good[f"num_{v}"] for v in present},
    )
    return good, rejects, present


def prepare_treatment(data: pa.Table | pd.DataFrame | None, *, variables: Iterable[str] = (),
                      source: str = "treatment", con=None) -> tuple[ibis.Table | None, ibis.Table | None,
                                                          list[str]]:
    """Check and type a treatment table (DESIGN.md, "Treatment").

    A row covers one pollutant, or every pollutant of a ``pollutant_category``
    (废气/废水, air/water). ``k`` given directly must lie in [0, 1] (values above 1 up
    to 100 are read as percent). Returns (treatment, rejects, variables); all None
    without a table.
    """
    if data is None:
        return None, None, []
    arrow = as_arrow(data, TREATMENT_ALIASES, source)
    _structure(arrow.column_names, ["enterprise_id", "section", "treatment"], source,
               "treatment")
    t = bind(con, arrow, "treatment")
    present = sorted(v for v in set(variables) if v in t.columns)
    numeric = [c for c in ("k",) if c in t.columns]
    text = {c: (_text(t[c]) if c in t.columns else ibis.literal("")) for c in _TREATMENT_TEXT}
    text["treatment"] = text["treatment"].replace("；", ";")
    category = text["pollutant_category"]
    text["pollutant_category"] = category.substitute(_CATEGORIES, else_=category)
    t = t.select(ROW, SOURCE, **text, raw_category=category,
                 **{f"raw_{c}": t[c] for c in [*numeric, *present]})
    t = t.mutate(**{f"num_{c}": _text(t[f"raw_{c}"]).try_cast("float64")
                    for c in [*numeric, *present]})
    t = _first_of_key(t, ["enterprise_id", "section", "pollutant", "pollutant_category"])
    check = _Checks(t)
    check(t.enterprise_id == "", "enterprise_id", "missing_value",
          "enterprise_id must not be empty")
    check((t.pollutant == "") & (t.pollutant_category == ""), "pollutant", "missing_value",
          "give a pollutant or a pollutant_category (废气/废水)")
    check((t.pollutant_category != "") & ~t.pollutant_category.isin(["air", "water"]),
          "pollutant_category", "bad_category", "expected 废气, 废水, air or water",
          value="raw_category")
    if numeric:
        check((_text(t.raw_k) != "") & t.num_k.isnull(), "k", "not_a_number", "k must be a number",
              value="raw_k")
        check((t.num_k < 0) | (t.num_k > 100), "k", "bad_k",
              "k is an operating rate: 0-1 (or 0-100 as percent)", value="raw_k")
    for name in present:
        check((_text(t[f"raw_{name}"]) != "") & t[f"num_{name}"].isnull(), name, "not_a_number",
              f"variable {name!r} must be a number", value=f"raw_{name}")
    check(t.first_row.notnull() & (t[ROW] != t.first_row), "enterprise_id", "duplicate_row",
          "duplicate of row " + t.first_row.cast("string") + " (same enterprise, section and "
          "pollutant)")
    good, rejects = check.result()
    k = good.num_k if numeric else ibis.null("float64")
    good = good.select(
        ROW, SOURCE, *_TREATMENT_TEXT,
        k=ibis.ifelse(k > 1, k / 100, k),
        **{v: good[f"num_{v}"] for v in present},
    )
    return good, rejects, present
