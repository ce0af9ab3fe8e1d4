"""Alerts and the closed loop: registry, append-only event log, state machine, escalation.

An alert is raised once (table ``alerts_registry``) and then lives only in its
events (table ``alert_events``), one row per step: event_id, alert_id, seq
(1, 2, ... per alert), time, actor, action, from_state, to_state, level
(township | county | city: who holds it), assignees (JSON list of person
ids), note, evidence (JSON). Nothing is updated or deleted; the current state
of an alert is the ``to_state`` of its event with the highest seq
(:func:`alert_states`).

States and actions (:data:`TRANSITIONS`)::

    raise        (none)                          -> new
    dispatch     new                             -> dispatched
    acknowledge  dispatched                      -> acknowledged
    inspect      acknowledged, inspected         -> inspected
    resolve      inspected                       -> resolved
    false_alarm  new, dispatched, acknowledged,
                 inspected                       -> false_alarm
    escalate     dispatched, acknowledged,
                 inspected                       -> (same state, next level)
    reopen       resolved, false_alarm           -> dispatched
    comment      any                             -> (same state)

**Stable ids**: ``alert_id = 'A' + sha256(source_kind | cell_id | pollutant | rule |
start)[:16]`` with start the event's start in UTC (ISO 8601), so raising the
alerts of an overlapping window again finds the same ids and records nothing
twice (:func:`alert_id`, :func:`register_alerts`). A rolling check offers a
persisting hotspot with another start (another id): a rule's candidate whose
[start, end) overlaps the window of an open alert of the same kind, cell,
pollutant and rule is merged into it (one ``comment`` event with the merged
window, which widens the alert's window) instead of becoming a second open alert;
alerts raised by hand are never merged.

**Deadlines and escalation**: from the time an alert reaches a level (dispatch,
escalation, reopen) the people there have ``acknowledge`` hours to acknowledge
it and ``close`` hours to close it (resolved or false alarm), by level and
alert grade (:data:`DEADLINES`, named sets); :func:`overdue_at` is the one overdue
rule (inbox, escalation and assessment). :func:`escalate_overdue` moves each
open alert whose deadline has passed to the next level (township → county →
city), and starts the next level's clock; at city level an overdue alert stays
overdue (reported, not escalated further). Time is always passed in (``now``),
so a test or a simulation drives the clock.

**Concurrency**: appending an event reads the alert's last seq and inserts
seq + 1 inside one transaction; the primary key (alert_id, seq) makes two
transactions that read the same seq unable to both commit. A caller that read
the alert may pass ``expected_seq``: when it is no longer the current seq the
action is refused (:class:`~sourcegrid.workflow.errors.ConcurrentUpdateError`),
so of two people acting on one alert at once one wins and the other is told.

**Findings**: an ``inspect`` event whose evidence names a ``source_found`` gives a
finding for tracing's learning (``inspection_findings``, checked by
:func:`sourcegrid.tracing.findings.validate_findings`), inserted in the same
transaction as the event: both are recorded or neither, and the result says
``finding_recorded = True``.

References
----------
Cangzhou hotspot-grid pilot (DESIGN.md): offices at city, county and township
level, 总网格长 / 网格长 / 网格监督员, one standard workflow with assessment and
accountability. FixMyStreet (mySociety) for the case-management pattern: route
each report to the body responsible for its area, keep its state history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, WorkspaceError
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.errors import AccessDenied, ConcurrentUpdateError, TransitionRefused
from sourcegrid.workflow.org import Organisation, Person
from sourcegrid.workflow.policy import require, why_not

__all__ = [
    "state_sql",
    "STATES",
    "OPEN_STATES",
    "CLOSED_STATES",
    "TRANSITIONS",
    "LEVELS",
    "ALERT_GRADES",
    "SOURCE_KINDS",
    "DEADLINES",
    "SYSTEM_ACTIONS",
    "EVIDENCE_KEYS",
    "ALERT_COLUMNS",
    "Event",
    "RegisterResult",
    "deadline_set",
    "alert_id",
    "alert_ids",
    "register_alerts",
    "act",
    "dispatch_alerts",
    "escalate_overdue",
    "overdue_at",
    "overdue_alerts",
    "alert_events",
    "alert_states",
    "list_alerts",
    "get_alert",
    "allowed_actions",
    "validate_evidence",
    "next_state",
]

STATES = ("new", "dispatched", "acknowledged", "inspected", "resolved", "false_alarm")
OPEN_STATES = ("new", "dispatched", "acknowledged", "inspected")
CLOSED_STATES = ("resolved", "false_alarm")
#: Levels an alert is held at, in escalation order.
LEVELS = ("township", "county", "city")
#: Alert grades, most urgent first (the excess names of sourcegrid.grid.grading).
ALERT_GRADES = ("red", "orange", "yellow")
#: Where alerts come from.
SOURCE_KINDS = ("hotspot", "monthly", "micro", "tracing", "manual")

#: action -> {from_state: to_state}.
TRANSITIONS: dict[str, dict[str | None, str]] = {
    "raise": {None: "new"},
    "dispatch": {"new": "dispatched"},
    "acknowledge": {"dispatched": "acknowledged"},
    "inspect": {"acknowledged": "inspected", "inspected": "inspected"},
    "resolve": {"inspected": "resolved"},
    "false_alarm": {s: "false_alarm" for s in OPEN_STATES},
    "escalate": {s: s for s in ("dispatched", "acknowledged", "inspected")},
    "reopen": {"resolved": "dispatched", "false_alarm": "dispatched"},
    "comment": {s: s for s in STATES},
}
#: Why an action is refused in a state, beyond "not allowed from here".
_HINTS = {
    "resolve": "an alert is resolved after an inspection (inspect it first)",
    "inspect": "an alert is inspected once it is acknowledged (acknowledge it first)",
    "acknowledge": "only a dispatched alert is acknowledged",
    "dispatch": "only a new alert is dispatched; escalate or reopen instead",
    "escalate": "only open, dispatched alerts are escalated",
    "reopen": "only a closed alert is reopened",
}
#: Actions a non-person actor (the system, a scheduled job) may take.
SYSTEM_ACTIONS = ("raise", "dispatch", "escalate", "comment")

#: Deadlines [h] from the time an alert reaches a level, per level and grade:
#: ``acknowledge`` (until acknowledged) and ``close`` (until resolved or false alarm).
#: 'sourcegrid_default': sourcegrid's own defaults, not from a standard, modelled on
#: common practice of grid offices (red alerts answered within 2 hours and closed
#: within a day); bureaus replace them with their own rules.
#: 'strict': half of the default hours.
DEADLINES: dict[str, dict[str, dict[str, dict[str, float]]]] = {
    "sourcegrid_default": {
        "township": {"red": {"acknowledge": 2, "close": 24},
                     "orange": {"acknowledge": 4, "close": 48},
                     "yellow": {"acknowledge": 12, "close": 72}},
        "county": {"red": {"acknowledge": 2, "close": 12},
                   "orange": {"acknowledge": 4, "close": 24},
                   "yellow": {"acknowledge": 8, "close": 48}},
        "city": {"red": {"acknowledge": 1, "close": 12},
                 "orange": {"acknowledge": 2, "close": 24},
                 "yellow": {"acknowledge": 4, "close": 48}},
    },
}
DEADLINES["strict"] = {level: {grade: {stage: hours / 2 for stage, hours in stages.items()}
                               for grade, stages in grades.items()}
                       for level, grades in DEADLINES["sourcegrid_default"].items()}

#: Evidence keys accepted in an event (JSON object).
EVIDENCE_KEYS = {
    "notes": "free text",
    "photos": "list of photo file references (names or paths of stored uploads)",
    "measurements": "list of {instrument: portable|drone|mobile|lab, pollutant, value, "
                    "unit, lon, lat, time}",
    "source_found": "{source_id, name, lon, lat, confirmed (bool), problem}",
    "problems": "list of what was wrong (text)",
}
_INSTRUMENTS = ("portable", "drone", "mobile", "lab", "other")

#: Columns of :func:`list_alerts` / :func:`alert_states`.
ALERT_COLUMNS = [
    "alert_id", "source_kind", "cell_id", "pollutant", "rule", "start", "end", "grade",
    "title", "raised_at", "state", "level", "seq", "last_time", "last_actor", "last_action",
    "dispatched_at", "acknowledged_at", "inspected_at", "closed_at", "escalations",
    "level_since", "assignees", "deadline", "overdue",
]


@dataclass(frozen=True)
class Event:
    """One appended event (a row of ``alert_events``)."""

    event_id: str
    alert_id: str
    seq: int
    time: pd.Timestamp
    actor: str
    action: str
    from_state: str | None
    to_state: str
    level: str
    assignees: tuple[str, ...]
    note: str
    evidence: dict
    finding_recorded: bool | None = None

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["time"] = self.time.isoformat()
        out["assignees"] = list(self.assignees)
        return out


@dataclass
class RegisterResult:
    """Alerts offered to :func:`register_alerts`: the new ids and those already known."""

    new: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    #: candidate id → the open alert it was merged into (same cell, pollutant and rule,
    #: overlapping window); merged candidates are not registered.
    merged: dict[str, str] = field(default_factory=dict)


def deadline_set(name: str = "sourcegrid_default") -> dict:
    """A named deadline set (see :data:`DEADLINES`); a wrong name lists the valid ones."""
    if isinstance(name, Mapping):
        return dict(name)
    if name not in DEADLINES:
        raise NotFoundError("deadline set", name, DEADLINES)
    return DEADLINES[name]


def _iso(moment) -> str:
    return store.as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_id(source_kind: str, cell_id: str, pollutant: str, rule: str, start) -> str:
    """Stable alert id: 'A' + 16 hex digits of sha256(kind|cell|pollutant|rule|start UTC).

    Parameters
    ----------
    source_kind : str
        One of :data:`SOURCE_KINDS`.
    cell_id, pollutant, rule : str
        The cell, pollutant and the rule that fired (e.g. 'rank', 'monthly:highest').
    start : time
        Start of the event (naive = Beijing time); seconds resolution.
    """
    key = "|".join([source_kind, str(cell_id), str(pollutant), str(rule), _iso(start)])
    return "A" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def alert_ids(frame: pd.DataFrame) -> pd.Series:
    """:func:`alert_id` of each row of a frame with source_kind, cell_id, pollutant, rule,
    start."""
    return pd.Series([alert_id(*row) for row in frame[["source_kind", "cell_id", "pollutant",
                                                       "rule", "start"]].itertuples(index=False)],
                     index=frame.index, dtype=object)


def _check_candidates(alerts: pd.DataFrame, organisation: Organisation | None) -> pd.DataFrame:
    problems = []
    required = ("source_kind", "cell_id", "pollutant", "rule", "start")
    for column in required:
        if column not in alerts:
            problems.append(Problem("alerts", 1, column, "", "missing_column",
                                    f"a column {column!r}"))
    if problems:
        raise InputError(problems, "cannot register the alerts")
    frame = alerts.copy()
    for column, default in (("end", None), ("grade", "orange"), ("title", ""), ("detail", "{}")):
        if column not in frame:
            frame[column] = default
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if row.source_kind not in SOURCE_KINDS:
            problems.append(Problem("alerts", i, "source_kind", str(row.source_kind),
                                    "bad_source_kind", "one of " + ", ".join(SOURCE_KINDS)))
        if row.grade not in ALERT_GRADES:
            problems.append(Problem("alerts", i, "grade", str(row.grade), "bad_grade",
                                    "one of " + ", ".join(ALERT_GRADES)))
        if organisation is not None and organisation.all_cells and \
                not organisation.has_cell(str(row.cell_id)):
            problems.append(Problem("alerts", i, "cell_id", str(row.cell_id), "unknown_cell",
                                    "a cell id of the grid (table cells)"))
        try:
            store.as_utc(row.start)
        except (ValueError, TypeError):
            problems.append(Problem("alerts", i, "start", str(row.start), "bad_time",
                                    "an ISO 8601 time"))
    if problems:
        raise InputError(problems, "cannot register the alerts")
    frame["start"] = [store.as_utc(v) for v in frame["start"]]
    frame["end"] = [None if v is None or pd.isna(v) else store.as_utc(v) for v in frame["end"]]
    frame["detail"] = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False,
                                                               default=str)
                       for v in frame["detail"]]
    frame["alert_id"] = alert_ids(frame)
    return frame.drop_duplicates("alert_id").reset_index(drop=True)


def register_alerts(workspace, alerts: pd.DataFrame, *, actor: str | Person = "system",
                    now=None, organisation: Organisation | None = None) -> RegisterResult:
    """Record alerts that are not yet known (state ``new``); known ones are left alone.

    Parameters
    ----------
    alerts : DataFrame
        source_kind, cell_id, pollutant, rule, start, and optionally end, grade
        (red|orange|yellow, default orange), title, detail (dict or JSON text:
        the evidence of the rule). See :mod:`sourcegrid.workflow.intake`.
    actor : str or Person
        Who raises them ('system' for rules); a Person needs ``raise`` on each cell.
    now : time, optional
        When they are raised (default: the system clock).

    Returns
    -------
    RegisterResult
        The new and the already known alert ids, and the checked frame.
    """
    store.ensure_tables(workspace)
    frame = _check_candidates(alerts, organisation)
    if isinstance(actor, Person):
        organisation = organisation or Organisation.load(workspace)
        for cell in frame["cell_id"].unique():
            require(organisation, actor, "raise", str(cell))
    now = store.utc_now() if now is None else store.as_utc(now)
    who = actor.person_id if isinstance(actor, Person) else str(actor)
    result = RegisterResult(frame=frame)
    if frame.empty:
        return result
    incoming = frame[["alert_id", "source_kind", "cell_id", "pollutant", "rule", "start", "end",
                      "grade", "title", "detail"]].copy()
    incoming["start"] = pd.to_datetime(incoming["start"], utc=True)
    incoming["end"] = pd.to_datetime(incoming["end"], utc=True)
    for attempt in range(3):
        try:
            with store.transaction(workspace) as handle:
                handle.register("incoming_alerts", incoming)
                known = set(handle.execute(
                    f"SELECT r.alert_id FROM {store.REGISTRY_TABLE} r "
                    "JOIN incoming_alerts i USING (alert_id)").df()["alert_id"])
                fresh = incoming[~incoming["alert_id"].isin(known)]
                fresh, merges = _merge_overlapping(handle, fresh, now, who)
                if len(fresh):
                    handle.register("fresh_alerts", fresh)
                    handle.execute(
                        f"INSERT INTO {store.REGISTRY_TABLE} SELECT alert_id, source_kind, "
                        "cell_id, pollutant, rule, start, \"end\", grade, title, detail, "
                        "?, ? FROM fresh_alerts", [now.to_pydatetime(), who])
                    handle.execute(
                        f"INSERT INTO {store.EVENTS_TABLE} SELECT alert_id || '-1', alert_id, 1,"
                        " ?, ?, 'raise', NULL, 'new', 'township', '[]', title, '{}', ? "
                        "FROM fresh_alerts", [now.to_pydatetime(), who, now.to_pydatetime()])
                handle.unregister("incoming_alerts")
            result.new = fresh["alert_id"].tolist()
            result.known = sorted(known)
            result.merged = merges
            return result
        except store.CONFLICT_ERRORS:
            if attempt == 2:
                raise ConcurrentUpdateError("the alerts were being registered by someone "
                                            "else at the same time; try again") from None
    return result  # pragma: no cover


_FOREVER = pd.Timestamp("2262-01-01", tz="UTC")


def _merge_overlapping(handle, fresh: pd.DataFrame, now: pd.Timestamp, who: str
                       ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Fold candidates into an open alert of the same kind, cell, pollutant and rule.

    A rolling or overlapping check offers a persisting hotspot again with another
    window start, hence another id. A candidate whose window [start, end) overlaps the
    window of an open alert of the same source kind, cell, pollutant and rule (an end
    of None is open-ended) is not registered: a ``comment`` event on the open alert
    records the merged window (evidence ``merged_window``: alert_id, start, end), and
    that window widens the alert's for later checks. Offering the same candidate again
    changes nothing. Candidates of one batch merge among themselves the same way.
    Alerts raised by hand (``manual``) are separate reports and never merged.
    """
    merges: dict[str, str] = {}
    offered = fresh
    manual = fresh["alert_id"][fresh["source_kind"] == "manual"].tolist()
    fresh = fresh[fresh["source_kind"] != "manual"]
    if fresh.empty:
        return offered, merges
    handle.register("fresh_keys", fresh[["cell_id", "pollutant", "rule", "source_kind"]]
                    .drop_duplicates())
    engine = handle.engine
    window_start = store.json_text(engine, "evidence", "merged_window", "start")
    window_end = store.json_text(engine, "evidence", "merged_window", "end")
    window_id = store.json_text(engine, "evidence", "merged_window", "alert_id")
    spans = handle.execute(f"""
        WITH last AS (
            SELECT alert_id, {store.last_value(engine, "to_state", "seq")} AS state,
                   {store.last_value(engine, "level", "seq")} AS level, max(seq) AS seq
            FROM {store.EVENTS_TABLE} GROUP BY alert_id),
        widened AS (
            SELECT alert_id, min(CAST({window_start} AS TIMESTAMPTZ)) AS start,
                   max(coalesce(CAST({window_end} AS TIMESTAMPTZ),
                                TIMESTAMPTZ '2262-01-01')) AS "end",
                   string_agg({window_id}, ',') AS ids
            FROM {store.EVENTS_TABLE}
            WHERE action = 'comment' AND {window_id} IS NOT NULL
            GROUP BY alert_id)
        SELECT r.alert_id, r.source_kind, r.cell_id, r.pollutant, r.rule,
               least(r.start, coalesce(w.start, r.start)) AS start,
               greatest(coalesce(r."end", TIMESTAMPTZ '2262-01-01'),
                        coalesce(w."end", r.start)) AS "end",
               coalesce(w.ids, '') AS ids, l.level, l.seq, l.state
        FROM {store.REGISTRY_TABLE} r JOIN last l USING (alert_id)
        JOIN fresh_keys k USING (cell_id, pollutant, rule, source_kind)
        LEFT JOIN widened w USING (alert_id)
        WHERE l.state IN (SELECT unnest(CAST(? AS VARCHAR[])))
        ORDER BY r.start, r.alert_id""", [list(OPEN_STATES)]).df()
    handle.unregister("fresh_keys")
    open_alerts: dict[tuple, list[dict]] = {}
    already: dict[str, str] = {}
    for row in spans.to_dict("records"):
        key = (row["source_kind"], row["cell_id"], row["pollutant"], row["rule"])
        row["start"] = pd.Timestamp(row["start"]).tz_convert("UTC")
        row["end"] = pd.Timestamp(row["end"]).tz_convert("UTC")
        row["fresh"] = False
        open_alerts.setdefault(key, []).append(row)
        for merged in filter(None, str(row["ids"]).split(",")):  # ids hold no comma
            already[merged] = row["alert_id"]
    keep, events = [], []
    for row in fresh.sort_values(["start", "alert_id"]).to_dict("records"):
        candidate = row["alert_id"]
        if candidate in already:
            merges[candidate] = already[candidate]
            continue
        start = pd.Timestamp(row["start"])
        end = _FOREVER if pd.isna(row["end"]) else pd.Timestamp(row["end"])
        key = (row["source_kind"], row["cell_id"], row["pollutant"], row["rule"])
        target = next((a for a in open_alerts.get(key, [])
                       if start < a["end"] and a["start"] < end), None)
        if target is None:
            keep.append(candidate)
            open_alerts.setdefault(key, []).append(
                {"alert_id": candidate, "start": start, "end": end, "fresh": True,
                 "level": "township", "seq": 1})
            continue
        merges[candidate] = target["alert_id"]
        target["start"], target["end"] = min(target["start"], start), max(target["end"], end)
        target["seq"] = int(target["seq"]) + 1
        window = {"alert_id": candidate, "start": _iso(start),
                  "end": None if end == _FOREVER else _iso(end)}
        events.append((target, window))
    for target, window in events:
        if target["fresh"]:
            continue  # merged into a candidate of this batch: the window is its own
        handle.execute(
            f"INSERT INTO {store.EVENTS_TABLE} VALUES (?, ?, ?, ?, ?, 'comment', ?, ?, ?, '[]', "
            "?, ?, ?)",
            [f"{target['alert_id']}-{target['seq']}", target["alert_id"], target["seq"],
             now.to_pydatetime(), who, target["state"], target["state"], target["level"],
             f"merged the overlapping window {window['start']} – {window['end'] or 'open'} "
             f"(alert {window['alert_id']})",
             json.dumps({"merged_window": window}), now.to_pydatetime()])
    return offered[offered["alert_id"].isin([*manual, *keep])], merges


