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
pollutants of that row), one k per emission row; a row without a coefficient row
(monitoring, balance) draws its own c and η. The shared multipliers (coefficient rows ×
draws, a small table) are drawn once; the rows stream from the engine in chunks ordered by
activity row, and each chunk draws what is independent between rows for itself, forms its
(draws × chunk) emissions in float32 and adds them to the (draws × groups) totals by a
sparse product: vectorised, memory bounded by the chunk (``CHUNK_ELEMENTS``), never by
rows × draws.

**Approach 1, error propagation** (IPCC 2006 Vol. 1 §3.2.3.1, Eq. 3.1 and 3.2;
EMEP/EEA Part A Ch. 5 Tier 1), first order, with the same correlation structure::

    Var(T) = Σ_c (Σ_{i∈c} E_i)² u_c² + Σ_a (Σ_{i∈a} E_i)² u_A²
           + Σ_(c,t) (Σ_{i∈(c,t)} G_i η_i k_i)² u_η² + Σ_i (G_i η_i k_i)² u_k²

with u the RSDs; the 95 % interval is T ± 1.96 √Var(T) and the relative uncertainty
U = 1.96 √Var(T) / T (Eq. 3.1's percentage half-width). Each term's share of Var(T) is its
*variance contribution*; the largest ones are listed. The sums inside the squares are
engine aggregations (rows grouped by group × shared id, summed, then squared and summed per
group); only the group totals and the largest terms come back.

**Engines**: the functions take an Ibis table (run in its engine: DuckDB, PySpark,
PostgreSQL) or a DataFrame (wrapped as a memtable, run on ``con=``, an in-memory DuckDB by
default). The RSDs per row, the checks of bad RSDs and Approach 1 are Ibis expressions; the
Monte Carlo draws are NumPy over the streamed chunks.

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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from scipy import sparse

from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem
from sourcegrid.store.portable import (
    POSITION,
    cache,
    engine_name,
    engine_table,
    fetch,
    number,
    text,
)

__all__ = ["UNCERTAINTY_DEFAULTS", "GROUP_COLUMNS", "row_uncertainties", "monte_carlo",
           "analytic", "UncertaintyResult", "propagate", "bounded_sd"]

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
#: Elements (draws × rows) of one Monte Carlo chunk: 2²² float32 = 16 MiB per array.
CHUNK_ELEMENTS = 1 << 22
_U = {name: f"u_{name}" for name in _PARAMETERS}
_ALL = "_all"


def _rsd_from_range(low, high, value):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(high, float) - np.asarray(low, float)) / (2 * Z95 *
                                                                      np.asarray(value, float))


def _row_key(values: pd.Series) -> pd.Series:
    """Coefficient row numbers as text, integral numbers without '.0' (as :func:`text`)."""
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric == numeric.round()) & (numeric.abs() < 1e15)
    out = values.astype("string").fillna("").str.strip()
    return out.where(~whole, numeric.where(whole, 0).astype("int64").astype("string"))


def _library_uncertainties(library) -> pd.DataFrame | None:
    """Per coefficient row (key ``_lib_row``): the library's RSDs and 95 % range RSDs."""
    if library is None:
        return None
    rows = library.rows if hasattr(library, "rows") else library
    if isinstance(rows, ibis.Table):
        rows = rows.to_pandas()
    if "coefficient_row" not in rows:
        return None
    rows = rows.drop_duplicates("coefficient_row").reset_index(drop=True)
    out = pd.DataFrame({"_lib_row": _row_key(rows["coefficient_row"])})
    for name in ("generation_coefficient", "removal_efficiency"):
        column = f"{name}_rsd"
        if column in rows:
            out[f"_lib_rsd_{name}"] = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
        if f"{name}_low" in rows and f"{name}_high" in rows:
            central = pd.to_numeric(rows[name], errors="coerce") if name in rows else np.nan
            if name == "removal_efficiency":
                central = central * 100  # the range is written in the library's %
            rsd = _rsd_from_range(pd.to_numeric(rows[f"{name}_low"], errors="coerce"),
                                  pd.to_numeric(rows[f"{name}_high"], errors="coerce"),
                                  central)
            out[f"_lib_range_{name}"] = np.where(np.isfinite(rsd), rsd, np.nan)
    out = out.loc[out["_lib_row"] != ""].drop_duplicates("_lib_row")
    return out if len(out.columns) > 1 else None


