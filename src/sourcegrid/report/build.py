"""Build the report folder of a workspace: one self-contained ``index.html`` and CSV tables.

The page opens with no network: Leaflet's script and style (the ``xstatic-leaflet``
package) are inlined, with its images as data URIs; the map has no tile layer (the
cells are GeoJSON polygons in lon/lat coloured by their period-mean PM2.5, hotspot
cells outlined, sources and stations marked, a popup per cell); figures are inline SVG
drawn by :mod:`sourcegrid.report.figures`. The template is Jinja2 with autoescape; data
for the map travel as JSON inside ``<script type="application/json">`` (``<`` escaped).

The report reads only workspace tables (those :func:`sourcegrid.pipeline.run_city_pipeline`
writes): cells, grid_spec, cell_grades, hotspots, hotspot_gistar, hotspot_persistence,
hotspot_monthly, sources, inventory, emissions, trace_results, wind, cell_hours,
observations (station positions), aqi_hourly, aqi_daily, good_days, pipeline_steps.
A table that is missing leaves its section with a note saying so.

Writing is atomic: the folder is built beside the target under a temporary name and
renamed into place (an existing report folder is replaced whole).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sourcegrid.report import figures

__all__ = ["build_report", "check_folder", "REPORT_CSV", "report_context"]

_TEMPLATES = Path(__file__).with_name("templates")

#: CSV files written beside index.html (name → what it holds).
REPORT_CSV = {
    "hotspots.csv": "hotspot cells (ranking rule) with grade, type, Gi* and persistence",
    "cell_grades.csv": "every cell: period mean, grade, type and evidence",
    "trace_results.csv": "ranked sources of every traced hotspot cell",
    "inventory_by_industry.csv": "emission by industry, sector and pollutant [t]",
    "aqi_daily.csv": "daily AQI of stations and city",
    "good_days.csv": "good days per station and city",
    "pipeline_steps.csv": "the pipeline's steps and timings",
}

#: Ranked rows shown per traced cell (all of them are in trace_results.csv).
TRACE_ROWS_SHOWN = 5

#: Colour ramp of the map (period-mean PM2.5), light yellow to dark red (ColorBrewer
#: YlOrRd, 7 classes).
MAP_COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")

#: Colours of source sectors on the map.
SECTOR_COLOURS = {"industry": "#1f4e9c", "boiler": "#6a3d9a", "traffic": "#33a02c",
                  "dust": "#a6761d", "other": "#555555"}


# --------------------------------------------------------------------------- helpers


def _read(workspace, name: str) -> pd.DataFrame | None:
    return workspace.read(name) if workspace.has(name) else None


def _value(value: Any, digits: int = 3) -> Any:
    """A cell value for HTML and JSON: numbers rounded, NaN/NA as ''."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        return float(f"{value:.{digits}g}") if abs(value) < 10 ** digits else round(float(value))
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M") if value.tzinfo \
            else value.strftime("%Y-%m-%d")
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _rows(frame: pd.DataFrame | None, columns: list[str] | None = None,
          limit: int | None = None) -> dict:
    """{'columns': [...], 'rows': [[...], ...]} for the template's table macro."""
    if frame is None or frame.empty:
        return {"columns": columns or [], "rows": []}
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    part = frame[columns] if limit is None else frame[columns].head(limit)
    return {"columns": columns,
            "rows": [[_value(v) for v in row] for row in part.itertuples(index=False)]}


def _json_script(data: Any) -> str:
    """JSON for a <script type="application/json"> block (no '</' can close it)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _leaflet() -> tuple[str, str]:
    """Leaflet's JS and CSS (xstatic-leaflet), CSS images as data URIs."""
    import xstatic.pkg.leaflet as leaflet

    base = Path(leaflet.BASE_DIR)
    script = (base / "leaflet.js").read_text(encoding="utf-8")
    style = (base / "leaflet.css").read_text(encoding="utf-8")
    for image in sorted((base / "images").glob("*.png")):
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        style = style.replace(f"url(images/{image.name})", f"url(data:image/png;base64,{data})")
    return script.replace("</script", "<\\/script"), style


