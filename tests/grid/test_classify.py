"""Classification by signature on crafted cells, one per type, with the evidence numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.classify import classify_cells, signature_parameters

# One Beijing-time day: local hour h is UTC hour h - 8.
LOCAL_HOURS = pd.date_range("2026-03-01", periods=24, freq="h", tz="Asia/Shanghai")
RUSH = {7, 8, 9, 17, 18, 19}
NIGHT = {22, 23, 0, 1, 2, 3, 4, 5}


def _cell(cell: str, column: int, **overrides) -> list[tuple]:
    """24 hours of a baseline cell: PM2.5 50, PM10 70, SO2 10, NO2 30, CO 0.8 [mg/m3], TVOC 100.

    An override is a number (flat) or a function of the local hour.
    """
    base = {"PM2.5": 50.0, "PM10": 70.0, "SO2": 10.0, "NO2": 30.0, "CO": 0.8, "TVOC": 100.0}
    base.update(overrides)
    rows = []
    for stamp in LOCAL_HOURS:
        for pollutant, value in base.items():
            v = value(stamp.hour) if callable(value) else value
            rows.append((cell, 0, column, stamp.tz_convert("UTC"), pollutant, float(v)))
    return rows


def _crafted() -> pd.DataFrame:
    rows = []
    rows += _cell("base", 0)
    rows += _cell("dust", 1, PM10=150.0)
    rows += _cell("coal", 2, SO2=40.0)
    rows += _cell("traffic", 3, NO2=lambda h: 60.0 if h in RUSH else 30.0,
                  CO=lambda h: 1.6 if h in RUSH else 0.8)
    rows += _cell("industrial", 4, TVOC=400.0)
    rows += _cell("night", 5, **{"PM2.5": lambda h: 100.0 if h in NIGHT else 50.0})
    return pd.DataFrame(rows, columns=["cell_id", "row", "col", "time", "pollutant", "value"])


@pytest.fixture(scope="module")
def classified() -> pd.DataFrame:
    return classify_cells(_crafted(), "2026-03-01", "2026-03-02").set_index("cell_id")


def test_each_type_is_found(classified):
    assert classified["type"].to_dict() == {
        "base": "unclassified", "coal": "coal", "dust": "dust", "industrial": "industrial",
        "night": "night", "traffic": "traffic"}
    assert classified.loc["base", "types"] == ""


def test_dust_evidence(classified):
    # PM10/PM2.5 = 150/50 = 3 >= 2; the baseline 70/50 = 1.4
    assert classified.loc["dust", "pm10_pm25_ratio"] == pytest.approx(3.0)
    assert classified.loc["base", "pm10_pm25_ratio"] == pytest.approx(1.4)
    assert "PM10/PM2.5 3 (dust >= 2.0)" in classified.loc["dust", "type_evidence"]


def test_coal_evidence(classified):
    # city SO2 mean = (5*10 + 40)/6 = 15 -> 40/15
    assert classified.loc["coal", "so2_ratio_to_city"] == pytest.approx(40 / 15)
    assert classified.loc["base", "so2_ratio_to_city"] == pytest.approx(10 / 15)


def test_traffic_evidence(classified):
    # rush hours (6 of them) 60 vs 30 the other 18 -> NO2 and CO rush ratio 2;
    # NO2 mean = (6*60 + 18*30)/24 = 37.5; city mean (5*30 + 37.5)/6 = 31.25 -> 1.2
    assert classified.loc["traffic", "no2_rush_ratio"] == pytest.approx(2.0)
    assert classified.loc["traffic", "co_rush_ratio"] == pytest.approx(2.0)
    assert classified.loc["traffic", "no2_ratio_to_city"] == pytest.approx(37.5 / 31.25)
    # baseline: flat profile -> ratio 1, and NO2 30/31.25 below the city -> not traffic
    assert classified.loc["base", "no2_rush_ratio"] == pytest.approx(1.0)


def test_industrial_evidence(classified):
    # city TVOC mean = (5*100 + 400)/6 = 150 -> 400/150
    assert classified.loc["industrial", "tvoc_ratio_to_city"] == pytest.approx(400 / 150)


def test_night_evidence(classified):
    # 8 night hours at 100 vs 16 other hours at 50 -> 2 >= 1.3
    assert classified.loc["night", "night_ratio"] == pytest.approx(2.0)
    assert classified.loc["base", "night_ratio"] == pytest.approx(1.0)


def test_several_matches_pick_the_strongest():
    rows = _cell("base", 0) + _cell("both", 1, PM10=250.0, SO2=40.0)
    frame = pd.DataFrame(rows, columns=["cell_id", "row", "col", "time", "pollutant", "value"])
    result = classify_cells(frame, "2026-03-01", "2026-03-02").set_index("cell_id")
    # dust strength (250/50)/2 = 2.5; coal: city SO2 mean 25 -> 40/25 = 1.6, /1.5 = 1.07
    assert result.loc["both", "types"] == "dust;coal"
    assert result.loc["both", "type"] == "dust"


def test_missing_pollutant_gives_no_match_and_nan_evidence():
    frame = _crafted()
    frame = frame[frame["pollutant"] != "TVOC"]
    result = classify_cells(frame, "2026-03-01", "2026-03-02").set_index("cell_id")
    assert result.loc["industrial", "type"] == "unclassified"
    assert pd.isna(result.loc["industrial", "tvoc_ratio_to_city"])
    assert "TVOC/city n/a" in result.loc["industrial", "type_evidence"]


def test_unknown_parameter_set():
    with pytest.raises(NotFoundError, match="unknown signature parameter set 'lax'; valid: "
                                            "sensitive, sourcegrid_default"):
        signature_parameters("lax")
