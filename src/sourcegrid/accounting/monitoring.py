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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers

__all__ = ["FILL_RULES", "MONITORING_ALIASES", "MonitoringResult", "prepare_monitoring",
           "account_monitoring", "hourly_emission"]

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


def missing_columns(frame: pd.DataFrame, required, source: str) -> list[Problem]:
    """One Problem per required column the table lacks."""
    return [Problem(source, None, c, "", "missing_column",
                    f"the table has no column {c!r} (required: {', '.join(required)})")
            for c in required if c not in frame.columns]


def prepare_monitoring(frame: pd.DataFrame, source: str = "monitoring") -> pd.DataFrame:
    """Validate a monitoring table; every problem at once, nothing partial.

    Returns
    -------
    pandas.DataFrame
        enterprise_id, outlet_id, pollutant, kind, time (UTC, hour start), concentration,
        flow, valid, operating_hours, _source, _row.

    Raises
    ------
    InputError
        With every problem (missing column, missing value, not a number, negative value,
        bad time, bad valid flag, bad kind, duplicate hour, manual row without
        operating_hours).
    """
    from sourcegrid.coefficients import canonical_pollutant

    frame = with_row_numbers(frame, source, MONITORING_ALIASES)
    problems = missing_columns(frame, REQUIRED, source)
    if problems:
        raise InputError(problems, f"{source}: the monitoring table lacks required columns")
    out = pd.DataFrame({ROW: frame[ROW].to_numpy(), SOURCE: frame[SOURCE].astype(str).to_numpy()})
    for column in ("enterprise_id", "outlet_id", "pollutant"):
        out[column] = _text(frame, column).to_numpy()
        for i in np.flatnonzero((out[column] == "").to_numpy()):
            problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), column, "",
                                    "missing_value", f"{column}: expected a value"))
    out["pollutant"] = out["pollutant"].map(lambda p: canonical_pollutant(p) if p else p)
    out["concentration"] = number_problems(frame, "concentration", problems, required=False,
                                           expected="a concentration ≥ 0 [mg/m³]").to_numpy()
    out["flow"] = number_problems(frame, "flow", problems, required=False,
                                  expected="a flow ≥ 0 [m³/h, standard dry]").to_numpy()
    time_text = _text(frame, "time")
    times = pd.to_datetime(time_text.where(time_text != ""), errors="coerce", utc=False,
                           format="mixed")
    for i in np.flatnonzero(times.isna().to_numpy()):
        problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), "time",
                                str(time_text.iat[i]), "bad_time",
                                "time: expected an ISO 8601 time (naive = Asia/Shanghai)"))
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize("Asia/Shanghai")
    out["time"] = times.dt.tz_convert("UTC").dt.floor("h").to_numpy()
    valid_text = _text(frame, "valid").str.lower()
    out["valid"] = valid_text.map(_VALID_TEXT).to_numpy()
    for i in np.flatnonzero(pd.isna(out["valid"]).to_numpy()):
        problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), "valid",
                                str(valid_text.iat[i]), "bad_flag",
                                "valid: expected 1/0, true/false or 有效/无效"))
    for column in ("concentration", "flow"):  # an hour flagged invalid may be empty
        empty = (_text(frame, column) == "").to_numpy() & (out["valid"] == True).to_numpy()  # noqa: E712
        for i in np.flatnonzero(empty):
            problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), column, "",
                                    "missing_value", f"{column}: expected a value on a row "
                                    "flagged valid (flag the hour invalid, valid = 0, if it "
                                    "has none)"))
    kind_text = _text(frame, "kind").str.lower()
    out["kind"] = kind_text.map(_KIND_TEXT).to_numpy()
    for i in np.flatnonzero(pd.isna(out["kind"]).to_numpy()):
        problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), "kind",
                                str(kind_text.iat[i]), "bad_kind",
                                f"kind: expected one of {', '.join(KINDS)} (or 自动/手工)"))
    hours = number_problems(frame, "operating_hours", problems, required=False,
                            expected="operating hours ≥ 0 [h]")
    out["operating_hours"] = hours.to_numpy()
    manual_no_hours = (out["kind"] == "manual") & out["operating_hours"].isna() & (
        _text(frame, "operating_hours") == "").to_numpy()
    for i in np.flatnonzero(manual_no_hours.to_numpy()):
        problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), "operating_hours", "",
                                "missing_value", "operating_hours: a manual measurement needs "
                                "the hours of operation it stands for [h]"))
    cems = (out["kind"] == "cems") & out["time"].notna()
    duplicated = cems & out.duplicated(["enterprise_id", "outlet_id", "pollutant", "time"],
                                       keep="first")
    for i in np.flatnonzero(duplicated.to_numpy()):
        problems.append(Problem(out[SOURCE].iat[i], int(out[ROW].iat[i]), "time",
                                str(time_text.iat[i]), "duplicate_row",
                                "time: a second CEMS value for the same outlet, pollutant and "
                                "hour"))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column))
        raise InputError(problems, f"{source}: nothing was loaded")
    return out


