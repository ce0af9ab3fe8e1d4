"""Real-time alert rules on crafted micro-station series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.alerts import ALERT_COLUMNS, check_alerts

TIMES = pd.date_range("2026-03-01T00:00Z", periods=6, freq="min")
# Four micro-stations about 0.5-1 km apart (0.01 deg lon ~ 0.85 km at 40 N),
# one far away (about 50 km), one reference station that the rules ignore.
SITES = {
    "m1": (116.40, 39.90), "m2": (116.41, 39.90), "m3": (116.40, 39.91),
    "m4": (116.41, 39.91), "far": (117.00, 39.90), "ref": (116.40, 39.90),
}


def _readings(series: dict[str, list[float]], kind: dict[str, str] | None = None) -> pd.DataFrame:
    rows = []
    for site, values in series.items():
        lon, lat = SITES[site]
        for time, value in zip(TIMES, values, strict=True):
            rows.append((time, site, (kind or {}).get(site, "micro"), lon, lat, "PM2.5",
                         value, "µg/m³"))
    frame = pd.DataFrame(rows, columns=["time", "site_id", "site_kind", "lon", "lat",
                                        "pollutant", "value", "unit"])
    frame["cell_id"] = np.where(frame["site_id"] == "far", "R0001C0009", "R0001C0001")
    return frame


QUIET = [50.0] * 6


def test_threshold_run_of_n_alerts_and_n_minus_1_does_not():
    series = {
        "m1": [50, 200, 210, 220, 50, 50],  # 3 in a row above 150
        "m2": [50, 200, 210, 50, 50, 50],   # only 2 in a row
        "m3": QUIET, "m4": QUIET,
    }
    alerts = check_alerts(_readings(series), threshold=150, neighbour_factor=np.inf,
                          city_factor=np.inf, consecutive=3)
    assert list(alerts.columns) == ALERT_COLUMNS
    assert alerts["site_id"].tolist() == ["m1"]
    alert = alerts.iloc[0]
    assert alert["cell_id"] == "R0001C0001"
    assert alert["readings"] == 3 and alert["max_value"] == 220
    assert alert["start"] == TIMES[1] and alert["end"] == TIMES[3] and alert["raised_at"] == TIMES[3]
    assert alert["values"] == "200;210;220"
    assert alert["times"] == "2026-03-01T00:01:00Z;2026-03-01T00:02:00Z;2026-03-01T00:03:00Z"
    assert alert["rules"] == "threshold"
    # with N = 2 the station m2 alerts too
    two = check_alerts(_readings(series), threshold=150, neighbour_factor=np.inf,
                       city_factor=np.inf, consecutive=2)
    assert sorted(two["site_id"]) == ["m1", "m2"]


def test_neighbour_rule_with_reference_values():
    # m1 reads 120 for three minutes; neighbours m2..m4 read 50, 60, 70 -> median 60,
    # 120 > 1.5 * 60 = 90. City median of (120, 50, 60, 70, 40 far) = 60 -> 120 > 2 * 60 is false.
    series = {
        "m1": [50, 120, 120, 120, 50, 50], "m2": QUIET, "m3": [60.0] * 6, "m4": [70.0] * 6,
        "far": [40.0] * 6,
    }
    alerts = check_alerts(_readings(series), threshold=np.inf, neighbour_factor=1.5,
                          city_factor=2.0, consecutive=3, neighbour_radius_km=3)
    assert alerts["site_id"].tolist() == ["m1"]
    alert = alerts.iloc[0]
    assert alert["rules"] == "neighbours"
    assert alert["neighbour_medians"] == "60;60;60"
    assert alert["city_medians"] == "60;60;60"
    # the far station has no neighbour within 3 km: the neighbour rule cannot fire for it
    lonely = {"far": [50, 500, 500, 500, 50, 50], "m1": QUIET, "m2": QUIET}
    none = check_alerts(_readings(lonely), threshold=np.inf, neighbour_factor=1.5,
                        city_factor=np.inf, consecutive=3)
    assert none.empty


def test_city_rule_and_n_minus_1():
    # m1 at 150 vs city median of (150, 50, 50, 50) = 50 -> 150 > 2 * 50
    series = {"m1": [150, 150, 50, 150, 150, 150], "m2": QUIET, "m3": QUIET, "m4": QUIET}
    alerts = check_alerts(_readings(series), threshold=np.inf, neighbour_factor=np.inf,
                          city_factor=2.0, consecutive=3)
    # the first run has 2 readings (no alert), the second 3 (alert)
    assert len(alerts) == 1
    assert alerts.iloc[0]["start"] == TIMES[3]
    assert alerts.iloc[0]["rules"] == "city"
    assert alerts.iloc[0]["city_medians"] == "50;50;50"


def test_gap_breaks_a_run_and_reference_sites_are_ignored():
    series = {"m1": [200, 200, 200, 50, 50, 50], "ref": [300.0] * 6, "m2": QUIET}
    frame = _readings(series, kind={"ref": "reference"})
    frame = frame[~((frame["site_id"] == "m1") & (frame["time"] == TIMES[1]))]  # m1 misses 00:01
    alerts = check_alerts(frame, threshold=150, neighbour_factor=np.inf, city_factor=np.inf,
                          consecutive=2, max_gap="1min")
    assert alerts.empty  # 00:00 and 00:02 are 2 min apart: two runs of one reading
    joined = check_alerts(frame, threshold=150, neighbour_factor=np.inf, city_factor=np.inf,
                          consecutive=2)
    assert joined["site_id"].tolist() == ["m1"]  # the reference station never alerts


def test_units_are_converted():
    frame = _readings({"m1": [0.2, 0.2, 0.2, 0.05, 0.05, 0.05], "m2": [0.05] * 6})
    frame["unit"] = "mg/m3"  # 0.2 mg/m3 = 200 ug/m3
    alerts = check_alerts(frame, threshold=150, neighbour_factor=np.inf, city_factor=np.inf,
                          consecutive=3)
    assert alerts["values"].tolist() == ["200;200;200"]


def test_bad_arguments():
    with pytest.raises(NotFoundError, match="unknown alert rule set 'x'; valid: sensitive, "
                                            "sourcegrid_default"):
        check_alerts(_readings({"m1": QUIET}), rule_set="x")
    with pytest.raises(ValueError, match="consecutive must be a whole number >= 1, got 0"):
        check_alerts(_readings({"m1": QUIET}), consecutive=0)


def test_missing_columns_are_reported():
    from sourcegrid.errors import InputError

    frame = _readings({"m1": QUIET}).drop(columns=["lon", "lat"])
    with pytest.raises(InputError, match="table 'observations' lacks 2 column") as caught:
        check_alerts(frame)
    assert caught.value.frame["column"].tolist() == ["lon", "lat"]
