"""Method priority and combination: one emission per enterprise × period × pollutant.

The candidates are the emissions of the four methods:

- ``cems``: automatic monitoring (:func:`sourcegrid.accounting.monitoring.account_monitoring`,
  kind cems), usable when every outlet of the enterprise for that pollutant and period is
  *valid* (capture rate at least the fill rule's minimum);
- ``manual``: manual monitoring (kind manual);
- ``material_balance``: :func:`sourcegrid.accounting.material_balance.account_balance`;
- ``coefficient``: :func:`sourcegrid.accounting.engine.account`.

For every (enterprise_id, period, pollutant) the first usable method in the priority
wins (``METHOD_PRIORITIES``; default ``permit``, as permit practice: valid automatic
monitoring, then manual monitoring, then material balance, then coefficients). A
priority table (enterprise_id, pollutant — empty or ``*`` for all — and priority,
methods joined by ';' or '>') overrides it per enterprise and pollutant.

Every output row says which method made it (``method``: monitoring | material_balance |
coefficient, as the canonical emissions format; ``method_detail``: cems | manual |
material_balance | coefficient) and why the methods before it were not used
(``method_reason``). Monitoring rows carry no generation or removal (NaN: an outlet
measurement does not define them); every other row keeps G = R + E.

References
----------
.. [1] HJ 944-2018 排污单位环境管理台账及排污许可证执行报告技术规范 (实际排放量: 自动监测,
   手工监测, 物料衡算, 产排污系数, in that order of preference).
.. [2] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册, 使用说明.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers

__all__ = ["METHODS", "METHOD_PRIORITIES", "combine_methods", "parse_priority"]

METHODS = ("cems", "manual", "material_balance", "coefficient")
#: Named priorities. ``permit``: HJ 944-2018's order of preference for actual emissions.
METHOD_PRIORITIES: dict[str, tuple[str, ...]] = {
    "permit": ("cems", "manual", "material_balance", "coefficient"),
    "coefficient_first": ("coefficient", "material_balance", "cems", "manual"),
    "coefficient_only": ("coefficient",),
}
_CANONICAL = {"cems": "monitoring", "manual": "monitoring",
              "material_balance": "material_balance", "coefficient": "coefficient"}
KEYS = ["enterprise_id", "period", "pollutant"]
#: Pollutants measured at wastewater outlets (废水, 'water'); the others are 废气 ('air').
WATER_POLLUTANTS = ("COD", "NH3-N", "TN", "TP", "石油类", "BOD5")
COLUMNS = ["enterprise_id", "period", "section", "pollutant", "pollutant_category",
           "generation", "removal", "emission", "method", "library", "coefficient_row",
           "treatment", "removal_efficiency", "k", "note", "method_detail", "method_reason"]


def parse_priority(text: str) -> tuple[str, ...]:
    """'cems;manual;coefficient' (or '>' separated) or a METHOD_PRIORITIES name → tuple."""
    text = text.strip()
    if text in METHOD_PRIORITIES:
        return METHOD_PRIORITIES[text]
    parts = tuple(p.strip() for p in text.replace(">", ";").replace(",", ";").split(";")
                  if p.strip())
    bad = [p for p in parts if p not in METHODS]
    if bad or not parts:
        raise NotFoundError("method", bad[0] if bad else text,
                            [*METHODS, *METHOD_PRIORITIES])
    return parts


def _priority_table(overrides: pd.DataFrame | None, source: str) -> pd.DataFrame:
    columns = ["enterprise_id", "pollutant", "priority"]
    if overrides is None or len(overrides) == 0:
        return pd.DataFrame(columns=columns)
    frame = with_row_numbers(overrides, source, {"企业编号": "enterprise_id",
                                                 "污染物": "pollutant", "优先顺序": "priority"})
    problems = [Problem(source, None, c, "", "missing_column", f"the priority table needs "
                        f"{c!r}") for c in ("enterprise_id", "priority") if c not in frame]
    if problems:
        raise InputError(problems, f"{source}: bad priority table")
    out = pd.DataFrame({
        "enterprise_id": frame["enterprise_id"].astype("string").fillna("").str.strip(),
        "pollutant": (frame["pollutant"].astype("string").fillna("").str.strip()
                      if "pollutant" in frame else ""),
        "priority": frame["priority"].astype("string").fillna("").str.strip()})
    for i, text in enumerate(out["priority"]):
        try:
            parse_priority(text)
        except NotFoundError as error:
            problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]),
                                    "priority", text, "unknown_method", str(error)))
    for i in np.flatnonzero((out["enterprise_id"] == "").to_numpy()):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]),
                                "enterprise_id", "", "missing_value", "enterprise_id: expected "
                                "a value"))
    if problems:
        raise InputError(problems, f"{source}: {len(problems)} problem(s) in the priority table")
    from sourcegrid.coefficients import canonical_pollutant

    out["pollutant"] = out["pollutant"].map(lambda p: "" if p in ("", "*") else
                                            canonical_pollutant(p))
    return out


def _candidates(coefficient, monitoring, balance) -> pd.DataFrame:
    """One row per (key, method): usable, why not, and the emission rows it would give."""
    found = []
    if monitoring is not None and len(monitoring):
        m = monitoring.copy()
        for kind in ("cems", "manual"):
            part = m.loc[m["kind"] == kind]
            if part.empty:
                continue
            why = np.where(part["valid_monitoring"], "",
                           "outlet " + part["outlet_id"].astype(str) + ": "
                           + part["rule"].astype(str).where(
                               part["emission"].isna(),
                               "capture rate " + (100 * part["capture_rate"]).round(1).astype(str)
                               + " % below the rule's minimum"))
            part = part.assign(why=why)
            g = part.groupby(KEYS, sort=False).agg(
                usable=("valid_monitoring", "all"),
                why=("why", lambda s: "; ".join(x for x in s if x)))
            found.append(g.reset_index().assign(method=kind))
    if balance is not None and len(balance):
        g = balance.groupby(KEYS, sort=False).size().reset_index(name="n")
        found.append(g.drop(columns="n").assign(usable=True, why="", method="material_balance"))
    if coefficient is not None and len(coefficient):
        g = coefficient.groupby(KEYS, sort=False).size().reset_index(name="n")
        found.append(g.drop(columns="n").assign(usable=True, why="", method="coefficient"))
    if not found:
        return pd.DataFrame(columns=[*KEYS, "usable", "why", "method"])
    return pd.concat(found, ignore_index=True)


def combine_methods(*, coefficient: pd.DataFrame | None = None,
                    monitoring: pd.DataFrame | None = None,
                    balance: pd.DataFrame | None = None, priority: str = "permit",
                    overrides: pd.DataFrame | None = None,
                    overrides_source: str = "priority") -> pd.DataFrame:
    """Pick one method per enterprise × period × pollutant by priority.

    Parameters
    ----------
    coefficient : pandas.DataFrame, optional
        Emissions of the coefficient method (engine ``account(...).emissions``).
    monitoring : pandas.DataFrame, optional
        ``MonitoringResult.totals``.
    balance : pandas.DataFrame, optional
        Output of :func:`sourcegrid.accounting.material_balance.account_balance`.
    priority : str
        A METHOD_PRIORITIES name or methods joined by ';'.
    overrides : pandas.DataFrame, optional
        enterprise_id, pollutant ('' or '*' = all), priority: per-enterprise priorities.

    Returns
    -------
    pandas.DataFrame
        COLUMNS (the canonical emissions columns + method_detail, method_reason) [kg].

    References
    ----------
    .. [1] HJ 944-2018 (order of preference of the methods).
    """
    default = parse_priority(priority)
    table = _priority_table(overrides, overrides_source)
    candidates = _candidates(coefficient, monitoring, balance)
    keys = candidates[KEYS].drop_duplicates().reset_index(drop=True)
    keys["priority"] = ";".join(default)
    if len(table):
        specific = table.loc[table["pollutant"] != ""]
        general = table.loc[table["pollutant"] == "", ["enterprise_id", "priority"]]
        keys = keys.merge(general.rename(columns={"priority": "p_general"}), how="left",
                          on="enterprise_id")
        keys = keys.merge(specific.rename(columns={"priority": "p_specific"}), how="left",
                          on=["enterprise_id", "pollutant"])
        keys["priority"] = keys["p_specific"].fillna(keys["p_general"]).fillna(keys["priority"])
        keys["priority"] = keys["priority"].map(lambda t: ";".join(parse_priority(t)))
        keys = keys.drop(columns=["p_general", "p_specific"])
    # every (key, method in its priority) with its rank
    order = keys.assign(method=keys["priority"].str.split(";")).explode("method")
    order["rank"] = order.groupby(KEYS).cumcount()
    order = order.merge(candidates, on=[*KEYS, "method"], how="left")
    order["usable"] = order["usable"].eq(True)
    order["why"] = np.where(order["usable"], order["why"].fillna(""),
                            np.where(order["why"].fillna("") == "", "no data",
                                     order["why"].fillna("")))
    chosen = order.loc[order["usable"]].sort_values("rank").drop_duplicates(KEYS)
    # no method met its conditions: the first one with data is used anyway, and says so
    present = order.loc[order["why"] != "no data"].sort_values("rank").drop_duplicates(KEYS)
    fallback = present.merge(chosen[KEYS], how="left", indicator=True)
    fallback = fallback.loc[fallback["_merge"] == "left_only"].drop(columns="_merge")
    chosen = pd.concat([chosen, fallback], ignore_index=True)
    chosen["fallback"] = ~chosen["usable"]
    chosen = chosen[[*KEYS, "method", "rank", "fallback"]].rename(
        columns={"method": "chosen", "rank": "chosen_rank"})
    order = order.merge(chosen, on=KEYS, how="left")
    before = order.loc[(order["rank"] < order["chosen_rank"].fillna(np.inf))
                       | (order["rank"] == order["chosen_rank"]) & order["fallback"].eq(True)]
    reason = (before["method"] + ": " + before["why"]).groupby(
        [before[k] for k in KEYS]).agg("; ".join).rename("reason").reset_index()
    chosen = chosen.merge(reason, on=KEYS, how="left")
    chosen["method_reason"] = np.where(
        chosen["reason"].isna(), "first in the priority (" + keys.set_index(KEYS).loc[
            pd.MultiIndex.from_frame(chosen[KEYS]), "priority"].to_numpy() + ")",
        "not used: " + chosen["reason"].fillna(""))
    chosen["method_reason"] = np.where(
        chosen["fallback"], "no method met its conditions; used " + chosen["chosen"]
        + " anyway (" + chosen["reason"].fillna("") + ")", chosen["method_reason"])
    pieces = []
    if monitoring is not None and len(monitoring):
        for kind in ("cems", "manual"):
            pick = chosen.loc[chosen["chosen"] == kind, [*KEYS, "method_reason"]]
            part = monitoring.loc[monitoring["kind"] == kind].merge(pick, on=KEYS)
            if part.empty:
                continue
            part = part.assign(text=part["outlet_id"].astype(str) + " "
                               + part["emission"].round(3).astype(str) + " kg ("
                               + part["valid_hours"].astype(str) + " valid h, "
                               + (part["filled_short_hours"] + part["filled_long_hours"])
                               .astype(str) + " filled h)")
            g = part.groupby(KEYS, sort=False).agg(
                emission=("emission", "sum"), note=("text", "; ".join),
                method_reason=("method_reason", "first")).reset_index()
            category = np.where(g["pollutant"].isin(WATER_POLLUTANTS), "water", "air")
            pieces.append(g.assign(section="", pollutant_category=category, generation=np.nan,
                                   removal=np.nan, method="monitoring", library="",
                                   coefficient_row=pd.NA, treatment="",
                                   removal_efficiency=np.nan, k=np.nan,
                                   note=kind + ": " + g["note"], method_detail=kind))
    for name, frame in (("material_balance", balance), ("coefficient", coefficient)):
        if frame is None or not len(frame):
            continue
        pick = chosen.loc[chosen["chosen"] == name, [*KEYS, "method_reason"]]
        part = frame.merge(pick, on=KEYS)
        pieces.append(part.assign(method=_CANONICAL[name], method_detail=name))
    if not pieces:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(pieces, ignore_index=True)
    out = out[[c for c in COLUMNS if c in out.columns]
              + [c for c in out.columns if c not in COLUMNS]]
    return out.sort_values([*KEYS, "section"], ignore_index=True)