def _breaks(values: np.ndarray, classes: int = len(MAP_COLOURS)) -> list[float]:
    """Equal-interval class bounds of the map legend (rounded to whole µg/m³)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [0.0]
    low, high = float(np.floor(finite.min())), float(np.ceil(finite.max()))
    if high <= low:
        high = low + 1
    return [round(low + (high - low) * i / classes, 1) for i in range(classes + 1)]


def _category_en() -> dict[str, str]:
    from sourcegrid.standards import hj633

    return dict(zip(hj633.CATEGORIES, hj633.CATEGORIES_EN, strict=True))


_CATEGORY_EN = _category_en()


def _industry_names() -> dict[str, str]:
    from sourcegrid.accounting.store import INDUSTRY_NAMES

    return dict(INDUSTRY_NAMES)


def _ascii_industry(code: str, names: dict[str, str]) -> str:
    """'4411 thermal power' (the English part of the name) for figure legends."""
    name = names.get(str(code), "")
    english = " ".join(word for word in name.split() if word.isascii())
    return f"{code} {english}".strip()


# --------------------------------------------------------------------------- sections


def _period(workspace) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    steps = _read(workspace, "pipeline_steps")
    if steps is not None and "period_start" in steps and len(steps):
        return (pd.Timestamp(steps["period_start"].iloc[0]),
                pd.Timestamp(steps["period_end"].iloc[0]))
    hotspots = _read(workspace, "hotspots")
    if hotspots is not None and "period_start" in hotspots and len(hotspots):
        return (pd.Timestamp(hotspots["period_start"].iloc[0]),
                pd.Timestamp(hotspots["period_end"].iloc[0]))
    return None, None


def _inventory_by_industry(workspace) -> pd.DataFrame:
    """Emission [t] by industry, sector and pollutant (inventory, else the accounting run)."""
    names = _industry_names()
    inventory = _read(workspace, "inventory")
    sources = _read(workspace, "sources")
    if inventory is not None and len(inventory):
        frame = inventory.copy()
        if sources is not None and "industry_code" not in frame:
            frame = frame.merge(sources[["source_id", "industry_code"]].drop_duplicates(
                "source_id"), on="source_id", how="left")
        if "sector" not in frame:
            frame["sector"] = ""
        frame["industry_code"] = frame.get("industry_code", "").fillna("").astype(str)
        origin = "inventory"
    else:
        emissions = _read(workspace, "emissions")
        if emissions is None or not len(emissions):
            return pd.DataFrame()
        frame = emissions.copy()
        if "pollutant_category" in frame:
            frame = frame.loc[frame["pollutant_category"].isin(["air", "废气"])]
        frame["sector"] = "industry"
        frame["industry_code"] = frame["industry_code"].fillna("").astype(str)
        origin = "accounting"
    frame["industry_code"] = frame["industry_code"].replace({"nan": "", "<NA>": ""})
    grouped = (frame.groupby(["industry_code", "sector", "pollutant"], dropna=False,
                             as_index=False)["emission"].sum())
    grouped["emission_t"] = grouped.pop("emission") / 1000.0
    grouped.insert(1, "industry", grouped["industry_code"].map(names).fillna(""))
    grouped["origin"] = origin
    return grouped.sort_values(["pollutant", "emission_t"], ascending=[True, False],
                               ignore_index=True)


def _map_data(workspace, grades: pd.DataFrame | None, traced: pd.DataFrame | None) -> dict:
    from sourcegrid.grid.spec import read_spec

    if not workspace.has("grid_spec"):
        return {}
    spec = read_spec(workspace)
    cells = _read(workspace, "cells")
    if cells is None:
        cells = spec.cells()[["cell_id", "row", "col", "lon", "lat"]]
    frame = cells[[c for c in ("cell_id", "row", "col", "county_code", "township_code")
                   if c in cells]].copy()
    if grades is not None:
        keep = [c for c in ("cell_id", "mean", "ratio_to_city_mean", "concentration_level",
                            "concentration_category", "excess_name", "type", "hotspot")
                if c in grades]
        frame = frame.merge(grades[keep], on="cell_id", how="left")
    hotspots = _read(workspace, "hotspots")
    if hotspots is not None:
        frame = frame.merge(hotspots[["cell_id", "rank"]], on="cell_id", how="left")
    if traced is not None and len(traced) and "rank" in traced:
        first = traced.loc[traced["rank"] == 1, ["cell_id", "source_id"]]
        frame = frame.merge(first.rename(columns={"source_id": "top_source"}).drop_duplicates(
            "cell_id"), on="cell_id", how="left")
    if "concentration_category" in frame:
        frame["concentration_category"] = [
            f"{c} {_CATEGORY_EN[c]}" if c in _CATEGORY_EN else c
            for c in frame["concentration_category"]]
    for column in frame.columns:
        frame[column] = [_value(v) for v in frame[column]]
    geojson = spec.to_geojson(frame)
    geojson.pop("grid", None)
    values = pd.to_numeric(pd.Series([f["properties"].get("mean") for f in
                                      geojson["features"]]), errors="coerce").to_numpy()
    sources = _read(workspace, "sources")
    source_rows = []
    traced_ids = set()
    if traced is not None and {"source_id", "rank"} <= set(traced.columns):
        traced_ids = set(traced.loc[pd.to_numeric(traced["rank"], errors="coerce") <= 3,
                                    "source_id"].astype(str))
    if sources is not None and len(sources):
        for row in sources.itertuples(index=False):
            data = row._asdict()
            geometry = data.get("geometry") or ""
            source_rows.append({
                "id": str(data.get("source_id", "")), "name": _value(data.get("name", "")),
                "kind": _value(data.get("kind", "")), "sector": _value(data.get("sector", "")),
                "industry": _value(data.get("industry_code", "")),
                "lon": _value(data.get("lon"), 8), "lat": _value(data.get("lat"), 8),
                "stack": _value(data.get("stack_height", "")),
                "geometry": json.loads(geometry) if isinstance(geometry, str)
                and geometry.startswith("{") else None,
                "traced": str(data.get("source_id", "")) in traced_ids,
            })
    suspects = []
    if traced is not None and len(traced) and "kind" in traced:
        unregistered = traced.loc[traced["kind"] == "unregistered"]
        for row in unregistered.itertuples(index=False):
            data = row._asdict()
            suspects.append({"id": _value(data.get("source_id")), "cell": data.get("cell_id"),
                             "lon": _value(data.get("lon"), 8), "lat": _value(data.get("lat"), 8),
                             "evidence": _value(data.get("evidence", ""))})
    stations = []
    if workspace.has("observations"):
        table = workspace.table("observations")
        table = table.filter(table.site_kind.isin(["reference", "micro"]))
        sites = table.group_by(["site_id", "site_kind"]).aggregate(
            lon=table.lon.mean(), lat=table.lat.mean()).to_pandas()
        stations = [{"id": r.site_id, "kind": r.site_kind, "lon": _value(r.lon, 8),
                     "lat": _value(r.lat, 8)} for r in sites.itertuples(index=False)]
    return {"cells": geojson, "breaks": _breaks(values), "colours": list(MAP_COLOURS),
            "sources": source_rows, "suspects": suspects, "stations": stations,
            "sector_colours": SECTOR_COLOURS}


def _hotspot_table(workspace, grades: pd.DataFrame | None) -> pd.DataFrame | None:
    hotspots = _read(workspace, "hotspots")
    if hotspots is None:
        return None
    table = hotspots[["rank", "cell_id", "mean", "ratio_to_city_mean", "hours"]].copy()
    cells = _read(workspace, "cells")
    if cells is not None:
        table = table.merge(cells[[c for c in ("cell_id", "county_code", "township_code",
                                               "lon", "lat") if c in cells]],
                            on="cell_id", how="left")
    if grades is not None:
        keep = [c for c in ("cell_id", "concentration_category", "excess_name", "type",
                            "grade_evidence", "type_evidence") if c in grades]
        table = table.merge(grades[keep], on="cell_id", how="left")
    if "concentration_category" in table:
        table.insert(table.columns.get_loc("concentration_category") + 1, "category_en",
                     table["concentration_category"].map(_CATEGORY_EN).fillna(""))
    gistar = _read(workspace, "hotspot_gistar")
    if gistar is not None:
        table = table.merge(gistar[["cell_id", "z", "spot"]], on="cell_id", how="left")
    persistence = _read(workspace, "hotspot_persistence")
    if persistence is not None:
        table = table.merge(persistence[["cell_id", "persistence"]], on="cell_id", how="left")
    return table


def _nearest_wind_sites(workspace, wind: pd.DataFrame | None, cell_ids: list[str]
                        ) -> dict[str, str]:
    """The wind site nearest each cell's centre, distances in the grid's projection [m].

    One distance matrix (cells × sites); cells not in the grid are left out.
    """
    cells = _read(workspace, "cells")
    if cells is None or wind is None or wind.empty or not cell_ids:
        return {}
    centre = cells.drop_duplicates("cell_id").set_index("cell_id")[["lon", "lat"]]
    centre = centre.reindex([c for c in dict.fromkeys(cell_ids) if c in centre.index])
    sites = wind.groupby(wind["site_id"].astype(str))[["lon", "lat"]].mean().dropna()
    if centre.empty or sites.empty:
        return {}
    if workspace.has("grid_spec"):
        from sourcegrid.grid.spec import read_spec

        spec = read_spec(workspace)
        site_x, site_y = spec.to_xy(sites["lon"].to_numpy(), sites["lat"].to_numpy())
        cell_x, cell_y = spec.to_xy(centre["lon"].to_numpy(), centre["lat"].to_numpy())
        dx = np.asarray(site_x)[None, :] - np.asarray(cell_x)[:, None]
        dy = np.asarray(site_y)[None, :] - np.asarray(cell_y)[:, None]
    else:   # no grid: local equirectangular at each cell's own latitude
        lat = centre["lat"].to_numpy()[:, None]
        dx = (sites["lon"].to_numpy()[None, :] - centre["lon"].to_numpy()[:, None]) \
            * np.cos(np.radians(lat))
        dy = sites["lat"].to_numpy()[None, :] - lat
    nearest = np.argmin(np.hypot(dx, dy), axis=1)
    return dict(zip(centre.index.astype(str), sites.index[nearest].astype(str), strict=True))


def _nearest_wind_site(workspace, wind: pd.DataFrame, cell_id: str) -> str | None:
    """The wind site nearest one cell's centre (see :func:`_nearest_wind_sites`)."""
    return _nearest_wind_sites(workspace, wind, [cell_id]).get(cell_id)