def validate_evidence(evidence: Mapping | None) -> dict:
    """Check an event's evidence; every problem at once (InputError, source 'evidence')."""
    if evidence is None:
        return {}
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence) if evidence.strip() else {}
        except json.JSONDecodeError as error:
            raise InputError([Problem("evidence", None, "", evidence[:80], "bad_json",
                                      f"a JSON object ({error})")], "bad evidence") from None
    if not isinstance(evidence, Mapping):
        raise InputError([Problem("evidence", None, "", str(evidence)[:80], "bad_evidence",
                                  "a JSON object with keys " + ", ".join(EVIDENCE_KEYS))],
                         "bad evidence")
    problems = []
    for key in evidence:
        if key not in EVIDENCE_KEYS:
            problems.append(Problem("evidence", None, str(key), "", "unknown_key",
                                    "one of " + ", ".join(EVIDENCE_KEYS)))
    photos = evidence.get("photos", [])
    if not isinstance(photos, list) or not all(isinstance(p, str) and p for p in photos):
        problems.append(Problem("evidence", None, "photos", str(photos)[:80], "bad_photos",
                                EVIDENCE_KEYS["photos"]))
    measurements = evidence.get("measurements", [])
    if not isinstance(measurements, list):
        problems.append(Problem("evidence", None, "measurements", str(measurements)[:80],
                                "bad_measurement", EVIDENCE_KEYS["measurements"]))
        measurements = []
    for number, item in enumerate(measurements, start=1):
        if not isinstance(item, Mapping):
            problems.append(Problem("evidence", number, "measurements", str(item)[:80],
                                    "bad_measurement", EVIDENCE_KEYS["measurements"]))
            continue
        if item.get("instrument") not in _INSTRUMENTS:
            problems.append(Problem("evidence", number, "measurements.instrument",
                                    str(item.get("instrument")), "bad_instrument",
                                    "one of " + ", ".join(_INSTRUMENTS)))
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(Problem("evidence", number, "measurements.value", str(value),
                                    "not_a_number", "a measured value (number)"))
        if not item.get("pollutant"):
            problems.append(Problem("evidence", number, "measurements.pollutant", "",
                                    "missing_value", "the pollutant measured"))
    found = evidence.get("source_found")
    if found is not None:
        if not isinstance(found, Mapping):
            problems.append(Problem("evidence", None, "source_found", str(found)[:80],
                                    "bad_source_found", EVIDENCE_KEYS["source_found"]))
        else:
            if not (found.get("source_id") or (found.get("lon") is not None
                                               and found.get("lat") is not None)):
                problems.append(Problem("evidence", None, "source_found", json.dumps(found)[:80],
                                        "missing_value", "a source_id, or lon and lat of the "
                                        "source found"))
            for key in ("lon", "lat"):
                value = found.get(key)
                if value is not None and (isinstance(value, bool)
                                          or not isinstance(value, int | float)):
                    problems.append(Problem("evidence", None, f"source_found.{key}", str(value),
                                            "not_a_number", "a coordinate [degree]"))
            if "confirmed" in found and not isinstance(found["confirmed"], bool):
                problems.append(Problem("evidence", None, "source_found.confirmed",
                                        str(found["confirmed"]), "bad_boolean", "true or false"))
    problems_list = evidence.get("problems", [])
    if not isinstance(problems_list, list):
        problems.append(Problem("evidence", None, "problems", str(problems_list)[:80],
                                "bad_problems", EVIDENCE_KEYS["problems"]))
    if problems:
        raise InputError(problems, "bad evidence")
    return json.loads(json.dumps(dict(evidence), ensure_ascii=False, default=str))


