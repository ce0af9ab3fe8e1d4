"""Import and validate a coefficient library file (CSV, XLSX, Parquet; zh or en headers).

Every row is checked and a bad file reports all of its bad rows at once (row,
column, value, what was expected, reason code) in one
:class:`~sourcegrid.errors.InputError`; nothing is loaded then. A good file
becomes the normalized table of :mod:`sourcegrid.coefficients.model`.

Reason codes
------------
``missing_column``, ``empty_file``, ``bad_library_name``, ``missing_value``,
``bad_industry_code``, ``bad_industry_kind``, ``bad_pollutant_category``,
``pollutant_category_mismatch``, ``bad_unit``, ``bad_coefficient``,
``negative_coefficient``, ``bad_removal_efficiency``,
``removal_efficiency_out_of_range``, ``missing_removal_efficiency``,
``efficiency_without_treatment``, ``bad_k_formula``, ``bad_scale``,
``duplicate_row``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.coefficients.basis import parse_coefficient_unit
from sourcegrid.coefficients.model import (
    ANY_VALUES,
    HEADER_ALIASES,
    INDUSTRY_KINDS,
    NO_TREATMENT_VALUES,
    NORMALIZED_COLUMNS,
    OPTIONAL_COLUMNS,
    POLLUTANT_CATEGORIES,
    POLLUTANT_CATEGORY_OF,
    REQUIRED_COLUMNS,
    CoefficientLibrary,
    canonical_pollutant,
    fold_width,
)
from sourcegrid.coefficients.scale import parse_scale
from sourcegrid.errors import ExpressionError, InputError, Problem, UnitError
from sourcegrid.expressions import parse as parse_expression
from sourcegrid.io.tables import ROW, SOURCE, read_table, rename_headers

__all__ = ["load_library", "library_from_frame", "validate_file", "normalize_expression",
           "REASONS"]

#: Reason code → what was expected (the start of each problem's message).
REASONS: dict[str, str] = {
    "missing_column": "the library needs this column",
    "empty_file": "the library has no rows",
    "bad_library_name": "a library name of letters, digits, '_', '-' or '.'",
    "missing_value": "a value in this column",
    "bad_industry_code": "a 4-digit GB/T 4754-2017 class code, several separated by ';', or '*'",
    "bad_industry_kind": "process, discrete, 流程型 or 离散型",
    "bad_pollutant_category": "废气, 废水, air or water",
    "pollutant_category_mismatch": "a pollutant of its category",
    "bad_unit": "a unit such as 千克/吨-产品, 克/吨-原料 or kg/t-product",
    "bad_coefficient": "a non-negative number or an expression such as 17*S",
    "negative_coefficient": "a non-negative generation coefficient",
    "bad_removal_efficiency": "a number from 0 to 100 [%]",
    "removal_efficiency_out_of_range": "a removal efficiency from 0 to 100 [%]",
    "missing_removal_efficiency": "a removal efficiency [%] for a row with a treatment",
    "efficiency_without_treatment": "a treatment name for a removal efficiency above 0",
    "bad_k_formula": "an expression such as run_hours / production_hours, or empty for k = 1",
    "bad_scale": "a scale tier such as ≥300MW, 100-300MW, <10万吨/年 or 所有规模",
    "duplicate_row": "one row per combination, pollutant, treatment and industry code",
}

_LIBRARY_NAME = re.compile(r"^[\w.\-]+$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(?:,\d+)+$")
_CODE = re.compile(r"^\d{4}$")
_CODE_SEPARATORS = re.compile(r"\s*[;；]\s*")
# a number directly followed by a name or '(' ('17S', '9.5A', '0.1(A+B)') means a product
_IMPLICIT_PRODUCT = re.compile(
    r"(?<![A-Za-z_\u4e00-\u9fff\d.])(\d+(?:\.\d+)?)(?![eE][-+]?\d)\s*(?=[A-Za-z_\u4e00-\u9fff(])"
)


def normalize_expression(text: str) -> str:
    """Write the official tables' implicit products explicitly: ``'17S'`` → ``'17*S'``."""
    return _IMPLICIT_PRODUCT.sub(r"\1*", str(text).strip())


