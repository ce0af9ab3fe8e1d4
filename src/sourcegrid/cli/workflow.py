"""CLI of the grid workflow: ``org``, ``alerts``, ``dossier``, ``assess``.

Thin commands over :mod:`sourcegrid.workflow`:

* ``sourcegrid org import FILE`` / ``org units --from-cells`` / ``org list`` /
  ``org log`` / ``org demo``;
* ``sourcegrid alerts raise`` (from the hotspot tables, micro-station alerts,
  tracing) / ``alerts add CELL`` (by hand) / ``alerts dispatch`` / ``alerts list`` /
  ``alerts show ID`` / ``alerts act ID ACTION --as PERSON`` / ``alerts escalate``;
* ``sourcegrid dossier CELL --out x.html|x.pdf|x.json``;
* ``sourcegrid assess --from --to --out x.xlsx|x.pdf``.

``--as PERSON`` acts as that person (role and scope checked); without it a
command acts as the system (``--actor`` names the operator in the logs).
``--now`` sets the clock (naive = Beijing time), for back-filling and for trying
deadlines out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import (
    WorkspaceOption,
    console,
    frame_table,
    open_workspace,
    reported_errors,
)

AsOption = Annotated[str | None, typer.Option(
    "--as", help="Act as this person (person_id); role and scope are checked.",
    show_default=False)]
NowOption = Annotated[str | None, typer.Option(
    "--now", help="The clock (ISO 8601; naive = Beijing time); default: now.",
    show_default=False)]
ActorOption = Annotated[str, typer.Option(
    "--actor", help="Name recorded in the log when not acting --as a person.")]


def _now(text: str | None, option: str = "--now"):
    """The clock (``--now``), or another time option named ``option``; naive = Beijing.

    :func:`sourcegrid.observations.readers.utc_timestamp` (an OptionError naming the
    option); None gives the system clock.
    """
    from sourcegrid.observations.readers import utc_timestamp
    from sourcegrid.workflow.tables import utc_now

    return utc_now() if text is None else utc_timestamp(text, option)


def _period(start: str | None, end: str | None, options: tuple[str, str], *,
            required: bool = False):
    """[start, end) from two options, checked (a reversed or empty period is refused)."""
    from sourcegrid.observations.readers import utc_period

    return utc_period(start, end, options=options, required=required)


def _person(ws, person_id: str | None):
    if person_id is None:
        return None, None
    from sourcegrid.workflow.org import Organisation

    organisation = Organisation.load(ws)
    return organisation.person(person_id), organisation


def _local(frame):
    """Times in Beijing time for printing."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("Asia/Shanghai").dt.strftime("%m-%d %H:%M")
    return out


# ------------------------------------------------------------------------------ org


def org_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX of units and/or people.")],
    kind: Annotated[str | None, typer.Option(
        "--kind", help="units or people (default: from the headers).", show_default=False)]
    = None,
    as_person: AsOption = None,
    actor: ActorOption = "cli",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Import admin units and people (Chinese or English headers; all rows or none).

    Units: unit_code [单位代码], name [名称], level [级别: city/county/township,
    市/区县/乡镇], parent_code [上级代码]. People: person_id [人员编号], name [姓名],
    roles [角色: admin, city_office, county_office, township_office, chief_grid_head
    总网格长, grid_head 网格长, supervisor 网格监督员, viewer], units [单位], cells [网格],
    phone [电话], active [在岗]. Every bad row is reported at once and nothing is
    loaded; every change goes to the org log.
    """
    from sourcegrid.workflow.org import import_organisation

    with reported_errors():
        ws = open_workspace(workspace)
        person, _ = _person(ws, as_person)
        summary = import_organisation(ws, file, actor=person or actor, now=_now(now),
                                      kind=kind)
        console.print(f"units: {summary.units_added} added, {summary.units_updated} updated; "
                      f"people: {summary.people_added} added, {summary.people_updated} updated; "
                      f"{summary.unchanged} unchanged")


def org_units(
    from_cells: Annotated[bool, typer.Option(
        "--from-cells", help="Create the units named by the codes of the cells table.")] = False,
    actor: ActorOption = "cli",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List the admin units, or create them from the cells' city/county/township codes."""
    from sourcegrid.workflow.org import read_units, save_units, units_from_cells
    from sourcegrid.workflow.tables import query

    with reported_errors():
        ws = open_workspace(workspace)
        if from_cells:
            cells = query(ws, "SELECT * FROM cells") if ws.has("cells") else None
            if cells is None:
                raise typer.BadParameter("the workspace has no table 'cells'",
                                         param_hint="--from-cells")
            added, updated, same = save_units(ws, units_from_cells(cells), actor=actor,
                                              now=_now(now))
            console.print(f"{added} unit(s) added, {updated} updated, {same} unchanged")
        console.print(frame_table(read_units(ws), title="admin units"))


