"""Uncertainty of accounted emissions (不确定性分析): Monte Carlo and error propagation.

Every emission row of the coefficient method is E = G × (1 − η × k) with G = c × A.
Each of c (generation coefficient), A (activity), η (removal efficiency) and k
(operating rate) has a relative standard deviation (RSD), taken, in this order, from

1. columns of the emission rows: ``generation_coefficient_rsd``, ``activity_rsd``,
   ``removal_efficiency_rsd``, ``k_rsd``;
2. columns of the coefficient library rows (joined on ``coefficient_row``):
   ``generation_coefficient_rsd`` / ``removal_efficiency_rsd``, or a 95 % range
   ``generation_coefficient_low`` + ``_high`` (``removal_efficiency_low`` + ``_high``, in
   the library's %), read as RSD = (high − low) / (2 × 1.96 × value) (IPCC 2006 Vol. 1
   Ch. 3: uncertainty as the half-width of the 95 % interval);
3. a named default set (``UNCERTAINTY_DEFAULTS``).

**Approach 2, Monte Carlo** (IPCC 2006 Vol. 1 §3.2.3.2; EMEP/EEA Guidebook 2019 Part A
Ch. 5, Tier 2): c and A are drawn as lognormal multipliers with mean 1 and the given RSD
(positive, right-skewed), η and k from Beta distributions (see Limits). Correlation: one c
multiplier per coefficient row and draw (every enterprise accounted with that row shares
it), one η per (coefficient row, treatment), one A per activity row (shared by the
pollutants of that row), one k per emission row. Draws are made in blocks (float32), and group
totals are ``np.add.reduceat`` over rows sorted by group (float32 over pieces of at most
1,024 rows, float64 over the pieces): vectorised, memory bounded by the block size.

**Approach 1, error propagation** (IPCC 2006 Vol. 1 §3.2.3.1, Eq. 3.1 and 3.2;
EMEP/EEA Part A Ch. 5 Tier 1), first order, with the same correlation structure::

    Var(T) = Σ_c (Σ_{i∈c} E_i)² u_c² + Σ_a (Σ_{i∈a} E_i)² u_A²
           + Σ_(c,t) (Σ_{i∈(c,t)} G_i η_i k_i)² u_η² + Σ_i (G_i η_i k_i)² u_k²

with u the RSDs; the 95 % interval is T ± 1.96 √Var(T) and the relative uncertainty
U = 1.96 √Var(T) / T (Eq. 3.1's percentage half-width). Each term's share of Var(T) is its
*variance contribution*; the largest ones are listed.

Limits: for a row of technologies in series the combined η·k is perturbed as one η (its
nominal combined efficiency) and one k; η and k are Beta-distributed with the row's mean
and an sd of min(mean × RSD, 0.5 √(mean (1 − mean))) (``bounded_sd``), so they stay in
[0, 1] and keep their mean (the same capped sd enters Approach 1); Approach 1 is only first order and symmetric: with
RSDs above ~30 % (IPCC's rule of thumb) Monte Carlo is the better figure.

References
----------
.. [1] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Vol. 1,
   Ch. 3 Uncertainties (Approach 1 §3.2.3.1, Approach 2 §3.2.3.2).
.. [2] EEA (2019). EMEP/EEA air pollutant emission inventory guidebook 2019, Part A,
   Ch. 5 Uncertainties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem

__all__ = ["UNCERTAINTY_DEFAULTS", "GROUP_COLUMNS", "row_uncertainties", "monte_carlo",
           "analytic", "UncertaintyResult", "propagate"]

#: Default RSDs where neither the rows nor the library give one. sourcegrid's own
#: documented defaults (replace with the library's): coefficient 30 % (EMEP/EEA
#: Guidebook Part A Ch. 5 rates emission factors from A to E; 30 % sits in the range of
#: its middle ratings), removal efficiency 10 %, activity 5 % (the order of magnitude IPCC
#: 2006 Vol. 1 Ch. 3 gives for well-kept fuel and production statistics), k 10 %. These
#: are sourcegrid's choices, not figures of either text.
UNCERTAINTY_DEFAULTS: dict[str, dict[str, float]] = {
    "sourcegrid_default": {"generation_coefficient": 0.30, "removal_efficiency": 0.10,
                           "activity": 0.05, "k": 0.10},
    "none": {"generation_coefficient": 0.0, "removal_efficiency": 0.0, "activity": 0.0,
             "k": 0.0},
}
#: Grouping keys → emission columns.
GROUP_COLUMNS = {"enterprise": ["enterprise_id"], "region": ["region_code"],
                 "industry": ["industry_code"], "section": ["section"],
                 "pollutant": ["pollutant"]}
_PARAMETERS = ("generation_coefficient", "activity", "removal_efficiency", "k")
Z95 = 1.959963984540054


def _rsd_from_range(low, high, value):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(high, float) - np.asarray(low, float)) / (2 * Z95 *
                                                                      np.asarray(value, float))


def row_uncertainties(emissions: pd.DataFrame, library: pd.DataFrame | None = None,
                      defaults: str = "sourcegrid_default") -> pd.DataFrame:
    """The RSD of c, A, η and k for every emission row, with where each came from.

    Returns
    -------
    pandas.DataFrame
        u_generation_coefficient, u_activity, u_removal_efficiency, u_k (fractions) and
        origin_<parameter> (row | library | library range | default), index of ``emissions``.

    Raises
    ------
    InputError
        Negative or non-numeric RSDs, all of them.
    """
    if defaults not in UNCERTAINTY_DEFAULTS:
        raise NotFoundError("uncertainty defaults", defaults, UNCERTAINTY_DEFAULTS)
    fallback = UNCERTAINTY_DEFAULTS[defaults]
    out = pd.DataFrame(index=emissions.index)
    lib = None
    if library is not None and "coefficient_row" in emissions:
        rows = library.rows if hasattr(library, "rows") else library
        lib = rows.drop_duplicates("coefficient_row").set_index("coefficient_row")
    problems: list[Problem] = []
    for name in _PARAMETERS:
        value = pd.Series(np.nan, index=emissions.index)
        origin = pd.Series("default", index=emissions.index, dtype=object)
        column = f"{name}_rsd"
        if column in emissions:
            given = pd.to_numeric(emissions[column], errors="coerce")
            value, origin = given, origin.where(given.isna(), "row")
        if lib is not None and name in ("generation_coefficient", "removal_efficiency"):
            keys = emissions["coefficient_row"]
            if column in lib:
                got = keys.map(pd.to_numeric(lib[column], errors="coerce"))
                fill = value.isna() & got.notna()
                value, origin = value.where(~fill, got), origin.where(~fill, "library")
            if f"{name}_low" in lib and f"{name}_high" in lib:
                central = lib[name] if name in lib else np.nan
                if name == "removal_efficiency":
                    central = central * 100  # the range is written in the library's %
                rsd = pd.Series(_rsd_from_range(pd.to_numeric(lib[f"{name}_low"],
                                                              errors="coerce"),
                                                pd.to_numeric(lib[f"{name}_high"],
                                                              errors="coerce"), central),
                                index=lib.index)
                got = keys.map(rsd)
                fill = value.isna() & got.notna() & np.isfinite(got)
                value, origin = value.where(~fill, got), origin.where(~fill, "library range")
        bad = value.notna() & ((value < 0) | ~np.isfinite(value))
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(Problem("emissions", int(i) + 2, column, str(value.iat[i]),
                                    "bad_uncertainty", f"{column}: expected an RSD ≥ 0"))
        out[f"u_{name}"] = value.fillna(fallback[name]).astype(float)
        out[f"origin_{name}"] = origin
    if problems:
        raise InputError(problems, "bad uncertainties: nothing was computed")
    return out


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer code of each row's group and the group table."""
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0])
    grouped = frame[list(columns)].astype(str).groupby(list(columns), sort=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    return codes, grouped.size().index.to_frame(index=False)


def _model_inputs(emissions: pd.DataFrame) -> dict[str, np.ndarray]:
    """G, η, k and the ids of the shared draws."""
    n = len(emissions)
    generation = emissions["generation"].to_numpy(float)
    eta = emissions["removal_efficiency"].fillna(0.0).to_numpy(float) \
        if "removal_efficiency" in emissions else np.zeros(n)
    k = emissions["k"].fillna(1.0).to_numpy(float) if "k" in emissions else np.ones(n)
    k = np.where(eta > 0, k, 1.0)
    coefficient = (emissions["coefficient_row"].astype("string").fillna("")
                   if "coefficient_row" in emissions else pd.Series([""] * n))
    # a row without a coefficient row (monitoring, balance) gets a draw of its own
    coefficient = coefficient.where(coefficient != "", "row" + pd.Series(
        np.arange(n), index=coefficient.index).astype(str))
    treatment = emissions["treatment"].astype("string").fillna("") if "treatment" in \
        emissions else pd.Series([""] * n, index=coefficient.index)
    activity_keys = [c for c in ("enterprise_id", "period", "source_row") if c in emissions]
    if "source_row" in emissions:
        activity = pd.MultiIndex.from_frame(emissions[activity_keys].astype(str)).factorize()[0]
    else:
        activity = np.arange(n)
    return dict(generation=generation, eta=eta, k=k,
                coefficient=pd.factorize(coefficient)[0],
                treatment=pd.factorize(coefficient + "|" + treatment)[0],
                activity=np.asarray(activity, dtype=np.int64))


def _lognormal(rng, rsd: np.ndarray, draws: int) -> np.ndarray:
    """Multipliers with mean 1 and relative sd ``rsd`` (draws × len(rsd)), float32."""
    sigma = np.sqrt(np.log1p(rsd.astype(np.float64) ** 2)).astype(np.float32)
    z = rng.standard_normal((draws, rsd.size), dtype=np.float32)
    z *= sigma
    z -= sigma ** 2 / 2
    return np.exp(z, out=z)


#: An efficiency's (or k's) standard deviation is capped at this share of the largest one
#: a distribution on [0, 1] with that mean can have, √(m(1 − m)): a 10 % RSD on η = 0.99
#: would otherwise allow η > 1.
BOUNDED_SD_CAP = 0.5


def bounded_sd(mean, rsd) -> np.ndarray:
    """Standard deviation of a share in [0, 1]: min(mean × rsd, 0.5 √(mean (1 − mean)))."""
    mean = np.clip(np.asarray(mean, float), 0, 1)
    return np.minimum(mean * np.asarray(rsd, float), BOUNDED_SD_CAP * np.sqrt(mean * (1 - mean)))


def _beta(rng, mean: np.ndarray, sd: np.ndarray, draws: int) -> np.ndarray:
    """Draws (draws × len(mean), float32) of a Beta distribution with this mean and sd
    (the mean itself where sd = 0): shares stay in [0, 1] and keep their mean."""
    out = np.broadcast_to(mean.astype(np.float32), (draws, mean.size)).copy()
    spread = sd > 0
    if spread.any():
        m, v = mean[spread], sd[spread] ** 2
        nu = m * (1 - m) / v - 1
        out[:, spread] = rng.beta(m * nu, (1 - m) * nu, size=(draws, int(spread.sum())))
    return out


def _per_id(u: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One RSD per shared id (the largest of its rows)."""
    out = np.zeros(ids.max() + 1 if ids.size else 0)
    np.maximum.at(out, ids, u)
    return out


def monte_carlo(emissions: pd.DataFrame, u: pd.DataFrame, by: Sequence[str] = ("pollutant",),
                *, draws: int = 1000, seed: int = 2017, block: int = 50,
                keep_draws: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Approach 2: Monte Carlo totals by group (vectorised, correlated draws).

    Parameters
    ----------
    emissions : pandas.DataFrame
        Emission rows [kg] with generation, removal_efficiency, k, coefficient_row,
        treatment and the grouping columns (GROUP_COLUMNS); ``source_row`` ties the
        pollutants of one activity row to one activity draw.
    u : pandas.DataFrame
        :func:`row_uncertainties` of the rows.
    by : sequence of str
        Keys of GROUP_COLUMNS.
    draws, seed, block : int
        Number of draws, random seed, draws per vectorised block.

    Returns
    -------
    pandas.DataFrame
        Per group: emission (the accounted total), mc_mean, mc_sd, mc_low, mc_high (2.5 and
        97.5 percentiles) [kg]. With ``keep_draws`` also the (draws × groups) totals.

    References
    ----------
    .. [1] IPCC 2006 Vol. 1 Ch. 3 §3.2.3.2 (Approach 2).
    """
    columns = _columns(by)
    if draws < 2:
        raise OptionError("--uncertainty", draws, "at least 2 draws")
    groups, table = _codes(emissions, columns)
    order = np.argsort(groups, kind="stable")  # rows by group: sums are np.add.reduceat
    emissions, u, groups = emissions.iloc[order], u.iloc[order], groups[order]
    m = _model_inputs(emissions)
    n = len(emissions)
    # float32 sums over pieces of at most 1,024 rows of one group, then float64 over pieces
    position = np.arange(n) - np.maximum.accumulate(
        np.where(np.r_[True, groups[1:] != groups[:-1]], np.arange(n), 0)) if n else np.arange(0)
    piece_start = np.flatnonzero((position % 1024) == 0) if n else np.array([0])
    piece_group = groups[piece_start] if n else np.array([0])
    group_start = np.flatnonzero(np.r_[True, piece_group[1:] != piece_group[:-1]])
    u_c = _per_id(u["u_generation_coefficient"].to_numpy(), m["coefficient"])
    u_a = _per_id(u["u_activity"].to_numpy(), m["activity"])
    u_eta = _per_id(u["u_removal_efficiency"].to_numpy(), m["treatment"])
    eta0 = np.zeros(u_eta.size)
    np.maximum.at(eta0, m["treatment"], m["eta"])
    u_k = u["u_k"].to_numpy(float)
    rng = np.random.default_rng(seed)
    totals = np.empty((draws, len(table)))
    identity = bool(np.array_equal(m["activity"], np.arange(n)))
    treated = np.flatnonzero(m["eta"] > 0)
    k_treated = m["k"][treated]
    sd_k = bounded_sd(k_treated, u_k[treated])
    sd_eta = bounded_sd(eta0, u_eta)
    generation = m["generation"].astype(np.float32)
    for start in range(0, draws, block):
        d = min(block, draws - start)
        # one float32 block of (d × n): coefficient × activity multipliers, then (1 − η k)
        kept = _lognormal(rng, u_c, d)[:, m["coefficient"]]
        activity = _lognormal(rng, u_a, d)
        kept *= activity if identity else activity[:, m["activity"]]
        del activity
        if treated.size:
            eta = _beta(rng, eta0, sd_eta, d)
            k = _beta(rng, k_treated, sd_k, d)
            k *= eta[:, m["treatment"][treated]]
            kept[:, treated] *= 1 - k
            del k, eta
        kept *= generation
        pieces = np.add.reduceat(kept, piece_start, axis=1).astype(np.float64)
        totals[start:start + d] = np.add.reduceat(pieces, group_start, axis=1)
    result = table.copy()
    result["emission"] = np.bincount(groups, weights=emissions["emission"].to_numpy(float),
                                     minlength=len(table))
    result["mc_mean"] = totals.mean(axis=0)
    result["mc_sd"] = totals.std(axis=0, ddof=1)
    result["mc_low"], result["mc_high"] = np.percentile(totals, [2.5, 97.5], axis=0)
    return (result, totals) if keep_draws else result


def _columns(by: Sequence[str]) -> list[str]:
    columns: list[str] = []
    for key in by:
        if key not in GROUP_COLUMNS:
            raise NotFoundError("grouping key", key, GROUP_COLUMNS)
        columns += GROUP_COLUMNS[key]
    return columns


def analytic(emissions: pd.DataFrame, u: pd.DataFrame, by: Sequence[str] = ("pollutant",),
             *, top: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Approach 1: first-order error propagation with shared coefficients.

    Returns
    -------
    totals : pandas.DataFrame
        Per group: emission, sd, low, high (T ± 1.96 sd) [kg], uncertainty_percent (U).
    contributions : pandas.DataFrame
        The ``top`` largest variance terms per group: group columns, parameter, shared id
        (coefficient row, activity row, ...), variance [kg²] and share of the group's
        variance.

    References
    ----------
    .. [1] IPCC 2006 Vol. 1 Ch. 3, Eq. 3.1, 3.2 (Approach 1); EMEP/EEA 2019 Part A Ch. 5.
    """
    columns = _columns(by)
    m = _model_inputs(emissions)
    groups, table = _codes(emissions, columns)
    e = emissions["emission"].to_numpy(float)
    removed = m["generation"] * m["eta"] * m["k"]
    with np.errstate(divide="ignore", invalid="ignore"):  # the capped sd as an RSD
        u_eta = np.nan_to_num(bounded_sd(m["eta"], u["u_removal_efficiency"]) / m["eta"])
        u_k = np.nan_to_num(bounded_sd(m["k"], u["u_k"]) / m["k"])
    terms = []
    for parameter, ids, weight, name, rsd in (
            ("generation_coefficient", m["coefficient"], e, "coefficient_row",
             u["u_generation_coefficient"].to_numpy(float)),
            ("activity", m["activity"], e, "activity_row", u["u_activity"].to_numpy(float)),
            ("removal_efficiency", m["treatment"], removed, "coefficient_row|treatment",
             u_eta),
            ("k", np.arange(len(e)), removed, "emission_row", u_k)):
        frame = pd.DataFrame({"group": groups, "id": ids, "w": weight, "u": rsd})
        s = frame.groupby(["group", "id"], sort=False).agg(w=("w", "sum"), u=("u", "max"))
        s["variance"] = (s["w"] * s["u"]) ** 2
        s = s.reset_index().assign(parameter=parameter, kind=name)
        terms.append(s)
    terms = pd.concat(terms, ignore_index=True)
    labels = _labels(emissions, m)
    terms["shared_id"] = [labels[k].get(i, str(i)) for k, i in zip(terms["kind"], terms["id"],
                                                                   strict=True)] \
        if len(terms) < 200_000 else terms["id"].astype(str)
    variance = np.bincount(terms["group"], weights=terms["variance"], minlength=len(table))
    result = table.copy()
    result["emission"] = np.bincount(groups, weights=e, minlength=len(table))
    result["sd"] = np.sqrt(variance)
    result["low"] = (result["emission"] - Z95 * result["sd"]).clip(lower=0)
    result["high"] = result["emission"] + Z95 * result["sd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        result["uncertainty_percent"] = 100 * Z95 * result["sd"] / result["emission"]
    # first-order propagation is for moderate uncertainties; above U = 100 % (RSD ≈ 50 %)
    # read Approach 2 (sourcegrid's threshold after IPCC 2006 Vol. 1 §3.2.3.1's caveat)
    result["approach1_applicable"] = result["uncertainty_percent"] <= 100
    terms["share"] = terms["variance"] / variance[terms["group"]].clip(min=1e-300)
    top_terms = terms.sort_values(["group", "variance"], ascending=[True, False]).groupby(
        "group").head(top)
    top_terms = table.iloc[top_terms["group"]].reset_index(drop=True).join(
        top_terms[["parameter", "kind", "shared_id", "variance", "share"]].reset_index(
            drop=True))
    return result, top_terms


def _labels(emissions: pd.DataFrame, m) -> dict[str, dict[int, str]]:
    """Readable names of the shared ids (coefficient row numbers, activity rows)."""
    out: dict[str, dict[int, str]] = {"emission_row": {}}
    if "coefficient_row" in emissions:
        rows = emissions["coefficient_row"].astype("string").fillna("").to_numpy()
        out["coefficient_row"] = dict(zip(m["coefficient"], rows, strict=True))
        treatment = emissions["treatment"].astype("string").fillna("").to_numpy() \
            if "treatment" in emissions else [""] * len(rows)
        out["coefficient_row|treatment"] = {
            i: f"{r} {t}" for i, r, t in zip(m["treatment"], rows, treatment, strict=True)}
    else:
        out["coefficient_row"], out["coefficient_row|treatment"] = {}, {}
    who = (emissions["enterprise_id"].astype(str) + " row "
           + emissions["source_row"].astype(str)) if "source_row" in emissions else \
        emissions["enterprise_id"].astype(str)
    out["activity_row"] = dict(zip(m["activity"], who.to_numpy(), strict=True))
    return out


@dataclass
class UncertaintyResult:
    """Totals with both estimates side by side, and the largest variance terms."""

    totals: pd.DataFrame
    contributions: pd.DataFrame


def propagate(emissions: pd.DataFrame, by: Sequence[str] = ("pollutant",), *, draws: int = 1000,
              seed: int = 2017, library=None, defaults: str = "sourcegrid_default",
              unit: str = "kg", top: int = 10) -> UncertaintyResult:
    """Totals by ``by`` with Approach 1 and Approach 2 intervals (95 %), in ``unit``.

    Only rows with a generation (coefficient and material-balance rows) are propagated;
    monitoring rows (generation NaN) count with their own activity RSD as E × u_A.
    """
    from sourcegrid.units import conversion_factor

    _columns(by)
    if draws < 2:
        raise OptionError("--uncertainty", draws, "at least 2 draws")
    emissions = emissions.reset_index(drop=True).copy()
    measured = emissions["generation"].isna()
    emissions.loc[measured, "generation"] = emissions.loc[measured, "emission"]
    emissions.loc[measured, "removal_efficiency"] = 0.0
    u = row_uncertainties(emissions, library, defaults)
    first, contributions = analytic(emissions, u, by, top=top)
    second = monte_carlo(emissions, u, by, draws=draws, seed=seed)
    keys = [c for c in first.columns if c not in ("emission", "sd", "low", "high",
                                                  "uncertainty_percent",
                                                  "approach1_applicable")]
    totals = first.merge(second.drop(columns="emission"), on=keys) if keys else pd.concat(
        [first, second.drop(columns="emission")], axis=1)
    factor = conversion_factor("kg", unit)
    for column in ("emission", "sd", "low", "high", "mc_mean", "mc_sd", "mc_low", "mc_high"):
        totals[column] = totals[column] * factor
    contributions["variance"] = contributions["variance"] * factor ** 2
    return UncertaintyResult(totals=totals, contributions=contributions)
