"""Benchmark: the coefficient method on N generated section-activity rows.

Runs sourcegrid's accounting (Ibis on DuckDB, the default engine; checks of
every row, rejects, matching, G/R/E) and, in the same process, a
straightforward pandas implementation of the same formula
(merge activity with the library, filter wildcards and scale tiers, evaluate
the coefficient and k formulas, merge the treatment, E = G × (1 − η·k)). Both
results are checked equal, then rows/second, peak memory and the ratio are
printed.

The pandas baseline does less than sourcegrid: no rejects with reasons, no
specificity or ambiguity check, no series treatment, no explanation text.

Usage::

    .venv/bin/python benchmarks/accounting.py            # 10^6 rows
    .venv/bin/python benchmarks/accounting.py --rows 200000
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import threading
import time
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from sourcegrid.accounting.engine import account
from sourcegrid.coefficients import sample_library
from sourcegrid.expressions import parse
from sourcegrid.sample.enterprises import generate_enterprises
from sourcegrid.units import conversion_factor

KEYS = ["product", "raw_material", "process"]


def pandas_baseline(activity: pd.DataFrame, rows: pd.DataFrame,
                    treatment: pd.DataFrame) -> pd.DataFrame:
    """The same formula, written the obvious way with pandas merges."""
    combination = ["industry_code", "section", *KEYS, "scale", "pollutant"]
    base = rows.sort_values("coefficient_row").drop_duplicates(combination)
    m = activity.merge(base, on=["industry_code", "section"], suffixes=("", "_lib"))
    ok = np.ones(len(m), dtype=bool)
    for key in KEYS:
        ok &= (m[f"{key}_lib"] == "") | (m[f"{key}_lib"] == m[key])
    factors = {(a, b): conversion_factor(a, b) for a, b in
               m.loc[(m["scale_unit"] != "") & (m["capacity_unit"] != ""),
                     ["capacity_unit", "scale_unit"]]
               .drop_duplicates().itertuples(index=False)}
    cap = m["capacity"] * pd.Series([factors.get((a, b), np.nan) for a, b in
                                     zip(m["capacity_unit"], m["scale_unit"], strict=True)],
                                    index=m.index)
    lower = m["scale_min"].isna() | np.where(m["scale_min_inclusive"], cap >= m["scale_min"],
                                             cap > m["scale_min"])
    upper = m["scale_max"].isna() | np.where(m["scale_max_inclusive"], cap <= m["scale_max"],
                                             cap < m["scale_max"])
    ok &= (m["scale"] == "") | (lower & upper)
    m = m.loc[ok].copy()
    coefficient = m["generation_coefficient"].to_numpy(copy=True)
    for text, index in m.groupby("generation_expression").groups.items():
        if text:
            coefficient[m.index.get_indexer(index)] = parse(text).evaluate(
                {v: m.loc[index, v].to_numpy() for v in parse(text).variables})
    unit = {(a, b): conversion_factor(a, b) for a, b in
            m[["activity_unit", "activity_unit_lib"]].drop_duplicates().itertuples(index=False)}
    unit_factor = np.array([unit[(a, b)] for a, b in
                            zip(m["activity_unit"], m["activity_unit_lib"], strict=True)])
    m["generation"] = coefficient * m["coefficient_factor"] * m["activity"] * unit_factor
    m = m.merge(treatment, on=["enterprise_id", "section", "pollutant"], how="left",
                suffixes=("", "_t"))
    treated = rows.loc[rows["treatment"] != "", [*combination, "treatment", "removal_efficiency",
                                                 "k_formula"]]
    m = m.drop(columns=["treatment", "removal_efficiency", "k_formula"]).rename(
        columns={"treatment_t": "treatment"})
    m = m.merge(treated, on=[*combination, "treatment"], how="left")
    k = np.ones(len(m))
    for text, index in m.groupby("k_formula").groups.items():
        if text:
            position = m.index.get_indexer(index)
            k[position] = parse(text).evaluate({v: m.loc[index, v].to_numpy()
                                                for v in parse(text).variables})
    efficiency = m["removal_efficiency"].fillna(0.0).to_numpy()
    m["removal"] = m["generation"] * efficiency * np.clip(k, 0, 1)
    m["emission"] = m["generation"] - m["removal"]
    return m[["enterprise_id", "section", "pollutant", "generation", "removal", "emission"]]


class PeakRSS:
    """Peak resident memory a block adds to the process (sampled every 20 ms, MB)."""

    def __enter__(self):
        self.start = self._rss()
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss() - self.start)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def timed(label: str, function, *args, **kwargs):
    """Seconds and peak resident memory (DuckDB's memory is native, so RSS, not tracemalloc,
    which would also slow the Python side down several times)."""
    gc.collect()
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - start
    return result, seconds, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="section-activity rows to generate (default 10^6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", default=None,
                        help="DuckDB memory_limit, e.g. 1GB (spills to a temporary folder)")
    args = parser.parse_args()

    library = sample_library()
    activity, treatment = generate_enterprises(int(args.rows / 0.64), library=library,
                                               seed=args.seed)
    activity = activity.iloc[: args.rows].reset_index(drop=True)
    n = len(activity)
    print(f"{n:,} activity rows, {len(treatment):,} treatment rows, "
          f"library {library.name!r} ({len(library.rows)} rows)")

    folder = Path(tempfile.mkdtemp(prefix="sourcegrid-bench-"))

    stages = {}

    def sourcegrid_run():
        con = ibis.duckdb.connect()
        if args.memory_limit:
            con.con.execute("SET temp_directory = ?", [str(folder / "spill")])
            con.con.execute("SET memory_limit = ?", [args.memory_limit])
        start = time.perf_counter()
        result = account(activity, library, treatment, con=con, into="emissions", explain=False)
        stages["account"] = time.perf_counter() - start
        con.to_parquet(result.emissions_table, folder / "sourcegrid.parquet")
        stages["Parquet"] = time.perf_counter() - start - stages["account"]
        return result, con

    def pandas_run():
        frame = pandas_baseline(activity, library.rows, treatment)
        frame.to_parquet(folder / "pandas.parquet", index=False)
        return frame

    (ours, con), ours_s, ours_rss = timed("sourcegrid", sourcegrid_run)
    base, base_s, base_rss = timed("pandas", pandas_run)
    if len(ours.rejects):
        raise SystemExit(f"unexpected rejects:\n{ours.rejects.head()}")
    table = ours.emissions_table
    totals = con.to_pyarrow(table.aggregate(
        generation=table.generation.sum(), removal=table.removal.sum(),
        emission=table.emission.sum(), n=table.count())).to_pylist()[0]
    for column in ("generation", "removal", "emission"):
        a, b = totals[column], base[column].sum()
        if not np.isclose(a, b, rtol=1e-9):
            raise SystemExit(f"results differ: {column} {a} vs {b}")
    if totals["n"] != len(base):
        raise SystemExit(f"row counts differ: {totals['n']} vs {len(base)}")

    print(f"{'implementation':<28}{'seconds':>10}{'rows/s':>14}{'peak +RSS MB':>14}")
    for label, seconds, rss in (("sourcegrid (Ibis on DuckDB)", ours_s, ours_rss),
                                ("pandas merge baseline", base_s, base_rss)):
        print(f"{label:<28}{seconds:>10.2f}{n / seconds:>14,.0f}{rss:>14,.0f}")
    print("sourcegrid stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items())
          + f"; {ours.emission_rows:,} emission rows")
    print(f"ratio (sourcegrid rate / pandas rate): {base_s / ours_s:.2f}x; "
          f"totals equal: emission {totals['emission'] / 1000:,.1f} t")
    print("both runs start from the same in-memory tables and end with the emissions "
          "written to Parquet")


if __name__ == "__main__":
    main()
