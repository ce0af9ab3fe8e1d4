"""Hotspot cells (热点网格): ranking, Getis-Ord Gi*, persistence, monthly lists.

Four ways to pick hotspot cells from the fused ``cell_hours`` table
(cell_id, row, col, time [UTC hour], pollutant, value [ug/m3; CO mg/m3], ...):

* :func:`rank_cells` -- the top N or top p % of cells by period mean, each with
  its ratio to its city's mean (the '千里眼计划' ranking rule);
* :func:`gi_star` / :func:`gi_star_cells` -- Getis-Ord Gi* z scores of the
  period means on the regular grid, computed exactly by convolution;
* :func:`persistence` -- the share of hours each cell is hot (above a
  threshold, or in the top p % of cells that hour);
* :func:`monthly_lists` -- the ministry's three monthly lists per city: highest
  monthly mean, worst year-on-year and worst month-on-month change.

Times are stored in UTC. Period bounds given without an offset are read as
Asia/Shanghai (UTC+8, no daylight saving), as everywhere in sourcegrid;
calendar months are Beijing-time months.

The table functions take a pandas DataFrame or an Ibis table; the heavy
aggregation over hours runs as an Ibis expression (DuckDB, PySpark, ...), the
per-cell ranking on the small per-cell result in pandas.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
from scipy import ndimage, special

from sourcegrid.timebase import (
    LOCAL_TIMEZONE,  # time zone of naive period bounds
    month_bounds,
)
from sourcegrid.timebase import utc_timestamp as to_utc

__all__ = [
    "GiStar",
    "normal_sf_abs",
    "gi_star",
    "gi_star_cells",
    "neighbourhood_kernel",
    "period_rows",
    "period_means",
    "rank_cells",
    "persistence",
    "monthly_lists",
    "to_utc",
    "month_bounds",
    "SHAPES",
    "LOCAL_TIMEZONE",
    "CELL_HOURS_COLUMNS",
    "require_columns",
    "top_rows",
]


#: Neighbourhood shapes of the Gi* distance band.
SHAPES = ("square", "disk")

_CELL_KEY_COLUMNS = ["cell_id", "row", "col"]


# --------------------------------------------------------------------------------------
# Getis-Ord Gi* on a 2-D array
# --------------------------------------------------------------------------------------


class GiStar:
    """Result of :func:`gi_star`: arrays of the grid's shape, NaN where no data.

    Unpacks as ``z, p = gi_star(...)``. The p-values are computed from z on
    first access only, so a caller that needs z alone does not pay for them.

    Attributes
    ----------
    z : numpy.ndarray
        Gi* z score [-].
    p : numpy.ndarray
        One-sided p-value of ``|z|`` under the normal approximation,
        ``norm.sf(|z|)``, as esda's ``G_Local.p_norm``; double it for a
        two-sided test.
    """

    __slots__ = ("z", "_p")

    def __init__(self, z: np.ndarray):
        self.z = z
        self._p: np.ndarray | None = None

    @property
    def p(self) -> np.ndarray:
        if self._p is None:
            self._p = normal_sf_abs(self.z)
        return self._p

    def __iter__(self):
        return iter((self.z, self.p))

    def __len__(self) -> int:
        return 2


def normal_sf_abs(z: np.ndarray) -> np.ndarray:
    """One-sided p-value ``norm.sf(|z|) = Phi(-|z|)`` [-], NaN stays NaN.

    ``scipy.special.ndtr`` is what ``scipy.stats.norm.sf`` evaluates, without
    the distribution machinery around it.
    """
    p = np.abs(z)
    np.negative(p, out=p)
    return special.ndtr(p, out=p)


def _validate_band(radius_cells: float, shape: str) -> int:
    """Check shape and radius of a distance band; its reach in whole cells."""
    if shape not in SHAPES:
        from sourcegrid.errors import NotFoundError

        raise NotFoundError("neighbourhood shape", shape, SHAPES)
    if not np.isfinite(radius_cells) or radius_cells < 0:
        raise ValueError(f"radius_cells must be a finite number >= 0 [cells], got {radius_cells!r}")
    return int(math.floor(radius_cells + 1e-9))


def _disk_half_widths(radius_cells: float, reach: int) -> np.ndarray:
    """Half width [cells] of the disk's row at each row offset 0..reach."""
    offsets = np.arange(reach + 1)
    # squared distances in whole cells are exact integers, compared with r^2
    # plus a hair so that centres exactly on the circle count as inside.
    return np.floor(np.sqrt(np.maximum(radius_cells**2 + 1e-9 - offsets**2, 0.0)) + 1e-9).astype(int)


