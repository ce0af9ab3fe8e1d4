"""Surface water quality by GB 3838-2002: class per item, section class, basin status.

Internal units: mg/L (pH dimensionless; fecal coliform 个/L). Values enter in
the unit of a ``unit`` column when there is one and are converted with pint.

Steps, each a pure function on pandas tables:

1. :func:`normalize_samples` — long or wide sample table → canonical long table
   (section_id, basin, waterbody, date, parameter, value) plus rejects: every bad
   value (not a number, negative, outside the physical range, unknown item or
   unit) is kept with its row and reason, never dropped silently.
2. :func:`section_means` — the period mean of each item at each section
   (评价办法: the section's period value is the arithmetic mean of its samples).
3. :func:`water_class` — class 1..6 (6 = 劣V) of one item, vectorized.
4. :func:`assess_sections` — class of each item, section class by the single-factor
   rule (worst item), exceeding items with their multiple over the class III
   limit, main pollutants (up to three).
5. :func:`basin_summary` — share of sections in I–III, IV–V and 劣V for a basin or
   province, and the basin status grade.

References
----------
.. [1] GB 3838-2002 地表水环境质量标准, Table 1.
.. [2] 地表水环境质量评价办法（试行）, 环办〔2011〕22号.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, UnitError, problems_frame
from sourcegrid.io.tables import ROW, SOURCE, RowChecks, read_table, with_row_numbers
from sourcegrid.standards.gb3838 import (
    ASSESSMENT_PARAMETERS,
    BASIN_GRADES,
    BASIN_MIN_SECTIONS,
    CLASS_LABELS,
    DO_SATURATION_CLASS_I,
    SECTION_STATUS,
    TABLE_1,
    WATERBODIES,
    WORSE_THAN_V,
    canonical_parameter,
)
from sourcegrid.units import conversion_factor

__all__ = [
    "WaterAssessment",
    "normalize_samples",
    "read_samples",
    "section_means",
    "water_class",
    "exceedance_multiple",
    "assessed_parameters",
    "assess_sections",
    "basin_grade",
    "basin_summary",
    "assess_water",
    "PHYSICAL_RANGES",
    "NO_MULTIPLE",
    "HEADER_ALIASES",
]

#: Plausible values [low, high] in the internal unit; outside is a fault, not water.
#: pH is 0–14; dissolved oxygen above 25 mg/L is beyond supersaturation seen in rivers.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "pH": (0.0, 14.0),
    "DO": (0.0, 25.0),
    "fecal_coliform": (0.0, 1e10),
}
_DEFAULT_RANGE = (0.0, 1e5)

#: Items without an exceedance multiple (评价办法, 主要污染指标的确定: 水温、pH值和溶解氧
#: 等项目不计算超标倍数).
NO_MULTIPLE = ("pH", "DO")

#: Items put first among the main pollutants when they exceed class III (评价办法:
#: 氰化物或铅、铬等重金属超标时，优先作为主要污染指标).
PRIORITY_POLLUTANTS = ("CN", "Pb", "Cr6+", "Hg", "Cd", "As", "Cu", "Zn", "Se")

#: Chinese and variant headers → canonical column names.
HEADER_ALIASES = {
    "断面": "section_id", "断面名称": "section_id", "断面编号": "section_id",
    "section": "section_id", "section_name": "section_id", "点位": "section_id",
    "流域": "basin", "水系": "basin", "河流": "basin", "river": "basin",
    "水体类型": "waterbody", "水体": "waterbody", "waterbody_type": "waterbody",
    "日期": "date", "采样日期": "date", "监测时间": "date", "时间": "date", "time": "date",
    "监测项目": "parameter", "项目": "parameter", "指标": "parameter", "item": "parameter",
    "浓度": "value", "监测值": "value", "数值": "value",
    "单位": "unit",
    "溶解氧饱和率": "do_saturation", "do饱和率": "do_saturation",
}

_WATERBODY_ALIASES = {
    "river": "river", "河流": "river", "河": "river", "运河": "river",
    "lake": "lake", "reservoir": "lake", "湖库": "lake", "湖泊": "lake", "水库": "lake",
    "湖": "lake", "库": "lake",
}

_BELOW_DETECTION = r"^(?:<\s*)?([0-9.]+(?:[eE]-?[0-9]+)?)\s*[Ll]?$"
_NOT_MEASURED = ["", "NA", "N/A", "NAN", "—", "-", "--", "/", "未检测", "未监测"]

SAMPLE_COLUMNS = ["section_id", "basin", "waterbody", "date", "parameter", "value"]


@dataclass
class WaterAssessment:
    """Result of :func:`assess_water`.

    Attributes
    ----------
    parameters : pandas.DataFrame
        One row per section × item: value [mg/L], class, class_label, limit_III,
        exceedance_multiple.
    sections : pandas.DataFrame
        One row per section: class, class_label, status, exceeding, main_pollutants.
    basins : pandas.DataFrame
        One row per basin (or other grouping): sections, share_I_III, share_IV_V,
        share_worse_than_V, per-class counts, grade, method.
    rejects : pandas.DataFrame
        Rejected values with row and reason.
    """

    parameters: pd.DataFrame
    sections: pd.DataFrame
    basins: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: problems_frame([]))


def normalize_samples(frame: pd.DataFrame, *, waterbody: str | None = None,
                      below_detection: str = "reject",
                      source: str = "frame") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long or wide water samples → canonical long samples and rejects.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long (section_id, parameter, value[, unit][, date][, basin][, waterbody]) or wide
        (section_id and one column per GB 3838 item, e.g. 'DO', '氨氮', 'TP') table;
        headers may be Chinese. Unknown columns are kept (e.g. 'province', 'city').
    waterbody : {'river', 'lake'}, optional
        Waterbody of sections without a ``waterbody`` column value (default 'river').
    below_detection : {'reject', 'half'}
        Values below the detection limit, written as the limit with a trailing 'L'
        ('0.01L', the Chinese monitoring convention) or '<0.01': 'reject' (default) keeps
        them in the rejects with reason ``below_detection_limit``; 'half' counts them as
        half the detection limit, a common convention for statistics of non-detects.
    source : str
        Name of the file, for the rejects.

    Returns
    -------
    (samples, rejects)
        samples: section_id, basin, waterbody, date, parameter, value [mg/L], plus the
        extra columns of the input; rejects: source, row, column, value, reason, message.

    Raises
    ------
    InputError
        When the structure is wrong (no section column, no item column), listing every
        structural problem.
    """
    default_waterbody = waterbody or "river"
    if default_waterbody not in WATERBODIES:
        raise NotFoundError("waterbody", default_waterbody, WATERBODIES)
    frame = with_row_numbers(frame, source, HEADER_ALIASES)
    problems = []
    if "section_id" not in frame.columns:
        problems.append(Problem(source, 1, "section_id", "", "missing_column",
                                "required column 'section_id' (断面) is missing"))
    long_format = "parameter" in frame.columns and "value" in frame.columns
    parameter_columns = [c for c in frame.columns
                         if not c.startswith("_") and c not in SAMPLE_COLUMNS
                         and canonical_parameter(c) is not None]
    if not long_format and not parameter_columns:
        problems.append(Problem(source, 1, "", "", "no_parameter_column",
                                "expected a long table (parameter, value columns) or a wide one "
                                f"with a column per GB 3838 item ({', '.join(TABLE_1)})"))
    if problems:
        raise InputError(problems, f"cannot read water samples from {source}")
    for column in ("basin", "waterbody", "date", "unit"):
        if column not in frame.columns:
            frame[column] = None
    extra = [c for c in frame.columns
             if c not in (*SAMPLE_COLUMNS, "unit", "do_saturation", ROW, SOURCE)
             and c not in parameter_columns]
    if long_format:
        long = frame.copy()
        long["_column"] = "value"
    else:
        ids = [ROW, SOURCE, "section_id", "basin", "waterbody", "date", *extra]
        long = frame[ids + parameter_columns].melt(id_vars=ids, var_name="parameter",
                                                   value_name="value")
        long["_column"] = long["parameter"]
        long["unit"] = None
        # an empty cell or a dash in a wide table is 'not measured', not a bad value
        empty = long["value"].isna() | long["value"].astype("string").str.strip().str.upper(
        ).isin(_NOT_MEASURED)
        long = long.loc[~empty]
    long = long.reset_index(drop=True)

    checks = RowChecks(long)
    check = checks.check

    section = long["section_id"].astype("string").str.strip()
    check(section.isna() | (section == ""), "section_id", long["section_id"], "missing_section",
          "expected a section id (断面)")
    # an exact repeat of a sample (same section, date, item, value and unit, e.g. a row
    # pasted twice) is one sample: counted once, the repeat listed as duplicate_sample
    content = pd.DataFrame({
        "section": section, "date": long["date"].astype("string"),
        "parameter": long["parameter"].astype("string").str.strip(),
        "value": long["value"].astype("string").str.strip(),
        "unit": long["unit"].astype("string").str.strip(),
        "basin": long["basin"].astype("string").str.strip(),
        "waterbody": long["waterbody"].astype("string").str.strip()})
    repeated = content.duplicated(keep="first")
    if repeated.any():
        first = content.reset_index().groupby(list(content.columns), dropna=False)[
            "index"].transform("min")
        first_row = pd.Series(long[ROW].to_numpy()[first.to_numpy()], index=long.index)
        message = ("exact duplicate of row " + first_row.loc[repeated].astype(str)
                   + " (same section, date, item and value); counted once")
        check(repeated, long["_column"], long["value"], "duplicate_sample", message)
    kind_text = long["waterbody"].astype("string").str.strip().str.lower()
    kind = kind_text.map(_WATERBODY_ALIASES, na_action="ignore")
    check(kind_text.notna() & kind.isna(), "waterbody", long["waterbody"], "bad_waterbody",
          "expected river (河流) or lake (湖库, 湖泊, 水库)")
    kind = kind.fillna(default_waterbody)
    parameter = long["parameter"].map(canonical_parameter)
    check(parameter.isna(), "parameter", long["parameter"], "unknown_parameter",
          f"expected a GB 3838-2002 Table 1 item: {', '.join(TABLE_1)}")
    value = pd.to_numeric(long["value"], errors="coerce")
    column = long["_column"]
    check(long["value"].isna(), column, long["value"], "missing_value", "expected a number")
    # below the detection limit, written '0.01L' or '<0.01' (the limit itself)
    text = long["value"].astype("string").str.strip()
    limit = pd.to_numeric(text.str.extract(_BELOW_DETECTION, expand=False), errors="coerce")
    below = value.isna() & limit.notna()
    if below_detection == "half":
        value = value.where(~below, limit / 2.0)
    elif below_detection == "reject":
        check(below, column, long["value"], "below_detection_limit",
              "a value below the detection limit ('0.01L', '<0.01') is left out; use "
              "below_detection='half' (CLI --below-detection half) to count it as half "
              "the detection limit")
    else:
        raise NotFoundError("below-detection rule", below_detection, ("half", "reject"))
    check(value.isna() & long["value"].notna() & ~below, column, long["value"],
          "not_a_number", "expected a number")
    factor = pd.Series(1.0, index=long.index)
    unit_text = long["unit"].astype("string").str.strip()
    pairs = pd.DataFrame({"p": parameter, "u": unit_text}).loc[~checks.bad].dropna().drop_duplicates()
    for p, u in pairs.itertuples(index=False):
        target = TABLE_1[p].unit
        mask = (parameter == p) & (unit_text == u) & ~checks.bad
        if not target:  # pH: no unit
            if u not in ("", "无量纲", "-", "pH"):
                check(mask, "unit", unit_text, "bad_unit", "pH has no unit (无量纲)")
            continue
        if target == "个/L":
            if u.replace(" ", "") not in ("个/L", "MPN/L", "CFU/L", "cfu/L"):
                check(mask, "unit", unit_text, "bad_unit",
                      "expected 个/L (count per litre) for fecal coliform")
            continue
        try:
            factor[mask] = conversion_factor(u, "mg/L")
        except UnitError as error:
            check(mask, "unit", unit_text, "bad_unit", f"expected a unit convertible to mg/L ({error})")
    value = value * factor
    low = parameter.map({p: r[0] for p, r in PHYSICAL_RANGES.items()}).fillna(
        _DEFAULT_RANGE[0]).astype(float)
    high = parameter.map({p: r[1] for p, r in PHYSICAL_RANGES.items()}).fillna(
        _DEFAULT_RANGE[1]).astype(float)
    check(value < 0, column, long["value"], "negative_value", "expected a value >= 0")
    check((value > high) | ((value < low) & ~(value < 0)), column, long["value"],
          "out_of_range", "value outside the physical range of the item (see PHYSICAL_RANGES)")
    keep = ~checks.bad
    samples = pd.DataFrame({
        "section_id": section[keep].astype(str),
        "basin": long.loc[keep, "basin"].astype("string").fillna("").astype(str),
        "waterbody": kind[keep].astype(str),
        "date": long.loc[keep, "date"],
        "parameter": parameter[keep].astype(str),
        "value": value[keep].astype(float),
    })
    for name in extra:
        samples[name] = long.loc[keep, name]
    if "do_saturation" in long.columns:
        samples["do_saturation"] = pd.to_numeric(long.loc[keep, "do_saturation"],
                                                 errors="coerce")
    samples = samples.reset_index(drop=True)
    rejected = (pd.concat(checks.rejects, ignore_index=True).drop_duplicates(ignore_index=True)
                if checks.rejects else problems_frame([]))
    return samples, rejected