def next_state(state: str | None, action: str, level: str = "township") -> tuple[str, str]:
    """(to_state, level) after ``action`` from ``state``; refused with a message.

    Raises
    ------
    NotFoundError
        For an unknown action.
    TransitionRefused
        When the state does not allow the action.
    """
    if action not in TRANSITIONS:
        raise NotFoundError("alert action", action, TRANSITIONS)
    allowed = TRANSITIONS[action]
    if state not in allowed:
        froms = ", ".join(s for s in allowed if s is not None) or "(none)"
        hint = _HINTS.get(action, "")
        raise TransitionRefused(f"cannot {action} an alert that is {state or 'not raised'}: "
                                f"{action} is allowed from {froms}"
                                + (f"; {hint}" if hint else ""))
    if action == "escalate":
        index = LEVELS.index(level)
        if index == len(LEVELS) - 1:
            raise TransitionRefused("cannot escalate an alert that is already at the city "
                                    "level (the last level)")
        return allowed[state], LEVELS[index + 1]
    if action == "reopen":
        return allowed[state], level
    return allowed[state], level


def _last_event(handle, alert: str):
    return handle.execute(f"SELECT seq, to_state, level, actor, action, time FROM "
                          f"{store.EVENTS_TABLE} WHERE alert_id = ? ORDER BY seq DESC LIMIT 1",
                          [alert]).fetchone()