def neighbourhood_kernel(radius_cells: float, shape: str = "square") -> np.ndarray:
    """The binary weights kernel of a distance band, the cell itself included.

    Parameters
    ----------
    radius_cells : float
        Band radius [cells] (one cell = the grid step, 3 km in '千里眼计划').
    shape : {'square', 'disk'}
        'square': Chebyshev distance <= radius (a (2r+1) x (2r+1) box for
        integer r); 'disk': Euclidean distance between cell centres <= radius.

    Returns
    -------
    numpy.ndarray
        Square array of 0.0/1.0 with odd side, centred on the cell.
    """
    reach = _validate_band(radius_cells, shape)
    offsets = np.arange(-reach, reach + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    if shape == "square":
        inside = np.maximum(np.abs(dy), np.abs(dx)) <= reach
    else:
        inside = dy**2 + dx**2 <= radius_cells**2 + 1e-9
    return inside.astype(np.float64)


def _box_sum_1d(field: np.ndarray, half: int, axis: int) -> np.ndarray:
    """Sum over ``2 half + 1`` consecutive cells along ``axis`` (zero outside)."""
    if half == 0:
        return field if field.dtype == np.float64 else field.astype(np.float64)
    width = 2 * half + 1
    out = ndimage.uniform_filter1d(field, width, axis=axis, output=np.float64,
                                   mode="constant", cval=0.0)
    out *= width
    return out


def _band_sum(field: np.ndarray, radius_cells: float, shape: str, reach: int) -> np.ndarray:
    """Sum of ``field`` over each cell's band (zero outside the grid).

    Running-sum box filters (``scipy.ndimage.uniform_filter``), O(cells) per
    filter whatever the radius. The square is one separable box. The disk is a
    stack of boxes: with h(d) the half width of its row at row offset d (non
    increasing in |d|) and h_1 > h_2 > ... its distinct values, reaching rows
    |d| <= a_k, the disk sum is sum_k V_{a_k}(H_{h_k} - H_{h_(k+1)}) with H_h a
    horizontal box of half width h, V_a a vertical one of half height a, and
    H_{h_(K+1)} = 0.
    """
    if shape == "square":
        if reach == 0:
            return field.astype(np.float64)
        width = 2 * reach + 1
        out = ndimage.uniform_filter(field, width, output=np.float64, mode="constant", cval=0.0)
        out *= width * width
        return out
    half_widths = _disk_half_widths(radius_cells, reach)
    total = None
    previous = None  # horizontal sum of the next narrower row
    for half in np.unique(half_widths):  # narrowest row (reaching the most rows) first
        rows_reach = int(np.flatnonzero(half_widths >= half).max())
        horizontal = _box_sum_1d(field, int(half), axis=1)
        layer = horizontal if previous is None else horizontal - previous
        previous = horizontal
        layer = _box_sum_1d(layer, rows_reach, axis=0)
        if total is None:
            total = layer.copy() if layer is field or layer is horizontal else layer
        else:
            total += layer
    return total


def gi_star(values: np.ndarray, radius_cells: float, shape: str = "square") -> GiStar:
    """Getis-Ord Gi* z scores on a regular grid, by box filters.

    Binary weights: cell j is a neighbour of cell i when it lies within the
    distance band (see :func:`neighbourhood_kernel`); the cell itself is
    included (the 'star'). Cells with no data (NaN) take no part: they are
    neither counted nor neighbours.

    .. math::

        z_i = \\frac{\\sum_j w_{ij} x_j - \\bar x W_i}
                   {s \\sqrt{(n S_{1i} - W_i^2)/(n - 1)}}

    with n the number of cells with data, :math:`\\bar x` and s their mean and
    standard deviation (denominator n), :math:`W_i = \\sum_j w_{ij}` and
    :math:`S_{1i} = \\sum_j w_{ij}^2 = W_i` for binary weights, sums over
    neighbours with data. This is what PySAL esda 2.9.0
    ``G_Local(y, w, transform='B', star=True).Zs`` computes (its moments use
    N = n when star is set, the population variance ``mean(y^2) - mean(y)^2``,
    and self-weight 1), for a positive mean; esda divides by the mean and so
    flips the sign of z when the mean is negative, this function does not.

    Parameters
    ----------
    values : array_like, 2-D
        Cell values (e.g. period mean PM2.5 [ug/m3]); NaN = no data.
    radius_cells : float
        Distance band [cells], >= 0.
    shape : {'square', 'disk'}
        Chebyshev ('square') or Euclidean ('disk') distance band.

    Returns
    -------
    GiStar
        ``z`` and ``p`` arrays of the grid's shape (p computed when first
        read); NaN where there is no data, and everywhere when fewer than two
        cells have data or all values are equal (z undefined), and at a cell
        whose band covers every cell with data (zero variance).

    Notes
    -----
    The whole cost is two band sums -- of the values centred on their mean
    (so the numerator does not lose digits by cancellation) and of the
    has-data mask (the neighbour counts, rounded to the integers they are) --
    plus a few element-wise passes over the grid. The band sums are running-sum
    box filters, O(cells) each for the square and O(cells x distinct row
    widths) for the disk, whatever the radius. benchmarks/grid_hotspots.py
    measures the time against two ``scipy.ndimage.uniform_filter`` calls on
    the same grid.

    References
    ----------
    .. [1] Getis, A. and Ord, J. K. (1992). The analysis of spatial association
       by use of distance statistics. Geographical Analysis 24(3), 189-206.
    .. [2] Ord, J. K. and Getis, A. (1995). Local spatial autocorrelation
       statistics: distributional issues and an application. Geographical
       Analysis 27(4), 286-306 (eq. 14 of the star statistic).
    .. [3] PySAL esda 2.9.0, ``esda/getisord.py``, ``G_Local.calc``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D array (rows x cols), got {values.ndim}-D")
    reach = _validate_band(radius_cells, shape)

    has_data = np.isfinite(values)
    n = int(np.count_nonzero(has_data))
    if n < 2:
        return GiStar(np.full(values.shape, np.nan))
    mean = float(np.sum(values, where=has_data)) / n
    centred = np.zeros(values.shape)  # cells without data stay 0
    np.subtract(values, mean, out=centred, where=has_data)
    flat = centred.ravel()
    std = math.sqrt(float(np.dot(flat, flat)) / n)  # denominator n, as esda
    if std == 0.0 or not np.isfinite(std):
        return GiStar(np.full(values.shape, np.nan))

    z = _band_sum(centred, radius_cells, shape, reach)  # numerator, filled into z
    # the mask read as bytes: a float copy of it cost a pass and 8 bytes a cell
    weight_sum = _band_sum(has_data.view(np.uint8), radius_cells, shape, reach)
    np.rint(weight_sum, out=weight_sum)  # neighbour counts are integers
    # denominator s sqrt((n S1 - W^2)/(n - 1)) with S1 = W, in place
    # (cells without data get 0: undefined like a band that covers every cell)
    denominator = n - weight_sum
    denominator *= weight_sum
    np.copyto(denominator, 0.0, where=~has_data)
    undefined = denominator <= 0.0
    denominator *= std * std / (n - 1)
    np.sqrt(denominator, out=denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(z, denominator, out=z)
    np.copyto(z, np.nan, where=undefined)
    return GiStar(z)


# --------------------------------------------------------------------------------------
# Helpers on tables
# --------------------------------------------------------------------------------------


# to_utc and month_bounds: the time conventions of sourcegrid.timebase (imported above).


#: Columns the functions here read from ``cell_hours``.
CELL_HOURS_COLUMNS = ("cell_id", "row", "col", "time", "pollutant", "value")


def require_columns(columns, required, source: str) -> None:
    """Raise one InputError naming every required column that is missing.

    Parameters
    ----------
    columns : iterable of str
        The columns the table has.
    required : iterable of str
        The columns needed.
    source : str
        Name of the table, for the message (e.g. 'cell_hours').
    """
    from sourcegrid.errors import InputError, Problem

    present = set(columns)
    missing = [name for name in required if name not in present]
    if missing:
        problems = [Problem(source, None, name, "", "missing_column",
                            f"a column {name!r} (the table has: {', '.join(map(str, columns))})")
                    for name in missing]
        raise InputError(problems, f"table {source!r} lacks {len(missing)} column(s)")


def _as_ibis(table: pd.DataFrame | ibis.Table, source: str = "cell_hours",
             required=CELL_HOURS_COLUMNS) -> ibis.Table:
    columns = list(table.columns)
    require_columns(columns, required, source)
    if isinstance(table, pd.DataFrame):
        return ibis.memtable(table)
    return table


def _naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _time_filter(table: ibis.Table, start: pd.Timestamp, end: pd.Timestamp) -> ibis.Table:
    """Rows with start <= time < end, comparing in UTC.

    A stored time column may be naive (UTC by convention) or time-zone aware;
    the literals follow the column's kind.
    """
    dtype = table.time.type()
    if getattr(dtype, "timezone", None):
        low, high = ibis.literal(start.to_pydatetime()), ibis.literal(end.to_pydatetime())
    else:
        low = ibis.literal(_naive_utc(start).to_pydatetime())
        high = ibis.literal(_naive_utc(end).to_pydatetime())
    return table.filter((table.time >= low) & (table.time < high))


def period_rows(cell_hours: pd.DataFrame | ibis.Table, start, end,
                pollutants: str | tuple[str, ...]) -> ibis.Table:
    """The rows of ``cell_hours`` with a value in [start, end) of the given pollutant(s).

    Parameters
    ----------
    cell_hours : DataFrame or ibis.Table
        The fused table (cell_id, row, col, time [UTC], pollutant, value); a frame
        lacking one of these columns raises one InputError naming all that are missing.
    start, end : str or Timestamp
        Period bounds (naive = Asia/Shanghai); end excluded.
    pollutants : str or tuple of str
        One pollutant name as in the table ('PM2.5', 'SO2', ...) or several.
    """
    table = _as_ibis(cell_hours)
    table = _time_filter(table, to_utc(start), to_utc(end))
    chosen = (table.pollutant == pollutants if isinstance(pollutants, str)
              else table.pollutant.isin(list(pollutants)))
    return table.filter(chosen & table.value.notnull())


def period_means(cell_hours: pd.DataFrame | ibis.Table, start, end,
                 pollutant: str = "PM2.5") -> ibis.Table:
    """Mean per cell over [start, end) (an Ibis expression).

    Parameters
    ----------
    cell_hours, start, end
        The fused cell-hours and the period [start, end), as for :func:`period_rows`.
    pollutant : str
        Pollutant name as in the table ('PM2.5', 'PM10', 'SO2', ...).

    Returns
    -------
    ibis.Table
        cell_id, row, col, mean [unit of the values], hours (hours with a value).
    """
    table = period_rows(cell_hours, start, end, pollutant)
    return table.group_by(_CELL_KEY_COLUMNS).aggregate(
        mean=table.value.mean(), hours=table.value.count()
    )


def _with_city(means: pd.DataFrame, cells: pd.DataFrame | ibis.Table | None) -> pd.DataFrame:
    """Attach city_code (from ``cells``; '' = the whole grid as one city)."""
    if cells is None:
        means = means.assign(city_code="")
        return means
    if not isinstance(cells, pd.DataFrame):
        cells = cells.select("cell_id", "city_code").to_pandas()
    lookup = cells[["cell_id", "city_code"]].drop_duplicates("cell_id")
    means = means.merge(lookup, on="cell_id", how="left")
    means["city_code"] = means["city_code"].fillna("").astype(str)
    return means


def _top_count(total: int | np.ndarray, top: int | None, top_percent: float | None):
    """How many of ``total`` items the top-N / top-p% rule keeps."""
    if (top is None) == (top_percent is None):
        raise ValueError("give exactly one of top (a count) or top_percent (0-100]")
    if top is not None:
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        return np.minimum(total, top)
    if not 0 < top_percent <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent}")
    # ceil, with a hair of slack so that e.g. 10 % of 30 is 3 and not 4
    return np.ceil(np.asarray(total) * top_percent / 100.0 - 1e-9).astype(int)


def top_rows(frame: pd.DataFrame, top: int | None = None,
             top_percent: float | None = None) -> pd.DataFrame:
    """The first N rows, or the first ceil(p/100 x rows), of a frame sorted worst first.

    With neither ``top`` nor ``top_percent`` the frame is returned whole.
    """
    if top is None and top_percent is None:
        return frame
    return frame.head(int(_top_count(len(frame), top, top_percent))).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# (a) the ranking rule
# --------------------------------------------------------------------------------------


def rank_cells(cell_hours: pd.DataFrame | ibis.Table, start, end, *, pollutant: str = "PM2.5",
               top: int | None = None, top_percent: float | None = None,
               cells: pd.DataFrame | ibis.Table | None = None,
               by_city: bool = False) -> pd.DataFrame:
    """Hotspot cells by the ranking rule: top N or top p % by period mean.

    Parameters
    ----------
    cell_hours, start, end
        The fused cell-hours and the period [start, end), as for :func:`period_rows`.
    pollutant : str
        Pollutant to rank by (default PM2.5 [ug/m3]).
    top : int, optional
        Keep the N highest cells.
    top_percent : float, optional
        Keep the highest p % of cells (ceil(p/100 x cells with data)).
        Exactly one of ``top``/``top_percent``.
    cells : DataFrame or ibis.Table, optional
        The ``cells`` table (cell_id, city_code, ...); without it all cells form
        one city with code ''.
    by_city : bool
        Apply top N / top p % within each city instead of over the whole grid.

    Returns
    -------
    pandas.DataFrame
        One row per hotspot cell: rank (1 = highest; ties broken by cell_id),
        cell_id, row, col, city_code, mean, hours, city_mean (mean of the
        period means of all cells of the city with data), ratio_to_city_mean.

    References
    ----------
    .. [1] MEE '千里眼计划' hotspot grid screening (DESIGN.md, Hotspot grid facts).
    """
    means = period_means(cell_hours, start, end, pollutant).to_pandas()
    means = _with_city(means, cells)
    columns = ["rank", "cell_id", "row", "col", "city_code", "mean", "hours", "city_mean",
               "ratio_to_city_mean"]
    if means.empty:
        _top_count(0, top, top_percent)  # still validate the arguments
        return pd.DataFrame(columns=columns)
    means["city_mean"] = means.groupby("city_code")["mean"].transform("mean")
    means["ratio_to_city_mean"] = means["mean"] / means["city_mean"]
    means = means.sort_values(["mean", "cell_id"], ascending=[False, True], kind="mergesort")
    if by_city:
        means["rank"] = means.groupby("city_code").cumcount() + 1
        sizes = means.groupby("city_code")["cell_id"].transform("size").to_numpy()
        keep = means["rank"].to_numpy() <= _top_count(sizes, top, top_percent)
        result = means[keep].sort_values(["city_code", "rank"])
    else:
        means["rank"] = np.arange(1, len(means) + 1)
        result = means[means["rank"] <= _top_count(len(means), top, top_percent)]
    return result[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# (b) Gi* on cell tables
# --------------------------------------------------------------------------------------


def gi_star_cells(cell_hours: pd.DataFrame | ibis.Table, start, end, *, radius_cells: float,
                  shape: str = "square", pollutant: str = "PM2.5",
                  grid_shape: tuple[int, int] | None = None, alpha: float = 0.05,
                  cells: pd.DataFrame | ibis.Table | None = None) -> pd.DataFrame:
    """Gi* of the period mean of each cell, with hot/cold spot labels.

    Parameters
    ----------
    cell_hours, start, end
        The fused cell-hours and the period [start, end), as for :func:`period_rows`.
    radius_cells : float
        Distance band [cells].
    shape : {'square', 'disk'}
        Neighbourhood shape (see :func:`gi_star`).
    pollutant : str
        Pollutant (default PM2.5).
    grid_shape : (nrows, ncols), optional
        Size of the grid (default: max row + 1, max col + 1 of the data).
    alpha : float
        Significance level of the labels, two-sided: a cell is a 'hot' spot
        when z > 0 and 2 p < alpha, 'cold' when z < 0 and 2 p < alpha.
    cells : DataFrame or ibis.Table, optional
        The ``cells`` table, for city_code.

    Returns
    -------
    pandas.DataFrame
        cell_id, row, col, city_code, mean, hours, z, p (one-sided, as esda
        p_norm), p_two_sided, spot ('hot', 'cold' or ''), sorted by z
        descending.

    References
    ----------
    .. [1] Ord, J. K. and Getis, A. (1995), Geographical Analysis 27(4), 286-306.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be a significance level in (0, 1), got {alpha!r}")
    means = period_means(cell_hours, start, end, pollutant).to_pandas()
    means = _with_city(means, cells)
    rows = means["row"].to_numpy(dtype=np.int64)
    cols = means["col"].to_numpy(dtype=np.int64)
    if grid_shape is None:
        grid_shape = (int(rows.max()) + 1 if len(rows) else 0, int(cols.max()) + 1 if len(cols) else 0)
    grid = np.full(grid_shape, np.nan)
    grid[rows, cols] = means["mean"].to_numpy(dtype=np.float64)
    z = gi_star(grid, radius_cells, shape).z[rows, cols]
    means["z"] = z
    means["p"] = normal_sf_abs(z)  # at the cells of the table only
    means["p_two_sided"] = np.minimum(2.0 * means["p"], 1.0)
    significant = means["p_two_sided"] < alpha
    means["spot"] = np.where(significant & (means["z"] > 0), "hot",
                             np.where(significant & (means["z"] < 0), "cold", ""))
    means = means.sort_values(["z", "cell_id"], ascending=[False, True], kind="mergesort",
                              na_position="last")
    return means[["cell_id", "row", "col", "city_code", "mean", "hours", "z", "p", "p_two_sided",
                  "spot"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# (c) persistence
# --------------------------------------------------------------------------------------


def persistence(cell_hours: pd.DataFrame | ibis.Table, start, end, *, pollutant: str = "PM2.5",
                threshold: float | None = None, top_percent: float | None = None,
                cells: pd.DataFrame | ibis.Table | None = None) -> pd.DataFrame:
    """Share of hours each cell is hot over a window.

    A cell is hot in an hour when its value is above ``threshold`` (strictly),
    or -- with ``top_percent`` -- when it is among the top p % of the cells
    with data that hour: its rank (1 = highest, ties share the best rank) is
    at most ceil(p/100 x cells with data that hour).

    Parameters
    ----------
    cell_hours, start, end
        The fused cell-hours and the period [start, end), as for :func:`period_rows`.
    pollutant : str
        Pollutant (default PM2.5).
    threshold : float, optional
        Concentration [ug/m3; CO mg/m3] above which a cell-hour is hot.
    top_percent : float, optional
        Share of cells (0-100] that are hot each hour. Exactly one of the two.
    cells : DataFrame or ibis.Table, optional
        The ``cells`` table, for city_code.

    Returns
    -------
    pandas.DataFrame
        cell_id, row, col, city_code, hours (with data), hot_hours, persistence
        (= hot_hours / hours, 0-1), mean, sorted by persistence descending.
    """
    if (threshold is None) == (top_percent is None):
        raise ValueError("give exactly one of threshold or top_percent")
    if top_percent is not None and not 0 < top_percent <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent}")
    if threshold is not None and not (threshold >= 0 and np.isfinite(threshold)):
        raise ValueError(f"threshold must be a concentration >= 0, got {threshold!r}")
    table = period_rows(cell_hours, start, end, pollutant)
    if threshold is not None:
        hot = table.value > float(threshold)
    else:
        hour = ibis.window(group_by=table.time)
        ranked = ibis.window(group_by=table.time, order_by=ibis.desc(table.value))
        table = table.mutate(
            place=ibis.rank().over(ranked) + 1,  # ibis.rank is 0-based, min rank on ties
            in_hour=table.value.count().over(hour),
        )
        allowed = (table.in_hour * (float(top_percent) / 100.0) - 1e-9).ceil()
        hot = table.place <= allowed
    table = table.mutate(hot=hot.ifelse(1, 0).cast("int64"))  # PostgreSQL: no bool -> int8 cast
    summary = table.group_by(_CELL_KEY_COLUMNS).aggregate(
        hours=table.value.count(), hot_hours=table.hot.sum(), mean=table.value.mean()
    ).to_pandas()
    summary = _with_city(summary, cells)
    summary["hot_hours"] = summary["hot_hours"].astype("int64")
    summary["persistence"] = summary["hot_hours"] / summary["hours"]
    summary = summary.sort_values(["persistence", "mean", "cell_id"],
                                  ascending=[False, False, True], kind="mergesort")
    return summary[["cell_id", "row", "col", "city_code", "hours", "hot_hours", "persistence",
                    "mean"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# (d) the three monthly lists
# --------------------------------------------------------------------------------------

#: Names of the monthly lists (the ministry's three alert lists per city).
MONTHLY_LISTS = ("highest", "year_on_year", "month_on_month")


def monthly_lists(cell_hours: pd.DataFrame | ibis.Table, month, *, pollutant: str = "PM2.5",
                  top: int = 10, cells: pd.DataFrame | ibis.Table | None = None) -> pd.DataFrame:
    """The three monthly lists per city: highest, worst year-on-year, worst month-on-month.

    Parameters
    ----------
    cell_hours : DataFrame or ibis.Table
        Fused cell-hours (cell_id, row, col, time [UTC], pollutant, value).
    month : str or Timestamp
        The month, e.g. '2026-03' (a Beijing-time calendar month).
    pollutant : str
        Pollutant (default PM2.5).
    top : int
        Cells per city and list.
    cells : DataFrame or ibis.Table, optional
        The ``cells`` table, for city_code (without it: one city, code '').

    Returns
    -------
    pandas.DataFrame
        Long table: list ('highest', 'year_on_year', 'month_on_month'),
        city_code, rank (1 = worst), cell_id, row, col, mean (this month),
        reference_mean (same month last year, or previous month; NaN for
        'highest'), change_percent = (mean - reference_mean) / reference_mean
        x 100 [%] (largest rise first). Cells without a reference month, or
        with a reference mean of 0, are left out of the change lists.

    References
    ----------
    .. [1] MEE '千里眼计划': monthly, per city, the cells with the highest PM2.5,
       the worst year-on-year and the worst month-on-month change
       (DESIGN.md, Hotspot grid facts).
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    months = {}
    for name, shift in (("mean", 0), ("previous_month", -1), ("last_year", -12)):
        start, end = month_bounds(month, shift)
        frame = period_means(cell_hours, start, end, pollutant).to_pandas()
        months[name] = frame.rename(columns={"mean": name}).drop(columns="hours")
    current = months["mean"]
    current = current.merge(months["previous_month"], on=_CELL_KEY_COLUMNS, how="left")
    current = current.merge(months["last_year"], on=_CELL_KEY_COLUMNS, how="left")
    current = _with_city(current, cells)

    pieces = []
    columns = ["list", "city_code", "rank", "cell_id", "row", "col", "mean", "reference_mean",
               "change_percent"]
    specs = (("highest", None), ("year_on_year", "last_year"), ("month_on_month", "previous_month"))
    for list_name, reference in specs:
        frame = current.copy()
        if reference is None:
            frame["reference_mean"] = np.nan
            frame["change_percent"] = np.nan
            key = "mean"
        else:
            frame["reference_mean"] = frame[reference]
            usable = frame["reference_mean"].notna() & (frame["reference_mean"] != 0)
            frame = frame[usable].copy()
            frame["change_percent"] = ((frame["mean"] - frame["reference_mean"])
                                       / frame["reference_mean"] * 100.0)
            key = "change_percent"
        frame = frame.sort_values(["city_code", key, "cell_id"], ascending=[True, False, True],
                                  kind="mergesort")
        frame["rank"] = frame.groupby("city_code").cumcount() + 1
        frame = frame[frame["rank"] <= top]
        frame["list"] = list_name
        pieces.append(frame[columns])
    result = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)
    return result.reset_index(drop=True)
