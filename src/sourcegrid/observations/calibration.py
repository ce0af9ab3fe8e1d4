"""Calibration of micro-stations against reference stations.

Each micro-station is paired with the nearest reference station within
``max_distance`` (co-located when the distance is ~0). On hourly means, the
reference value is regressed on the micro-station's reading:

- ``linear``: reference = a + b · micro;
- ``multivariate``: reference = a + b · micro + c · RH + d · TEMP, with RH [%] and
  TEMP [°C] the micro-station's own hourly means (hygroscopic growth makes optical
  PM sensors read high at high humidity).

Fits are ordinary least squares (NumPy ``lstsq``) per sensor (site) or per sensor
model (one fit for all stations of a model). Skill is reported before (raw vs
reference) and after (K-fold cross-validated predictions, contiguous time blocks so
that autocorrelated neighbours do not leak between folds): RMSE, R² and bias
(mean of prediction − reference), all in the pollutant's internal unit.

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

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError

__all__ = [
    "CALIBRATIONS_TABLE",
    "MODELS",
    "CALIBRATION_COLUMNS",
    "pair_with_reference",
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
DEFAULT_MAX_DISTANCE = 3000.0  # [m] pairing distance micro-station → reference station
DEFAULT_FOLDS = 5
MIN_PAIRS = 10


def pair_with_reference(readings: pd.DataFrame, *, pollutants=("PM2.5", "PM10"),
                        max_distance: float = DEFAULT_MAX_DISTANCE) -> pd.DataFrame:
    """Hourly pairs (micro, reference) with the micro-station's RH and TEMP.

    Returns
    -------
    DataFrame
        site_id, pollutant, hour (UTC), value (micro hour mean), reference (reference
        hour mean), rh [%], temp [°C] (NaN when the station reports none),
        reference_id, distance [m].
    """
    from sourcegrid.observations.qc import hourly_site_means, nearest_reference

    hourly = hourly_site_means(readings)
    micro = hourly.loc[hourly["site_kind"] == "micro"]
    reference = hourly.loc[hourly["site_kind"] == "reference"]
    sites = micro.drop_duplicates("site_id")[["site_id", "lon", "lat"]]
    refs = reference.drop_duplicates("site_id")[["site_id", "lon", "lat"]]
    pairs = nearest_reference(sites, refs, max_distance)
    columns = ["site_id", "pollutant", "hour", "value", "reference", "rh", "temp",
               "reference_id", "distance"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    covariates = micro.loc[micro["pollutant"].isin(["RH", "TEMP"])].pivot_table(
        index=["site_id", "hour"], columns="pollutant", values="value").rename(
        columns={"RH": "rh", "TEMP": "temp"}).reset_index()
    for name in ("rh", "temp"):
        if name not in covariates:
            covariates[name] = np.nan
    target = micro.loc[micro["pollutant"].isin(list(pollutants)),
                       ["site_id", "pollutant", "hour", "value"]]
    joined = (target.merge(pairs, on="site_id")
              .merge(reference[["site_id", "pollutant", "hour", "value"]]
                     .rename(columns={"site_id": "reference_id", "value": "reference"}),
                     on=["reference_id", "pollutant", "hour"])
              .merge(covariates[["site_id", "hour", "rh", "temp"]], on=["site_id", "hour"],
                     how="left"))
    return joined[columns].sort_values(["site_id", "pollutant", "hour"]).reset_index(drop=True)


def _design(frame: pd.DataFrame, covariates: tuple[str, ...]) -> np.ndarray:
    columns = [np.ones(len(frame)), frame["value"].to_numpy(float)]
    columns += [frame[name].to_numpy(float) for name in covariates]
    return np.column_stack(columns)


def _skill(prediction: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    residual = prediction - reference
    total = np.sum((reference - reference.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else np.nan
    return float(np.sqrt(np.mean(residual**2))), float(r2), float(residual.mean())


def _cross_validated(design: np.ndarray, reference: np.ndarray, folds: int) -> np.ndarray:
    n = len(reference)
    fold = (np.arange(n) * folds) // n  # contiguous time blocks
    prediction = np.empty(n)
    for k in range(folds):  # loop over folds, not rows
        test = fold == k
        coefficients, *_ = np.linalg.lstsq(design[~test], reference[~test], rcond=None)
        prediction[test] = design[test] @ coefficients
    return prediction


def fit_calibrations(pairs: pd.DataFrame, *, model: str = "linear",
                     sensor_models: Mapping[str, str] | None = None, folds: int = DEFAULT_FOLDS,
                     min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """Fit one calibration per site (or per sensor model) and pollutant.

    Parameters
    ----------
    pairs : DataFrame
        From :func:`pair_with_reference`.
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
    wanted = MODELS[model]
    frame = pairs.dropna(subset=["value", "reference"]).copy()
    if sensor_models is not None:
        frame["group"] = frame["site_id"].map(sensor_models).fillna(frame["site_id"])
    else:
        frame["group"] = frame["site_id"]
    rows = []
    for (group, pollutant), part in frame.groupby(["group", "pollutant"], sort=True):
        # covariates the group reports at all; hours missing one of them are left out
        covariates = tuple(name for name in wanted if part[name].notna().any())
        part = part.dropna(subset=list(covariates)).sort_values("hour")
        if len(part) < max(min_pairs, folds + len(covariates) + 2):
            continue
        design = _design(part, covariates)
        reference = part["reference"].to_numpy(float)
        coefficients, *_ = np.linalg.lstsq(design, reference, rcond=None)
        before = _skill(part["value"].to_numpy(float), reference)
        after = _skill(_cross_validated(design, reference, folds), reference)
        coef = dict(zip(("intercept", "slope", *covariates), coefficients, strict=True))
        for site_id, site_part in part.groupby("site_id", sort=True):
            rows.append({
                "site_id": site_id, "pollutant": pollutant, "model": model, "group": str(group),
                "reference_id": site_part["reference_id"].iloc[0],
                "distance": float(site_part["distance"].iloc[0]),
                "intercept": float(coef["intercept"]), "slope": float(coef["slope"]),
                "coef_rh": float(coef.get("rh", 0.0)), "coef_temp": float(coef.get("temp", 0.0)),
                "rh_mean": float(part["rh"].mean()) if part["rh"].notna().any() else 0.0,
                "temp_mean": float(part["temp"].mean()) if part["temp"].notna().any() else 0.0,
                "n_pairs": int(len(part)),
                "rmse_before": before[0], "r2_before": before[1], "bias_before": before[2],
                "rmse_after": after[0], "r2_after": after[1], "bias_after": after[2],
                "fit_from": part["hour"].min(), "fit_to": part["hour"].max(),
            })
    out = pd.DataFrame(rows, columns=[c for c in CALIBRATION_COLUMNS if c not in
                                      ("valid_from", "valid_to")])
    out["valid_from"] = out["fit_from"]
    out["valid_to"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us, UTC]")
    return chain_validity(out)


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

    Returns the new calibrations (with skill before and after).
    """
    from sourcegrid.observations.ingest import load_readings
    from sourcegrid.observations.qc import FLAGS_TABLE, passing

    readings = load_readings(workspace, start=start, end=end)
    readings = readings.loc[readings["site_kind"].isin(["micro", "reference"])]
    if workspace.has(FLAGS_TABLE):
        flags = workspace.read(FLAGS_TABLE)
        flags["time"] = pd.to_datetime(flags["time"], utc=True)
        readings = passing(readings, flags)
    pairs = pair_with_reference(readings, pollutants=pollutants, max_distance=max_distance)
    new = fit_calibrations(pairs, model=model, sensor_models=sensor_models, folds=folds)
    if new.empty:
        return new
    stored = workspace.read(CALIBRATIONS_TABLE) if workspace.has(CALIBRATIONS_TABLE) else None
    every = chain_validity(pd.concat([stored, new], ignore_index=True) if stored is not None
                           else new)
    workspace.write(CALIBRATIONS_TABLE, every)
    return new
