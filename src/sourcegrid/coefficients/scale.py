"""Scale tiers (规模等级): parse the labels and find an enterprise's tier.

The official tables write tiers as ``≥300MW``, ``100-300MW``, ``<100MW``,
``10万吨/年以上``, ``所有规模``. The rules (DESIGN.md, "Scale tiers"):

- ``≥a`` includes a, ``>a`` excludes it; ``≤b`` includes b, ``<b`` excludes it;
- a range ``a-b`` (also ``a～b``, ``a~b``, ``a—b``) includes a and excludes b;
- ``a以上`` / ``a及以上`` is ``≥a`` and ``a以下`` / ``a及以下`` is ``≤b``: in
  Chinese normative texts 以上 and 以下 include the number itself;
- ``a≤X<b`` style double bounds are read as written;
- ``所有规模``, ``所有``, ``不分规模``, ``*`` or empty is any size.

A tier is (min, min_inclusive, max, max_inclusive, unit) with NaN for an
unbounded side; the unit is kept as written (pint-parsable, e.g. ``'MW'``,
``'万吨/年'``) and an enterprise's capacity is converted into it with pint.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sourcegrid.coefficients.model import fold_width
from sourcegrid.errors import SourcegridError, UnitError
from sourcegrid.units import conversion_factor, parse_unit

__all__ = [
    "ScaleTier",
    "ANY_SCALE",
    "ANY_SCALE_TEXTS",
    "AmbiguousTierError",
    "parse_scale",
    "tier_contains",
    "match_tiers",
    "find_tier",
    "overlapping_tiers",
]

#: Labels meaning "any size".
ANY_SCALE_TEXTS = frozenset({"", "所有规模", "所有", "不分规模", "全部规模", "*", "all", "any"})

_NUMBER = r"(\d+(?:\.\d+)?)"
_LOWER_WORDS = {"≥": (True,), ">=": (True,), "＞=": (True,), "大于等于": (True,),
                "不小于": (True,), ">": (False,), "＞": (False,), "大于": (False,)}
_UPPER_WORDS = {"≤": (True,), "<=": (True,), "＜=": (True,), "小于等于": (True,),
                "不大于": (True,), "<": (False,), "＜": (False,), "小于": (False,)}
_PREFIX = re.compile(
    r"^(?P<op>≥|>=|＞=|大于等于|不小于|>|＞|大于|≤|<=|＜=|小于等于|不大于|<|＜|小于)\s*"
    + _NUMBER + r"\s*(?P<unit>.*)$"
)
_SUFFIX = re.compile(r"^" + _NUMBER + r"\s*(?P<unit>.*?)\s*(?P<word>及以上|以上|及以下|以下)$")
_RANGE = re.compile(r"^" + _NUMBER + r"\s*(?P<unit1>[^-～~—–至\d][^-～~—–至]*?)?\s*[-～~—–至]\s*"
                    + _NUMBER + r"\s*(?P<unit2>.*)$")
_DOUBLE = re.compile(
    r"^" + _NUMBER + r"\s*(?P<unit1>[^≤<＜]*?)\s*(?P<op1>≤|<=|<|＜)\s*[^≤<＜\d]*?\s*"
    r"(?P<op2>≤|<=|<|＜)\s*" + _NUMBER + r"\s*(?P<unit2>.*)$"
)


@dataclass(frozen=True)
class ScaleTier:
    """A parsed scale tier.

    Attributes
    ----------
    label : str
        The label as written ('' for any size).
    min, max : float
        Bounds in ``unit`` [unit]; NaN when unbounded.
    min_inclusive, max_inclusive : bool
        Whether a capacity equal to the bound is in the tier.
    unit : str
        Unit of the bounds as written ('' for any size).
    """

    label: str
    min: float
    min_inclusive: bool
    max: float
    max_inclusive: bool
    unit: str

    @property
    def is_any(self) -> bool:
        return math.isnan(self.min) and math.isnan(self.max)

    @property
    def key(self) -> str:
        """A canonical text of the tier: equal for '≥300MW' and '>=300 MW'."""
        if self.is_any:
            return ""
        low = "(-inf" if math.isnan(self.min) else ("[" if self.min_inclusive else "(") + f"{self.min:g}"
        high = "inf)" if math.isnan(self.max) else f"{self.max:g}" + ("]" if self.max_inclusive else ")")
        return f"{low},{high} {self.unit}"

    def contains(self, capacity: float, unit: str | None = None) -> bool:
        """Whether a capacity (in ``unit``, default the tier's) is in this tier."""
        if unit and not self.is_any:
            capacity = capacity * conversion_factor(unit, self.unit)
        return bool(tier_contains(self.min, self.min_inclusive, self.max, self.max_inclusive,
                                  capacity))


ANY_SCALE = ScaleTier("", math.nan, False, math.nan, False, "")


def _number(text: str) -> float:
    return float(text)


def _unit(text: str | None, label: str) -> str:
    unit = (text or "").strip()
    if not unit:
        raise ValueError(f"scale {label!r} has no unit; expected e.g. '≥300MW' or '<10万吨/年'")
    try:
        parse_unit(unit)
    except UnitError as error:
        raise ValueError(f"scale {label!r}: {error}") from None
    return unit


@lru_cache(maxsize=4096)
def parse_scale(text: str | None) -> ScaleTier:
    """Parse a scale tier label into numeric bounds with a unit.

    Parameters
    ----------
    text : str or None
        ``'≥300MW'``, ``'>300MW'``, ``'<10万吨/年'``, ``'≤10万吨/年'``, ``'100-300MW'``,
        ``'100～300MW'``, ``'10万吨/年以上'``, ``'100MW≤X<300MW'``, ``'所有规模'``, ``''``.

    Returns
    -------
    ScaleTier

    Raises
    ------
    ValueError
        When the label is none of the forms above, a range is empty or
        reversed, or the unit is not a unit; the message says what is expected.

    References
    ----------
    .. [1] DESIGN.md, "Scale tiers"; 第二次全国污染源普查 工业污染源产排污系数手册 (规模等级 column).
    """
    label = "" if text is None else str(text).strip()
    cleaned = (fold_width(label).replace("＞", ">").replace("＜", "<").replace("＝", "=")
               .replace("≧", "≥").replace("≦", "≤").replace(" ", ""))
    if cleaned.lower() in ANY_SCALE_TEXTS:
        return ScaleTier(label, math.nan, False, math.nan, False, "")

    if match := _PREFIX.match(cleaned):
        op, value, unit = match.group("op"), _number(match.group(2)), _unit(match.group("unit"), label)
        if op in _LOWER_WORDS:
            return ScaleTier(label, value, _LOWER_WORDS[op][0], math.nan, False, unit)
        return ScaleTier(label, math.nan, False, value, _UPPER_WORDS[op][0], unit)

    if match := _SUFFIX.match(cleaned):
        value, unit = _number(match.group(1)), _unit(match.group("unit"), label)
        if match.group("word").endswith("以上"):
            return ScaleTier(label, value, True, math.nan, False, unit)
        return ScaleTier(label, math.nan, False, value, True, unit)

    if match := _DOUBLE.match(cleaned):
        low, high = _number(match.group(1)), _number(match.group(5))
        unit = _range_unit(match.group("unit1"), match.group("unit2"), label)
        tier = ScaleTier(label, low, match.group("op1") in ("≤", "<="), high,
                         match.group("op2") in ("≤", "<="), unit)
        return _checked_range(tier)

    if match := _RANGE.match(cleaned):
        low, high = _number(match.group(1)), _number(match.group(3))
        unit = _range_unit(match.group("unit1"), match.group("unit2"), label)
        return _checked_range(ScaleTier(label, low, True, high, False, unit))

    raise ValueError(
        f"cannot read scale tier {label!r}; expected '≥a', '>a', '≤b', '<b', 'a-b' or 'a～b' "
        "with a unit (e.g. '≥300MW', '100-300MW', '<10万吨/年'), 'a以上', 'a以下', or 所有规模"
    )


def _range_unit(first: str | None, second: str | None, label: str) -> str:
    first, second = (first or "").strip(), (second or "").strip()
    if first and second and first != second:
        raise ValueError(f"scale {label!r} has two different units {first!r} and {second!r}; "
                         "expected one unit, e.g. '100-300MW'")
    return _unit(second or first, label)


def _checked_range(tier: ScaleTier) -> ScaleTier:
    if not tier.min < tier.max:
        raise ValueError(f"scale {tier.label!r}: lower bound {tier.min:g} is not below upper "
                         f"bound {tier.max:g}; expected 'a-b' with a < b")
    return tier


def _is_ibis(value: Any) -> bool:
    return type(value).__module__.startswith("ibis.")


def tier_contains(scale_min: Any, scale_min_inclusive: Any, scale_max: Any,
                  scale_max_inclusive: Any, capacity: Any) -> Any:
    """Whether each capacity lies in its tier (vectorized; NumPy or Ibis).

    Parameters
    ----------
    scale_min, scale_max : array_like or ibis column
        Tier bounds [tier unit]; NaN (NULL in Ibis) where unbounded.
    scale_min_inclusive, scale_max_inclusive : array_like of bool or ibis column
        Whether the bound itself belongs to the tier.
    capacity : array_like or ibis column
        Capacities already in the tier's unit [tier unit]. A missing capacity is
        only in a tier without bounds (any size).

    Returns
    -------
    numpy.ndarray of bool, or an ibis boolean column
    """
    if any(_is_ibis(v) for v in (scale_min, scale_max, capacity)):
        import ibis

        def unbounded(bound: Any) -> Any:
            if not _is_ibis(bound):
                return ibis.literal(bool(np.isnan(bound)))
            return bound.isnull() | bound.isnan()

        lower = unbounded(scale_min) | (capacity > scale_min) | (
            (capacity == scale_min) & scale_min_inclusive)
        upper = unbounded(scale_max) | (capacity < scale_max) | (
            (capacity == scale_max) & scale_max_inclusive)
        return (lower & upper).fill_null(False)

    low = np.asarray(scale_min, dtype=float)
    high = np.asarray(scale_max, dtype=float)
    cap = np.asarray(capacity, dtype=float)
    low_in = np.asarray(scale_min_inclusive, dtype=bool)
    high_in = np.asarray(scale_max_inclusive, dtype=bool)
    with np.errstate(invalid="ignore"):
        lower = np.isnan(low) | (cap > low) | ((cap == low) & low_in)
        upper = np.isnan(high) | (cap < high) | ((cap == high) & high_in)
    return lower & upper


class AmbiguousTierError(SourcegridError, ValueError):
    """A capacity that falls in two or more tiers of one combination."""

    def __init__(self, capacity: float, unit: str, labels: list[str]) -> None:
        self.capacity, self.unit, self.labels = capacity, unit, labels
        super().__init__(f"capacity {capacity:g} {unit} falls in {len(labels)} scale tiers "
                         f"({', '.join(repr(x) for x in labels)}); the tiers overlap, expected "
                         "exactly one")


def _capacity_in_tier_units(tier_units: pd.Series, capacity: np.ndarray,
                            capacity_unit: np.ndarray) -> np.ndarray:
    """Capacity converted into each tier's unit (NaN where not convertible)."""
    out = np.full(len(tier_units), np.nan)
    pairs = pd.DataFrame({"tier": tier_units.to_numpy(), "cap": capacity_unit})
    for (tier_unit, cap_unit), index in pairs.groupby(["tier", "cap"], sort=False).indices.items():
        if not tier_unit:
            out[index] = capacity[index]
            continue
        try:
            factor = conversion_factor(cap_unit, tier_unit) if cap_unit else math.nan
        except UnitError:
            factor = math.nan
        out[index] = capacity[index] * factor
    return out


def match_tiers(tiers: pd.DataFrame, capacity: float, capacity_unit: str) -> np.ndarray:
    """Which of a combination's tiers contain one capacity.

    Parameters
    ----------
    tiers : pandas.DataFrame
        Rows with ``scale_min``, ``scale_min_inclusive``, ``scale_max``,
        ``scale_max_inclusive`` and ``scale_unit`` (a normalized library table).
    capacity : float
        The enterprise's capacity [capacity_unit].
    capacity_unit : str
        Its unit, e.g. ``'MW'``, ``'万千瓦'``, ``'万吨/年'``. A unit that does not
        convert to a tier's unit is never in that tier.

    Returns
    -------
    numpy.ndarray of bool, one per row of ``tiers``.
    """
    n = len(tiers)
    capacity_in_units = _capacity_in_tier_units(
        tiers["scale_unit"].fillna(""), np.full(n, float(capacity)), np.full(n, capacity_unit or "",
                                                                              dtype=object))
    return tier_contains(tiers["scale_min"], tiers["scale_min_inclusive"], tiers["scale_max"],
                         tiers["scale_max_inclusive"], capacity_in_units)


def find_tier(tiers: pd.DataFrame, capacity: float, capacity_unit: str) -> Any:
    """The index label of the one tier that contains a capacity, or None.

    The tiers are the distinct scale tiers of one combination (drop
    duplicates on the scale columns first when a combination has several
    pollutants). A tier of any size (所有规模) only wins when no bounded tier
    contains the capacity.

    Raises
    ------
    AmbiguousTierError
        When two or more bounded tiers contain the capacity.
    """
    inside = match_tiers(tiers, capacity, capacity_unit)
    bounded = ~(tiers["scale_min"].isna() & tiers["scale_max"].isna()).to_numpy()
    hits = tiers.index[inside & bounded]
    if len(hits) > 1:
        labels = tiers.loc[hits, "scale"].astype(str).tolist() if "scale" in tiers else []
        raise AmbiguousTierError(float(capacity), capacity_unit, labels)
    if len(hits) == 1:
        return hits[0]
    any_size = tiers.index[inside & ~bounded]
    return any_size[0] if len(any_size) else None


#: The columns that make one combination's set of tiers (all but the scale).
TIER_GROUP_COLUMNS = ["industry_code", "section", "product", "raw_material", "process",
                      "pollutant", "treatment"]


def overlapping_tiers(rows: pd.DataFrame) -> pd.DataFrame:
    """Pairs of scale tiers of one combination that share some capacity.

    Not an error in itself (official tables write '10万吨/年以上' and '10万吨/年以下',
    which share 10 万吨/年 by the inclusive reading of 以上/以下), but an enterprise
    whose capacity falls in both is ambiguous, so a library check lists them.

    Parameters
    ----------
    rows : pandas.DataFrame
        A normalized library table.

    Returns
    -------
    pandas.DataFrame
        The combination columns, ``scale_a``, ``scale_b``, ``coefficient_row_a``,
        ``coefficient_row_b`` and ``message``; empty when no tiers overlap.
    """
    columns = TIER_GROUP_COLUMNS + ["scale_a", "scale_b", "coefficient_row_a",
                                    "coefficient_row_b", "message"]
    tier_columns = ["scale", "scale_min", "scale_min_inclusive", "scale_max",
                    "scale_max_inclusive", "scale_unit", "coefficient_row"]
    bounded = rows[rows["scale_unit"].fillna("") != ""]
    tiers = bounded[TIER_GROUP_COLUMNS + tier_columns].drop_duplicates(
        TIER_GROUP_COLUMNS + ["scale"])
    pairs = tiers.merge(tiers, on=TIER_GROUP_COLUMNS, suffixes=("_a", "_b"))
    pairs = pairs[pairs["scale_a"] < pairs["scale_b"]].reset_index(drop=True)
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    factor = np.full(len(pairs), np.nan)
    for (unit_b, unit_a), index in pairs.groupby(["scale_unit_b", "scale_unit_a"]).indices.items():
        try:
            factor[index] = conversion_factor(unit_b, unit_a)
        except UnitError:
            pass
    convertible = ~np.isnan(factor)
    low_a = pairs["scale_min_a"].fillna(-np.inf).to_numpy()
    high_a = pairs["scale_max_a"].fillna(np.inf).to_numpy()
    low_b = pairs["scale_min_b"].fillna(-np.inf).to_numpy() * np.where(convertible, factor, 1)
    high_b = pairs["scale_max_b"].fillna(np.inf).to_numpy() * np.where(convertible, factor, 1)
    low_in_a, low_in_b = pairs["scale_min_inclusive_a"].to_numpy(), pairs["scale_min_inclusive_b"].to_numpy()
    high_in_a, high_in_b = pairs["scale_max_inclusive_a"].to_numpy(), pairs["scale_max_inclusive_b"].to_numpy()
    low = np.maximum(low_a, low_b)
    low_in = np.where(low_a > low_b, low_in_a, np.where(low_b > low_a, low_in_b, low_in_a & low_in_b))
    high = np.minimum(high_a, high_b)
    high_in = np.where(high_a < high_b, high_in_a,
                       np.where(high_b < high_a, high_in_b, high_in_a & high_in_b))
    overlap = convertible & ((low < high) | ((low == high) & low_in & high_in))
    found = pairs[overlap].copy()
    shared = [
        ("[" if li else "(") + (f"{lo:g}" if np.isfinite(lo) else "-inf") + ", "
        + (f"{hi:g}" if np.isfinite(hi) else "inf") + ("]" if hi_in else ")")
        for lo, li, hi, hi_in in zip(low[overlap], low_in[overlap], high[overlap],
                                     high_in[overlap], strict=True)]
    found["message"] = [
        f"scale tiers {a!r} and {b!r} overlap: capacities in {interval} {unit} fall in both"
        for a, b, interval, unit in zip(found["scale_a"], found["scale_b"], shared,
                                        found["scale_unit_a"], strict=True)]
    return found[columns].reset_index(drop=True)
