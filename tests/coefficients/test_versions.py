"""Library versions side by side in a workspace, and their comparison."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourcegrid.coefficients import (
    LibraryExistsError,
    compare_libraries,
    list_libraries,
    load_library,
    remove_library,
    store_library,
    stored_library,
    to_canonical,
)
from sourcegrid.errors import NotFoundError
from sourcegrid.store import Workspace

from .helpers import row, write_library

OLD = [
    row(process="煤粉炉", pollutant="SO2", generation_coefficient="16", treatment="", removal_efficiency=""),
    row(process="煤粉炉", pollutant="NOx", generation_coefficient="5", unit="千克/吨-原料",
        treatment="SCR", removal_efficiency="80"),
    row(process="煤粉炉", pollutant="PM", generation_coefficient="2", unit="千克/吨-产品",
        treatment="", removal_efficiency=""),
    row(process="煤粉炉", pollutant="SO2", generation_coefficient="17*S"),
    row(process="循环流化床", pollutant="SO2", generation_coefficient="17*S", treatment="",
        removal_efficiency="", scale="100-300MW"),
    row(process="removed-one", pollutant="PM", generation_coefficient="1", treatment="",
        removal_efficiency=""),
    row(process="煤粉炉", pollutant="PM", generation_coefficient="9*A", treatment="静电除尘",
        removal_efficiency="99"),
]
NEW = [
    row(process="煤粉炉", pollutant="SO2", generation_coefficient="17", treatment="", removal_efficiency=""),
    # 4000 g/t = 4 kg/t
    row(process="煤粉炉", pollutant="NOx", generation_coefficient="4000", unit="克/吨-原料",
        treatment="SCR", removal_efficiency="80"),
    # 25000 kg per 万吨 = 2.5 kg/t
    row(process="煤粉炉", pollutant="PM", generation_coefficient="25000", unit="千克/万吨-产品",
        treatment="", removal_efficiency=""),
    row(process="煤粉炉", pollutant="SO2", generation_coefficient="17*S", removal_efficiency="97"),
    # same tier written differently ('100～300MW' = '100-300MW'), expression changed
    row(process="循环流化床", pollutant="SO2", generation_coefficient="16*S", treatment="",
        removal_efficiency="", scale="100～300MW"),
    row(process="added-one", pollutant="PM", generation_coefficient="1", treatment="",
        removal_efficiency=""),
    row(process="煤粉炉", pollutant="PM", generation_coefficient="9*A", treatment="静电除尘",
        removal_efficiency="99"),
]


@pytest.fixture
def libraries(tmp_path):
    old = load_library(write_library(tmp_path / "old.csv", OLD), "census2017", source="old")
    new = load_library(write_library(tmp_path / "new.csv", NEW), "manual2021", source="new")
    return old, new


def test_store_side_by_side_and_round_trip(tmp_path, libraries):
    old, new = libraries
    with Workspace(tmp_path / "ws", create=True) as workspace:
        store_library(workspace, old)
        store_library(workspace, new)
        listed = list_libraries(workspace)
        assert listed["name"].tolist() == ["census2017", "manual2021"]
        assert listed["rows"].tolist() == [7, 7]
        assert listed["source"].tolist() == ["old", "new"]
        back = stored_library(workspace, "census2017")
        pd.testing.assert_frame_equal(back.rows, old.rows)
        assert back.imported_at == old.imported_at and back.file == old.file
        stored = workspace.read("coefficient_rows")
        assert sorted(stored["library"].unique()) == ["census2017", "manual2021"]
        assert len(stored) == 14


def test_unknown_columns_survive_the_store(tmp_path):
    library = load_library(write_library(tmp_path / "x.csv", [row(note="见表 4411-1")]), "x")
    workspace = Workspace.in_memory()
    store_library(workspace, library)
    back = stored_library(workspace, "x")
    assert back.rows.loc[0, "note"] == "见表 4411-1"
    pd.testing.assert_frame_equal(back.rows, library.rows)


def test_reimport_errors_or_replaces(libraries):
    old, new = libraries
    workspace = Workspace.in_memory()
    store_library(workspace, old)
    with pytest.raises(LibraryExistsError, match="library 'census2017' is already in the "
                                                  "workspace; import it with --replace"):
        store_library(workspace, old)
    renamed = type(new)(name="census2017", source="again", imported_at=new.imported_at,
                        file=new.file, rows=new.rows)
    store_library(workspace, renamed, replace=True)
    assert list_libraries(workspace)["source"].tolist() == ["again"]
    back = stored_library(workspace, "census2017")
    assert back.rows["generation_coefficient"].iloc[0] == 17.0
    assert len(workspace.read("coefficient_rows")) == 7


def test_unknown_name_lists_valid_ones(libraries):
    workspace = Workspace.in_memory()
    store_library(workspace, libraries[0])
    with pytest.raises(NotFoundError, match=r"unknown coefficient library 'nope'; valid: census2017"):
        stored_library(workspace, "nope")
    remove_library(workspace, "census2017")
    assert list_libraries(workspace).empty
    with pytest.raises(NotFoundError, match=r"valid: \(none\)"):
        remove_library(workspace, "census2017")


def test_compare_by_hand(libraries):
    old, new = libraries
    result = compare_libraries(old, new).set_index(["process", "pollutant", "treatment"])

    def at(process, pollutant, treatment=""):
        return result.loc[(process, pollutant, treatment)]

    # (17 - 16) / 16 = +6.25 %
    assert at("煤粉炉", "SO2")["change_percent"] == pytest.approx(6.25)
    assert at("煤粉炉", "SO2")["status"] == "changed"
    assert at("煤粉炉", "SO2")["changes"] == "coefficient"
    # 4000 g/t = 4 kg/t against 5 kg/t: -20 %
    assert at("煤粉炉", "NOx", "SCR")["change_percent"] == pytest.approx(-20.0)
    # 25000 kg/万吨 = 2.5 kg/t against 2 kg/t: +25 %
    assert at("煤粉炉", "PM")["change_percent"] == pytest.approx(25.0)
    assert at("煤粉炉", "PM")["unit_b"] == "千克/万吨-产品"
    # same expression, efficiency 95 % → 97 %
    same = at("煤粉炉", "SO2", "石灰石-石膏法")
    assert (same["status"], same["changes"], same["change_percent"]) == (
        "changed", "removal_efficiency", 0.0)
    assert (same["removal_efficiency_a"], same["removal_efficiency_b"]) == (
        pytest.approx(0.95), pytest.approx(0.97))
    # different expressions: changed, no percentage
    cfb = at("循环流化床", "SO2")
    assert (cfb["status"], cfb["coefficient_a"], cfb["coefficient_b"]) == ("changed", "17*S", "16*S")
    assert math.isnan(cfb["change_percent"])
    assert at("煤粉炉", "PM", "静电除尘")["status"] == "unchanged"
    assert at("added-one", "PM")["status"] == "added"
    assert at("removed-one", "PM")["status"] == "removed"
    assert math.isnan(at("added-one", "PM")["change_percent"])
    assert compare_libraries(old, new)["status"].tolist() == (
        ["changed"] * 5 + ["added", "removed", "unchanged"])


def test_compare_with_itself_is_unchanged(libraries):
    result = compare_libraries(libraries[0], libraries[0])
    assert (result["status"] == "unchanged").all() and (result["change_percent"].fillna(0) == 0).all()


def test_canonical_export_round_trip(tmp_path, libraries):
    old = libraries[0]
    table = to_canonical(old)
    assert table.loc[0, "removal_efficiency"] == "" and table.loc[1, "removal_efficiency"] == "80"
    assert table.loc[3, "generation_coefficient"] == "17*S"
    table.to_csv(tmp_path / "again.csv", index=False)
    again = load_library(tmp_path / "again.csv", "census2017")
    pd.testing.assert_frame_equal(again.rows.drop(columns="source"),
                                  old.rows.drop(columns="source"))


CODES = ["1713", "3311", "3670", "3951", "4411", "0610"]
UNITS = ["千克/吨-产品", "克/吨-原料", "千克/万立方米-原料", "吨/万吨-产品", "kg/t-product",
         "g/件-产品", "千克/万千瓦时-产品"]
SCALES = ["", "所有规模", "≥300MW", "100-300MW", "<100MW", "10万吨/年以上", "≤5万吨/年"]
POLLUTANTS = [("废气", "二氧化硫"), ("废气", "NOx"), ("废水", "化学需氧量"), ("废水", "氨氮"),
              ("air", "苯"), ("water", "总磷")]


@st.composite
def library_rows(draw):
    count = draw(st.integers(min_value=1, max_value=12))
    rows = []
    for number in range(count):
        codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True))
        category, pollutant = draw(st.sampled_from(POLLUTANTS))
        treated = draw(st.booleans())
        coefficient = draw(st.one_of(
            st.floats(min_value=0, max_value=1e6, allow_nan=False).map(repr),
            st.sampled_from(["17*S", "9.5*A", "0.02*S", "2*(A+1)"])))
        rows.append(row(
            industry_code=";".join(codes), industry_kind=draw(st.sampled_from(["流程型", "discrete"])),
            process=f"p{number}", scale=draw(st.sampled_from(SCALES)),
            pollutant_category=category, pollutant=pollutant, unit=draw(st.sampled_from(UNITS)),
            generation_coefficient=coefficient,
            treatment="T" if treated else "",
            removal_efficiency=repr(draw(st.floats(min_value=0, max_value=100))) if treated else "",
            k_formula=draw(st.sampled_from(["", "run_hours / production_hours"]))))
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=library_rows())
def test_import_export_round_trip_property(tmp_path, rows):
    """Invariant: exporting a library in the canonical format and importing it again is lossless."""
    first = load_library(write_library(tmp_path / "first.csv", rows), "p")
    assert len(first.rows) == sum(len(r["industry_code"].split(";")) for r in rows)
    assert first.rows["removal_efficiency"].between(0, 1).all()
    to_canonical(first, chinese=True).to_csv(tmp_path / "second.csv", index=False)
    second = load_library(tmp_path / "second.csv", "p")
    pd.testing.assert_frame_equal(second.rows, first.rows, check_exact=False, rtol=1e-12)
    assert (compare_libraries(first, second)["status"] == "unchanged").all()
