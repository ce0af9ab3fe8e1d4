"""The monitoring method (实测法): emissions from hourly CEMS or manual measurements.

Input (DESIGN.md, issue 9 §1), one row per outlet × pollutant × hour (CEMS) or per
measurement (manual): enterprise_id, outlet_id, time, pollutant, concentration
[mg/m³], flow [m³/h, standard state, dry], optional ``valid`` (1/0, true/false,
有效/无效), optional ``kind`` (``cems`` | ``manual``, default ``cems``) and, for
manual rows, ``operating_hours`` [h] (the hours of the period the measurement
stands for).

Formulas:

- hourly emission [kg] ``e_h = C_h × Q_h × 10⁻⁶`` (mg/m³ × m³/h × 1 h);
- CEMS period total ``E = Σ_h e_h`` over every hour of the series' span, valid
  hours as measured, invalid or missing hours filled by the rule below;
- manual period total ``E = mean(C × Q) × 10⁻⁶ × operating_hours`` (the mean
  emission rate of the period's measurements times the hours operated).

Invalid and missing CEMS hours (``FILL_RULES``): the text of HJ 75-2017 was not to
hand, so the default rule ``hj75_style`` is sourcegrid's own, configurable, and
modelled on the data-substitution practice for CEMS described for HJ 75-2017:

- a gap of at most ``short_gap_hours`` (24) consecutive hours: concentration and
  flow are each the mean of the last valid hour before and the first valid hour
  after the gap (one side only at the ends of the series);
- a longer gap: each is the maximum of the previous ``lookback_hours`` (720)
  valid hours (the whole series' valid hours when none came before);
- a series is *valid automatic monitoring* when its capture rate (valid hours /
  expected hours) is at least ``min_capture_rate`` (0.90; a series below it is
  still computed but not preferred by :mod:`sourcegrid.accounting.methods`).

Every filled hour is counted (``filled_short_hours``, ``filled_long_hours``) and
marked (``fill`` column of the hourly table: ``measured``, ``short_gap``,
``long_gap``). Expected hours: every hour from the series' first to its last
record, or a given ``start``/``end``.

Engines: the row-level work is Ibis expressions (:func:`monitoring_expressions`), run
by the workspace's engine (DuckDB, PySpark, PostgreSQL; tests/accounting/
test_methods_engines.py runs the same case on each). The expected hours of each series
are generated in the engine (a range of hour offsets per series, unnested) and joined
with the measurements, so a missing hour is a row like any other; the fill is two
window passes per series (:func:`_fill_expr`) and the totals a grouped sum. Only the
totals (one row per outlet × pollutant × period) come back to Python, and the hours
when asked (``fetch_hourly``; by default for a DataFrame input, as the CLI's
``--hours-out`` writes them). The input checks are Ibis expressions too
(:func:`check_monitoring_table`), for a table already in the engine and for a DataFrame
alike: a DataFrame is read in pandas (:func:`prepare_monitoring`: headers, row numbers,
text, and the times, which an engine cannot parse in their many written forms), sent to
the engine and checked there. Periods are Beijing time, UTC+8 (no daylight saving since
1991).

Limits: no oxygen-content correction (折算浓度) is applied: concentrations are
taken as actual dry standard-state values, which is what a mass total needs.
Generation and removal are not defined by outlet measurements alone (NaN).

References
----------
.. [1] HJ 75-2017 固定污染源烟气(SO2、NOx、颗粒物)排放连续监测技术规范 (data
   handling of CEMS; rule paraphrased, not verified against the text here).
.. [2] HJ 819-2017 排污单位自行监测技术指南 总则 (manual monitoring).
.. [3] HJ 944-2018 排污单位环境管理台账及排污许可证执行报告技术规范 (实测法 totals
   as concentration × flow × time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from sourcegrid.accounting.inputs import read_number
from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers
from sourcegrid.store.portable import as_count, engine_table, strip

__all__ = ["FILL_RULES", "MONITORING_ALIASES", "MonitoringResult", "prepare_monitoring",
           "check_monitoring_table", "monitoring_expressions", "cems_totals",
           "account_monitoring",
           "hourly_emission", "number_column"]

#: Named rules for invalid and missing CEMS hours (see the module docstring).
FILL_RULES: dict[str, dict[str, float]] = {
    # sourcegrid default modelled on HJ 75-2017's substitution rules (text not verified)
    "hj75_style": {"short_gap_hours": 24, "lookback_hours": 720, "min_capture_rate": 0.90},
    # stricter: any gap over 1 h takes the look-back maximum
    "conservative": {"short_gap_hours": 1, "lookback_hours": 720, "min_capture_rate": 0.90},
}

MONITORING_ALIASES = {
    "企业编号": "enterprise_id", "排放口编号": "outlet_id", "时间": "time", "监测时间": "time",
    "污染物": "pollutant", "污染物指标": "pollutant", "浓度": "concentration",
    "实测浓度": "concentration", "标干流量": "flow", "流量": "flow", "有效": "valid",
    "有效标记": "valid", "监测方式": "kind", "运行小时": "operating_hours",
}
REQUIRED = ("enterprise_id", "outlet_id", "time", "pollutant", "concentration", "flow")
KINDS = ("cems", "manual")
_VALID_TEXT = {"1": True, "1.0": True, "0.0": False, "true": True, "yes": True, "有效": True, "y": True, "t": True,
               "0": False, "false": False, "no": False, "无效": False, "n": False, "f": False,
               "": True}
_KIND_TEXT = {"cems": "cems", "自动": "cems", "自动监测": "cems", "在线": "cems", "online": "cems",
              "manual": "manual", "手工": "manual", "手工监测": "manual", "": "cems"}
MG_PER_KG = 1e6


def hourly_emission(concentration, flow) -> np.ndarray:
    """Emission of one hour [kg]: concentration [mg/m³] × flow [m³/h] × 1 h × 10⁻⁶.

    References
    ----------
    .. [1] HJ 75-2017 (排放量 = 浓度 × 标干流量 × 时间).
    """
    return np.asarray(concentration, dtype=float) * np.asarray(flow, dtype=float) / MG_PER_KG


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").fillna("").str.strip()


def number_problems(frame: pd.DataFrame, column: str, problems: list[Problem], *,
                    required: bool = True, minimum: float | None = 0.0,
                    maximum: float | None = None, expected: str = "a number ≥ 0"
                    ) -> pd.Series:
    """Parse ``column`` as numbers, appending one Problem per bad value (all of them)."""
    text = _text(frame, column)
    values = pd.to_numeric(text.where(text != ""), errors="coerce").astype("float64")
    empty = text == ""
    bad = ~empty & (values.isna() | ~np.isfinite(values.fillna(0)))
    none = pd.Series(False, index=frame.index)
    low = (values.notna() & (values < minimum)) if minimum is not None else none
    high = (values.notna() & (values > maximum)) if maximum is not None else none
    for mask, reason, what in (
            (empty & bool(required), "missing_value", f"a value ({expected})"),
            (bad, "not_a_number", expected),
            (low & ~bad, "negative_amount" if minimum == 0 else "out_of_range", expected),
            (high & ~bad, "out_of_range", expected)):
        for i in np.flatnonzero(mask.to_numpy()):
            problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), column,
                                    str(text.iat[i]), reason, f"{column}: expected {what}"))
    return values


def number_column(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A column of a read table (:func:`sourcegrid.io.tables.read_table`) as numbers.

    Raises
    ------
    InputError
        The column is missing, or any of its values is not a finite number (every bad
        value at once, with its row).
    """
    if column not in frame.columns:
        raise InputError([Problem(source, None, column, "", "missing_column",
                                  f"the table needs {column!r}")], f"{source}: bad table")
    problems: list[Problem] = []
    values = number_problems(frame, column, problems, minimum=None)
    if problems:
        raise InputError(problems, f"{source}: bad values")
    return values.to_numpy()


