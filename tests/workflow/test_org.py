"""Organisation import (all bad rows at once, nothing partial), the org log, and the policy."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.workflow import org
from sourcegrid.workflow.errors import AccessDenied
from sourcegrid.workflow.org import Organisation, Person
from sourcegrid.workflow.policy import can, require, visible_cells, visible_units, why_not
from tests.workflow.world import A_CELLS, B_CELLS, T0, TOWN_A, TOWN_B

GOOD_PEOPLE = """人员编号,姓名,角色,单位,网格,电话,在岗
p1,张三,网格长,130902001,,13800000001,是
p2,李四,网格监督员、网格长,,R0000C0000;R0001C0000,,
p3,王五,county_office,130902,,,
"""

BAD_PEOPLE = """person_id,name,roles,units,cells,active
q1,,网格长,130902001,,
q2,Two,boss,130902009,,
q2,Dup,grid_head,,R9999C0001,maybe
q4,Four,county_office,130902001,,
q5,Five,supervisor,,,
"""


def test_import_with_chinese_headers(world, tmp_path):
    workspace, _ = world
    path = tmp_path / "people.csv"
    path.write_text(GOOD_PEOPLE, encoding="utf-8")
    summary = org.import_organisation(workspace, path, actor="office", now=T0)
    assert (summary.people_added, summary.people_updated) == (3, 0)
    organisation = Organisation.load(workspace)
    assert organisation.person("p2").roles == ("supervisor", "grid_head")
    assert organisation.person("p2").cells == ("R0000C0000", "R0001C0000")
    assert organisation.person("p1").phone == "13800000001"
    # importing the same file again changes nothing and logs nothing
    before = len(org.read_org_log(workspace))
    again = org.import_organisation(workspace, path, actor="office", now=T0)
    assert again.unchanged == 3 and len(org.read_org_log(workspace)) == before


def test_every_bad_row_is_reported_and_nothing_loaded(world, tmp_path):
    workspace, _ = world
    path = tmp_path / "bad.csv"
    path.write_text(BAD_PEOPLE, encoding="utf-8")
    people_before = org.read_people(workspace)
    log_before = org.read_org_log(workspace)
    with pytest.raises(InputError) as caught:
        org.import_organisation(workspace, path, actor="office", now=T0)
    found = sorted((p.row, p.column, p.reason) for p in caught.value.problems)
    assert found == [
        (2, "name", "missing_value"),
        (3, "roles", "bad_role"),
        (3, "units", "unknown_unit"),
        (4, "active", "bad_active"),
        (4, "cells", "unknown_cell"),
        (4, "person_id", "duplicate_person"),
        (5, "units", "role_level_mismatch"),
        (6, "units", "no_scope"),
    ]
    assert "nothing was loaded" in caught.value.summary
    pd.testing.assert_frame_equal(org.read_people(workspace), people_before)
    pd.testing.assert_frame_equal(org.read_org_log(workspace), log_before)


def test_units_and_people_from_one_workbook(world, tmp_path):
    workspace, _ = world
    path = tmp_path / "org.xlsx"
    units = pd.DataFrame({"单位代码": ["130902003"], "名称": ["丙镇"], "级别": ["乡镇"],
                          "上级代码": ["130902"]})
    people = pd.DataFrame({"人员编号": ["p9"], "姓名": ["赵六"], "角色": ["乡镇办公室"],
                           "单位": ["130902003"]})
    with pd.ExcelWriter(path) as writer:
        units.to_excel(writer, sheet_name="单位", index=False)
        people.to_excel(writer, sheet_name="人员", index=False)
    summary = org.import_organisation(workspace, path, actor="office", now=T0)
    assert (summary.units_added, summary.people_added) == (1, 1)
    organisation = Organisation.load(workspace)
    assert organisation.unit("130902003").level == "township"
    assert organisation.visible_cells(organisation.person("p9")) == frozenset()  # no cells yet


def test_bad_units_are_reported_together(world):
    workspace, _ = world
    frame = pd.DataFrame({"unit_code": ["X1", "X2", "X2", "130902009"],
                          "name": ["a", "b", "c", None],
                          "level": ["town", "township", "township", "county"],
                          "parent_code": ["", "999999", "130902001", "130902001"]})
    with pytest.raises(InputError) as caught:
        org.save_units(workspace, frame, actor="office", now=T0)
    assert sorted((p.row, p.column, p.reason) for p in caught.value.problems) == [
        (2, "level", "bad_level"), (3, "parent_code", "unknown_parent"),
        (4, "parent_code", "bad_parent_level"), (4, "unit_code", "duplicate_unit"),
        (5, "name", "missing_value"), (5, "parent_code", "bad_parent_level")]


def test_every_change_is_logged(world):
    workspace, organisation = world
    head = organisation.person("headA")
    moved = Person(head.person_id, head.name, head.roles, (TOWN_B,))
    org.add_person(workspace, moved, actor="twpB_boss", now=T0 + pd.Timedelta(days=1))
    org.deactivate_person(workspace, "headA", actor="hr", now=T0 + pd.Timedelta(days=2))
    log = org.read_org_log(workspace)
    mine = log[log["key"] == "headA"]
    assert mine["action"].tolist() == ["add_person", "update_person", "update_person"]
    assert mine["actor"].tolist() == ["setup", "twpB_boss", "hr"]
    assert '"units": "130902001"' in mine["before"].iloc[1]
    assert '"units": "130902002"' in mine["after"].iloc[1]
    assert '"active": false' in mine["after"].iloc[2]
    reloaded = Organisation.load(workspace)
    assert not reloaded.person("headA").active
    assert visible_cells(reloaded, reloaded.person("headA")) == frozenset()


# ------------------------------------------------------------------------------ policy


def test_township_a_never_sees_township_b(world):
    _, organisation = world
    for person_id in ("twpA", "chiefA", "headA", "viewA"):
        person = organisation.person(person_id)
        assert visible_cells(organisation, person) == frozenset(A_CELLS)
        for cell in B_CELLS:
            assert not can(organisation, person, "view", cell)
            assert not can(organisation, person, "acknowledge", cell)
        assert visible_units(organisation, person) == {TOWN_A}
        assert not can(organisation, person, "view", f"unit:{TOWN_B}")
    assert visible_cells(organisation, organisation.person("supA")) == {"R0000C0000"}
    assert visible_cells(organisation, organisation.person("headB")) == frozenset(B_CELLS)


def test_higher_levels_see_everything_below(world):
    _, organisation = world
    for person_id in ("county", "city", "admin"):
        assert visible_cells(organisation, organisation.person(person_id)) == frozenset(
            A_CELLS + B_CELLS)
    assert visible_units(organisation, organisation.person("county")) == {
        "130902", TOWN_A, TOWN_B}


def test_policy_messages(world):
    _, organisation = world
    viewer = organisation.person("viewA")
    assert can(organisation, viewer, "view", "R0000C0000")
    assert why_not(organisation, viewer, "comment", "R0000C0000").startswith(
        "viewA (viewer (查看者)) may not comment")
    with pytest.raises(AccessDenied, match="cell R0001C0001 is outside the scope of twpA"):
        require(organisation, organisation.person("twpA"), "dispatch", "R0001C0001")
    with pytest.raises(AccessDenied, match="may not manage_units"):
        require(organisation, organisation.person("city"), "manage_units")


def test_manage_people_within_scope_and_rank(world):
    _, organisation = world
    office = organisation.person("twpA")
    recruit = Person("new", "新人", ("supervisor",), (TOWN_A,))
    assert can(organisation, office, "manage_people", recruit)
    outsider = Person("new", "新人", ("supervisor",), (TOWN_B,))
    assert why_not(organisation, office, "manage_people", outsider) == (
        "twpA may not manage new: 130902002 outside twpA's scope")
    boss = Person("new", "新人", ("county_office",), (TOWN_A,))
    assert "may not give the role(s) county_office" in why_not(
        organisation, office, "manage_people", boss)


def test_import_by_a_person_is_checked(world, tmp_path):
    workspace, organisation = world
    path = tmp_path / "p.csv"
    path.write_text("person_id,name,roles,units\nx1,X,supervisor,130902002\n", encoding="utf-8")
    with pytest.raises(AccessDenied, match="130902002 outside twpA's scope"):
        org.import_organisation(workspace, path, actor=organisation.person("twpA"), now=T0)
    assert "x1" not in set(org.read_people(workspace)["person_id"])


def test_unknown_person_of_many_lists_close_ids_and_the_count():
    """Of 40 people, 'head_07x' names the closest ids and the count, not all 40."""
    from sourcegrid.errors import NotFoundError
    from sourcegrid.workflow.org import Organisation, Person

    people = {f"head_{i:02d}": Person(f"head_{i:02d}", "x", ("grid_head",), ("1",), ())
              for i in range(40)}
    organisation = Organisation.__new__(Organisation)
    organisation.people = people
    with pytest.raises(NotFoundError) as caught:
        organisation.person("head_07x")
    text = str(caught.value)
    assert "head_07" in text and "of 40 people" in text and "head_39" not in text
