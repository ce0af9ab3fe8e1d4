"""Fusion of observations into cell-hours: one estimate per cell, hour and pollutant.

Inputs (all in the internal units: µg/m³, CO mg/m³):

- **reference** stations: one input per station-hour (the hour mean of its readings);
- **micro** stations: one input per station-hour, after calibration (the station's
  latest calibration from ``calibrations`` valid at that hour); a micro-station with
  no calibration enters as **micro_uncalibrated** with a larger uncertainty;
- **mobile** monitors: one input per *pass* = vehicle × cell × hour (the mean of the
  1-10 s points the vehicle logged in the cell that hour);
- **satellite**: the day's per-cell value (``satellite`` table, day in Asia/Shanghai),
  one input for each hour of that day, only where some ground input exists, and as a
  fallback (method ``'satellite'``) for cells that cannot be interpolated.

Readings flagged by QC with severity ``'fail'`` are left out. Binning readings to
cells and hours and the weighted sums are Ibis expressions (DuckDB by default; the
same code runs on PySpark); the closing arithmetic and interpolation are NumPy/SciPy.

Weighting (method ``'observed'``)
---------------------------------
Each input *j* of kind *k* has a relative standard uncertainty r_k
(:data:`RELATIVE_UNCERTAINTY`), weight w_j = 1 / r_k². Then

- value x̂ = Σ w_j x_j / Σ w_j (inverse-variance mean with σ_j = r_k · x̂, so the
  weights do not favour low readings);
- internal uncertainty u_int = x̂ / √(Σ w_j);
- external uncertainty (the inputs' scatter, Birge ratio form)
  u_ext = √( Σ w_j (x_j − x̂)² / ((m − 1) Σ w_j) ) for m ≥ 2 inputs, else 0;
- uncertainty u = max(u_int, u_ext) (a standard deviation, same unit as the value).

Interpolation (method ``'interpolated'``)
-----------------------------------------
A cell with no ground input in an hour takes the inverse-distance weighted mean of
the observed cells (ground inputs only) of the same hour and pollutant, at most
``neighbours`` nearest within ``max_distance`` [m] (centre to centre):
λ_i = d_i^−p / Σ d^−p, x̂ = Σ λ_i x_i,
u = √( Σ λ_i² u_i² + Σ λ_i (x_i − x̂)² ) (propagated input uncertainty plus the
neighbours' weighted spread). Cells with no neighbour in reach take the day's
satellite value (method ``'satellite'``, u = r_satellite · value) when there is one,
and otherwise get no row.

References
----------
Shepard, D. (1968). A two-dimensional interpolation function for irregularly-spaced
data. Proc. 23rd ACM National Conference, 517-524.
Birge, R. T. (1932). The calculation of errors by the method of least squares.
Phys. Rev. 40, 207-227.
JCGM 100:2008 (GUM), §5.1 (propagation of uncorrelated uncertainties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.named_sets import named_set
from sourcegrid.timebase import UTC_OFFSET_HOURS as LOCAL_TZ_OFFSET_HOURS
from sourcegrid.timebase import utc_timestamp  # noqa: F401 (re-exported)

__all__ = [
    "CELL_HOURS_TABLE",
    "CELL_HOUR_COLUMNS",
    "CELL_HOUR_DTYPES",
    "RELATIVE_UNCERTAINTY",
    "SOURCE_KINDS",
    "METHODS",
    "relative_uncertainty",
    "utc_timestamp",
    "locate_positions",
    "site_hour_inputs",
    "satellite_inputs",
    "combine_inputs",
    "observed_estimates",
    "interpolate_idw",
    "satellite_fallback",
    "fuse_cell_hours",
    "fuse_workspace",
]

CELL_HOURS_TABLE = "cell_hours"
#: Output contract of ``cell_hours`` (hotspots, grading and alerts build on it).
CELL_HOUR_COLUMNS = ["cell_id", "row", "col", "time", "pollutant", "value", "uncertainty",
                     "n_readings", "sources", "method"]
CELL_HOUR_DTYPES = {"cell_id": "object", "row": "int64", "col": "int64",
                    "time": "datetime64[us, UTC]", "pollutant": "object", "value": "float64",
                    "uncertainty": "float64", "n_readings": "int64", "sources": "object",
                    "method": "object"}
METHODS = ("observed", "interpolated", "satellite")
#: Source kinds named in the ``sources`` column, in this order.
SOURCE_KINDS = ("reference", "micro", "mobile", "satellite")
NOT_FUSED = ("RH", "TEMP")  # meteorological covariates, used by calibration

#: Relative standard uncertainty of one input (station-hour mean, mobile pass, satellite
#: cell-day value) by source kind [fraction of the value]. Named sets; 'default' is:
#: reference 0.10 — data-quality target of automated PM monitors against the manual
#: method (HJ 653-2021, HJ 655-2013: ±10 % agreement);
#: micro 0.25 (calibrated) and micro_uncalibrated 0.50 — US EPA air-sensor performance
#: targets (EPA/600/R-20/280, 2021: RMSE ≤ 7 µg/m³ at 20-30 µg/m³, slope 1 ± 0.35);
#: mobile 0.35 — a moving sensor's short average (same sensor class, fewer readings);
#: satellite 0.40 — daily satellite PM2.5 (Wei et al. 2021, Remote Sens. Environ. 252,
#: 112136: CV RMSE ≈ 10-16 µg/m³ at means of 30-50 µg/m³).
RELATIVE_UNCERTAINTY: dict[str, dict[str, float]] = {
    "default": {"reference": 0.10, "micro": 0.25, "micro_uncalibrated": 0.50,
                "mobile": 0.35, "satellite": 0.40},
}


def relative_uncertainty(name: str | Mapping[str, float] = "default") -> dict[str, float]:
    """A named set of relative uncertainties (or a mapping, completed from 'default')."""
    return named_set(RELATIVE_UNCERTAINTY, name, set_kind="uncertainty set",
                     parameter_kind="source kind", convert=float)


def _as_table(data):
    import ibis

    if data is None or isinstance(data, ibis.Table):
        return data
    return ibis.memtable(data)


def _utc(column):
    import ibis.expr.datatypes as dt

    return column.cast(dt.Timestamp(timezone="UTC"))


def locate_positions(spec, readings) -> pd.DataFrame:
    """Distinct (lon, lat) of readings with their cell row/col (pyproj, vectorized).

    Readings outside the grid are left out (they fall in no cell).
    """
    return _located(spec, readings)[0]


def _located(spec, readings) -> tuple[pd.DataFrame, int]:
    """:func:`locate_positions` and the number of readings in no cell (no position, or
    outside the grid), from one query: the readings counted per distinct position."""
    table = _as_table(readings)
    positions = table.group_by("lon", "lat").aggregate(_readings=table.count()).to_pandas()
    rows, cols = spec.cell_of(positions["lon"].to_numpy(float),
                              positions["lat"].to_numpy(float))
    inside = np.asarray(rows) >= 0
    unplaced = int(positions["_readings"].to_numpy()[~inside].sum())
    positions = positions.drop(columns="_readings")
    positions["row"] = rows
    positions["col"] = cols
    return positions.loc[inside].reset_index(drop=True), unplaced


def site_hour_inputs(readings, positions, *, calibrations=None, flags=None, start=None,
                     end=None, pollutants: Sequence[str] | None = None):
    """Ibis table of fusion inputs: one row per site (or mobile pass) × cell × hour × pollutant.

    Parameters
    ----------
    readings : ibis.Table or DataFrame
        Observations (time UTC, site_id, site_kind, lon, lat, pollutant, value).
    positions : ibis.Table or DataFrame
        lon, lat, row, col (:func:`locate_positions`).
    calibrations : ibis.Table or DataFrame, optional
        site_id, pollutant, valid_from, valid_to (null = open), intercept, slope,
        coef_rh, coef_temp, rh_mean, temp_mean (``sourcegrid.observations.calibration``).
    flags : ibis.Table or DataFrame, optional
        site_id, time, pollutant, severity; readings with a 'fail' flag are dropped.
    start, end : timestamp, optional
        Time range [start, end); naive times are Asia/Shanghai.

    Returns
    -------
    ibis.Table
        row, col, time (hour start, UTC), pollutant, site_kind, weight_kind, site_id,
        value [internal unit], n (readings averaged).
    """
    import ibis

    table = _as_table(readings)
    if start is not None:
        table = table.filter(table.time >= utc_timestamp(start))
    if end is not None:
        table = table.filter(table.time < utc_timestamp(end))
    flags = _as_table(flags)
    if flags is not None:
        failing = flags.filter(flags.severity == "fail").select("site_id", "time",
                                                               "pollutant").distinct()
        table = table.anti_join(failing, ["site_id", "time", "pollutant"])
    table = table.filter(table.value.notnull())
    positions = _as_table(positions)

    def hour_means(chosen):
        located = chosen.join(positions, ["lon", "lat"])
        return located.group_by(
            row=located.row, col=located.col, time=_utc(located.time.truncate("h")),
            pollutant=located.pollutant, site_kind=located.site_kind, site_id=located.site_id,
        ).aggregate(value=located.value.mean(), n=located.value.count())

    # the pollutants are chosen before the hour means: each reading is averaged once
    fused = table.filter(~table.pollutant.isin(list(NOT_FUSED)))
    if pollutants is not None:
        fused = fused.filter(fused.pollutant.isin(list(pollutants)))
    wanted = hour_means(fused)
    calibrations = _as_table(calibrations)
    if calibrations is None:
        return wanted.mutate(
            weight_kind=ibis.ifelse(wanted.site_kind == "micro", "micro_uncalibrated",
                                    wanted.site_kind),
        ).select("row", "col", "time", "pollutant", "site_kind", "weight_kind", "site_id",
                 "value", "n")

    covariates = hour_means(table.filter(table.pollutant.isin(list(NOT_FUSED))))
    rh = covariates.filter(covariates.pollutant == "RH").select(
        rh_site=covariates.site_id, rh_time=covariates.time, rh=covariates.value)
    temp = covariates.filter(covariates.pollutant == "TEMP").select(
        temp_site=covariates.site_id, temp_time=covariates.time, temp=covariates.value)
    cal = calibrations.select(
        cal_site=calibrations.site_id, cal_pollutant=calibrations.pollutant,
        valid_from=_utc(calibrations.valid_from), valid_to=_utc(calibrations.valid_to),
        intercept=calibrations.intercept, slope=calibrations.slope,
        coef_rh=calibrations.coef_rh, coef_temp=calibrations.coef_temp,
        rh_mean=calibrations.rh_mean, temp_mean=calibrations.temp_mean)
    micro = wanted.site_kind == "micro"
    joined = wanted.left_join(
        cal,
        [micro, wanted.site_id == cal.cal_site, wanted.pollutant == cal.cal_pollutant,
         wanted.time >= cal.valid_from,
         cal.valid_to.isnull() | (wanted.time < cal.valid_to)],
    )
    joined = joined.left_join(rh, [joined.site_id == rh.rh_site, joined.time == rh.rh_time])
    joined = joined.left_join(temp, [joined.site_id == temp.temp_site,
                                     joined.time == temp.temp_time])
    calibrated = joined.intercept.notnull()
    corrected = (joined.intercept + joined.slope * joined.value
                 + joined.coef_rh.fill_null(0.0) * joined.rh.fill_null(joined.rh_mean).fill_null(0.0)
                 + joined.coef_temp.fill_null(0.0)
                 * joined.temp.fill_null(joined.temp_mean).fill_null(0.0))
    return joined.select(
        "row", "col", "time", "pollutant", "site_kind",
        weight_kind=ibis.ifelse(micro & ~calibrated, "micro_uncalibrated", joined.site_kind),
        site_id=joined.site_id,
        # a calibrated concentration is never negative
        value=ibis.ifelse(calibrated, ibis.greatest(corrected, 0.0), joined.value),
        n=joined.n,
    ).view()


def satellite_inputs(satellite, ground_inputs):
    """Satellite cell-day values as inputs for the cell-hours that have ground inputs.

    ``satellite`` has row, col, date (local day, Asia/Shanghai), pollutant, value.
    """
    import ibis

    satellite = _as_table(satellite)
    keys = ground_inputs.select("row", "col", "time", "pollutant").distinct()
    keys = keys.mutate(
        local_date=(keys.time + ibis.interval(hours=LOCAL_TZ_OFFSET_HOURS)).date())
    sat = satellite.select(s_row=satellite.row, s_col=satellite.col,
                           s_date=satellite.date.cast("date"),
                           s_pollutant=satellite.pollutant, s_value=satellite.value)
    joined = keys.join(sat, [keys.row == sat.s_row, keys.col == sat.s_col,
                             keys.pollutant == sat.s_pollutant, keys.local_date == sat.s_date])
    return joined.select("row", "col", "time", "pollutant",
                         site_kind=ibis.literal("satellite"), weight_kind=ibis.literal("satellite"),
                         site_id=ibis.literal("satellite"), value=joined.s_value,
                         n=ibis.literal(1, type="int64"))


def combine_inputs(inputs, uncertainties: Mapping[str, float]):
    """Weighted sums per cell-hour (Ibis): Σw, Σwx, Σwx², m, n_readings, inputs per kind."""
    import ibis

    weights = ibis.memtable(pd.DataFrame({
        "weight_kind": list(uncertainties),
        "w": [1.0 / float(r) ** 2 for r in uncertainties.values()]}))
    joined = inputs.join(weights, "weight_kind")
    counts = {f"n_{kind}": (joined.site_kind == kind).ifelse(1, 0).sum() for kind in SOURCE_KINDS}
    return joined.group_by("row", "col", "time", "pollutant").aggregate(
        sum_w=joined.w.sum(),
        sum_wx=(joined.w * joined.value).sum(),
        sum_wxx=(joined.w * joined.value * joined.value).sum(),
        m=joined.value.count(),
        n_readings=joined.n.sum(),
        **counts,
    )


def _sources_text(frame: pd.DataFrame) -> pd.Series:
    text = pd.Series("", index=frame.index, dtype=object)
    for kind in SOURCE_KINDS:
        count = frame[f"n_{kind}"].to_numpy()
        part = np.where(count > 0, kind + ":" + count.astype(str), "")
        joined = np.where((text.to_numpy() != "") & (part != ""), ";", "")
        text = pd.Series(text.to_numpy().astype(object) + joined + part, index=frame.index,
                         dtype=object)
    return text


def observed_estimates(sums: pd.DataFrame) -> pd.DataFrame:
    """Value and uncertainty from the weighted sums of :func:`combine_inputs` (NumPy).

    See the module docstring for the formulas.
    """
    sum_w = sums["sum_w"].to_numpy(float)
    value = sums["sum_wx"].to_numpy(float) / sum_w
    internal = np.abs(value) / np.sqrt(sum_w)
    m = sums["m"].to_numpy(float)
    scatter = np.maximum(sums["sum_wxx"].to_numpy(float) - sum_w * value**2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        external = np.where(m > 1, np.sqrt(scatter / ((m - 1) * sum_w)), 0.0)
    out = sums[["row", "col", "time", "pollutant"]].copy()
    out["value"] = value
    out["uncertainty"] = np.maximum(internal, external)
    out["n_readings"] = sums["n_readings"].to_numpy(np.int64)
    out["sources"] = _sources_text(sums)
    out["method"] = "observed"
    return out


def interpolate_idw(spec, observed: pd.DataFrame, targets: pd.DataFrame, *, power: float = 2.0,
                    max_distance: float = 15000.0, neighbours: int = 8) -> pd.DataFrame:
    """Inverse-distance weighted estimates for target cells without ground input.

    Parameters
    ----------
    spec : GridSpec
    observed : DataFrame
        row, col, time, pollutant, value, uncertainty of observed cell-hours (ground inputs).
    targets : DataFrame
        row, col of the cells to fill (each hour-pollutant of ``observed``).
    power : float
        Distance exponent p (Shepard 1968; 2 is usual).
    max_distance : float
        Largest centre-to-centre distance of a neighbour [m].
    neighbours : int
        At most this many nearest observed cells.

    Returns
    -------
    DataFrame
        row, col, time, pollutant, value, uncertainty, n_readings (0), sources
        ('interpolated:<k>' neighbours), method 'interpolated'.
    """
    from scipy.spatial import cKDTree

    target_rows = targets["row"].to_numpy(np.int64)
    target_cols = targets["col"].to_numpy(np.int64)
    tx, ty = spec.centre_xy(target_rows, target_cols)
    target_flat = target_rows * spec.ncols + target_cols
    pieces = []
    for (time, pollutant), group in observed.groupby(["time", "pollutant"], sort=True):
        gx, gy = spec.centre_xy(group["row"].to_numpy(), group["col"].to_numpy())
        observed_flat = group["row"].to_numpy(np.int64) * spec.ncols + group["col"].to_numpy(np.int64)
        free = ~np.isin(target_flat, observed_flat)
        if not free.any():
            continue
        k = min(neighbours, len(group))
        distance, index = cKDTree(np.column_stack([gx, gy])).query(
            np.column_stack([tx[free], ty[free]]), k=k, distance_upper_bound=max_distance)
        distance = distance.reshape(len(distance), k)
        index = index.reshape(len(index), k)
        reach = np.isfinite(distance)
        has = reach.any(axis=1)
        if not has.any():
            continue
        distance, index, reach = distance[has], index[has], reach[has]
        safe_index = np.where(reach, index, 0)
        inverse = np.where(reach, 1.0 / np.maximum(distance, 1e-9) ** power, 0.0)
        weights = inverse / inverse.sum(axis=1, keepdims=True)
        values = group["value"].to_numpy(float)[safe_index]
        sigmas = group["uncertainty"].to_numpy(float)[safe_index]
        estimate = (weights * values).sum(axis=1)
        spread = (weights * (values - estimate[:, None]) ** 2).sum(axis=1)
        uncertainty = np.sqrt((weights**2 * sigmas**2).sum(axis=1) + spread)
        used = reach.sum(axis=1)
        pieces.append(pd.DataFrame({
            "row": target_rows[free][has], "col": target_cols[free][has], "time": time,
            "pollutant": pollutant, "value": estimate, "uncertainty": uncertainty,
            "n_readings": 0, "sources": "interpolated:" + used.astype(str),
            "method": "interpolated"}))
    if not pieces:
        return _empty_cell_hours().drop(columns="cell_id")
    return pd.concat(pieces, ignore_index=True)


def satellite_fallback(satellite: pd.DataFrame, missing: pd.DataFrame,
                       uncertainties: Mapping[str, float]) -> pd.DataFrame:
    """The day's satellite value for cell-hours with no observation and no interpolation.

    ``missing`` has row, col, time, pollutant; ``satellite`` row, col, date, pollutant, value.
    """
    if satellite is None or len(satellite) == 0 or len(missing) == 0:
        return _empty_cell_hours().drop(columns="cell_id")
    frame = missing.copy()
    frame["date"] = (frame["time"] + pd.Timedelta(hours=LOCAL_TZ_OFFSET_HOURS)).dt.date
    sat = satellite[["row", "col", "date", "pollutant", "value"]].copy()
    sat["date"] = pd.to_datetime(sat["date"]).dt.date
    merged = frame.merge(sat, on=["row", "col", "date", "pollutant"], how="inner")
    return pd.DataFrame({
        "row": merged["row"], "col": merged["col"], "time": merged["time"],
        "pollutant": merged["pollutant"], "value": merged["value"],
        "uncertainty": merged["value"].abs() * uncertainties["satellite"],
        "n_readings": 1, "sources": "satellite:1", "method": "satellite"})


def _empty_cell_hours() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string" if t == "object" else t)
                         for c, t in CELL_HOUR_DTYPES.items()})


def _finish(spec, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["row"] = frame["row"].astype(np.int64)
    frame["col"] = frame["col"].astype(np.int64)
    frame["cell_id"] = spec.cell_id(frame["row"].to_numpy(), frame["col"].to_numpy())
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[us, UTC]")
    frame["n_readings"] = frame["n_readings"].astype(np.int64)
    frame = frame[CELL_HOUR_COLUMNS].sort_values(["pollutant", "time", "row", "col"],
                                                 kind="stable")
    return frame.reset_index(drop=True).astype(CELL_HOUR_DTYPES)


def fuse_cell_hours(spec, readings, *, satellite=None, calibrations=None, flags=None,
                    cells: pd.DataFrame | None = None, start=None, end=None,
                    pollutants: Sequence[str] | None = None,
                    uncertainty: str | Mapping[str, float] = "default",
                    interpolate: bool = True, power: float = 2.0,
                    max_distance: float = 15000.0, neighbours: int = 8) -> pd.DataFrame:
    """Fuse readings (and satellite cell-days) into the ``cell_hours`` table.

    Parameters
    ----------
    spec : GridSpec
    readings : ibis.Table or DataFrame
        Observations table (time UTC, site_id, site_kind, lon, lat, pollutant, value).
    satellite : ibis.Table or DataFrame, optional
        Per-cell daily satellite values (row, col, date, pollutant, value).
    calibrations, flags : ibis.Table or DataFrame, optional
        See :func:`site_hour_inputs`.
    cells : DataFrame, optional
        row, col of the cells to fill by interpolation/satellite (default: every cell
        of the grid; pass the ``cells`` table to stay inside the boundary).
    start, end : timestamp, optional
        Time range [start, end); naive times are Asia/Shanghai.
    uncertainty : str or mapping
        Name of a :data:`RELATIVE_UNCERTAINTY` set, or per-kind overrides.
    interpolate : bool
        Fill cells without ground input (IDW, then satellite). False: observed only.
    power, max_distance, neighbours
        IDW parameters, see :func:`interpolate_idw`.

    Returns
    -------
    DataFrame
        The ``cell_hours`` contract: cell_id, row, col, time (UTC hour start), pollutant,
        value, uncertainty (standard deviation, same unit), n_readings, sources, method.
    """
    rel = relative_uncertainty(uncertainty)
    table = _as_table(readings)
    if start is not None:
        table = table.filter(table.time >= utc_timestamp(start))
    if end is not None:
        table = table.filter(table.time < utc_timestamp(end))
    # readings without a position, or outside the grid, fall in no cell: counted, not hidden
    positions, unplaced = _located(spec, table)
    ground = site_hour_inputs(table, positions, calibrations=calibrations, flags=flags,
                              pollutants=pollutants)
    sat_table = _as_table(satellite)
    inputs = ground if sat_table is None else ground.union(satellite_inputs(sat_table, ground))
    sums = combine_inputs(inputs, rel).to_pandas()
    if sums.empty:
        empty = _empty_cell_hours()
        empty.attrs["unplaced_readings"] = unplaced
        return empty
    sums["time"] = pd.to_datetime(sums["time"], utc=True)
    observed = observed_estimates(sums)
    pieces = [observed]
    if interpolate:
        # interpolate from ground-only estimates, so satellite does not leak into neighbours
        ground_only = sums.copy()
        if sat_table is not None:
            ground_sums = combine_inputs(ground, rel).to_pandas()
            ground_sums["time"] = pd.to_datetime(ground_sums["time"], utc=True)
            ground_only = ground_sums
        ground_estimates = observed_estimates(ground_only)
        targets = (cells if cells is not None else spec.cells())[["row", "col"]]
        filled = interpolate_idw(spec, ground_estimates, targets, power=power,
                                 max_distance=max_distance, neighbours=neighbours)
        pieces.append(filled)
        if sat_table is not None:
            hours = observed[["time", "pollutant"]].drop_duplicates()
            every = hours.merge(targets, how="cross")
            done = pd.concat([observed[["row", "col", "time", "pollutant"]],
                              filled[["row", "col", "time", "pollutant"]]])
            missing = every.merge(done, how="left", indicator=True)
            missing = missing.loc[missing["_merge"] == "left_only"].drop(columns="_merge")
            sat_frame = sat_table.to_pandas()
            pieces.append(satellite_fallback(sat_frame, missing, rel))
    pieces = [p for p in pieces if len(p)]
    result = _finish(spec, pd.concat(pieces, ignore_index=True))
    result.attrs["unplaced_readings"] = unplaced
    return result


def fuse_workspace(workspace, *, start=None, end=None, mode: str = "replace",
                   **options) -> pd.DataFrame:
    """Fuse the workspace's observations into its ``cell_hours`` table.

    Uses ``grid_spec``, ``observations`` and, when present, ``cells`` (cells to fill),
    ``observation_flags``, ``calibrations`` and ``satellite``. With ``mode='append'``
    the hours in [start, end) are replaced and other hours kept.

    A reversed or empty period, or one without readings to fuse, never replaces stored
    cell-hours with nothing: :class:`~sourcegrid.errors.OptionError` or
    :class:`~sourcegrid.errors.SourcegridError`, and the table is left as it was.
    """
    from sourcegrid.errors import SourcegridError
    from sourcegrid.grid.spec import read_spec
    from sourcegrid.observations.readers import utc_period

    utc_period(start, end)
    if mode not in ("replace", "append"):
        raise NotFoundError("fusion mode", mode, ("replace", "append"))
    spec = read_spec(workspace)

    def optional(name):
        return workspace.table(name) if workspace.has(name) else None

    cells = workspace.read("cells")[["row", "col"]] if workspace.has("cells") else None
    result = fuse_cell_hours(spec, workspace.table("observations"),
                             satellite=optional("satellite"),
                             calibrations=optional("calibrations"),
                             flags=optional("observation_flags"), cells=cells, start=start,
                             end=end, **options)
    unplaced = result.attrs.get("unplaced_readings", 0)
    if result.empty and mode == "replace" and workspace.has(CELL_HOURS_TABLE):
        stored = workspace.table(CELL_HOURS_TABLE).count().to_pyarrow().as_py()
        if stored:
            raise SourcegridError(
                f"no readings to fuse between {start or 'the first reading'} and "
                f"{end or 'the last'}; the {stored:,} stored cell-hours were kept (a fusion "
                "that finds nothing does not replace them)")
    if mode == "append" and workspace.has(CELL_HOURS_TABLE):
        kept = workspace.read(CELL_HOURS_TABLE)
        kept["time"] = pd.to_datetime(kept["time"], utc=True)
        inside = pd.Series(True, index=kept.index)
        if start is not None:
            inside &= kept["time"] >= utc_timestamp(start)
        if end is not None:
            inside &= kept["time"] < utc_timestamp(end)
        result = pd.concat([kept.loc[~inside].astype(CELL_HOUR_DTYPES), result],
                           ignore_index=True)
    workspace.write(CELL_HOURS_TABLE, result)
    result.attrs["unplaced_readings"] = unplaced
    return result
