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
Hampel, F. R. (1974). The influence curve and its role in robust estimation.
JASA 69, 383-393; Pearson, R. K. (2002). Outliers in process modeling and
identification. IEEE Trans. Control Syst. Technol. 10, 55-63.
HJ 653-2021 (PM10/PM2.5 continuous monitors: measurement range 0-1000 µg/m³).
HJ 654-2013 (gas analysers: SO2, NO2, O3 full scale 0-500 nmol/mol, CO 0-50 µmol/mol).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError

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
    "run_qc",
    "flag_counts",
    "passing",
]

FLAGS_TABLE = "observation_flags"
GAPS_TABLE = "observation_gaps"
FLAG_COLUMNS = ["site_id", "time", "pollutant", "value", "flag", "severity", "detail"]
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
    if isinstance(name, Mapping):
        merged = dict(QC_PARAMETERS["default"])
        unknown = set(name) - set(merged)
        if unknown:
            raise NotFoundError("QC parameter", sorted(unknown)[0], merged)
        merged.update(name)
        return merged
    if name not in QC_PARAMETERS:
        raise NotFoundError("QC parameter set", name, QC_PARAMETERS)
    return dict(QC_PARAMETERS[name])


def _flags(frame: pd.DataFrame, mask, flag: str, detail) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    chosen = frame.loc[mask]
    detail = detail[mask] if isinstance(detail, np.ndarray) else detail
    return pd.DataFrame({"site_id": chosen["site_id"].to_numpy(), "time": chosen["time"].to_numpy(),
                         "pollutant": chosen["pollutant"].to_numpy(),
                         "value": chosen["value"].to_numpy(float), "flag": flag,
                         "severity": FLAGS[flag], "detail": detail})


def _empty_flags() -> pd.DataFrame:
    return pd.DataFrame({"site_id": pd.Series(dtype="string"),
                         "time": pd.Series(dtype="datetime64[us, UTC]"),
                         "pollutant": pd.Series(dtype="string"), "value": pd.Series(dtype=float),
                         "flag": pd.Series(dtype="string"), "severity": pd.Series(dtype="string"),
                         "detail": pd.Series(dtype="string")})


