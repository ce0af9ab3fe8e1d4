"""Who may see and do what: roles × actions, limited to each person's scope.

Every read and write of the web app and the CLI asks this module first:
:func:`can` (a yes/no), :func:`require` (raises
:class:`~sourcegrid.workflow.errors.AccessDenied` with a message saying why),
:func:`visible_cells` and :func:`visible_units` (what a person may see, to
filter lists and maps).

Two checks, both must pass:

1. **role** -- the person holds a role allowed the action
   (:data:`ACTION_ROLES`); ``admin`` may do everything;
2. **scope** -- the target lies in the person's scope: a cell id must be one of
   :func:`visible_cells` (cells of the person's units and every unit below them,
   plus the person's own cells); a unit code must be one of the person's units
   or below one; a target :class:`~sourcegrid.workflow.org.Person` (for
   ``manage_people``) must have all their units and cells inside the actor's
   scope and no role the actor could not give (:data:`ROLE_RANK`).

An inactive person may do nothing. A township user therefore never sees nor
changes another township's cells: every cell-level read goes through
:func:`visible_cells` or :func:`require` with the cell.

These are sourcegrid's defaults for the Cangzhou division of labour (offices
dispatch and supervise, grid heads organise fixes, supervisors patrol and
inspect); a bureau changes :data:`ACTION_ROLES` to match its own rules.
"""

from __future__ import annotations

from sourcegrid.errors import NotFoundError
from sourcegrid.workflow.errors import AccessDenied
from sourcegrid.workflow.org import ROLE_NAMES, ROLES, Organisation, Person

__all__ = ["ACTIONS", "ACTION_ROLES", "ALERT_ACTIONS", "LEVEL_RESPONSIBLE_ROLES", "ROLE_RANK",
           "can", "require", "visible_cells", "visible_units", "why_not", "actions_for"]

_ALL = frozenset(ROLES)
_STAFF = _ALL - {"viewer"}
_OFFICES = frozenset({"admin", "city_office", "county_office", "township_office"})
_HEADS = frozenset({"chief_grid_head", "grid_head"})

#: Roles allowed each action (before the scope check).
ACTION_ROLES: dict[str, frozenset[str]] = {
    # reads: cells, map data, dossiers and their exports, alerts and their logs
    "view": _ALL,
    # alert life cycle (sourcegrid.workflow.alerts)
    "raise": _STAFF,
    "dispatch": _OFFICES,
    "acknowledge": _OFFICES | _HEADS | {"supervisor"},
    "inspect": {"admin", "township_office"} | _HEADS | {"supervisor"},
    "resolve": _OFFICES | _HEADS,
    "false_alarm": _OFFICES | _HEADS,
    "escalate": _OFFICES | _HEADS,
    "reopen": {"admin", "city_office", "county_office"},
    "comment": _STAFF,
    # inspection findings (to tracing's learning)
    "record_finding": {"admin", "township_office"} | _HEADS | {"supervisor"},
    # assessment of townships and grid heads
    "assess": _OFFICES | {"chief_grid_head"},
    # organisation
    "manage_people": _OFFICES,
    "manage_units": frozenset({"admin"}),
}
ACTIONS = tuple(ACTION_ROLES)
#: The actions on an alert (the state machine's; see sourcegrid.workflow.alerts).
ALERT_ACTIONS = ("raise", "dispatch", "acknowledge", "inspect", "resolve", "false_alarm",
                 "escalate", "reopen", "comment")

#: Who an alert is dispatched to at each level (the cell's people at that level).
LEVEL_RESPONSIBLE_ROLES: dict[str, tuple[str, ...]] = {
    "township": ("township_office", "chief_grid_head", "grid_head", "supervisor"),
    "county": ("county_office",),
    "city": ("city_office",),
}

#: Rank of each role for giving roles: a person may give roles of lower rank than
#: their own highest (admin gives any).
ROLE_RANK = {"admin": 8, "city_office": 7, "county_office": 6, "township_office": 5,
             "chief_grid_head": 4, "grid_head": 3, "supervisor": 2, "viewer": 1}


