"""Readers for observation files: readings (long or wide) and wind.

Every reading leaves here in the canonical long format of DESIGN.md, in the
internal units (µg/m³; CO mg/m³; RH %; TEMP °C) and with its time in UTC
(naive times are Beijing time, :mod:`sourcegrid.timebase`). Values that
cannot be readings (not a number, negative, outside the physical range, unknown
pollutant or unit, bad time or position) are kept in ``rejects`` with row,
column, value and reason; they are never silently dropped. A file whose structure is wrong (a required
column missing, no pollutant column) raises :class:`InputError` listing every
structural problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, UnitError, problems_frame
from sourcegrid.io.engine_files import cached_numbered, is_utf8, read_file
from sourcegrid.io.tables import ROW, SOURCE, read_table, rejects_from_mask, with_row_numbers
from sourcegrid.timebase import LOCAL_TIMEZONE as LOCAL_TZ
from sourcegrid.timebase import to_utc, utc_period, utc_timestamp

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

def conversion_factor(from_unit: str, to_unit: str) -> float:
    """:func:`sourcegrid.units.conversion_factor`, imported when first needed: the unit
    registry takes 0.3 s to build, and a file in the internal units never needs it."""
    from sourcegrid.units import conversion_factor as factor

    return factor(from_unit, to_unit)


# to_utc, utc_timestamp, utc_period and LOCAL_TZ live in sourcegrid.timebase (the one
# home of the time conventions) and are re-exported here for the readers' callers.
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
    "站点名称": "site_name", "站名": "site_name", "station_name": "site_name",
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


def _unit_overrides(units: Mapping[str, str] | None, source: str) -> tuple[dict[str, str], list[Problem]]:
    """Unit overrides by canonical pollutant name, and a problem for each unknown pollutant
    or unit that does not convert to the pollutant's canonical unit."""
    units = {canonical_pollutant(k) or k: v for k, v in (units or {}).items()}
    problems = []
    for name, unit in units.items():
        if name not in CANONICAL_UNITS:
            problems.append(Problem(source, None, "units", name, "unknown_pollutant",
                                    f"unit override for unknown pollutant; valid: {', '.join(POLLUTANTS)}"))
        else:
            try:
                conversion_factor(unit, CANONICAL_UNITS[name])
            except UnitError as error:
                problems.append(Problem(source, None, "units", unit, "bad_unit", str(error)))
    return units, problems


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
    units, unit_problems = _unit_overrides(units, source)
    problems.extend(unit_problems)
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


# --------------------------------------------------------------------------------------
# The engine reader: CSV and Parquet read, checked and converted by the workspace's
# engine (DuckDB's read_csv/read_parquet, Spark's reader), written once in Ibis.
# --------------------------------------------------------------------------------------

# The files it takes: io.engine_files.ENGINE_SUFFIXES; others (XLSX) go through
# :func:`read_observations`.
#: Whitespace Python's ``str.strip`` removes (the pandas reader strips with it).
_SPACE = (r"[\t\n\x0b\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
          r"\x{202f}\x{205f}\x{3000}\x{feff}]")
_STRIP = rf"^{_SPACE}+|{_SPACE}+$"
_EDGE = rf"^{_SPACE}|{_SPACE}$"
#: Texts of a wide table that mean "no measurement" (as in :func:`normalize_observations`).
_EMPTY_TEXTS = ("NA", "NAN", "N/A", "—", "-", "")
#: A decimal number as text (what ``pandas.to_numeric`` reads, less its rare extras).
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_INFINITE = {"inf": 1, "+inf": 1, "infinity": 1, "+infinity": 1, "-inf": -1, "-infinity": -1}
#: Naive ISO times the engine converts itself (zero-padded, hour 00-23); others, and
#: times before :data:`sourcegrid.timebase.FIXED_OFFSET_FROM`, go to the pandas parser.
_NAIVE_TIME = r"^\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"
_OFFSET_TIME = r"^\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
#: Distinct fallback time texts mapped with a CASE expression; more go through a join.
_CASE_LIMIT = 64