def _sorted(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.sort_values(["site_id", "pollutant", "time"], kind="stable").reset_index(drop=True)


def check_range(readings: pd.DataFrame, ranges: Mapping[str, tuple[float, float]] = QC_RANGES) -> pd.DataFrame:
    """``out_of_range``: values outside the instrument range of their pollutant."""
    low = readings["pollutant"].map({k: v[0] for k, v in ranges.items()}).astype(float).to_numpy()
    high = readings["pollutant"].map({k: v[1] for k, v in ranges.items()}).astype(float).to_numpy()
    value = readings["value"].to_numpy(float)
    mask = (value < low) | (value > high)
    detail = np.char.add(np.char.add("range ", low.astype(str)), np.char.add("-", high.astype(str)))
    return _flags(readings, mask, "out_of_range", detail.astype(object))


def _group_windows(values: np.ndarray, groups: np.ndarray, window: int) -> np.ndarray:
    """(n, window) centred windows, NaN where a window leaves its group (NumPy views)."""
    half = window // 2
    padded = np.concatenate([np.full(half, np.nan), values, np.full(half, np.nan)])
    padded_groups = np.concatenate([np.full(half, -1), groups, np.full(half, -1)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    window_groups = np.lib.stride_tricks.sliding_window_view(padded_groups, window)
    return np.where(window_groups == groups[:, None], windows, np.nan)


def check_spike(readings: pd.DataFrame, *, window: int = 7, k: float = 3.0,
                min_jump: float = 10.0, chunk: int = 1_000_000) -> pd.DataFrame:
    """``spike``: Hampel identifier over a centred window of ``window`` readings.

    Parameters
    ----------
    window : int
        Readings in the centred window (odd), per site and pollutant, in time order.
    k : float
        Threshold in robust standard deviations (1.4826 · MAD).
    min_jump : float
        Smallest absolute departure flagged [internal unit], so that a window of
        identical values (MAD = 0) does not flag ordinary noise.
    """
    frame = _sorted(readings)
    if frame.empty:
        return _empty_flags()
    window = int(window) | 1
    groups = frame.groupby(["site_id", "pollutant"], sort=False).ngroup().to_numpy()
    values = frame["value"].to_numpy(float)
    median = np.empty(len(values))
    mad = np.empty(len(values))
    count = np.empty(len(values), dtype=np.int64)
    for start in range(0, len(values), chunk):  # bounded memory: chunk × window floats
        stop = min(start + chunk, len(values))
        lo, hi = max(start - window, 0), min(stop + window, len(values))
        windows = _group_windows(values[lo:hi], groups[lo:hi], window)[start - lo:stop - lo]
        med = np.nanmedian(windows, axis=1)
        median[start:stop] = med
        mad[start:stop] = np.nanmedian(np.abs(windows - med[:, None]), axis=1)
        count[start:stop] = np.isfinite(windows).sum(axis=1)
    departure = np.abs(values - median)
    mask = (departure > k * 1.4826 * mad) & (departure > min_jump) & (count >= 3)
    detail = np.char.add("median ", np.round(median, 3).astype(str)).astype(object)
    return _flags(frame, mask, "spike", detail)


def check_flat_line(readings: pd.DataFrame, *, min_run: int = 6) -> pd.DataFrame:
    """``flat_line``: runs of ``min_run`` or more identical consecutive readings."""
    frame = _sorted(readings)
    if frame.empty:
        return _empty_flags()
    groups = frame.groupby(["site_id", "pollutant"], sort=False).ngroup().to_numpy()
    values = frame["value"].to_numpy(float)
    new_run = np.ones(len(values), dtype=bool)
    new_run[1:] = (values[1:] != values[:-1]) | (groups[1:] != groups[:-1])
    run_id = np.cumsum(new_run)
    run_length = np.bincount(run_id)[run_id]
    mask = run_length >= min_run
    detail = np.char.add(run_length.astype(str), " identical readings").astype(object)
    return _flags(frame, mask, "flat_line", detail)


def check_duplicate_timestamp(readings: pd.DataFrame) -> pd.DataFrame:
    """``duplicate_timestamp``: one site, time and pollutant with more than one value."""
    key = ["site_id", "time", "pollutant"]
    distinct = readings.groupby(key, sort=False)["value"].transform("nunique").to_numpy()
    mask = distinct > 1
    detail = np.char.add(distinct.astype(str), " values at one time").astype(object)
    return _flags(readings, mask, "duplicate_timestamp", detail)


def check_pm25_gt_pm10(readings: pd.DataFrame, *, tolerance: float = 0.0) -> pd.DataFrame:
    """``pm25_gt_pm10``: PM2.5 > PM10 + tolerance at the same site and time (both flagged)."""
    key = ["site_id", "time"]
    pm25 = readings.loc[readings["pollutant"] == "PM2.5", key + ["value"]]
    pm10 = readings.loc[readings["pollutant"] == "PM10", key + ["value"]]
    pairs = pm25.merge(pm10, on=key, suffixes=("_pm25", "_pm10"))
    bad = pairs.loc[pairs["value_pm25"] > pairs["value_pm10"] + tolerance, key]
    if bad.empty:
        return _empty_flags()
    hit = readings.merge(bad.drop_duplicates(), on=key, how="inner")
    hit = hit.loc[hit["pollutant"].isin(["PM2.5", "PM10"])].reset_index(drop=True)
    return _flags(hit, np.ones(len(hit), dtype=bool), "pm25_gt_pm10", "PM2.5 above PM10")


def nearest_reference(sites: pd.DataFrame, references: pd.DataFrame,
                      max_distance: float) -> pd.DataFrame:
    """Nearest reference station of each site within ``max_distance`` [m] (site_id, reference_id, distance)."""
    from pyproj import Geod
    from scipy.spatial import cKDTree

    if sites.empty or references.empty:
        return pd.DataFrame(columns=["site_id", "reference_id", "distance"])
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
    return out.loc[out["distance"] <= max_distance].reset_index(drop=True)


def hourly_site_means(readings: pd.DataFrame) -> pd.DataFrame:
    """Hour means per site and pollutant: site_id, site_kind, lon, lat, pollutant, hour, value."""
    frame = readings.assign(hour=pd.to_datetime(readings["time"], utc=True).dt.floor("h"))
    return (frame.groupby(["site_id", "site_kind", "pollutant", "hour"], sort=False)
            .agg(value=("value", "mean"), lon=("lon", "first"), lat=("lat", "first"))
            .reset_index())


def check_drift(readings: pd.DataFrame, *, window_hours: int = 168, min_pairs: int = 24,
                threshold: float = 0.30, max_distance: float = 3000.0) -> pd.DataFrame:
    """``drift``: micro-stations drifting from their nearest reference station.

    For each micro-station and pollutant paired with the nearest reference station within
    ``max_distance`` [m], over a trailing window of ``window_hours`` hourly pairs:
    D = mean(micro − reference) / mean(reference); hours with |D| > ``threshold`` and
    at least ``min_pairs`` pairs in the window flag the micro readings of that hour.
    """
    hourly = hourly_site_means(readings)
    micro = hourly.loc[hourly["site_kind"] == "micro"]
    reference = hourly.loc[hourly["site_kind"] == "reference"]
    if micro.empty or reference.empty:
        return _empty_flags()
    sites = micro.drop_duplicates("site_id")[["site_id", "lon", "lat"]]
    refs = reference.drop_duplicates("site_id")[["site_id", "lon", "lat"]]
    pairs = nearest_reference(sites, refs, max_distance)
    if pairs.empty:
        return _empty_flags()
    joined = (micro.merge(pairs[["site_id", "reference_id"]], on="site_id")
              .merge(reference[["site_id", "pollutant", "hour", "value"]]
                     .rename(columns={"site_id": "reference_id", "value": "reference"}),
                     on=["reference_id", "pollutant", "hour"]))
    joined = joined.sort_values(["site_id", "pollutant", "hour"]).reset_index(drop=True)
    joined["difference"] = joined["value"] - joined["reference"]
    rolling = (joined.set_index("hour").groupby(["site_id", "pollutant"], sort=False)
               [["difference", "reference"]]
               .rolling(f"{int(window_hours)}h", min_periods=1))
    means = rolling.mean().reset_index(drop=True)
    counts = rolling.count()["difference"].reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = means["difference"].to_numpy() / means["reference"].to_numpy()
    drifting = joined.loc[(np.abs(ratio) > threshold) & (counts.to_numpy() >= min_pairs),
                          ["site_id", "pollutant", "hour"]]
    drifting = drifting.assign(ratio=ratio[drifting.index])
    if drifting.empty:
        return _empty_flags()
    frame = readings.assign(hour=pd.to_datetime(readings["time"], utc=True).dt.floor("h"))
    hit = frame.merge(drifting, on=["site_id", "pollutant", "hour"]).reset_index(drop=True)
    detail = np.char.add("mean difference ",
                         np.char.add(np.round(100 * hit["ratio"].to_numpy(), 1).astype(str),
                                     "% of reference")).astype(object)
    return _flags(hit, np.ones(len(hit), dtype=bool), "drift", detail)


def find_gaps(readings: pd.DataFrame,
              expected: Mapping[str, str] = EXPECTED_INTERVAL) -> pd.DataFrame:
    """Gaps per site and pollutant: site_id, site_kind, pollutant, gap_start, gap_end, missing.

    A gap is a step between consecutive readings longer than the site kind's expected
    interval; ``missing`` is the number of expected readings not received in it.
    """
    frame = _sorted(readings.loc[readings["site_kind"].isin(list(expected))])
    empty = pd.DataFrame({"site_id": pd.Series(dtype="string"),
                          "site_kind": pd.Series(dtype="string"),
                          "pollutant": pd.Series(dtype="string"),
                          "gap_start": pd.Series(dtype="datetime64[us, UTC]"),
                          "gap_end": pd.Series(dtype="datetime64[us, UTC]"),
                          "missing": pd.Series(dtype="int64")})
    if frame.empty:
        return empty
    time = pd.to_datetime(frame["time"], utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]")
    step = pd.to_timedelta(frame["site_kind"].map(expected)).to_numpy("timedelta64[ns]")
    delta = np.diff(time, prepend=time[:1])
    same = (frame["site_id"].to_numpy()[1:] == frame["site_id"].to_numpy()[:-1]) & \
        (frame["pollutant"].to_numpy()[1:] == frame["pollutant"].to_numpy()[:-1])
    is_gap = np.zeros(len(frame), dtype=bool)
    is_gap[1:] = same & (delta[1:] > step[1:])
    index = np.flatnonzero(is_gap)
    if len(index) == 0:
        return empty
    missing = (delta[index] // step[index]).astype(np.int64) - 1
    return pd.DataFrame({
        "site_id": frame["site_id"].to_numpy()[index],
        "site_kind": frame["site_kind"].to_numpy()[index],
        "pollutant": frame["pollutant"].to_numpy()[index],
        "gap_start": pd.to_datetime(time[index - 1] + step[index]).tz_localize("UTC"),
        "gap_end": pd.to_datetime(time[index]).tz_localize("UTC"),
        "missing": missing,
    }).astype({"gap_start": "datetime64[us, UTC]", "gap_end": "datetime64[us, UTC]"})


def run_qc(readings: pd.DataFrame, parameters: str | Mapping[str, float] = "default") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every check on a frame of readings. Returns (flags, gaps)."""
    p = qc_parameters(parameters)
    readings = readings.reset_index(drop=True)
    # checks on series need one value per time; duplicates are flagged on their own
    single = readings.drop_duplicates(["site_id", "time", "pollutant"], keep=False)
    mobile = single["site_kind"] == "mobile"
    fixed = single.loc[~mobile]
    pieces = [
        check_range(readings),
        check_duplicate_timestamp(readings),
        check_spike(fixed, window=int(p["spike_window"]), k=p["spike_k"],
                    min_jump=p["spike_min_jump"]),
        check_flat_line(fixed, min_run=int(p["flat_min_run"])),
        check_pm25_gt_pm10(single, tolerance=p["pm_tolerance"]),
        check_drift(single, window_hours=int(p["drift_window_hours"]),
                    min_pairs=int(p["drift_min_pairs"]), threshold=p["drift_threshold"],
                    max_distance=p["drift_max_distance"]),
    ]
    pieces = [piece for piece in pieces if len(piece)]
    flags = pd.concat(pieces, ignore_index=True) if pieces else _empty_flags()
    flags["time"] = pd.to_datetime(flags["time"], utc=True).astype("datetime64[us, UTC]")
    return flags, find_gaps(readings)


def flag_counts(flags: pd.DataFrame, gaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Count of each flag (every reason code listed, zero when none)."""
    counts = flags.groupby("flag").size() if len(flags) else pd.Series(dtype=int)
    rows = [{"flag": flag, "severity": severity,
             "count": int(len(gaps) if flag == "gap" and gaps is not None else counts.get(flag, 0))}
            for flag, severity in FLAGS.items()]
    return pd.DataFrame(rows)


def passing(readings: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """Readings with no 'fail' flag (anti-join on site_id, time, pollutant)."""
    failing = flags.loc[flags["severity"] == "fail", ["site_id", "time", "pollutant"]]
    failing = failing.drop_duplicates().assign(_fail=True)
    merged = readings.merge(failing, on=["site_id", "time", "pollutant"], how="left")
    return merged.loc[merged["_fail"].isna()].drop(columns="_fail").reset_index(drop=True)


def qc_workspace(workspace, parameters: str | Mapping[str, float] = "default") -> pd.DataFrame:
    """Run QC on every stored reading; replace ``observation_flags`` and ``observation_gaps``.

    Returns the flag counts.
    """
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE

    readings = workspace.read(OBSERVATIONS_TABLE)
    readings["time"] = pd.to_datetime(readings["time"], utc=True)
    flags, gaps = run_qc(readings, parameters)
    workspace.write(FLAGS_TABLE, flags)
    workspace.write(GAPS_TABLE, gaps)
    return flag_counts(flags, gaps)