def _cell_wind(workspace, cell_id: str, start, end, *, wind: pd.DataFrame | None = None,
               nearest: str | None = None) -> pd.DataFrame:
    """PM2.5 of a cell per hour joined with the wind of the nearest wind site.

    ``wind`` and ``nearest`` may be given by a caller that handles many cells (read
    once); otherwise they are read and found here.
    """
    from sourcegrid.tracing.wind import mean_wind_by

    hours = workspace.table("cell_hours")
    hours = hours.filter((hours.cell_id == cell_id) & (hours.pollutant == "PM2.5"))
    frame = hours.select("time", "value").to_pandas()
    if wind is None:
        wind = _read(workspace, "wind")
    if wind is None or frame.empty:
        return pd.DataFrame()
    if nearest is None:
        nearest = _nearest_wind_site(workspace, wind, cell_id)
    if nearest is None:
        return pd.DataFrame()
    site_wind = wind.loc[wind["site_id"].astype(str) == nearest,
                         ["time", "wind_speed", "wind_dir"]]
    # hourly means: scalar speed, vector direction (350° and 10° give 0°, not 180°)
    site_wind = mean_wind_by(pd.to_datetime(site_wind["time"], utc=True).dt.floor("h"),
                             site_wind["wind_speed"], site_wind["wind_dir"])
    site_wind = site_wind.rename(columns={"key": "time"})[["time", "wind_speed", "wind_dir"]]
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    joined = frame.merge(site_wind, on="time", how="inner")
    if start is not None:
        joined = joined.loc[(joined["time"] >= start) & (joined["time"] < end)]
    joined.attrs["wind_site"] = str(nearest)
    return joined