def _registry_row(handle, alert: str):
    row = handle.execute(f"SELECT cell_id, grade, pollutant, title FROM {store.REGISTRY_TABLE} "
                         "WHERE alert_id = ?", [alert]).fetchone()
    if row is None:
        raise NotFoundError("alert", alert, ["an id of the alert list"])
    return row


def _finding(alert: str, cell: str, actor: str, now: pd.Timestamp, evidence: dict,
             note: str) -> dict | None:
    """Arguments of tracing's ``record_finding`` for an inspection's source_found."""
    found = evidence.get("source_found")
    if not found:
        return None
    return {"cell_id": cell, "source_id": str(found.get("source_id") or ""),
            "lon": found.get("lon"), "lat": found.get("lat"),
            "confirmed": bool(found.get("confirmed", True)),
            "problem": found.get("problem", "") or "; ".join(evidence.get("problems", [])),
            "inspector": actor, "time": now,
            "note": ((note or evidence.get("notes", "") or "") + f" [alert {alert}]").strip()}




def act(workspace, alert: str, action: str, actor: Person | str, *, now=None, note: str = "",
        evidence: Mapping | str | None = None, expected_seq: int | None = None,
        organisation: Organisation | None = None, assignees: Iterable[str] | None = None
        ) -> Event:
    """Append one event to an alert's log, if its state and the actor's role allow it.

    Parameters
    ----------
    alert : str
        The alert id.
    action : str
        One of :data:`TRANSITIONS` (dispatch, acknowledge, inspect, resolve,
        false_alarm, escalate, reopen, comment).
    actor : Person or str
        The person acting (role and scope checked by
        :func:`sourcegrid.workflow.policy.require` on the alert's cell), or a system
        name such as 'system' for :data:`SYSTEM_ACTIONS` only.
    now : time, optional
        Time of the event (default: the system clock).
    note : str
        Free text.
    evidence : dict or JSON text, optional
        See :data:`EVIDENCE_KEYS`; checked by :func:`validate_evidence`.
    expected_seq : int, optional
        The seq the caller saw; refused when the alert has moved on since.
    organisation : Organisation, optional
        Loaded organisation (default: loaded from the workspace).
    assignees : iterable of str, optional
        For dispatch, escalate and reopen: the people the alert goes to (default:
        the cell's responsible people at the new level).

    Returns
    -------
    Event

    Raises
    ------
    NotFoundError
        Unknown alert or action.
    AccessDenied
        The role or the scope does not allow the action.
    TransitionRefused
        The state does not allow the action.
    ConcurrentUpdateError
        ``expected_seq`` is stale, or another action committed first.
    InputError
        Bad evidence.
    """
    if action not in TRANSITIONS or action == "raise":
        raise NotFoundError("alert action", action, [a for a in TRANSITIONS if a != "raise"])
    evidence = validate_evidence(evidence)
    now = store.utc_now() if now is None else store.as_utc(now)
    if store.is_joined(workspace):  # a failed statement would abort the joined transaction
        store.ensure_tables(workspace)
    try:
        with store.cursor(workspace) as handle:
            cell, grade, _pollutant, _title = _registry_row(handle, alert)
    except store.MISSING_TABLE_ERRORS:  # a workspace without the workflow's tables yet
        store.ensure_tables(workspace)
        raise NotFoundError("alert", alert, ["an id of the alert list"]) from None
    if isinstance(actor, Person):
        organisation = organisation or Organisation.load(workspace)
        require(organisation, actor, action, cell)
        who = actor.person_id
    else:
        who = str(actor)
        if action not in SYSTEM_ACTIONS:
            raise AccessDenied(f"{action} needs a person (a grid head, supervisor or office); "
                               f"{who!r} may only {', '.join(SYSTEM_ACTIONS)}")
    finding = _finding(alert, cell, who, now, evidence, note) if action == "inspect" else None
    finding_row = None
    if finding is not None:  # checked before anything is written
        from sourcegrid.tracing import findings

        finding_row = findings.validate_findings(pd.DataFrame([finding]), "evidence")
    try:
        with store.transaction(workspace) as handle:
            last = _last_event(handle, alert)
            seq, state, level = (last[0], last[1], last[2]) if last else (0, None, "township")
            if expected_seq is not None and expected_seq != seq:
                raise ConcurrentUpdateError(
                    f"alert {alert} changed since you read it (event {expected_seq}): it is "
                    f"now {state} after {last[4]} by {last[3]} (event {seq}); reload it and "
                    "try again")
            to_state, to_level = next_state(state, action, level)
            people: tuple[str, ...] = ()
            if action in ("dispatch", "escalate", "reopen"):
                if assignees is None:
                    organisation = organisation or Organisation.load(workspace)
                    people = tuple(p.person_id for p in organisation.responsible(cell, to_level))
                else:
                    people = tuple(assignees)
                if action == "escalate":  # the level below stays on it
                    before = handle.execute(
                        f"SELECT assignees FROM {store.EVENTS_TABLE} WHERE alert_id = ? AND "
                        "action IN ('dispatch', 'escalate', 'reopen') ORDER BY seq DESC LIMIT 1",
                        [alert]).fetchone()
                    earlier = json.loads(before[0]) if before else []
                    people = tuple(dict.fromkeys([*earlier, *people]))
                if not people and not note:
                    note = f"no responsible person found at {to_level} level"
            event = Event(f"{alert}-{seq + 1}", alert, seq + 1, now, who, action, state,
                          to_state, to_level, people, note, evidence)
            handle.execute(f"INSERT INTO {store.EVENTS_TABLE} VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [event.event_id, alert, event.seq, now.to_pydatetime(), who, action,
                            state, to_state, to_level, json.dumps(list(people)), note,
                            json.dumps(evidence, ensure_ascii=False),
                            store.utc_now().to_pydatetime()])
            if finding_row is not None:  # in the same transaction as the inspect event
                _insert_finding(handle, finding_row, findings.FINDINGS_TABLE)
    except store.CONFLICT_ERRORS as error:
        raise ConcurrentUpdateError(
            f"alert {alert} was changed by someone else at the same moment; your {action} "
            f"was not recorded; reload it and try again ({type(error).__name__})") from None
    except store.DATABASE_ERRORS as error:  # e.g. a findings table of another shape
        from sourcegrid.store.engines import redact

        what = ("the inspection finding could not be stored" if finding_row is not None
                else "the workspace refused it")
        raise WorkspaceError(f"your {action} of alert {alert} was not recorded: {what} "
                             f"({redact(str(error).strip())})") from None
    if finding is not None:
        event = Event(**{**event.__dict__, "finding_recorded": True})
    return event