def missing_columns(frame: pd.DataFrame | ibis.Table, required, source: str) -> list[Problem]:
    """One Problem per required column the table (a DataFrame or an Ibis table) lacks."""
    return [Problem(source, None, c, "", "missing_column",
                    f"the table has no column {c!r} (required: {', '.join(required)})")
            for c in required if c not in frame.columns]


def prepare_monitoring(frame: pd.DataFrame, source: str = "monitoring", *,
                       con=None) -> ibis.Table:
    """Read a monitoring DataFrame and check it in the engine; every problem at once.

    Headers (Chinese accepted) and row numbers (``_row``, ``_source``) as for a file;
    every value as stripped text; ``time`` parsed here (ISO 8601 in its written forms,
    naive = Asia/Shanghai) to the UTC hour start, its text kept to be shown in problems.
    The checks are those of :func:`check_monitoring_table`, run on ``con`` (default: an
    in-memory DuckDB).

    Returns
    -------
    ibis.Table
        enterprise_id, outlet_id, pollutant, kind, time (UTC, hour start), concentration,
        flow, valid, operating_hours, _row, _source (:func:`check_monitoring_table`).

    Raises
    ------
    InputError
        With every problem (missing column, missing value, not a number, negative value,
        bad time, bad valid flag, bad kind, duplicate hour, manual row without
        operating_hours); nothing is loaded.
    """
    frame = with_row_numbers(frame, source, MONITORING_ALIASES)
    problems = missing_columns(frame, REQUIRED, source)
    if problems:
        raise InputError(problems, f"{source}: the monitoring table lacks required columns")
    time_text = _text(frame, "time")
    times = pd.to_datetime(time_text.where(time_text != ""), errors="coerce", utc=False,
                           format="mixed")
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize("Asia/Shanghai")
    columns = [c for c in (*SERIES, "concentration", "flow", "valid", "kind",
                           "operating_hours") if c in frame.columns]
    text = pd.DataFrame({c: _text(frame, c) for c in columns}).assign(
        time=times.dt.tz_convert("UTC").dt.floor("h").astype("datetime64[us, UTC]"),
        _time_text=time_text, _row=frame[ROW].astype("int64"),
        _source=frame[SOURCE].astype(str).astype("string"))
    con = con if con is not None else ibis.duckdb.connect()
    table, _, _ = engine_table(text, con, position=False, view="monitoring")
    return check_monitoring_table(table, source)