def read_samples(path, *, sheet=None, waterbody: str | None = None,
                 below_detection: str = "reject"):
    """Read a CSV/Parquet/XLSX file of water samples. See :func:`normalize_samples`."""
    from pathlib import Path

    return normalize_samples(read_table(path, sheet=sheet), waterbody=waterbody,
                             below_detection=below_detection, source=Path(path).name)


def section_means(samples: pd.DataFrame, by: Sequence[str] = ("section_id",)) -> pd.DataFrame:
    """Period mean of each item at each section [mg/L].

    Parameters
    ----------
    samples : pandas.DataFrame
        Canonical samples (see :func:`normalize_samples`).
    by : sequence of str
        Section key columns; 'basin' and 'waterbody' are carried along (first value).

    Returns
    -------
    pandas.DataFrame
        by columns, basin, waterbody, parameter, value (mean), samples (count), and
        do_saturation (mean) when the input has it.

    References
    ----------
    地表水环境质量评价办法（试行）, 数据统计: period values are arithmetic means.
    """
    by = list(by)
    carry = {c: "first" for c in ("basin", "waterbody") if c in samples.columns and c not in by}
    aggregations = {"value": "mean", **carry}
    grouped = samples.groupby([*by, "parameter"], sort=True, dropna=False)
    out = grouped.agg(aggregations)
    out["samples"] = grouped.size()
    if "do_saturation" in samples.columns:
        out["do_saturation"] = grouped["do_saturation"].mean()
    return out.reset_index()


