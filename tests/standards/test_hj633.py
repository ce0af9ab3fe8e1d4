"""HJ 633 breakpoint tables, checked against values transcribed from the standards.

The rows below are typed from the PDFs (HJ 633-2012 Table 1 on p. 2; HJ 633-2026
Table 3 on p. 3), independently of the module's constants.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import hj633

# IAQI:            0    50   100   150   200   300   400   500
TABLE_1_2012 = {
    ("SO2", "24h"): [0, 50, 150, 475, 800, 1600, 2100, 2620],
    ("SO2", "1h"): [0, 150, 500, 650, 800],          # note (2): nothing above 800
    ("NO2", "24h"): [0, 40, 80, 180, 280, 565, 750, 940],
    ("NO2", "1h"): [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    ("PM10", "24h"): [0, 50, 150, 250, 350, 420, 500, 600],
    ("CO", "24h"): [0, 2, 4, 14, 24, 36, 48, 60],
    ("CO", "1h"): [0, 5, 10, 35, 60, 90, 120, 150],
    ("O3", "1h"): [0, 160, 200, 300, 400, 800, 1000, 1200],
    ("O3", "8h"): [0, 100, 160, 215, 265, 800],         # note (3): nothing above 800
    ("PM2.5", "24h"): [0, 35, 75, 115, 150, 250, 350, 500],
}
TABLE_3_2026 = dict(TABLE_1_2012)
TABLE_3_2026[("PM10", "24h")] = [0, 50, 120, 250, 350, 420, 500, 600]
TABLE_3_2026[("PM2.5", "24h")] = [0, 35, 60, 115, 150, 250, 350, 500]
IAQI = [0, 50, 100, 150, 200, 300, 400, 500]


@pytest.mark.parametrize(("edition", "table"), [("2012", TABLE_1_2012), ("2026", TABLE_3_2026)])
def test_tables_match_the_standard(edition, table):
    assert set(hj633.BREAKPOINTS[edition]) == set(table)
    for (pollutant, period), row in table.items():
        concentration, iaqi = hj633.breakpoints(edition, pollutant, period)
        assert concentration.tolist() == row
        assert iaqi.tolist() == IAQI[: len(row)]


def test_editions_differ_only_in_pm_daily():
    # DESIGN.md and the 2026 foreword: only PM10 and PM2.5 limits changed.
    changed = {key for key in TABLE_1_2012
               if hj633.BREAKPOINTS_2012[key] != hj633.BREAKPOINTS_2026[key]}
    assert changed == {("PM10", "24h"), ("PM2.5", "24h")}


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(NotFoundError, match=r"unknown HJ 633 edition '2020'; valid: 2012, 2026"):
        hj633.breakpoints("2020", "PM2.5", "24h")
    with pytest.raises(NotFoundError, match=r"unknown AQI pollutant 'PM1'; valid: CO, NO2, O3, "
                                            r"PM10, PM2.5, SO2"):
        hj633.breakpoints("2012", "PM1", "24h")
    with pytest.raises(NotFoundError, match=r"unknown averaging period for PM2.5 '1h'; valid: 24h"):
        hj633.breakpoints("2012", "PM2.5", "1h")


def test_edition_names_and_dates():
    assert hj633.check_edition(2026) == "2026"
    assert hj633.check_edition("HJ 633-2012") == "2012"
    # HJ 633-2026 cover: 2026-03-01 实施
    assert hj633.edition_for_date(dt.date(2026, 2, 28)) == "2012"
    assert hj633.edition_for_date(dt.date(2026, 3, 1)) == "2026"


def test_levels_and_colours():
    # HJ 633-2012 Table 2 / HJ 633-2026 Table 1; Table A.1 RGB
    assert hj633.CATEGORIES == ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")
    assert hj633.LEVEL_UPPER_AQI == (50, 100, 150, 200, 300)
    rgb = [(0, 228, 0), (255, 255, 0), (255, 126, 0), (255, 0, 0), (153, 0, 76), (126, 0, 35)]
    assert [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in hj633.COLOURS] == rgb
    assert np.isclose(hj633.SO2_1H_CEILING, 800) and np.isclose(hj633.O3_8H_CEILING, 800)
