"""Quality control of readings: flags, never deletions.

Each check returns flag rows (site_id, time, pollutant, value, flag, severity,
detail), one per flagged reading and reason; the readings themselves are never
changed. Readings with a ``'fail'`` flag are left out of calibration and fusion;
``'warn'`` flags are kept and reported. Gaps are reported per site (table
``observation_gaps``), not per reading.

Flags (reason codes)
--------------------
``out_of_range`` (fail)
    Value outside the instrument range :data:`QC_RANGES`.
``spike`` (fail)
    Hampel identifier: |x − median| > k · 1.4826 · MAD over a centred window of
    ``window`` readings of the same site and pollutant, and > ``min_jump``.
``flat_line`` (fail)
    ``min_run`` or more consecutive identical readings (a stuck sensor).
``duplicate_timestamp`` (fail)
    The same site, time and pollutant with different values (all of them flagged).
``pm25_gt_pm10`` (fail)
    PM2.5 above PM10 (by more than ``tolerance``) at the same site and time; both
    readings flagged.
``drift`` (warn)
    A micro-station's rolling mean difference from the nearest reference station
    (within ``max_distance``) exceeds ``threshold`` of the reference rolling mean
    over ``window_hours``; its readings in those hours are flagged (recalibrate).
``gap`` (report)
    Missing expected intervals per site and pollutant (:func:`find_gaps`).

References
----------
Every check is an Ibis expression over the readings table, so it runs in the
workspace's engine (DuckDB, PySpark, PostgreSQL) and the flags table is written
by the engine; the ``check_*`` functions also take a DataFrame (small data, run
on an in-memory DuckDB) and then return a DataFrame. Rolling statistics over
``window`` readings are exact: the neighbours of each reading become columns (lag/lead) and a
sorting network orders them within the row, which gives the median and, on the
absolute deviations, the MAD, as NumPy's median does (DuckDB). On PySpark and
PostgreSQL (which inline such nested expressions into one another) each reading is
joined with its window neighbours by row number instead and the median and MAD are
grouped exact percentiles (Spark ``percentile``, PostgreSQL ``percentile_cont``); both
forms give the same flags (tests/observations/test_qc_engines.py).

Hampel, F. R. (1974). The influence curve and its role in robust estimation.
JASA 69, 383-393; Pearson, R. K. (2002). Outliers in process modeling and
identification. IEEE Trans. Control Syst. Technol. 10, 55-63.
HJ 653-2021 (PM10/PM2.5 continuous monitors: measurement range 0-1000 µg/m³).
HJ 654-2013 (gas analysers: SO2, NO2, O3 full scale 0-500 nmol/mol, CO 0-50 µmol/mol).
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from sourcegrid.named_sets import named_set

__all__ = [
    "FLAGS",
    "FLAG_COLUMNS",
    "FLAGS_TABLE",
    "GAPS_TABLE",
    "QC_RANGES",
    "QC_PARAMETERS",
    "EXPECTED_INTERVAL",
    "check_range",
    "check_spike",
    "check_flat_line",
    "check_duplicate_timestamp",
    "check_pm25_gt_pm10",
    "check_drift",
    "find_gaps",
    "qc_expressions",
    "run_qc",
    "flag_counts",
    "passing",
    "qc_workspace",
]

FLAGS_TABLE = "observation_flags"
GAPS_TABLE = "observation_gaps"
FLAG_COLUMNS = ["site_id", "time", "pollutant", "value", "flag", "severity", "detail"]
GAP_COLUMNS = ["site_id", "site_kind", "pollutant", "gap_start", "gap_end", "missing"]
READING_KEY = ["site_id", "time", "pollutant"]
#: Reason code → severity ('fail' readings are left out of later steps).
FLAGS: dict[str, str] = {
    "out_of_range": "fail",
    "spike": "fail",
    "flat_line": "fail",
    "duplicate_timestamp": "fail",
    "pm25_gt_pm10": "fail",
    "drift": "warn",
    "gap": "report",
}

#: Instrument measurement ranges in the internal unit. PM: HJ 653-2021 (0-1000 µg/m³).
#: Gases: HJ 654-2013 full scale (SO2, NO2, O3 500 nmol/mol; CO 50 µmol/mol) converted at
#: 273.15 K, 101.325 kPa (molar volume 22.414 L/mol): SO2 1430, NO2 1027, O3 1071 µg/m³,
#: CO 62.5 mg/m³. RH 0-100 %, TEMP -40 to 60 °C (sensor operating range, typical data sheets).
QC_RANGES: dict[str, tuple[float, float]] = {
    "PM2.5": (0.0, 1000.0),
    "PM10": (0.0, 1000.0),
    "SO2": (0.0, 1430.0),
    "NO2": (0.0, 1027.0),
    "O3": (0.0, 1071.0),
    "CO": (0.0, 62.5),
    "TVOC": (0.0, 50000.0),
    "RH": (0.0, 100.0),
    "TEMP": (-40.0, 60.0),
}

#: Expected reporting interval by site kind (for gaps). Mobile tracks are not checked.
EXPECTED_INTERVAL: dict[str, str] = {"reference": "1h", "micro": "1min"}

#: Named parameter sets of the checks. 'default': Hampel window 7 readings, k = 3
#: (Pearson 2002), flat line 6 identical readings (6 h for hourly data, a common rule for
#: reference stations), drift over 7 days of hourly pairs, 30 % of the reference mean.
QC_PARAMETERS: dict[str, dict[str, float]] = {
    "default": {"spike_window": 7, "spike_k": 3.0, "spike_min_jump": 10.0,
                "flat_min_run": 6, "pm_tolerance": 0.0, "drift_window_hours": 168,
                "drift_min_pairs": 24, "drift_threshold": 0.30, "drift_max_distance": 3000.0},
}


def qc_parameters(name: str | Mapping[str, float] = "default") -> dict[str, float]:
    """A named QC parameter set, or overrides of 'default'."""
    return named_set(QC_PARAMETERS, name, set_kind="QC parameter set",
                     parameter_kind="QC parameter")


# ---------------------------------------------------------------------- expression helpers

def _utc(column):
    return column.cast(dt.Timestamp(timezone="UTC"))


def _as_table(readings) -> tuple[ibis.Table, bool]:
    """(Ibis table, was a DataFrame). A DataFrame becomes a memtable (time UTC, value float)."""
    if isinstance(readings, ibis.Table):
        return readings, False
    frame = readings.reset_index(drop=True).copy()
    for column in ("time", "hour"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("value", "reference", "rh", "temp", "distance", "lon", "lat"):
        if column in frame:
            frame[column] = frame[column].astype(float)
    for column in ("site_id", "pollutant", "site_kind", "reference_id"):
        if column in frame:
            frame[column] = frame[column].astype("string")
    return ibis.memtable(frame), True


def _collect(expr: ibis.Table, columns: list[str], order: list[str]) -> pd.DataFrame:
    frame = expr.to_pandas()
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)[columns]
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].astype("datetime64[us, UTC]")
    return frame


def _flags_out(expr: ibis.Table, was_frame: bool):
    return _collect(expr, FLAG_COLUMNS, ["site_id", "pollutant", "time", "value"]) \
        if was_frame else expr


def _flag_rows(table: ibis.Table, flag: str, detail) -> ibis.Table:
    """Flag rows (FLAG_COLUMNS) of every row of ``table``; ``detail`` a string expression."""
    return table.select(
        site_id=table.site_id.cast("string"), time=_utc(table.time),
        pollutant=table.pollutant.cast("string"), value=table.value.cast("float64"),
        flag=ibis.literal(flag, "string"), severity=ibis.literal(FLAGS[flag], "string"),
        detail=(detail if not isinstance(detail, str) else ibis.literal(detail)).cast("string"))


def _rint(scaled):
    """Round half to even, as NumPy's ``np.round`` (an int64 expression)."""
    low = scaled.floor()
    rest = scaled - low
    odd = low.abs().cast("int64") % 2
    return ibis.cases((rest > 0.5, low + 1), (rest < 0.5, low),
                      else_=low + odd).cast("int64")


