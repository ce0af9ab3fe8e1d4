"""Deriving coefficients from sample enterprises (系数制定): design, estimation, validation.

**Sampling design** (Cochran 1977): strata = combination × region; the sample size for a
target relative precision r of a mean with coefficient of variation CV at confidence
1 − α is ``n0 = (z CV / r)²``, with the finite-population correction ``n = n0 / (1 + n0/N)``
(Cochran Eq. 4.2 and 4.3); allocation to strata proportional (``n_h = n N_h / N``) or
Neyman (``n_h = n N_h S_h / Σ N_h S_h``), rounded by largest remainders, at least
``min_per_stratum`` and at most N_h; the draw is simple random without replacement within
each stratum, seeded; the enterprises not drawn are the pool for validation.

**Estimation**, per combination (industry, section, product, raw material, process, scale,
pollutant): each sample enterprise's generation per unit activity ``c_i = G_i / A_i``;
outliers by the modified z-score (|0.6745 (c − median) / MAD| > 3.5, Iglewicz and Hoaglin
1993) are flagged and left out of the mean; the coefficient is the mean of the rest with
its Student-t confidence interval ``mean ± t(1 − α/2, n − 1) s / √n`` and its RSD (of the
mean) ``s / (√n mean)``, which :mod:`sourcegrid.accounting.uncertainty` reads. Removal
efficiencies come from paired inlet/outlet measurements: ``η_i = 1 − outlet_i / inlet_i``,
averaged the same way per (combination, treatment).

**Validation**: on enterprises not used in the estimation, predicted G = c × A against the
measured G: relative error per enterprise ``(G_pred − G_meas) / G_meas`` and the mean
absolute relative error per combination, as the census did with typical enterprises.

**Result**: a new library version (the base library's rows with the derived values, RSDs
and provenance: sample, method, date) and a quality report per combination.

References
----------
.. [1] Cochran, W. G. (1977). Sampling Techniques, 3rd ed. Wiley (Ch. 4 sample size, Ch. 5
   stratified sampling, Neyman allocation).
.. [2] Iglewicz, B. and Hoaglin, D. (1993). How to Detect and Handle Outliers. ASQC.
.. [3] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 系数制定说明 (sample enterprises,
   validation on typical enterprises).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy import stats

from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem

__all__ = ["COMBINATION_KEYS", "sample_size", "allocate", "draw_sample", "estimate_generation",
           "estimate_removal", "validate", "derived_library", "ALLOCATIONS"]

COMBINATION_KEYS = ["industry_code", "section", "product", "raw_material", "process", "scale",
                    "pollutant"]
ALLOCATIONS = ("proportional", "neyman")
OUTLIER_Z = 3.5


def sample_size(cv: float, relative_precision: float, *, confidence: float = 0.95,
                population: int | None = None) -> int:
    """Sample size for a mean with relative precision r at the given confidence.

    ``n0 = (z CV / r)²``; with N, ``n = n0 / (1 + n0 / N)`` (Cochran 1977, Eq. 4.2–4.3),
    rounded up.
    """
    if not cv > 0:
        raise OptionError("--cv", cv, "a coefficient of variation > 0")
    if not 0 < relative_precision < 1:
        raise OptionError("--precision", relative_precision, "a relative precision in (0, 1)")
    if not 0 < confidence < 1:
        raise OptionError("--confidence", confidence, "a level in (0, 1)")
    z = stats.norm.ppf(0.5 + confidence / 2)
    n0 = (z * cv / relative_precision) ** 2
    if population is not None:
        n0 = n0 / (1 + n0 / population)
    return int(np.ceil(n0 - 1e-9))


def _largest_remainder(quota: np.ndarray, total: int) -> np.ndarray:
    base = np.floor(quota).astype(int)
    rest = total - base.sum()
    if rest > 0:
        base[np.argsort(-(quota - base), kind="stable")[:rest]] += 1
    return base


def allocate(population: pd.DataFrame, strata: Sequence[str], n: int, *,
             method: str = "proportional", sd: str | None = None,
             min_per_stratum: int = 2) -> pd.DataFrame:
    """Sample sizes per stratum.

    Returns
    -------
    pandas.DataFrame
        The strata columns, N (enterprises), n (to draw).
    """
    if method not in ALLOCATIONS:
        raise NotFoundError("allocation", method, ALLOCATIONS)
    if method == "neyman" and (sd is None or sd not in population):
        raise OptionError("--sd-column", sd, "a column of the population with each "
                          "stratum's standard deviation (Neyman allocation)")
    groups = population.groupby(list(strata), dropna=False)
    table = groups.size().rename("N").reset_index()
    weight = table["N"].to_numpy(float)
    if method == "neyman":
        weight = weight * groups[sd].agg(lambda s: pd.to_numeric(s, errors="coerce").mean()) \
            .fillna(0).to_numpy(float)
        if weight.sum() == 0:
            weight = table["N"].to_numpy(float)
    n = min(int(n), int(table["N"].sum()))
    out = _largest_remainder(n * weight / weight.sum(), n)
    floor = np.minimum(min_per_stratum, table["N"].to_numpy())
    table["n"] = np.minimum(np.maximum(out, floor), table["N"].to_numpy())
    return table


def draw_sample(population: pd.DataFrame, allocation: pd.DataFrame, strata: Sequence[str],
                *, seed: int = 2017) -> pd.DataFrame:
    """The population with ``selected`` (True for the drawn sample enterprises), seeded."""
    rng = np.random.default_rng(seed)
    keys = list(strata)
    frame = population.reset_index(drop=True)
    stratum = frame.groupby(keys, dropna=False, sort=True).ngroup().to_numpy()
    wanted = frame[keys].merge(allocation[[*keys, "n"]], on=keys, how="left")["n"] \
        .fillna(0).to_numpy(int)
    order = rng.permutation(len(frame))  # random rank within each stratum
    rank = pd.Series(order).groupby(stratum).rank(method="first").to_numpy() - 1
    return frame.assign(selected=rank < wanted, stratum=stratum)


def _checked(frame: pd.DataFrame, numbers: Sequence[str], source: str) -> pd.DataFrame:
    from sourcegrid.accounting.monitoring import missing_columns, number_problems
    from sourcegrid.coefficients import canonical_pollutant
    from sourcegrid.io.tables import with_row_numbers

    frame = with_row_numbers(frame, source)
    problems = missing_columns(frame, ["enterprise_id", "industry_code", "pollutant",
                                       *numbers], source)
    if problems:
        raise InputError(problems, f"{source}: columns missing")
    out = frame.copy()
    for column in numbers:
        out[column] = number_problems(frame, column, problems).to_numpy()
    if problems:
        raise InputError(problems, f"{source}: nothing was estimated")
    for key in COMBINATION_KEYS:
        out[key] = out[key].astype("string").fillna("").str.strip() if key in out else ""
    out["pollutant"] = out["pollutant"].map(lambda p: canonical_pollutant(p) if p else p)
    return out


def _mean_ci(values: pd.Series, confidence: float) -> pd.Series:
    x = values.dropna().to_numpy(float)
    n = x.size
    mean = x.mean() if n else np.nan
    s = x.std(ddof=1) if n > 1 else np.nan
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * s / np.sqrt(n) if n > 1 else np.nan
    return pd.Series({"n": n, "mean": mean, "sd": s, "ci_low": mean - half,
                      "ci_high": mean + half,
                      "rsd_of_mean": s / (np.sqrt(n) * mean) if n > 1 and mean else np.nan})


def _flag_outliers(frame: pd.DataFrame, value: str, keys: list[str]) -> pd.Series:
    by = [frame[k] for k in keys]
    median = frame[value].groupby(by).transform("median")
    mad = (frame[value] - median).abs().groupby(by).transform("median")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 0.6745 * (frame[value] - median) / mad
    return (z.abs() > OUTLIER_Z) & (mad > 0)


def estimate_generation(measurements: pd.DataFrame, *, confidence: float = 0.95,
                        source: str = "measurements") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generation coefficients per combination from sample enterprises.

    Parameters
    ----------
    measurements : pandas.DataFrame
        enterprise_id, the combination keys (COMBINATION_KEYS, as the library writes them),
        generation [kg] and activity [the library row's activity unit, e.g. t].

    Returns
    -------
    estimates : pandas.DataFrame
        Per combination: n, mean (the coefficient, kg per unit activity), sd, ci_low,
        ci_high, rsd_of_mean, outliers.
    per_enterprise : pandas.DataFrame
        Each enterprise's c_i and its ``outlier`` flag.
    """
    data = _checked(measurements, ["generation", "activity"], source)
    problems = [Problem(source, int(r), "activity", "0", "zero_activity",
                        "activity: expected > 0 (the coefficient is generation / activity)")
                for r in data.loc[data["activity"] <= 0, "_row"]]
    if problems:
        raise InputError(problems, f"{source}: nothing was estimated")
    data["coefficient"] = data["generation"] / data["activity"]
    data["outlier"] = _flag_outliers(data, "coefficient", COMBINATION_KEYS)
    kept = data.loc[~data["outlier"]]
    estimates = kept.groupby(COMBINATION_KEYS)["coefficient"].apply(
        _mean_ci, confidence=confidence).unstack().reset_index()
    outliers = data.groupby(COMBINATION_KEYS)["outlier"].sum().rename("outliers")
    estimates = estimates.join(outliers, on=COMBINATION_KEYS)
    return estimates, data


