"""Grading by concentration (HJ 633 breakpoints) and by excess over the city mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.grading import concentration_level, excess_level, grade_cells


def test_concentration_levels_hj633_2012_pm25():
    # HJ 633-2012 Table 1, PM2.5 24-h: IAQI 50/100/150/200/300 at 35/75/115/150/250 ug/m3;
    # a bound belongs to the lower level (IAQI 50 at 35 is still 优).
    values = [0, 35, 35.1, 75, 75.1, 115, 150, 150.1, 250, 250.1, np.nan]
    assert concentration_level(values).tolist() == [1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 0]


def test_concentration_levels_hj633_2026_pm25_and_pm10():
    # HJ 633-2026 Table 3: PM2.5 IAQI 100 at 60 (75 in 2012), PM10 IAQI 100 at 120 (150 in 2012)
    assert concentration_level([70.0], "PM2.5", "hj633_2026").tolist() == [3]
    assert concentration_level([70.0], "PM2.5", "hj633_2012").tolist() == [2]
    assert concentration_level([130.0], "PM10", "hj633_2026").tolist() == [3]
    assert concentration_level([130.0], "PM10", "hj633_2012").tolist() == [2]


def test_level_bounds_are_the_printed_24h_breakpoints():
    # HJ 633-2012 Table 1 and HJ 633-2026 Table 3, 24-h columns at IAQI 50/100/150/200/300
    # (µg/m³; CO mg/m³), as printed in the standards.
    from sourcegrid.grid.grading import CONCENTRATION_LEVELS

    printed_2012 = {"PM2.5": (35, 75, 115, 150, 250), "PM10": (50, 150, 250, 350, 420),
                    "SO2": (50, 150, 475, 800, 1600), "NO2": (40, 80, 180, 280, 565),
                    "CO": (2, 4, 14, 24, 36)}
    printed_2026 = {**printed_2012, "PM2.5": (35, 60, 115, 150, 250),
                    "PM10": (50, 120, 250, 350, 420)}
    assert CONCENTRATION_LEVELS == {"hj633_2012": printed_2012, "hj633_2026": printed_2026}


def test_excess_levels_bounds_inclusive():
    # sourcegrid_default: 1.2 / 1.5 / 2.0
    assert excess_level([1.0, 1.2, 1.49, 1.5, 2.0, 3.0, np.nan]).tolist() == [0, 1, 1, 2, 3, 3, 0]
    assert excess_level([1.1, 1.3, 1.5], "strict").tolist() == [1, 2, 3]


def test_wrong_names_list_the_valid_ones():
    with pytest.raises(NotFoundError, match="unknown concentration level set 'hj633'; valid: "
                                            "hj633_2012, hj633_2026"):
        concentration_level([1.0], parameter_set="hj633")
    with pytest.raises(NotFoundError, match="unknown excess level set 'loose'; valid: "
                                            "sourcegrid_default, strict"):
        excess_level([1.0], "loose")
    with pytest.raises(NotFoundError, match="unknown pollutant of concentration level set "
                                            "'hj633_2012' 'TVOC'; valid: CO, NO2, PM10, PM2.5, SO2"):
        concentration_level([1.0], "TVOC")


def test_grade_cells_carries_the_evidence():
    cells = pd.DataFrame({"cell_id": ["a", "b"], "mean": [120.0, 30.0], "city_mean": [60.0, 60.0]})
    graded = grade_cells(cells).set_index("cell_id")
    # a: 120 in (115, 150] -> level 4 中度污染; ratio 120/60 = 2.0 >= 2.0 -> red
    assert graded.loc["a", "concentration_level"] == 4
    assert graded.loc["a", "concentration_category"] == "中度污染"
    assert (graded.loc["a", "concentration_lower"], graded.loc["a", "concentration_upper"]) == (115, 150)
    assert graded.loc["a", "excess_level"] == 3 and graded.loc["a", "excess_name"] == "red"
    assert graded.loc["a", "excess_bound"] == 2.0
    assert graded.loc["a", "grade_evidence"] == (
        "PM2.5 mean 120 in (115, 150] -> level 4 (hj633_2012); ratio 2 >= 2 -> red "
        "(sourcegrid_default)")
    # b: 30 in (0, 35] -> level 1 优; ratio 0.5 < 1.2 -> none
    assert graded.loc["b", "concentration_level"] == 1
    assert graded.loc["b", "excess_name"] == "none"
    assert graded.loc["b", "grade_evidence"] == (
        "PM2.5 mean 30 in (0, 35] -> level 1 (hj633_2012); ratio 0.5 < 1.2 -> none "
        "(sourcegrid_default)")


def test_grade_cells_top_level_and_missing_columns():
    graded = grade_cells(pd.DataFrame({"cell_id": ["c"], "mean": [300.0],
                                       "ratio_to_city_mean": [1.6]}))
    # 300 > 250 -> level 6 严重污染, upper bound inf; 1.6 in [1.5, 2.0) -> orange
    assert graded["concentration_level"].tolist() == [6]
    assert graded["concentration_category"].tolist() == ["严重污染"]
    assert graded["excess_name"].tolist() == ["orange"]
    assert "in (250, inf]" in graded["grade_evidence"].iloc[0]
    with pytest.raises(ValueError, match="cell_means lacks column\\(s\\): mean, ratio_to_city_mean "
                                         "or city_mean"):
        grade_cells(pd.DataFrame({"cell_id": ["c"]}))
