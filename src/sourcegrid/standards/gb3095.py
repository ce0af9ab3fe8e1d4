"""GB 3095 ambient air quality standard: concentration limits and data validity rules.

Concentrations are in the internal units: µg/m³, CO in mg/m³.

Editions
--------
- GB 3095-2012 环境空气质量标准 (with its 2018 amendment), Table 1 (basic
  items), Table 2 (other items), Table 4 (data validity). The 2012 text is not
  among the texts shipped with sourcegrid; its values are the well-known
  published ones and agree with the 2026 transition columns where the 2026
  foreword says nothing changed (see the tests).
- GB 3095-2026, in force 2026-03-01 (replaces GB 3095-2012), Table 1 (basic
  items, with 过渡阶段浓度限值 transition limits), Table 2 (other items, with
  transition limits for NOx in notes a and b) and Table 4 (data validity). §4.4:
  from 2026-03-01 to 2030-12-31 the transition limits of Table 1 apply; from
  2031-01-01 the limits of Table 1 apply nationwide. The transition limits are
  not only PM: SO2 (Grade II annual 60, daily 150, 1-h 500) and NO2 (annual 40,
  daily 80) are transitional too.

Periods are named ``'annual'`` (年平均), ``'quarterly'`` (季平均, Pb), ``'24h'``
(日平均, 24-hour mean), ``'8h'`` (O3 日最大8小时平均, daily maximum 8-hour mean)
and ``'1h'`` (1小时平均).

The main entry point for other modules is :func:`limits`::

    >>> import datetime
    >>> from sourcegrid.standards.gb3095 import limits
    >>> limits("2012", grade=2)[("PM2.5", "annual")]
    35.0
    >>> limits("2026", grade=2, date=datetime.date(2027, 6, 1))[("PM2.5", "annual")]
    30.0
    >>> limits("2026", grade=2, date=datetime.date(2031, 1, 1))[("PM2.5", "annual")]
    25.0
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import editions

__all__ = [
    "EDITIONS",
    "GRADES",
    "PERIODS",
    "EDITION_2026_IN_FORCE",
    "TRANSITION_END",
    "LIMITS_2012",
    "LIMITS_2026_TRANSITION",
    "LIMITS_2026",
    "VALIDITY",
    "MIN_VALID_HOURS_24H",
    "MIN_VALID_HOURS_8H",
    "MIN_SAMPLING_MINUTES_1H",
    "MIN_VALID_DAYS_YEAR",
    "MIN_VALID_DAYS_MONTH",
    "MIN_VALID_DAYS_FEBRUARY",
    "limits",
    "limit",
    "check_edition",
    "edition_for_date",
]

#: Editions of GB 3095 known to sourcegrid.
EDITIONS = ("2012", "2026")
#: Grades (级别): Grade I for class-1 areas, Grade II for class-2 areas (§4.2).
GRADES = (1, 2)
#: Averaging periods used as keys of the limit tables.
PERIODS = ("annual", "quarterly", "24h", "8h", "1h")
#: GB 3095-2026 cover page: in force 2026-03-01.
EDITION_2026_IN_FORCE = dt.date(2026, 3, 1)
#: GB 3095-2026 §4.4 and foreword: transition limits until 2030-12-31 (inclusive).
TRANSITION_END = dt.date(2030, 12, 31)

# GB 3095-2012 Table 2 (other items): (Grade I, Grade II), µg/m³. GB 3095-2026 keeps
# these values, except NOx after the transition (see LIMITS_2026).
_TABLE_2_2012 = {
    ("TSP", "annual"): (80.0, 200.0),
    ("TSP", "24h"): (120.0, 300.0),
    ("NOx", "annual"): (50.0, 50.0),
    ("NOx", "24h"): (100.0, 100.0),
    ("NOx", "1h"): (250.0, 250.0),
    ("Pb", "annual"): (0.5, 0.5),
    ("Pb", "quarterly"): (1.0, 1.0),
    ("BaP", "annual"): (0.001, 0.001),
    ("BaP", "24h"): (0.0025, 0.0025),
}

# GB 3095-2012 Table 1, the gaseous basic items: (Grade I, Grade II), µg/m³ except CO
# mg/m³; '8h' is the O3 daily maximum 8-hour mean. The transition columns of GB 3095-2026
# Table 1 keep these values (only PM10 and PM2.5 are tightened).
_TABLE_1_GASES_2012 = {
    ("SO2", "annual"): (20.0, 60.0),
    ("SO2", "24h"): (50.0, 150.0),
    ("SO2", "1h"): (150.0, 500.0),
    ("NO2", "annual"): (40.0, 40.0),
    ("NO2", "24h"): (80.0, 80.0),
    ("NO2", "1h"): (200.0, 200.0),
    ("CO", "24h"): (4.0, 4.0),
    ("CO", "1h"): (10.0, 10.0),
    ("O3", "8h"): (100.0, 160.0),
    ("O3", "1h"): (160.0, 200.0),
}

# GB 3095-2012 Table 1 (basic items) and Table 2 (other items): (Grade I, Grade II).
# µg/m³ except CO mg/m³.
LIMITS_2012 = MappingProxyType({
    **_TABLE_1_GASES_2012,
    ("PM10", "annual"): (40.0, 70.0),
    ("PM10", "24h"): (50.0, 150.0),
    ("PM2.5", "annual"): (15.0, 35.0),
    ("PM2.5", "24h"): (35.0, 75.0),
    **_TABLE_2_2012,
})

# GB 3095-2026 Table 1 columns 过渡阶段浓度限值 (一级, 二级), in force 2026-03-01 to
# 2030-12-31 (§4.4); Table 2 with notes a (NOx annual 50) and b (NOx daily 100).
LIMITS_2026_TRANSITION = MappingProxyType({
    **_TABLE_1_GASES_2012,
    ("PM10", "annual"): (40.0, 60.0),
    ("PM10", "24h"): (50.0, 120.0),
    ("PM2.5", "annual"): (15.0, 30.0),
    ("PM2.5", "24h"): (35.0, 60.0),
    # Table 2: notes a and b keep the 2012 NOx values during the transition
    **_TABLE_2_2012,
})

# GB 3095-2026 Table 1 columns 浓度限值 (一级, 二级), nationwide from 2031-01-01 (§4.4);
# Table 2 main values.
LIMITS_2026 = MappingProxyType({
    ("SO2", "annual"): (20.0, 20.0),
    ("SO2", "24h"): (50.0, 50.0),
    ("SO2", "1h"): (150.0, 150.0),
    ("NO2", "annual"): (30.0, 30.0),
    ("NO2", "24h"): (50.0, 50.0),
    ("NO2", "1h"): (200.0, 200.0),
    ("CO", "24h"): (4.0, 4.0),
    ("CO", "1h"): (10.0, 10.0),
    ("O3", "8h"): (100.0, 160.0),
    ("O3", "1h"): (160.0, 200.0),
    ("PM10", "annual"): (20.0, 50.0),
    ("PM10", "24h"): (50.0, 100.0),
    ("PM2.5", "annual"): (10.0, 25.0),
    ("PM2.5", "24h"): (25.0, 50.0),
    # Table 2 main values: NOx tightened, the other items as in 2012
    **_TABLE_2_2012,
    ("NOx", "annual"): (40.0, 40.0),
    ("NOx", "24h"): (70.0, 70.0),
})

# Data validity (GB 3095-2012 Table 4 with the 2018 amendment; GB 3095-2026 Table 4,
# the same rules): minimum data for a valid statistic.
#: 24-hour (daily) mean of SO2, NO2, CO, PM10, PM2.5, NOx: at least 20 hourly means.
MIN_VALID_HOURS_24H = 20
#: O3 8-hour mean: at least 6 hourly means in the 8 hours.
MIN_VALID_HOURS_8H = 6
#: 1-hour mean of SO2, NO2, CO, O3, NOx: at least 45 minutes of sampling in the hour.
MIN_SAMPLING_MINUTES_1H = 45
#: Annual mean of SO2, NO2, PM10, PM2.5, NOx: at least 324 daily means a year ...
MIN_VALID_DAYS_YEAR = 324
#: ... and at least 27 daily means each month ...
MIN_VALID_DAYS_MONTH = 27
#: ... (February: at least 25).
MIN_VALID_DAYS_FEBRUARY = 25

#: The validity rules as text, keyed by (period, pollutants), for reports.
VALIDITY = MappingProxyType({
    ("annual", ("SO2", "NO2", "PM10", "PM2.5", "NOx")):
        "每年至少有324个日平均浓度值；每月至少有27个日平均浓度值（二月至少有25个日平均浓度值）",
    ("24h", ("SO2", "NO2", "CO", "PM10", "PM2.5", "NOx")):
        "每日至少有20个小时平均浓度值或采样时间",
    ("8h", ("O3",)): "每8小时至少有6个小时平均浓度值",
    ("1h", ("SO2", "NO2", "CO", "O3", "NOx")): "每小时至少有45分钟的采样时间",
    ("annual", ("TSP", "BaP", "Pb")):
        "每年至少有分布均匀的60个日平均浓度值；每月至少有分布均匀的5个日平均浓度值",
    ("quarterly", ("Pb",)):
        "每季至少有分布均匀的15个日平均浓度值；每月至少有分布均匀的5个日平均浓度值",
    ("24h", ("TSP", "BaP", "Pb")): "每日应有24小时的采样时间",
})


def check_edition(edition: str | int) -> str:
    """The edition as text ('2012' or '2026'); NotFoundError for any other."""
    return editions.check_edition(edition, standard="GB 3095", editions=EDITIONS)


def edition_for_date(date: dt.date) -> str:
    """The GB 3095 edition in force on a date: '2026' from 2026-03-01, else '2012'."""
    return editions.edition_in_force(date, {"2012": dt.date.min, "2026": EDITION_2026_IN_FORCE})


def limits(edition: str | int | None = None, grade: int = 2,
           date: dt.date | None = None) -> dict[tuple[str, str], float]:
    """Concentration limits of GB 3095 for one grade, as ``{(pollutant, period): limit}``.

    Parameters
    ----------
    edition : {'2012', '2026'} or None
        GB 3095 edition. None picks the edition in force on ``date`` (which is then
        required).
    grade : {1, 2}
        Grade (级别): 1 for class-1 areas, 2 for class-2 areas (residential, commercial,
        industrial, rural) -- the one used for AQI attainment and the composite index.
    date : datetime.date, optional
        Date the limits apply to. For the 2026 edition a date up to 2030-12-31 (or no
        date) gives the transition limits (过渡阶段浓度限值), a date from 2031-01-01 the
        final limits. Ignored for 2012.

    Returns
    -------
    dict
        ``{(pollutant, period): limit}`` with pollutant in SO2, NO2, CO, O3, PM10,
        PM2.5, TSP, NOx, Pb, BaP and period in 'annual', 'quarterly', '24h', '8h'
        (O3 daily maximum 8-hour mean), '1h'; limits in µg/m³ (CO mg/m³). A new dict:
        the caller may change it.

    Raises
    ------
    NotFoundError
        Unknown edition or grade (listing the valid ones).

    References
    ----------
    GB 3095-2012 Tables 1 and 2; GB 3095-2026 Tables 1 and 2 and §4.4.

    Examples
    --------
    >>> limits("2026", grade=2)[("PM10", "24h")]   # transition limit
    120.0
    """
    if edition is None:
        if date is None:
            raise NotFoundError("GB 3095 edition", "None (give an edition or a date)", EDITIONS)
        edition = edition_for_date(date)
    edition = check_edition(edition)
    if grade not in GRADES:
        raise NotFoundError("GB 3095 grade", str(grade), [str(g) for g in GRADES])
    if edition == "2012":
        table = LIMITS_2012
    elif date is None or date <= TRANSITION_END:
        table = LIMITS_2026_TRANSITION
    else:
        table = LIMITS_2026
    return {key: values[grade - 1] for key, values in table.items()}


def limit(pollutant: str, period: str, edition: str | int | None = None, grade: int = 2,
          date: dt.date | None = None) -> float:
    """One limit of :func:`limits`; NotFoundError lists the valid pollutants or periods."""
    table = limits(edition, grade, date)
    pollutants = sorted({p for p, _ in table})
    if pollutant not in pollutants:
        raise NotFoundError("GB 3095 pollutant", pollutant, pollutants)
    if (pollutant, period) not in table:
        raise NotFoundError(f"GB 3095 period for {pollutant}", period,
                            [q for p, q in table if p == pollutant])
    return table[pollutant, period]
