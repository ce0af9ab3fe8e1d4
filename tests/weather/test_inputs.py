"""Reading series with their meteorology from files and workspaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.store import Workspace
from sourcegrid.weather.inputs import (
    city_series,
    met_from_file,
    nearest,
    series_from_file,
    series_from_workspace,
)


def test_file_with_met_columns_and_bad_values(tmp_path):
    path = tmp_path / "station.csv"
    path.write_text(
        "time,site_id,PM2.5,TEMP,DEWP,PRES,RAIN,wd,WSPM\n"
        "2016-01-01 08:00,A,80,20,10,1015,0,NNW,2.5\n"
        "2016-01-01 09:00,A,90,21,10,2000,0,N,3.0\n"      # PRES out of range
        "2016-01-01 10:00,A,100,22,10,1014,abc,E,-1\n",   # RAIN not a number, negative wind
        encoding="utf-8")
    series, rejects = series_from_file(path)
    assert list(series.columns) == ["unit", "time", "value", "wind_speed", "wind_dir", "TEMP",
                                    "RH", "PRES", "DEWP", "RAIN"]
    assert series["time"].iloc[0] == pd.Timestamp("2016-01-01T00:00Z")  # 08:00 Beijing
    assert series["wind_dir"].iloc[0] == pytest.approx(337.5)  # NNW
    # RH from T = 20, Td = 10 by the Magnus formula: 52.54 % (see test_normalise)
    assert series["RH"].iloc[0] == pytest.approx(52.54, abs=0.01)
    assert np.isnan(series["PRES"].iloc[1])
    reasons = dict(zip(rejects["column"], rejects["reason"], strict=True))
    assert reasons == {"PRES": "out_of_range", "RAIN": "not_a_number",
                       "wind_speed": "bad_wind_speed"}
    assert set(rejects["row"]) == {3, 4}


def test_missing_pollutant_is_an_error(tmp_path):
    path = tmp_path / "met.csv"
    path.write_text("time,site_id,TEMP\n2016-01-01 08:00,A,3\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        series_from_file(path, "PM2.5")
    assert "no valid PM2.5 value" in error.value.frame["message"].iloc[0]
    met = met_from_file(path)
    assert list(met.columns) == ["unit", "time", "TEMP"]


def test_nearest_site():
    # Dongsi (116.417, 39.929) is nearer to Tiantan (116.407, 39.886) than to Dingling
    index, distance = nearest([116.417], [39.929], [116.220, 116.407], [40.292, 39.886])
    assert index.tolist() == [1]
    assert distance[0] == pytest.approx(4.85, abs=0.1)  # 0.043° lat ≈ 4.8 km, 0.01° lon


def test_city_series_vector_mean_wind():
    times = pd.to_datetime(["2016-01-01T00:00Z"] * 2)
    frame = pd.DataFrame({"unit": ["A", "B"], "time": times, "value": [10.0, 30.0],
                          "wind_speed": [2.0, 2.0], "wind_dir": [350.0, 10.0],
                          "TEMP": [1.0, 3.0]})
    city = city_series(frame)
    assert city["value"].iloc[0] == 20.0 and city["TEMP"].iloc[0] == 2.0
    assert city["wind_dir"].iloc[0] == pytest.approx(0.0, abs=1e-9) or city[
        "wind_dir"].iloc[0] == pytest.approx(360.0)
    assert city["units"].iloc[0] == 2


def test_workspace_station_takes_the_nearest_wind_site(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    times = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    readings = pd.DataFrame({
        "time": np.tile(times, 3), "site_id": np.repeat(["R1", "R1", "R2"], 3),
        "site_kind": "reference", "lon": np.repeat([116.40, 116.40, 116.70], 3),
        "lat": 39.9, "pollutant": np.repeat(["PM2.5", "TEMP", "PM2.5"], 3),
        "value": [50.0, 60, 70, 1, 2, 3, 80, 90, 100], "unit": "", "source": "t"})
    ws.write("observations", readings)
    wind = pd.DataFrame({"time": np.tile(times, 2), "site_id": np.repeat(["W1", "W2"], 3),
                         "lon": np.repeat([116.41, 116.69], 3), "lat": 39.9,
                         "wind_speed": [1.0, 1, 1, 5, 5, 5], "wind_dir": 90.0, "source": "t"})
    ws.write("wind", wind)
    series = series_from_workspace(ws, "PM2.5")
    by_site = series.groupby("unit")
    assert by_site["met_site"].first().to_dict() == {"R1": "W1", "R2": "W2"}
    assert series.loc[series["unit"] == "R2", "wind_speed"].tolist() == [5.0, 5.0, 5.0]
    # TEMP from the nearest site that has it (R1, at W1 and nearest to W2 too)
    assert series.loc[series["unit"] == "R1", "TEMP"].tolist() == [1.0, 2.0, 3.0]
