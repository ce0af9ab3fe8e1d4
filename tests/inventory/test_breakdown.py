"""The inventory split over the cells of its sources, and its breakdowns, on a hand-made case.

Three sources: S1 a point wholly in cell A (SO2 100 kg, PM 40 kg), S2 an area with a
quarter in A, 0.65 in B and 0.10 outside the grid (PM 200 kg), S3 without a location
(SO2 50 kg, so it has no shares and counts whole, outside every cell). Cells A and B are
in townships T1 and T2 of county C1. Every expected number below is worked by hand.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.inventory.breakdown import breakdown, split_over_cells

INVENTORY = pd.DataFrame({
    "source_id": ["S1", "S1", "S2", "S3"],
    "pollutant": ["SO2", "PM", "PM", "SO2"],
    "emission": [100.0, 40.0, 200.0, 50.0],
    "sector": ["industry", "industry", "dust", "boiler"],
})
SHARES = pd.DataFrame({
    "source_id": ["S1", "S2", "S2", "S2"],
    "cell_id": ["A", "A", "B", None],
    "share": [1.0, 0.25, 0.65, 0.10],
    "industry_code": ["2511", "4710", "4710", "4710"],
})
CELLS = pd.DataFrame({"cell_id": ["A", "B"], "row": [0, 0], "col": [0, 1],
                      "county_code": ["C1", "C1"], "township_code": ["T1", "T2"]})


@pytest.fixture
def split():
    return split_over_cells(INVENTORY, SHARES, CELLS)


def _rows(frame, by):
    return [(row[by], row["pollutant"], pytest.approx(row["emission_kg"]), row["sources"])
            for row in frame.to_dict("records")]


def test_split_gives_each_cell_its_part_and_keeps_the_total(split):
    parts = {(r.source_id, r.pollutant, r.cell_id if isinstance(r.cell_id, str) else None):
             r.emission for r in split.itertuples()}
    # S2: 200 x 0.25 = 50 in A, 200 x 0.65 = 130 in B, 200 x 0.10 = 20 outside
    assert parts == {("S1", "SO2", "A"): 100.0, ("S1", "PM", "A"): 40.0,
                     ("S2", "PM", "A"): pytest.approx(50.0),
                     ("S2", "PM", "B"): pytest.approx(130.0),
                     ("S2", "PM", None): pytest.approx(20.0),
                     ("S3", "SO2", None): 50.0}
    # conserved: 100 + 40 + 200 + 50 = 390 kg
    assert split["emission"].sum() == pytest.approx(390.0)
    # S3 has no shares: share 1, no cell, no township
    s3 = split.loc[split["source_id"] == "S3"].iloc[0]
    assert s3["share"] == 1.0 and pd.isna(s3["township_code"])
    assert set(split.loc[split["cell_id"] == "B", "township_code"]) == {"T2"}


def test_breakdown_by_region_sector_pollutant_and_industry(split):
    # T2/PM 130 (S2); T1/SO2 100 (S1); T1/PM 40 + 50 = 90 (S1, S2); outside: SO2 50 (S3),
    # PM 20 (S2)
    assert _rows(breakdown(split, "region"), "region") == [
        ("T2", "PM", 130.0, 1), ("T1", "SO2", 100.0, 1), ("T1", "PM", 90.0, 2),
        ("(none)", "SO2", 50.0, 1), ("(none)", "PM", 20.0, 1)]
    assert _rows(breakdown(split, "sector"), "sector") == [
        ("dust", "PM", 200.0, 1), ("industry", "SO2", 100.0, 1), ("boiler", "SO2", 50.0, 1),
        ("industry", "PM", 40.0, 1)]
    # PM 40 + 200 = 240 (S1, S2); SO2 100 + 50 = 150 (S1, S3)
    by_pollutant = breakdown(split, "pollutant")
    assert list(by_pollutant.columns) == ["pollutant", "emission_kg", "sources"]
    assert by_pollutant.to_dict("list") == {"pollutant": ["PM", "SO2"],
                                            "emission_kg": [240.0, 150.0], "sources": [2, 2]}
    # S3 has no industry code (it has no shares): its own group
    assert _rows(breakdown(split, "industry"), "industry") == [
        ("4710", "PM", 200.0, 1), ("2511", "SO2", 100.0, 1), ("(none)", "SO2", 50.0, 1),
        ("2511", "PM", 40.0, 1)]


def test_breakdown_of_a_scope_counts_only_the_parts_in_its_cells(split):
    # cell A only: S1 SO2 100, S1 PM 40, S2 PM 50 -> SO2 100 (1 source), PM 90 (2 sources)
    in_a = split.loc[split["cell_id"] == "A"]
    assert breakdown(in_a, "pollutant").to_dict("list") == {
        "pollutant": ["SO2", "PM"], "emission_kg": [100.0, 90.0], "sources": [1, 2]}


def test_breakdown_of_nothing_and_a_wrong_name(split):
    empty = breakdown(split.iloc[0:0], "sector")
    assert empty.empty and list(empty.columns) == ["sector", "pollutant", "emission_kg",
                                                   "sources"]
    with pytest.raises(NotFoundError, match="unknown inventory breakdown 'county'; valid: "
                                            "industry, pollutant, region, sector"):
        breakdown(split, "county")
