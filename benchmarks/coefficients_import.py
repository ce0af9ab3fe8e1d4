"""Benchmark: importing and validating a coefficient library, and scale-tier matching.

Prints throughput, peak memory (max RSS) and ratios against baselines run in
the same process:

- import: ``load_library`` (read + validate every row + normalize) against a
  bare ``pandas.read_csv`` of the same file (the I/O floor);
- tiers: vectorized ``tier_contains`` against a per-value Python loop.

Usage: ``python benchmarks/coefficients_import.py [--big]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.coefficients import load_library, parse_scale, tier_contains
from sourcegrid.io.tables import read_table
from sourcegrid.sample.library import sample_library_path


def synthetic_library(rows: int, folder: Path) -> Path:
    """The sample library repeated with distinct process names: ``rows`` valid rows."""
    sample = pd.read_csv(sample_library_path(), dtype=str, keep_default_na=False)
    copies = -(-rows // len(sample))
    frame = pd.concat([sample] * copies, ignore_index=True).iloc[:rows].copy()
    copy_number = (np.arange(len(frame)) // len(sample)).astype(str)
    frame["工艺名称"] = frame["工艺名称"].where(frame["工艺名称"] != "所有工艺", "通用") + "-" + copy_number
    path = folder / "library.csv"
    frame.to_csv(path, index=False)
    return path


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="100k library rows, 10M capacities")
    args = parser.parse_args()
    library_rows = 100_000 if args.big else 20_000
    capacities = 10_000_000 if args.big else 1_000_000

    with tempfile.TemporaryDirectory() as folder:
        path = synthetic_library(library_rows, Path(folder))
        baseline = best_of(3, lambda: pd.read_csv(path, dtype=str, keep_default_na=False))
        reading = best_of(3, lambda: read_table(path))
        seconds = best_of(3, lambda: load_library(path, "bench"))
        normalized = len(load_library(path, "bench").rows)
    print(f"import: {library_rows:,} file rows ({normalized:,} normalized) in {seconds:.3f} s = "
          f"{library_rows / seconds:,.0f} rows/s; bare read_csv {baseline:.3f} s; "
          f"ratio import/read_csv = {seconds / baseline:.1f}; of which read_table (text cells, "
          f"row numbers) {reading:.3f} s and validation + normalization {seconds - reading:.3f} s")

    tier = parse_scale("100-300MW")
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 600, capacities)
    vectorized = best_of(3, lambda: tier_contains(tier.min, tier.min_inclusive, tier.max,
                                                  tier.max_inclusive, values))
    subset = values[:200_000]
    loop = best_of(1, lambda: [tier.contains(v) for v in subset]) * (capacities / len(subset))
    print(f"tiers: {capacities:,} capacities in {vectorized:.4f} s = "
          f"{capacities / vectorized:,.0f} /s; per-value loop (extrapolated) {loop:.2f} s; "
          f"speed-up = {loop / vectorized:,.0f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