def _with_uncertainties(table: ibis.Table, library, defaults: str, engine: str) -> ibis.Table:
    """The emission rows with u_<parameter> (RSDs, the defaults filled in), origin_<parameter>
    and ``_bad_<parameter>`` (the RSD given is negative or not finite), in the engine."""
    if defaults not in UNCERTAINTY_DEFAULTS:
        raise NotFoundError("uncertainty defaults", defaults, UNCERTAINTY_DEFAULTS)
    fallback = UNCERTAINTY_DEFAULTS[defaults]
    lib = _library_uncertainties(library) if "coefficient_row" in table.columns else None
    if lib is not None:
        joined = ibis.memtable(lib)
        table = table.mutate(_row_key=text(table, "coefficient_row"))
        table = table.left_join(joined, table._row_key == joined._lib_row).drop(
            "_row_key", "_lib_row")
    values = {}
    for name in _PARAMETERS:
        column = f"{name}_rsd"
        value = number(table, column, engine) if column in table.columns \
            else ibis.null("float64")
        origin = ibis.ifelse(value.isnull(), "default", "row")
        for prefix, label in (("_lib_rsd_", "library"), ("_lib_range_", "library range")):
            if lib is not None and f"{prefix}{name}" in lib.columns:
                got = table[f"{prefix}{name}"]
                got = ibis.ifelse(got.isnan().fill_null(False), ibis.null("float64"), got)
                fill = value.isnull() & got.notnull()
                origin = ibis.ifelse(fill, label, origin)
                value = ibis.ifelse(fill, got, value)
        bad = value.notnull() & ((value < 0) | value.isinf())
        values[f"u_{name}"] = ibis.ifelse(bad, 0.0, value.fill_null(fallback[name]))
        values[f"origin_{name}"] = origin
        values[f"_bad_{name}"] = bad.fill_null(False)
        values[f"_given_{name}"] = value.cast("string")
    table = table.mutate(**values)
    return table.drop(*[c for c in table.columns if c.startswith(("_lib_rsd_", "_lib_range_"))])


def _raise_bad(con, table: ibis.Table, was_frame: bool) -> None:
    """All negative or non-finite RSDs at once (row = spreadsheet row of the input)."""
    bad = table.filter(ibis.or_(*[table[f"_bad_{n}"] for n in _PARAMETERS]))
    row = (bad[POSITION] + 2) if was_frame else (
        bad["_row"].cast("int64") if "_row" in bad.columns else ibis.null("int64"))
    found = fetch(con, bad.select(_r=row, **{f"_v{i}": bad[f"_given_{n}"]
                                             for i, n in enumerate(_PARAMETERS)},
                                  **{f"_b{i}": bad[f"_bad_{n}"]
                                     for i, n in enumerate(_PARAMETERS)}))
    if found.empty:
        return
    found = found.sort_values("_r", na_position="last", kind="stable")
    problems = []
    for i, name in enumerate(_PARAMETERS):
        column = f"{name}_rsd"
        for r, v in found.loc[found[f"_b{i}"].astype(bool), ["_r", f"_v{i}"]].itertuples(
                index=False):
            problems.append(Problem("emissions", None if pd.isna(r) else int(r), column,
                                    _shown(v), "bad_uncertainty",
                                    f"{column}: expected an RSD ≥ 0"))
    raise InputError(problems, "bad uncertainties: nothing was computed")


def _shown(value) -> str:
    number_ = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return str(float(number_)) if pd.notna(number_) else str(value)


