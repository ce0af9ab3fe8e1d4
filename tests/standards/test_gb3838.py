"""GB 3838-2002 Table 1: classes at each limit and just beyond it.

The expected limits below are typed from GB 3838-2002 Table 1 (基本项目标准限值,
classes I..V, mg/L) independently of the module's constant, and every class is
checked at its limit (in the class) and just beyond it (next worse class with a
different limit, 劣V beyond V).
"""

from __future__ import annotations

import numpy as np
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.quality.water import exceedance_multiple, water_class
from sourcegrid.standards.gb3838 import (
    ASSESSMENT_PARAMETERS,
    CLASS_LABELS,
    TABLE_1,
    canonical_parameter,
    parameter_limits,
)

# GB 3838-2002 Table 1, upper-bound items, classes I..V (rivers).
UPPER = {
    "CODMn": (2, 4, 6, 10, 15),
    "COD": (15, 15, 20, 30, 40),
    "BOD5": (3, 3, 4, 6, 10),
    "NH3-N": (0.15, 0.5, 1.0, 1.5, 2.0),
    "TP": (0.02, 0.1, 0.2, 0.3, 0.4),
    "TN": (0.2, 0.5, 1.0, 1.5, 2.0),
    "Cu": (0.01, 1.0, 1.0, 1.0, 1.0),
    "Zn": (0.05, 1.0, 1.0, 2.0, 2.0),
    "F": (1.0, 1.0, 1.0, 1.5, 1.5),
    "Se": (0.01, 0.01, 0.01, 0.02, 0.02),
    "As": (0.05, 0.05, 0.05, 0.1, 0.1),
    "Hg": (0.00005, 0.00005, 0.0001, 0.001, 0.001),
    "Cd": (0.001, 0.005, 0.005, 0.005, 0.01),
    "Cr6+": (0.01, 0.05, 0.05, 0.05, 0.1),
    "Pb": (0.01, 0.01, 0.05, 0.05, 0.1),
    "CN": (0.005, 0.05, 0.2, 0.2, 0.2),
    "volatile_phenol": (0.002, 0.002, 0.005, 0.01, 0.1),
    "petroleum": (0.05, 0.05, 0.05, 0.5, 1.0),
    "LAS": (0.2, 0.2, 0.2, 0.3, 0.3),
    "sulfide": (0.05, 0.1, 0.2, 0.5, 1.0),
    "fecal_coliform": (200, 2000, 10000, 20000, 40000),
}
# Lakes and reservoirs: total phosphorus (Table 1 item 8, 湖、库).
TP_LAKE = (0.01, 0.025, 0.05, 0.1, 0.2)


def _cases():
    for name, limits in UPPER.items():
        for limit in limits:
            best = limits.index(limit) + 1  # classes sharing a limit: the better one
            worse = [k + 1 for k, s in enumerate(limits) if s > limit]
            yield name, limit, best, (worse[0] if worse else 6)


@pytest.mark.parametrize(("name", "limit", "at", "above"), list(_cases()))
def test_upper_bound_class_at_and_just_above_each_limit(name, limit, at, above):
    assert water_class(name, [limit])[0] == at
    assert water_class(name, [limit * (1 + 1e-9)])[0] == above


def test_table_matches_the_standard():
    for name, limits in UPPER.items():
        assert TABLE_1[name].limits("river") == pytest.approx(limits), name
    assert TABLE_1["DO"].limits("river") == pytest.approx((7.5, 6, 5, 3, 2))
    assert TABLE_1["TP"].limits("lake") == pytest.approx(TP_LAKE)
    assert TABLE_1["pH"].river[0] == (6.0, 9.0)
    # 23 items of Table 1 besides water temperature; 21 assessed by default (no TN,
    # no fecal coliform; 评价办法)
    assert len(TABLE_1) == 23
    assert len(ASSESSMENT_PARAMETERS) == 21
    assert "TN" not in ASSESSMENT_PARAMETERS and "fecal_coliform" not in ASSESSMENT_PARAMETERS


@pytest.mark.parametrize(
    ("value", "expected"),
    [(8.0, 1), (7.5, 1), (7.49, 2), (6.0, 2), (5.99, 3), (5.0, 3), (4.99, 4), (3.0, 4),
     (2.99, 5), (2.0, 5), (1.99, 6), (0.0, 6)],
)
def test_dissolved_oxygen_is_a_lower_bound(value, expected):
    assert water_class("DO", [value])[0] == expected


def test_dissolved_oxygen_saturation_90_percent_is_class_i():
    # Table 1 item 3: 饱和率90%（或7.5）
    assert list(water_class("DO", [7.0, 7.0, 7.0], do_saturation=[90.0, 89.9, np.nan])) == [
        1, 2, 2]


@pytest.mark.parametrize(
    ("value", "river", "lake"),
    [(0.01, 1, 1), (0.011, 1, 2), (0.025, 2, 2), (0.026, 2, 3), (0.05, 2, 3), (0.051, 2, 4),
     (0.1, 2, 4), (0.11, 3, 5), (0.2, 3, 5), (0.21, 4, 6), (0.3, 4, 6), (0.31, 5, 6),
     (0.4, 5, 6), (0.41, 6, 6)],
)
def test_total_phosphorus_river_and_lake(value, river, lake):
    assert water_class("TP", [value], "river")[0] == river
    assert water_class("TP", [value], "lake")[0] == lake


def test_ph_inside_6_to_9_is_class_i_outside_worse_than_v():
    assert list(water_class("pH", [5.99, 6.0, 7.5, 9.0, 9.01])) == [6, 1, 1, 1, 6]


def test_missing_value_has_no_class():
    assert list(water_class("COD", [np.nan, 10.0])) == [0, 1]


def test_class_labels():
    assert CLASS_LABELS[6] == "劣V"
    assert [CLASS_LABELS[k] for k in range(1, 6)] == ["I", "II", "III", "IV", "V"]


def test_exceedance_multiple_over_class_iii():
    # NH3-N III = 1.0: 1.5 -> (1.5-1)/1 = 0.5; 0.9 is within III -> NaN
    assert exceedance_multiple("NH3-N", [1.5, 0.9])[0] == pytest.approx(0.5)
    assert np.isnan(exceedance_multiple("NH3-N", [1.5, 0.9])[1])
    # TP lake III = 0.05: 0.1 -> 1.0; river III = 0.2: 0.1 is within
    assert exceedance_multiple("TP", [0.1], "lake")[0] == pytest.approx(1.0)
    assert np.isnan(exceedance_multiple("TP", [0.1], "river")[0])
    # DO and pH: the 评价办法 computes no multiple
    assert np.isnan(exceedance_multiple("DO", [1.0])[0])
    assert np.isnan(exceedance_multiple("pH", [10.0])[0])


def test_aliases_and_unknown_names():
    assert canonical_parameter("氨氮") == "NH3-N"
    assert canonical_parameter("总磷") == "TP"
    assert canonical_parameter("溶解氧") == "DO"
    assert canonical_parameter("高锰酸盐指数") == "CODMn"
    assert canonical_parameter("NH3N") == "NH3-N"
    assert canonical_parameter("氨氮(mg/L)") == "NH3-N"
    assert canonical_parameter("chlorophyll") is None
    with pytest.raises(NotFoundError, match="unknown GB 3838-2002 Table 1 item 'chlorophyll'; "
                                            "valid: .*NH3-N"):
        parameter_limits("chlorophyll")
    with pytest.raises(NotFoundError, match="unknown waterbody 'sea'; valid: lake, river"):
        water_class("TP", [0.1], "sea")
