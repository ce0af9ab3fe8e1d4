"""Normalisation of many units: each station alone, or a grid's cells in one pooled model.

* :func:`normalise_each` -- one model per unit (station or city), as rmweather
  and deweather do per site; returns a :class:`~sourcegrid.weather.normalise.Normalisation`
  per unit.
* :func:`normalise_pooled` -- one model for all cells of a grid, with the cell's
  row and column as explanatory variables beside time and meteorology (the
  trees learn each cell's level and its own response to the weather), and the
  meteorology of each cell's nearest met site resampled with the time kept. One
  model for 400 cells × 8,760 hours instead of 400 models. The K weather draws
  are made once per met site and hour and shared by all cells of that site and
  hour (so cells are compared under the same weather draws, and the draws cost
  hours, not cell-hours); the K × rows predictions are batched in chunks (see
  :func:`sourcegrid.weather.normalise.predict_resampled`).

Limits: the pooled model shares the trend term across cells (a cell's own
trend enters through splits on row/col × date_unix, which a few hundred trees
resolve only for strong, local changes); for a trend per station use
:func:`normalise_each`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.weather.features import MET_VARIABLES, TIME_VARIABLES, time_variables
from sourcegrid.weather.normalise import (
    SCHEMES,
    ConstrainedSampler,
    Normalisation,
    block_skill,
    make_estimator,
    model_parameters,
    normalise,
    predict_resampled,
    resampling_parameters,
    threads,
)

__all__ = ["normalise_each", "normalise_pooled", "met_columns"]


def met_columns(series: pd.DataFrame) -> list[str]:
    """The met columns of a series table that hold any value."""
    return [c for c in MET_VARIABLES if c in series.columns and series[c].notna().any()]


def normalise_each(series: pd.DataFrame, **options) -> dict[str, Normalisation]:
    """One normalisation per unit of a series table (unit, time, value, met columns).

    ``options`` go to :func:`sourcegrid.weather.normalise.normalise` (model,
    resampling, seed, samples, skill, chunk_rows, keep_resamples, min_hours).
    """
    columns = met_columns(series)
    out = {}
    for unit, group in series.groupby("unit", sort=True):
        out[str(unit)] = normalise(group["time"].to_numpy(), group["value"].to_numpy(),
                                   group[columns].reset_index(drop=True), **options)
    return out


def normalise_pooled(series: pd.DataFrame, *, unit_features=("row", "col"),
                     model="deweather", resampling="deweather", seed: int = 0,
                     samples: int | None = None, skill: bool = True,
                     chunk_rows: int = 1_000_000, skill_rows: int = 400_000, fitted=None,
                     adjusted: bool = True) -> tuple[pd.DataFrame, dict]:
    """Normalise all cells of a grid with one pooled model.

    Parameters
    ----------
    series : pandas.DataFrame
        unit, time, value, the ``unit_features`` columns, met_site (optional; one
        pool when absent) and met columns.
    unit_features : sequence of str
        Columns describing the unit (cell row and column).
    model, resampling, seed, samples, chunk_rows
        As :func:`sourcegrid.weather.normalise.normalise`.
    skill : bool
        Out-of-sample skill on held-back blocks of time (at most ``skill_rows``
        rows, drawn at random, seeded).
    fitted : fitted regressor, optional
        A model already fitted on these features (the benchmark shares one).
    adjusted : bool
        Also predict each hour with its own weather and give ``predicted`` and
        ``adjusted`` (one more prediction per row).

    Returns
    -------
    (pandas.DataFrame, dict)
        unit, time, observed, predicted (with the hour's own weather), normalised
        (mean over the resampled weather), adjusted = observed − predicted +
        normalised (the observation with the model's weather anomaly taken out; the
        residual the model does not explain is kept), plus the unit features, for rows
        with a value; and the skill.
    """
    model_set = model_parameters(model)
    resampling_set = resampling_parameters(resampling)
    samples = int(samples or resampling_set.samples)
    met = met_columns(series)
    frame = series.reset_index(drop=True)
    if "met_site" not in frame.columns:
        frame = frame.assign(met_site="")
    clock = time_variables(frame["time"])
    features = list(TIME_VARIABLES) + list(unit_features) + met
    x = np.column_stack([clock.to_numpy(dtype=float),
                         frame[list(unit_features)].to_numpy(dtype=float),
                         frame[met].to_numpy(dtype=float)])
    y = frame["value"].to_numpy(dtype=float)
    complete = np.isfinite(x).all(axis=1)
    train = complete & np.isfinite(y)
    scores = {}
    if skill:
        rows = np.flatnonzero(train)
        if len(rows) > skill_rows:
            rows = np.sort(np.random.default_rng(seed).choice(rows, skill_rows, replace=False))
        scores = block_skill(x[rows], y[rows], x[rows, 0], model_set, seed=seed)
    if fitted is None:
        with threads():
            fitted = make_estimator(model_set, seed).fit(x[train], y[train])

    resampled = met if not resampling_set.resample_time else [
        f for f in features if f not in ("date_unix", *unit_features)]
    columns = [features.index(c) for c in resampled]
    site_codes, site_names = pd.factorize(frame["met_site"].astype(str), sort=True)
    time_codes, _ = pd.factorize(frame["time"], sort=True)
    pools, offsets = [], np.zeros(len(site_names), dtype=np.int64)
    total = 0
    rng = np.random.default_rng(seed)
    targets = np.flatnonzero(np.isfinite(y))
    targets = targets[np.argsort(site_codes[targets], kind="stable")]
    # one set of K draws per met site and hour, shared by every cell of that site and
    # hour (cells are compared under the same weather draws)
    draws = np.empty((samples, len(targets)), dtype=np.int64)
    for code in range(len(site_names)):
        mask = complete & (site_codes == code)
        first = np.flatnonzero(mask)[~pd.Series(time_codes[mask]).duplicated().to_numpy()]
        pools.append(x[first][:, columns])
        offsets[code] = total
        total += len(first)
        chosen = np.flatnonzero(site_codes[targets] == code)
        if not len(chosen):
            continue
        hours, inverse = np.unique(time_codes[targets[chosen]], return_inverse=True)
        rows = targets[chosen][np.unique(inverse, return_index=True)[1]]  # one row per hour
        if len(first) == 0:
            index = rng.integers(0, max(total, 1), (samples, len(hours)))
        elif resampling_set.scheme == "constrained":
            sampler = ConstrainedSampler(x[first, 1], x[first, 3], resampling_set.window_days,
                                         resampling_set.window_hours)
            index, _ = sampler.draw(x[rows, 1], x[rows, 3], samples, rng)
            index = index + offsets[code]
        elif resampling_set.scheme == "all":
            index = rng.integers(0, len(first), (samples, len(hours))) + offsets[code]
        else:
            from sourcegrid.errors import NotFoundError

            raise NotFoundError("resampling scheme", resampling_set.scheme, SCHEMES)
        draws[:, chosen] = index[:, inverse]
    pool = np.concatenate(pools) if pools else np.empty((0, len(columns)))

    def indices_of(start, stop):
        return draws[:, start:stop]

    mean, _ = predict_resampled(fitted, x[targets], columns, pool, indices_of, len(targets),
                                samples, chunk_rows=chunk_rows)
    result = frame.loc[targets, ["unit", "time", *unit_features]].copy()
    result["observed"] = y[targets]
    result["normalised"] = mean
    if adjusted:
        with threads():
            result["predicted"] = _predict_in_chunks(fitted, x[targets], chunk_rows)
        # observed minus the model's weather anomaly: keeps each hour's residual
        result["adjusted"] = result["observed"] - result["predicted"] + result["normalised"]
    result = result.sort_values(["unit", "time"]).reset_index(drop=True)
    scores = {**scores, "model": model_set.name, "resampling": resampling_set.name,
              "resamples": samples, "features": ";".join(features)}
    return result, scores


def _predict_in_chunks(model, x: np.ndarray, chunk_rows: int) -> np.ndarray:
    out = np.empty(len(x))
    for start in range(0, len(x), chunk_rows):
        out[start:start + chunk_rows] = model.predict(x[start:start + chunk_rows])
    return out
