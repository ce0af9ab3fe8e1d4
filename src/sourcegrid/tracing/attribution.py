"""Tracing a hotspot cell (溯源) to the sources behind it.

:func:`trace_cell` ranks the likely sources of a cell's excess concentration over a
window, from the inventory (sources with coordinates and emission rates), the wind and
the fused cell-hours:

1. **Observed** series: for a cell with fixed monitors, the weighted mean of their own
   hourly readings (the fusion's inputs: QC failures left out, micro-stations corrected
   by their calibration where there is one; weights as the fusion's:
   :data:`MONITOR_WEIGHT`), which is what the receptors below predict; otherwise the
   cell's hourly values from ``cell_hours``. Several cells of one hotspot are fitted
   jointly (``cells=``, and ``neighbours=1`` by default: the 3 × 3 cells around it),
   with one scale factor per source shared by all of them and an offset per cell: a
   source's plume must explain the excess where it passes and its absence where it
   does not, which separates sources one cell cannot and triangulates the
   unregistered ones.
2. **Background** per hour: a low percentile (default the 10th) of all the city's cells
   that hour, or the ``'upwind'`` reference: the median of the cells 1-2 radii upwind
   (±30°), falling back to the percentile. Excess = observed − background.
3. **Wind** per hour from the ``wind`` table (vector mean of the sites, weighted by
   1/(d² + (5 km)²) to the cell); Pasquill stability by Turner's method from the wind
   speed and the sun (cloud unknown); Briggs plume rise from the stack parameters.
4. **Predicted** series of each candidate (registered sources within ``radius_km`` of
   a fitted cell;
   lines and areas spread over points every 500 m along or over their geometry):
   reported emission rate × the Gaussian-plume coupling to the cell's receptors. The
   receptors are the cell's fixed monitors (reference and micro-stations: the cell's
   observed values are their readings); for a cell without one, the monitors of the
   observed cells the fusion interpolates it from, with its inverse-distance weights
   (power 2, 8 cells within 15 km: an unmonitored cell's value is theirs); with no
   monitor at all, ``receptor_points²`` points over the cell. Plumes are widened by a
   wind-direction uncertainty ``sigma_theta_deg``
   (10°): one wind for a city is not the wind at every source.
5. **Fit**: bounded least squares of the excess on the predicted series,

   min ‖y − Σ_j β_j X_j − a − b·B‖² + (σ/τ)² Σ_j (β_j − 1)²,
   0 ≤ β_j ≤ 100, |a| ≤ ``max_offset`` (8 µg/m³), |b| ≤ ``max_gain_error`` (0.2),

   with a Gaussian prior (sd τ = ``prior_sd`` = 2) pulling each scale factor towards 1
   (the inventory is believed until the data say otherwise; σ = 1.4826·MAD of y), and
   per cell an offset a and a gain error b on the background B: a sensor's offset and
   gain error, which would otherwise be handed to whichever source is upwind most
   often. Both are bounded by what a calibrated micro-station may keep (the US EPA
   intercept target, :data:`MAX_OFFSET`; the HJ 1263-2022 slope, :data:`MAX_GAIN_ERROR`):
   a free offset takes the mean excess of a steady source away
   from every candidate, while b is identified by the hour-to-hour variation of the
   background, so a sensor reading 20 % high in a 100 µg/m³ month (20 µg/m³ of
   apparent excess) is not taken for a source. share_j = mean(β_j X_j) /
   (mean excess − mean(a + b·B)), scale factor β_j (far above 1: under-reporting or
   treatment not running; near 0: the source did not show). Solved by NNLS on the
   Cholesky-reduced system (n × n instead of hours × cells rows; free-sign columns
   split in two), holding variables at a bound they break and checking the optimality
   conditions, else bounded-variable least squares.
6. **Confounding**: candidates on nearly the same bearing (within ``confound_angle_deg``,
   5°), in the same distance band (within a factor 1.5) and whose predicted series
   correlate above ``confound_correlation`` (0.9) cannot be told apart by the wind: they
   share one column (one scale factor) in the fit and are reported as a group
   (``group`` column, listed together, the same evidence), not ranked as if separable.
7. **Unregistered** sources: a virtual ground-level source is scanned over a lattice
   (1 km within the radius, 250 m within 2 km of the cell) for the point that explains
   most of the residual (orthogonal matching pursuit: its series projected off the
   strongest fitted columns), refitted jointly with the registered ones; it becomes a
   row of kind ``'unregistered'`` when it explains ≥ 15 % of the excess and ≥ 2 % of
   the residual variance over ≥ 24 hours downwind, with its location estimate, the
   cells of its upwind sector (CPF of the residual, :func:`sourcegrid.tracing.wind.cpf`)
   and the emission it would need. Up to ``max_unregistered`` (2) such rows. Before one
   is accepted, the registered sources within :data:`RELEASE_DISTANCE` of it are tried
   freed from the prior (a source known to exist, emitting more than reported, before
   one nobody has seen); one that removes :data:`RELEASE_RECOVERY` of what the virtual
   source removes takes its place.
8. **Order**: by share, a confounded group by its total share (members together, and
   sharing one ``rank``: one finding to inspect, not several; :func:`shared_ranks`). A
   registered source with a prediction at the cell inside an unregistered row's
   location estimate is listed just before it (the plume model and the reported
   average rate miss a source's real hours, which a free virtual source then takes);
   its evidence says so.

The ranked table (:attr:`TraceResult.table`) has the columns of
:data:`RESULT_COLUMNS`; it is stored in the workspace table ``trace_results`` (with
run_id, cell_id, start, end, pollutant) for dossiers and reports. When the workspace
holds enough inspection findings, :mod:`sourcegrid.tracing.learning` re-ranks the rows
(column ``probability``); otherwise the physical ranking stands.

Skill on the sample city (``benchmarks/tracing.py``, whose truth uses another
transport): see the README; it is well short of perfect.

Limits
------
A ranking of candidates, not a proof: it rests on the inventory's locations and
average emission rates (hourly profiles and days off are unknown), a Gaussian plume in
flat terrain with one wind for the domain, and cell values that are themselves
interpolated where no monitor stands. Confounded groups need an inspection to split.
An unregistered source is located from one cell's residual by the plume's distance
dependence and from the neighbouring cells fitted with it (``neighbours``).

References
----------
Carslaw, D. C. and Ropkins, K. (2012), openair (CPF); Lawson, C. L. and Hanson, R. J.
(1974), Solving Least Squares Problems, Prentice-Hall, ch. 23 (NNLS, as in
``scipy.optimize.nnls``); Turner (1970) and Briggs (1973) (see
:mod:`sourcegrid.tracing.dispersion`); Hopke, P. K. (2016). Review of receptor modeling
methods for source apportionment. J. Air Waste Manag. Assoc. 66(3), 237-259.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sourcegrid.errors import (
    InputError,
    Problem,
    SourcegridError,
    WorkspaceError,
    problems_frame,
)
from sourcegrid.timebase import local_time
from sourcegrid.tracing import dispersion, learning, wind
from sourcegrid.tracing.findings import read_findings

__all__ = [
    "TRACE_RESULTS_TABLE",
    "RESULT_COLUMNS",
    "STORED_COLUMNS",
    "CANDIDATE_COLUMNS",
    "TraceResult",
    "TraceError",
    "trace_cell",
    "trace_cells",
    "load_candidates",
    "prepare_candidates",
    "observed_matrix",
    "background_series",
    "hourly_wind",
    "fit_contributions",
    "confounded_groups",
    "bearing_deg",
    "shared_ranks",
]

TRACE_RESULTS_TABLE = "trace_results"
#: Columns of :attr:`TraceResult.table`, in order (the issue's columns first).
RESULT_COLUMNS = ["rank", "source_id", "name", "kind", "lon", "lat", "distance_m",
                  "bearing_deg", "share", "scale_factor", "predicted", "fitted",
                  "upwind_hours_share", "evidence", "group", "group_size", "correlation",
                  "cpf_at_bearing", "emission_rate", "sector", "physical_rank",
                  "probability"]
#: Columns of the workspace table ``trace_results``.
STORED_COLUMNS = ["run_id", "cell_id", "start", "end", "pollutant"] + RESULT_COLUMNS
#: Columns a candidate table must have; the others of the contract are optional.
CANDIDATE_COLUMNS = ["source_id", "lon", "lat", "emission_rate"]
OPTIONAL_CANDIDATE_COLUMNS = {"name": "", "kind": "point", "stack_height": np.nan,
                              "stack_diameter": np.nan, "exit_velocity": np.nan,
                              "exit_temperature": np.nan, "sector": "", "industry_code": ""}
BACKGROUNDS = ("percentile", "upwind")
#: Ambient temperature used for plume rise when the workspace has no TEMP readings [K].
DEFAULT_AMBIENT_TEMPERATURE = 288.15
#: Height of a virtual (unregistered) source [m]: a low stack or a yard.
UNREGISTERED_HEIGHT = 10.0
#: Strongest fitted columns the unregistered scan projects off (orthogonal matching pursuit).
OMP_COLUMNS = 40
#: Spacing [m] and half-width [m] of the fine lattice of virtual sources around the cell.
FINE_SPACING = 250.0
FINE_REACH = 2000.0
#: Largest scale factor a registered source may get (true emission / reported): 100 is
#: treatment that removes 99 % not running at all.
MAX_SCALE_FACTOR = 100.0
#: An unregistered source is reported when it explains at least this share of the
#: residual sum of squares, over at least this many hours downwind of it.
UNREGISTERED_MIN_EXPLAINED = 0.02
UNREGISTERED_MIN_HOURS = 24
#: A registered source within this distance [m] of a virtual (unregistered) one is tried
#: instead of it, freed from the prior on its scale factor (the nearest
#: ``RELEASE_CANDIDATES``); it is preferred when it removes at least ``RELEASE_RECOVERY``
#: of the residual sum of squares the virtual source removes: a source known to exist,
#: emitting more than reported, before one nobody has seen. At most ``RELEASE_MAX``
#: sources are released per trace.
RELEASE_DISTANCE = 1500.0
RELEASE_CANDIDATES = 3
RELEASE_RECOVERY = 0.8
RELEASE_MAX = 2
#: Bound of the per-cell offset of the fit [µg/m³]: a calibrated micro-station's offset
#: (US EPA (2021) sensor target: intercept within ±5 µg/m³) plus the error of the
#: background at the cell (a regional gradient of a few µg/m³). A free offset would take
#: the mean excess of a steady source (a yard, a boiler) away from every candidate.
MAX_OFFSET = 8.0
#: Bound of the per-cell gain error of the fit, |b| in reading = (1 + b) × true: the
#: slope a deployed grid micro-station must keep against the reference, 1 ± 0.2
#: (HJ 1263-2022; the sample city's instrument model uses the same bound). Fitted on
#: the background itself, so that the mean of a sensor's gain error (b × the mean
#: background) is not handed to the sources. The US EPA (2021) target for raw sensors,
#: slope 1.0 ± 0.35 (Duvall, R. et al., EPA/600/R-20/280, Table ES-1), was the default
#: until tuning seeds 10-14 of ``benchmarks/tracing.py`` showed it wrong the other way:
#: a free 35 % gain on a 50 µg/m³ background (17 µg/m³) took the excess of a yard
#: upwind in stagnant hours, when both rise together; pass 0.35 for a network of
#: uncalibrated sensors.
MAX_GAIN_ERROR = 0.2
#: Prior sd of the scale factor of a source inspectors found compliant (inspected, not
#: the cause, never confirmed): its emission is near what it reports, so a plume that
#: passes the cell cannot take the excess by a scale factor of 10 or 30.
HELD_PRIOR_SD = 0.5


class TraceError(SourcegridError, ValueError):
    """A trace that cannot run as asked (options out of range, no data in the window)."""


@dataclass
class TraceResult:
    """What :func:`trace_cell` found, with the series behind it (for figures).

    Attributes
    ----------
    cell_id, cells : str, list of str
        The traced cell and all cells fitted jointly (the traced one first).
    start, end : pandas.Timestamp
        The window [start, end) in UTC.
    pollutant : str
    run_id : str
        Key of the rows in ``trace_results``.
    table : pandas.DataFrame
        The ranked sources (:data:`RESULT_COLUMNS`).
    hours : pandas.DatetimeIndex
        The hours of the window (UTC).
    observed, background, excess : pandas.DataFrame / Series
        Observed values per cell (hours × cells), background per hour, excess per cell
        [µg/m³].
    predicted, fitted : pandas.DataFrame
        Per candidate (columns = source_id) at the traced cell [µg/m³]: at the
        reported emission rate, and after the fit.
    residual : pandas.Series
        Excess − fitted at the traced cell [µg/m³].
    wind : pandas.DataFrame
        time, wind_speed [m/s], wind_dir [degree], stability, used (hour in the fit).
    excess_cpf, residual_cpf : pandas.DataFrame
        CPF tables (30° sectors) of the excess and of the residual.
    unregistered_cells : list of str
        Cells in the upwind sector of the strongest residual (where an unregistered
        source must be).
    rejected_candidates : pandas.DataFrame
        Candidates left out, with reasons (rejects format).
    summary : dict
        Fit statistics (hours, r2, explained share, timings [s]).
    """

    cell_id: str
    cells: list
    start: pd.Timestamp
    end: pd.Timestamp
    pollutant: str
    run_id: str
    table: pd.DataFrame
    hours: pd.DatetimeIndex
    observed: pd.DataFrame
    background: pd.Series
    excess: pd.DataFrame
    predicted: pd.DataFrame
    fitted: pd.DataFrame
    residual: pd.Series
    wind: pd.DataFrame
    excess_cpf: pd.DataFrame
    residual_cpf: pd.DataFrame
    unregistered_cells: list = field(default_factory=list)
    rejected_candidates: pd.DataFrame = field(default_factory=lambda: problems_frame([]))
    summary: dict = field(default_factory=dict)

    def stored(self) -> pd.DataFrame:
        """The table as stored in ``trace_results`` (run_id, cell_id, start, end, pollutant)."""
        frame = self.table.copy()
        frame.insert(0, "pollutant", self.pollutant)
        frame.insert(0, "end", self.end)
        frame.insert(0, "start", self.start)
        frame.insert(0, "cell_id", self.cell_id)
        frame.insert(0, "run_id", self.run_id)
        return frame[STORED_COLUMNS]


# ------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------


def _utc(moment) -> pd.Timestamp:
    from sourcegrid.timebase import utc_timestamp

    try:
        return utc_timestamp(moment)
    except (ValueError, TypeError) as error:
        raise TraceError(f"not a time: {moment!r} ({error})") from None


def bearing_deg(from_x, from_y, to_x, to_y) -> np.ndarray:
    """Compass bearing [degree, 0 = north, clockwise] from one point to another (x/y in m)."""
    return np.rad2deg(np.arctan2(np.asarray(to_x) - np.asarray(from_x),
                                 np.asarray(to_y) - np.asarray(from_y))) % 360.0


def load_candidates(workspace, pollutant: str, period=None) -> pd.DataFrame:
    """Candidate sources with coordinates and emission rates [g/s] for a pollutant.

    Uses :func:`sourcegrid.inventory.tracing_candidates` when the inventory package is
    installed; otherwise joins the workspace tables ``sources`` and ``inventory`` of the
    contract (emission_rate summed per source for the pollutant).
    """
    try:
        from sourcegrid.inventory import tracing_candidates
    except ImportError:
        tracing_candidates = None
    if tracing_candidates is not None:
        return tracing_candidates(workspace, pollutant, period)
    for name in ("sources", "inventory"):
        if not workspace.has(name):
            raise WorkspaceError(
                f"the workspace has no table {name!r}: tracing needs an inventory with "
                "coordinates ('sourcegrid inventory build' or 'sourcegrid inventory import')")
    sources = workspace.read("sources")
    inventory = workspace.table("inventory")
    inventory = inventory.filter(inventory.pollutant == pollutant)
    if period is not None and "period" in inventory.columns:
        inventory = inventory.filter(inventory.period == str(period))
    rates = inventory.group_by("source_id").aggregate(
        emission_rate=inventory.emission_rate.sum()).to_pandas()
    return sources.merge(rates, on="source_id", how="inner")


def _fill_centroids(frame: pd.DataFrame, shaped: np.ndarray, source: str, problems) -> None:
    """Give line and area sources without lon/lat their geometry's centroid; a geometry
    that is not GeoJSON becomes a problem (and the row a reject via its missing lon)."""
    import shapely

    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    for index in np.flatnonzero(shaped):
        try:
            shape = shapely.from_geojson(frame.at[index, "geometry"])
        except (shapely.errors.GEOSException, ValueError, TypeError):
            problems.append(Problem(source, int(index) + 2, "geometry",
                                    frame.at[index, "geometry"][:60], "bad_geometry",
                                    "a GeoJSON geometry (LineString, Polygon, Point)"))
            frame.at[index, "geometry"] = ""
            continue
        if not (np.isfinite(lon.iloc[index]) and np.isfinite(lat.iloc[index])):
            centre = shape.centroid
            lon.iloc[index], lat.iloc[index] = centre.x, centre.y
    frame["lon"], frame["lat"] = lon, lat


def prepare_candidates(candidates: pd.DataFrame, source: str = "candidates"
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check and complete a candidate table; rows that cannot be used are set apart.

    Returns
    -------
    (kept, rejected)
        ``kept`` with every column of :data:`OPTIONAL_CANDIDATE_COLUMNS` (defaults where
        missing); ``rejected`` in the rejects format (row, column, value, reason).

    Raises
    ------
    InputError
        When a required column (:data:`CANDIDATE_COLUMNS`) is missing.
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise InputError([Problem(source, None, c, "", "missing_column",
                                  f"a column {c!r} (tracing needs {', '.join(CANDIDATE_COLUMNS)})")
                          for c in missing], "the candidate sources lack columns")
    frame = candidates.copy().reset_index(drop=True)
    for column, default in OPTIONAL_CANDIDATE_COLUMNS.items():
        if column not in frame:
            frame[column] = default
    frame["source_id"] = frame["source_id"].astype(str)
    frame["name"] = frame["name"].fillna("").astype(str)
    frame["name"] = frame["name"].where(frame["name"] != "", frame["source_id"])
    problems = []
    bad = np.zeros(len(frame), dtype=bool)
    if "geometry" not in frame:
        frame["geometry"] = ""
    frame["geometry"] = frame["geometry"].fillna("").astype(str)
    shaped = (frame["geometry"] != "").to_numpy()
    _fill_centroids(frame, shaped, source, problems)
    for column, low, high, reason in (("lon", -180, 180, "bad_coordinate"),
                                      ("lat", -90, 90, "bad_coordinate"),
                                      ("emission_rate", 0, np.inf, "bad_emission_rate")):
        values = pd.to_numeric(frame[column], errors="coerce")
        wrong = ~(values.between(low, high)) | values.isna()
        for index in np.flatnonzero(wrong.to_numpy()):
            problems.append(Problem(source, int(index) + 2, column, str(frame.at[index, column]),
                                    reason, f"a number in [{low}, {high}]"))
        bad |= wrong.to_numpy()
        frame[column] = values
    for column in ("stack_height", "stack_diameter", "exit_velocity", "exit_temperature"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    duplicated = frame["source_id"].duplicated(keep="first").to_numpy()
    for index in np.flatnonzero(duplicated & ~bad):
        problems.append(Problem(source, int(index) + 2, "source_id", frame.at[index, "source_id"],
                                "duplicate_source", "one row per source (the first is kept)"))
    bad |= duplicated
    return frame.loc[~bad].reset_index(drop=True), problems_frame(problems)


#: Spacing of the points a line or area source is spread over [m].
EMITTER_SPACING = 500.0


def emitter_points(candidates: pd.DataFrame, spec, spacing: float = EMITTER_SPACING):
    """Points that stand for each candidate: one for a point source; points every
    ``spacing`` along a line (GeoJSON LineString) or on a grid over an area (Polygon),
    each with an equal share of the emission.

    Returns
    -------
    (owner, x, y, weight)
        Candidate index, projected position [m] and emission share of each point.
    """

    import shapely

    owners, xs, ys, weights = [], [], [], []
    lon = candidates["lon"].to_numpy(float)
    lat = candidates["lat"].to_numpy(float)
    geometry = (candidates["geometry"].fillna("").astype(str).to_numpy()
                if "geometry" in candidates else np.full(len(candidates), ""))
    plain = np.flatnonzero((geometry == "") | (candidates.get("kind", "point") == "point"))
    px, py = spec.to_xy(lon[plain], lat[plain])
    owners.append(plain)
    xs.append(px)
    ys.append(py)
    weights.append(np.ones(len(plain)))
    for index in np.setdiff1d(np.arange(len(candidates)), plain):
        shape = shapely.from_geojson(geometry[index])
        coords = shapely.get_coordinates(shape)
        gx, gy = spec.to_xy(coords[:, 0], coords[:, 1])
        projected = shapely.transform(shape, lambda c, gx=gx, gy=gy: np.column_stack([gx, gy]))
        if projected.geom_type in ("LineString", "MultiLineString"):
            length = projected.length
            steps = max(int(np.ceil(length / spacing)), 1)
            points = shapely.line_interpolate_point(projected, (np.arange(steps) + 0.5) / steps,
                                                    normalized=True)
        elif projected.geom_type in ("Polygon", "MultiPolygon"):
            x0, y0, x1, y1 = projected.bounds
            grid_x, grid_y = np.meshgrid(np.arange(x0 + spacing / 2, x1, spacing),
                                         np.arange(y0 + spacing / 2, y1, spacing))
            points = shapely.points(grid_x.ravel(), grid_y.ravel())
            points = points[shapely.contains(projected, points)] if len(points) else points
            if len(points) == 0:
                points = np.array([projected.centroid])
        else:
            points = np.array([projected.centroid])
        points = np.atleast_1d(points)
        owners.append(np.full(len(points), index))
        xs.append(shapely.get_x(points))
        ys.append(shapely.get_y(points))
        weights.append(np.full(len(points), 1.0 / len(points)))
    owner = np.concatenate(owners).astype(np.int64)
    order = np.argsort(owner, kind="stable")
    return (owner[order], np.concatenate(xs)[order], np.concatenate(ys)[order],
            np.concatenate(weights)[order])


def _in_window(table, hours: pd.DatetimeIndex):
    """Rows of an Ibis table with hours[0] <= time < hours[-1] + 1 h (UTC)."""
    import ibis

    start, end = hours[0], hours[-1] + pd.Timedelta(hours=1)
    low, high = start.to_pydatetime(), end.to_pydatetime()
    if not getattr(table.time.type(), "timezone", None):
        low, high = start.tz_localize(None).to_pydatetime(), end.tz_localize(None).to_pydatetime()
    return table.filter((table.time >= ibis.literal(low)) & (table.time < ibis.literal(high)))


def _hours_of(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True).dt.floor("h")


def observed_matrix(workspace, pollutant: str, hours: pd.DatetimeIndex,
                    cells: list[str] | None = None) -> pd.DataFrame:
    """Cell-hour values [µg/m³] over the hours: a (hours × cells) frame.

    Parameters
    ----------
    cells : list of str, optional
        Only these cells (default every cell with a value in the window).
    """
    if not workspace.has("cell_hours"):
        raise WorkspaceError("the workspace has no table 'cell_hours'; fuse the feeds first "
                             "('sourcegrid grid fuse')")
    table = _in_window(workspace.table("cell_hours"), hours)
    chosen = table.filter((table.pollutant == pollutant) & table.value.notnull())
    if cells is not None:
        chosen = chosen.filter(chosen.cell_id.isin(list(cells)))
    frame = chosen.select("time", "cell_id", "value").to_pandas()
    if frame.empty:
        return pd.DataFrame(index=hours, dtype=float)
    frame["time"] = _hours_of(frame["time"])
    codes, names = pd.factorize(frame["cell_id"], sort=True)
    slot = hours.get_indexer(pd.DatetimeIndex(frame["time"]))
    keep = slot >= 0
    flat = slot[keep] * len(names) + codes[keep]
    size = len(hours) * len(names)
    sums = np.bincount(flat, weights=frame["value"].to_numpy(float)[keep],
                       minlength=size).reshape(len(hours), len(names))
    counts = np.bincount(flat, minlength=size).astype(float).reshape(len(hours), len(names))
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / counts, np.nan)
    return pd.DataFrame(values, index=hours, columns=list(names))


def database_background(workspace, pollutant: str, hours: pd.DatetimeIndex,
                        percentile: float = 10.0) -> pd.Series:
    """Per hour, the ``percentile``-th percentile of all cells' values, computed by the
    workspace's engine (``quantile`` = DuckDB ``QUANTILE_CONT``, type 7) [µg/m³]."""
    table = _in_window(workspace.table("cell_hours"), hours)
    chosen = table.filter((table.pollutant == pollutant) & table.value.notnull())
    frame = chosen.group_by("time").aggregate(
        background=chosen.value.quantile(float(percentile) / 100.0)).to_pandas()
    if frame.empty:
        return pd.Series(np.nan, index=hours, name="background")
    frame["time"] = _hours_of(frame["time"])
    return frame.groupby("time")["background"].mean().reindex(hours).rename("background")


