"""The monitoring grid (网格): a regular grid of square cells in projected metres.

A :class:`GridSpec` is the whole description of a grid: the projected CRS, the
cell size and the north-west corner (``origin_x``, ``origin_y``) with the number
of rows and columns. Everything else (cell ids, centres, polygons) derives from it.

Conventions
-----------
- Row 0 is the **northern-most** row and column 0 the **western-most** column,
  as in a raster image (rasterio's affine ``transform`` of the grid is
  ``(cell_size, 0, origin_x, 0, -cell_size, origin_y)``). Arrays from
  :meth:`GridSpec.to_array` therefore print with north up.
- A cell ``(row, col)`` covers ``origin_x + col*size <= x < origin_x + (col+1)*size``
  and ``origin_y - (row+1)*size < y <= origin_y - row*size``: every point of the grid
  falls in exactly one cell (half-open intervals; the floor of the offset).
- Cell ids are ``'R{row:04d}C{col:04d}'`` (e.g. ``'R0012C0034'``), stable as
  long as the spec is the same. Grids made by :meth:`GridSpec.from_bbox` snap the
  origin to a multiple of the cell size, so two bounding boxes in the same CRS
  give cells on the same lattice.
- The default CRS is the WGS 84 / UTM zone of the centre of the area
  (EPSG:326xx north, 327xx south); any projected EPSG code is accepted.
- Points outside the grid get row = col = -1 and an empty cell id.

A nested grid (:meth:`GridSpec.nested`, e.g. 500 m cells in key areas) shares
the origin; its ``parent_factor`` says how many fine cells make one coarse
cell along a side, and :meth:`GridSpec.parent_of` maps a fine cell to its parent.

References
----------
生态环境部 大气污染防治“千里眼计划” (2018): 3 km × 3 km cells over the
2+26 cities (36,793 cells) picked from satellite PM2.5 (热点网格).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem, SourcegridError

__all__ = [
    "GridSpec",
    "GridError",
    "boundary_geometry",
    "DEFAULT_CELL_SIZE",
    "MAX_CELL_SIZE",
    "MAX_CELLS",
    "OUTSIDE",
    "utm_crs",
    "parse_cell_id",
    "format_cell_id",
    "write_spec",
    "read_spec",
    "SPEC_TABLE",
]

#: Cell side [m] of the national 千里眼计划 hotspot grid (3 km × 3 km).
DEFAULT_CELL_SIZE = 3000.0
#: Largest cell side accepted [m]: 100 km, beyond which a "cell" is a province.
MAX_CELL_SIZE = 100_000.0
#: Most cells a grid may have by default. The 2+26 cities' 3 km grid had 36,793 cells
#: (DESIGN.md); a 1 km grid over Hebei (188,800 km²) about 0.3 million. 5 million cells
#: take about 1.2 GB while the cells table is built (:data:`BYTES_PER_CELL`).
MAX_CELLS = 5_000_000
#: Memory one cell takes while ``cells`` is built and stored (id text, row, col, centre
#: in lon/lat and metres, admin codes, and the copies pandas makes) [byte], measured.
BYTES_PER_CELL = 240
#: Row/col index given to points outside the grid.
OUTSIDE = -1
#: Workspace table holding the grid spec (one row).
SPEC_TABLE = "grid_spec"
WGS84 = "EPSG:4326"


class GridError(SourcegridError, ValueError):
    """A grid that cannot be built as asked (bad bbox, size, CRS)."""


def utm_crs(lon: float, lat: float) -> str:
    """The WGS 84 / UTM zone CRS holding a point, as ``'EPSG:326zz'`` (north) or 327zz.

    Parameters
    ----------
    lon, lat : float
        Longitude and latitude [degree].

    References
    ----------
    EPSG registry, WGS 84 / UTM zones 1N-60N = 32601-32660, 1S-60S = 32701-32760.
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def _normalise_crs(crs: str | int) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = f"EPSG:{crs}" if isinstance(crs, int) or str(crs).isdigit() else str(crs)
    try:
        parsed = CRS.from_user_input(text)
    except CRSError as error:
        raise GridError(f"unknown CRS {crs!r}: {error}") from None
    if not parsed.is_projected:
        raise GridError(f"the grid CRS must be projected (metres); {text} is geographic")
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else parsed.to_string()


