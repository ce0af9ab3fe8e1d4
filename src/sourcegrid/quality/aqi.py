"""Air quality index (AQI, 空气质量指数) per HJ 633, editions 2012 and 2026.

Three layers:

- :func:`iaqi` reads concentrations against one breakpoint column (HJ 633-2012
  Table 1, HJ 633-2026 Table 3), with each edition's special rules and rounding;
- :func:`hourly` (real-time report, 实时报) and :func:`daily` (daily report, 日报)
  turn hourly readings in the observation format into AQI reports per site;
- :func:`level`, :func:`report` give levels, categories, colours and primary
  pollutants from IAQI values; :func:`summary` counts days or hours per category.

Hourly means are averaged as :mod:`sourcegrid.quality.averaging` describes (GB 3095
validity rules; calendar days in Beijing time).

Edition
-------
The edition follows the date of the data: a reading or a day dated (Beijing time)
before 2026-03-01 uses HJ 633-2012, from 2026-03-01 HJ 633-2026; a run spanning
both uses each row's own edition. ``edition='2012'`` or ``'2026'`` forces one.

Averaging periods
-----------------
:func:`iaqi` takes ``period`` as one of these names:

============  =====================================================  ============
period        meaning                                                table column
============  =====================================================  ============
'1h'          1-hour mean (real-time report)                         1-hour
'1h_max'      daily maximum 1-hour mean (O3, 2012 daily report)      1-hour
'8h'          8-hour mean, 8-hour moving mean (O3)                   8-hour
'8h_moving'   same as '8h'                                           8-hour
'8h_max'      daily maximum 8-hour mean (O3, daily report)           8-hour
'24h'         24-hour mean: daily mean or 24-hour moving mean        24-hour
'24h_moving'  24-hour moving mean (PM, 2012 real-time report)        24-hour
'daily'       daily (calendar day) mean                              24-hour
============  =====================================================  ============

In the 2026 edition the 1-hour means of PM10 and PM2.5 are read against the daily
(24-hour) columns (HJ 633-2026 §4.2.4); in 2012 PM has no 1-hour column.

Output of :func:`hourly` and :func:`daily`
------------------------------------------
``time`` (UTC, labelled as the input: start of the hour, or its end with
``hour_ending``; hourly) or ``date`` (Beijing calendar day; daily), site_id
(categorical), edition ('2012' or '2026'), aqi, level (1-6), category (优 ... 严重污染),
category_en, colour (RGB hex of HJ 633 Table A.1), primary_pollutant (';'-joined on
ties, '' when AQI <= 50), nonattainment (2012: pollutants with IAQI > 100, ';'-joined;
NA in 2026, which dropped the notion), ``iaqi_<indicator>`` per indicator and the
concentration of each indicator [µg/m³; CO mg/m³] under the indicator's name.

Indicators (concentration column names) are SO2_1h, NO2_1h, CO_1h, O3_1h, PM10_1h,
PM2.5_1h, O3_8h, SO2_24h, PM10_24h, PM2.5_24h (hourly) and SO2_24h, NO2_24h, CO_24h,
PM10_24h, PM2.5_24h, O3_1h_max, O3_8h_max (daily). IAQI columns are named by
pollutant, with O3 split by period: iaqi_SO2, iaqi_NO2, iaqi_CO, iaqi_PM10,
iaqi_PM2.5, iaqi_O3_1h, iaqi_O3_8h. In hourly 2012 reports iaqi_SO2 is the SO2 24-hour
IAQI when the SO2 1-hour mean is above 800 µg/m³ (Table 1 note 2).

References
----------
HJ 633-2012 环境空气质量指数（AQI）技术规定（试行）: Table 1, Table 2, §4.2, §4.4,
§5.1.2, §5.1.3, §6.2, Table A.1.
HJ 633-2026 环境空气质量指数（AQI）技术规定: Table 1, Table 3, §4.2.2-4.2.6, §4.3,
§5.3.1-5.3.2, Table A.1.
GB/T 8170 数值修约规则 (round half to even).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.quality.averaging import AQI_POLLUTANTS, HOURS_PER_DAY, HourlyGrid
from sourcegrid.standards import gb3095, hj633

__all__ = [
    "PERIODS",
    "INDICATORS",
    "IAQI_COLUMNS",
    "CONCENTRATION_DECIMALS_2026",
    "iaqi",
    "round_concentration",
    "level",
    "report",
    "hourly",
    "daily",
    "edition_of_dates",
    "summary",
]

#: Period names accepted by :func:`iaqi` and the breakpoint column each reads.
PERIODS = {
    "1h": "1h", "1h_max": "1h",
    "8h": "8h", "8h_moving": "8h", "8h_max": "8h",
    "24h": "24h", "24h_moving": "24h", "daily": "24h",
}

#: HJ 633-2026 §4.2.2: concentrations rounded per GB/T 8170 to integers (µg/m³) and CO
#: (mg/m³) to one decimal before the IAQI.
CONCENTRATION_DECIMALS_2026 = {"SO2": 0, "NO2": 0, "O3": 0, "PM10": 0, "PM2.5": 0, "CO": 1}

#: IAQI columns of the reports, and the pollutant each belongs to.
IAQI_COLUMNS = {
    "iaqi_SO2": "SO2", "iaqi_NO2": "NO2", "iaqi_CO": "CO", "iaqi_PM10": "PM10",
    "iaqi_PM2.5": "PM2.5", "iaqi_O3_1h": "O3", "iaqi_O3_8h": "O3",
}
#: Pollutant order for primary pollutants and non-attainment lists.
_ORDER = ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")

#: Indicators of each report and edition: IAQI column -> (concentration column, period).
INDICATORS = {
    ("hourly", "2012"): {  # HJ 633-2012 §5.1.3
        "iaqi_SO2": ("SO2_1h", "1h"), "iaqi_NO2": ("NO2_1h", "1h"), "iaqi_CO": ("CO_1h", "1h"),
        "iaqi_O3_1h": ("O3_1h", "1h"), "iaqi_O3_8h": ("O3_8h", "8h"),
        "iaqi_PM10": ("PM10_24h", "24h"), "iaqi_PM2.5": ("PM2.5_24h", "24h"),
    },
    ("hourly", "2026"): {  # HJ 633-2026 §4.2.3
        "iaqi_SO2": ("SO2_1h", "1h"), "iaqi_NO2": ("NO2_1h", "1h"), "iaqi_CO": ("CO_1h", "1h"),
        "iaqi_O3_1h": ("O3_1h", "1h"), "iaqi_PM10": ("PM10_1h", "1h"),
        "iaqi_PM2.5": ("PM2.5_1h", "1h"),
    },
    ("daily", "2012"): {  # HJ 633-2012 §5.1.2
        "iaqi_SO2": ("SO2_24h", "24h"), "iaqi_NO2": ("NO2_24h", "24h"),
        "iaqi_CO": ("CO_24h", "24h"), "iaqi_PM10": ("PM10_24h", "24h"),
        "iaqi_PM2.5": ("PM2.5_24h", "24h"), "iaqi_O3_1h": ("O3_1h_max", "1h_max"),
        "iaqi_O3_8h": ("O3_8h_max", "8h_max"),
    },
    ("daily", "2026"): {  # HJ 633-2026 §4.2.2
        "iaqi_SO2": ("SO2_24h", "24h"), "iaqi_NO2": ("NO2_24h", "24h"),
        "iaqi_CO": ("CO_24h", "24h"), "iaqi_PM10": ("PM10_24h", "24h"),
        "iaqi_PM2.5": ("PM2.5_24h", "24h"), "iaqi_O3_8h": ("O3_8h_max", "8h_max"),
    },
}

# Tolerance for the ceiling: an IAQI that is an integer up to floating-point error
# (e.g. 50.00000000000001 from 50/35*35) stays that integer.
_CEILING_TOLERANCE = 1e-9


def round_concentration(pollutant: str, concentration) -> np.ndarray:
    """Round concentrations as HJ 633-2026 §4.2.2 asks: GB/T 8170, round half to even.

    µg/m³ values to integers, CO (mg/m³) to one decimal.

    Examples
    --------
    >>> round_concentration("PM2.5", [35.5, 36.5]).tolist()
    [36.0, 36.0]
    >>> round_concentration("CO", [0.25, 0.35]).tolist()
    [0.2, 0.4]
    """
    decimals = CONCENTRATION_DECIMALS_2026.get(pollutant, 0)
    return np.round(np.asarray(concentration, dtype=float), decimals)


def _check_period(period: str) -> str:
    if period not in PERIODS:
        raise NotFoundError("averaging period", period, PERIODS)
    return PERIODS[period]


def iaqi(pollutant: str, concentration, period: str, edition: str | int, *,
         fallback=None, round_concentrations: bool | None = None) -> np.ndarray:
    """Individual air quality index (IAQI, 空气质量分指数) of concentrations.

    Parameters
    ----------
    pollutant : {'SO2', 'NO2', 'CO', 'O3', 'PM10', 'PM2.5'}
        Pollutant.
    concentration : array_like
        Concentrations [µg/m³; CO mg/m³] averaged over ``period``. NaN (missing or not
        valid), ±inf and negative values give NaN.
    period : str
        Averaging period, one of :data:`PERIODS` ('1h', '1h_max', '8h', '8h_moving',
        '8h_max', '24h', '24h_moving', 'daily').
    edition : {'2012', '2026'}
        HJ 633 edition.
    fallback : array_like, optional
        HJ 633-2012 only: the IAQI to report where the breakpoints stop -- SO2 1-hour
        above 800 µg/m³ reports the SO2 24-hour IAQI (Table 1 note 2), O3 8-hour above
        800 µg/m³ reports the O3 1-hour IAQI (note 3). Without it those values give NaN.
    round_concentrations : bool, optional
        Round concentrations first per GB/T 8170 (µg/m³ to integers, CO to 0.1 mg/m³).
        Default: True for 2026 (§4.2.2), False for 2012 (which has no such rule).

    Returns
    -------
    numpy.ndarray
        IAQI [-], integers (as floats) rounded up (2012 §6.2, 2026 §4.2.6), NaN where
        not computable. Above the last breakpoint the IAQI is 500, the top of the scale.

    Raises
    ------
    NotFoundError
        Unknown edition, pollutant or period, or a period the pollutant has no
        breakpoints for (e.g. PM10 '1h' in 2012).

    Notes
    -----
    HJ 633-2012 Table 1 note (2) / HJ 633-2026 Table 3 note b: SO2 1-hour means above
    800 µg/m³: 2012 reports the 24-hour IAQI instead (``fallback``); 2026 counts 200.
    Note (3) / note c: O3 8-hour means above 800 µg/m³: 2012 reports the 1-hour IAQI
    instead (``fallback``); 2026 counts 300.

    References
    ----------
    HJ 633-2012 Table 1, equation (1), §6.2. HJ 633-2026 Table 3, equation (1),
    §4.2.2, §4.2.4, §4.2.6.

    Examples
    --------
    >>> iaqi("PM2.5", [75.0, 75.1], "24h", "2012").tolist()
    [100.0, 101.0]
    >>> iaqi("PM2.5", [60.0, 60.4, 60.5], "24h", "2026").tolist()
    [100.0, 100.0, 100.0]
    """
    edition = hj633.check_edition(edition)
    column = _check_period(period)
    if edition == "2026" and pollutant in ("PM10", "PM2.5") and column == "1h":
        column = "24h"  # HJ 633-2026 §4.2.4: PM 1-h means against the daily breakpoints
    points, levels = hj633.breakpoints(edition, pollutant, column)
    values = np.asarray(concentration, dtype=float)
    values = np.where(np.isinf(values), np.nan, values)  # not a concentration: NaN, never 500
    if round_concentrations is None:
        round_concentrations = edition == "2026"
    if round_concentrations:
        values = round_concentration(pollutant, values)
    with np.errstate(invalid="ignore"):
        negative = values < 0
    if negative.any():
        values = np.where(negative, np.nan, values)
    index = np.asarray(np.interp(values, points, levels, right=float(hj633.AQI_MAX)))
    top = points[-1]
    special = ((pollutant, column) == ("SO2", "1h") or (pollutant, column) == ("O3", "8h"))
    if special:
        with np.errstate(invalid="ignore"):
            above = values > top
        if edition == "2026":
            replacement = (hj633.SO2_1H_ABOVE_CEILING_IAQI_2026 if pollutant == "SO2"
                           else hj633.O3_8H_ABOVE_CEILING_IAQI_2026)
            index = np.where(above, float(replacement), index)
        else:
            replacement = (np.nan if fallback is None
                           else np.broadcast_to(np.asarray(fallback, dtype=float), values.shape))
            index = np.where(above, replacement, index)
    return _ceiling(index)


def _ceiling(index: np.ndarray) -> np.ndarray:
    """Round up to an integer, in place; values within 1e-9 above an integer stay it."""
    index -= _CEILING_TOLERANCE
    np.ceil(index, out=index)
    index += 0.0  # -0.0 (from 0 - tolerance) becomes 0.0
    return index


def level(aqi) -> np.ndarray:
    """AQI level 1-6 (HJ 633-2012 Table 2; HJ 633-2026 Table 1); 0 where AQI is NaN.

    0-50 → 1 (优), 51-100 → 2 (良), 101-150 → 3 (轻度污染), 151-200 → 4 (中度污染),
    201-300 → 5 (重度污染), above 300 → 6 (严重污染).
    """
    aqi = np.asarray(aqi, dtype=float)
    levels = np.searchsorted(np.asarray(hj633.LEVEL_UPPER_AQI, float), aqi, side="left") + 1
    return np.where(np.isnan(aqi), 0, levels)


def _joined_lookup() -> list[str]:
    """';'-joined pollutant lists for every bit mask over :data:`_ORDER`."""
    return [";".join(p for bit, p in enumerate(_ORDER) if mask >> bit & 1)
            for mask in range(1 << len(_ORDER))]


_JOINED = _joined_lookup()


def _mask_of(iaqi_columns: Mapping[str, np.ndarray], condition) -> np.ndarray:
    size = len(next(iter(iaqi_columns.values())))
    mask = np.zeros(size, np.int8)
    for name, values in iaqi_columns.items():
        shift = np.int8(_ORDER.index(IAQI_COLUMNS[name]))
        with np.errstate(invalid="ignore"):
            hit = condition(values)
        mask |= np.left_shift(hit.view(np.int8), shift)
    return mask


@dataclass
class _Coded:
    """A categorical column as codes (-1 = NA) and its categories."""

    codes: np.ndarray
    categories: Sequence[str]

    def arrays(self) -> list[np.ndarray]:
        return [self.codes]

    def like(self, arrays: list[np.ndarray]) -> _Coded:
        return _Coded(arrays[0], self.categories)


@dataclass
class _Index:
    """An index column (0-500) as 16-bit integers and a missing-value mask."""

    integers: np.ndarray
    missing: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> _Index:
        """From integral floats with NaN for missing values."""
        missing = np.isnan(values)
        with np.errstate(invalid="ignore"):
            integers = values.astype(np.int16)  # NaN casts to an arbitrary value, masked
        integers[missing] = 0
        return cls(integers, missing)

    def arrays(self) -> list[np.ndarray]:
        return [self.integers, self.missing]

    def like(self, arrays: list[np.ndarray]) -> _Index:
        return _Index(arrays[0], arrays[1])


def _finalize(columns: dict) -> pd.DataFrame:
    """Raw columns (arrays, _Coded, _Index) as a DataFrame, without extra copies."""
    out = {}
    for name, column in columns.items():
        if isinstance(column, _Coded):
            out[name] = pd.Categorical.from_codes(column.codes, column.categories)
        elif isinstance(column, _Index):
            out[name] = pd.arrays.IntegerArray(column.integers, column.missing)
        else:
            out[name] = column
    return pd.DataFrame(out, copy=False)


def report(iaqi_columns: Mapping[str, np.ndarray], edition, *,
           complete=None) -> pd.DataFrame:
    """AQI, level, category, colour, primary and non-attainment pollutants from IAQIs.

    Parameters
    ----------
    iaqi_columns : mapping of str to array_like
        IAQI per indicator, keyed by the names of :data:`IAQI_COLUMNS`; NaN = missing.
    edition : str or array_like of str
        '2012' or '2026', one for all rows or one per row.
    complete : array_like of bool, optional
        Per row, whether every indicator the report needs is present. HJ 633-2026 §5.3.1:
        where not, the AQI (and its level, category, primary pollutant) is published only
        when above 100, else NA. Ignored for 2012 rows. Default: all complete.

    Returns
    -------
    pandas.DataFrame
        edition, aqi, level, category, category_en, colour, primary_pollutant,
        nonattainment and the ``iaqi_*`` columns (nullable integers).

    References
    ----------
    HJ 633-2012 §4.4 (equation 2, primary and non-attainment pollutants), Table 2,
    Table A.1. HJ 633-2026 equation (2), §4.3.1, §5.3.1, Table 1, Table A.1.
    """
    unknown = [name for name in iaqi_columns if name not in IAQI_COLUMNS]
    if unknown:
        raise NotFoundError("IAQI column", unknown[0], IAQI_COLUMNS)
    columns = {name: np.asarray(values, dtype=float) for name, values in iaqi_columns.items()}
    size = len(next(iter(columns.values())))
    if isinstance(edition, str | int):
        is_2026 = np.full(size, hj633.check_edition(edition) == "2026")
    else:
        editions = np.asarray(edition, dtype=object).astype(str)
        for name in pd.unique(editions):
            hj633.check_edition(name)  # NotFoundError for an unknown edition
        is_2026 = editions == "2026"
    return _finalize(_report(columns, is_2026, complete))


def _report(columns: dict[str, np.ndarray], is_2026: np.ndarray, complete) -> dict:
    """:func:`report` on checked inputs (``is_2026`` per row), as raw columns."""
    values = iter(columns.values())
    aqi = np.array(next(values), dtype=float)
    for column in values:
        np.fmax(aqi, column, out=aqi)
    if complete is not None:
        incomplete = is_2026 & ~np.asarray(complete, dtype=bool)
        with np.errstate(invalid="ignore"):
            aqi = np.where(incomplete & ~(aqi > 100), np.nan, aqi)
    published = ~np.isnan(aqi)
    levels = level(aqi)
    codes = np.where(published, levels - 1, -1).astype(np.int8)
    primary_mask = _mask_of(columns, lambda values: (values == aqi) & (aqi > 50))
    primary_codes = np.where(published, primary_mask, np.int8(-1))
    over_mask = _mask_of(columns, lambda values: values > 100)
    over_codes = np.where(is_2026, np.int8(-1), over_mask)
    out = {
        "edition": _Coded(is_2026.astype(np.int8), list(hj633.EDITIONS)),
        "aqi": _Index.of(aqi),
        "level": _Index(levels.astype(np.int16), ~published),
        "category": _Coded(codes, hj633.CATEGORIES),
        "category_en": _Coded(codes, hj633.CATEGORIES_EN),
        "colour": _Coded(codes, hj633.COLOURS),
        "primary_pollutant": _Coded(primary_codes, _JOINED),
        "nonattainment": _Coded(over_codes, _JOINED),
    }
    for name, values in columns.items():
        out[name] = _Index.of(values)
    return out


def edition_of_dates(day_index: np.ndarray, edition: str | int | None) -> np.ndarray:
    """Whether each local day [days since 1970-01-01] uses HJ 633-2026 (bool array).

    ``edition`` forces one edition; None (or 'auto') picks by the date: 2026 from
    2026-03-01 (HJ 633-2026 cover), else 2012.
    """
    if edition is not None and str(edition) != "auto":
        return np.full(len(day_index), hj633.check_edition(edition) == "2026")
    start = (hj633.EDITION_2026_IN_FORCE - dt.date(1970, 1, 1)).days
    return np.asarray(day_index) >= start


def _indicator_iaqi(kind: str, edition: str, concentrations: Mapping[str, np.ndarray],
                    rows) -> dict[str, np.ndarray]:
    """IAQI of each indicator of one report kind and edition, for the selected rows."""
    out = {}
    for name, (column, period) in INDICATORS[kind, edition].items():
        pollutant = IAQI_COLUMNS[name]
        values = concentrations[column][rows]
        fallback = None
        special = (pollutant, PERIODS[period]) in (("SO2", "1h"), ("O3", "8h"))
        with np.errstate(invalid="ignore"):
            needed = special and edition == "2012" and bool((values > 800).any())
        if needed and pollutant == "SO2":  # HJ 633-2012 Table 1 note (2)
            fallback = iaqi("SO2", concentrations["SO2_24h"][rows], "24h", edition)
        elif needed:  # note (3)
            one_hour = "O3_1h" if kind == "hourly" else "O3_1h_max"
            fallback = iaqi("O3", concentrations[one_hour][rows], "1h", edition)
        out[name] = iaqi(pollutant, values, period, edition, fallback=fallback)
    return out


def _assemble(kind: str, concentrations: dict[str, np.ndarray], is_2026: np.ndarray,
              not_monitored: Iterable[str], first: dict) -> dict:
    """Raw report columns: ``first`` (time or date, site_id), then the report."""
    size = len(is_2026)
    iaqi_all = {name: np.full(size, np.nan) for name in IAQI_COLUMNS}
    complete = np.ones(size, bool)
    skip = set(not_monitored)
    count_2026 = int(is_2026.sum())
    for edition, selected, count in (("2012", ~is_2026, size - count_2026),
                                     ("2026", is_2026, count_2026)):
        if not count:
            continue
        rows = slice(None) if count == size else np.flatnonzero(selected)
        for name, values in _indicator_iaqi(kind, edition, concentrations, rows).items():
            iaqi_all[name][rows] = values
            if IAQI_COLUMNS[name] not in skip:
                complete[rows] &= ~np.isnan(values)
    # every IAQI column, whatever the editions, so that reports share one schema
    columns = dict(first)
    columns.update(_report(iaqi_all, is_2026, complete))
    if count_2026:  # report concentrations as HJ 633-2026 §4.2.2 reads them (rounded)
        for column, values in concentrations.items():
            rounded = round_concentration(column.split("_")[0], values)
            if count_2026 == size:
                concentrations[column] = rounded
            else:
                np.copyto(values, rounded, where=is_2026)  # values are this report's own
    columns.update(concentrations)
    return columns


def hourly(table, edition: str | int | None = None, *, hour_ending: bool = False,
           not_monitored: Iterable[str] = (), chunk_hours: int = 200_000) -> pd.DataFrame:
    """Real-time (hourly) AQI report (实时报) per site and hour.

    Parameters
    ----------
    table : pandas.DataFrame or ibis Table
        Hourly means in the observation format, long (time, site_id, pollutant, value)
        or wide (time, site_id, one column per pollutant); time in UTC, values in µg/m³
        (CO mg/m³). An Ibis table is executed to pandas.
    edition : {'2012', '2026'}, optional
        Force an edition; default: each hour's own (2026 from 2026-03-01 Beijing time).
    hour_ending : bool
        True when ``time`` labels the end of the hour.
    not_monitored : iterable of str
        Pollutants the site's monitoring plan does not cover (HJ 633-2026 §5.3.2): their
        absence does not withhold the 2026 AQI.
    chunk_hours : int
        Sites are processed in chunks of about this many station-hours (a whole site at
        least); smaller temporary arrays run faster on large inputs. Results do not
        depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per site and hour with at least one hourly reading of the six
        pollutants; columns as described in the module docstring, ``time`` first (labelled
        as in the input: start of the hour, or its end with ``hour_ending``).

    Notes
    -----
    2012 (§5.1.3): SO2, NO2, CO, O3 1-hour means, O3 8-hour moving mean, PM10 and PM2.5
    24-hour moving means (moving means valid with 6 of 8 and 20 of 24 hours). 2026
    (§4.2.3): the six 1-hour means, PM read against the daily breakpoints (§4.2.4).

    References
    ----------
    HJ 633-2012 §5.1.3, Table 1, Table 4. HJ 633-2026 §4.2.3, §4.2.4, Table 3, Table 5.
    GB 3095 Table 4.
    """
    grid = HourlyGrid.from_table(table, hour_ending=hour_ending)
    _check_not_monitored(not_monitored)
    chunks = list(grid.chunks(chunk_hours)) or [(grid, 0)]
    if len(chunks) == 1:
        columns = _hourly_columns(grid, edition, not_monitored)
    else:  # write each chunk's rows into preallocated columns
        total, start, columns = int(_has_reading(grid).sum()), 0, {}  # padding is all NaN
        for part, first_site in chunks:
            raw = _hourly_columns(part, edition, not_monitored)
            raw["site_id"].codes = raw["site_id"].codes.astype(np.int32) + first_site
            size = len(raw["aqi"].integers)
            for name, column in raw.items():
                pieces = column.arrays() if isinstance(column, _Coded | _Index) else [column]
                if name not in columns:
                    empty = [np.empty(total, dtype=piece.dtype) for piece in pieces]
                    columns[name] = (column.like(empty) if isinstance(column, _Coded | _Index)
                                     else empty[0])
                target = columns[name]
                targets = target.arrays() if isinstance(target, _Coded | _Index) else [target]
                for piece, array in zip(pieces, targets, strict=True):
                    array[start:start + size] = piece
            start += size
        columns["site_id"] = _Coded(columns["site_id"].codes, grid.sites)
    times = pd.DatetimeIndex(columns["time"]).tz_localize("UTC")
    if hour_ending:  # give the hours back with the input's labels
        times = times + pd.Timedelta(hours=1)
    columns["time"] = times
    return _finalize(columns)


def _has_reading(grid: HourlyGrid) -> np.ndarray:
    """Per grid position, whether any of the six pollutants has a reading."""
    has = np.zeros(grid.day_total * HOURS_PER_DAY, bool)
    for pollutant in AQI_POLLUTANTS:
        has |= ~np.isnan(grid.values[pollutant])
    return has


def _check_not_monitored(not_monitored: Iterable[str]) -> None:
    unknown = set(not_monitored) - set(AQI_POLLUTANTS)
    if unknown:
        raise NotFoundError("pollutant", sorted(unknown)[0], AQI_POLLUTANTS)


def _hourly_columns(grid: HourlyGrid, edition, not_monitored) -> dict:
    """Raw hourly report columns (time as numpy datetime64, UTC)."""
    positions = grid.hour_positions()
    positions = positions[_has_reading(grid)[positions]]
    day_of_row = np.zeros(grid.day_total, np.int64)
    day_of_row[grid.day_rows()] = grid.day_index()
    is_2026 = edition_of_dates(day_of_row[positions // HOURS_PER_DAY], edition)
    concentrations = {f"{p}_1h": grid.values[p][positions]
                      for p in ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")}
    concentrations["O3_8h"] = grid.moving_mean("O3", 8, gb3095.MIN_VALID_HOURS_8H)[0][positions]
    for pollutant in ("SO2", "PM10", "PM2.5"):
        concentrations[f"{pollutant}_24h"] = grid.moving_mean(
            pollutant, 24, gb3095.MIN_VALID_HOURS_24H)[0][positions]
    sites = grid.hour_sites(positions)
    first = {"time": grid.hour_times(positions),
             "site_id": _Coded(sites.codes, grid.sites)}
    return _assemble("hourly", concentrations, is_2026, not_monitored, first)


def daily(table, edition: str | int | None = None, *, hour_ending: bool = False,
          not_monitored: Iterable[str] = ()) -> pd.DataFrame:
    """Daily AQI report (日报) per site and calendar day (Beijing time).

    Parameters
    ----------
    table : pandas.DataFrame or ibis Table
        Hourly means in the observation format (see :func:`hourly`).
    edition : {'2012', '2026'}, optional
        Force an edition; default: each day's own (2026 from 2026-03-01).
    hour_ending : bool
        True when ``time`` labels the end of the hour.
    not_monitored : iterable of str
        Pollutants not in the monitoring plan (HJ 633-2026 §5.3.2).

    Returns
    -------
    pandas.DataFrame
        One row per site and day with at least one hourly reading; ``date`` first.

    Notes
    -----
    2012 (§5.1.2): SO2, NO2, CO, PM10, PM2.5 24-hour means, O3 daily maximum 1-hour
    and maximum 8-hour means. 2026 (§4.2.2): five daily means and the O3 daily maximum
    8-hour mean. Daily means need 20 valid hours; the O3 daily maximum 8-hour mean 14
    valid 8-hour means (see :mod:`sourcegrid.quality.averaging`).

    References
    ----------
    HJ 633-2012 §5.1.2, Table 1, Table 3. HJ 633-2026 §4.2.2, Table 3, Table 4.
    GB 3095 Table 4. HJ 663-2013.
    """
    grid = HourlyGrid.from_table(table, hour_ending=hour_ending)
    concentrations: dict[str, np.ndarray] = {}
    present = np.zeros(int(grid.day_count.sum()), bool)
    for pollutant in ("SO2", "NO2", "CO", "PM10", "PM2.5"):
        concentrations[f"{pollutant}_24h"], count = grid.daily_mean(pollutant)
        present |= count > 0
    concentrations["O3_1h_max"], count = grid.daily_max_1h("O3")
    present |= count > 0
    concentrations["O3_8h_max"], _ = grid.daily_max_8h("O3")
    days = grid.day_index()[present]
    is_2026 = edition_of_dates(days, edition)
    concentrations = {name: values[present] for name, values in concentrations.items()}
    _check_not_monitored(not_monitored)
    dates = np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")
    sites = grid.day_sites()[present]
    return _finalize(_assemble("daily", concentrations, is_2026, not_monitored,
                               {"date": pd.to_datetime(dates).date,
                                "site_id": _Coded(sites.codes, grid.sites)}))


def summary(report_frame: pd.DataFrame) -> pd.DataFrame:
    """Rows (days or hours) per AQI category and site, for reports and the CLI.

    Parameters
    ----------
    report_frame : pandas.DataFrame
        Output of :func:`hourly` or :func:`daily`.

    Returns
    -------
    pandas.DataFrame
        site_id, one column per category (优 ... 严重污染), ``NA`` (AQI not published),
        ``total``, and a last row ``all`` over every site.
    """
    category = report_frame["category"].astype(object).where(report_frame["category"].notna(),
                                                             "NA")
    counts = pd.crosstab(report_frame["site_id"], category)
    counts = counts.reindex(columns=[*hj633.CATEGORIES, "NA"], fill_value=0)
    counts.loc["all"] = counts.sum()
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts.rename_axis("site_id").reset_index()