def _number(text: str) -> float | None:
    text = fold_width(text).strip().rstrip("%").strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


class _Checker:
    """Collects problems of one table; column names are reported as the user wrote them."""

    def __init__(self, frame: pd.DataFrame, headers: dict[str, str]) -> None:
        self.frame = frame
        self.headers = headers
        self.problems: list[Problem] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, values: pd.Series, reason: str,
            message: Callable[[str], str] | str | None = None) -> None:
        """A problem for each row where ``mask`` holds."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        expected = REASONS[reason]
        for index in np.flatnonzero(mask):
            value = values.iloc[index]
            detail = message(value) if callable(message) else message
            text = f"expected {expected}" + (f": {detail}" if detail else "")
            self.problems.append(Problem(
                source=str(self.frame[SOURCE].iloc[index]), row=int(self.frame[ROW].iloc[index]),
                column=self.headers.get(column, column), value=str(value), reason=reason,
                message=text))


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str).str.strip().astype(object)


def _any_to_empty(values: pd.Series) -> pd.Series:
    return values.where(~values.str.lower().isin(ANY_VALUES), "")


def _per_value(values: pd.Series, function: Callable[[str], object]) -> pd.Series:
    """``function`` of each distinct value once, mapped back onto every row."""
    return values.map({value: function(value) for value in pd.unique(values)})


def _parsed(values: pd.Series, parse: Callable[[str], object]) -> tuple[dict, dict]:
    """Parse each distinct value once: ({text: result or None}, {text: error message or ''})."""
    results, errors = {}, {}
    for value in pd.unique(values):
        try:
            results[value], errors[value] = parse(value), ""
        except (UnitError, ExpressionError, ValueError) as error:
            results[value], errors[value] = None, str(error)
    return results, errors


def _attribute(values: pd.Series, parsed: dict, name: str) -> pd.Series:
    """One attribute of each row's parsed value (None where it did not parse)."""
    return values.map({text: getattr(result, name, None) for text, result in parsed.items()})