def _insert_finding(handle, row: pd.DataFrame, table: str) -> None:
    """Append a validated finding (tracing's columns) to its table, once per finding_id.

    Runs on the event's transaction, so the event and its finding commit together or
    not at all. ``table`` is tracing's constant, never user text.
    """
    handle.register("new_finding", row)
    try:
        if store.tables_present(handle, [table]):
            names = ", ".join(f'"{column}"' for column in row.columns)  # tracing's columns
            handle.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM new_finding '
                           f'WHERE finding_id NOT IN (SELECT finding_id FROM "{table}")')
        else:
            handle.execute(f'CREATE TABLE "{table}" AS SELECT * FROM new_finding')
    finally:
        handle.unregister("new_finding")


def dispatch_alerts(workspace, *, actor: Person | str = "system", now=None,
                    alert_ids: Iterable[str] | None = None,
                    organisation: Organisation | None = None) -> list[Event]:
    """Dispatch every ``new`` alert (or those listed) to its cell's township people.

    Idempotent: alerts already dispatched (or further) are left alone, so running it
    again records nothing; an alert dispatched by someone else meanwhile is skipped.
    """
    store.ensure_tables(workspace)
    states = alert_states(workspace, alert_ids=alert_ids)
    pending = states[states["state"] == "new"]
    organisation = organisation or Organisation.load(workspace)
    events = []
    for row in pending.itertuples():
        try:
            events.append(act(workspace, row.alert_id, "dispatch", actor, now=now,
                              expected_seq=int(row.seq), organisation=organisation))
        except (ConcurrentUpdateError, TransitionRefused):
            continue
    return events


