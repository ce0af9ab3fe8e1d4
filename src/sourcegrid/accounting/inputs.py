"""Activity and treatment tables: headers, types and row checks.

Both tables arrive as text (see :mod:`sourcegrid.io.tables`). The checks here
are the ones that need no coefficient library: numbers are numbers, amounts
are not negative, keys are present, rows are not duplicated. Rows that fail go
to the rejects with their row number, column, value and reason; the other rows
go on to the engine. Variables the coefficient and k formulas name (S, A,
run_hours, ...) are any extra numeric columns; a variable that is present but
not a number is a reject too.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem, problems_frame
from sourcegrid.io.tables import ROW, SOURCE, rename_headers

__all__ = [
    "ACTIVITY_ALIASES",
    "TREATMENT_ALIASES",
    "KEY_COLUMNS",
    "prepare_activity",
    "prepare_treatment",
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

_ACTIVITY_TEXT = ["enterprise_id", "enterprise_name", "industry_code", "region_code",
                  "section", "product", "raw_material", "process", "capacity_unit", "scale",
                  "activity_unit", "period"]
_ACTIVITY_REQUIRED = ["enterprise_id", "industry_code", "section", "activity", "activity_unit",
                      "period"]
_TREATMENT_TEXT = ["enterprise_id", "section", "pollutant", "pollutant_category", "treatment"]
_ANY = {"所有", "所有产品", "所有原料", "所有工艺", "all", "*", "-", "/"}
_CATEGORIES = {"废气": "air", "废水": "water", "air": "air", "water": "water"}


class _Checker:
    """Collects rejects (all of them) and the rows they knock out."""

    def __init__(self, frame: pd.DataFrame, source: str) -> None:
        self.frame, self.source = frame, source
        self.parts: list[pd.DataFrame] = []
        self.bad = pd.Series(False, index=frame.index)

    def __call__(self, mask: pd.Series, column: str, reason: str, message: str | pd.Series,
                 values: pd.Series | None = None) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        values = self.frame[column] if values is None else values
        chosen = self.frame.loc[mask]
        self.parts.append(pd.DataFrame({
            "source": chosen[SOURCE].astype(str) if SOURCE in chosen else self.source,
            "row": chosen[ROW].astype("Int64"),
            "column": column,
            "value": values.loc[mask].astype("string").fillna(""),
            "reason": reason,
            "message": message if isinstance(message, str) else message.loc[mask],
        }))
        self.bad |= mask

    def rejects(self) -> pd.DataFrame:
        if not self.parts:
            return problems_frame([])
        return pd.concat(self.parts, ignore_index=True)


def _with_row_numbers(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = frame.copy().reset_index(drop=True)
    if ROW not in frame.columns:
        frame.insert(0, ROW, range(2, len(frame) + 2))
    if SOURCE not in frame.columns:
        frame.insert(1, SOURCE, source)
    return frame


def _text(series: pd.Series) -> pd.Series:
    # Arrow-backed strings: strip and compare run in C++, not per value in Python
    return series.astype("string[pyarrow]").str.strip().fillna("")


def _any_to_blank(series: pd.Series) -> pd.Series:
    return series.where(~series.isin(_ANY), "")


def _numeric_variables(frame: pd.DataFrame, variables: Iterable[str], check: _Checker) -> None:
    for name in sorted(set(variables)):
        if name not in frame.columns:
            continue
        raw = frame[name]
        number = pd.to_numeric(raw, errors="coerce")
        check(raw.notna() & number.isna(), name, "not_a_number",
              f"variable {name!r} must be a number")
        frame[name] = number.astype(float)


def _structure(frame: pd.DataFrame, required: list[str], source: str, what: str) -> None:
    present = [c for c in frame.columns if not c.startswith("_")]
    problems = [Problem(source, 1, name, "", "missing_column",
                        f"the {what} table needs a column {name!r}; columns present: "
                        f"{', '.join(present)}")
                for name in required if name not in frame.columns]
    if problems:
        raise InputError(problems, f"cannot read the {what} table {source}")


def prepare_activity(frame: pd.DataFrame, *, variables: Iterable[str] = (),
                     source: str = "activity") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check and type an activity table (DESIGN.md, "Activity").

    Parameters
    ----------
    frame : pandas.DataFrame
        Activity rows, text or typed, English or Chinese headers.
    variables : iterable of str
        Names the coefficient expressions use (S, A, ...): those columns must be numbers.

    Returns
    -------
    (activity, rejects)
        ``activity`` has typed columns and ``activity_row`` (0-based id) and ``_row``;
        ``rejects`` lists every problem, one row each.
    """
    frame = rename_headers(_with_row_numbers(frame, source), ACTIVITY_ALIASES)
    _structure(frame, _ACTIVITY_REQUIRED, source, "activity")
    if "capacity" not in frame.columns and "scale" not in frame.columns:
        frame["scale"] = None
    for column in _ACTIVITY_TEXT:
        frame[column] = _text(frame[column]) if column in frame.columns else ""
    for column in KEY_COLUMNS:
        frame[column] = _any_to_blank(frame[column])
    check = _Checker(frame, source)

    for column in ("enterprise_id", "industry_code", "section", "activity_unit", "period"):
        check(frame[column] == "", column, "missing_value", f"{column} must not be empty")
    check((frame["industry_code"] != "") & ~frame["industry_code"].str.fullmatch(r"\d{4}"),
          "industry_code", "bad_industry_code",
          "expected a 4-digit GB/T 4754-2017 industry class code, e.g. 4411")
    check((frame["region_code"] != "") & ~frame["region_code"].str.fullmatch(r"\d{6}"),
          "region_code", "bad_region_code", "expected a 6-digit administrative division code")
    check((frame["period"] != "") & ~frame["period"].str.fullmatch(r"\d{4}(-(0[1-9]|1[0-2]))?"),
          "period", "bad_period", "expected a period as YYYY or YYYY-MM")

    activity = pd.to_numeric(frame["activity"], errors="coerce")
    check(frame["activity"].isna(), "activity", "missing_value", "activity must not be empty")
    check(frame["activity"].notna() & activity.isna(), "activity", "not_a_number",
          "activity must be a number")
    check(activity < 0, "activity", "negative_amount", "activity must be >= 0")
    frame["activity"] = activity.astype(float)

    if "capacity" in frame.columns:
        capacity = pd.to_numeric(frame["capacity"], errors="coerce")
        check(frame["capacity"].notna() & capacity.isna(), "capacity", "not_a_number",
              "capacity must be a number")
        check(capacity < 0, "capacity", "negative_amount", "capacity must be >= 0")
        check(capacity.notna() & (frame["capacity_unit"] == ""), "capacity_unit",
              "missing_value", "a capacity needs its unit (capacity_unit), e.g. MW or 万吨/年")
        frame["capacity"] = capacity.astype(float)
    else:
        frame["capacity"] = np.nan
    for column in ("lon", "lat"):
        value = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
        if column in frame:
            limit = 180 if column == "lon" else 90
            check(frame[column].notna() & ~value.between(-limit, limit), column,
                  "bad_coordinate", f"expected {column} in degrees within ±{limit}")
        frame[column] = value
    _numeric_variables(frame, variables, check)

    keys = ["enterprise_id", *KEY_COLUMNS, "period"]
    duplicated = frame.duplicated(keys, keep="first") & ~check.bad
    first_row = frame.groupby(keys, sort=False)[ROW].transform("first")
    check(duplicated, "enterprise_id", "duplicate_row",
          "duplicate of row " + first_row.astype(str) + " (same enterprise, section, product, "
          "raw material, process and period)")

    rejects = check.rejects()
    good = frame.loc[~check.bad].copy()
    good.insert(0, "activity_row", good.index.astype("int64"))
    return good.reset_index(drop=True), rejects


