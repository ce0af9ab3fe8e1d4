"""Time conventions of sourcegrid, in one place.

Three rules hold everywhere (DESIGN.md, "Observations"; HJ 633-2026 §4.1.1):

1. **Beijing time in.** A time given without an offset (a naive time in a file,
   an option such as ``--from 2024-01-10``) is Beijing time, the zone
   ``Asia/Shanghai``. A time with an offset (``...+08:00``, ``...Z``) keeps it.
2. **UTC stored.** Every stored time is UTC.
3. **Calendar days in Beijing time.** Daily means, good days, daily and monthly
   grouping use natural (calendar) days and months of Beijing time.

Beijing time has been UTC+8 all year since 1991-09-15 (China kept daylight
saving time from 1986 to 1991); :data:`FIXED_OFFSET_FROM` marks the first naive
time from which adding or subtracting :data:`UTC_OFFSET_HOURS` is exact. The
pandas helpers here go through the tz database and are exact at any date; the
engine expressions (:func:`local_date_expr`, :func:`utc_from_local_expr`) use
the fixed offset, and callers route earlier times through the pandas helpers
(the ingest does).

Layers: constants; pandas helpers (:func:`to_utc` for columns of text,
:func:`utc_timestamp` and :func:`utc_period` for single times and options,
:func:`local_time`, :func:`local_date`, :func:`month_bounds`); Ibis expression
helpers for the engines.

References
----------
IANA tz database, zone ``Asia/Shanghai`` (file ``asia``: "PRC" rules, DST 1986-1991).
HJ 633-2026 §4.1.1: days are natural days in Beijing time.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "LOCAL_TIMEZONE",
    "UTC_OFFSET_HOURS",
    "FIXED_OFFSET_FROM",
    "OFFSET_PATTERN",
    "to_utc",
    "utc_timestamp",
    "utc_period",
    "local_time",
    "local_date",
    "month_bounds",
    "local_date_expr",
    "utc_from_local_expr",
]

#: The zone of naive input times (Beijing time).
LOCAL_TIMEZONE = "Asia/Shanghai"
#: Beijing time minus UTC [h], all year since 1991-09-15.
UTC_OFFSET_HOURS = 8
#: First naive local time from which Beijing time is UTC+8 without exception (the tz
#: database ends the last daylight saving period on 1991-09-15; the whole of 1991 is
#: left to the tz database to keep the rule simple to state).
FIXED_OFFSET_FROM = pd.Timestamp("1992-01-01")
#: A time text ends with an offset: 'Z', '+08:00' or '+0800'.
OFFSET_PATTERN = r"(?:Z|[+-]\d\d:?\d\d)$"

_EXPECTED = ("a date or date-time such as 2024-01-10 or 2024-01-10T08:00 (ISO 8601; "
             "naive = Beijing time)")


def to_utc(text: pd.Series, local_tz: str = LOCAL_TIMEZONE) -> pd.Series:
    """Parse a column of time texts to UTC; naive times are ``local_tz``. Unparseable → NaT.

    ISO 8601 with an offset ('2026-03-01T08:00:00+08:00', '...Z') keeps its
    offset; naive times ('2026-03-01 08:00', '2026/3/1 8:00') are local. A
    datetime column is localized (when naive) and converted.
    """
    if pd.api.types.is_datetime64_any_dtype(text):
        series = text
        if series.dt.tz is None:
            series = series.dt.tz_localize(local_tz, ambiguous="NaT", nonexistent="NaT")
        return series.dt.tz_convert("UTC")
    strings = text.astype("string").str.strip()
    has_offset = strings.str.contains(OFFSET_PATTERN, regex=True, na=False)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = _parse(strings[has_offset], utc=True)
    naive = ~has_offset & strings.notna()
    if naive.any():
        local = _parse(strings[naive], utc=False)
        out[naive] = local.dt.tz_localize(local_tz, ambiguous="NaT",
                                          nonexistent="NaT").dt.tz_convert("UTC")
    return out


def _parse(strings: pd.Series, *, utc: bool) -> pd.Series:
    parsed = pd.to_datetime(strings, errors="coerce", utc=utc, format="ISO8601")
    retry = parsed.isna() & strings.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(strings[retry], errors="coerce", utc=utc, format="mixed")
    return parsed.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")


def utc_timestamp(value, option: str = "time") -> pd.Timestamp:
    """One time as a UTC timestamp; naive values are Beijing time.

    A text that is no date (``2024-13-45``, ``yesterday``) raises
    :class:`~sourcegrid.errors.OptionError` naming ``option``.
    """
    from sourcegrid.errors import OptionError

    if isinstance(value, str):
        value = value.strip()
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise OptionError(option, repr(value), _EXPECTED) from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise OptionError(option, repr(value), _EXPECTED)
    try:
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(LOCAL_TIMEZONE)
        return stamp.tz_convert("UTC")
    except (ValueError, OverflowError):  # nonexistent local times, out of bounds
        raise OptionError(option, repr(value), _EXPECTED) from None


def utc_period(start, end, *, options: tuple[str, str] = ("--from", "--to"),
               required: bool = False) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A period [start, end) as UTC timestamps, checked before any work starts.

    Parameters
    ----------
    start, end : str, Timestamp or None
        ISO 8601 times (naive = Beijing time); None leaves that side open.
    options : (str, str)
        Names of the options, for the messages.
    required : bool
        Both ends must be given.

    Raises
    ------
    OptionError
        A text that is no date, a missing end when ``required``, or an end that is not
        after the start (a reversed or empty period would select nothing).
    """
    from sourcegrid.errors import OptionError

    if required:
        for value, option in zip((start, end), options, strict=True):
            if value is None:
                raise OptionError(option, "(missing)", "a date or date-time; the option "
                                  "is required here")
    low = None if start is None else utc_timestamp(start, options[0])
    high = None if end is None else utc_timestamp(end, options[1])
    if low is not None and high is not None and not high > low:
        raise OptionError(f"{options[0]} {start} {options[1]}", end,
                          f"an end after the start ({options[1]} is excluded): the period is "
                          "reversed or empty")
    return low, high


