"""Dynamic update of the library (动态更新): proposals from monitoring data, with review.

Evidence: for enterprises with both a measured emission (monitoring or permit data, per
enterprise × period × pollutant) and the emission the coefficient method gives them, the
ratio ``r_i = measured_i / accounted_i``. Per coefficient row (only enterprises whose
pollutant comes from that one row count), the test is the Wilcoxon signed-rank test of
``log r_i`` against 0 (two-sided; no normality assumed), on at least ``min_enterprises``
(default 10). Where p < α (default 0.05) the proposal scales the row's generation
coefficient by the geometric mean ratio ``exp(mean log r)`` (the removal efficiency is
kept: the difference is read as generation, the documented assumption of this rule).

The sums, the join and the per-row counts and geometric means run in the engine of the
inputs (Ibis tables, or DataFrames as memtables on ``con=``); the log ratios of the rows
with enough enterprises come back for SciPy's signed-rank test.

A proposal is a candidate library version (stored like any version) with its diff (old,
new, change %) and its evidence (n, ratio, p), and a review state kept as an append-only
log (table ``library_reviews``: proposed → approved | rejected, with who and when, and a
sequence number ``seq`` taken inside a transaction with the table locked, so that the
order of events never rests on the engine's row order). The
latest approved version is the workspace's default library (:func:`default_library_name`,
``--library default``); runs already stored keep the library name they were made with
(``account_runs.library``).

References
----------
.. [1] Wilcoxon, F. (1945). Individual comparisons by ranking methods. Biometrics Bulletin
   1(6), 80–83 (scipy.stats.wilcoxon).
.. [2] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册: 系数动态更新.
"""

from __future__ import annotations

from datetime import UTC, datetime

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem

__all__ = ["evidence", "propose", "review", "default_library_name", "review_log",
           "REVIEW_STATES", "REVIEWS_TABLE", "EVIDENCE_TABLE"]

REVIEW_STATES = ("proposed", "approved", "rejected")
REVIEWS_TABLE = "library_reviews"
EVIDENCE_TABLE = "library_evidence"
KEYS = ["enterprise_id", "period", "pollutant"]