@dataclass
class EngineBatch:
    """Readings checked by the engine: an Ibis table of the good ones, and the rejects.

    Attributes
    ----------
    readings : ibis.Table
        _row, time (UTC), site_id, site_kind, site_name, lon, lat, pollutant, value
        [internal unit], unit: the readings that passed every check (not collected).
    read : int
        Number of those readings.
    unique_keys : bool
        No two rows of the file share site and time, so no two readings share a key.
    sites : ibis.Table
        site_id, site_kind, site_name, lon, lat of the rows whose site, kind, time and
        position passed their checks, one row per distinct text.
    rejects : pandas.DataFrame
        source, row, column, value, reason, message (as :class:`ObservationBatch`).
    missing : int
        Empty cells of a wide table.
    source : str
        The file name.
    """

    readings: object
    rejects: pd.DataFrame
    missing: int
    source: str
    read: int | None = None
    unique_keys: bool = False
    sites: object = None
    _cached: tuple = ()

    def release(self) -> None:
        """Drop the engine's cached copies of the checked file."""
        import contextlib

        for table in self._cached:
            with contextlib.suppress(Exception):
                table.release()
        self._cached = ()


def _clean(column, quick: bool = False):
    """Text as the pandas reader gives it: stripped, empty = missing.

    ``quick``: look for space at either end first and strip only those texts (faster
    for long texts that seldom carry any, such as times).
    """
    import ibis

    if column.type().is_floating():
        # as the pandas reader writes a number: 35.0 → '35', NaN → missing
        whole = (column == column.floor()) & (column.abs() < 2.0**53)
        text = ibis.ifelse(whole, column.cast("int64").cast("string"), column.cast("string"))
        return column.isnan().ifelse(ibis.null("string"), text)  # no spaces to strip
    if not column.type().is_string():
        return column.cast("string").nullif("")  # a typed value's text has no spaces
    if quick:
        stripped = ibis.ifelse(column.re_search(_EDGE), column.re_replace(_STRIP, ""), column)
        return stripped.nullif("")
    return column.re_replace(_STRIP, "").nullif("")


def _one_of(column, texts):
    """``column`` equals one of a few texts, as a chain of ORs (not ``isin``): DuckDB turns
    an IN list of six or more constants into a join against them, which costs more than
    the comparisons on every row of a file."""
    import functools
    import operator

    return functools.reduce(operator.or_, (column == text for text in texts))


def _number(text, original=None):
    """Float64 of a cleaned text column (null when not a number, ±inf for 'inf' texts)."""
    import ibis

    if original is not None and original.type().is_numeric():
        number = original.cast("float64")
        return number.isnan().ifelse(ibis.null("float64"), number)
    # the number pattern first: only the texts that are not decimal numbers are lowered
    lower = text.lower()
    return ibis.cases(
        (text.re_search(_NUMBER), text.try_cast("float64")),
        *((lower.isin([word for word, s in _INFINITE.items() if s == sign]),
           ibis.literal(sign * float("inf"), "float64")) for sign in (1, -1)),
        else_=ibis.null("float64"))


def _engine_time(text, original):
    """UTC time of the texts the engine converts; null for the rest (the pandas parser's)."""
    import ibis
    import ibis.expr.datatypes as dt

    from sourcegrid.timebase import FIXED_OFFSET_FROM

    utc = dt.Timestamp(timezone="UTC")
    if original.type().is_timestamp() and original.type().timezone is not None:
        return original.cast(utc)
    year = text.substr(0, 4).try_cast("int64")
    in_range = (year >= FIXED_OFFSET_FROM.year) & (year <= 2261)  # pandas ns range ends 2262
    naive = text.re_search(_NAIVE_TIME) & in_range
    with_seconds = ibis.ifelse(text.length() == 16, text.concat(":00"), text)
    offset = text.re_search(_OFFSET_TIME) & in_range
    local = with_seconds.concat("+08:00")
    return ibis.cases((naive, local.try_cast(utc)), (offset, text.try_cast(utc)),
                      else_=ibis.null(utc))


def _engine_read_error(path: Path, error: BaseException) -> InputError:
    """The engine's reader refused a file: an InputError naming the file and the cause.

    (A failed read aborts a DuckDB transaction, so the pandas reader cannot take over
    in the same one; its message would say the same.)
    """
    kind, reason = (("Parquet table", "bad_parquet") if path.suffix.lower() == ".parquet"
                    else ("CSV file", "bad_csv"))
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InputError([Problem(path.name, None, "", "", reason,
                               f"not a well-formed {kind}: {text}")],
                      summary=f"cannot read {path}")


