"""Benchmark: how well tracing finds the true main source of hotspot cells (sample city).

For each seed: generate the sample city (``sourcegrid.sample.city.generate_city``), run
the chain account → inventory → ingest → QC → calibrate → fuse → hotspots
(``sourcegrid.pipeline.run_city_pipeline`` without its trace step), pick the hotspot
cells (ranking rule, top ``--hotspots``), trace each with
``sourcegrid.tracing.attribution.trace_cell`` and score it against the truth, which only
this script reads (``city.truth`` via ``sourcegrid.sample.city.main_sources``; the tracer
never sees it):

- hotspot cells whose true excess is below 1 µg/m³ (made by a biased sensor, not by
  a source) are counted and left out of the scores;
- top-1 / top-3: the true main source of the cell (largest true contribution to its
  excess) is the first row / among the first three rows. When the main source is
  unregistered, a row of kind 'unregistered' within 3 km of it counts as a hit;
- unregistered: among hotspots whose main source is unregistered, the share with an
  unregistered row in the top 3 within 3 km of it;
- the same for three baselines, in the same run, on the same candidates (registered
  sources within the radius): nearest source; largest emission; emission / distance
  weighted by the share of hours the cell is downwind of the source (±15°);
- learning: hotspots are split into training (even positions across seeds) and
  evaluation (odd) halves; inspectors' findings are simulated on the training traces
  (the first 5 rows of each are inspected, confirmed when it is the true main source,
  or an unregistered row within 3 km of it; when none is, walking the cell they find the
  real cause and record it); the logistic model fitted on them re-ranks
  the evaluation traces; top-3 before and after on the evaluation half.

The truth generator uses another transport on purpose (its own sigmas, stability
and mixing height, wind perturbations, hourly emission profiles and days off), so the
scores measure skill, not self-consistency.

    .venv/bin/python benchmarks/tracing.py                  # 3 seeds, a few minutes
    .venv/bin/python benchmarks/tracing.py --seeds 7 8 9 10 11 --hotspots 15
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

INSPECTED = 5
MATCH_M = 3000.0
#: Hotspot cells whose true excess over the background is below this [µg/m³] are made
#: by instrument error alone (no source to find); they are counted, not scored.
MIN_TRUE_EXCESS = 1.0


def build_workspace(city, folder: Path):
    """The city's workspace up to hotspots (the pipeline when there, else the layers)."""
    from sourcegrid.store import Workspace

    ws = Workspace(folder, create=True)
    from sourcegrid.pipeline import run_city_pipeline

    run_city_pipeline(ws, city, skip=("trace", "aqi", "good_days", "workflow"))
    return ws


def distance_m(lon1, lat1, lon2, lat2):
    from pyproj import Geod

    _, _, distance = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return np.asarray(distance)


def truth_location(city, source_id):
    sources = city.truth.sources.set_index("source_id")
    row = sources.loc[source_id]
    return float(row["lon"]), float(row["lat"])


def hit(table: pd.DataFrame, truth: pd.Series, city, k: int) -> bool:
    """The main source is in the first k rows (unregistered: a row within 3 km)."""
    head = table.head(k)
    if truth["kind"] != "unregistered":
        return truth["source_id"] in set(head["source_id"])
    rows = head[head["kind"] == "unregistered"]
    if rows.empty:
        return False
    lon, lat = truth_location(city, truth["source_id"])
    return bool((distance_m(rows["lon"].to_numpy(float), rows["lat"].to_numpy(float),
                            np.full(len(rows), lon), np.full(len(rows), lat)) <= MATCH_M).any())


