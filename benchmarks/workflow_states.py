"""Benchmark: the current state of N alerts, derived from the event log, on DuckDB and PostgreSQL.

The workflow stores no state: :func:`sourcegrid.workflow.alerts.alert_states` derives
it from the append-only event log each time (last event's state, level and actor; times
of dispatch, acknowledgement, inspection and closing; escalations; deadlines). This
registers N alerts (one ``raise`` event each) and gives each three more events
(dispatch, acknowledge, inspect), then times ``alert_states`` for all alerts and for 5 of
them, on a DuckDB workspace and on a PostgreSQL one. The floor, in the same run on the
same tables: the state query alone, run and fetched through the engine's own driver
(duckdb's ``df``, psycopg's ``fetchall``), without building the DataFrame or the
deadlines. Prints alerts/s, peak memory and the ratio to the floor.

The server: ``$SOURCEGRID_TEST_PG_DSN`` when set, else a throw-away server started with
``scripts/pg-test-server`` (Debian's PostgreSQL) and stopped at the end.

    .venv/bin/python benchmarks/workflow_states.py                 # 20,000 alerts
    .venv/bin/python benchmarks/workflow_states.py --alerts 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_rss_mb  # noqa: E402
from postgres_write import pg_server  # noqa: E402

T0 = pd.Timestamp("2024-03-01T00:00:00Z")
STEPS = (("dispatch", "dispatched"), ("acknowledge", "acknowledged"), ("inspect", "inspected"))


def build(workspace, n: int) -> None:
    """N alerts on a 3 × 3 grid, each with raise, dispatch, acknowledge and inspect."""
    from sourcegrid.grid.spec import GridSpec, write_spec
    from sourcegrid.workflow import alerts
    from sourcegrid.workflow import tables as store

    spec = GridSpec.from_bbox((116.30, 39.80, 116.36, 39.85), 3000)
    write_spec(workspace, spec)
    workspace.write("cells", spec.cells()[["cell_id"]])
    cells = spec.cells()["cell_id"].to_numpy()
    frame = pd.DataFrame({"source_kind": "hotspot", "cell_id": np.resize(cells, n),
                          "pollutant": "PM2.5", "rule": "rank",
                          "start": T0 + pd.to_timedelta(np.arange(n), "h"),
                          "end": T0 + pd.to_timedelta(np.arange(n) + 1, "h")})
    alerts.register_alerts(workspace, frame, now=T0)
    with store.transaction(workspace) as handle:
        columns = list(store.query(workspace, f"SELECT * FROM {store.EVENTS_TABLE} LIMIT 0"))
        for seq, (action, state) in enumerate(STEPS, start=2):
            values = {"event_id": f"event_id || '-{seq}'", "seq": str(seq),
                      "time": f"time + INTERVAL '{seq} hours'", "action": f"'{action}'",
                      "from_state": "to_state", "to_state": f"'{state}'"}
            select = ", ".join(values.get(c, c) for c in columns)
            handle.execute(f"INSERT INTO {store.EVENTS_TABLE} SELECT {select} "
                           f"FROM {store.EVENTS_TABLE} WHERE seq = 1")


def floor_seconds(workspace) -> float:
    """The state query alone, through the engine's own driver (best of 3)."""
    from sourcegrid.workflow import alerts
    from sourcegrid.workflow import tables as store

    sql = (f"SELECT r.*, s.* FROM {store.REGISTRY_TABLE} r JOIN "
           f"({alerts.state_sql(workspace.engine, '')}) s USING (alert_id)")
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        if workspace.engine == "postgres":
            import psycopg

            with psycopg.connect(workspace.config.dsn) as connection:
                connection.execute(f"SET search_path TO {workspace.config.schema}")
                rows = connection.execute(sql).fetchall()
        else:
            rows = workspace.con.con.execute(sql).df()  # DuckDB's fastest way to Python
        best = min(best, time.perf_counter() - start)
    assert len(rows) > 0
    return best


def measure(workspace, n: int) -> dict:
    from sourcegrid.workflow import alerts

    build(workspace, n)
    best_all, best_few = np.inf, np.inf
    for _ in range(3):
        start = time.perf_counter()
        states = alerts.alert_states(workspace, now=T0 + pd.Timedelta(days=2))
        best_all = min(best_all, time.perf_counter() - start)
        few = list(states["alert_id"].iloc[:5])
        start = time.perf_counter()
        alerts.alert_states(workspace, alert_ids=few)
        best_few = min(best_few, time.perf_counter() - start)
    assert len(states) == n and (states["state"] == "inspected").all()
    return {"all": best_all, "five": best_few, "floor": floor_seconds(workspace)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    args = parser.parse_args()
    from sourcegrid.store import Workspace

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["duckdb"] = measure(Workspace(Path(folder) / "duck", create=True), args.alerts)
        with pg_server() as dsn:
            schema = f"bench_states_{int(time.time())}"
            where = Path(folder) / "pg"
            where.mkdir()
            (where / "sourcegrid-workspace.toml").write_text(
                f'engine = "postgres"\nschema = "{schema}"\n', encoding="utf-8")
            workspace = Workspace(where, create=True, dsn=dsn)
            try:
                results["postgres"] = measure(workspace, args.alerts)
            finally:
                import psycopg

                workspace.close()
                with psycopg.connect(dsn, autocommit=True) as connection:
                    connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print(f"{args.alerts:,} alerts, {4 * args.alerts:,} events; best of 3 runs")
    print(f"{'engine':10} {'all alerts s':>12} {'alerts/s':>10} {'5 alerts s':>10} "
          f"{'floor s':>8} {'ratio':>6}")
    for engine, result in results.items():
        print(f"{engine:10} {result['all']:12.3f} {args.alerts / result['all']:10,.0f} "
              f"{result['five']:10.3f} {result['floor']:8.3f} "
              f"{result['all'] / result['floor']:6.2f}")
    print(f"peak RSS {peak_rss_mb():,.0f} MB (both engines' clients in this process)")


if __name__ == "__main__":
    main()
