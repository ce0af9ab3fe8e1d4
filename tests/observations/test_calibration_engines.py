"""Calibration conformance: the same hand-worked fits on DuckDB, PySpark and PostgreSQL.

The pairing join and the regression sums run in the engine
(:func:`sourcegrid.observations.calibration.pair_with_reference`, ``fit_calibrations`` on an
Ibis table); every engine must recover the coefficients the scenes were built with.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from sourcegrid.observations.calibration import (
    CALIBRATION_COLUMNS,
    calibrate_workspace,
    fit_calibrations,
    pair_with_reference,
)
from sourcegrid.store import Workspace

T0 = pd.Timestamp("2024-01-01T00:00Z")
HOURS = 120


def frame(site, kind, pollutant, values, *, lon=116.40, lat=39.90, step="1h"):
    return pd.DataFrame({"time": pd.date_range(T0, periods=len(values), freq=step),
                         "site_id": site, "site_kind": kind, "lon": lon, "lat": lat,
                         "pollutant": pollutant, "value": np.asarray(values, dtype=float)})


def scene() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    reference = rng.uniform(10, 150, HOURS)
    rh = rng.uniform(20, 95, HOURS)
    # M1 reports every 15 min: hour values ±1 around 1.5 · reference + 8 (hour mean exact)
    quarter = np.repeat(1.5 * reference + 8.0, 4) + np.tile([-1.0, 1.0, -1.0, 1.0], HOURS)
    return pd.concat([
        frame("REF", "reference", "PM2.5", reference),
        frame("M1", "micro", "PM2.5", quarter, lon=116.401, step="15min"),
        frame("M2", "micro", "PM2.5", 1.2 * reference + 0.3 * rh - 2.0, lon=116.402),
        frame("M2", "micro", "RH", rh, lon=116.402),
        frame("M3", "micro", "PM2.5", 2.0 * reference, lon=116.403),
        frame("M4", "micro", "PM2.5", 2.0 * reference, lon=116.404),
        frame("FAR", "micro", "PM2.5", reference, lon=116.50),  # 8.5 km: no reference in reach
    ], ignore_index=True)


def _table(backend, data: pd.DataFrame):
    import ibis

    name = f"cal_{uuid.uuid4().hex[:8]}"
    if backend.name == "pyspark":  # a temporary view: nothing written to a warehouse folder
        return backend.create_view(name, ibis.memtable(data), overwrite=True)
    return backend.create_table(name, ibis.memtable(data))


def fits_on(backend) -> dict[str, pd.DataFrame]:
    readings = _table(backend, scene())
    pairs = pair_with_reference(readings)
    return {"linear": fit_calibrations(pairs),
            "multivariate": fit_calibrations(pairs, model="multivariate"),
            "pooled": fit_calibrations(pairs, sensor_models={"M3": "PMS5003", "M4": "PMS5003"})}


def check_hand_worked(fits: dict[str, pd.DataFrame]) -> None:
    linear = fits["linear"].set_index("site_id")
    assert sorted(linear.index) == ["M1", "M2", "M3", "M4"]   # FAR has no reference in reach
    # M1: reference = (micro - 8) / 1.5 on hour means
    assert linear.loc["M1", "slope"] == pytest.approx(1 / 1.5)
    assert linear.loc["M1", "intercept"] == pytest.approx(-8.0 / 1.5)
    assert linear.loc["M1", "rmse_after"] == pytest.approx(0.0, abs=1e-9)
    assert linear.loc["M1", "n_pairs"] == HOURS and linear.loc["M1", "reference_id"] == "REF"
    # M3: reference = micro / 2
    assert linear.loc["M3", "slope"] == pytest.approx(0.5)
    assert linear.loc["M3", "intercept"] == pytest.approx(0.0, abs=1e-9)
    multivariate = fits["multivariate"].set_index("site_id")
    # M2: reference = (micro - 0.3 RH + 2) / 1.2; no TEMP reported: term left out
    assert multivariate.loc["M2", "slope"] == pytest.approx(1 / 1.2)
    assert multivariate.loc["M2", "coef_rh"] == pytest.approx(-0.3 / 1.2)
    assert multivariate.loc["M2", "intercept"] == pytest.approx(2.0 / 1.2)
    assert multivariate.loc["M2", "coef_temp"] == 0.0
    assert multivariate.loc["M2", "rmse_after"] == pytest.approx(0.0, abs=1e-9)
    pooled = fits["pooled"].set_index("site_id")
    # M3 and M4 read the same: one fit of the model over 2 · HOURS pairs
    assert pooled.loc[["M3", "M4"], "group"].tolist() == ["PMS5003", "PMS5003"]
    assert pooled.loc[["M3", "M4"], "n_pairs"].tolist() == [2 * HOURS, 2 * HOURS]
    assert pooled.loc["M3", "slope"] == pytest.approx(0.5)


def assert_same(fits: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for name in expected:
        got = fits[name][CALIBRATION_COLUMNS].reset_index(drop=True)
        want = expected[name][CALIBRATION_COLUMNS].reset_index(drop=True)
        # sums in another order: equal to rounding (1e-9 relative, 1e-9 absolute near 0)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9, atol=1e-9)


def test_duckdb_hand_worked(duckdb_backend):
    check_hand_worked(fits_on(duckdb_backend))


def test_dataframe_path_equals_engine_path(duckdb_backend):
    data = scene()
    frames = {"linear": fit_calibrations(pair_with_reference(data))}
    assert_same(frames, {"linear": fits_on(duckdb_backend)["linear"]})


@pytest.mark.spark
def test_pyspark_equals_duckdb(spark_backend, duckdb_backend):
    fits = fits_on(spark_backend)
    check_hand_worked(fits)
    assert_same(fits, fits_on(duckdb_backend))


@pytest.mark.pg
def test_postgres_equals_duckdb(postgres_backend, duckdb_backend):
    fits = fits_on(postgres_backend)
    check_hand_worked(fits)
    assert_same(fits, fits_on(duckdb_backend))


def _calibrate_in(workspace) -> pd.DataFrame:
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE
    from sourcegrid.observations.qc import FLAGS_TABLE

    data = scene()
    workspace.write(OBSERVATIONS_TABLE, data)
    # one failing hour of M3 (reading at T0 + 5 h): left out of the fit
    failing = data.loc[(data["site_id"] == "M3") & (data["time"] == T0 + pd.Timedelta(hours=5))]
    workspace.write(FLAGS_TABLE, failing.assign(flag="spike", severity="fail", detail="x")[
        ["site_id", "time", "pollutant", "value", "flag", "severity", "detail"]])
    return calibrate_workspace(workspace).set_index("site_id")


def check_workspace(new: pd.DataFrame, workspace) -> None:
    assert sorted(new.index) == ["M1", "M2", "M3", "M4"]
    assert new.loc["M3", "n_pairs"] == HOURS - 1 and new.loc["M4", "n_pairs"] == HOURS
    assert new.loc["M1", "slope"] == pytest.approx(1 / 1.5)
    stored = workspace.read("calibrations")
    assert len(stored) == 4 and stored["valid_to"].isna().all()
    assert "_sg_calibration_pairs" not in workspace.tables()


def test_calibrate_workspace_on_duckdb():
    workspace = Workspace.in_memory()
    check_workspace(_calibrate_in(workspace), workspace)


@pytest.mark.pg
def test_calibrate_workspace_on_postgres(postgres_backend):
    workspace = Workspace.from_backend(postgres_backend)
    check_workspace(_calibrate_in(workspace), workspace)