def _wind_figures(workspace, cell_ids: list[str], start, end) -> tuple[list[dict], list[dict], str]:
    from sourcegrid.tracing import wind as wind_module

    wind = _read(workspace, "wind")
    if wind is None or wind.empty:
        return [], [], "the workspace has no wind table"
    roses = [{"title": "all wind sites",
              "svg": figures.wind_rose_figure(wind_module.wind_rose(
                  wind["wind_speed"], wind["wind_dir"], sector=22.5, calm_threshold=0.5),
                  "Wind rose, all sites")}]
    # the wind sites nearest the hotspots (two at most: the figures are slow)
    nearest = _nearest_wind_sites(workspace, wind, cell_ids)
    chosen = list(dict.fromkeys(nearest[c] for c in cell_ids if c in nearest))[:2]
    by_site = dict(list(wind.groupby(wind["site_id"].astype(str))))
    for site, part in ((site, by_site[site]) for site in chosen):
        roses.append({"title": str(site), "svg": figures.wind_rose_figure(
            wind_module.wind_rose(part["wind_speed"], part["wind_dir"], sector=22.5,
                                  calm_threshold=0.5), f"Wind rose, {site}")})
    polar = []
    for cell_id in cell_ids:
        if cell_id not in nearest:
            continue
        joined = _cell_wind(workspace, cell_id, start, end, wind=wind, nearest=nearest[cell_id])
        if joined.empty:
            continue
        table = wind_module.cpf(joined["value"], joined["wind_dir"], percentile=75.0,
                                sector=30.0, wind_speed=joined["wind_speed"])
        polar.append({"title": cell_id, "site": joined.attrs.get("wind_site", ""),
                      "svg": figures.cpf_polar_figure(table, f"CPF (p75), cell {cell_id}")})
    return roses, polar, ""