def library_from_frame(frame: pd.DataFrame, name: str, *, source: str | None = None,
                       file: str = "", imported_at: datetime | None = None) -> CoefficientLibrary:
    """Validate a library table and normalize it.

    Parameters
    ----------
    frame : pandas.DataFrame
        Text values with English or Chinese headers; ``_row`` and ``_source``
        (as :func:`~sourcegrid.io.tables.read_table` gives) are added when missing.
    name : str
        The library version's name.
    source : str, optional
        Where the library comes from; rows without a ``source`` get it.
    file : str
        The file the table came from.

    Raises
    ------
    InputError
        With every problem of every row; nothing is returned then.
    """
    if not name or not _LIBRARY_NAME.match(str(name)):
        raise InputError([Problem(file or "library", None, "name", str(name), "bad_library_name",
                                  f"expected {REASONS['bad_library_name']}")],
                         summary=f"cannot import library {name!r}")
    frame = frame.copy()
    if ROW not in frame:
        frame.insert(0, ROW, range(2, len(frame) + 2))
    if SOURCE not in frame:
        frame.insert(1, SOURCE, Path(file).name if file else "library")
    written = [c for c in frame.columns if c not in (ROW, SOURCE)]
    renamed = rename_headers(frame, HEADER_ALIASES)
    headers = {new: old for old, new in zip(written, [c for c in renamed.columns
                                                      if c not in (ROW, SOURCE)], strict=True)}
    frame = renamed.reset_index(drop=True)
    label = file or "library"
    summary = f"{Path(label).name} is not a valid coefficient library"

    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        raise InputError([Problem(label, None, column, "", "missing_column",
                                  f"expected {REASONS['missing_column']} (or its Chinese header "
                                  f"{_chinese_header(column)})") for column in missing],
                         summary=summary)
    if frame.empty:
        raise InputError([Problem(label, None, "", "", "empty_file",
                                  "expected at least one data row below the header")],
                         summary=summary)

    check = _Checker(frame, headers)
    text = {c: _text(frame, c) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}

    for column in REQUIRED_COLUMNS:
        check.add(text[column] == "", column, text[column], "missing_value")
    present = {c: text[c] != "" for c in text}

    # industry codes: one or more 4-digit codes, or '*'
    def split_codes(value: str) -> list[str]:
        return [p for p in _CODE_SEPARATORS.split(fold_width(value)) if p]

    codes = _per_value(text["industry_code"], split_codes)

    def bad_codes(parts: list[str]) -> bool:
        return parts != ["*"] and not (parts and all(_CODE.match(p) for p in parts))

    def code_hint(value: str) -> str:
        short = [p for p in split_codes(value) if re.fullmatch(r"\d{1,3}", p)]
        return f"{', '.join(short)} has fewer than 4 digits (a lost leading zero?)" if short else ""

    code_is_bad = _per_value(text["industry_code"],
                             lambda v: bad_codes(split_codes(v)))
    check.add(present["industry_code"] & code_is_bad, "industry_code",
              text["industry_code"], "bad_industry_code", code_hint)

    kind = text["industry_kind"].str.lower().map(INDUSTRY_KINDS)
    check.add(present["industry_kind"] & kind.isna(), "industry_kind", text["industry_kind"],
              "bad_industry_kind")

    category = text["pollutant_category"].str.lower().map(POLLUTANT_CATEGORIES)
    check.add(present["pollutant_category"] & category.isna(), "pollutant_category",
              text["pollutant_category"], "bad_pollutant_category")

    pollutant = _per_value(text["pollutant"], lambda v: canonical_pollutant(v) if v else "")
    expected_category = pollutant.map(POLLUTANT_CATEGORY_OF)
    mismatch = expected_category.notna() & category.notna() & (expected_category != category)
    check.add(mismatch, "pollutant", text["pollutant"], "pollutant_category_mismatch",
              lambda v: f"{v} is a {POLLUTANT_CATEGORY_OF[canonical_pollutant(v)]} pollutant "
                        "but the row's category says otherwise")

    unit, unit_error = _parsed(text["unit"], parse_coefficient_unit)
    check.add(present["unit"] & (text["unit"].map(unit_error) != ""), "unit", text["unit"],
              "bad_unit", unit_error.get)

    coefficient, expression, coefficient_error = _coefficients(text["generation_coefficient"])
    negative = coefficient_error == "negative"
    check.add(present["generation_coefficient"] & negative, "generation_coefficient",
              text["generation_coefficient"], "negative_coefficient")
    bad = present["generation_coefficient"] & (coefficient_error != "") & ~negative
    check.add(bad, "generation_coefficient", text["generation_coefficient"], "bad_coefficient",
              lambda value: _coefficients(pd.Series([value]))[2].iloc[0])

    treatment = text["treatment"].where(~text["treatment"].str.lower().isin(NO_TREATMENT_VALUES),
                                        "")
    efficiency = _per_value(text["removal_efficiency"],
                            lambda v: _number(v) if v else math.nan).astype(float)
    has_treatment = treatment != ""
    unreadable = present["removal_efficiency"] & efficiency.isna()
    check.add(unreadable, "removal_efficiency", text["removal_efficiency"],
              "bad_removal_efficiency", _not_a_number)
    out_of_range = efficiency.notna() & ((efficiency < 0) | (efficiency > 100))
    check.add(out_of_range, "removal_efficiency", text["removal_efficiency"],
              "removal_efficiency_out_of_range")
    check.add(has_treatment & ~present["removal_efficiency"], "removal_efficiency",
              text["removal_efficiency"], "missing_removal_efficiency",
              lambda _: "the row names a treatment but no efficiency")
    check.add(~has_treatment & (efficiency > 0) & ~out_of_range, "treatment", text["treatment"],
              "efficiency_without_treatment",
              lambda _: "the row gives a removal efficiency above 0 but no treatment")

    _, k_error = _parsed(text["k_formula"][present["k_formula"]], parse_expression)
    check.add(present["k_formula"] & (text["k_formula"].map(k_error).fillna("") != ""),
              "k_formula", text["k_formula"], "bad_k_formula", k_error.get)

    scale, scale_error = _parsed(text["scale"], parse_scale)
    check.add(text["scale"].map(scale_error) != "", "scale", text["scale"], "bad_scale",
              scale_error.get)

    product = _any_to_empty(text["product"])
    raw_material = _any_to_empty(text["raw_material"])
    process = _any_to_empty(text["process"])
    section = text["section"]

    # explode industry code lists; duplicates are checked per single code
    good_codes = ~code_is_bad.astype(bool)
    scale_key = _attribute(text["scale"], scale, "key").fillna("")
    keys = pd.DataFrame({
        "position": np.arange(len(frame)), "industry_code": codes.where(good_codes, None),
        "section": section, "product": product, "raw_material": raw_material,
        "process": process, "scale": scale_key, "pollutant": pollutant, "treatment": treatment,
    }).dropna(subset=["industry_code"]).explode("industry_code")
    key_columns = [c for c in keys.columns if c != "position"]
    duplicated = keys.duplicated(subset=key_columns, keep="first")
    if duplicated.any():
        first = keys[~duplicated].set_index(key_columns)["position"]
        rows = frame[ROW].to_numpy()
        repeats = keys[duplicated].drop_duplicates("position")
        for _, repeat in repeats.iterrows():
            position = int(repeat["position"])
            original = int(first.loc[tuple(repeat[key_columns])])
            check.problems.append(Problem(
                str(frame[SOURCE].iloc[position]), int(rows[position]),
                headers.get("industry_code", "industry_code"),
                text["industry_code"].iloc[position], "duplicate_row",
                f"expected {REASONS['duplicate_row']}: industry {repeat['industry_code']}, "
                f"section {repeat['section']!r}, pollutant {repeat['pollutant']}, treatment "
                f"{repeat['treatment'] or '(none)'} repeats row {int(rows[original])}"))

    if check.problems:
        position = {header: i for i, header in enumerate(written)}
        problems = sorted(check.problems, key=lambda p: (p.row or 0, position.get(p.column, 0),
                                                         p.reason))
        raise InputError(problems, summary=summary)

    fallback_source = source or (f"file {Path(file).name}" if file else name)
    rows = pd.DataFrame({
        "library": name,
        "coefficient_row": frame[ROW].astype("int64"),
        "industry_code": codes,
        "industry_kind": kind,
        "section": section,
        "product": product,
        "raw_material": raw_material,
        "process": process,
        "scale": text["scale"].where(_attribute(text["scale"], scale, "unit") != "", ""),
        "scale_min": _attribute(text["scale"], scale, "min").astype(float),
        "scale_min_inclusive": _attribute(text["scale"], scale, "min_inclusive").astype(bool),
        "scale_max": _attribute(text["scale"], scale, "max").astype(float),
        "scale_max_inclusive": _attribute(text["scale"], scale, "max_inclusive").astype(bool),
        "scale_unit": _attribute(text["scale"], scale, "unit"),
        "pollutant_category": category,
        "pollutant": pollutant,
        "unit": text["unit"],
        "basis": _attribute(text["unit"], unit, "basis"),
        "activity_unit": _attribute(text["unit"], unit, "activity_unit"),
        "coefficient_factor": _attribute(text["unit"], unit, "factor").astype(float),
        "generation_coefficient": coefficient.astype(float),
        "generation_expression": expression,
        "treatment": treatment,
        "removal_efficiency": efficiency.fillna(0.0).astype(float) / 100.0,
        "k_formula": text["k_formula"],
        "source": text["source"].where(present["source"], fallback_source),
    })
    extra = [c for c in frame.columns if c not in NORMALIZED_COLUMNS
             and c not in (ROW, SOURCE) and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    for column in extra:
        rows[column] = frame[column]
    rows = rows.explode("industry_code").sort_values(
        ["coefficient_row", "industry_code"], kind="stable", ignore_index=True)
    rows = rows.astype({c: t for c, t in NORMALIZED_COLUMNS.items() if t != "object"})
    return CoefficientLibrary(name=str(name), source=source or fallback_source,
                              imported_at=imported_at or datetime.now(UTC).replace(microsecond=0),
                              file=str(file), rows=rows)


def _not_a_number(value: str) -> str:
    folded = fold_width(value).strip()
    if _DECIMAL_COMMA.match(folded):
        return (f"{value!r} uses a comma; write the decimal point as '.' "
                f"({folded.replace(',', '.')}) and no thousands separator")
    return "not a number"


def _chinese_header(column: str) -> str:
    return next((zh for zh, en in HEADER_ALIASES.items() if en == column), column)


def _coefficients(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(number or NaN, expression text or '', error: '' | 'negative' | message) per value."""
    number, expression, error = {}, {}, {}
    for value in pd.unique(values):
        number[value], expression[value], error[value] = math.nan, "", ""
        if not value:
            continue
        parsed_number = _number(value) if not fold_width(value).endswith("%") else None
        if parsed_number is not None:
            number[value] = parsed_number
            error[value] = "negative" if parsed_number < 0 else ""
            continue
        text = normalize_expression(fold_width(value))
        if _DECIMAL_COMMA.match(fold_width(value)):
            error[value] = _not_a_number(value)
            continue
        try:
            parsed = parse_expression(text)
        except ExpressionError as problem:
            error[value] = str(problem)
            continue
        if parsed.is_constant:
            constant = float(parsed.evaluate({}))
            number[value] = constant
            error[value] = "negative" if constant < 0 else (
                "" if math.isfinite(constant) else f"{value!r} is not a finite number")
        elif {name.lower() for name in parsed.variables} & _NOT_NUMBERS:
            error[value] = f"{value!r} is not a finite number"
        elif text.strip() in parsed.variables:
            error[value] = f"{value!r} is a bare name, neither a number nor an expression"
        else:
            expression[value] = text
    return values.map(number), values.map(expression), values.map(error)


#: Names that spell "not a number" (NaN, inf, NA ...): never formula variables.
_NOT_NUMBERS = {"nan", "inf", "infinity", "na", "n_a", "none", "null", "nil"}


def _read(path: str | Path, sheet: str | int | None) -> pd.DataFrame:
    """Read a table; a sheet given as digits ('0', from the CLI) is a name, else an index."""
    try:
        return read_table(path, sheet=sheet)
    except InputError as error:
        if isinstance(sheet, str) and sheet.isdigit() and all(
                p.reason == "bad_sheet" for p in error.problems):
            return read_table(path, sheet=int(sheet))
        raise


def load_library(path: str | Path, name: str, source: str | None = None,
                 sheet: str | int | None = None) -> CoefficientLibrary:
    """Read, validate and normalize a coefficient library file.

    Parameters
    ----------
    path : str or Path
        A CSV, XLSX or Parquet file in the canonical library format
        (DESIGN.md, "Coefficient library"), English or Chinese headers.
    name : str
        The version's name (e.g. ``'census2017'``).
    source : str, optional
        Where the library comes from (default: the file name).
    sheet : str or int, optional
        The XLSX sheet, by name or index (default: the first).

    Returns
    -------
    CoefficientLibrary

    Raises
    ------
    InputError
        Listing every problem of every row (nothing is loaded).

    References
    ----------
    .. [1] 生态环境部. 排放源统计调查产排污核算方法和系数手册 (公告 2021年 第24号).
    """
    path = Path(path)
    frame = _read(path, sheet)
    return library_from_frame(frame, name, source=source, file=str(path))


def validate_file(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Every problem of a library file as a rejects table (empty when the file is good)."""
    from sourcegrid.errors import problems_frame

    try:
        load_library(path, "validate", sheet=sheet)
    except InputError as error:
        return error.frame
    return problems_frame([])