def prepare_treatment(frame: pd.DataFrame | None, *, variables: Iterable[str] = (),
                      source: str = "treatment") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check and type a treatment table (DESIGN.md, "Treatment").

    A row covers one pollutant, or every pollutant of a ``pollutant_category``
    (废气/废水, air/water). ``k`` given directly must lie in [0, 1] (values above 1 up
    to 100 are read as percent). Returns (treatment, rejects).
    """
    columns = ["treatment_row", ROW, SOURCE, "enterprise_id", "section", "pollutant",
               "pollutant_category", "treatment", "k"]
    if frame is None:
        return pd.DataFrame(columns=columns), problems_frame([])
    frame = rename_headers(_with_row_numbers(frame, source), TREATMENT_ALIASES)
    _structure(frame, ["enterprise_id", "section", "treatment"], source, "treatment")
    for column in _TREATMENT_TEXT:
        frame[column] = _text(frame[column]) if column in frame.columns else ""
    check = _Checker(frame, source)
    check(frame["enterprise_id"] == "", "enterprise_id", "missing_value",
          "enterprise_id must not be empty")
    check((frame["pollutant"] == "") & (frame["pollutant_category"] == ""), "pollutant",
          "missing_value", "give a pollutant or a pollutant_category (废气/废水)")
    category = frame["pollutant_category"].map(lambda v: _CATEGORIES.get(v.lower(), v))
    check((frame["pollutant_category"] != "") & ~category.isin(["air", "water"]),
          "pollutant_category", "bad_category", "expected 废气, 废水, air or water")
    frame["pollutant_category"] = category
    frame["treatment"] = frame["treatment"].str.replace("；", ";", regex=False)
    if "k" in frame.columns:
        k = pd.to_numeric(frame["k"], errors="coerce")
        check(frame["k"].notna() & k.isna(), "k", "not_a_number", "k must be a number")
        check((k < 0) | (k > 100), "k", "bad_k",
              "k is an operating rate: 0-1 (or 0-100 as percent)")
        frame["k"] = k.where(~(k > 1), k / 100).astype(float)
    else:
        frame["k"] = np.nan
    _numeric_variables(frame, variables, check)
    keys = ["enterprise_id", "section", "pollutant", "pollutant_category"]
    first_row = frame.groupby(keys, sort=False)[ROW].transform("first")
    check(frame.duplicated(keys, keep="first") & ~check.bad, "enterprise_id", "duplicate_row",
          "duplicate of row " + first_row.astype(str) + " (same enterprise, section and pollutant)")
    rejects = check.rejects()
    good = frame.loc[~check.bad].copy()
    good.insert(0, "treatment_row", good.index.astype("int64"))
    return good.reset_index(drop=True), rejects
