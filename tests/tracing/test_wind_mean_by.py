"""Hourly wind means: scalar speed, vector direction (review item 1.10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.tracing.wind import mean_wind_by


def test_directions_across_north_average_to_north_not_south():
    table = mean_wind_by(["a", "a", "b", "b", "c"], [2.0, 2.0, 1.0, 3.0, 0.0],
                         [350.0, 10.0, 90.0, 270.0, 45.0])
    # a: u = 2 sin350° + 2 sin10° = 0, v = 2·2 cos10° / 2 → direction 0°, |v̄| = 2 cos10°
    assert table["key"].tolist() == ["a", "b", "c"]
    assert table["wind_dir"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert table["vector_speed"].iloc[0] == pytest.approx(2 * np.cos(np.radians(10.0)))
    assert table["wind_speed"].tolist()[:2] == [2.0, 2.0]   # scalar mean speeds
    # b: (1 from E) + (3 from W): ū = (1 − 3)/2 = −1 → from the west, 270°, |v̄| = 1
    assert table["wind_dir"].iloc[1] == pytest.approx(270.0)
    assert table["vector_speed"].iloc[1] == pytest.approx(1.0)
    # c: calm, no direction
    assert np.isnan(table["wind_dir"].iloc[2])


def test_missing_readings_are_left_out_and_times_stay_times():
    time = pd.Series(pd.to_datetime(["2017-01-01T00:10Z", "2017-01-01T00:40Z",
                                     "2017-01-01T01:10Z"], utc=True)).dt.floor("h")
    table = mean_wind_by(time, [1.0, np.nan, 2.0], [20.0, 200.0, 30.0])
    assert str(table["key"].dtype) == "datetime64[ns, UTC]"
    assert table["wind_dir"].tolist() == pytest.approx([20.0, 30.0])
    assert table["wind_speed"].tolist() == [1.0, 2.0]


def test_weights_and_several_keys():
    # unit A, one hour: 2 m/s from 90° (weight 3) and 2 m/s from 0° (weight 1):
    # ū = (3·2 + 0)/4 = 1.5, v̄ = (0 + 2)/4 = 0.5 → atan2(1.5, 0.5) = 71.565°;
    # speed (3·2 + 1·2)/4 = 2; unit B: calm (0 m/s) → no direction, speed 0
    keys = pd.DataFrame({"unit": ["A", "A", "B"], "hour": [1, 1, 1]})
    table = mean_wind_by(keys, [2.0, 2.0, 0.0], [90.0, 0.0, 123.0], weights=[3.0, 1.0, 1.0])
    assert list(table.columns) == ["unit", "hour", "wind_speed", "wind_dir", "vector_speed"]
    assert table["unit"].tolist() == ["A", "B"]
    assert table["wind_dir"].iloc[0] == pytest.approx(np.degrees(np.arctan2(1.5, 0.5)))
    assert table["wind_speed"].iloc[0] == pytest.approx(2.0)
    assert table["vector_speed"].iloc[0] == pytest.approx(np.hypot(1.5, 0.5))
    assert np.isnan(table["wind_dir"].iloc[1]) and table["wind_speed"].iloc[1] == 0.0


def test_zero_weights_are_left_out():
    table = mean_wind_by(["h", "h"], [1.0, 5.0], [10.0, 200.0], weights=[1.0, 0.0])
    assert table["wind_dir"].iloc[0] == pytest.approx(10.0)
    assert table["wind_speed"].iloc[0] == pytest.approx(1.0)