@lru_cache(maxsize=32)
def _transformer(source: str, target: str):
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def format_cell_id(row: Any, col: Any) -> Any:
    """Cell ids ``'R{row:04d}C{col:04d}'`` for scalars or arrays; '' where row or col < 0."""
    if np.ndim(row) == 0 and np.ndim(col) == 0:
        if int(row) < 0 or int(col) < 0:
            return ""
        return f"R{int(row):04d}C{int(col):04d}"
    rows = np.asarray(row, dtype=np.int64)
    cols = np.asarray(col, dtype=np.int64)
    text = np.char.add(np.char.add("R", np.char.zfill(rows.astype(str), 4)),
                       np.char.add("C", np.char.zfill(cols.astype(str), 4)))
    return np.where((rows < 0) | (cols < 0), "", text).astype(object)


def parse_cell_id(cell_id: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of cell ids ``'R0012C0034'`` (vectorized).

    Raises
    ------
    InputError
        Listing every id that is not of the form ``R<digits>C<digits>``.
    """
    ids = pd.Series(np.atleast_1d(np.asarray(cell_id, dtype=object)), dtype=object)
    parts = ids.astype(str).str.extract(r"^R(\d+)C(\d+)$")
    bad = parts[0].isna()
    if bad.any():
        problems = [Problem("cell_id", int(i) + 2, "cell_id", str(ids[i]), "bad_cell_id",
                            "a cell id of the form 'R0012C0034'")
                    for i in np.flatnonzero(bad.to_numpy())]
        raise InputError(problems, "bad cell ids")
    return parts[0].astype(np.int64).to_numpy(), parts[1].astype(np.int64).to_numpy()


@dataclass(frozen=True)
class GridSpec:
    """A regular grid of square cells in a projected CRS.

    Parameters
    ----------
    crs : str
        Projected CRS of the grid, e.g. ``'EPSG:32650'`` (WGS 84 / UTM 50N).
    cell_size : float
        Side of a cell [m].
    origin_x, origin_y : float
        North-west corner of the grid (left edge, top edge) in ``crs`` [m].
    nrows, ncols : int
        Number of rows (north to south) and columns (west to east).
    parent_factor : int
        For a nested grid, fine cells per coarse cell along a side (1 = not nested).

    Notes
    -----
    Build one with :meth:`from_bbox` or :meth:`from_boundary`; see the module
    docstring for the row/column and id conventions.
    """

    crs: str
    cell_size: float
    origin_x: float
    origin_y: float
    nrows: int
    ncols: int
    parent_factor: int = 1

    def __post_init__(self) -> None:
        if not (self.cell_size > 0 and math.isfinite(self.cell_size)):
            raise GridError(f"cell_size must be a positive number of metres, got {self.cell_size!r}")
        if self.nrows < 1 or self.ncols < 1:
            raise GridError(f"a grid needs at least one row and column, got {self.nrows}×{self.ncols}")
        if self.parent_factor < 1:
            raise GridError(f"parent_factor must be ≥ 1, got {self.parent_factor}")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_bbox(cls, bbox: tuple[float, float, float, float], cell_size: float = DEFAULT_CELL_SIZE,
                  crs: str | int | None = None, *, snap: bool = True) -> GridSpec:
        """A grid covering a lon/lat bounding box.

        Parameters
        ----------
        bbox : (min_lon, min_lat, max_lon, max_lat)
            Area to cover [degree, WGS 84].
        cell_size : float
            Side of a cell [m] (default 3000, the 千里眼计划 grid).
        crs : str or int, optional
            Projected CRS (e.g. 32650 or 'EPSG:4547'); default the UTM zone of the centre.
        snap : bool
            Snap the origin outward to a multiple of ``cell_size`` (stable ids
            across bounding boxes), default True.
        """
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise GridError(f"bbox must be min_lon,min_lat,max_lon,max_lat in degrees with "
                            f"min < max, got {bbox!r}")
        if crs is None:
            crs = utm_crs((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)
        crs = _normalise_crs(crs)
        to_xy = _transformer(WGS84, crs)
        min_x, min_y, max_x, max_y = to_xy.transform_bounds(min_lon, min_lat, max_lon, max_lat,
                                                            densify_pts=41)
        return cls.from_xy_bounds((min_x, min_y, max_x, max_y), cell_size, crs, snap=snap)

    @classmethod
    def from_xy_bounds(cls, bounds: tuple[float, float, float, float], cell_size: float,
                       crs: str | int, *, snap: bool = True) -> GridSpec:
        """A grid covering projected bounds ``(min_x, min_y, max_x, max_y)`` [m] in ``crs``."""
        min_x, min_y, max_x, max_y = (float(v) for v in bounds)
        size = float(cell_size)
        if not size > 0:
            raise GridError(f"cell_size must be a positive number of metres, got {cell_size!r}")
        if snap:
            origin_x = math.floor(min_x / size) * size
            origin_y = math.ceil(max_y / size) * size
        else:
            origin_x, origin_y = min_x, max_y
        ncols = max(1, math.ceil((max_x - origin_x) / size - 1e-9))
        nrows = max(1, math.ceil((origin_y - min_y) / size - 1e-9))
        return cls(_normalise_crs(crs), size, origin_x, origin_y, nrows, ncols)

    @classmethod
    def from_boundary(cls, boundary: str | Path | dict, cell_size: float = DEFAULT_CELL_SIZE,
                      crs: str | int | None = None, *, snap: bool = True) -> GridSpec:
        """A grid covering the bounds of a GeoJSON boundary (file path or parsed dict, lon/lat)."""
        import shapely

        geometry = boundary_geometry(boundary)
        min_lon, min_lat, max_lon, max_lat = shapely.bounds(geometry)
        return cls.from_bbox((min_lon, min_lat, max_lon, max_lat), cell_size, crs, snap=snap)

    def nested(self, factor: int | None = None, *, size: float | None = None) -> GridSpec:
        """A finer grid on the same origin, ``factor`` fine cells per cell along a side.

        Parameters
        ----------
        factor : int, optional
            Fine cells per coarse cell along a side (6 turns 3 km into 500 m).
        size : float, optional
            Fine cell side [m] instead of ``factor``; must divide ``cell_size``.
        """
        if (factor is None) == (size is None):
            raise GridError("give exactly one of factor or size")
        if size is not None:
            ratio = self.cell_size / float(size)
            factor = int(round(ratio))
            if factor < 1 or abs(ratio - factor) > 1e-9:
                raise GridError(f"size {size} m does not divide the cell size {self.cell_size} m")
        factor = int(factor)
        if factor < 1:
            raise GridError(f"factor must be ≥ 1, got {factor}")
        return GridSpec(self.crs, self.cell_size / factor, self.origin_x, self.origin_y,
                        self.nrows * factor, self.ncols * factor, self.parent_factor * factor)

    def parent_of(self, row: Any, col: Any) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the coarse (parent) cell of fine cells of a nested grid."""
        rows = np.asarray(row, dtype=np.int64)
        cols = np.asarray(col, dtype=np.int64)
        outside = (rows < 0) | (cols < 0)
        return (np.where(outside, OUTSIDE, rows // self.parent_factor),
                np.where(outside, OUTSIDE, cols // self.parent_factor))

    # ---- geometry -----------------------------------------------------------------------
    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine coefficients (a, b, c, d, e, f) as rasterio's ``Affine`` takes them."""
        return (self.cell_size, 0.0, self.origin_x, 0.0, -self.cell_size, self.origin_y)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Projected bounds (min_x, min_y, max_x, max_y) [m]."""
        return (self.origin_x, self.origin_y - self.nrows * self.cell_size,
                self.origin_x + self.ncols * self.cell_size, self.origin_y)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrows, self.ncols)

    def check_size(self, max_cells: int = MAX_CELLS) -> None:
        """Raise :class:`GridError` when the grid has more than ``max_cells`` cells.

        The message says how many cells the grid would have and how much memory
        building them would take, before anything is allocated.
        """
        cells = self.nrows * self.ncols
        if cells > max_cells:
            memory = cells * BYTES_PER_CELL / 2**30
            raise GridError(
                f"the grid would have {self.nrows:,} rows × {self.ncols:,} columns = {cells:,} "
                f"cells of {self.cell_size:g} m, about {memory:,.1f} GiB of memory; the limit "
                f"is {max_cells:,} cells: use a larger --cell-size or a smaller area "
                "(or raise --max-cells)")

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.nrows * self.ncols

    def to_xy(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat [degree] to grid x/y [m] (vectorized)."""
        x, y = _transformer(WGS84, self.crs).transform(np.asarray(lon, dtype=float),
                                                        np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def to_lonlat(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid x/y [m] back to lon/lat [degree] (vectorized)."""
        lon, lat = _transformer(self.crs, WGS84).transform(np.asarray(x, dtype=float),
                                                            np.asarray(y, dtype=float))
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def cell_of_xy(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of projected points [m]; -1 for points outside the grid."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        with np.errstate(invalid="ignore"):
            col_f = np.floor((x - self.origin_x) / self.cell_size)
            row_f = np.floor((self.origin_y - y) / self.cell_size)
            inside = ((col_f >= 0) & (col_f < self.ncols) & (row_f >= 0) & (row_f < self.nrows))
        rows = np.where(inside, row_f, OUTSIDE).astype(np.int64)
        cols = np.where(inside, col_f, OUTSIDE).astype(np.int64)
        return rows, cols

    def cell_of(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each lon/lat point [degree] (vectorized with pyproj).

        Points outside the grid, and NaN coordinates, get row = col = -1.
        """
        x, y = self.to_xy(lon, lat)
        return self.cell_of_xy(x, y)

    def cell_id(self, row: Any, col: Any) -> Any:
        """Cell id(s) ``'R0012C0034'`` of rows and columns ('' where outside)."""
        return format_cell_id(row, col)

    def centre_xy(self, row: Any, col: Any) -> tuple[np.ndarray, np.ndarray]:
        """Projected centre [m] of cells."""
        rows = np.asarray(row, dtype=float)
        cols = np.asarray(col, dtype=float)
        return (self.origin_x + (cols + 0.5) * self.cell_size,
                self.origin_y - (rows + 0.5) * self.cell_size)

    def cells(self) -> pd.DataFrame:
        """Every cell: cell_id, row, col, lon, lat (centre, degree), x, y (centre, m).

        For a nested grid a ``parent_id`` column names the coarse cell. Rows are in
        row-major order (row 0 = north, west to east within a row).
        """
        rows, cols = np.divmod(np.arange(self.size, dtype=np.int64), self.ncols)
        x, y = self.centre_xy(rows, cols)
        lon, lat = self.to_lonlat(x, y)
        frame = pd.DataFrame({"cell_id": self.cell_id(rows, cols), "row": rows, "col": cols,
                              "lon": lon, "lat": lat, "x": x, "y": y})
        if self.parent_factor > 1:
            prow, pcol = self.parent_of(rows, cols)
            frame["parent_id"] = format_cell_id(prow, pcol)
        return frame

    def polygons(self, rows: Any = None, cols: Any = None) -> np.ndarray:
        """Cell outlines as shapely polygons in lon/lat (WGS 84).

        Corners are projected exactly (a UTM square is a slightly skewed
        quadrilateral in lon/lat). Default: all cells in :meth:`cells` order.
        """
        import shapely

        if rows is None:
            rows, cols = np.divmod(np.arange(self.size, dtype=np.int64), self.ncols)
        rows = np.asarray(rows, dtype=float)
        cols = np.asarray(cols, dtype=float)
        # corners: NW, NE, SE, SW, NW (closed ring, clockwise in x/y)
        d_col = np.array([0, 1, 1, 0, 0], dtype=float)
        d_row = np.array([0, 0, 1, 1, 0], dtype=float)
        x = self.origin_x + (cols[:, None] + d_col) * self.cell_size
        y = self.origin_y - (rows[:, None] + d_row) * self.cell_size
        lon, lat = self.to_lonlat(x, y)
        return shapely.polygons(np.stack([lon, lat], axis=-1))

    def to_geojson(self, frame: pd.DataFrame | None = None) -> dict:
        """A GeoJSON FeatureCollection of cell polygons with the columns of ``frame``.

        ``frame`` needs ``row`` and ``col`` (or ``cell_id``); default :meth:`cells`.
        """
        import shapely

        frame = self.cells() if frame is None else frame
        rows, cols = self._rows_cols(frame)
        geometries = shapely.to_geojson(self.polygons(rows, cols))
        properties = frame.drop(columns=[c for c in ("geometry",) if c in frame]).copy()
        for column in properties.columns:
            if pd.api.types.is_datetime64_any_dtype(properties[column]):
                properties[column] = properties[column].map(
                    lambda t: None if pd.isna(t) else t.isoformat())
        records = json.loads(properties.to_json(orient="records", date_format="iso"))
        features = [{"type": "Feature", "id": record.get("cell_id"),
                     "geometry": json.loads(geometry), "properties": record}
                    for geometry, record in zip(geometries, records, strict=True)]
        return {"type": "FeatureCollection", "features": features,
                "grid": self.to_dict()}

    # ---- arrays -------------------------------------------------------------------------
    def _rows_cols(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if "row" in frame and "col" in frame:
            return frame["row"].to_numpy(np.int64), frame["col"].to_numpy(np.int64)
        if "cell_id" in frame:
            return parse_cell_id(frame["cell_id"].to_numpy())
        raise GridError("the frame needs row and col columns, or cell_id")

    def to_array(self, frame: pd.DataFrame, value_col: str = "value") -> np.ndarray:
        """A (nrows × ncols) float array of ``frame[value_col]`` by cell, NaN for no data.

        ``frame`` holds at most one row per cell (select one time and pollutant
        first); a cell given twice is an error. Rows outside the grid are an error.
        """
        rows, cols = self._rows_cols(frame)
        inside = (rows >= 0) & (rows < self.nrows) & (cols >= 0) & (cols < self.ncols)
        if not inside.all():
            raise GridError(f"{int((~inside).sum())} row(s) lie outside the "
                            f"{self.nrows}×{self.ncols} grid")
        flat = rows * self.ncols + cols
        if len(np.unique(flat)) != len(flat):
            raise GridError("a cell appears more than once; select one time and pollutant first")
        array = np.full(self.shape, np.nan)
        array.reshape(-1)[flat] = frame[value_col].to_numpy(dtype=float)
        return array

    def from_array(self, array: np.ndarray, value_col: str = "value", *,
                   dropna: bool = True) -> pd.DataFrame:
        """A (nrows × ncols) array back to a frame cell_id, row, col, ``value_col``."""
        array = np.asarray(array, dtype=float)
        if array.shape != self.shape:
            raise GridError(f"array shape {array.shape} is not the grid's {self.shape}")
        rows, cols = np.divmod(np.arange(self.size, dtype=np.int64), self.ncols)
        values = array.reshape(-1)
        keep = ~np.isnan(values) if dropna else np.ones(self.size, dtype=bool)
        return pd.DataFrame({"cell_id": self.cell_id(rows[keep], cols[keep]), "row": rows[keep],
                             "col": cols[keep], value_col: values[keep]})

    # ---- storage ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridSpec:
        names = {f.name for f in fields(cls)}
        missing = {"crs", "cell_size", "origin_x", "origin_y", "nrows", "ncols"} - set(data)
        if missing:
            raise GridError(f"grid spec is missing {sorted(missing)}")
        values = {k: v for k, v in data.items() if k in names}
        return cls(crs=str(values["crs"]), cell_size=float(values["cell_size"]),
                   origin_x=float(values["origin_x"]), origin_y=float(values["origin_y"]),
                   nrows=int(values["nrows"]), ncols=int(values["ncols"]),
                   parent_factor=int(values.get("parent_factor", 1)))


def boundary_geometry(boundary: str | Path | dict):
    """The union of the geometries of a GeoJSON (FeatureCollection, Feature or geometry)."""
    import shapely

    data = boundary
    if not isinstance(boundary, dict):
        path = Path(boundary)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError([Problem(str(path), None, "", "", "bad_geojson",
                                      f"a readable GeoJSON file ({error})")],
                             "cannot read the boundary") from None
    if data.get("type") == "FeatureCollection":
        geometries = [f.get("geometry") for f in data.get("features", [])]
    elif data.get("type") == "Feature":
        geometries = [data.get("geometry")]
    else:
        geometries = [data]
    shapes = [shapely.from_geojson(json.dumps(g)) for g in geometries if g]
    if not shapes:
        raise GridError("the boundary has no geometry")
    return shapely.union_all(shapes)


def write_spec(workspace, spec: GridSpec) -> None:
    """Store the spec as the one-row workspace table ``grid_spec``."""
    workspace.write(SPEC_TABLE, pd.DataFrame([spec.to_dict()]))


def read_spec(workspace) -> GridSpec:
    """The spec stored by :func:`write_spec` (``sourcegrid grid create``)."""
    from sourcegrid.errors import WorkspaceError

    if not workspace.has(SPEC_TABLE):
        raise WorkspaceError("the workspace has no grid; create one with 'sourcegrid grid create'")
    return GridSpec.from_dict(workspace.read(SPEC_TABLE).iloc[0].to_dict())