def water_class(parameter: str, values, waterbody: str = "river",
                do_saturation=None) -> np.ndarray:
    """GB 3838-2002 class (1..5, 6 = 劣V) of one item, vectorized.

    Parameters
    ----------
    parameter : str
        Table 1 item (canonical name or alias, e.g. 'NH3-N', '氨氮').
    values : array_like
        Concentrations [mg/L; pH none; fecal coliform 个/L]; NaN gives class 0 (none).
    waterbody : {'river', 'lake'} or array_like of them
        Lakes and reservoirs use their own total phosphorus limits.
    do_saturation : array_like, optional
        Dissolved oxygen saturation [%]; DO is class I when C ≥ 7.5 mg/L *or*
        saturation ≥ 90 % (Table 1 item 3).

    Returns
    -------
    numpy.ndarray of int
        1..5 for classes I..V, 6 for 劣V, 0 where the value is missing.

    Notes
    -----
    Upper-bound items are in class j when C ≤ S_j; dissolved oxygen (a lower bound) when
    C ≥ S_j; pH 6–9 is class I, outside 劣V. Classes sharing a limit give the better class.

    References
    ----------
    GB 3838-2002 Table 1.
    """
    canonical = canonical_parameter(parameter)
    if canonical is None:
        raise NotFoundError("GB 3838-2002 Table 1 item", parameter, TABLE_1)
    item = TABLE_1[canonical]
    x = np.atleast_1d(np.asarray(values, dtype=float))
    kinds = np.broadcast_to(np.asarray(waterbody, dtype=object), x.shape)
    unknown = set(np.unique(kinds.astype(str))) - set(WATERBODIES)
    if unknown:
        raise NotFoundError("waterbody", str(sorted(unknown)[0]), WATERBODIES)
    out = np.zeros(x.shape, dtype=int)
    present = ~np.isnan(x)
    if item.bound == "range":
        low, high = item.river[0]
        out[present] = np.where((x[present] >= low) & (x[present] <= high), 1, WORSE_THAN_V)
        return out
    for kind in WATERBODIES:
        mask = present & (kinds == kind)
        if not mask.any():
            continue
        limits = np.asarray(item.limits(kind), dtype=float)
        if item.bound == "upper":  # class j: C <= S_j; count limits strictly below C
            out[mask] = np.searchsorted(limits, x[mask], side="left") + 1
        else:  # lower bound: class j: C >= S_j; count limits strictly above C
            out[mask] = np.searchsorted(-limits, -x[mask], side="left") + 1
    if canonical == "DO" and do_saturation is not None:
        saturation = np.broadcast_to(np.asarray(do_saturation, dtype=float), x.shape)
        out = np.where(present & (saturation >= DO_SATURATION_CLASS_I), 1, out)
    return out


