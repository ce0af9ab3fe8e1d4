"""Binding targets (约束性指标) and progress towards them.

A target says: indicator X of region R goes from its base-year value to the
target value by the deadline year, in a direction (decrease for PM2.5 or the
composite index, increase for the good-day ratio or the share of water sections
in classes I–III). Targets are kept in the workspace table ``targets``.

Progress in a year with current value V (base value B in base year y0, target
T by deadline year y1):

- required change      R = T − B
- achieved change      A = V − B
- achieved share       100 · A / R  [%] (100 % = target reached; negative = moved away)
- expected value       E = B + R · (y − y0) / (y1 − y0), the straight line from the base
  to the target (linear trajectory), for the current year y
- on track             V ≤ E for a decrease, V ≥ E for an increase
- met                  V ≤ T for a decrease, V ≥ T for an increase

The indicator's unit is whatever the target was written in (µg/m³, %, days);
the current values must be in the same unit.

Domains: years lie in :data:`YEAR_RANGE`; base, target and current values are
finite and non-negative (every indicator here is a concentration, an index, a count
of days or a share), and at most 100 when the unit is %. The trajectory is a
line between the base year and the deadline only: a year after the deadline is
expected at the target value (never extrapolated past it, which would run to
negative concentrations), a year before the base year at the base value, and the
``year_note`` column says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem

__all__ = [
    "TARGETS_TABLE",
    "TARGET_COLUMNS",
    "DIRECTIONS",
    "YEAR_RANGE",
    "Target",
    "add_target",
    "list_targets",
    "progress",
]

TARGETS_TABLE = "targets"
#: Years a target or a current value may name: the national environmental plans and
#: monitoring records start in the 1970s (1st National Conference on Environmental
#: Protection, 1973); 1900-2100 bounds typing faults such as -5 or 20025.
YEAR_RANGE = (1900, 2100)
DIRECTIONS = ("decrease", "increase")
TARGET_COLUMNS = ["indicator", "region", "base_year", "base_value", "target_value",
                  "deadline_year", "direction", "unit", "note"]


@dataclass(frozen=True)
class Target:
    """One binding target.

    Attributes
    ----------
    indicator : str
        E.g. 'PM2.5', 'good_ratio', 'composite_index', 'water_I_III_share'.
    region : str
        Region name or 6-digit region_code.
    base_year, deadline_year : int
        Base year and the year by which the target is due (deadline > base).
    base_value, target_value : float
        In the indicator's unit.
    direction : {'decrease', 'increase'}, optional
        Default: from the sign of target − base.
    unit : str
        The indicator's unit, for reports ('µg/m³', '%', 'days').
    note : str
        Source of the target (plan, document number).
    """

    indicator: str
    region: str
    base_year: int
    base_value: float
    target_value: float
    deadline_year: int
    direction: str | None = None
    unit: str = ""
    note: str = ""

    def checked(self) -> Target:
        """The target with its direction filled in; every inconsistency is an InputError."""
        problems = []

        def problem(column, value, reason, message):
            problems.append(Problem("target", None, column, str(value), reason, message))

        if not str(self.indicator).strip():
            problem("indicator", self.indicator, "missing_value", "expected an indicator name")
        if not str(self.region).strip():
            problem("region", self.region, "missing_value", "expected a region")
        low_year, high_year = YEAR_RANGE
        for column, year in (("base_year", self.base_year), ("deadline_year", self.deadline_year)):
            if not low_year <= int(year) <= high_year:
                problem(column, year, "bad_year", f"expected a year from {low_year} to {high_year}")
        if int(self.deadline_year) <= int(self.base_year):
            problem("deadline_year", self.deadline_year, "bad_deadline",
                    f"expected a deadline year after the base year {self.base_year}")
        values = [self.base_value, self.target_value]
        percent = str(self.unit).strip() in ("%", "％", "percent")
        for column, value in (("base_value", self.base_value),
                              ("target_value", self.target_value)):
            if not np.isfinite(value):
                problem(column, value, "not_a_number", "expected a finite number")
            elif value < 0:
                problem(column, value, "negative_value", "expected a value >= 0 (a "
                        "concentration, index, count of days or share)")
            elif percent and value > 100:
                problem(column, value, "out_of_range", "expected a share from 0 to 100 %")
        if not all(np.isfinite(values)) or min(values) < 0:
            raise InputError(problems, "invalid target")
        direction = self.direction
        if direction is None:
            direction = "decrease" if self.target_value < self.base_value else "increase"
        if direction not in DIRECTIONS:
            problem("direction", direction, "bad_direction",
                    f"expected one of {', '.join(DIRECTIONS)}")
        elif self.target_value == self.base_value:
            problem("target_value", self.target_value, "no_change",
                    "the target value equals the base value; nothing to achieve")
        elif (direction == "decrease") != (self.target_value < self.base_value):
            problem("direction", direction, "direction_mismatch",
                    f"a {direction} target needs a target value "
                    f"{'below' if direction == 'decrease' else 'above'} the base value "
                    f"{self.base_value}")
        if problems:
            raise InputError(problems, "invalid target")
        return Target(str(self.indicator).strip(), str(self.region).strip(),
                      int(self.base_year), float(self.base_value), float(self.target_value),
                      int(self.deadline_year), direction, self.unit or "", self.note or "")


def list_targets(workspace) -> pd.DataFrame:
    """The targets stored in the workspace (empty table with the columns when none)."""
    if not workspace.has(TARGETS_TABLE):
        return pd.DataFrame(columns=TARGET_COLUMNS)
    frame = workspace.read(TARGETS_TABLE)
    return frame[TARGET_COLUMNS].sort_values(["indicator", "region", "deadline_year"]
                                             ).reset_index(drop=True)


def add_target(workspace, target: Target) -> pd.DataFrame:
    """Store a target; one with the same indicator, region and deadline year is replaced.

    Returns the stored targets.
    """
    target = target.checked()
    existing = list_targets(workspace)
    same = ((existing["indicator"] == target.indicator) & (existing["region"] == target.region)
            & (existing["deadline_year"].astype(int) == target.deadline_year))
    row = pd.DataFrame([asdict(target)], columns=TARGET_COLUMNS)
    frame = pd.concat([existing.loc[~same], row], ignore_index=True) if len(existing) else row
    frame = frame.astype({"base_year": "int64", "deadline_year": "int64",
                          "base_value": "float64", "target_value": "float64"})
    workspace.write(TARGETS_TABLE, frame, mode="replace")
    return list_targets(workspace)


def _check_current(current: pd.DataFrame, targets: pd.DataFrame) -> None:
    """Current values: years in YEAR_RANGE, values finite, >= 0 (<= 100 for % targets)."""
    low_year, high_year = YEAR_RANGE
    rows = current["_row"] if "_row" in current.columns else pd.Series(
        range(2, len(current) + 2), index=current.index)
    value = pd.to_numeric(current["value"], errors="coerce")
    year = pd.to_numeric(current["year"], errors="coerce")
    units = targets.assign(indicator=targets["indicator"].astype(str),
                           region=targets["region"].astype(str)).set_index(
        ["indicator", "region"])["unit"]
    percent_keys = {key for key, unit in units.items() if str(unit).strip() in ("%", "％")}
    keys = list(zip(current["indicator"].astype(str), current["region"].astype(str),
                    strict=True))
    percent = pd.Series([key in percent_keys for key in keys], index=current.index)
    problems = []

    def add(mask, column, reason, message):
        for row, text in zip(rows[mask], current.loc[mask, column], strict=True):
            problems.append(Problem("current values", int(row), column, str(text), reason,
                                    message))

    add(year.notna() & ((year < low_year) | (year > high_year) | (year % 1 != 0)), "year",
        "bad_year", f"expected a year from {low_year} to {high_year}")
    add(value.notna() & ~np.isfinite(value), "value", "not_a_number", "expected a finite number")
    add(value < 0, "value", "negative_value", "expected a value >= 0 (a concentration, index, "
        "count of days or share)")
    add(percent & (value > 100), "value", "out_of_range", "expected a share from 0 to 100 % "
        "(the target is in %)")
    if problems:
        raise InputError(problems, "cannot report target progress")


def progress(targets: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Progress of each target with a current value.

    Parameters
    ----------
    targets : pandas.DataFrame
        Columns of :data:`TARGET_COLUMNS` (see :func:`list_targets`).
    current : pandas.DataFrame
        indicator, region, year, value: the current value of an indicator [target's unit].
        Several years per indicator give one row each.

    Returns
    -------
    pandas.DataFrame
        The target columns plus year, current_value, required_change, achieved_change,
        achieved_share [%], expected_value (linear trajectory, held at its ends),
        year_note, on_track, met, remaining_change (target − current). Targets without a current value are kept
        with NaN/NA (never dropped).
    """
    missing = [c for c in ("indicator", "region", "year", "value") if c not in current.columns]
    if missing:
        raise InputError([Problem("current values", 1, c, "", "missing_column",
                                  f"required column {c!r} is missing") for c in missing],
                         "cannot report target progress")
    unknown = sorted(set(targets["direction"]) - set(DIRECTIONS))
    if unknown:
        raise NotFoundError("target direction", unknown[0], DIRECTIONS)
    _check_current(current, targets)
    now = current[["indicator", "region", "year", "value"]].rename(
        columns={"value": "current_value"})
    now = now.astype({"indicator": str, "region": str})
    out = targets.merge(now, on=["indicator", "region"], how="left")
    base = out["base_value"].astype(float)
    target = out["target_value"].astype(float)
    value = pd.to_numeric(out["current_value"], errors="coerce")
    year = pd.to_numeric(out["year"], errors="coerce")
    decrease = (out["direction"] == "decrease").to_numpy()
    out["required_change"] = target - base
    out["achieved_change"] = value - base
    out["achieved_share"] = 100.0 * out["achieved_change"] / out["required_change"]
    span = out["deadline_year"].astype(float) - out["base_year"].astype(float)
    elapsed = year - out["base_year"].astype(float)
    # the line runs from the base year to the deadline; outside it the expected value is
    # held at its end (never extrapolated past the target)
    out["expected_value"] = base + out["required_change"] * elapsed.clip(lower=0,
                                                                         upper=span) / span
    after, before = (elapsed > span).fillna(False), (elapsed < 0).fillna(False)
    out["year_note"] = ""
    out.loc[after, "year_note"] = ("after the deadline " + out.loc[after, "deadline_year"]
                                   .astype(int).astype(str) + ": expected value held at the "
                                   "target")
    out.loc[before, "year_note"] = ("before the base year " + out.loc[before, "base_year"]
                                    .astype(int).astype(str) + ": expected value held at "
                                    "the base value")
    has_value = value.notna().to_numpy() & year.notna().to_numpy()
    on_track = np.where(decrease, value <= out["expected_value"], value >= out["expected_value"])
    met = np.where(decrease, value <= target, value >= target)
    out["on_track"] = pd.array(np.where(has_value, on_track, False), dtype="boolean")
    out.loc[~has_value, "on_track"] = pd.NA
    out["met"] = pd.array(np.where(has_value, met, False), dtype="boolean")
    out.loc[~has_value, "met"] = pd.NA
    out["remaining_change"] = target - value
    return out
