"""A tiny stand-in for ``sourcegrid.sample.city.generate_city`` (same fields, crude physics).

Used only when the sample-city module is not importable, so that the pipeline and the
report can be tested on their own. Readings are a background plus an inverse-square
contribution of each enterprise, upwind-weighted; nothing here claims to be a
transport model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class StandInCity:
    spec: object
    cells: pd.DataFrame
    activity: pd.DataFrame
    treatment: pd.DataFrame
    sources: pd.DataFrame
    other_emissions: pd.DataFrame
    readings: pd.DataFrame
    wind: pd.DataFrame
    met: pd.DataFrame
    truth: object = None
    unregistered: pd.DataFrame = field(default_factory=pd.DataFrame)
    start: str = "2017-01-01"
    days: int = 3

    def write(self, folder) -> Path:
        from sourcegrid.io.tables import write_table

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("activity", "treatment", "sources", "other_emissions", "readings", "wind",
                     "met"):
            write_table(getattr(self, name), folder / f"{name}.csv")
        return folder


def stand_in_city(seed: int = 7, *, days: int = 3, rows: int = 40) -> StandInCity:
    from sourcegrid.grid.admin import cells_table
    from sourcegrid.grid.spec import GridSpec
    from sourcegrid.sample.enterprises import generate_enterprises

    rng = np.random.default_rng(seed)
    bbox = (116.70, 38.15, 116.95, 38.35)
    spec = GridSpec.from_bbox(bbox, 3000.0)
    cells = cells_table(spec)
    cells["county_code"] = "130902"
    activity, treatment = generate_enterprises(rows, seed=seed)
    ids = activity["enterprise_id"].unique()
    lon = dict(zip(ids, rng.uniform(bbox[0] + 0.02, bbox[2] - 0.02, len(ids)), strict=True))
    lat = dict(zip(ids, rng.uniform(bbox[1] + 0.02, bbox[3] - 0.02, len(ids)), strict=True))
    activity["lon"] = activity["enterprise_id"].map(lon).round(5)
    activity["lat"] = activity["enterprise_id"].map(lat).round(5)
    first = activity.drop_duplicates("enterprise_id")
    sources = pd.DataFrame({
        "source_id": first["enterprise_id"], "name": first["enterprise_name"], "kind": "point",
        "lon": first["lon"], "lat": first["lat"], "geometry": "",
        "stack_height": 30.0, "stack_diameter": 1.5, "exit_velocity": 10.0,
        "exit_temperature": 400.0, "industry_code": first["industry_code"],
        "sector": "industry", "defaults_used": ""}).reset_index(drop=True)
    hours = pd.date_range(pd.Timestamp("2017-01-01", tz="Asia/Shanghai"), periods=24 * days,
                          freq="h").tz_convert("UTC")
    n_hours = len(hours)
    wind_dir = (225 + 40 * np.sin(np.arange(n_hours) / 9.0)) % 360
    wind_speed = 1.5 + 1.5 * rng.random(n_hours)
    background = 45 + 25 * np.sin(np.arange(n_hours) / 14.0) + 5 * rng.random(n_hours)
    sites = pd.DataFrame({
        "site_id": ["R1", "R2", "R3"] + [f"M{i:02d}" for i in range(1, 13)],
        "site_kind": ["reference"] * 3 + ["micro"] * 12,
    })
    sites["lon"] = rng.uniform(bbox[0] + 0.01, bbox[2] - 0.01, len(sites))
    sites["lat"] = rng.uniform(bbox[1] + 0.01, bbox[3] - 0.01, len(sites))
    # micro-stations 1-3 sit next to the reference stations (for calibration)
    sites.loc[3:5, "lon"] = sites.loc[0:2, "lon"].to_numpy() + 0.004
    sites.loc[3:5, "lat"] = sites.loc[0:2, "lat"].to_numpy()
    x_site, y_site = spec.to_xy(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    x_src, y_src = spec.to_xy(sources["lon"].to_numpy(), sources["lat"].to_numpy())
    strength = rng.lognormal(3.0, 0.8, len(sources))
    dx = x_site[:, None] - x_src[None, :]
    dy = y_site[:, None] - y_src[None, :]
    distance = np.hypot(dx, dy) + 300.0
    bearing_from_source = np.degrees(np.arctan2(dx, dy)) % 360  # direction source → site
    toward = (wind_dir[:, None, None] + 180) % 360
    offset = np.abs((bearing_from_source[None] - toward + 180) % 360 - 180)
    downwind = np.exp(-(offset / 30.0) ** 2)
    contribution = (strength[None, None, :] * downwind * (3000.0 / distance[None]) ** 2).sum(-1)
    value = background[:, None] + contribution
    kind = sites["site_kind"].to_numpy()
    bias = np.where(kind == "micro", 1.2, 1.0)
    noise = rng.normal(0, 2.0, value.shape)
    measured = np.clip(value * bias[None, :] + noise, 0.5, None)
    readings = pd.DataFrame({
        "time": np.repeat(hours, len(sites)),
        "site_id": np.tile(sites["site_id"], n_hours),
        "site_kind": np.tile(kind, n_hours),
        "lon": np.tile(sites["lon"], n_hours), "lat": np.tile(sites["lat"], n_hours),
        "pollutant": "PM2.5", "value": measured.ravel().round(1), "unit": "ug/m3"})
    pm10 = readings.assign(pollutant="PM10", value=(readings["value"] * 1.6).round(1))
    reference = sites["site_kind"] == "reference"
    wind = pd.DataFrame({
        "time": np.repeat(hours, reference.sum()),
        "site_id": np.tile(sites.loc[reference, "site_id"], n_hours),
        "lon": np.tile(sites.loc[reference, "lon"], n_hours),
        "lat": np.tile(sites.loc[reference, "lat"], n_hours),
        "wind_speed": np.repeat(wind_speed.round(1), reference.sum()),
        "wind_dir": np.repeat(wind_dir.round(0), reference.sum())})
    met = wind[["time", "site_id"]].assign(temperature=-2.0, rh=55.0, pressure=1020.0, rain=0.0)
    emissions = pd.DataFrame({
        "enterprise_id": ["ROAD01"], "period": ["2017"], "section": ["road"],
        "pollutant": ["PM2.5"], "pollutant_category": ["废气"], "generation": [5000.0],
        "removal": [0.0], "emission": [5000.0], "method": ["estimate"]})
    return StandInCity(spec, cells, activity, treatment, sources, emissions,
                       pd.concat([readings, pm10], ignore_index=True), wind, met, days=days)
