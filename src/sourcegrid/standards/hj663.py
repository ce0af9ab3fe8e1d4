"""HJ 663-2013 ambient air quality assessment: the composite index and its statistics.

Internal units: µg/m³, except CO in mg/m³ (as GB 3095).

The environmental air quality composite index (环境空气质量综合指数) sums the
single-item indices I_i = C_i / S_i of the six basic pollutants:

- C_i for SO2, NO2, PM10 and PM2.5 is the mean of the daily means of the period;
- C_i for CO is the 95th percentile of the daily means;
- C_i for O3 is the 90th percentile of the daily maximum 8-hour means;

and S_i is the GB 3095 Grade II limit: the annual limit for SO2, NO2, PM10 and
PM2.5, the 24-hour limit for CO and the daily maximum 8-hour limit for O3.
Percentiles follow HJ 663-2013 Appendix A (see
:func:`sourcegrid.quality.percentile.hj663_percentile`).

Data validity (GB 3095-2026 Table 4, read from the PDF; the same numbers as
GB 3095-2012 Table 4): an annual mean needs at least 324 daily means in the
year and at least 27 in every month (25 in February); the constants are in
:mod:`sourcegrid.standards.gb3095`.

References
----------
.. [1] HJ 663-2013 环境空气质量评价技术规范（试行）, §4 评价项目 (Table 1: annual
   statistics SO2, NO2, PM10, PM2.5 annual means; CO daily-mean 95th percentile; O3 daily
   max 8-h 90th percentile), §5 评价方法, Appendix A (规范性附录, 数据统计方法: percentile
   formulas A.1, A.2). The HJ 663 text is not among the texts shipped with sourcegrid;
   the rule is as DESIGN.md states it.
.. [2] 城市环境空气质量排名技术规定 (环办监测〔2018〕19号): composite index
   I_sum = Σ I_i, I_i = C_i / S_i; ties share a rank (并列); weights 3 for PM2.5 and 2 for
   NO2 and O3 in the 2018 ranking variant.
.. [3] GB 3095-2026 环境空气质量标准, Table 1 (limits, transition limits until 2030-12-31,
   §4.4) and Table 4 (data validity).
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from sourcegrid.errors import NotFoundError

__all__ = [
    "COMPOSITE_POLLUTANTS",
    "COMPOSITE_STATISTICS",
    "COMPOSITE_WEIGHTS",
    "COMPOSITE_LIMIT_PERIODS",
    "composite_limits",
    "composite_weights",
]

#: The six basic pollutants of the composite index, in reporting order.
COMPOSITE_POLLUTANTS: tuple[str, ...] = ("SO2", "NO2", "PM10", "PM2.5", "CO", "O3")

#: Period statistic of each pollutant: ('mean', None) or ('percentile', p [%]).
#: HJ 663-2013 §4 Table 1 (annual assessment items); O3 is the daily max 8-h mean series.
COMPOSITE_STATISTICS = MappingProxyType({
    "SO2": ("mean", None),
    "NO2": ("mean", None),
    "PM10": ("mean", None),
    "PM2.5": ("mean", None),
    "CO": ("percentile", 95.0),
    "O3": ("percentile", 90.0),
})

#: The GB 3095 averaging period whose Grade II limit is S_i (城市环境空气质量排名技术规定).
COMPOSITE_LIMIT_PERIODS = MappingProxyType({
    "SO2": "annual",
    "NO2": "annual",
    "PM10": "annual",
    "PM2.5": "annual",
    "CO": "24h",
    "O3": "8h",
})

#: Weights of the single-item indices. 'equal': HJ 663 / 2014 ranking rule (all 1);
#: 'ranking_2018': 城市环境空气质量排名技术规定 (环办监测〔2018〕19号), PM2.5 3, NO2 2, O3 2.
COMPOSITE_WEIGHTS = MappingProxyType({
    "equal": MappingProxyType({p: 1.0 for p in COMPOSITE_POLLUTANTS}),
    "ranking_2018": MappingProxyType({"SO2": 1.0, "NO2": 2.0, "PM10": 1.0, "PM2.5": 3.0,
                                      "CO": 1.0, "O3": 2.0}),
})

def composite_limits(edition: str | None = None, date: dt.date | None = None) -> dict[str, float]:
    """Grade II limits S_i of the composite index for a GB 3095 edition.

    Parameters
    ----------
    edition : {'2012', '2026'} or None
        GB 3095 edition; None picks the edition in force on ``date``.
    date : datetime.date, optional
        A date in the assessed period; for edition '2026' the transition limits apply up to
        2030-12-31 (GB 3095-2026 §4.4) and when no date is given.

    Returns
    -------
    dict
        Pollutant → S_i [µg/m³; CO mg/m³]: annual limits for SO2, NO2, PM10, PM2.5;
        24-h for CO; daily max 8-h for O3. For example 2012: SO2 60, NO2 40, PM10 70,
        PM2.5 35, CO 4, O3 160; 2026 transition: PM10 60, PM2.5 30, the others as 2012;
        2026 from 2031: SO2 20, NO2 30, PM10 50, PM2.5 25, CO 4, O3 160.

    References
    ----------
    GB 3095-2012 Table 1; GB 3095-2026 Table 1 and §4.4 (via
    :func:`sourcegrid.standards.gb3095.limits`); 城市环境空气质量排名技术规定.
    """
    from sourcegrid.standards import gb3095

    table = gb3095.limits(edition, grade=2, date=date)
    return {pollutant: float(_lookup(table, pollutant, period))
            for pollutant, period in COMPOSITE_LIMIT_PERIODS.items()}


_PERIOD_ALIASES = {
    "annual": ("annual", "year", "年平均"),
    "24h": ("24h", "24-h", "daily", "day", "日平均", "24 h"),
    "8h": ("8h", "8-h", "max8h", "8h_max", "daily_max_8h", "日最大8小时平均", "8 h"),
}


def _lookup(table: dict, pollutant: str, period: str) -> float:
    for alias in _PERIOD_ALIASES[period]:
        if (pollutant, alias) in table:
            return table[(pollutant, alias)]
    raise NotFoundError(f"GB 3095 limit of {pollutant}", period, [f"{k[0]} {k[1]}" for k in table])


def composite_weights(name: str = "equal") -> dict[str, float]:
    """Weights of the single-item indices: 'equal' (HJ 663) or 'ranking_2018'."""
    if name not in COMPOSITE_WEIGHTS:
        raise NotFoundError("composite index weighting", name, COMPOSITE_WEIGHTS)
    return dict(COMPOSITE_WEIGHTS[name])
