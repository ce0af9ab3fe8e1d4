"""Classification of cells by pollution signature (dust, coal, traffic, VOCs, night-time).

Each cell's fused hours over a window are reduced to a few numbers, and each
signature compares one or two of them with a named threshold:

========== ================================================================
type        signature (all thresholds in a named parameter set)
========== ================================================================
dust        PM10 mean / PM2.5 mean >= ``dust_pm10_pm25_ratio``
coal        SO2 mean / city SO2 mean >= ``coal_so2_ratio_to_city``
traffic     NO2 and CO both peak in the rush hours (local 07-09, 17-19):
            rush-hour mean / other-hours mean >= ``traffic_rush_ratio`` for
            each, and NO2 mean / city NO2 mean >= ``traffic_no2_ratio_to_city``
industrial  TVOC mean / city TVOC mean >= ``industrial_tvoc_ratio_to_city``
night       PM2.5 night mean (local 22-05) / other-hours mean >=
            ``night_ratio`` (night-time emission: 夜间偷排)
========== ================================================================

A cell may match several signatures; its ``type`` is the one it exceeds most
(largest number / threshold), ``types`` lists them all, 'unclassified' when
none matches. Every number is in the output (the evidence). City means are
the mean of the cell means of the cities' cells (from the ``cells`` table).

Local time is Asia/Shanghai, UTC+8 all year (China has no daylight saving).
An hour's label is its starting hour in local time; '07-09' means hours
labelled 7, 8 and 9.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.grid.hotspots import _with_city, period_rows

__all__ = ["SIGNATURES", "TYPES", "signature_parameters", "cell_profiles", "classify_cells"]

#: Cell types, in the order used to break ties.
TYPES = ("dust", "coal", "traffic", "industrial", "night")

#: UTC offset of Beijing time [h]; no daylight saving since 1991.
_LOCAL_OFFSET_HOURS = 8

#: Named signature thresholds.
#: 'sourcegrid_default': sourcegrid's defaults from engineering practice, not
#: from a standard. The dust ratio 2.0 is PM2.5/PM10 <= 0.5, the usual mark of
#: coarse (dust) dominance -- fine-particle dominated air shows PM2.5/PM10 of
#: 0.6-0.8; the city-relative factors (1.5x) mark a cell clearly above its
#: city; the rush and night factors (1.2, 1.3) a clear diurnal peak over the
#: cell's own other hours. 'sensitive': lower factors for screening
#: (more cells flagged, more false alarms). Bureaus add their own sets here.
_RUSH_HOURS = (7, 8, 9, 17, 18, 19)  # Beijing time
_NIGHT_HOURS = (22, 23, 0, 1, 2, 3, 4, 5)  # Beijing time
SIGNATURES: dict[str, dict[str, object]] = {
    "sourcegrid_default": {
        "dust_pm10_pm25_ratio": 2.0,
        "coal_so2_ratio_to_city": 1.5,
        "traffic_rush_ratio": 1.2,
        "traffic_no2_ratio_to_city": 1.0,
        "industrial_tvoc_ratio_to_city": 1.5,
        "night_ratio": 1.3,
        "rush_hours": _RUSH_HOURS,
        "night_hours": _NIGHT_HOURS,
    },
    "sensitive": {
        "dust_pm10_pm25_ratio": 1.7,
        "coal_so2_ratio_to_city": 1.25,
        "traffic_rush_ratio": 1.1,
        "traffic_no2_ratio_to_city": 1.0,
        "industrial_tvoc_ratio_to_city": 1.25,
        "night_ratio": 1.15,
        "rush_hours": _RUSH_HOURS,
        "night_hours": _NIGHT_HOURS,
    },
}

_POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "TVOC")


def signature_parameters(name: str = "sourcegrid_default") -> dict[str, object]:
    """The named signature thresholds (a copy); a wrong name lists the valid ones."""
    if name not in SIGNATURES:
        raise NotFoundError("signature parameter set", name, SIGNATURES)
    return dict(SIGNATURES[name])


def cell_profiles(cell_hours: pd.DataFrame | ibis.Table, start, end) -> pd.DataFrame:
    """Sum and count of each cell's values by pollutant and local hour of day.

    Parameters
    ----------
    cell_hours, start, end
        The fused cell-hours and the window [start, end), as for
        :func:`sourcegrid.grid.hotspots.period_rows`.

    Returns
    -------
    pandas.DataFrame
        cell_id, row, col, pollutant, local_hour (0-23), total, count.
    """
    table = period_rows(cell_hours, start, end, _POLLUTANTS)
    # epoch seconds are absolute for naive (UTC) and zone-aware columns alike
    seconds = table.time.epoch_seconds() + _LOCAL_OFFSET_HOURS * 3600
    table = table.mutate(local_hour=((seconds // 3600) % 24).cast("int64"))
    grouped = table.group_by(["cell_id", "row", "col", "pollutant", "local_hour"]).aggregate(
        total=table.value.sum(), count=table.value.count()
    )
    return grouped.to_pandas()


def _hours_mean(profiles: pd.DataFrame, pollutant: str, hours, *, inside: bool) -> pd.Series:
    part = profiles[profiles["pollutant"] == pollutant]
    chosen = part["local_hour"].isin(list(hours))
    part = part[chosen if inside else ~chosen]
    sums = part.groupby("cell_id")[["total", "count"]].sum()
    return sums["total"] / sums["count"].where(sums["count"] > 0)


def classify_cells(cell_hours: pd.DataFrame | ibis.Table, start, end, *,
                   cells: pd.DataFrame | ibis.Table | None = None,
                   parameter_set: str = "sourcegrid_default",
                   cell_ids=None) -> pd.DataFrame:
    """Classify cells by pollution signature, with the evidence.

    Parameters
    ----------
    cell_hours : DataFrame or ibis.Table
        Fused cell-hours with several pollutants (PM2.5, PM10, SO2, NO2, CO
        [mg/m3], TVOC) [ug/m3 unless stated].
    start, end : str or Timestamp
        Window [start, end); naive = Asia/Shanghai.
    cells : DataFrame or ibis.Table, optional
        The ``cells`` table, for city_code (city means); without it all cells
        form one city.
    parameter_set : str
        Name in :data:`SIGNATURES`.
    cell_ids : sequence of str, optional
        Only return these cells (city means still use every cell).

    Returns
    -------
    pandas.DataFrame
        One row per cell: cell_id, row, col, city_code, type, types (';'),
        the evidence numbers pm10_pm25_ratio, so2_ratio_to_city,
        no2_rush_ratio, co_rush_ratio, no2_ratio_to_city, tvoc_ratio_to_city,
        night_ratio (NaN when a pollutant has no data), and type_evidence
        (the numbers against their thresholds, in words).
    """
    parameters = signature_parameters(parameter_set)
    profiles = cell_profiles(cell_hours, start, end)
    keys = profiles[["cell_id", "row", "col"]].drop_duplicates("cell_id").set_index("cell_id")
    frame = keys.copy()

    sums = profiles.groupby(["cell_id", "pollutant"])[["total", "count"]].sum()
    means = (sums["total"] / sums["count"]).unstack("pollutant")
    means = means.reindex(columns=list(_POLLUTANTS))
    means = means.reindex(frame.index)

    frame = _with_city(frame.reset_index(), cells).set_index("cell_id")
    city_means = means.groupby(frame["city_code"]).transform("mean")

    rush, night = parameters["rush_hours"], parameters["night_hours"]
    evidence = pd.DataFrame(index=frame.index)
    evidence["pm10_pm25_ratio"] = means["PM10"] / means["PM2.5"]
    evidence["so2_ratio_to_city"] = means["SO2"] / city_means["SO2"]
    evidence["no2_rush_ratio"] = (_hours_mean(profiles, "NO2", rush, inside=True)
                                  / _hours_mean(profiles, "NO2", rush, inside=False))
    evidence["co_rush_ratio"] = (_hours_mean(profiles, "CO", rush, inside=True)
                                 / _hours_mean(profiles, "CO", rush, inside=False))
    evidence["no2_ratio_to_city"] = means["NO2"] / city_means["NO2"]
    evidence["tvoc_ratio_to_city"] = means["TVOC"] / city_means["TVOC"]
    evidence["night_ratio"] = (_hours_mean(profiles, "PM2.5", night, inside=True)
                               / _hours_mean(profiles, "PM2.5", night, inside=False))
    evidence = evidence.replace([np.inf, -np.inf], np.nan)

    # strength = number / threshold; a type matches when every strength >= 1
    strengths = pd.DataFrame(index=frame.index)
    strengths["dust"] = evidence["pm10_pm25_ratio"] / parameters["dust_pm10_pm25_ratio"]
    strengths["coal"] = evidence["so2_ratio_to_city"] / parameters["coal_so2_ratio_to_city"]
    traffic_parts = pd.concat([
        evidence["no2_rush_ratio"] / parameters["traffic_rush_ratio"],
        evidence["co_rush_ratio"] / parameters["traffic_rush_ratio"],
        evidence["no2_ratio_to_city"] / parameters["traffic_no2_ratio_to_city"],
    ], axis=1)
    strengths["traffic"] = traffic_parts.min(axis=1, skipna=False)
    strengths["industrial"] = (evidence["tvoc_ratio_to_city"]
                               / parameters["industrial_tvoc_ratio_to_city"])
    strengths["night"] = evidence["night_ratio"] / parameters["night_ratio"]
    strengths = strengths[list(TYPES)]
    matched = strengths >= 1.0  # NaN compares False: no data, no match

    best = strengths.where(matched).fillna(-np.inf).to_numpy()
    first_best = np.argmax(best, axis=1)  # ties: first in TYPES order
    any_match = matched.any(axis=1).to_numpy()
    frame["type"] = np.where(any_match, np.asarray(TYPES, dtype=object)[first_best],
                             "unclassified")
    type_names = np.asarray(TYPES, dtype=object)
    frame["types"] = [";".join(type_names[row]) for row in matched.to_numpy()]

    def text(series: pd.Series) -> pd.Series:
        return series.map(lambda v: "n/a" if pd.isna(v) else f"{v:.3g}")

    p = parameters
    frame["type_evidence"] = (
        "PM10/PM2.5 " + text(evidence["pm10_pm25_ratio"]) + f" (dust >= {p['dust_pm10_pm25_ratio']}); "
        + "SO2/city " + text(evidence["so2_ratio_to_city"])
        + f" (coal >= {p['coal_so2_ratio_to_city']}); "
        + "NO2 rush/other " + text(evidence["no2_rush_ratio"]) + ", CO rush/other "
        + text(evidence["co_rush_ratio"]) + f" (traffic >= {p['traffic_rush_ratio']} both), "
        + "NO2/city " + text(evidence["no2_ratio_to_city"])
        + f" (>= {p['traffic_no2_ratio_to_city']}); "
        + "TVOC/city " + text(evidence["tvoc_ratio_to_city"])
        + f" (industrial >= {p['industrial_tvoc_ratio_to_city']}); "
        + "PM2.5 night/other " + text(evidence["night_ratio"]) + f" (night >= {p['night_ratio']})"
    )
    frame = frame.join(evidence)
    frame = frame.reset_index()
    if cell_ids is not None:
        frame = frame[frame["cell_id"].isin(list(cell_ids))]
    columns = ["cell_id", "row", "col", "city_code", "type", "types", *evidence.columns,
               "type_evidence"]
    return frame[columns].sort_values("cell_id").reset_index(drop=True)
