"""Calibration of micro-stations against reference stations.

Each micro-station is paired with the nearest reference station within
``max_distance`` (co-located when the distance is ~0). On hourly means, the
reference value is regressed on the micro-station's reading:

- ``linear``: reference = a + b · micro;
- ``multivariate``: reference = a + b · micro + c · RH + d · TEMP, with RH [%] and
  TEMP [°C] the micro-station's own hourly means (hygroscopic growth makes optical
  PM sensors read high at high humidity).

Fits are ordinary least squares per sensor (site) or per sensor model (one fit for
all stations of a model). Skill is reported before (raw vs reference) and after
(K-fold cross-validated predictions, contiguous time blocks so that autocorrelated
neighbours do not leak between folds): RMSE, R² and bias (mean of prediction −
reference), all in the pollutant's internal unit.

Everything that touches the pairs runs in the workspace's engine as Ibis
expressions: the hour means, the pairing join (the nearest reference station of
each micro-station is a small table computed in NumPy and joined in), and per
group and fold the sufficient statistics of the regression (n, XᵀX, Xᵀy, yᵀy with
X = [1, reading, RH, TEMP]). The small normal equations are solved in NumPy; the
fit of fold k uses the totals minus fold k. RMSE and bias before calibration come
from the same sums (Σ(x − y), Σ(x − y)²); the cross-validated residuals are summed
by the engine in a second pass with each fold's coefficients joined in, because
βᵀXᵀXβ − 2βᵀXᵀy + yᵀy cancels to a few digits when the fit is good.

A calibration is stored with its fit period (``fit_from``, ``fit_to``) in the table
``calibrations`` and applies from ``valid_from`` (= ``fit_from``) until the next
calibration of the same site and pollutant (``valid_to``, null = open), so it
corrects the fit period and every later reading (:mod:`sourcegrid.grid.fusion`).

References
----------
Zheng, T. et al. (2018). Field evaluation of low-cost particulate matter sensors in
high- and low-concentration environments. Atmos. Meas. Tech. 11, 4823-4846.
Barkjohn, K. K., Gantt, B., Clements, A. L. (2021). Development and application of a
United States-wide correction for PM2.5 data collected with the PurpleAir sensor.
Atmos. Meas. Tech. 14, 4617-4637 (linear model with RH).
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError

__all__ = [
    "CALIBRATIONS_TABLE",
    "MODELS",
    "CALIBRATION_COLUMNS",
    "PAIR_COLUMNS",
    "hour_means",
    "pair_with_reference",
    "fit_statistics",
    "fit_calibrations",
    "apply_calibration",
    "chain_validity",
    "calibrate_workspace",
]

CALIBRATIONS_TABLE = "calibrations"
#: Regression models: name → covariates besides the reading itself.
MODELS: dict[str, tuple[str, ...]] = {"linear": (), "multivariate": ("rh", "temp")}
CALIBRATION_COLUMNS = [
    "site_id", "pollutant", "model", "group", "reference_id", "distance",
    "intercept", "slope", "coef_rh", "coef_temp", "rh_mean", "temp_mean", "n_pairs",
    "rmse_before", "r2_before", "bias_before", "rmse_after", "r2_after", "bias_after",
    "fit_from", "fit_to", "valid_from", "valid_to",
]
PAIR_COLUMNS = ["site_id", "pollutant", "hour", "value", "reference", "rh", "temp",
                "reference_id", "distance"]
DEFAULT_MAX_DISTANCE = 3000.0  # [m] pairing distance micro-station → reference station
DEFAULT_FOLDS = 5
MIN_PAIRS = 10
#: Design columns: the intercept, the reading, then the covariates.
_TERMS = ("one", "value", "rh", "temp")
_PAIRS_HELPER = "_sg_calibration_pairs"
_HOURS_HELPER = "_sg_calibration_hours"


def _as_table(data) -> tuple[ibis.Table, bool]:
    from sourcegrid.observations.qc import _as_table as as_table

    return as_table(data)


def hour_means(readings: ibis.Table) -> ibis.Table:
    """Hour means of the fixed sites with their position: site_id, site_kind, pollutant,
    hour (UTC), value, lon, lat (one engine aggregation)."""
    from sourcegrid.observations.qc import _utc

    table = readings.filter(readings.site_kind.isin(["micro", "reference"]))
    hours = table.mutate(hour=_utc(table.time.truncate("h")))
    return hours.group_by(["site_id", "site_kind", "pollutant", "hour"]).aggregate(
        value=hours.value.mean(), lon=hours.lon.min(), lat=hours.lat.min())


def pair_with_reference(readings, *, pollutants=("PM2.5", "PM10"),
                        max_distance: float = DEFAULT_MAX_DISTANCE, hourly=None):
    """Hourly pairs (micro, reference) with the micro-station's RH and TEMP.

    ``readings`` is an Ibis table (the result is an expression for its engine) or a
    DataFrame (the result is a DataFrame sorted by site, pollutant and hour). ``hourly``,
    optional: :func:`hour_means` of the readings already computed (e.g. stored), used
    instead of ``readings``.

    Returns
    -------
    site_id, pollutant, hour (UTC), value (micro hour mean), reference (reference
    hour mean), rh [%], temp [°C] (null when the station reports none),
    reference_id, distance [m].
    """
    from sourcegrid.observations.qc import _utc, nearest_reference

    was_frame = False
    if hourly is None:
        table, was_frame = _as_table(readings)
        hourly = hour_means(table)
    positions = hourly.group_by(["site_id", "site_kind"]).aggregate(
        lon=hourly.lon.min(), lat=hourly.lat.min()).to_pandas().sort_values("site_id")
    pairs = nearest_reference(positions.loc[positions["site_kind"] == "micro"],
                              positions.loc[positions["site_kind"] == "reference"],
                              max_distance)
    micro = hourly.filter(hourly.site_kind == "micro")
    reference = hourly.filter(hourly.site_kind == "reference").select(
        reference_id="site_id", pollutant="pollutant", hour="hour", reference="value")
    target = micro.filter(micro.pollutant.isin(list(pollutants))).select(
        "site_id", "pollutant", "hour", "value")
    if pairs.empty:  # typed and empty
        target = target.filter(ibis.literal(False))
        pairs = pd.DataFrame({"site_id": pd.Series(["-"], dtype="string"),
                              "reference_id": pd.Series(["-"], dtype="string"),
                              "distance": [0.0]})
    joined = target.join(ibis.memtable(pairs), "site_id")
    joined = joined.join(reference, ["reference_id", "pollutant", "hour"])
    for name, pollutant in (("rh", "RH"), ("temp", "TEMP")):
        covariate = micro.filter(micro.pollutant == pollutant).select(
            _site=micro.site_id, _hour=micro.hour, **{name: micro.value})
        joined = joined.left_join(covariate, [joined.site_id == covariate._site,
                                              joined.hour == covariate._hour])
        joined = joined.drop("_site", "_hour")
    out = joined.select(site_id=joined.site_id, pollutant=joined.pollutant,
                        hour=_utc(joined.hour), value=joined.value,
                        reference=joined.reference, rh=joined.rh.cast("float64"),
                        temp=joined.temp.cast("float64"), reference_id=joined.reference_id,
                        distance=joined.distance)
    if not was_frame:
        return out
    frame = out.to_pandas().sort_values(["site_id", "pollutant", "hour"], kind="stable")
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True).astype("datetime64[us, UTC]")
    return frame.reset_index(drop=True)[PAIR_COLUMNS]


def _grouped(pairs: ibis.Table, wanted: tuple[str, ...],
             sensor_models: Mapping[str, str] | None) -> tuple[ibis.Table, pd.DataFrame]:
    """Complete pairs with their group and the covariates each group uses.

    A group uses a covariate of the model when it reports it at all; its hours missing
    a used covariate are left out. Returns (pairs with ``group``, covariates per group).
    """
    table = pairs.filter(pairs.value.notnull() & pairs.reference.notnull())
    if sensor_models:
        models = ibis.memtable(pd.DataFrame({
            "_site": pd.Series(list(sensor_models), dtype="string"),
            "_model": pd.Series([str(v) for v in sensor_models.values()], dtype="string")}))
        table = table.left_join(models, table.site_id == models._site)
        table = table.mutate(group=table._model.coalesce(table.site_id)).drop("_site", "_model")
    else:
        table = table.mutate(group=table.site_id)
    reported = table.group_by(["group", "pollutant"]).aggregate(
        _rh=table.rh.count(), _temp=table.temp.count()).to_pandas()
    use = pd.DataFrame({"_group": reported["group"].astype("string"),
                        "_pollutant": reported["pollutant"].astype("string"),
                        "_use_rh": ("rh" in wanted) & (reported["_rh"].to_numpy() > 0),
                        "_use_temp": ("temp" in wanted) & (reported["_temp"].to_numpy() > 0)})
    if use.empty:
        return table.mutate(_use_rh=False, _use_temp=False), use
    flags = ibis.memtable(use)
    table = table.join(flags, [table.group == flags._group, table.pollutant == flags._pollutant])
    table = table.drop("_group", "_pollutant")
    table = table.filter((~table._use_rh | table.rh.notnull())
                         & (~table._use_temp | table.temp.notnull()))
    return table, use


def _with_folds(table: ibis.Table, folds: int) -> ibis.Table:
    """Fold of each pair: contiguous time blocks, fold = ⌊i · folds / n⌋ in hour order."""
    by_group = [table.group, table.pollutant]
    order = ibis.window(group_by=by_group, order_by=[table.hour, table.site_id])
    table = table.mutate(_i=ibis.row_number().over(order),
                         _n=table.count().over(ibis.window(group_by=by_group)))
    return table.mutate(fold=((table._i * int(folds)) // table._n).cast("int64"))


def _terms(table: ibis.Table) -> dict[str, ibis.Value]:
    """Design terms (unused covariates are 0, so they add nothing to the sums)."""
    return {"one": ibis.literal(1.0), "value": table.value,
            "rh": ibis.ifelse(table._use_rh, table.rh, 0.0),
            "temp": ibis.ifelse(table._use_temp, table.temp, 0.0)}


def fit_statistics(table: ibis.Table) -> ibis.Table:
    """Sufficient statistics per group, pollutant and fold (one engine aggregation).

    ``n``, ``xx_<a>_<b>`` = Σ a·b and ``xy_<a>`` = Σ a·reference over the design terms
    (one, value, rh, temp), ``yy`` = Σ reference², ``d1``/``d2`` = Σ (value − reference)
    and its squares, ``rh_sum``/``rh_n`` and ``temp_sum``/``temp_n`` over the reported
    covariates, and the first and last hour.
    """
    terms = _terms(table)
    y = table.reference
    sums = {"n": table.count()}
    for i, a in enumerate(_TERMS):
        for b in _TERMS[i:]:
            if a == "one" and b == "one":
                continue
            sums[f"xx_{a}_{b}"] = (terms[a] * terms[b]).sum()
        sums[f"xy_{a}"] = (terms[a] * y).sum()
    difference = table.value - y
    sums.update(yy=(y * y).sum(), d1=difference.sum(), d2=(difference * difference).sum(),
                rh_sum=table.rh.sum(), rh_n=table.rh.count(), temp_sum=table.temp.sum(),
                temp_n=table.temp.count(), fit_from=table.hour.min(), fit_to=table.hour.max())
    return table.group_by(["group", "pollutant", "fold"]).aggregate(**sums)


def _normal_equations(row) -> tuple[np.ndarray, np.ndarray]:
    size = len(_TERMS)
    matrix = np.empty((size, size))
    for i, a in enumerate(_TERMS):
        for j in range(i, size):
            b = _TERMS[j]
            value = row["n"] if a == b == "one" else row[f"xx_{a}_{b}"]
            matrix[i, j] = matrix[j, i] = value
    return matrix, np.array([row[f"xy_{a}"] for a in _TERMS], dtype=float)


def _solve(matrix: np.ndarray, vector: np.ndarray, used: list[int]) -> np.ndarray:
    """Least-squares coefficients over the used terms (0 elsewhere); min-norm if singular."""
    coefficients = np.zeros(len(_TERMS))
    index = np.asarray(used)
    coefficients[index] = np.linalg.lstsq(matrix[np.ix_(index, index)], vector[index],
                                          rcond=None)[0]
    return coefficients


def _r2(residual_squares: float, yy: float, y_sum: float, n: float) -> float:
    total = yy - y_sum * y_sum / n
    return 1.0 - residual_squares / total if total > 0 else np.nan


def fit_calibrations(pairs, *, model: str = "linear",
                     sensor_models: Mapping[str, str] | None = None, folds: int = DEFAULT_FOLDS,
                     min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """Fit one calibration per site (or per sensor model) and pollutant.

    Parameters
    ----------
    pairs : ibis.Table or DataFrame
        From :func:`pair_with_reference`; the sums run in its engine.
    model : {'linear', 'multivariate'}
    sensor_models : mapping site_id → sensor model, optional
        Fit one regression per sensor model (every site of the model gets it);
        default one per site.
    folds : int
        Cross-validation folds (contiguous in time).
    min_pairs : int
        Fewer complete pairs than this: no calibration for the group.

    Returns
    -------
    DataFrame
        :data:`CALIBRATION_COLUMNS`, one row per site and pollutant; coefficients in
        reference = intercept + slope · reading + coef_rh · RH + coef_temp · TEMP.
    """
    if model not in MODELS:
        raise NotFoundError("calibration model", model, MODELS)
    table, _ = _as_table(pairs)
    table, use = _grouped(table, MODELS[model], sensor_models)
    columns = [c for c in CALIBRATION_COLUMNS if c not in ("valid_from", "valid_to")]
    if use.empty:
        return _finish(pd.DataFrame(columns=columns))
    table = _with_folds(table, folds)
    stats = fit_statistics(table).to_pandas()
    sites = table.group_by(["group", "pollutant", "site_id"]).aggregate(
        reference_id=table.reference_id.max(), distance=table.distance.max()).to_pandas()
    use = use.set_index(["_group", "_pollutant"])
    numeric = [c for c in stats.columns if c not in ("group", "pollutant", "fold",
                                                     "fit_from", "fit_to")]
    fits, coefficients = {}, []
    for (group, pollutant), part in stats.groupby(["group", "pollutant"], sort=True):
        flags = use.loc[(group, pollutant)]
        covariates = [name for name in ("rh", "temp") if bool(flags[f"_use_{name}"])]
        used = [0, 1] + [_TERMS.index(name) for name in covariates]
        total = part[numeric].sum()
        n = int(total["n"])
        if n < max(min_pairs, folds + len(covariates) + 2):
            continue
        matrix, vector = _normal_equations(total)
        beta = _solve(matrix, vector, used)
        for fold_row in part.itertuples(index=False):  # a loop over folds, not rows
            fold = pd.Series(fold_row._asdict())
            fold_matrix, fold_vector = _normal_equations(fold)
            coefficients.append({"_group": group, "_pollutant": pollutant,
                                 "_fold": int(fold["fold"]),
                                 **dict(zip(("_c_one", "_c_value", "_c_rh", "_c_temp"),
                                            _solve(matrix - fold_matrix, vector - fold_vector,
                                                   used), strict=True))})
        fits[(group, pollutant)] = (total, beta, covariates, part["fit_from"].min(),
                                    part["fit_to"].max())
    if not fits:
        return _finish(pd.DataFrame(columns=columns))
    after = _cross_validated_residuals(table, pd.DataFrame(coefficients))
    rows = []
    for (group, pollutant), (total, beta, _covariates, fit_from, fit_to) in fits.items():
        n = float(total["n"])
        residual = after.loc[(group, pollutant)]
        for site in sites.loc[(sites["group"] == group) & (sites["pollutant"] == pollutant)
                              ].sort_values("site_id").itertuples(index=False):
            rows.append({
                "site_id": site.site_id, "pollutant": pollutant, "model": model,
                "group": str(group), "reference_id": site.reference_id,
                "distance": float(site.distance), "intercept": float(beta[0]),
                "slope": float(beta[1]), "coef_rh": float(beta[2]), "coef_temp": float(beta[3]),
                "rh_mean": float(total["rh_sum"] / total["rh_n"]) if total["rh_n"] else 0.0,
                "temp_mean": float(total["temp_sum"] / total["temp_n"]) if total["temp_n"]
                else 0.0,
                "n_pairs": int(n),
                "rmse_before": float(np.sqrt(max(total["d2"], 0.0) / n)),
                "r2_before": float(_r2(total["d2"], total["yy"], total["xy_one"], n)),
                "bias_before": float(total["d1"] / n),
                "rmse_after": float(np.sqrt(residual["r2"] / n)),
                "r2_after": float(_r2(residual["r2"], total["yy"], total["xy_one"], n)),
                "bias_after": float(residual["r1"] / n),
                "fit_from": fit_from, "fit_to": fit_to,
            })
    return _finish(pd.DataFrame(rows, columns=columns))


def _cross_validated_residuals(table: ibis.Table, coefficients: pd.DataFrame) -> pd.DataFrame:
    """Σ r and Σ r² per group and pollutant, r = prediction of the fold's own fit − reference."""
    fits = ibis.memtable(coefficients.astype({"_group": "string", "_pollutant": "string"}))
    joined = table.join(fits, [table.group == fits._group, table.pollutant == fits._pollutant,
                               table.fold == fits._fold])
    terms = _terms(joined)
    prediction = (joined._c_one + joined._c_value * terms["value"] + joined._c_rh * terms["rh"]
                  + joined._c_temp * terms["temp"])
    residual = prediction - joined.reference
    sums = joined.group_by(["group", "pollutant"]).aggregate(
        r1=residual.sum(), r2=(residual * residual).sum()).to_pandas()
    return sums.set_index(["group", "pollutant"])


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["valid_from"] = frame["fit_from"]
    frame["valid_to"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    return chain_validity(frame)


def chain_validity(calibrations: pd.DataFrame) -> pd.DataFrame:
    """Set ``valid_to`` of each calibration to the next one's ``valid_from`` (same site, pollutant)."""
    frame = calibrations.copy()
    for column in ("fit_from", "fit_to", "valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    frame = frame.sort_values(["site_id", "pollutant", "valid_from"], kind="stable")
    frame["valid_to"] = frame.groupby(["site_id", "pollutant"])["valid_from"].shift(-1)
    return frame[CALIBRATION_COLUMNS].reset_index(drop=True)


def apply_calibration(value, intercept, slope, coef_rh=0.0, coef_temp=0.0, rh=None, temp=None,
                      rh_mean=0.0, temp_mean=0.0) -> np.ndarray:
    """Calibrated value = intercept + slope · value + coef_rh · RH + coef_temp · TEMP, ≥ 0.

    Missing RH/TEMP take the fit period's means. All arrays broadcast.
    """
    value = np.asarray(value, dtype=float)
    rh = np.where(np.isnan(np.asarray(rh if rh is not None else np.nan, dtype=float)), rh_mean, rh)
    temp = np.where(np.isnan(np.asarray(temp if temp is not None else np.nan, dtype=float)),
                    temp_mean, temp)
    corrected = (np.asarray(intercept, float) + np.asarray(slope, float) * value
                 + np.asarray(coef_rh, float) * rh + np.asarray(coef_temp, float) * temp)
    return np.maximum(corrected, 0.0)


def calibrate_workspace(workspace, *, model: str = "linear",
                        max_distance: float = DEFAULT_MAX_DISTANCE,
                        pollutants=("PM2.5", "PM10"), start=None, end=None,
                        sensor_models: Mapping[str, str] | None = None,
                        folds: int = DEFAULT_FOLDS) -> pd.DataFrame:
    """Fit calibrations on the workspace's passing readings and add them to ``calibrations``.

    The pairs are built and summed by the workspace's engine (stored in a helper table
    while the fit runs); only the per-fold sums reach this process. Returns the new
    calibrations (with skill before and after).
    """
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE
    from sourcegrid.observations.qc import FLAGS_TABLE, _utc, passing
    from sourcegrid.timebase import utc_timestamp

    if model not in MODELS:
        raise NotFoundError("calibration model", model, MODELS)
    readings = workspace.table(OBSERVATIONS_TABLE)
    if start is not None:
        readings = readings.filter(_utc(readings.time) >= utc_timestamp(start))
    if end is not None:
        readings = readings.filter(_utc(readings.time) < utc_timestamp(end))
    readings = readings.filter(readings.site_kind.isin(["micro", "reference"]))
    if workspace.has(FLAGS_TABLE):
        readings = passing(readings, workspace.table(FLAGS_TABLE))
    try:  # the readings are read once: their hour means are stored while the fit runs
        hourly = workspace.write(_HOURS_HELPER, hour_means(readings))
        pairs = pair_with_reference(None, pollutants=pollutants, max_distance=max_distance,
                                    hourly=hourly)
        stored_pairs = workspace.write(_PAIRS_HELPER, pairs)
        new = fit_calibrations(stored_pairs, model=model, sensor_models=sensor_models,
                               folds=folds)
    finally:
        workspace.drop(_PAIRS_HELPER)
        workspace.drop(_HOURS_HELPER)
    if new.empty:
        return new
    stored = workspace.read(CALIBRATIONS_TABLE) if workspace.has(CALIBRATIONS_TABLE) else None
    every = chain_validity(pd.concat([stored, new], ignore_index=True) if stored is not None
                           else new)
    workspace.write(CALIBRATIONS_TABLE, every)
    return new
