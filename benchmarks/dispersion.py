"""Benchmark: the source-receptor coupling, and tracing one hotspot over a month.

1. ``sourcegrid.tracing.dispersion.coupling`` on a city: S sources × R receptors × T
   hours (default 2,000 × 400 × 720, sources and receptors over 60 km × 60 km, a 15 km
   cut-off), in source-receptor-hours (SRH) per second over the full S × R × T, against
   ``coupling_loop`` (one plume call per source on receptors × hours, no cut-off) run on
   a subset of the sources in the same process. Also checks that both agree on the
   subset (pairs within the cut-off).
2. ``trace_cell`` on a synthetic workspace of 400 cells × 720 h with 500 candidates
   within the radius: seconds per trace (second call; the first includes imports and
   query compilation), for the one cell alone and for the default joint fit of the
   3 × 3 cells around it (``neighbours=1``).

Prints throughput, peak memory (tracemalloc of the coupling, max RSS of the process) and
the ratio. Targets (issue 7 §7): ≥ 2·10^7 SRH/s, ≥ 10× the loop, a trace under 1 s.

    .venv/bin/python benchmarks/dispersion.py            # defaults, ~1 minute
    .venv/bin/python benchmarks/dispersion.py --large    # 5,000 sources
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd


def city(rng, n_sources, side_cells=20, hours=720, cell=3000.0):
    extent = side_cells * cell
    sx, sy = rng.uniform(0, extent, n_sources), rng.uniform(0, extent, n_sources)
    centres = (np.arange(side_cells) + 0.5) * cell
    rx, ry = (a.ravel() for a in np.meshgrid(centres, centres))
    direction = (np.cumsum(rng.normal(0, 20, hours)) + 200) % 360
    speed = np.clip(rng.gamma(3, 1.0, hours), 0.5, 10)
    stability = rng.choice(list("ABCDEF"), hours, p=[0.05, 0.1, 0.2, 0.35, 0.15, 0.15])
    height = rng.uniform(0, 120, n_sources)
    return sx, sy, rx, ry, speed, direction, stability, height


def bench_coupling(args) -> None:
    from sourcegrid.tracing import dispersion

    rng = np.random.default_rng(1)
    sx, sy, rx, ry, speed, direction, stability, height = city(rng, args.sources,
                                                               hours=args.hours)
    total = len(sx) * len(rx) * len(speed)
    tracemalloc.start()
    started = time.perf_counter()
    result = dispersion.coupling(sx, sy, rx, ry, speed, direction, stability,
                                 effective_height=height, max_distance=args.cutoff)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pairs = len(result.source_index)
    print(f"coupling: {len(sx):,} sources × {len(rx)} receptors × {len(speed)} h = "
          f"{total:.3g} SRH in {seconds:.2f} s -> {total / seconds:.3g} SRH/s "
          f"({pairs:,} pairs within {args.cutoff / 1000:g} km, {pairs * len(speed) / seconds:.3g} "
          f"pair-hours/s; {result.nnz:,} non-zero values, {result.values.data.nbytes / 2**20:.0f} "
          f"MiB stored; peak traced {peak / 2**20:.0f} MiB)")
    subset = args.loop_sources
    started = time.perf_counter()
    slow = dispersion.coupling_loop(sx[:subset], sy[:subset], rx, ry, speed, direction,
                                    stability, effective_height=height[:subset])
    loop_seconds = time.perf_counter() - started
    loop_rate = subset * len(rx) * len(speed) / loop_seconds
    rate = total / seconds
    print(f"loop over sources ({subset} sources, dense, no cut-off): {loop_rate:.3g} SRH/s; "
          f"ratio {rate / loop_rate:.1f}× (target ≥ 10×; ≥ 2e7 SRH/s: "
          f"{'met' if rate >= 2e7 else 'missed'})")
    # agreement on the subset within the cut-off
    fast = dispersion.coupling(sx[:subset], sy[:subset], rx, ry, speed, direction, stability,
                               effective_height=height[:subset], max_distance=args.cutoff,
                               dtype=np.float64).to_dense()
    distance = np.hypot(rx[None, :] - sx[:subset, None], ry[None, :] - sy[:subset, None])
    inside = distance <= args.cutoff
    difference = np.abs(fast - slow)[inside].max()
    print(f"agreement with the loop within the cut-off: max |difference| {difference:.2e} "
          f"µg/m³ per g/s (largest value {slow.max():.3g})")


def bench_trace(args) -> None:
    from sourcegrid.grid.fusion import CELL_HOUR_COLUMNS
    from sourcegrid.grid.spec import GridSpec, write_spec
    from sourcegrid.store import Workspace
    from sourcegrid.tracing import dispersion
    from sourcegrid.tracing.attribution import trace_cell

    rng = np.random.default_rng(2)
    spec = GridSpec.from_bbox((116.5, 38.0, 117.2, 38.55), 3000)
    cells = spec.cells()
    hours = pd.date_range("2017-01-01", periods=args.hours, freq="h", tz="UTC")
    target = cells.iloc[len(cells) // 2 + spec.ncols // 2]
    angle = rng.uniform(0, 2 * np.pi, args.candidates)
    radius = 9500 * np.sqrt(rng.uniform(0.01, 1, args.candidates))
    sx = target.x + radius * np.sin(angle)
    sy = target.y + radius * np.cos(angle)
    lon, lat = spec.to_lonlat(sx, sy)
    sources = pd.DataFrame({"source_id": [f"S{i:04d}" for i in range(args.candidates)],
                            "name": "", "kind": "point", "lon": lon, "lat": lat,
                            "stack_height": rng.uniform(8, 60, args.candidates),
                            "stack_diameter": rng.uniform(0.3, 2, args.candidates),
                            "exit_velocity": rng.uniform(3, 15, args.candidates),
                            "exit_temperature": rng.uniform(300, 420, args.candidates),
                            "emission_rate": rng.uniform(0.01, 1, args.candidates)})
    direction = (np.cumsum(rng.normal(0, 20, args.hours)) + 200) % 360
    speed = np.clip(rng.gamma(3, 1.0, args.hours), 0.5, 10)
    stability = dispersion.pasquill_stability(speed, hours)
    heights = dispersion.effective_height(sources["stack_height"].to_numpy()[:, None],
                                          sources["stack_diameter"].to_numpy()[:, None],
                                          sources["exit_velocity"].to_numpy()[:, None],
                                          sources["exit_temperature"].to_numpy()[:, None],
                                          speed[None, :], stability[None, :])
    unit = dispersion.coupling(sx, sy, cells["x"], cells["y"], speed, direction, stability,
                               effective_height=heights, max_distance=30_000)
    values = 35 + unit.concentration(sources["emission_rate"] * rng.uniform(0.5, 3, len(sx)))
    values *= 1 + 0.1 * rng.standard_normal(values.shape)
    ws = Workspace.in_memory()
    write_spec(ws, spec)
    ws.write("cell_hours", pd.DataFrame({
        "cell_id": np.repeat(cells["cell_id"], args.hours), "row": np.repeat(cells["row"], args.hours),
        "col": np.repeat(cells["col"], args.hours), "time": np.tile(hours, len(cells)),
        "pollutant": "PM2.5", "value": values.ravel(), "uncertainty": 1.0, "n_readings": 1,
        "sources": "reference:1", "method": "observed"})[CELL_HOUR_COLUMNS])
    ws.write("wind", pd.DataFrame({"time": hours, "site_id": "W1", "lon": target.lon,
                                   "lat": target.lat, "wind_speed": speed, "wind_dir": direction,
                                   "source": "bench"}))
    for rings in (0, 1):  # one cell; the default joint fit of the 3 × 3 block
        seconds, cpu = [], []
        for _ in range(3):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = trace_cell(ws, target.cell_id, hours[0], hours[-1] + pd.Timedelta(hours=1),
                                candidates=sources, neighbours=rings, store=False, learn=False)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        timings = ", ".join(f"{k} {v:.3f}" for k, v in result.summary["timings"].items())
        print(f"trace one hotspot ({len(result.cells)} cell(s) fitted jointly), {args.hours} h, "
              f"{result.summary['candidates']} candidates within 10 km, {len(cells)} cells: "
              f"first {seconds[0]:.2f} s, then {min(seconds[1:]):.2f} s wall clock, "
              f"{min(cpu[1:]):.2f} s CPU (all threads; target < 1 s; {timings})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--cutoff", type=float, default=15_000.0, help="distance cut-off [m]")
    parser.add_argument("--loop-sources", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--large", action="store_true", help="5,000 sources")
    args = parser.parse_args()
    if args.large:
        args.sources = 5000
    bench_coupling(args)
    bench_trace(args)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of the process): {usage:.0f} MiB")


if __name__ == "__main__":
    main()