def read_observations_engine(backend, path: str | Path, *, site_kind: str | None = None,
                             units: Mapping[str, str] | None = None,
                             require_position: bool | None = None) -> EngineBatch | None:
    """Read and check a CSV/Parquet file of readings on an Ibis backend.

    The same checks, reasons, messages and conversions as :func:`read_observations`
    (which stays the reference and handles XLSX), run by the engine in few passes:

    1. the file is read by the backend (``read_csv``/``read_parquet``), numbered,
       cleaned and converted once into a cached typed copy (numbers, times, the
       row-level checks; a text only where a reject may need it);
    2. one aggregate counts the cells, the empty ones, those failing any check (one
       expression for all checks) and whether keys repeat;
    3. only when some cells fail are the checks evaluated one by one, on those cells,
       to write every reject (row, column, value, reason, message);
    4. the good readings are an expression on the copy, stored by one insert.

    A few distinct values come back to Python (pollutant names, units, time texts the
    engine does not parse itself); the readings stay in the engine. A backend that
    reads no files itself (PostgreSQL) gets None, for the pandas reader.

    Returns
    -------
    EngineBatch or None
        None when the engine does not take the file as it is (another encoding than
        UTF-8, no data rows, headers that repeat after renaming, a backend without a
        file reader): the caller uses
        :func:`read_observations`, which reads it or says what is wrong.

    Raises
    ------
    InputError
        The structure is wrong (required columns missing, no pollutant column), or
        the engine's reader refuses the file (a malformed CSV: ``bad_csv``).
    """
    path = Path(path)
    source = path.name
    if site_kind is not None and site_kind not in SITE_KINDS:
        raise NotFoundError("site kind", site_kind, SITE_KINDS)
    if path.suffix.lower() == ".csv" and not is_utf8(path):
        return None  # GB18030 and other encodings: the pandas reader decodes them
    try:
        raw = read_file(backend, path)
        columns = list(raw.columns)
    except NotImplementedError:
        return None  # a backend without a file reader (PostgreSQL): the pandas reader
    except Exception as error:  # noqa: BLE001 - the engine's reader refused the file
        raise _engine_read_error(path, error) from None
    from sourcegrid.io.tables import canonical_headers

    stripped = [str(c).lstrip("\ufeff").strip() for c in columns]
    names = canonical_headers(stripped, _HEADER_ALIASES)
    if len(set(names)) != len(names) or any(n.startswith("_") for n in names):
        return None
    raw = raw.rename({new: old for new, old in zip(names, columns, strict=True) if new != old})
    frame = pd.DataFrame(columns=names)
    problems = _structure_problems(frame, ["time", "site_id"], source)
    units, unit_problems = _unit_overrides(units, source)
    problems.extend(unit_problems)
    long_format = "pollutant" in names and "value" in names
    wide = [] if long_format else [c for c in names if canonical_pollutant(c) is not None]
    if not long_format and not wide:
        problems.append(Problem(source, 1, "", "", "no_pollutant_column",
                                "expected a long table (pollutant, value columns) or a wide "
                                f"one with a column per pollutant ({', '.join(POLLUTANTS)})"))
    if site_kind is None and "site_kind" not in names:
        problems.append(Problem(source, 1, "site_kind", "", "missing_column",
                                "give the site kind (--kind) or a site_kind column"))
    if problems:
        raise InputError(problems, f"cannot read observations from {source}")
    if require_position is None and {"lon", "lat"} & set(names):
        require_position = True  # a file with positions: an empty one is a fault

    try:
        cached, cache = cached_numbered(backend, raw, path, lambda numbered: _checked_rows(
            numbered, long_format, wide, site_kind, require_position, units))
        rows = int(cached.count().to_pyarrow().as_py())
    except Exception as error:  # noqa: BLE001 - a malformed file surfaces when first read
        raise _engine_read_error(path, error) from None
    if rows == 0:
        cache.release()
        return None  # header only: the pandas reader reports it
    try:
        return _engine_batch(cache, _constants(cached, raw.columns, long_format, site_kind),
                             source, long_format, wide, units, require_position)
    except BaseException:
        cache.release()
        raise


