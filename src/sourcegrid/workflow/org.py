"""Organisation of the grid: admin units, their cells, people, roles and scopes.

In the Cangzhou model offices at city, county and township level run the
hotspot grid, and each cell has a chief grid head (总网格长), a grid head
(网格长) and grid supervisors (网格监督员). This module holds that organisation:

* **units** (table ``org_units``): unit_code, name, level (city | county |
  township), parent_code. A unit's cells are those of the ``cells`` table whose
  ``city_code`` / ``county_code`` / ``township_code`` (by the unit's level)
  equals the unit's code (see :mod:`sourcegrid.grid.admin`).
* **people** (table ``people``): person_id, name, roles (any of :data:`ROLES`),
  scope = units (codes) and/or cells (cell ids), phone, active. A person is
  never deleted: leaving sets ``active`` to false.
* **the org log** (table ``org_log``, append-only): every change with who made
  it, when, what it was before and after (JSON).

Import (:func:`import_organisation`) reads CSV or XLSX with Chinese or English
headers; every bad row of the file is reported at once
(:class:`sourcegrid.errors.InputError`) and nothing is loaded unless every row
is good. Rows replace the unit or person of the same code; others are kept.

Who may see or change what is decided in :mod:`sourcegrid.workflow.policy`;
:class:`Organisation` is the loaded snapshot the policy reads.

Limits: units are the three levels below the province; a cell belongs to one
township (its centre's). Passwords are not kept here (the web app keeps its
own credentials).

References
----------
GB/T 2260-2007 行政区划代码; 国家统计局 统计用区划代码. Cangzhou hotspot-grid
pilot: city, county and township offices, 总网格长 / 网格长 / 网格监督员 per cell
(DESIGN.md, Hotspot grid facts).
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.workflow import tables as store

__all__ = [
    "LEVELS",
    "ROLES",
    "ROLE_NAMES",
    "OFFICE_ROLE_LEVEL",
    "UNIT_ALIASES",
    "PEOPLE_ALIASES",
    "Unit",
    "Person",
    "Organisation",
    "ImportSummary",
    "units_from_cells",
    "validate_units",
    "validate_people",
    "import_organisation",
    "save_units",
    "save_people",
    "add_person",
    "deactivate_person",
    "read_units",
    "read_people",
    "read_org_log",
    "parse_role",
]

#: Admin levels, coarse to fine.
LEVELS = ("city", "county", "township")
#: Level names people write (zh/en) → canonical level.
_LEVEL_NAMES = {"city": "city", "市": "city", "市级": "city", "地市": "city",
                "county": "county", "县": "county", "区县": "county", "县级": "county",
                "区": "county", "县区": "county",
                "township": "township", "乡镇": "township", "街道": "township",
                "乡镇街道": "township", "乡": "township", "镇": "township"}
#: Cell column holding each level's code (sourcegrid.grid.admin).
LEVEL_COLUMN = {"city": "city_code", "county": "county_code", "township": "township_code"}

#: Roles, in the order of the issue (8 roles); the Chinese names accepted on import.
ROLES = ("admin", "city_office", "county_office", "township_office", "chief_grid_head",
         "grid_head", "supervisor", "viewer")
ROLE_NAMES: dict[str, str] = {
    "admin": "管理员", "city_office": "市级办公室", "county_office": "区县办公室",
    "township_office": "乡镇办公室", "chief_grid_head": "总网格长", "grid_head": "网格长",
    "supervisor": "网格监督员", "viewer": "查看者",
}
_ROLE_ALIASES = {**{r: r for r in ROLES}, **{v: k for k, v in ROLE_NAMES.items()},
                 "系统管理员": "admin", "市级": "city_office", "市": "city_office",
                 "区县级": "county_office", "县级": "county_office", "乡镇级": "township_office",
                 "乡镇": "township_office", "监督员": "supervisor", "网格员": "supervisor",
                 "只读": "viewer", "查看": "viewer"}
#: An office role's unit level.
OFFICE_ROLE_LEVEL = {"city_office": "city", "county_office": "county",
                     "township_office": "township"}

#: Headers accepted for units (zh/en) → canonical name.
UNIT_ALIASES = {"单位代码": "unit_code", "区划代码": "unit_code", "行政区划代码": "unit_code",
                "代码": "unit_code", "code": "unit_code", "单位名称": "name", "名称": "name",
                "级别": "level", "层级": "level", "上级代码": "parent_code",
                "上级单位代码": "parent_code", "上级": "parent_code", "parent": "parent_code"}
#: Headers accepted for people (zh/en) → canonical name.
PEOPLE_ALIASES = {"人员编号": "person_id", "编号": "person_id", "工号": "person_id",
                  "id": "person_id", "姓名": "name", "角色": "roles", "role": "roles",
                  "单位": "units", "所属单位": "units", "管辖单位": "units", "unit": "units",
                  "网格": "cells", "网格编号": "cells", "负责网格": "cells", "cell": "cells",
                  "电话": "phone", "手机": "phone", "联系电话": "phone", "在岗": "active",
                  "状态": "active"}

_SEPARATORS = r"[;,，；、\s]+"
#: Organisation snapshots by workspace, with the stamp they were loaded at.
_loaded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNIT_COLUMNS = ["unit_code", "name", "level", "parent_code"]
_PEOPLE_COLUMNS = ["person_id", "name", "roles", "units", "cells", "phone", "active"]


@dataclass(frozen=True)
class Unit:
    """An admin unit: code (GB/T 2260 or statistical division code), name, level, parent."""

    code: str
    name: str
    level: str
    parent_code: str | None = None


@dataclass(frozen=True)
class Person:
    """A person of the grid organisation.

    Parameters
    ----------
    person_id : str
        Stable id (also the web app's user name).
    name : str
        Display name.
    roles : tuple of str
        Roles from :data:`ROLES`.
    units : tuple of str
        Unit codes in scope (each with all units and cells below it).
    cells : tuple of str
        Cell ids in scope besides those of the units.
    phone : str
    active : bool
        False once the person has left (never deleted).
    """

    person_id: str
    name: str
    roles: tuple[str, ...]
    units: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    phone: str = ""
    active: bool = True

    def has_role(self, *roles: str) -> bool:
        """Whether the person holds any of ``roles``."""
        return any(role in self.roles for role in roles)

    def to_dict(self) -> dict:
        """Plain dict (lists for roles, units, cells), e.g. for JSON."""
        out = asdict(self)
        for key in ("roles", "units", "cells"):
            out[key] = list(out[key])
        return out


@dataclass
class ImportSummary:
    """What an import changed: counts of units and people added and updated."""

    units_added: int = 0
    units_updated: int = 0
    people_added: int = 0
    people_updated: int = 0
    unchanged: int = 0
    sheets: list[str] = field(default_factory=list)


def _split(text) -> tuple[str, ...]:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ()
    import re

    return tuple(part for part in re.split(_SEPARATORS, str(text).strip()) if part)


def parse_role(text: str) -> str | None:
    """Canonical role for a role text (English or Chinese), None when unknown."""
    return _ROLE_ALIASES.get(str(text).strip().lower() if str(text).isascii() else
                             str(text).strip())


class Organisation:
    """A loaded snapshot of units, people and the cells of each unit.

    Parameters
    ----------
    units : iterable of Unit
    people : iterable of Person
    cells : DataFrame
        cell_id, city_code, county_code, township_code (the ``cells`` table).

    Notes
    -----
    Load one with :meth:`load`; it does not follow later changes (load again).
    The policy functions of :mod:`sourcegrid.workflow.policy` take it.
    """

    def __init__(self, units: Iterable[Unit], people: Iterable[Person],
                 cells: pd.DataFrame) -> None:
        self.units: dict[str, Unit] = {unit.code: unit for unit in units}
        self.people: dict[str, Person] = {person.person_id: person for person in people}
        frame = pd.DataFrame(cells).copy()
        for column in ("cell_id", *LEVEL_COLUMN.values()):
            if column not in frame:
                frame[column] = None
        frame = frame[["cell_id", *LEVEL_COLUMN.values()]]
        self.cells = frame.astype(object).where(frame.notna(), None).reset_index(drop=True)
        self.all_cells = frozenset(self.cells["cell_id"].astype(str))
        self._unit_cells: dict[str, frozenset[str]] = {}
        by_level = {}
        for level, column in LEVEL_COLUMN.items():
            groups = self.cells.dropna(subset=[column]).groupby(column)["cell_id"]
            by_level[level] = {str(code): frozenset(ids) for code, ids in groups}
        for unit in self.units.values():
            self._unit_cells[unit.code] = by_level[unit.level].get(unit.code, frozenset())
        self._cell_codes = self.cells.set_index("cell_id").to_dict("index")
        self._visible: dict[str, frozenset[str]] = {}

    @classmethod
    def load(cls, workspace) -> Organisation:
        """Units and active and inactive people of the workspace, with its ``cells``.

        A snapshot loaded before is returned again while the org log and the cells
        table are unchanged (one cheap query; every org change is in the log).
        """
        store.ensure_tables(workspace)
        has_cells = store.has_table(workspace, "cells")
        stamp = tuple(store.query(
            workspace, f"SELECT (SELECT coalesce(max(change_id), 0) FROM {store.ORG_LOG_TABLE})"
            " AS changes" + (f", (SELECT count(*) FROM cells) AS cells, ({_cells_digest(workspace)}"
                             ") AS codes" if has_cells else "")
        ).iloc[0].tolist())
        try:
            cached = _loaded.get(workspace)
        except TypeError:  # not weak-referenceable
            cached = None
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cells = (store.query(workspace, "SELECT cell_id, city_code, county_code, township_code "
                             "FROM cells") if has_cells
                 else pd.DataFrame(columns=["cell_id", *LEVEL_COLUMN.values()]))
        units = [Unit(r.unit_code, r.name, r.level, r.parent_code)
                 for r in read_units(workspace).itertuples()]
        loaded = cls(units, _people_from_frame(read_people(workspace)), cells)
        with contextlib.suppress(TypeError):
            _loaded[workspace] = (stamp, loaded)
        return loaded

    # -- lookups -------------------------------------------------------------
    def person(self, person_id: str) -> Person:
        """The person with this id; an unknown id lists the valid ones (of many people:
        the closest ids and how many there are)."""
        if person_id not in self.people:
            valid = list(self.people)
            if len(valid) > 12:
                import difflib

                close = difflib.get_close_matches(str(person_id), valid, n=5, cutoff=0.5)
                valid = [*close, f"(of {len(self.people)} people; 'sourcegrid org list' "
                                 "shows them)"]
            raise NotFoundError("person", person_id, valid)
        return self.people[person_id]

    def unit(self, code: str) -> Unit:
        """The unit with this code; an unknown code lists the valid ones."""
        if code not in self.units:
            raise NotFoundError("unit", code, self.units)
        return self.units[code]

    def unit_cells(self, code: str) -> frozenset[str]:
        """Cell ids of a unit (by the unit's level code in the ``cells`` table)."""
        return self._unit_cells.get(code, frozenset())

    def descendants(self, code: str) -> set[str]:
        """Codes of the unit and every unit below it."""
        children: dict[str | None, list[str]] = {}
        for unit in self.units.values():
            children.setdefault(unit.parent_code, []).append(unit.code)
        found, stack = set(), [code]
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(children.get(current, []))
        return found

    def ancestors(self, code: str) -> list[str]:
        """Codes of the unit's parents, nearest first."""
        out, current = [], self.units.get(code)
        while current is not None and current.parent_code and current.parent_code not in out:
            out.append(current.parent_code)
            current = self.units.get(current.parent_code)
        return out

    def cell_units(self, cell_id: str) -> dict[str, str | None]:
        """{'city': code, 'county': code, 'township': code} of a cell (None where unknown)."""
        codes = self._cell_codes.get(cell_id, {})
        return {level: codes.get(column) for level, column in LEVEL_COLUMN.items()}

    def has_cell(self, cell_id: str) -> bool:
        return cell_id in self.all_cells

    def visible_cells(self, person: Person) -> frozenset[str]:
        """Cells in a person's scope (see :func:`sourcegrid.workflow.policy.visible_cells`)."""
        from sourcegrid.workflow.policy import visible_cells

        return visible_cells(self, person)

    def can(self, person: Person, action: str, target=None) -> bool:
        """Shortcut for :func:`sourcegrid.workflow.policy.can`."""
        from sourcegrid.workflow.policy import can

        return can(self, person, action, target)

    def responsible(self, cell_id: str, level: str = "township") -> list[Person]:
        """Active people responsible for a cell at a level, by role order then id.

        township: chief grid head, grid head, supervisors with the cell in scope, and the
        township office of the cell's township; county: the county office(s) of its county;
        city: the city office(s) of its city.
        """
        from sourcegrid.workflow.policy import LEVEL_RESPONSIBLE_ROLES

        roles = LEVEL_RESPONSIBLE_ROLES[level]
        chosen = [p for p in self.people.values()
                  if p.active and p.has_role(*roles) and cell_id in self.visible_cells(p)]
        if level != "township":  # offices of that level only, not the grid heads below
            code = self.cell_units(cell_id).get(level)
            chosen = [p for p in chosen if code in p.units]
        order = {role: i for i, role in enumerate(ROLES)}
        return sorted(chosen, key=lambda p: (min(order[r] for r in p.roles if r in roles),
                                             p.person_id))


# ------------------------------------------------------------------------------ frames


def _people_from_frame(frame: pd.DataFrame) -> list[Person]:
    return [Person(r.person_id, r.name, _split(r.roles), _split(r.units), _split(r.cells),
                   r.phone or "", bool(r.active)) for r in frame.itertuples()]


def units_from_cells(cells: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Units (unit_code, name, level, parent_code) for every code of a ``cells`` table.

    Parameters
    ----------
    cells : DataFrame
        cell_id, city_code, county_code, township_code.
    names : mapping, optional
        code → name; a unit without one is named by its level and code.
    """
    names = dict(names or {})
    rows = []
    parent_column = {"city": None, "county": "city_code", "township": "county_code"}
    for level, column in LEVEL_COLUMN.items():
        if column not in cells:
            continue
        parents = parent_column[level]
        keep = [column] + ([parents] if parents and parents in cells else [])
        frame = cells[keep].dropna(subset=[column]).drop_duplicates(column)
        for record in frame.itertuples(index=False):
            code = str(record[0])
            parent = str(record[1]) if len(record) > 1 and record[1] is not None else None
            rows.append({"unit_code": code, "name": names.get(code, f"{level} {code}"),
                         "level": level, "parent_code": parent})
    return pd.DataFrame(rows, columns=_UNIT_COLUMNS).sort_values("unit_code",
                                                                 ignore_index=True)


def _text(series: pd.Series) -> pd.Series:
    out = series.astype("string").str.strip()
    keep = (out.notna() & (out != "")).fillna(False).to_numpy(bool)
    values = out.astype(object).to_numpy()
    values[~keep] = None
    return pd.Series(values, index=series.index, dtype=object)


def validate_units(frame: pd.DataFrame, source: str = "units",
                   existing: Mapping[str, Unit] | None = None) -> pd.DataFrame:
    """Check a units table; every problem of every row at once.

    Parameters
    ----------
    frame : DataFrame
        unit_code, name, level, parent_code (Chinese headers accepted), optionally
        ``_row`` with spreadsheet row numbers.
    source : str
        Name of the file, for the problems.
    existing : mapping, optional
        Units already stored (a parent may be one of them).

    Returns
    -------
    DataFrame
        unit_code, name, level (canonical), parent_code, _row.

    Raises
    ------
    InputError
        Reason codes: missing_column, missing_value, bad_level, duplicate_unit,
        unknown_parent, bad_parent_level, parent_not_allowed.
    """
    from sourcegrid.io.tables import ROW, rename_headers

    frame = rename_headers(frame, UNIT_ALIASES).copy()
    if ROW not in frame:
        frame[ROW] = np.arange(2, len(frame) + 2)
    problems = [Problem(source, 1, column, "", "missing_column",
                        f"a column {column!r} ({'/'.join(k for k, v in UNIT_ALIASES.items() if v == column)[:30]})")
                for column in ("unit_code", "name", "level") if column not in frame]
    if problems:
        raise InputError(problems, f"cannot read the units of {source}")
    if "parent_code" not in frame:
        frame["parent_code"] = None
    for column in _UNIT_COLUMNS:
        frame[column] = _text(frame[column])
    rows = frame[ROW].astype(int).tolist()
    levels = frame["level"].map(lambda v: _LEVEL_NAMES.get(str(v).strip().lower())
                                if v is not None else None)
    known = dict(existing or {})
    file_levels = dict(zip(frame["unit_code"], levels, strict=True))
    duplicated = frame["unit_code"].duplicated(keep="first") & frame["unit_code"].notna()
    for i, row in enumerate(rows):
        code, name, level_text = (frame["unit_code"].iat[i], frame["name"].iat[i],
                                  frame["level"].iat[i])
        parent = frame["parent_code"].iat[i]
        for column, value in (("unit_code", code), ("name", name), ("level", level_text)):
            if value is None:
                problems.append(Problem(source, row, column, "", "missing_value",
                                        f"a {column.replace('_', ' ')} for every unit"))
        if level_text is not None and levels.iat[i] is None:
            problems.append(Problem(source, row, "level", level_text, "bad_level",
                                    "one of city, county, township (市, 区县, 乡镇)"))
        if duplicated.iat[i]:
            problems.append(Problem(source, row, "unit_code", code, "duplicate_unit",
                                    "each unit code once in a file"))
        level = levels.iat[i]
        if level is None:
            continue
        if level == "city" and parent is not None:
            if parent not in file_levels and parent not in known:
                problems.append(Problem(source, row, "parent_code", parent, "parent_not_allowed",
                                        "no parent for a city (the province is not a unit here)"))
            continue
        if level != "city":
            if parent is None:
                problems.append(Problem(source, row, "parent_code", "", "missing_value",
                                        f"the code of the {LEVELS[LEVELS.index(level) - 1]} "
                                        f"this {level} belongs to"))
                continue
            parent_level = file_levels.get(parent) or (known[parent].level if parent in known
                                                        else None)
            if parent not in file_levels and parent not in known:
                problems.append(Problem(source, row, "parent_code", parent, "unknown_parent",
                                        "the code of a unit in this file or already stored"))
            elif parent_level is not None and parent_level != LEVELS[LEVELS.index(level) - 1]:
                problems.append(Problem(source, row, "parent_code", parent, "bad_parent_level",
                                        f"a {LEVELS[LEVELS.index(level) - 1]} as the parent "
                                        f"of a {level} (got a {parent_level})"))
    if problems:
        raise InputError(problems, f"{len({p.row for p in problems})} bad row(s) in the units "
                         f"of {source}")
    frame["level"] = levels
    return frame[[*_UNIT_COLUMNS, ROW]].reset_index(drop=True)


def validate_people(frame: pd.DataFrame, source: str = "people",
                    units: Mapping[str, Unit] | None = None,
                    cells: Iterable[str] | None = None) -> pd.DataFrame:
    """Check a people table; every problem of every row at once.

    Parameters
    ----------
    frame : DataFrame
        person_id, name, roles (';' 、 or ',' separated; English or Chinese role
        names), units (unit codes), cells (cell ids), phone, active (Chinese
        headers accepted).
    units : mapping
        code → Unit of the units known (stored or in the same import).
    cells : iterable of str
        Cell ids of the grid.

    Returns
    -------
    DataFrame
        person_id, name, roles, units, cells (';'-joined canonical), phone, active, _row.

    Raises
    ------
    InputError
        Reason codes: missing_column, missing_value, duplicate_person, bad_role,
        unknown_unit, unknown_cell, no_scope, role_level_mismatch, bad_active.
    """
    from sourcegrid.io.tables import ROW, rename_headers

    frame = rename_headers(frame, PEOPLE_ALIASES).copy()
    if ROW not in frame:
        frame[ROW] = np.arange(2, len(frame) + 2)
    problems = [Problem(source, 1, column, "", "missing_column", f"a column {column!r}")
                for column in ("person_id", "name", "roles") if column not in frame]
    if problems:
        raise InputError(problems, f"cannot read the people of {source}")
    for column in _PEOPLE_COLUMNS:
        frame[column] = _text(frame[column]) if column in frame else None
    units = dict(units or {})
    cell_set = set(() if cells is None else cells)
    duplicated = frame["person_id"].duplicated(keep="first") & frame["person_id"].notna()
    out_roles, out_units, out_cells, out_active = [], [], [], []
    truthy = {"true": True, "1": True, "yes": True, "是": True, "在岗": True, "y": True,
              "false": False, "0": False, "no": False, "否": False, "离岗": False, "n": False}
    for i, row in enumerate(frame[ROW].astype(int).tolist()):
        person_id, name = frame["person_id"].iat[i], frame["name"].iat[i]
        for column, value in (("person_id", person_id), ("name", name)):
            if value is None:
                problems.append(Problem(source, row, column, "", "missing_value",
                                        f"a {column.replace('_', ' ')} for every person"))
        if duplicated.iat[i]:
            problems.append(Problem(source, row, "person_id", person_id, "duplicate_person",
                                    "each person id once in a file"))
        roles = []
        for text in _split(frame["roles"].iat[i]):
            role = parse_role(text)
            if role is None:
                problems.append(Problem(source, row, "roles", text, "bad_role",
                                        "roles from " + ", ".join(ROLES) + " (or 总网格长, "
                                        "网格长, 网格监督员, ...)"))
            elif role not in roles:
                roles.append(role)
        if not _split(frame["roles"].iat[i]):
            problems.append(Problem(source, row, "roles", "", "missing_value",
                                    "at least one role for every person"))
        scope_units = _split(frame["units"].iat[i])
        for code in scope_units:
            if code not in units:
                problems.append(Problem(source, row, "units", code, "unknown_unit",
                                        "the code of a stored unit or of one in this import"))
        scope_cells = _split(frame["cells"].iat[i])
        for cell in scope_cells:
            if cell not in cell_set:
                problems.append(Problem(source, row, "cells", cell, "unknown_cell",
                                        "a cell id of the grid (table cells)"))
        if roles and "admin" not in roles and not scope_units and not scope_cells:
            problems.append(Problem(source, row, "units", "", "no_scope",
                                    "units or cells in scope for every person who is not an "
                                    "admin"))
        for role, level in OFFICE_ROLE_LEVEL.items():
            if role in roles:
                wrong = [c for c in scope_units if c in units and units[c].level != level]
                if wrong or (not scope_units and scope_cells):
                    problems.append(Problem(source, row, "units", ";".join(wrong or scope_cells),
                                            "role_level_mismatch",
                                            f"{level} units for a {role}"))
        active_text = frame["active"].iat[i]
        active = True
        if active_text is not None:
            active = truthy.get(str(active_text).strip().lower())
            if active is None:
                problems.append(Problem(source, row, "active", active_text, "bad_active",
                                        "true/false (是/否, 在岗/离岗)"))
        out_roles.append(";".join(roles))
        out_units.append(";".join(scope_units))
        out_cells.append(";".join(scope_cells))
        out_active.append(bool(active))
    if problems:
        raise InputError(problems, f"{len({p.row for p in problems})} bad row(s) in the people "
                         f"of {source}")
    frame["roles"], frame["units"], frame["cells"] = out_roles, out_units, out_cells
    frame["active"] = out_active
    frame["phone"] = frame["phone"].fillna("")
    return frame[[*_PEOPLE_COLUMNS, ROW]].reset_index(drop=True)


# ------------------------------------------------------------------------------ storage


def _cells_digest(workspace) -> str:
    """SQL of one value that changes when any cell's codes change (a cache stamp)."""
    if workspace.engine == "duckdb":
        return ("SELECT bit_xor(hash(cell_id, city_code, county_code, township_code)) "
                "FROM cells")
    codes = " || '|' || ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in
                               ("cell_id", "city_code", "county_code", "township_code"))
    return f"SELECT md5(coalesce(string_agg({codes}, ',' ORDER BY cell_id), '')) FROM cells"


def read_units(workspace) -> pd.DataFrame:
    """The ``org_units`` table (unit_code, name, level, parent_code)."""
    store.ensure_tables(workspace)
    return store.query(workspace, f"SELECT * FROM {store.UNITS_TABLE} ORDER BY unit_code")


def read_people(workspace) -> pd.DataFrame:
    """The ``people`` table (person_id, name, roles, units, cells, phone, active)."""
    store.ensure_tables(workspace)
    return store.query(workspace, f"SELECT * FROM {store.PEOPLE_TABLE} ORDER BY person_id")


def read_org_log(workspace) -> pd.DataFrame:
    """The append-only ``org_log``: change_id, time, actor, action, kind, key, before, after."""
    store.ensure_tables(workspace)
    return store.query(workspace, f"SELECT * FROM {store.ORG_LOG_TABLE} ORDER BY change_id")


def _actor_id(actor) -> str:
    return actor.person_id if isinstance(actor, Person) else str(actor)


def _upsert(handle, table: str, key: str, columns: list[str], records: list[dict],
            kind: str, actor: str, now: pd.Timestamp, note: str) -> tuple[int, int, int]:
    """Insert or replace rows, logging each change in org_log (inside a transaction).

    Set-based: the stored rows of the incoming keys are read once, compared in
    pandas, and the changed rows deleted and inserted with their log rows in bulk.
    """
    if not records:
        return 0, 0, 0
    handle.lock(table, store.ORG_LOG_TABLE)  # PostgreSQL: one writer of the organisation
    incoming = pd.DataFrame(records, columns=columns).drop_duplicates(key, keep="last")
    names = ", ".join(columns)
    stored = handle.execute(f"SELECT {names} FROM {table} WHERE {key} IN "
                            "(SELECT unnest(CAST(? AS VARCHAR[])))",
                            [incoming[key].astype(str).tolist()]).df()
    before = {str(r[key]): r for r in stored.astype(object).where(stored.notna(), None)
              .to_dict("records")}
    added, updated, log = [], [], []
    for record in incoming.astype(object).where(incoming.notna(), None).to_dict("records"):
        old = before.get(str(record[key]))
        if old == record:
            continue
        (added if old is None else updated).append(record)
        log.append((f"{'add' if old is None else 'update'}_{kind}", str(record[key]),
                    None if old is None else json.dumps(old, ensure_ascii=False, default=str),
                    json.dumps(record, ensure_ascii=False, default=str)))
    changed = [r[key] for r in updated]
    if changed:
        handle.execute(f"DELETE FROM {table} WHERE {key} IN "
                       "(SELECT unnest(CAST(? AS VARCHAR[])))", [changed])
    rows = added + updated
    if rows:
        frame = pd.DataFrame(rows, columns=columns)
        handle.register("org_incoming", frame)
        handle.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM org_incoming")
        handle.unregister("org_incoming")
        first = handle.execute(f"SELECT coalesce(max(change_id), 0) FROM {store.ORG_LOG_TABLE}"
                               ).fetchone()[0]
        entries = pd.DataFrame(log, columns=["action", "key", "before", "after"])
        entries.insert(0, "change_id", range(first + 1, first + 1 + len(entries)))
        handle.register("org_changes", entries)
        handle.execute(f"INSERT INTO {store.ORG_LOG_TABLE} SELECT change_id, ?, ?, action, ?, "
                       "key, before, after, ? FROM org_changes",
                       [now.to_pydatetime(), actor, kind, note])
        handle.unregister("org_changes")
    return len(added), len(updated), len(incoming) - len(rows)


def _check_actor(workspace, actor, action: str, targets: Iterable) -> None:
    if not isinstance(actor, Person):
        return
    from sourcegrid.workflow.policy import require

    organisation = Organisation.load(workspace)
    for target in targets:
        require(organisation, actor, action, target)


def save_units(workspace, units: pd.DataFrame, *, actor="system", now=None,
               note: str = "") -> tuple[int, int, int]:
    """Validate and store units (insert or replace by code), logging every change.

    Parameters
    ----------
    units : DataFrame
        unit_code, name, level, parent_code (zh/en headers).
    actor : Person or str
        Who makes the change; a Person must be allowed ``manage_units``.
    now : time, optional
        When (default: the system clock).

    Returns
    -------
    (added, updated, unchanged)
    """
    from sourcegrid.workflow.policy import require

    store.ensure_tables(workspace)
    existing = {r.unit_code: Unit(r.unit_code, r.name, r.level, r.parent_code)
                for r in read_units(workspace).itertuples()}
    clean = validate_units(units, "units", existing)
    if isinstance(actor, Person):
        require(Organisation.load(workspace), actor, "manage_units")
    now = store.utc_now() if now is None else store.as_utc(now)
    records = clean[_UNIT_COLUMNS].astype(object).where(clean[_UNIT_COLUMNS].notna(), None
                                                        ).to_dict("records")
    with store.transaction(workspace) as handle:
        return _upsert(handle, store.UNITS_TABLE, "unit_code", _UNIT_COLUMNS, records, "unit",
                       _actor_id(actor), now, note)


def save_people(workspace, people: pd.DataFrame, *, actor="system", now=None,
                note: str = "", units: pd.DataFrame | None = None) -> tuple[int, int, int]:
    """Validate and store people (insert or replace by person_id), logging every change.

    Parameters
    ----------
    people : DataFrame
        person_id, name, roles, units, cells, phone, active (zh/en headers).
    actor : Person or str
        Who makes the change; a Person must be allowed ``manage_people`` on every
        person written (their units and cells in the actor's scope, no role above
        the actor's own).
    units : DataFrame, optional
        Units of the same import, not yet stored.

    Returns
    -------
    (added, updated, unchanged)
    """
    store.ensure_tables(workspace)
    known = {r.unit_code: Unit(r.unit_code, r.name, r.level, r.parent_code)
             for r in read_units(workspace).itertuples()}
    if units is not None:
        known.update({r.unit_code: Unit(r.unit_code, r.name, r.level, r.parent_code)
                      for r in units.itertuples()})
    cells = (store.query(workspace, "SELECT cell_id FROM cells")["cell_id"]
             if store.has_table(workspace, "cells") else [])
    clean = validate_people(people, "people", known, cells)
    _check_actor(workspace, actor, "manage_people", _people_from_frame(clean))
    now = store.utc_now() if now is None else store.as_utc(now)
    records = clean[_PEOPLE_COLUMNS].to_dict("records")
    for record in records:
        record["active"] = bool(record["active"])
    with store.transaction(workspace) as handle:
        return _upsert(handle, store.PEOPLE_TABLE, "person_id", _PEOPLE_COLUMNS, records,
                       "person", _actor_id(actor), now, note)


def add_person(workspace, person: Person, *, actor="system", now=None, note: str = "") -> Person:
    """Add or replace one person (validated like an import row), logged in ``org_log``."""
    row = person.to_dict()
    for key in ("roles", "units", "cells"):
        row[key] = ";".join(row[key])
    save_people(workspace, pd.DataFrame([row]), actor=actor, now=now, note=note)
    return person


def deactivate_person(workspace, person_id: str, *, actor="system", now=None,
                      note: str = "") -> Person:
    """Mark a person as left (``active`` false); the person and their history stay."""
    organisation = Organisation.load(workspace)
    person = organisation.person(person_id)
    left = Person(person.person_id, person.name, person.roles, person.units, person.cells,
                  person.phone, False)
    return add_person(workspace, left, actor=actor, now=now, note=note or "deactivated")


def _sheets(path: Path) -> dict[str, pd.DataFrame]:
    from sourcegrid.io.tables import read_table

    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return {path.name: read_table(path)}
    import openpyxl

    try:
        names = openpyxl.load_workbook(path, read_only=True).sheetnames
    except Exception as error:  # noqa: BLE001 - any unreadable workbook is an input problem
        raise InputError([Problem(path.name, None, "", "", "bad_file", f"a readable XLSX "
                                  f"workbook ({error})")], "cannot read the workbook") from None
    return {name: read_table(path, sheet=name) for name in names}


def _kind_of(frame: pd.DataFrame) -> str | None:
    from sourcegrid.io.tables import canonical_headers

    people = set(canonical_headers(list(frame.columns), PEOPLE_ALIASES))
    if "person_id" in people or "roles" in people:
        return "people"
    units = set(canonical_headers(list(frame.columns), UNIT_ALIASES))
    if "unit_code" in units or "level" in units:
        return "units"
    return None


def import_organisation(workspace, path: str | Path, *, actor="system", now=None,
                        kind: str | None = None) -> ImportSummary:
    """Import units and/or people from a CSV or XLSX file (all or nothing).

    Parameters
    ----------
    path : str or Path
        CSV (one table) or XLSX (each sheet a table: units and/or people, told
        apart by their headers, e.g. sheets 单位 and 人员).
    actor : Person or str
        Who imports (logged); a Person needs the manage rights on every row.
    kind : {'units', 'people'}, optional
        Force the kind of a CSV table; default: from its headers.

    Returns
    -------
    ImportSummary

    Raises
    ------
    InputError
        Every bad row of every sheet at once; nothing is stored then.
    """
    path = Path(path)
    if kind not in (None, "units", "people"):
        raise NotFoundError("import kind", str(kind), ("units", "people"))
    sheets = _sheets(path)
    units, people, problems = [], [], []
    for name, frame in sheets.items():
        found = kind or _kind_of(frame)
        if found is None:
            problems.append(Problem(f"{path.name}:{name}" if len(sheets) > 1 else path.name, 1,
                                    "", ";".join(map(str, frame.columns[:6])), "unknown_table",
                                    "headers of units (unit_code/单位代码, level/级别) or of "
                                    "people (person_id/人员编号, roles/角色)"))
        else:
            (units if found == "units" else people).append(frame)
    if problems:
        raise InputError(problems, f"cannot tell what {path.name} holds")
    summary = ImportSummary(sheets=list(sheets))
    store.ensure_tables(workspace)
    existing = {r.unit_code: Unit(r.unit_code, r.name, r.level, r.parent_code)
                for r in read_units(workspace).itertuples()}
    unit_frame = None
    all_problems: list[Problem] = []
    if units:
        try:
            unit_frame = validate_units(pd.concat(units, ignore_index=True), path.name, existing)
        except InputError as error:
            all_problems.extend(error.problems)
    people_frame = None
    if people:
        known = dict(existing)
        if unit_frame is not None:
            known.update({r.unit_code: Unit(r.unit_code, r.name, r.level, r.parent_code)
                          for r in unit_frame.itertuples()})
        elif units:  # bad units: still check people against the codes the file names
            from sourcegrid.io.tables import rename_headers

            for frame in units:
                renamed = rename_headers(frame, UNIT_ALIASES)
                if "unit_code" in renamed and "level" in renamed:
                    for code, level in zip(renamed["unit_code"], renamed["level"], strict=True):
                        canonical = _LEVEL_NAMES.get(str(level).strip().lower(), "township")
                        known.setdefault(str(code).strip(), Unit(str(code), "", canonical))
        cells = (store.query(workspace, "SELECT cell_id FROM cells")["cell_id"]
                 if store.has_table(workspace, "cells") else [])
        try:
            people_frame = validate_people(pd.concat(people, ignore_index=True), path.name,
                                           known, cells)
        except InputError as error:
            all_problems.extend(error.problems)
    if all_problems:
        raise InputError(all_problems, f"{len({(p.source, p.row) for p in all_problems})} bad "
                         f"row(s) in {path.name}; nothing was loaded")
    now = store.utc_now() if now is None else store.as_utc(now)
    if isinstance(actor, Person):
        from sourcegrid.workflow.policy import require

        organisation = Organisation.load(workspace)
        if unit_frame is not None:
            require(organisation, actor, "manage_units")
        if people_frame is not None:
            if unit_frame is not None:
                organisation = Organisation(
                    list(organisation.units.values())
                    + [Unit(r.unit_code, r.name, r.level, r.parent_code)
                       for r in unit_frame.itertuples()],
                    list(organisation.people.values()), organisation.cells)
            for person in _people_from_frame(people_frame):
                require(organisation, actor, "manage_people", person)
    note = f"import {path.name}"
    with store.transaction(workspace) as handle:
        if unit_frame is not None:
            records = unit_frame[_UNIT_COLUMNS].astype(object).where(
                unit_frame[_UNIT_COLUMNS].notna(), None).to_dict("records")
            summary.units_added, summary.units_updated, same = _upsert(
                handle, store.UNITS_TABLE, "unit_code", _UNIT_COLUMNS, records, "unit",
                _actor_id(actor), now, note)
            summary.unchanged += same
        if people_frame is not None:
            records = people_frame[_PEOPLE_COLUMNS].to_dict("records")
            for record in records:
                record["active"] = bool(record["active"])
            summary.people_added, summary.people_updated, same = _upsert(
                handle, store.PEOPLE_TABLE, "person_id", _PEOPLE_COLUMNS, records, "person",
                _actor_id(actor), now, note)
            summary.unchanged += same
    return summary