def background_series(matrix: pd.DataFrame, percentile: float = 10.0) -> pd.Series:
    """Per hour, the ``percentile``-th percentile (type 7) of all cells' values [µg/m³]."""
    values = matrix.to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanpercentile(values, percentile, axis=1) if values.size else np.array([])
    return pd.Series(low, index=matrix.index, name="background")


def _upwind_background(matrix, cell_xy, target_xy, direction, radius_m, fallback):
    """Median of the cells 1-2 radii upwind (±30°) of the target, per hour."""
    dx = cell_xy[:, 0] - target_xy[0]
    dy = cell_xy[:, 1] - target_xy[1]
    distance = np.hypot(dx, dy)
    bearing = bearing_deg(0, 0, dx, dy)
    offset = np.abs((bearing[None, :] - np.asarray(direction)[:, None] + 180.0) % 360.0 - 180.0)
    upwind = (offset <= 30.0) & (distance[None, :] >= radius_m) & (distance[None, :] <= 2 * radius_m)
    values = np.where(upwind, matrix.to_numpy(dtype=float), np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=1)
    return pd.Series(np.where(np.isfinite(median), median, fallback.to_numpy()),
                     index=matrix.index, name="background")


def hourly_wind(workspace, hours: pd.DatetimeIndex, spec, target_xy) -> pd.DataFrame:
    """Hourly wind at the cell: time, wind_speed [m/s], wind_dir [degree from].

    :func:`sourcegrid.tracing.wind.mean_wind_by` (the one averaging rule: scalar mean
    speed, vector mean direction, NaN direction in a calm) over every site's readings
    of the hour, each site weighted by 1/(d² + (5 km)²) to the cell and shared among its
    readings of the hour. Hours with no reading, and calm hours, have a NaN direction.
    """
    empty = pd.DataFrame({"time": hours, "wind_speed": np.nan, "wind_dir": np.nan})
    if not workspace.has("wind"):
        return empty
    frame = _in_window(workspace.table("wind"), hours).select(
        "time", "site_id", "lon", "lat", "wind_speed", "wind_dir").to_pandas()
    frame = frame.dropna(subset=["wind_speed", "wind_dir"])
    if frame.empty:
        return empty
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.floor("h")
    x, y = spec.to_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    distance2 = np.nan_to_num((x - target_xy[0]) ** 2 + (y - target_xy[1]) ** 2, nan=1e12)
    readings = frame.groupby(["time", "site_id"])["wind_speed"].transform("size").to_numpy()
    weight = 1.0 / (distance2 + 5000.0 ** 2) / readings
    means = wind.mean_wind_by(frame["time"], frame["wind_speed"], frame["wind_dir"],
                              weights=weight)
    result = means.set_index("key")[["wind_speed", "wind_dir"]].reindex(hours)
    return result.rename_axis("time").reset_index()