def evidence(measured, accounted, *, min_enterprises: int = 10, alpha: float = 0.05,
             con=None) -> pd.DataFrame:
    """Per coefficient row: n, geometric mean ratio, Wilcoxon p, significant.

    Parameters
    ----------
    measured : pandas.DataFrame or ibis.Table
        enterprise_id, period, pollutant, emission [kg] (monitoring or permit data).
    accounted : pandas.DataFrame or ibis.Table
        Coefficient-method emission rows of the same enterprises: the KEYS, emission [kg],
        coefficient_row.
    con : ibis backend, optional
        Where DataFrames are computed (default: an in-memory DuckDB); tables run in their
        engine.

    Notes
    -----
    The sums per enterprise × period × pollutant, the join of measured and accounted, the
    one-row condition, the log ratios and n and mean log ratio per coefficient row are
    engine aggregations. The signed-rank test needs the ranks of one group's values: only
    the log ratios of the coefficient rows with at least ``min_enterprises`` enterprises
    (one value per enterprise × period × pollutant) come back for SciPy's
    ``wilcoxon`` (two-sided, zeros dropped; exact null distribution without ties or
    zeros, SciPy's defaults otherwise).
    """
    from sourcegrid.store.portable import (
        engine_name,
        engine_table,
        fetch,
        number,
        text,
    )

    if min_enterprises < 2:
        raise OptionError("--min-enterprises", min_enterprises, "at least 2")
    if not 0 < alpha < 1:
        raise OptionError("--alpha", alpha, "a significance level in (0, 1)")
    m_table, con, _ = engine_table(measured, con, position=False)
    a_table, con, _ = engine_table(accounted, con, position=False)
    problems = [Problem("measured", None, c, "", "missing_column", f"needs {c!r}")
                for c in [*KEYS, "emission"] if c not in m_table.columns]
    problems += [Problem("accounted", None, c, "", "missing_column", f"needs {c!r}")
                 for c in [*KEYS, "emission", "coefficient_row"] if c not in a_table.columns]
    if problems:
        raise InputError(problems, "cannot compare measured and accounted emissions")
    m = m_table.select(**{k: text(m_table, k) for k in KEYS},
                       _value=number(m_table, "emission", engine_name(con, m_table)))
    m = m.group_by(KEYS).aggregate(measured=m._value.sum())
    a = a_table.select(**{k: text(a_table, k) for k in KEYS},
                       _value=number(a_table, "emission", engine_name(con, a_table)),
                       _coefficient=text(a_table, "coefficient_row"))
    a = a.group_by(KEYS).aggregate(accounted=a._value.sum(), _rows=a._coefficient.nunique(),
                                   coefficient_row=a._coefficient.min())
    per = a.filter(a._rows == 1).join(m, KEYS)
    per = per.filter((per.measured > 0) & (per.accounted > 0))
    per = per.mutate(log_ratio=(per.measured / per.accounted).ln())
    summary = fetch(con, per.group_by("coefficient_row").aggregate(
        enterprises=per.count(), _mean_log=per.log_ratio.mean()))
    enough = summary.loc[summary["enterprises"] >= min_enterprises, "coefficient_row"]
    p_values: dict[str, float] = {}
    if len(enough):
        values = fetch(con, per.filter(per.coefficient_row.isin(list(enough))).select(
            "coefficient_row", "log_ratio"))
        for row, group in values.groupby("coefficient_row"):  # one test per coefficient row
            x = group["log_ratio"].to_numpy(float)
            if np.any(x != 0):
                p_values[row] = float(stats.wilcoxon(x).pvalue)
    summary["p_value"] = summary["coefficient_row"].map(p_values).astype(float)
    summary["ratio"] = np.exp(summary.pop("_mean_log").astype(float))
    summary["significant"] = (summary["enterprises"] >= min_enterprises) & (
        summary["p_value"] < alpha)
    numeric = pd.to_numeric(summary["coefficient_row"], errors="coerce")
    if numeric.notna().all() and (numeric == numeric.round()).all():
        summary["coefficient_row"] = numeric.astype("int64")
    summary = summary.sort_values("coefficient_row", kind="stable").reset_index(drop=True)
    summary["enterprises"] = summary["enterprises"].astype(int)
    summary["significant"] = summary["significant"].astype(bool)
    return summary[["coefficient_row", "enterprises", "ratio", "p_value", "significant"]]


def _row_text(values: pd.Series) -> pd.Series:
    """Coefficient row numbers as text, integral numbers without '.0'."""
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric == numeric.round())
    out = values.astype(str).str.strip()
    return out.where(~whole, numeric.where(whole, 0).astype("int64").astype(str))


def propose(base, table: pd.DataFrame, *, name: str):
    """A candidate version: base rows with the significant rows' coefficients scaled.

    Returns
    -------
    (CoefficientLibrary, diff)
        diff: coefficient_row, industry_code, pollutant, old, new, change_percent, ratio,
        enterprises, p_value.
    """
    from sourcegrid.coefficients import CoefficientLibrary

    rows = (base.rows if hasattr(base, "rows") else base).copy()
    significant = table.loc[table["significant"]]
    # matched by their text, so that evidence read from a file finds its rows ('103' = 103)
    significant = significant.set_index(pd.Index(_row_text(significant["coefficient_row"])))
    key = _row_text(rows["coefficient_row"])
    if significant.empty:
        raise InputError([Problem("evidence", None, "", "", "no_significant_difference",
                                  "no coefficient row differs significantly from the "
                                  "measurements: nothing to propose")],
                         "no proposal")
    hit = key.isin(significant.index)
    expression = rows["generation_expression"].fillna("")
    ratio = key.map(significant["ratio"])
    old = rows.loc[hit, "generation_coefficient"].copy()
    rows.loc[hit & (expression == ""), "generation_coefficient"] = (
        rows["generation_coefficient"] * ratio)[hit & (expression == "")]
    scaled = hit & (expression != "")
    rows.loc[scaled, "generation_expression"] = "(" + expression[scaled] + ")*" + ratio[
        scaled].map(lambda v: f"{v:.6g}")
    rows["library"] = name
    diff = rows.loc[hit, ["coefficient_row", "industry_code", "pollutant",
                          "generation_expression"]].assign(
        old=old.to_numpy(), new=rows.loc[hit, "generation_coefficient"].to_numpy())
    diff["change_percent"] = 100 * (ratio[hit].to_numpy() - 1)
    evidence_of = significant[["ratio", "enterprises", "p_value"]].reindex(key[hit])
    for column in ("ratio", "enterprises", "p_value"):
        diff[column] = evidence_of[column].to_numpy()
    source = (f"proposed from monitoring data on {len(significant)} coefficient row(s) of "
              f"{getattr(base, 'name', 'base')!r} (Wilcoxon signed-rank on log ratios)")
    library = CoefficientLibrary(name=name, source=source, imported_at=datetime.now(UTC),
                                 file="", rows=rows)
    return library, diff.drop_duplicates(["coefficient_row", "industry_code"])