def _traces(workspace, hotspot_ids: list[str], start, end
            ) -> tuple[pd.DataFrame | None, list[dict]]:
    traced = _read(workspace, "trace_results")
    if traced is None or traced.empty:
        return traced, []
    if start is not None and {"start", "end"} <= set(traced.columns):
        same = ((pd.to_datetime(traced["start"], utc=True) == start)
                & (pd.to_datetime(traced["end"], utc=True) == end))
        if same.any():  # the traces of this period (others may be an analyst's)
            traced = traced.loc[same]
    series = _read(workspace, "trace_series")
    names = _industry_names()
    sources = _read(workspace, "sources")
    columns = ["rank", "source_id", "name", "kind", "industry", "distance_m", "bearing_deg",
               "share", "scale_factor", "predicted", "fitted", "upwind_hours_share",
               "evidence"]
    order = [c for c in hotspot_ids if c in set(traced["cell_id"])]
    order += [c for c in traced["cell_id"].unique() if c not in order]
    blocks = []
    for cell_id in order:
        part = traced.loc[traced["cell_id"] == cell_id].copy()
        if "rank" in part:
            part = part.sort_values("rank")
        if sources is not None and "industry_code" in sources and "industry_code" not in part:
            part = part.merge(sources[["source_id", "industry_code"]].drop_duplicates(
                "source_id"), on="source_id", how="left")
        if "industry_code" in part:
            part["industry"] = part["industry_code"].map(
                lambda c: names.get(str(c), str(c) if pd.notna(c) else ""))
            if "sector" in part:  # roads and dust areas have a sector, no industry
                blank = part["industry"].isin(["", "nan", "<NA>"])
                part.loc[blank, "industry"] = part.loc[blank, "sector"].fillna("").astype(str)
        figure = ""
        if series is not None and (series["cell_id"] == cell_id).any() and len(blocks) < 3:
            wide = (series.loc[series["cell_id"] == cell_id]
                    .pivot_table(index="time", columns="series", values="value")
                    .reset_index())
            figure = figures.trace_series_figure(
                wide, f"Cell {cell_id}: observed excess over background and fitted sources")
        blocks.append({"cell_id": cell_id, "table": _rows(part, columns, limit=TRACE_ROWS_SHOWN),
                       "rows": len(part), "figure": figure})
    return traced, blocks


