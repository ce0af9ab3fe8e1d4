"""Wind statistics for source tracing, as openair defines them.

Three tables, all pandas DataFrames, all vectorised (NumPy ``bincount``):

- :func:`wind_rose` -- share of readings per direction sector × speed bin, calms
  counted apart (openair ``windRose``);
- :func:`polar_table` -- mean (or median, max, count) concentration per direction
  sector × speed bin (the binned form of openair ``polarFreq``/``polarPlot``);
- :func:`cpf` -- the conditional probability function (openair ``polarPlot``/
  ``polarFreq`` with ``statistic = "cpf"`` / ``"cpfi"``).

Definitions
-----------
Directions are degrees the wind blows **from** (0 = north, clockwise). A sector of
width ``sector`` is centred on multiples of ``sector`` (0, 30, ..., 330 for 30°); a
direction ``d`` falls in sector ``ceil(d / sector - 0.5) mod n``, openair's rounding
``angle * ceiling(wd / angle - 0.5)``: a direction exactly half-way between two centres
goes to the lower one (15° → the 0° sector, 15.01° → 30°).

Calms (wind rose): readings with ``wind_speed < calm_threshold``, or ``wind_speed == 0``
when the threshold is 0 (openair's ``calm.thresh``, default 0: "calm when the wind
speed is zero"; ``calm.thresh = 0.5`` marks speeds **below** 0.5 as calm). Shares are of
all readings with a speed and a direction, calms included, so the sector shares and
the calm share add up to 1.

CPF: with P = the overall ``percentile``-th percentile of the concentration (R's
default quantile, type 7 = linear interpolation between order statistics, NumPy's
``method='linear'``), CPF of a sector (or sector × speed bin) = m / n, where n is the
number of readings in the bin and m those with C > P (**strictly** above). With
``upper`` = p2 the interval form counts P(p1) < C ≤ P(p2) (openair ``cpfi``). With an
absolute ``threshold`` it counts C > threshold (and C ≤ ``upper`` read as an absolute
concentration). The percentile is taken over every reading with a concentration and a
direction (openair takes it over the whole data set before binning).

Limits
------
Sector statistics use point readings at one place: a source upwind in a sector is a
direction, not a location; a distance needs a second place (triangulation) or a
dispersion model (:mod:`sourcegrid.tracing.dispersion`). Bins with few readings give
noisy CPF values: the ``n`` column says how many readings each value rests on.

References
----------
Carslaw, D. C. and Ropkins, K. (2012). openair -- an R package for air quality data
analysis. Environmental Modelling & Software 27-28, 52-61 (``windRose``, ``polarFreq``,
``polarPlot``; source at github.com/openair-project/openair, ``R/polarPlot.R``: ``cpf``
as ``length(which(x > Pval)) / length(x)``, ``cpfi`` as ``x > Pval[1] & x <= Pval[2]``).
Ashbaugh, L. L., Malm, W. C. and Sadeh, W. Z. (1985). A residence time probability
analysis of sulfur concentrations at Grand Canyon National Park. Atmospheric
Environment 19(8), 1263-1270 (the conditional probability function).
Uria-Tellaetxe, I. and Carslaw, D. C. (2014). Conditional bivariate probability
function for source identification. Environmental Modelling & Software 59, 1-9.
Hyndman, R. J. and Fan, Y. (1996). Sample quantiles in statistical packages. The
American Statistician 50(4), 361-365 (type 7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sourcegrid.errors import SourcegridError

__all__ = [
    "DEFAULT_SPEED_BREAKS",
    "COMPASS_16",
    "sector_index",
    "sector_centres",
    "speed_bin_index",
    "wind_rose",
    "polar_table",
    "cpf",
    "compass_name",
    "mean_wind_by",
]

#: Speed bin edges [m/s] of the wind rose and the polar table (openair's ``ws.int = 2``
#: with 4 intervals, the last open-ended): [0, 2), [2, 4), [4, 6), [6, ∞).
DEFAULT_SPEED_BREAKS: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0)
#: 16-point compass names, clockwise from north.
COMPASS_16 = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW",
              "W", "WNW", "NW", "NNW")
STATISTICS = ("mean", "median", "max", "count", "weighted_mean")


class WindError(SourcegridError, ValueError):
    """A wind statistic asked with options outside their domain."""


def _check_sector(sector: float) -> int:
    sector = float(sector)
    if not (0 < sector <= 180) or abs(360.0 / sector - round(360.0 / sector)) > 1e-9:
        raise WindError(f"sector must divide 360 (e.g. 10, 22.5, 30, 45), got {sector}")
    return int(round(360.0 / sector))


def _check_breaks(speed_breaks: Sequence[float]) -> np.ndarray:
    breaks = np.asarray(speed_breaks, dtype=float)
    if breaks.ndim != 1 or len(breaks) < 1 or not np.all(np.isfinite(breaks)):
        raise WindError(f"speed_breaks must be finite numbers, got {list(speed_breaks)}")
    if np.any(np.diff(breaks) <= 0) or breaks[0] < 0:
        raise WindError(f"speed_breaks must increase from ≥ 0, got {list(speed_breaks)}")
    return breaks


def sector_index(wind_direction, sector: float = 30.0) -> np.ndarray:
    """Sector number (0 = centred on north) of each direction; -1 where missing.

    Parameters
    ----------
    wind_direction : array_like
        Direction the wind blows from [degree, 0-360].
    sector : float
        Sector width [degree]; must divide 360.

    Returns
    -------
    numpy.ndarray of int64
        ``ceil(d / sector - 0.5) mod (360 / sector)`` (openair's rounding), -1 for NaN.
    """
    count = _check_sector(sector)
    direction = np.asarray(wind_direction, dtype=float)
    valid = np.isfinite(direction)
    with np.errstate(invalid="ignore"):
        index = np.ceil(np.where(valid, direction, 0.0) % 360.0 / sector - 0.5)
    index = index.astype(np.int64) % count
    return np.where(valid, index, -1)


def sector_centres(sector: float = 30.0) -> np.ndarray:
    """Centres of the sectors [degree]: 0, sector, 2·sector, ..."""
    return np.arange(_check_sector(sector)) * float(sector)


def compass_name(direction) -> np.ndarray:
    """16-point compass names (N, NNE, ...) of directions [degree]; '' where missing."""
    index = sector_index(direction, 22.5)
    names = np.asarray(COMPASS_16 + ("",), dtype=object)
    return names[np.where(index < 0, 16, index)]


def speed_bin_index(wind_speed, speed_breaks: Sequence[float] = DEFAULT_SPEED_BREAKS
                    ) -> np.ndarray:
    """Speed bin of each speed: bin i is [break_i, break_{i+1}), the last is open; -1 below
    the first break or missing."""
    breaks = _check_breaks(speed_breaks)
    speed = np.asarray(wind_speed, dtype=float)
    with np.errstate(invalid="ignore"):
        index = np.searchsorted(breaks, np.where(np.isfinite(speed), speed, -1.0),
                                side="right") - 1
    return np.where(np.isfinite(speed), index, -1).astype(np.int64)


def _speed_labels(breaks: np.ndarray) -> list[str]:
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(breaks[:-1], breaks[1:], strict=True)]
    return labels + [f"≥{breaks[-1]:g}"]


def wind_rose(wind_speed, wind_direction, *, sector: float = 30.0,
              speed_breaks: Sequence[float] = DEFAULT_SPEED_BREAKS,
              calm_threshold: float = 0.0) -> pd.DataFrame:
    """Wind rose: share of readings per direction sector and speed bin, calms apart.

    Parameters
    ----------
    wind_speed : array_like
        Wind speed [m/s].
    wind_direction : array_like
        Direction the wind blows from [degree].
    sector : float
        Sector width [degree] (default 30, openair's ``angle``).
    speed_breaks : sequence of float
        Lower edges of the speed bins [m/s]; the last bin is open-ended.
    calm_threshold : float
        Speeds below it are calm [m/s]; 0 (default) makes only ``wind_speed == 0`` calm.

    Returns
    -------
    pandas.DataFrame
        One row per sector × speed bin (sector_deg, direction (16-point name for
        22.5° multiples), speed_bin, speed_low, speed_high [m/s], count, share) and a last
        row with ``speed_bin = 'calm'`` (sector_deg NaN). ``share`` is of all readings
        with both values, so the shares add up to 1; ``frame.attrs`` holds ``n`` and
        ``calm_share``.

    References
    ----------
    openair ``windRose`` (Carslaw and Ropkins 2012), ``calm.thresh`` and ``angle``.
    """
    count_sectors = _check_sector(sector)
    breaks = _check_breaks(speed_breaks)
    calm_threshold = float(calm_threshold)
    if not (np.isfinite(calm_threshold) and calm_threshold >= 0):
        raise WindError(f"calm_threshold must be ≥ 0 m/s, got {calm_threshold}")
    speed = np.asarray(wind_speed, dtype=float).ravel()
    direction = np.asarray(wind_direction, dtype=float).ravel()
    if speed.shape != direction.shape:
        raise WindError(f"wind_speed and wind_direction differ in length "
                        f"({speed.size} and {direction.size})")
    valid = np.isfinite(speed) & np.isfinite(direction) & (speed >= 0)
    speed, direction = speed[valid], direction[valid]
    calm = speed <= 0 if calm_threshold == 0 else speed < calm_threshold
    sectors = sector_index(direction[~calm], sector)
    bins = np.clip(speed_bin_index(speed[~calm], breaks), 0, None)
    nbins = len(breaks)
    counts = np.bincount(sectors * nbins + bins, minlength=count_sectors * nbins)
    total = max(int(valid.sum()), 1)
    centres = np.repeat(sector_centres(sector), nbins)
    highs = np.append(breaks[1:], np.inf)
    frame = pd.DataFrame({
        "sector_deg": centres,
        "direction": _direction_names(centres),
        "speed_bin": np.tile(_speed_labels(breaks), count_sectors),
        "speed_low": np.tile(breaks, count_sectors),
        "speed_high": np.tile(highs, count_sectors),
        "count": counts.astype(np.int64),
    })
    calm_row = pd.DataFrame({"sector_deg": [np.nan], "direction": [""], "speed_bin": ["calm"],
                             "speed_low": [0.0], "speed_high": [calm_threshold],
                             "count": [int(calm.sum())]})
    frame = pd.concat([frame, calm_row], ignore_index=True)
    frame["share"] = frame["count"] / total if valid.any() else 0.0
    frame.attrs.update(n=int(valid.sum()), calm_share=float(calm.sum() / total))
    return frame


def _direction_names(centres: np.ndarray) -> np.ndarray:
    names = compass_name(centres)
    exact = np.isclose(np.asarray(centres) % 22.5, 0.0)
    return np.where(exact, names, "")


def polar_table(concentration, wind_speed, wind_direction, *, sector: float = 30.0,
                speed_breaks: Sequence[float] = DEFAULT_SPEED_BREAKS,
                statistic: str = "mean", min_count: int = 1) -> pd.DataFrame:
    """Concentration by wind direction sector and speed bin (binned polar plot).

    Parameters
    ----------
    concentration : array_like
        Concentration [µg/m³] at the receptor, one value per reading.
    wind_speed, wind_direction : array_like
        Wind speed [m/s] and direction it blows from [degree], same length.
    sector : float
        Sector width [degree].
    speed_breaks : sequence of float
        Lower edges of the speed bins [m/s] (last open-ended).
    statistic : {'mean', 'median', 'max', 'count', 'weighted_mean'}
        Per-bin statistic; 'weighted_mean' is mean × n / N, each bin's share of the
        total concentration (openair ``polarFreq(statistic = "weighted.mean")``).
    min_count : int
        Bins with fewer readings get NaN (openair ``min.bin``).

    Returns
    -------
    pandas.DataFrame
        sector_deg, direction, speed_bin, speed_low, speed_high, count, value.
    """
    if statistic not in STATISTICS:
        from sourcegrid.errors import NotFoundError

        raise NotFoundError("polar statistic", statistic, STATISTICS)
    if int(min_count) < 1:
        raise WindError(f"min_count must be ≥ 1, got {min_count}")
    count_sectors = _check_sector(sector)
    breaks = _check_breaks(speed_breaks)
    value = np.asarray(concentration, dtype=float).ravel()
    speed = np.asarray(wind_speed, dtype=float).ravel()
    direction = np.asarray(wind_direction, dtype=float).ravel()
    if not (value.shape == speed.shape == direction.shape):
        raise WindError("concentration, wind_speed and wind_direction differ in length")
    sectors = sector_index(direction, sector)
    bins = speed_bin_index(speed, breaks)
    valid = np.isfinite(value) & (sectors >= 0) & (bins >= 0)
    nbins = len(breaks)
    key = sectors[valid] * nbins + bins[valid]
    size = count_sectors * nbins
    counts = np.bincount(key, minlength=size)
    values = value[valid]
    if statistic in ("mean", "weighted_mean"):
        sums = np.bincount(key, weights=values, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            result = sums / counts
        if statistic == "weighted_mean":
            result = result * counts / max(len(values), 1)
    elif statistic == "count":
        result = counts.astype(float)
    else:
        frame = pd.DataFrame({"key": key, "value": values})
        grouped = frame.groupby("key")["value"].agg(statistic)
        result = np.full(size, np.nan)
        result[grouped.index.to_numpy()] = grouped.to_numpy()
    result = np.where(counts >= int(min_count), result, np.nan)
    if statistic == "count":
        result = np.where(counts >= int(min_count), counts, 0).astype(float)
    centres = np.repeat(sector_centres(sector), nbins)
    return pd.DataFrame({
        "sector_deg": centres,
        "direction": _direction_names(centres),
        "speed_bin": np.tile(_speed_labels(breaks), count_sectors),
        "speed_low": np.tile(breaks, count_sectors),
        "speed_high": np.tile(np.append(breaks[1:], np.inf), count_sectors),
        "count": counts.astype(np.int64),
        "value": result,
    })


def cpf(concentration, wind_direction, *, percentile: float = 75.0, sector: float = 30.0,
        wind_speed=None, upper: float | None = None, threshold: float | None = None,
        speed_breaks: Sequence[float] = DEFAULT_SPEED_BREAKS) -> pd.DataFrame:
    """Conditional probability function (CPF) per wind sector (or sector × speed bin).

    Parameters
    ----------
    concentration : array_like
        Concentration [µg/m³], one value per reading.
    wind_direction : array_like
        Direction the wind blows from [degree].
    percentile : float
        Overall percentile (0-100) whose value P the concentration must exceed
        (strictly); type-7 quantile over all readings with a concentration and a
        direction. Default 75.
    sector : float
        Sector width [degree] (must divide 360). Default 30.
    wind_speed : array_like, optional
        Wind speed [m/s]; when given, bins are sector × speed bin (bivariate CPF).
    upper : float, optional
        Upper percentile p2 (> ``percentile``): counts P(p1) < C ≤ P(p2) (openair
        ``cpfi``). With ``threshold`` it is an absolute upper concentration [µg/m³].
    threshold : float, optional
        Absolute concentration [µg/m³] instead of a percentile: counts C > threshold.
    speed_breaks : sequence of float
        Speed bin edges [m/s] when ``wind_speed`` is given.

    Returns
    -------
    pandas.DataFrame
        sector_deg, direction, (speed_bin, speed_low, speed_high when ``wind_speed`` is
        given), n (readings in the bin), m (readings above), cpf = m / n (NaN where
        n = 0), lower and upper [µg/m³] (the concentration bounds used). ``attrs`` holds
        ``lower``, ``upper`` and ``n``.

    References
    ----------
    openair ``polarPlot`` (``statistic = "cpf"`` and ``"cpfi"``), Carslaw and Ropkins
    (2012); Ashbaugh et al. (1985); Uria-Tellaetxe and Carslaw (2014).
    """
    count_sectors = _check_sector(sector)
    value = np.asarray(concentration, dtype=float).ravel()
    direction = np.asarray(wind_direction, dtype=float).ravel()
    if value.shape != direction.shape:
        raise WindError(f"concentration and wind_direction differ in length "
                        f"({value.size} and {direction.size})")
    if threshold is None:
        if not 0 <= float(percentile) <= 100:
            raise WindError(f"percentile must be in [0, 100], got {percentile}")
        if upper is not None and not float(percentile) < float(upper) <= 100:
            raise WindError(f"upper must be a percentile in (percentile, 100], got {upper}")
    elif not np.isfinite(float(threshold)):
        raise WindError(f"threshold must be a number, got {threshold}")
    elif upper is not None and not float(upper) > float(threshold):
        raise WindError(f"upper ({upper}) must be above threshold ({threshold})")
    sectors = sector_index(direction, sector)
    valid = np.isfinite(value) & (sectors >= 0)
    nbins = 1
    bins = np.zeros(value.shape, dtype=np.int64)
    if wind_speed is not None:
        breaks = _check_breaks(speed_breaks)
        speed = np.asarray(wind_speed, dtype=float).ravel()
        if speed.shape != value.shape:
            raise WindError("wind_speed and concentration differ in length")
        bins = speed_bin_index(speed, breaks)
        valid &= bins >= 0
        nbins = len(breaks)
    values = value[valid]
    if threshold is not None:
        lower = float(threshold)
        high = float(upper) if upper is not None else np.inf
    elif values.size:
        lower = float(np.percentile(values, float(percentile), method="linear"))
        high = (float(np.percentile(values, float(upper), method="linear"))
                if upper is not None else np.inf)
    else:
        lower, high = np.nan, np.nan
    above = (values > lower) & (values <= high) if np.isfinite(high) else values > lower
    key = sectors[valid] * nbins + bins[valid]
    size = count_sectors * nbins
    n = np.bincount(key, minlength=size)
    m = np.bincount(key, weights=above.astype(float), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = np.where(n > 0, m / np.maximum(n, 1), np.nan)
    centres = np.repeat(sector_centres(sector), nbins)
    frame = pd.DataFrame({"sector_deg": centres, "direction": _direction_names(centres)})
    if wind_speed is not None:
        frame["speed_bin"] = np.tile(_speed_labels(breaks), count_sectors)
        frame["speed_low"] = np.tile(breaks, count_sectors)
        frame["speed_high"] = np.tile(np.append(breaks[1:], np.inf), count_sectors)
    frame["n"] = n.astype(np.int64)
    frame["m"] = m.astype(np.int64)
    frame["cpf"] = probability
    frame["lower"] = lower
    frame["upper"] = high
    frame.attrs.update(lower=lower, upper=high, n=int(valid.sum()))
    return frame


def mean_wind_by(keys, wind_speed, wind_direction, weights=None) -> pd.DataFrame:
    """Average wind per group (e.g. per hour): scalar mean speed, vector mean direction.

    The one rule of sourcegrid for averaging wind (tracing, weather normalisation,
    reports all call this function):

    - speed: the (weighted) scalar mean of the speeds, as openair's ``timeAverage``
      does;
    - direction: that of the (weighted) mean wind vector (components u = ws·sin θ,
      v = ws·cos θ averaged, θ = atan2(ū, v̄)), so 350° and 10° average to 0°, never to
      the arithmetic 180°;
    - calm: when the mean vector is zero (every speed 0, or readings that cancel) the
      direction is undefined and is NaN, never an arbitrary 0° or 180°; the speed stays
      (0 for a calm hour). Code that needs a direction leaves such hours out (a plume
      has no downwind direction in a calm; a weather model has no direction to learn).

    Vectorised (one groupby of the components).

    Parameters
    ----------
    keys : array_like or DataFrame
        Group of each reading (e.g. the hour it falls in), or several key columns
        (e.g. unit and hour) as a DataFrame.
    wind_speed, wind_direction : array_like
        Speeds [m/s] and directions the wind blows from [degree]; a reading with either
        missing is left out.
    weights : array_like, optional
        Weight of each reading (e.g. inverse squared distance of its site); readings
        with a weight that is not positive and finite are left out.

    Returns
    -------
    DataFrame
        One row per group (sorted): the key (column ``key``, or the key columns of a
        DataFrame), wind_speed [m/s] (scalar mean), wind_dir [degree from north,
        clockwise] (vector mean; NaN when the mean vector is zero), vector_speed [m/s]
        (magnitude of the mean vector).

    References
    ----------
    Carslaw, D. C. and Ropkins, K. (2012). openair -- an R package for air quality data
    analysis. Environmental Modelling & Software 27-28, 52-61 (``timeAverage``: wind
    direction averaged as a vector).
    """
    speed = np.asarray(wind_speed, dtype=float)
    theta = np.deg2rad(np.asarray(wind_direction, dtype=float))
    weight = (np.ones_like(speed) if weights is None
              else np.broadcast_to(np.asarray(weights, dtype=float), speed.shape))
    if isinstance(keys, pd.DataFrame):
        names = list(keys.columns)
        frame = keys.reset_index(drop=True).copy()
    else:
        names = ["key"]
        frame = pd.DataFrame({"key": np.asarray(keys)})
    frame["_w"] = weight
    frame["_speed"] = weight * speed
    frame["_east"] = weight * speed * np.sin(theta)
    frame["_north"] = weight * speed * np.cos(theta)
    valid = np.isfinite(speed) & np.isfinite(theta) & np.isfinite(weight) & (weight > 0)
    frame = frame.loc[valid]
    sums = frame.groupby(names, sort=True)[["_w", "_speed", "_east", "_north"]].sum()
    total = sums["_w"].to_numpy()
    east = sums["_east"].to_numpy() / total
    north = sums["_north"].to_numpy() / total
    magnitude = np.hypot(east, north)
    direction = np.round(np.rad2deg(np.arctan2(east, north)), 9)  # no 360.0
    calm = magnitude <= 1e-12 * np.maximum(sums["_speed"].to_numpy() / total, 1.0)
    out = sums.index.to_frame(index=False)
    out["wind_speed"] = sums["_speed"].to_numpy() / total
    out["wind_dir"] = np.where(calm, np.nan, direction % 360.0)
    out["vector_speed"] = np.where(calm, 0.0, magnitude)
    return out[names + ["wind_speed", "wind_dir", "vector_speed"]]
