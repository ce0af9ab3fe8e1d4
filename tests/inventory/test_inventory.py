"""The inventory on the grid: sources table checks, defaults, allocation, size fractions.

Every expected number is worked by hand in the test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError, NotFoundError, WorkspaceError
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.inventory import (
    allocate_to_cells,
    build_inventory,
    import_inventory,
    inventory_summary,
    period_hours,
    size_fraction,
    tracing_candidates,
    validate_sources,
)
from sourcegrid.store import Workspace

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 4_250_000.0      # north-west corner of a 2 × 2 grid of 1 km cells


@pytest.fixture
def spec():
    return GridSpec(CRS, 1000.0, X0, Y0, 2, 2)


def lonlat(spec, x, y):
    lon, lat = spec.to_lonlat(np.asarray(x, float), np.asarray(y, float))
    return np.column_stack([lon, lat]).tolist()


def hand_sources(spec) -> pd.DataFrame:
    # P1: a point in the north-west cell (R0000C0000)
    (p_lon, p_lat), = lonlat(spec, [X0 + 300], [Y0 - 400])
    # L1: a horizontal line in row 0 from x0+500 to x0+1500: half in C0, half in C1
    line = {"type": "LineString", "coordinates": lonlat(spec, [X0 + 500, X0 + 1500],
                                                        [Y0 - 500, Y0 - 500])}
    # L2: a line in row 1 from x0+1500 to x0+2500: half in C1, half outside (east)
    outside = {"type": "LineString", "coordinates": lonlat(spec, [X0 + 1500, X0 + 2500],
                                                           [Y0 - 1500, Y0 - 1500])}
    # A1: a 1 km square centred on the grid's centre: a quarter in each cell
    square_x = [X0 + 500, X0 + 1500, X0 + 1500, X0 + 500, X0 + 500]
    square_y = [Y0 - 500, Y0 - 500, Y0 - 1500, Y0 - 1500, Y0 - 500]
    area = {"type": "Polygon", "coordinates": [lonlat(spec, square_x, square_y)]}
    return pd.DataFrame({
        "source_id": ["P1", "L1", "L2", "A1"],
        "name": ["plant", "road", "road out", "site"],
        "kind": ["point", "line", "line", "area"],
        "lon": [p_lon, np.nan, np.nan, np.nan], "lat": [p_lat, np.nan, np.nan, np.nan],
        "geometry": ["", json.dumps(line), json.dumps(outside), json.dumps(area)],
        "stack_height": [30.0, np.nan, np.nan, np.nan],
        "stack_diameter": [1.0, np.nan, np.nan, np.nan],
        "exit_velocity": [10.0, np.nan, np.nan, np.nan],
        "exit_temperature": [400.0, np.nan, np.nan, np.nan],
        "industry_code": ["3311", "", "", ""],
    })


def test_allocation_by_point_length_and_area_conserves_totals(spec):
    sources = validate_sources(hand_sources(spec))
    inventory = pd.DataFrame({
        "source_id": ["P1", "L1", "L2", "A1", "P1"],
        "pollutant": ["PM", "PM", "PM", "PM", "SO2"],
        "sector": ["industry", "traffic", "traffic", "dust", "industry"],
        "emission": [30.0, 100.0, 40.0, 80.0, 5.0],
    })
    result = allocate_to_cells(inventory, sources, spec)
    cells = result.cells.groupby(["cell_id", "pollutant"])["emission"].sum()
    # PM: C00 = 30 (P1) + 50 (half of L1) + 20 (quarter of A1) = 100
    assert cells[("R0000C0000", "PM")] == pytest.approx(100.0, abs=1e-6)
    # C01 = 50 (L1) + 20 (A1) = 70; R1C0 = 20 (A1); R1C1 = 20 (half of L2) + 20 (A1) = 40
    assert cells[("R0000C0001", "PM")] == pytest.approx(70.0, abs=1e-6)
    assert cells[("R0001C0000", "PM")] == pytest.approx(20.0, abs=1e-6)
    assert cells[("R0001C0001", "PM")] == pytest.approx(40.0, abs=1e-6)
    assert cells[("R0000C0000", "SO2")] == pytest.approx(5.0)
    # the other half of L2 (20 kg) lies outside the grid and is reported, not lost
    assert result.outside["emission"].sum() == pytest.approx(20.0, abs=1e-6)
    for pollutant, total in (("PM", 250.0), ("SO2", 5.0)):
        inside = result.cells.loc[result.cells["pollutant"] == pollutant, "emission"].sum()
        outside = result.outside.loc[result.outside["pollutant"] == pollutant, "emission"].sum()
        assert inside + outside == pytest.approx(total, rel=1e-9)


def test_every_bad_row_of_a_sources_table_is_reported_at_once(spec):
    frame = hand_sources(spec)
    frame.loc[0, "exit_temperature"] = 120.0          # °C, not K
    frame.loc[1, "kind"] = "road"
    frame.loc[2, "geometry"] = ""                      # a line without a geometry
    frame.loc[3, "lon"] = 200.0
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)   # duplicate P1
    frame["stack_height"] = frame["stack_height"].astype(object)
    frame.loc[4, "stack_height"] = "tall"
    with pytest.raises(InputError) as caught:
        validate_sources(frame, "sources.csv")
    problems = caught.value.frame
    found = set(zip(problems["row"], problems["column"], problems["reason"], strict=True))
    assert (2, "exit_temperature", "implausible_value") in found
    assert (3, "kind", "bad_kind") in found
    assert (4, "geometry", "geometry_kind_mismatch") in found
    assert (5, "lon", "bad_coordinate") in found
    assert (6, "source_id", "duplicate_row") in found
    assert (6, "stack_height", "not_a_number") in found
    message = problems.loc[problems["column"] == "exit_temperature", "message"].iloc[0]
    assert "looks like °C" in message and "393.15 K" in message


def test_missing_stack_parameters_take_the_documented_defaults(spec):
    frame = hand_sources(spec).iloc[[0]].copy()
    frame = pd.concat([frame, frame.assign(source_id="B1", industry_code="4411")],
                      ignore_index=True)
    frame["stack_height"] = np.nan
    frame.loc[1, "exit_temperature"] = np.nan
    sources = validate_sources(frame)
    # GB 16297-1996 §7.1: process stacks ≥ 15 m (table sourcegrid_2024, prefix 33)
    assert sources.loc[0, "stack_height"] == 15.0
    assert sources.loc[0, "defaults_used"] == "stack_height=15 (sourcegrid_2024:33)"
    # a 4411 boiler: 45 m and 413 K from the 4411 row; the diameter it gave is kept
    assert sources.loc[1, "stack_height"] == 45.0
    assert sources.loc[1, "exit_temperature"] == 413.0
    assert sources.loc[1, "stack_diameter"] == 1.0
    assert "exit_temperature=413 (sourcegrid_2024:4411)" in sources.loc[1, "defaults_used"]
    assert list(sources["sector"]) == ["industry", "boiler"]
    with pytest.raises(NotFoundError, match="valid: sourcegrid_2024"):
        validate_sources(frame, table_name="hj2.2")


def test_size_fractions_and_period_hours():
    assert size_fraction("boiler", "PM2.5") == 0.40
    assert size_fraction("dust", "PM10") == 0.45
    assert size_fraction("unknown sector", "PM2.5") == 0.50      # the 'other' row
    with pytest.raises(NotFoundError, match="valid: sourcegrid_2024"):
        size_fraction("boiler", "PM2.5", "ap42")
    # 2017: 365 × 24 = 8760; 2016 (leap): 8784; 2017-02: 28 × 24 = 672
    assert period_hours(["2017", "2016", "2017-02", "2017-13", "x"]).tolist()[:3] == [
        8760, 8784, 672]
    assert np.isnan(period_hours(["2017-13", "x"])).all()


@pytest.fixture
def workspace(spec):
    ws = Workspace.in_memory()
    write_spec(ws, spec)
    return ws


def emissions_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "enterprise_id": ["P1", "L1", "A1", "P1"], "period": ["2017", "2017", "2017", "2017"],
        "pollutant": ["PM", "PM", "PM", "SO2"], "pollutant_category": "废气",
        "emission": [8760.0, 1000.0, 400.0, 87.6], "method": "estimate",
    })


def test_import_an_inventory_and_trace_candidates(workspace, spec):
    result = import_inventory(workspace, emissions_frame(), hand_sources(spec),
                              origin="other-tool")
    inventory = workspace.read("inventory")
    # 8760 kg over 8760 h = 1 kg/h = 1000/3600 g/s = 0.27778 g/s
    p1 = inventory.loc[(inventory["source_id"] == "P1") & (inventory["pollutant"] == "PM")]
    assert p1["emission_rate"].iloc[0] == pytest.approx(1000 / 3600)
    # PM2.5 derived for P1 (industry): 0.45 × 8760 kg; for A1 (dust): 0.10 × 400 = 40 kg
    pm25 = inventory.loc[inventory["pollutant"] == "PM2.5"].set_index("source_id")
    assert pm25.loc["P1", "emission"] == pytest.approx(0.45 * 8760)
    assert pm25.loc["A1", "emission"] == pytest.approx(40.0)
    assert pm25.loc["A1", "size_fraction"] == "PM2.5 = 0.10 × PM (sourcegrid_2024: dust)"
    assert (inventory["origin"] == "other-tool").all()
    # the cell inventory conserves every pollutant's total
    cells = workspace.read("cell_inventory").groupby("pollutant")["emission"].sum()
    totals = inventory.groupby("pollutant")["emission"].sum()
    pd.testing.assert_series_equal(cells, totals, check_names=False)
    candidates = tracing_candidates(workspace, "PM2.5")
    assert list(candidates.columns[:13]) == [
        "source_id", "name", "kind", "lon", "lat", "geometry", "stack_height", "stack_diameter",
        "exit_velocity", "exit_temperature", "industry_code", "sector", "emission_rate"]
    row = candidates.set_index("source_id").loc["P1"]
    assert row["emission_rate"] == pytest.approx(0.45 * 1000 / 3600)
    assert "0.45 × PM" in row["size_fraction"]
    with pytest.raises(NotFoundError, match="inventory pollutant 'NOx'"):
        tracing_candidates(workspace, "NOx")
    assert result.message == ""
    # importing the same origin again replaces its rows (no double counting)
    import_inventory(workspace, emissions_frame(), hand_sources(spec), origin="other-tool")
    assert len(workspace.read("inventory")) == len(inventory)
    by_sector = inventory_summary(workspace, "sector", pollutant="PM")
    assert by_sector.set_index("sector")["emission_t"]["traffic"] == pytest.approx(1.0)


def test_a_bad_import_loads_nothing_and_lists_every_problem(workspace, spec):
    bad = emissions_frame()
    bad.loc[0, "emission"] = -5.0
    bad.loc[1, "enterprise_id"] = "NOPE"
    bad.loc[2, "period"] = "2017/03"
    bad["emission"] = bad["emission"].astype(object)
    bad.loc[3, "emission"] = "lots"
    sources = hand_sources(spec)
    sources.loc[0, "kind"] = "stack"
    with pytest.raises(InputError) as caught:
        import_inventory(workspace, bad, sources)
    found = set(zip(caught.value.frame["row"], caught.value.frame["reason"], strict=True))
    assert {(2, "bad_kind"), (2, "negative_amount"), (4, "bad_period"),
            (5, "not_a_number")} <= found
    assert not workspace.has("inventory") and not workspace.has("sources")
    sources.loc[0, "kind"] = "point"
    with pytest.raises(InputError) as caught:
        import_inventory(workspace, bad, sources)
    assert (3, "unknown_source") in set(zip(caught.value.frame["row"],
                                            caught.value.frame["reason"], strict=True))


def test_build_from_an_accounting_run_with_activity_locations(workspace, spec):
    from sourcegrid.accounting.engine import account
    from sourcegrid.accounting.store import save_run
    from sourcegrid.coefficients import sample_library

    (lon, lat), = lonlat(spec, [X0 + 1200], [Y0 - 300])
    activity = pd.DataFrame({
        "enterprise_id": ["E1"], "enterprise_name": ["示例"], "industry_code": ["3311"],
        "region_code": ["130902"], "lon": [lon], "lat": [lat], "section": ["焊接"],
        "product": [""], "raw_material": ["焊材"], "process": ["手工电弧焊"], "capacity": [np.nan],
        "capacity_unit": [""], "activity": [100.0], "activity_unit": ["吨"], "period": ["2017"],
    })
    result = account(activity, sample_library())
    assert len(result.emissions), result.rejects
    save_run(workspace, result, run="r1")
    with pytest.raises(NotFoundError, match="accounting run 'r2'"):
        build_inventory(workspace, run="r2", activity=activity)
    built = build_inventory(workspace, run="r1", activity=activity)
    sources = workspace.read("sources")
    assert sources.loc[0, "kind"] == "point"
    assert "stack_height=15 (sourcegrid_2024:33)" in sources.loc[0, "defaults_used"]
    pm = result.emissions.loc[result.emissions["pollutant"] == "PM", "emission"].sum()
    row = built.inventory.loc[built.inventory["pollutant"] == "PM"].iloc[0]
    assert row["emission"] == pytest.approx(pm)
    assert row["emission_rate"] == pytest.approx(pm * 1000 / (8760 * 3600))
    cells = workspace.read("cell_inventory")
    assert set(cells["cell_id"]) == {"R0000C0001"}          # x0 + 1200 m, y0 − 300 m


def test_build_needs_an_accounting_run():
    with pytest.raises(WorkspaceError, match="no accounting run"):
        build_inventory(Workspace.in_memory())


def test_random_areas_and_lines_conserve_their_totals(spec):
    # invariant (emiproc's regridding check): Σ cells + outside = Σ inventory, per pollutant
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        x0, y0 = X0 + rng.uniform(-800, 2500), Y0 - rng.uniform(-800, 2500)
        w, h = rng.uniform(50, 1500, 2)
        if i % 2:
            geometry = {"type": "Polygon", "coordinates": [lonlat(
                spec, [x0, x0 + w, x0 + w, x0, x0], [y0, y0, y0 - h, y0 - h, y0])]}
            kind = "area"
        else:
            geometry = {"type": "LineString", "coordinates": lonlat(
                spec, [x0, x0 + w, x0 + w / 2], [y0, y0 - h, y0 - 2 * h])}
            kind = "line"
        rows.append({"source_id": f"S{i}", "kind": kind, "geometry": json.dumps(geometry)})
    sources = validate_sources(pd.DataFrame(rows))
    inventory = pd.DataFrame({"source_id": sources["source_id"], "pollutant": "PM",
                              "sector": "dust", "emission": rng.uniform(1, 100, len(sources))})
    result = allocate_to_cells(inventory, sources, spec)
    total = result.cells["emission"].sum() + result.outside["emission"].sum()
    assert total == pytest.approx(inventory["emission"].sum(), rel=1e-9)
    assert (result.cells["emission"] >= 0).all()


def test_tracing_candidates_of_a_month_fall_back_to_the_year(workspace, spec):
    import_inventory(workspace, emissions_frame(), hand_sources(spec), origin="x")
    for period in ("2017-01", "2017-01-15", "2017"):
        candidates = tracing_candidates(workspace, "SO2", period)
        # 87.6 kg over 8760 h = 0.01 kg/h = 10/3600 g/s
        assert candidates["emission_rate"].iloc[0] == pytest.approx(10 / 3600)
    # a window the inventory does not cover uses its latest year, and says so
    later = tracing_candidates(workspace, "SO2", ["2018-03"])
    assert later["emission_rate"].iloc[0] == pytest.approx(10 / 3600)
    assert later["period"].iloc[0] == "2017"


def test_a_second_origin_for_the_same_sources_is_refused_or_replaces(workspace, spec):
    import_inventory(workspace, emissions_frame(), hand_sources(spec), origin="ours")
    before = workspace.read("inventory")
    other = emissions_frame().loc[[3]].assign(emission=175.2)   # P1 SO2 2017 again
    with pytest.raises(InputError, match="already in the inventory from 'ours'") as caught:
        import_inventory(workspace, other, hand_sources(spec), origin="theirs")
    assert {p.reason for p in caught.value.problems} == {"overlapping_origin"}
    assert "P1 SO2 2017" in {p.value for p in caught.value.problems}
    pd.testing.assert_frame_equal(workspace.read("inventory"), before)   # nothing written
    # a month of that year clashes as well (the year row covers it)
    month = other.assign(period="2017-03")
    with pytest.raises(InputError, match="pass --replace"):
        import_inventory(workspace, month, hand_sources(spec), origin="theirs")
    # --replace: the other origin's row goes, the SO2 mass is theirs alone (175.2 kg)
    import_inventory(workspace, other, hand_sources(spec), origin="theirs", replace=True)
    after = workspace.read("inventory")
    so2 = after.loc[after["pollutant"] == "SO2"]
    assert so2["origin"].tolist() == ["theirs"]
    assert so2["emission"].sum() == pytest.approx(175.2)
    cells = workspace.read("cell_inventory")
    assert cells.loc[cells["pollutant"] == "SO2", "emission"].sum() == pytest.approx(175.2)
    # the PM rows of 'ours' did not clash and stay
    assert after.loc[after["pollutant"] == "PM", "emission"].sum() == pytest.approx(10160.0)


def test_a_year_row_and_its_month_rows_are_never_summed(workspace, spec):
    both = pd.concat([emissions_frame().loc[[3]],
                      emissions_frame().loc[[3]].assign(period="2017-01", emission=7.3)],
                     ignore_index=True)
    with pytest.raises(InputError, match="given for a year and for months") as caught:
        import_inventory(workspace, both, hand_sources(spec), origin="x")
    problem = caught.value.problems[0]
    assert (problem.reason, problem.value) == ("overlapping_period", "P1 SO2 2017 + 2017-01")
    assert not workspace.has("inventory")


def test_tracing_candidates_of_a_window_use_its_months(workspace, spec):
    months = pd.DataFrame({"enterprise_id": "P1", "pollutant": "SO2", "pollutant_category": "废气",
                           "period": ["2017-01", "2017-02", "2017-03"],
                           "emission": [74.4, 67.2, 0.0]})
    import_inventory(workspace, months, hand_sources(spec), origin="m")
    # January: 74.4 kg over 31 × 24 = 744 h = 0.1 kg/h = 100/3600 g/s
    january = tracing_candidates(workspace, "SO2", ["2017-01"])
    assert january["emission_rate"].iloc[0] == pytest.approx(100 / 3600)
    # January + February: (74.4 + 67.2) kg over (744 + 672) h = 0.1 kg/h
    both = tracing_candidates(workspace, "SO2", ["2017-01", "2017-02"])
    assert both["emission_rate"].iloc[0] == pytest.approx(100 / 3600)
    assert both["period"].iloc[0] == "2017-01;2017-02"
    assert tracing_candidates(workspace, "SO2", "2017-03")["emission_rate"].iloc[0] == 0.0


def test_header_variants_accepted_as_elsewhere(workspace, spec):
    """Review item 5: the shared header matching of sourcegrid.io.tables (case, blanks,
    underscores, a unit in brackets), not exact-match aliases."""
    sources = hand_sources(spec).rename(columns={"source_id": "Source ID", "lon": " Lon ",
                                                 "stack_height": "排气筒高度(m)"})
    emissions = emissions_frame().rename(columns={"enterprise_id": "Enterprise_ID",
                                                  "emission": "排放量(千克)"})
    import_inventory(workspace, emissions, sources, origin="variants")
    stored = workspace.read("sources").set_index("source_id")
    assert stored.loc["P1", "stack_height"] == 30.0
    assert np.isfinite(stored.loc["P1", "lon"])
    so2 = workspace.read("inventory").query("pollutant == 'SO2'")
    assert so2["emission"].tolist() == [87.6]
