"""Benchmark: storing a DataFrame in a PostgreSQL workspace.

``Workspace.write`` streams a DataFrame to PostgreSQL with one ``COPY ... FROM STDIN``
(CSV written by Arrow); the baseline, timed in the same run on the same server, is Ibis'
own path (``create_table`` from a memtable: one ``executemany`` INSERT). Both tables are
read back and must be equal. Prints rows/s, peak memory and the ratio.

The server: ``$SOURCEGRID_TEST_PG_DSN`` when set, else a throw-away server started with
``scripts/pg-test-server`` (Debian's PostgreSQL) and stopped at the end.

    .venv/bin/python benchmarks/postgres_write.py              # 10^5 rows
    .venv/bin/python benchmarks/postgres_write.py --rows 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def pg_server():
    """A PostgreSQL DSN: $SOURCEGRID_TEST_PG_DSN, else a throw-away server for the block."""
    dsn = os.environ.get("SOURCEGRID_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    folder = tempfile.mkdtemp(prefix="sourcegrid-bench-pg.")
    script = str(ROOT / "scripts" / "pg-test-server")
    dsn = subprocess.run([script, "start", folder], check=True, capture_output=True,
                         text=True).stdout.strip()
    try:
        yield dsn
    finally:
        subprocess.run([script, "stop", folder], check=False, capture_output=True)


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(2017)
    return pd.DataFrame({
        "cell_id": np.char.add("R", (np.arange(rows) % 20_000).astype(str)),
        "pollutant": np.where(rng.random(rows) < 0.5, "PM2.5", "PM10"),
        "time": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows) % 8760,
                                                                        unit="h"),
        "value": rng.gamma(2.0, 20.0, rows),
        "uncertainty": rng.random(rows) * 5,
        "n_readings": rng.integers(0, 60, rows),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    import ibis

    from sourcegrid.store import Workspace

    frame = _frame(args.rows)
    print(f"{args.rows:,} rows × {frame.shape[1]} columns (text, time, numbers); "
          f"load average {os.getloadavg()[0]:.2f}")
    with pg_server() as dsn, tempfile.TemporaryDirectory() as folder:
        with Workspace(Path(folder) / "ws", create=True, engine="postgres", dsn=dsn) as ws:
            start = time.perf_counter()
            ws.write("copied", frame)
            copied = time.perf_counter() - start
            start = time.perf_counter()
            ws.con.create_table("inserted", ibis.memtable(frame), overwrite=True)
            inserted = time.perf_counter() - start
            order = ["cell_id", "time", "pollutant", "value"]
            a = ws.con.table("copied").execute().sort_values(order, ignore_index=True)
            b = ws.con.table("inserted").execute().sort_values(order, ignore_index=True)
            pd.testing.assert_frame_equal(a, b)
            ws.drop("copied")
            ws.drop("inserted")
    print(f"{'path':<38}{'seconds':>9}{'rows/s':>14}")
    print(f"{'Workspace.write (COPY, Arrow CSV)':<38}{copied:>9.2f}{args.rows / copied:>14,.0f}")
    print(f"{'baseline: Ibis create_table (INSERT)':<38}{inserted:>9.2f}"
          f"{args.rows / inserted:>14,.0f}")
    print(f"ratio {inserted / copied:.1f}× the baseline; tables equal; "
          f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
