"""Benchmark: hourly (real-time) and daily AQI per HJ 633 on synthetic station-hours.

Runs :func:`sourcegrid.quality.aqi.hourly` and :func:`~sourcegrid.quality.aqi.daily`
on ``--rows`` station-hours (default 10^6; ``--rows 10000000`` for the 10^7 run) and,
in the same process, a straightforward per-value Python implementation of the same
rules (moving windows by dictionary look-ups, IAQI by scanning the breakpoints) on a
sample of ``--baseline-rows`` station-hours. Prints rows/s of both, the ratio
(vectorized / per-value, per-value rate extrapolated from the sample), peak memory,
and whether both agree on the sample. Timings are CPU time of this process
(``time.process_time``), the fastest of ``--repeat`` runs, so that other work on a
shared machine disturbs them less.

    .venv/bin/python benchmarks/aqi.py
    .venv/bin/python benchmarks/aqi.py --rows 10000000
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np
import pandas as pd

from sourcegrid.quality import aqi
from sourcegrid.standards import hj633

POLLUTANTS = ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")
MEDIAN = {"SO2": 12.0, "NO2": 45.0, "CO": 1.0, "O3": 70.0, "PM10": 90.0, "PM2.5": 55.0}


def synthetic(rows: int, sites: int, seed: int = 1) -> pd.DataFrame:
    """Wide hourly readings: ``sites`` stations x rows/sites hours, 2 % missing values.

    The hours are centred on 2026-03-01 so that both HJ 633 editions are used.
    """
    rng = np.random.default_rng(seed)
    hours = rows // sites
    start = pd.Timestamp("2026-02-28 16:00", tz="UTC") - pd.Timedelta(hours=hours // 2)
    time_index = pd.date_range(start, periods=hours, freq="h")
    frame = pd.DataFrame({
        "time": pd.to_datetime(np.tile(time_index.asi8, sites), utc=True),
        "site_id": pd.Categorical(np.repeat([f"S{i:05d}" for i in range(sites)], hours)),
    })
    for pollutant in POLLUTANTS:
        values = MEDIAN[pollutant] * rng.lognormal(0.0, 0.8, size=len(frame))
        values[rng.random(len(frame)) < 0.02] = np.nan
        frame[pollutant] = np.round(values, 1 if pollutant == "CO" else 0)
    return frame


# -- the per-value baseline -------------------------------------------------------------
def py_iaqi(pollutant, value, period, edition):
    """IAQI of one value, by a scan of the breakpoint list (same rules as aqi.iaqi)."""
    if value is None or value != value or value < 0:
        return None
    if edition == "2026":
        value = round(value, 1 if pollutant == "CO" else 0)  # Python round: half to even
        if pollutant in ("PM10", "PM2.5") and period == "1h":
            period = "24h"
    points = hj633.BREAKPOINTS[edition][pollutant, period]
    if value > points[-1]:
        if (pollutant, period) == ("SO2", "1h"):
            return 200 if edition == "2026" else "fallback"
        if (pollutant, period) == ("O3", "8h"):
            return 300 if edition == "2026" else "fallback"
        return 500
    for i in range(1, len(points)):
        if value <= points[i]:
            low, high = points[i - 1], points[i]
            index = hj633.IAQI_LEVELS[i - 1] + (hj633.IAQI_LEVELS[i] - hj633.IAQI_LEVELS[i - 1]) * (
                value - low) / (high - low)
            return math.ceil(round(index, 9))
    return None


def py_mean(series, hour, window, min_valid):
    total, count = 0.0, 0
    for back in range(window):
        value = series.get(hour - back)
        if value is not None and value == value:
            total += value
            count += 1
    return total / count if count >= min_valid else None


def py_aqi(iaqis, missing: bool, edition: str):
    """Per-value AQI from the IAQIs (None where not computed): their maximum; under the
    2026 edition a value of at most 100 with a pollutant ``missing`` is not reported."""
    present = [i for i in iaqis if i is not None]
    value = max(present) if present else None
    if edition == "2026" and missing and value is not None and value <= 100:
        value = None
    return value


def py_hourly(frame):
    """Per-value real-time AQI: returns {(site, hour): aqi}."""
    series = {}
    columns = [frame[p].tolist() for p in POLLUTANTS]
    for number, (stamp, site_id) in enumerate(zip(frame["time"], frame["site_id"], strict=True)):
        hour = int(stamp.value // 3_600_000_000_000)
        site = series.setdefault(site_id, {p: {} for p in POLLUTANTS})
        for pollutant, column in zip(POLLUTANTS, columns, strict=True):
            site[pollutant][hour] = column[number]
    out = {}
    for site_id, site in series.items():
        for hour in sorted(site["SO2"]):
            local_day = (hour + 8) // 24
            edition = "2026" if local_day >= (pd.Timestamp("2026-03-01") - pd.Timestamp("1970-01-01")).days else "2012"
            iaqis, missing = [], False
            for pollutant in ("SO2", "NO2", "CO", "O3"):
                value = site[pollutant][hour]
                index = py_iaqi(pollutant, value, "1h", edition)
                if index == "fallback":
                    index = py_iaqi("SO2", py_mean(site["SO2"], hour, 24, 20), "24h", edition)
                iaqis.append(index)
                missing |= value != value
            if edition == "2012":
                o3_8h = py_mean(site["O3"], hour, 8, 6)
                index = py_iaqi("O3", o3_8h, "8h", edition)
                if index == "fallback":
                    index = py_iaqi("O3", site["O3"][hour], "1h", edition)
                iaqis.append(index)
                for pollutant in ("PM10", "PM2.5"):
                    iaqis.append(py_iaqi(pollutant, py_mean(site[pollutant], hour, 24, 20), "24h",
                                         edition))
            else:
                for pollutant in ("PM10", "PM2.5"):
                    value = site[pollutant][hour]
                    iaqis.append(py_iaqi(pollutant, value, "1h", edition))
                    missing |= value != value
            out[site_id, hour] = py_aqi(iaqis, missing, edition)
    return out


def py_daily(frame):
    """Per-value daily AQI: returns {(site, date): aqi}."""
    days = {}
    columns = [frame[p].tolist() for p in POLLUTANTS]
    for number, (stamp, site_id) in enumerate(zip(frame["time"], frame["site_id"], strict=True)):
        local = stamp.tz_convert("Asia/Shanghai")
        day = days.setdefault((site_id, local.date()), {p: [None] * 24 for p in POLLUTANTS})
        for pollutant, column in zip(POLLUTANTS, columns, strict=True):
            day[pollutant][local.hour] = column[number]
    out = {}
    for (site_id, date), day in days.items():
        edition = "2026" if date >= hj633.EDITION_2026_IN_FORCE else "2012"
        iaqis, missing = [], False
        for pollutant in ("SO2", "NO2", "CO", "PM10", "PM2.5"):
            valid = [v for v in day[pollutant] if v is not None and v == v]
            mean = sum(valid) / len(valid) if len(valid) >= 20 else None
            iaqis.append(py_iaqi(pollutant, mean, "24h", edition))
            missing |= mean is None
        hours = day["O3"]
        valid = [v for v in hours if v is not None and v == v]
        max_1h = max(valid) if valid and (len(valid) >= 20 or max(valid) > 200) else None
        windows = []
        for end in range(7, 24):
            values = [v for v in hours[end - 7:end + 1] if v is not None and v == v]
            if len(values) >= 6:
                windows.append(sum(values) / len(values))
        max_8h = max(windows) if windows and (len(windows) >= 14 or max(windows) > 160) else None
        index = py_iaqi("O3", max_8h, "8h", edition)
        if index == "fallback":
            index = py_iaqi("O3", max_1h, "1h", edition)
        iaqis.append(index)
        missing |= max_8h is None
        if edition == "2012":
            iaqis.append(py_iaqi("O3", max_1h, "1h", edition))
        out[site_id, date] = py_aqi(iaqis, missing, edition)
    return out


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fastest(compute, frame, repeat: int):
    """The fastest of ``repeat`` runs of ``compute(frame)``: (CPU seconds, its result).

    The previous result is freed before each run, so that two never share the memory.
    """
    seconds = math.inf
    result = None
    for _ in range(repeat):
        result = None  # free the previous result first
        started = time.process_time()
        result = compute(frame)
        seconds = min(seconds, time.process_time() - started)
    return seconds, result


def agrees(got: dict, expected: dict) -> bool:
    """Every per-value baseline AQI equals the vectorized one ({key: AQI}); a missing
    baseline value (None) must be missing (absent or NaN) in ``got`` as well."""
    return all((got.get(key) is None or got[key] != got[key]) if value is None
               else got.get(key) == value for key, value in expected.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="station-hours (10^7: 10000000)")
    parser.add_argument("--sites", type=int, default=1000, help="stations")
    parser.add_argument("--baseline-rows", type=int, default=20_000,
                        help="station-hours for the per-value baseline sample")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each vectorized report; the fastest counts (shared machine)")
    args = parser.parse_args()

    frame = synthetic(args.rows, args.sites)
    rows = len(frame)
    print(f"input: {rows:,} station-hours ({args.sites} sites x {rows // args.sites} hours, "
          f"{frame['time'].min():%Y-%m-%d} to {frame['time'].max():%Y-%m-%d} UTC, spanning "
          f"both HJ 633 editions), peak RSS so far {peak_memory_mb():,.0f} MB")

    before = resource.getrusage(resource.RUSAGE_SELF)
    hourly_seconds, hourly = fastest(aqi.hourly, frame, args.repeat)
    hourly_rate = rows / hourly_seconds
    after = resource.getrusage(resource.RUSAGE_SELF)
    kernel = (after.ru_stime - before.ru_stime) / (
        after.ru_stime - before.ru_stime + after.ru_utime - before.ru_utime)
    print(f"hourly AQI (vectorized): {hourly_seconds:.2f} s, {hourly_rate:,.0f} station-hours/s, "
          f"{len(hourly):,} reports ({kernel:.0%} of the CPU time in the kernel, mostly "
          f"page faults of new arrays)")
    del hourly

    daily_seconds, daily = fastest(aqi.daily, frame, args.repeat)
    daily_rate = rows / daily_seconds
    print(f"daily AQI (vectorized): {daily_seconds:.2f} s, {daily_rate:,.0f} station-hours/s, "
          f"{len(daily):,} reports")
    del daily
    print(f"peak memory (max RSS of the process, input included): {peak_memory_mb():,.0f} MB")

    sample_sites = 20
    sample = synthetic(args.baseline_rows, sample_sites, seed=2)
    baseline_seconds, expected = fastest(py_hourly, sample, args.repeat)
    baseline_rate = len(sample) / baseline_seconds
    vectorized = aqi.hourly(sample)
    got = dict(zip(zip(vectorized["site_id"].astype(str),
                       vectorized["time"].astype("int64") // 3_600_000_000_000, strict=True),
                   vectorized["aqi"].astype("float").tolist(), strict=True))
    agree = agrees(got, expected)
    print(f"per-value Python baseline (hourly, {len(sample):,} station-hours sample): "
          f"{baseline_seconds:.2f} s, {baseline_rate:,.0f} station-hours/s; "
          f"extrapolated to {rows:,}: {rows / baseline_rate:,.0f} s; agrees with vectorized: {agree}")
    print(f"ratio hourly vectorized / per-value: {hourly_rate / baseline_rate:,.0f}x")

    baseline_daily_seconds, expected_days = fastest(py_daily, sample, args.repeat)
    baseline_daily_rate = len(sample) / baseline_daily_seconds
    vectorized = aqi.daily(sample)
    got = dict(zip(zip(vectorized["site_id"].astype(str), vectorized["date"], strict=True),
                   vectorized["aqi"].astype("float").tolist(), strict=True))
    agree = agrees(got, expected_days)
    print(f"per-value Python baseline (daily, same sample): {baseline_daily_seconds:.2f} s, "
          f"{baseline_daily_rate:,.0f} station-hours/s; agrees with vectorized: {agree}")
    print(f"ratio daily vectorized / per-value: {daily_rate / baseline_daily_rate:,.0f}x")


if __name__ == "__main__":
    main()
