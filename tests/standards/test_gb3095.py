"""GB 3095 limits and validity rules, against values typed from the standards.

GB 3095-2026 Table 1 (p. 3) and Table 2 (p. 4) are read from the PDF; GB 3095-2012
values are the published Table 1/2 values (the 2012 text is not shipped here).
"""

from __future__ import annotations

import datetime as dt

import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import gb3095


def test_2012_grade_2():
    table = gb3095.limits("2012", grade=2)
    assert table[("PM2.5", "annual")] == 35
    assert table[("PM2.5", "24h")] == 75
    assert table[("PM10", "annual")] == 70
    assert table[("PM10", "24h")] == 150
    assert table[("SO2", "1h")] == 500
    assert table[("O3", "8h")] == 160
    assert table[("CO", "24h")] == 4


def test_2026_transition_until_2030_then_final():
    # GB 3095-2026 Table 1, 过渡阶段浓度限值 二级 and 浓度限值 二级; §4.4
    transition = gb3095.limits("2026", grade=2, date=dt.date(2030, 12, 31))
    assert (transition[("PM2.5", "annual")], transition[("PM2.5", "24h")]) == (30, 60)
    assert (transition[("PM10", "annual")], transition[("PM10", "24h")]) == (60, 120)
    assert (transition[("SO2", "annual")], transition[("SO2", "24h")],
            transition[("SO2", "1h")]) == (60, 150, 500)
    assert (transition[("NO2", "annual")], transition[("NO2", "24h")]) == (40, 80)
    assert (transition[("NOx", "annual")], transition[("NOx", "24h")]) == (50, 100)  # Table 2 a, b
    assert gb3095.limits("2026") == transition  # no date: the transition phase
    final = gb3095.limits("2026", grade=2, date=dt.date(2031, 1, 1))
    assert (final[("PM2.5", "annual")], final[("PM2.5", "24h")]) == (25, 50)
    assert (final[("PM10", "annual")], final[("PM10", "24h")]) == (50, 100)
    assert (final[("SO2", "annual")], final[("SO2", "24h")], final[("SO2", "1h")]) == (20, 50, 150)
    assert (final[("NO2", "annual")], final[("NO2", "24h")], final[("NO2", "1h")]) == (30, 50, 200)
    assert (final[("NOx", "annual")], final[("NOx", "24h")]) == (40, 70)
    assert final[("O3", "8h")] == 160 and final[("CO", "1h")] == 10


def test_2026_grade_1():
    final = gb3095.limits("2026", grade=1, date=dt.date(2031, 1, 1))
    assert (final[("PM2.5", "annual")], final[("PM2.5", "24h")]) == (10, 25)
    assert (final[("PM10", "annual")], final[("PM10", "24h")]) == (20, 50)
    transition = gb3095.limits("2026", grade=1)
    assert (transition[("PM2.5", "annual")], transition[("PM2.5", "24h")]) == (15, 35)


def test_edition_by_date_and_one_limit():
    assert gb3095.limits(None, date=dt.date(2026, 2, 28))[("PM2.5", "24h")] == 75
    assert gb3095.limits(None, date=dt.date(2026, 3, 1))[("PM2.5", "24h")] == 60
    assert gb3095.limit("PM2.5", "annual", "2012") == 35


def test_validity_rules():
    # GB 3095-2026 Table 4 (same as GB 3095-2012 Table 4)
    assert gb3095.MIN_VALID_HOURS_24H == 20
    assert gb3095.MIN_VALID_HOURS_8H == 6
    assert (gb3095.MIN_VALID_DAYS_YEAR, gb3095.MIN_VALID_DAYS_MONTH,
            gb3095.MIN_VALID_DAYS_FEBRUARY) == (324, 27, 25)


def test_unknown_names():
    with pytest.raises(NotFoundError, match=r"unknown GB 3095 edition '1996'; valid: 2012, 2026"):
        gb3095.limits("1996")
    with pytest.raises(NotFoundError, match=r"unknown GB 3095 grade '3'; valid: 1, 2"):
        gb3095.limits("2012", grade=3)
    with pytest.raises(NotFoundError, match=r"unknown GB 3095 period for O3 '24h'; valid: 1h, 8h"):
        gb3095.limit("O3", "24h", "2012")
    with pytest.raises(NotFoundError, match=r"unknown GB 3095 pollutant 'PM1'"):
        gb3095.limit("PM1", "24h", "2012")
    with pytest.raises(NotFoundError, match=r"give an edition or a date"):
        gb3095.limits(None)
