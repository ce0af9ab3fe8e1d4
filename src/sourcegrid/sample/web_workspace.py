"""A small synthetic workspace for the web app: its tests, its benchmark and a quick look.

Not the sample city (that is :mod:`sourcegrid.sample.city` and ``sourcegrid
demo``): a 6 × 7 grid of 3 km cells near Cangzhou split into two townships of
one county, hourly fused PM2.5 and PM10 with two hotspot cells (one per
township, ranked by :func:`sourcegrid.grid.hotspots.rank_cells`), grades, point
sources, a road (line) and a construction site (area) crossing both townships,
their inventory rows and ``cell_inventory`` (allocated by
:func:`sourcegrid.inventory.allocation.allocate_to_cells`), the organisation (one
person per role) with passwords, and alerts raised from the hotspots and
dispatched. Values are made up (a seeded generator); nothing here is science.

People (person_id: role, scope) — all with the password :data:`SAMPLE_PASSWORD`:

==========  =================  ===========================
admin       admin              everything
city        city_office        city 130900
county      county_office      county 130902
town_a      township_office    township 130902001 (west)
town_b      township_office    township 130902002 (east)
chief_a     chief_grid_head    township 130902001
head_a      grid_head          township 130902001
head_b      grid_head          township 130902002
super_a     supervisor         township 130902001
super_b     supervisor         township 130902002
viewer_a    viewer             township 130902001
==========  =================  ===========================
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["build_sample_workspace", "SAMPLE_PASSWORD", "SAMPLE_PEOPLE", "HOTSPOT_CELLS",
           "TOWNSHIP_A", "TOWNSHIP_B", "ROAD_SHARES", "SITE_SHARES"]

SAMPLE_PASSWORD = "grid-demo-2017"
CITY, COUNTY = "130900", "130902"
TOWNSHIP_A, TOWNSHIP_B = "130902001", "130902002"
#: The hotspot cells: one in each township.
HOTSPOT_CELLS = {"R0001C0001": TOWNSHIP_A, "R0004C0004": TOWNSHIP_B}
#: The road L001 runs along row 3 from the centre of column 1 to the centre of column 5:
#: half a cell in C0001 and C0005, a whole cell in C0002-C0004 (4 cells of length).
ROAD_SHARES = {"R0003C0001": 0.125, "R0003C0002": 0.25, "R0003C0003": 0.25,
               "R0003C0004": 0.25, "R0003C0005": 0.125}
#: The construction site A001 (half a cell of area, the middle half of row 2 from the
#: centre of column 2 to the centre of column 3) lies half in R0002C0002, half in R0002C0003.
SITE_SHARES = {"R0002C0002": 0.5, "R0002C0003": 0.5}
SAMPLE_PEOPLE = [
    ("admin", "系统管理员 Admin", "admin", ""),
    ("city", "市网格办 City office", "city_office", CITY),
    ("county", "区网格办 County office", "county_office", COUNTY),
    ("town_a", "西乡镇办 Township A office", "township_office", TOWNSHIP_A),
    ("town_b", "东乡镇办 Township B office", "township_office", TOWNSHIP_B),
    ("chief_a", "张总网格长 Chief A", "chief_grid_head", TOWNSHIP_A),
    ("head_a", "李网格长 Head A", "grid_head", TOWNSHIP_A),
    ("head_b", "王网格长 Head B", "grid_head", TOWNSHIP_B),
    ("super_a", "赵监督员 Supervisor A", "supervisor", TOWNSHIP_A),
    ("super_b", "孙监督员 Supervisor B", "supervisor", TOWNSHIP_B),
    ("viewer_a", "查看者 Viewer A", "viewer", TOWNSHIP_A),
]


def build_sample_workspace(path: str | Path, *, hours: int = 72, seed: int = 1,
                           start: str = "2017-01-05T00:00:00Z", password: str = SAMPLE_PASSWORD,
                           password_hasher=None, now=None):
    """Create the synthetic workspace at ``path`` (which must not hold one yet).

    Parameters
    ----------
    path : str or Path
        New workspace folder.
    hours : int
        Fused hours of PM2.5 and PM10 from ``start``.
    password : str
        Password of every person.
    password_hasher : argon2.PasswordHasher, optional
        Cheaper parameters for tests.
    now : time, optional
        When the alerts are raised and dispatched (default: the end of the data).

    Returns
    -------
    Workspace
        The open workspace (close it before another process opens the folder).
    """
    from sourcegrid.grid.admin import cells_table
    from sourcegrid.grid.grading import grade_cells
    from sourcegrid.grid.hotspots import rank_cells
    from sourcegrid.grid.spec import GridSpec, write_spec
    from sourcegrid.inventory.allocation import allocate_to_cells
    from sourcegrid.store import Workspace
    from sourcegrid.web.auth import Credentials
    from sourcegrid.web.store import WebStore
    from sourcegrid.workflow.alerts import dispatch_alerts, register_alerts
    from sourcegrid.workflow.intake import from_hotspots
    from sourcegrid.workflow.org import save_people, save_units

    rng = np.random.default_rng(seed)
    workspace = Workspace(path, create=True)
    spec = GridSpec.from_bbox((116.80, 38.20, 116.98, 38.34), 3000.0)
    write_spec(workspace, spec)
    base = spec.cells()
    admin = pd.DataFrame({"cell_id": base["cell_id"],
                          "township_code": np.where(base["col"] < spec.ncols // 2, TOWNSHIP_A,
                                                    TOWNSHIP_B)})
    cells = cells_table(spec, admin)
    cells["city_code"] = CITY
    workspace.write("cells", cells)

    times = pd.date_range(pd.Timestamp(start), periods=hours, freq="h")
    ids = cells["cell_id"].to_numpy()
    diurnal = 1.0 + 0.3 * np.sin(np.arange(hours) / 24.0 * 2 * np.pi)
    level = rng.uniform(40.0, 70.0, len(ids))
    for cell in HOTSPOT_CELLS:
        level[ids == cell] = 160.0
    pm25 = level[None, :] * diurnal[:, None] * rng.lognormal(0.0, 0.15, (hours, len(ids)))
    frames = []
    for pollutant, values in (("PM2.5", pm25), ("PM10", pm25 * 1.6)):
        frames.append(pd.DataFrame({
            "cell_id": np.tile(ids, hours), "row": np.tile(cells["row"].to_numpy(), hours),
            "col": np.tile(cells["col"].to_numpy(), hours), "time": np.repeat(times, len(ids)),
            "pollutant": pollutant, "value": values.reshape(-1).round(1),
            "uncertainty": (values.reshape(-1) * 0.1).round(1), "n_readings": 1,
            "sources": "micro:1", "method": "observed"}))
    workspace.write("cell_hours", pd.concat(frames, ignore_index=True))

    # the hotspot list by the library's ranking rule (top 2 by period mean)
    period_start = pd.Timestamp(times[0])
    period_end = pd.Timestamp(times[-1]) + pd.Timedelta(hours=1)
    cell_hours = workspace.read("cell_hours")
    means = rank_cells(cell_hours, period_start, period_end, pollutant="PM2.5",
                       top_percent=100.0, cells=cells)
    hotspots = rank_cells(cell_hours, period_start, period_end, pollutant="PM2.5", top=2,
                          cells=cells)
    hotspots["method"] = "rank"
    hotspots["pollutant"] = "PM2.5"
    hotspots["period_start"] = period_start
    hotspots["period_end"] = period_end
    workspace.write("hotspots", hotspots[["rank", "cell_id", "city_code", "method", "pollutant",
                                          "period_start", "period_end", "mean", "hours",
                                          "city_mean", "ratio_to_city_mean"]])
    grades = grade_cells(means)
    grades["type"] = np.where(grades["cell_id"].isin(list(HOTSPOT_CELLS)), "industrial",
                              "unclassified")
    workspace.write("cell_grades", grades)

    centres = cells.set_index("cell_id")[["lon", "lat"]]
    source_rows, inventory_rows = [], []
    industries = ("3011", "3311", "4411", "1713")
    sectors = ("industry", "industry", "boiler", "industry")
    for number, cell in enumerate(["R0001C0001", "R0002C0001", "R0004C0004", "R0003C0005",
                                   "R0000C0000", "R0005C0005"]):
        source_id = f"E{number + 1:03d}"
        lon, lat = centres.loc[cell]
        source_rows.append({"source_id": source_id, "name": f"示例企业 {number + 1}",
                            "kind": "point", "lon": float(lon), "lat": float(lat),
                            "industry_code": industries[number % 4],
                            "sector": sectors[number % 4]})
        for pollutant, factor in (("PM2.5", 1.0), ("SO2", 2.5), ("NOx", 3.0)):
            emission = float(rng.uniform(500, 5000)) * factor
            inventory_rows.append({"source_id": source_id, "pollutant": pollutant,
                                   "period": "2017", "emission": emission, "hours": 8760.0,
                                   "emission_rate": emission * 1000 / (8760 * 3600),
                                   "sector": sectors[number % 4], "origin": "sample"})
    # a road (line) and a construction site (area) across both townships, drawn straight in
    # the grid's projection so their cell shares are simple fractions (see ROAD_SHARES)
    road_x = spec.origin_x + np.array([1.5, 5.5]) * spec.cell_size
    road_y = spec.origin_y - np.array([3.5, 3.5]) * spec.cell_size
    site_x = spec.origin_x + np.array([2.5, 3.5, 3.5, 2.5, 2.5]) * spec.cell_size
    site_y = spec.origin_y - np.array([2.25, 2.25, 2.75, 2.75, 2.25]) * spec.cell_size
    road_lon, road_lat = spec.to_lonlat(road_x, road_y)
    site_lon, site_lat = spec.to_lonlat(site_x, site_y)
    shaped = [
        ("L001", "示例道路 Road", "line", "traffic",
         {"type": "LineString", "coordinates": np.column_stack([road_lon, road_lat]).tolist()},
         {"PM2.5": 800.0, "NOx": 4000.0}),
        ("A001", "示例工地 Construction site", "area", "dust",
         {"type": "Polygon", "coordinates": [np.column_stack([site_lon, site_lat]).tolist()]},
         {"PM2.5": 600.0}),
    ]
    for source_id, name, kind, sector, geometry, masses in shaped:
        source_rows.append({"source_id": source_id, "name": name, "kind": kind,
                            "lon": np.nan, "lat": np.nan, "geometry": json.dumps(geometry),
                            "industry_code": "", "sector": sector})
        for pollutant, emission in masses.items():
            inventory_rows.append({"source_id": source_id, "pollutant": pollutant,
                                   "period": "2017", "emission": emission, "hours": 8760.0,
                                   "emission_rate": emission * 1000 / (8760 * 3600),
                                   "sector": sector, "origin": "sample"})
    sources = pd.DataFrame(source_rows)
    sources["geometry"] = sources["geometry"].fillna("")
    inventory = pd.DataFrame(inventory_rows)
    workspace.write("sources", sources)
    workspace.write("inventory", inventory)
    allocation = allocate_to_cells(inventory, sources, spec)
    workspace.write("cell_inventory", allocation.cells)

    now = pd.Timestamp(times[-1]) + pd.Timedelta(hours=1) if now is None else pd.Timestamp(now)
    units = pd.DataFrame([
        {"unit_code": CITY, "name": "沧州市 Cangzhou", "level": "city", "parent_code": None},
        {"unit_code": COUNTY, "name": "运河区 Yunhe", "level": "county", "parent_code": CITY},
        {"unit_code": TOWNSHIP_A, "name": "西乡镇 Township A", "level": "township",
         "parent_code": COUNTY},
        {"unit_code": TOWNSHIP_B, "name": "东乡镇 Township B", "level": "township",
         "parent_code": COUNTY}])
    save_units(workspace, units, actor="sample", now=now)
    people = pd.DataFrame([{"person_id": pid, "name": name, "roles": role, "units": unit,
                            "cells": "", "phone": "", "active": True}
                           for pid, name, role, unit in SAMPLE_PEOPLE])
    save_people(workspace, people, actor="sample", now=now)

    candidates = from_hotspots(workspace.read("hotspots"), workspace.read("cell_grades"))
    result = register_alerts(workspace, candidates, actor="system", now=now)
    dispatch_alerts(workspace, actor="system", now=now, alert_ids=result.new)

    credentials = Credentials(WebStore(workspace), password_hasher)
    for pid, *_ in SAMPLE_PEOPLE:
        credentials.set_password(pid, password, by="sample")
    return workspace