def estimate_removal(pairs: pd.DataFrame, *, confidence: float = 0.95,
                     source: str = "pairs") -> pd.DataFrame:
    """Average removal efficiency per (combination, treatment) from inlet/outlet pairs.

    ``pairs``: enterprise_id, combination keys, treatment, inlet and outlet (the same
    quantity at both ends, e.g. kg/h or mg/m³ × m³/h). η_i = 1 − outlet / inlet.
    """
    data = _checked(pairs, ["inlet", "outlet"], source)
    problems = [Problem(source, int(r), "inlet", "", "bad_pair",
                        "inlet: expected > 0 and ≥ outlet") for r in data.loc[
        (data["inlet"] <= 0) | (data["outlet"] > data["inlet"]), "_row"]]
    if problems:
        raise InputError(problems, f"{source}: nothing was estimated")
    data["treatment"] = data["treatment"].astype("string").fillna("").str.strip() \
        if "treatment" in data else ""
    data["efficiency"] = 1 - data["outlet"] / data["inlet"]
    keys = [*COMBINATION_KEYS, "treatment"]
    data["outlier"] = _flag_outliers(data, "efficiency", keys)
    out = data.loc[~data["outlier"]].groupby(keys)["efficiency"].apply(
        _mean_ci, confidence=confidence).unstack().reset_index()
    return out.join(data.groupby(keys)["outlier"].sum().rename("outliers"), on=keys)


