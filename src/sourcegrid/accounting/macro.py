"""Macro checks (宏观校核): accounted totals against top-down references.

Four checks, each a table of rows with the numbers, the bounds and ``status`` (``within``
| ``above`` | ``below``):

1. **Reference totals** (``REFERENCE_TOTALS``): national totals scaled to the region by a
   share (given, or population / 1,390.08 million, or area / 9.6 million km²); the
   accounted total is plausible between ``low`` × and ``high`` × the scaled reference
   (default 0.05–5: per-capita and per-area emissions of Chinese cities spread over an
   order of magnitude around the national mean; sourcegrid's documented default).
2. **Energy statistics**: coal burnt × sulfur content bounds SO2 generation,
   ``G_SO2 ≤ 2 × coal × S/100`` (all the sulfur to SO2; 2 = M(SO2)/M(S)); the accounted
   SO2 generation of the region (or industry) must not exceed it (× (1 + tolerance)), and a
   generation below ``min_share`` of the bound is flagged as low.
3. **Production statistics**: industrial output against the summed activity of the same
   industry (and unit): the ratio activity / statistics must be within 1 ± tolerance.
4. **Intensity outliers**: emission per unit of activity of every enterprise against the
   enterprises of the same combination (industry, section, product, raw material, process,
   pollutant): modified z-score of the log intensity, z = 0.6745 (x − median) / MAD,
   outlier when |z| > 3.5 (Iglewicz and Hoaglin 1993) in combinations of at least 5
   enterprises and the intensity is at least 2 × or at most ½ × the median (sourcegrid's
   default: near-identical intensities give a tiny MAD); each outlier says how far out
   it is (z and ratio to the median).

Where the work runs: the emissions and the activity may be Ibis tables of the workspace
engine (DuckDB, PySpark, PostgreSQL) or DataFrames (run as memtables on ``con``, default
an in-memory DuckDB). The row-level work (totals per pollutant or region, summed activity
per industry and unit, the intensity of each enterprise, the median and MAD of each
combination and the outlier filter) is Ibis aggregations in that engine; only the
per-group results (a row per pollutant, region, statistics row or outlier) come back to
pandas, where the statistics tables (a few dozen rows) are checked and the bounds applied.

References
----------
.. [1] 第二次全国污染源普查公报 (2020): national totals of 2017 (DESIGN.md).
.. [2] 国家统计局, 2017年国民经济和社会发展统计公报: year-end population 139,008 万.
.. [3] Iglewicz, B. and Hoaglin, D. (1993). How to Detect and Handle Outliers. ASQC.
.. [4] 生态环境部公告 2021年第24号 (系数手册), 使用说明: 宏观校核 of census results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.accounting.monitoring import missing_columns, number_problems
from sourcegrid.errors import InputError, NotFoundError, OptionError
from sourcegrid.io.tables import with_row_numbers
from sourcegrid.store.portable import engine_table, fetch, strip, try_float

__all__ = ["REFERENCE_TOTALS", "NATIONAL_POPULATION", "NATIONAL_AREA_KM2", "reference_check",
           "energy_check", "production_check", "intensity_outliers", "macro_check"]

#: National totals [t]. census2017: 2nd census bulletin, 2017, all sources (10⁴ t × 10⁴).
REFERENCE_TOTALS: dict[str, dict[str, float]] = {
    "census2017": {"COD": 2143.98e4, "NH3-N": 96.34e4, "TN": 304.14e4, "TP": 31.54e4,
                   "SO2": 696.32e4, "NOx": 1785.22e4, "PM": 1684.05e4},
}
#: Year-end 2017 population (国家统计局 statistical communiqué 2017) and land area of China.
NATIONAL_POPULATION = 1_390_080_000
NATIONAL_AREA_KM2 = 9_600_000.0
COMBINATION = ["industry_code", "section", "product", "raw_material", "process", "pollutant"]


def _fetched(data, con, query) -> pd.DataFrame:
    """The (small) result of ``query(table)``, ``table`` being ``data`` in its engine.

    An Ibis table runs on its own backend. A DataFrame is put on ``con`` as a view
    (:func:`sourcegrid.store.portable.engine_table`; dropped afterwards), so that
    expressions whose SQL differs between engines (:func:`sourcegrid.store.portable.try_float`)
    know the engine; without ``con`` it is a memtable run by the default DuckDB.
    """
    import ibis

    own = isinstance(data, ibis.Table)
    table, backend, was_frame = engine_table(data, None if own else con, position=False,
                                             view="macro")
    try:
        return fetch(backend, query(table))
    finally:
        if was_frame and backend is not None:
            backend.drop_view(table.get_name(), force=True)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column of a (small) statistics table as stripped text ('' when absent)."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").fillna("").str.strip()


def _require(table, columns, what: str, source: str) -> None:
    """Every column ``table`` lacks, at once (InputError)."""
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise InputError(missing_columns(pd.DataFrame(columns=list(table.columns)), columns,
                                         source), f"{source}: the {what} lack columns")


def _number(value):
    """A column as float64 (text through :func:`sourcegrid.store.portable.try_float`)."""
    if value.type().is_numeric():
        return value.cast("float64")
    return try_float(strip(value.cast("string")))


def _status(value, low, high) -> np.ndarray:
    value, low, high = (np.asarray(x, float) for x in (value, low, high))
    return np.where(value > high, "above", np.where(value < low, "below", "within"))


def reference_check(emissions, *, reference: str = "census2017",
                    share: float | None = None, population: float | None = None,
                    area_km2: float | None = None, low: float = 0.05,
                    high: float = 5.0, con=None) -> pd.DataFrame:
    """Accounted totals [t] per pollutant against the scaled national reference.

    Parameters
    ----------
    emissions : ibis.Table or pandas.DataFrame
        Emission rows (pollutant, emission [kg]); summed per pollutant in their engine.

    Returns
    -------
    pandas.DataFrame
        check, pollutant, accounted_t, reference_t (scaled), ratio, low_t, high_t, status,
        basis (how the share was found).
    """
    if reference not in REFERENCE_TOTALS:
        raise NotFoundError("reference totals", reference, REFERENCE_TOTALS)
    given = [x for x in (share, population, area_km2) if x is not None]
    if len(given) != 1:
        raise OptionError("--share/--population/--area", len(given),
                          "exactly one of a share, a population or an area")
    if not 0 < given[0] or (share is not None and share > 1):
        raise OptionError("--share/--population/--area", given[0],
                          "a positive number (a share at most 1)")
    if not 0 < low < high:
        raise OptionError("--low/--high", f"{low}/{high}", "0 < low < high")
    if share is not None:
        basis = f"share {share:g}"
    elif population is not None:
        share = population / NATIONAL_POPULATION
        basis = f"population {population:,.0f} / {NATIONAL_POPULATION:,} = {share:.3g}"
    else:
        share = area_km2 / NATIONAL_AREA_KM2
        basis = f"area {area_km2:,.0f} km² / {NATIONAL_AREA_KM2:,.0f} km² = {share:.3g}"

    def sums(table):
        _require(table, ("pollutant", "emission"), "emissions", "emissions")
        return table.group_by("pollutant").aggregate(emission=_number(table.emission).sum())

    totals = _fetched(emissions, con, sums).set_index("pollutant")["emission"] / 1000.0
    ref = pd.Series(REFERENCE_TOTALS[reference])
    out = pd.DataFrame({"pollutant": ref.index, "accounted_t": totals.reindex(ref.index)
                        .fillna(0.0).to_numpy(), "reference_t": ref.to_numpy() * share})
    out["ratio"] = out["accounted_t"] / out["reference_t"]
    out["low_t"], out["high_t"] = low * out["reference_t"], high * out["reference_t"]
    out["status"] = _status(out["accounted_t"], out["low_t"], out["high_t"])
    out.insert(0, "check", f"reference {reference}")
    out["basis"] = basis + f"; plausible {low:g}–{high:g} × the scaled reference"
    return out


def _statistics_rows(table: pd.DataFrame, source: str, headers: dict[str, str],
                     required: tuple[str, ...], what: str) -> pd.DataFrame:
    """A statistics table with row numbers and English headers; every missing column at once.

    ``headers`` maps the Chinese headers of the yearbook tables to the English names.
    """
    frame = with_row_numbers(table, source, headers)
    problems = missing_columns(frame, required, source)
    if problems:
        raise InputError(problems, f"{source}: the {what} lack columns")
    return frame


def energy_check(emissions, energy: pd.DataFrame, *, tolerance: float = 0.0,
                 min_share: float = 0.3, source: str = "energy", con=None) -> pd.DataFrame:
    """SO2 generation against 2 × coal × S/100 per region (energy statistics).

    Parameters
    ----------
    emissions : ibis.Table or pandas.DataFrame
        Emission rows (pollutant, region_code, generation [kg]); the SO2 generation is
        summed per region in their engine.
    energy : pandas.DataFrame
        region_code, coal [t] (column ``coal``; ``coal_unit`` optional, default 吨),
        sulfur_percent [%] (mean sulfur content of the coal burnt).
    """
    from sourcegrid.units import conversion_factor

    frame = _statistics_rows(energy, source, {"行政区划代码": "region_code", "煤炭消费量": "coal",
                                              "硫分": "sulfur_percent"},
                             ("region_code", "coal", "sulfur_percent"), "energy statistics")
    problems: list = []
    coal = number_problems(frame, "coal", problems, expected="coal burnt ≥ 0")
    sulfur = number_problems(frame, "sulfur_percent", problems, maximum=100.0,
                             expected="a sulfur content in [0, 100] %")
    unit = _text(frame, "coal_unit").replace("", "吨")
    factors = {}
    for text in unit.unique():
        try:
            factors[text] = conversion_factor(text, "t")
        except Exception:  # noqa: BLE001 (reported as a problem below)
            factors[text] = np.nan
    factor = unit.map(factors)
    from sourcegrid.errors import Problem
    from sourcegrid.io.tables import ROW, SOURCE

    for i in np.flatnonzero(factor.isna().to_numpy()):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), "coal_unit",
                                str(unit.iat[i]), "unit_mismatch",
                                "coal_unit: expected a mass unit (吨, 万吨, t)"))
    if problems:
        raise InputError(problems, f"{source}: nothing was checked")
    bound = pd.DataFrame({"region_code": _text(frame, "region_code"),
                          "bound_t": 2 * coal * factor * sulfur / 100})
    bound = bound.groupby("region_code", as_index=False)["bound_t"].sum()

    def sums(table):
        _require(table, ("pollutant", "region_code", "generation"), "emissions", "emissions")
        so2 = table.filter(table.pollutant == "SO2")
        return so2.group_by(region_code=so2.region_code.cast("string")).aggregate(
            generation=_number(so2.generation).sum())

    generation = _fetched(emissions, con, sums).set_index("region_code")["generation"] / 1000.0
    out = bound.assign(accounted_t=bound["region_code"].map(generation).fillna(0.0).to_numpy())
    out["ratio"] = out["accounted_t"] / out["bound_t"]
    out["low_t"] = min_share * out["bound_t"]
    out["high_t"] = out["bound_t"] * (1 + tolerance)
    out["status"] = _status(out["accounted_t"], out["low_t"], out["high_t"])
    out.insert(0, "check", "energy: SO2 generation ≤ 2 × coal × S")
    out.insert(1, "pollutant", "SO2")
    out["basis"] = (f"bound = 2 × coal × S/100 (all sulfur to SO2); below {min_share:g} × bound "
                    "flagged low")
    return out.rename(columns={"bound_t": "reference_t"})


def production_check(activity, production: pd.DataFrame, *, tolerance: float = 0.2,
                     source: str = "production", con=None) -> pd.DataFrame:
    """Summed activity per industry (and region when given) against production statistics.

    Parameters
    ----------
    activity : ibis.Table or pandas.DataFrame
        Activity rows: industry_code, activity, activity_unit (region_code when the
        statistics have it); summed per key and unit in their engine (an activity that is
        not a number counts as nothing: the accounting rejects it).
    production : pandas.DataFrame
        industry_code, output, unit (region_code optional).
    """
    from sourcegrid.units import conversion_factor

    frame = _statistics_rows(production, source, {"行业代码": "industry_code", "产量": "output",
                                                  "单位": "unit"},
                             ("industry_code", "output", "unit"), "production statistics")
    problems: list = []
    output = number_problems(frame, "output", problems, expected="an output ≥ 0")
    if problems:
        raise InputError(problems, f"{source}: nothing was checked")
    keys = ["industry_code"] + (["region_code"] if "region_code" in frame else [])
    stats = pd.DataFrame({k: _text(frame, k) for k in keys}).assign(
        output=output.to_numpy(), unit=_text(frame, "unit").to_numpy())

    def sums(table):
        _require(table, (*keys, "activity", "activity_unit"), "activity", "activity")
        return table.group_by(
            **{k: strip(table[k].cast("string")).fill_null("") for k in keys},
            activity_unit=strip(table.activity_unit.cast("string")).fill_null(""),
        ).aggregate(amount=_number(table.activity).sum())

    summed = _fetched(activity, con, sums)
    # each statistics row: its activity in every unit that converts to the statistic's
    pairs = stats.reset_index(names="stat").merge(summed, on=keys, how="left")
    factors = {}
    for unit, target in pairs[["activity_unit", "unit"]].dropna().drop_duplicates() \
            .itertuples(index=False):  # the distinct (unit, unit) pairs: a handful
        try:
            factors[(unit, target)] = conversion_factor(unit, target)
        except Exception:  # noqa: BLE001 (other units are not this statistic's)
            factors[(unit, target)] = 0.0
    factor = pd.Series([factors.get((u, t), 0.0) for u, t in zip(
        pairs["activity_unit"], pairs["unit"], strict=True)], index=pairs.index, dtype=float)
    pairs["converted"] = pairs["amount"].fillna(0.0) * factor
    total = pairs.groupby("stat")["converted"].sum().reindex(range(len(stats)), fill_value=0.0)
    out = stats[keys].assign(accounted_t=total.to_numpy(), reference_t=stats["output"].to_numpy(),
                             unit=stats["unit"].to_numpy())
    out["ratio"] = out["accounted_t"] / out["reference_t"].replace(0, np.nan)
    out["low_t"] = (1 - tolerance) * out["reference_t"]
    out["high_t"] = (1 + tolerance) * out["reference_t"]
    out["status"] = _status(out["accounted_t"], out["low_t"], out["high_t"])
    out.insert(0, "check", "production: summed activity vs statistics")
    out["basis"] = f"activity within ±{tolerance:.0%} of the statistics (in {out['unit'].iloc[0]})" \
        if len(out) else ""
    return out.rename(columns={"accounted_t": "accounted", "reference_t": "reference",
                               "low_t": "low", "high_t": "high"})


def intensity_outliers(emissions, *, threshold: float = 3.5, min_enterprises: int = 5,
                       min_ratio: float = 2.0, con=None) -> pd.DataFrame:
    """Enterprises whose emission per unit of activity is far from their combination's.

    The intensity of an enterprise is its summed emission over its summed activity (in the
    coefficient basis) in a combination; per combination, the median intensity m, and the
    median absolute deviation of the log intensities, MAD = median |ln x − median ln x|;
    z = 0.6745 (ln x − ln m) / MAD (0 where MAD = 0). All of it runs in the engine of
    ``emissions`` (exact medians: DuckDB QUANTILE_CONT, PostgreSQL PERCENTILE_CONT, Spark
    percentile, all interpolating as pandas' median); only the outliers come back.

    Parameters
    ----------
    emissions : ibis.Table or pandas.DataFrame
        Emission rows: enterprise_id, emission [kg], activity_in_basis and the combination
        columns present (industry_code, section, product, raw_material, process,
        pollutant).

    Returns
    -------
    pandas.DataFrame
        One row per outlier: enterprise_id, the combination, intensity [kg per unit of the
        coefficient basis], the combination's median, ratio to it, modified z, n; the
        farthest first.

    References
    ----------
    .. [1] Iglewicz and Hoaglin (1993): modified z = 0.6745 (x − median) / MAD, |z| > 3.5.
    """
    out = _fetched(emissions, con, lambda table: _outliers(table, threshold, min_enterprises,
                                                           min_ratio))
    keys = [c for c in out.columns if c not in ("intensity", "median", "ratio", "z", "n")]
    out = out.assign(n=out["n"].astype("int64"), _far=out["z"].abs())
    return out.sort_values(["_far", *keys], ascending=[False, *[True] * len(keys)]).drop(
        columns="_far").reset_index(drop=True)


def _outliers(table, threshold: float, min_enterprises: int, min_ratio: float):
    """The query of :func:`intensity_outliers` over an Ibis table: the outliers."""
    import ibis

    _require(table, ("enterprise_id", "emission", "activity_in_basis", "pollutant"),
             "emissions", "emissions")
    columns = [c for c in COMBINATION if c in table.columns]
    keys = ["enterprise_id", *columns]
    # text keys without NULL, so that the per-combination statistics join back
    data = table.select(**{k: table[k].cast("string").fill_null("") for k in keys},
                        emission=_number(table.emission),
                        basis=_number(table.activity_in_basis))
    data = data.filter(data.basis > 0, data.emission / data.basis > 0)
    per = data.group_by(keys).aggregate(emission=data.emission.sum(),
                                        activity=data.basis.sum())
    per = per.mutate(intensity=per.emission / per.activity)
    per = per.mutate(log_intensity=per.intensity.ln())
    stats = per.group_by(columns).aggregate(median=per.intensity.median(),
                                            log_centre=per.log_intensity.median(),
                                            n=per.count())
    stats = stats.filter(stats.n >= min_enterprises)  # smaller combinations are not judged
    per = per.join(stats, columns)
    per = per.mutate(deviation=(per.log_intensity - per.log_centre).abs())
    spread = per.group_by(columns).aggregate(mad=per.deviation.median())
    per = per.join(spread, columns)
    median = per["median"]
    z = ibis.ifelse(per.mad > 0, 0.6745 * (per.log_intensity - median.ln())
                    / per.mad.nullif(0), 0.0)
    per = per.mutate(ratio=per.intensity / median, z=z)
    far = per.filter(per.z.abs() > threshold,
                     (per.ratio >= min_ratio) | (per.ratio <= 1 / min_ratio))
    return far.select(*keys, "intensity", "median", "ratio", "z", "n")


def macro_check(emissions, *, reference: str = "census2017",
                share=None, population=None, area_km2=None, low: float = 0.05,
                high: float = 5.0, energy: pd.DataFrame | None = None,
                production: pd.DataFrame | None = None, activity=None,
                tolerance: float = 0.2, con=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All the checks: one table of checks (status per row) and the intensity outliers.

    ``emissions`` and ``activity`` may be Ibis tables (aggregated in their engine) or
    DataFrames (run on ``con``, default an in-memory DuckDB)."""
    checks = []
    if any(x is not None for x in (share, population, area_km2)):
        checks.append(reference_check(emissions, reference=reference, share=share,
                                      population=population, area_km2=area_km2, low=low,
                                      high=high, con=con))
    if energy is not None:
        checks.append(energy_check(emissions, energy, con=con))
    if production is not None:
        if activity is None:
            raise OptionError("--production", "(given)", "--activity as well (the summed "
                              "activity is checked against the statistics)")
        checks.append(production_check(activity, production, tolerance=tolerance,
                                       con=con).rename(
            columns={"accounted": "accounted_t", "reference": "reference_t", "low": "low_t",
                     "high": "high_t"}))
    table = pd.concat(checks, ignore_index=True) if checks else pd.DataFrame()
    return table, intensity_outliers(emissions, con=con)