def _checked_rows(raw, long_format: bool, wide: list[str], site_kind: str | None,
                  require_position: bool | None, units: dict[str, str]):
    """One row per file row: cleaned texts, numbers, the engine's time and the row's
    checks that do not depend on the time (to be cached).

    The one pass over the file: every text is cleaned once, every number and time
    converted once; the checks and the stored readings are read from this copy.
    A text that is a plain number is converted as it is (not cleaned first), and the
    texts only a reject reports (a position, a kind, a wide table's value, the time)
    are kept only where a check may fail, so that the copy holds little more text
    than the readings themselves. Columns the file does not have are constants,
    added back by :func:`_constants` after the copy (not stored in it).
    """
    import ibis

    constants = _constant_columns(raw, long_format, site_kind)

    def text(name):
        return _clean(raw[name]) if name in raw.columns else constants[f"{name}_text"]

    def number(name):
        if name not in raw.columns:
            return ibis.null("float64")
        column = raw[name]
        if column.type().is_numeric():  # typed (Parquet): carried as it is
            return _number(None, column)
        return ibis.cases((column.re_search(_NUMBER), column.try_cast("float64")),
                          else_=_number(_clean(column)))

    values = ["value"] if long_format else wide
    rows = raw.select(
        _row=raw._row, time_text=_clean(raw["time"], quick=True), _o_time=raw["time"],
        site_text=text("site_id"),
        site_name=_clean(raw["site_name"]) if "site_name" in raw.columns
        else constants["site_name"],
        lon=number("lon"), lat=number("lat"),
        **{f"_r_{name}": raw[name] for name in ("lon", "lat") if name in raw.columns},
        kind_text=constants["kind_text"] if site_kind is not None else text("site_kind"),
        pollutant_text=text("pollutant") if long_format else constants["pollutant_text"],
        unit_text=text("unit") if long_format else constants["unit_text"],
        **{f"_n{i}": number(c) for i, c in enumerate(values)},
        **({"_t0": text("value")} if long_format else
           {f"_r{i}": raw[c] for i, c in enumerate(wide)}))
    rows = rows.mutate(time_engine=_engine_time(rows.time_text, rows._o_time),
                       kind=rows.kind_text.lower()).drop("_o_time")
    if not long_format:
        override = {p: u for p, u in units.items() if p in CANONICAL_UNITS}
        cells = {}
        for i, name in enumerate(wide):
            canonical = canonical_pollutant(name)
            given = override.get(canonical)
            factor = 1.0 if given is None else conversion_factor(given, CANONICAL_UNITS[canonical])
            low, high = PHYSICAL_RANGES[canonical]
            cleaned = _clean(rows[f"_r{i}"])
            number_i = rows[f"_n{i}"]
            # a wide table's empty cells: no measurement (a number never is one)
            cells[f"_e{i}"] = ibis.cases(
                (number_i.notnull(), False),
                else_=cleaned.isnull() | _one_of(cleaned.upper(), _EMPTY_TEXTS))
            # the text of a cell that is not a number in its range, for its reject
            cells[f"_t{i}"] = ibis.cases(
                (~(number_i * factor).between(low, high).fill_null(False), cleaned),
                else_=ibis.null("string"))
        rows = rows.mutate(**cells).drop(*(f"_r{i}" for i in range(len(wide))))
    # a position that is a number in range is given and passes: its text (for a reject
    # only) is cleaned only where the number is not (a stand-in marks it given)
    null = ibis.null("string")
    positions = {f"{name}_text": ibis.cases(
        (rows[name].between(-limit, limit).fill_null(False), ibis.literal("given")),
        else_=_clean(rows[f"_r_{name}"]))
        for name, limit in (("lon", 180), ("lat", 90)) if f"_r_{name}" in rows.columns}
    positions.update({name: constants[name] for name in ("lon_text", "lat_text")
                      if name in constants})
    rows = rows.mutate(**positions)
    bad = ibis.literal(False)
    for mask, *_ in _row_checks(None, rows, require_position):
        bad = bad | mask
    rows = rows.mutate(_rbad=bad.fill_null(False))
    # texts only a reject reports, kept where a check fails (or the time is the parser's)
    gated = {"time_text": ibis.ifelse(rows.time_engine.isnull(), rows.time_text, null)}
    gated.update({f"{name}_text": ibis.ifelse(rows._rbad, _clean(rows[f"_r_{name}"]), null)
                  for name in ("lon", "lat") if f"_r_{name}" in rows.columns})
    if site_kind is None:
        gated["kind_text"] = ibis.ifelse(rows._rbad, rows.kind_text, null)
    rows = rows.mutate(**{k: v for k, v in gated.items() if k not in constants})
    rows = rows.drop(*(f"_r_{name}" for name in ("lon", "lat") if f"_r_{name}" in rows.columns))
    return rows.drop(*(name for name in constants if name in rows.columns))