def validate(estimates: pd.DataFrame, holdout: pd.DataFrame, *,
             source: str = "validation") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relative error of the derived coefficients on enterprises not used to derive them.

    Returns
    -------
    per_enterprise : enterprise_id, keys, measured, predicted, relative_error
    per_combination : keys, enterprises, mean_abs_relative_error, max_abs_relative_error
    """
    data = _checked(holdout, ["generation", "activity"], source)
    merged = data.merge(estimates[[*COMBINATION_KEYS, "mean"]], on=COMBINATION_KEYS,
                        how="left")
    merged["predicted"] = merged["mean"] * merged["activity"]
    merged["relative_error"] = (merged["predicted"] - merged["generation"]) / merged[
        "generation"].replace(0, np.nan)
    per = merged[["enterprise_id", *COMBINATION_KEYS, "generation", "predicted",
                  "relative_error"]].rename(columns={"generation": "measured"})
    combination = per.assign(abs_error=per["relative_error"].abs()).groupby(
        COMBINATION_KEYS).agg(enterprises=("enterprise_id", "size"),
                              mean_abs_relative_error=("abs_error", "mean"),
                              max_abs_relative_error=("abs_error", "max")).reset_index()
    return per, combination


def derived_library(base, estimates: pd.DataFrame, *, name: str,
                    efficiencies: pd.DataFrame | None = None, sample: str = "",
                    method: str = "mean of sample enterprises, modified-z outliers out"):
    """A new library version: the base rows with the derived coefficients and RSDs.

    Rows of the base library whose combination (COMBINATION_KEYS, as written) has an
    estimate get ``generation_coefficient`` = its mean (expression cleared),
    ``generation_coefficient_rsd`` = its RSD of the mean and a provenance ``source``;
    treated rows with an efficiency estimate get ``removal_efficiency`` and
    ``removal_efficiency_rsd``. Estimates without a base row are returned in ``unmatched``.

    Returns
    -------
    (CoefficientLibrary, pandas.DataFrame)
        The version and the estimates that matched no base row.
    """
    from sourcegrid.coefficients import CoefficientLibrary

    rows = (base.rows if hasattr(base, "rows") else base).copy()
    for key in COMBINATION_KEYS:
        rows[key] = rows[key].fillna("").astype(str)
    date = datetime.now(UTC)
    note = (f"derived {date.date().isoformat()} from sample {sample or '(unnamed)'}: "
            f"{method}")
    est = estimates[[*COMBINATION_KEYS, "mean", "rsd_of_mean", "n"]].astype(
        {k: str for k in COMBINATION_KEYS})
    merged = rows.merge(est, on=COMBINATION_KEYS, how="left", indicator=True)
    hit = (merged["_merge"] == "both").to_numpy()
    # the mean is kg per activity unit; the row's coefficient is in its own unit
    factor = merged.loc[hit, "coefficient_factor"].replace(0, np.nan).to_numpy(float)
    rows.loc[hit, "generation_coefficient"] = merged.loc[hit, "mean"].to_numpy(float) / factor
    rows.loc[hit, "generation_expression"] = ""
    rows["generation_coefficient_rsd"] = np.where(hit, merged["rsd_of_mean"], np.nan)
    rows.loc[hit, "source"] = note + ", n = " + merged.loc[hit, "n"].astype(int).astype(str)
    if efficiencies is not None and len(efficiencies):
        eff = efficiencies[[*COMBINATION_KEYS, "treatment", "mean", "rsd_of_mean"]].astype(
            {k: str for k in [*COMBINATION_KEYS, "treatment"]})
        m = rows.merge(eff, on=[*COMBINATION_KEYS, "treatment"], how="left")
        got = m["mean"].notna().to_numpy()
        rows.loc[got, "removal_efficiency"] = m.loc[got, "mean"].to_numpy()
        rows["removal_efficiency_rsd"] = np.where(got, m["rsd_of_mean"], np.nan)
    rows["library"] = name
    matched = rows.loc[hit, COMBINATION_KEYS].drop_duplicates()
    unmatched = est.merge(matched, on=COMBINATION_KEYS, how="left", indicator=True)
    unmatched = unmatched.loc[unmatched["_merge"] == "left_only"].drop(columns="_merge")
    library = CoefficientLibrary(name=name, source=note, imported_at=date, file="", rows=rows)
    return library, unmatched