def _ambient_temperature(workspace, hours: pd.DatetimeIndex) -> np.ndarray:
    """Hourly mean TEMP readings [K], else :data:`DEFAULT_AMBIENT_TEMPERATURE`."""
    default = np.full(len(hours), DEFAULT_AMBIENT_TEMPERATURE)
    if not workspace.has("observations"):
        return default
    table = _in_window(workspace.table("observations"), hours)
    chosen = table.filter(table.pollutant == "TEMP")
    frame = chosen.select("time", "value").to_pandas()
    if frame.empty:
        return default
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.floor("h")
    celsius = frame.groupby("time")["value"].mean().reindex(hours)
    kelvin = celsius.to_numpy(float) + 273.15
    return np.where(np.isfinite(kelvin) & (kelvin > 200) & (kelvin < 340), kelvin, default)


# ------------------------------------------------------------------------------------
# Fit
# ------------------------------------------------------------------------------------


def confounded_groups(predicted: np.ndarray, bearings: np.ndarray, active: np.ndarray, *,
                      angle_deg: float = 5.0, correlation: float = 0.9,
                      distances: np.ndarray | None = None,
                      distance_ratio: float = 1.5) -> np.ndarray:
    """Group label per candidate: candidates the wind cannot tell apart share a label.

    Two candidates are confounded when their bearings from the cell differ by at most
    ``angle_deg``, their distances by at most a factor ``distance_ratio`` (the same
    distance band), and their predicted series correlate at ``correlation`` or more.
    Groups form around leaders, strongest predicted first: a candidate joins the group
    of the first leader it is confounded with (no chains of pairwise links).

    Parameters
    ----------
    predicted : numpy.ndarray, shape (candidates, samples)
        Predicted series.
    bearings : numpy.ndarray, shape (candidates,)
        Bearing from the cell to each candidate [degree].
    active : numpy.ndarray of bool
        Candidates that can be grouped (some predicted contribution).
    angle_deg, correlation, distance_ratio : float
        The confounding thresholds.
    distances : numpy.ndarray, optional
        Distance of each candidate from the cell [m].
    """
    count = len(bearings)
    labels = np.arange(count)
    index = np.flatnonzero(active)
    if index.size < 2:
        return labels
    series = predicted[index].astype(float)
    strength = series.mean(axis=1)
    series = series - series.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(series, axis=1)
    norm[norm == 0] = np.inf
    diff = np.abs((bearings[index][:, None] - bearings[index][None, :] + 180) % 360 - 180)
    linked = diff <= angle_deg
    if distances is not None:
        far = np.maximum(distances[index], 1.0)
        ratio = np.maximum(far[:, None], far[None, :]) / np.minimum(far[:, None], far[None, :])
        linked &= ratio <= distance_ratio
    # the correlations of the pairs close in bearing and distance only (a few per
    # candidate), in blocks of pairs that bound the working memory
    first, second = np.nonzero(np.triu(linked, 1))
    corr = np.empty(len(first))
    block = max(1, 2_000_000 // max(series.shape[1], 1))
    for start in range(0, len(first), block):
        i, j = first[start:start + block], second[start:start + block]
        corr[start:start + block] = (np.einsum("ij,ij->i", series[i], series[j])
                                     / (norm[i] * norm[j]))
    close = corr >= correlation
    linked = np.zeros_like(linked)
    linked[first[close], second[close]] = True
    linked[second[close], first[close]] = True
    assigned = np.full(index.size, -1)
    for position in np.argsort(-strength, kind="stable"):
        if assigned[position] >= 0:
            continue
        assigned[position] = position
        members = np.flatnonzero(linked[position] & (assigned < 0))
        assigned[members] = position
    labels[index] = index[assigned]
    return labels


def _nnls_split(matrix, target, lower) -> np.ndarray:
    """NNLS with each column of negative lower bound split into a positive and a
    negative part (x = x⁺ − x⁻, both ≥ 0)."""
    from scipy.optimize import nnls

    if matrix.shape[1] == 0:
        return np.zeros(0)
    free = lower < 0
    split = np.hstack([matrix, -matrix[:, free]])
    solution, _ = nnls(split, target, maxiter=50 * split.shape[1])
    x = solution[:matrix.shape[1]].copy()
    x[free] -= solution[matrix.shape[1]:]
    return x


def _optimal(matrix, target, x, lower, upper) -> bool:
    """The Karush-Kuhn-Tucker conditions of min ½‖A x − b‖², lower ≤ x ≤ upper: the
    gradient g = Aᵀ(A x − b) is zero for x inside its bounds, ≥ 0 at a lower bound and
    ≤ 0 at an upper one (sufficient for the optimum of this convex problem)."""
    gradient = matrix.T @ (matrix @ x - target)
    scale = 1e-7 * max(float(np.abs(matrix.T @ target).max(initial=0.0)), 1e-12)
    width = 1e-9 * np.maximum(np.abs(np.where(np.isfinite(upper), upper, 0.0)), 1.0)
    at_lower = x <= lower + width
    at_upper = x >= upper - width
    inside = ~at_lower & ~at_upper
    return bool(np.all(np.abs(gradient[inside]) <= scale)
                and np.all(gradient[at_lower & ~at_upper] >= -scale)
                and np.all(gradient[at_upper & ~at_lower] <= scale))


def _reduced_system(matrix, target):
    """An n × n system with the same least-squares solutions as a tall m × n one.

    ‖A x − b‖² = ‖R x − c‖² + const with RᵀR = AᵀA (Cholesky, R upper triangular) and
    c = R⁻ᵀ Aᵀ b: NNLS then iterates on n rows instead of m (hours × cells + prior rows),
    the gradients and the solution unchanged. A relative 1e-12 of the diagonal keeps a
    rank-deficient Gram matrix positive definite; the tall system is kept when m < 2 n
    or the factorisation fails.
    """
    from scipy.linalg import LinAlgError, cholesky, solve_triangular

    rows, columns = matrix.shape
    if rows < 2 * columns:
        return matrix, target
    gram = matrix.T @ matrix
    gram[np.diag_indices(columns)] += 1e-12 * max(float(np.diag(gram).max(initial=0.0)),
                                                  1e-300)
    try:
        upper = cholesky(gram, lower=False, check_finite=False)
    except LinAlgError:
        return matrix, target
    reduced_target = solve_triangular(upper, matrix.T @ target, trans="T", lower=False,
                                      check_finite=False)
    return upper, reduced_target


def _bounded_least_squares(matrix, target, lower, upper) -> np.ndarray:
    """min ‖A x − b‖ with lower ≤ x ≤ upper, lower ≤ 0.

    NNLS (Lawson-Hanson, fast) with each free-sign column split into a positive and a
    negative part. When a bound is broken, the variables breaking it are held at it and
    NNLS solves for the others; a held variable whose gradient points back inside its
    bounds is let go again (a few rounds of this active set). The result is returned
    when it meets the optimality (KKT) conditions, else bounded-variable least squares
    (``scipy.optimize.lsq_linear``, method 'bvls') solves it exactly.
    """
    from scipy.optimize import lsq_linear

    matrix, target = _reduced_system(matrix, target)
    n = matrix.shape[1]
    tolerance = 1e-9 * np.maximum(np.abs(np.where(np.isfinite(upper), upper, 0.0)), 1.0)
    held = np.zeros(n, dtype=bool)
    value = np.zeros(n)
    for _ in range(8):
        loose = ~held
        rest = target - matrix[:, held] @ value[held] if held.any() else target
        x = value.copy()
        if loose.any():  # (scipy's nnls must not be given a matrix without columns)
            x[loose] = _nnls_split(matrix[:, loose], rest, lower[loose])
        broken = loose & ((x > upper + tolerance) | (x < lower - tolerance))
        if broken.any():
            held |= broken
            value[broken] = np.clip(x[broken], lower[broken], upper[broken])
            continue
        if not held.any() or _optimal(matrix, target, x, lower, upper):
            return x
        # release the held variables whose gradient points inside their bounds
        gradient = matrix.T @ (matrix @ x - target)
        wrong = held & (((x >= upper - tolerance) & (gradient > 0))
                        | ((x <= lower + tolerance) & (gradient < 0)))
        if not wrong.any():
            break
        held &= ~wrong
    return lsq_linear(matrix, target, bounds=(lower, upper), method="bvls").x


def fit_contributions(excess: np.ndarray, predicted: np.ndarray, groups: np.ndarray, *,
                      prior_sd: float = 3.0, offsets: np.ndarray | None = None,
                      covariate: np.ndarray | None = None, free: int = 0,
                      max_scale: float = None, max_offset: float | None = None,
                      released=None, max_gain: float | None = None, held=None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale factors β ≥ 0 of the candidates: bounded least squares with a prior β ~ 1.

    Minimises ‖y − Σ_g β_g X_g − c‖² + (σ/τ)² Σ_g (β_g − 1)² with 0 ≤ β_g ≤
    :data:`MAX_SCALE_FACTOR`: a Gaussian prior of standard deviation τ = ``prior_sd`` on
    each scale factor around the reported emission (β = 1), σ the robust spread of the
    excess (1.4826 × MAD). The constant c is an offset per label of ``offsets`` (either
    sign) plus, with ``covariate`` (e.g. the background), a coefficient per label times
    it: a sensor's offset and gain error at the cell.

    Parameters
    ----------
    excess : numpy.ndarray, shape (samples,)
        Observed excess [µg/m³] (finite samples only).
    predicted : numpy.ndarray, shape (candidates, samples)
        Predicted series at the reported emission [µg/m³].
    groups : numpy.ndarray of int, shape (candidates,)
        Group labels; a group shares one scale factor.
    prior_sd : float
        τ; ``inf`` (or 0) = no prior (plain non-negative least squares).
    offsets : numpy.ndarray of int, shape (samples,), optional
        Offset label of each sample (e.g. its cell).
    covariate : numpy.ndarray, shape (samples,), optional
        A series whose coefficient (either sign) is fitted per offset label.
    free : int
        The last ``free`` groups (by label order) get no prior and no upper bound
        (virtual sources); the others are bounded by ``max_scale``.
    max_scale : float, optional
        Upper bound of the scale factors (default :data:`MAX_SCALE_FACTOR`).
    max_offset : float, optional
        Bound of each offset, |a| ≤ max_offset [µg/m³] (None = free): a calibrated
        sensor's offset and the background's error are a few µg/m³, and a free offset
        takes the mean excess of a steady source away from every candidate.
    released : array_like of int, optional
        Group labels fitted without the prior (still bounded by ``max_scale``): a
        registered source whose data show it emits far more than reported.
    held : array_like of int, optional
        Group labels held closer to the reported emission: prior sd
        :data:`HELD_PRIOR_SD` instead of τ (a source inspectors found compliant).
    max_gain : float, optional
        With ``covariate``: fit the coefficient of the covariate itself (not centred),
        bounded by |b| ≤ max_gain, instead of a free coefficient of the centred one. With
        the background as covariate, b is a sensor's gain error (reading = (1 + b) × true
        + offset): its mean part b·B̄, tens of µg/m³ for a 20 % gain error in a winter
        month, is then taken from the excess where the hourly background shows it, and
        not handed to the sources.

    Returns
    -------
    (beta, offset_values, nuisance)
        β per candidate (its group's; 0 for candidates never predicted), the fitted
        constant per offset label [µg/m³], and the fitted offset + covariate terms per
        sample [µg/m³].
    """
    from scipy import sparse

    labels, inverse = np.unique(groups, return_inverse=True)
    columns = np.asarray(sparse.csr_matrix(
        (np.ones(len(inverse)), (inverse.ravel(), np.arange(len(inverse)))),
        shape=(len(labels), len(inverse))) @ predicted, dtype=float)
    norms = np.linalg.norm(columns, axis=1)
    useful = norms > 0
    beta_group = np.zeros(len(labels))
    offset_labels = (np.unique(offsets) if offsets is not None else np.zeros(0, dtype=np.int64))
    offset_values = np.zeros(len(offset_labels))
    nuisance = np.zeros(excess.shape)
    if not np.isfinite(excess).all() or excess.size == 0:
        return beta_group[inverse], offset_values, nuisance
    n_used = int(useful.sum())
    blocks = [(columns[useful] / norms[useful, None]).T]  # unit columns
    lower, upper = [np.zeros(n_used)], [np.full(n_used, np.inf)]
    is_free = np.zeros(len(labels), dtype=bool)
    if free:
        is_free[-free:] = True
    no_prior = is_free.copy()
    if released is not None and len(released):
        no_prior |= np.isin(labels, np.asarray(released))
    is_free, no_prior = is_free[useful], no_prior[useful]
    bound = MAX_SCALE_FACTOR if max_scale is None else float(max_scale)
    upper[0] = np.where(is_free, np.inf, bound * norms[useful])
    n_offsets = len(offset_labels)
    if n_offsets:
        indicator = (offsets[:, None] == offset_labels[None, :]).astype(float)
        scale = np.sqrt(indicator.sum(axis=0))
        blocks.append(indicator / scale)
        bound_offset = np.inf if max_offset is None else float(max_offset)
        lower.append(-bound_offset * scale)
        upper.append(bound_offset * scale)
        if covariate is not None:
            series = np.asarray(covariate, float)
            if max_gain is None:
                series = series - np.mean(series)
            gain = indicator * series[:, None]
            gain_norm = np.linalg.norm(gain, axis=0)
            gain_norm[gain_norm == 0] = 1.0
            blocks.append(gain / gain_norm)
            bound_gain = np.inf if max_gain is None else float(max_gain)
            lower.append(-bound_gain * gain_norm)
            upper.append(bound_gain * gain_norm)
    matrix = np.hstack(blocks)
    target = excess.astype(float)
    if np.isfinite(prior_sd) and prior_sd > 0 and n_used:
        spread = 1.4826 * np.median(np.abs(target - np.median(target)))
        mu = max(spread, 1e-9) / float(prior_sd)
        weights = np.where(no_prior, 0.0, mu / norms[useful])
        if held is not None and len(held):
            tighter = np.isin(labels, np.asarray(held))[useful] & ~no_prior
            weights[tighter] *= float(prior_sd) / HELD_PRIOR_SD
        keep = weights > 0
        prior = np.zeros((int(keep.sum()), matrix.shape[1]))
        prior[np.arange(int(keep.sum())), np.flatnonzero(keep)] = weights[keep]
        matrix = np.vstack([matrix, prior])
        target = np.concatenate([target, np.full(int(keep.sum()), mu)])
    lower_all, upper_all = np.concatenate(lower), np.concatenate(upper)
    solution = _bounded_least_squares(matrix, target, lower_all, upper_all)
    beta_group[useful] = np.maximum(solution[:n_used], 0.0) / norms[useful]  # β ≥ 0 exactly
    if n_offsets:
        offset_values = solution[n_used:n_used + n_offsets] / scale
        nuisance = np.hstack(blocks[1:]) @ solution[n_used:]
    return beta_group[inverse], offset_values, nuisance


def _receptor_offsets(cell_size: float, points: int) -> np.ndarray:
    steps = ((np.arange(points) + 0.5) / points - 0.5) * cell_size
    ox, oy = np.meshgrid(steps, steps)
    return np.column_stack([ox.ravel(), oy.ravel()])


def _distinct_receptors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct receptor positions (to 1 cm) and each entry's index among them."""
    key = np.column_stack([np.round(x, 2), np.round(y, 2)])
    unique, entry_receptor = np.unique(key, axis=0, return_inverse=True)
    return unique[:, 0], unique[:, 1], entry_receptor.ravel().astype(np.int64)


def _receptor_map(x, y, receptor_cell, receptor_weight, n_cells):
    """Distinct receptor positions and the (receptors × cells) weights of the entries:
    a monitor that several cells of a joint fit interpolate from is coupled once."""
    from scipy import sparse

    point_x, point_y, entry_receptor = _distinct_receptors(x, y)
    receptor_cell = np.asarray(receptor_cell, dtype=np.int64)
    if receptor_weight is None:
        counts = np.bincount(receptor_cell, minlength=n_cells).astype(float)
        receptor_weight = 1.0 / counts[receptor_cell]
    mapping = sparse.csr_matrix((np.asarray(receptor_weight, float),
                                 (entry_receptor, receptor_cell)),
                                shape=(len(point_x), n_cells))
    mapping.sum_duplicates()
    return point_x, point_y, mapping


def monitor_positions(workspace, spec, hours: pd.DatetimeIndex, pollutant: str) -> pd.DataFrame:
    """Distinct positions of the reference and micro-stations reporting ``pollutant`` in the
    window, with their cell (site_id, lon, lat, x, y, cell_id)."""
    from sourcegrid.grid.spec import format_cell_id

    empty = pd.DataFrame(columns=["site_id", "lon", "lat", "x", "y", "cell_id"])
    if not workspace.has("observations"):
        return empty
    table = _in_window(workspace.table("observations"), hours)
    chosen = table.filter((table.pollutant == pollutant)
                          & table.site_kind.isin(["reference", "micro"]))
    frame = chosen.select("site_id", "site_kind", "lon", "lat").distinct().to_pandas()
    if frame.empty:
        return empty
    frame = frame.groupby("site_id", as_index=False).agg(
        lon=("lon", "median"), lat=("lat", "median"), site_kind=("site_kind", "first"))
    x, y = spec.to_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    rows, cols = spec.cell_of_xy(x, y)
    frame["x"], frame["y"] = x, y
    frame["cell_id"] = format_cell_id(rows, cols)
    return frame.loc[rows >= 0].reset_index(drop=True)


#: Fusion weights of the fixed monitors in a cell (1/r², r = the relative uncertainty of
#: :data:`sourcegrid.grid.fusion.RELATIVE_UNCERTAINTY`: reference 0.10, micro 0.25), and
#: its inverse-distance interpolation of an unmonitored cell (power 2, at most 8 observed
#: cells within 15 km): the tracer predicts what the fused value is made of.
MONITOR_WEIGHT = {"reference": 1 / 0.10 ** 2, "micro": 1 / 0.25 ** 2}
IDW_POWER, IDW_NEIGHBOURS, IDW_REACH = 2.0, 8, 15000.0


def monitor_observed(workspace, pollutant: str, hours: pd.DatetimeIndex, monitors: pd.DataFrame,
                     observed: pd.DataFrame, spec=None) -> pd.DataFrame:
    """The observed series of the cells with fixed monitors, from the monitors' own readings.

    Per cell of ``observed`` that has monitors: per hour, the mean of its monitors' hourly
    readings weighted by :data:`MONITOR_WEIGHT` over the monitors reporting that hour —
    exactly what the receptors of :func:`_receptors` predict. The readings are the
    fusion's inputs (:func:`sourcegrid.grid.fusion.site_hour_inputs`): QC failures left
    out and micro-stations corrected by their calibration against the reference
    stations where the workspace has one (a micro-station's gain and offset would
    otherwise be taken for a source). The fused value can differ from it (the fusion
    reconciles discordant inputs, which pulls a monitor in a plume towards one beside
    it). Cells without a monitor keep ``observed``.
    """
    from sourcegrid.grid.fusion import locate_positions, site_hour_inputs
    from sourcegrid.observations.calibration import CALIBRATIONS_TABLE
    from sourcegrid.observations.qc import FLAGS_TABLE

    here = monitors.loc[monitors["cell_id"].isin(list(observed.columns))]
    if here.empty or not workspace.has("observations"):
        return observed
    if spec is None:
        from sourcegrid.grid.spec import read_spec

        spec = read_spec(workspace)
    table = _in_window(workspace.table("observations"), hours)
    chosen = table.filter(table.site_id.isin(list(here["site_id"].astype(str))))
    positions = locate_positions(spec, chosen)
    if positions.empty:
        return observed
    inputs = site_hour_inputs(
        chosen, positions, pollutants=[pollutant],
        calibrations=(workspace.table(CALIBRATIONS_TABLE)
                      if workspace.has(CALIBRATIONS_TABLE) else None),
        flags=workspace.table(FLAGS_TABLE) if workspace.has(FLAGS_TABLE) else None)
    frame = inputs.select("site_id", "time", "value").to_pandas()
    if frame.empty:
        return observed
    frame["time"] = _hours_of(frame["time"])
    per_site = frame.pivot_table(index="time", columns="site_id", values="value",
                                 aggfunc="mean").reindex(hours)
    result = observed.copy()
    weight = here.set_index("site_id")["site_kind"].map(MONITOR_WEIGHT).fillna(
        MONITOR_WEIGHT["micro"])
    for cell, sites in here.groupby("cell_id")["site_id"]:
        sites = [site for site in sites if site in per_site.columns]
        if not sites:
            continue
        values = per_site[sites].to_numpy(float)
        w = np.where(np.isfinite(values), weight.reindex(sites).to_numpy(float)[None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(values * w, axis=1) / w.sum(axis=1)
        result[cell] = np.where(w.sum(axis=1) > 0, mean, np.nan)
    return result


def _receptors(joint, cell_x, cell_y, cell_size, points, monitors):
    """Receptor x, y [m], the joint-cell index and the weight of each receptor.

    A cell with fixed monitors: its monitors, weighted as the fusion weights them (its
    observed values are theirs). A cell without: the monitors of the observed cells
    the fusion interpolates it from (inverse distance, :data:`IDW_POWER`), for its value
    is theirs too; with no monitor at all, ``points²`` points over the cell.
    """
    offsets = _receptor_offsets(cell_size, int(points))
    xs, ys, owners, kinds, weights = [], [], [], [], []
    if len(monitors):
        kind_weight = monitors.get("site_kind", pd.Series("micro", index=monitors.index)).map(
            MONITOR_WEIGHT).fillna(MONITOR_WEIGHT["micro"]).to_numpy(float)
        monitored = monitors.assign(_w=kind_weight)
        cell_names, cell_code = np.unique(monitored["cell_id"].astype(str), return_inverse=True)
        cell_mx = np.bincount(cell_code, monitored["x"].to_numpy(float)) / np.bincount(cell_code)
        cell_my = np.bincount(cell_code, monitored["y"].to_numpy(float)) / np.bincount(cell_code)
    for index, cell in enumerate(joint):
        here = monitors.loc[monitors["cell_id"] == cell] if len(monitors) else monitors
        if len(here):
            w = monitored.loc[here.index, "_w"].to_numpy(float)
            xs.append(here["x"].to_numpy(float))
            ys.append(here["y"].to_numpy(float))
            weights.append(w / w.sum())
            kinds.append("monitors")
        elif len(monitors):
            # the observed cells the fusion interpolates from: centre-to-centre distance
            # of the cells (monitors' mean position stands for the cell's centre)
            distance = np.hypot(cell_mx - cell_x[index], cell_my - cell_y[index])
            order = np.argsort(distance)[:IDW_NEIGHBOURS]
            order = order[distance[order] <= IDW_REACH]
            if len(order) == 0:
                order = np.argsort(distance)[:1]
            lam = 1.0 / np.maximum(distance[order], 1.0) ** IDW_POWER
            lam = lam / lam.sum()
            chosen = np.isin(cell_code, order)
            within = monitored.loc[chosen]
            per_cell_total = np.bincount(cell_code[chosen], within["_w"].to_numpy(float),
                                         minlength=len(cell_names))
            share = dict(zip(order, lam, strict=True))
            w = np.array([share[c] for c in cell_code[chosen]]) * within["_w"].to_numpy(
                float) / per_cell_total[cell_code[chosen]]
            xs.append(within["x"].to_numpy(float))
            ys.append(within["y"].to_numpy(float))
            weights.append(w / w.sum())
            kinds.append("interpolated")
        else:
            xs.append(cell_x[index] + offsets[:, 0])
            ys.append(cell_y[index] + offsets[:, 1])
            weights.append(np.full(len(offsets), 1.0 / len(offsets)))
            kinds.append("cell")
        owners.append(np.full(len(xs[-1]), index))
    return (np.concatenate(xs), np.concatenate(ys), np.concatenate(owners).astype(np.int64),
            kinds, np.concatenate(weights))


def _check_options(radius_km, background_percentile, receptor_points, neighbours, sector,
                   confound_angle_deg, confound_correlation, prior_sd, background,
                   max_unregistered, max_gain_error=None):
    problems = []

    def bad(name, value, expected):
        problems.append(f"{name} must be {expected}, got {value!r}")

    if not (isinstance(radius_km, int | float) and 0 < radius_km <= 100):
        bad("radius_km", radius_km, "in (0, 100] km")
    if not 0 <= background_percentile <= 100:
        bad("background_percentile", background_percentile, "in [0, 100]")
    if int(receptor_points) != receptor_points or not 1 <= receptor_points <= 9:
        bad("receptor_points", receptor_points, "an integer in 1-9")
    if int(neighbours) != neighbours or not 0 <= neighbours <= 3:
        bad("neighbours", neighbours, "an integer in 0-3 (rings of cells)")
    if not (0 < sector <= 180 and abs(360 / sector - round(360 / sector)) < 1e-9):
        bad("sector", sector, "a width dividing 360 degrees")
    if not 0 <= confound_angle_deg <= 90:
        bad("confound_angle_deg", confound_angle_deg, "in [0, 90] degrees")
    if not -1 <= confound_correlation <= 1:
        bad("confound_correlation", confound_correlation, "in [-1, 1]")
    if not prior_sd > 0:
        bad("prior_sd", prior_sd, "> 0 (inf for no prior)")
    if max_gain_error is not None and not (isinstance(max_gain_error, int | float)
                                           and 0 <= max_gain_error < 1):
        bad("max_gain_error", max_gain_error, "in [0, 1) or None")
    if int(max_unregistered) != max_unregistered or not 0 <= max_unregistered <= 5:
        bad("max_unregistered", max_unregistered, "an integer in 0-5")
    if not (isinstance(background, str) and background in BACKGROUNDS
            or isinstance(background, pd.Series | np.ndarray)):
        bad("background", background, f"one of {', '.join(BACKGROUNDS)} or a series")
    if problems:
        raise TraceError("; ".join(problems))


def _evidence(row) -> str:
    parts = []
    if row["kind"] == "unregistered":
        return row["evidence"]
    if row["fitted"] > 0:
        parts.append(f"fitted {row['fitted']:.2g} µg/m³ ({row['share']:.0%} of the excess)")
    else:
        parts.append("no fitted contribution")
    parts.append(f"predicted {row['predicted']:.2g} µg/m³ at the reported rate")
    scale = row["scale_factor"]
    if np.isfinite(scale) and row["predicted"] > 0:
        if scale >= 3:
            parts.append(f"scale ×{scale:.1f}: emits more than reported (under-reporting or "
                         "treatment not running?)")
        elif scale <= 0.2:
            parts.append(f"scale ×{scale:.2f}: did not show in the data")
        else:
            parts.append(f"scale ×{scale:.2f}")
    parts.append(f"upwind {row['upwind_hours_share']:.0%} of hours")
    if np.isfinite(row["correlation"]):
        parts.append(f"r = {row['correlation']:.2f} with the excess")
    if np.isfinite(row["cpf_at_bearing"]):
        parts.append(f"CPF {row['cpf_at_bearing']:.2f} from {row['sector']}")
    if row["group_size"] > 1:
        parts.append(f"confounded with {row['group_size'] - 1} other source(s) on the same "
                     f"bearing ({row['group']}): not separable by wind, inspect together")
    return "; ".join(parts)


def _neighbour_cells(spec, row, col, rings, available) -> list[str]:
    from sourcegrid.grid.spec import format_cell_id

    cells = []
    for dr in range(-rings, rings + 1):
        for dc in range(-rings, rings + 1):
            if (dr, dc) == (0, 0):
                continue
            r, c = row + dr, col + dc
            if 0 <= r < spec.nrows and 0 <= c < spec.ncols:
                cell = format_cell_id(r, c)
                if cell in available:
                    cells.append(cell)
    return cells


def _correlations(predicted: np.ndarray, excess: np.ndarray) -> np.ndarray:
    centred = predicted - predicted.mean(axis=1, keepdims=True)
    target = excess - excess.mean()
    denominator = np.linalg.norm(centred, axis=1) * np.linalg.norm(target)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, centred @ target / denominator, np.nan)


def _limited_threads(function):
    """Run ``function`` with the BLAS/OpenMP threads of
    :func:`sourcegrid.weather.normalise.threads` (one unless SOURCEGRID_THREADS says
    more): a trace's matrices (hundreds of columns × thousands of samples) gain nothing
    from a second thread, and on a machine shared with other work the waiting threads
    burn CPU (the 3 × 3 trace of ``benchmarks/dispersion.py``: 1.7-2.4 s CPU with two
    BLAS threads against 0.8-0.9 s with one, under a load of 2-4 on 2 cores)."""
    import functools

    @functools.wraps(function)
    def limited(*args, **kwargs):
        from sourcegrid.weather.normalise import threads

        with threads():
            return function(*args, **kwargs)

    return limited


@_limited_threads
def trace_cell(workspace, cell_id: str, start, end, *, pollutant: str = "PM2.5",
               radius_km: float = 10.0, cells: list[str] | None = None, neighbours: int = 1,
               background: str | pd.Series = "percentile", background_percentile: float = 10.0,
               candidates: pd.DataFrame | None = None, terrain: str = "rural",
               receptor_points: int = 3, receptor_height: float = 1.5,
               use_monitors: bool = True, sigma_theta_deg: float = 10.0,
               mixing_height=None, confound_angle_deg: float = 5.0,
               confound_correlation: float = 0.9, prior_sd: float = 2.0,
               sector: float = 30.0, max_unregistered: int = 2,
               unregistered_min_share: float = 0.15, learn: bool = True,
               store: bool = True, max_offset: float | None = MAX_OFFSET,
               max_gain_error: float | None = MAX_GAIN_ERROR) -> TraceResult:
    """Rank the sources behind a hotspot cell over a window.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
        Needs ``grid_spec``, ``cell_hours``, ``wind`` and an inventory with coordinates
        (:func:`load_candidates`), unless ``candidates`` is given.
    cell_id : str
        The cell to trace ('R0012C0034').
    start, end : str or Timestamp
        Window [start, end); naive times are Beijing time.
    pollutant : str
        Pollutant of ``cell_hours`` and of the inventory (default PM2.5).
    radius_km : float
        Candidates within this distance of the centre of a fitted cell [km] (the traced
        cell and the ones fitted with it; default 10).
    cells : list of str, optional
        Further cells of the same hotspot to fit jointly (shared scale factors).
    neighbours : int
        Also fit the cells within this many rings around the cell (0 = none; default
        1, the 3 × 3 block: chosen on the sample city's seeds 7-9, where it raised top-3
        from 0.72 to 0.97, and checked on the disjoint seeds of ``benchmarks/tracing.py``).
    background : {'percentile', 'upwind'} or Series
        How the background is found (see the module docstring), or a series per hour.
    background_percentile : float
        Percentile of the city's cells taken as background (default 10).
    candidates : pandas.DataFrame, optional
        Candidate sources (:data:`CANDIDATE_COLUMNS` + the optional ones) instead of
        the workspace inventory.
    terrain : {'rural', 'urban'}
        Briggs sigmas.
    receptor_points : int
        A cell without a fixed monitor is the mean of n × n receptor points (default 3).
    use_monitors : bool
        Take a cell's reference and micro-stations as its receptors (its observed
        values are their readings); default True.
    sigma_theta_deg : float
        Uncertainty of the wind direction at a source [degree], widening the plumes
        (see :func:`sourcegrid.tracing.dispersion.coupling`); default 10.
    receptor_height : float
        Receptor height [m].
    mixing_height : float or array, optional
        Mixing height [m] (scalar or per hour); None = no lid.
    confound_angle_deg, confound_correlation : float
        Bearing difference [degree] and correlation of predicted series that make
        candidates confounded.
    prior_sd : float
        Standard deviation of the prior on each scale factor around 1 (the reported
        emission); ``inf`` = none (plain bounded least squares). Default 2 (chosen
        among 1, 2 and 3 on the sample city's seeds 7-9: a tuned value).
    sector : float
        CPF sector width [degree].
    max_unregistered : int
        Unregistered sources to look for in the residual (0 = none).
    unregistered_min_share : float
        Share of the excess a virtual source must explain to be reported.
    learn : bool
        Re-rank with the findings model when the workspace has enough findings.
    store : bool
        Store the table in ``trace_results`` (rows of the same run_id replaced).
    max_offset : float or None
        Bound of the per-cell offset [µg/m³] (default :data:`MAX_OFFSET`; None = free).
    max_gain_error : float or None
        Bound of the per-cell gain error on the background (default
        :data:`MAX_GAIN_ERROR`; None = a free coefficient of the centred background,
        which leaves the mean of a gain error to the sources).

    Returns
    -------
    TraceResult
    """
    from sourcegrid.grid.spec import format_cell_id, parse_cell_id, read_spec

    timings = {}
    clock = _time.perf_counter()
    _check_options(radius_km, background_percentile, receptor_points, neighbours, sector,
                   confound_angle_deg, confound_correlation, prior_sd, background,
                   max_unregistered, max_gain_error)
    dispersion._terrain(terrain)
    spec = read_spec(workspace)
    row, col = (int(v[0]) for v in parse_cell_id([cell_id]))
    if not (0 <= row < spec.nrows and 0 <= col < spec.ncols):
        raise TraceError(f"cell {cell_id} is outside the grid (rows 0-{spec.nrows - 1}, "
                         f"columns 0-{spec.ncols - 1})")
    cell_id = format_cell_id(row, col)
    start_utc, end_utc = _utc(start), _utc(end)
    if not start_utc < end_utc:
        raise TraceError(f"the window is empty: --from {start_utc} is not before --to {end_utc}")
    if end_utc - start_utc > pd.Timedelta(days=400):
        raise TraceError("the window is longer than 400 days; trace a month or a season")
    hours = pd.date_range(start_utc.floor("h"), end_utc, freq="h", inclusive="left")
    wanted = [cell_id]
    for extra in cells or []:
        extra_row, extra_col = (int(v[0]) for v in parse_cell_id([extra]))
        wanted.append(format_cell_id(extra_row, extra_col))
    if neighbours:
        everywhere = set(format_cell_id(*np.divmod(np.arange(spec.size), spec.ncols)))
        wanted += _neighbour_cells(spec, row, col, int(neighbours), everywhere)
    wanted = list(dict.fromkeys(wanted))
    upwind_mode = isinstance(background, str) and background == "upwind"
    matrix = observed_matrix(workspace, pollutant, hours, None if upwind_mode else wanted)
    timings["read_cell_hours"] = _time.perf_counter() - clock
    if cell_id not in matrix.columns or matrix[cell_id].notna().sum() == 0:
        raise TraceError(f"cell {cell_id} has no {pollutant} values in cell_hours between "
                         f"{start_utc} and {end_utc}")
    joint = [name for name in wanted if name in matrix.columns]
    joint_rows, joint_cols = parse_cell_id(joint)
    cell_x, cell_y = spec.centre_xy(joint_rows, joint_cols)
    target_xy = (float(cell_x[0]), float(cell_y[0]))
    target_lon, target_lat = (float(v[0]) for v in spec.to_lonlat([target_xy[0]], [target_xy[1]]))

    # wind and stability
    clock = _time.perf_counter()
    met = hourly_wind(workspace, hours, spec, target_xy)
    speed = met["wind_speed"].to_numpy(float)
    direction = met["wind_dir"].to_numpy(float)
    stability = dispersion.pasquill_stability(np.nan_to_num(speed, nan=dispersion.MIN_WIND_SPEED),
                                              hours, lon=target_lon, lat=target_lat)
    ambient = _ambient_temperature(workspace, hours)
    timings["read_wind"] = _time.perf_counter() - clock

    # background and excess
    if upwind_mode:
        percentile_background = background_series(matrix, background_percentile)
        rows_all, cols_all = parse_cell_id(list(matrix.columns))
        all_x, all_y = spec.centre_xy(rows_all, cols_all)
        back = _upwind_background(matrix, np.column_stack([all_x, all_y]), target_xy,
                                  np.nan_to_num(direction, nan=0.0), radius_km * 1000.0,
                                  percentile_background)
    elif isinstance(background, str):
        back = database_background(workspace, pollutant, hours, background_percentile)
    else:
        back = pd.Series(np.asarray(background, dtype=float), index=hours, name="background")
    observed = matrix.reindex(columns=joint)
    monitors = (monitor_positions(workspace, spec, hours, pollutant) if use_monitors
                else pd.DataFrame(columns=["cell_id"]))
    if use_monitors and len(monitors):
        observed = monitor_observed(workspace, pollutant, hours, monitors, observed, spec)
    excess = observed.sub(back, axis=0)
    values = excess.to_numpy(float).T  # cells × hours
    used = np.isfinite(values) & np.isfinite(direction)[None, :]

    # candidates (lines and areas as points spread along or over their geometry)
    clock = _time.perf_counter()
    raw = candidates if candidates is not None else load_candidates(
        workspace, pollutant, sorted({f"{t:%Y-%m}" for t in local_time(hours)}))
    found_ids, confirmed_ids, cleared_ids = set(), set(), set()
    findings = read_findings(workspace) if learn else None
    if learn:  # what inspectors established: found sources join, confirmed ones are
        # freed from the prior, compliant ones held to their reported emission
        found, confirmed_ids, cleared_ids = learning.inspection_memory(findings)
        if len(found):
            raw = pd.concat([raw, found], ignore_index=True)
            found_ids = set(found["source_id"])
    kept, rejected = prepare_candidates(raw)
    owner, emitter_x, emitter_y, weight = emitter_points(kept, spec)
    reach = radius_km * 1000.0
    emitter_distance = np.hypot(emitter_x[:, None] - cell_x[None, :],
                                emitter_y[:, None] - cell_y[None, :]).min(axis=1)
    nearest = np.full(len(kept), np.inf)
    np.minimum.at(nearest, owner, emitter_distance)
    near = (nearest <= reach) & (kept["emission_rate"].to_numpy() > 0)
    renumber = np.cumsum(near) - 1
    keep_emitter = near[owner]
    owner, emitter_x, emitter_y, weight = (renumber[owner[keep_emitter]],
                                           emitter_x[keep_emitter], emitter_y[keep_emitter],
                                           weight[keep_emitter])
    if not near.any():
        closest = float(np.nanmin(nearest)) if len(nearest) else float("nan")
        where = (f"the nearest source with emissions is {closest / 1000:.1f} km away"
                 if np.isfinite(closest) else "the inventory has no source with emissions of "
                 f"{pollutant}")
        raise TraceError(
            f"no registered source of {pollutant} with emissions lies within {radius_km:g} km "
            f"of cell {cell_id} ({where}); widen --radius-km, or check the inventory "
            "('sourcegrid inventory show')")
    kept = kept.loc[near].reset_index(drop=True)
    n_sources = len(kept)
    # each candidate's position: its point, or the emitter point nearest to the cell
    to_target = np.hypot(emitter_x - target_xy[0], emitter_y - target_xy[1])
    order = np.lexsort((to_target, owner))
    first_of = order[np.searchsorted(owner[order], np.arange(n_sources))] if n_sources else \
        np.zeros(0, dtype=np.int64)
    source_x, source_y = emitter_x[first_of], emitter_y[first_of]
    timings["candidates"] = _time.perf_counter() - clock

    # coupling to the cells' receptor points
    clock = _time.perf_counter()
    receptor_x, receptor_y, receptor_cell, receptor_kinds, receptor_weight = _receptors(
        joint, cell_x, cell_y, spec.cell_size, receptor_points, monitors)
    column = lambda name: kept[name].to_numpy(float)[owner][:, None]  # noqa: E731
    heights = dispersion.effective_height(
        column("stack_height"), column("stack_diameter"), column("exit_velocity"),
        column("exit_temperature"), np.nan_to_num(speed, nan=dispersion.MIN_WIND_SPEED)[None, :],
        stability[None, :], ambient_temperature=ambient[None, :], terrain=terrain) \
        if len(owner) else np.zeros((0, len(hours)))
    point_x, point_y, receptor_map = _receptor_map(receptor_x, receptor_y, receptor_cell,
                                                   receptor_weight, len(joint))
    per_cell = dispersion.grouped_coupling(
        emitter_x, emitter_y, point_x, point_y, speed, direction, stability,
        receptor_weights=receptor_map, source_group=owner, source_weight=weight,
        n_source_groups=n_sources, effective_height=heights, receptor_height=receptor_height,
        terrain=terrain, mixing_height=mixing_height, max_distance=reach + spec.cell_size * 2,
        sigma_theta_deg=sigma_theta_deg, dtype=np.float32)  # S × K × T
    rate = kept["emission_rate"].to_numpy(float)
    predicted_all = per_cell * rate[:, None, None]
    timings["coupling"] = _time.perf_counter() - clock

    # fit: registered candidates (confounded ones grouped), an offset per cell
    clock = _time.perf_counter()
    flat_used = used.ravel()
    design = predicted_all.reshape(n_sources, -1)[:, flat_used]
    target = values.ravel()[flat_used]
    sample_cell = np.repeat(np.arange(len(joint)), len(hours))[flat_used]
    bearings = bearing_deg(target_xy[0], target_xy[1], source_x, source_y)
    target_used = used[0]
    predicted_target = predicted_all[:, 0, :]
    mean_predicted = (predicted_target[:, target_used].mean(axis=1) if target_used.any()
                      else np.zeros(n_sources))
    if n_sources:
        active = design.max(axis=1, initial=0.0) > 0
        significant = active & (mean_predicted >= 1e-3 * max(mean_predicted.max(), 1e-12))
        groups = confounded_groups(design, bearings, significant, angle_deg=confound_angle_deg,
                                   correlation=confound_correlation,
                                   distances=np.hypot(source_x - target_xy[0],
                                                      source_y - target_xy[1]))
    else:
        groups = np.zeros(0, dtype=np.int64)
    sample_background = np.tile(back.to_numpy(float), len(joint))[flat_used]
    remembered = kept["source_id"].isin(found_ids | confirmed_ids).to_numpy()
    known = [int(label) for label in np.unique(groups[remembered])] if n_sources else []
    compliant = kept["source_id"].isin(cleared_ids).to_numpy()
    held = [int(label) for label in np.unique(groups[compliant])] if n_sources else []
    beta, _, nuisance = fit_contributions(
        target, design, groups, prior_sd=prior_sd, offsets=sample_cell,
        covariate=sample_background, max_offset=max_offset, max_gain=max_gain_error,
        released=known, held=held)
    timings["fit"] = _time.perf_counter() - clock

    target_excess = values[0]
    mean_excess = float(np.nanmean(np.where(target_used, target_excess, np.nan)))

    # unregistered sources from the residual (joint refit with the registered ones)
    clock = _time.perf_counter()
    search = _Search(spec=spec, joint=joint, cell_x=cell_x, cell_y=cell_y, target_xy=target_xy,
                     used=used, speed=speed, direction=direction, stability=stability,
                     mixing_height=mixing_height, terrain=terrain,
                     receptor_x=receptor_x, receptor_y=receptor_y,
                     receptor_cell=receptor_cell, receptor_height=receptor_height,
                     radius_km=radius_km, sector=sector, prior_sd=prior_sd,
                     sigma_theta_deg=sigma_theta_deg, max_offset=max_offset,
                     receptor_weight=receptor_weight, source_x=source_x, source_y=source_y,
                     max_gain=max_gain_error, released=tuple(known), held=tuple(held))
    found = _find_unregistered(search, design, target, groups, sample_cell, sample_background,
                               beta, nuisance, int(max_unregistered), unregistered_min_share,
                               mean_excess)
    beta = found["beta"]
    target_nuisance = np.zeros(len(hours))
    target_nuisance[target_used] = found["nuisance"][sample_cell == 0]
    nuisance_mean = float(target_nuisance[target_used].mean()) if target_used.any() else 0.0
    timings["unregistered"] = _time.perf_counter() - clock

    fitted_all = predicted_all * beta[:, None, None]
    virtual_target = found["virtual_target"]  # (virtual × hours) fitted at the target cell
    residual_target = (target_excess - fitted_all[:, 0, :].sum(axis=0)
                       - virtual_target.sum(axis=0) - target_nuisance)
    residual_target = np.where(target_used, residual_target, np.nan)
    fitted_target = fitted_all[:, 0, :]
    mean_fitted = (fitted_target[:, target_used].mean(axis=1) if target_used.any()
                   else np.zeros(n_sources))
    # shares are of the excess the sources explain: the mean excess less the fitted
    # background offset of the cell
    attributable = mean_excess - nuisance_mean
    if not attributable > 0:  # no excess left: shares of what the sources were fitted
        attributable = float(mean_fitted.sum() + (
            virtual_target[:, target_used].mean(axis=1).sum() if target_used.any() else 0.0))
    share = mean_fitted / attributable if attributable > 0 else np.full(n_sources, np.nan)

    # wind evidence
    excess_cpf = wind.cpf(np.where(target_used, target_excess, np.nan), direction,
                          sector=sector)
    residual_cpf = wind.cpf(residual_target, direction, sector=sector)
    sectors = wind.sector_index(bearings, sector)
    cpf_values = excess_cpf["cpf"].to_numpy(float)
    cpf_at = cpf_values[sectors] if n_sources else np.zeros(0)
    offset = np.abs((direction[None, :] - bearings[:, None] + 180.0) % 360.0 - 180.0)
    upwind_share = ((offset <= sector / 2) & target_used[None, :]).sum(axis=1) / max(
        target_used.sum(), 1) if n_sources else np.zeros(0)
    correlation = (_correlations(predicted_target[:, target_used], target_excess[target_used])
                   if target_used.sum() > 2 and n_sources else np.full(n_sources, np.nan))

    labels, inverse, group_sizes = np.unique(groups, return_inverse=True, return_counts=True)
    size = group_sizes[inverse] if n_sources else np.zeros(0, dtype=np.int64)
    group_share = np.zeros(len(labels))
    np.add.at(group_share, inverse, np.nan_to_num(share))
    group_predicted = np.zeros(len(labels))
    np.add.at(group_predicted, inverse, mean_predicted)
    group_names = {}
    registered = pd.DataFrame({
        "source_id": kept["source_id"], "name": kept["name"],
        "kind": "registered", "lon": kept["lon"].to_numpy(float),
        "lat": kept["lat"].to_numpy(float),
        "distance_m": np.hypot(source_x - target_xy[0], source_y - target_xy[1]),
        "bearing_deg": bearings, "share": share, "scale_factor": beta,
        "predicted": mean_predicted, "fitted": mean_fitted,
        "upwind_hours_share": upwind_share, "evidence": "",
        "group": "", "group_size": size.astype(np.int64), "correlation": correlation,
        "cpf_at_bearing": cpf_at, "emission_rate": rate,
        "sector": wind.compass_name(bearings) if n_sources else np.zeros(0, dtype=object),
        "_group_share": group_share[inverse] if n_sources else np.zeros(0),
        "_group_predicted": group_predicted[inverse] if n_sources else np.zeros(0),
        "_group": inverse if n_sources else np.zeros(0, dtype=np.int64),
    })
    is_found = registered["source_id"].isin(found_ids).to_numpy()
    if is_found.any():  # found by inspection: not in the inventory, its rate fitted
        registered.loc[is_found, "kind"] = "unregistered"
        registered.loc[is_found, "emission_rate"] = beta[is_found] * rate[is_found]
        registered.loc[is_found, "scale_factor"] = np.nan
    registered = registered.sort_values(["_group_share", "_group_predicted", "_group", "predicted"],
                                        ascending=[False, False, True, False], kind="mergesort")
    counter = 0
    for label, members in registered.groupby("_group", sort=False).groups.items():
        if len(members) > 1:
            counter += 1
            group_names[label] = f"G{counter}"
    registered["group"] = registered["_group"].map(group_names).fillna("")
    unregistered_rows = _unregistered_rows(search, found, residual_cpf, attributable,
                                           source_x, source_y)
    sector_cells = found["sector_cells"]
    table = registered.drop(columns=["_group_share", "_group_predicted", "_group"])
    if len(unregistered_rows):
        table = pd.concat([table, unregistered_rows.astype({"group_size": np.int64})],
                          ignore_index=True)
    table = _order(table)
    table, beside = _registered_first(table, spec)
    table["evidence"] = [_evidence(r) for r in table.to_dict("records")] if len(table) else []
    table["evidence"] += _memory_evidence(table, found_ids, confirmed_ids, cleared_ids)
    for position, (virtual_id, metres) in beside.items():
        table.loc[position, "evidence"] += (
            f"; the residual's source ({virtual_id}) is located {metres:.0f} m from it, "
            "within its location estimate: this source may emit more, or at other hours, "
            "than its reported average — inspect it first")
    table["physical_rank"] = np.arange(1, len(table) + 1)
    table["rank"] = shared_ranks(table)
    table["probability"] = np.nan
    if learn:
        table = learning.rerank_with_workspace(workspace, table, findings)
    table = table[RESULT_COLUMNS].reset_index(drop=True)

    fitted_frame = pd.DataFrame(fitted_target.T, index=hours, columns=kept["source_id"])
    for number, series in enumerate(virtual_target, start=1):
        fitted_frame[f"unregistered-{number}"] = series
    ss_res = float(np.nansum(residual_target ** 2))
    ss_tot = float(np.nansum(np.where(target_used, (target_excess - mean_excess) ** 2, np.nan)))
    run_id = f"{cell_id}|{start_utc.isoformat()}|{end_utc.isoformat()}|{pollutant}"
    result = TraceResult(
        cell_id=cell_id, cells=joint, start=start_utc, end=end_utc, pollutant=pollutant,
        run_id=run_id, table=table, hours=hours, observed=observed, background=back,
        excess=excess,
        predicted=pd.DataFrame(predicted_target.T, index=hours, columns=kept["source_id"]),
        fitted=fitted_frame,
        residual=pd.Series(residual_target, index=hours, name="residual"),
        wind=pd.DataFrame({"time": hours, "wind_speed": speed, "wind_dir": direction,
                           "stability": stability, "used": target_used}),
        excess_cpf=excess_cpf, residual_cpf=residual_cpf, unregistered_cells=sector_cells,
        rejected_candidates=rejected,
        summary={"hours": int(target_used.sum()), "candidates": n_sources,
                 "cell_lonlat": (target_lon, target_lat),
                 "mean_excess": mean_excess,
                 "background_offset": nuisance_mean,
                 "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
                 "explained_share": float(np.nansum(share[np.isfinite(share)]))
                 if n_sources else 0.0,
                 "timings": timings})
    if store:
        store_result(workspace, result)
    return result


def _memory_evidence(table: pd.DataFrame, found_ids, confirmed_ids, cleared_ids) -> pd.Series:
    """What the inspections remembered did to each row, as evidence text ('' for none)."""
    ids = table["source_id"].astype(str)
    rate = pd.to_numeric(table["emission_rate"], errors="coerce")
    found = ("; found by inspection (finding " + ids.str.removeprefix(learning.FOUND_PREFIX)
             + "): a known source not in the inventory, its rate fitted (~"
             + rate.map(lambda value: f"{value:.2g}") + " g/s)")
    text = pd.Series("", index=table.index)
    text = text.mask(ids.isin(found_ids), found)
    text = text.mask(ids.isin(cleared_ids), "; inspected and found not to be the cause: its "
                     f"scale factor held near the reported emission (prior sd {HELD_PRIOR_SD:g})")
    return text.mask(ids.isin(confirmed_ids), "; confirmed by inspection as a cause: fitted "
                     "without the prior on its scale factor")


def shared_ranks(table: pd.DataFrame) -> np.ndarray:
    """Ranks of the ordered rows, a confounded group sharing one rank.

    The members of a group cannot be told apart by the wind (see
    :func:`confounded_groups`), so they are one finding ("one of these"), not several
    ranks: every member takes the rank of the group's first row and the next row the
    next number (rows 1, 2 in group G1 then a row alone: ranks 1, 1, 2).
    """
    if table.empty:
        return np.zeros(0, dtype=np.int64)
    group = table["group"].fillna("").astype(str).to_numpy() if "group" in table else \
        np.full(len(table), "", dtype=object)
    key = np.where(group != "", "group:" + group.astype(object),
                   "row:" + np.arange(len(table)).astype(str).astype(object))
    codes, _ = pd.factorize(key)
    return codes.astype(np.int64) + 1


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by group share (members of a group together), unregistered rows by share."""
    if table.empty:
        return table
    key_share = table["share"].fillna(0.0).copy()
    group = table["group"].fillna("")
    grouped = group != ""
    if grouped.any():
        totals = table.loc[grouped].groupby(group[grouped])["share"].transform("sum")
        key_share.loc[grouped] = totals.fillna(0.0)
    order = pd.DataFrame({"key": key_share, "group": group.where(grouped, table.index.astype(str)),
                          "predicted": table["predicted"].fillna(0.0),
                          "fitted": table["fitted"].fillna(0.0)})
    order = order.sort_values(["key", "group", "fitted", "predicted"],
                              ascending=[False, True, False, False], kind="mergesort")
    return table.loc[order.index].reset_index(drop=True)


def _registered_first(table: pd.DataFrame, spec) -> tuple[pd.DataFrame, dict]:
    """Put a registered source inside an unregistered row's location estimate before it.

    A virtual source placed within its location estimate (the larger of the coarse
    lattice step, a third of a cell, and the spread of the lattice points that explain
    the residual nearly as well) of a registered source that has a physical prediction
    at the cell is most likely that source emitting more, or at other hours, than its
    reported average: the plume model and the reported rate can
    miss a source's real hourly profile, which a free virtual source then takes. The
    registered source (the one with the largest prediction, when several) is listed
    just before the virtual row, which stays in the table. Returns the table and, per
    moved row (new position), the virtual row's id and distance [m].
    """
    if table.empty or "_location_m" not in table or not (table["kind"] == "unregistered").any():
        return table, {}
    x, y = spec.to_xy(table["lon"].to_numpy(float), table["lat"].to_numpy(float))
    predicted = table["predicted"].to_numpy(float)
    registered = (table["kind"] == "registered").to_numpy() & (np.nan_to_num(predicted) > 0)
    reach = table["_location_m"].to_numpy(float)
    order = list(range(len(table)))
    notes = {}
    for position in np.flatnonzero((table["kind"] == "unregistered").to_numpy()):
        distance = np.hypot(x - x[position], y - y[position])
        near = np.flatnonzero(registered & (distance <= reach[position]))
        if near.size == 0:
            continue
        chosen = int(near[np.argmax(predicted[near])])
        notes.setdefault(chosen, (str(table["source_id"].iloc[position]),
                                  float(distance[chosen])))
        if order.index(chosen) > order.index(position):
            order.remove(chosen)
            order.insert(order.index(position), chosen)
    moved = table.iloc[order].reset_index(drop=True)
    new_position = {old: new for new, old in enumerate(order)}
    return moved, {new_position[old]: note for old, note in notes.items()}


@dataclass
class _Search:
    """Everything the unregistered-source scan needs about the trace."""

    spec: object
    joint: list
    cell_x: np.ndarray
    cell_y: np.ndarray
    target_xy: tuple
    used: np.ndarray
    speed: np.ndarray
    direction: np.ndarray
    stability: np.ndarray
    mixing_height: object
    terrain: str
    receptor_x: np.ndarray
    receptor_y: np.ndarray
    receptor_cell: np.ndarray
    receptor_height: float
    radius_km: float
    sector: float
    prior_sd: float
    sigma_theta_deg: float
    max_offset: float | None = None
    receptor_weight: np.ndarray | None = None
    source_x: np.ndarray | None = None
    source_y: np.ndarray | None = None
    max_gain: float | None = None
    released: tuple = ()
    held: tuple = ()


def _lattice(search: _Search) -> tuple[np.ndarray, np.ndarray]:
    """Virtual source positions [m]: a cell_size/3 lattice within the radius, and a
    :data:`FINE_SPACING` lattice within :data:`FINE_REACH` of the cell, where a source's
    signal changes fastest with its position."""
    step = search.spec.cell_size / 3.0
    reach = search.radius_km * 1000.0
    ticks = np.arange(-reach, reach + step / 2, step)
    gx, gy = (a.ravel() for a in np.meshgrid(ticks, ticks))
    coarse = (np.hypot(gx, gy) <= reach) & ((np.abs(gx) > FINE_REACH) | (np.abs(gy) > FINE_REACH))
    fine = np.arange(-FINE_REACH, FINE_REACH + FINE_SPACING / 2, FINE_SPACING)
    fx, fy = (a.ravel() for a in np.meshgrid(fine, fine))
    xs = np.concatenate([gx[coarse], fx]) + search.target_xy[0]
    ys = np.concatenate([gy[coarse], fy]) + search.target_xy[1]
    return xs, ys


def _find_unregistered(search: _Search, design, target, groups, sample_cell, covariate, beta,
                       nuisance, max_unregistered: int, min_share: float,
                       mean_excess: float) -> dict:
    """Scan virtual ground-level sources over a lattice to explain the residual.

    Greedy: the lattice point whose series best explains the current residual
    (largest (p·r)²/(p·p) with p·r > 0) is added as a free column (no prior), the fit is
    redone with the registered candidates, and the point is kept when it explains at
    least ``min_share`` of the mean excess at the cell; up to ``max_unregistered``.
    """
    n_hours = len(search.direction)
    result = {"beta": beta, "nuisance": nuisance, "picks": [], "rates": [], "released": [],
              "virtual_target": np.zeros((0, n_hours)), "gains": [], "sector_cells": [],
              "lattice": (np.zeros(0), np.zeros(0))}
    if max_unregistered == 0 or not np.isfinite(mean_excess) or mean_excess <= 0:
        return result
    gx, gy = _lattice(search)
    point_x, point_y, receptor_map = _receptor_map(search.receptor_x, search.receptor_y,
                                                   search.receptor_cell, search.receptor_weight,
                                                   len(search.joint))
    virtual = dispersion.grouped_coupling(
        gx, gy, point_x, point_y, search.speed, search.direction, search.stability,
        receptor_weights=receptor_map, effective_height=UNREGISTERED_HEIGHT,
        receptor_height=search.receptor_height, terrain=search.terrain,
        mixing_height=search.mixing_height,
        max_distance=search.radius_km * 1000.0 + 2 * search.spec.cell_size,
        sigma_theta_deg=search.sigma_theta_deg, dtype=np.float32)  # V × K × T
    virtual_design = virtual.reshape(len(gx), -1)[:, search.used.ravel()]
    result["lattice"] = (gx, gy)
    n_sources = len(design)

    residual = target - (design.T @ beta if n_sources else 0.0) - nuisance
    target_used = search.used[0]
    picks: list[int] = []

    scan_residual, scan_beta = residual, beta
    design_norms = np.linalg.norm(design, axis=1) if n_sources else np.zeros(0)
    virtual_norms = np.linalg.norm(virtual_design, axis=1)
    offset_columns = ((sample_cell[:, None] == np.unique(sample_cell)[None, :]).astype(float)
                      if len(sample_cell) else np.zeros((0, 0)))
    if len(sample_cell):
        gain_columns = offset_columns * (covariate - covariate.mean())[:, None]
        # a bounded offset cannot take a steady source's mean: project off the gain
        # terms only, so that the mean excess counts for the virtual source
        offset_columns = (gain_columns if search.max_offset is not None
                          else np.hstack([offset_columns, gain_columns]))
    released: list[int] = list(search.released)  # sources inspections freed
    rejected: list[int] = []
    steps = 0
    while len(picks) < int(max_unregistered) and steps < int(max_unregistered) + RELEASE_MAX:
        steps += 1
        # orthogonal-matching-pursuit gain: project the lattice series off the span of
        # the active columns (sources with beta > 0, offsets, virtual sources so far), so
        # that a registered source that soaked up a hidden one's signal can give it back
        current_beta = np.concatenate([scan_beta, np.ones(len(picks))])
        weight = np.concatenate([design_norms, virtual_norms[picks]]) * current_beta
        strongest = np.argsort(-weight)[:OMP_COLUMNS]
        strongest = strongest[weight[strongest] > 0]
        # the rows of [design; virtual picks] without stacking the whole design
        active = np.empty((len(strongest), len(target)))
        registered_row = strongest < n_sources
        active[registered_row] = design[strongest[registered_row]]
        active[~registered_row] = virtual_design[
            np.asarray(picks, dtype=np.int64)[strongest[~registered_row] - n_sources]]
        basis = np.hstack([active.T, offset_columns]) if active.size else offset_columns
        if basis.size:
            # projection off span(B): V − (V B) (BᵀB)⁺ Bᵀ (a small Gram matrix, no QR)
            gram_inverse = np.linalg.pinv(basis.T @ basis)
            projected = virtual_design - ((virtual_design @ basis) @ gram_inverse) @ basis.T
        else:
            projected = virtual_design
        dots = projected @ scan_residual
        norms2 = np.einsum("ij,ij->i", projected, projected)
        raw = virtual_design @ scan_residual
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where((raw > 0) & (norms2 > 1e-12 * norms2.max(initial=1.0)),
                            dots * dots / norms2, 0.0)
        gain[picks] = 0.0
        gain[rejected] = 0.0
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        trial = picks + [best]
        full = np.vstack([design, virtual_design[trial]]) if n_sources else virtual_design[trial]
        labels = np.concatenate([groups, groups.max(initial=-1) + 1 + np.arange(len(trial))])
        trial_beta, _, trial_nuisance = fit_contributions(target, full, labels,
                                                      prior_sd=search.prior_sd,
                                                      offsets=sample_cell, covariate=covariate,
                                                      free=len(trial),
                                                      max_offset=search.max_offset,
                                                      released=released,
                                                      max_gain=search.max_gain,
                                                      held=search.held)
        rates = trial_beta[n_sources:]
        contribution = virtual[best, 0][target_used] * rates[-1]
        attributable = mean_excess - float(trial_nuisance[sample_cell == 0].mean())
        if not attributable > 0:
            attributable = mean_excess
        share_virtual = float(contribution.mean() / attributable) if target_used.any() else 0.0
        new_residual = target - full.T @ trial_beta - trial_nuisance
        ss_before = max(float(residual @ residual), 1e-12)
        ss_virtual = float(new_residual @ new_residual)
        explained = 1.0 - ss_virtual / ss_before
        active_hours = int((virtual[best, 0][target_used] > 0).sum())
        # evidence enough for a source nobody registered: a share of the excess, a share
        # of the residual's variance, and hours enough (not a few spikes of one sensor)
        if (share_virtual < min_share or explained < UNREGISTERED_MIN_EXPLAINED
                or active_hours < UNREGISTERED_MIN_HOURS):
            break
        # a registered source beside the virtual one, emitting more than reported,
        # explains the same signal with a source known to exist: prefer it
        alternative = _registered_alternative(search, design, target, groups, sample_cell,
                                              covariate, virtual_design[picks], released,
                                              (gx[best], gy[best]), ss_before, ss_virtual)
        if alternative is not None:
            label, alt_beta, alt_nuisance = alternative
            released = released + [label]
            rejected.append(best)
            result.update(beta=alt_beta[:n_sources], nuisance=alt_nuisance,
                          rates=list(alt_beta[n_sources:]), released=list(released))
            stack = np.vstack([design, virtual_design[picks]]) if picks else design
            residual = target - stack.T @ alt_beta - alt_nuisance
            scan_residual, scan_beta = residual, alt_beta[:n_sources]
            continue
        picks = trial
        result.update(beta=trial_beta[:n_sources], nuisance=trial_nuisance, picks=list(picks),
                      rates=list(rates))
        result["gains"].append(gain.copy())
        residual = target - full.T @ trial_beta - trial_nuisance
        scan_residual, scan_beta = residual, trial_beta[:n_sources]
    if picks:
        result["virtual_target"] = virtual[picks, 0, :] * np.asarray(result["rates"])[:, None]
    return result


def _registered_alternative(search: _Search, design, target, groups, sample_cell, covariate,
                            virtual_columns, released, point, ss_before: float,
                            ss_virtual: float):
    """A registered candidate near a virtual source that, freed from the prior, explains
    the residual (nearly) as well as the virtual source does; None when there is none.

    The candidates are the registered sources within :data:`RELEASE_DISTANCE` of the
    virtual source (the nearest :data:`RELEASE_CANDIDATES`); one is released (fitted
    without the prior on its scale factor, still bounded by :data:`MAX_SCALE_FACTOR`)
    when the fit with it recovers at least :data:`RELEASE_RECOVERY` of the residual sum
    of squares the virtual source removes. Returns (its group label, β of the
    registered and virtual columns, nuisance).
    """
    if search.source_x is None or not len(design):
        return None
    distance = np.hypot(search.source_x - point[0], search.source_y - point[1])
    near = np.flatnonzero((distance <= RELEASE_DISTANCE) & (np.abs(design).sum(axis=1) > 0)
                          & ~np.isin(groups, released))
    if near.size == 0:
        return None
    near = near[np.argsort(distance[near])]
    labels_near = list(dict.fromkeys(groups[near]))[:RELEASE_CANDIDATES]
    n_virtual = len(virtual_columns)
    full = np.vstack([design, virtual_columns]) if n_virtual else design
    labels = np.concatenate([groups, groups.max(initial=-1) + 1 + np.arange(n_virtual)])
    gain_needed = RELEASE_RECOVERY * (ss_before - ss_virtual)
    best = None
    for label in labels_near:
        beta, _, nuisance = fit_contributions(target, full, labels, prior_sd=search.prior_sd,
                                              offsets=sample_cell, covariate=covariate,
                                              free=n_virtual, max_offset=search.max_offset,
                                              released=list(released) + [label],
                                              max_gain=search.max_gain, held=search.held)
        residual = target - full.T @ beta - nuisance
        ss = float(residual @ residual)
        if ss_before - ss >= gain_needed and (best is None or ss < best[0]):
            best = (ss, label, beta, nuisance)
    return None if best is None else best[1:]


def _unregistered_rows(search: _Search, found: dict, residual_cpf: pd.DataFrame,
                       mean_excess: float, source_x, source_y) -> pd.DataFrame:
    """Rows of kind 'unregistered' for the virtual sources kept, with their evidence."""
    from sourcegrid.grid.spec import format_cell_id

    spec = search.spec
    target_xy = search.target_xy
    gx, gy = found["lattice"]
    step = spec.cell_size / 3.0
    reach = search.radius_km * 1000.0
    target_used = search.used[0]
    hours = max(int(target_used.sum()), 1)
    cpf_table = residual_cpf["cpf"].to_numpy(float)
    all_rows, all_cols = np.divmod(np.arange(spec.size), spec.ncols)
    all_x, all_y = spec.centre_xy(all_rows, all_cols)
    cell_bearing = bearing_deg(target_xy[0], target_xy[1], all_x, all_y)
    cell_distance = np.hypot(all_x - target_xy[0], all_y - target_xy[1])
    rows = []
    for number, (pick, rate, gain) in enumerate(zip(found["picks"], found["rates"],
                                                    found["gains"], strict=True), start=1):
        contribution = found["virtual_target"][number - 1][target_used]
        share_virtual = float(contribution.mean() / mean_excess)
        close = gain >= 0.9 * gain[pick]
        spread = float(np.sqrt(np.mean((gx[close] - gx[pick]) ** 2 + (gy[close] - gy[pick]) ** 2)))
        lon, lat = (float(v[0]) for v in spec.to_lonlat([gx[pick]], [gy[pick]]))
        bearing = float(bearing_deg(target_xy[0], target_xy[1], gx[pick], gy[pick]))
        distance = float(np.hypot(gx[pick] - target_xy[0], gy[pick] - target_xy[1]))
        offset = np.abs((search.direction - bearing + 180.0) % 360.0 - 180.0)
        upwind = float(((offset <= search.sector / 2) & target_used).sum() / hours)
        index = int(wind.sector_index([bearing], search.sector)[0])
        centre = float(wind.sector_centres(search.sector)[index])
        cpf_here = float(cpf_table[index])
        in_sector = ((np.abs((cell_bearing - centre + 180) % 360 - 180) <= search.sector / 2)
                     & (cell_distance <= reach) & (cell_distance > 0))
        cells_here = [format_cell_id(r, c) for r, c in
                      zip(all_rows[in_sector], all_cols[in_sector], strict=True)]
        own = format_cell_id(*(int(v[0]) for v in spec.cell_of_xy([gx[pick]], [gy[pick]])))
        if number == 1:
            found["sector_cells"] = cells_here
        nearest = (float(np.min(np.hypot(source_x - gx[pick], source_y - gy[pick])))
                   if len(source_x) else float("inf"))
        listed = ", ".join(cells_here[:8]) + (f" and {len(cells_here) - 8} more"
                                              if len(cells_here) > 8 else "")
        evidence = (f"residual not explained by registered sources: {share_virtual:.0%} of the "
                    f"excess; upwind sector {wind.compass_name([centre])[0]} ({centre:g}° ± "
                    f"{search.sector / 2:g}°, residual CPF {cpf_here:.2f}); location estimate "
                    f"in cell {own} ± {max(spread, step):.0f} m, ~{rate:.2g} g/s at ground "
                    f"level; nearest registered source {nearest:.0f} m away; cells of the "
                    f"sector to walk: {listed}")
        rows.append({"source_id": f"unregistered-{number}",
                     "name": f"unregistered source {number} "
                             f"({wind.compass_name([bearing])[0]}, {distance / 1000:.1f} km)",
                     "kind": "unregistered", "lon": lon, "lat": lat, "distance_m": distance,
                     "bearing_deg": bearing, "share": share_virtual, "scale_factor": np.nan,
                     "predicted": np.nan, "fitted": float(contribution.mean()),
                     "upwind_hours_share": upwind, "evidence": evidence, "group": "",
                     "group_size": 1, "correlation": np.nan, "cpf_at_bearing": cpf_here,
                     "emission_rate": float(rate),
                     "sector": wind.compass_name([bearing])[0],
                     "_location_m": max(spread, step)})
    return pd.DataFrame(rows)


def store_result(workspace, result: TraceResult) -> None:
    """Store a trace in ``trace_results``, replacing earlier rows of the same run_id."""
    stored = result.stored()
    for column in ("start", "end"):
        stored[column] = pd.to_datetime(stored[column], utc=True).astype("datetime64[us, UTC]")
    if workspace.has(TRACE_RESULTS_TABLE):
        existing = workspace.table(TRACE_RESULTS_TABLE)
        if list(existing.columns) == STORED_COLUMNS:
            workspace.delete_rows(TRACE_RESULTS_TABLE, "run_id", result.run_id)
            workspace.write(TRACE_RESULTS_TABLE, stored, mode="append")
            return
        kept = workspace.read(TRACE_RESULTS_TABLE)
        if "run_id" in kept:
            kept = kept.loc[kept["run_id"] != result.run_id]
        stored = pd.concat([kept, stored], ignore_index=True)
    workspace.write(TRACE_RESULTS_TABLE, stored)


def trace_cells(workspace, cell_ids, start, end, **options) -> dict[str, TraceResult]:
    """:func:`trace_cell` for several cells; cell id → result."""
    return {cell: trace_cell(workspace, cell, start, end, **options) for cell in cell_ids}