def _constant_columns(raw, long_format: bool, site_kind: str | None) -> dict:
    """The columns of the checked rows that the file does not have: constants."""
    import ibis

    null = ibis.null("string")
    constants = {f"{name}_text": null for name in ("time", "site_id", "lon", "lat")
                 if name not in raw.columns}
    if "site_name" not in raw.columns:
        constants["site_name"] = null
    if site_kind is not None:
        constants["kind_text"] = ibis.literal(site_kind, "string")
        constants["kind"] = ibis.literal(site_kind.lower(), "string")
    if not long_format:
        constants.update(pollutant_text=null, unit_text=null)
    else:
        constants.update({f"{name}_text": null for name in ("pollutant", "unit")
                          if name not in raw.columns})
    return constants


def _constants(rows, raw_columns, long_format: bool, site_kind: str | None):
    """The cached rows with the constant columns of :func:`_checked_rows` added back."""
    import ibis

    probe = ibis.table({name: "string" for name in raw_columns}, name="probe")
    constants = _constant_columns(probe, long_format, site_kind)
    return rows.mutate(**{k: v for k, v in constants.items() if k not in rows.columns})


def _with_fallback_times(rows):
    """``time``: the engine's time, or for the texts it leaves to the pandas parser (odd
    formats, early dates) the time that parser gives, each distinct text parsed once,
    exactly as :func:`read_observations` parses it. Returns (rows, fallback texts)."""
    import ibis
    import ibis.expr.datatypes as dt

    from sourcegrid.timebase import to_utc as parse_utc

    utc = dt.Timestamp(timezone="UTC")
    fallback = (rows.filter(rows.time_engine.isnull() & rows.time_text.notnull())
                .select("time_text").distinct().to_pandas()["time_text"])
    time = rows.time_engine
    if len(fallback):
        parsed = parse_utc(pd.Series(fallback.to_numpy(dtype=object)))
        known = pd.DataFrame({"_text": fallback.to_numpy(dtype=object),
                              "_time": parsed.astype("datetime64[us, UTC]")})
        known = known.loc[parsed.notna().to_numpy()]
        if 0 < len(known) <= _CASE_LIMIT:
            time = ibis.cases(*((rows.time_text == text, ibis.literal(stamp, utc))
                                for text, stamp in known.itertuples(index=False)),
                              else_=rows.time_engine)
        elif len(known):
            lookup = ibis.memtable(known)
            joined = rows.left_join(lookup, rows.time_text == lookup._text)
            return (joined.mutate(time=joined.time_engine.coalesce(joined._time).cast(utc))
                    .drop("_text", "_time"), fallback)
    return rows.mutate(time=time.cast(utc)), fallback


@dataclass
class _Part:
    """The reading cells of one value column (a wide table's pollutant column, or the
    long table's value column) with their checks, conversion and canonical names."""

    cells: object       # Ibis table: the rows' columns, value_text, value_num, _column, _empty
    pollutant: object   # canonical pollutant (Ibis string expression or literal)
    unit: object        # the unit the value is given in (Ibis expression)
    value: object       # value in the internal unit
    checks: list        # (mask, column, value text, reason, message), in reader order
    bad: object = None  # true when any check of the cell fails (one cheap expression)


