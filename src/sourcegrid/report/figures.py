"""Figures of the report, drawn with matplotlib (Agg) and returned as inline SVG text.

Drawing only: every number comes in computed (wind roses and CPF from
:mod:`sourcegrid.tracing.wind`, AQI from :mod:`sourcegrid.quality.aqi`, good days from
:mod:`sourcegrid.quality.gooddays`, emissions from the inventory). Figure text is
ASCII (English names, pollutant codes) so that a machine without CJK fonts draws the
same figure; the Chinese names are in the HTML around the figures.

Colours of AQI levels are those of HJ 633 Table A.1 (:data:`sourcegrid.standards.hj633.COLOURS`).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

__all__ = ["svg", "wind_rose_figure", "cpf_polar_figure", "aqi_daily_figure",
           "aqi_hourly_figure", "good_days_figure", "inventory_figure", "trace_series_figure"]

#: Sequential colours of wind speed bins (light to dark blue).
_SPEED_COLOURS = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False,
                         "font.family": "DejaVu Sans"})
    return plt


def svg(figure) -> str:
    """The figure as SVG text (no XML header), closed afterwards."""
    plt = _pyplot()
    buffer = io.StringIO()
    # one draw: the layout is fitted once (bbox_inches='tight' would draw twice)
    figure.tight_layout(pad=0.4)
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _compass_axes():
    """A small figure with polar axes as a compass: north up, angles clockwise."""
    plt = _pyplot()
    figure = plt.figure(figsize=(2.9, 3.5))
    axes = figure.add_subplot(projection="polar")
    axes.set_theta_zero_location("N")
    axes.set_theta_direction(-1)
    return figure, axes


def wind_rose_figure(rose: pd.DataFrame, title: str = "") -> str:
    """Stacked polar bars of a wind rose table (:func:`sourcegrid.tracing.wind.wind_rose`)."""
    figure, axes = _compass_axes()
    table = rose[rose["speed_bin"] != "calm"]
    sectors = np.sort(table["sector_deg"].unique())
    width = np.deg2rad(360.0 / max(len(sectors), 1)) * 0.9
    bottom = np.zeros(len(sectors))
    for index, (label, part) in enumerate(table.groupby("speed_bin", sort=False)):
        part = part.set_index("sector_deg").reindex(sectors)
        share = part["share"].fillna(0).to_numpy() * 100
        axes.bar(np.deg2rad(sectors), share, width=width, bottom=bottom,
                 color=_SPEED_COLOURS[index % len(_SPEED_COLOURS)], edgecolor="white",
                 linewidth=0.4, label=f"{label} m/s")
        bottom += share
    axes.set_xticks(np.deg2rad([0, 90, 180, 270]), ["N", "E", "S", "W"])
    axes.yaxis.set_major_formatter(lambda value, _: f"{value:.0f}%")
    axes.tick_params(axis="y", labelsize=7)
    calm = float(rose.attrs.get("calm_share", 0.0)) * 100
    axes.set_title(f"{title}\ncalm {calm:.1f} %, n = {rose.attrs.get('n', '')}", fontsize=9)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=7, frameon=False,
                ncol=2)
    return svg(figure)


def cpf_polar_figure(table: pd.DataFrame, title: str = "") -> str:
    """CPF by sector × speed bin (:func:`sourcegrid.tracing.wind.cpf` with wind_speed)."""
    figure, axes = _compass_axes()
    sectors = np.sort(table["sector_deg"].unique())
    step = 360.0 / max(len(sectors), 1)
    lows = np.sort(table["speed_low"].unique())
    highs = np.append(lows[1:], lows[-1] + (lows[-1] - lows[-2] if len(lows) > 1 else 2.0))
    grid = (table.pivot_table(index="speed_low", columns="sector_deg", values="cpf",
                              aggfunc="first").reindex(index=lows, columns=sectors))
    theta = np.deg2rad(np.append(sectors - step / 2, sectors[-1] + step / 2))
    radius = np.append(lows, highs[-1])
    mesh = axes.pcolormesh(theta, radius, np.ma.masked_invalid(grid.to_numpy()),
                           cmap="YlOrRd", vmin=0, vmax=1, shading="flat")
    axes.set_xticks(np.deg2rad([0, 90, 180, 270]), ["N", "E", "S", "W"])
    axes.tick_params(axis="y", labelsize=7)
    axes.set_rlabel_position(112)
    colourbar = figure.colorbar(mesh, ax=axes, orientation="horizontal", shrink=0.8,
                                pad=0.08, aspect=30)
    colourbar.set_label("CPF", fontsize=8)
    lower = table.attrs.get("lower", table["lower"].iloc[0] if len(table) else np.nan)
    axes.set_title(f"{title}\nC > {lower:.0f} ug/m3 (radius: wind m/s)", fontsize=9)
    return svg(figure)


def _level_colours(level: pd.Series) -> list[str]:
    from sourcegrid.standards.hj633 import COLOURS

    values = pd.to_numeric(level, errors="coerce").fillna(0).astype(int).to_numpy()
    return [COLOURS[v - 1] if 1 <= v <= len(COLOURS) else "#cccccc" for v in values]


def aqi_daily_figure(daily: pd.DataFrame, title: str = "") -> str:
    """Daily AQI bars coloured by HJ 633 level, with the good-day line at 100."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10.0, 2.6))
    dates = pd.to_datetime(daily["date"])
    axes.bar(dates, daily["aqi"].astype(float), color=_level_colours(daily["level"]),
             edgecolor="#555555", linewidth=0.3, width=0.8)
    axes.axhline(100, color="#333333", linestyle="--", linewidth=0.8,
                 label="AQI 100: a good day is at most 100")
    axes.legend(fontsize=7, frameon=False, loc="upper right")
    axes.set_ylabel("daily AQI")
    axes.set_title(title, fontsize=9)
    figure.autofmt_xdate()
    return svg(figure)