def _modelled(emissions, u, library, defaults, con, columns: list[str]):
    """(the rows with their RSDs and :func:`_model` columns, cached in the engine; the
    backend; whether the cache is ours to release). Bad RSDs raise first."""
    emissions = _attach(emissions, u, con)
    if isinstance(emissions, ibis.Table) and "_e" in emissions.columns:
        return emissions, con if con is not None else emissions._find_backend(
            use_default=True), False
    table, con, was_frame = engine_table(emissions, con)
    engine = engine_name(con, table)
    if "u_generation_coefficient" not in table.columns:
        table = _with_uncertainties(table, library, defaults, engine)
        _raise_bad(con, table, was_frame)
    return cache(con, _model(table, columns, engine)), con, True


def row_uncertainties(emissions, library=None, defaults: str = "sourcegrid_default", *,
                      con=None):
    """The RSD of c, A, η and k for every emission row, with where each came from.

    Parameters
    ----------
    emissions : pandas.DataFrame or ibis.Table
        Emission rows; ``<parameter>_rsd`` columns are the rows' own RSDs.
    library : CoefficientLibrary or pandas.DataFrame, optional
        Rows with ``generation_coefficient_rsd`` / ``removal_efficiency_rsd`` or 95 % ranges
        (``_low`` + ``_high``), joined on ``coefficient_row``.
    con : ibis backend, optional
        Where a DataFrame is computed (default: an in-memory DuckDB).

    Returns
    -------
    pandas.DataFrame or ibis.Table
        u_generation_coefficient, u_activity, u_removal_efficiency, u_k (fractions) and
        origin_<parameter> (row | library | library range | default): for a DataFrame, a
        DataFrame with its index; for a table, the table with these columns added.

    Raises
    ------
    InputError
        Negative or non-finite RSDs, all of them.
    """
    table, con, was_frame = engine_table(emissions, con)
    table = _with_uncertainties(table, library, defaults, engine_name(con, table))
    _raise_bad(con, table, was_frame)
    names = [*_U.values(), *[f"origin_{n}" for n in _PARAMETERS]]
    if not was_frame:
        return table.drop(*[c for c in table.columns if c.startswith(("_bad_", "_given_"))])
    out = fetch(con, table.select(POSITION, *names)).sort_values(POSITION)
    out.index = emissions.index
    out = out[names]
    for name in _PARAMETERS:
        out[f"u_{name}"] = out[f"u_{name}"].astype(float)
        out[f"origin_{name}"] = out[f"origin_{name}"].astype(object)
    return out


def _columns(by: Sequence[str]) -> list[str]:
    columns: list[str] = []
    for key in by:
        if key not in GROUP_COLUMNS:
            raise NotFoundError("grouping key", key, GROUP_COLUMNS)
        columns += GROUP_COLUMNS[key]
    return columns


def _attach(emissions, u, con):
    """A DataFrame with its :func:`row_uncertainties` (aligned by position) as one table."""
    if u is None or isinstance(emissions, ibis.Table):
        return emissions
    frame = emissions.reset_index(drop=True)
    for name in _PARAMETERS:
        frame[f"u_{name}"] = np.asarray(u[f"u_{name}"], float)
    return frame


def _model(table: ibis.Table, columns: list[str], engine: str) -> ibis.Table:
    """The quantities of E = G (1 − η k) per row, in the engine.

    ``_e`` emission, ``_g`` generation, ``_eta`` η (0 untreated), ``_k`` k (1 untreated),
    ``_coef`` the coefficient row ('' none: the row's own draws), ``_treat`` its treatment,
    ``_akey`` the activity row ('' none), the group columns as text (``_all`` when none).
    """
    eta = number(table, "removal_efficiency", engine).fill_null(0.0) \
        if "removal_efficiency" in table.columns else ibis.literal(0.0)
    k = number(table, "k", engine).fill_null(1.0) if "k" in table.columns \
        else ibis.literal(1.0)
    values = dict(
        _e=number(table, "emission", engine).fill_null(0.0),
        _g=number(table, "generation", engine),
        _eta=eta, _k=ibis.ifelse(eta > 0, k, 1.0),
        _coef=text(table, "coefficient_row"), _treat=text(table, "treatment"),
        _akey=(ibis.literal("") if "source_row" not in table.columns else
               text(table, "enterprise_id").concat("\x1f", text(table, "period"), "\x1f",
                                                   text(table, "source_row"))))
    missing = [c for c in [*columns, "emission"] if c not in table.columns]
    if missing:
        raise InputError([Problem("emissions", None, c, "", "missing_column",
                                  f"the emissions table needs {c!r}") for c in missing],
                         "emissions: cannot compute the uncertainty")
    for name in columns:
        values[name] = text(table, name)
    if not columns:
        values[_ALL] = ibis.literal("all")
    table = table.mutate(**values)
    return table.mutate(_removed=table._g * table._eta * table._k)