def _engine_number(column: ibis.Value) -> tuple[ibis.Value, ibis.Value, ibis.Value]:
    """(number, blank, text) of an engine column: the number and blank of
    :func:`sourcegrid.accounting.inputs.read_number` (NULL where not a finite number) and
    the text shown in a problem."""
    number, blank = read_number(column)
    if column.type().is_numeric():
        return number, blank, column.cast("float64").cast("string").fill_null("")
    return number, blank, strip(column.cast("string")).fill_null("")


def check_monitoring_table(table: ibis.Table, source: str = "monitoring") -> ibis.Table:
    """Check a monitoring table in an engine; every problem at once, nothing partial.

    The checks of the monitoring method, for an engine table and (through
    :func:`prepare_monitoring`) a DataFrame alike: keys present; concentration, flow and
    operating_hours finite numbers ≥ 0 (text through
    :func:`sourcegrid.accounting.inputs.read_number`), concentration and flow present on a
    row flagged valid; a time; the valid flag and the kind known; operating_hours on a
    manual row; one CEMS value per outlet, pollutant (canonical name) and hour. The checks
    are one Ibis expression each; only the problem rows are fetched. ``time`` must be a
    timestamp column (times in an engine are stored in UTC; text times are read from files
    by :func:`prepare_monitoring`). Row numbers are the table's ``_row`` column when it has
    one; the value shown for a time problem is its ``_time_text`` column when it has one
    (the text a file gave), else the hour.

    Returns
    -------
    ibis.Table
        enterprise_id, outlet_id, pollutant, kind, time (UTC, hour start), concentration,
        flow, valid, operating_hours, _row, _source.

    Raises
    ------
    InputError
        With every problem (missing column, missing value, not a number, negative value,
        bad time, bad valid flag, bad kind, duplicate hour, manual row without
        operating_hours).
    """
    from sourcegrid.coefficients import canonical_pollutant
    from sourcegrid.io.tables import canonical_headers

    names = canonical_headers(list(table.columns), MONITORING_ALIASES)
    table = table.rename(dict(zip(names, table.columns, strict=True)))
    problems = missing_columns(table, REQUIRED, source)
    if not problems and not table.time.type().is_timestamp():
        problems.append(Problem(source, None, "time", str(table.time.type()), "bad_time",
                                "time: expected a timestamp column (UTC) in an engine table; "
                                "text times are read from files"))
    if problems:
        raise InputError(problems, f"{source}: cannot read the monitoring table")
    t = table
    row = t[ROW].cast("int64") if ROW in t.columns else ibis.null("int64")
    where = t[SOURCE].cast("string") if SOURCE in t.columns else ibis.literal(source)
    text = {c: strip(t[c].cast("string")).fill_null("") for c in SERIES}
    # pollutant names made canonical (二氧化硫 → SO2) before the duplicate check: a few names
    pollutants = [r["pollutant"] for r in t.select(pollutant=text["pollutant"]).distinct()
                  .to_pyarrow().to_pylist()]
    mapping = {p: canonical_pollutant(p) for p in pollutants if canonical_pollutant(p) != p}
    if mapping:
        text["pollutant"] = text["pollutant"].substitute(mapping, else_=text["pollutant"])
    numbers = {c: _engine_number(t[c]) for c in ("concentration", "flow", "operating_hours")
               if c in t.columns}
    if "valid" not in t.columns:
        valid, valid_text = ibis.literal(True), ibis.literal("")
    elif t.valid.type().is_boolean():
        valid, valid_text = t.valid.fill_null(True), t.valid.cast("string").fill_null("")
    else:
        valid_text = strip(t.valid.cast("float64").cast("string") if t.valid.type().is_numeric()
                           else t.valid.cast("string")).lower().fill_null("")
        valid = valid_text.substitute(_VALID_TEXT, else_=ibis.null("boolean"))
    kind_text = (strip(t.kind.cast("string")).lower().fill_null("") if "kind" in t.columns
                 else ibis.literal(""))
    kind = kind_text.substitute(_KIND_TEXT, else_=ibis.null("string"))
    seconds = t.time.epoch_seconds().cast("int64")
    hour_start = t.time - (seconds % 3600).as_interval("s")
    time_text = (t._time_text.cast("string").fill_null("") if "_time_text" in t.columns
                 else hour_start.cast("string").fill_null(""))
    conc, conc_blank, conc_text = numbers["concentration"]
    flow, flow_blank, flow_text = numbers["flow"]
    hours, hours_blank, hours_text = numbers.get(
        "operating_hours", (ibis.null("float64"), ibis.literal(True), ibis.literal("")))
    checked = t.select(
        _row=row, _source=where, **text, kind=kind, _kind_text=kind_text, valid=valid,
        _valid_text=valid_text, time=hour_start, _time_text=time_text,
        concentration=conc, flow=flow,
        operating_hours=hours, _conc_blank=conc_blank, _conc_text=conc_text,
        _flow_blank=flow_blank, _flow_text=flow_text, _hours_blank=hours_blank,
        _hours_text=hours_text)
    c = checked
    # Ibis numbers rows from 0: the second copy of an hour has number 1
    copy = ibis.row_number().over(ibis.window(group_by=[*SERIES, "time"], order_by="_row"))
    c = c.mutate(_copy=ibis.ifelse((c.kind == "cems") & c.time.notnull(), copy,
                                   ibis.literal(0, "int64")))
    checks = [(c[k] == "", k, c[k], "missing_value", f"{k}: expected a value")
              for k in SERIES]
    for name, what in (("concentration", "a concentration ≥ 0 [mg/m³]"),
                       ("flow", "a flow ≥ 0 [m³/h, standard dry]"),
                       ("operating_hours", "operating hours ≥ 0 [h]")):
        short = {"concentration": "_conc", "flow": "_flow", "operating_hours": "_hours"}[name]
        blank, shown = c[f"{short}_blank"], c[f"{short}_text"]
        checks += [
            (~blank & c[name].isnull(), name, shown, "not_a_number", f"{name}: expected {what}"),
            (c[name] < 0, name, shown, "negative_amount", f"{name}: expected {what}")]
        if name != "operating_hours":
            checks.append((blank & c.valid.fill_null(False), name, shown, "missing_value",
                           f"{name}: expected a value on a row flagged valid (flag the hour "
                           "invalid, valid = 0, if it has none)"))
    checks += [
        (c.time.isnull(), "time", c._time_text, "bad_time",
         "time: expected an ISO 8601 time (naive = Asia/Shanghai)"),
        (c.valid.isnull(), "valid", c._valid_text, "bad_flag",
         "valid: expected 1/0, true/false or 有效/无效"),
        (c.kind.isnull(), "kind", c._kind_text, "bad_kind",
         f"kind: expected one of {', '.join(KINDS)} (or 自动/手工)"),
        ((c.kind == "manual") & c.operating_hours.isnull() & c._hours_blank, "operating_hours",
         ibis.literal(""), "missing_value", "operating_hours: a manual measurement needs the "
         "hours of operation it stands for [h]"),
        (c._copy > 0, "time", c._time_text, "duplicate_row",
         "time: a second CEMS value for the same outlet, pollutant and hour"),
    ]
    parts = [c.filter(condition.fill_null(False)).select(
        source=c._source, row=c._row, column=ibis.literal(column),
        value=value.cast("string").fill_null(""), reason=ibis.literal(reason),
        message=ibis.literal(message)) for condition, column, value, reason, message in checks]
    found = ibis.union(*parts, distinct=False).to_pyarrow().to_pylist()
    if found:
        problems = [Problem(p["source"], p["row"], p["column"], p["value"], p["reason"],
                            p["message"]) for p in found]
        problems.sort(key=lambda p: (p.row or 0, p.column))
        raise InputError(problems, f"{source}: nothing was loaded")
    # the rows without the checks' columns (the duplicate window is not computed again)
    return checked.select(*SERIES, "kind", "time", "concentration", "flow", "valid",
                          "operating_hours", "_row", "_source")