def _parts(rows, long_format: bool, wide: list[str], units: dict[str, str]) -> list[_Part]:
    """One :class:`_Part` per value column; a wide column's pollutant, unit factor and
    range are constants, the long table's come from the few distinct names it holds."""
    import ibis

    override = {p: u for p, u in units.items() if p in CANONICAL_UNITS}
    common = ["_row", "time", "time_text", "site_text", "site_name", "kind_text", "kind",
              "lon_text", "lat_text", "lon", "lat", "unit_text", "_rbad"]
    if not long_format:
        parts = []
        for i, name in enumerate(wide):
            canonical = canonical_pollutant(name)
            cells = rows.select(*common, pollutant_text=ibis.literal(name),
                                _column=ibis.literal(name), value_text=rows[f"_t{i}"],
                                value_num=rows[f"_n{i}"], _empty=rows[f"_e{i}"])
            given = override.get(canonical)
            # overrides are checked before reading (_unit_overrides): this one converts
            factor = 1.0 if given is None else conversion_factor(given, CANONICAL_UNITS[canonical])
            low, high = PHYSICAL_RANGES[canonical]
            pollutant = ibis.literal(canonical, "string")
            unit = ibis.literal(given, "string") if given is not None else ibis.null("string")
            value = cells.value_num * factor
            message = ibis.literal(f"value outside the physical range of the pollutant: "
                                   f"{canonical} {low:g} to {high:g} "
                                   f"{CANONICAL_UNITS[canonical]} (PHYSICAL_RANGES)")
            checks = _value_checks(cells, pollutant, unit, value, ibis.literal(low, "float64"),
                                   ibis.literal(high, "float64"), message, [])
            # no unknown pollutant, no unit to check: a number in [low, high] passes
            bad = cells._rbad | cells.time.isnull() | ~value.between(low, high).fill_null(False)
            parts.append(_Part(cells, pollutant, unit, value, checks, bad))
        return parts

    cells = rows.select(*common, "pollutant_text", _column=ibis.literal("value"),
                        value_text=rows._t0, value_num=rows._n0, _empty=ibis.literal(False))
    # the few distinct values Python maps: pollutant names and (pollutant, unit) pairs
    pairs = rows.select("pollutant_text", "unit_text").distinct().to_pandas()
    mapped = {name: canonical_pollutant(name) for name in pairs["pollutant_text"].dropna()}
    known_names = {k: v for k, v in mapped.items() if v is not None}
    pollutant = (cells.pollutant_text.substitute(known_names, else_=ibis.null("string"))
                 if known_names else ibis.null("string")).cast("string")
    unit = cells.unit_text
    if override:
        unit = unit.coalesce(pollutant.substitute(override, else_=ibis.null("string")))
    unit_pairs = set()
    for name, text in pairs.itertuples(index=False):
        canonical = mapped.get(name)
        given = text if isinstance(text, str) else override.get(canonical)
        if canonical is not None and given is not None:
            unit_pairs.add((canonical, given))
    factors, bad_units = [], []
    for name, text in sorted(unit_pairs):
        where = (pollutant == name) & (unit == text)
        try:
            factors.append((where, conversion_factor(text, CANONICAL_UNITS[name])))
        except UnitError as error:
            bad_units.append((where, f"expected a unit convertible to "
                                     f"{CANONICAL_UNITS[name]} ({error})"))
    factor = ibis.cases(*factors, else_=1.0) if factors else ibis.literal(1.0)
    value = cells.value_num * factor
    low = pollutant.substitute({p: r[0] for p, r in PHYSICAL_RANGES.items()},
                               else_=ibis.null("float64")).cast("float64")
    high = pollutant.substitute({p: r[1] for p, r in PHYSICAL_RANGES.items()},
                                else_=ibis.null("float64")).cast("float64")
    checks = _value_checks(cells, pollutant, unit, value, low, high, _range_message(pollutant),
                           bad_units)
    # every check at once: a negative concentration is below its range's lower bound 0
    bad = cells._rbad | cells.time.isnull() | pollutant.isnull()
    for where, _ in bad_units:
        bad = bad | where.fill_null(False)
    bad = bad | ~value.between(low, high).fill_null(False)
    return [_Part(cells, pollutant, unit, value, checks, bad)]