def exceedance_multiple(parameter: str, values, waterbody: str = "river") -> np.ndarray:
    """Multiple over the class III limit, (C − S_III) / S_III, where C > S_III.

    Returns NaN for items at or better than class III, and always for pH and dissolved
    oxygen (评价办法: 水温、pH值和溶解氧等项目不计算超标倍数).

    References
    ----------
    地表水环境质量评价办法（试行）, 主要污染指标的确定.
    """
    canonical = canonical_parameter(parameter)
    if canonical is None:
        raise NotFoundError("GB 3838-2002 Table 1 item", parameter, TABLE_1)
    x = np.atleast_1d(np.asarray(values, dtype=float))
    if canonical in NO_MULTIPLE:
        return np.full(x.shape, np.nan)
    kinds = np.broadcast_to(np.asarray(waterbody, dtype=object), x.shape)
    limit = np.where(kinds == "lake", TABLE_1[canonical].limits("lake")[2],
                     TABLE_1[canonical].limits("river")[2]).astype(float)
    multiple = (x - limit) / limit
    return np.where(x > limit, multiple, np.nan)


def assessed_parameters(waterbody: str, *, include_total_nitrogen: bool | None = None,
                        include_fecal_coliform: bool = False) -> tuple[str, ...]:
    """Items that set the section class.

    Parameters
    ----------
    waterbody : {'river', 'lake'}
    include_total_nitrogen : bool, optional
        Default (None): True for lakes and reservoirs, False for rivers — national
        assessment practice (评价办法 §一(一): total nitrogen is assessed for lakes and
        reservoirs, not for rivers).
    include_fecal_coliform : bool
        Fecal coliform is a reference item in the 评价办法; True counts it.
    """
    if waterbody not in WATERBODIES:
        raise NotFoundError("waterbody", waterbody, WATERBODIES)
    if include_total_nitrogen is None:
        include_total_nitrogen = waterbody == "lake"
    items = list(ASSESSMENT_PARAMETERS)
    if include_total_nitrogen:
        items.append("TN")
    if include_fecal_coliform:
        items.append("fecal_coliform")
    return tuple(items)


