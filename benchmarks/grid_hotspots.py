"""Benchmark: Getis-Ord Gi* by convolution.

1. Gi* on a large grid (default 1000 x 1000 cells, 10 % holes): time and peak
   memory (tracemalloc) for the square and the disk band.
2. Gi* against PySAL esda ``G_Local(star=True, transform='B', permutations=0)``
   on a 100 x 100 grid, both timed in this run; the ratio esda / sourcegrid and
   the largest |z| difference are printed (weights construction timed apart).

Run: ``.venv/bin/python benchmarks/grid_hotspots.py`` (``--big`` for 3000 x 3000
and a 200 x 200 comparison).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np

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


def large_grid(size: int, radius: float) -> None:
    values = _grid(size, size)
    for shape in ("square", "disk"):
        tracemalloc.start()
        seconds, _ = _timed(gi_star, values, radius, shape)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        cells = values.size
        print(f"gi_star {size}x{size} {shape:6s} r={radius:g}: {seconds:.3f} s, "
              f"{cells / seconds / 1e6:.2f} M cells/s, peak memory {peak / 2**20:.0f} MiB "
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

        esda_seconds, reference = _timed(run_esda, repeat=3)
        ours_seconds, ours = _timed(gi_star, values, radius, shape, repeat=3)
        difference = np.max(np.abs(ours.z[cells[:, 0], cells[:, 1]] - reference.Zs))
        print(f"{size}x{size} {shape:6s} r={radius:g}: esda G_Local {esda_seconds * 1e3:.1f} ms "
              f"(+ {build:.2f} s to build its weights), gi_star {ours_seconds * 1e3:.1f} ms, "
              f"ratio esda/gi_star {esda_seconds / ours_seconds:.1f}x, "
              f"max |z difference| {difference:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="3000 x 3000 and a 200 x 200 comparison")
    parser.add_argument("--radius", type=float, default=3.0, help="band radius [cells]")
    args = parser.parse_args()
    large = 3000 if args.big else 1000
    small = 200 if args.big else 100
    large_grid(large, args.radius)
    against_esda(small, args.radius)


if __name__ == "__main__":
    main()
