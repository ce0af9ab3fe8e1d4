"""Averages of hourly air-quality readings with the GB 3095 data validity rules.

From hourly means (the observation format: time in UTC, site_id, pollutant,
value in µg/m³, CO in mg/m³) this module makes the statistics HJ 633 reads
against its breakpoints:

- 24-hour moving means (PM10, PM2.5 real-time reports of HJ 633-2012; SO2 for
  the 2012 rule on SO2 1-h above 800 µg/m³), valid with at least 20 valid
  hours in the 24 (GB 3095 Table 4, 24-hour mean);
- 8-hour moving means (O3), valid with at least 6 valid hours in the 8
  (GB 3095 Table 4, 8-hour mean);
- daily means of a natural (calendar) day in Beijing time, valid with at
  least 20 valid hours (GB 3095 Table 4);
- the daily maximum 8-hour mean of O3 over the 17 windows that end in the day
  (windows ending 07:00 ... 23:00 with hour-beginning labels, i.e. HJ 663's
  "8时至24时" in hour-ending labels), valid with at least 14 valid 8-hour means
  (HJ 663-2013), or with fewer when the maximum already exceeds the Grade II
  limit (more data could only raise it);
- the daily maximum 1-hour mean of O3 (HJ 633-2012 daily report), valid with
  at least 20 valid hours, or fewer when the maximum already exceeds the
  Grade II 1-hour limit (sourcegrid's rule, by the same reasoning: GB 3095 and
  HJ 633 set no count for it).

Time convention
---------------
A reading's ``time`` is the start of its hour (hour-beginning label, the
pandas convention): the hour 08:00-09:00 Beijing time is stored as 00:00 UTC.
Data labelled by the end of the hour (Chinese monitoring networks often write
01:00 for 00:00-01:00) are handled with ``hour_ending=True``, which moves each
reading to the day its hour lies in. Days are calendar days in Asia/Shanghai
(UTC+8, no daylight saving time since 1991).

Implementation
--------------
Readings are placed on a dense hourly grid per site: each site gets whole local
days from its first to its last day, preceded by one empty padding day so that
moving windows (at most 24 hours) never reach into another site's readings. The
grid is a (days, 24) array: moving sums are differences of running sums within a
day plus the tail of the day before (never a running sum over a long series, which
would lose precision); daily statistics reduce along the hours. No Python loop
runs per value.

References
----------
GB 3095-2012 Table 4 (and its 2018 amendment); GB 3095-2026 Table 4 and §3.8-3.10;
HJ 663-2013 (daily maximum 8-hour mean, 14 valid 8-hour means);
HJ 633-2012 §5.1.2-5.1.3; HJ 633-2026 §4.2.2-4.2.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem
from sourcegrid.standards import gb3095
from sourcegrid.timebase import UTC_OFFSET_HOURS  # Beijing time is UTC+8 all year

__all__ = [
    "AQI_POLLUTANTS",
    "HOURS_PER_DAY",
    "UTC_OFFSET_HOURS",
    "MIN_VALID_8H_MEANS_PER_DAY",
    "O3_8H_WINDOW_END_HOURS",
    "HourlyGrid",
    "moving_means",
    "daily_means",
    "daily_statistics",
]

#: The six pollutants of HJ 633 (canonical names of the observation format).
AQI_POLLUTANTS = ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")
HOURS_PER_DAY = 24
#: HJ 663-2013: a daily maximum 8-hour mean needs at least 14 valid 8-hour means among
#: those ending 08:00-24:00 (hour-ending labels).
MIN_VALID_8H_MEANS_PER_DAY = 14
#: Local hours (hour-beginning labels) at which the 17 8-hour windows of a day end.
O3_8H_WINDOW_END_HOURS = slice(7, 24)

_NS_PER_HOUR = 3_600_000_000_000


def _problem_rows(frame: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    if "_row" in frame.columns:
        return frame["_row"].to_numpy()[mask]
    return np.flatnonzero(mask) + 2  # spreadsheet-style: header is row 1


@dataclass
class HourlyGrid:
    """Hourly readings of several sites on a dense grid of whole local days.

    Attributes
    ----------
    sites : numpy.ndarray
        Site ids, one per site (sorted).
    first_day : numpy.ndarray
        Per site, its first local day [days since 1970-01-01, Beijing time].
    day_count : numpy.ndarray
        Per site, the number of days of its block (padding day excluded).
    values : dict of str to numpy.ndarray
        Per pollutant, hourly means on the grid [µg/m³; CO mg/m³], NaN where missing.
        Grid position ``p`` is hour ``p % 24`` (local) of grid day ``p // 24``.

    Notes
    -----
    Grid day rows: per site one padding day (all NaN) then its ``day_count`` days.
    Use :meth:`day_rows` for the rows that hold data days.
    """

    sites: np.ndarray
    first_day: np.ndarray
    day_count: np.ndarray
    values: dict[str, np.ndarray]

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_table(cls, table, *, pollutants: Sequence[str] = AQI_POLLUTANTS,
                   hour_ending: bool = False) -> HourlyGrid:
        """Build the grid from a long or wide table of hourly means.

        Parameters
        ----------
        table : pandas.DataFrame or ibis Table
            Long (time, site_id, pollutant, value) or wide (time, site_id and one
            column per pollutant) hourly means; time is UTC (tz-aware; naive times are
            taken as Beijing time), values in µg/m³ (CO mg/m³). Rows of other pollutants
            (RH, TEMP, TVOC ...) are not used. An Ibis table is executed to pandas.
        pollutants : sequence of str
            Pollutants to place on the grid.
        hour_ending : bool
            True when ``time`` labels the end of the hour.

        Raises
        ------
        InputError
            Missing columns; times not on the hour; negative values; two readings of
            one pollutant for one site and hour. Every problem is listed.
        """
        frame = _as_pandas(table)
        source = str(frame["_source"].iloc[0]) if "_source" in frame.columns and len(frame) else "table"
        long_format = "pollutant" in frame.columns and "value" in frame.columns
        required = ["time", "site_id"] + (["pollutant", "value"] if long_format else [])
        missing = [c for c in required if c not in frame.columns]
        if not long_format and not any(p in frame.columns for p in pollutants):
            missing.append("pollutant/value or one of " + ", ".join(pollutants))
        if missing:
            raise InputError([Problem(source, 1, c, "", "missing_column",
                                      f"required column {c!r} is missing; columns present: "
                                      f"{', '.join(map(str, frame.columns))}") for c in missing],
                             "cannot compute air quality statistics")
        if long_format:
            frame = frame[frame["pollutant"].isin(list(pollutants))]
        time = _utc(frame["time"])
        missing_time = time.isna().to_numpy()
        nanoseconds = np.asarray(time.dt.as_unit("ns").array.asi8)
        hour = nanoseconds // _NS_PER_HOUR
        problems: list[Problem] = []
        bad_time = (nanoseconds % _NS_PER_HOUR != 0) | missing_time
        hour[missing_time] = 0
        for row, value in zip(_problem_rows(frame, bad_time), frame["time"][bad_time].astype(str),
                              strict=True):
            problems.append(Problem(source, int(row), "time", str(value), "not_on_the_hour",
                                    "expected an hourly mean labelled on the hour (HH:00)"))
        hour += UTC_OFFSET_HOURS - (1 if hour_ending else 0)  # local hour, in place
        day = hour // HOURS_PER_DAY
        hour_of_day = np.remainder(hour, HOURS_PER_DAY, out=hour)
        codes, sites = pd.factorize(frame["site_id"], sort=True)
        no_site = codes < 0
        for row in _problem_rows(frame, no_site):
            problems.append(Problem(source, int(row), "site_id", "", "missing_site",
                                    "expected a site id"))
        if no_site.any():
            raise InputError(problems, "cannot compute air quality statistics")
        sites = np.asarray(sites, dtype=object)
        good_codes, good_days = ((codes, day) if not bad_time.any()
                                 else (codes[~bad_time], day[~bad_time]))
        first_day = np.full(len(sites), np.iinfo(np.int64).max)
        last_day = np.full(len(sites), np.iinfo(np.int64).min)
        np.minimum.at(first_day, good_codes, good_days)
        np.maximum.at(last_day, good_codes, good_days)
        del good_codes, good_days
        unseen = first_day > last_day  # a site with no usable time: an empty block
        first_day[unseen], last_day[unseen] = 0, -1
        day_count = last_day - first_day + 1
        grid = cls(sites, first_day, day_count, {})
        day_offset = grid._block_day_start()
        # (first grid row of the site + day within the site) * 24 + hour, in place
        position = day_offset[codes]
        position += day
        position -= first_day[codes]
        position *= HOURS_PER_DAY
        position += hour_of_day
        del day, hour_of_day, hour
        size = grid.day_total * HOURS_PER_DAY

        columns = ([(p, frame["pollutant"].to_numpy() == p, frame["value"]) for p in pollutants]
                   if long_format else
                   [(p, None, frame[p]) for p in pollutants if p in frame.columns])
        good_rows = None if not bad_time.any() else ~bad_time
        if not long_format:
            # wide tables: one check of the (site, hour) positions serves every column
            check = position if good_rows is None else position[good_rows]
            problems += _duplicates(frame, check, size, good_rows, "row of readings", source)
        for pollutant, mask, column in columns:
            value = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                negative = value < 0
            if mask is not None:
                negative &= mask
            if good_rows is not None:
                negative &= good_rows
            if negative.any():
                for row, text in zip(_problem_rows(frame, negative), value[negative],
                                     strict=True):
                    problems.append(Problem(source, int(row),
                                            "value" if long_format else pollutant, str(text),
                                            "negative_value",
                                            f"expected a {pollutant} concentration >= 0"))
                value = np.where(negative, np.nan, value)
            grid_values = np.full(size, np.nan)
            if long_format:
                keep = mask & ~np.isnan(value)
                if good_rows is not None:
                    keep &= good_rows
                where = position[keep]
                problems += _duplicates(frame, where, size, keep, f"{pollutant} reading", source)
                grid_values[where] = value[keep]
            elif good_rows is None:  # the grid starts as NaN: missing values may be written
                grid_values[position] = value
            else:
                grid_values[position[good_rows]] = value[good_rows]
            grid.values[pollutant] = grid_values
        if problems:
            raise InputError(problems, "cannot compute air quality statistics")
        for pollutant in pollutants:
            grid.values.setdefault(pollutant, np.full(size, np.nan))
        return grid

    # -- layout ---------------------------------------------------------------------
    def _block_day_start(self) -> np.ndarray:
        """Grid day row of each site's first data day (after its padding day)."""
        return np.cumsum(self.day_count + 1) - self.day_count

    @property
    def day_total(self) -> int:
        """Number of grid day rows, padding days included."""
        return int(np.sum(self.day_count + 1))

    def day_rows(self) -> np.ndarray:
        """Grid day rows holding data days (padding days left out), site by site."""
        start = np.repeat(self._block_day_start(), self.day_count)
        within = np.arange(len(start)) - np.repeat(np.cumsum(self.day_count) - self.day_count,
                                                   self.day_count)
        return start + within

    def day_sites(self) -> pd.Categorical:
        """Site id of each data day (as :meth:`day_rows`), as a Categorical."""
        return pd.Categorical.from_codes(np.repeat(np.arange(len(self.sites)), self.day_count),
                                         self.sites)

    def day_index(self) -> np.ndarray:
        """Local day of each data day [days since 1970-01-01]."""
        within = np.arange(int(self.day_count.sum())) - np.repeat(
            np.cumsum(self.day_count) - self.day_count, self.day_count)
        return np.repeat(self.first_day, self.day_count) + within

    def dates(self) -> np.ndarray:
        """Local calendar date of each data day (numpy datetime64[D])."""
        return np.datetime64("1970-01-01", "D") + self.day_index().astype("timedelta64[D]")

    def hour_positions(self) -> np.ndarray:
        """Grid positions of all data hours (padding left out)."""
        rows = self.day_rows()
        return (rows[:, None] * HOURS_PER_DAY + np.arange(HOURS_PER_DAY)).ravel()

    def hour_times(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Start of each data hour in UTC (numpy datetime64[ns]) for grid positions."""
        if positions is None:
            positions = self.hour_positions()
        rows = positions // HOURS_PER_DAY
        day_of_row = np.zeros(self.day_total, np.int64)
        day_of_row[self.day_rows()] = self.day_index()
        local_hour = day_of_row[rows] * HOURS_PER_DAY + positions % HOURS_PER_DAY
        hour = local_hour - UTC_OFFSET_HOURS
        return (hour * _NS_PER_HOUR).astype("datetime64[ns]")

    def hour_sites(self, positions: np.ndarray | None = None) -> pd.Categorical:
        """Site id of each grid position (all data hours by default), as a Categorical."""
        if positions is None:
            positions = self.hour_positions()
        site_of_row = np.repeat(np.arange(len(self.sites)), self.day_count + 1)
        return pd.Categorical.from_codes(site_of_row[positions // HOURS_PER_DAY], self.sites)

    def chunks(self, max_hours: int):
        """Sub-grids of consecutive sites with about ``max_hours`` grid hours each.

        Yields ``(grid, first_site)``: a grid over sites ``first_site ...`` whose value
        arrays are views into this one (no copy). A site is never split. Working on
        chunks keeps temporary arrays small (they stay in the allocator's heap and in
        the CPU caches) without changing any result.
        """
        rows = np.cumsum(self.day_count + 1)  # grid rows up to the end of each site
        start_site, start_row = 0, 0
        while start_site < len(self.sites):
            limit = start_row + max(max_hours // HOURS_PER_DAY, 1)
            end_site = max(int(np.searchsorted(rows, limit, side="right")), start_site + 1)
            end_row = int(rows[end_site - 1])
            part = HourlyGrid(self.sites[start_site:end_site],
                              self.first_day[start_site:end_site],
                              self.day_count[start_site:end_site],
                              {name: values[start_row * HOURS_PER_DAY:end_row * HOURS_PER_DAY]
                               for name, values in self.values.items()})
            yield part, start_site
            start_site, start_row = end_site, end_row

    # -- statistics -----------------------------------------------------------------
    def moving_mean(self, pollutant: str, window: int, min_valid: int) -> tuple[np.ndarray, np.ndarray]:
        """Moving mean over the ``window`` hours ending at each hour.

        Parameters
        ----------
        pollutant : str
            Pollutant on the grid.
        window : int
            Window length [h], 1 to 24.
        min_valid : int
            Fewest valid hourly means for a valid mean (GB 3095 Table 4: 20 of 24, 6 of 8).

        Returns
        -------
        mean : numpy.ndarray
            Mean per grid position [µg/m³; CO mg/m³]; NaN when fewer than ``min_valid``.
        valid_hours : numpy.ndarray
            Valid hourly means in each window [-].
        """
        if not 1 <= window <= HOURS_PER_DAY:
            raise ValueError(f"window must be 1 to {HOURS_PER_DAY} hours, got {window}")
        days = self.values[pollutant].reshape(-1, HOURS_PER_DAY)
        valid = ~np.isnan(days)
        total = _window_sums(np.where(valid, days, 0.0), window)
        count = _window_sums(valid.astype(np.int16), window)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.divide(total, count, out=total)
        mean[count < min_valid] = np.nan
        mean, count = mean.reshape(-1), count.reshape(-1)
        return mean, count

    def daily_mean(self, pollutant: str,
                   min_valid: int = gb3095.MIN_VALID_HOURS_24H) -> tuple[np.ndarray, np.ndarray]:
        """Daily (calendar day) mean per data day; NaN with fewer than ``min_valid`` hours.

        Returns the means [µg/m³; CO mg/m³] and the valid hour counts, in :meth:`day_rows`
        order.
        """
        days = self.values[pollutant].reshape(-1, HOURS_PER_DAY)[self.day_rows()]
        valid = ~np.isnan(days)
        count = valid.sum(axis=1)
        total = np.where(valid, days, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count >= min_valid, total / count, np.nan)
        return mean, count

    def daily_max_1h(self, pollutant: str = "O3", min_valid: int = gb3095.MIN_VALID_HOURS_24H,
                     limit: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Daily maximum 1-hour mean per data day.

        Valid with at least ``min_valid`` valid hours, or with fewer when the maximum
        exceeds ``limit`` (default: the GB 3095-2012 Grade II 1-hour limit).
        """
        if limit is None:
            limit = gb3095.limits("2012", grade=2).get((pollutant, "1h"), np.inf)
        days = self.values[pollutant].reshape(-1, HOURS_PER_DAY)[self.day_rows()]
        count = (~np.isnan(days)).sum(axis=1)
        maximum = np.fmax.reduce(days, axis=1)
        valid = (count >= min_valid) | (maximum > limit)
        return np.where(valid, maximum, np.nan), count

    def daily_max_8h(self, pollutant: str = "O3",
                     min_valid_hours: int = gb3095.MIN_VALID_HOURS_8H,
                     min_valid_means: int = MIN_VALID_8H_MEANS_PER_DAY,
                     limit: float | None = None,
                     moving: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Daily maximum 8-hour mean over the 17 windows ending in the day.

        Valid with at least ``min_valid_means`` valid 8-hour means, or with fewer when the
        maximum exceeds ``limit`` (default: the Grade II O3 8-hour limit, 160 µg/m³).
        ``moving`` reuses 8-hour moving means already computed.

        Returns the maxima [µg/m³] and the counts of valid 8-hour means.
        """
        if limit is None:
            limit = gb3095.limits("2012", grade=2).get((pollutant, "8h"), np.inf)
        if moving is None:
            moving, _ = self.moving_mean(pollutant, 8, min_valid_hours)
        windows = moving.reshape(-1, HOURS_PER_DAY)[self.day_rows()][:, O3_8H_WINDOW_END_HOURS]
        count = (~np.isnan(windows)).sum(axis=1)
        maximum = np.fmax.reduce(windows, axis=1)
        valid = (count >= min_valid_means) | (maximum > limit)
        return np.where(valid, maximum, np.nan), count


def _window_sums(days: np.ndarray, window: int) -> np.ndarray:
    """Sums over the ``window`` hours ending at each hour, on a (days, 24) grid.

    Uses running sums within each day only (at most 24 terms, so no precision is lost
    over long series): a window inside day d is a difference of day d's running sums;
    a window reaching back into day d-1 adds the tail of day d-1. Row 0 must be a
    padding day (its windows are not meaningful).
    """
    rows = days.shape[0]
    running = np.zeros((rows, HOURS_PER_DAY + 1), dtype=days.dtype)
    np.cumsum(days, axis=1, out=running[:, 1:])  # running[:, k] = sum of hours < k
    out = np.empty_like(days)
    # windows inside the day: hours h-window+1 .. h for h >= window-1
    np.subtract(running[:, window:], running[:, : HOURS_PER_DAY + 1 - window],
                out=out[:, window - 1:])
    if window > 1:
        # hours 0..h of day d plus hours 24-window+1+h .. 23 of day d-1
        head = out[1:, : window - 1]
        np.subtract(running[:-1, HOURS_PER_DAY:], running[:-1, HOURS_PER_DAY + 1 - window:
                                                            HOURS_PER_DAY], out=head)
        head += running[1:, 1:window]
        if rows:
            out[0, : window - 1] = 0
    return out


def _duplicates(frame: pd.DataFrame, where: np.ndarray, size: int, rows, what: str,
                source: str) -> list[Problem]:
    """Problems for grid positions taken by more than one row (``rows`` selects them)."""
    counts = np.bincount(where, minlength=size)
    duplicated = counts[where] > 1
    if not duplicated.any():
        return []
    selected = np.ones(len(frame), bool) if rows is None else rows
    return [Problem(source, int(row), "time", "", "duplicate_reading",
                    f"expected one {what} per site and hour")
            for row in _problem_rows(frame, selected)[duplicated]]


def _as_pandas(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    to_pandas = getattr(table, "to_pandas", None) or getattr(table, "execute", None)
    if to_pandas is None:
        raise TypeError(f"expected a pandas DataFrame or an Ibis table, got {type(table).__name__}")
    return to_pandas()


def _utc(time: pd.Series) -> pd.Series:
    from sourcegrid.timebase import to_utc

    return to_utc(time)


def moving_means(table, *, window: int = 24, min_valid: int | None = None,
                 pollutants: Sequence[str] = AQI_POLLUTANTS,
                 hour_ending: bool = False) -> pd.DataFrame:
    """Moving means of hourly readings, per site, pollutant and hour.

    Parameters
    ----------
    table : pandas.DataFrame or ibis Table
        Hourly means in the observation format (long or wide).
    window : int
        Hours in the window ending at each hour (24 or 8 in GB 3095) [h].
    min_valid : int, optional
        Fewest valid hours for a valid mean; default 20 for 24 h, 6 for 8 h, else all.
    pollutants : sequence of str
        Pollutants to average.
    hour_ending : bool
        True when ``time`` labels the end of the hour.

    Returns
    -------
    pandas.DataFrame
        time (UTC, end hour of the window), site_id, pollutant, value (NaN when invalid)
        [µg/m³; CO mg/m³], valid_hours, for every hour of every site's days.

    References
    ----------
    GB 3095-2026 §3.8 and Table 4 (8-hour mean: at least 6 hourly means); GB 3095
    Table 4 (24-hour mean: at least 20 hourly means).
    """
    if min_valid is None:
        min_valid = {24: gb3095.MIN_VALID_HOURS_24H, 8: gb3095.MIN_VALID_HOURS_8H}.get(window, window)
    grid = HourlyGrid.from_table(table, pollutants=pollutants, hour_ending=hour_ending)
    positions = grid.hour_positions()
    times = pd.DatetimeIndex(grid.hour_times(positions)).tz_localize("UTC")
    sites = grid.hour_sites()
    frames = []
    for pollutant in pollutants:
        mean, count = grid.moving_mean(pollutant, window, min_valid)
        frames.append(pd.DataFrame({"time": times, "site_id": sites, "pollutant": pollutant,
                                    "value": mean[positions], "valid_hours": count[positions]}))
    return pd.concat(frames, ignore_index=True)


def daily_means(table, *, min_valid: int = gb3095.MIN_VALID_HOURS_24H,
                pollutants: Sequence[str] = AQI_POLLUTANTS,
                hour_ending: bool = False) -> pd.DataFrame:
    """Daily means (calendar days in Beijing time) with the GB 3095 validity rule.

    Returns
    -------
    pandas.DataFrame
        date, site_id, pollutant, value (NaN with fewer than ``min_valid`` valid hours)
        [µg/m³; CO mg/m³], valid_hours.

    References
    ----------
    GB 3095-2026 §3.10 and Table 4: a daily mean needs at least 20 hourly means.
    """
    grid = HourlyGrid.from_table(table, pollutants=pollutants, hour_ending=hour_ending)
    dates = pd.to_datetime(grid.dates()).date
    sites = grid.day_sites()
    frames = []
    for pollutant in pollutants:
        mean, count = grid.daily_mean(pollutant, min_valid)
        frames.append(pd.DataFrame({"date": dates, "site_id": sites, "pollutant": pollutant,
                                    "value": mean, "valid_hours": count}))
    return pd.concat(frames, ignore_index=True)


def daily_statistics(table, *, hour_ending: bool = False) -> pd.DataFrame:
    """The daily indicators of HJ 633 per site and day, wide.

    Returns
    -------
    pandas.DataFrame
        date, site_id, SO2, NO2, CO, PM10, PM2.5 (daily means), O3_1h_max (daily maximum
        1-hour mean), O3_8h_max (daily maximum 8-hour mean) [µg/m³; CO mg/m³], NaN where
        the data are not valid, and ``valid_hours_<pollutant>``.

    References
    ----------
    HJ 633-2012 §5.1.2; HJ 633-2026 §4.2.2; GB 3095 Table 4; HJ 663-2013.
    """
    grid = HourlyGrid.from_table(table, hour_ending=hour_ending)
    out = pd.DataFrame({"date": pd.to_datetime(grid.dates()).date, "site_id": grid.day_sites()})
    counts = {}
    for pollutant in ("SO2", "NO2", "CO", "PM10", "PM2.5"):
        out[pollutant], counts[pollutant] = grid.daily_mean(pollutant)
    out["O3_1h_max"], counts["O3"] = grid.daily_max_1h("O3")
    out["O3_8h_max"], _ = grid.daily_max_8h("O3")
    for pollutant, count in counts.items():
        out[f"valid_hours_{pollutant}"] = count
    return out
