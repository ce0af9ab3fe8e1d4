"""HJ 663-2013 percentile rule and composite index parameters.

Expected percentiles are worked out by hand from HJ 663-2013 Appendix A:
k = 1 + (n - 1) * p%, s = integer part of k, m_p = X(s) + (X(s+1) - X(s)) * (k - s).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcegrid.errors import NotFoundError
from sourcegrid.quality.percentile import grouped_hj663_percentile, hj663_percentile
from sourcegrid.standards.hj663 import (
    COMPOSITE_POLLUTANTS,
    COMPOSITE_STATISTICS,
    composite_limits,
    composite_weights,
)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        # n=5, p=50: k = 1 + 4*0.5 = 3 -> X(3) = 3
        ([1, 2, 3, 4, 5], 50, 3.0),
        # n=4, p=90: k = 1 + 3*0.9 = 3.7, s = 3 -> 30 + (40-30)*0.7 = 37
        ([10, 20, 30, 40], 90, 37.0),
        # unsorted input; sorted 5, 10, 15; p=95: k = 1 + 2*0.95 = 2.9 -> 10 + 5*0.9 = 14.5
        ([15, 5, 10], 95, 14.5),
        # n=10 CO daily means 0.1..1.0; p=95: k = 1 + 9*0.95 = 9.55 -> 0.9 + 0.1*0.55 = 0.955
        ([0.1 * i for i in range(1, 11)], 95, 0.955),
        # n=10 O3 10..100; p=90: k = 1 + 9*0.9 = 9.1 -> 90 + 10*0.1 = 91
        ([10 * i for i in range(1, 11)], 90, 91.0),
        # n=1: k = 1 = n -> X(1)
        ([7], 90, 7.0),
        # p=100: k = n -> X(n); p=0: k = 1 -> X(1)
        ([3, 1, 2], 100, 3.0),
        ([3, 1, 2], 0, 1.0),
        # NaN is left out: n=2, p=50: k = 1.5 -> 1 + (3-1)*0.5 = 2
        ([np.nan, 1, 3], 50, 2.0),
    ],
)
def test_hj663_percentile_by_hand(values, p, expected):
    assert hj663_percentile(values, p) == pytest.approx(expected, abs=1e-12)


def test_percentile_of_empty_series_is_nan():
    assert math.isnan(hj663_percentile([], 90))
    assert math.isnan(hj663_percentile([np.nan], 90))


def test_percentile_outside_0_100_is_refused():
    with pytest.raises(ValueError, match=r"percentile p must be between 0 and 100 \[%\], got 120"):
        hj663_percentile([1, 2], 120)


def test_grouped_percentile_matches_the_hand_values():
    frame = pd.DataFrame({
        "site_id": ["A"] * 4 + ["B"] * 3 + ["C"],
        "value": [40, 10, 30, 20, 15, 5, 10, np.nan],
    })
    out = grouped_hj663_percentile(frame, ["site_id"], "value", 90).set_index("site_id")
    # A: 37 (above); B: sorted 5, 10, 15, k = 1 + 2*0.9 = 2.8 -> 10 + 5*0.8 = 14
    assert out.loc["A", "percentile"] == pytest.approx(37.0)
    assert out.loc["B", "percentile"] == pytest.approx(14.0)
    assert list(out["n"]) == [4, 3]
    assert "C" not in out.index  # no valid value, no percentile


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=40),
       st.floats(0, 100))
def test_hj663_rule_is_the_linear_order_statistic_interpolation(values, p):
    # HJ 663's rule is Hyndman-Fan type 7; numpy's 'linear' method is an independent
    # implementation of the same definition.
    expected = np.percentile(np.asarray(values), p, method="linear")
    assert hj663_percentile(values, p) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_composite_statistics_are_those_of_hj663():
    assert COMPOSITE_POLLUTANTS == ("SO2", "NO2", "PM10", "PM2.5", "CO", "O3")
    assert COMPOSITE_STATISTICS["CO"] == ("percentile", 95.0)
    assert COMPOSITE_STATISTICS["O3"] == ("percentile", 90.0)
    assert {COMPOSITE_STATISTICS[p][0] for p in ("SO2", "NO2", "PM10", "PM2.5")} == {"mean"}


def test_composite_limits_by_edition():
    # GB 3095-2012 Table 1 Grade II; CO 24-h, O3 daily max 8-h
    assert composite_limits("2012") == {"SO2": 60, "NO2": 40, "PM10": 70, "PM2.5": 35,
                                        "CO": 4, "O3": 160}
    # GB 3095-2026 Table 1, 过渡阶段浓度限值 Grade II (read from the PDF), until 2030-12-31
    assert composite_limits("2026", dt.date(2027, 6, 30)) == {
        "SO2": 60, "NO2": 40, "PM10": 60, "PM2.5": 30, "CO": 4, "O3": 160}
    # GB 3095-2026 Table 1, 浓度限值 Grade II, from 2031-01-01
    assert composite_limits("2026", dt.date(2031, 12, 31)) == {
        "SO2": 20, "NO2": 30, "PM10": 50, "PM2.5": 25, "CO": 4, "O3": 160}
    # no edition: the one in force on the date
    assert composite_limits(None, dt.date(2019, 12, 31))["PM2.5"] == 35


def test_unknown_edition_and_weights_list_the_valid_names():
    with pytest.raises(NotFoundError, match="unknown GB 3095 edition '2000'; valid: 2012, 2026"):
        composite_limits("2000")
    with pytest.raises(NotFoundError,
                       match="unknown composite index weighting 'heavy'; valid: equal, "
                             "ranking_2018"):
        composite_weights("heavy")
    assert composite_weights("ranking_2018") == {"SO2": 1, "NO2": 2, "PM10": 1, "PM2.5": 3,
                                                 "CO": 1, "O3": 2}
