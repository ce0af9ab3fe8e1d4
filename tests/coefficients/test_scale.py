"""Scale tiers (规模等级): parsing, edges, tier lookup (DESIGN.md "Scale tiers")."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcegrid.coefficients import (
    AmbiguousTierError,
    find_tier,
    overlapping_tiers,
    parse_scale,
    tier_contains,
)

NAN = math.nan


@pytest.mark.parametrize(("label", "bounds"), [
    ("≥300MW", (300.0, True, NAN, False, "MW")),
    (">300MW", (300.0, False, NAN, False, "MW")),
    (">=300MW", (300.0, True, NAN, False, "MW")),
    ("<10万吨/年", (NAN, False, 10.0, False, "万吨/年")),
    ("≤10万吨/年", (NAN, False, 10.0, True, "万吨/年")),
    ("<=10万吨/年", (NAN, False, 10.0, True, "万吨/年")),
    ("＜100MW", (NAN, False, 100.0, False, "MW")),
    ("100-300MW", (100.0, True, 300.0, False, "MW")),
    ("100～300MW", (100.0, True, 300.0, False, "MW")),
    ("100~300MW", (100.0, True, 300.0, False, "MW")),
    ("100MW-300MW", (100.0, True, 300.0, False, "MW")),
    ("10万吨/年以上", (10.0, True, NAN, False, "万吨/年")),
    ("10万吨/年及以下", (NAN, False, 10.0, True, "万吨/年")),
    ("35蒸吨/小时以上", (35.0, True, NAN, False, "蒸吨/小时")),
    ("100MW≤X<300MW", (100.0, True, 300.0, False, "MW")),
    ("0.5 - 2.5 万吨/年", (0.5, True, 2.5, False, "万吨/年")),
])
def test_labels_by_hand(label, bounds):
    tier = parse_scale(label)
    got = (tier.min, tier.min_inclusive, tier.max, tier.max_inclusive, tier.unit)
    for value, expected in zip(got, bounds, strict=True):
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(value)
        else:
            assert value == expected
    assert tier.label == label


@pytest.mark.parametrize("label", ["", "所有规模", "所有", None, "  "])
def test_any_size(label):
    tier = parse_scale(label)
    assert tier.is_any and tier.unit == "" and tier.key == ""
    assert tier.contains(1e9) and tier.contains(0.0)


@pytest.mark.parametrize(("label", "message"), [
    ("≥MW", "cannot read scale tier"),
    ("大型", "cannot read scale tier"),
    ("≥300", "has no unit"),
    ("300-100MW", "lower bound 300 is not below upper bound 100"),
    ("≥300兆兆", "unknown unit"),
    ("100MW-300万千瓦", "two different units"),
])
def test_bad_labels(label, message):
    with pytest.raises(ValueError, match=message):
        parse_scale(label)


def test_edges_by_hand():
    # DESIGN.md: '≥a' includes a, '>a' excludes it, '<b' excludes b, '≤b' includes it,
    # 'a-b' includes a and excludes b.
    assert parse_scale("≥300MW").contains(300) and not parse_scale(">300MW").contains(300)
    assert parse_scale(">300MW").contains(300.001)
    assert not parse_scale("<100MW").contains(100) and parse_scale("≤100MW").contains(100)
    tier = parse_scale("100-300MW")
    assert tier.contains(100) and tier.contains(299.99) and not tier.contains(300)
    assert not tier.contains(99.99)
    # capacity in another unit: 20 万千瓦 = 200 MW
    assert tier.contains(20, "万千瓦") and not tier.contains(30, "万千瓦")


def test_key_is_the_same_for_equal_tiers():
    assert parse_scale("≥300MW").key == parse_scale(">=300 MW").key == "[300,inf) MW"
    assert parse_scale("100～300MW").key == parse_scale("100-300MW").key


UNITS = ["MW", "万吨/年", "吨/年", "蒸吨/小时", "万千瓦", "t/h"]
positive = st.integers(min_value=0, max_value=10**6).map(lambda n: n / 10)


@settings(deadline=None)  # the first pint parse of a unit can be slow on a busy machine
@given(a=positive, width=st.integers(min_value=1, max_value=10**6).map(lambda n: n / 10),
       unit=st.sampled_from(UNITS), dash=st.sampled_from(["-", "～", "~"]))
def test_range_edges(a, width, unit, dash):
    b = float(f"{a + width:.1f}")
    tier = parse_scale(f"{a!r}{dash}{b!r}{unit}")
    assert (tier.min, tier.max, tier.unit) == (a, b, unit)
    inside = tier_contains(tier.min, tier.min_inclusive, tier.max, tier.max_inclusive,
                           np.array([a, np.nextafter(a, -np.inf), b, np.nextafter(b, -np.inf),
                                     (a + b) / 2]))
    assert inside.tolist() == [True, False, False, True, True]


@settings(deadline=None)  # the first pint parse of a unit can be slow on a busy machine
@given(a=positive, unit=st.sampled_from(UNITS),
       op=st.sampled_from(["≥", ">=", ">", "＞", "≤", "<=", "<", "＜"]))
def test_one_sided_edges(a, unit, op):
    tier = parse_scale(f"{op}{a!r}{unit}")
    below, above = np.nextafter(a, -np.inf), np.nextafter(a, np.inf)
    got = tier_contains(tier.min, tier.min_inclusive, tier.max, tier.max_inclusive,
                        np.array([below, a, above])).tolist()
    expected = {"≥": [False, True, True], ">=": [False, True, True], ">": [False, False, True],
                "＞": [False, False, True], "≤": [True, True, False], "<=": [True, True, False],
                "<": [True, False, False], "＜": [True, False, False]}[op]
    assert got == expected


def test_tier_contains_vectorized_and_missing_capacity():
    got = tier_contains(np.array([300.0, np.nan, 100.0, np.nan]),
                        np.array([True, False, True, False]),
                        np.array([np.nan, 100.0, 300.0, np.nan]),
                        np.array([False, False, False, False]),
                        np.array([300.0, 100.0, np.nan, np.nan]))
    # a missing capacity is only in the any-size tier
    assert got.tolist() == [True, False, False, True]


def test_tier_contains_on_ibis_matches_numpy():
    frame = pd.DataFrame({
        "scale_min": [300.0, np.nan, 100.0, 100.0, np.nan],
        "scale_min_inclusive": [True, False, True, True, False],
        "scale_max": [np.nan, 100.0, 300.0, 300.0, np.nan],
        "scale_max_inclusive": [False, False, False, False, False],
        "capacity": [300.0, 100.0, 300.0, 100.0, 5.0],
    })
    table = ibis.memtable(frame)
    expr = tier_contains(table.scale_min, table.scale_min_inclusive, table.scale_max,
                         table.scale_max_inclusive, table.capacity)
    got = ibis.duckdb.connect().execute(table.mutate(inside=expr).order_by(table.capacity.desc())
                                        .select("scale_min", "scale_max", "capacity", "inside"))
    expected = tier_contains(frame.scale_min, frame.scale_min_inclusive, frame.scale_max,
                             frame.scale_max_inclusive, frame.capacity)
    by_row = frame.assign(inside=expected)
    merged = got.merge(by_row, on=["scale_min", "scale_max", "capacity"], suffixes=("", "_np"))
    assert len(merged) == 5
    assert (merged.inside == merged.inside_np).all()
    assert merged.inside.tolist().count(True) == 3  # 300 in ≥300, 100 in 100-300, 5 in any


def tiers(*labels: str) -> pd.DataFrame:
    rows = []
    for label in labels:
        tier = parse_scale(label)
        rows.append({"scale": label, "scale_min": tier.min,
                     "scale_min_inclusive": tier.min_inclusive, "scale_max": tier.max,
                     "scale_max_inclusive": tier.max_inclusive, "scale_unit": tier.unit})
    return pd.DataFrame(rows, index=[f"t{i}" for i in range(len(labels))])


def test_find_tier():
    power = tiers("≥300MW", "100-300MW", "<100MW")
    assert find_tier(power, 300, "MW") == "t0"
    assert find_tier(power, 299.9, "MW") == "t1"
    assert find_tier(power, 100, "MW") == "t1"
    assert find_tier(power, 99, "MW") == "t2"
    assert find_tier(power, 35, "万千瓦") == "t0"  # 35 万千瓦 = 350 MW
    assert find_tier(power, 300, "吨/年") is None  # not convertible to MW: in no tier
    with_any = tiers("≥300MW", "所有规模")
    assert find_tier(with_any, 50, "MW") == "t1"
    assert find_tier(with_any, 500, "MW") == "t0"


def test_find_tier_ambiguous():
    overlapping = tiers("10万吨/年以上", "10万吨/年以下", "≥50万吨/年")
    with pytest.raises(AmbiguousTierError,
                       match=r"capacity 10 万吨/年 falls in 2 scale tiers \('10万吨/年以上', "
                             r"'10万吨/年以下'\)"):
        find_tier(overlapping, 10, "万吨/年")
    with pytest.raises(AmbiguousTierError, match="falls in 2 scale tiers"):
        find_tier(overlapping, 600_000, "吨/年")
    assert find_tier(overlapping, 5, "万吨/年") == "t1"


def library_rows(*labels: str) -> pd.DataFrame:
    frame = tiers(*labels).reset_index(drop=True)
    for column in ["industry_code", "section", "product", "raw_material", "process",
                   "pollutant", "treatment"]:
        frame[column] = "x"
    frame["coefficient_row"] = range(2, 2 + len(frame))
    return frame


def test_overlapping_tiers():
    assert overlapping_tiers(library_rows("≥300MW", "100-300MW", "<100MW", "所有规模")).empty
    found = overlapping_tiers(library_rows("10万吨/年以上", "10万吨/年以下", "<1万吨/年",
                                           "<100000吨/年"))
    messages = sorted(found["message"])
    assert messages == sorted([
        # 以上/以下 both include 10 万吨/年
        "scale tiers '10万吨/年以上' and '10万吨/年以下' overlap: capacities in [10, 10] 万吨/年 "
        "fall in both",
        "scale tiers '10万吨/年以下' and '<1万吨/年' overlap: capacities in (-inf, 1) 万吨/年 "
        "fall in both",
        # 100000 吨/年 = 10 万吨/年
        "scale tiers '10万吨/年以下' and '<100000吨/年' overlap: capacities in (-inf, 10) 万吨/年 "
        "fall in both",
        "scale tiers '<100000吨/年' and '<1万吨/年' overlap: capacities in (-inf, 10000) 吨/年 "
        "fall in both",
    ])
    # '10万吨/年以上' and '<100000吨/年' meet at 10 万吨/年 without sharing it
    assert not ((found["scale_a"] == "10万吨/年以上") & (found["scale_b"] == "<100000吨/年")).any()
