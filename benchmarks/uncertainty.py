"""Monte Carlo uncertainty (Approach 2) of accounted emissions: vectorised vs a per-draw loop.

Workload: ``--rows`` emission rows (default 10^5) sharing ``--coefficients`` coefficient
rows (correlated draws), grouped by region × pollutant, ``--draws`` draws (default 1,000).
sourcegrid (:func:`sourcegrid.accounting.uncertainty.monte_carlo`: the shared multipliers
drawn once per coefficient row, the rows streamed from the engine (an in-memory DuckDB) in
chunks of at most 2²² draws × rows, a sparse group-sum product per chunk) against a
baseline that loops over draws and sums each draw with a pandas groupby (the same model,
the same distributions). The baseline runs
``--baseline-draws`` draws (default 100) and its time is scaled to ``--draws``. Prints
seconds, draws/s, row-draws/s, peak memory (tracemalloc) and the ratio; both give the same
mean totals within Monte Carlo error (checked).

    .venv/bin/python benchmarks/uncertainty.py
    .venv/bin/python benchmarks/uncertainty.py --rows 1000000 --draws 1000   # bigger
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from sourcegrid.accounting.uncertainty import bounded_sd, monte_carlo, row_uncertainties


def workload(rows: int, coefficients: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(rows) < 0.6
    return pd.DataFrame({
        "enterprise_id": "E" + pd.Series(rng.integers(0, rows // 2 + 1, rows)).astype(str),
        "period": "2017", "source_row": np.arange(rows) + 2,
        "region_code": pd.Series(rng.integers(0, 12, rows) + 130900).astype(str),
        "pollutant": rng.choice(["SO2", "NOx", "PM", "VOCs"], rows),
        "coefficient_row": rng.integers(1, coefficients + 1, rows),
        "treatment": np.where(treated, "T", ""),
        "generation": rng.lognormal(8, 1.5, rows),
        "removal_efficiency": np.where(treated, rng.uniform(0.5, 0.99, rows), 0.0),
        "k": np.where(treated, rng.uniform(0.6, 1.0, rows), np.nan),
    }).assign(emission=lambda f: f["generation"] * (
        1 - f["removal_efficiency"] * f["k"].fillna(1.0)))


def baseline(emissions: pd.DataFrame, u: pd.DataFrame, draws: int, seed: int) -> np.ndarray:
    """The same model, one draw at a time, totals by a pandas groupby per draw."""
    rng = np.random.default_rng(seed)
    coefficient = pd.factorize(emissions["coefficient_row"])[0]
    treatment = pd.factorize(emissions["coefficient_row"].astype(str) + "|"
                             + emissions["treatment"])[0]
    u_c = np.zeros(coefficient.max() + 1)
    np.maximum.at(u_c, coefficient, u["u_generation_coefficient"].to_numpy())
    u_eta = np.zeros(treatment.max() + 1)
    np.maximum.at(u_eta, treatment, u["u_removal_efficiency"].to_numpy())
    eta0 = np.zeros(treatment.max() + 1)
    np.maximum.at(eta0, treatment, emissions["removal_efficiency"].to_numpy())
    u_a, u_k = u["u_activity"].to_numpy(), u["u_k"].to_numpy()
    k0 = np.where(emissions["removal_efficiency"] > 0, emissions["k"].fillna(1.0), 1.0)
    k0 = np.asarray(k0, dtype=float)
    g0 = emissions["generation"].to_numpy()

    def beta(mean, sd):
        out, spread = mean.copy(), sd > 0
        m, v = mean[spread], sd[spread] ** 2
        nu = m * (1 - m) / v - 1
        out[spread] = rng.beta(m * nu, (1 - m) * nu)
        return out

    sd_eta, sd_k = bounded_sd(eta0, u_eta), bounded_sd(k0, u_k)
    treated = emissions["removal_efficiency"].to_numpy() > 0
    out = []
    for _ in range(draws):
        s_c, s_a = np.sqrt(np.log1p(u_c ** 2)), np.sqrt(np.log1p(u_a ** 2))
        c = np.exp(rng.standard_normal(u_c.size) * s_c - s_c ** 2 / 2)[coefficient]
        a = np.exp(rng.standard_normal(u_a.size) * s_a - s_a ** 2 / 2)
        eta = beta(eta0, sd_eta)[treatment]
        k = np.where(treated, beta(k0, np.where(treated, sd_k, 0.0)), 0.0)
        e = g0 * c * a * (1 - eta * k)
        out.append(pd.Series(e).groupby([emissions["region_code"], emissions["pollutant"]])
                   .sum().to_numpy())
    return np.vstack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--coefficients", type=int, default=500)
    parser.add_argument("--baseline-draws", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="rows per chunk (default 2^22 / draws)")
    args = parser.parse_args()
    emissions = workload(args.rows, args.coefficients)
    u = row_uncertainties(emissions)
    by = ("region", "pollutant")

    tracemalloc.start()
    start = time.perf_counter()
    totals = monte_carlo(emissions, u, by, draws=args.draws, chunk_rows=args.chunk_rows)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    tracemalloc.start()
    start = time.perf_counter()
    loop = baseline(emissions, u, args.baseline_draws, seed=3)
    loop_seconds = time.perf_counter() - start
    _, loop_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    loop_scaled = loop_seconds * args.draws / args.baseline_draws

    rel = np.abs(loop.mean(axis=0) - totals["mc_mean"].to_numpy()) / totals["mc_sd"].to_numpy()
    worst = float(np.max(rel * np.sqrt(args.baseline_draws)))  # in standard errors
    row_draws = args.rows * args.draws
    print(f"workload: {args.rows:,} rows × {args.draws:,} draws, {args.coefficients} shared "
          f"coefficient rows, {len(totals)} region × pollutant groups")
    print(f"sourcegrid monte_carlo: {seconds:.2f} s, {args.draws / seconds:,.0f} draws/s, "
          f"{row_draws / seconds:.3g} row-draws/s, peak memory {peak / 2**20:,.0f} MiB")
    print(f"baseline per-draw loop: {loop_seconds:.2f} s for {args.baseline_draws} draws → "
          f"{loop_scaled:.1f} s for {args.draws} (scaled), peak memory "
          f"{loop_peak / 2**20:,.0f} MiB")
    print(f"ratio: {loop_scaled / seconds:.1f}× faster than the per-draw loop")
    print(f"check: baseline means within {worst:.1f} standard errors of sourcegrid's")


if __name__ == "__main__":
    main()
