"""Calibration: recover a known bias and slope; RH term; per model; applied to later readings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.fusion import fuse_workspace
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.observations.calibration import (
    apply_calibration,
    calibrate_workspace,
    chain_validity,
    fit_calibrations,
    pair_with_reference,
)
from sourcegrid.observations.ingest import ingest_readings
from sourcegrid.store import Workspace

T0 = pd.Timestamp("2024-01-01T00:00Z")
HOURS = 240


def frame(site, kind, pollutant, values, *, lon=116.40, lat=39.90, start=T0, step="1h"):
    return pd.DataFrame({"time": pd.date_range(start, periods=len(values), freq=step),
                         "site_id": site, "site_kind": kind, "lon": lon, "lat": lat,
                         "pollutant": pollutant, "value": np.asarray(values, dtype=float)})


@pytest.fixture
def synthetic():
    rng = np.random.default_rng(42)
    reference = rng.uniform(10, 150, HOURS)
    rh = rng.uniform(20, 95, HOURS)
    return reference, rh


def test_linear_recovers_known_bias_and_slope(synthetic):
    reference, _ = synthetic
    micro = 1.5 * reference + 8.0   # the sensor reads 50 % high plus 8 µg/m³
    readings = pd.concat([frame("REF", "reference", "PM2.5", reference),
                          frame("M1", "micro", "PM2.5", micro, lon=116.401)])
    pairs = pair_with_reference(readings)
    assert len(pairs) == HOURS and set(pairs["reference_id"]) == {"REF"}
    assert pairs["distance"].iloc[0] == pytest.approx(85.5, abs=0.5)  # 0.001° lon at 39.9° N
    fit = fit_calibrations(pairs).iloc[0]
    # reference = (micro - 8) / 1.5 = -5.3333 + 0.6667 micro
    assert fit["intercept"] == pytest.approx(-8.0 / 1.5)
    assert fit["slope"] == pytest.approx(1 / 1.5)
    # before: micro - reference = 0.5 reference + 8
    assert fit["bias_before"] == pytest.approx(np.mean(0.5 * reference + 8.0))
    assert fit["rmse_before"] == pytest.approx(np.sqrt(np.mean((0.5 * reference + 8.0) ** 2)))
    assert fit["rmse_after"] == pytest.approx(0.0, abs=1e-9)
    assert fit["r2_after"] == pytest.approx(1.0)
    assert fit["valid_from"] == T0 and pd.isna(fit["valid_to"])


def test_linear_with_noise_cross_validated(synthetic):
    reference, _ = synthetic
    noise = np.random.default_rng(1).normal(0, 3.0, HOURS)
    readings = pd.concat([frame("REF", "reference", "PM2.5", reference),
                          frame("M1", "micro", "PM2.5", 1.5 * reference + 8.0 + noise,
                                lon=116.401)])
    fit = fit_calibrations(pair_with_reference(readings)).iloc[0]
    assert fit["slope"] == pytest.approx(1 / 1.5, rel=0.02)
    assert fit["intercept"] == pytest.approx(-8.0 / 1.5, abs=1.0)
    # noise of sd 3 in micro units is 2 in reference units: the CV RMSE is near 2
    assert 1.5 < fit["rmse_after"] < 2.6
    assert abs(fit["bias_after"]) < 0.5 < abs(fit["bias_before"])


def test_multivariate_recovers_humidity_term(synthetic):
    reference, rh = synthetic
    micro = 1.2 * reference + 0.3 * rh - 2.0
    readings = pd.concat([frame("REF", "reference", "PM2.5", reference),
                          frame("M1", "micro", "PM2.5", micro, lon=116.401),
                          frame("M1", "micro", "RH", rh, lon=116.401)])
    fit = fit_calibrations(pair_with_reference(readings), model="multivariate").iloc[0]
    # reference = (micro - 0.3 RH + 2) / 1.2
    assert fit["intercept"] == pytest.approx(2.0 / 1.2)
    assert fit["slope"] == pytest.approx(1 / 1.2)
    assert fit["coef_rh"] == pytest.approx(-0.3 / 1.2)
    assert fit["coef_temp"] == 0.0       # no TEMP reported: term left out
    assert fit["rmse_after"] == pytest.approx(0.0, abs=1e-9)
    linear = fit_calibrations(pair_with_reference(readings), model="linear").iloc[0]
    assert linear["rmse_after"] > 1.0    # the RH effect is not captured


def test_per_sensor_model_one_fit_for_all_its_sites(synthetic):
    reference, _ = synthetic
    readings = pd.concat([frame("REF", "reference", "PM2.5", reference),
                          frame("M1", "micro", "PM2.5", 2 * reference, lon=116.401),
                          frame("M2", "micro", "PM2.5", 2 * reference + 10, lon=116.402)])
    per_site = fit_calibrations(pair_with_reference(readings)).set_index("site_id")
    assert per_site.loc["M1", "slope"] == pytest.approx(0.5)
    assert per_site.loc["M2", "intercept"] == pytest.approx(-5.0)
    pooled = fit_calibrations(pair_with_reference(readings),
                              sensor_models={"M1": "PMS5003", "M2": "PMS5003"})
    assert set(pooled["group"]) == {"PMS5003"}
    assert pooled["slope"].nunique() == 1 and len(pooled) == 2


def test_no_reference_in_reach_gives_no_calibration(synthetic):
    reference, _ = synthetic
    readings = pd.concat([frame("REF", "reference", "PM2.5", reference),
                          frame("M1", "micro", "PM2.5", reference, lon=116.50)])  # 8.5 km
    assert fit_calibrations(pair_with_reference(readings)).empty
    with pytest.raises(NotFoundError, match="unknown calibration model 'cubic'"):
        fit_calibrations(pair_with_reference(readings), model="cubic")


def test_apply_and_validity_chain():
    # 2 + 0.5 * 100 - 0.1 * 80 (RH) = 44; missing RH takes the fit mean 60: 2 + 50 - 6 = 46
    assert apply_calibration([100.0, 100.0], 2.0, 0.5, coef_rh=-0.1, rh=[80.0, np.nan],
                             rh_mean=60.0).tolist() == [44.0, 46.0]
    assert apply_calibration([1.0], -5.0, 1.0).tolist() == [0.0]   # never negative
    rows = pd.DataFrame({"site_id": ["M1", "M1"], "pollutant": "PM2.5",
                         "valid_from": pd.to_datetime(["2024-02-01", "2024-01-01"], utc=True)})
    for column in ("fit_from", "fit_to"):
        rows[column] = rows["valid_from"]
    rows["valid_to"] = pd.NaT
    for column in ("model", "group", "reference_id"):
        rows[column] = ""
    for column in ("distance", "intercept", "slope", "coef_rh", "coef_temp", "rh_mean",
                   "temp_mean", "n_pairs", "rmse_before", "r2_before", "bias_before",
                   "rmse_after", "r2_after", "bias_after"):
        rows[column] = 0.0
    chained = chain_validity(rows)
    assert chained["valid_to"].iloc[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert pd.isna(chained["valid_to"].iloc[1])


def test_calibration_applied_to_later_readings_in_fusion(synthetic):
    reference, _ = synthetic
    workspace = Workspace.in_memory()
    spec = GridSpec.from_bbox((116.3, 39.8, 116.5, 40.0))
    write_spec(workspace, spec)
    ingest_readings(workspace, pd.concat([
        frame("REF", "reference", "PM2.5", reference),
        frame("M1", "micro", "PM2.5", 1.5 * reference + 8.0, lon=116.43)]))  # 2.6 km away
    new = calibrate_workspace(workspace)
    assert len(new) == 1 and workspace.has("calibrations")
    # a later micro reading of 158 (after the fit period) is corrected to (158 - 8) / 1.5 = 100
    later = T0 + pd.Timedelta(hours=HOURS + 5)
    ingest_readings(workspace, frame("M1", "micro", "PM2.5", [158.0], lon=116.43, start=later))
    cells = fuse_workspace(workspace, start=later, interpolate=False)
    assert len(cells) == 1
    assert cells["value"].iloc[0] == pytest.approx(100.0)
    assert cells["sources"].iloc[0] == "micro:1"
    assert cells["uncertainty"].iloc[0] == pytest.approx(100.0 * 0.25)  # calibrated micro
