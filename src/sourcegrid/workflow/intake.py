"""Alert candidates from the grid's results: hotspot rules, monthly lists, micro-station
alerts, tracing, and alerts raised by hand.

Each function turns one result table into candidate rows for
:func:`sourcegrid.workflow.alerts.register_alerts` (columns source_kind,
cell_id, pollutant, rule, start, end, grade, title, detail); registering them
again, or the alerts of an overlapping window, adds nothing twice because the
alert id is a hash of (source_kind, cell_id, pollutant, rule, start).

=============  ===================  =============================  =================
source_kind    table                rule                           start
=============  ===================  =============================  =================
hotspot        ``hotspots``         its method (rank, gistar,      period_start
                                    persistence); gistar keeps
                                    hot spots only
monthly        ``hotspots``         'monthly:' + list (highest,    period_start
               (method monthly)     year_on_year, month_on_month)  (the month)
micro          ``alerts``           'micro:' + site + ':' + rules  start of the run
tracing        ``trace_results``    'trace:' + first source_id     start
manual         (by hand)            'manual'                       given, else now
=============  ===================  =============================  =================

Grade: red / orange / yellow from the cell's excess level in ``cell_grades``
(3, 2, 1, see :mod:`sourcegrid.grid.grading`); a hotspot cell without an excess
level is yellow, a micro-station alert whose threshold rule fired is red
(else orange), a traced cell takes its grade or orange.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from sourcegrid.workflow import tables as store

__all__ = ["CANDIDATE_COLUMNS", "grade_of_cells", "from_hotspots", "from_micro_alerts",
           "from_traces", "manual_alert", "SOURCE_TABLES", "DEFAULT_SOURCES", "candidates_from_workspace", "raise_from_workspace"]

CANDIDATE_COLUMNS = ["source_kind", "cell_id", "pollutant", "rule", "start", "end", "grade",
                     "title", "detail"]
_EXCESS_GRADE = {3: "red", 2: "orange", 1: "yellow", 0: "yellow"}
_LIST_NAMES = {"highest": "浓度最高", "year_on_year": "同比恶化", "month_on_month": "环比恶化"}


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=CANDIDATE_COLUMNS)


def _detail(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    present = [c for c in columns if c in frame.columns]
    records = json.loads(frame[present].to_json(orient="records", date_format="iso",
                                                force_ascii=False))
    return [json.dumps(r, ensure_ascii=False) for r in records]


def grade_of_cells(grades: pd.DataFrame | None) -> dict[str, str]:
    """cell_id → alert grade from a ``cell_grades`` table (excess_level 3/2/1/0)."""
    if grades is None or grades.empty or "excess_level" not in grades:
        return {}
    levels = pd.to_numeric(grades["excess_level"], errors="coerce").fillna(0).astype(int)
    return dict(zip(grades["cell_id"].astype(str), levels.map(_EXCESS_GRADE), strict=True))


def from_hotspots(hotspots: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
    """Candidates from a ``hotspots`` table (any method; monthly lists included).

    Parameters
    ----------
    hotspots : DataFrame
        As stored by ``sourcegrid hotspots``: cell_id, method, pollutant,
        period_start, period_end, mean [ug/m3], and per method ratio_to_city_mean,
        z and spot, persistence, or list and change_percent.
    grades : DataFrame, optional
        ``cell_grades`` (for the grade).
    """
    if hotspots is None or hotspots.empty:
        return _empty()
    frame = hotspots.copy()
    if "method" not in frame:
        frame["method"] = "monthly" if "list" in frame else "rank"
    if "period_start" not in frame and "month" in frame:  # the pipeline's hotspot_monthly
        from sourcegrid.grid.hotspots import month_bounds

        bounds = {m: month_bounds(m) for m in frame["month"].astype(str).unique()}
        frame["period_start"] = frame["month"].astype(str).map(lambda m: bounds[m][0])
        frame["period_end"] = frame["month"].astype(str).map(lambda m: bounds[m][1])
    if "period_start" not in frame:
        from sourcegrid.errors import InputError, Problem

        raise InputError([Problem("hotspots", 1, "period_start", "", "missing_column",
                                  "the period of the hotspot run (period_start, period_end "
                                  "or month), which the alert ids are made from")],
                         "cannot raise alerts from the hotspots")
    if "spot" in frame:  # Gi*: only the hot spots are hotspot cells
        frame = frame[(frame["method"] != "gistar") | (frame["spot"] == "hot")]
    if frame.empty:
        return _empty()
    monthly = frame["method"] == "monthly"
    kind = np.where(monthly, "monthly", "hotspot")
    listed = frame["list"].astype(str) if "list" in frame else pd.Series("", index=frame.index)
    rule = np.where(monthly, "monthly:" + listed, frame["method"].astype(str))
    pollutant = frame["pollutant"] if "pollutant" in frame else "PM2.5"
    grade_map = grade_of_cells(grades)
    grade = frame["cell_id"].astype(str).map(grade_map).fillna("yellow")
    mean = pd.to_numeric(frame.get("mean"), errors="coerce")
    ratio = (pd.to_numeric(frame["ratio_to_city_mean"], errors="coerce")
             if "ratio_to_city_mean" in frame else pd.Series(np.nan, index=frame.index))
    ratio_text = ratio.map(lambda v: "" if pd.isna(v) else f", {v:.2f}× city mean")
    list_text = listed.map(lambda v: f" ({_LIST_NAMES.get(v, v)})" if v else "")
    title = ("热点网格 " + frame["cell_id"].astype(str) + list_text.where(monthly, "")
             + ": " + pd.Series(pollutant, index=frame.index).astype(str) + " "
             + mean.map(lambda v: "?" if pd.isna(v) else f"{v:.0f}") + " µg/m³" + ratio_text)
    out = pd.DataFrame({
        "source_kind": kind, "cell_id": frame["cell_id"].astype(str).to_numpy(),
        "pollutant": pd.Series(pollutant, index=frame.index).astype(str).to_numpy(),
        "rule": rule, "start": frame["period_start"].to_numpy(),
        "end": frame["period_end"].to_numpy() if "period_end" in frame else None,
        "grade": grade.to_numpy(), "title": title.to_numpy(),
        "detail": _detail(frame, ["method", "list", "rank", "mean", "city_mean",
                                  "ratio_to_city_mean", "z", "p_two_sided", "spot",
                                  "persistence", "hot_hours", "hours", "reference_mean",
                                  "change_percent", "period_start", "period_end"]),
    })
    return out[CANDIDATE_COLUMNS].reset_index(drop=True)


def from_micro_alerts(alerts: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
    """Candidates from the ``alerts`` table of ``sourcegrid grid alerts check``."""
    if alerts is None or alerts.empty:
        return _empty()
    frame = alerts[alerts["cell_id"].astype(str) != ""].copy()
    if frame.empty:
        return _empty()
    rules = frame["rules"].astype(str)
    grade = np.where(rules.str.contains("threshold"), "red", "orange")
    title = ("微站报警 " + frame["site_id"].astype(str) + " in " + frame["cell_id"].astype(str)
             + ": " + frame["pollutant"].astype(str) + " max "
             + pd.to_numeric(frame["max_value"], errors="coerce").map("{:.0f}".format)
             + " (" + rules + ")")
    out = pd.DataFrame({
        "source_kind": "micro", "cell_id": frame["cell_id"].astype(str).to_numpy(),
        "pollutant": frame["pollutant"].astype(str).to_numpy(),
        "rule": ("micro:" + frame["site_id"].astype(str) + ":" + rules).to_numpy(),
        "start": frame["start"].to_numpy(), "end": frame["end"].to_numpy(), "grade": grade,
        "title": title.to_numpy(),
        "detail": _detail(frame, ["site_id", "readings", "max_value", "rules", "threshold",
                                  "values", "times", "neighbour_medians", "city_medians",
                                  "raised_at", "alert_id"]),
    })
    return out[CANDIDATE_COLUMNS].reset_index(drop=True)


def from_traces(traces: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
    """Candidates from ``trace_results`` (one alert per run and cell: its top source).

    The ranked rows of a run are sorted by their ``rank`` column when there is one
    (else by ``share`` or ``contribution`` descending); the first names the rule.
    """
    if traces is None or traces.empty:
        return _empty()
    frame = traces.copy()
    order = next((c for c in ("rank",) if c in frame), None)
    if order is not None:
        frame = frame.sort_values(order, kind="mergesort")
    else:
        key = next((c for c in ("share", "contribution", "score") if c in frame), None)
        if key is not None:
            frame = frame.sort_values(key, ascending=False, kind="mergesort")
    keys = [c for c in ("run_id", "cell_id") if c in frame]
    top = frame.groupby(keys, sort=False).head(1)
    grade_map = grade_of_cells(grades)
    source = top["source_id"].astype(str) if "source_id" in top else pd.Series(
        "?", index=top.index)
    name = top["name"].astype(str) if "name" in top else source
    pollutant = top["pollutant"] if "pollutant" in top else "PM2.5"
    out = pd.DataFrame({
        "source_kind": "tracing", "cell_id": top["cell_id"].astype(str).to_numpy(),
        "pollutant": pd.Series(pollutant, index=top.index).astype(str).to_numpy(),
        "rule": ("trace:" + source).to_numpy(),
        "start": top["start"].to_numpy(), "end": top["end"].to_numpy() if "end" in top else None,
        "grade": top["cell_id"].astype(str).map(grade_map).fillna("orange").to_numpy(),
        "title": ("溯源 " + top["cell_id"].astype(str) + ": main source " + name).to_numpy(),
        "detail": _detail(top, [c for c in top.columns if c not in ("cell_id",)]),
    })
    return out[CANDIDATE_COLUMNS].reset_index(drop=True)


def manual_alert(cell_id: str, title: str, *, pollutant: str = "PM2.5", start=None,
                 grade: str = "orange", note: str = "", end=None) -> pd.DataFrame:
    """One candidate raised by hand (rule 'manual'; start defaults to now)."""
    start = store.utc_now().floor("s") if start is None else store.as_utc(start)
    return pd.DataFrame([{"source_kind": "manual", "cell_id": str(cell_id),
                          "pollutant": pollutant, "rule": "manual", "start": start,
                          "end": None if end is None else store.as_utc(end), "grade": grade,
                          "title": title, "detail": json.dumps({"note": note},
                                                               ensure_ascii=False)}])


def _read(workspace, name: str) -> pd.DataFrame | None:
    return store.query(workspace, f'SELECT * FROM "{name}"') if store.has_table(
        workspace, name) else None


#: The workspace table each alert source reads (the pipeline keeps each hotspot
#: method's result in its own table; ``sourcegrid hotspots`` writes ``hotspots``).
SOURCE_TABLES = {"hotspots": "hotspots", "monthly": "hotspot_monthly",
                 "gistar": "hotspot_gistar", "persistence": "hotspot_persistence",
                 "micro": "alerts", "tracing": "trace_results"}
DEFAULT_SOURCES = ("hotspots", "monthly", "micro", "tracing")


def candidates_from_workspace(workspace, sources=DEFAULT_SOURCES) -> pd.DataFrame:
    """Candidates from the workspace's hotspot tables, ``alerts`` and ``trace_results``.

    Parameters
    ----------
    sources : iterable of str
        Names in :data:`SOURCE_TABLES` (hotspots, monthly, gistar, persistence,
        micro, tracing); missing tables give no candidates.
    """
    from sourcegrid.errors import NotFoundError

    grades = _read(workspace, "cell_grades")
    pieces = []
    for source in sources:
        if source not in SOURCE_TABLES:
            raise NotFoundError("alert source", source, SOURCE_TABLES)
        table = _read(workspace, SOURCE_TABLES[source])
        function = {"micro": from_micro_alerts, "tracing": from_traces}.get(source,
                                                                            from_hotspots)
        pieces.append(function(table, grades))
    pieces = [p for p in pieces if not p.empty]
    if not pieces:
        return _empty()
    # records, not concat: pieces may hold all-missing columns (e.g. no 'end')
    return pd.DataFrame([r for piece in pieces for r in piece.to_dict("records")],
                        columns=CANDIDATE_COLUMNS)


def raise_from_workspace(workspace, sources=DEFAULT_SOURCES, *,
                         actor="system", now=None, dispatch: bool = True):
    """Register the workspace's new alerts and (by default) dispatch them.

    Returns
    -------
    (RegisterResult, list of dispatch Events)
    """
    from sourcegrid.workflow.alerts import dispatch_alerts, register_alerts

    result = register_alerts(workspace, candidates_from_workspace(workspace, sources),
                             actor=actor, now=now)
    events = (dispatch_alerts(workspace, actor=actor, now=now, alert_ids=result.new)
              if dispatch and result.new else [])
    return result, events