def local_time(times):
    """UTC times (aware, or naive meaning UTC) as Beijing-time aware times.

    Takes a Series (returns a Series), a DatetimeIndex or array-like (returns a
    DatetimeIndex) or one Timestamp (returns a Timestamp).
    """
    if isinstance(times, pd.Timestamp):
        stamp = times if times.tzinfo is not None else times.tz_localize("UTC")
        return stamp.tz_convert(LOCAL_TIMEZONE)
    if isinstance(times, pd.Series):
        return pd.to_datetime(times, utc=True).dt.tz_convert(LOCAL_TIMEZONE)
    return pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert(LOCAL_TIMEZONE)


def local_date(times):
    """The Beijing-time calendar day of UTC times (``datetime.date`` values).

    A Series gives a Series of dates, other inputs a NumPy array of dates, one
    Timestamp one date.
    """
    local = local_time(times)
    if isinstance(local, pd.Timestamp):
        return local.date()
    if isinstance(local, pd.Series):
        return local.dt.date
    return local.date


def month_bounds(month: str | pd.Timestamp, shift: int = 0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC bounds [start, end) of a Beijing-time calendar month.

    Parameters
    ----------
    month : str or pandas.Timestamp
        The month, e.g. '2026-03'.
    shift : int
        Months to move by (-1 = previous month, -12 = same month last year).
    """
    period = pd.Period(pd.Timestamp(month).tz_localize(None) if isinstance(month, pd.Timestamp)
                       else month, freq="M") + shift
    start = period.start_time.tz_localize(LOCAL_TIMEZONE).tz_convert("UTC")
    end = (period + 1).start_time.tz_localize(LOCAL_TIMEZONE).tz_convert("UTC")
    return start, end


def local_date_expr(time):
    """Ibis: the Beijing-time calendar day of a UTC timestamp column (fixed UTC+8)."""
    import ibis

    return (time + ibis.interval(hours=UTC_OFFSET_HOURS)).date()


def utc_from_local_expr(time):
    """Ibis: a naive Beijing-time timestamp column as UTC (fixed UTC+8, exact from
    :data:`FIXED_OFFSET_FROM`)."""
    import ibis

    return time - ibis.interval(hours=UTC_OFFSET_HOURS)
