"""trace_cell on a synthetic workspace made with sourcegrid's own plume.

These check recovery and invariants (a known scale factor comes back, shares add up,
confounded sources are grouped, an unseen source is found upwind); the skill against a
different transport is scored by benchmarks/tracing.py on the sample city.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError, WorkspaceError
from sourcegrid.grid.spec import GridSpec
from sourcegrid.tracing.attribution import (
    RESULT_COLUMNS,
    STORED_COLUMNS,
    TRACE_RESULTS_TABLE,
    TraceError,
    bearing_deg,
    fit_contributions,
    prepare_candidates,
    shared_ranks,
    trace_cell,
)
from sourcegrid.tracing.findings import read_findings, record_finding

from .synthetic import BBOX, make_workspace, point_source, random_sources

SPEC = GridSpec.from_bbox(BBOX, 3000)
CELLS = SPEC.cells()
TARGET = CELLS.loc[(CELLS.row == 6) & (CELLS.col == 6)].iloc[0]


def _under_reported_world():
    """20 random sources and MAIN, 1.5 km east and 2.5 km north of the target, emitting
    4 times its reported 2 g/s; 10 days. Returns (workspace, times)."""
    rng = np.random.default_rng(5)
    sources = pd.concat([random_sources(SPEC, 20, rng),
                         point_source(SPEC, "MAIN", TARGET.x + 1500, TARGET.y + 2500, 2.0)],
                        ignore_index=True)
    ws, _, _, times = make_workspace(sources=sources, truth_scale={"MAIN": 4.0},
                                     hours=24 * 10)
    return ws, times


@pytest.fixture(scope="module")
def under_reported():
    ws, times = _under_reported_world()
    result = trace_cell(ws, TARGET.cell_id, times[0], times[-1] + pd.Timedelta(hours=1))
    return ws, times, result


def test_main_source_ranked_first_with_its_scale_factor(under_reported):
    ws, times, result = under_reported
    table = result.table
    assert list(table.columns) == RESULT_COLUMNS
    first = table.iloc[0]
    assert first["source_id"] == "MAIN" and first["rank"] == 1
    assert first["kind"] == "registered"
    # the truth emits 4x the reported rate (5 % noise, other sources at 1x)
    assert first["scale_factor"] == pytest.approx(4.0, rel=0.25)
    assert "under-reporting or treatment not running" in first["evidence"]
    assert first["share"] > 0.5
    # geometry: MAIN is 1.5 km east, 2.5 km north of the centre
    assert first["distance_m"] == pytest.approx(np.hypot(1500, 2500), abs=1.0)
    assert first["bearing_deg"] == pytest.approx(np.rad2deg(np.arctan2(1500, 2500)), abs=0.01)


def test_invariants(under_reported):
    _, _, result = under_reported
    table = result.table
    # ranks 1, 2, ... in order; a confounded group's members share one rank
    ranks = table["rank"].to_numpy()
    assert ranks[0] == 1 and set(np.diff(ranks)) <= {0, 1}
    tied = np.flatnonzero(np.diff(ranks) == 0)
    groups = table["group"].to_numpy()
    assert all(groups[i] != "" and groups[i] == groups[i + 1] for i in tied)
    assert (table["share"].fillna(0) >= 0).all() and (table["scale_factor"].dropna() >= 0).all()
    assert table["share"].sum() <= 1.05
    # candidates lie within 10 km of one of the fitted cells (the 3 x 3 block by default):
    # at most 10 km + the diagonal 3 km * sqrt(2) from the traced cell (triangle inequality)
    assert len(result.cells) == 9
    assert (table["distance_m"] <= 10_000 + 3000 * np.sqrt(2) + 1e-6).all()
    assert table["upwind_hours_share"].between(0, 1).all()
    # fitted = scale x predicted, for registered rows
    registered = table[table.kind == "registered"]
    assert np.allclose(registered["fitted"], registered["scale_factor"] * registered["predicted"])
    assert result.summary["r2"] > 0.8
    assert result.predicted.shape == (len(result.hours), (table.kind == "registered").sum())


def test_results_stored_and_replaced(under_reported):
    ws, times, result = under_reported
    stored = ws.read(TRACE_RESULTS_TABLE)
    assert list(stored.columns) == STORED_COLUMNS
    assert (stored["run_id"] == result.run_id).sum() == len(result.table)
    again = trace_cell(ws, TARGET.cell_id, times[0], times[-1] + pd.Timedelta(hours=1))
    stored = ws.read(TRACE_RESULTS_TABLE)
    assert (stored["run_id"] == again.run_id).sum() == len(again.table)  # not doubled


def test_confounded_sources_form_a_group():
    # two sources on the same bearing 3.0 and 3.6 km north of the cell: not separable
    a = point_source(SPEC, "NEAR", TARGET.x, TARGET.y + 3000, 1.0)
    b = point_source(SPEC, "FAR", TARGET.x + 60, TARGET.y + 3600, 1.0)
    c = point_source(SPEC, "EAST", TARGET.x + 4000, TARGET.y, 1.0)
    ws, _, _, times = make_workspace(sources=pd.concat([a, b, c], ignore_index=True),
                                     hours=24 * 7)
    # one cell alone (neighbours=0): from the cell north of it, NEAR (at its centre) and
    # FAR (600 m beyond) are far apart in bearing, so the joint 3 x 3 fit separates them
    table = trace_cell(ws, TARGET.cell_id, times[0], times[-1] + pd.Timedelta(hours=1),
                       max_unregistered=0, neighbours=0).table.set_index("source_id")
    assert table.loc["NEAR", "group"] != "" and table.loc["NEAR", "group"] == table.loc["FAR", "group"]
    assert table.loc["NEAR", "group_size"] == 2
    assert table.loc["NEAR", "scale_factor"] == pytest.approx(table.loc["FAR", "scale_factor"])
    assert "not separable by wind" in table.loc["NEAR", "evidence"]
    assert table.loc["EAST", "group"] == ""
    ranks = table.sort_values("rank")
    grouped = list(ranks.index[ranks.group != ""])
    positions = [list(ranks.index).index(s) for s in grouped]
    assert max(positions) - min(positions) == len(grouped) - 1  # listed together


def test_unregistered_source_found_upwind():
    rng = np.random.default_rng(11)
    sources = random_sources(SPEC, 12, rng)
    hidden = point_source(SPEC, "HIDDEN", TARGET.x - 3000, TARGET.y, 3.0, height=5.0)
    ws, _, _, times = make_workspace(sources=sources, hidden=hidden, hours=24 * 10)
    result = trace_cell(ws, TARGET.cell_id, times[0], times[-1] + pd.Timedelta(hours=1))
    table = result.table
    first = table.iloc[0]
    assert first["kind"] == "unregistered"
    assert first["source_id"].startswith("unregistered-")
    assert "cells of the sector to walk" in first["evidence"]
    # the hidden source is due west (270 deg): the estimate is in that direction
    assert abs((first["bearing_deg"] - 270 + 180) % 360 - 180) <= 30
    assert result.unregistered_cells


def test_a_confounded_group_shares_one_rank():
    # worked by hand: rows 2-3 are group G1, rows 5-6 group G2
    table = pd.DataFrame({"group": ["", "G1", "G1", "", "G2", "G2", ""]})
    assert list(shared_ranks(table)) == [1, 2, 2, 3, 4, 4, 5]
    assert list(shared_ranks(pd.DataFrame({"group": ["", "", ""]}))) == [1, 2, 3]


def test_a_source_found_by_inspection_is_a_candidate_of_the_next_trace():
    rng = np.random.default_rng(11)
    sources = random_sources(SPEC, 12, rng)
    hidden = point_source(SPEC, "HIDDEN", TARGET.x - 3000, TARGET.y, 3.0, height=5.0)
    ws, _, _, times = make_workspace(sources=sources, hidden=hidden, hours=24 * 10)
    window = (times[0], times[-1] + pd.Timedelta(hours=1))
    finding = record_finding(ws, cell_id=TARGET.cell_id, confirmed=True,
                             lon=float(hidden["lon"].iloc[0]), lat=float(hidden["lat"].iloc[0]),
                             problem="unregistered boiler", inspector="test")
    table = trace_cell(ws, TARGET.cell_id, *window, store=False).table
    first = table.iloc[0]
    assert first["source_id"] == f"found-{finding}" and first["kind"] == "unregistered"
    assert "found by inspection" in first["evidence"] and "unregistered boiler" in first["name"]
    assert first["distance_m"] == pytest.approx(3000, abs=1.0)
    # HIDDEN emits 3 g/s from 5 m; the found source is fitted from 10 m, beside the
    # cell's offset and gain terms: within a factor 3
    assert 1.0 <= first["emission_rate"] <= 9.0 and np.isnan(first["scale_factor"])
    # the residual is explained: no virtual source is placed where the found one is
    virtual = table[table["source_id"].str.startswith("unregistered-")]
    assert (virtual["share"] < 0.15).all()
    # without learning the trace does not know of it
    plain = trace_cell(ws, TARGET.cell_id, *window, store=False, learn=False).table
    assert not plain["source_id"].str.startswith("found-").any()


def test_a_source_confirmed_by_inspection_is_freed_from_the_prior():
    ws, times = _under_reported_world()  # its own: the findings stay in it
    window = (times[0], times[-1] + pd.Timedelta(hours=1))
    before = trace_cell(ws, TARGET.cell_id, *window, store=False).table.set_index("source_id")
    record_finding(ws, cell_id=TARGET.cell_id, confirmed=True, source_id="MAIN",
                   problem="treatment not running", inspector="test")
    after = trace_cell(ws, TARGET.cell_id, *window, store=False).table.set_index("source_id")
    assert "confirmed by inspection" in after.loc["MAIN", "evidence"]
    assert "confirmed by inspection" not in before.loc["MAIN", "evidence"]
    # the prior pulls towards 1 (the reported rate): without it the scale factor is at
    # least as large and nearer the truth, 4
    assert after.loc["MAIN", "scale_factor"] >= before.loc["MAIN", "scale_factor"] - 1e-9
    assert after.loc["MAIN", "scale_factor"] == pytest.approx(4.0, rel=0.15)


def test_a_source_found_compliant_is_held_near_its_reported_emission():
    rng = np.random.default_rng(2)
    predicted = rng.gamma(1.0, 1.0, (2, 400)) * (rng.random((2, 400)) < 0.4)
    excess = np.array([5.0, 1.0]) @ predicted + rng.normal(0, 0.3, 400)
    free, _, _ = fit_contributions(excess, predicted, np.arange(2), prior_sd=2.0)
    held, _, _ = fit_contributions(excess, predicted, np.arange(2), prior_sd=2.0, held=[0])
    # the prior sd of column 0 falls from 2 to HELD_PRIOR_SD = 0.5: its β moves towards 1
    assert 1.0 < held[0] < free[0]
    assert abs(held[1] - free[1]) < abs(held[0] - free[0])


def test_the_memory_of_inspections():
    from sourcegrid.store import Workspace
    from sourcegrid.tracing.learning import inspection_memory

    ws = Workspace.in_memory()
    assert [len(part) for part in inspection_memory(read_findings(ws))] == [0, 0, 0]
    for source, confirmed in (("S01", False), ("S02", False), ("S02", True), ("S03", True)):
        record_finding(ws, cell_id="R0001C0001", source_id=source, confirmed=confirmed,
                       inspector="test", time="2024-03-01 10:00")
    # two inspections of one yard 100 m apart are one found source; one far away another
    record_finding(ws, cell_id="R0001C0001", lon=116.70, lat=38.30, confirmed=True,
                   time="2024-03-01 10:00")
    record_finding(ws, cell_id="R0001C0001", lon=116.7012, lat=38.30, confirmed=True,
                   time="2024-03-02 10:00")
    record_finding(ws, cell_id="R0001C0001", lon=116.80, lat=38.30, confirmed=True,
                   time="2024-03-01 10:00")
    record_finding(ws, cell_id="R0001C0001", lon=116.90, lat=38.30, confirmed=False,
                   time="2024-03-01 10:00")
    found, confirmed, cleared = inspection_memory(read_findings(ws))
    assert confirmed == {"S02", "S03"} and cleared == {"S01"}  # S02 confirmed later
    assert len(found) == 2 and sorted(found["lon"]) == [116.7012, 116.80]  # the later one
    assert found["source_id"].str.startswith("found-F").all()


def test_fit_recovers_known_scales():
    rng = np.random.default_rng(0)
    predicted = rng.gamma(1.0, 1.0, (4, 300)) * (rng.random((4, 300)) < 0.3)
    truth = np.array([1.0, 3.0, 0.0, 0.5])
    background = 40 + 10 * np.sin(np.arange(300) / 20)
    # excess = sources + an offset of 2 + a sensor gain error of 5 % of the background
    excess = truth @ predicted + 2.0 + 0.05 * (background - background.mean())
    beta, offsets, nuisance = fit_contributions(excess, predicted, np.arange(4),
                                                prior_sd=np.inf,
                                                offsets=np.zeros(300, dtype=int),
                                                covariate=background)
    assert np.allclose(beta, truth, atol=1e-6) and offsets[0] == pytest.approx(2.0)
    assert np.allclose(nuisance, 2.0 + 0.05 * (background - background.mean()))
    # a column that is never predicted carries no information: scale 0, no contribution
    silent = np.vstack([predicted, np.zeros(300)])
    beta, _, _ = fit_contributions(excess, silent, np.arange(5))
    assert beta[-1] == 0.0
    # the prior keeps a weak, noisy column near its reported rate instead of inflating it
    tiny = np.vstack([predicted, 1e-4 * rng.random(300)])
    noisy = excess + rng.normal(0, 1.0, 300)
    free_beta, _, _ = fit_contributions(noisy, tiny, np.arange(5), prior_sd=np.inf)
    prior_beta, _, _ = fit_contributions(noisy, tiny, np.arange(5), prior_sd=3.0)
    assert abs(prior_beta[-1] - 1.0) < abs(free_beta[-1] - 1.0)
    assert free_beta[-1] <= 100.0  # bounded by MAX_SCALE_FACTOR


def test_bad_inputs_are_reported(under_reported):
    ws, times, _ = under_reported
    with pytest.raises(TraceError, match=r"radius_km must be in \(0, 100\] km, got -1"):
        trace_cell(ws, TARGET.cell_id, times[0], times[-1], radius_km=-1)
    with pytest.raises(TraceError, match="outside the grid"):
        trace_cell(ws, "R0099C0001", times[0], times[-1])
    with pytest.raises(InputError, match="bad cell ids"):
        trace_cell(ws, "cell-7", times[0], times[-1])
    with pytest.raises(TraceError, match="the window is empty"):
        trace_cell(ws, TARGET.cell_id, times[-1], times[0])
    with pytest.raises(TraceError, match="has no PM10 values"):
        trace_cell(ws, TARGET.cell_id, times[0], times[-1], pollutant="PM10")
    candidates = pd.DataFrame({"source_id": ["A", "B", "A"], "lon": [116.7, 200, 116.8],
                               "lat": [38.3, 38.3, 38.4], "emission_rate": [1.0, 1.0, -2]})
    kept, rejected = prepare_candidates(candidates)
    assert list(kept["source_id"]) == ["A"]
    assert sorted(rejected["reason"]) == ["bad_coordinate", "bad_emission_rate"]
    assert list(rejected["row"]) == [3, 4]
    with pytest.raises(InputError, match="lack columns"):
        prepare_candidates(candidates.drop(columns="emission_rate"))


def test_workspace_without_inventory():
    from sourcegrid.store import Workspace
    from sourcegrid.tracing.attribution import load_candidates

    ws = Workspace.in_memory()
    try:
        import sourcegrid.inventory  # noqa: F401
    except ImportError:
        with pytest.raises(WorkspaceError, match="tracing needs an inventory"):
            load_candidates(ws, "PM2.5")


def test_bearing():
    assert bearing_deg(0, 0, 0, 10) == pytest.approx(0.0)
    assert bearing_deg(0, 0, 10, 0) == pytest.approx(90.0)
    assert bearing_deg(0, 0, -10, -10) == pytest.approx(225.0)


def test_lines_and_areas_are_spread_over_their_geometry():
    from sourcegrid.tracing.attribution import emitter_points

    line = '{"type": "LineString", "coordinates": [[116.70, 38.30], [116.75, 38.30]]}'
    area = ('{"type": "Polygon", "coordinates": [[[116.80, 38.35], [116.82, 38.35], '
            '[116.82, 38.37], [116.80, 38.37], [116.80, 38.35]]]}')
    candidates = pd.DataFrame({"source_id": ["P", "ROAD", "SITE", "BAD"],
                               "kind": ["point", "line", "area", "line"],
                               "lon": [116.7, np.nan, np.nan, np.nan],
                               "lat": [38.3, np.nan, np.nan, np.nan],
                               "geometry": ["", line, area, "not json"],
                               "emission_rate": [1.0, 2.0, 3.0, 1.0]})
    kept, rejected = prepare_candidates(candidates)
    assert list(kept["source_id"]) == ["P", "ROAD", "SITE"]
    assert "bad_geometry" in set(rejected["reason"])
    assert kept.loc[1, "lon"] == pytest.approx(116.725) and kept.loc[1, "lat"] == pytest.approx(38.30)
    owner, x, y, weight = emitter_points(kept, SPEC)
    assert np.bincount(owner, weights=weight) == pytest.approx([1.0, 1.0, 1.0])
    # the 4.4 km road every 500 m: 9 points; the 1.7 km x 2.2 km site on a 500 m grid
    assert (owner == 1).sum() == 9 and (owner == 2).sum() >= 9
    assert (owner == 0).sum() == 1


def test_trace_figure(under_reported):
    from sourcegrid.tracing import figures

    _, _, result = under_reported
    png = figures.to_png_bytes(figures.trace_figure(result))
    assert png[:4] == b"\x89PNG"