def _deadlines(frame: pd.DataFrame, deadlines: Mapping) -> pd.Series:
    """Deadline of each open, dispatched alert (NaT otherwise)."""
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    if frame.empty:
        return out
    stage = pd.Series(None, index=frame.index, dtype=object)
    stage[frame["state"] == "dispatched"] = "acknowledge"
    stage[frame["state"].isin(["acknowledged", "inspected"])] = "close"
    hours = [deadlines.get(level, {}).get(grade, {}).get(s) if s is not None else None
             for level, grade, s in zip(frame["level"], frame["grade"], stage, strict=True)]
    hours = pd.to_numeric(pd.Series(hours, index=frame.index, dtype=object), errors="coerce")
    since = pd.to_datetime(frame["level_since"], utc=True)
    valid = hours.notna() & since.notna()
    out[valid] = since[valid] + pd.to_timedelta(hours[valid], unit="h")
    return out


def overdue_at(frame: pd.DataFrame, until, deadlines: Mapping) -> pd.Series:
    """The one overdue rule: the deadline of the alert's current stage has passed.

    The stage is 'acknowledge' while dispatched and 'close' while acknowledged or
    inspected; its deadline is ``level_since`` (the last dispatch, escalate or reopen)
    plus the hours of the current level and grade in ``deadlines``; new and closed
    alerts have none. Used for the inbox and escalation (:func:`alert_states`, until =
    now) and, replayed over the log, for the assessment (:func:`overdue_alerts`).

    Parameters
    ----------
    frame : DataFrame
        state, level, grade, level_since of each alert (or each step of one).
    until : Timestamp or Series
        The moment(s) to check against (a Series aligned with ``frame``).
    deadlines : mapping
        A deadline set (:data:`DEADLINES`).

    Returns
    -------
    Series of bool
    """
    deadline = _deadlines(frame, deadlines)
    if not isinstance(until, pd.Series):
        until = pd.Series(store.as_utc(until), index=frame.index)
    return (deadline.notna() & (deadline < until)).astype(bool)


