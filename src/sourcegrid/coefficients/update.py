"""Dynamic update of the library (动态更新): proposals from monitoring data, with review.

Evidence: for enterprises with both a measured emission (monitoring or permit data, per
enterprise × period × pollutant) and the emission the coefficient method gives them, the
ratio ``r_i = measured_i / accounted_i``. Per coefficient row (only enterprises whose
pollutant comes from that one row count), the test is the Wilcoxon signed-rank test of
``log r_i`` against 0 (two-sided; no normality assumed), on at least ``min_enterprises``
(default 10). Where p < α (default 0.05) the proposal scales the row's generation
coefficient by the geometric mean ratio ``exp(mean log r)`` (the removal efficiency is
kept: the difference is read as generation, the documented assumption of this rule).

A proposal is a candidate library version (stored like any version) with its diff (old,
new, change %) and its evidence (n, ratio, p), and a review state kept as an append-only
log (table ``library_reviews``: proposed → approved | rejected, with who and when). The
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


def evidence(measured: pd.DataFrame, accounted: pd.DataFrame, *, min_enterprises: int = 10,
             alpha: float = 0.05) -> pd.DataFrame:
    """Per coefficient row: n, geometric mean ratio, Wilcoxon p, significant.

    Parameters
    ----------
    measured : pandas.DataFrame
        enterprise_id, period, pollutant, emission [kg] (monitoring or permit data).
    accounted : pandas.DataFrame
        Coefficient-method emission rows of the same enterprises: the KEYS, emission [kg],
        coefficient_row.
    """
    if min_enterprises < 2:
        raise OptionError("--min-enterprises", min_enterprises, "at least 2")
    if not 0 < alpha < 1:
        raise OptionError("--alpha", alpha, "a significance level in (0, 1)")
    problems = [Problem("measured", None, c, "", "missing_column", f"needs {c!r}")
                for c in [*KEYS, "emission"] if c not in measured]
    problems += [Problem("accounted", None, c, "", "missing_column", f"needs {c!r}")
                 for c in [*KEYS, "emission", "coefficient_row"] if c not in accounted]
    if problems:
        raise InputError(problems, "cannot compare measured and accounted emissions")
    m = measured.assign(**{k: measured[k].astype(str) for k in KEYS}).groupby(
        KEYS, as_index=False)["emission"].sum().rename(columns={"emission": "measured"})
    a = accounted.assign(**{k: accounted[k].astype(str) for k in KEYS})
    per = a.groupby(KEYS).agg(accounted=("emission", "sum"),
                              rows=("coefficient_row", "nunique"),
                              coefficient_row=("coefficient_row", "first")).reset_index()
    per = per.loc[per["rows"] == 1].merge(m, on=KEYS)
    per = per.loc[(per["measured"] > 0) & (per["accounted"] > 0)]
    per["log_ratio"] = np.log(per["measured"] / per["accounted"])
    out = []
    for row, group in per.groupby("coefficient_row"):
        n = len(group)
        p = np.nan
        if n >= min_enterprises and np.any(group["log_ratio"] != 0):
            p = float(stats.wilcoxon(group["log_ratio"]).pvalue)
        out.append({"coefficient_row": row, "enterprises": n,
                    "ratio": float(np.exp(group["log_ratio"].mean())), "p_value": p,
                    "significant": bool(n >= min_enterprises and p < alpha)})
    return pd.DataFrame(out, columns=["coefficient_row", "enterprises", "ratio", "p_value",
                                      "significant"])


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
    significant = table.loc[table["significant"]].set_index("coefficient_row")
    if significant.empty:
        raise InputError([Problem("evidence", None, "", "", "no_significant_difference",
                                  "no coefficient row differs significantly from the "
                                  "measurements: nothing to propose")],
                         "no proposal")
    hit = rows["coefficient_row"].isin(significant.index)
    expression = rows["generation_expression"].fillna("")
    ratio = rows["coefficient_row"].map(significant["ratio"])
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
    diff["change_percent"] = 100 * (diff["coefficient_row"].map(significant["ratio"]) - 1)
    diff = diff.join(significant[["ratio", "enterprises", "p_value"]], on="coefficient_row")
    source = (f"proposed from monitoring data on {len(significant)} coefficient row(s) of "
              f"{getattr(base, 'name', 'base')!r} (Wilcoxon signed-rank on log ratios)")
    library = CoefficientLibrary(name=name, source=source, imported_at=datetime.now(UTC),
                                 file="", rows=rows)
    return library, diff.drop_duplicates(["coefficient_row", "industry_code"])


def review_log(workspace) -> pd.DataFrame:
    """Every review event (append-only): library, base, state, by, at, note."""
    if not workspace.has(REVIEWS_TABLE):
        return pd.DataFrame(columns=["library", "base", "state", "by", "at", "note"])
    return workspace.read(REVIEWS_TABLE)


def _log(workspace, library: str, base: str, state: str, by: str, note: str) -> pd.DataFrame:
    row = pd.DataFrame([{"library": library, "base": base, "state": state, "by": by,
                         "at": datetime.now(UTC).isoformat(timespec="seconds"),
                         "note": note}])
    workspace.write(REVIEWS_TABLE, row, mode="append")
    return row


def store_proposal(workspace, library, diff: pd.DataFrame, *, base: str, by: str) -> None:
    """Store the candidate version, its evidence and the 'proposed' state."""
    from sourcegrid.coefficients import store_library

    store_library(workspace, library)
    workspace.write(EVIDENCE_TABLE, diff.assign(library=library.name), mode="append")
    _log(workspace, library.name, base, "proposed", by, library.source)


def review(workspace, name: str, state: str, *, by: str, note: str = "") -> pd.DataFrame:
    """Approve or reject a proposed version (who and when are kept)."""
    if state not in REVIEW_STATES[1:]:
        raise NotFoundError("review state", state, REVIEW_STATES[1:])
    if not by.strip():
        raise OptionError("--by", by, "the name of the reviewer")
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
    """The latest approved proposal, else ``fallback``."""
    log = review_log(workspace)
    approved = log.loc[log["state"] == "approved"]
    return str(approved["library"].iloc[-1]) if len(approved) else fallback