def report_context(workspace) -> dict:
    """Everything the template shows, read from the workspace (also used by tests)."""
    from sourcegrid.quality.gooddays import CATEGORY_COLUMNS
    from sourcegrid.standards import hj633

    start, end = _period(workspace)
    grades = _read(workspace, "cell_grades")
    hotspots = _hotspot_table(workspace, grades)
    hotspot_ids = hotspots["cell_id"].tolist() if hotspots is not None else []
    traced, trace_blocks = _traces(workspace, hotspot_ids, start, end)
    inventory = _inventory_by_industry(workspace)
    roses, polar, wind_note = _wind_figures(
        workspace, [b["cell_id"] for b in trace_blocks][:4] or hotspot_ids[:4], start, end)
    daily = _read(workspace, "aqi_daily")
    hourly = _read(workspace, "aqi_hourly")
    good = _read(workspace, "good_days")
    city_name = ""
    if good is not None and "unit_kind" in good and (good["unit_kind"] == "city").any():
        city_name = str(good.loc[good["unit_kind"] == "city", "unit"].iloc[0])
    figures_aqi: dict[str, str] = {"daily": "", "hourly": "", "good": ""}
    city_daily = city_hourly = None
    if daily is not None and len(daily):
        city_daily = daily.loc[daily["site_id"] == city_name] if city_name else daily
        city_daily = city_daily.sort_values("date")
        figures_aqi["daily"] = figures.aqi_daily_figure(
            city_daily, "Daily AQI (HJ 633), city mean of the reference stations")
    if hourly is not None and len(hourly):
        city_hourly = hourly.loc[hourly["site_id"] == city_name] if city_name else hourly
        city_hourly = city_hourly.sort_values("time")
        figures_aqi["hourly"] = figures.aqi_hourly_figure(
            city_hourly, "Hourly AQI (real-time report), Beijing time")
    if good is not None and len(good):
        figures_aqi["good"] = figures.good_days_figure(good, tuple(hj633.CATEGORIES_EN),
                                                       tuple(CATEGORY_COLUMNS))
    inventory_figure = ""
    inventory_wide = None
    if len(inventory):
        names = _industry_names()
        label = inventory["industry_code"].map(lambda c: _ascii_industry(c, names) if c else "")
        label = label.where(label != "", inventory["sector"].astype(str))
        inventory_wide = (inventory.assign(group=label)
                          .pivot_table(index="pollutant", columns="group", values="emission_t",
                                       aggfunc="sum", fill_value=0.0))
        inventory_figure = figures.inventory_figure(inventory_wide)
    steps = _read(workspace, "pipeline_steps")
    cards = []
    if grades is not None and len(grades):
        cards.append(("cells with data 有数据网格", f"{len(grades):,}"))
        cards.append(("city mean PM2.5 城市均值", f"{grades['mean'].mean():.1f} µg/m³"))
    if hotspots is not None and len(hotspots):
        cards.append(("hotspot cells 热点网格", f"{len(hotspots)}"))
        cards.append((f"highest cell 最高网格 · {hotspots['mean'].iloc[0]:.1f} µg/m³",
                      f"{hotspots['cell_id'].iloc[0]}"))
    sources = _read(workspace, "sources")
    if sources is not None:
        cards.append(("registered sources 登记源", f"{len(sources):,}"))
    if len(inventory):
        totals = inventory.groupby("pollutant")["emission_t"].sum()
        for pollutant in ("PM2.5", "SO2", "NOx"):
            if pollutant in totals:
                cards.append((f"{pollutant} emission 排放量", f"{totals[pollutant]:,.1f} t"))
    if good is not None and city_name:
        row = good.loc[good["unit"] == city_name].iloc[0]
        cards.append(("good days 优良天数", f"{int(row['good_days'])} / {int(row['valid_days'])}"
                      f" ({row['good_ratio']:.0f} %)"))
    inventory_table = inventory.assign(emission_t=inventory["emission_t"].round(3)) \
        if len(inventory) else inventory
    good_table = good.drop(columns=[c for c in ("unit_kind",) if good is not None and c in good]) \
        if good is not None else None
    return {
        "title": f"{city_name or 'sourcegrid'} — 精准治污 demo report",
        "city_name": city_name,
        "period": (f"{start.tz_convert('Asia/Shanghai'):%Y-%m-%d} – "
                   f"{(end - pd.Timedelta(hours=1)).tz_convert('Asia/Shanghai'):%Y-%m-%d}"
                   if start is not None else ""),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cards": cards,
        "map": _map_data(workspace, grades, traced),
        "hotspots": _rows(hotspots, ["rank", "cell_id", "county_code", "township_code", "mean",
                                     "ratio_to_city_mean", "concentration_category",
                                     "category_en",
                                     "excess_name", "type", "z", "spot", "persistence"]),
        "hotspot_evidence": _rows(hotspots, ["cell_id", "grade_evidence", "type_evidence"]),
        "traces": trace_blocks,
        "roses": roses, "polar": polar, "wind_note": wind_note,
        "aqi_figures": figures_aqi,
        "aqi_daily": _rows(city_daily, ["date", "aqi", "level", "category", "category_en",
                                        "primary_pollutant", "PM2.5_24h", "PM10_24h"]),
        "good_days": _rows(good_table, ["unit", "period_from", "period_to", "valid_days",
                                        "good_days", "good_ratio", *CATEGORY_COLUMNS,
                                        "missing_days"]),
        "inventory": _rows(inventory_table, ["pollutant", "industry_code", "industry", "sector",
                                             "emission_t", "origin"]),
        "inventory_figure": inventory_figure,
        "steps": _rows(steps, ["index", "name", "status", "seconds", "detail"]),
        "csv_files": REPORT_CSV,
        "_frames": {"hotspots.csv": hotspots, "cell_grades.csv": grades,
                    "trace_results.csv": traced, "inventory_by_industry.csv": inventory,
                    "aqi_daily.csv": daily, "good_days.csv": good,
                    "pipeline_steps.csv": steps},
    }


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def check_folder(folder: str | Path) -> Path:
    """The report folder, resolved; refused when writing it would destroy other files.

    A new folder, an empty one or an earlier report (it has an ``index.html``) is fine;
    a file, or a folder holding other files, raises :class:`SourcegridError`.
    """
    from sourcegrid.errors import SourcegridError

    folder = Path(folder).resolve()
    if folder.exists() and not folder.is_dir():
        raise SourcegridError(f"the report folder {folder} is a file; choose a folder")
    for parent in folder.parents:  # checked before any work: the folder must be creatable
        if parent.exists():
            if not parent.is_dir():
                raise SourcegridError(f"cannot create the report folder {folder}: {parent} is "
                                      "a file, not a folder")
            break
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "index.html").is_file():
        raise SourcegridError(f"{folder} is a folder that holds other files and no report "
                              "(index.html): it would be replaced whole; choose a new or "
                              "empty folder, or an earlier report folder")
    return folder