@dataclass
class MonitoringResult:
    """What :func:`account_monitoring` produced.

    Attributes
    ----------
    totals : pandas.DataFrame
        One row per enterprise × outlet × pollutant × period × kind: emission [kg],
        expected_hours, valid_hours, filled_short_hours, filled_long_hours, capture_rate,
        valid_monitoring (capture rate ≥ the rule's minimum; manual: True), rule.
    hourly : pandas.DataFrame or None
        CEMS hours on the full hourly grid: concentration, flow and emission [kg] used, with
        ``fill`` = measured | short_gap | long_gap; fetched when the input was a DataFrame
        (or with ``fetch_hourly``), else None (see ``hourly_table``).
    hourly_table : ibis.Table or None
        The same hours as an Ibis expression in the engine that computed them (written by
        the engine, e.g. ``con.create_table(name, result.hourly_table)``).
    """

    totals: pd.DataFrame
    hourly: pd.DataFrame | None
    hourly_table: ibis.Table | None = field(default=None, repr=False)


#: Offset of Beijing time from UTC [h]: fixed, China has kept no daylight saving since 1991.
BEIJING_OFFSET_HOURS = 8
SERIES = ["enterprise_id", "outlet_id", "pollutant"]
HOURLY_COLUMNS = [*SERIES, "time", "concentration", "flow", "fill", "emission", "period",
                  "kind"]
