"""Benchmark: quality control, calibration and fusion of N readings on DuckDB.

Generates N readings (micro-stations every minute with PM2.5, PM10 and RH; reference
stations hourly with PM2.5 and PM10; a few spikes, stuck sensors and one drifting sensor)
straight into a workspace's ``observations`` table with DuckDB, then times, in one run:

- ``qc_workspace`` (every check as Ibis expressions, the flags written by the engine)
  against a floor: the same checks written directly in DuckDB SQL (window ``list`` for the
  Hampel median and MAD, gaps-and-islands, the trailing drift window), flag counts
  checked equal;
- ``calibrate_workspace`` (hour means, pairing join, per-fold sufficient statistics,
  cross-validated residuals) against a floor: the hour-mean pairing and the regression
  sums in one DuckDB SQL query;
- ``fuse_workspace`` against a floor: a direct SQL aggregation of the same readings to
  site-hours and cell-hours.

Each step prints readings/s for sourcegrid and its floor, the ratio, and the peak
resident memory the step adds to the process (sampled every 20 ms; DuckDB runs in this
process, so this includes the engine's own buffers, bounded by ``--memory-limit``) and the
peak of Python-side allocations (tracemalloc: what the driver holds, which must not grow
with the readings), measured in a second, untimed run of each step: tracemalloc slows
Python code several times, and the floors run almost no Python, so a traced run would
not compare like with like. (``--pipeline`` traces its timed runs.)

``--pipeline`` runs ingest → QC → calibrate → fuse instead, at ``--readings`` readings
written first as Parquet files by DuckDB (one per feed kind) and ingested with
``ingest_file``, reporting time and peak memory per step.

Usage::

    .venv/bin/python benchmarks/observations.py                      # 10^6 readings
    .venv/bin/python benchmarks/observations.py --readings 4e6
    .venv/bin/python benchmarks/observations.py --pipeline --readings 1e8
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.grid.fusion import fuse_workspace
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.observations.calibration import calibrate_workspace
from sourcegrid.observations.qc import (
    EXPECTED_INTERVAL,
    QC_PARAMETERS,
    QC_RANGES,
    qc_workspace,
    reference_pairs,
)
from sourcegrid.store import Workspace

START = "2024-01-01 00:00:00+00"
REFERENCES = 4
CENTRE = (116.40, 39.90)


class PeakMemory:
    """Peak resident memory a block adds to the process and, with ``trace``, the
    Python-side peak (MB; tracemalloc, which slows Python code several times: a traced
    run is never the timed one)."""

    def __init__(self, trace: bool = False):
        self.trace = trace
        self.python = None

    def __enter__(self):
        gc.collect()
        self.start = self._rss()
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        if self.trace:
            tracemalloc.start()
        self.thread.start()
        return self

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    def _watch(self) -> None:
        while self.running:
            self.peak = max(self.peak, self._rss() - self.start)
            time.sleep(0.02)

    def __exit__(self, *exc):
        if self.trace:
            self.python = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        self.running = False
        self.thread.join()


def timed(function, *args, trace: bool = False, **kwargs):
    with PeakMemory(trace) as memory:
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - start
    return result, seconds, memory.peak, memory.python


def layout(n: int) -> tuple[int, int]:
    """(micro-stations, days) so that micro readings ≈ n (3 series a minute each)."""
    sites = int(np.clip(round(math.sqrt(n / 3000)), 10, 400))
    days = max(1, round(n / (sites * 3 * 1440)))
    return sites, days


def generate_sql(sites: int, days: int, select: str = "SELECT {columns} FROM everything") -> str:
    """A DuckDB query of the readings; ``select`` picks from ``everything``
    (``{columns}``: OBSERVATION_COLUMNS)."""
    minutes = days * 1440
    hours = days * 24
    lon0, lat0 = CENTRE
    return f"""
    WITH refs AS (
        SELECT r AS k, 'REF' || r AS site_id, {lon0} + 0.1 * r AS lon, {lat0} AS lat
        FROM range({REFERENCES}) t(r)),
    ref_hours AS (
        SELECT k, site_id, lon, lat, h,
               40 + 30 * sin(h / 24.0 * 2 * pi() + k) + 5 * sin(h * 0.37) AS base
        FROM refs, range({hours}) t(h)),
    ref_rows AS (
        SELECT TIMESTAMPTZ '{START}' + to_hours(h) AS time, site_id, 'reference' AS site_kind,
               lon, lat, p.pollutant, base * p.factor AS value
        FROM ref_hours, (VALUES ('PM2.5', 1.0), ('PM10', 1.6)) p(pollutant, factor)),
    micros AS (
        SELECT m, 'M' || m AS site_id, m % {REFERENCES} AS k,
               {lon0} + 0.1 * (m % {REFERENCES}) + 0.002 * (m // {REFERENCES} % 10) AS lon,
               {lat0} + 0.002 * (m // {REFERENCES} // 10) AS lat
        FROM range({sites}) t(m)),
    micro_minutes AS (
        SELECT m, site_id, micros.k, lon, lat, i, i // 60 AS h,
               50 + 20 * sin(i / 1440.0 * 2 * pi()) AS rh
        FROM micros, range({minutes}) t(i)),
    micro_rows AS (
        SELECT TIMESTAMPTZ '{START}' + to_minutes(i) AS time, mm.site_id,
               'micro' AS site_kind, mm.lon, mm.lat, p.pollutant,
               CASE
                 WHEN p.pollutant = 'RH' THEN round(rh + (hash(m, i) % 100) / 20.0, 1)
                 WHEN hash(m, i, p.pollutant) % 5000 = 0 THEN 900.0          -- a spike
                 WHEN m = 1 AND i % 100000 BETWEEN 1000 AND 1010 THEN 33.0  -- stuck
                 ELSE round((1.1 + CASE WHEN m = 0 AND i > {minutes // 2} THEN 0.5 ELSE 0 END)
                            * rf.base * p.factor + 0.05 * rh
                            + (hash(m, i, p.pollutant) % 1000) / 100.0 - 5, 1)
               END AS value
        FROM micro_minutes mm JOIN ref_hours rf USING (k, h),
             (VALUES ('PM2.5', 1.0), ('PM10', 1.6), ('RH', 1.0)) p(pollutant, factor)),
    everything AS (SELECT * FROM ref_rows UNION ALL SELECT * FROM micro_rows)
    {select.format(columns="time, site_id, site_kind, lon, lat, pollutant, value, "
                   "CASE WHEN pollutant = 'RH' THEN '%' ELSE 'ug/m3' END AS unit, "
                   "'benchmark' AS source")}
    """


def make_workspace(folder: Path, memory_limit: str) -> Workspace:
    workspace = Workspace(folder, create=True)
    workspace.con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    return workspace


def write_readings(workspace: Workspace, sites: int, days: int) -> int:
    con = workspace.con.con
    con.execute("DROP TABLE IF EXISTS observations")
    con.execute("CREATE TABLE observations AS " + generate_sql(sites, days))
    return con.execute("SELECT count(*) FROM observations").fetchone()[0]


# ---------------------------------------------------------------------- floors (DuckDB SQL)

def qc_floor(con) -> dict[str, int]:
    """The same checks written directly in DuckDB SQL; returns counts per flag."""
    p = QC_PARAMETERS["default"]
    half = int(p["spike_window"]) // 2
    ranges = ", ".join(f"('{k}', {lo}, {hi})" for k, (lo, hi) in QC_RANGES.items())
    steps = ", ".join(f"('{kind}', {int(pd.Timedelta(step).total_seconds())})"
                      for kind, step in EXPECTED_INTERVAL.items())
    pairs = reference_pairs(_ibis(con).table("observations"), p["drift_max_distance"])
    con.register("floor_pairs", pairs[["site_id", "reference_id"]])
    sql = f"""
    CREATE OR REPLACE TEMP TABLE floor_flags AS
    WITH obs AS (SELECT site_id, time, site_kind, pollutant, value FROM observations),
    keyed AS (SELECT *, count(*) OVER (PARTITION BY site_id, time, pollutant) AS n,
                     count(DISTINCT value) OVER (PARTITION BY site_id, time, pollutant) AS nd
              FROM obs),
    single AS (SELECT site_id, time, site_kind, pollutant, value FROM keyed WHERE n = 1),
    fixed AS (SELECT * FROM single WHERE site_kind <> 'mobile'),
    range_flags AS (
        SELECT o.site_id, o.time, o.pollutant, 'out_of_range' AS flag
        FROM obs o JOIN (VALUES {ranges}) r(pollutant, low, high) USING (pollutant)
        WHERE o.value < r.low OR o.value > r.high),
    duplicate_flags AS (SELECT site_id, time, pollutant, 'duplicate_timestamp' FROM keyed
                        WHERE nd > 1),
    windows AS (
        SELECT *, list(value) OVER (PARTITION BY site_id, pollutant ORDER BY time
                   ROWS BETWEEN {half} PRECEDING AND {half} FOLLOWING) AS w FROM fixed),
    medians AS (SELECT *, list_median(w) AS med FROM windows),
    spike_flags AS (
        SELECT site_id, time, pollutant, 'spike' FROM medians
        WHERE len(w) >= 3 AND abs(value - med) > {p["spike_min_jump"]}
          AND abs(value - med) > {p["spike_k"]} * 1.4826
              * list_median(list_transform(w, x -> abs(x - med)))),
    runs AS (
        SELECT *, row_number() OVER (PARTITION BY site_id, pollutant ORDER BY time)
                - row_number() OVER (PARTITION BY site_id, pollutant, value ORDER BY time) AS island
        FROM fixed),
    flat_flags AS (
        SELECT site_id, time, pollutant, 'flat_line' FROM (
            SELECT *, count(*) OVER (PARTITION BY site_id, pollutant, value, island) AS run
            FROM runs) WHERE run >= {int(p["flat_min_run"])}),
    pm_bad AS (
        SELECT a.site_id, a.time FROM single a JOIN single b USING (site_id, time)
        WHERE a.pollutant = 'PM2.5' AND b.pollutant = 'PM10'
          AND a.value > b.value + {p["pm_tolerance"]}),
    pm_flags AS (
        SELECT s.site_id, s.time, s.pollutant, 'pm25_gt_pm10' FROM single s
        SEMI JOIN pm_bad USING (site_id, time) WHERE s.pollutant IN ('PM2.5', 'PM10')),
    hourly AS (
        SELECT site_id, site_kind, pollutant, date_trunc('hour', time) AS hour,
               avg(value) AS value FROM single GROUP BY ALL),
    paired AS (
        SELECT m.site_id, m.pollutant, m.hour, m.value - r.value AS d, r.value AS ref
        FROM hourly m JOIN floor_pairs f ON m.site_id = f.site_id
        JOIN hourly r ON r.site_id = f.reference_id AND r.pollutant = m.pollutant
                     AND r.hour = m.hour
        WHERE m.site_kind = 'micro'),
    rolled AS (
        SELECT site_id, pollutant, hour,
               avg(d) OVER w / avg(ref) OVER w AS ratio, count(d) OVER w AS pairs
        FROM paired WINDOW w AS (PARTITION BY site_id, pollutant ORDER BY hour
             RANGE BETWEEN INTERVAL {int(p["drift_window_hours"]) - 1} HOURS PRECEDING
             AND CURRENT ROW)),
    drift_flags AS (
        SELECT s.site_id, s.time, s.pollutant, 'drift' FROM single s
        JOIN rolled r ON s.site_id = r.site_id AND s.pollutant = r.pollutant
                     AND date_trunc('hour', s.time) = r.hour
        WHERE abs(r.ratio) > {p["drift_threshold"]} AND r.pairs >= {int(p["drift_min_pairs"])})
    SELECT * FROM range_flags UNION ALL SELECT * FROM duplicate_flags
    UNION ALL SELECT * FROM spike_flags UNION ALL SELECT * FROM flat_flags
    UNION ALL SELECT * FROM pm_flags UNION ALL SELECT * FROM drift_flags;
    CREATE OR REPLACE TEMP TABLE floor_gaps AS
    SELECT * FROM (
        SELECT site_id, pollutant, step,
               epoch(time) - lag(epoch(time)) OVER (PARTITION BY site_id, pollutant
                                                    ORDER BY time) AS delta
        FROM observations JOIN (VALUES {steps}) s(site_kind, step) USING (site_kind))
    WHERE delta > step;
    """
    con.execute(sql)
    counts = dict(con.execute("SELECT flag, count(*) FROM floor_flags GROUP BY 1").fetchall())
    counts["gap"] = con.execute("SELECT count(*) FROM floor_gaps").fetchone()[0]
    return counts


def calibration_floor(con) -> int:
    """Hour means, the pairing join and the regression sums per site in one SQL query."""
    pairs = reference_pairs(_ibis(con).table("observations"), 3000.0)
    con.register("floor_pairs", pairs)
    return con.execute("""
    WITH passing AS (
        SELECT * FROM observations o
        WHERE o.site_kind IN ('micro', 'reference')
          AND NOT EXISTS (SELECT 1 FROM observation_flags f WHERE f.severity = 'fail'
                          AND f.site_id = o.site_id AND f.time = o.time
                          AND f.pollutant = o.pollutant)),
    hourly AS (SELECT site_id, site_kind, pollutant, date_trunc('hour', time) AS hour,
                      avg(value) AS value FROM passing GROUP BY ALL),
    pairs AS (
        SELECT m.site_id, m.pollutant, m.value AS x, r.value AS y, rh.value AS rh
        FROM hourly m JOIN floor_pairs f ON m.site_id = f.site_id
        JOIN hourly r ON r.site_id = f.reference_id AND r.pollutant = m.pollutant
                     AND r.hour = m.hour
        LEFT JOIN hourly rh ON rh.site_id = m.site_id AND rh.hour = m.hour
                           AND rh.pollutant = 'RH'
        WHERE m.site_kind = 'micro' AND m.pollutant IN ('PM2.5', 'PM10'))
    SELECT count(*) FROM (
        SELECT site_id, pollutant, count(*), sum(x), sum(y), sum(x * x), sum(x * y),
               sum(y * y), sum(x - y), sum((x - y) ^ 2), sum(rh), count(rh)
        FROM pairs GROUP BY ALL)
    """).fetchone()[0]


def fusion_floor(con, spec: GridSpec) -> int:
    """Site-hour means of the passing readings, each site's cell, cell-hour means."""
    sites = con.execute("SELECT DISTINCT lon, lat FROM observations").df()
    rows, cols = spec.cell_of(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    con.register("floor_cells", sites.assign(row=rows, col=cols))
    return con.execute("""
    WITH passing AS (
        SELECT * FROM observations o
        WHERE NOT EXISTS (SELECT 1 FROM observation_flags f WHERE f.severity = 'fail'
                          AND f.site_id = o.site_id AND f.time = o.time
                          AND f.pollutant = o.pollutant)
          AND pollutant <> 'RH'),
    site_hours AS (
        SELECT site_id, site_kind, pollutant, lon, lat, date_trunc('hour', time) AS hour,
               avg(value) AS value, count(*) AS n FROM passing GROUP BY ALL)
    SELECT count(*) FROM (
        SELECT row, col, pollutant, hour, sum(value * n) / sum(n), sum(n)
        FROM site_hours JOIN floor_cells USING (lon, lat) WHERE row >= 0 GROUP BY ALL)
    """).fetchone()[0]


def _ibis(con):
    import ibis

    return ibis.duckdb.from_connection(con)


# ---------------------------------------------------------------------- report

def line(label: str, n: int, seconds: float, rss: float, python: float | None = None) -> str:
    python_text = f"{python:>12,.0f}" if python is not None else f"{'':>12}"
    return f"  {label:<42}{seconds:>9.2f}{n / seconds:>14,.0f}{rss:>11,.0f}{python_text}"


def header() -> None:
    print(f"  {'':<42}{'s':>9}{'readings/s':>14}{'RSS MB':>11}{'Python MB':>12}")


def steps_run(n_target: int, memory_limit: str) -> None:
    sites, days = layout(n_target)
    with tempfile.TemporaryDirectory() as folder:
        workspace = make_workspace(Path(folder), memory_limit)
        con = workspace.con.con
        start = time.perf_counter()
        n = write_readings(workspace, sites, days)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{n:,} readings ({sites} micro-stations × 3 series every minute, "
              f"{REFERENCES} reference stations hourly, {days} days) generated in "
              f"{time.perf_counter() - start:.1f} s; DuckDB memory_limit {memory_limit}")
        spec = GridSpec.from_bbox((116.3, 39.8, 116.8, 40.1))
        write_spec(workspace, spec)
        header()

        counts, qc_s, qc_rss, qc_py = timed(qc_workspace, workspace)
        floor_counts, floor_s, floor_rss, _ = timed(qc_floor, con)
        ours = counts.set_index("flag")["count"].to_dict()
        same = all(ours[flag] == floor_counts.get(flag, 0) for flag in ours)
        print("QC (7 checks, flags written by the engine)")
        print(line("sourcegrid qc_workspace (Ibis on DuckDB)", n, qc_s, qc_rss, qc_py))
        print(line("floor: the same checks in DuckDB SQL", n, floor_s, floor_rss))
        print(f"  ratio {qc_s / floor_s:.2f}× the floor; flag counts "
              f"{'equal' if same else 'DIFFER'}: "
              + ", ".join(f"{k} {v:,}" for k, v in ours.items()))
        if not same:
            print(f"  floor counts: {floor_counts}")

        new, cal_s, cal_rss, cal_py = timed(calibrate_workspace, workspace,
                                            model="multivariate")
        groups, floor_s, floor_rss, _ = timed(calibration_floor, con)
        print("calibration (multivariate, 5-fold CV, passing readings)")
        print(line("sourcegrid calibrate_workspace", n, cal_s, cal_rss, cal_py))
        print(line("floor: pairing + regression sums in SQL", n, floor_s, floor_rss))
        print(f"  ratio {cal_s / floor_s:.2f}× the floor; {len(new)} calibrations "
              f"({groups} site-pollutant groups in the floor)")

        cells, fuse_s, fuse_rss, fuse_py = timed(fuse_workspace, workspace,
                                                 interpolate=False)
        floor_cells, floor_s, floor_rss, _ = timed(fusion_floor, con, spec)
        print("fusion (site-hours → cell-hours, calibrated, passing readings)")
        print(line("sourcegrid fuse_workspace", n, fuse_s, fuse_rss, fuse_py))
        print(line("floor: SQL site-hour and cell-hour means", n, floor_s, floor_rss))
        print(f"  ratio {fuse_s / floor_s:.2f}× the floor; {len(cells):,} cell-hours "
              f"({floor_cells:,} in the floor)")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        # what the driver holds: a second run of each step under tracemalloc (untimed)
        peaks = [(label, timed(function, workspace, trace=True, **kwargs)[3])
                 for label, function, kwargs in (
                     ("qc_workspace", qc_workspace, {}),
                     ("calibrate_workspace", calibrate_workspace, {"model": "multivariate"}),
                     ("fuse_workspace", fuse_workspace, {"interpolate": False}))]
        print("Python-side peak (tracemalloc, a second untimed run of each step): "
              + ", ".join(f"{label} {peak:,.0f} MB" for label, peak in peaks))
        workspace.close()


def pipeline_run(n_target: int, memory_limit: str) -> None:
    from sourcegrid.observations.ingest import ingest_file

    sites, days = layout(n_target)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        workspace = make_workspace(folder / "ws", memory_limit)
        con = workspace.con.con
        start = time.perf_counter()
        files = []
        for kind in ("reference", "micro"):
            path = folder / f"{kind}.parquet"
            select = ("SELECT strftime(time AT TIME ZONE 'Asia/Shanghai', '%Y-%m-%d %H:%M:%S') "
                      "AS time, site_id, lon, lat, pollutant, value, CASE WHEN pollutant = 'RH' "
                      "THEN '%' ELSE 'ug/m3' END AS unit FROM everything "
                      f"WHERE site_kind = '{kind}'")
            con.execute(f"COPY ({generate_sql(sites, days, select)}) TO '{path}' "
                        "(FORMAT parquet)")
            files.append((kind, path))
        n = sum(con.execute(f"SELECT count(*) FROM '{p}'").fetchone()[0] for _, p in files)
        print(f"{n:,} readings as Parquet ({sites} micro-stations, {days} days) written in "
              f"{time.perf_counter() - start:.1f} s; DuckDB memory_limit {memory_limit}")
        write_spec(workspace, GridSpec.from_bbox((116.3, 39.8, 116.8, 40.1)))
        header()
        total = 0.0
        for kind, path in files:
            _, seconds, rss, python = timed(ingest_file, workspace, path, kind, trace=True)
            rows = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
            print(line(f"ingest {kind} ({rows:,} readings)", rows, seconds, rss, python))
            total += seconds
        for label, function, kwargs in (
                ("qc_workspace", qc_workspace, {}),
                ("calibrate_workspace", calibrate_workspace, {"model": "multivariate"}),
                ("fuse_workspace", fuse_workspace, {"interpolate": False})):
            _, seconds, rss, python = timed(function, workspace, trace=True, **kwargs)
            print(line(label, n, seconds, rss, python))
            total += seconds
        print(f"  ingest → QC → calibrate → fuse: {total:.0f} s, {n / total:,.0f} readings/s; "
              f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
        workspace.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=float, default=1e6,
                        help="approximate number of readings (default 1e6)")
    parser.add_argument("--pipeline", action="store_true",
                        help="ingest → QC → calibrate → fuse from Parquet files")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    args = parser.parse_args()
    if args.pipeline:
        pipeline_run(int(args.readings), args.memory_limit)
    else:
        steps_run(int(args.readings), args.memory_limit)


if __name__ == "__main__":
    main()
