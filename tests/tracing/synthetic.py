"""A small synthetic workspace for tracing tests: a grid, sources, wind and cell-hours.

The cell-hours are made with sourcegrid's own plume (tests of recovery and invariants,
not of skill: the sample city's benchmark scores skill with another transport).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.grid.fusion import CELL_HOUR_COLUMNS
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.store import Workspace
from sourcegrid.tracing import dispersion

BBOX = (116.60, 38.20, 116.95, 38.50)
START = pd.Timestamp("2017-01-01", tz="UTC")


def make_workspace(*, hours: int = 24 * 14, sources: pd.DataFrame | None = None,
                   truth_scale: dict | None = None, hidden: pd.DataFrame | None = None,
                   seed: int = 1, noise: float = 0.05, background: float = 30.0,
                   path=None):
    """Workspace + (spec, sources, times). ``truth_scale``: source_id → true/reported."""
    rng = np.random.default_rng(seed)
    ws = Workspace.in_memory() if path is None else Workspace(path, create=True)
    spec = GridSpec.from_bbox(BBOX, 3000)
    write_spec(ws, spec)
    cells = spec.cells()
    ws.write("cells", cells.assign(city_code="130900"))
    times = pd.date_range(START, periods=hours, freq="h")
    # wind: a slowly turning direction with noise, speeds 1-7 m/s
    direction = (np.cumsum(rng.normal(0, 25, hours)) + 200) % 360
    speed = np.clip(rng.gamma(3, 1.0, hours), 0.5, 9)
    ws.write("wind", pd.DataFrame({"time": times, "site_id": "W1", "lon": 116.77, "lat": 38.35,
                                   "wind_speed": speed, "wind_dir": direction, "source": "test"}))
    if sources is None:
        sources = random_sources(spec, 25, rng)
    emitting = pd.concat([sources, hidden]) if hidden is not None else sources
    scale = np.array([(truth_scale or {}).get(s, 1.0) for s in emitting["source_id"]])
    sx, sy = spec.to_xy(emitting["lon"].to_numpy(float), emitting["lat"].to_numpy(float))
    stability = dispersion.pasquill_stability(speed, times, lon=116.77, lat=38.35)
    heights = dispersion.effective_height(
        emitting["stack_height"].to_numpy(float)[:, None],
        emitting["stack_diameter"].to_numpy(float)[:, None],
        emitting["exit_velocity"].to_numpy(float)[:, None],
        emitting["exit_temperature"].to_numpy(float)[:, None], speed[None, :],
        stability[None, :])
    steps = (np.arange(3) + 0.5) / 3 - 0.5
    ox, oy = np.meshgrid(steps * 3000, steps * 3000)
    rx = (cells["x"].to_numpy()[:, None] + ox.ravel()[None, :]).ravel()
    ry = (cells["y"].to_numpy()[:, None] + oy.ravel()[None, :]).ravel()
    unit = dispersion.coupling(sx, sy, rx, ry, speed, direction, stability,
                               effective_height=heights, max_distance=60_000, sigma_theta_deg=10.0,
                               dtype=np.float64)
    rate = emitting["emission_rate"].to_numpy(float) * scale
    conc = unit.concentration(rate).reshape(len(cells), 9, hours).mean(axis=1)
    values = background + conc
    values = values * (1 + noise * rng.standard_normal(values.shape))
    frame = pd.DataFrame({
        "cell_id": np.repeat(cells["cell_id"].to_numpy(), hours),
        "row": np.repeat(cells["row"].to_numpy(), hours),
        "col": np.repeat(cells["col"].to_numpy(), hours),
        "time": np.tile(times, len(cells)), "pollutant": "PM2.5", "value": values.ravel(),
        "uncertainty": 1.0, "n_readings": 1, "sources": "reference:1", "method": "observed"})
    ws.write("cell_hours", frame[CELL_HOUR_COLUMNS])
    write_inventory(ws, sources)
    return ws, spec, sources, times


def random_sources(spec, count, rng, prefix="S") -> pd.DataFrame:
    x0, y0, x1, y1 = spec.bounds
    x = rng.uniform(x0 + 3000, x1 - 3000, count)
    y = rng.uniform(y0 + 3000, y1 - 3000, count)
    lon, lat = spec.to_lonlat(x, y)
    return pd.DataFrame({"source_id": [f"{prefix}{i:02d}" for i in range(count)],
                         "name": [f"enterprise {i}" for i in range(count)], "kind": "point",
                         "lon": lon, "lat": lat, "stack_height": rng.uniform(8, 40, count),
                         "stack_diameter": rng.uniform(0.3, 1.5, count),
                         "exit_velocity": rng.uniform(3, 12, count),
                         "exit_temperature": rng.uniform(300, 400, count),
                         "emission_rate": rng.uniform(0.05, 1.0, count),
                         "sector": "industry", "industry_code": "3311"})


def point_source(spec, source_id, x, y, rate, height=15.0) -> pd.DataFrame:
    lon, lat = spec.to_lonlat([x], [y])
    return pd.DataFrame({"source_id": [source_id], "name": [source_id], "kind": ["point"],
                         "lon": lon, "lat": lat, "stack_height": [height],
                         "stack_diameter": [0.5], "exit_velocity": [5.0],
                         "exit_temperature": [320.0], "emission_rate": [rate],
                         "sector": ["industry"], "industry_code": ["3311"]})


def write_inventory(ws, sources: pd.DataFrame) -> None:
    """The contract's ``sources`` and ``inventory`` tables."""
    table = sources.assign(geometry="", defaults_used="")
    ws.write("sources", table.drop(columns=["emission_rate"]))
    ws.write("inventory", pd.DataFrame({
        "source_id": sources["source_id"], "pollutant": "PM2.5", "period": "2017-01",
        "emission": sources["emission_rate"] * 3600 * 744 / 1000, "hours": 744.0,
        "emission_rate": sources["emission_rate"], "sector": sources["sector"],
        "origin": "test", "size_fraction": ""}))
