"""Grading of hotspot cells: a level by concentration and a level by excess over the city.

Two independent grades, each with the numbers that decided it:

* **concentration level** (1-6, 优 ... 严重污染): the cell's period mean read
  against the 24-h IAQI breakpoints of HJ 633 (the concentration at IAQI 50,
  100, 150, 200 and 300), so that a cell's level reads like the AQI category of
  its mean concentration;
* **excess level** (0 none, 1 yellow, 2 orange, 3 red): the ratio of the cell's
  mean to its city's mean, against named ratio thresholds.

Thresholds are named parameter sets (module constants); a wrong name raises
:class:`sourcegrid.errors.NotFoundError` listing the valid names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import hj633

__all__ = [
    "CONCENTRATION_LEVELS",
    "CONCENTRATION_CATEGORIES",
    "EXCESS_LEVELS",
    "EXCESS_NAMES",
    "concentration_level",
    "excess_level",
    "grade_cells",
]

#: Level categories, level 1 to 6 (HJ 633-2012 Table 2 / HJ 633-2026 Table 1).
CONCENTRATION_CATEGORIES = hj633.CATEGORIES

#: Pollutants graded by their 24-h breakpoints.
_GRADED = ("PM2.5", "PM10", "SO2", "NO2", "CO")

#: Upper bounds [ug/m3; CO mg/m3] of levels 1-5 (level 6 above the last): the 24-h
#: breakpoints of HJ 633 at IAQI 50, 100, 150, 200, 300 (HJ 633-2012 Table 1,
#: HJ 633-2026 Table 3; read from :data:`sourcegrid.standards.hj633.BREAKPOINTS`).
#: 'hj633_2012' has PM2.5 35/75/115/150/250; 'hj633_2026' the same except PM2.5 IAQI 100
#: at 60 and PM10 IAQI 100 at 120.
CONCENTRATION_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {
    f"hj633_{edition}": {
        pollutant: tuple(float(c) for c in hj633.BREAKPOINTS[edition][(pollutant, "24h")][1:6])
        for pollutant in _GRADED
    }
    for edition in hj633.EDITIONS
}

#: Names of excess levels 0-3.
EXCESS_NAMES = ("none", "yellow", "orange", "red")

#: Lower bounds of the ratio cell mean / city mean for excess levels 1, 2, 3.
#: 'sourcegrid_default' (1.2, 1.5, 2.0): sourcegrid's own defaults, chosen for
#: illustration -- no national standard fixes these ratios; a bureau sets its
#: own (add a named set here). 'strict' (1.1, 1.3, 1.5): a tighter sourcegrid
#: variant for cities near attainment.
EXCESS_LEVELS: dict[str, tuple[float, float, float]] = {
    "sourcegrid_default": (1.2, 1.5, 2.0),
    "strict": (1.1, 1.3, 1.5),
}


def _concentration_bounds(parameter_set: str, pollutant: str) -> tuple[float, ...]:
    if parameter_set not in CONCENTRATION_LEVELS:
        raise NotFoundError("concentration level set", parameter_set, CONCENTRATION_LEVELS)
    table = CONCENTRATION_LEVELS[parameter_set]
    if pollutant not in table:
        raise NotFoundError(f"pollutant of concentration level set {parameter_set!r}",
                            pollutant, table)
    return table[pollutant]


def _excess_bounds(parameter_set: str) -> tuple[float, float, float]:
    if parameter_set not in EXCESS_LEVELS:
        raise NotFoundError("excess level set", parameter_set, EXCESS_LEVELS)
    return EXCESS_LEVELS[parameter_set]


def concentration_level(concentration, pollutant: str = "PM2.5",
                        parameter_set: str = "hj633_2012") -> np.ndarray:
    """Level 1-6 of a mean concentration (0 where NaN).

    Parameters
    ----------
    concentration : array_like
        Mean concentration [ug/m3; CO mg/m3].
    pollutant : str
        'PM2.5', 'PM10', 'SO2', 'NO2' or 'CO'.
    parameter_set : str
        Name in :data:`CONCENTRATION_LEVELS`.

    Returns
    -------
    numpy.ndarray of int
        1 when c <= bound 1, k when bound k-1 < c <= bound k, 6 above bound 5.

    References
    ----------
    .. [1] HJ 633-2012, Table 1 and Table 2; HJ 633-2026, Tables 3 and 4.
    """
    bounds = np.asarray(_concentration_bounds(parameter_set, pollutant))
    values = np.asarray(concentration, dtype=np.float64)
    levels = np.searchsorted(bounds, values, side="left") + 1
    return np.where(np.isnan(values), 0, levels).astype(np.int64)


def excess_level(ratio, parameter_set: str = "sourcegrid_default") -> np.ndarray:
    """Level 0-3 of the ratio of a cell's mean to its city's mean (0 where NaN).

    Parameters
    ----------
    ratio : array_like
        Cell mean / city mean [-].
    parameter_set : str
        Name in :data:`EXCESS_LEVELS`.

    Returns
    -------
    numpy.ndarray of int
        0 below the first bound, k when ratio >= bound k (bounds inclusive).
    """
    bounds = np.asarray(_excess_bounds(parameter_set))
    values = np.asarray(ratio, dtype=np.float64)
    levels = np.searchsorted(bounds, values, side="right")
    return np.where(np.isnan(values), 0, levels).astype(np.int64)


def grade_cells(cell_means: pd.DataFrame, *, pollutant: str = "PM2.5",
                concentration_set: str = "hj633_2012",
                excess_set: str = "sourcegrid_default") -> pd.DataFrame:
    """Grade each cell by concentration and by excess over its city's mean.

    Parameters
    ----------
    cell_means : pandas.DataFrame
        One row per cell with columns cell_id, mean [ug/m3; CO mg/m3] and
        either ratio_to_city_mean or city_mean (e.g. the output of
        :func:`sourcegrid.grid.hotspots.rank_cells`); other columns are kept.
    pollutant : str
        Pollutant of ``mean``.
    concentration_set : str
        Name in :data:`CONCENTRATION_LEVELS`.
    excess_set : str
        Name in :data:`EXCESS_LEVELS`.

    Returns
    -------
    pandas.DataFrame
        The input plus concentration_level (1-6), concentration_category,
        concentration_lower / concentration_upper (the bounds the mean fell
        between [ug/m3]), excess_level (0-3), excess_name, excess_bound (the
        ratio bound reached, NaN for level 0), and grade_evidence (the numbers
        in words).

    References
    ----------
    .. [1] HJ 633-2012 Table 1; HJ 633-2026 Table 3 (concentration levels).
    """
    missing = [c for c in ("cell_id", "mean") if c not in cell_means.columns]
    if "ratio_to_city_mean" not in cell_means.columns and "city_mean" not in cell_means.columns:
        missing.append("ratio_to_city_mean or city_mean")
    if missing:
        raise ValueError(f"cell_means lacks column(s): {', '.join(missing)}")
    bounds = np.asarray(_concentration_bounds(concentration_set, pollutant))
    ratio_bounds = np.asarray(_excess_bounds(excess_set))
    frame = cell_means.copy()
    if "ratio_to_city_mean" not in frame.columns:
        frame["ratio_to_city_mean"] = frame["mean"] / frame["city_mean"]
    mean = frame["mean"].to_numpy(dtype=np.float64)
    ratio = frame["ratio_to_city_mean"].to_numpy(dtype=np.float64)

    level = concentration_level(mean, pollutant, concentration_set)
    padded_low = np.concatenate([[0.0], bounds])
    padded_high = np.concatenate([bounds, [np.inf]])
    index = np.clip(level - 1, 0, len(bounds))
    frame["concentration_level"] = level
    frame["concentration_category"] = np.where(
        level > 0, np.asarray(CONCENTRATION_CATEGORIES, dtype=object)[index], "")
    frame["concentration_lower"] = np.where(level > 0, padded_low[index], np.nan)
    frame["concentration_upper"] = np.where(level > 0, padded_high[index], np.nan)

    excess = excess_level(ratio, excess_set)
    frame["excess_level"] = excess
    frame["excess_name"] = np.asarray(EXCESS_NAMES, dtype=object)[excess]
    frame["excess_bound"] = np.where(excess > 0, ratio_bounds[np.maximum(excess - 1, 0)], np.nan)

    def number(series: pd.Series) -> pd.Series:
        return series.map(lambda v: "" if pd.isna(v) else f"{v:.4g}")

    lower = number(frame["concentration_lower"])
    upper = frame["concentration_upper"].map(
        lambda v: "inf" if v == np.inf else ("" if pd.isna(v) else f"{v:.4g}"))
    next_bound = pd.Series(
        np.where(excess < len(ratio_bounds), ratio_bounds[np.minimum(excess, len(ratio_bounds) - 1)],
                 np.nan), index=frame.index)
    excess_text = np.where(
        excess > 0,
        "ratio " + number(frame["ratio_to_city_mean"]) + " >= " + number(frame["excess_bound"]),
        "ratio " + number(frame["ratio_to_city_mean"]) + " < " + number(next_bound),
    )
    frame["grade_evidence"] = (
        f"{pollutant} mean " + number(frame["mean"]) + " in (" + lower + ", " + upper + "] -> level "
        + frame["concentration_level"].astype(str) + f" ({concentration_set}); "
        + pd.Series(excess_text, index=frame.index) + " -> " + frame["excess_name"]
        + f" ({excess_set})"
    )
    return frame
