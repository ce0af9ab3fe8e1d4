"""Figures for tracing reports: wind rose, CPF and polar plots, traced series (matplotlib).

Each function draws on a new figure with the Agg backend (no display, no network) and
returns the :class:`matplotlib.figure.Figure`; :func:`save_png` and :func:`to_png_bytes`
write it (a report inlines the bytes as base64). Labels are in English so that they
show with matplotlib's bundled DejaVu font; names in Chinese are drawn with a CJK font
only when one is installed (:func:`font_family`).

Polar axes put north at the top and turn clockwise, as a compass; a wind rose bar
points to where the wind comes **from**, as in openair.

References
----------
Hunter, J. D. (2007). Matplotlib: A 2D graphics environment. Computing in Science &
Engineering 9(3), 90-95. Carslaw and Ropkins (2012), openair (the rose and CPF plots).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["wind_rose_figure", "cpf_figure", "polar_figure", "trace_figure", "save_png",
           "to_png_bytes", "font_family"]

_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
              "SimHei", "Source Han Sans SC", "AR PL UMing CN")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def font_family() -> list[str]:
    """Font families to use: an installed CJK font first (if any), then DejaVu Sans."""
    from matplotlib import font_manager

    names = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in _CJK_FONTS if name in names] + ["DejaVu Sans"]


def _has_cjk() -> bool:
    return font_family()[0] != "DejaVu Sans"


def _ascii_label(text: str) -> str:
    """Text as given when a CJK font exists, else with non-Latin characters dropped."""
    if _has_cjk():
        return text
    return "".join(ch for ch in str(text) if ord(ch) < 0x2E80).strip() or "?"


def _compass(ax) -> None:
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_xticks(np.deg2rad(np.arange(0, 360, 45)))
    ax.set_xticklabels(["N", "NE", "E", "SE", "S", "SW", "W", "NW"])


def wind_rose_figure(rose: pd.DataFrame, title: str = "Wind rose"):
    """Stacked bars per sector and speed bin from :func:`sourcegrid.tracing.wind.wind_rose`."""
    plt = _pyplot()
    figure = plt.figure(figsize=(4.2, 4.2))
    ax = figure.add_subplot(projection="polar")
    _compass(ax)
    bars = rose[rose["speed_bin"] != "calm"]
    centres = np.sort(bars["sector_deg"].unique())
    width = np.deg2rad(360.0 / max(len(centres), 1)) * 0.9
    bottom = np.zeros(len(centres))
    colours = plt.get_cmap("viridis")
    bins = list(dict.fromkeys(bars["speed_bin"]))
    for i, label in enumerate(bins):
        share = (bars[bars["speed_bin"] == label].set_index("sector_deg")["share"]
                 .reindex(centres).fillna(0).to_numpy() * 100)
        ax.bar(np.deg2rad(centres), share, width=width, bottom=bottom,
               color=colours(i / max(len(bins) - 1, 1)), edgecolor="white", linewidth=0.4,
               label=f"{label} m/s")
        bottom += share
    calm = float(rose.loc[rose["speed_bin"] == "calm", "share"].sum() * 100)
    ax.set_title(f"{title}\ncalm {calm:.1f} %", fontsize=9)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.15, -0.18), fontsize=7, ncol=2, frameon=False)
    ax.tick_params(labelsize=7)
    figure.tight_layout()
    return figure


def cpf_figure(table: pd.DataFrame, title: str = "CPF"):
    """CPF per sector (bars) from :func:`sourcegrid.tracing.wind.cpf` (univariate)."""
    plt = _pyplot()
    figure = plt.figure(figsize=(4.2, 4.2))
    ax = figure.add_subplot(projection="polar")
    _compass(ax)
    centres = table["sector_deg"].to_numpy(float)
    values = np.nan_to_num(table["cpf"].to_numpy(float))
    width = np.deg2rad(360.0 / max(len(centres), 1)) * 0.9
    ax.bar(np.deg2rad(centres), values, width=width, color=plt.get_cmap("inferno")(0.6),
           edgecolor="white", linewidth=0.4)
    ax.set_ylim(0, max(1.0 if values.max(initial=0) > 0.5 else 0.6, values.max(initial=0) * 1.1))
    lower = table.attrs.get("lower", np.nan)
    ax.set_title(f"{title}\nP > {lower:.3g} µg/m³" if np.isfinite(lower) else title, fontsize=9)
    ax.tick_params(labelsize=7)
    figure.tight_layout()
    return figure


def polar_figure(table: pd.DataFrame, title: str = "Concentration by wind",
                 unit: str = "µg/m³"):
    """Sector × speed-bin annuli coloured by value, from
    :func:`sourcegrid.tracing.wind.polar_table` or a bivariate CPF table."""
    plt = _pyplot()
    value_column = "value" if "value" in table else "cpf"
    figure = plt.figure(figsize=(4.6, 4.2))
    ax = figure.add_subplot(projection="polar")
    _compass(ax)
    centres = np.sort(table["sector_deg"].unique())
    width = 360.0 / max(len(centres), 1)
    lows = np.sort(table["speed_low"].unique())
    step = np.diff(lows).min() if len(lows) > 1 else 2.0
    values = table[value_column].to_numpy(float)
    finite = values[np.isfinite(values)]
    vmax = finite.max() if finite.size else 1.0
    cmap = plt.get_cmap("YlOrRd")
    for row in table.itertuples():
        value = getattr(row, value_column)
        if not np.isfinite(value):
            continue
        ax.bar(np.deg2rad(row.sector_deg), step, width=np.deg2rad(width), bottom=row.speed_low,
               color=cmap(value / vmax if vmax > 0 else 0), edgecolor="white", linewidth=0.3)
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    colourbar = figure.colorbar(mappable, ax=ax, shrink=0.7, pad=0.1)
    colourbar.set_label(unit if value_column == "value" else "CPF", fontsize=8)
    ax.set_title(f"{title}\n(radius: wind speed, m/s)", fontsize=9)
    ax.tick_params(labelsize=7)
    figure.tight_layout()
    return figure


def trace_figure(result, top: int = 3):
    """Excess, fitted total and the top sources' fitted series of a TraceResult."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7.5, 2.8))
    hours = result.hours
    excess = result.excess[result.cell_id]
    ax.plot(hours, excess, color="0.3", linewidth=0.8, label="observed excess")
    total = result.fitted.sum(axis=1) + result.summary.get("background_offset", 0.0)
    ax.plot(hours, total, color="tab:red", linewidth=0.8, label="fitted")
    for source_id in result.table["source_id"].head(top):
        if source_id in result.fitted.columns:
            ax.plot(hours, result.fitted[source_id], linewidth=0.7,
                    label=_ascii_label(str(source_id)))
    ax.set_ylabel("µg/m³")
    ax.set_title(f"{result.cell_id}: excess over background and fitted sources", fontsize=9)
    ax.legend(fontsize=7, ncol=3, frameon=False)
    ax.tick_params(labelsize=7)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def to_png_bytes(figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (then closed)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def save_png(figure, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure as PNG atomically (:func:`sourcegrid.io.tables.atomic_path`);
    returns the path."""
    from sourcegrid.io.tables import atomic_path

    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(to_png_bytes(figure, dpi))
    return path