def overdue_alerts(events: pd.DataFrame, grades: pd.Series, as_of,
                   deadlines: Mapping) -> pd.Series:
    """Whether each alert was overdue at some moment before ``as_of`` (:func:`overdue_at`).

    The log is replayed: after each event the alert holds a state, level and
    ``level_since`` until its next event (or ``as_of``); it was overdue when the
    deadline in force passed before that next step.

    Parameters
    ----------
    events : DataFrame
        alert_id, seq, time, action, to_state, level (events at or after ``as_of``
        are ignored).
    grades : Series
        Grade of each alert, indexed by alert_id.
    as_of : Timestamp
    deadlines : mapping

    Returns
    -------
    Series of bool indexed by alert_id (alerts with events before ``as_of``).
    """
    as_of = store.as_utc(as_of)
    steps = events.assign(time=pd.to_datetime(events["time"], utc=True))
    steps = steps[steps["time"] < as_of].sort_values(["alert_id", "seq"]).reset_index(drop=True)
    if steps.empty:
        return pd.Series(dtype=bool)
    moves = steps["action"].isin(["dispatch", "escalate", "reopen"])
    steps["level_since"] = steps["time"].where(moves)
    steps["level_since"] = steps.groupby("alert_id")["level_since"].ffill()
    steps["state"] = steps["to_state"]
    steps["grade"] = steps["alert_id"].map(grades)
    following = steps.groupby("alert_id")["time"].shift(-1)
    until = following.fillna(as_of)
    flags = overdue_at(steps, until, deadlines)
    return flags.groupby(steps["alert_id"]).any()


#: Moves that give an alert to (new) people at a level.
_MOVES = "('dispatch', 'escalate', 'reopen')"


def state_sql(engine: str, where: str) -> str:
    """SQL of the state of each alert from its log (the last event's fields, the times of
    the steps) in ``engine``'s dialect, for the events a ``where`` clause keeps (``""``
    for all, or ``WHERE e.…``)."""
    def last(column: str, among: str | None = None) -> str:
        return store.last_value(engine, f"e.{column}", "e.seq", among)

    return f"""
SELECT e.alert_id,
       {last("to_state")} AS state,
       {last("level")} AS level,
       max(e.seq) AS seq,
       max(e.time) AS last_time,
       {last("actor")} AS last_actor,
       {last("action")} AS last_action,
       min(e.time) FILTER (WHERE e.action = 'dispatch') AS dispatched_at,
       min(e.time) FILTER (WHERE e.action = 'acknowledge') AS acknowledged_at,
       min(e.time) FILTER (WHERE e.action = 'inspect') AS inspected_at,
       min(e.time) FILTER (WHERE e.to_state IN ('resolved', 'false_alarm')
                           AND e.from_state IS DISTINCT FROM e.to_state) AS closed_at,
       count(*) FILTER (WHERE e.action = 'escalate') AS escalations,
       max(e.time) FILTER (WHERE e.action IN {_MOVES}) AS level_since,
       {last("assignees", f"e.action IN {_MOVES}")} AS assignees
FROM {store.EVENTS_TABLE} e
{where}
GROUP BY e.alert_id
"""


_STATE_COLUMNS = ("state", "level", "seq", "last_time", "last_actor", "last_action",
                  "dispatched_at", "acknowledged_at", "inspected_at", "closed_at", "escalations",
                  "level_since", "assignees")


def alert_states(workspace, *, alert_ids: Iterable[str] | None = None, now=None,
                 deadlines: str | Mapping = "sourcegrid_default") -> pd.DataFrame:
    """Current state of alerts, derived from the event log (nothing stored).

    Returns
    -------
    DataFrame
        :data:`ALERT_COLUMNS`: the registry columns, then state, level, seq (last
        event), last_time, last_actor, last_action, dispatched_at, acknowledged_at,
        inspected_at, closed_at (first time closed), escalations, level_since
        (when the alert reached its level), assignees (list), deadline (of the
        current stage at the current level; NaT when closed or new) and overdue
        (deadline before ``now``; False without ``now``).
    """
    store.ensure_tables(workspace)
    parameters: list = []
    where = ""
    if alert_ids is not None:
        where = "WHERE e.alert_id IN (SELECT unnest(CAST(? AS VARCHAR[])))"
        parameters.append([str(a) for a in alert_ids] or [""])
    sql = ("SELECT r.alert_id, r.source_kind, r.cell_id, r.pollutant, r.rule, r.start, "
           "r.\"end\", r.grade, r.title, r.raised_at, "
           + ", ".join(f"s.{column}" for column in _STATE_COLUMNS)
           + f" FROM {store.REGISTRY_TABLE} r JOIN ({state_sql(workspace.engine, where)}) s "
           "USING (alert_id)")
    frame = store.query(workspace, sql + " ORDER BY r.raised_at, r.alert_id", parameters)
    frame["assignees"] = [json.loads(v) if isinstance(v, str) else [] for v in
                          frame["assignees"]]
    frame["escalations"] = frame["escalations"].astype("int64")
    frame["seq"] = frame["seq"].astype("int64")
    frame["deadline"] = _deadlines(frame, deadline_set(deadlines))
    if now is None:
        frame["overdue"] = False
    else:
        frame["overdue"] = overdue_at(frame, now, deadline_set(deadlines)).to_numpy(bool)
    return frame[ALERT_COLUMNS]


