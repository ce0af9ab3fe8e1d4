"""Hotspot cells on weather-normalised values, and how the list changes.

The national '千里眼计划' picks its hotspot cells from PM2.5 after removing the
weather's share. :func:`normalised_cell_hours` turns the workspace's
``cell_hours`` of one pollutant into the same table with each value replaced by
its weather-adjusted value (one pooled model over the grid's cells, see
:func:`sourcegrid.weather.panel.normalise_pooled`): the observation minus the
model's weather anomaly of that hour,

    adjusted = observed − f(T, M(t)) + mean_k f(T, M(s_k(t))),

i.e. the weather-normalised value plus the residual the model does not explain.
Ranking on the pure normalised value f̄ would rank the model's picture of the
cells, which a few hundred shallow trees smooth over neighbouring cells; the
adjusted value keeps every cell's own level and takes out only what the weather
did. Every hotspot method of :mod:`sourcegrid.grid.hotspots` then runs on it
unchanged.
:func:`compare_lists` says which cells enter or leave the list compared with
the ranking on the values as measured.

The model is fitted on the period asked for (for the monthly lists: from the
same month a year before to the end of the month), so the weather of that
period is what is averaged over.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["normalised_cell_hours", "normalised_hours_for", "weather_changes",
           "training_window", "raw_hotspots", "compare_lists",
           "CHANGES_TABLE"]

#: Workspace table of the cells that enter or leave the list.
CHANGES_TABLE = "hotspots_weather_changes"


def training_window(method: str, start, end):
    """The period the model is fitted on, for a hotspot method and its period."""
    from sourcegrid.grid.hotspots import month_bounds, to_utc

    if method == "monthly":
        month = pd.Timestamp(start).strftime("%Y-%m")
        low, _ = month_bounds(month, -12)
        _, high = month_bounds(month)
        return low, high
    return to_utc(start), to_utc(end)


def normalised_cell_hours(workspace, pollutant: str, start, end, *, model="deweather",
                          resampling="deweather", seed: int = 0, samples: int | None = None
                          ) -> tuple[pd.DataFrame, dict]:
    """``cell_hours`` of a pollutant over [start, end) with weather-normalised values.

    Returns
    -------
    (pandas.DataFrame, dict)
        cell_id, row, col, time, pollutant, value (weather-adjusted), observed,
        predicted; and the model's skill and settings.
    """
    from sourcegrid.weather.inputs import cell_series_from_workspace
    from sourcegrid.weather.panel import normalise_pooled

    series = cell_series_from_workspace(workspace, pollutant, start, end)
    result, skill = normalise_pooled(series, model=model, resampling=resampling, seed=seed,
                                     samples=samples)
    hours = result.drop(columns="normalised").rename(columns={"unit": "cell_id",
                                                              "adjusted": "value"})
    hours["pollutant"] = pollutant
    hours["row"] = hours["row"].astype("int64")
    hours["col"] = hours["col"].astype("int64")
    return hours[["cell_id", "row", "col", "time", "pollutant", "value", "observed",
                  "predicted"]], skill


def raw_hotspots(method: str, hours, start, end, *, pollutant: str, top=None,
                 top_percent=None, radius: float = 1.0, shape: str = "square",
                 alpha: float = 0.05, threshold=None, by_city: bool = False, cells=None,
                 grid_shape=None) -> pd.DataFrame:
    """The hotspot table of a method, with the same options as ``sourcegrid hotspots``."""
    from sourcegrid.grid import hotspots as science

    if method == "monthly":
        month = pd.Timestamp(start).strftime("%Y-%m")
        return science.monthly_lists(hours, month, pollutant=pollutant,
                                     top=top if top is not None else 10, cells=cells)
    if method == "rank":
        if top is None and top_percent is None:
            top = 10
        return science.rank_cells(hours, start, end, pollutant=pollutant, top=top,
                                  top_percent=top_percent, cells=cells, by_city=by_city)
    if method == "gistar":
        result = science.gi_star_cells(hours, start, end, radius_cells=radius, shape=shape,
                                       pollutant=pollutant, grid_shape=grid_shape,
                                       alpha=alpha, cells=cells)
        return science.top_rows(result, top, top_percent)
    result = science.persistence(hours, start, end, pollutant=pollutant, threshold=threshold,
                                 top_percent=top_percent, cells=cells)
    return science.top_rows(result, top)


def _listed(frame: pd.DataFrame, method: str) -> pd.DataFrame:
    """(list, cell_id, position) of the cells a result lists."""
    frame = frame.reset_index(drop=True)
    if method == "monthly":
        return pd.DataFrame({"list": frame["list"].astype(str) + ":" + frame["city_code"]
                             .astype(str), "cell_id": frame["cell_id"],
                             "position": frame["rank"].astype("int64")})
    if method == "gistar":
        frame = frame[frame["spot"] == "hot"].reset_index(drop=True)
    position = frame["rank"] if "rank" in frame.columns else pd.Series(range(1, len(frame) + 1))
    return pd.DataFrame({"list": method, "cell_id": frame["cell_id"],
                         "position": position.astype("int64")})


def compare_lists(raw: pd.DataFrame, normalised: pd.DataFrame, method: str) -> pd.DataFrame:
    """Cells that enter, leave or stay in the list when the weather is taken out.

    Parameters
    ----------
    raw, normalised : pandas.DataFrame
        Hotspot tables of the same method on measured and on normalised values
        (for gistar the list is the significant hot spots).
    method : {'rank', 'gistar', 'persistence', 'monthly'}

    Returns
    -------
    pandas.DataFrame
        list, cell_id, raw_position, normalised_position (NA when not listed),
        status ('entered' = listed only on normalised values, 'left' = only on
        measured values, 'kept'), sorted by list, status, position.
    """
    before = _listed(raw, method).rename(columns={"position": "raw_position"})
    after = _listed(normalised, method).rename(columns={"position": "normalised_position"})
    merged = before.merge(after, on=["list", "cell_id"], how="outer")
    merged["raw_position"] = merged["raw_position"].astype("Int64")
    merged["normalised_position"] = merged["normalised_position"].astype("Int64")
    merged["status"] = "kept"
    merged.loc[merged["raw_position"].isna(), "status"] = "entered"
    merged.loc[merged["normalised_position"].isna(), "status"] = "left"
    order = {"entered": 0, "left": 1, "kept": 2}
    merged["_order"] = merged["status"].map(order)
    merged["_position"] = merged["normalised_position"].fillna(merged["raw_position"])
    merged = merged.sort_values(["list", "_order", "_position", "cell_id"])
    return merged.drop(columns=["_order", "_position"]).reset_index(drop=True)


def normalised_hours_for(workspace, method: str, start, end, pollutant: str,
                         weather: str = "deweather", seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Normalised ``cell_hours`` for a hotspot run, and a one-line note of the model's skill.

    Parameters
    ----------
    weather : str
        A name of :data:`sourcegrid.weather.net.WEATHER_SETS` (model and resampling).
    """
    from sourcegrid.weather.net import weather_set

    model, resampling = weather_set(weather)
    low, high = training_window(method, start, end)
    hours, skill = normalised_cell_hours(workspace, pollutant, low, high, model=model,
                                         resampling=resampling, seed=seed)
    r2, rmse = skill.get("r2", float("nan")), skill.get("rmse", float("nan"))
    note = (f"weather-adjusted {pollutant} of {hours['cell_id'].nunique()} cells "
            f"({skill['model']} model, {skill['resampling']} resampling x{skill['resamples']}; "
            f"out-of-sample R2 {r2:.2f}, RMSE {rmse:.1f} on held-back blocks of time)")
    return hours, note


def weather_changes(workspace, method: str, result: pd.DataFrame, raw_hours, *, start, end,
                    pollutant: str, top=None, top_percent=None, radius: float = 1.0,
                    shape: str = "square", alpha: float = 0.05, threshold=None,
                    by_city: bool = False, cells=None) -> pd.DataFrame:
    """Compare a normalised hotspot result with the raw one; stored in :data:`CHANGES_TABLE`."""
    from sourcegrid.grid.spec import SPEC_TABLE, read_spec

    grid_shape = read_spec(workspace).shape if workspace.has(SPEC_TABLE) else None
    raw = raw_hotspots(method, raw_hours, start, end, pollutant=pollutant, top=top,
                       top_percent=top_percent, radius=radius, shape=shape, alpha=alpha,
                       threshold=threshold, by_city=by_city, cells=cells,
                       grid_shape=grid_shape)
    changes = compare_lists(raw, result, method).assign(method=method, pollutant=pollutant)
    workspace.write(CHANGES_TABLE, changes)
    return changes