def org_list(workspace: WorkspaceOption = None) -> None:
    """List the people with their roles and scope."""
    from sourcegrid.workflow.org import read_people

    with reported_errors():
        ws = open_workspace(workspace)
        console.print(frame_table(read_people(ws), title="people", max_rows=200))


def org_log(
    last: Annotated[int, typer.Option("--last", min=1, help="Show the last N changes.")] = 40,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the organisation's change log (who, when, what)."""
    from sourcegrid.workflow.org import read_org_log

    with reported_errors():
        ws = open_workspace(workspace)
        log = read_org_log(ws).tail(last)
        console.print(frame_table(_local(log[["change_id", "time", "actor", "action", "key",
                                              "note"]]), title="org log", max_rows=last))


def org_demo(now: NowOption = None, workspace: WorkspaceOption = None) -> None:
    """Create the demo organisation (one person per role and unit) and alerts."""
    from sourcegrid.workflow.demo import setup_demo_workflow

    with reported_errors():
        ws = open_workspace(workspace)
        result = setup_demo_workflow(ws, now=_now(now))
        console.print(f"{result['units']} units, {result['people']} people, "
                      f"{result['alerts']} new alert(s), {result['events']} demo step(s)")
        console.print("example people: " + ", ".join(f"{p} ({r})" for p, r in
                                                      result["example_logins"]))


# ------------------------------------------------------------------------------ alerts


def alerts_raise(
    sources: Annotated[str, typer.Option(
        "--sources", help="Comma-separated: hotspots, monthly, gistar, persistence, micro, "
        "tracing.")] = "hotspots,monthly,micro,tracing",
    dispatch: Annotated[bool, typer.Option("--dispatch/--no-dispatch",
                                           help="Dispatch the new alerts.")] = True,
    actor: ActorOption = "system",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Raise alerts from the workspace's hotspot, micro-station and tracing tables.

    Alert ids are stable: raising again (or over an overlapping window) adds nothing
    twice.
    """
    from sourcegrid.workflow.intake import raise_from_workspace

    names = [s.strip() for s in sources.split(",") if s.strip()]
    with reported_errors():
        ws = open_workspace(workspace)
        result, events = raise_from_workspace(ws, names, actor=actor, now=_now(now),
                                              dispatch=dispatch)
        merged = getattr(result, "merged", {}) or {}
        console.print(f"{len(result.new)} new alert(s), {len(result.known)} already known; "
                      f"{len(events)} dispatched"
                      + (f"; {len(merged)} merged into the open alert of an overlapping "
                         "window" if merged else ""))


def alerts_add(
    cell: Annotated[str, typer.Argument(help="Cell id, e.g. R0012C0034.")],
    title: Annotated[str, typer.Option("--title", help="What is wrong.")],
    grade: Annotated[str, typer.Option("--grade", help="red, orange or yellow.")] = "orange",
    pollutant: Annotated[str, typer.Option("--pollutant", "-p")] = "PM2.5",
    start: Annotated[str | None, typer.Option(
        "--start", help="When it started (default: now).", show_default=False)] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    as_person: AsOption = None,
    actor: ActorOption = "cli",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Raise an alert by hand on a cell."""
    from sourcegrid.workflow.alerts import register_alerts
    from sourcegrid.workflow.intake import manual_alert

    with reported_errors():
        from sourcegrid.errors import NotFoundError
        from sourcegrid.observations.readers import POLLUTANTS
        from sourcegrid.workflow.org import Organisation

        clock = _now(now)
        began = _now(start, "--start") if start else clock.floor("s")
        if pollutant not in POLLUTANTS:
            raise NotFoundError("pollutant", pollutant, POLLUTANTS)
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        organisation = organisation or Organisation.load(ws)  # the cell must be the grid's
        frame = manual_alert(cell, title, pollutant=pollutant, grade=grade, note=note,
                             start=began)
        result = register_alerts(ws, frame, actor=person or actor, now=clock,
                                 organisation=organisation)
        state = "new" if result.new else "already known"
        console.print(f"alert {(result.new or result.known)[0]} ({state})")


def alerts_dispatch(actor: ActorOption = "system", now: NowOption = None,
                    workspace: WorkspaceOption = None) -> None:
    """Dispatch every new alert to the responsible people of its cell (idempotent)."""
    from sourcegrid.workflow.alerts import dispatch_alerts

    with reported_errors():
        ws = open_workspace(workspace)
        events = dispatch_alerts(ws, actor=actor, now=_now(now))
        console.print(f"{len(events)} alert(s) dispatched")
        for event in events:
            console.print(f"  {event.alert_id} → {', '.join(event.assignees) or '(nobody)'}")


def alerts_list(
    as_person: AsOption = None,
    state: Annotated[list[str] | None, typer.Option(
        "--state", help="Keep these states (repeatable).", show_default=False)] = None,
    cell: Annotated[str | None, typer.Option("--cell", show_default=False)] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Cells of this unit code.",
                                             show_default=False)] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only alerts assigned to --as.")]
    = False,
    now: NowOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Export .csv/.xlsx/.parquet.",
                                             show_default=False)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List alerts with their current state (derived from the event log)."""
    from sourcegrid.io.tables import write_table
    from sourcegrid.workflow.alerts import list_alerts

    with reported_errors():
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        frame = list_alerts(ws, person, organisation=organisation, states=state, cell_id=cell,
                            unit=unit, now=_now(now), assigned_only=mine)
        shown = frame[["alert_id", "cell_id", "grade", "state", "level", "deadline", "overdue",
                       "title"]]
        console.print(frame_table(_local(shown), title=f"alerts ({len(frame)})", max_rows=100))
        if out is not None:
            plain = frame.copy()
            plain["assignees"] = [";".join(a) for a in plain["assignees"]]
            if "actions" in plain:
                plain["actions"] = [";".join(a) for a in plain["actions"]]
            for column in plain.columns:
                if hasattr(plain[column], "dt") and getattr(plain[column].dt, "tz", None):
                    plain[column] = plain[column].dt.tz_convert("UTC").dt.tz_localize(None)
            write_table(plain, out)
            console.print(f"wrote {len(plain)} row(s) to {out}")


def alerts_show(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    as_person: AsOption = None,
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one alert and its event log."""
    import pandas as pd

    from sourcegrid.workflow.alerts import get_alert

    with reported_errors():
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        detail = get_alert(ws, alert, person, organisation=organisation, now=_now(now))
        console.print(f"[bold]{detail['alert_id']}[/] {detail['title']} — cell "
                      f"{detail['cell_id']}, {detail['grade']}, [bold]{detail['state']}[/] at "
                      f"{detail['level']} level; deadline {detail['deadline']}")
        events = pd.DataFrame(detail["events"])
        console.print(frame_table(_local(events[["seq", "time", "actor", "action", "to_state",
                                                 "level", "note"]]), title="events"))
        if detail["actions"]:
            console.print("you may: " + ", ".join(detail["actions"]))