def alert_events(workspace, alert: str | None = None) -> pd.DataFrame:
    """The event log (of one alert, or all), in order; evidence and assignees parsed.

    No scope check here: for a person, read an alert with :func:`get_alert` (which
    checks that its cell is in their scope) or filter by :func:`list_alerts`.
    """
    store.ensure_tables(workspace)
    sql = f"SELECT * FROM {store.EVENTS_TABLE}"
    parameters = []
    if alert is not None:
        sql += " WHERE alert_id = ?"
        parameters.append(alert)
    frame = store.query(workspace, sql + " ORDER BY alert_id, seq", parameters)
    frame["evidence"] = [json.loads(v) for v in frame["evidence"]]
    frame["assignees"] = [json.loads(v) for v in frame["assignees"]]
    return frame


def escalate_overdue(workspace, *, now=None, deadlines: str | Mapping = "sourcegrid_default",
                     actor: str = "system", organisation: Organisation | None = None
                     ) -> pd.DataFrame:
    """Escalate every open alert whose deadline has passed to the next level.

    Parameters
    ----------
    now : time, optional
        The clock (default: the system clock); tests pass simulated times.
    deadlines : str or mapping
        A name in :data:`DEADLINES` or a mapping of the same shape.

    Returns
    -------
    DataFrame
        alert_id, from_level, to_level, deadline, escalated (False for an overdue
        alert already at city level, which is only reported).
    """
    now = store.utc_now() if now is None else store.as_utc(now)
    states = alert_states(workspace, now=now, deadlines=deadlines)
    overdue = states[states["overdue"]]
    organisation = organisation or Organisation.load(workspace)
    rows = []
    for row in overdue.itertuples():
        if row.level == LEVELS[-1]:
            rows.append((row.alert_id, row.level, row.level, row.deadline, False))
            continue
        stage = "acknowledge" if row.state == "dispatched" else "close"
        try:
            event = act(workspace, row.alert_id, "escalate", actor, now=now,
                        expected_seq=int(row.seq), organisation=organisation,
                        note=f"{stage} deadline {row.deadline.isoformat()} passed at "
                             f"{row.level} level")
        except (ConcurrentUpdateError, TransitionRefused):
            continue
        rows.append((row.alert_id, row.level, event.level, row.deadline, True))
    return pd.DataFrame(rows, columns=["alert_id", "from_level", "to_level", "deadline",
                                       "escalated"])


def allowed_actions(organisation: Organisation, person: Person, state_row) -> list[str]:
    """Actions ``person`` may take now on an alert (a row of :func:`alert_states`)."""
    state, level, cell = state_row["state"], state_row["level"], state_row["cell_id"]
    out = []
    for action, froms in TRANSITIONS.items():
        if action == "raise" or state not in froms:
            continue
        if action == "escalate" and level == LEVELS[-1]:
            continue
        if why_not(organisation, person, action, cell) is None:
            out.append(action)
    return out


def list_alerts(workspace, person: Person | None = None, *,
                organisation: Organisation | None = None, states: Iterable[str] | None = None,
                cell_id: str | None = None, unit: str | None = None, now=None,
                deadlines: str | Mapping = "sourcegrid_default", assigned_only: bool = False
                ) -> pd.DataFrame:
    """Alerts with their current state, limited to what ``person`` may see.

    Parameters
    ----------
    person : Person, optional
        Only alerts on cells in this person's scope (None: all, for the CLI and
        system jobs); adds ``actions`` (what the person may do) and ``assigned``.
    states : iterable of str, optional
        Keep these states (e.g. :data:`OPEN_STATES`).
    cell_id, unit : str, optional
        Keep one cell, or the cells of one unit (code).
    now : time, optional
        For ``overdue``.
    assigned_only : bool
        Only alerts whose current assignees include ``person``.
    """
    frame = alert_states(workspace, now=now, deadlines=deadlines)
    if states is not None:
        wanted = list(states)
        bad = [s for s in wanted if s not in STATES]
        if bad:
            raise NotFoundError("alert state", bad[0], STATES)
        frame = frame[frame["state"].isin(wanted)]
    if cell_id is not None:
        frame = frame[frame["cell_id"] == cell_id]
    if person is not None or unit is not None:
        organisation = organisation or Organisation.load(workspace)
    if unit is not None:
        organisation.unit(unit)
        frame = frame[frame["cell_id"].isin(organisation.unit_cells(unit))]
    if person is not None:
        frame = frame[frame["cell_id"].isin(organisation.visible_cells(person))].copy()
        frame["assigned"] = [person.person_id in a for a in frame["assignees"]]
        if assigned_only:
            frame = frame[frame["assigned"]].copy()
        frame["actions"] = [allowed_actions(organisation, person, row)
                            for _, row in frame.iterrows()]
    return frame.reset_index(drop=True)


def get_alert(workspace, alert: str, person: Person | None = None, *,
              organisation: Organisation | None = None, now=None,
              deadlines: str | Mapping = "sourcegrid_default") -> dict:
    """One alert: registry fields, current state, detail, events and allowed actions.

    Raises
    ------
    NotFoundError
        Unknown alert.
    AccessDenied
        The alert's cell is outside ``person``'s scope.
    """
    states = alert_states(workspace, alert_ids=[alert], now=now, deadlines=deadlines)
    if states.empty:
        raise NotFoundError("alert", alert, ["an id of the alert list"])
    row = states.iloc[0]
    if person is not None:
        organisation = organisation or Organisation.load(workspace)
        require(organisation, person, "view", row["cell_id"])
    detail = store.query(workspace, f"SELECT detail FROM {store.REGISTRY_TABLE} WHERE "
                         "alert_id = ?", [alert])["detail"].iloc[0]
    out = row.to_dict()
    out["detail"] = json.loads(detail) if detail else {}
    out["events"] = alert_events(workspace, alert).to_dict("records")
    out["actions"] = (allowed_actions(organisation, person, row) if person is not None
                      else [])
    return out