def _bounded_sd_expr(mean: ibis.Value, rsd: ibis.Value) -> ibis.Value:
    """:func:`bounded_sd` in the engine."""
    m = ibis.greatest(ibis.least(mean, 1.0), 0.0)
    return ibis.least(m * rsd, BOUNDED_SD_CAP * (m * (1 - m)).sqrt())


def _terms(t: ibis.Table, keys: list[str]) -> ibis.Table:
    """Every variance term (IPCC 2006 Vol. 1 Eq. 3.1/3.2, first order): group keys,
    parameter, kind, shared_id, variance [kg²]."""
    u_eta = ibis.ifelse(t._eta > 0, _bounded_sd_expr(t._eta, t.u_removal_efficiency)
                        / t._eta, 0.0)
    u_k = ibis.ifelse(t._k > 0, _bounded_sd_expr(t._k, t.u_k) / t._k, 0.0)
    t = t.mutate(_u_eta=u_eta, _u_k=u_k, _who=text(t, "enterprise_id"))
    shared, own = t.filter(t._coef != ""), t.filter(t._coef == "")

    def term(table, by, weight, rsd, parameter, kind, label):
        """One variance term per row (``by`` None) or per (group, shared id): (Σ w)² u²."""
        if by is None:
            s = table.select(*keys, _w=table[weight], _u=table[rsd], shared_id=label(table))
        else:
            s = table.group_by([*keys, *by]).aggregate(_w=table[weight].sum(),
                                                       _u=table[rsd].max(),
                                                       shared_id=label(table).min())
        return s.select(*keys, parameter=ibis.literal(parameter), kind=ibis.literal(kind),
                        shared_id=s.shared_id.cast("string"),
                        variance=((s._w * s._u) ** 2).cast("float64"))

    def who(s):
        return s._who.concat(" row ", text(s, "source_row")) \
            if "source_row" in t.columns else s._who

    parts = [
        term(shared, ["_coef"], "_e", "u_generation_coefficient", "generation_coefficient",
             "coefficient_row", lambda s: s._coef),
        term(own, None, "_e", "u_generation_coefficient", "generation_coefficient",
             "coefficient_row", lambda s: s._who),
        term(t.filter(t._akey != ""), ["_akey"], "_e", "u_activity", "activity",
             "activity_row", who),
        term(t.filter(t._akey == ""), None, "_e", "u_activity", "activity", "activity_row",
             who),
        term(shared.filter(shared._eta > 0), ["_coef", "_treat"], "_removed", "_u_eta",
             "removal_efficiency", "coefficient_row|treatment",
             lambda s: s._coef.concat(" ", s._treat)),
        term(own.filter(own._eta > 0), None, "_removed", "_u_eta", "removal_efficiency",
             "coefficient_row|treatment", lambda s: s._who.concat(" ", s._treat)),
        term(t.filter(t._eta > 0), None, "_removed", "_u_k", "k", "emission_row",
             lambda s: who(s).concat(" ", text(s, "pollutant"))),
    ]
    return ibis.union(*parts)