def build_report(workspace, folder: str | Path) -> Path:
    """Write the report folder of ``workspace``; returns the path of ``index.html``.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
        A workspace the pipeline ran on (missing tables leave their section empty).
    folder : str or Path
        The report folder (created; an existing one is replaced whole, atomically).

    Returns
    -------
    Path
        ``folder / 'index.html'``.

    Raises
    ------
    sourcegrid.errors.SourcegridError
        ``folder`` is a file, or a non-empty folder that is not a report (it would be
        replaced whole).
    """
    import jinja2

    from sourcegrid.io.tables import write_table

    folder = check_folder(folder)
    context = report_context(workspace)
    frames = context.pop("_frames")
    script, style = _leaflet()
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                                     autoescape=jinja2.select_autoescape(["html", "j2"]),
                                     undefined=jinja2.StrictUndefined)
    page_script = (_TEMPLATES / "report.js").read_text(encoding="utf-8")
    page_style = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    html = environment.get_template("index.html.j2").render(
        **context, leaflet_js=script, leaflet_css=style, report_js=page_script,
        report_css=page_style, map_json=_json_script(context["map"]))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        os.chmod(staging, 0o755)
        (staging / "index.html").write_text(html, encoding="utf-8")
        for name, frame in frames.items():
            if frame is not None:
                write_table(_csv_ready(frame), staging / name)
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "index.html"