def alerts_act(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    action: Annotated[str, typer.Argument(help="acknowledge, inspect, resolve, false_alarm, "
                                          "escalate, reopen, comment or dispatch.")],
    as_person: AsOption = None,
    note: Annotated[str, typer.Option("--note")] = "",
    evidence: Annotated[str | None, typer.Option(
        "--evidence", help="JSON object, or @file.json: notes, photos, measurements, "
        "source_found, problems.", show_default=False)] = None,
    expected_seq: Annotated[int | None, typer.Option(
        "--expected-seq", help="Refuse when the alert moved on since this event number.",
        show_default=False)] = None,
    actor: ActorOption = "system",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Take one step on an alert (refused with a message when state or role forbid it)."""
    from sourcegrid.workflow.alerts import act

    if evidence is not None and evidence.startswith("@"):
        try:
            evidence = Path(evidence[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise typer.BadParameter(f"cannot read {evidence[1:]}: {error.strerror}",
                                     param_hint="--evidence") from None
    with reported_errors():
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        event = act(ws, alert, action, person or actor, now=_now(now), note=note,
                    evidence=evidence, expected_seq=expected_seq, organisation=organisation)
        console.print(f"event {event.seq}: {event.action} by {event.actor}: "
                      f"{event.from_state} → {event.to_state} ({event.level} level)")


def alerts_escalate(
    deadlines: Annotated[str, typer.Option("--deadlines", help="Named deadline set "
                                           "(sourcegrid_default, strict).")]
    = "sourcegrid_default",
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Escalate every open alert whose deadline has passed to the next level."""
    from sourcegrid.workflow.alerts import escalate_overdue

    with reported_errors():
        ws = open_workspace(workspace)
        done = escalate_overdue(ws, now=_now(now), deadlines=deadlines)
        escalated = int(done["escalated"].sum()) if len(done) else 0
        console.print(f"{escalated} alert(s) escalated, {len(done) - escalated} overdue at "
                      "city level")
        if len(done):
            console.print(frame_table(_local(done), title="overdue"))


# ------------------------------------------------------------------------------ dossier


def dossier(
    cell: Annotated[str, typer.Argument(help="Cell id, e.g. R0012C0034.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output: .html, .pdf or .json.")],
    as_person: AsOption = None,
    start: Annotated[str | None, typer.Option("--from", help="Trend start.",
                                              show_default=False)] = None,
    end: Annotated[str | None, typer.Option("--to", help="Trend end (excluded).",
                                            show_default=False)] = None,
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write the dossier of one cell (一格一档) as HTML, PDF or JSON."""
    import json

    from sourcegrid.io.tables import atomic_path
    from sourcegrid.workflow.dossier import cell_dossier, write_dossier

    if out.suffix.lower() not in (".html", ".htm", ".pdf", ".json"):
        raise typer.BadParameter("expected a .html, .pdf or .json file", param_hint="--out")
    with reported_errors():
        from sourcegrid.io.tables import check_output_path

        low, high = _period(start, end, ("--from", "--to"))
        clock = _now(now)
        check_output_path(out)  # before the work
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        try:
            result = cell_dossier(ws, cell, person, organisation=organisation,
                                  start=low, end=high, now=clock)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        if out.suffix.lower() == ".json":
            text = json.dumps(result.to_dict(), ensure_ascii=False, indent=1, default=str)
            with atomic_path(out) as temporary:
                temporary.write_text(text, encoding="utf-8")
        else:
            write_dossier(result, out)
        summary = result.summary
        console.print(f"dossier of {cell}: {summary['sources']} source(s), "
                      f"{summary['alerts_open']} open and {summary['alerts_closed']} closed "
                      f"alert(s) → {out}")


def assess(
    start: Annotated[str, typer.Option("--from", help="Period start (naive = Beijing time).")],
    end: Annotated[str, typer.Option("--to", help="Period end (excluded).")],
    base_start: Annotated[str | None, typer.Option(
        "--base-from", help="Base period start (default: the same length before --from).",
        show_default=False)] = None,
    base_end: Annotated[str | None, typer.Option("--base-to", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report: .xlsx or .pdf.",
                                             show_default=False)] = None,
    ranking: Annotated[str, typer.Option("--ranking", help="Ranking order "
                                         "(sourcegrid_default, air_quality_first).")]
    = "sourcegrid_default",
    deadlines: Annotated[str, typer.Option("--deadlines")] = "sourcegrid_default",
    as_person: AsOption = None,
    now: NowOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Assess townships and grid heads over a period (考核) and rank them."""
    from sourcegrid.workflow.assessment import assess as run
    from sourcegrid.workflow.assessment import write_assessment

    if out is not None and out.suffix.lower() not in (".xlsx", ".pdf"):
        raise typer.BadParameter("expected a .xlsx or .pdf file", param_hint="--out")
    with reported_errors():
        from sourcegrid.io.tables import check_output_path

        low, high = _period(start, end, ("--from", "--to"), required=True)
        if base_start is not None or base_end is not None:
            base_low, base_high = _period(base_start, base_end, ("--base-from", "--base-to"),
                                          required=True)
        else:
            base_low = base_high = None
        clock = _now(now)
        if out is not None:
            check_output_path(out)  # before the work
        ws = open_workspace(workspace)
        person, organisation = _person(ws, as_person)
        try:
            result = run(ws, low, high, base_start=base_low, base_end=base_high,
                         person=person, organisation=organisation, deadlines=deadlines,
                         ranking=ranking, now=clock)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        columns = ["rank", "unit_code", "name", "alerts_received", "median_response_hours",
                   "median_closure_hours", "closure_rate", "overdue", "escalated",
                   "pm25_change_percent", "change_vs_city_points"]
        console.print(frame_table(result.townships[columns], title="townships"))
        heads = result.grid_heads[["rank", "person_id", "name", *columns[3:]]]
        console.print(frame_table(heads, title="grid heads"))
        if out is not None:
            write_assessment(result, out)
            console.print(f"wrote {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``org`` and ``alerts`` groups and the ``dossier`` and ``assess`` commands."""
    org_app = typer.Typer(help="Organisation: admin units, people, roles (组织机构).",
                          no_args_is_help=True)
    org_app.command("import")(org_import)
    org_app.command("units")(org_units)
    org_app.command("list")(org_list)
    org_app.command("log")(org_log)
    org_app.command("demo")(org_demo)
    alerts_app = typer.Typer(help="Alerts and the closed loop (预警闭环): raise, dispatch, act, "
                             "escalate.", no_args_is_help=True)
    alerts_app.command("raise")(alerts_raise)
    alerts_app.command("add")(alerts_add)
    alerts_app.command("dispatch")(alerts_dispatch)
    alerts_app.command("list")(alerts_list)
    alerts_app.command("show")(alerts_show)
    alerts_app.command("act")(alerts_act)
    alerts_app.command("escalate")(alerts_escalate)
    app.add_typer(org_app, name="org")
    app.add_typer(alerts_app, name="alerts")
    app.command("dossier")(dossier)
    app.command("assess")(assess)