def _decimal_text(value, digits: int):
    """``str(np.round(value, digits))`` for ``digits`` in 1..3, in any engine's SQL.

    Built from integers (the engines print floats differently): the integer part, a
    point and the fraction without trailing zeros (at least one digit), e.g. 32.0, 31.667.
    """
    scale = 10**digits
    number = _rint(value * scale)
    whole = (number.abs() // scale).cast("string")
    fraction = number.abs() % scale
    cases = []
    for kept in range(1, digits):  # fewer digits when the last ones are zeros
        drop = 10 ** (digits - kept)
        cases.append((fraction % drop == 0, (fraction // drop).cast("string").lpad(kept, "0")))
    text = ibis.cases(*cases, else_=fraction.cast("string").lpad(digits, "0")) if cases \
        else fraction.cast("string").lpad(digits, "0")
    sign = ibis.ifelse(number < 0, "-", "")
    return sign.concat(whole, ".", text)


def _hour_number(time):
    """Whole hours since the epoch (int64): an integer order for hour-range windows."""
    return (time.epoch_seconds() // 3600).cast("int64")


def _series_window(table: ibis.Table):
    return ibis.window(group_by=[table.site_id, table.pollutant], order_by=table.time)


def _single(table: ibis.Table) -> ibis.Table:
    """Readings whose site, time and pollutant occur once (series checks need one value)."""
    counts = table.group_by(READING_KEY).aggregate(_n=table.count())
    return table.semi_join(counts.filter(counts._n == 1), READING_KEY)


# ---------------------------------------------------------------------- the checks

def _range(table: ibis.Table, ranges: Mapping[str, tuple[float, float]]) -> ibis.Table:
    limits = ibis.memtable(pd.DataFrame({
        "_pollutant": pd.Series(list(ranges), dtype="string"),
        "_low": [float(v[0]) for v in ranges.values()],
        "_high": [float(v[1]) for v in ranges.values()],
        "_detail": pd.Series([f"range {float(v[0])}-{float(v[1])}" for v in ranges.values()],
                             dtype="string")}))
    joined = table.join(limits, table.pollutant == limits._pollutant)
    hit = joined.filter((joined.value < joined._low) | (joined.value > joined._high))
    return _flag_rows(hit, "out_of_range", hit._detail)


def check_range(readings, ranges: Mapping[str, tuple[float, float]] = QC_RANGES):
    """``out_of_range``: values outside the instrument range of their pollutant."""
    table, was_frame = _as_table(readings)
    return _flags_out(_range(table, ranges), was_frame)


def _sorting_network(size: int) -> list[list[tuple[int, int]]]:
    """Batcher's odd-even merge sort for ``size`` inputs, as layers of disjoint comparators.

    Built for the next power of two; comparators reaching past ``size`` are dropped (the
    missing inputs sort last, so those comparators never exchange anything).
    Knuth, TAOCP vol. 3, 5.3.4 (Batcher 1968).
    """
    width = 1
    while width < size:
        width *= 2
    layers: list[list[tuple[int, int]]] = []
    p = 1
    while p < width:
        k = p
        while k >= 1:
            layer = []
            for j in range(k % p, width - k, 2 * k):
                for i in range(min(k, width - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        layer.append((i + j, i + j + k))
            layers.append([(a, b) for a, b in layer if b < size])
            k //= 2
        p *= 2
    return [layer for layer in layers if layer]


def _sorted_columns(table: ibis.Table, names: list[str]) -> ibis.Table:
    """Sort the values of columns ``names`` within each row, nulls last (a sorting network)."""
    for layer in _sorting_network(len(names)):
        changes = {}
        for i, j in layer:
            a, b = table[names[i]], table[names[j]]
            low = ibis.cases((a.isnull(), b), (b.isnull(), a), (a <= b, a), else_=b)
            high = ibis.cases((a.isnull() | b.isnull(), ibis.null("float64")), (a <= b, b),
                              else_=a)
            changes[names[i]], changes[names[j]] = low, high
        table = table.mutate(**changes)
    return table


def _row_median(table: ibis.Table, names: list[str], count):
    """Median of the sorted columns ``names`` whose first ``count`` are the values (NumPy's:
    the middle one, or the mean of the two middle ones)."""
    cases = []
    for c in range(1, len(names) + 1):
        middle = table[names[c // 2]] if c % 2 else \
            (table[names[c // 2 - 1]] + table[names[c // 2]]) / 2.0
        cases.append((count == c, middle))
    return ibis.cases(*cases, else_=ibis.null("float64"))


def _spike_by_network(table: ibis.Table, window: int, k: float, min_jump: float) -> ibis.Table:
    """Hampel identifier, exact without a median aggregate (DuckDB: 3× faster than the join).

    The ``window`` neighbours of each reading (lag/lead in time order, null past the ends
    of its series) become columns; a sorting network orders them per row, which gives the
    median, and again the absolute deviations, which gives the MAD.
    """
    window = int(window) | 1
    half = window // 2
    names = [f"_w{i}" for i in range(window)]
    series = _series_window(table)
    neighbours = {}
    for i in range(window):
        offset = i - half
        neighbours[names[i]] = (table.value if offset == 0 else
                                table.value.lead(offset).over(series) if offset > 0 else
                                table.value.lag(-offset).over(series)).cast("float64")
    columns = table.select("site_id", "pollutant", "time", "value", **neighbours)
    count = sum(ibis.ifelse(columns[name].isnull(), 0, 1) for name in names)
    columns = columns.mutate(_count=count)
    ordered = _sorted_columns(columns, names)
    ordered = ordered.mutate(_median=_row_median(ordered, names, ordered._count))
    deviations = ordered.mutate(**{name: (ordered[name] - ordered._median).abs()
                                   for name in names})
    deviations = _sorted_columns(deviations, names)
    spread = deviations.mutate(_mad=_row_median(deviations, names, deviations._count))
    departure = (spread.value - spread._median).abs()
    hit = spread.filter((departure > k * 1.4826 * spread._mad) & (departure > min_jump)
                        & (spread._count >= 3))
    return _flag_rows(hit, "spike", ibis.literal("median ").concat(_decimal_text(hit._median, 3)))


def _spike_by_join(table: ibis.Table, window: int, k: float, min_jump: float) -> ibis.Table:
    """Hampel identifier as a self-join of each reading with its window neighbours by row
    number and grouped medians (Spark's exact ``percentile``, interpolated as NumPy's).

    For PySpark and PostgreSQL: both inline the nested CASE expressions of a sorting
    network into one another (Spark's analyzer, PostgreSQL's subquery pull-up), which
    grows exponentially with its depth; the result is the same as
    :func:`_spike_by_network`.
    """
    window = int(window) | 1
    half = window // 2
    numbered = table.select("site_id", "pollutant", "time", "value",
                            _rn=ibis.row_number().over(_series_window(table)))
    offsets = ibis.memtable(pd.DataFrame({"_offset": np.arange(-half, half + 1, dtype=np.int64)}))
    centres = numbered.select("site_id", "pollutant", "_rn").cross_join(offsets)
    centres = centres.mutate(_nrn=centres._rn + centres._offset)
    neighbours = numbered.select(site_id="site_id", pollutant="pollutant", _nrn="_rn",
                                 _nvalue="value")
    windows = centres.join(neighbours, ["site_id", "pollutant", "_nrn"]).select(
        "site_id", "pollutant", "_rn", "_nvalue")
    key = ["site_id", "pollutant", "_rn"]
    median = windows.group_by(key).aggregate(_median=windows._nvalue.median(),
                                             _count=windows._nvalue.count())
    spread = windows.join(median, key)
    spread = spread.mutate(_deviation=(spread._nvalue - spread._median).abs())
    mad = spread.group_by(key).aggregate(_mad=spread._deviation.median(),
                                         _median=spread._median.max(),
                                         _count=spread._count.max())
    joined = numbered.join(mad, key)
    departure = (joined.value - joined._median).abs()
    hit = joined.filter((departure > k * 1.4826 * joined._mad) & (departure > min_jump)
                        & (joined._count >= 3))
    return _flag_rows(hit, "spike", ibis.literal("median ").concat(_decimal_text(hit._median, 3)))


def _engine(table: ibis.Table) -> str:
    try:
        return table._find_backend(use_default=True).name
    except Exception:  # an unbound expression: the default engine runs it
        return "duckdb"


def _spike(table: ibis.Table, window: int, k: float, min_jump: float) -> ibis.Table:
    if _engine(table) == "duckdb":
        return _spike_by_network(table, window, k, min_jump)
    return _spike_by_join(table, window, k, min_jump)


def check_spike(readings, *, window: int = 7, k: float = 3.0, min_jump: float = 10.0):
    """``spike``: Hampel identifier over a centred window of ``window`` readings.

    Parameters
    ----------
    window : int
        Readings in the centred window (odd), per site and pollutant, in time order;
        the window is cut at the ends of a series (at least 3 readings needed).
    k : float
        Threshold in robust standard deviations (1.4826 · MAD).
    min_jump : float
        Smallest absolute departure flagged [internal unit], so that a window of
        identical values (MAD = 0) does not flag ordinary noise.
    """
    table, was_frame = _as_table(readings)
    return _flags_out(_spike(table, window, k, min_jump), was_frame)


def _flat_line(table: ibis.Table, min_run: int) -> ibis.Table:
    window = _series_window(table)
    previous = table.mutate(_previous=table.value.lag().over(window))
    previous = previous.mutate(_new=ibis.ifelse(
        previous._previous.isnull() | (previous._previous != previous.value), 1, 0))
    runs = previous.mutate(_run=previous._new.cumsum().over(_series_window(previous)))
    runs = runs.mutate(_length=runs.value.count().over(
        ibis.window(group_by=[runs.site_id, runs.pollutant, runs._run])))
    hit = runs.filter(runs._length >= int(min_run))
    return _flag_rows(hit, "flat_line", hit._length.cast("int64").cast("string")
                      .concat(" identical readings"))


def check_flat_line(readings, *, min_run: int = 6):
    """``flat_line``: runs of ``min_run`` or more identical consecutive readings."""
    table, was_frame = _as_table(readings)
    return _flags_out(_flat_line(table, min_run), was_frame)


def _duplicate_timestamp(table: ibis.Table) -> ibis.Table:
    distinct = table.group_by(READING_KEY).aggregate(_distinct=table.value.nunique())
    hit = table.join(distinct.filter(distinct._distinct > 1), READING_KEY)
    return _flag_rows(hit, "duplicate_timestamp",
                      hit._distinct.cast("int64").cast("string").concat(" values at one time"))


def check_duplicate_timestamp(readings):
    """``duplicate_timestamp``: one site, time and pollutant with more than one value."""
    table, was_frame = _as_table(readings)
    return _flags_out(_duplicate_timestamp(table), was_frame)


def _pm25_gt_pm10(table: ibis.Table, tolerance: float) -> ibis.Table:
    key = ["site_id", "time"]
    pm25 = table.filter(table.pollutant == "PM2.5").select(*key, _pm25="value")
    pm10 = table.filter(table.pollutant == "PM10").select(*key, _pm10="value")
    pairs = pm25.join(pm10, key)
    bad = pairs.filter(pairs._pm25 > pairs._pm10 + tolerance).select(*key).distinct()
    hit = table.filter(table.pollutant.isin(["PM2.5", "PM10"])).semi_join(bad, key)
    return _flag_rows(hit, "pm25_gt_pm10", "PM2.5 above PM10")


def check_pm25_gt_pm10(readings, *, tolerance: float = 0.0):
    """``pm25_gt_pm10``: PM2.5 > PM10 + tolerance at the same site and time (both flagged)."""
    table, was_frame = _as_table(readings)
    return _flags_out(_pm25_gt_pm10(table, tolerance), was_frame)


def nearest_reference(sites: pd.DataFrame, references: pd.DataFrame,
                      max_distance: float) -> pd.DataFrame:
    """Nearest reference station of each site within ``max_distance`` [m] (site_id, reference_id, distance)."""
    from pyproj import Geod
    from scipy.spatial import cKDTree

    empty = pd.DataFrame({"site_id": pd.Series(dtype="string"),
                          "reference_id": pd.Series(dtype="string"),
                          "distance": pd.Series(dtype=float)})
    if sites.empty or references.empty:
        return empty
    # local equirectangular metres for the tree, exact geodesic distance for the answer
    lat0 = np.deg2rad(float(np.mean(references["lat"])))
    scale = np.array([111_320.0 * np.cos(lat0), 110_540.0])
    tree = cKDTree(references[["lon", "lat"]].to_numpy(float) * scale)
    _, index = tree.query(sites[["lon", "lat"]].to_numpy(float) * scale, k=1)
    chosen = references.iloc[index]
    _, _, distance = Geod(ellps="WGS84").inv(sites["lon"].to_numpy(float),
                                              sites["lat"].to_numpy(float),
                                              chosen["lon"].to_numpy(float),
                                              chosen["lat"].to_numpy(float))
    out = pd.DataFrame({"site_id": sites["site_id"].to_numpy(),
                        "reference_id": chosen["site_id"].to_numpy(), "distance": distance})
    out = out.loc[out["distance"] <= max_distance].reset_index(drop=True)
    return out.astype({"site_id": "string", "reference_id": "string"}) if len(out) else empty


def site_positions(table: ibis.Table, kinds=("micro", "reference")) -> pd.DataFrame:
    """One position per fixed site (site_id, site_kind, lon, lat): a small table, collected."""
    fixed = table.filter(table.site_kind.isin(list(kinds)))
    positions = fixed.group_by(["site_id", "site_kind"]).aggregate(
        lon=fixed.lon.min(), lat=fixed.lat.min()).to_pandas()
    return positions.sort_values("site_id").reset_index(drop=True)


def reference_pairs(table: ibis.Table, max_distance: float) -> pd.DataFrame:
    """Micro-station → nearest reference station within ``max_distance`` (NumPy, few sites)."""
    positions = site_positions(table)
    return nearest_reference(positions.loc[positions["site_kind"] == "micro"],
                             positions.loc[positions["site_kind"] == "reference"], max_distance)


def hourly_means(table: ibis.Table) -> ibis.Table:
    """Hour means per site and pollutant: site_id, site_kind, pollutant, hour (UTC), value,
    and ``_hour`` (whole hours since the epoch, an integer order for hour windows)."""
    hours = table.mutate(hour=_utc(table.time.truncate("h")))
    means = hours.group_by(["site_id", "site_kind", "pollutant", "hour"]).aggregate(
        value=hours.value.mean())
    return means.mutate(_hour=_hour_number(means.hour))


def _drift(table: ibis.Table, window_hours: int, min_pairs: int, threshold: float,
           max_distance: float) -> ibis.Table:
    pairs = reference_pairs(table, max_distance)
    if pairs.empty:
        return _flag_rows(table.filter(ibis.literal(False)), "drift", "")
    hourly = hourly_means(table)
    micro = hourly.filter(hourly.site_kind == "micro")
    reference = hourly.filter(hourly.site_kind == "reference").select(
        reference_id="site_id", pollutant="pollutant", _hour="_hour", _reference="value")
    micro = micro.drop("hour")
    joined = micro.join(ibis.memtable(pairs[["site_id", "reference_id"]]), "site_id")
    joined = joined.join(reference, ["reference_id", "pollutant", "_hour"])
    joined = joined.mutate(_difference=joined.value - joined._reference)
    trailing = ibis.range_window(group_by=[joined.site_id, joined.pollutant],
                                 order_by=joined._hour, preceding=int(window_hours) - 1,
                                 following=0)
    rolled = joined.mutate(_mean_difference=joined._difference.mean().over(trailing),
                           _mean_reference=joined._reference.mean().over(trailing),
                           _pairs=joined._difference.count().over(trailing))
    rolled = rolled.mutate(_ratio=rolled._mean_difference / rolled._mean_reference)
    drifting = rolled.filter((rolled._ratio.abs() > threshold) & (rolled._pairs >= min_pairs)
                             ).select("site_id", "pollutant", "_hour", "_ratio")
    readings = table.mutate(_hour=_hour_number(_utc(table.time.truncate("h"))))
    hit = readings.join(drifting, ["site_id", "pollutant", "_hour"])
    detail = ibis.literal("mean difference ").concat(
        _decimal_text(hit._ratio * 100 * 1.0, 1), "% of reference")
    return _flag_rows(hit, "drift", detail)


def check_drift(readings, *, window_hours: int = 168, min_pairs: int = 24,
                threshold: float = 0.30, max_distance: float = 3000.0):
    """``drift``: micro-stations drifting from their nearest reference station.

    For each micro-station and pollutant paired with the nearest reference station within
    ``max_distance`` [m], over a trailing window of ``window_hours`` hourly pairs:
    D = mean(micro − reference) / mean(reference); hours with |D| > ``threshold`` and
    at least ``min_pairs`` pairs in the window flag the micro readings of that hour.
    """
    table, was_frame = _as_table(readings)
    return _flags_out(_drift(table, window_hours, min_pairs, threshold, max_distance),
                      was_frame)


def _gaps(table: ibis.Table, expected: Mapping[str, str]) -> ibis.Table:
    steps = {kind: int(pd.Timedelta(step).total_seconds()) for kind, step in expected.items()}
    fixed = table.filter(table.site_kind.isin(list(steps)))
    window = _series_window(fixed)
    step = ibis.cases(*[(fixed.site_kind == kind, seconds) for kind, seconds in steps.items()])
    lagged = fixed.mutate(_seconds=fixed.time.epoch_seconds().cast("int64"),
                          _previous=fixed.time.lag().over(window),
                          _step=step.cast("int64"))
    lagged = lagged.mutate(_delta=lagged._seconds - lagged._seconds.lag().over(
        _series_window(lagged)))
    gaps = lagged.filter(lagged._delta > lagged._step)
    start = ibis.cases(*[(gaps.site_kind == kind, gaps._previous + ibis.interval(seconds=s))
                         for kind, s in steps.items()])
    return gaps.select(site_id=gaps.site_id.cast("string"),
                       site_kind=gaps.site_kind.cast("string"),
                       pollutant=gaps.pollutant.cast("string"), gap_start=_utc(start),
                       gap_end=_utc(gaps.time),
                       missing=(gaps._delta // gaps._step - 1).cast("int64"))


def find_gaps(readings, expected: Mapping[str, str] = EXPECTED_INTERVAL):
    """Gaps per site and pollutant: site_id, site_kind, pollutant, gap_start, gap_end, missing.

    A gap is a step between consecutive readings longer than the site kind's expected
    interval; ``missing`` is the number of expected readings not received in it.
    """
    table, was_frame = _as_table(readings)
    expr = _gaps(table, expected)
    return _collect(expr, GAP_COLUMNS, ["site_id", "pollutant", "gap_start"]) if was_frame \
        else expr


def qc_expressions(readings: ibis.Table, parameters: str | Mapping[str, float] = "default"
                   ) -> tuple[ibis.Table, ibis.Table]:
    """Every check as one Ibis expression: (flags, gaps), run by the readings' engine.

    Series checks (spike, flat line, PM2.5 > PM10, drift) see only readings whose site,
    time and pollutant occur once (duplicates are flagged on their own); spike and flat
    line leave mobile tracks out.
    """
    p = qc_parameters(parameters)
    columns = [c for c in ("site_id", "time", "site_kind", "lon", "lat", "pollutant", "value")
               if c in readings.columns]
    table = readings.select(*columns)
    single = _single(table)
    fixed = single.filter(single.site_kind != "mobile")
    pieces = [
        _range(table, QC_RANGES),
        _duplicate_timestamp(table),
        _spike(fixed, int(p["spike_window"]), p["spike_k"], p["spike_min_jump"]),
        _flat_line(fixed, int(p["flat_min_run"])),
        _pm25_gt_pm10(single, p["pm_tolerance"]),
        _drift(single, int(p["drift_window_hours"]), int(p["drift_min_pairs"]),
               p["drift_threshold"], p["drift_max_distance"]),
    ]
    return ibis.union(*pieces, distinct=False), _gaps(table, EXPECTED_INTERVAL)


def run_qc(readings: pd.DataFrame, parameters: str | Mapping[str, float] = "default"
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every check on a frame of readings (in-memory DuckDB). Returns (flags, gaps)."""
    table, _ = _as_table(readings)
    flags, gaps = qc_expressions(table, parameters)
    return (_collect(flags, FLAG_COLUMNS, ["flag", "site_id", "pollutant", "time", "value"]),
            _collect(gaps, GAP_COLUMNS, ["site_id", "pollutant", "gap_start"]))


def flag_counts(flags, gaps=None) -> pd.DataFrame:
    """Count of each flag (every reason code listed, zero when none).

    ``flags`` and ``gaps`` are DataFrames or Ibis tables (counted by their engine).
    """
    if isinstance(flags, ibis.Table):
        counted = flags.group_by("flag").aggregate(n=flags.count()).to_pandas()
        counts = dict(zip(counted["flag"], counted["n"], strict=True))
    else:
        counts = flags.groupby("flag").size().to_dict() if len(flags) else {}
    gap_count = None
    if gaps is not None:
        gap_count = int(gaps.count().to_pyarrow().as_py()) if isinstance(gaps, ibis.Table) \
            else len(gaps)
    rows = [{"flag": flag, "severity": severity,
             "count": int(gap_count if flag == "gap" and gap_count is not None
                          else counts.get(flag, 0))}
            for flag, severity in FLAGS.items()]
    return pd.DataFrame(rows)


def failing_keys(flags: ibis.Table) -> ibis.Table:
    """(site_id, time, pollutant) of the readings with a 'fail' flag, once each."""
    return flags.filter(flags.severity == "fail").select(
        site_id=flags.site_id, time=_utc(flags.time), pollutant=flags.pollutant).distinct()


def passing(readings, flags):
    """Readings with no 'fail' flag (anti-join on site_id, time, pollutant).

    Ibis tables give an Ibis expression (run by the engine); DataFrames a DataFrame.
    """
    if isinstance(readings, ibis.Table):
        failing = failing_keys(flags if isinstance(flags, ibis.Table) else ibis.memtable(flags))
        return readings.anti_join(failing, [readings.site_id == failing.site_id,
                                            _utc(readings.time) == failing.time,
                                            readings.pollutant == failing.pollutant])
    failing = flags.loc[flags["severity"] == "fail", READING_KEY]
    failing = failing.drop_duplicates().assign(_fail=True)
    merged = readings.merge(failing, on=READING_KEY, how="left")
    return merged.loc[merged["_fail"].isna()].drop(columns="_fail").reset_index(drop=True)


def qc_workspace(workspace, parameters: str | Mapping[str, float] = "default") -> pd.DataFrame:
    """Run QC on every stored reading; replace ``observation_flags`` and ``observation_gaps``.

    The checks run in the workspace's engine and the engine writes both tables (no reading
    passes through this process). Returns the flag counts.
    """
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE

    flags, gaps = qc_expressions(workspace.table(OBSERVATIONS_TABLE), parameters)
    with workspace.transaction():
        workspace.write(FLAGS_TABLE, flags)
        workspace.write(GAPS_TABLE, gaps)
    return flag_counts(workspace.table(FLAGS_TABLE), workspace.table(GAPS_TABLE))
