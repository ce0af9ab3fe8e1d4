"""Hotspot picking: Gi* by hand, ranking, persistence and the monthly lists.

Every expected value is worked out by hand in the comments.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.hotspots import (
    gi_star,
    gi_star_cells,
    month_bounds,
    monthly_lists,
    neighbourhood_kernel,
    persistence,
    rank_cells,
    to_utc,
    top_rows,
)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(abs(z) / math.sqrt(2.0))


# ----------------------------------------------------------------------------- Gi* by hand


def test_gi_star_by_hand_on_3x3():
    # x = 1..9, n = 9, mean 5, s^2 = (16+9+4+1+0+1+4+9+16)/9 = 60/9 (denominator n).
    values = np.arange(1.0, 10.0).reshape(3, 3)
    z, p = gi_star(values, 1, "square")
    # corner (0,0): band {1,2,4,5}, W = 4, sum 12, numerator 12 - 4*5 = -8,
    # denominator s*sqrt(4*(9-4)/8) = sqrt(60/9 * 2.5) = sqrt(150)/3 -> z = -24/sqrt(150)
    assert z[0, 0] == pytest.approx(-24 / math.sqrt(150), abs=1e-12)
    # edge (0,1): band {1..6}, W = 6, sum 21, numerator -9, denominator
    # sqrt(60/9 * 6*3/8) = sqrt(15) -> z = -9/sqrt(15)
    assert z[0, 1] == pytest.approx(-9 / math.sqrt(15), abs=1e-12)
    # opposite corner by symmetry: +24/sqrt(150)
    assert z[2, 2] == pytest.approx(24 / math.sqrt(150), abs=1e-12)
    # centre: its band is the whole grid, W = n, variance 0 -> undefined
    assert np.isnan(z[1, 1]) and np.isnan(p[1, 1])
    # p is one-sided of |z|, as esda's p_norm
    assert p[0, 0] == pytest.approx(_normal_sf(24 / math.sqrt(150)), abs=1e-12)


def test_gi_star_by_hand_with_a_hole():
    # x = 1..8 with (2,2) missing: n = 8, mean 4.5, s^2 = 2*(3.5^2+2.5^2+1.5^2+0.5^2)/8 = 5.25
    values = np.arange(1.0, 10.0).reshape(3, 3)
    values[2, 2] = np.nan
    z, p = gi_star(values, 1, "square")
    # (0,0): W = 4, sum 1+2+4+5 = 12, numerator 12 - 18 = -6,
    # denominator sqrt(5.25 * 4*4/7) = sqrt(12) -> z = -sqrt(3)
    assert z[0, 0] == pytest.approx(-math.sqrt(3), abs=1e-12)
    # (1,2) = 6: band {2,3,5,6,8} (9 is missing), W = 5, sum 24, numerator 24 - 22.5 = 1.5,
    # denominator sqrt(5.25 * 5*3/7) = sqrt(11.25) -> z = 1/sqrt(5)
    assert z[1, 2] == pytest.approx(1 / math.sqrt(5), abs=1e-12)
    assert np.isnan(z[2, 2]) and np.isnan(p[2, 2])
    assert p[0, 0] == pytest.approx(_normal_sf(math.sqrt(3)), abs=1e-12)


def test_gi_star_disk_radius_1_is_the_plus_shape():
    # disk r = 1: the cell and its 4 edge neighbours. Corner (0,0) of 1..9:
    # band {1,2,4}, W = 3, sum 7, numerator 7 - 15 = -8,
    # denominator sqrt(60/9 * 3*6/8) = sqrt(15) -> z = -8/sqrt(15)
    values = np.arange(1.0, 10.0).reshape(3, 3)
    z, _ = gi_star(values, 1, "disk")
    assert z[0, 0] == pytest.approx(-8 / math.sqrt(15), abs=1e-12)
    # centre: band {2,4,5,6,8}, W = 5, sum 25, numerator 0 -> z = 0
    assert z[1, 1] == pytest.approx(0.0, abs=1e-12)


def test_neighbourhood_kernels():
    assert neighbourhood_kernel(1, "square").sum() == 9
    assert neighbourhood_kernel(1, "disk").sum() == 5
    assert neighbourhood_kernel(1.5, "disk").sum() == 9  # sqrt(2) <= 1.5
    assert neighbourhood_kernel(2, "disk").sum() == 13
    assert neighbourhood_kernel(0, "square").sum() == 1


def test_gi_star_degenerate_and_bad_input():
    constant = np.full((4, 4), 7.0)
    z, p = gi_star(constant, 1)
    assert np.isnan(z).all() and np.isnan(p).all()
    single = np.full((3, 3), np.nan)
    single[1, 1] = 5.0
    assert np.isnan(gi_star(single, 1).z).all()
    with pytest.raises(NotFoundError, match="unknown neighbourhood shape 'circle'; valid: disk, square"):
        gi_star(constant, 1, "circle")
    with pytest.raises(ValueError, match="radius_cells must be a finite number >= 0"):
        gi_star(constant, -1)
    with pytest.raises(ValueError, match="values must be a 2-D array"):
        gi_star(np.ones(5), 1)


# ----------------------------------------------------------------------------- tables


def _hours(rows: list[tuple[str, int, int, str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["cell_id", "row", "col", "time", "pollutant", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


CELLS = pd.DataFrame({
    "cell_id": ["R0000C0000", "R0000C0001", "R0001C0000", "R0001C0001"],
    "city_code": ["130900", "130900", "130900", "131000"],
})


def _ranking_hours() -> pd.DataFrame:
    # 2026-03-01 in Beijing time is [2026-02-28T16:00Z, 2026-03-01T16:00Z).
    rows = []
    values = {"R0000C0000": (100.0, 80.0), "R0000C0001": (40.0, 60.0),
              "R0001C0000": (30.0, 30.0), "R0001C0001": (90.0, 70.0)}
    for cell, (first, second) in values.items():
        r, c = int(cell[1:5]), int(cell[6:])
        rows.append((cell, r, c, "2026-02-28T16:00Z", "PM2.5", first))   # first hour, in
        rows.append((cell, r, c, "2026-03-01T15:00Z", "PM2.5", second))  # last hour, in
        rows.append((cell, r, c, "2026-02-28T15:00Z", "PM2.5", 999.0))   # before: out
        rows.append((cell, r, c, "2026-03-01T16:00Z", "PM2.5", 999.0))   # end: excluded
        rows.append((cell, r, c, "2026-03-01T00:00Z", "PM10", 999.0))    # other pollutant
    return _hours(rows)


def test_rank_cells_top_n_with_city_ratio():
    # means: C0000 90, C0001 50, R1C0 30 (city 130900, mean 170/3), R1C1 80 (city 131000)
    result = rank_cells(_ranking_hours(), "2026-03-01", "2026-03-02", top=2, cells=CELLS)
    assert list(result["cell_id"]) == ["R0000C0000", "R0001C0001"]
    assert list(result["rank"]) == [1, 2]
    assert list(result["mean"]) == [90.0, 80.0]
    assert list(result["hours"]) == [2, 2]
    assert result["city_mean"].tolist() == pytest.approx([170 / 3, 80.0])
    assert result["ratio_to_city_mean"].tolist() == pytest.approx([90 / (170 / 3), 1.0])


def test_rank_cells_top_percent_and_by_city():
    hours = _ranking_hours()
    # 50 % of 4 cells = 2
    assert len(rank_cells(hours, "2026-03-01", "2026-03-02", top_percent=50)) == 2
    # 10 % of 4 = 0.4 -> ceil -> 1
    assert len(rank_cells(hours, "2026-03-01", "2026-03-02", top_percent=10)) == 1
    # top 1 per city: 130900 -> R0000C0000 (90), 131000 -> R0001C0001 (80)
    result = rank_cells(ibis.memtable(hours), "2026-03-01", "2026-03-02", top=1, cells=CELLS,
                        by_city=True)
    assert list(zip(result["city_code"], result["cell_id"], strict=True)) == [
        ("130900", "R0000C0000"), ("131000", "R0001C0001")]
    # without cells: one city '' whose mean is (90+50+30+80)/4 = 62.5
    alone = rank_cells(hours, "2026-03-01", "2026-03-02", top=1)
    assert alone["city_code"].tolist() == [""]
    assert alone["ratio_to_city_mean"].iloc[0] == pytest.approx(90 / 62.5)


def test_rank_cells_needs_exactly_one_rule():
    with pytest.raises(ValueError, match="give exactly one of top"):
        rank_cells(_ranking_hours(), "2026-03-01", "2026-03-02")
    with pytest.raises(ValueError, match=r"top_percent must be in \(0, 100\], got 150"):
        rank_cells(_ranking_hours(), "2026-03-01", "2026-03-02", top_percent=150)


def test_time_bounds_are_beijing_time():
    assert to_utc("2026-03-01") == pd.Timestamp("2026-02-28T16:00Z")
    assert to_utc("2026-03-01T08:00+08:00") == pd.Timestamp("2026-03-01T00:00Z")
    start, end = month_bounds("2026-03", -12)
    assert (start, end) == (pd.Timestamp("2025-02-28T16:00Z"), pd.Timestamp("2025-03-31T16:00Z"))


def test_gi_star_cells_places_means_on_the_grid():
    # period means on a 3x3 grid are 1..9 (one hour each), so z equals the by-hand 3x3 case
    rows = [(f"R{r:04d}C{c:04d}", r, c, "2026-03-01T00:00Z", "PM2.5", float(3 * r + c + 1))
            for r in range(3) for c in range(3)]
    result = gi_star_cells(_hours(rows), "2026-03-01", "2026-03-02", radius_cells=1)
    by_cell = result.set_index("cell_id")
    assert by_cell.loc["R0000C0000", "z"] == pytest.approx(-24 / math.sqrt(150), abs=1e-12)
    assert by_cell.loc["R0002C0002", "z"] == pytest.approx(24 / math.sqrt(150), abs=1e-12)
    # z = 1.9596 > 1.96? no: two-sided p = 2 * sf(1.9596) = 0.05004 > 0.05 -> not a spot
    assert by_cell.loc["R0002C0002", "spot"] == ""
    assert by_cell.loc["R0002C0002", "p_two_sided"] == pytest.approx(
        2 * _normal_sf(24 / math.sqrt(150)), abs=1e-12)
    # with alpha 0.1 the two far corners are spots
    loose = gi_star_cells(_hours(rows), "2026-03-01", "2026-03-02", radius_cells=1,
                          alpha=0.1).set_index("cell_id")
    assert loose.loc["R0002C0002", "spot"] == "hot"
    assert loose.loc["R0000C0000", "spot"] == "cold"
    # sorted by z descending: the bottom edge cell has z = 9/sqrt(15) = 2.32 (the mirror of
    # (0,1)), above the corner's 1.96; two-sided p = 0.020 < 0.05 -> a hot spot
    assert result["cell_id"].iloc[0] == "R0002C0001"
    assert result["z"].iloc[0] == pytest.approx(9 / math.sqrt(15), abs=1e-12)
    assert result["spot"].iloc[0] == "hot"


def _persistence_hours() -> pd.DataFrame:
    # 3 cells x 4 hours (UTC 00-03 on 2026-03-01 = Beijing 08-11)
    table = {
        "A": [100, 100, 10, 100],
        "B": [50, 120, 20, 10],
        "C": [10, 10, 30, 10],
    }
    rows = []
    for k, (cell, values) in enumerate(table.items()):
        for hour, value in enumerate(values):
            rows.append((cell, 0, k, f"2026-03-01T{hour:02d}:00Z", "PM2.5", float(value)))
    return _hours(rows)


def test_persistence_above_a_threshold():
    # above 75: A 3 of 4 hours, B 1 of 4 (120), C 0 of 4
    result = persistence(_persistence_hours(), "2026-03-01T08:00", "2026-03-01T12:00",
                         threshold=75).set_index("cell_id")
    assert result.loc["A", "hot_hours"] == 3 and result.loc["A", "persistence"] == 0.75
    assert result.loc["B", "persistence"] == 0.25
    assert result.loc["C", "persistence"] == 0.0
    assert result.loc["A", "hours"] == 4


def test_persistence_top_percent_each_hour():
    # top 34 % of 3 cells = ceil(1.02) = 2 cells per hour:
    # h0: A100 B50 C10 -> A,B; h1: B120 A100 -> A,B; h2: C30 B20 A10 -> C,B; h3: A100 B10 C10
    # -> A, then B and C tie at rank 2 -> both hot.
    result = persistence(_persistence_hours(), "2026-03-01T08:00", "2026-03-01T12:00",
                         top_percent=34).set_index("cell_id")
    assert result.loc["A", "hot_hours"] == 3
    assert result.loc["B", "hot_hours"] == 4
    assert result.loc["C", "hot_hours"] == 2
    # top 33.4 % of 3 = ceil(1.002) = 2 as well; top 33 % = ceil(0.99) = 1 cell per hour:
    # h0 A, h1 B, h2 C, h3 A
    single = persistence(_persistence_hours(), "2026-03-01T08:00", "2026-03-01T12:00",
                         top_percent=33).set_index("cell_id")
    assert single["hot_hours"].to_dict() == {"A": 2, "B": 1, "C": 1}


def test_persistence_needs_one_rule():
    with pytest.raises(ValueError, match="give exactly one of threshold or top_percent"):
        persistence(_persistence_hours(), "2026-03-01", "2026-03-02")


def _monthly_hours() -> pd.DataFrame:
    # one reading per month, mid-month noon UTC; (2025-03, 2026-02, 2026-03)
    months = {
        "R0000C0000": (50.0, 80.0, 100.0),   # yoy +100 %, mom +25 %
        "R0000C0001": (60.0, 40.0, 90.0),    # yoy +50 %,  mom +125 %
        "R0001C0000": (None, 30.0, 20.0),    # no last year; mom -33.3 %
        "R0001C0001": (40.0, 50.0, 30.0),    # city 131000: yoy -25 %, mom -40 %
    }
    rows = []
    for cell, values in months.items():
        r, c = int(cell[1:5]), int(cell[6:])
        for month, value in zip(("2025-03", "2026-02", "2026-03"), values, strict=True):
            if value is not None:
                rows.append((cell, r, c, f"{month}-15T12:00Z", "PM2.5", value))
    # an hour at 2026-03-31T17:00Z is April in Beijing time: not in March
    rows.append(("R0000C0000", 0, 0, "2026-03-31T17:00Z", "PM2.5", 999.0))
    return _hours(rows)


def test_monthly_lists_by_hand():
    result = monthly_lists(_monthly_hours(), "2026-03", top=2, cells=CELLS)
    city = result[result["city_code"] == "130900"]
    highest = city[city["list"] == "highest"]
    assert list(highest["cell_id"]) == ["R0000C0000", "R0000C0001"]
    assert list(highest["mean"]) == [100.0, 90.0]
    yoy = city[city["list"] == "year_on_year"]
    assert list(yoy["cell_id"]) == ["R0000C0000", "R0000C0001"]
    assert yoy["change_percent"].tolist() == pytest.approx([100.0, 50.0])
    assert yoy["reference_mean"].tolist() == [50.0, 60.0]
    mom = city[city["list"] == "month_on_month"]
    assert list(mom["cell_id"]) == ["R0000C0001", "R0000C0000"]
    assert mom["change_percent"].tolist() == pytest.approx([125.0, 25.0])
    assert list(mom["rank"]) == [1, 2]
    other = result[(result["city_code"] == "131000") & (result["list"] == "month_on_month")]
    assert other["change_percent"].tolist() == pytest.approx([-40.0])
    # the cell with no March 2025 is not on the year-on-year list
    assert "R0001C0000" not in set(result.loc[result["list"] == "year_on_year", "cell_id"])


def test_naive_times_are_utc():
    hours = _ranking_hours()
    hours["time"] = hours["time"].dt.tz_localize(None)  # stored naive = UTC by convention
    result = rank_cells(hours, "2026-03-01", "2026-03-02", top=2, cells=CELLS)
    assert list(result["mean"]) == [90.0, 80.0]


def test_missing_columns_are_all_reported():
    from sourcegrid.errors import InputError

    hours = _ranking_hours().drop(columns=["value", "time"])
    with pytest.raises(InputError, match="table 'cell_hours' lacks 2 column\\(s\\)") as caught:
        rank_cells(hours, "2026-03-01", "2026-03-02", top=1)
    frame = caught.value.frame
    assert frame["column"].tolist() == ["time", "value"]
    assert set(frame["reason"]) == {"missing_column"}
    assert frame["message"].iloc[0] == ("a column 'time' (the table has: cell_id, row, col, "
                                        "pollutant)")


def test_top_rows():
    frame = pd.DataFrame({"z": [3.0, 2.0, 1.0, 0.0]})
    assert top_rows(frame, top=2)["z"].tolist() == [3.0, 2.0]
    assert top_rows(frame, top_percent=50)["z"].tolist() == [3.0, 2.0]
    assert top_rows(frame, top_percent=26)["z"].tolist() == [3.0, 2.0]  # ceil(1.04) = 2
    assert len(top_rows(frame)) == 4