def review_log(workspace) -> pd.DataFrame:
    """Every review event (append-only), in the order they happened: library, base, state,
    by, at, note, seq (read through Ibis: the same on DuckDB, PostgreSQL and PySpark)."""
    if not workspace.has(REVIEWS_TABLE):
        return pd.DataFrame(columns=[*_LOG_COLUMNS, "seq"])
    table = workspace.table(REVIEWS_TABLE)
    order = [table.seq] if "seq" in table.columns else [table["at"]]
    return table.order_by(order).to_pandas().reset_index(drop=True)


#: Columns of the review log besides its sequence number ``seq``.
_LOG_COLUMNS = ["library", "base", "state", "by", "at", "note"]


def _log(workspace, library: str, base: str, state: str, by: str, note: str) -> pd.DataFrame:
    """Append one event with the next sequence number (inside the caller's transaction,
    the table locked, so that two reviewers cannot both take the same number)."""
    seq = 1
    if workspace.has(REVIEWS_TABLE):
        table = workspace.table(REVIEWS_TABLE)
        if "seq" not in table.columns:  # a log written before events were numbered
            old = table.order_by(table["at"]).to_pandas()
            workspace.write(REVIEWS_TABLE, old.assign(seq=np.arange(1, len(old) + 1)))
            table = workspace.table(REVIEWS_TABLE)
        last = table.seq.max().to_pyarrow().as_py()
        seq = int(last or 0) + 1
    row = pd.DataFrame([{"library": library, "base": base, "state": state, "by": by,
                         "at": datetime.now(UTC).isoformat(timespec="seconds"),
                         "note": note, "seq": seq}]).astype({"seq": "int64"})
    workspace.write(REVIEWS_TABLE, row, mode="append")
    return row


def store_proposal(workspace, library, diff: pd.DataFrame, *, base: str, by: str) -> None:
    """Store the candidate version, its evidence and the 'proposed' state (all or nothing)."""
    from sourcegrid.coefficients import store_library

    with workspace.transaction():
        workspace.lock(REVIEWS_TABLE, EVIDENCE_TABLE)
        store_library(workspace, library)
        workspace.write(EVIDENCE_TABLE, diff.assign(library=library.name), mode="append")
        _log(workspace, library.name, base, "proposed", by, library.source)


def review(workspace, name: str, state: str, *, by: str, note: str = "") -> pd.DataFrame:
    """Approve or reject a proposed version (who and when are kept)."""
    if state not in REVIEW_STATES[1:]:
        raise NotFoundError("review state", state, REVIEW_STATES[1:])
    if not by.strip():
        raise OptionError("--by", by, "the name of the reviewer")
    with workspace.transaction():
        workspace.lock(REVIEWS_TABLE)
        log = review_log(workspace)
        events = log.loc[log["library"] == name]
        if events.empty:
            raise NotFoundError("proposal", name, sorted(set(log["library"])))
        current = events["state"].iloc[-1]
        if current != "proposed":
            raise OptionError(name, current, "a proposal in state 'proposed' (it was already "
                              f"{current})")
        return _log(workspace, name, str(events["base"].iloc[-1]), state, by, note)


def default_library_name(workspace, fallback: str = "sample") -> str:
    """The latest approved proposal, else ``fallback`` (one small Ibis query)."""
    if not workspace.has(REVIEWS_TABLE):
        return fallback
    table = workspace.table(REVIEWS_TABLE)
    approved = table.filter(table.state == "approved")
    order = approved.seq if "seq" in table.columns else approved["at"]
    latest = approved.order_by(ibis.desc(order)).limit(1).select("library").to_pandas()
    return str(latest["library"].iloc[0]) if len(latest) else fallback
