"""Benchmark: weather normalisation, batched against a naive per-resample loop.

Two workloads, each normalised twice with the *same fitted model* and the same
resampling scheme (deweather's constrained windows, ±30 days, ±2 hours):

1. one station-year: Dongsi 2016 (8,784 hours of real PM2.5 and meteorology from
   tests/data/beijing_multisite), the 'deweather' model set;
2. a city of 400 cells (20 × 20) × the same year: synthetic cell levels times a
   weather factor of the real Dongsi meteorology, one pooled model
   (:func:`sourcegrid.weather.panel.normalise_pooled`).

sourcegrid: every draw at once (:class:`ConstrainedSampler`), one batched predict
per chunk. Baseline: for each resample, a Python loop over the hours drawing a
random candidate hour (``Generator.choice`` over the cached window), a pandas
copy with the met replaced and one predict -- a direct port of deweather's
``doPred`` loop. Seconds and peak traced memory (tracemalloc) are printed per
phase, with the ratio baseline / sourcegrid measured in the same run.

``--beijing`` also prints the full-size Beijing figure for the README: the
12-site mean PM2.5, 'deweather' model and resampling (200 resamples), observed
and normalised change 2014 → 2016 with intervals and the Theil-Sen slopes.

Usage::

    .venv/bin/python benchmarks/normalise.py                 # default, a few minutes
    .venv/bin/python benchmarks/normalise.py --samples 200 --city-samples 20 --city-model deweather
    .venv/bin/python benchmarks/normalise.py --beijing --skip-city
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.weather.features import TIME_VARIABLES, time_variables
from sourcegrid.weather.inputs import series_from_file
from sourcegrid.weather.normalise import (
    make_estimator,
    normalise,
    normalise_naive,
    resampling_parameters,
    threads,
)
from sourcegrid.weather.panel import normalise_pooled

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "beijing_multisite"
MET = ["wind_speed", "wind_dir", "TEMP", "RH", "PRES", "DEWP", "RAIN"]


def measure(label, function):
    tracemalloc.start()
    start = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<44s} {seconds:8.2f} s   peak {peak / 2**20:8.1f} MiB")
    return value, seconds, peak


def station_year(samples: int, model: str) -> None:
    series, _ = series_from_file(DATA / "dongsi_2013-03_2017-02.csv.gz")
    year = series["time"].dt.tz_convert("Asia/Shanghai").dt.year == 2016
    series = series[year].reset_index(drop=True)
    print(f"\nstation-year: Dongsi 2016, {len(series)} hours, model '{model}', "
          f"{samples} resamples (constrained ±30 d, ±2 h)")
    times, values, met = series["time"].to_numpy(), series["value"].to_numpy(), series[MET]
    result, fit_s, _ = measure("fit (shared by both)", lambda: normalise(
        times, values, met, model=model, resampling="deweather", samples=1, seed=0,
        skill=False, keep_resamples=False))
    batched, batched_s, batched_peak = measure("batched resampling + predict (sourcegrid)",
                                               lambda: normalise(
                                                   times, values, met, model=model,
                                                   resampling="deweather", samples=samples,
                                                   seed=0, fitted=result.model))
    naive, naive_s, naive_peak = measure("naive per-resample loop (same model)", lambda:
                                         normalise_naive(times, values, met, model=model,
                                                         resampling="deweather",
                                                         samples=samples, seed=0,
                                                         fitted=result.model))
    fast = batched.series["normalised"].dropna().to_numpy()
    print(f"  throughput: {len(fast) * samples / batched_s:,.0f} predictions/s batched, "
          f"{len(fast) * samples / naive_s:,.0f} naive")
    print(f"  ratio naive / batched: {naive_s / batched_s:.1f}x time, "
          f"{naive_peak / max(batched_peak, 1):.2f}x peak memory; mean normalised "
          f"{fast.mean():.2f} vs {naive.mean():.2f} ug/m3 "
          f"({100 * abs(fast.mean() - naive.mean()) / naive.mean():.2f} % apart)")


def _city(cells_side: int, series: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows, cols = np.meshgrid(np.arange(cells_side), np.arange(cells_side), indexing="ij")
    level = 40 + 2.0 * rows.ravel() + 1.5 * cols.ravel() + rng.gamma(2.0, 5.0, rows.size)
    weather = np.exp(-0.35 * (series["wind_speed"].to_numpy() - 1.8)) * (
        1 + 0.02 * (series["RH"].to_numpy() - 50))
    n_cells, n_hours = rows.size, len(series)
    frame = pd.DataFrame({
        "unit": np.repeat([f"R{r:04d}C{c:04d}" for r, c in zip(rows.ravel(), cols.ravel(),
                                                                 strict=True)], n_hours),
        "row": np.repeat(rows.ravel(), n_hours), "col": np.repeat(cols.ravel(), n_hours),
        "time": np.tile(series["time"].to_numpy(), n_cells),
        "met_site": "Dongsi"})
    frame["value"] = (np.repeat(level, n_hours) * np.tile(np.clip(weather, 0.1, None), n_cells)
                      * np.exp(rng.normal(0, 0.2, len(frame))))
    for column in MET:
        frame[column] = np.tile(series[column].to_numpy(), n_cells)
    return frame


def _naive_city(frame: pd.DataFrame, fitted, samples: int, seed: int = 0) -> np.ndarray:
    """Per-resample loop: per hour a Python draw from its window, pandas copy, predict."""
    parameters = resampling_parameters("deweather")
    times = pd.DatetimeIndex(frame["time"].drop_duplicates())
    clock = time_variables(times)
    complete = frame.drop_duplicates("time")[MET].notna().all(axis=1).to_numpy()
    pool = frame.drop_duplicates("time")[MET].to_numpy()[complete]
    pool_day = clock["day_of_year"].to_numpy()[complete]
    pool_hour = clock["hour"].to_numpy()[complete]
    position = pd.Index(times).get_indexer(pd.DatetimeIndex(frame["time"]))
    base = pd.concat([time_variables(frame["time"]), frame[["row", "col"]].reset_index(drop=True),
                      frame[MET].reset_index(drop=True)], axis=1)
    features = list(TIME_VARIABLES) + ["row", "col"] + MET
    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, int], np.ndarray] = {}
    total = np.zeros(len(frame))
    for _ in range(samples):
        chosen = np.empty(len(times), dtype=np.int64)
        for i, (d, h) in enumerate(zip(clock["day_of_year"].astype(int),
                                       clock["hour"].astype(int), strict=True)):
            key = (d, h)
            if key not in cache:
                dd = np.abs(pool_day - d)
                dd = np.minimum(dd, 366 - dd)
                hh = np.abs(pool_hour - h)
                hh = np.minimum(hh, 24 - hh)
                cache[key] = np.flatnonzero((dd <= parameters.window_days)
                                            & (hh <= parameters.window_hours))
            chosen[i] = rng.choice(cache[key])
        copy = base.copy()
        copy[MET] = pool[chosen[position]]
        with threads():
            total += fitted.predict(copy[features].to_numpy())
    return total / samples


def city(samples: int, model: str, side: int) -> None:
    series, _ = series_from_file(DATA / "dongsi_2013-03_2017-02.csv.gz")
    year = series["time"].dt.tz_convert("Asia/Shanghai").dt.year == 2016
    series = series[year].dropna(subset=MET).reset_index(drop=True)
    frame = _city(side, series)
    print(f"\ncity: {side * side} cells x {len(series)} hours = {len(frame):,} cell-hours, "
          f"pooled model '{model}', {samples} resamples")
    x = np.column_stack([time_variables(frame["time"]).to_numpy(),
                         frame[["row", "col"] + MET].to_numpy(dtype=float)])
    def fit(x=x):
        with threads():
            return make_estimator(model, 0).fit(x, frame["value"].to_numpy())

    fitted, _, _ = measure("fit of the pooled model (shared)", fit)
    del x
    result, batched_s, batched_peak = measure(
        "batched resampling + predict (sourcegrid)",
        lambda: normalise_pooled(frame, model=model, resampling="deweather", samples=samples,
                                 seed=0, skill=False, fitted=fitted, adjusted=False))
    naive, naive_s, naive_peak = measure("naive per-resample loop (same model)",
                                         lambda: _naive_city(frame, fitted, samples))
    fast = result[0]["normalised"].to_numpy()
    print(f"  throughput: {len(frame) * samples / batched_s:,.0f} predictions/s batched, "
          f"{len(frame) * samples / naive_s:,.0f} naive")
    print(f"  ratio naive / batched: {naive_s / batched_s:.1f}x time, "
          f"{naive_peak / max(batched_peak, 1):.2f}x peak memory; mean normalised "
          f"{fast.mean():.2f} vs {naive.mean():.2f} ug/m3")


def beijing(model: str, resampling: str, samples: int | None) -> None:
    from sourcegrid.weather.trend import trend_report

    series, _ = series_from_file(DATA / "beijing_12site_mean_2013-03_2017-02.csv.gz")
    print(f"\nBeijing 12-site mean PM2.5, {len(series)} hours 2013-03 to 2017-02, "
          f"model '{model}', resampling '{resampling}'")
    result, seconds, _ = measure("normalisation", lambda: normalise(
        series["time"].to_numpy(), series["value"].to_numpy(), series[MET], model=model,
        resampling=resampling, samples=samples, seed=0))
    row = trend_report(result, "Beijing", (dt.date(2014, 1, 1), dt.date(2014, 12, 31)),
                       (dt.date(2016, 1, 1), dt.date(2016, 12, 31)))
    print(f"  out-of-sample R2 {row['r2']:.3f}, RMSE {row['rmse']:.1f} ug/m3")
    for name in ("observed", "normalised"):
        print(f"  {name:>10s}: 2014 {row[f'{name}_base_mean']:.1f} -> 2016 "
              f"{row[f'{name}_compare_mean']:.1f} ug/m3, change "
              f"{row[f'{name}_change_percent']:+.1f} % (95 % block bootstrap "
              f"{row[f'{name}_change_percent_low']:+.1f} to "
              f"{row[f'{name}_change_percent_high']:+.1f}); Theil-Sen "
              f"{row[f'{name}_slope']:+.2f} ug/m3/yr ({row[f'{name}_slope_low']:+.2f} to "
              f"{row[f'{name}_slope_high']:+.2f})")
    print(f"  normalised change over the weather draws: "
          f"{row['normalised_change_percent_weather_low']:+.1f} to "
          f"{row['normalised_change_percent_weather_high']:+.1f} %")
    print(f"  weather's share of the observed change: {row['weather_share_percent']:.0f} % "
          f"({row['weather_change']:+.1f} ug/m3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50,
                        help="resamples for the station-year (default 50; deweather's is 200)")
    parser.add_argument("--city-samples", type=int, default=2,
                        help="resamples for the city (default 2; 200 for the full size)")
    parser.add_argument("--cells-side", type=int, default=20, help="city of SIDE x SIDE cells")
    parser.add_argument("--model", default="deweather", help="model set of the station-year")
    parser.add_argument("--city-model", default="quick", help="model set of the city")
    parser.add_argument("--skip-station", action="store_true")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--beijing", action="store_true",
                        help="also the full-size Beijing 2014 -> 2016 figure")
    parser.add_argument("--beijing-samples", type=int, default=None)
    args = parser.parse_args()
    if not args.skip_station:
        station_year(args.samples, args.model)
    if not args.skip_city:
        city(args.city_samples, args.city_model, args.cells_side)
    if args.beijing:
        beijing("deweather", "deweather", args.beijing_samples)


if __name__ == "__main__":
    main()
