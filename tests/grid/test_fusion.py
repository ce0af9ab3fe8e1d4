"""Fusion to cell-hours: hand-computed values and uncertainties, conservation, real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.fusion import (
    CELL_HOUR_COLUMNS,
    fuse_cell_hours,
    fuse_workspace,
    relative_uncertainty,
)
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.observations.ingest import ingest_readings
from sourcegrid.store import Workspace

DATA = Path(__file__).parent.parent / "data" / "beijing_grid"
# 3 × 3 cells of 1 km, UTM 50N, north-west corner (400000, 4420000)
GRID = GridSpec("EPSG:32650", 1000.0, 400_000.0, 4_420_000.0, 3, 3)
T0 = pd.Timestamp("2024-01-10T00:00:00Z")
# default relative uncertainties (fusion.RELATIVE_UNCERTAINTY['default']), written out here
R_REFERENCE, R_MICRO, R_MICRO_RAW, R_MOBILE, R_SATELLITE = 0.10, 0.25, 0.50, 0.35, 0.40


def centre(row: int, col: int) -> tuple[float, float]:
    x, y = GRID.centre_xy(row, col)
    lon, lat = GRID.to_lonlat(x, y)
    return float(lon), float(lat)


def readings(rows) -> pd.DataFrame:
    """rows: (minutes after T0, site_id, kind, (row, col) or (lon, lat), value)."""
    records = []
    for minutes, site, kind, where, value in rows:
        lon, lat = centre(*where) if isinstance(where[0], int) else where
        records.append({"time": T0 + pd.Timedelta(minutes=minutes), "site_id": site,
                        "site_kind": kind, "lon": lon, "lat": lat, "pollutant": "PM2.5",
                        "value": float(value), "unit": "ug/m**3"})
    return pd.DataFrame(records)


CALIBRATION_B = pd.DataFrame({
    "site_id": ["B"], "pollutant": ["PM2.5"], "valid_from": [pd.Timestamp("2024-01-01", tz="UTC")],
    "valid_to": [pd.NaT], "intercept": [2.0], "slope": [0.5], "coef_rh": [0.0],
    "coef_temp": [0.0], "rh_mean": [0.0], "temp_mean": [0.0]})

# cell (0,0): reference A (40, 44 -> hour mean 42) and micro B (100, 104 -> 102, calibrated
# 2 + 0.5 * 102 = 53); cell (2,2): references C = 30 and D = 50.
SCENE = readings([
    (10, "A", "reference", (0, 0), 40), (40, "A", "reference", (0, 0), 44),
    (0, "B", "micro", (0, 0), 100), (1, "B", "micro", (0, 0), 104),
    (5, "C", "reference", (2, 2), 30), (5, "D", "reference", (2, 2), 50),
])


def by_cell(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("cell_id")


def test_observed_cells_by_hand():
    out = by_cell(fuse_cell_hours(GRID, SCENE, calibrations=CALIBRATION_B, interpolate=False))
    assert list(out.reset_index().columns) == CELL_HOUR_COLUMNS
    w_ref, w_micro = 1 / R_REFERENCE**2, 1 / R_MICRO**2          # 100 and 16
    value = (w_ref * 42 + w_micro * 53) / (w_ref + w_micro)     # 5048 / 116 = 43.5172
    internal = value / math.sqrt(w_ref + w_micro)                # 43.5172 / 10.7703 = 4.0405
    external = math.sqrt((w_ref * (42 - value) ** 2 + w_micro * (53 - value) ** 2)
                         / (1 * (w_ref + w_micro)))              # 3.793 < internal
    cell = out.loc["R0000C0000"]
    assert cell["value"] == pytest.approx(43.517241, abs=1e-6)
    assert cell["value"] == pytest.approx(value)
    assert cell["uncertainty"] == pytest.approx(max(internal, external))
    assert cell["uncertainty"] == pytest.approx(4.040474, abs=1e-6)
    assert cell["n_readings"] == 4
    assert cell["sources"] == "reference:1;micro:1"
    assert cell["method"] == "observed"
    assert cell["time"] == T0
    # two references 30 and 50: mean 40; scatter dominates: sqrt((100*100 + 100*100)/200) = 10
    other = out.loc["R0002C0002"]
    assert other["value"] == pytest.approx(40.0)
    assert other["uncertainty"] == pytest.approx(10.0)
    assert other["sources"] == "reference:2"
    assert len(out) == 2


def test_uncalibrated_micro_station_gets_the_larger_uncertainty():
    out = by_cell(fuse_cell_hours(GRID, SCENE, interpolate=False))
    w_ref, w_raw = 1 / R_REFERENCE**2, 1 / R_MICRO_RAW**2        # 100 and 4
    assert out.loc["R0000C0000", "value"] == pytest.approx((w_ref * 42 + w_raw * 102) / 104)


def test_interpolated_cells_by_hand():
    out = by_cell(fuse_cell_hours(GRID, SCENE, calibrations=CALIBRATION_B, max_distance=5000))
    assert len(out) == 9
    x00, u00 = 5048 / 116, 5048 / 116 / math.sqrt(116)
    x22, u22 = 40.0, 10.0
    # cell (0,2): both observed cells 2 km away -> weights 1/2, 1/2
    value = (x00 + x22) / 2
    spread = 0.5 * (x00 - value) ** 2 + 0.5 * (x22 - value) ** 2
    uncertainty = math.sqrt(0.25 * u00**2 + 0.25 * u22**2 + spread)
    assert out.loc["R0000C0002", "value"] == pytest.approx(value)
    assert out.loc["R0000C0002", "uncertainty"] == pytest.approx(uncertainty)
    assert out.loc["R0000C0002", "method"] == "interpolated"
    assert out.loc["R0000C0002", "sources"] == "interpolated:2"
    assert out.loc["R0000C0002", "n_readings"] == 0
    # cell (0,1): 1 km to (0,0), sqrt(5) km to (2,2) -> d^-2 weights 1 and 1/5 -> 5/6, 1/6
    value = 5 / 6 * x00 + 1 / 6 * x22
    spread = 5 / 6 * (x00 - value) ** 2 + 1 / 6 * (x22 - value) ** 2
    uncertainty = math.sqrt((5 / 6) ** 2 * u00**2 + (1 / 6) ** 2 * u22**2 + spread)
    assert out.loc["R0000C0001", "value"] == pytest.approx(value)
    assert out.loc["R0000C0001", "uncertainty"] == pytest.approx(uncertainty)


def test_interpolation_respects_max_distance():
    out = by_cell(fuse_cell_hours(GRID, SCENE, calibrations=CALIBRATION_B, max_distance=1500))
    # (0,2) is 2 km from both observed cells: out of reach, and no satellite -> no row
    assert "R0000C0002" not in out.index
    # (0,1) is 1 km from (0,0) only: takes its value; u = sqrt(1 * u00^2 + 0)
    assert out.loc["R0000C0001", "value"] == pytest.approx(5048 / 116)
    assert out.loc["R0000C0001", "uncertainty"] == pytest.approx(5048 / 116 / math.sqrt(116))


def test_mobile_pass_and_satellite_by_hand():
    scene = readings([
        (0, "A", "reference", (0, 0), 40),
        (1, "taxi1", "mobile", (1, 1), 60), (1.2, "taxi1", "mobile", (1, 1), 66),
        (1.4, "taxi1", "mobile", (1, 1), 72),
    ])
    # satellite day is the Beijing date of the hour: 2024-01-10 00:00 UTC = 08:00 local
    satellite = pd.DataFrame({"row": [0, 2], "col": [0, 2],
                              "date": pd.to_datetime(["2024-01-10", "2024-01-10"]),
                              "pollutant": ["PM2.5", "PM2.5"], "value": [60.0, 80.0]})
    out = by_cell(fuse_cell_hours(GRID, scene, satellite=satellite, max_distance=1200))
    mobile = out.loc["R0001C0001"]
    assert mobile["value"] == pytest.approx(66.0)            # one pass: mean of 60, 66, 72
    assert mobile["uncertainty"] == pytest.approx(66.0 * R_MOBILE)
    assert (mobile["n_readings"], mobile["sources"]) == (3, "mobile:1")
    w_ref, w_sat = 1 / R_REFERENCE**2, 1 / R_SATELLITE**2       # 100 and 6.25
    value = (w_ref * 40 + w_sat * 60) / (w_ref + w_sat)
    external = math.sqrt((w_ref * (40 - value) ** 2 + w_sat * (60 - value) ** 2) / (w_ref + w_sat))
    cell = out.loc["R0000C0000"]
    assert cell["value"] == pytest.approx(value)
    assert cell["uncertainty"] == pytest.approx(max(value / math.sqrt(w_ref + w_sat), external))
    assert (cell["n_readings"], cell["sources"]) == (2, "reference:1;satellite:1")
    # (2,2) is beyond 1.2 km of any observed cell: the day's satellite value
    assert out.loc["R0002C0002", "method"] == "satellite"
    assert out.loc["R0002C0002", "value"] == 80.0
    assert out.loc["R0002C0002", "uncertainty"] == pytest.approx(80.0 * R_SATELLITE)
    # interpolation uses ground estimates only: (0,1) is 1 km from (0,0) and (1,1)
    assert out.loc["R0000C0001", "value"] == pytest.approx((40 + 66) / 2)


def test_failing_flags_are_left_out():
    flags = pd.DataFrame({"site_id": ["C"], "time": [T0 + pd.Timedelta(minutes=5)],
                          "pollutant": ["PM2.5"], "severity": ["fail"]})
    out = by_cell(fuse_cell_hours(GRID, SCENE, flags=flags, interpolate=False))
    assert out.loc["R0002C0002", "value"] == pytest.approx(50.0)
    assert out.loc["R0002C0002", "sources"] == "reference:1"


def test_readings_conserved_every_reading_in_exactly_one_cell():
    rng = np.random.default_rng(7)
    n = 500
    x = rng.uniform(400_000, 403_000, n)
    y = rng.uniform(4_417_000, 4_420_000, n)
    lon, lat = GRID.to_lonlat(x, y)
    frame = pd.DataFrame({"time": T0 + pd.to_timedelta(rng.integers(0, 180, n), unit="min"),
                          "site_id": [f"s{i}" for i in range(n)], "site_kind": "mobile",
                          "lon": lon, "lat": lat, "pollutant": "PM2.5",
                          "value": rng.uniform(10, 90, n)})
    out = fuse_cell_hours(GRID, frame, interpolate=False)
    assert out["n_readings"].sum() == n
    assert not out.duplicated(["cell_id", "time", "pollutant"]).any()
    # a point outside the grid is in no cell
    outside = frame.iloc[:1].assign(lon=100.0, lat=20.0, site_id="far")
    out = fuse_cell_hours(GRID, pd.concat([frame, outside]), interpolate=False)
    assert out["n_readings"].sum() == n


def test_unknown_uncertainty_set_lists_valid_names():
    with pytest.raises(NotFoundError, match="unknown uncertainty set 'strict'; valid: default"):
        relative_uncertainty("strict")
    with pytest.raises(NotFoundError, match="unknown source kind 'drone'"):
        relative_uncertainty({"drone": 0.2})
    assert relative_uncertainty({"reference": 0.05})["reference"] == 0.05


def test_fuse_workspace_writes_cell_hours_and_appends_by_period():
    workspace = Workspace.in_memory()
    write_spec(workspace, GRID)
    ingest_readings(workspace, SCENE)
    later = SCENE.assign(time=SCENE["time"] + pd.Timedelta(hours=1))
    ingest_readings(workspace, later)
    fuse_workspace(workspace, interpolate=False, end="2024-01-10T00:30:00Z")
    stored = workspace.read("cell_hours")
    assert len(stored) == 2 and str(stored["time"].dt.tz) == "UTC"
    fuse_workspace(workspace, interpolate=False, start="2024-01-10T01:00:00Z", mode="append")
    stored = workspace.read("cell_hours")
    assert len(stored) == 4
    assert sorted(stored["time"].dt.hour.unique()) == [0, 1]


# ---- real data: UCI Beijing Multi-Site (tests/data/beijing_grid/README.md) ------------------


def beijing_readings() -> pd.DataFrame:
    from sourcegrid.observations.readers import normalize_observations

    raw = pd.read_csv(DATA / "prsa_2017-01-10_12.csv", dtype=str, keep_default_na=False)
    stations = pd.read_csv(DATA / "stations.csv")
    wide = raw.merge(stations, on="station")
    wide = pd.DataFrame({
        "time": wide["year"] + "-" + wide["month"] + "-" + wide["day"] + " " + wide["hour"] + ":00",
        "site_id": wide["station"], "lon": wide["lon"].astype(str), "lat": wide["lat"].astype(str),
        **{name: wide[name] for name in ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")}})
    # the dataset gives CO in µg/m³
    batch = normalize_observations(wide, site_kind="reference", units={"CO": "ug/m**3"},
                                   source="prsa")
    assert batch.rejects.empty
    return batch.readings


def test_beijing_station_cells_equal_station_values():
    spec = GridSpec.from_bbox((115.9, 39.6, 116.9, 40.5))
    readings = beijing_readings()
    out = fuse_cell_hours(spec, readings, interpolate=False)
    stations = pd.read_csv(DATA / "stations.csv")
    rows, cols = spec.cell_of(stations["lon"], stations["lat"])
    stations["cell_id"] = spec.cell_id(rows, cols)
    assert stations["cell_id"].nunique() == 12      # one station per 3 km cell here
    cell = dict(zip(stations["station"], stations["cell_id"], strict=True))
    out = out.set_index(["cell_id", "time", "pollutant"])
    # values read by hand from prsa_2017-01-10_12.csv (hour is Beijing time = UTC + 8):
    # Dongsi 2017-01-10 hour 8: PM2.5 7; hour 0: PM2.5 96, CO 2800 µg/m³ = 2.8 mg/m³
    # Gucheng 2017-01-10 hour 8: PM2.5 6; Huairou 2017-01-10 hour 8: PM2.5 11
    hand = [("Dongsi", "2017-01-10T00:00Z", "PM2.5", 7.0),
            ("Dongsi", "2017-01-09T16:00Z", "PM2.5", 96.0),
            ("Dongsi", "2017-01-09T16:00Z", "CO", 2.8),
            ("Gucheng", "2017-01-10T00:00Z", "PM2.5", 6.0),
            ("Huairou", "2017-01-10T00:00Z", "PM2.5", 11.0)]
    for station, time, pollutant, value in hand:
        row = out.loc[(cell[station], pd.Timestamp(time), pollutant)]
        assert row["value"] == pytest.approx(value)
        assert row["uncertainty"] == pytest.approx(R_REFERENCE * value)
        assert (row["n_readings"], row["sources"], row["method"]) == (1, "reference:1", "observed")
    # every station-hour of the slice comes out unchanged in its cell
    expected = readings.assign(cell_id=readings["site_id"].map(cell)).set_index(
        ["cell_id", "time", "pollutant"])["value"].sort_index()
    got = out["value"].reindex(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy())
    assert len(out) == len(expected) == 12 * 72 * 6 - 4 - 8 - 39 - 12  # minus 'NA' values


@pytest.mark.spark
def test_same_cell_hours_on_pyspark(spark_backend):
    """The Ibis part of fusion gives the same answer on PySpark as on DuckDB."""
    import ibis

    # temporary views: nothing is written to a spark-warehouse folder
    readings = spark_backend.create_view(
        "fusion_readings", ibis.memtable(SCENE.drop(columns="unit")), overwrite=True)
    calibrations = spark_backend.create_view("fusion_calibrations", ibis.memtable(
        CALIBRATION_B.assign(valid_to=pd.Timestamp("2030-01-01", tz="UTC"))), overwrite=True)
    on_spark = fuse_cell_hours(GRID, readings, calibrations=calibrations, max_distance=5000)
    on_duckdb = fuse_cell_hours(GRID, SCENE, calibrations=CALIBRATION_B, max_distance=5000)
    pd.testing.assert_frame_equal(on_spark, on_duckdb)


@pytest.mark.pg
def test_same_cell_hours_on_postgres(postgres_backend):
    """The Ibis part of fusion gives the same answer on PostgreSQL as on DuckDB."""
    import ibis

    readings = postgres_backend.create_table(
        "fusion_readings", ibis.memtable(SCENE.drop(columns="unit")))
    calibrations = postgres_backend.create_table("fusion_calibrations", ibis.memtable(
        CALIBRATION_B.assign(valid_to=pd.Timestamp("2030-01-01", tz="UTC"))))
    on_postgres = fuse_cell_hours(GRID, readings, calibrations=calibrations, max_distance=5000)
    on_duckdb = fuse_cell_hours(GRID, SCENE, calibrations=CALIBRATION_B, max_distance=5000)
    pd.testing.assert_frame_equal(on_postgres, on_duckdb)
