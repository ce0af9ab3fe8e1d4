"""Grid management: organisation, alerts and the closed loop, cell dossiers, assessment.

The library half of issue 8 (the web app in :mod:`sourcegrid.web` and the CLI in
:mod:`sourcegrid.cli.workflow` only call it). Everything works on a DuckDB or a
PostgreSQL workspace (Spark workspaces, which are for batch work, refuse it); every
statement uses bound parameters; time is always passed in (``now=``), so tests and
simulations drive the clock.

Public API
----------
Errors (:mod:`sourcegrid.workflow.errors`)
    ``WorkflowError`` (a SourcegridError) and its subclasses ``AccessDenied`` (role
    or scope), ``TransitionRefused`` (state), ``ConcurrentUpdateError`` (someone
    else acted first). Bad files and evidence raise ``sourcegrid.errors.InputError``;
    unknown names ``NotFoundError``.

Organisation (:mod:`sourcegrid.workflow.org`)
    ``LEVELS``, ``ROLES``, ``ROLE_NAMES``; ``Unit(code, name, level, parent_code)``,
    ``Person(person_id, name, roles, units, cells, phone, active)``;
    ``Organisation.load(workspace)`` with ``.person(id)``, ``.unit(code)``,
    ``.unit_cells(code)``, ``.cell_units(cell_id)``, ``.visible_cells(person)``,
    ``.can(person, action, target)``, ``.responsible(cell_id, level)``;
    ``import_organisation(workspace, path, actor=, now=, kind=)`` (CSV/XLSX, zh/en
    headers, all or nothing), ``save_units``, ``save_people``, ``add_person``,
    ``deactivate_person``, ``units_from_cells``, ``read_units``, ``read_people``,
    ``read_org_log`` (append-only: who, when, before, after).

Policy (:mod:`sourcegrid.workflow.policy`)
    ``ACTIONS``, ``ACTION_ROLES``; ``can(org, person, action, target=None)``,
    ``require(...)`` (raises AccessDenied with the reason), ``why_not(...)``,
    ``visible_cells(org, person)``, ``visible_units(org, person)``,
    ``actions_for(org, person, target)``. Targets: a cell id, ``'unit:CODE'`` (or a
    unit code), a Person (for manage_people), or None.

Alerts (:mod:`sourcegrid.workflow.alerts`)
    ``STATES``, ``TRANSITIONS``, ``DEADLINES`` (named sets), ``alert_id(...)``
    (stable hash id); ``register_alerts(workspace, frame, actor=, now=)``,
    ``act(workspace, alert_id, action, actor, now=, note=, evidence=,
    expected_seq=)`` -> ``Event``, ``dispatch_alerts(workspace, now=)``,
    ``escalate_overdue(workspace, now=, deadlines=)``, ``alert_states(workspace,
    now=)``, ``list_alerts(workspace, person, states=, cell_id=, unit=, now=)``,
    ``get_alert(workspace, alert_id, person)``, ``alert_events(workspace,
    alert_id)``, ``allowed_actions(org, person, row)``, ``validate_evidence``.

Intake (:mod:`sourcegrid.workflow.intake`)
    ``from_hotspots``, ``from_micro_alerts``, ``from_traces``, ``manual_alert``,
    ``candidates_from_workspace``, ``raise_from_workspace(workspace, now=)``.

Dossier (:mod:`sourcegrid.workflow.dossier`)
    ``cell_dossier(workspace, cell_id, person=None, now=)`` -> ``CellDossier``
    (``.to_dict()``); ``render_html``, ``write_html``, ``write_pdf``,
    ``write_dossier`` (by suffix).

Assessment (:mod:`sourcegrid.workflow.assessment`)
    ``assess(workspace, start, end, base_start=, base_end=, person=)`` ->
    ``Assessment`` (``.townships``, ``.grid_heads``, ``.city``); ``write_xlsx``,
    ``write_pdf``, ``write_assessment``.

Demo (:mod:`sourcegrid.workflow.demo`)
    ``setup_demo_workflow(workspace, now=)``: units from the cells, one person per
    role and unit, alerts from the stored hotspots with a few events.

Tables: ``org_units``, ``people``, ``org_log``, ``alerts_registry``,
``alert_events`` (:mod:`sourcegrid.workflow.tables`).
"""

from sourcegrid.workflow.errors import (
    AccessDenied,
    ConcurrentUpdateError,
    TransitionRefused,
    WorkflowError,
)
from sourcegrid.workflow.org import LEVELS, ROLES, Organisation, Person, Unit

__all__ = ["WorkflowError", "AccessDenied", "TransitionRefused", "ConcurrentUpdateError",
           "Organisation", "Person", "Unit", "LEVELS", "ROLES"]