def analytic(emissions, u=None, by: Sequence[str] = ("pollutant",), *, top: int = 10,
             library=None, defaults: str = "sourcegrid_default", con=None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Approach 1: first-order error propagation with shared coefficients, in the engine.

    Parameters
    ----------
    emissions : pandas.DataFrame or ibis.Table
        Emission rows [kg] (generation, emission, removal_efficiency, k, coefficient_row,
        treatment, source_row, the grouping columns). A table may carry the u_<parameter>
        columns of :func:`row_uncertainties` already.
    u : pandas.DataFrame, optional
        :func:`row_uncertainties` of a DataFrame's rows (computed when not given).
    by : sequence of str
        Keys of GROUP_COLUMNS.

    Returns
    -------
    totals : pandas.DataFrame
        Per group: emission, sd, low, high (T ± 1.96 sd) [kg], uncertainty_percent (U),
        approach1_applicable.
    contributions : pandas.DataFrame
        The ``top`` largest variance terms per group: group columns, parameter, kind of
        shared id (coefficient row, activity row, ...), shared_id, variance [kg²] and share
        of the group's variance.

    Notes
    -----
    The engine sums the rows of each shared quantity first and squares the sums (fully
    correlated within a coefficient row, a (coefficient row, treatment) or an activity row,
    independent between them); only the group totals and the largest terms are fetched.

    References
    ----------
    .. [1] IPCC 2006 Vol. 1 Ch. 3, Eq. 3.1, 3.2 (Approach 1); EMEP/EEA 2019 Part A Ch. 5.
    """
    columns = _columns(by)
    t, con, ours = _modelled(emissions, u, library, defaults, con, columns)
    keys = columns or [_ALL]
    terms = cache(con, _terms(t, keys))  # one row per shared id: small, read twice
    variance = terms.group_by(keys).aggregate(_variance=terms.variance.sum())
    sums = t.group_by(keys).aggregate(emission=t._e.sum())
    totals = sums.left_join(variance, keys).select(*keys, "emission", "_variance")
    rank = ibis.row_number().over(ibis.window(group_by=[terms[k] for k in keys],
                                              order_by=[ibis.desc(terms.variance),
                                                        terms.parameter, terms.shared_id]))
    ranked = terms.mutate(_rank=rank)
    ranked = ranked.filter(ranked._rank < int(top))
    ranked = ranked.join(variance, keys)
    contributions = fetch(con, ranked.select(
        *keys, "parameter", "kind", "shared_id", "variance",
        share=ranked.variance / ibis.greatest(ranked._variance, 1e-300), _rank=ranked._rank))
    result = fetch(con, totals).sort_values(keys, kind="stable").reset_index(drop=True)
    terms.release()
    if ours:
        t.release()
    result["emission"] = result["emission"].astype(float)
    result["sd"] = np.sqrt(result.pop("_variance").fillna(0.0).astype(float))
    result["low"] = (result["emission"] - Z95 * result["sd"]).clip(lower=0)
    result["high"] = result["emission"] + Z95 * result["sd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        result["uncertainty_percent"] = 100 * Z95 * result["sd"] / result["emission"]
    # first-order propagation is for moderate uncertainties; above U = 100 % (RSD ≈ 50 %)
    # read Approach 2 (sourcegrid's threshold after IPCC 2006 Vol. 1 §3.2.3.1's caveat)
    result["approach1_applicable"] = result["uncertainty_percent"] <= 100
    contributions = contributions.sort_values([*keys, "_rank"], kind="stable").drop(
        columns="_rank").reset_index(drop=True)
    if not columns:
        result, contributions = result.drop(columns=_ALL), contributions.drop(columns=_ALL)
    return result, contributions


def _lognormal(rng, rsd: np.ndarray, draws: int) -> np.ndarray:
    """Multipliers with mean 1 and relative sd ``rsd`` (draws × len(rsd)), float32."""
    sigma = np.sqrt(np.log1p(np.asarray(rsd, np.float64) ** 2)).astype(np.float32)
    z = rng.standard_normal((draws, sigma.size), dtype=np.float32)
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
    mean = np.asarray(mean, float)
    out = np.broadcast_to(mean.astype(np.float32), (draws, mean.size)).copy()
    spread = sd > 0
    if spread.any():
        m, v = mean[spread], sd[spread] ** 2
        nu = m * (1 - m) / v - 1
        out[:, spread] = rng.beta(m * nu, (1 - m) * nu, size=(draws, int(spread.sum())))
    return out


def _codes(con, t: ibis.Table, keys: list[str]) -> pd.DataFrame:
    """The distinct values of ``keys`` (small), sorted, with their code ``_id``."""
    frame = fetch(con, t.select(*keys).distinct())
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return frame.assign(_id=np.arange(len(frame), dtype="int64"))


def _stream(con, expr: ibis.Table, chunk_rows: int):
    """Record batches of ``expr`` re-cut into chunks of about ``chunk_rows`` rows that never
    split an activity row (``_akey``), as dicts of NumPy arrays."""
    backend = con if con is not None else expr._find_backend(use_default=True)
    with warnings.catch_warnings():
        # ibis 12 calls DuckDB 1.5's deprecated fetch_record_batch: not ours to fix
        warnings.filterwarnings("ignore", message=r"fetch_record_batch\(\) is deprecated",
                                category=DeprecationWarning)
        reader = backend.to_pyarrow_batches(expr, chunk_size=max(chunk_rows, 1024))
        buffer: dict[str, np.ndarray] | None = None
        for batch in reader:
            part = {name: batch.column(i).to_numpy(zero_copy_only=False)
                    for i, name in enumerate(batch.schema.names)}
            buffer = part if buffer is None else {
                k: np.concatenate([buffer[k], part[k]]) for k in part}
            while len(buffer["_g"]) > chunk_rows:
                start = _cut(buffer["_akey"], chunk_rows)
                if start is None:  # one activity row runs on: read more
                    break
                yield {k: v[:start] for k, v in buffer.items()}
                buffer = {k: v[start:] for k, v in buffer.items()}
        if buffer is not None and len(buffer["_g"]):
            yield buffer


def _cut(keys: np.ndarray, size: int) -> int | None:
    """Where to end a chunk of about ``size`` rows: the last start of an activity row at or
    before ``size`` (rows without one, '', stand alone), else the first after it."""
    starts = (keys[1:] != keys[:-1]) | (keys[1:] == "")
    before = np.flatnonzero(starts[:size]) + 1
    if before.size:
        return int(before[-1])
    after = np.flatnonzero(starts[size:]) + size + 1
    return int(after[0]) if after.size else None


def monte_carlo(emissions, u=None, by: Sequence[str] = ("pollutant",), *, draws: int = 1000,
                seed: int = 2017, chunk_rows: int | None = None, keep_draws: bool = False,
                library=None, defaults: str = "sourcegrid_default", con=None
                ) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Approach 2: Monte Carlo totals by group (vectorised, correlated draws).

    Parameters
    ----------
    emissions : pandas.DataFrame or ibis.Table
        Emission rows [kg] with generation, removal_efficiency, k, coefficient_row,
        treatment and the grouping columns (GROUP_COLUMNS); ``source_row`` ties the
        pollutants of one activity row to one activity draw.
    u : pandas.DataFrame, optional
        :func:`row_uncertainties` of a DataFrame's rows (computed when not given).
    by : sequence of str
        Keys of GROUP_COLUMNS.
    draws, seed : int
        Number of draws, random seed.
    chunk_rows : int, optional
        Rows per chunk (default ``CHUNK_ELEMENTS / draws``, at least 256): at most
        draws × chunk_rows values of a kind are in memory at once.

    Returns
    -------
    pandas.DataFrame
        Per group: emission (the accounted total), mc_mean, mc_sd, mc_low, mc_high (2.5 and
        97.5 percentiles) [kg]. With ``keep_draws`` also the (draws × groups) totals.

    Notes
    -----
    The shared multipliers are drawn once for all draws: one lognormal c per coefficient
    row, one Beta η per (coefficient row, treatment). The rows then stream from the engine
    in chunks ordered by activity row; per chunk, the draws that are independent between
    rows (activity per activity row, k per row, and c and η of rows without a coefficient
    row) are made for that chunk alone, the (draws × chunk) emissions are formed in float32
    and summed into the (draws × groups) totals by a sparse product. Memory is bounded by
    the chunk, not by rows × draws.

    References
    ----------
    .. [1] IPCC 2006 Vol. 1 Ch. 3 §3.2.3.2 (Approach 2).
    """
    columns = _columns(by)
    if draws < 2:
        raise OptionError("--uncertainty", draws, "at least 2 draws")
    t, con, ours = _modelled(emissions, u, library, defaults, con, columns)
    keys = columns or [_ALL]
    groups = fetch(con, t.group_by(keys).aggregate(emission=t._e.sum()))
    groups = groups.sort_values(keys, kind="stable").reset_index(drop=True)
    groups["_gid"] = np.arange(len(groups), dtype="int64")
    shared = t.filter(t._coef != "")
    coefficients = fetch(con, shared.group_by("_coef").aggregate(
        _u=shared.u_generation_coefficient.max())).sort_values("_coef", kind="stable")
    coefficients["_cid"] = np.arange(len(coefficients), dtype="int64")
    treated = shared.filter(shared._eta > 0)
    treatments = fetch(con, treated.group_by(["_coef", "_treat"]).aggregate(
        _eta0=treated._eta.max(), _u=treated.u_removal_efficiency.max())).sort_values(
        ["_coef", "_treat"], kind="stable")
    treatments["_tid"] = np.arange(len(treatments), dtype="int64")

    rng = np.random.default_rng(seed)
    c_shared = _lognormal(rng, coefficients["_u"].to_numpy(float), draws)
    eta_shared = _beta(rng, treatments["_eta0"].to_numpy(float),
                       bounded_sd(treatments["_eta0"].to_numpy(float),
                                  treatments["_u"].to_numpy(float)), draws)

    joined = t.left_join(ibis.memtable(groups[[*keys, "_gid"]]), keys)
    joined = joined.left_join(ibis.memtable(coefficients[["_coef", "_cid"]]), "_coef")
    joined = joined.left_join(ibis.memtable(treatments[["_coef", "_treat", "_tid"]]),
                              ["_coef", "_treat"])
    order = ["_akey", *[c for c in ("pollutant", "section", "period", "enterprise_id")
                        if c in t.columns], "_coef", "_treat"]
    order += [POSITION] if POSITION in t.columns else []
    rows = joined.select(
        _akey=joined._akey, _g=joined._g.fill_null(0.0), _eta=joined._eta, _k=joined._k,
        _u_c=joined.u_generation_coefficient, _u_a=joined.u_activity,
        _u_eta=joined.u_removal_efficiency, _u_k=joined.u_k,
        _gid=joined._gid, _cid=joined._cid.fill_null(-1), _tid=joined._tid.fill_null(-1),
        **{f"_o{i}": joined[c] for i, c in enumerate(order)}).order_by(
        [f"_o{i}" for i in range(len(order))])
    chunk_rows = int(chunk_rows or max(256, CHUNK_ELEMENTS // draws))
    totals = np.zeros((draws, len(groups)))
    for chunk in _stream(con, rows, chunk_rows):
        totals += _chunk_totals(chunk, c_shared, eta_shared, rng, draws, len(groups))
    if ours:
        t.release()
    result = groups.drop(columns="_gid")
    result["emission"] = result["emission"].astype(float)
    result["mc_mean"] = totals.mean(axis=0)
    result["mc_sd"] = totals.std(axis=0, ddof=1)
    result["mc_low"], result["mc_high"] = np.percentile(totals, [2.5, 97.5], axis=0)
    if not columns:
        result = result.drop(columns=_ALL)
    return (result, totals) if keep_draws else result


def _chunk_totals(chunk: dict, c_shared: np.ndarray, eta_shared: np.ndarray, rng,
                  draws: int, n_groups: int) -> np.ndarray:
    """(draws × groups) totals of one chunk of rows."""
    m = len(chunk["_g"])
    cid = chunk["_cid"].astype(np.int64)
    own = cid < 0
    if own.any():
        value = np.empty((draws, m), np.float32)
        value[:, ~own] = c_shared[:, cid[~own]]
        value[:, own] = _lognormal(rng, chunk["_u_c"][own], draws)
    else:
        value = c_shared[:, cid]
    keys = chunk["_akey"]
    if (keys == "").all():
        value *= _lognormal(rng, chunk["_u_a"], draws)
    else:
        codes, _ = pd.factorize(keys)
        alone = keys == ""
        codes[alone] = codes.max() + 1 + np.arange(int(alone.sum()))
        u_a = np.zeros(codes.max() + 1)
        np.maximum.at(u_a, codes, chunk["_u_a"].astype(float))
        value *= _lognormal(rng, u_a, draws)[:, codes]
    eta0 = chunk["_eta"].astype(float)
    treated = np.flatnonzero(eta0 > 0)
    if treated.size:
        tid = chunk["_tid"].astype(np.int64)[treated]
        eta = np.empty((draws, treated.size), np.float32)
        eta[:, tid >= 0] = eta_shared[:, tid[tid >= 0]]
        alone = tid < 0
        if alone.any():
            mean = eta0[treated][alone]
            eta[:, alone] = _beta(rng, mean, bounded_sd(mean, chunk["_u_eta"][treated][alone]),
                                  draws)
        k0 = chunk["_k"].astype(float)[treated]
        k = _beta(rng, k0, bounded_sd(k0, chunk["_u_k"].astype(float)[treated]), draws)
        k *= eta
        value[:, treated] *= 1 - k
    value *= chunk["_g"].astype(np.float32)
    indicator = sparse.csr_matrix((np.ones(m), (np.arange(m),
                                                            chunk["_gid"].astype(np.int64))),
                                  shape=(m, n_groups))
    return np.asarray((indicator.T @ value.T).T, dtype=np.float64)


@dataclass
class UncertaintyResult:
    """Totals with both estimates side by side, and the largest variance terms."""

    totals: pd.DataFrame
    contributions: pd.DataFrame


def propagate(emissions, by: Sequence[str] = ("pollutant",), *, draws: int = 1000,
              seed: int = 2017, library=None, defaults: str = "sourcegrid_default",
              unit: str = "kg", top: int = 10, con=None) -> UncertaintyResult:
    """Totals by ``by`` with Approach 1 and Approach 2 intervals (95 %), in ``unit``.

    ``emissions`` is a DataFrame (run on ``con``, default an in-memory DuckDB) or an Ibis
    table (run in its engine). Only rows with a generation (coefficient and
    material-balance rows) are propagated through G (1 − η k); monitoring rows (generation
    missing) count with their own activity RSD as E × u_A.
    """
    from sourcegrid.units import conversion_factor

    _columns(by)
    if draws < 2:
        raise OptionError("--uncertainty", draws, "at least 2 draws")
    if defaults not in UNCERTAINTY_DEFAULTS:
        raise NotFoundError("uncertainty defaults", defaults, UNCERTAINTY_DEFAULTS)
    table, con, _ = engine_table(emissions, con)
    engine = engine_name(con, table)
    generation = number(table, "generation", engine)
    measured = generation.isnull()
    eta = number(table, "removal_efficiency", engine) if "removal_efficiency" in table.columns \
        else ibis.null("float64")
    table = table.mutate(generation=ibis.ifelse(measured, number(table, "emission", engine),
                                                generation),
                         removal_efficiency=ibis.ifelse(measured, 0.0, eta))
    table = _with_uncertainties(table, library, defaults, engine)
    _raise_bad(con, table, POSITION in table.columns)
    modelled = cache(con, _model(table, _columns(by), engine))
    try:
        first, contributions = analytic(modelled, by=by, top=top, con=con)
        second = monte_carlo(modelled, by=by, draws=draws, seed=seed, con=con)
    finally:
        modelled.release()
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
