"""Benchmark: ``ingest_file`` of a readings file against DuckDB's own ``read_csv``.

Generates a wide micro-station CSV (time, site_id, lon, lat, PM2.5, PM10: two
readings a row; ``--rows`` rows, a few per mille of them bad so that the checks
and rejects have work to do) and a Parquet copy, then runs, each in a fresh
interpreter so that its peak memory (VmHWM) is its own:

1. **floor**: DuckDB alone, ``CREATE TABLE t AS SELECT * FROM read_csv(file)``
   into a workspace file (no checks, no conversion, no dedupe);
2. **long readings, no checks** (for reference, not the floor): DuckDB alone turns
   the file into the rows sourcegrid stores (UNPIVOT to one reading a row, times to
   UTC, the ``observations`` columns) into a stored table: what storing twice the rows
   in long form costs by itself;
3. **sourcegrid**: ``ingest_file(workspace, file, 'micro')`` into a fresh
   workspace (read by the engine, every check, rejects, time zones, units,
   dedupe by anti-join, the ``sites`` table, the file registry);
4. the same three for the Parquet copy (floor: ``read_parquet``);
5. with ``--pandas``, the pandas reader of the same file (the way ingest read
   files before it ran on the engine), for comparison.

Prints seconds, readings/s, peak RSS and the ratio to the floor side by side.

    .venv/bin/python benchmarks/ingest.py                  # 10^6 rows, 2·10^6 readings
    .venv/bin/python benchmarks/ingest.py --rows 10000000 --pandas
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from memory import peak_rss_mb  # benchmarks/memory.py (scripts run from this folder)

POLLUTANTS = ("PM2.5", "PM10")




def generate(folder: Path, rows: int, sites: int, seed: int = 0) -> tuple[Path, Path, int]:
    """A wide readings CSV and its Parquet copy; returns the paths and the bad cells."""
    rng = np.random.default_rng(seed)
    per_site = -(-rows // sites)
    site = np.repeat(np.arange(sites), per_site)[:rows]
    minute = np.tile(np.arange(per_site), sites)[:rows]
    lon = np.round(rng.uniform(113.6, 119.4, sites), 5)[site]
    lat = np.round(rng.uniform(34.6, 40.9, sites), 5)[site]
    times = (pd.Timestamp("2024-01-10 08:00") + pd.to_timedelta(minute, unit="min"))
    pm25 = np.round(np.maximum(40 + 20 * np.sin(minute / 300.0) + rng.normal(0, 5, rows), 0), 1)
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M:%S"),
                          "site_id": np.array([f"M{i:05d}" for i in range(sites)])[site],
                          "lon": lon, "lat": lat, "PM2.5": pm25.astype(str),
                          "PM10": np.round(pm25 * 1.6, 1).astype(str)})
    bad = rng.choice(rows, size=max(rows // 1000, 1), replace=False)
    frame.loc[bad[0::3], "PM2.5"] = "abc"        # not_a_number
    frame.loc[bad[1::3], "PM10"] = "-5"          # negative_value
    frame.loc[bad[2::3], "PM2.5"] = "99999"      # out_of_range
    csv = folder / "readings.csv"
    frame.to_csv(csv, index=False)
    parquet = folder / "readings.parquet"
    typed = frame.assign(time=pd.to_datetime(frame["time"]))
    typed.to_parquet(parquet, index=False)
    return csv, parquet, len(bad)


def worker(which: str, path: Path, out: Path) -> dict:
    import duckdb

    workspace_folder = out / f"ws-{which}"
    import_seconds = 0.0
    started = time.perf_counter()
    cpu_started = time.process_time()
    if which in ("floor_csv", "floor_parquet"):
        workspace_folder.mkdir()
        con = duckdb.connect(str(workspace_folder / "floor.duckdb"))
        reader = "read_csv" if which == "floor_csv" else "read_parquet"
        con.execute(f"CREATE TABLE readings AS SELECT * FROM {reader}(?)", [str(path)])
        stored = con.execute("SELECT count(*) FROM readings").fetchone()[0]
        con.close()
        rejects = 0
    elif which in ("long_csv", "long_parquet"):
        # the readings as sourcegrid stores them, without any check: the file turned long
        # (two readings a row), times to UTC, in the observations table's columns
        workspace_folder.mkdir()
        con = duckdb.connect(str(workspace_folder / "floor.duckdb"))
        reader = ("read_csv(?, all_varchar = true)" if which == "long_csv"
                  else "read_parquet(?)")
        con.execute(f"""
            CREATE TABLE observations AS
            SELECT CAST(CAST(time AS VARCHAR) || '+08:00' AS TIMESTAMPTZ) AS time, site_id,
                   'micro' AS site_kind, CAST(lon AS DOUBLE) AS lon,
                   CAST(lat AS DOUBLE) AS lat, pollutant, TRY_CAST(value AS DOUBLE) AS value,
                   'ug/m**3' AS unit, ? AS source
            FROM (UNPIVOT (SELECT * FROM {reader}) ON "PM2.5", "PM10"
                  INTO NAME pollutant VALUE value)""", [path.name, str(path)])
        stored = con.execute("SELECT count(*) FROM observations").fetchone()[0]
        con.close()
        rejects = 0
    elif which == "pandas_csv":
        from sourcegrid.observations.ingest import ingest_readings
        from sourcegrid.observations.readers import read_observations
        from sourcegrid.store import Workspace

        workspace = Workspace(workspace_folder, create=True)
        batch = read_observations(path, site_kind="micro", require_position=True)
        result = ingest_readings(workspace, batch.readings, source=path.name)
        stored, rejects = result.added, len(batch.rejects)
        workspace.close()
    else:
        imported = time.perf_counter()
        from sourcegrid.observations.ingest import ingest_file
        from sourcegrid.store import Workspace

        import_seconds = time.perf_counter() - imported
        workspace = Workspace(workspace_folder, create=True)
        result = ingest_file(workspace, path, "micro")  # in its own transaction, as the CLI
        stored, rejects = result.added, len(result.rejects)
        workspace.close()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # every thread of the process (DuckDB's too)
    return {"which": which, "seconds": seconds, "import": import_seconds, "cpu": cpu, "stored": int(stored), "rejects": rejects,
            "peak_mb": peak_rss_mb()}


def run_worker(which: str, path: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", which, "--path", str(path),
                           "--out", str(out)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {which} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the generated file (two readings each); default 1e6")
    parser.add_argument("--sites", type=int, default=500, help="micro-stations (default 500)")
    parser.add_argument("--pandas", action="store_true",
                        help="also run the pandas reader on the CSV (slow)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.path), Path(args.out))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv, parquet, bad = generate(folder, args.rows, args.sites)
        readings = args.rows * len(POLLUTANTS)
        print(f"load average before the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"generated {args.rows:,} rows ({readings:,} readings, {bad:,} bad values) from "
              f"{args.sites} sites: CSV {csv.stat().st_size / 2**20:,.0f} MB, Parquet "
              f"{parquet.stat().st_size / 2**20:,.0f} MB")
        cases = [("floor_csv", csv), ("long_csv", csv), ("sourcegrid_csv", csv),
                 ("floor_parquet", parquet), ("long_parquet", parquet),
                 ("sourcegrid_parquet", parquet)]
        if args.pandas:
            cases.append(("pandas_csv", csv))
        results = {which: run_worker(which, path, folder) for which, path in cases}

    labels = {"floor_csv": "DuckDB read_csv → table (floor)",
              "sourcegrid_csv": "sourcegrid ingest_file CSV",
              "long_csv": "  DuckDB CSV → long readings, no checks",
              "floor_parquet": "DuckDB read_parquet → table (floor)",
              "long_parquet": "  DuckDB Parquet → long readings, no chk",
              "sourcegrid_parquet": "sourcegrid ingest_file Parquet",
              "pandas_csv": "pandas reader + ingest (before)"}
    floors = {"csv": results["floor_csv"]["seconds"],
              "parquet": results["floor_parquet"]["seconds"]}
    cpu_floors = {"csv": results["floor_csv"]["cpu"],
                  "parquet": results["floor_parquet"]["cpu"]}
    print(f"{'implementation':<38}{'seconds':>9}{'import s':>10}{'readings/s':>14}"
          f"{'peak RSS MB':>13}{'stored':>12}{'rejects':>9}{'× floor':>9}{'CPU s':>8}"
          f"{'CPU × floor':>12}")
    for which, result in results.items():
        kind = "parquet" if which.endswith("parquet") else "csv"
        floor, cpu_floor = floors[kind], cpu_floors[kind]
        print(f"{labels[which]:<38}{result['seconds']:>9.2f}{result['import']:>10.2f}"
              f"{readings / result['seconds']:>14,.0f}{result['peak_mb']:>13,.0f}"
              f"{result['stored']:>12,}{result['rejects']:>9,}"
              f"{result['seconds'] / floor:>9.2f}{result['cpu']:>8.2f}"
              f"{result['cpu'] / cpu_floor:>12.2f}")
    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("floor rows are file rows (a row holds two readings); readings/s counts readings "
          "for every line. Ratio = seconds / floor seconds of the same file format; seconds "
          "include importing sourcegrid and Ibis (the import column; the floors import only "
          "DuckDB, before their clock starts), as a command pays it once; CPU = "
          "processor seconds of all the worker's threads (steadier than seconds on a busy "
          "machine).")


if __name__ == "__main__":
    main()
