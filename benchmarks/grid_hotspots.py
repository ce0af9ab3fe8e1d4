"""Benchmark: Getis-Ord Gi* against its floor, two box filters.

1. Gi* on a large grid (default 1000 x 1000 = 10^6 cells, 10 % holes), square
   and disk band. The floor is the work Gi* cannot avoid: two
   ``scipy.ndimage.uniform_filter`` calls of the band's width on the same
   grid (the sum of the centred values and the count of neighbours), measured
   in the same run. Printed: floor, sourcegrid's time for z alone and for z
   and p, the ratio to the floor, throughput [cells/s] and peak memory
   (tracemalloc, a separate run). Times are the best of ``--repeat`` runs,
   floor and Gi* interleaved so that both see the same machine load.
2. Gi* against PySAL esda ``G_Local(star=True, transform='B', permutations=0)``
   on a 100 x 100 grid, both timed in this run; the ratio esda / sourcegrid and
   the largest |z| difference are printed (weights construction timed apart).

Run: ``.venv/bin/python benchmarks/grid_hotspots.py`` (``--size 3000`` for
9 x 10^6 cells, ``--esda-size 200`` for a larger comparison, ``--no-esda`` to
skip it).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from scipy import ndimage

from sourcegrid.grid.hotspots import gi_star, neighbourhood_kernel


def _grid(rows: int, cols: int, seed: int = 0, holes: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.gamma(3.0, 20.0, size=(rows, cols))
    values[rng.random((rows, cols)) < holes] = np.nan
    return values


def _timed(function, *args, repeat: int = 1):
    best = np.inf
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_mib(function) -> float:
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def large_grid(size: int, radius: float, repeat: int) -> None:
    values = _grid(size, size)
    width = neighbourhood_kernel(radius, "square").shape[0]
    present = np.isfinite(values).astype(np.float64)
    filled = np.where(present > 0, values, 0.0)

    def floor():
        ndimage.uniform_filter(filled, width, mode="constant", cval=0.0)
        ndimage.uniform_filter(present, width, mode="constant", cval=0.0)

    cells = values.size
    print(f"Gi* on {size} x {size} = {cells:,} cells (10 % holes), band radius {radius:g} cells; "
          f"best of {repeat}")
    for shape in ("square", "disk"):
        cases = {
            "floor": floor,
            "z": lambda shape=shape: gi_star(values, radius, shape),
            "z+p": lambda shape=shape: gi_star(values, radius, shape).p,
        }
        best = dict.fromkeys(cases, np.inf)
        for _ in range(repeat):
            for name, case in cases.items():
                seconds, _ = _timed(case)
                best[name] = min(best[name], seconds)
        peak = _peak_mib(cases["z+p"])
        floor_seconds = best["floor"]
        print(f"  {shape:6s} floor (2 x uniform_filter {width}x{width}) {floor_seconds * 1e3:7.1f} ms")
        for name in ("z", "z+p"):
            seconds = best[name]
            print(f"  {shape:6s} sourcegrid gi_star {name:3s}            {seconds * 1e3:7.1f} ms, "
                  f"ratio to floor {seconds / floor_seconds:4.2f}x, "
                  f"{cells / seconds / 1e6:5.1f} M cells/s")
        print(f"  {shape:6s} peak memory of gi_star z+p {peak:.0f} MiB "
              f"(input {values.nbytes / 2**20:.0f} MiB)")


def against_esda(size: int, radius: float) -> None:
    from esda.getisord import G_Local
    from libpysal.weights import W

    values = _grid(size, size, seed=1)
    for shape in ("square", "disk"):
        # weights: the same band as a libpysal W over the cells with data
        start = time.perf_counter()
        cells = np.argwhere(np.isfinite(values))
        index = np.full(values.shape, -1)
        index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
        kernel = neighbourhood_kernel(radius, shape)
        reach = kernel.shape[0] // 2
        offsets = [(dy - reach, dx - reach) for dy, dx in np.argwhere(kernel > 0)
                   if (dy, dx) != (reach, reach)]
        neighbours: dict[int, list[int]] = {k: [] for k in range(len(cells))}
        for dy, dx in offsets:
            r, c = cells[:, 0] + dy, cells[:, 1] + dx
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            target = np.full(len(cells), -1)
            target[inside] = index[r[inside], c[inside]]
            for k in np.flatnonzero(target >= 0):
                neighbours[int(k)].append(int(target[k]))
        weights = W(neighbours, silence_warnings=True)
        build = time.perf_counter() - start
        y = values[cells[:, 0], cells[:, 1]]

        def run_esda(y=y, weights=weights):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return G_Local(y, weights, transform="B", star=True, permutations=0)

        def run_ours(shape=shape):
            result = gi_star(values, radius, shape)
            result.p  # noqa: B018 -- the p-values too, as esda computes them
            return result

        esda_seconds, reference = _timed(run_esda, repeat=3)
        ours_seconds, ours = _timed(run_ours, repeat=3)
        z_difference = np.max(np.abs(ours.z[cells[:, 0], cells[:, 1]] - reference.Zs))
        p_difference = np.max(np.abs(ours.p[cells[:, 0], cells[:, 1]] - reference.p_norm))
        print(f"{size}x{size} {shape:6s} r={radius:g}: esda G_Local {esda_seconds * 1e3:.1f} ms "
              f"(+ {build:.2f} s to build its weights), gi_star {ours_seconds * 1e3:.1f} ms, "
              f"ratio esda/gi_star {esda_seconds / ours_seconds:.1f}x, "
              f"max |z difference| {z_difference:.1e}, max |p difference| {p_difference:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="grid side [cells] (default 1000)")
    parser.add_argument("--radius", type=float, default=3.0, help="band radius [cells]")
    parser.add_argument("--repeat", type=int, default=7, help="runs per case, best kept")
    parser.add_argument("--esda-size", type=int, default=100, help="side of the esda comparison")
    parser.add_argument("--no-esda", action="store_true", help="skip the esda comparison")
    args = parser.parse_args()
    large_grid(args.size, args.radius, args.repeat)
    if not args.no_esda:
        against_esda(args.esda_size, args.radius)


if __name__ == "__main__":
    main()