def _engine_batch(cached_rows, rows, source: str, long_format: bool, wide: list[str],
                  units: dict[str, str], require_position: bool | None) -> EngineBatch:
    """Check and convert the cached rows: one aggregate counts the cells, the empty ones
    and those failing a check (and whether keys repeat); only when some fail are the
    checks evaluated again to write their rejects."""
    import ibis

    rows, _ = _with_fallback_times(rows)
    parts = _parts(rows, long_format, wide, units)

    tallies = ibis.union(*(p.cells.select(_empty=p.cells._empty, _bad=~p.cells._empty & p.bad)
                           for p in parts), distinct=False)
    counts = tallies.aggregate(cells=tallies.count(),
                               empty=tallies._empty.ifelse(1, 0).sum(),
                               bad=tallies._bad.ifelse(1, 0).sum())
    key_columns = _key_columns(parts, rows, long_format, wide)
    if key_columns is not None:
        keyed, key = key_columns
        timed = keyed.filter(keyed.time.notnull() & keyed.site_text.notnull()).select(*key)
        counts = counts.cross_join(timed.aggregate(timed=timed.count())).cross_join(
            timed.distinct().aggregate(distinct=lambda t: t.count()))
    tally = counts.to_pandas().iloc[0]
    total, missing = int(tally["cells"]), int(pd.Series([tally["empty"]]).fillna(0).iloc[0])
    flagged_count = int(pd.Series([tally["bad"]]).fillna(0).iloc[0])
    unique_keys = key_columns is not None and int(tally["timed"]) == int(tally["distinct"])

    cached = [cached_rows]
    if flagged_count:
        rejects, flagged = _engine_rejects(parts, require_position, source)
        cached.append(flagged)
    else:
        rejects = problems_frame([])
    read = total - missing - flagged_count
    if long_format:
        missing = 0
    readings = ibis.union(*(_good(p, p.bad if flagged_count else None) for p in parts),
                          distinct=False)
    return EngineBatch(readings, rejects, missing, source, read=read, unique_keys=unique_keys,
                       sites=_engine_sites(rows), _cached=tuple(cached))


def _key_columns(parts, rows, long_format: bool, wide: list[str]):
    """The table and columns whose distinct values are the readings' keys, or None when
    two cells of a row may share a key (two wide columns of one pollutant)."""
    if long_format:
        part = parts[0]
        return part.cells.mutate(_pollutant=part.pollutant), ["site_text", "time", "_pollutant"]
    names = [canonical_pollutant(name) for name in wide]
    if len(set(names)) != len(names):
        return None
    return rows, ["site_text", "time"]


def _good(part: _Part, bad):
    """The readings of a part that pass every check, in the canonical columns."""
    import ibis
    import ibis.expr.datatypes as dt

    cells = part.cells
    keep = ~cells._empty if bad is None else ~cells._empty & ~bad
    good = cells.mutate(_pollutant=part.pollutant, _value=part.value).filter(keep)
    return good.select(
        _row=good._row, time=good.time.cast(dt.Timestamp(timezone="UTC")),
        site_id=good.site_text, site_kind=good.kind, site_name=good.site_name,
        lon=good.lon.cast("float64"), lat=good.lat.cast("float64"),
        pollutant=good._pollutant.cast("string"), value=good._value.cast("float64"),
        unit=good._pollutant.substitute(CANONICAL_UNITS, else_=ibis.null("string"))
        .cast("string"))


def _engine_sites(rows):
    """The sites of the rows whose site-level checks pass (site, kind, time, position)."""
    chosen = rows.filter(~rows._rbad & rows.time.notnull())
    return chosen.select(site_id=chosen.site_text, site_kind=chosen.kind,
                         site_name=chosen.site_name, lon=chosen.lon.cast("float64"),
                         lat=chosen.lat.cast("float64"))


def _range_message(pollutant):
    import ibis

    return ibis.cases(*((pollutant == p, f"value outside the physical range of the pollutant: "
                                         f"{p} {r[0]:g} to {r[1]:g} {CANONICAL_UNITS[p]} "
                                         "(PHYSICAL_RANGES)")
                        for p, r in PHYSICAL_RANGES.items()),
                      else_="value outside the physical range of the pollutant:  "
                            "(PHYSICAL_RANGES)")


def _row_checks(time, cells, require_position):
    """The checks of a file row (time, site, kind, position), in reader order:
    (mask, column, value text, reason, message); without the time's when ``time`` is
    None."""
    import ibis

    kind = cells.kind
    no_lon, no_lat = cells.lon_text.isnull(), cells.lat_text.isnull()
    needs_position = (kind.isin(list(POSITIONED_KINDS)) if require_position is None
                      else ibis.literal(bool(require_position)))
    timed = [] if time is None else [
        (time.isnull(), "time", cells.time_text, "bad_time",
         "expected a date-time such as 2026-03-01 08:00 (Asia/Shanghai) or ISO 8601 with offset")]
    return timed + [
        (cells.site_text.isnull(), "site_id", cells.site_text, "missing_site",
         "expected a site id"),
        (kind.isnull() | ~kind.isin(list(SITE_KINDS)), "site_kind", cells.kind_text,
         "bad_site_kind", f"expected one of {', '.join(SITE_KINDS)}"),
        (~no_lon & ~cells.lon.between(-180, 180).fill_null(False), "lon", cells.lon_text,
         "bad_coordinate", "expected a longitude in degrees, -180 to 180"),
        (~no_lat & ~cells.lat.between(-90, 90).fill_null(False), "lat", cells.lat_text,
         "bad_coordinate", "expected a latitude in degrees, -90 to 90"),
        (needs_position & (no_lon | no_lat), ibis.ifelse(no_lon, "lon", "lat"),
         ibis.ifelse(no_lon, cells.lat_text, cells.lon_text), "missing_position",
         "expected the reading's position (lon and lat in degrees): fusion, calibration and "
         "QC place readings by position"),
    ]


