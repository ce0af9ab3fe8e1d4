"""run_city_pipeline on a small city: every step, and the invariants between the steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.pipeline import PIPELINE_STEPS, run_city_pipeline
from sourcegrid.store import Workspace


def test_every_step_runs_in_order_with_progress(run):
    steps = run.result.steps
    assert steps["name"].tolist() == [name for name, _ in PIPELINE_STEPS]
    for row in steps.itertuples():
        assert row.status == "done", f"step {row.name} did not run: {row.detail}"
    assert run.result.missing == []
    # the callback hears each step start and end, in order
    started = [r.name for r in run.reports if r.status == "running"]
    ended = [r.name for r in run.reports if r.status != "running"]
    assert started == ended == steps["name"].tolist()
    assert [r.index for r in run.reports if r.status != "running"] == list(
        range(1, len(PIPELINE_STEPS) + 1))
    stored = run.workspace.read("pipeline_steps")
    assert stored["status"].tolist() == steps["status"].tolist()


def test_core_steps_are_never_skipped(run):
    steps = run.result.steps.set_index("name")
    for name in ("library", "accounting", "grid", "ingest", "qc", "calibrate", "fuse",
                 "hotspots", "classify", "aqi", "good_days"):
        assert steps.loc[name, "status"] == "done", steps.loc[name, "detail"]


def test_accounting_totals_are_the_stored_run(run):
    emissions = run.workspace.read("emissions")
    emissions = emissions[emissions["run"] == "demo"]
    assert np.allclose(emissions["generation"] - emissions["removal"], emissions["emission"])
    by_pollutant = emissions.groupby("pollutant")["emission"].sum() / 1000.0  # kg → t
    totals = run.result.emission_totals.groupby("pollutant")["emission"].sum()
    pd.testing.assert_series_equal(totals.sort_index(), by_pollutant.sort_index(),
                                   check_names=False, rtol=1e-9)


def test_inventory_totals_equal_accounting_totals(run):
    workspace = run.workspace
    emissions = workspace.read("emissions")
    emissions = emissions[(emissions["run"] == "demo")
                          & emissions["pollutant_category"].isin(["air", "废气"])]
    inventory = workspace.read("inventory")
    accounted = inventory[inventory["origin"] == "demo"]
    expected = emissions.groupby("pollutant")["emission"].sum()
    # rows given directly (PM2.5/PM10 derived from PM carry their size fraction)
    direct = accounted[accounted["size_fraction"].fillna("") == ""]
    got = direct.groupby("pollutant")["emission"].sum()
    # the full sets: a pollutant dropped (or invented) on the way fails here
    assert sorted(got.index) == sorted(expected.index)
    assert np.allclose(got[expected.index], expected, rtol=1e-9)
    derived = accounted[accounted["size_fraction"].fillna("") != ""]
    assert set(derived["pollutant"]) <= {"PM2.5", "PM10"}
    # the cells hold the whole inventory, pollutant by pollutant
    cells = workspace.read("cell_inventory").groupby("pollutant")["emission"].sum()
    whole = inventory.groupby("pollutant")["emission"].sum()
    assert np.allclose(cells.reindex(whole.index).fillna(0), whole, rtol=1e-9)


def test_cell_hours_cover_every_hour_of_the_period(run):
    hours = run.workspace.read("cell_hours")
    pm25 = hours[hours["pollutant"] == "PM2.5"]
    times = pd.to_datetime(pm25["time"], utc=True)
    expected_hours = int((run.result.end - run.result.start) / pd.Timedelta(hours=1))
    assert times.nunique() == expected_hours
    assert times.min() == run.result.start
    assert len(hours) == run.result.cell_hours
    assert set(run.result.hotspots["cell_id"]) <= set(pm25["cell_id"])


def test_hotspots_are_the_highest_means_of_the_graded_cells(run):
    # the period mean of every cell worked out here from the stored cell-hours (not by
    # rank_cells), ties broken by cell_id as the ranking rule says
    hours = run.workspace.read("cell_hours")
    hours = hours[(hours["pollutant"] == "PM2.5") & hours["value"].notna()]
    times = pd.to_datetime(hours["time"], utc=True)
    hours = hours[(times >= run.result.start) & (times < run.result.end)]
    means = hours.groupby("cell_id")["value"].mean().rename("mean").reset_index()
    means = means.assign(negative=-means["mean"]).sort_values(["negative", "cell_id"])
    hotspots = run.result.hotspots
    assert len(hotspots) == min(10, len(means))          # the pipeline's hotspot_top
    assert hotspots["cell_id"].tolist() == means["cell_id"].head(len(hotspots)).tolist()
    assert np.allclose(hotspots["mean"], means["mean"].head(len(hotspots)), rtol=1e-9)
    # the ratio is to the mean of every cell's period mean
    assert np.allclose(hotspots["ratio_to_city_mean"],
                       hotspots["mean"] / means["mean"].mean(), rtol=1e-9)
    # the grading marks those same cells, and its means are the same numbers
    grades = run.result.grades.set_index("cell_id")
    assert set(grades.index[grades["hotspot"]]) == set(hotspots["cell_id"])
    assert np.allclose(grades.loc[means["cell_id"], "mean"], means["mean"], rtol=1e-9)
    assert hotspots["rank"].tolist() == list(range(1, len(hotspots) + 1))
    stored = run.workspace.read("hotspots")
    assert set(stored["method"]) == {"rank"}
    assert len(run.workspace.read("hotspot_gistar")) == len(grades)


def test_trace_results_for_the_traced_hotspots(run):
    traced = run.workspace.read("trace_results")
    top = run.result.hotspots["cell_id"].head(5).tolist()
    assert set(traced["cell_id"]) >= set(top)
    assert set(run.result.traces) == set(top)
    for cell_id in top:
        part = traced[traced["cell_id"] == cell_id]
        assert len(part) >= 1
        assert part["rank"].min() == 1


def test_city_aqi_is_from_the_mean_of_the_stations(run):
    hourly = run.workspace.read("aqi_hourly")
    city = hourly[hourly["unit_kind"] == "city"].set_index("time")["PM2.5_1h"]
    stations = hourly[hourly["unit_kind"] == "station"].groupby("time")["PM2.5_1h"].mean()
    # HJ 663-2013: a city's concentration is the arithmetic mean of its stations'
    common = city.index.intersection(stations.index)
    assert len(common) > 0
    assert np.allclose(city[common].astype(float), stations[common].astype(float), atol=0.51)


def test_good_days_count_the_daily_aqi_at_most_100(run):
    daily = run.workspace.read("aqi_daily")
    good = run.workspace.read("good_days").set_index("unit")
    for unit, part in daily.groupby("site_id"):
        aqi = pd.to_numeric(part["aqi"], errors="coerce")
        assert good.loc[unit, "good_days"] == int((aqi <= 100).sum())
        assert good.loc[unit, "valid_days"] == int(aqi.notna().sum())


def test_unknown_step_or_option_is_refused_before_any_work():
    workspace = Workspace.in_memory()
    with pytest.raises(NotFoundError, match="unknown pipeline step 'nope'") as caught:
        run_city_pipeline(workspace, object(), skip=("nope",))
    assert "accounting" in str(caught.value)
    with pytest.raises(NotFoundError, match="unknown pipeline option 'top'") as caught:
        run_city_pipeline(workspace, object(), top=3)
    assert "hotspot_top" in str(caught.value)
    assert workspace.tables() == []


def test_macro_check_of_the_city_totals(run):
    """宏观校核 in the pipeline: one row per census pollutant, the ratio recomputed by hand
    from the stored emissions and the area of the grid (DESIGN.md's 2017 bulletin totals,
    national land area 9.6·10^6 km²)."""
    checks = run.workspace.read("macro_checks").set_index("pollutant")
    assert set(checks.index) >= {"COD", "NH3-N", "TN", "TP", "SO2", "NOx"}
    assert set(checks["status"]) <= {"within", "above", "below"}
    emissions = run.workspace.read("emissions")
    so2_t = emissions.loc[emissions["pollutant"] == "SO2", "emission"].sum() / 1000
    assert checks.loc["SO2", "accounted_t"] == pytest.approx(so2_t)
    # SO2 2017 national total 696.32·10^4 t, scaled by the grid's share of the land area
    reference = checks.loc["SO2", "reference_t"]
    assert checks.loc["SO2", "ratio"] == pytest.approx(so2_t / reference)
    share = reference / 696.32e4
    assert 0 < share < 1e-2
    steps = run.result.steps.set_index("name")
    assert "pollutants plausible" in steps.loc["macro", "detail"]
