"""Benchmark: ingest and fuse generated micro-station readings into cell-hours.

Generates ``--readings`` one-minute PM2.5 readings from ``--sites`` micro-stations
scattered over the 2+26 cities box (113.5-119.5 °E, 34.5-41 °N; 3 km grid, ~45,000
cells), then measures, in one process:

1. ingest into a fresh DuckDB workspace (anti-join dedupe, chunked inserts);
2. re-ingest of the same readings (adds nothing; dedupe cost);
3. fusion to cell-hours (Ibis on DuckDB + NumPy), observed cells only by default
   (``--interpolate`` adds IDW for every empty cell-hour);
4. the baseline: a straightforward pandas version (per-reading ``apply`` of
   ``GridSpec.cell_of`` + ``groupby`` mean) on a ``--sample`` of the readings,
   and our fusion on the same sample, for the ratio.

Prints readings/second, peak memory (ru_maxrss) and the ratios.

    .venv/bin/python benchmarks/grid.py                 # 10^6 readings
    .venv/bin/python benchmarks/grid.py --readings 10000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.grid.fusion import fuse_cell_hours, fuse_workspace
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.observations.ingest import ingest_readings
from sourcegrid.store import Workspace

BBOX = (113.5, 34.5, 119.5, 41.0)  # 2+26 cities, roughly


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(n: int, sites: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_site = -(-n // sites)
    site_lon = rng.uniform(BBOX[0] + 0.1, BBOX[2] - 0.1, sites)
    site_lat = rng.uniform(BBOX[1] + 0.1, BBOX[3] - 0.1, sites)
    site = np.repeat(np.arange(sites), per_site)[:n]
    minute = np.tile(np.arange(per_site), sites)[:n]
    base = 40 + 30 * np.sin(site_lon[site]) + 20 * np.sin(minute / 300.0)
    names = np.array([f"M{i:05d}" for i in range(sites)], dtype=object)
    return pd.DataFrame({
        "time": pd.Timestamp("2024-01-10T00:00Z") + pd.to_timedelta(minute, unit="min"),
        "site_id": names[site], "site_kind": "micro",
        "lon": site_lon[site], "lat": site_lat[site], "pollutant": "PM2.5",
        "value": np.maximum(base + rng.normal(0, 5, n), 0.0), "unit": "ug/m**3"})


def baseline(spec: GridSpec, sample: pd.DataFrame) -> pd.DataFrame:
    """The straightforward way: locate each reading with apply, then groupby."""
    frame = sample.copy()
    located = frame.apply(lambda r: spec.cell_of(r["lon"], r["lat"]), axis=1)
    frame["row"] = [int(rc[0]) for rc in located]
    frame["col"] = [int(rc[1]) for rc in located]
    frame["hour"] = frame["time"].dt.floor("h")
    key = ["row", "col", "hour", "pollutant"]
    sites = frame.groupby([*key, "site_id"])["value"].mean().reset_index()  # station-hours
    return sites.groupby(key)["value"].agg(["mean", "size"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--sites", type=int, default=2_000)
    parser.add_argument("--sample", type=int, default=20_000,
                        help="readings for the pandas baseline")
    parser.add_argument("--chunk-size", type=int, default=2_000_000)
    parser.add_argument("--interpolate", action="store_true",
                        help="also fill empty cells by IDW (every cell-hour of the grid)")
    args = parser.parse_args()

    spec = GridSpec.from_bbox(BBOX)
    started = time.perf_counter()
    readings = generate(args.readings, args.sites)
    print(f"grid: {spec.nrows} x {spec.ncols} = {spec.size:,} cells of {spec.cell_size:g} m "
          f"({spec.crs}); generated {len(readings):,} readings from {args.sites:,} micro-stations "
          f"in {time.perf_counter() - started:.1f} s; peak {peak_mb():,.0f} MB")

    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace(Path(folder) / "ws", create=True)
        write_spec(workspace, spec)

        started = time.perf_counter()
        first = ingest_readings(workspace, readings, source="bench", chunk_size=args.chunk_size)
        ingest_s = time.perf_counter() - started
        print(f"ingest:    {first.added:,} added in {ingest_s:.1f} s = "
              f"{len(readings) / ingest_s:,.0f} readings/s; peak {peak_mb():,.0f} MB")

        started = time.perf_counter()
        again = ingest_readings(workspace, readings, source="bench", chunk_size=args.chunk_size)
        reingest_s = time.perf_counter() - started
        print(f"re-ingest: {again.added:,} added, {again.already_stored:,} already stored in "
              f"{reingest_s:.1f} s = {len(readings) / reingest_s:,.0f} readings/s")

        started = time.perf_counter()
        cells = fuse_workspace(workspace, interpolate=args.interpolate)
        fuse_s = time.perf_counter() - started
        print(f"fuse:      {len(cells):,} cell-hours "
              f"({(cells['method'] == 'observed').sum():,} observed) in {fuse_s:.1f} s = "
              f"{len(readings) / fuse_s:,.0f} readings/s; peak {peak_mb():,.0f} MB")
        total = ingest_s + fuse_s
        print(f"ingest+fuse: {len(readings) / total:,.0f} readings/s")
        workspace.close()

    sample = readings.sample(n=min(args.sample, len(readings)), random_state=1)
    started = time.perf_counter()
    expected = baseline(spec, sample)
    base_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = fuse_cell_hours(spec, sample, interpolate=False)
    ours_s = time.perf_counter() - started
    # same answer: with one source kind a cell-hour is the plain mean of its station-hours
    mine = ours.set_index(["row", "col", "time", "pollutant"])["value"].sort_index()
    np.testing.assert_allclose(mine.to_numpy(), expected["mean"].sort_index().to_numpy())
    base_rate = len(sample) / base_s
    print(f"baseline (pandas apply cell_of + groupby) on {len(sample):,} readings: "
          f"{base_s:.1f} s = {base_rate:,.0f} readings/s")
    print(f"ours on the same sample: {ours_s:.2f} s = {len(sample) / ours_s:,.0f} readings/s "
          f"(ratio {base_s / ours_s:,.1f}x)")
    print(f"ratio, full-size fuse vs baseline rate: {len(readings) / fuse_s / base_rate:,.0f}x; "
          f"ingest+fuse vs baseline rate: {len(readings) / total / base_rate:,.0f}x")
    print(f"peak memory (max RSS): {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
