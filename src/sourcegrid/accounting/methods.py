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

The choice runs in the engine (:func:`decide`): the candidates of every key (one per
method with data: usable or not, and why not), the key's priority (override for the
enterprise and pollutant, for the enterprise, or the default) joined with the rank of
each method in it, the first usable rank (or the first with data) per key, and the
reasons of the methods ranked before it side by side in rank order (no order-sensitive
string aggregation, which PySpark lacks). The emission rows of the chosen method are
then joined in the engine; the per-outlet monitoring totals (small, one row per outlet ×
pollutant × period) are turned into rows and texts in pandas first, so that their
numbers read the same on every engine.

References
----------
.. [1] HJ 944-2018 排污单位环境管理台账及排污许可证执行报告技术规范 (实际排放量: 自动监测,
   手工监测, 物料衡算, 产排污系数, in that order of preference).
.. [2] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册, 使用说明.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers
from sourcegrid.store.portable import engine_table

__all__ = ["METHODS", "METHOD_PRIORITIES", "combine_methods", "decide", "parse_priority"]

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


def _as_table(con, data, prefix: str) -> ibis.Table | None:
    """An Ibis table in ``con`` for a DataFrame (None for None or an empty frame)."""
    if data is None:
        return None
    if isinstance(data, ibis.Table):
        return data
    if not len(data):
        return None
    return engine_table(data, con, position=False, view=prefix)[0]


