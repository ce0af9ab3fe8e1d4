"""Readers for observation files: readings (long or wide) and wind.

Every reading leaves here in the canonical long format of DESIGN.md, in the
internal units (µg/m³; CO mg/m³; RH %; TEMP °C) and with its time in UTC
(naive times are Asia/Shanghai). Values that cannot be readings (not a
number, negative, outside the physical range, unknown pollutant or unit, bad
time or position) are kept in ``rejects`` with row, column, value and reason;
they are never silently dropped. A file whose structure is wrong (a required
column missing, no pollutant column) raises :class:`InputError` listing every
structural problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, UnitError, problems_frame
from sourcegrid.io.tables import ROW, SOURCE, read_table, rejects_from_mask, with_row_numbers
from sourcegrid.units import conversion_factor

__all__ = [
    "POLLUTANTS",
    "CANONICAL_UNITS",
    "PHYSICAL_RANGES",
    "SITE_KINDS",
    "ObservationBatch",
    "read_observations",
    "normalize_observations",
    "read_wind",
    "normalize_wind",
    "to_utc",
    "utc_timestamp",
    "utc_period",
    "LOCAL_TZ",
    "POSITIONED_KINDS",
]

LOCAL_TZ = "Asia/Shanghai"
SITE_KINDS = ("reference", "micro", "mobile", "satellite")
#: Site kinds whose readings are rejected without a position (no fixed station list).
POSITIONED_KINDS = ("micro", "mobile")

#: Canonical pollutant names and the internal unit of each (DESIGN.md, "Observations").
CANONICAL_UNITS: dict[str, str] = {
    "PM2.5": "ug/m**3",
    "PM10": "ug/m**3",
    "SO2": "ug/m**3",
    "NO2": "ug/m**3",
    "CO": "mg/m**3",
    "O3": "ug/m**3",
    "TVOC": "ug/m**3",
    "RH": "percent",
    "TEMP": "degC",
}
POLLUTANTS = tuple(CANONICAL_UNITS)

#: Plausible physical ranges [lower, upper] in the internal unit. Above the upper bound a
#: value is an instrument or transcription fault, not air: HJ 633 tables end at PM2.5 500,
#: PM10 600, SO2 2620 (24-h), NO2 3840 (1-h), CO 150 (1-h), O3 1200 (1-h); the bounds here
#: leave room above those for real extreme episodes (dust storms give PM10 of several 1000).
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "PM2.5": (0.0, 3000.0),
    "PM10": (0.0, 10000.0),
    "SO2": (0.0, 10000.0),
    "NO2": (0.0, 5000.0),
    "CO": (0.0, 200.0),
    "O3": (0.0, 2000.0),
    "TVOC": (0.0, 100000.0),
    "RH": (0.0, 100.0),
    "TEMP": (-60.0, 60.0),
}

_POLLUTANT_ALIASES = {
    "pm2.5": "PM2.5", "pm25": "PM2.5", "pm2_5": "PM2.5", "pm₂.₅": "PM2.5", "细颗粒物": "PM2.5",
    "pm10": "PM10", "可吸入颗粒物": "PM10",
    "so2": "SO2", "二氧化硫": "SO2",
    "no2": "NO2", "二氧化氮": "NO2",
    "co": "CO", "一氧化碳": "CO",
    "o3": "O3", "臭氧": "O3",
    "tvoc": "TVOC", "voc": "TVOC", "vocs": "TVOC", "挥发性有机物": "TVOC",
    "rh": "RH", "humidity": "RH", "相对湿度": "RH", "湿度": "RH",
    "temp": "TEMP", "temperature": "TEMP", "温度": "TEMP", "气温": "TEMP",
}

_HEADER_ALIASES = {
    "时间": "time", "监测时间": "time", "datetime": "time", "timestamp": "time",
    "站点编号": "site_id", "站点": "site_id", "站点代码": "site_id", "site": "site_id",
    "station": "site_id", "station_id": "site_id",
    "站点类型": "site_kind", "kind": "site_kind",
    "经度": "lon", "longitude": "lon", "lng": "lon",
    "纬度": "lat", "latitude": "lat",
    "污染物": "pollutant", "污染物指标": "pollutant", "监测项目": "pollutant",
    "浓度": "value", "数值": "value", "监测值": "value",
    "单位": "unit",
    "风速": "wind_speed", "wspm": "wind_speed", "ws": "wind_speed",
    "风向": "wind_dir", "wd": "wind_dir",
}

#: 16-point compass (direction the wind comes from) in degrees.
COMPASS_16 = {
    name: i * 22.5
    for i, name in enumerate(
        "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()
    )
}
_COMPASS_ZH = {"北": "N", "东北": "NE", "东": "E", "东南": "SE", "南": "S", "西南": "SW",
               "西": "W", "西北": "NW", "北东北": "NNE", "东东北": "ENE", "东东南": "ESE",
               "南东南": "SSE", "南西南": "SSW", "西西南": "WSW", "西西北": "WNW", "北西北": "NNW"}
_CALM = {"C", "CALM", "静风", "0"}



@dataclass
class ObservationBatch:
    """Readings that passed the reader's checks, and those that did not.

    Attributes
    ----------
    readings : pandas.DataFrame
        time (UTC), site_id, site_kind, lon, lat, pollutant, value [internal unit], unit.
    rejects : pandas.DataFrame
        source, row, column, value, reason, message: one row per rejected value.
    missing : int
        Empty cells of a wide table (no measurement, not an error).
    source : str
        The file (or frame) the batch came from.
    """

    readings: pd.DataFrame
    rejects: pd.DataFrame
    missing: int = 0
    source: str = ""

    def summary(self) -> pd.DataFrame:
        """Readings per pollutant and rejects per reason, for the CLI."""
        kept = self.readings.groupby("pollutant").size().rename("readings")
        rejected = self.rejects.groupby("reason").size().rename("rejected")
        return pd.concat([kept, rejected], axis=1).fillna(0).astype(int)


def canonical_pollutant(name: str) -> str | None:
    """'pm25', '细颗粒物', 'PM2.5' → 'PM2.5'; None when unknown."""
    if name is None:
        return None
    text = str(name).strip()
    if text in CANONICAL_UNITS:
        return text
    return _POLLUTANT_ALIASES.get(text.lower().replace(" ", ""))


def to_utc(text: pd.Series, local_tz: str = LOCAL_TZ) -> pd.Series:
    """Parse time texts to UTC; naive times are ``local_tz``. Unparseable → NaT.

    ISO 8601 with an offset ('2026-03-01T08:00:00+08:00', '...Z') keeps its
    offset; naive times ('2026-03-01 08:00', '2026/3/1 8:00') are local.
    """
    if pd.api.types.is_datetime64_any_dtype(text):
        series = text
        if series.dt.tz is None:
            series = series.dt.tz_localize(local_tz, ambiguous="NaT", nonexistent="NaT")
        return series.dt.tz_convert("UTC")
    strings = text.astype("string").str.strip()
    has_offset = strings.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = _parse(strings[has_offset], utc=True)
    naive = ~has_offset & strings.notna()
    if naive.any():
        local = _parse(strings[naive], utc=False)
        out[naive] = local.dt.tz_localize(local_tz, ambiguous="NaT",
                                          nonexistent="NaT").dt.tz_convert("UTC")
    return out


def utc_timestamp(value, option: str = "time") -> pd.Timestamp:
    """One time as a UTC timestamp; naive values are Asia/Shanghai, as in the readers.

    A text that is no date (``2024-13-45``, ``yesterday``) raises
    :class:`~sourcegrid.errors.OptionError` naming ``option``.
    """
    from sourcegrid.errors import OptionError

    expected = ("a date or date-time such as 2024-01-10 or 2024-01-10T08:00 (ISO 8601; "
                "naive = Beijing time)")
    if isinstance(value, str):
        value = value.strip()
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise OptionError(option, repr(value), expected) from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise OptionError(option, repr(value), expected)
    try:
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(LOCAL_TZ)
        return stamp.tz_convert("UTC")
    except (ValueError, OverflowError):  # nonexistent local times, out of bounds
        raise OptionError(option, repr(value), expected) from None


def utc_period(start, end, *, options: tuple[str, str] = ("--from", "--to"),
               required: bool = False) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A period [start, end) as UTC timestamps, checked before any work starts.

    Parameters
    ----------
    start, end : str, Timestamp or None
        ISO 8601 times (naive = Asia/Shanghai); None leaves that side open.
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


def _parse(strings: pd.Series, *, utc: bool) -> pd.Series:
    parsed = pd.to_datetime(strings, errors="coerce", utc=utc, format="ISO8601")
    retry = parsed.isna() & strings.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(strings[retry], errors="coerce", utc=utc, format="mixed")
    return parsed.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")


def _structure_problems(frame: pd.DataFrame, required: list[str], source: str) -> list[Problem]:
    return [Problem(source, 1, name, "", "missing_column",
                    f"required column {name!r} is missing; columns present: "
                    f"{', '.join(c for c in frame.columns if not c.startswith('_'))}")
            for name in required if name not in frame.columns]


def normalize_observations(frame: pd.DataFrame, *, site_kind: str | None = None,
                           units: Mapping[str, str] | None = None,
                           source: str = "frame",
                           require_position: bool | None = None) -> ObservationBatch:
    """Turn a long or wide table of readings into the canonical long format.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long (time, site_id, lon, lat, pollutant, value[, unit][, site_kind]) or wide
        (time, site_id, lon, lat and one column per pollutant) table. Values may be text.
    site_kind : {'reference', 'micro', 'mobile', 'satellite'}, optional
        Kind for every row; otherwise taken from a ``site_kind`` column.
    units : mapping, optional
        Unit of each pollutant when the file has no unit column and differs from the
        internal one, e.g. ``{'CO': 'ug/m3'}`` for data that gives CO in µg/m³.
    require_position : bool, optional
        Reject readings without lon and lat (``missing_position``). Default: for the
        kinds in :data:`POSITIONED_KINDS` (micro-stations and mobile monitors, which
        have no fixed station list), and for every kind in a file that has lon/lat
        columns (a row with an empty position there is a fault). Pass True when the
        readings are stored for the grid (fusion places readings by position).
    """
    if site_kind is not None and site_kind not in SITE_KINDS:
        raise NotFoundError("site kind", site_kind, SITE_KINDS)
    frame = with_row_numbers(frame, source, _HEADER_ALIASES)
    problems = _structure_problems(frame, ["time", "site_id"], source)
    units = {canonical_pollutant(k) or k: v for k, v in (units or {}).items()}
    for name, unit in units.items():
        if name not in CANONICAL_UNITS:
            problems.append(Problem(source, None, "units", name, "unknown_pollutant",
                                    f"unit override for unknown pollutant; valid: {', '.join(POLLUTANTS)}"))
        else:
            try:
                conversion_factor(unit, CANONICAL_UNITS[name])
            except UnitError as error:
                problems.append(Problem(source, None, "units", unit, "bad_unit", str(error)))
    long_format = "pollutant" in frame.columns and "value" in frame.columns
    if not long_format:
        wide = [c for c in frame.columns if canonical_pollutant(c) is not None]
        if not wide:
            problems.append(Problem(source, 1, "", "", "no_pollutant_column",
                                    "expected a long table (pollutant, value columns) or a wide "
                                    f"one with a column per pollutant ({', '.join(POLLUTANTS)})"))
    if site_kind is None and "site_kind" not in frame.columns:
        problems.append(Problem(source, 1, "site_kind", "", "missing_column",
                                "give the site kind (--kind) or a site_kind column"))
    if problems:
        raise InputError(problems, f"cannot read observations from {source}")

    if require_position is None and {"lon", "lat"} & set(frame.columns):
        require_position = True  # a file with positions: an empty one is a fault
    for column in ("lon", "lat"):
        if column not in frame.columns:
            frame[column] = None
    if site_kind is not None:
        frame["site_kind"] = site_kind

    rejects: list[pd.DataFrame] = []
    missing = 0
    if long_format:
        if "unit" not in frame.columns:
            frame["unit"] = None
        long = frame
        long["_column"] = "value"
    else:
        id_columns = [ROW, SOURCE, "time", "site_id", "site_kind", "lon", "lat"]
        wide = [c for c in frame.columns if canonical_pollutant(c) is not None]
        long = frame[id_columns + wide].melt(id_vars=id_columns, var_name="pollutant",
                                             value_name="value")
        long["_column"] = long["pollutant"]
        empty = long["value"].isna() | long["value"].astype("string").str.upper().isin(
            ["NA", "NAN", "N/A", "—", "-", ""])
        missing = int(empty.sum())
        long = long.loc[~empty].copy()
        long["unit"] = None
    long = long.reset_index(drop=True)

    bad = pd.Series(False, index=long.index)

    def check(mask: pd.Series, column: str | pd.Series, values: pd.Series, reason: str,
              message: str) -> None:
        # every problem of a reading is reported, not only the first one
        nonlocal bad
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            if isinstance(message, pd.Series):  # one message per row
                message = message.loc[mask]
            rejects.append(rejects_from_mask(long, mask, column, values, reason, message))
            bad |= mask

    time = to_utc(long["time"])
    check(time.isna(), "time", long["time"], "bad_time",
          "expected a date-time such as 2026-03-01 08:00 (Asia/Shanghai) or ISO 8601 with offset")
    site = long["site_id"].astype("string").str.strip()
    check(site.isna() | (site == ""), "site_id", long["site_id"], "missing_site",
          "expected a site id")
    kind = long["site_kind"].astype("string").str.strip().str.lower()
    check(~kind.isin(SITE_KINDS), "site_kind", long["site_kind"], "bad_site_kind",
          f"expected one of {', '.join(SITE_KINDS)}")
    lon = pd.to_numeric(long["lon"], errors="coerce")
    lat = pd.to_numeric(long["lat"], errors="coerce")
    check(long["lon"].notna() & ~lon.between(-180, 180), "lon", long["lon"], "bad_coordinate",
          "expected a longitude in degrees, -180 to 180")
    check(long["lat"].notna() & ~lat.between(-90, 90), "lat", long["lat"], "bad_coordinate",
          "expected a latitude in degrees, -90 to 90")
    needs_position = (kind.isin(POSITIONED_KINDS) if require_position is None
                      else pd.Series(bool(require_position), index=long.index))
    check(needs_position & (long["lon"].isna() | long["lat"].isna()),
          pd.Series(["lon" if x else "lat" for x in long["lon"].isna()], index=long.index),
          long["lon"].where(long["lon"].notna(), long["lat"]), "missing_position",
          "expected the reading's position (lon and lat in degrees): fusion, calibration and "
          "QC place readings by position")
    names = long["pollutant"].dropna().unique()  # a few distinct names, mapped once each
    pollutant = long["pollutant"].map({name: canonical_pollutant(name) for name in names})
    check(pollutant.isna(), "pollutant", long["pollutant"], "unknown_pollutant",
          f"expected one of {', '.join(POLLUTANTS)}")
    value = pd.to_numeric(long["value"], errors="coerce")
    value_column = long["_column"]
    check(long["value"].isna(), value_column, long["value"], "missing_value", "expected a number")
    check(value.isna() & long["value"].notna(), value_column, long["value"], "not_a_number",
          "expected a number")

    # unit factor per (pollutant, unit text): few distinct pairs, converted once each
    unit_text = long["unit"].astype("string")
    unit_text = unit_text.where(unit_text.notna(), pollutant.map(units).astype("string"))
    factor = pd.Series(1.0, index=long.index)
    pairs = pd.DataFrame({"p": pollutant, "u": unit_text}).dropna().drop_duplicates()
    for p, u in pairs.itertuples(index=False):
        mask = (pollutant == p) & (unit_text == u)
        try:
            factor[mask] = conversion_factor(u, CANONICAL_UNITS[p])
        except UnitError as error:
            check(mask, "unit", unit_text, "bad_unit", f"expected a unit convertible to {CANONICAL_UNITS[p]} ({error})")
    value = value * factor
    low = pollutant.map({p: r[0] for p, r in PHYSICAL_RANGES.items()}).astype(float)
    high = pollutant.map({p: r[1] for p, r in PHYSICAL_RANGES.items()}).astype(float)
    check((value < 0) & (low >= 0), value_column, long["value"], "negative_value",
          "expected a concentration >= 0")
    # a negative value of a quantity that cannot be negative is negative_value; any
    # other value outside [low, high] (TEMP -80 °C, PM2.5 5000) is out_of_range
    check(((value < low) | (value > high)) & ~((value < 0) & (low >= 0)), value_column,
          long["value"], "out_of_range",
          "value outside the physical range of the pollutant: " + pollutant.map(
              {p: f"{p} {r[0]:g} to {r[1]:g} {CANONICAL_UNITS[p]}"
               for p, r in PHYSICAL_RANGES.items()}).fillna("") + " (PHYSICAL_RANGES)")

    keep = ~bad
    readings = pd.DataFrame({
        "time": time[keep],
        "site_id": site[keep].astype(str),
        "site_kind": kind[keep].astype(str),
        "lon": lon[keep].astype(float),
        "lat": lat[keep].astype(float),
        "pollutant": pollutant[keep].astype(str),
        "value": value[keep].astype(float),
    }).reset_index(drop=True)
    readings["unit"] = readings["pollutant"].map(CANONICAL_UNITS)
    rejected = (pd.concat(rejects, ignore_index=True).drop_duplicates(ignore_index=True)
                if rejects else problems_frame([]))
    return ObservationBatch(readings, rejected, missing, source)


def read_observations(path: str | Path, *, site_kind: str | None = None,
                      sheet: str | int | None = None,
                      units: Mapping[str, str] | None = None,
                      require_position: bool | None = None) -> ObservationBatch:
    """Read a CSV/Parquet/XLSX file of readings (long or wide). See :func:`normalize_observations`."""
    frame = read_table(path, sheet=sheet)
    return normalize_observations(frame, site_kind=site_kind, units=units, source=Path(path).name,
                                  require_position=require_position)


def normalize_wind(frame: pd.DataFrame, *, source: str = "frame") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wind readings: time (UTC), site_id, lon, lat, wind_speed [m/s], wind_dir [degrees from].

    ``wind_dir`` may be degrees or 16-point text (N, NNE, ..., or 北, 东北, ...); calm
    ('C', 静风) gives direction NaN. Returns (wind, rejects).
    """
    frame = with_row_numbers(frame, source, _HEADER_ALIASES)
    problems = _structure_problems(frame, ["time", "site_id", "wind_speed", "wind_dir"], source)
    if problems:
        raise InputError(problems, f"cannot read wind from {source}")
    for column in ("lon", "lat"):
        if column not in frame.columns:
            frame[column] = None
    frame = frame.reset_index(drop=True)
    rejects = []
    bad = pd.Series(False, index=frame.index)

    def check(mask, column, reason, message):
        nonlocal bad
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            rejects.append(rejects_from_mask(frame, mask, column, frame[column], reason, message))
            bad |= mask

    time = to_utc(frame["time"])
    check(time.isna(), "time", "bad_time", "expected a date-time")
    for column, limit in (("lon", 180), ("lat", 90)):
        number = pd.to_numeric(frame[column], errors="coerce")
        check(frame[column].notna() & ~number.between(-limit, limit), column, "bad_coordinate",
              f"expected {'a longitude' if column == 'lon' else 'a latitude'} in degrees, "
              f"-{limit} to {limit}")
    speed = pd.to_numeric(frame["wind_speed"], errors="coerce")
    check(~(speed >= 0) | (speed > 100), "wind_speed", "bad_wind_speed",
          "expected a wind speed in m/s, 0 to 100")
    text = frame["wind_dir"].astype("string").str.strip()
    text = text.map(_COMPASS_ZH).fillna(text)
    degrees = pd.to_numeric(text, errors="coerce")
    compass = text.str.upper().map(COMPASS_16)
    direction = degrees.where(degrees.notna(), compass)
    calm = text.str.upper().isin(_CALM)
    check(direction.isna() & ~calm, "wind_dir", "bad_wind_dir",
          "expected degrees (0-360, the direction the wind comes from) or 16-point text (N, NNE, ...)")
    check((direction < 0) | (direction > 360), "wind_dir", "bad_wind_dir",
          "expected degrees from 0 to 360")
    keep = ~bad
    wind = pd.DataFrame({
        "time": time[keep],
        "site_id": frame.loc[keep, "site_id"].astype(str),
        "lon": pd.to_numeric(frame.loc[keep, "lon"], errors="coerce"),
        "lat": pd.to_numeric(frame.loc[keep, "lat"], errors="coerce"),
        "wind_speed": speed[keep].astype(float),
        "wind_dir": (direction[keep].where(~calm[keep]) % 360).astype(float),
    }).reset_index(drop=True)
    rejected = pd.concat(rejects, ignore_index=True) if rejects else problems_frame([])
    return wind, rejected


def read_wind(path: str | Path, *, sheet: str | int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a wind file. See :func:`normalize_wind`."""
    return normalize_wind(read_table(path, sheet=sheet), source=Path(path).name)
