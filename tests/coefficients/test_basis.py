"""The unit column: mass per unit of product or raw material."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcegrid.coefficients import parse_coefficient_unit
from sourcegrid.errors import UnitError

# kg per one unit of the numerator, by definition of the SI prefixes and 1 t = 1000 kg
MASS_IN_KG = {"克": 0.001, "千克": 1.0, "公斤": 1.0, "吨": 1000.0, "毫克": 1e-6, "g": 0.001,
              "kg": 1.0, "t": 1000.0}
ACTIVITY_UNITS = ["吨", "万吨", "立方米", "万立方米", "标立方米", "千瓦时", "万千瓦时", "平方米",
                  "件", "台", "辆", "t", "kWh", "m3"]
SUFFIXES = {"-产品": "product", "-原料": "raw_material", "产品": "product", "原料": "raw_material",
            "-product": "product", "-raw material": "raw_material", " product": "product",
            "－原料": "raw_material", "-raw_material": "raw_material"}


@pytest.mark.parametrize(("text", "mass", "activity", "basis", "factor"), [
    ("千克/吨-产品", "千克", "吨", "product", 1.0),
    ("克/吨-原料", "克", "吨", "raw_material", 0.001),
    ("千克/万立方米-原料", "千克", "万立方米", "raw_material", 1.0),
    ("吨/万吨-产品", "吨", "万吨", "product", 1000.0),
    ("kg/t-product", "kg", "t", "product", 1.0),
    ("千克/万千瓦时-产品", "千克", "万千瓦时", "product", 1.0),
    ("g/件-产品", "g", "件", "product", 0.001),
    ("千克/吨产品", "千克", "吨", "product", 1.0),
    ("kg/t-raw material", "kg", "t", "raw_material", 1.0),
    ("克/标立方米-原料", "克", "标立方米", "raw_material", 0.001),
])
def test_units_by_hand(text, mass, activity, basis, factor):
    unit = parse_coefficient_unit(text)
    assert (unit.mass_unit, unit.activity_unit, unit.basis) == (mass, activity, basis)
    assert unit.factor == pytest.approx(factor, rel=1e-12)
    assert unit.text == text


@settings(deadline=None)  # the first pint parse of a unit can be slow on a busy machine
@given(mass=st.sampled_from(sorted(MASS_IN_KG)), activity=st.sampled_from(ACTIVITY_UNITS),
       suffix=st.sampled_from(sorted(SUFFIXES)))
def test_units_property(mass, activity, suffix):
    unit = parse_coefficient_unit(f"{mass}/{activity}{suffix}")
    assert unit.mass_unit == mass
    assert unit.activity_unit == activity
    assert unit.basis == SUFFIXES[suffix]
    assert unit.factor == pytest.approx(MASS_IN_KG[mass], rel=1e-12)


@pytest.mark.parametrize(("text", "message"), [
    ("千克/吨", "names no basis"),
    ("", "empty unit"),
    ("千克-产品", "exactly one '/'"),
    ("千克/吨/年-产品", "exactly one '/'"),
    ("平方米/吨-产品", "numerator '平方米' is not a mass"),
    ("千克/斤斤-产品", "unknown unit '斤斤'"),
    ("/吨-产品", "lacks a mass or an activity unit"),
])
def test_bad_units(text, message):
    with pytest.raises(UnitError, match=message):
        parse_coefficient_unit(text)