def _monitoring_parts(monitoring: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the per-outlet monitoring totals (small): the candidates (KEYS, method, usable,
    why) and the emission rows per key and kind (KEYS, method, emission, note, category).

    The texts are made here, in pandas, on a table with one row per outlet × pollutant ×
    period, so that numbers read the same whatever engine joins them afterwards.
    """
    candidates, rows = [], []
    for kind in ("cems", "manual"):
        part = monitoring.loc[monitoring["kind"] == kind]
        if part.empty:
            continue
        valid = part["valid_monitoring"].astype(bool)
        why = np.where(valid, "",
                       "outlet " + part["outlet_id"].astype(str) + ": "
                       + part["rule"].astype(str).where(
                           part["emission"].isna(),
                           "capture rate "
                           + (100 * part["capture_rate"].astype(float)).round(1).astype(str)
                           + " % below the rule's minimum"))
        part = part.assign(why=why, usable=valid)
        g = part.groupby(KEYS, sort=True).agg(
            usable=("usable", "all"), why=("why", lambda s: "; ".join(x for x in s if x)))
        candidates.append(g.reset_index().assign(method=kind))
        filled = part["filled_short_hours"].astype("int64") + part["filled_long_hours"].astype(
            "int64")
        part = part.assign(text=part["outlet_id"].astype(str) + " "
                           + part["emission"].astype(float).round(3).astype(str) + " kg ("
                           + part["valid_hours"].astype("int64").astype(str) + " valid h, "
                           + filled.astype(str) + " filled h)")
        # a series without one valid hour has no emission (NaN), never a silent 0 kg
        g = part.groupby(KEYS, sort=True).agg(
            emission=("emission", lambda x: x.sum(min_count=1)),
            note=("text", "; ".join)).reset_index()
        rows.append(g.assign(method=kind, note=kind + ": " + g["note"],
                             pollutant_category=np.where(g["pollutant"].isin(WATER_POLLUTANTS),
                                                         "water", "air")))
    candidate_types = {"enterprise_id": "string", "period": "string", "pollutant": "string",
                       "method": "string", "usable": "bool", "why": "string"}
    row_types = {"enterprise_id": "string", "period": "string", "pollutant": "string",
                 "method": "string", "emission": "float64", "note": "string",
                 "pollutant_category": "string"}
    found = (pd.concat(candidates, ignore_index=True) if candidates
             else pd.DataFrame(columns=list(candidate_types)))
    made = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(row_types))
    return (found[list(candidate_types)].astype(candidate_types),
            made[list(row_types)].astype(row_types))


def _keyed_candidates(table: ibis.Table, method: str) -> ibis.Table:
    """A usable candidate for every key of an emission table (balance, coefficient)."""
    keys = table.select(*[table[k].cast("string").name(k) for k in KEYS]).distinct()
    return keys.mutate(method=ibis.literal(method), usable=ibis.literal(True),
                       why=ibis.literal(""))


def _priorities(default: tuple[str, ...], table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(priority text, method, rank) of every priority in use, and the longest length."""
    texts = {";".join(default)} | {";".join(parse_priority(t)) for t in table["priority"]}
    rows = [(text, method, rank) for text in sorted(texts)
            for rank, method in enumerate(text.split(";"))]
    ranks = pd.DataFrame(rows, columns=["priority", "method", "rank"]).astype(
        {"priority": "string", "method": "string", "rank": "int64"})
    return ranks, max(len(t.split(";")) for t in texts)


def _key_priority(keys: ibis.Table, default: tuple[str, ...], table: pd.DataFrame,
                  con) -> ibis.Table:
    """Each key with its priority text: a row for the enterprise and pollutant beats a row
    for the enterprise ('' or '*'), which beats the default."""
    priority = ibis.literal(";".join(default))
    if not len(table):
        return keys.mutate(priority=priority)
    normal = table.assign(priority=table["priority"].map(lambda t: ";".join(parse_priority(t))))
    specific = normal.loc[normal["pollutant"] != ""]
    general = normal.loc[normal["pollutant"] == ""].drop_duplicates("enterprise_id", keep="last")
    specific = specific.drop_duplicates(["enterprise_id", "pollutant"], keep="last")
    out = keys
    if len(general):
        g, _, _ = engine_table(general[["enterprise_id", "priority"]].astype("string").rename(
            columns={"enterprise_id": "g_enterprise_id", "priority": "p_general"}), con,
            position=False, view="general")
        out = out.left_join(g, out.enterprise_id == g.g_enterprise_id).drop("g_enterprise_id")
        priority = out.p_general.fill_null(priority)
    if len(specific):
        p, _, _ = engine_table(specific[["enterprise_id", "pollutant", "priority"]]
                               .astype("string").rename(columns={
                                   "enterprise_id": "s_enterprise_id",
                                   "pollutant": "s_pollutant", "priority": "p_specific"}),
                               con, position=False, view="specific")
        out = out.left_join(p, [out.enterprise_id == p.s_enterprise_id,
                                out.pollutant == p.s_pollutant]).drop("s_enterprise_id",
                                                                      "s_pollutant")
        priority = out.p_specific.fill_null(out.p_general.fill_null(ibis.literal(
            ";".join(default))) if len(general) else ibis.literal(";".join(default)))
    return out.mutate(priority=priority).select(*KEYS, "priority")


def _no_right(table: ibis.Table) -> ibis.Table:
    """A join without the right side's copies of the join keys (``*_right``)."""
    return table.drop(*[c for c in table.columns if c.endswith("_right")])


def _join_texts(pieces: list[ibis.Value], separator: str = "; ") -> ibis.Value:
    """Non-null texts joined in order by ``separator`` ('' when all are null)."""
    out = ibis.literal("")
    for piece in pieces:
        out = ibis.cases((piece.isnull(), out), (out == "", piece),
                         else_=out.concat(separator, piece))
    return out


def decide(candidates: ibis.Table, default: tuple[str, ...], table: pd.DataFrame,
           con) -> ibis.Table:
    """The method of every key (KEYS, chosen, method_reason) as an Ibis expression.

    ``candidates``: KEYS, method, usable, why. The first usable method of the key's
    priority wins; with none usable, the first with data is used anyway and says so, with
    the reasons of every method of the priority.
    """
    keys = candidates.select(*KEYS).distinct()
    keyed = _key_priority(keys, default, table, con)
    ranks, longest = _priorities(default, table)
    order = keyed.join(engine_table(ranks, con, position=False, view="ranks")[0], "priority")
    order = _no_right(order.left_join(candidates, [*KEYS, "method"]))
    usable = order.usable.fill_null(False)
    why = order.why.fill_null("")
    order = order.mutate(usable=usable,
                         why=ibis.ifelse(usable, why, ibis.ifelse(why == "", "no data", why)))
    order = order.mutate(has_data=order.why != "no data")
    best = order.group_by(KEYS).aggregate(
        usable_rank=order["rank"].min(where=order.usable),
        data_rank=order["rank"].min(where=order.has_data))
    best = best.filter(best.usable_rank.notnull() | best.data_rank.notnull())
    best = best.mutate(chosen_rank=best.usable_rank.fill_null(best.data_rank),
                       fallback=best.usable_rank.isnull())
    order = _no_right(order.join(best, KEYS))
    # the methods ranked before the chosen one; with none usable, every method of the
    # priority (each says why it was not good enough)
    before = (order["rank"] < order.chosen_rank) | order.fallback
    text = order.method.concat(": ", order.why)
    picked = order.group_by(KEYS).aggregate(
        chosen=order.method.max(where=order["rank"] == order.chosen_rank),
        fallback=order.fallback.max(), priority=order.priority.max(),
        **{f"_reason{r}": text.max(where=before & (order["rank"] == r))
           for r in range(longest)})
    reason = _join_texts([picked[f"_reason{r}"] for r in range(longest)])
    method_reason = ibis.cases(
        (picked.fallback, ibis.literal("no method met its conditions; used ").concat(
            picked.chosen, " anyway (", reason, ")")),
        (reason == "", ibis.literal("first in the priority (").concat(picked.priority, ")")),
        else_=ibis.literal("not used: ").concat(reason))
    return picked.select(*KEYS, "chosen", method_reason=method_reason)


def _typed_piece(piece: ibis.Table, types: dict[str, dt.DataType]) -> ibis.Table:
    """The output columns in order and type; a column the piece lacks is NULL."""
    return piece.select(**{c: (piece[c].cast(t) if c in piece.columns else ibis.null(t))
                           for c, t in types.items()})


def _output_types(tables: list[ibis.Table]) -> dict[str, dt.DataType]:
    types = {c: dt.string for c in COLUMNS}
    for c in ("generation", "removal", "emission", "removal_efficiency", "k"):
        types[c] = dt.float64
    types["coefficient_row"] = dt.int64
    for table in tables:  # extra columns of the inputs are kept (NULL where absent)
        for name, kind in table.schema().items():
            if name not in types and not name.startswith("_") and not kind.is_null():
                types[name] = kind
    return types


def combine_methods(*, coefficient=None, monitoring=None, balance=None,
                    priority: str = "permit", overrides: pd.DataFrame | None = None,
                    overrides_source: str = "priority", con=None, fetch: bool | None = None):
    """Pick one method per enterprise × period × pollutant by priority, in the engine.

    Parameters
    ----------
    coefficient : pandas.DataFrame or ibis.Table, optional
        Emissions of the coefficient method (engine ``account(...).emissions``).
    monitoring : pandas.DataFrame or ibis.Table, optional
        ``MonitoringResult.totals`` (one row per outlet × pollutant × period: small, its
        texts are made in pandas).
    balance : pandas.DataFrame or ibis.Table, optional
        Output of :func:`sourcegrid.accounting.material_balance.account_balance`.
    priority : str
        A METHOD_PRIORITIES name or methods joined by ';'.
    overrides : pandas.DataFrame, optional
        enterprise_id, pollutant ('' or '*' = all), priority: per-enterprise priorities.
    con : ibis backend, optional
        Where the choice and the joins run (default: the backend of an Ibis input, or an
        in-memory DuckDB).
    fetch : bool, optional
        Return a DataFrame (default when no input is an Ibis table) or the Ibis
        expression.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        COLUMNS (the canonical emissions columns + method_detail, method_reason) [kg],
        then any other columns of the inputs; sorted by key and section when fetched.

    References
    ----------
    .. [1] HJ 944-2018 (order of preference of the methods).
    """
    default = parse_priority(priority)
    table = _priority_table(overrides if not isinstance(overrides, ibis.Table)
                            else overrides.to_pandas(), overrides_source)
    given = [t for t in (coefficient, monitoring, balance) if isinstance(t, ibis.Table)]
    if con is None:
        con = given[0]._find_backend() if given else ibis.duckdb.connect()
    fetch = not given if fetch is None else fetch
    if isinstance(monitoring, ibis.Table):
        monitoring = monitoring.to_pandas()
    monitoring_candidates, monitoring_rows = _monitoring_parts(
        monitoring if monitoring is not None else pd.DataFrame(columns=["kind"]))
    balance_t = _as_table(con, balance, "balance_rows")
    coefficient_t = _as_table(con, coefficient, "coefficient_rows")
    pieces = []
    if len(monitoring_candidates):
        pieces.append(engine_table(monitoring_candidates, con, position=False,
                                   view="monitoring_candidates")[0])
    for name, t in (("material_balance", balance_t), ("coefficient", coefficient_t)):
        if t is not None:
            pieces.append(_keyed_candidates(t, name))
    types = _output_types([t for t in (balance_t, coefficient_t) if t is not None])
    if not pieces:
        empty = pd.DataFrame({c: pd.Series(dtype="float64" if t.is_floating() else (
            "Int64" if t.is_integer() else "object")) for c, t in types.items()})
        return empty if fetch else ibis.memtable(empty)
    candidates = ibis.union(*[p.select(*KEYS, "method", "usable", "why") for p in pieces],
                            distinct=False)
    decision = decide(candidates, default, table, con)
    out = []
    if len(monitoring_rows):
        rows, _, _ = engine_table(monitoring_rows, con, position=False, view="monitoring_rows")
        part = _no_right(rows.join(decision, [*KEYS, rows.method == decision.chosen]))
        out.append(_typed_piece(part.mutate(
            section=ibis.literal(""), method_detail=part.method,
            method=ibis.literal("monitoring"), library=ibis.literal(""),
            treatment=ibis.literal("")), types))
    for name, t in (("material_balance", balance_t), ("coefficient", coefficient_t)):
        if t is None:
            continue
        pick = decision.filter(decision.chosen == name).select(
            **{f"_d_{k}": decision[k] for k in KEYS}, _d_reason=decision.method_reason)
        part = t.join(pick, [t[k].cast("string") == pick[f"_d_{k}"] for k in KEYS])
        part = part.mutate(method=ibis.literal(_CANONICAL[name]),
                           method_detail=ibis.literal(name), method_reason=part._d_reason)
        out.append(_typed_piece(part, types))
    result = ibis.union(*out, distinct=False) if len(out) > 1 else out[0]
    if not fetch:
        return result
    frame = result.to_pyarrow().to_pandas()
    frame["coefficient_row"] = frame["coefficient_row"].astype("Int64")
    return frame.sort_values([*KEYS, "section"], ignore_index=True)
