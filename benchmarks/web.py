"""Benchmark: the web app under concurrent users, and whether any write is lost.

Builds the web app's synthetic workspace (:mod:`sourcegrid.sample.web_workspace`) in a
temporary folder, starts ``uvicorn`` in a separate process on 127.0.0.1 only,
and drives ``--clients`` concurrent clients (httpx, asyncio) for ``--seconds``
each phase. Each client, acting as one person of township A by API token,
loops over a fixed mix: the map data of a random hour (45 %), the dossier of a
random cell in its scope (25 %), and an action on one of the open alerts (30 %;
a comment, which always lands, or an acknowledge, which only one person per
alert can win — the others get 409). The baseline is the same mix with one
client, measured in the same run.

Printed: requests/s, p50/p95 latency per kind, errors (5xx or a failed request;
409 refusals are counted apart, they are correct answers), the server's peak
memory, the ratio of throughput (50 clients / 1 client), and whether the event
log, read after the server has stopped, holds exactly the acknowledged writes
(every 201 answer's event id, and nothing else from these clients).

    .venv/bin/python benchmarks/web.py
    .venv/bin/python benchmarks/web.py --clients 100 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

#: People of township A who may comment on and acknowledge its alerts.
ACTORS = ["head_a", "super_a", "chief_a", "town_a", "county", "city", "admin"]
SERVER = """
import sys, uvicorn
from sourcegrid.web import create_app
# no escalation runs: the log must hold exactly the clients' acknowledged writes
uvicorn.run(create_app(sys.argv[1], escalation_interval=0), host="127.0.0.1",
            port=int(sys.argv[2]),
            log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def prepare(folder: Path, alerts: int) -> dict:
    """The sample workspace with tokens for the actors and ``alerts`` dispatched alerts."""
    import pandas as pd

    from sourcegrid.sample.web_workspace import build_sample_workspace
    from sourcegrid.web.auth import Credentials
    from sourcegrid.web.store import WebStore
    from sourcegrid.workflow.alerts import dispatch_alerts, register_alerts
    from sourcegrid.workflow.intake import manual_alert

    workspace = build_sample_workspace(folder)
    cells = workspace.read("cells")
    scope = cells.loc[cells["township_code"] == "130902001", "cell_id"].tolist()
    frames = [manual_alert(scope[i % len(scope)], f"benchmark alert {i}",
                           start=pd.Timestamp("2021-01-01T00:00Z") + pd.Timedelta(minutes=i),
                           grade="orange") for i in range(alerts)]
    result = register_alerts(workspace, pd.concat(frames, ignore_index=True), actor="system")
    dispatch_alerts(workspace, alert_ids=result.new)
    credentials = Credentials(WebStore(workspace))
    tokens = {actor: credentials.create_token(actor, "benchmark") for actor in ACTORS}
    times = [str(t) for t in workspace.read("cell_hours")["time"].drop_duplicates()]
    workspace.close()
    return {"tokens": tokens, "alerts": result.new, "cells": scope, "times": times}


def start_server(folder: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(folder), str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2).status_code:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def drive(base: str, data: dict, clients: int, seconds: float, seed: int) -> dict:
    """Run the mix with ``clients`` concurrent clients for ``seconds``."""
    latencies: dict[str, list[float]] = defaultdict(list)
    counts = defaultdict(int)
    acknowledged: set[str] = set()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)

    async def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        actor = ACTORS[number % len(ACTORS)]
        headers = {"Authorization": f"Bearer {data['tokens'][actor]}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                     limits=limits) as session:
            while time.monotonic() < deadline:
                pick = rng.random()
                started = time.perf_counter()
                try:
                    if pick < 0.45:
                        kind = "map"
                        response = await session.get("/api/map",
                                                     params={"time": rng.choice(data["times"])})
                    elif pick < 0.70:
                        kind = "dossier"
                        response = await session.get(
                            f"/api/cells/{rng.choice(data['cells'])}/dossier")
                    else:
                        kind = "action"
                        action = "acknowledge" if rng.random() < 0.3 else "comment"
                        response = await session.post(
                            f"/api/alerts/{rng.choice(data['alerts'])}/actions",
                            json={"action": action, "note": f"bench {number}"})
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies[kind].append(time.perf_counter() - started)
                counts["requests"] += 1
                if response.status_code >= 500:
                    counts["errors"] += 1
                elif response.status_code == 409:
                    counts["refused_409"] += 1
                elif response.status_code >= 400:
                    counts["errors"] += 1
                elif kind == "action":
                    acknowledged.add(response.json()["event_id"])

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    return {"latencies": latencies, "counts": dict(counts), "acknowledged": acknowledged,
            "elapsed": elapsed}


def report(name: str, result: dict) -> float:
    counts = result["counts"]
    rate = counts.get("requests", 0) / result["elapsed"]
    every = [v for values in result["latencies"].values() for v in values]
    print(f"{name}: {counts.get('requests', 0)} requests in {result['elapsed']:.1f} s = "
          f"{rate:.1f} requests/s; p50 {np.percentile(every, 50) * 1000:.0f} ms, "
          f"p95 {np.percentile(every, 95) * 1000:.0f} ms; errors {counts.get('errors', 0)}; "
          f"409 refusals {counts.get('refused_409', 0)}; acknowledged writes "
          f"{len(result['acknowledged'])}")
    for kind, values in sorted(result["latencies"].items()):
        print(f"    {kind:8s} n={len(values):6d}  p50 {np.percentile(values, 50) * 1000:7.1f} ms"
              f"  p95 {np.percentile(values, 95) * 1000:7.1f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of the concurrent phase [s]")
    parser.add_argument("--baseline-seconds", type=float, default=10.0,
                        help="length of the one-client phase [s]")
    parser.add_argument("--alerts", type=int, default=40, help="open alerts to act on")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.alerts < 1:
        parser.error("--clients, --seconds and --alerts must be positive")

    with tempfile.TemporaryDirectory(prefix="sourcegrid-web-bench-") as temp:
        folder = Path(temp) / "ws"
        data = prepare(folder, args.alerts)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(folder, port)
        try:
            baseline = asyncio.run(drive(base, data, 1, args.baseline_seconds, args.seed))
            loaded = asyncio.run(drive(base, data, args.clients, args.seconds, args.seed + 1))
            memory = peak_memory_mib(server.pid)
        finally:
            server.send_signal(signal.SIGINT)  # a clean stop (lifespan checkpoint)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        print(f"web benchmark: {len(data['cells'])} cells in scope, {len(data['alerts'])} "
              f"alerts, {len(data['times'])} hours; server pid {server.pid} on 127.0.0.1; "
              f"{os.cpu_count()} CPUs")
        one = report("baseline, 1 client", baseline)
        many = report(f"{args.clients} concurrent clients", loaded)
        print(f"server peak memory (VmHWM): {memory:.0f} MiB")
        print(f"throughput ratio {args.clients} clients / 1 client: {many / one:.2f}x")

        # after the stop: the log holds exactly the acknowledged writes of the clients
        from sourcegrid.store import Workspace

        workspace = Workspace(folder, read_only=True)
        events = workspace.con.con.execute(
            "SELECT event_id FROM alert_events WHERE note LIKE 'bench %' "
            "OR (action = 'acknowledge' AND actor = ANY(?))", [ACTORS]).fetchall()
        workspace.close()
        logged = {row[0] for row in events}
        wanted = baseline["acknowledged"] | loaded["acknowledged"]
        missing, extra = wanted - logged, logged - wanted
        exact = not missing and not extra
        print(f"event log after restart holds exactly the acknowledged writes: {exact} "
              f"({len(wanted)} acknowledged, {len(logged)} logged, {len(missing)} missing, "
              f"{len(extra)} unexpected)")
        errors = baseline["counts"].get("errors", 0) + loaded["counts"].get("errors", 0)
        if not exact or errors:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