TOTAL_COLUMNS = [*SERIES, "period", "kind", "emission", "expected_hours", "valid_hours",
                 "filled_short_hours", "filled_long_hours", "capture_rate",
                 "valid_monitoring", "rule"]


def _period_expr(time: ibis.Value, period: str) -> ibis.Value:
    """The accounting period of a UTC time as text: YYYY or YYYY-MM in Beijing time."""
    local = time + ibis.interval(hours=BEIJING_OFFSET_HOURS)
    year = local.year().cast("string")
    if period == "year":
        return year
    return year.concat("-", local.month().cast("string").lpad(2, "0"))


def _hour_number(time: ibis.Value) -> ibis.Value:
    """Whole hours since 1970-01-01 00:00 UTC (int64): the series' order and its gaps."""
    return time.epoch_seconds().cast("int64") // 3600


def _utc_literal(value, *, ceil: bool = False) -> tuple[ibis.Value, int]:
    """A time option (naive = Asia/Shanghai) as (UTC timestamp literal, hour number),
    cut to the hour: the hour it lies in (``ceil``: the first hour at or after it)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("Asia/Shanghai") if stamp.tzinfo is None else stamp
    stamp = stamp.tz_convert("UTC")
    hour = stamp.ceil("h") if ceil else stamp.floor("h")
    number = int(hour.value // 3_600_000_000_000)
    return ibis.literal(hour.to_pydatetime(), type=dt.Timestamp(timezone="UTC")), number


def _hour_grid(cems: ibis.Table, start, end) -> tuple[ibis.Table, ibis.Table]:
    """(span, grid): each series' expected hours, and one row per series × expected hour.

    The hours are generated in the engine: each series' span (first to last record, or
    the given ``start``/``end``) becomes a range of hour offsets that is unnested, so the
    missing hours exist as rows without ever leaving the engine.
    """
    span = cems.group_by(SERIES).aggregate(first_time=cems.time.min(),
                                           first=cems.hour.min(), last=cems.hour.max())
    if start is not None:
        first_time, first = _utc_literal(start)
        span = span.mutate(first_time=first_time, first=ibis.literal(first, "int64"))
    if end is not None:
        _, stop = _utc_literal(end, ceil=True)
        span = span.mutate(last=ibis.literal(stop - 1, "int64"))
    span = span.mutate(expected=(span["last"] - span["first"] + 1).cast("int64"))
    grid = span.filter(span.expected > 0)
    grid = grid.mutate(offset=ibis.range(0, grid.expected).unnest())
    grid = grid.select(*SERIES, hour=grid["first"] + grid.offset,
                       time=grid.first_time + grid.offset.as_interval("h"))
    return span, grid


def _fill_expr(grid: ibis.Table, rule: dict[str, float]) -> ibis.Table:
    """Fill invalid and missing hours by the rule, with window expressions per series.

    ``grid``: one row per series × expected hour with ``measured_valid``. Two window
    passes, no loop: first ``_before``, the number of valid hours up to each hour (a
    cumulative sum in time order), so that a run of invalid hours shares it with the
    valid hour that precedes it (0 before the first). Then windows over ``_before``
    (range frames on the count, one sort): the valid value of the same count is the hour
    before the run, of the count + 1 the hour after it, of the counts within
    ``lookback_hours`` − 1 below it the last ``lookback_hours`` valid hours (whatever
    clock hours lie between them); the run's length is the number of invalid rows that
    share its count. Series without a valid hour are dropped (:func:`account_monitoring`
    lists them). Columns: SERIES, hour, time, measured_valid, fill, concentration, flow.
    """
    counted = grid.mutate(_before=as_count(grid.measured_valid).sum().over(
        ibis.cumulative_window(group_by=SERIES, order_by="hour")))

    def over(frame):
        return ibis.window(group_by=SERIES, order_by="_before", range=frame)

    lookback = max(int(rule["lookback_hours"]), 1)
    values = {}
    for column in ("concentration", "flow"):
        valid_value = ibis.ifelse(counted.measured_valid, counted[column],
                                  ibis.null("float64"))
        values[f"_{column}_before"] = valid_value.max().over(over((0, 0)))
        values[f"_{column}_after"] = valid_value.max().over(over((1, 1)))
        values[f"_{column}_back"] = valid_value.max().over(over((1 - lookback, 0)))
        values[f"_{column}_max"] = valid_value.max().over(over((None, None)))
    sides = counted.mutate(
        _run=as_count(~counted.measured_valid).sum().over(over((0, 0))),
        _valid_hours=as_count(counted.measured_valid).sum().over(over((None, None))),
        **values)
    sides = sides.filter(sides._valid_hours > 0)
    short = ~sides.measured_valid & (sides._run <= float(rule["short_gap_hours"]))
    filled = {}
    for column in ("concentration", "flow"):
        before, after = sides[f"_{column}_before"], sides[f"_{column}_after"]
        mean_sides = ibis.cases((before.notnull() & after.notnull(), (before + after) / 2),
                                (before.notnull(), before), else_=after)
        look_back = sides[f"_{column}_back"].fill_null(sides[f"_{column}_max"])
        filled[column] = ibis.cases((sides.measured_valid, sides[column]),
                                    (short, mean_sides), else_=look_back)
    fill = ibis.cases((sides.measured_valid, "measured"), (short, "short_gap"),
                      else_="long_gap")
    return sides.select(*SERIES, "hour", "time", "measured_valid", fill=fill, **filled)


def monitoring_expressions(data: ibis.Table, *, period: str = "year",
                           rule: dict[str, float] | None = None, start=None, end=None
                           ) -> dict[str, ibis.Table]:
    """The monitoring method as Ibis expressions over a checked monitoring table.

    Parameters
    ----------
    data : ibis.Table
        enterprise_id, outlet_id, pollutant, kind, time (UTC, hour start), concentration
        [mg/m³], flow [m³/h], valid (boolean), operating_hours [h] (as
        :func:`prepare_monitoring` returns them).
    rule : dict
        Parameters of a fill rule (FILL_RULES).

    Returns
    -------
    dict of ibis.Table
        ``hourly`` (HOURLY_COLUMNS + measured_valid: the series with a valid hour),
        ``span`` (SERIES, first, last, expected: every CEMS series), ``manual_totals``
        (rate, operating_hours, samples per series and period). Sum the hours with
        :func:`cems_totals`.
    """
    rule = dict(FILL_RULES["hj75_style"]) if rule is None else rule
    cems = data.filter(data.kind == "cems")
    cems = cems.select(*SERIES, "concentration", "flow", "valid", time=cems.time,
                       hour=_hour_number(cems.time))
    span, grid = _hour_grid(cems, start, end)
    measured = cems.drop("time")
    grid = grid.left_join(measured, [*SERIES, "hour"])
    grid = grid.drop(*[c for c in grid.columns if c.endswith("_right")])
    grid = grid.mutate(measured_valid=(grid.valid & grid.concentration.notnull()
                                       & grid.flow.notnull()).fill_null(False))
    hourly = _fill_expr(grid, rule)
    hourly = hourly.mutate(emission=hourly.concentration * hourly.flow / MG_PER_KG,
                           period=_period_expr(hourly.time, period),
                           kind=ibis.literal("cems"))
    hourly = hourly.select(*HOURLY_COLUMNS, "measured_valid")
    manual = data.filter((data.kind == "manual") & data.valid.fill_null(False))
    manual = manual.mutate(period=_period_expr(manual.time, period),
                           rate=manual.concentration * manual.flow / MG_PER_KG)
    manual_totals = manual.group_by([*SERIES, "period"]).aggregate(
        rate=manual.rate.mean(), operating_hours=manual.operating_hours.max(),
        samples=manual.count())
    return {"hourly": hourly, "span": span.select(*SERIES, "first", "last", "expected"),
            "manual_totals": manual_totals}


def cems_totals(hourly: ibis.Table) -> ibis.Table:
    """Per series and period: emission [kg], expected_hours, valid_hours,
    filled_short_hours, filled_long_hours (an aggregation in the engine)."""
    return hourly.group_by([*SERIES, "period"]).aggregate(
        emission=hourly.emission.sum(), expected_hours=hourly.count(),
        valid_hours=as_count(hourly.measured_valid).sum(),
        filled_short_hours=as_count(hourly.fill == "short_gap").sum(),
        filled_long_hours=as_count(hourly.fill == "long_gap").sum())


def _rule_parameters(rule: str, period: str, overrides: dict) -> dict[str, float]:
    from sourcegrid.errors import OptionError

    if rule not in FILL_RULES:
        raise NotFoundError("fill rule", rule, FILL_RULES)
    if period not in ("year", "month"):
        raise OptionError("--period", period, "year or month")
    params = dict(FILL_RULES[rule])
    for name, value in overrides.items():
        if name not in params:
            raise NotFoundError("fill rule parameter", name, params)
        if value is None:
            continue
        if not (value >= 0) or (name == "min_capture_rate" and value > 1):
            raise OptionError(name, value, "≥ 0 (a capture rate in [0, 1])")
        params[name] = value
    return params


def _fetch(expr: ibis.Table) -> pd.DataFrame:
    return expr.to_pyarrow().to_pandas()


def account_monitoring(frame, *, period: str = "year", rule: str = "hj75_style",
                       start=None, end=None, source: str = "monitoring", con=None,
                       fetch_hourly: bool | None = None, **overrides: float
                       ) -> MonitoringResult:
    """Period emissions by the monitoring method (实测法), computed in the engine.

    Parameters
    ----------
    frame : pandas.DataFrame or ibis.Table
        Monitoring table (module docstring); text or typed. A DataFrame is read
        (:func:`prepare_monitoring`) and sent to ``con``; either is checked in the engine
        (:func:`check_monitoring_table`), an Ibis table in its own.
    period : {'year', 'month'}
        Period of the totals (YYYY or YYYY-MM, Beijing time), matched to activity periods.
    rule : str
        Name in FILL_RULES; ``overrides`` replace single parameters of it
        (short_gap_hours, lookback_hours, min_capture_rate).
    start, end : time-like, optional
        Expected hours of every CEMS series (end excluded); default each series' span.
    con : ibis backend, optional
        Where the hours are generated, filled and summed (default: the Ibis table's own
        backend, or an in-memory DuckDB for a DataFrame).
    fetch_hourly : bool, optional
        Fetch the hourly table into ``MonitoringResult.hourly`` (default: when ``frame``
        is a DataFrame).

    Returns
    -------
    MonitoringResult

    References
    ----------
    .. [1] HJ 75-2017; HJ 819-2017 (see the module docstring).
    """
    params = _rule_parameters(rule, period, overrides)
    was_frame = not isinstance(frame, ibis.Table)
    if was_frame:
        con = con if con is not None else ibis.duckdb.connect()
        data = prepare_monitoring(frame, source, con=con)
    else:
        data = check_monitoring_table(frame, source)
    fetch_hourly = was_frame if fetch_hourly is None else fetch_hourly
    exprs = monitoring_expressions(data, period=period, rule=params, start=start, end=end)
    hourly_table = exprs["hourly"]
    # the hours are read twice when they are fetched: computed once, into a cache
    cached = hourly_table.cache() if fetch_hourly else None
    hours = cached if cached is not None else hourly_table
    totals = []
    cems = _fetch(cems_totals(hours))
    if len(cems):
        for column in ("expected_hours", "valid_hours", "filled_short_hours",
                       "filled_long_hours"):
            cems[column] = cems[column].astype("int64")
        cems["capture_rate"] = cems["valid_hours"] / cems["expected_hours"]
        cems["valid_monitoring"] = cems["capture_rate"] >= params["min_capture_rate"]
        cems["kind"] = "cems"
        cems["rule"] = (f"{rule} (gap ≤ {params['short_gap_hours']:g} h: mean of the hours "
                        f"either side; longer: max of the previous "
                        f"{params['lookback_hours']:g} valid hours; valid at capture ≥ "
                        f"{params['min_capture_rate']:.0%})")
        totals.append(cems.sort_values([*SERIES, "period"], ignore_index=True))
    # series without one valid hour in their span: one row per series, compared here
    series = _fetch(exprs["span"].select(*SERIES))
    no_valid = series.merge(cems[SERIES].drop_duplicates() if len(cems) else
                            pd.DataFrame(columns=SERIES), how="left", indicator=True)
    no_valid = no_valid.loc[no_valid["_merge"] == "left_only", SERIES]
    if len(no_valid):
        none = no_valid.sort_values(SERIES, ignore_index=True).assign(
            period="", emission=np.nan, expected_hours=0, valid_hours=0,
            filled_short_hours=0, filled_long_hours=0, capture_rate=0.0,
            valid_monitoring=False, kind="cems", rule="no valid hour: not used")
        totals.append(none)
    manual = _fetch(exprs["manual_totals"])
    if len(manual):
        manual = manual.sort_values([*SERIES, "period"], ignore_index=True)
        manual["emission"] = manual["rate"] * manual["operating_hours"]
        manual = manual.assign(expected_hours=manual["operating_hours"], valid_hours=0,
                               filled_short_hours=0, filled_long_hours=0, capture_rate=np.nan,
                               valid_monitoring=True, kind="manual",
                               rule="manual: mean(C × Q) of "
                               + manual["samples"].astype("int64").astype(str)
                               + " measurement(s) × operating_hours")
        totals.append(manual.drop(columns=["rate", "operating_hours", "samples"]))
    result = pd.concat(totals, ignore_index=True)[TOTAL_COLUMNS] if totals else pd.DataFrame(
        columns=TOTAL_COLUMNS)
    for column in SERIES + ["period"]:
        result[column] = result[column].astype(object)
    hourly = None
    if cached is not None:
        hourly = _fetch(cached.select(*HOURLY_COLUMNS))
        cached.release()
        hourly["time"] = pd.to_datetime(hourly["time"], utc=True)
        hourly = hourly.sort_values([*SERIES, "time"], ignore_index=True)[HOURLY_COLUMNS]
    hourly_table = hourly_table.select(*HOURLY_COLUMNS)
    return MonitoringResult(totals=result.reset_index(drop=True), hourly=hourly,
                            hourly_table=hourly_table)
