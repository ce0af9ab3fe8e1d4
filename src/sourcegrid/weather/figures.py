"""Figures for reports: observed and normalised series, partial dependence.

Drawn with matplotlib's Agg backend (no display, nothing fetched), written to
PNG beside the target and renamed into place.

* :func:`series_figure` -- monthly means of the observed and the
  weather-normalised series (and the daily normalised series, thin);
* :func:`partial_dependence_figure` -- partial dependence of the model on its
  main meteorological variables (``sklearn.inspection.partial_dependence``,
  averaged over a random subsample of the hours), as rmweather's
  ``rmw_partial_dependencies`` and deweather's ``plot_dw_partial_1d`` show them;
  the main variables are those with the largest permutation importance
  (``sklearn.inspection.permutation_importance``, R² drop) on the same subsample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["series_figure", "partial_dependence_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    """Save the figure atomically (:func:`sourcegrid.io.tables.atomic_path`)."""
    from sourcegrid.io.tables import atomic_path

    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    return path


def series_figure(normalisation, path, *, title: str = "", unit: str = "µg/m³") -> Path:
    """Observed and normalised monthly means (and daily normalised values) to a PNG."""
    from sourcegrid.weather.trend import daily_means, monthly_means

    plt = _pyplot()
    series = normalisation.series
    figure, axis = plt.subplots(figsize=(9, 3.6))
    daily = daily_means(series["time"], series["normalised"])
    axis.plot(pd.to_datetime(daily.index), daily.to_numpy(), color="#9ecae1", lw=0.6,
              label="normalised, daily")
    for name, colour in (("observed", "#636363"), ("normalised", "#08519c")):
        monthly = monthly_means(series["time"], series[name])
        axis.plot(monthly.index, monthly.to_numpy(), color=colour, lw=1.8, marker="o", ms=2.5,
                  label=f"{name}, monthly mean")
    axis.set_ylabel(unit)
    skill = normalisation.skill
    note = (f"out-of-sample R² {skill['r2']:.2f}, RMSE {skill['rmse']:.1f}"
            if skill and np.isfinite(skill.get("r2", np.nan)) else "")
    axis.set_title(f"{title}  {note}".strip(), fontsize=10)
    axis.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    out = _save(figure, path)
    plt.close(figure)
    return out


def partial_dependence_figure(normalisation, met: pd.DataFrame, path, *, variables=None,
                              rows: int = 2000, seed: int = 0, title: str = "") -> Path:
    """Partial dependence of the model on its main variables, to a PNG.

    Parameters
    ----------
    normalisation : sourcegrid.weather.normalise.Normalisation
    met : pandas.DataFrame
        The met table the model was fitted with (rows aligned with
        ``normalisation.series``, i.e. sorted by time).
    variables : list of str, optional
        Variables to show (default: the four most important).
    """
    from sklearn.inspection import partial_dependence, permutation_importance

    from sourcegrid.weather.features import time_variables

    plt = _pyplot()
    series = normalisation.series.reset_index(drop=True)
    frame = pd.concat([time_variables(series["time"]), met.reset_index(drop=True)], axis=1)
    usable = frame[normalisation.features].notna().all(axis=1) & series["observed"].notna()
    frame = frame.loc[usable]
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=seed)
    x = frame[normalisation.features].to_numpy(dtype=float)
    if variables is None:
        y = series.loc[frame.index, "observed"].to_numpy()
        importance = permutation_importance(normalisation.model, x, y, n_repeats=3,
                                            random_state=seed).importances_mean
        order = np.argsort(importance)[::-1]
        variables = [normalisation.features[i] for i in order[:4]]
    figure, axes = plt.subplots(1, len(variables), figsize=(3.0 * len(variables), 3.0),
                                squeeze=False)
    for axis, name in zip(axes[0], variables, strict=True):
        column = normalisation.features.index(name)
        result = partial_dependence(normalisation.model, x, [column], grid_resolution=20,
                                    kind="average")
        grid = result["grid_values"][0]
        if name == "date_unix":
            grid = pd.to_datetime(grid, unit="s")
        axis.plot(grid, result["average"][0], color="#08519c")
        axis.set_xlabel(name, fontsize=9)
        axis.tick_params(labelsize=7)
        if name == "date_unix":
            axis.tick_params(axis="x", rotation=45)
    axes[0][0].set_ylabel("partial dependence")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    out = _save(figure, path)
    plt.close(figure)
    return out
