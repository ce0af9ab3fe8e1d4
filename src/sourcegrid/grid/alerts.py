"""Real-time alert rules on micro-station readings (微站报警).

A micro-station's reading *exceeds* when any of these holds:

* it is above an absolute ``threshold`` [ug/m3; CO mg/m3];
* it is above ``neighbour_factor`` x the median of the other micro-stations
  within ``neighbour_radius_km`` at the same time;
* it is above ``city_factor`` x the median of all micro-stations of its city
  at the same time.

``consecutive`` exceeding readings in a row at one station (no reading in
between that does not exceed, and no gap longer than ``max_gap``) raise one
alert on the station's cell, carrying the evidence: the readings, their times,
the reference values and which rules fired. Everything is vectorized: medians
by merge + groupby, runs by run-length labelling (cumsum of run starts).

Readings are the long ``observations`` table (time [UTC], site_id, site_kind,
lon, lat, pollutant, value, unit); readings of one time stamp are compared
with each other, so feeds are expected to be aligned to a common clock
(e.g. whole minutes) by ingestion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError

__all__ = ["ALERT_RULES", "alert_rule", "reference_values", "check_alerts", "ALERT_COLUMNS"]

#: Mean Earth radius [km] (IUGG), for the local flat-earth distance of neighbours.
_EARTH_RADIUS_KM = 6371.0088

#: Named alert rule sets.
#: 'sourcegrid_default': sourcegrid's defaults, not from a standard. The
#: thresholds are the 24-h concentrations at IAQI 200 (中度污染 / 重度污染 limit)
#: of HJ 633-2012 Table 1 (PM2.5 150, PM10 350, SO2 800, NO2 280 [ug/m3],
#: CO 24 [mg/m3]); O3 the 1-h value at IAQI 200 (400 [ug/m3]); factors 2x the
#: neighbours' / city median and 3 readings in a row are engineering choices
#: that keep single spikes from alerting.
#: 'sensitive': IAQI 150 levels (PM2.5 115, PM10 250, SO2 475, NO2 180, CO 14,
#: O3 1-h 300), factors 1.5x, 3 readings.
ALERT_RULES: dict[str, dict[str, object]] = {
    "sourcegrid_default": {
        "threshold": {"PM2.5": 150.0, "PM10": 350.0, "SO2": 800.0, "NO2": 280.0, "CO": 24.0,
                      "O3": 400.0},
        "neighbour_factor": 2.0,
        "city_factor": 2.0,
        "consecutive": 3,
        "neighbour_radius_km": 3.0,
    },
    "sensitive": {
        "threshold": {"PM2.5": 115.0, "PM10": 250.0, "SO2": 475.0, "NO2": 180.0, "CO": 14.0,
                      "O3": 300.0},
        "neighbour_factor": 1.5,
        "city_factor": 1.5,
        "consecutive": 3,
        "neighbour_radius_km": 3.0,
    },
}

#: Canonical unit of each pollutant (DESIGN.md: ug/m3, CO mg/m3).
_CANONICAL_UNITS = {"CO": "mg/m3"}
_DEFAULT_UNIT = "ug/m3"

#: Columns read from the observations.
READING_COLUMNS = ("time", "site_id", "lon", "lat", "pollutant", "value")

ALERT_COLUMNS = [
    "alert_id", "cell_id", "site_id", "city_code", "pollutant", "start", "end", "raised_at",
    "readings", "max_value", "rules", "threshold", "neighbour_factor", "city_factor",
    "values", "times", "neighbour_medians", "city_medians",
]


def alert_rule(name: str = "sourcegrid_default") -> dict[str, object]:
    """A named alert rule set (a copy); a wrong name lists the valid ones."""
    if name not in ALERT_RULES:
        raise NotFoundError("alert rule set", name, ALERT_RULES)
    rule = dict(ALERT_RULES[name])
    rule["threshold"] = dict(rule["threshold"])
    return rule


def _to_canonical(readings: pd.DataFrame, pollutant: str) -> pd.Series:
    """Values in the canonical unit of ``pollutant`` (pint factors per distinct unit)."""
    values = readings["value"].astype(np.float64)
    if "unit" not in readings.columns:
        return values
    from sourcegrid.units import conversion_factor

    target = _CANONICAL_UNITS.get(pollutant, _DEFAULT_UNIT)
    units = readings["unit"].fillna("").astype(str)
    factors = {unit: (1.0 if unit == "" else conversion_factor(unit, target))
               for unit in units.unique()}
    return values * units.map(factors).astype(np.float64)


def _neighbour_pairs(sites: pd.DataFrame, radius_km: float) -> pd.DataFrame:
    """Directed pairs (site_id, neighbour_id) of sites within radius_km of each other."""
    from scipy.spatial import cKDTree

    if len(sites) < 2:
        return pd.DataFrame({"site_id": pd.Series(dtype=object),
                             "neighbour_id": pd.Series(dtype=object)})
    latitude0 = np.deg2rad(sites["lat"].mean())
    x = np.deg2rad(sites["lon"].to_numpy(dtype=np.float64)) * np.cos(latitude0) * _EARTH_RADIUS_KM
    y = np.deg2rad(sites["lat"].to_numpy(dtype=np.float64)) * _EARTH_RADIUS_KM
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius_km, output_type="ndarray")
    ids = sites["site_id"].to_numpy()
    first, second = ids[pairs[:, 0]], ids[pairs[:, 1]]
    return pd.DataFrame({"site_id": np.concatenate([first, second]),
                         "neighbour_id": np.concatenate([second, first])})


def reference_values(readings: pd.DataFrame, *, neighbour_radius_km: float) -> pd.DataFrame:
    """Add the neighbours' median and the city median at each reading's time.

    Parameters
    ----------
    readings : pandas.DataFrame
        One pollutant's micro-station readings: time, site_id, lon [deg],
        lat [deg], value, and optionally city_code.
    neighbour_radius_km : float
        Radius of the neighbourhood [km] (station itself excluded).

    Returns
    -------
    pandas.DataFrame
        The readings plus neighbour_median, neighbours (how many neighbours
        read at that time) and city_median (all stations of the city at that
        time, the station itself included).
    """
    frame = readings.copy()
    if "city_code" not in frame.columns:
        frame["city_code"] = ""
    sites = frame.groupby("site_id", sort=False)[["lon", "lat"]].first().reset_index()
    pairs = _neighbour_pairs(sites, neighbour_radius_km)
    slim = frame[["site_id", "time", "value"]]
    joined = slim[["site_id", "time"]].merge(pairs, on="site_id")
    joined = joined.merge(slim.rename(columns={"site_id": "neighbour_id"}),
                          on=["neighbour_id", "time"])
    neighbours = joined.groupby(["site_id", "time"])["value"].agg(
        neighbour_median="median", neighbours="count").reset_index()
    frame = frame.merge(neighbours, on=["site_id", "time"], how="left")
    frame["neighbours"] = frame["neighbours"].fillna(0).astype(np.int64)
    frame["city_median"] = frame.groupby(["city_code", "time"])["value"].transform("median")
    return frame


def _joined(series: pd.Series, runs: pd.Series, formatter: Callable) -> pd.Series:
    return series.map(formatter).groupby(runs, sort=False).agg(";".join)


def check_alerts(readings: pd.DataFrame, *, pollutant: str = "PM2.5",
                 rule_set: str = "sourcegrid_default", threshold: float | None = None,
                 neighbour_factor: float | None = None, city_factor: float | None = None,
                 consecutive: int | None = None, neighbour_radius_km: float | None = None,
                 max_gap: str | pd.Timedelta | None = None,
                 cell_of: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 site_kind: str | None = "micro") -> pd.DataFrame:
    """Alerts from incoming micro-station readings.

    Parameters
    ----------
    readings : pandas.DataFrame
        Observations: time [UTC], site_id, site_kind, lon, lat [deg],
        pollutant, value, unit (converted to ug/m3, CO mg/m3), optionally
        cell_id and city_code.
    pollutant : str
        Pollutant to check.
    rule_set : str
        Name in :data:`ALERT_RULES`, the defaults of the arguments below.
    threshold : float, optional
        Absolute threshold [ug/m3; CO mg/m3] (strictly above exceeds); NaN or
        inf switches the rule off.
    neighbour_factor, city_factor : float, optional
        Factors on the neighbours' and city medians (strictly above exceeds);
        inf switches a rule off.
    consecutive : int, optional
        Exceeding readings in a row that raise an alert (N >= 1).
    neighbour_radius_km : float, optional
        Neighbourhood radius [km].
    max_gap : str or Timedelta, optional
        A gap between two readings of a station longer than this breaks a run
        (e.g. '2min'); default: gaps never break a run.
    cell_of : callable, optional
        ``cell_of(lon, lat) -> cell ids`` (e.g. a GridSpec's), used when the
        readings have no cell_id column; without both, cell_id is ''.
    site_kind : str or None
        Keep only readings of this site kind ('micro'); None keeps all.

    Returns
    -------
    pandas.DataFrame
        One row per alert (:data:`ALERT_COLUMNS`): the run's start and end
        times, raised_at (time of the N-th reading), number of readings,
        maximum value, the rules that fired (threshold; neighbours; city),
        the parameters, and ';'-joined values, times (ISO 8601 UTC),
        neighbour_medians and city_medians of every reading in the run.
    """
    rule = alert_rule(rule_set)
    if threshold is None:
        threshold = rule["threshold"].get(pollutant, np.inf)
    neighbour_factor = rule["neighbour_factor"] if neighbour_factor is None else neighbour_factor
    city_factor = rule["city_factor"] if city_factor is None else city_factor
    consecutive = rule["consecutive"] if consecutive is None else consecutive
    radius = rule["neighbour_radius_km"] if neighbour_radius_km is None else neighbour_radius_km
    if int(consecutive) != consecutive or consecutive < 1:
        raise ValueError(f"consecutive must be a whole number >= 1, got {consecutive!r}")
    threshold = np.inf if threshold is None or np.isnan(threshold) else float(threshold)
    # a negative threshold or factor would switch a rule on for every reading
    if threshold < 0:
        raise ValueError(f"threshold must be a concentration >= 0, got {threshold!r}")
    for name, factor in (("neighbour_factor", neighbour_factor), ("city_factor", city_factor)):
        if factor is not None and not np.isnan(factor) and not factor > 0:
            raise ValueError(f"{name} must be a factor > 0, got {factor!r}")
    if radius is not None and not radius > 0:
        raise ValueError(f"neighbour_radius_km must be a radius > 0 [km], got {radius!r}")
    from sourcegrid.grid.hotspots import require_columns

    require_columns(readings.columns, READING_COLUMNS, "observations")

    frame = readings[readings["pollutant"] == pollutant]
    if site_kind is not None and "site_kind" in frame.columns:
        frame = frame[frame["site_kind"] == site_kind]
    frame = frame.copy()
    if frame.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    frame["value"] = _to_canonical(frame, pollutant)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame = frame[frame["value"].notna()]
    if "cell_id" not in frame.columns:
        frame["cell_id"] = (np.asarray(cell_of(frame["lon"].to_numpy(), frame["lat"].to_numpy()))
                            if cell_of is not None else "")
    frame = reference_values(frame, neighbour_radius_km=radius)

    value = frame["value"]
    above_threshold = value > threshold
    above_neighbours = (frame["neighbours"] > 0) & (value > neighbour_factor * frame["neighbour_median"])
    above_city = value > city_factor * frame["city_median"]
    frame["exceeds"] = above_threshold | above_neighbours | above_city
    frame["rules"] = (np.where(above_threshold, "threshold;", "")
                      + np.where(above_neighbours, "neighbours;", "")
                      + np.where(above_city, "city;", ""))

    # run-length labelling per station in time order
    frame = frame.sort_values(["site_id", "time"], kind="mergesort").reset_index(drop=True)
    same_site = frame["site_id"].eq(frame["site_id"].shift())
    same_state = frame["exceeds"].eq(frame["exceeds"].shift())
    starts = ~(same_site & same_state)
    if max_gap is not None:
        starts |= frame["time"].diff() > pd.Timedelta(max_gap)
    frame["run"] = starts.cumsum()
    frame["position"] = frame.groupby("run").cumcount() + 1
    run_length = frame.groupby("run")["run"].transform("size")
    hits = frame[frame["exceeds"] & (run_length >= consecutive)]
    if hits.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)

    runs = hits["run"]
    grouped = hits.groupby("run", sort=False)
    alerts = grouped.agg(
        cell_id=("cell_id", "first"), site_id=("site_id", "first"),
        city_code=("city_code", "first"), start=("time", "min"), end=("time", "max"),
        readings=("value", "size"), max_value=("value", "max"),
    )
    alerts["raised_at"] = hits[hits["position"] == consecutive].set_index("run")["time"]
    alerts["rules"] = grouped["rules"].agg(
        lambda parts: ";".join(r for r in ("threshold", "neighbours", "city")
                               if any(r + ";" in p for p in parts)))
    number = "{:.6g}".format

    def optional(v) -> str:
        return "" if pd.isna(v) else number(v)

    alerts["values"] = _joined(hits["value"], runs, number)
    alerts["times"] = _joined(hits["time"], runs, lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    alerts["neighbour_medians"] = _joined(hits["neighbour_median"], runs, optional)
    alerts["city_medians"] = _joined(hits["city_median"], runs, optional)
    alerts["pollutant"] = pollutant
    alerts["threshold"] = threshold
    alerts["neighbour_factor"] = float(neighbour_factor)
    alerts["city_factor"] = float(city_factor)
    alerts["alert_id"] = (alerts["site_id"].astype(str) + "@" + pollutant + "@"
                          + alerts["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    alerts = alerts.reset_index(drop=True)
    return alerts[ALERT_COLUMNS].sort_values(["raised_at", "site_id"]).reset_index(drop=True)