@dataclass
class MonitoringResult:
    """What :func:`account_monitoring` produced.

    Attributes
    ----------
    totals : pandas.DataFrame
        One row per enterprise × outlet × pollutant × period × kind: emission [kg],
        expected_hours, valid_hours, filled_short_hours, filled_long_hours, capture_rate,
        valid_monitoring (capture rate ≥ the rule's minimum; manual: True), rule.
    hourly : pandas.DataFrame
        CEMS hours on the full hourly grid: concentration, flow and emission [kg] used, with
        ``fill`` = measured | short_gap | long_gap.
    """

    totals: pd.DataFrame
    hourly: pd.DataFrame


def _period(times: pd.Series, period: str) -> pd.Series:
    local = times.dt.tz_convert("Asia/Shanghai")
    return local.dt.strftime("%Y") if period == "year" else local.dt.strftime("%Y-%m")


def _fill(grid: pd.DataFrame, keys: list[str], rule: dict[str, float]) -> pd.DataFrame:
    """Fill invalid hours of concentration and flow by the rule (vectorised per group)."""
    grid = grid.sort_values([*keys, "time"], ignore_index=True)
    good = grid["measured_valid"].to_numpy()
    group = grid.groupby(keys, sort=False).ngroup().to_numpy()
    # runs of consecutive invalid hours within a group
    start = np.r_[True, (group[1:] != group[:-1]) | (good[1:] != good[:-1])]
    run = np.cumsum(start)
    run_length = pd.Series(run).map(pd.Series(run).value_counts()).to_numpy()
    short = ~good & (run_length <= rule["short_gap_hours"])
    long = ~good & ~short
    filled = {}
    for column in ("concentration", "flow"):
        value = grid[column].where(good)
        by = value.groupby(group)
        before, after = by.ffill(), by.bfill()
        mean_sides = pd.concat([before, after], axis=1).mean(axis=1)
        window = int(rule["lookback_hours"])
        valid_only = value[good]
        rolling = valid_only
        if window:
            rolling = valid_only.groupby(group[good]).rolling(window, min_periods=1).max()
            rolling = rolling.reset_index(level=0, drop=True).reindex(valid_only.index)
        look_back = pd.Series(np.nan, index=grid.index)
        look_back[good] = rolling.to_numpy()
        look_back = look_back.groupby(group).ffill()
        series_max = value.groupby(group).transform("max")
        look_back = look_back.fillna(series_max)
        out = value.copy()
        out[short] = mean_sides[short]
        out[long] = look_back[long]
        filled[column] = out
    grid["concentration"], grid["flow"] = filled["concentration"], filled["flow"]
    grid["fill"] = np.where(good, "measured", np.where(short, "short_gap", "long_gap"))
    return grid