def _part_row_checks(part: _Part, require_position):
    """The row checks of a part's cells; those the cached copy evaluated (``_rbad``)
    only where it found a failure, since it kept their texts only there."""
    time_check, *others = _row_checks(part.cells.time, part.cells, require_position)
    gate = part.cells._rbad
    return [time_check] + [(mask & gate, *rest) for mask, *rest in others]


def _value_checks(cells, pollutant, unit, value, low, high, range_message, bad_units):
    """The checks of a reading cell, after the row's, in reader order."""
    negative = (value < 0) & (low >= 0)
    column = cells._column
    checks = [
        (pollutant.isnull(), "pollutant", cells.pollutant_text, "unknown_pollutant",
         f"expected one of {', '.join(POLLUTANTS)}"),
        (cells.value_text.isnull() & cells.value_num.isnull(), column, cells.value_text,
         "missing_value", "expected a number"),
        (cells.value_num.isnull() & cells.value_text.notnull(), column, cells.value_text,
         "not_a_number", "expected a number"),
    ]
    checks += [(where, "unit", unit, "bad_unit", message) for where, message in bad_units]
    checks += [
        (negative, column, cells.value_text, "negative_value", "expected a concentration >= 0"),
        (((value < low) | (value > high)) & ~negative.fill_null(False), column, cells.value_text,
         "out_of_range", range_message),
    ]
    return checks


def _engine_rejects(parts, require_position, source: str):
    """Every failed check as a reject row (all problems of a reading, not the first).

    Run only when the counting pass found failing cells: those (few) cells are
    flagged and cached in one pass over the parts; the reject rows are read from that
    copy. Returns the rejects and the cached flagged cells.
    """
    import ibis

    pieces = []
    for part in parts:
        checks = _part_row_checks(part, require_position) + part.checks
        bad = ibis.literal(False)
        flags = {}
        for order, (mask, column, value, _, message) in enumerate(checks):
            bad = bad | mask.fill_null(False)
            flags[f"_c{order}"] = mask.fill_null(False)
            flags[f"_v{order}"] = value.cast("string").fill_null("")
            if not isinstance(column, str):
                flags[f"_k{order}"] = column.cast("string")
            if not isinstance(message, str):
                flags[f"_m{order}"] = message.cast("string")
        cells = part.cells
        pieces.append(cells.filter(~cells._empty & bad).select(
            _row=cells._row.cast("int64"), _cell=cells._column, **flags))
    checks = _part_row_checks(parts[0], require_position) + parts[0].checks
    flagged = ibis.union(*pieces, distinct=False).cache()
    selected = []
    for order, (_, column, _, reason, message) in enumerate(checks):
        chosen = flagged.filter(flagged[f"_c{order}"])
        selected.append(chosen.select(
            _check=ibis.literal(order, "int64"), row=chosen._row,
            column=ibis.literal(column) if isinstance(column, str) else chosen[f"_k{order}"],
            value=chosen[f"_v{order}"], reason=ibis.literal(reason),
            message=ibis.literal(message) if isinstance(message, str)
            else chosen[f"_m{order}"]))
    frame = ibis.union(*selected, distinct=False).to_pandas()
    frame = frame.sort_values(["_check", "row", "column"], kind="stable")
    frame = frame.drop_duplicates(["row", "column", "value", "reason", "message"])
    out = pd.DataFrame({"source": source, "row": frame["row"].astype("Int64"),
                        "column": frame["column"].astype(str),
                        "value": frame["value"].astype("string").fillna(""),
                        "reason": frame["reason"].astype(str),
                        "message": frame["message"].astype(str)})
    return (out.reset_index(drop=True) if len(out) else problems_frame([])), flagged
