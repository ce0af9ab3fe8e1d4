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

**Engines**: estimation and validation take an Ibis table (run in its engine: DuckDB,
PySpark, PostgreSQL) or a DataFrame (a memtable run on ``con=``, an in-memory DuckDB by
default). The checks of the input (every problem at once, one query), c_i and η_i, the
medians and MADs of the outlier rule, n, mean and sample sd per combination, the join
with the estimates and the errors per combination are engine expressions; only the
per-combination figures come back, where SciPy gives the t quantile. The sampling frame
(one row per enterprise, small) is drawn in NumPy; a table is fetched for it.

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

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem
from sourcegrid.store.portable import (
    POSITION,
    cache,
    engine_name,
    engine_table,
    fetch,
    text,
    try_float,
)

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


def _frame(population) -> pd.DataFrame:
    """The (small) sampling frame as a DataFrame: an Ibis table is fetched."""
    return population.to_pandas() if isinstance(population, ibis.Table) else population


def allocate(population, strata: Sequence[str], n: int, *,
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
    population = _frame(population)
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


def draw_sample(population, allocation: pd.DataFrame, strata: Sequence[str],
                *, seed: int = 2017) -> pd.DataFrame:
    """The population with ``selected`` (True for the drawn sample enterprises), seeded."""
    rng = np.random.default_rng(seed)
    keys = list(strata)
    frame = _frame(population).reset_index(drop=True)
    stratum = frame.groupby(keys, dropna=False, sort=True).ngroup().to_numpy()
    wanted = frame[keys].merge(allocation[[*keys, "n"]], on=keys, how="left")["n"] \
        .fillna(0).to_numpy(int)
    order = rng.permutation(len(frame))  # random rank within each stratum
    rank = pd.Series(order).groupby(stratum).rank(method="first").to_numpy() - 1
    return frame.assign(selected=rank < wanted, stratum=stratum)


#: Reason codes of the number checks, in the order they are reported (as
#: :func:`sourcegrid.accounting.monitoring.number_problems`).
_NUMBER_REASONS = ("missing_value", "not_a_number", "negative_amount")


def _checked(data, numbers: Sequence[str], source: str, con=None, *,
             domain=None) -> tuple[ibis.Table, object, bool]:
    """The input as a typed Ibis table: keys as stripped text (COMBINATION_KEYS, '' when
    absent), pollutant names canonical, ``numbers`` as float64.

    Every problem is reported at once, in one engine query: missing columns; in each
    number column a missing value, a text that is not a finite number, a negative number
    (row, column, value, reason, what was expected). ``domain``, a function of the typed
    table giving (condition, column, value, reason, message), adds the checks that need the
    numbers (zero activity, bad pairs): they are reported when the numbers are right.

    Returns
    -------
    (ibis.Table, backend, was_frame)
    """
    from sourcegrid.coefficients import canonical_pollutant
    from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers

    if not isinstance(data, ibis.Table):
        data = with_row_numbers(data, source)
    table, con, was_frame = engine_table(data, con)
    engine = engine_name(con, table)
    required = ["enterprise_id", "industry_code", "pollutant", *numbers]
    problems = [Problem(source, None, c, "", "missing_column",
                        f"the table has no column {c!r} (required: {', '.join(required)})")
                for c in required if c not in table.columns]
    if problems:
        raise InputError(problems, f"{source}: columns missing")
    row = table[ROW].cast("int64") if ROW in table.columns else ibis.null("int64")
    origin = table[SOURCE].cast("string") if SOURCE in table.columns else ibis.literal(source)
    table = table.mutate(_r=row, _s=origin)
    parts, typed = [], {}
    for order, column in enumerate(numbers):
        raw = text(table, column)
        value = try_float(raw, engine) if table[column].type().is_string() else \
            table[column].cast("float64")
        bad = (raw != "") & (value.isnull() | value.isnan() | value.isinf())
        expected = "a number ≥ 0"
        for rank, (mask, what) in enumerate((
                (raw == "", f"a value ({expected})"), (bad, expected),
                (~bad & (value < 0), expected))):
            part = table.filter(mask.fill_null(False))
            parts.append(part.select(
                _phase=ibis.literal(0), _order=ibis.literal(order), _rank=ibis.literal(rank),
                source=part._s, row=part._r, column=ibis.literal(column),
                value=text(part, column), reason=ibis.literal(_NUMBER_REASONS[rank]),
                message=ibis.literal(f"{column}: expected {what}")))
        typed[column] = ibis.ifelse(bad | (raw == ""), ibis.null("float64"), value)
    keys = {k: text(table, k) for k in COMBINATION_KEYS}
    table = table.mutate(**keys, **typed)
    if domain is not None:
        condition, column, value, reason, message = domain(table)
        part = table.filter(condition.fill_null(False))
        parts.append(part.select(
            _phase=ibis.literal(1), _order=ibis.literal(0), _rank=ibis.literal(0),
            source=part._s, row=part._r, column=ibis.literal(column),
            value=ibis.literal(value), reason=ibis.literal(reason),
            message=ibis.literal(message)))
    names = table.select(pollutant=table.pollutant.cast("string")).distinct()
    parts.append(names.select(  # the distinct pollutant names, in the same query
        _phase=ibis.literal(2), _order=ibis.literal(0), _rank=ibis.literal(0),
        source=ibis.literal(source), row=ibis.null("int64"), column=ibis.literal("pollutant"),
        value=names.pollutant, reason=ibis.literal(""), message=ibis.literal("")))
    found = fetch(con, ibis.union(*parts))
    names = found.loc[found["_phase"] == 2, "value"]
    found = found.loc[found["_phase"] < 2]
    if len(found):
        phase = found["_phase"].min()  # the domain checks only once the numbers are right
        found = found.loc[found["_phase"] == phase].sort_values(
            ["_order", "_rank", "row"], kind="stable")
        raise InputError([Problem(str(s), None if pd.isna(r) else int(r), str(c), str(v),
                                  str(reason), str(m))
                          for s, r, c, v, reason, m in found[
                              ["source", "row", "column", "value", "reason", "message"]
                          ].itertuples(index=False)],
                         f"{source}: nothing was estimated")
    mapping = {n: canonical_pollutant(n) for n in names.astype(str) if n}
    if any(k != v for k, v in mapping.items()):
        table = table.mutate(pollutant=table.pollutant.substitute(mapping,
                                                                  else_=table.pollutant))
    return table, con, was_frame


def _median(table: ibis.Table, value: str, keys: list[str], name: str) -> ibis.Table:
    """Per group, the median of ``value`` as ``name``: the exact median, the mean of the
    middle two values for an even count, on every engine (DuckDB QUANTILE_CONT,
    PostgreSQL PERCENTILE_CONT, Spark PERCENTILE: all interpolate linearly)."""
    return table.group_by(keys).aggregate(**{name: table[value].median()})


def _flag_outliers(table: ibis.Table, value: str, keys: list[str]) -> ibis.Table:
    """``outlier``: |0.6745 (x − median) / MAD| > 3.5 within the group, MAD > 0 (Iglewicz and
    Hoaglin 1993), in the engine."""
    table = table.join(_median(table, value, keys, "_median"), keys)
    table = table.mutate(_deviation=(table[value] - table._median).abs())
    table = table.join(_median(table, "_deviation", keys, "_mad"), keys)
    z = 0.6745 * (table[value] - table._median) / ibis.ifelse(table._mad > 0, table._mad, 1.0)
    table = table.mutate(outlier=((table._mad > 0) & (z.abs() > OUTLIER_Z)).fill_null(False))
    return table.drop("_median", "_deviation", "_mad")


def _estimates(con, table: ibis.Table, value: str, keys: list[str],
               confidence: float) -> pd.DataFrame:
    """Per group: n, mean, sd, ci_low, ci_high, rsd_of_mean (outliers left out), outliers.

    The engine gives n, the mean and the sample sd of the kept values; the Student-t
    quantile is SciPy's."""
    from sourcegrid.store.portable import as_count

    kept = ~table.outlier
    out = fetch(con, table.group_by(keys).aggregate(
        n=as_count(kept).sum(), mean=table[value].mean(where=kept),
        sd=table[value].std(how="sample", where=kept), outliers=as_count(table.outlier).sum()))
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    n = out["n"].to_numpy(float)
    mean = out["mean"].to_numpy(float)
    sd = np.where(n > 1, pd.to_numeric(out["sd"], errors="coerce").to_numpy(float), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(n > 1, stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
                        * sd / np.sqrt(n), np.nan)
        rsd = np.where((n > 1) & (mean != 0), sd / (np.sqrt(n) * mean), np.nan)
    frame = out[keys].astype(str).assign(n=out["n"].astype(int), mean=mean, sd=sd,
                                         ci_low=mean - half, ci_high=mean + half,
                                         rsd_of_mean=rsd, outliers=out["outliers"].astype(int))
    return frame


def _per_row(con, table: ibis.Table, was_frame: bool, drop: Sequence[str] = ()):
    """The per-enterprise rows: a DataFrame in input order for a DataFrame, else the table."""
    from sourcegrid.io.tables import ROW

    table = table.drop(*[c for c in ("_r", "_s", POSITION, *drop) if c in table.columns])
    if not was_frame:
        return table
    frame = fetch(con, table)
    return frame.sort_values(ROW, kind="stable").reset_index(drop=True) if ROW in frame \
        else frame


def estimate_generation(measurements, *, confidence: float = 0.95,
                        source: str = "measurements", con=None):
    """Generation coefficients per combination from sample enterprises.

    Parameters
    ----------
    measurements : pandas.DataFrame or ibis.Table
        enterprise_id, the combination keys (COMBINATION_KEYS, as the library writes them),
        generation [kg] and activity [the library row's activity unit, e.g. t]. A table runs
        in its engine; a DataFrame on ``con`` (default: an in-memory DuckDB).

    Returns
    -------
    estimates : pandas.DataFrame
        Per combination: n, mean (the coefficient, kg per unit activity), sd, ci_low,
        ci_high, rsd_of_mean, outliers.
    per_enterprise : pandas.DataFrame or ibis.Table
        Each enterprise's coefficient c_i and its ``outlier`` flag (a table for a table).

    Notes
    -----
    c_i = G_i / A_i, the medians and MADs of the outlier rule (window functions) and n,
    Σ and the sample sd per combination are engine aggregations; the t quantile is SciPy's.
    """
    table, con, was_frame = _checked(
        measurements, ["generation", "activity"], source, con,
        domain=lambda t: (t.activity <= 0, "activity", "0", "zero_activity",
                          "activity: expected > 0 (the coefficient is generation / activity)"))
    table = _flag_outliers(table.mutate(coefficient=table.generation / table.activity),
                           "coefficient", COMBINATION_KEYS)
    if not was_frame:
        return _estimates(con, table, "coefficient", COMBINATION_KEYS, confidence), table
    flagged = cache(con, table)  # read twice: computed once
    try:
        return (_estimates(con, flagged, "coefficient", COMBINATION_KEYS, confidence),
                _per_row(con, flagged, was_frame))
    finally:
        flagged.release()


def estimate_removal(pairs, *, confidence: float = 0.95, source: str = "pairs",
                     con=None) -> pd.DataFrame:
    """Average removal efficiency per (combination, treatment) from inlet/outlet pairs.

    ``pairs`` (a DataFrame or an Ibis table): enterprise_id, combination keys, treatment,
    inlet and outlet (the same quantity at both ends, e.g. kg/h or mg/m³ × m³/h).
    η_i = 1 − outlet / inlet, averaged as :func:`estimate_generation` averages c_i, in the
    engine.
    """
    table, con, _ = _checked(
        pairs, ["inlet", "outlet"], source, con,
        domain=lambda t: ((t.inlet <= 0) | (t.outlet > t.inlet), "inlet", "", "bad_pair",
                          "inlet: expected > 0 and ≥ outlet"))
    keys = [*COMBINATION_KEYS, "treatment"]
    table = table.mutate(treatment=text(table, "treatment"))
    table = _flag_outliers(table.mutate(efficiency=1 - table.outlet / table.inlet),
                           "efficiency", keys)
    return _estimates(con, table, "efficiency", keys, confidence)


def validate(estimates: pd.DataFrame, holdout, *, source: str = "validation", con=None):
    """Relative error of the derived coefficients on enterprises not used to derive them.

    ``holdout`` is a DataFrame or an Ibis table (the join with the estimates and the
    errors per combination run in its engine).

    Returns
    -------
    per_enterprise : enterprise_id, keys, measured, predicted, relative_error (a DataFrame
        for a DataFrame, else a table)
    per_combination : keys, enterprises, mean_abs_relative_error, max_abs_relative_error
    """
    table, con, was_frame = _checked(holdout, ["generation", "activity"], source, con)
    known = ibis.memtable(estimates[[*COMBINATION_KEYS, "mean"]].astype(
        {k: "string" for k in COMBINATION_KEYS}).rename(columns={"mean": "_mean"}))
    joined = table.left_join(known, COMBINATION_KEYS)
    predicted = joined._mean * joined.activity
    error = ibis.ifelse(joined.generation == 0, ibis.null("float64"),
                        (predicted - joined.generation) / joined.generation)
    keep = [c for c in ("_row", "_source") if c in table.columns]
    per = joined.select("enterprise_id", *COMBINATION_KEYS, *keep,
                        measured=joined.generation, predicted=predicted, relative_error=error)
    combination = per.group_by(COMBINATION_KEYS).aggregate(
        enterprises=per.count(), mean_abs_relative_error=per.relative_error.abs().mean(),
        max_abs_relative_error=per.relative_error.abs().max())
    per_combination = fetch(con, combination).sort_values(COMBINATION_KEYS, kind="stable") \
        .reset_index(drop=True)
    per_enterprise = _per_row(con, per, was_frame)
    if was_frame:
        per_enterprise = per_enterprise.drop(columns=keep)
    return per_enterprise, per_combination


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