def _classify_rows(means: pd.DataFrame) -> pd.DataFrame:
    """Add class, limit_III and exceedance_multiple to a section × item table."""
    means = means.copy()
    means["class"] = 0
    means["limit_III"] = np.nan
    means["exceedance_multiple"] = np.nan
    saturation = means["do_saturation"] if "do_saturation" in means.columns else None
    for parameter, index in means.groupby("parameter").groups.items():
        rows = means.loc[index]
        sat = None if saturation is None else saturation.loc[index].to_numpy()
        means.loc[index, "class"] = water_class(parameter, rows["value"].to_numpy(),
                                                rows["waterbody"].to_numpy(), sat)
        item = TABLE_1[parameter]
        if item.bound != "range":
            means.loc[index, "limit_III"] = np.where(
                rows["waterbody"].to_numpy() == "lake", item.limits("lake")[2],
                item.limits("river")[2])
        means.loc[index, "exceedance_multiple"] = exceedance_multiple(
            parameter, rows["value"].to_numpy(), rows["waterbody"].to_numpy())
    means["class"] = means["class"].astype(int)
    means["class_label"] = means["class"].map(CLASS_LABELS).fillna("")
    return means


def assess_sections(means: pd.DataFrame, *, by: Sequence[str] = ("section_id",),
                    include_total_nitrogen: bool | None = None,
                    include_fecal_coliform: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Class of each item and of each section by the single-factor rule.

    Parameters
    ----------
    means : pandas.DataFrame
        Output of :func:`section_means` (by columns, waterbody, parameter, value).
    by : sequence of str
        Section key columns.
    include_total_nitrogen, include_fecal_coliform
        See :func:`assessed_parameters`; by default TN counts for lakes and reservoirs only.

    Returns
    -------
    (parameters, sections)
        parameters: one row per section × item with class, class_label, limit_III,
        exceedance_multiple and ``assessed`` (whether it sets the section class).
        sections: by columns, basin, waterbody, class (1..6), class_label, status (优 ...
        重度污染), exceeding ('NH3-N(0.52);TP(0.10)' — multiples over class III, '' for DO and
        pH), main_pollutants (up to three, worst class first, then the larger multiple;
        cyanide and heavy metals first), items (number assessed).

    References
    ----------
    GB 3838-2002 Table 1; 地表水环境质量评价办法（试行）: 断面水质评价 (单因子评价法),
    主要污染指标的确定.
    """
    by = list(by)
    rows = _classify_rows(means)
    assessed = np.zeros(len(rows), dtype=bool)
    for kind in WATERBODIES:
        items = assessed_parameters(kind, include_total_nitrogen=include_total_nitrogen,
                                    include_fecal_coliform=include_fecal_coliform)
        assessed |= (rows["waterbody"] == kind).to_numpy() & rows["parameter"].isin(items).to_numpy()
    rows["assessed"] = assessed & (rows["class"] > 0).to_numpy()
    used = rows.loc[rows["assessed"]]
    keys = by + [c for c in ("basin", "waterbody") if c in rows.columns and c not in by]
    # every section is kept; one without an assessed item gets class 0 and no label
    rows["_assessed_class"] = np.where(rows["assessed"], rows["class"], 0)
    rows["_assessed_item"] = rows["assessed"].astype(int)
    sections = rows.groupby(by, sort=True).agg(
        **{c: (c, "first") for c in keys if c not in by},
        **{"class": ("_assessed_class", "max"), "items": ("_assessed_item", "sum")}
    ).reset_index()
    rows = rows.drop(columns=["_assessed_class", "_assessed_item"])
    sections["class_label"] = sections["class"].map(CLASS_LABELS).fillna("")
    sections["status"] = sections["class"].map(SECTION_STATUS).fillna("")
    exceeding = used.loc[used["class"] > 3].copy()
    exceeding["_priority"] = exceeding["parameter"].isin(PRIORITY_POLLUTANTS)
    exceeding = exceeding.sort_values(
        [*by, "_priority", "class", "exceedance_multiple"],
        ascending=[True] * len(by) + [False, False, False], na_position="last")
    exceeding["_text"] = exceeding["parameter"] + exceeding["exceedance_multiple"].map(
        lambda m: "" if pd.isna(m) else f"({m:.2f})")
    joined = exceeding.groupby(by, sort=False).agg(
        exceeding=("_text", ";".join),
        main_pollutants=("parameter", lambda s: ";".join(s.iloc[:3])))
    sections = sections.merge(joined.reset_index(), on=by, how="left")
    sections[["exceeding", "main_pollutants"]] = sections[["exceeding", "main_pollutants"]].fillna("")
    return rows, sections


def basin_grade(share_i_iii, share_worse_than_v) -> np.ndarray:
    """Basin status grade from the shares [%] of sections in I–III and in 劣V.

    References
    ----------
    地表水环境质量评价办法（试行）, 河流、流域（水系）水质定性评价分级; see
    :data:`sourcegrid.standards.gb3838.BASIN_GRADES`.
    """
    good = np.atleast_1d(np.asarray(share_i_iii, dtype=float))
    worst = np.atleast_1d(np.asarray(share_worse_than_v, dtype=float))
    conditions = [(good >= g_low) & (good < g_high) & (worst >= w_low) & (worst < w_high)
                  for _, (g_low, g_high), (w_low, w_high) in BASIN_GRADES]
    return np.select(conditions, [name for name, _, _ in BASIN_GRADES], default="")


def basin_summary(sections: pd.DataFrame, by: str | Sequence[str] | None = "basin",
                  ) -> pd.DataFrame:
    """Shares of section classes and the status grade per basin (or province, city).

    Parameters
    ----------
    sections : pandas.DataFrame
        Output of :func:`assess_sections` (one row per section with ``class``).
    by : str or sequence of str or None
        Grouping columns; None or [] for one row over all sections.

    Returns
    -------
    pandas.DataFrame
        by columns, sections (classified), class_I .. class_V, class_worse_than_V
        (counts), unclassified (sections without an assessed item, left out of the shares),
        share_I_III, share_IV_V, share_worse_than_V [%], grade, method ('class_shares').

    Notes
    -----
    Shares are 100 × count / sections [%]; a share exactly on a boundary (e.g. 75 %)
    is graded as the 办法 says (75 % is 良好).
    """
    by = [by] if isinstance(by, str) else list(by or [])
    data = sections.copy()
    if not by:
        data["_all"] = "all"
        by_keys = ["_all"]
    else:
        by_keys = by
    counts = pd.crosstab([data[k] for k in by_keys], data["class"]).reindex(
        columns=range(1, 7), fill_value=0)
    counts.columns = ["class_I", "class_II", "class_III", "class_IV", "class_V",
                      "class_worse_than_V"]
    total = counts.sum(axis=1)
    good = counts[["class_I", "class_II", "class_III"]].sum(axis=1)
    middle = counts[["class_IV", "class_V"]].sum(axis=1)
    worst = counts["class_worse_than_V"]
    out = counts.copy()
    out.insert(0, "sections", total)
    # sections without any assessed item (class 0) are counted apart, not in the shares
    out["unclassified"] = (data["class"] == 0).groupby([data[k] for k in by_keys]).sum(
    ).reindex(out.index, fill_value=0).astype(int)
    out["share_I_III"] = 100.0 * good / total
    out["share_IV_V"] = 100.0 * middle / total
    out["share_worse_than_V"] = 100.0 * worst / total
    # 100.0 * count is exact and the division is correctly rounded, so a share that is
    # exactly on a boundary (75 %, 20 %) compares as the exact fraction does
    out["grade"] = basin_grade(out["share_I_III"].to_numpy(),
                               out["share_worse_than_V"].to_numpy())
    out["method"] = "class_shares"
    out = out.reset_index()
    if not by:
        out = out.drop(columns="_all")
    return out


def assess_water(samples: pd.DataFrame, *, by: str | Sequence[str] | None = "basin",
                 include_total_nitrogen: bool | None = None,
                 include_fecal_coliform: bool = False,
                 min_sections: int | None = BASIN_MIN_SECTIONS,
                 rejects: pd.DataFrame | None = None) -> WaterAssessment:
    """Section classes and basin summaries from canonical samples.

    A basin with fewer than 5 sections is graded from the mean concentrations of its
    sections, assessed as one section (评价办法: 断面总数少于5个时 ...), and its
    ``method`` says 'mean_concentration'; its shares are still reported.

    Parameters
    ----------
    samples : pandas.DataFrame
        Output of :func:`normalize_samples`.
    by : str or sequence of str or None
        Grouping of sections for the summary ('basin', 'province', ...; None: all).
    include_total_nitrogen, include_fecal_coliform
        See :func:`assessed_parameters`.
    min_sections : int or None
        Groups with fewer classified sections are graded from mean concentrations (5, the
        办法's rule for a river or basin); None grades every group by class shares (for
        administrative groupings such as a province, where the 办法's river rule does not
        apply).
    """
    group = [by] if isinstance(by, str) else list(by or [])
    overall = not group
    if overall:  # one summary over all sections
        samples = samples.assign(_all="all")
        group = ["_all"]
    means = section_means(samples, by=["section_id", *[g for g in group if g != "basin"]])
    parameters, sections = assess_sections(
        means, by=["section_id", *[g for g in group if g != "basin"]],
        include_total_nitrogen=include_total_nitrogen,
        include_fecal_coliform=include_fecal_coliform)
    basins = basin_summary(sections, by=group)
    small = basins["sections"] < (min_sections or 0)
    if small.any():
        # mean of the section means of each item, classified as one section
        pooled = means.groupby([*group, "parameter"]).agg(
            value=("value", "mean"), waterbody=("waterbody", "first")).reset_index()
        pooled["_key"] = pooled[group].astype(str).agg("|".join, axis=1)
        _, pooled_sections = assess_sections(
            pooled, by=["_key"], include_total_nitrogen=include_total_nitrogen,
            include_fecal_coliform=include_fecal_coliform)
        status = dict(zip(pooled_sections["_key"], pooled_sections["status"], strict=True))
        keys = basins[group].astype(str).agg("|".join, axis=1)
        basins.loc[small, "grade"] = keys[small].map(status).fillna("")
        basins.loc[small, "method"] = "mean_concentration"
    if overall:
        sections = sections.drop(columns="_all")
        parameters = parameters.drop(columns="_all")
        basins = basins.drop(columns="_all")
    return WaterAssessment(parameters, sections, basins,
                           rejects if rejects is not None else problems_frame([]))