def visible_units(organisation: Organisation, person: Person) -> frozenset[str]:
    """Unit codes a person may see: their units and every unit below them (admin: all)."""
    if not person.active:
        return frozenset()
    if person.has_role("admin"):
        return frozenset(organisation.units)
    found: set[str] = set()
    for code in person.units:
        found |= organisation.descendants(code)
    return frozenset(found)


def visible_cells(organisation: Organisation, person: Person) -> frozenset[str]:
    """Cell ids a person may see and act on (admin: every cell of the grid).

    Cells of the person's units (a unit's cells by its level code in the ``cells``
    table, so a county holds its townships' cells) plus the person's own cells.
    """
    cached = organisation._visible.get(person.person_id)
    if cached is not None and organisation.people.get(person.person_id) == person:
        return cached
    if not person.active:
        cells = frozenset()
    elif person.has_role("admin"):
        cells = organisation.all_cells
    else:
        found: set[str] = set(c for c in person.cells if organisation.has_cell(c))
        for code in person.units:
            found |= organisation.unit_cells(code)
        cells = frozenset(found)
    if organisation.people.get(person.person_id) == person:
        organisation._visible[person.person_id] = cells
    return cells


def _target_text(target) -> str:
    if isinstance(target, Person):
        return f"person {target.person_id}"
    return f"{target}"


def why_not(organisation: Organisation, person: Person, action: str, target=None) -> str | None:
    """The reason ``person`` may not do ``action`` on ``target``; None when allowed.

    Parameters
    ----------
    organisation : Organisation
    person : Person
    action : str
        One of :data:`ACTIONS`; an unknown action raises NotFoundError.
    target : str or Person, optional
        A cell id, a unit code (``unit:CODE`` or a bare code known as a unit), a
        Person (for ``manage_people``), or None for an action without a place
        (e.g. ``manage_units``; scope is then not checked).
    """
    if action not in ACTION_ROLES:
        raise NotFoundError("action", action, ACTION_ROLES)
    if not person.active:
        return f"{person.person_id} is no longer active"
    allowed = ACTION_ROLES[action]
    if not person.has_role(*allowed):
        held = ", ".join(f"{r} ({ROLE_NAMES[r]})" for r in person.roles) or "no role"
        may = ", ".join(r for r in ROLES if r in allowed)
        return f"{person.person_id} ({held}) may not {action}; roles that may: {may}"
    if person.has_role("admin") or target is None:
        return None
    if isinstance(target, Person):
        cells = visible_cells(organisation, person)
        units = visible_units(organisation, person)
        outside = [u for u in target.units if u not in units]
        outside += [c for c in target.cells if c not in cells]
        if outside:
            return (f"{person.person_id} may not manage {target.person_id}: "
                    f"{', '.join(outside)} outside {person.person_id}'s scope")
        top = max(ROLE_RANK[r] for r in person.roles if r in allowed)
        higher = [r for r in target.roles if ROLE_RANK[r] >= top]
        if higher:
            return (f"{person.person_id} may not give the role(s) {', '.join(higher)} "
                    "(only roles below their own)")
        return None
    text = str(target)
    if text.startswith("unit:") or (text in organisation.units
                                    and not organisation.has_cell(text)):
        code = text.removeprefix("unit:")
        if code in visible_units(organisation, person):
            return None
        return (f"unit {code} is outside the scope of {person.person_id} "
                f"({', '.join(person.units) or 'cells only'})")
    cell = text.removeprefix("cell:")
    if cell in visible_cells(organisation, person):
        return None
    scope = ", ".join([*person.units, *person.cells]) or "nothing"
    return f"cell {cell} is outside the scope of {person.person_id} ({scope})"


def can(organisation: Organisation, person: Person, action: str, target=None) -> bool:
    """Whether ``person`` may do ``action`` on ``target`` (see :func:`why_not`)."""
    return why_not(organisation, person, action, target) is None


def require(organisation: Organisation, person: Person, action: str, target=None) -> None:
    """Raise :class:`AccessDenied` with the reason unless ``person`` may do ``action``."""
    reason = why_not(organisation, person, action, target)
    if reason is not None:
        raise AccessDenied(reason)


def actions_for(organisation: Organisation, person: Person, target=None,
                actions=ACTIONS) -> list[str]:
    """The actions among ``actions`` that ``person`` may do on ``target``."""
    return [a for a in actions if can(organisation, person, a, target)]
