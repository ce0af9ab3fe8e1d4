"""Meteorological normalisation (气象归一化) by machine learning and resampled weather.

Method (Grange et al. 2018, rmweather; openair's deweather):

1. A model f of the hourly concentration C from meteorology M (wind speed and
   direction, temperature, humidity, pressure, ... whatever the feeds carry) and
   time T (trend ``date_unix``, ``day_of_year``, ``weekday``, ``hour``):
   C ≈ f(T, M). Gradient boosting (scikit-learn ``HistGradientBoostingRegressor``,
   as deweather's xgboost) or a random forest (``RandomForestRegressor``, as
   rmweather's ranger); settings are the named sets of :data:`MODEL_PARAMETERS`.
2. Out-of-sample skill on held-back blocks of time: the record is cut into
   blocks of ``block_days`` days; every fifth block (20 %) is held back, the
   model is fitted on the rest and R², RMSE and bias are computed on the held-back
   hours; the model used for normalisation is then fitted on all hours.
3. The normalised value of hour t is the mean prediction over K resamples of the
   meteorology with the time kept:

   .. math:: C_n(t) = \\frac{1}{K} \\sum_{k=1}^{K} f(T(t), M(s_k(t)))

   where s_k(t) is a random hour of the met record. ``constrained`` resampling
   (deweather's default) draws s_k(t) uniformly among the hours whose day of
   year is within ±``window_days`` (circular, 366 days) and whose hour of day is
   within ±``window_hours`` (circular, 24 h) of t, so a winter hour gets winter
   weather; ``all`` draws from the whole record, with replacement, and
   (``resample_time``) also draws day of year, weekday and hour, keeping only the
   trend, as ``rmweather::rmw_normalise`` does. The met variables of one draw
   come from the same hour (their joint distribution is kept). Resampling
   schemes, K and windows are the named sets of :data:`RESAMPLING_PARAMETERS`.

Vectorised: the K draws of every hour are made at once (the candidate hours of
a constrained window are at most 10 contiguous runs of the met record sorted
by hour of day and day of year, so one uniform integer per draw locates its
hour exactly), and the K × n resampled rows go to the model in one batched
``predict`` per chunk of ``chunk_rows`` rows (memory stays near chunk_rows ×
variables × 8 bytes). :func:`normalise_naive` does the same computation with a
per-resample, per-hour Python loop (the direct port of deweather's loop), for
the benchmark. Seeded: the same seed, data and settings give the same numbers.

Limits: a model explains what its variables carry; transport from far away,
boundary-layer height or rain not in the feeds stay in the normalised series.
Normalised values are a counterfactual "average weather" level, not an
observation; compare them with each other (trend, change between periods).

References
----------
.. [1] Grange, S. K., Carslaw, D. C., Lewis, A. C., Boleti, E. and Hueglin, C.
   (2018). Random forest meteorological normalisation models for Swiss PM10
   trend analysis. Atmos. Chem. Phys. 18, 6223-6239.
.. [2] rmweather (R), ``rmw_train_model`` (n_trees 300, min_node_size 5, mtry =
   floor(sqrt(variables))) and ``rmw_normalise`` (every variable but date_unix
   resampled, with replacement).
.. [3] openair-project/deweather (R), ``build_dw_model`` (xgboost, tree_depth 5,
   trees 200, learn_rate 0.1, min_n 10) and ``simulate_dw_met`` (constrained
   resampling, window_day 30, window_hour 2, n 200).
.. [4] Vu, T. V. et al. (2019). Assessing the impact of clean air action on air
   quality trends in Beijing using a machine learning technique. Atmos. Chem.
   Phys. 19, 11303-11314.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.weather.features import MET_VARIABLES, TIME_VARIABLES, time_variables

__all__ = [
    "ModelParameters",
    "ResamplingParameters",
    "MODEL_PARAMETERS",
    "RESAMPLING_PARAMETERS",
    "model_parameters",
    "resampling_parameters",
    "make_estimator",
    "block_skill",
    "ConstrainedSampler",
    "resample_indices",
    "Normalisation",
    "normalise",
    "normalise_naive",
    "predict_resampled",
    "threads",
    "DEFAULT_THREADS",
]


@dataclass(frozen=True)
class ModelParameters:
    """A named model setting: estimator kind, scikit-learn settings and their source."""

    name: str
    estimator: str  # 'gradient_boosting' | 'random_forest'
    settings: dict
    source: str


@dataclass(frozen=True)
class ResamplingParameters:
    """A named resampling setting (scheme, resamples K, windows) and its source."""

    name: str
    scheme: str  # 'constrained' | 'all'
    samples: int
    window_days: int = 30
    window_hours: int = 2
    resample_time: bool = False
    source: str = ""


#: Model settings by name.
MODEL_PARAMETERS: dict[str, ModelParameters] = {
    "deweather": ModelParameters(
        "deweather", "gradient_boosting",
        {"max_iter": 200, "max_depth": 5, "learning_rate": 0.1, "min_samples_leaf": 10,
         "early_stopping": False},
        "openair-project/deweather build_dw_model defaults: boosted trees, tree_depth 5, "
        "trees 200, learn_rate 0.1, min_n 10 (xgboost there, scikit-learn "
        "HistGradientBoostingRegressor here)"),
    "rmweather": ModelParameters(
        "rmweather", "random_forest",
        {"n_estimators": 300, "min_samples_split": 5, "max_features": "sqrt"},
        "rmweather rmw_train_model defaults: random forest (ranger), n_trees 300, "
        "min_node_size 5, mtry floor(sqrt(variables)); Grange et al. (2018)"),
    "quick": ModelParameters(
        "quick", "gradient_boosting",
        {"max_iter": 80, "max_depth": 5, "learning_rate": 0.15, "min_samples_leaf": 20,
         "early_stopping": False},
        "sourcegrid's own small boosted model for tests and previews (fewer, faster trees "
        "than 'deweather')"),
}

#: Resampling settings by name.
RESAMPLING_PARAMETERS: dict[str, ResamplingParameters] = {
    "deweather": ResamplingParameters(
        "deweather", "constrained", 200, 30, 2, False,
        "openair-project/deweather simulate_dw_met defaults: resampling 'constrained', "
        "window_day 30, window_hour 2, n 200; met resampled, time kept"),
    "rmweather": ResamplingParameters(
        "rmweather", "all", 300, 0, 0, True,
        "rmweather rmw_normalise: every variable but date_unix resampled from the whole "
        "record with replacement (Grange et al. 2018); 300 resamples is sourcegrid's "
        "choice (rmw_normalise's default of 10 gives a noisy series)"),
    "vu2019": ResamplingParameters(
        "vu2019", "constrained", 1000, 14, 0, False,
        "after Vu et al. (2019): weather drawn from within two weeks of the date over all "
        "years, 1000 times; sourcegrid also keeps the hour of day"),
    "quick": ResamplingParameters(
        "quick", "constrained", 20, 30, 2, False,
        "sourcegrid's own: deweather's constrained windows with 20 resamples, for tests "
        "and previews"),
}

ESTIMATORS = ("gradient_boosting", "random_forest")

#: Threads of the models' OpenMP loops. One by default: scikit-learn's boosted trees
#: spin-wait between OpenMP regions, and on a machine shared with other work two
#: threads were 40x slower than one (a 200-tree fit on 8,784 hours: 58 s against
#: 1.3 s under a load of 10 on 2 cores); set SOURCEGRID_THREADS on a dedicated machine.
DEFAULT_THREADS = 1


def threads(count: int | None = None):
    """A context that limits the OpenMP/BLAS threads of fits and predictions."""
    import os

    from threadpoolctl import threadpool_limits

    if count is None:
        count = int(os.environ.get("SOURCEGRID_THREADS", DEFAULT_THREADS))
    return threadpool_limits(limits=max(1, int(count)))
SCHEMES = ("constrained", "all")


def model_parameters(name: str | ModelParameters) -> ModelParameters:
    """The model setting of a name; a wrong name raises NotFoundError listing the valid ones."""
    if isinstance(name, ModelParameters):
        return name
    if name not in MODEL_PARAMETERS:
        raise NotFoundError("model parameter set", name, tuple(MODEL_PARAMETERS))
    return MODEL_PARAMETERS[name]


def resampling_parameters(name: str | ResamplingParameters) -> ResamplingParameters:
    """The resampling setting of a name; a wrong name raises NotFoundError."""
    if isinstance(name, ResamplingParameters):
        return name
    if name not in RESAMPLING_PARAMETERS:
        raise NotFoundError("resampling parameter set", name, tuple(RESAMPLING_PARAMETERS))
    return RESAMPLING_PARAMETERS[name]


def make_estimator(parameters: str | ModelParameters, seed: int = 0, n_jobs: int | None = None):
    """An unfitted scikit-learn regressor of a named setting, seeded."""
    parameters = model_parameters(parameters)
    if parameters.estimator == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(random_state=seed, **parameters.settings)
    if parameters.estimator == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(random_state=seed, n_jobs=n_jobs, **parameters.settings)
    raise NotFoundError("estimator", parameters.estimator, ESTIMATORS)


# --------------------------------------------------------------------------------------
# skill on held-back blocks of time
# --------------------------------------------------------------------------------------


def block_skill(features: np.ndarray, target: np.ndarray, date_unix: np.ndarray,
                parameters: str | ModelParameters, *, seed: int = 0, block_days: float = 30.0,
                every: int = 5) -> dict:
    """Out-of-sample skill of the model on held-back blocks of time.

    Parameters
    ----------
    features : numpy.ndarray (n, p)
        Explanatory variables.
    target : numpy.ndarray (n,)
        Observed concentrations.
    date_unix : numpy.ndarray (n,)
        Time of each row [s since 1970 UTC].
    parameters : str or ModelParameters
        Model setting.
    block_days : float
        Length of a block [days]; records of fewer than 10 blocks' worth of days with
        data use blocks of a tenth of those days (at least one day), so that at least
        two blocks are held back. Blocks are numbered over those holding data (a gap
        in the record does not swallow the held-back blocks).
    every : int
        Every ``every``-th block is held back (5: 20 % of the time).

    Returns
    -------
    dict
        r2 [-], rmse and bias (mean predicted − observed) [unit of the target],
        n_train, n_test, block_days, held_back ('every 5th block').
    """
    data_days = len(np.unique(np.floor(date_unix / 86400.0))) if len(date_unix) else 0
    block_days = float(max(1.0, min(block_days, data_days / (2 * every))))
    block = np.floor((date_unix - date_unix.min()) / (block_days * 86400.0)).astype(np.int64)
    _, block = np.unique(block, return_inverse=True)  # number the blocks that hold data
    test = (block % every) == (every - 1)
    if test.sum() < 10 or (~test).sum() < 10:
        return {"r2": np.nan, "rmse": np.nan, "bias": np.nan, "n_train": int((~test).sum()),
                "n_test": int(test.sum()), "block_days": block_days,
                "held_back": f"every {every}th block (too few hours to test)"}
    model = make_estimator(parameters, seed)
    with threads():
        model.fit(features[~test], target[~test])
        predicted = model.predict(features[test])
    observed = target[test]
    residual = predicted - observed
    total = float(np.sum((observed - observed.mean()) ** 2))
    return {"r2": 1.0 - float(np.sum(residual**2)) / total if total > 0 else np.nan,
            "rmse": float(np.sqrt(np.mean(residual**2))), "bias": float(residual.mean()),
            "n_train": int((~test).sum()), "n_test": int(test.sum()),
            "block_days": block_days, "held_back": f"every {every}th block"}


# --------------------------------------------------------------------------------------
# resampling of the meteorology
# --------------------------------------------------------------------------------------

_DAYS = 366


class ConstrainedSampler:
    """Draw met hours within ±days (day of year) and ±hours (hour of day) of a target.

    The pool (the met record) is sorted by (hour, day of year); for one hour of
    day the days of a window are one contiguous run (two when it wraps over the
    year end), so a window is at most 2 (2 w_h + 1) runs. A draw is one uniform
    integer below the window's size, located in its run: exactly uniform over the
    candidate hours, without a loop over hours.

    Parameters
    ----------
    pool_day, pool_hour : numpy.ndarray
        Day of year (1..366) and hour (0..23) of each pool hour.
    window_days, window_hours : int
        Half-widths of the window (circular).
    """

    def __init__(self, pool_day, pool_hour, window_days: int, window_hours: int):
        day = np.asarray(pool_day, dtype=np.int64)
        hour = np.asarray(pool_hour, dtype=np.int64)
        key = hour * (_DAYS + 2) + day
        self.order = np.argsort(key, kind="stable")
        sorted_key = key[self.order]
        grid = (np.arange(24)[:, None] * (_DAYS + 2) + np.arange(_DAYS + 2)[None, :])
        self.starts = np.searchsorted(sorted_key, grid.ravel(), side="left").reshape(grid.shape)
        self.window_days = int(window_days)
        self.window_hours = int(window_hours)
        self.size = len(day)

    def runs(self, day, hour) -> tuple[np.ndarray, np.ndarray]:
        """Start and length of each run of candidates for targets (n, 2 (2 w_h + 1))."""
        day = np.asarray(day, dtype=np.int64)
        hour = np.asarray(hour, dtype=np.int64)
        w = self.window_days
        offsets = np.arange(-self.window_hours, self.window_hours + 1)
        hours = (hour[:, None] + offsets[None, :]) % 24  # (n, H)
        low = day - w
        high = day + w
        if 2 * w + 1 >= _DAYS:
            first = (np.ones_like(day), np.full_like(day, _DAYS))
            second = (np.ones_like(day), np.zeros_like(day))
        else:
            wrap_low = low < 1
            wrap_high = high > _DAYS
            first = (np.where(wrap_low, 1, low), np.where(wrap_high, _DAYS, high))
            second = (np.where(wrap_low, low + _DAYS, np.where(wrap_high, 1, 1)),
                      np.where(wrap_low, _DAYS, np.where(wrap_high, high - _DAYS, 0)))
        starts, lengths = [], []
        for lo, hi in (first, second):
            lo_b = np.broadcast_to(lo[:, None], hours.shape)
            hi_b = np.broadcast_to(hi[:, None], hours.shape)
            start = self.starts[hours, lo_b]
            stop = self.starts[hours, np.minimum(hi_b + 1, _DAYS + 1)]
            length = np.where(hi_b >= lo_b, stop - start, 0)
            starts.append(start)
            lengths.append(np.maximum(length, 0))
        return np.concatenate(starts, axis=1), np.concatenate(lengths, axis=1)

    def draw(self, day, hour, samples: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, int]:
        """Pool indices (samples, n) and the number of targets with no candidate.

        Targets with an empty window draw from the whole pool (counted).
        """
        starts, lengths = self.runs(day, hour)
        cumulative = np.cumsum(lengths, axis=1)
        total = cumulative[:, -1]
        empty = total == 0
        u = np.floor(rng.random((samples, len(total))) * np.where(empty, 1, total)).astype(np.int64)
        which = (u[:, :, None] >= cumulative[None, :, :]).sum(axis=2)
        which = np.minimum(which, lengths.shape[1] - 1)
        before = cumulative - lengths
        columns = np.arange(len(total))[None, :]
        position = starts[columns, which] + (u - before[columns, which])
        index = self.order[np.clip(position, 0, self.size - 1)]
        if empty.any():
            index[:, empty] = rng.integers(0, self.size, (samples, int(empty.sum())))
        return index, int(empty.sum())


def resample_indices(pool_day, pool_hour, day, hour, samples: int,
                     parameters: str | ResamplingParameters, rng: np.random.Generator
                     ) -> tuple[np.ndarray, int]:
    """Indices (samples, n) into the met pool for n target hours, and the fallback count."""
    parameters = resampling_parameters(parameters)
    if parameters.scheme == "all":
        return rng.integers(0, len(pool_day), (samples, len(day))), 0
    if parameters.scheme != "constrained":
        raise NotFoundError("resampling scheme", parameters.scheme, SCHEMES)
    sampler = ConstrainedSampler(pool_day, pool_hour, parameters.window_days,
                                 parameters.window_hours)
    return sampler.draw(day, hour, samples, rng)


# --------------------------------------------------------------------------------------
# the normalisation
# --------------------------------------------------------------------------------------


@dataclass
class Normalisation:
    """Result of :func:`normalise`.

    Attributes
    ----------
    series : pandas.DataFrame
        time (UTC), observed, predicted (model with the hour's own weather),
        normalised (mean over the resamples) [unit of the observations].
    skill : dict
        Out-of-sample r2, rmse, bias, n_train, n_test (see :func:`block_skill`).
    features : list of str
        Explanatory variables of the model.
    model_parameters, resampling_parameters
        The named settings used.
    seed : int
    fallback_draws : int
        Target hours whose constrained window held no met hour (drawn from the
        whole record instead).
    resample_days : pandas.Index or None
        Beijing-time dates of ``resample_daily_means``.
    resample_daily_means : numpy.ndarray or None
        (K, days): the daily mean of each resample, for intervals.
    model : object
        The fitted scikit-learn model.
    """

    series: pd.DataFrame
    skill: dict
    features: list[str]
    model_parameters: ModelParameters
    resampling_parameters: ResamplingParameters
    seed: int
    fallback_draws: int = 0
    resample_days: pd.Index | None = None
    resample_daily_means: np.ndarray | None = None
    model: object = field(default=None, repr=False)

    def importance_variables(self) -> list[str]:
        """The meteorological variables of the model (for partial dependence plots)."""
        return [f for f in self.features if f in MET_VARIABLES]


def _check_inputs(times, values, met: pd.DataFrame, min_hours: int) -> None:
    problems = []
    if len(times) != len(values) or len(times) != len(met):
        problems.append(Problem("normalise", None, "time", f"{len(times)}/{len(values)}/"
                                f"{len(met)}", "length_mismatch",
                                "times, values and met must have one row per hour"))
    unknown = [c for c in met.columns if c not in MET_VARIABLES]
    for column in unknown:
        problems.append(Problem("normalise", None, column, "", "unknown_variable",
                                f"expected meteorological variables among "
                                f"{', '.join(MET_VARIABLES)}"))
    if not problems and len(met.columns) == 0:
        problems.append(Problem("normalise", None, "met", "", "no_meteorology",
                                "no meteorological variable given (wind, TEMP, RH, PRES ...)"))
    if problems:
        raise InputError(problems, "cannot normalise for the weather")
    usable = int((np.isfinite(np.asarray(values, dtype=float))
                  & met.notna().all(axis=1).to_numpy()).sum())
    if usable < min_hours:
        raise InputError([Problem("normalise", None, "value", str(usable), "too_few_hours",
                                  f"expected at least {min_hours} hours with a value and "
                                  "complete meteorology")], "cannot normalise for the weather")


def predict_resampled(model, base: np.ndarray, resampled_columns: list[int],
                      pool: np.ndarray, indices_of, rows: int, samples: int, *,
                      chunk_rows: int = 1_000_000, day_codes: np.ndarray | None = None,
                      n_days: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean prediction over resamples, one batched predict per chunk.

    Parameters
    ----------
    model : fitted regressor
    base : numpy.ndarray (rows, p)
        Explanatory variables of the target hours (the resampled columns are replaced).
    resampled_columns : list of int
        Columns of ``base`` taken from the pool.
    pool : numpy.ndarray (pool rows, len(resampled_columns))
        The met record (and time variables when those are resampled).
    indices_of : callable(start, stop) -> numpy.ndarray (samples, stop - start)
        Pool indices of the targets start..stop.
    chunk_rows : int
        Rows per predict call (samples × targets per chunk).
    day_codes : numpy.ndarray (rows,), optional
        Non-decreasing day number of each target: also return each resample's daily
        sums (samples, n_days).

    Returns
    -------
    (numpy.ndarray (rows,), numpy.ndarray (samples, n_days) or None)
        Mean over the resamples; daily sums per resample.
    """
    step = max(1, chunk_rows // max(samples, 1))
    with threads():
        return _predict_chunks(model, base, resampled_columns, pool, indices_of, rows, samples,
                               step, day_codes, n_days)


def _predict_chunks(model, base, resampled_columns, pool, indices_of, rows, samples, step,
                    day_codes, n_days):
    mean = np.empty(rows)
    daily = np.zeros((samples, n_days)) if day_codes is not None else None
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        index = indices_of(start, stop)  # (samples, m)
        block = np.repeat(base[start:stop][None, :, :], samples, axis=0)  # (samples, m, p)
        block[:, :, resampled_columns] = pool[index]
        predicted = model.predict(block.reshape(-1, base.shape[1])).reshape(samples, -1)
        mean[start:stop] = predicted.mean(axis=0)
        if daily is not None:
            codes = day_codes[start:stop]
            cuts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
            daily[:, codes[cuts]] += np.add.reduceat(predicted, cuts, axis=1)
    return mean, daily


def _prepare(times, values, met: pd.DataFrame, min_hours: int):
    met = met.reset_index(drop=True)
    _check_inputs(times, values, met, min_hours)
    met = met[[c for c in MET_VARIABLES if c in met.columns]]
    met = met.loc[:, met.notna().any()]
    clock = time_variables(times)
    frame = pd.concat([clock, met.astype(float)], axis=1)
    frame["observed"] = np.asarray(values, dtype=float)
    order = np.argsort(clock["date_unix"].to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(times)[order], utc=True))
    return frame, list(TIME_VARIABLES) + list(met.columns), stamps


def normalise(times, values, met: pd.DataFrame, *, model: str | ModelParameters = "deweather",
              resampling: str | ResamplingParameters = "deweather", seed: int = 0,
              samples: int | None = None, skill: bool = True, chunk_rows: int = 1_000_000,
              keep_resamples: bool = True, min_hours: int = 200,
              fitted=None) -> Normalisation:
    """Normalise one hourly series for the weather.

    Parameters
    ----------
    times : array_like of datetime (n,)
        Hour of each value (naive = UTC).
    values : array_like (n,)
        Observed concentrations [µg/m³; CO mg/m³]; NaN where missing.
    met : pandas.DataFrame (n rows)
        Meteorology of each hour, columns among :data:`MET_VARIABLES`.
    model : str or ModelParameters
        Named model setting (:data:`MODEL_PARAMETERS`).
    resampling : str or ResamplingParameters
        Named resampling setting (:data:`RESAMPLING_PARAMETERS`).
    seed : int
        Seed of the model and of the draws.
    samples : int, optional
        Number of resamples K (default: the setting's).
    skill : bool
        Compute the out-of-sample skill (one more fit).
    chunk_rows : int
        Rows per batched predict.
    keep_resamples : bool
        Keep each resample's daily means (for intervals).
    min_hours : int
        Fewest usable hours (value and complete met).
    fitted : fitted regressor, optional
        Reuse a model fitted on the same data and settings (no fit, no skill).

    Returns
    -------
    Normalisation

    References
    ----------
    Grange et al. (2018), ACP 18, 6223; deweather ``simulate_dw_met``.
    """
    model_set = model_parameters(model)
    resampling_set = resampling_parameters(resampling)
    samples = int(samples or resampling_set.samples)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    frame, features, stamps = _prepare(times, values, met, min_hours)
    met_columns = [f for f in features if f not in TIME_VARIABLES]
    complete = frame[met_columns].notna().all(axis=1).to_numpy()
    train = complete & np.isfinite(frame["observed"].to_numpy())
    x = frame[features].to_numpy(dtype=float)
    y = frame["observed"].to_numpy(dtype=float)
    scores = (block_skill(x[train], y[train], x[train, 0], model_set, seed=seed)
              if skill and fitted is None else {})
    if fitted is None:
        fitted = make_estimator(model_set, seed)
        with threads():
            fitted.fit(x[train], y[train])

    resampled = list(met_columns)
    if resampling_set.resample_time:
        resampled = [f for f in features if f != "date_unix"]
    columns = [features.index(c) for c in resampled]
    pool = x[complete][:, columns]
    pool_day = frame.loc[complete, "day_of_year"].to_numpy()
    pool_hour = frame.loc[complete, "hour"].to_numpy()
    targets = np.flatnonzero(np.isfinite(y))
    rng = np.random.default_rng(seed)
    sampler = None
    if resampling_set.scheme == "constrained":
        sampler = ConstrainedSampler(pool_day, pool_hour, resampling_set.window_days,
                                     resampling_set.window_hours)
    elif resampling_set.scheme != "all":
        raise NotFoundError("resampling scheme", resampling_set.scheme, SCHEMES)
    day = frame["day_of_year"].to_numpy()[targets]
    hour = frame["hour"].to_numpy()[targets]
    fallback = 0

    def indices_of(start, stop):
        nonlocal fallback
        if sampler is None:
            return rng.integers(0, len(pool), (samples, stop - start))
        index, empty = sampler.draw(day[start:stop], hour[start:stop], samples, rng)
        fallback += empty
        return index

    local_days = stamps[targets].tz_convert("Asia/Shanghai").normalize()
    day_index = pd.Index(local_days.unique())
    codes = day_index.get_indexer(local_days) if keep_resamples else None
    mean, daily = predict_resampled(fitted, x[targets], columns, pool, indices_of,
                                    len(targets), samples, chunk_rows=chunk_rows,
                                    day_codes=codes, n_days=len(day_index))
    normalised = np.full(len(frame), np.nan)
    normalised[targets] = mean
    predicted = np.full(len(frame), np.nan)
    with threads():
        predicted[complete] = fitted.predict(x[complete])
    series = pd.DataFrame({"time": stamps, "observed": y, "predicted": predicted,
                           "normalised": normalised})
    resample_days = resample_means = None
    if keep_resamples:
        counts = np.bincount(codes, minlength=len(day_index))
        resample_means = daily / np.maximum(counts, 1)[None, :]
        resample_days = pd.Index(day_index.date)
    return Normalisation(series, scores, features, model_set, resampling_set, seed, fallback,
                         resample_days, resample_means, fitted)


def normalise_naive(times, values, met: pd.DataFrame, *, model="deweather",
                    resampling="deweather", seed: int = 0, samples: int | None = None,
                    fitted=None) -> np.ndarray:
    """The same normalisation done naively: a loop over resamples and over hours.

    For each resample a copy of the data frame gets, hour by hour, the met of a
    random candidate hour (``numpy.random.Generator.choice`` over the hour's
    window, the window's candidates cached per day and hour), then one predict.
    This is a direct Python port of deweather's ``doPred`` loop; it is kept as the
    benchmark's baseline and gives the same distribution of draws as
    :class:`ConstrainedSampler`.

    Returns
    -------
    numpy.ndarray
        The normalised values of the hours with an observation, in time order.
    """
    model_set = model_parameters(model)
    resampling_set = resampling_parameters(resampling)
    samples = int(samples or resampling_set.samples)
    frame, features, _ = _prepare(times, values, met, 1)
    met_columns = [f for f in features if f not in TIME_VARIABLES]
    complete = frame[met_columns].notna().all(axis=1).to_numpy()
    y = frame["observed"].to_numpy(dtype=float)
    train = complete & np.isfinite(y)
    if fitted is None:
        with threads():
            fitted = make_estimator(model_set, seed).fit(frame.loc[train, features].to_numpy(),
                                                          y[train])
    pool = frame.loc[complete].reset_index(drop=True)
    targets = frame.loc[np.isfinite(y)].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, int], np.ndarray] = {}
    w_d, w_h = resampling_set.window_days, resampling_set.window_hours
    pool_day = pool["day_of_year"].to_numpy()
    pool_hour = pool["hour"].to_numpy()
    total = np.zeros(len(targets))
    for _ in range(samples):
        chosen = []
        for d, h in zip(targets["day_of_year"].astype(int), targets["hour"].astype(int),
                        strict=True):
            if resampling_set.scheme == "all":
                chosen.append(int(rng.integers(0, len(pool))))
                continue
            key = (d, h)
            if key not in cache:
                day_distance = np.abs(pool_day - d)
                day_distance = np.minimum(day_distance, _DAYS - day_distance)
                hour_distance = np.abs(pool_hour - h)
                hour_distance = np.minimum(hour_distance, 24 - hour_distance)
                cache[key] = np.flatnonzero((day_distance <= w_d) & (hour_distance <= w_h))
            candidates = cache[key]
            chosen.append(int(rng.choice(candidates)) if len(candidates)
                          else int(rng.integers(0, len(pool))))
        copy = targets[features].copy()
        columns = met_columns if not resampling_set.resample_time else [
            f for f in features if f != "date_unix"]
        copy[columns] = pool[columns].iloc[chosen].to_numpy()
        with threads():
            total += fitted.predict(copy.to_numpy())
    return total / samples
