"""Inspection findings and the re-ranking model; figures render without a display."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.store import Workspace
from sourcegrid.tracing import figures, wind
from sourcegrid.tracing.findings import (
    FINDING_COLUMNS,
    import_findings,
    read_findings,
    record_finding,
)
from sourcegrid.tracing.learning import (
    FEATURES,
    MODEL_FEATURES,
    RankingModel,
    features,
    training_rows,
)


def test_record_and_read():
    ws = Workspace.in_memory()
    assert read_findings(ws).empty and list(read_findings(ws).columns) == FINDING_COLUMNS
    first = record_finding(ws, cell_id="R0001C0002", source_id="E1", confirmed=True,
                           problem="treatment not running", inspector="Wang",
                           time="2017-01-10 09:00")
    again = record_finding(ws, cell_id="R0001C0002", source_id="E1", confirmed=True,
                           problem="treatment not running", inspector="Wang",
                           time="2017-01-10 09:00")
    assert first == again and first.startswith("F")  # same content, stored once
    record_finding(ws, cell_id="R0001C0002", lon=116.8, lat=38.3, confirmed=False)
    frame = read_findings(ws)
    assert len(frame) == 2
    assert frame["time"].iloc[0] == pd.Timestamp("2017-01-10 01:00", tz="UTC")  # Beijing time
    assert frame["confirmed"].tolist() == [True, False]
    assert len(read_findings(ws, "R0001C0002")) == 2 and read_findings(ws, "R0009C0009").empty


def test_bad_findings_all_reported():
    ws = Workspace.in_memory()
    with pytest.raises(InputError) as caught:
        import_findings(ws, pd.DataFrame({"cell_id": ["X1", "R0001C0001"],
                                          "confirmed": ["perhaps", "yes"],
                                          "lon": [None, 999], "lat": [None, 38.0],
                                          "time": ["2017-01-01", "not a time"]}))
    reasons = sorted(caught.value.frame["reason"])
    assert reasons == ["bad_boolean", "bad_cell_id", "bad_coordinate", "bad_time",
                       "missing_location"]
    assert not ws.has("inspection_findings")  # nothing stored
    with pytest.raises(InputError, match="missing columns"):
        import_findings(ws, pd.DataFrame({"cell_id": ["R0001C0001"]}))


def _results(rng, cells=40):
    rows = []
    for c in range(cells):
        for rank in range(1, 7):
            # the true cause is the row with the best upwind share, not always rank 1
            rows.append({"run_id": f"r{c}", "cell_id": f"R{c:04d}C0001", "source_id": f"S{c}-{rank}",
                         "kind": "registered", "lon": 116.8, "lat": 38.3, "rank": rank,
                         "physical_rank": rank, "share": 0.5 / rank, "scale_factor": 1.0,
                         "predicted": 1.0 / rank, "fitted": 0.5 / rank,
                         "distance_m": 1000.0 * rank, "upwind_hours_share": rng.uniform(0, 0.2),
                         "correlation": 0.5, "cpf_at_bearing": 0.3, "group_size": 1})
    frame = pd.DataFrame(rows)
    cause = frame.loc[frame.groupby("cell_id")["upwind_hours_share"].idxmax(), "source_id"]
    frame.loc[frame["source_id"].isin(set(cause)), "upwind_hours_share"] += 0.3
    return frame, set(cause)


def test_model_learns_and_falls_back():
    rng = np.random.default_rng(4)
    results, causes = _results(rng)
    train = results[results["cell_id"] < "R0030"]
    test = results[results["cell_id"] >= "R0030"]
    findings = pd.DataFrame({"cell_id": train.loc[train.source_id.isin(causes), "cell_id"],
                             "source_id": train.loc[train.source_id.isin(causes), "source_id"],
                             "lon": np.nan, "lat": np.nan, "confirmed": True})
    labelled = training_rows(train, findings)
    # one positive per cell and the other five rows as implicit negatives
    assert labelled["label"].sum() == 30 and len(labelled) == 180
    model = RankingModel.fit(train, findings)
    assert not model.fallback and set(model.coefficients) == set(MODEL_FEATURES)
    assert model.coefficients["upwind_hours_share"] > 0
    hits_before = hits_after = 0
    for _, table in test.groupby("cell_id"):
        hits_before += table.sort_values("physical_rank")["source_id"].iloc[0] in causes
        hits_after += model.rerank(table)["source_id"].iloc[0] in causes
    assert hits_after > hits_before
    few = RankingModel.fit(train, findings.head(2))
    assert few.fallback and "physical ranking kept" in few.reason
    table = test[test.cell_id == test.cell_id.iloc[0]]
    assert few.rerank(table)["source_id"].tolist() == table["source_id"].tolist()
    assert features(table).shape == (len(table), len(FEATURES))


def test_figures_render(tmp_path):
    rng = np.random.default_rng(0)
    speed, direction = rng.gamma(2, 1.5, 500), rng.uniform(0, 360, 500)
    concentration = 30 + 40 * (np.abs(direction - 45) < 20) + rng.normal(0, 3, 500)
    png = figures.to_png_bytes(figures.wind_rose_figure(wind.wind_rose(speed, direction)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    path = figures.save_png(figures.cpf_figure(wind.cpf(concentration, direction)),
                            tmp_path / "cpf.png")
    assert path.exists() and path.stat().st_size > 1000
    assert figures.to_png_bytes(figures.polar_figure(
        wind.polar_table(concentration, speed, direction)))[:4] == b"\x89PNG"