def aqi_hourly_figure(hourly: pd.DataFrame, title: str = "") -> str:
    """Hourly AQI line (Beijing time) with the level bands of HJ 633 behind it."""
    from sourcegrid.standards.hj633 import COLOURS

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10.0, 2.4))
    time = pd.to_datetime(hourly["time"], utc=True).dt.tz_convert("Asia/Shanghai")
    time = time.dt.tz_localize(None)
    bounds = (0, 50, 100, 150, 200, 300, 500)
    top = max(float(hourly["aqi"].max()) * 1.1 if len(hourly) else 100.0, 120.0)
    for low, high, colour in zip(bounds[:-1], bounds[1:], COLOURS, strict=True):
        if low < top:
            axes.axhspan(low, min(high, top), color=colour, alpha=0.18, linewidth=0)
    axes.plot(time, hourly["aqi"].astype(float), color="#222222", linewidth=0.9)
    axes.set_ylim(0, top)
    axes.set_ylabel("hourly AQI")
    axes.set_title(title, fontsize=9)
    figure.autofmt_xdate()
    return svg(figure)


def good_days_figure(good: pd.DataFrame, categories_en: tuple[str, ...],
                     categories: tuple[str, ...]) -> str:
    """Days per AQI category for each station and the city (stacked horizontal bars)."""
    from sourcegrid.standards.hj633 import COLOURS

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10.0, 0.32 * len(good) + 0.8))
    units = good["unit"].astype(str).tolist()
    left = np.zeros(len(good))
    for category, name, colour in zip(categories, categories_en, COLOURS, strict=True):
        days = good[category].astype(float).to_numpy()
        axes.barh(units, days, left=left, color=colour, edgecolor="#555555", linewidth=0.3,
                  label=name)
        left += days
    axes.invert_yaxis()
    axes.set_xlabel("days")
    axes.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes.set_yticks(range(len(units)), [u if u.isascii() else "city" for u in units])
    return svg(figure)


def inventory_figure(shares: pd.DataFrame) -> str:
    """Each pollutant's emission split by group (100 % stacked bars).

    ``shares``: index = pollutant, columns = group labels (ASCII), values = emission.
    """
    plt = _pyplot()
    totals = shares.sum(axis=1).replace(0, np.nan)
    fraction = shares.div(totals, axis=0).fillna(0) * 100
    figure, axes = plt.subplots(figsize=(10.0, 0.36 * len(fraction) + 0.8))
    colours = plt.get_cmap("tab10")
    left = np.zeros(len(fraction))
    for index, column in enumerate(fraction.columns):
        values = fraction[column].to_numpy()
        axes.barh(fraction.index.astype(str), values, left=left, color=colours(index % 10),
                  label=str(column))
        left += values
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of the pollutant's emission [%]")
    axes.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return svg(figure)


def trace_series_figure(series: pd.DataFrame, title: str = "") -> str:
    """Observed excess and the fitted sum of the top sources over time at a cell.

    ``series``: time (UTC) and numeric columns (observed, fitted, one per source ...).
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10.0, 2.4))
    time = pd.to_datetime(series["time"], utc=True).dt.tz_convert("Asia/Shanghai")
    time = time.dt.tz_localize(None)
    for column in series.columns:
        if column == "time" or not pd.api.types.is_numeric_dtype(series[column]):
            continue
        style = {"excess": {"color": "#222222", "linewidth": 1.1},
                 "fitted": {"color": "#d7191c", "linewidth": 1.1},
                 "residual": {"color": "#999999", "linewidth": 0.8, "linestyle": "--"}
                 }.get(str(column), {"linewidth": 0.8, "alpha": 0.85})
        axes.plot(time, series[column].astype(float), label=str(column), **style)
    axes.set_ylabel("ug/m3")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7, frameon=False, ncol=4)
    figure.autofmt_xdate()
    return svg(figure)
