"""Wind rose, polar table and CPF with openair's definitions (hand-worked)."""

from __future__ import annotations

import numpy as np
import pytest

from sourcegrid.tracing import wind


def test_sector_rounding_like_openair():
    # openair: wd <- angle * ceiling(wd / angle - 0.5); 15 -> 0 (N), 15.01 -> 30, 345 -> 0
    index = wind.sector_index([0, 14.9, 15.0, 15.01, 344.9, 345.0, 359.9, 360, np.nan], 30)
    assert list(index) == [0, 0, 0, 1, 11, 11, 0, 0, -1]
    assert list(wind.compass_name([0, 22.5, 90, 200])) == ["N", "NNE", "E", "SSW"]


def test_wind_rose_shares_and_calms():
    speed = [0.0, 0.0, 1.0, 3.0, 3.0, 7.0, 0.3, 2.0]
    direction = [10, 200, 0, 90, 95, 180, 270, 0]
    rose = wind.wind_rose(speed, direction, sector=90)
    assert rose["share"].sum() == pytest.approx(1.0)
    calm = rose[rose.speed_bin == "calm"].iloc[0]
    assert calm["count"] == 2  # default threshold 0: only speed == 0 is calm
    north = rose[(rose.sector_deg == 0)].set_index("speed_bin")["count"]
    assert north["0-2"] == 1 and north["2-4"] == 1  # 1.0 and 2.0 m/s (2 is in [2, 4))
    east = rose[(rose.sector_deg == 90)].set_index("speed_bin")["count"]
    assert east["2-4"] == 2
    assert rose.attrs["calm_share"] == pytest.approx(2 / 8)
    # a threshold of 0.5 makes speeds below 0.5 calm (openair calm.thresh)
    rose = wind.wind_rose(speed, direction, sector=90, calm_threshold=0.5)
    assert rose[rose.speed_bin == "calm"]["count"].iloc[0] == 3


def test_polar_table_means():
    concentration = [10, 20, 30, 40, np.nan]
    speed = [1, 1, 5, 5, 5]
    direction = [0, 10, 180, 170, 180]
    table = wind.polar_table(concentration, speed, direction, sector=90,
                             speed_breaks=(0, 4))
    north = table[(table.sector_deg == 0) & (table.speed_bin == "0-4")].iloc[0]
    assert north["value"] == pytest.approx(15.0) and north["count"] == 2
    south = table[(table.sector_deg == 180) & (table.speed_bin == "≥4")].iloc[0]
    assert south["value"] == pytest.approx(35.0) and south["count"] == 2


def test_cpf_percentile_strictly_above():
    # 8 readings 1..8; type-7 75th percentile: h = (8-1)*0.75 = 5.25 -> 6 + 0.25*(7-6) = 6.25
    concentration = np.arange(1, 9, dtype=float)
    direction = [0, 0, 0, 0, 90, 90, 180, 180]
    table = wind.cpf(concentration, direction, sector=90)
    assert table.attrs["lower"] == pytest.approx(6.25)
    result = table.set_index("sector_deg")
    assert result.loc[0.0, "cpf"] == 0.0 and result.loc[0.0, "n"] == 4
    assert result.loc[90.0, "cpf"] == 0.0            # 5, 6 are not above 6.25
    assert result.loc[180.0, "cpf"] == 1.0           # 7, 8
    assert np.isnan(result.loc[270.0, "cpf"])        # no reading
    # a value equal to the percentile is not counted (strictly above)
    equal = wind.cpf([1.0, 2.0, 3.0], [0, 0, 0], percentile=50, sector=90)
    assert equal.set_index("sector_deg").loc[0.0, "m"] == 1  # only 3 > 2


def test_cpf_interval_and_threshold():
    concentration = np.arange(1, 11, dtype=float)  # 1..10
    direction = [0] * 5 + [180] * 5
    # p25 = 1 + 0.25*9 = 3.25, p50 = 5.5: count 3.25 < C <= 5.5 -> 4, 5
    table = wind.cpf(concentration, direction, percentile=25, upper=50, sector=90)
    result = table.set_index("sector_deg")
    assert table.attrs["lower"] == pytest.approx(3.25) and table.attrs["upper"] == 5.5
    assert result.loc[0.0, "m"] == 2 and result.loc[180.0, "m"] == 0
    absolute = wind.cpf(concentration, direction, threshold=8.0, sector=90)
    assert absolute.set_index("sector_deg").loc[180.0, "cpf"] == pytest.approx(2 / 5)
    both = wind.cpf(concentration, direction, threshold=2.0, upper=4.0, sector=90)
    assert both.set_index("sector_deg").loc[0.0, "m"] == 2  # 3, 4


def test_cpf_bivariate_by_speed():
    table = wind.cpf([1, 2, 9, 10], [0, 0, 0, 0], wind_speed=[1, 1, 7, 7], percentile=50,
                     sector=90, speed_breaks=(0, 4))
    north = table[table.sector_deg == 0].set_index("speed_bin")
    assert north.loc["0-4", "cpf"] == 0.0 and north.loc["≥4", "cpf"] == 1.0


def test_bad_options_are_reported():
    with pytest.raises(wind.WindError, match="sector must divide 360"):
        wind.cpf([1], [0], sector=25)
    with pytest.raises(wind.WindError, match=r"percentile must be in \[0, 100\]"):
        wind.cpf([1], [0], percentile=120)
    with pytest.raises(wind.WindError, match="upper must be a percentile"):
        wind.cpf([1], [0], percentile=75, upper=50)
    with pytest.raises(wind.WindError, match="calm_threshold must be"):
        wind.wind_rose([1], [0], calm_threshold=-1)