def baselines(result) -> dict[str, pd.DataFrame]:
    """The three baseline rankings on the tracer's registered candidates."""
    table = result.table[result.table["kind"] == "registered"].copy()
    direction = result.wind["wind_dir"].to_numpy(float)
    used = result.wind["used"].to_numpy(bool)
    offset = np.abs((direction[None, :] - table["bearing_deg"].to_numpy()[:, None] + 180) % 360
                    - 180)
    upwind = ((offset <= 15) & used[None, :]).sum(axis=1) / max(used.sum(), 1)
    rate = table["emission_rate"].to_numpy(float)
    distance = np.maximum(table["distance_m"].to_numpy(float), 100.0)
    return {
        "nearest source": table.sort_values("distance_m", kind="mergesort"),
        "largest emission": table.assign(_k=-rate).sort_values("_k", kind="mergesort"),
        "emission/distance × upwind": table.assign(_k=-(rate / distance) * upwind).sort_values(
            "_k", kind="mergesort"),
    }


def simulated_findings(result, truth: pd.Series, city) -> pd.DataFrame:
    """Inspectors visit the first rows of a trace and say which one was the cause."""
    rows = []
    for row in result.table.head(INSPECTED).itertuples():
        if row.kind == "registered":
            confirmed = row.source_id == truth["source_id"]
            rows.append({"cell_id": result.cell_id, "source_id": row.source_id, "lon": np.nan,
                         "lat": np.nan, "confirmed": confirmed})
        else:
            confirmed = False
            if truth["kind"] == "unregistered":
                lon, lat = truth_location(city, truth["source_id"])
                confirmed = bool(distance_m(row.lon, row.lat, lon, lat) <= MATCH_M)
            rows.append({"cell_id": result.cell_id, "source_id": "", "lon": row.lon,
                         "lat": row.lat, "confirmed": confirmed})
    if not any(r["confirmed"] for r in rows):
        # nothing confirmed among the first rows: walking the cell, the inspectors find
        # the real cause (a registered source, or a new one at its location)
        if truth["kind"] == "unregistered":
            lon, lat = truth_location(city, truth["source_id"])
            rows.append({"cell_id": result.cell_id, "source_id": "", "lon": lon, "lat": lat,
                         "confirmed": True})
        else:
            rows.append({"cell_id": result.cell_id, "source_id": truth["source_id"],
                         "lon": np.nan, "lat": np.nan, "confirmed": True})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--hotspots", type=int, default=10, help="hotspot cells per seed")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--radius-km", type=float, default=10.0)
    parser.add_argument("--neighbours", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the cities and workspaces here (and reuse them next time)")
    args = parser.parse_args()

    from sourcegrid.grid.hotspots import rank_cells
    from sourcegrid.sample.city import generate_city, main_sources
    from sourcegrid.tracing.attribution import trace_cell
    from sourcegrid.tracing.learning import RankingModel

    records = []
    traces = []
    artefacts = []
    trace_seconds = []
    for seed in args.seeds:
        started = time.perf_counter()
        folder = (args.keep / f"seed{seed}" if args.keep else
                  Path(tempfile.mkdtemp(prefix=f"tracing-bench-{seed}-")))
        saved = folder / "city.pickle"
        if args.keep and saved.exists():  # a kept run: reuse the city and its workspace
            import pickle

            from sourcegrid.store import Workspace

            city = pickle.loads(saved.read_bytes())
            ws = Workspace(folder)
        else:
            city = generate_city(seed, days=args.days)
            ws = build_workspace(city, folder)
            if args.keep:
                import pickle

                saved.write_bytes(pickle.dumps(city))
        built = time.perf_counter() - started
        hot = rank_cells(ws.table("cell_hours"), city.start, city.end, top=args.hotspots)
        truth = main_sources(city.truth, hot["cell_id"], city.start, city.end).set_index("cell_id")
        for position, cell_id in enumerate(hot["cell_id"]):
            if cell_id not in truth.index:
                continue
            clock = time.perf_counter()
            result = trace_cell(ws, cell_id, city.start, city.end, radius_km=args.radius_km,
                                neighbours=args.neighbours, store=False, learn=False)
            trace_seconds.append(time.perf_counter() - clock)
            main = truth.loc[cell_id]
            if main["excess"] < MIN_TRUE_EXCESS:  # a sensor artefact: no source to find
                artefacts.append((seed, cell_id, main["excess"]))
                continue
            record = {"seed": seed, "cell_id": cell_id, "main": main["source_id"],
                      "main_kind": main["kind"], "main_share": main["share"],
                      "split": "train" if position % 2 == 0 else "eval",
                      "true_excess": main["excess"],
                      "observed_excess": result.summary.get("mean_excess", np.nan),
                      "tracer_top1": hit(result.table, main, city, 1),
                      "tracer_top3": hit(result.table, main, city, 3),
                      "first": result.table["source_id"].iloc[0] if len(result.table) else ""}
            for name, ranking in baselines(result).items():
                record[f"{name}_top1"] = hit(ranking, main, city, 1)
                record[f"{name}_top3"] = hit(ranking, main, city, 3)
            records.append(record)
            traces.append((record, result, main, city))
        print(f"seed {seed}: city, pipeline and hotspots in {built:.0f} s; "
              f"{sum(r['seed'] == seed for r in records)} hotspot(s) traced")

    scores = pd.DataFrame(records)
    if artefacts:
        print(f"{len(artefacts)} hotspot cell(s) not scored: true excess below "
              f"{MIN_TRUE_EXCESS:g} µg/m³ (made by sensor error): " + ", ".join(
                  f"seed {s} {c} ({e:.2f})" for s, c, e in artefacts))
    unregistered = scores["main_kind"] == "unregistered"
    print(f"\n{len(scores)} hotspot cells over seeds {args.seeds} "
          f"({int(unregistered.sum())} with an unregistered main source); "
          f"trace {np.mean(trace_seconds):.2f} s on average")
    print(f"hotspot cells: true source excess median {scores['true_excess'].median():.1f} "
          f"µg/m³ (cell mean over the window), observed excess over the background median "
          f"{scores['observed_excess'].median():.1f} µg/m³ (the rest is instrument error and "
          "the monitors' nearness to the sources)")
    names = ["tracer", "nearest source", "largest emission", "emission/distance × upwind"]
    rows = []
    for name in names:
        rows.append({"method": name, "top-1": scores[f"{name}_top1"].mean(),
                     "top-3": scores[f"{name}_top3"].mean(),
                     "unregistered": (scores.loc[unregistered, f"{name}_top3"].mean()
                                      if unregistered.any() else float("nan"))})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))

    # learning from simulated inspections: train and evaluation hotspots kept apart
    train = [t for t in traces if t[0]["split"] == "train"]
    evaluation = [t for t in traces if t[0]["split"] == "eval"]
    results = pd.concat([r.stored() for _, r, _, _ in train], ignore_index=True)
    findings = pd.concat([simulated_findings(r, m, c) for _, r, m, c in train],
                         ignore_index=True)
    model = RankingModel.fit(results, findings)
    before = np.mean([hit(r.table, m, c, 3) for _, r, m, c in evaluation])
    after = np.mean([hit(model.rerank(r.table), m, c, 3) for _, r, m, c in evaluation])
    print(f"\nlearning: {len(findings)} simulated findings on {len(train)} training hotspots "
          f"({model.reason}); evaluation on {len(evaluation)} other hotspots: top-3 "
          f"{before:.2f} before, {after:.2f} after feedback")
    if not model.fallback:
        print("coefficients: " + ", ".join(f"{k} {v:+.2f}" for k, v in model.coefficients.items()))
    misses = scores.loc[~scores["tracer_top3"], ["seed", "cell_id", "main", "main_kind",
                                                 "main_share", "first"]]
    if len(misses):
        print("\nmissed (main source not in the top 3):")
        print(misses.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS): {usage:.0f} MiB")
    tracer = table.iloc[0]
    print(f"top-1: {tracer['top-1']:.2f}")
    print(f"unregistered: {tracer['unregistered']:.2f}")
    print(f"top-3: {tracer['top-3']:.2f}")


if __name__ == "__main__":
    main()