def account_monitoring(frame: pd.DataFrame, *, period: str = "year", rule: str = "hj75_style",
                       start=None, end=None, source: str = "monitoring",
                       **overrides: float) -> MonitoringResult:
    """Period emissions by the monitoring method (实测法).

    Parameters
    ----------
    frame : pandas.DataFrame
        Monitoring table (module docstring); text or typed.
    period : {'year', 'month'}
        Period of the totals (YYYY or YYYY-MM, Beijing time), matched to activity periods.
    rule : str
        Name in FILL_RULES; ``overrides`` replace single parameters of it
        (short_gap_hours, lookback_hours, min_capture_rate).
    start, end : time-like, optional
        Expected hours of every CEMS series (end excluded); default each series' span.

    Returns
    -------
    MonitoringResult

    References
    ----------
    .. [1] HJ 75-2017; HJ 819-2017 (see the module docstring).
    """
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
    data = prepare_monitoring(frame, source)
    keys = ["enterprise_id", "outlet_id", "pollutant"]
    cems = data.loc[data["kind"] == "cems"]
    hourly = pd.DataFrame()
    totals = []
    if len(cems):
        span = cems.groupby(keys).agg(first=("time", "min"), last=("time", "max")).reset_index()
        if start is not None:
            span["first"] = pd.Timestamp(start, tz="Asia/Shanghai").tz_convert("UTC") \
                if pd.Timestamp(start).tzinfo is None else pd.Timestamp(start).tz_convert("UTC")
        if end is not None:
            stop = pd.Timestamp(end)
            stop = stop.tz_localize("Asia/Shanghai") if stop.tzinfo is None else stop
            span["last"] = stop.tz_convert("UTC") - pd.Timedelta(hours=1)
        n = ((span["last"] - span["first"]) / pd.Timedelta(hours=1)).astype("int64") + 1
        n = n.clip(lower=0)
        grid = span.loc[span.index.repeat(n), keys].reset_index(drop=True)
        offsets = np.concatenate([np.arange(k) for k in n]) if len(n) else np.array([], int)
        grid["time"] = span["first"].repeat(n).reset_index(drop=True) + pd.to_timedelta(
            offsets, unit="h")
        grid = grid.merge(cems[[*keys, "time", "concentration", "flow", "valid"]],
                          on=[*keys, "time"], how="left")
        grid["measured_valid"] = (grid["valid"].eq(True)
                                  & grid["concentration"].notna() & grid["flow"].notna())
        grid = grid.drop(columns="valid")
        grid = grid.loc[grid.groupby(keys)["measured_valid"].transform("any")] \
            .reset_index(drop=True)
        no_valid = span.merge(grid[keys].drop_duplicates(), how="left", indicator=True)
        no_valid = no_valid.loc[no_valid["_merge"] == "left_only", keys]
        hourly = _fill(grid, keys, params)
        hourly["emission"] = hourly_emission(hourly["concentration"], hourly["flow"])
        hourly["period"] = _period(hourly["time"], period)
        hourly["kind"] = "cems"
        total = hourly.groupby([*keys, "period"], sort=True).agg(
            emission=("emission", "sum"), expected_hours=("time", "size"),
            valid_hours=("measured_valid", "sum"),
            filled_short_hours=("fill", lambda s: int((s == "short_gap").sum())),
            filled_long_hours=("fill", lambda s: int((s == "long_gap").sum()))).reset_index()
        total["capture_rate"] = total["valid_hours"] / total["expected_hours"]
        total["valid_monitoring"] = total["capture_rate"] >= params["min_capture_rate"]
        total["kind"] = "cems"
        total["rule"] = (f"{rule} (gap ≤ {params['short_gap_hours']:g} h: mean of the hours "
                         f"either side; longer: max of the previous "
                         f"{params['lookback_hours']:g} valid hours; valid at capture ≥ "
                         f"{params['min_capture_rate']:.0%})")
        totals.append(total)
        if len(no_valid):
            none = no_valid.assign(period="", emission=np.nan, expected_hours=0, valid_hours=0,
                                   filled_short_hours=0, filled_long_hours=0, capture_rate=0.0,
                                   valid_monitoring=False, kind="cems",
                                   rule="no valid hour: not used")
            totals.append(none)
        hourly = hourly.drop(columns="measured_valid")
    manual = data.loc[data["kind"] == "manual"].copy()
    if len(manual):
        manual["period"] = _period(manual["time"], period)
        manual["rate"] = hourly_emission(manual["concentration"], manual["flow"])
        manual = manual.loc[manual["valid"].astype(bool)]
        total = manual.groupby([*keys, "period"], sort=True).agg(
            rate=("rate", "mean"), operating_hours=("operating_hours", "max"),
            samples=("rate", "size")).reset_index()
        total["emission"] = total["rate"] * total["operating_hours"]
        total = total.assign(expected_hours=total["operating_hours"], valid_hours=0,
                             filled_short_hours=0, filled_long_hours=0, capture_rate=np.nan,
                             valid_monitoring=True, kind="manual",
                             rule="manual: mean(C × Q) of " + total["samples"].astype(str)
                             + " measurement(s) × operating_hours")
        totals.append(total.drop(columns=["rate", "operating_hours", "samples"]))
    columns = [*keys, "period", "kind", "emission", "expected_hours", "valid_hours",
               "filled_short_hours", "filled_long_hours", "capture_rate", "valid_monitoring",
               "rule"]
    result = pd.concat(totals, ignore_index=True)[columns] if totals else pd.DataFrame(
        columns=columns)
    return MonitoringResult(totals=result.reset_index(drop=True), hourly=hourly)
