"""HJ 633 air quality index (AQI) breakpoint tables, editions 2012 and 2026.

Concentrations are in the internal units: µg/m³, CO in mg/m³.

The two editions, read from the published texts:

- HJ 633-2012 环境空气质量指数（AQI）技术规定（试行）, Table 1 (IAQI and the
  concentration breakpoints), Table 2 (levels, categories, colours), Table A.1
  (RGB colours).
- HJ 633-2026 环境空气质量指数（AQI）技术规定, in force 2026-03-01 (replaces
  the 2012 edition), Table 3 (breakpoints), Table 1 (levels, categories,
  colours), Table A.1 (RGB colours).

The breakpoints of the two editions are the same except PM10 (IAQI 100 at
150 µg/m³ in 2012, 120 in 2026) and PM2.5 (IAQI 100 at 75 µg/m³ in 2012,
60 in 2026), 24-hour (daily) means.

Averaging periods are named ``'1h'`` (1-hour mean), ``'8h'`` (8-hour mean)
and ``'24h'`` (24-hour mean, i.e. a daily mean or a 24-hour moving mean).
Tables are looked up with :func:`breakpoints`; a wrong edition, pollutant or
period raises :class:`~sourcegrid.errors.NotFoundError` listing the valid names.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import numpy as np

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import editions

__all__ = [
    "EDITIONS",
    "EDITION_2026_IN_FORCE",
    "IAQI_LEVELS",
    "BREAKPOINTS_2012",
    "BREAKPOINTS_2026",
    "BREAKPOINTS",
    "PERIODS",
    "LEVELS",
    "CATEGORIES",
    "CATEGORIES_EN",
    "COLOURS",
    "COLOUR_NAMES_ZH",
    "SO2_1H_CEILING",
    "O3_8H_CEILING",
    "SO2_1H_ABOVE_CEILING_IAQI_2026",
    "O3_8H_ABOVE_CEILING_IAQI_2026",
    "AQI_MAX",
    "breakpoints",
    "check_edition",
    "edition_for_date",
]

#: Editions of HJ 633 known to sourcegrid.
EDITIONS = ("2012", "2026")

#: HJ 633-2026 cover page: 2026-03-01 实施 (local date, Asia/Shanghai). Data dated
#: before this use HJ 633-2012.
EDITION_2026_IN_FORCE = dt.date(2026, 3, 1)

#: Averaging periods of the breakpoint tables: 1-hour, 8-hour and 24-hour means.
PERIODS = ("1h", "8h", "24h")

#: IAQI at each breakpoint row (HJ 633-2012 Table 1 and HJ 633-2026 Table 3, first column).
IAQI_LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)

#: Top of the index scale (HJ 633-2026 §4.1.1: AQI ranges 1 to 500).
AQI_MAX = 500

#: SO2 1-hour breakpoints end at 800 µg/m³ (IAQI 200): HJ 633-2012 Table 1 note (2),
#: HJ 633-2026 Table 3 note b.
SO2_1H_CEILING = 800.0
#: O3 8-hour breakpoints end at 800 µg/m³ (IAQI 300): HJ 633-2012 Table 1 note (3),
#: HJ 633-2026 Table 3 note c.
O3_8H_CEILING = 800.0
#: HJ 633-2026 Table 3 note b: SO2 1-hour mean above 800 µg/m³ counts as IAQI 200.
SO2_1H_ABOVE_CEILING_IAQI_2026 = 200
#: HJ 633-2026 Table 3 note c: O3 8-hour mean above 800 µg/m³ counts as IAQI 300.
O3_8H_ABOVE_CEILING_IAQI_2026 = 300

# HJ 633-2012 Table 1 空气质量分指数及对应的污染物项目浓度限值. Concentrations at
# IAQI 0, 50, 100, 150, 200, 300, 400, 500; µg/m³ (CO mg/m³). SO2 1-h stops at
# IAQI 200 (note 2), O3 8-h at IAQI 300 (note 3). The 1-h SO2, NO2 and CO columns are
# for real-time reports only (note 1).
_GASES_2012 = {
    ("SO2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("SO2", "1h"): (0, 150, 500, 650, 800),
    ("NO2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("NO2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("CO", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("CO", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("O3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("O3", "8h"): (0, 100, 160, 215, 265, 800),
}
BREAKPOINTS_2012 = MappingProxyType({
    **_GASES_2012,
    ("PM10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("PM2.5", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
})

# HJ 633-2026 Table 3 空气质量分指数及对应的污染物项目浓度限值. Same layout; the
# gaseous columns are those of 2012, the changes are PM10 daily (IAQI 100 at 120) and
# PM2.5 daily (IAQI 100 at 60).
# SO2 1-h above 800 counts IAQI 200 (note b), O3 8-h above 800 counts IAQI 300
# (note c); SO2, NO2, CO and O3 1-h columns are for real-time reports only (note a).
# Real-time PM10 and PM2.5 1-h means are read against the daily columns (§4.2.4).
BREAKPOINTS_2026 = MappingProxyType({
    **_GASES_2012,
    ("PM10", "24h"): (0, 50, 120, 250, 350, 420, 500, 600),
    ("PM2.5", "24h"): (0, 35, 60, 115, 150, 250, 350, 500),
})

#: Breakpoint tables by edition.
BREAKPOINTS = MappingProxyType({"2012": BREAKPOINTS_2012, "2026": BREAKPOINTS_2026})

#: AQI levels 1-6 with their AQI ranges (HJ 633-2012 Table 2; HJ 633-2026 Table 1). The
#: upper bound of each level; the 6th level is open (> 300).
LEVELS = (1, 2, 3, 4, 5, 6)
LEVEL_UPPER_AQI = (50, 100, 150, 200, 300)
#: 空气质量指数类别 per level (both editions).
CATEGORIES = ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")
CATEGORIES_EN = ("excellent", "good", "lightly polluted", "moderately polluted",
                 "heavily polluted", "severely polluted")
#: 表示颜色 per level, as written in the standards (绿色 ... 褐红色).
COLOUR_NAMES_ZH = ("绿色", "黄色", "橙色", "红色", "紫色", "褐红色")
#: RGB of each level's colour as hex (HJ 633-2012 Table A.1; HJ 633-2026 Table A.1):
#: green 0,228,0; yellow 255,255,0; orange 255,126,0; red 255,0,0; purple 153,0,76;
#: maroon 126,0,35.
COLOURS = ("#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023")


def check_edition(edition: str | int) -> str:
    """The edition as text ('2012' or '2026'); NotFoundError for any other.

    Examples
    --------
    >>> check_edition(2026)
    '2026'
    """
    return editions.check_edition(edition, standard="HJ 633", editions=EDITIONS)


def edition_for_date(date: dt.date) -> str:
    """The HJ 633 edition in force on a (local) date: '2026' from 2026-03-01, else '2012'."""
    return editions.edition_in_force(date, {"2012": dt.date.min, "2026": EDITION_2026_IN_FORCE})


def breakpoints(edition: str | int, pollutant: str, period: str) -> tuple[np.ndarray, np.ndarray]:
    """Concentration breakpoints and the IAQI at each, for one table column.

    Parameters
    ----------
    edition : {'2012', '2026'}
        HJ 633 edition.
    pollutant : {'SO2', 'NO2', 'CO', 'O3', 'PM10', 'PM2.5'}
        Pollutant.
    period : {'1h', '8h', '24h'}
        Averaging period of the column.

    Returns
    -------
    concentration : numpy.ndarray
        Breakpoints [µg/m³; CO mg/m³], increasing.
    iaqi : numpy.ndarray
        IAQI at each breakpoint [-].

    Raises
    ------
    NotFoundError
        Unknown edition, pollutant or period (the message lists the valid ones).

    References
    ----------
    HJ 633-2012 Table 1; HJ 633-2026 Table 3.
    """
    table = BREAKPOINTS[check_edition(edition)]
    pollutants = sorted({p for p, _ in table})
    if pollutant not in pollutants:
        raise NotFoundError("AQI pollutant", pollutant, pollutants)
    periods = sorted(q for p, q in table if p == pollutant)
    if (pollutant, period) not in table:
        raise NotFoundError(f"averaging period for {pollutant}", period, periods)
    concentration = np.asarray(table[pollutant, period], dtype=float)
    return concentration, np.asarray(IAQI_LEVELS[: len(concentration)], dtype=float)
