"""The sample city: a seeded, reproducible region with its sources, feeds and ground truth.

:func:`generate_city` builds a region modelled on Cangzhou (沧州, Hebei), where the
hotspot-grid pilot ran: about 60 km × 60 km of 3 km cells with county codes of
the real Cangzhou districts and counties and invented township codes under them;
a few hundred enterprises of the sample library's industries clustered in
industrial parks (activity, treatment and stack parameters), coal boilers
(industry 4411), roads (line sources), construction sites (area sources) and a
few *unregistered* sources that are in no inventory (an illegal foundry, a scrap
burning yard, an unlicensed boiler, an open material yard).

Some enterprises behave badly, so that hotspots have a cause to find:
``under_reporting`` (true activity 2.5–4 × the reported one), ``treatment_off``
(reported as running, truly k ≈ 0), ``low_k`` (honestly reported low operating
rate: high in the inventory too). Their true emissions and the unregistered
sources are the ``truth``; the tables a bureau would have (activity, treatment,
sources, other emissions, readings, wind, met) never show them.

Meteorology is real: hourly wind, temperature, humidity, pressure, rain and the
regional background PM2.5 come from a packaged slice of the Beijing Multi-Site
Air-Quality data (two stations, July 2016 and December 2016 – February 2017;
CC BY 4.0, see ``sample/data/README.md``). The window asked for must fall inside
the slice (the default, 28 days from 2017-01-01, does).

Concentrations come from the generator's own transport
(:mod:`sourcegrid.sample.transport`: Pasquill–Gifford sigmas of ISC3, hourly
stability from insolation and cloud with randomness, mixing height with
reflections, Holland plume rise, per source-hour wind and sigma perturbations,
meander) — never the tracer's model. Readings are background + Σ contributions
at the monitor + instrument error (reference: small; micro: gain, bias, drift,
humidity response, noise, gaps; mobile: noise). Each source's true
contribution per cell and hour is kept apart in ``truth.contributions``.

Internal units: emission rates g/s, emissions kg, concentrations µg/m³, time UTC.

Sizes (``size='default'``): about 300 enterprises, 6 roads, 10 construction sites,
4 unregistered sources, 7 reference and 120 micro-stations, 3 taxis reporting every
2 minutes from 08:00 to 18:00; a 28-day month takes about 10 s of CPU on one core.
``size='large'`` quadruples the enterprises and triples the micro-stations.

Limits: the truth is a model too (see :mod:`sourcegrid.sample.transport`); the
background is spatially smooth (a regional gradient); PM10 at the reference stations
is the Beijing PM10 background plus 1.6 × the local PM2.5 contributions.

References
----------
.. [1] Zhang, S. et al. (2017) Cautionary tales on air-quality improvement in
       Beijing. Proc. R. Soc. A 473: 20170457 (the meteorology and background).
.. [2] U.S. EPA (1995) AP-42 §13.2.3 Heavy construction operations (1.2 tons
       TSP per acre per month) and §13.2.1 Paved roads (order of the road dust
       factor used for the road emissions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import SourcegridError
from sourcegrid.sample import transport as tr
from sourcegrid.sample.enterprises import SAMPLE_CITY, generate_enterprises

__all__ = ["SampleCity", "Truth", "generate_city", "main_sources", "load_weather",
           "CITY_CENTRE", "PM25_FRACTION_TRUE", "SIZES"]

#: Centre of the sample region (Cangzhou city, 沧州市区) [degree].
CITY_CENTRE = (116.86, 38.31)

#: Sizes of the sample city: 'default' runs a 4-week month in seconds, 'large' is bigger.
SIZES = {
    "default": {"enterprises": 300, "micro": 120, "reference": 7, "taxis": 3,
                "mobile_minutes": 2, "roads": 6, "construction": 10},
    "large": {"enterprises": 1200, "micro": 400, "reference": 8, "taxis": 3,
              "mobile_minutes": 1, "roads": 8, "construction": 25},
}

#: The true PM2.5 share of particulate matter (颗粒物) by sector used to make the truth
#: (the inventory applies its own documented fractions; the truth varies ±15 % per source).
PM25_FRACTION_TRUE = {"industry": 0.45, "boiler": 0.40, "traffic": 0.30, "dust": 0.12,
                      "foundry": 0.55, "burning": 0.85, "yard": 0.15}

# county seats (approximate, WGS 84) of the real Cangzhou county codes; 沧县 has three
# seeds because it surrounds the city districts
_COUNTY_SEATS = [
    ("130902", 116.860, 38.320), ("130903", 116.830, 38.290), ("130921", 116.700, 38.440),
    ("130921", 117.030, 38.220), ("130921", 116.660, 38.200), ("130922", 116.820, 38.580),
    ("130983", 117.200, 38.400), ("130981", 116.570, 38.070), ("130925", 117.150, 38.060),
]

# industrial parks: (name, fraction east, fraction north of the domain, spread [m])
_PARKS = [
    ("沧州经济开发区", 0.62, 0.42, 1500.0), ("沧州高新区", 0.45, 0.62, 1200.0),
    ("泊头铸造园区", 0.16, 0.16, 1500.0), ("青县工业园", 0.42, 0.90, 1300.0),
    ("黄骅临港园区", 0.88, 0.62, 1800.0), ("沧县工业园", 0.25, 0.55, 1100.0),
    ("盐山管道园区", 0.80, 0.15, 1400.0),
]

_SLICE_FILE = "beijing_weather_slice.csv.gz"
_MET_STATION = "Dongsi"
_BACKGROUND_STATION = "Dingling"
_COMPASS = {name: 22.5 * i for i, name in enumerate(
    ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW",
     "NW", "NNW"])}


@dataclass
class Truth:
    """What really happened (never shown to the tracer).

    Attributes
    ----------
    contributions : DataFrame
        source_id, cell_id, time [UTC], pollutant ('PM2.5'), contribution [µg/m³]
        (cell-average, only values above 0.01 µg/m³).
    background : DataFrame
        cell_id, time, background [µg/m³].
    sources : DataFrame
        Every source (registered and unregistered): source_id, kind, sector, behaviour
        (honest | under_reporting | treatment_off | low_k | unregistered), lon, lat,
        pm25_rate [g/s] (true mean over the window), inventory_pm25_rate [g/s] (what
        the inventory will say), true_scale_factor (their ratio; inf when unregistered),
        activity_factor, true_k.
    monitors : DataFrame
        site_id, site_kind, time, lon, lat, background, contribution, true_value [µg/m³]
        of PM2.5 before the instrument error, and the error model's parameters.
    hotspots : DataFrame
        The designed hotspot sources with their cell (source_id, cell_id, behaviour).
    """

    contributions: pd.DataFrame
    background: pd.DataFrame
    sources: pd.DataFrame
    monitors: pd.DataFrame
    hotspots: pd.DataFrame
    instruments: pd.DataFrame = field(default_factory=pd.DataFrame)

    def write(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("contributions", "background", "sources", "monitors", "hotspots",
                     "instruments"):
            frame = getattr(self, name)
            target = folder / f"{name}.parquet"
            temporary = target.with_suffix(".parquet.tmp")
            frame.to_parquet(temporary, index=False)
            temporary.replace(target)


@dataclass
class SampleCity:
    """A generated sample city (see :func:`generate_city`); tables in the canonical formats."""

    seed: int
    start: pd.Timestamp
    days: int
    spec: object
    cells: pd.DataFrame
    activity: pd.DataFrame
    treatment: pd.DataFrame
    sources: pd.DataFrame
    other_emissions: pd.DataFrame
    readings: pd.DataFrame
    wind: pd.DataFrame
    met: pd.DataFrame
    truth: Truth
    unregistered: pd.DataFrame
    roads: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def end(self) -> pd.Timestamp:
        """End of the window (exclusive, UTC)."""
        return self.start + pd.Timedelta(days=self.days)

    def write(self, folder: str | Path, *, truth: bool = False) -> Path:
        """Write the tables a bureau would have into ``folder``.

        The ground truth (``truth/*.parquet``) is written only with ``truth=True`` (a
        benchmark scoring the tracer asks for it); the demo never puts it beside the
        inputs of a workspace.
        """
        from sourcegrid.io.tables import write_table

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("activity", "treatment", "sources", "other_emissions", "readings", "wind",
                     "met", "cells"):
            frame = getattr(self, name).copy()
            for column in frame.columns:
                if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                    frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
            write_table(frame, folder / f"{name}.csv")
        (folder / "grid_spec.json").write_text(json.dumps(self.spec.to_dict()), encoding="utf-8")
        if truth:
            self.truth.write(folder / "truth")
        return folder


# ---- packaged weather ------------------------------------------------------------------------

def load_weather() -> pd.DataFrame:
    """The packaged Beijing slice: one row per station × hour (Beijing time), NaN kept.

    Columns: time_local, station, PM2.5, PM10, TEMP [°C], PRES [hPa], DEWP [°C],
    RAIN [mm], wd (16-point, from), WSPM [m/s].
    """
    path = resources.files("sourcegrid.sample") / "data" / _SLICE_FILE
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, compression="gzip")
    frame["time_local"] = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    return frame.drop(columns=["year", "month", "day", "hour"])


def _station_series(weather: pd.DataFrame, station: str, hours_local: pd.DatetimeIndex):
    frame = weather.loc[weather["station"] == station].set_index("time_local")
    frame = frame[~frame.index.duplicated()].reindex(hours_local)
    numeric = frame[["PM2.5", "PM10", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]]
    numeric = numeric.interpolate(limit_direction="both")
    wd = frame["wd"].ffill().bfill()
    return numeric, wd


def _relative_humidity(temperature, dew_point) -> np.ndarray:
    """RH [%] from T and dew point [°C] by the Magnus formula (Alduchov & Eskridge 1996)."""
    a, b = 17.625, 243.04
    t = np.asarray(temperature, float)
    d = np.asarray(dew_point, float)
    return np.clip(100.0 * np.exp(a * d / (b + d) - a * t / (b + t)), 5.0, 100.0)


# ---- the generator ---------------------------------------------------------------------------

def generate_city(seed: int = 7, *, start="2017-01-01", days: int = 28, size: str = "default",
                  n_enterprises: int | None = None, n_micro: int | None = None,
                  n_unregistered: int = 4, cell_size: float = 3000.0,
                  extent_km: float = 60.0, background_scale: float = 0.5) -> SampleCity:
    """Generate the sample city with its ground truth.

    Parameters
    ----------
    seed : int
        Seed of every random draw (the same seed gives the same city).
    start : str or Timestamp
        First day (Beijing time). The packaged weather covers 2016-07-01 to 2016-07-31
        and 2016-12-01 to 2017-02-28; ``start + days`` must fall inside one of them.
    days : int
        Length of the window [days].
    size : {'default', 'large'}
        Sizes of :data:`SIZES`; ``n_enterprises`` and ``n_micro`` override them.
    n_unregistered : int
        Unregistered sources (3–6).
    cell_size, extent_km : float
        Cell side [m] and side of the region [km].
    background_scale : float
        Factor on the Beijing suburban PM2.5 used as the regional background.

    Returns
    -------
    SampleCity
    """
    if size not in SIZES:
        from sourcegrid.errors import NotFoundError

        raise NotFoundError("sample city size", size, SIZES)
    if not 3 <= n_unregistered <= 6:
        raise SourcegridError(f"n_unregistered must be 3–6, got {n_unregistered}")
    if days < 1:
        raise SourcegridError(f"days must be at least 1, got {days}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SourcegridError(f"seed must be a non-negative integer, got {seed!r}")
    for name, count, least in (("n_enterprises", n_enterprises, 1), ("n_micro", n_micro, 0)):
        if count is not None and not least <= count <= 1_000_000:
            raise SourcegridError(f"{name} must be {least} to 1,000,000, got {count}")
    if not (np.isfinite(cell_size) and cell_size > 0 and np.isfinite(extent_km)
            and extent_km * 1000.0 >= cell_size):
        raise SourcegridError(f"cell_size [m] must be positive and at most extent_km [km], got "
                              f"{cell_size} and {extent_km}")
    sizes = dict(SIZES[size])
    if n_enterprises is not None:
        sizes["enterprises"] = int(n_enterprises)
    if n_micro is not None:
        sizes["micro"] = int(n_micro)
    rng = np.random.default_rng(seed)

    # ---- time and weather -------------------------------------------------------------
    start_local = pd.Timestamp(start)
    if start_local.tzinfo is not None:
        start_local = start_local.tz_convert("Asia/Shanghai").tz_localize(None)
    start_local = start_local.normalize()
    hours_local = pd.date_range(start_local, periods=days * 24, freq="h")
    weather = load_weather()
    covered = weather.loc[weather["station"] == _MET_STATION, "time_local"]
    if not (hours_local.isin(covered.to_numpy())).all():
        raise SourcegridError(
            f"the packaged weather covers 2016-07-01..2016-07-31 and 2016-12-01..2017-02-28 "
            f"(Beijing time); {start_local.date()} + {days} days is outside it")
    times = hours_local.tz_localize("Asia/Shanghai").tz_convert("UTC")
    met_series, wd_text = _station_series(weather, _MET_STATION, hours_local)
    bg_series, _ = _station_series(weather, _BACKGROUND_STATION, hours_local)
    n_hours = len(times)

    # ---- grid and cells ---------------------------------------------------------------
    from sourcegrid.grid.admin import cells_table
    from sourcegrid.grid.spec import GridSpec

    lon0, lat0 = CITY_CENTRE
    half_lon = extent_km / 2 / (111.32 * np.cos(np.radians(lat0)))
    half_lat = extent_km / 2 / 110.57
    spec = GridSpec.from_bbox((lon0 - half_lon, lat0 - half_lat, lon0 + half_lon,
                               lat0 + half_lat), cell_size)
    cells = _cells_with_codes(spec, rng, cells_table)
    min_x, min_y, max_x, max_y = spec.bounds
    width, height = max_x - min_x, max_y - min_y

    # ---- enterprises ------------------------------------------------------------------
    activity, treatment, enterprises = _enterprises(sizes["enterprises"], seed, rng, spec, cells)

    # ---- accounting (the inventory a bureau would compute) ------------------------------
    from sourcegrid.accounting.engine import account
    from sourcegrid.coefficients import sample_library

    accounted = account(activity, sample_library(), treatment).emissions
    enterprises, accounted = _behaviours(enterprises, accounted, activity, treatment, rng)

    # ---- roads, construction, unregistered --------------------------------------------
    roads = _roads(sizes["roads"], rng, spec)
    construction = _construction(sizes["construction"], rng, spec, enterprises)
    unregistered = _unregistered(n_unregistered, rng, spec, enterprises)
    other_emissions = _other_emissions(roads, construction, start_local.year)

    # ---- meteorology ------------------------------------------------------------------
    u10 = np.maximum(met_series["WSPM"].to_numpy(float), 0.3)
    wind_from = (wd_text.map(_COMPASS).to_numpy(float)
                 + rng.uniform(-11.25, 11.25, n_hours)) % 360.0
    temperature_c = met_series["TEMP"].to_numpy(float)
    pressure = met_series["PRES"].to_numpy(float)
    rain = met_series["RAIN"].to_numpy(float)
    rh = _relative_humidity(temperature_c, met_series["DEWP"].to_numpy(float))
    cloud = _cloud(n_hours, rng, rain, rh)
    elevation = tr.solar_elevation(times.tz_localize(None).to_numpy(), lon0, lat0)
    stability = tr.pasquill_class(u10, elevation, cloud, rng)
    month = hours_local.month.to_numpy()
    season_max = np.where(np.isin(month, [11, 12, 1, 2]), 700.0,
                          np.where(np.isin(month, [6, 7, 8]), 1500.0, 1100.0))
    zi = tr.mixing_height(hours_local.hour.to_numpy(), u10, stability, season_max, rng)
    zi = np.maximum(zi, np.clip(100 + 60 * u10, 80, 600) * 0.8)
    met = tr.HourlyMet(u10, wind_from, stability, zi, temperature_c + 273.15, pressure)

    # ---- all sources: true rates, profiles, emission points ----------------------------
    sources_true = _true_sources(enterprises, roads, construction, unregistered, rng)
    profile = _profiles(sources_true, hours_local, u10, rain, rng)
    sources_true["pm25_rate"] = sources_true["base_rate"] * profile.mean(axis=1)
    sources_true["inventory_pm25_rate"] = _inventory_rate(sources_true, enterprises,
                                                          other_emissions)
    with np.errstate(divide="ignore", invalid="ignore"):
        sources_true["true_scale_factor"] = np.where(
            sources_true["inventory_pm25_rate"] > 0,
            sources_true["pm25_rate"] / sources_true["inventory_pm25_rate"],
            np.where(sources_true["pm25_rate"] > 0, np.inf, np.nan))
    points = _points(sources_true, roads, construction, unregistered, spec, rng)
    n_parents = len(sources_true)
    direction_offset = _direction_offsets(points, sources_true, n_hours, rng, spec)
    sigma_y_factor = rng.lognormal(0.0, 0.2, (n_parents, n_hours))
    sigma_z_factor = rng.lognormal(0.0, 0.15, (n_parents, n_hours))

    # ---- monitors ---------------------------------------------------------------------
    monitors = _monitors(sizes, rng, spec, cells, enterprises, unregistered, sources_true)

    # ---- receptors: cells (centre far, 3×3 sub-points near) + monitors --------------------
    n_cells = len(cells)
    cx, cy = cells["x"].to_numpy(), cells["y"].to_numpy()
    offsets = (np.arange(3) - 1) * cell_size / 3
    sub_dx, sub_dy = np.meshgrid(offsets, offsets)
    sub_x = (cx[:, None] + sub_dx.ravel()[None, :]).ravel()
    sub_y = (cy[:, None] + sub_dy.ravel()[None, :]).ravel()
    mx, my = spec.to_xy(monitors["lon"].to_numpy(), monitors["lat"].to_numpy())
    n_mon = len(monitors)
    receptors = tr.Receptors(
        x=np.concatenate([cx, sub_x, mx]), y=np.concatenate([cy, sub_y, my]),
        z=np.concatenate([np.full(n_cells, 1.5), np.full(9 * n_cells, 1.5),
                          monitors["height"].to_numpy(float)]),
        variance=np.concatenate([np.full(n_cells, cell_size ** 2 / 12),
                                 np.full(9 * n_cells, (cell_size / 3) ** 2 / 12),
                                 np.zeros(n_mon)]),
        group=np.concatenate([np.arange(n_cells), np.repeat(np.arange(n_cells), 9),
                              n_cells + np.arange(n_mon)]),
        weight=np.concatenate([np.ones(n_cells), np.full(9 * n_cells, 1 / 9), np.ones(n_mon)]),
    )
    kind = np.concatenate([np.zeros(n_cells, int), np.ones(9 * n_cells, int),
                           np.full(n_mon, 2, int)])
    group_x = np.concatenate([cx, mx])
    group_y = np.concatenate([cy, my])
    near = 0.85 * cell_size

    def pair_filter(p, r):
        distance = np.hypot(points.x[p] - group_x[receptors.group[r]],
                            points.y[p] - group_y[receptors.group[r]])
        return np.where(kind[r] == 0, distance >= near, np.where(kind[r] == 1, distance < near,
                                                                 True))

    total, by_parent = tr.static_contributions(
        points, receptors, met, emission=profile, direction_offset=direction_offset,
        sigma_y_factor=sigma_y_factor, sigma_z_factor=sigma_z_factor,
        n_groups=n_cells + n_mon, n_parents=n_parents, keep_by_parent=True,
        pair_filter=pair_filter)
    parent, group, hour, value = by_parent
    in_cells = group < n_cells
    contributions = pd.DataFrame({
        "source_id": sources_true["source_id"].to_numpy()[parent[in_cells]],
        "cell_id": cells["cell_id"].to_numpy()[group[in_cells]],
        "time": times[hour[in_cells]],
        "pollutant": "PM2.5",
        "contribution": value[in_cells].astype(float),
    })

    # ---- background ---------------------------------------------------------------------
    bg_city = np.maximum(bg_series["PM2.5"].to_numpy(float) * background_scale, 3.0)
    bg_pm10 = np.maximum(bg_series["PM10"].to_numpy(float) * background_scale, bg_city * 1.15)

    def gradient(x, y):   # regional gradient: +8 % towards the south-west (Hebei plain)
        return 1.0 + 0.08 * (-(x - (min_x + width / 2)) / width - (y - (min_y + height / 2))
                             / height)

    bg_cells = gradient(cx, cy)[:, None] * bg_city[None, :]
    background = pd.DataFrame({
        "cell_id": np.repeat(cells["cell_id"].to_numpy(), n_hours),
        "time": np.tile(times, n_cells),
        "background": bg_cells.ravel(),
    })

    # ---- readings -----------------------------------------------------------------------
    mon_bg = gradient(mx, my)[:, None] * bg_city[None, :]
    mon_contribution = total[n_cells:]
    readings, monitor_truth, instruments = _station_readings(
        monitors, times, mon_bg, mon_contribution, bg_pm10, rh, temperature_c, rng, bg_city)
    mobile, mobile_truth = _mobile_readings(
        sizes, roads, spec, times, hours_local, points, met, profile, direction_offset,
        sigma_y_factor, sigma_z_factor, bg_city, gradient, rng)
    readings = pd.concat([readings, mobile], ignore_index=True)
    monitor_truth = pd.concat([monitor_truth, mobile_truth], ignore_index=True)

    reference = monitors.loc[monitors["site_kind"] == "reference"]
    wind, met_table = _met_tables(reference, times, u10, wind_from, temperature_c, rh,
                                  pressure, rain, rng)

    # ---- the public tables --------------------------------------------------------------
    sources = _sources_table(enterprises, roads, construction, rng)
    truth_sources = sources_true.drop(columns=["base_rate"]).copy()
    hotspots = truth_sources.loc[truth_sources["designed_hotspot"],
                                 ["source_id", "behaviour", "lon", "lat", "kind"]].copy()
    rows, cols = spec.cell_of(hotspots["lon"].to_numpy(), hotspots["lat"].to_numpy())
    hotspots["cell_id"] = spec.cell_id(rows, cols)
    truth = Truth(contributions=contributions, background=background, sources=truth_sources,
                  monitors=monitor_truth, hotspots=hotspots.reset_index(drop=True),
                  instruments=instruments)
    unregistered_public = unregistered[["source_id", "name", "kind", "lon", "lat",
                                        "geometry"]].reset_index(drop=True)
    cells_out = cells[["cell_id", "row", "col", "lon", "lat", "city_code", "county_code",
                       "township_code"]].copy()
    return SampleCity(seed=seed, start=times[0], days=days, spec=spec, cells=cells_out,
                      activity=activity, treatment=treatment, sources=sources,
                      other_emissions=other_emissions, readings=readings, wind=wind,
                      met=met_table, truth=truth, unregistered=unregistered_public,
                      roads=roads)


# ---- pieces ----------------------------------------------------------------------------------

def _cells_with_codes(spec, rng, cells_table) -> pd.DataFrame:
    cells = spec.cells()
    seats = pd.DataFrame(_COUNTY_SEATS, columns=["county_code", "lon", "lat"])
    sx, sy = spec.to_xy(seats["lon"].to_numpy(), seats["lat"].to_numpy())
    d = np.hypot(cells["x"].to_numpy()[:, None] - sx[None, :],
                 cells["y"].to_numpy()[:, None] - sy[None, :])
    county = seats["county_code"].to_numpy()[np.argmin(d, axis=1)]
    # invented townships: ~ 6 cells each, codes county + 3 digits (统计用区划代码 style)
    n_seeds = max(len(cells) // 6, 1)
    seed_cells = rng.choice(len(cells), n_seeds, replace=False)
    seed_county = county[seed_cells]
    d = np.hypot(cells["x"].to_numpy()[:, None] - cells["x"].to_numpy()[seed_cells][None, :],
                 cells["y"].to_numpy()[:, None] - cells["y"].to_numpy()[seed_cells][None, :])
    d = np.where(county[:, None] == seed_county[None, :], d, np.inf)
    nearest = np.argmin(d, axis=1)
    has_seed = np.isfinite(d[np.arange(len(cells)), nearest])
    order = pd.Series(seed_county).groupby(seed_county).cumcount().to_numpy() + 1
    township = np.where(has_seed,
                        np.char.add(county.astype(str),
                                    np.char.zfill((order[nearest] * 2).astype(str), 3)),
                        np.char.add(county.astype(str), "001"))
    admin = pd.DataFrame({"cell_id": cells["cell_id"], "city_code": SAMPLE_CITY["region_code"],
                          "county_code": county, "township_code": township})
    table = cells_table(spec, admin)
    return table.merge(cells[["cell_id", "x", "y"]], on="cell_id")


def _park_xy(spec) -> np.ndarray:
    min_x, min_y, max_x, max_y = spec.bounds
    return np.array([(min_x + fx * (max_x - min_x), min_y + fy * (max_y - min_y), spread)
                     for _, fx, fy, spread in _PARKS])


def _enterprises(n_enterprises: int, seed: int, rng, spec, cells):
    """Activity and treatment of the sample library's industries, placed in parks."""
    activity, treatment = generate_enterprises(int(n_enterprises * 2), seed=seed + 1,
                                               period="2017")
    activity = activity.copy()
    power_rows = (activity["industry_code"] == "4411") & (activity["capacity"] >= 100)
    power_ids = activity.loc[power_rows, "enterprise_id"].unique()[:2]
    drop = activity["enterprise_id"].isin(
        activity.loc[power_rows & ~activity["enterprise_id"].isin(power_ids), "enterprise_id"])
    activity = activity.loc[~drop]
    ids = activity["enterprise_id"].unique()[:n_enterprises]
    activity = activity.loc[activity["enterprise_id"].isin(ids)].reset_index(drop=True)
    treatment = treatment.loc[treatment["enterprise_id"].isin(ids)].reset_index(drop=True)

    # coal boilers (4411, <100 MW): 3–30 MW, coal ≈ 2,500 full-load hours × 0.35 t/MWh
    boiler = ((activity["industry_code"] == "4411") & activity["capacity"].notna()
              & ~activity["enterprise_id"].isin(power_ids))
    capacity = np.round(rng.uniform(3.0, 30.0, int(boiler.sum())), 1)
    activity.loc[boiler, "capacity"] = capacity
    activity.loc[boiler, "activity"] = np.round(capacity * 2500 * 0.35, 1)
    activity.loc[boiler, "A"] = np.round(rng.uniform(8.0, 18.0, int(boiler.sum())), 1)
    gas = (activity["industry_code"] == "4411") & (activity["activity_unit"] == "万立方米")
    activity.loc[gas, "activity"] = np.round(activity.loc[gas, "activity"] / 4, 2)
    power = activity["enterprise_id"].isin(power_ids)
    activity.loc[power, "A"] = np.round(rng.uniform(8.0, 12.0, int(power.sum())), 1)
    # discrete manufacturing: halve the sizes (small and medium firms around the parks)
    discrete = activity["industry_code"].isin(["3311", "3670", "3951", "3952"])
    activity.loc[discrete, "activity"] = np.round(activity.loc[discrete, "activity"] * 0.5, 2)
    # honest operating rates: treatment runs 7,200–8,000 of 8,000 production hours
    treatment["run_hours"] = np.round(rng.uniform(7200, 8000, len(treatment)))

    # one location per enterprise: 75 % in parks, the rest scattered
    enterprises = activity.drop_duplicates("enterprise_id")[
        ["enterprise_id", "enterprise_name", "industry_code"]].reset_index(drop=True)
    n = len(enterprises)
    parks = _park_xy(spec)
    min_x, min_y, max_x, max_y = spec.bounds
    in_park = rng.random(n) < 0.75
    park = rng.integers(0, len(parks), n)
    px = parks[park, 0] + rng.normal(0, 1, n) * parks[park, 2]
    py = parks[park, 1] + rng.normal(0, 1, n) * parks[park, 2]
    ux = rng.uniform(min_x + 3000, max_x - 3000, n)
    uy = rng.uniform(min_y + 3000, max_y - 3000, n)
    x = np.clip(np.where(in_park, px, ux), min_x + 500, max_x - 500)
    y = np.clip(np.where(in_park, py, uy), min_y + 500, max_y - 500)
    is_power = enterprises["enterprise_id"].isin(power_ids).to_numpy()
    # power plants at the edge of the first two parks
    for i, k in enumerate(np.flatnonzero(is_power)):
        x[k] = parks[i, 0] + 3500.0
        y[k] = parks[i, 1] - 2500.0
    enterprises["x"], enterprises["y"] = x, y
    lon, lat = spec.to_lonlat(x, y)
    enterprises["lon"], enterprises["lat"] = np.round(lon, 5), np.round(lat, 5)
    enterprises["park"] = np.where(in_park, np.array([p[0] for p in _PARKS])[park], "")
    rows, cols = spec.cell_of_xy(x, y)
    county = cells.set_index("cell_id")["county_code"]
    enterprises["cell_id"] = spec.cell_id(rows, cols)
    enterprises["region_code"] = county.reindex(enterprises["cell_id"]).to_numpy()
    enterprises["is_power"] = is_power
    sections = activity.groupby("enterprise_id")["section"].agg(lambda s: ";".join(sorted(s)))
    enterprises["sections"] = sections.reindex(enterprises["enterprise_id"]).to_numpy()
    # stack parameters (true) by type
    code = enterprises["industry_code"].to_numpy()
    is_boiler = (code == "4411") & ~is_power
    height = np.where(is_power, rng.uniform(150, 210, n),
                      np.where(is_boiler, rng.uniform(30, 60, n), rng.uniform(15, 35, n)))
    diameter = np.where(is_power, rng.uniform(5, 7, n),
                        np.where(is_boiler, rng.uniform(0.8, 2.0, n), rng.uniform(0.4, 1.2, n)))
    velocity = np.where(is_power, rng.uniform(15, 22, n),
                        np.where(is_boiler, rng.uniform(8, 14, n), rng.uniform(6, 14, n)))
    temperature = np.where(is_power, rng.uniform(400, 430, n),
                           np.where(is_boiler, rng.uniform(400, 450, n),
                                    rng.uniform(295, 340, n)))
    enterprises["stack_height"] = np.round(height, 1)
    enterprises["stack_diameter"] = np.round(diameter, 2)
    enterprises["exit_velocity"] = np.round(velocity, 1)
    enterprises["exit_temperature"] = np.round(temperature, 1)
    enterprises["sector"] = np.where(code == "4411", "boiler", "industry")

    by_id = enterprises.set_index("enterprise_id")
    activity["lon"] = by_id["lon"].reindex(activity["enterprise_id"]).to_numpy()
    activity["lat"] = by_id["lat"].reindex(activity["enterprise_id"]).to_numpy()
    activity["region_code"] = by_id["region_code"].reindex(activity["enterprise_id"]).to_numpy()
    return activity, treatment, enterprises


def _behaviours(enterprises, accounted, activity, treatment, rng):
    """Pick the badly behaving enterprises and size them so their cells stand out."""
    enterprises = enterprises.copy()
    pm = accounted.loc[accounted["pollutant"] == "PM"]
    pm_total = pm.groupby("enterprise_id")["emission"].sum()
    treated = treatment.loc[treatment["pollutant"] == "PM", "enterprise_id"].unique()
    enterprises["accounted_pm"] = pm_total.reindex(enterprises["enterprise_id"]).fillna(0.0
                                                                                        ).to_numpy()
    enterprises["behaviour"] = "honest"
    enterprises["activity_factor"] = 1.0
    candidates = enterprises.loc[
        enterprises["industry_code"].isin(["3311", "3670", "3951", "3952"])
        & enterprises["enterprise_id"].isin(treated) & (enterprises["accounted_pm"] > 0)]
    # spread over the domain: one per park region where possible, far from each other
    order = rng.permutation(candidates.index.to_numpy())
    chosen: list[int] = []
    for index in order:
        x, y = enterprises.at[index, "x"], enterprises.at[index, "y"]
        if all(np.hypot(x - enterprises.at[j, "x"], y - enterprises.at[j, "y"]) > 9000
               for j in chosen):
            chosen.append(index)
        if len(chosen) == 6:
            break
    kinds = ["under_reporting", "treatment_off", "low_k", "under_reporting", "treatment_off",
             "low_k"]
    for index, behaviour in zip(chosen, kinds, strict=False):
        enterprises.at[index, "behaviour"] = behaviour
        enterprises.at[index, "stack_height"] = round(float(rng.uniform(15, 22)), 1)
        enterprises.at[index, "exit_temperature"] = round(float(rng.uniform(300, 320)), 1)
        if behaviour == "under_reporting":
            enterprises.at[index, "activity_factor"] = round(float(rng.uniform(2.5, 4.0)), 2)
    # size the designed ones: scale their activity so that the true PM2.5 is 10–20 g/s.
    # Physical basis: an iron foundry's cupola melting ~10 t/h emits ~6.9 kg PM per tonne
    # uncontrolled (AP-42 §12.10, Table 12.10-3), ~19 g/s of PM, over half of it PM2.5;
    # with its bag filter off (or 2.5–4 × the reported throughput) that is 10–20 g/s of
    # PM2.5 from a 15–22 m stack — what makes a winter hotspot cell tens of µg/m³ above
    # its neighbours in the pilot cities (4–7 g/s gave only 2–8 µg/m³, less than a
    # micro-station's calibration error at a 50–100 µg/m³ background)
    ids = enterprises.loc[chosen, "enterprise_id"].to_numpy()
    rows = accounted["enterprise_id"].isin(ids) & (accounted["pollutant"] == "PM")
    generation = accounted.loc[rows].groupby("enterprise_id")["generation"].sum()
    target_true_g_s = rng.uniform(10.0, 20.0, len(ids))
    scale = {}
    for eid, target, behaviour in zip(ids, target_true_g_s,
                                      enterprises.loc[chosen, "behaviour"], strict=True):
        em = pm_total.get(eid, 0.0)
        gen = generation.get(eid, 0.0)
        factor = enterprises.loc[enterprises["enterprise_id"] == eid, "activity_factor"].iloc[0]
        true_kg = {"treatment_off": gen, "under_reporting": em * factor,
                   "low_k": em / 0.25}.get(behaviour, em)
        true_pm25 = true_kg * PM25_FRACTION_TRUE["industry"] / (8760 * 3.6)
        scale[eid] = target / true_pm25 if true_pm25 > 0 else 1.0
    # honest manufacturers: at most 2 g/s of PM2.5 (the largest firms of a sample city)
    honest = enterprises.loc[(enterprises["behaviour"] == "honest")
                             & (enterprises["industry_code"] != "4411")]
    rate = honest["accounted_pm"].to_numpy() * PM25_FRACTION_TRUE["industry"] / (8760 * 3.6)
    for eid, value in zip(honest["enterprise_id"], rate, strict=True):
        if value > 2.0:
            scale[eid] = 2.0 / value * rng.uniform(0.6, 1.0)
    for eid, s in scale.items():
        pick = activity["enterprise_id"] == eid
        activity.loc[pick, "activity"] = np.round(activity.loc[pick, "activity"] * s, 2)
        rows_e = accounted["enterprise_id"] == eid
        for column in ("generation", "removal", "emission"):
            accounted.loc[rows_e, column] = accounted.loc[rows_e, column] * s
    # low_k: an honestly reported low operating rate (run 1,000–2,500 of 8,000 h)
    low = enterprises.loc[enterprises["behaviour"] == "low_k", "enterprise_id"]
    pick = treatment["enterprise_id"].isin(low)
    treatment.loc[pick, "run_hours"] = np.round(rng.uniform(1000, 2500, int(pick.sum())))
    rows_low = accounted["enterprise_id"].isin(low) & accounted["k"].notna()
    k_new = treatment.set_index(["enterprise_id", "section", "pollutant"])["run_hours"] / 8000.0
    keys = pd.MultiIndex.from_frame(accounted.loc[rows_low, ["enterprise_id", "section",
                                                             "pollutant"]])
    k_low = k_new.reindex(keys).to_numpy()
    k_low = np.where(np.isnan(k_low), accounted.loc[rows_low, "k"].to_numpy(float), k_low)
    eta = accounted.loc[rows_low, "removal_efficiency"].to_numpy(float)
    gen = accounted.loc[rows_low, "generation"].to_numpy(float)
    accounted.loc[rows_low, "k"] = k_low
    accounted.loc[rows_low, "emission"] = gen * (1 - eta * k_low)
    accounted.loc[rows_low, "removal"] = gen * eta * k_low
    # the true PM per enterprise [kg over a year]
    pm = accounted.loc[accounted["pollutant"] == "PM"]
    emission = pm.groupby("enterprise_id")["emission"].sum()
    generation = pm.groupby("enterprise_id")["generation"].sum()
    eta = pm.assign(g_eta=pm["generation"] * pm["removal_efficiency"].fillna(0.0)
                    ).groupby("enterprise_id")["g_eta"].sum()
    e_id = enterprises["enterprise_id"]
    em = emission.reindex(e_id).fillna(0.0).to_numpy()
    gen = generation.reindex(e_id).fillna(0.0).to_numpy()
    g_eta = eta.reindex(e_id).fillna(0.0).to_numpy()
    behaviour = enterprises["behaviour"].to_numpy()
    true_kg = np.where(behaviour == "treatment_off", gen - 0.02 * g_eta, em)
    true_kg = true_kg * enterprises["activity_factor"].to_numpy()
    enterprises["accounted_pm"] = em
    enterprises["true_pm"] = true_kg
    enterprises["true_k"] = np.where(behaviour == "treatment_off", 0.02, np.nan)
    return enterprises, accounted


def _roads(n_roads: int, rng, spec) -> pd.DataFrame:
    """Roads as polylines crossing the region (GeoJSON LineStrings in lon/lat)."""
    min_x, min_y, max_x, max_y = spec.bounds
    w, h = max_x - min_x, max_y - min_y
    templates = [  # (start fraction x, y) → (end fraction x, y): highways and arterials
        ((0.30, 0.0), (0.55, 1.0)), ((0.0, 0.45), (1.0, 0.40)), ((0.05, 0.05), (0.95, 0.90)),
        ((0.0, 0.80), (1.0, 0.70)), ((0.75, 0.0), (0.65, 1.0)), ((0.10, 1.0), (0.90, 0.05)),
        ((0.0, 0.20), (1.0, 0.25)), ((0.45, 0.0), (0.20, 1.0)),
    ]
    rows = []
    for i in range(n_roads):
        (fx0, fy0), (fx1, fy1) = templates[i % len(templates)]
        t = np.linspace(0, 1, 7)
        fx = fx0 + (fx1 - fx0) * t
        fy = fy0 + (fy1 - fy0) * t
        jitter = rng.normal(0, 0.02, (2, 7))
        jitter[:, [0, -1]] = 0
        x = np.clip(min_x + (fx + jitter[0]) * w, min_x + 100, max_x - 100)
        y = np.clip(min_y + (fy + jitter[1]) * h, min_y + 100, max_y - 100)
        lon, lat = spec.to_lonlat(x, y)
        length = float(np.hypot(np.diff(x), np.diff(y)).sum())
        aadt = float(rng.uniform(15000, 45000) if i < 3 else rng.uniform(6000, 18000))
        rows.append({
            "source_id": f"RD{i + 1:02d}", "name": f"道路 {i + 1}",
            "geometry": json.dumps({"type": "LineString", "coordinates":
                                    np.round(np.column_stack([lon, lat]), 5).tolist()}),
            "x": x, "y": y, "length_m": length, "aadt": aadt,
            "lon": float(np.round(lon[3], 5)), "lat": float(np.round(lat[3], 5)),
        })
    return pd.DataFrame(rows)


def _construction(n_sites: int, rng, spec, enterprises) -> pd.DataFrame:
    """Construction sites as rectangles (GeoJSON Polygons in lon/lat)."""
    min_x, min_y, max_x, max_y = spec.bounds
    cx0 = min_x + 0.5 * (max_x - min_x)
    cy0 = min_y + 0.5 * (max_y - min_y)
    rows = []
    for i in range(n_sites):
        x0 = float(np.clip(cx0 + rng.normal(0, 9000), min_x + 2000, max_x - 2000))
        y0 = float(np.clip(cy0 + rng.normal(0, 9000), min_y + 2000, max_y - 2000))
        a, b = rng.uniform(200, 600, 2)
        angle = rng.uniform(0, np.pi)
        corners = np.array([[-a, -b], [a, -b], [a, b], [-a, b], [-a, -b]]) / 2
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        xy = corners @ rot.T + [x0, y0]
        lon, lat = spec.to_lonlat(xy[:, 0], xy[:, 1])
        rows.append({
            "source_id": f"CS{i + 1:02d}", "name": f"施工工地 {i + 1}",
            "geometry": json.dumps({"type": "Polygon", "coordinates":
                                    [np.round(np.column_stack([lon, lat]), 6).tolist()]}),
            "x0": x0, "y0": y0, "a": a, "b": b, "angle": angle, "area_m2": a * b,
            "lon": float(np.round(spec.to_lonlat(x0, y0)[0], 5)),
            "lat": float(np.round(spec.to_lonlat(x0, y0)[1], 5)),
        })
    return pd.DataFrame(rows)


_UNREGISTERED_TYPES = [
    # (name, kind, sector for the PM2.5 fraction, rate g/s range, stack height, diameter,
    #  exit velocity, exit temperature, half side of the area [m])
    ("非法小铸造厂 illegal small foundry", "point", "foundry", (3.0, 5.0), 8.0, 0.5, 5.0, 360.0,
     0.0),
    ("露天焚烧废料场 scrap burning yard", "area", "burning", (3.5, 6.0), 0.0, 0.0, 0.0, 0.0, 80.0),
    ("无证燃煤小锅炉 unlicensed coal boiler", "point", "boiler", (3.0, 5.0), 10.0, 0.4, 4.0,
     400.0, 0.0),
    ("露天物料堆场 open material yard", "area", "yard", (4.0, 7.0), 0.0, 0.0, 0.0, 0.0, 150.0),
    ("非法小铸造厂 illegal small foundry", "point", "foundry", (3.0, 5.0), 8.0, 0.5, 5.0, 360.0,
     0.0),
    ("露天焚烧废料场 scrap burning yard", "area", "burning", (3.5, 6.0), 0.0, 0.0, 0.0, 0.0, 80.0),
]


def _unregistered(n: int, rng, spec, enterprises) -> pd.DataFrame:
    """Hidden sources at least 3 km from every registered stack and from each other."""
    min_x, min_y, max_x, max_y = spec.bounds
    ex, ey = enterprises["x"].to_numpy(), enterprises["y"].to_numpy()
    rows = []
    placed: list[tuple[float, float]] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        x = float(rng.uniform(min_x + 5000, max_x - 5000))
        y = float(rng.uniform(min_y + 5000, max_y - 5000))
        far_reg = np.min(np.hypot(ex - x, ey - y)) > (3000 if attempts < 5000 else 1500)
        far_own = all(np.hypot(x - px, y - py) > 9000 for px, py in placed)
        if not (far_reg and far_own) and attempts < 20000:
            continue
        name, kind, sector, (lo, hi), h, d, v, t, half = _UNREGISTERED_TYPES[len(rows)]
        lon, lat = spec.to_lonlat(x, y)
        geometry = ""
        if kind == "area":
            xy = np.array([[-half, -half], [half, -half], [half, half], [-half, half],
                           [-half, -half]]) + [x, y]
            plon, plat = spec.to_lonlat(xy[:, 0], xy[:, 1])
            geometry = json.dumps({"type": "Polygon", "coordinates":
                                   [np.round(np.column_stack([plon, plat]), 6).tolist()]})
        rows.append({"source_id": f"U{len(rows) + 1:02d}", "name": name, "kind": kind,
                     "sector": sector, "x": x, "y": y, "lon": float(np.round(lon, 5)),
                     "lat": float(np.round(lat, 5)), "geometry": geometry,
                     "pm25_rate_nominal": float(rng.uniform(lo, hi)), "stack_height": h,
                     "stack_diameter": d, "exit_velocity": v, "exit_temperature": t,
                     "half_side": half})
        placed.append((x, y))
    return pd.DataFrame(rows)


def _other_emissions(roads, construction, year: int) -> pd.DataFrame:
    """Road and construction dust emissions in the canonical Emissions format [kg/year]."""
    # roads: PM (road dust + exhaust) 0.25 g per vehicle-km (AP-42 §13.2.1 order of
    # magnitude for paved roads at low silt loading), NOx 0.6 g/veh-km
    vkt = roads["aadt"].to_numpy() * 365.0 * roads["length_m"].to_numpy() / 1000.0
    road_pm = vkt * 0.25 / 1000.0
    road_nox = vkt * 0.6 / 1000.0
    # construction: AP-42 §13.2.3, 1.2 tons TSP per acre per month = 2.69 t/ha/month,
    # with 50 % control by watering, active 6 months of the year
    hectares = construction["area_m2"].to_numpy() / 1e4
    site_pm = hectares * 2690.0 * 0.5 * 6.0
    rows = []
    period = str(year)
    for ids, sections, pollutant, values, note in (
            (roads["source_id"], "道路扬尘与尾气 road dust and exhaust", "PM", road_pm,
             "0.25 g/veh-km × AADT × 365 × length (AP-42 13.2.1 order of magnitude)"),
            (roads["source_id"], "机动车尾气 vehicle exhaust", "NOx", road_nox,
             "0.6 g/veh-km × AADT × 365 × length"),
            (construction["source_id"], "施工扬尘 construction dust", "PM", site_pm,
             "AP-42 13.2.3: 2.69 t/ha/month × 50 % control × 6 months")):
        for source_id, value in zip(ids, values, strict=True):
            rows.append({"enterprise_id": source_id, "period": period, "section": sections,
                         "pollutant": pollutant, "pollutant_category": "废气",
                         "generation": float(value), "removal": 0.0, "emission": float(value),
                         "method": "estimate", "library": "", "coefficient_row": "",
                         "treatment": "", "removal_efficiency": 0.0, "k": np.nan,
                         "note": note})
    return pd.DataFrame(rows)


def _true_sources(enterprises, roads, construction, unregistered, rng) -> pd.DataFrame:
    """Every source with its true mean PM2.5 rate [g/s] (before the time profile)."""
    to_g_s = 1000.0 / (8760 * 3600.0)
    jitter = lambda n: rng.uniform(0.85, 1.15, n)  # noqa: E731
    e = enterprises
    enterprise_rate = (e["true_pm"].to_numpy() * to_g_s
                       * np.where(e["sector"] == "boiler", PM25_FRACTION_TRUE["boiler"],
                                  PM25_FRACTION_TRUE["industry"]) * jitter(len(e)))
    frames = [pd.DataFrame({
        "source_id": e["enterprise_id"], "kind": "point", "sector": e["sector"],
        "industry_code": e["industry_code"], "behaviour": e["behaviour"],
        "lon": e["lon"], "lat": e["lat"], "x": e["x"], "y": e["y"],
        "base_rate": enterprise_rate, "activity_factor": e["activity_factor"],
        "true_k": e["true_k"], "is_power": e["is_power"],
        "designed_hotspot": e["behaviour"] != "honest",
        "stack_height": e["stack_height"], "stack_diameter": e["stack_diameter"],
        "exit_velocity": e["exit_velocity"], "exit_temperature": e["exit_temperature"],
    })]
    vkt = roads["aadt"].to_numpy() * 365.0 * roads["length_m"].to_numpy() / 1000.0
    frames.append(pd.DataFrame({
        "source_id": roads["source_id"], "kind": "line", "sector": "traffic", "industry_code": "",
        "behaviour": "honest", "lon": roads["lon"], "lat": roads["lat"],
        "x": [float(np.mean(v)) for v in roads["x"]], "y": [float(np.mean(v)) for v in roads["y"]],
        "base_rate": vkt * 0.25 / 1000 * to_g_s * PM25_FRACTION_TRUE["traffic"]
        * jitter(len(roads)),
        "activity_factor": 1.0, "true_k": np.nan, "is_power": False, "designed_hotspot": False,
    }))
    hectares = construction["area_m2"].to_numpy() / 1e4
    frames.append(pd.DataFrame({
        "source_id": construction["source_id"], "kind": "area", "sector": "dust",
        "industry_code": "", "behaviour": "honest", "lon": construction["lon"],
        "lat": construction["lat"], "x": construction["x0"], "y": construction["y0"],
        "base_rate": hectares * 2690.0 * 0.5 * 6.0 * to_g_s * PM25_FRACTION_TRUE["dust"]
        * jitter(len(construction)),
        "activity_factor": 1.0, "true_k": np.nan, "is_power": False, "designed_hotspot": False,
    }))
    u = unregistered
    frames.append(pd.DataFrame({
        "source_id": u["source_id"], "kind": u["kind"], "sector": u["sector"],
        "industry_code": "", "behaviour": "unregistered", "lon": u["lon"], "lat": u["lat"],
        "x": u["x"], "y": u["y"], "base_rate": u["pm25_rate_nominal"],
        "activity_factor": 1.0, "true_k": np.nan, "is_power": False, "designed_hotspot": True,
        "stack_height": u["stack_height"], "stack_diameter": u["stack_diameter"],
        "exit_velocity": u["exit_velocity"], "exit_temperature": u["exit_temperature"],
    }))
    return pd.concat(frames, ignore_index=True)


def _inventory_rate(sources, enterprises, other_emissions) -> np.ndarray:
    """The PM2.5 rate [g/s] the inventory will hold for each source (annual PM × the
    inventory's size fraction, :mod:`sourcegrid.inventory.fractions`); 0 if unregistered."""
    from sourcegrid.inventory.fractions import size_fraction

    pm = pd.concat([
        pd.Series(enterprises["accounted_pm"].to_numpy(), index=enterprises["enterprise_id"]),
        other_emissions.loc[other_emissions["pollutant"] == "PM"].set_index("enterprise_id")[
            "emission"]])
    fraction = sources["sector"].map(lambda s: size_fraction(s, "PM2.5")).to_numpy()
    kg = pm.reindex(sources["source_id"]).fillna(0.0).to_numpy()
    return kg * fraction * 1000.0 / (8760 * 3600.0)


def _profiles(sources, hours_local: pd.DatetimeIndex, u10, rain, rng) -> np.ndarray:
    """Hourly emission factor (n_sources × n_hours), mean ≈ 1 before shutdowns."""
    hour = hours_local.hour.to_numpy()
    weekday = hours_local.dayofweek.to_numpy()
    day = (hours_local.normalize() - hours_local[0].normalize()).days.to_numpy()
    n_days = int(day.max()) + 1
    n = len(sources)
    sector = sources["sector"].to_numpy()
    is_power = sources["is_power"].to_numpy(bool)
    shape = np.ones((n, len(hour)))
    # manufacturing: day shift 08–18, evening 18–22, little at night; Sunday off, Saturday 0.8
    day_shift = np.where((hour >= 8) & (hour < 18), 1.6, np.where((hour >= 18) & (hour < 22),
                                                                  0.8, 0.25))
    week = np.where(weekday == 6, 0.3, np.where(weekday == 5, 0.8, 1.0))
    two_shift = rng.random(n) < 0.3
    manufacturing = np.where(two_shift[:, None], np.where((hour >= 6) & (hour < 22), 1.3, 0.4
                                                          )[None, :], day_shift[None, :])
    manufacturing = manufacturing * week[None, :]
    heating = np.where(((hour >= 5) & (hour < 9)) | ((hour >= 17) & (hour < 22)), 1.3,
                       np.where((hour >= 9) & (hour < 17), 0.9, 0.75))
    traffic = np.interp(hour, [0, 3, 6, 8, 10, 13, 17, 19, 22, 24],
                        [0.35, 0.2, 0.6, 1.7, 1.2, 1.1, 1.8, 1.4, 0.7, 0.35])
    traffic = traffic * np.where(weekday >= 5, 0.85, 1.0)
    construction = np.where((hour >= 7) & (hour < 19), 2.0, 0.05) * np.where(
        np.nan_to_num(rain) > 0.2, 0.1, 1.0)
    industry = sector == "industry"
    shape[industry] = manufacturing[industry]
    shape[sector == "boiler"] = heating[None, :]
    shape[is_power] = (1.0 + 0.1 * np.sin(2 * np.pi * (hour - 14) / 24))[None, :]
    shape[sector == "traffic"] = traffic[None, :]
    shape[sector == "dust"] = construction[None, :]
    # unregistered schedules
    night = ((hour >= 20) | (hour < 5)).astype(float)
    burn_days = rng.random((n, n_days)) < 0.5
    evening = ((hour >= 17) & (hour < 24)).astype(float)
    wind_dust = np.clip((u10 / 3.0) ** 2, 0.2, 4.0) * ((hour >= 6) & (hour < 20))
    shape[sector == "foundry"] = night[None, :] * 2.6
    burning = sector == "burning"
    shape[burning] = (evening[None, :] * burn_days[:, day] * 3.4)[burning]
    shape[sector == "yard"] = wind_dust[None, :]
    # normalise the schedules to mean 1 over the window (the rate is a window mean)
    mean = shape.mean(axis=1, keepdims=True)
    shape = shape / np.where(mean > 0, mean, 1.0)
    # shutdowns: random days (4 % of days) per manufacturer and boiler; Spring Festival
    # (2017-01-27..02-02) at a fifth for manufacturing
    shutdown = rng.random((n, n_days)) < 0.04          # about one day in 25
    shutdown[~np.isin(sector, ["industry", "boiler"]) | is_power] = False
    festival = np.asarray((hours_local >= "2017-01-27") & (hours_local < "2017-02-03"))
    factor = np.where(shutdown[:, day], 0.03, 1.0)
    factor = np.where(industry[:, None] & festival[None, :], 0.2 * factor, factor)
    noise = rng.lognormal(0.0, 0.15, shape.shape)
    return shape * factor * noise


def _points(sources, roads, construction, unregistered, spec, rng) -> tr.SourcePoints:
    """Emission points: stacks, road sub-points every ~1 km, area sub-points on a grid."""
    index = {sid: i for i, sid in enumerate(sources["source_id"])}
    parts = []

    def add(x, y, parent, share, height, diameter=0.0, velocity=0.0, temperature=293.0,
            extent=0.0):
        x = np.atleast_1d(np.asarray(x, float))
        m = len(x)
        full = lambda v: np.broadcast_to(np.asarray(v, float), (m,)).copy()  # noqa: E731
        parts.append((x, np.atleast_1d(np.asarray(y, float)), full(parent), full(share),
                      full(height), full(diameter), full(velocity), full(temperature),
                      full(extent)))

    stacks = sources.loc[sources["kind"] == "point"]
    add(stacks["x"], stacks["y"], stacks.index.to_numpy(), 1.0, stacks["stack_height"],
        stacks["stack_diameter"], stacks["exit_velocity"], stacks["exit_temperature"], 0.0)
    for _, road in roads.iterrows():
        x, y = np.asarray(road["x"]), np.asarray(road["y"])
        seg = np.hypot(np.diff(x), np.diff(y))
        cumulative = np.concatenate([[0.0], np.cumsum(seg)])
        n_sub = max(int(np.ceil(cumulative[-1] / 1000.0)), 1)
        step = cumulative[-1] / n_sub
        at = (np.arange(n_sub) + 0.5) * step
        add(np.interp(at, cumulative, x), np.interp(at, cumulative, y),
            index[road["source_id"]], 1.0 / n_sub, 1.0, extent=step)
    for _, site in construction.iterrows():
        u, v = np.meshgrid((np.arange(3) - 1) * site["a"] / 3, (np.arange(3) - 1) * site["b"] / 3)
        c, s = np.cos(site["angle"]), np.sin(site["angle"])
        x = site["x0"] + u.ravel() * c - v.ravel() * s
        y = site["y0"] + u.ravel() * s + v.ravel() * c
        add(x, y, index[site["source_id"]], 1.0 / 9, 2.0,
            extent=np.sqrt(site["area_m2"] / 9))
    for _, hidden in unregistered.loc[unregistered["kind"] == "area"].iterrows():
        half = hidden["half_side"]
        u, v = np.meshgrid([-half / 2, half / 2], [-half / 2, half / 2])
        add(hidden["x"] + u.ravel(), hidden["y"] + v.ravel(), index[hidden["source_id"]], 0.25,
            5.0 if hidden["sector"] == "burning" else 2.0, extent=half)
    columns = [np.concatenate([part[i] for part in parts]) for i in range(9)]
    x, y, parent, share, height, diameter, velocity, temperature, extent = columns
    rate = share * sources["base_rate"].to_numpy()[parent.astype(np.int64)]
    return tr.SourcePoints(x=x, y=y, parent=parent.astype(np.int64), rate=rate,
                           stack_height=np.maximum(height, 1.0), stack_diameter=diameter,
                           exit_velocity=velocity, exit_temperature=np.maximum(temperature, 250.0),
                           extent=extent)


def _direction_offsets(points, sources, n_hours, rng, spec) -> np.ndarray:
    """Wind-direction perturbation [degree] per source and hour: a spatially coherent
    curvature of the flow (hourly, linear across the region) plus per source-hour noise."""
    min_x, _, max_x, _ = spec.bounds
    curvature = rng.normal(0, 6.0, n_hours)
    position = (sources["x"].to_numpy() - (min_x + max_x) / 2) / (max_x - min_x) * 2
    offset = position[:, None] * curvature[None, :]
    offset += rng.normal(0, 6.0, (len(sources), n_hours))
    return offset


def _cloud(n_hours: int, rng, rain, rh) -> np.ndarray:
    """Cloud cover [oktas] as a persistent random walk; rain → 8, near-saturation → ≥ 7."""
    steps = np.where(rng.random(n_hours) < 0.5, -1, 1) * (rng.random(n_hours) < 0.4)
    jumps = rng.random(n_hours) < 0.05
    values = np.empty(n_hours)
    level = float(rng.integers(0, 9))
    draws = rng.integers(0, 9, n_hours)
    for i in range(n_hours):   # n_hours steps of a scalar walk (not a hot path: ~700 steps)
        level = float(draws[i]) if jumps[i] else float(np.clip(level + steps[i], 0, 8))
        values[i] = level
    values = np.where(np.nan_to_num(rain) > 0, 8.0, values)
    return np.where(np.nan_to_num(rh) > 95, np.maximum(values, 7.0), values)


def _monitors(sizes, rng, spec, cells, enterprises, unregistered, sources_true) -> pd.DataFrame:
    """Reference stations at county seats; micro-stations beside them (co-located for
    calibration), beside every suspect source, around the parks and anywhere."""
    min_x, min_y, max_x, max_y = spec.bounds
    seats = pd.DataFrame(_COUNTY_SEATS, columns=["county_code", "lon", "lat"])
    sx, sy = spec.to_xy(seats["lon"].to_numpy(), seats["lat"].to_numpy())
    inside = (sx > min_x + 1500) & (sx < max_x - 1500) & (sy > min_y + 1500) & (sy < max_y - 1500)
    sx, sy = sx[inside], sy[inside]
    n_ref = sizes["reference"]
    extra = max(n_ref - len(sx), 0)
    rx = np.concatenate([sx, rng.uniform(min_x + 6000, max_x - 6000, extra)])[:n_ref]
    ry = np.concatenate([sy, rng.uniform(min_y + 6000, max_y - 6000, extra)])[:n_ref]
    rx = rx + rng.normal(0, 400, len(rx))
    ry = ry + rng.normal(0, 400, len(ry))
    # micro-stations: two beside every suspect (designed) source, 40 % around parks, the rest
    # anywhere
    suspects = sources_true.loc[sources_true["designed_hotspot"]]
    n_micro = sizes["micro"]
    bearing = rng.uniform(0, 2 * np.pi, (len(suspects), 2))
    distance = rng.uniform(400, 1200, (len(suspects), 2))
    near_x = (suspects["x"].to_numpy()[:, None] + distance * np.sin(bearing)).ravel()
    near_y = (suspects["y"].to_numpy()[:, None] + distance * np.cos(bearing)).ravel()
    parks = _park_xy(spec)
    n_park = int(0.4 * n_micro)
    park = rng.integers(0, len(parks), n_park)
    park_x = parks[park, 0] + rng.normal(0, 1, n_park) * parks[park, 2] * 1.5
    park_y = parks[park, 1] + rng.normal(0, 1, n_park) * parks[park, 2] * 1.5
    # one micro-station co-located with each reference station (within ~150 m), as bureaus
    # do to calibrate them
    co_x = rx + rng.normal(0, 100, len(rx))
    co_y = ry + rng.normal(0, 100, len(ry))
    n_rest = max(n_micro - len(co_x) - len(near_x) - n_park, 0)
    mx = np.concatenate([co_x, near_x, park_x,
                         rng.uniform(min_x + 500, max_x - 500, n_rest)])[:n_micro]
    my = np.concatenate([co_y, near_y, park_y,
                         rng.uniform(min_y + 500, max_y - 500, n_rest)])[:n_micro]
    x = np.clip(np.concatenate([rx, mx]), min_x + 100, max_x - 100)
    y = np.clip(np.concatenate([ry, my]), min_y + 100, max_y - 100)
    lon, lat = spec.to_lonlat(x, y)
    kind = np.array(["reference"] * len(rx) + ["micro"] * len(mx))
    ids = np.concatenate([[f"REF{i + 1:02d}" for i in range(len(rx))],
                          [f"MS{i + 1:03d}" for i in range(len(mx))]])
    return pd.DataFrame({"site_id": ids, "site_kind": kind, "lon": np.round(lon, 5),
                         "lat": np.round(lat, 5), "height": np.where(kind == "reference", 10.0,
                                                                     3.0)})


def _long(times, site_ids, kinds, lon, lat, pollutant, values, unit, keep) -> pd.DataFrame:
    n_sites, n_hours = values.shape
    return pd.DataFrame({
        "time": np.tile(times, n_sites)[keep.ravel()],
        "site_id": np.repeat(site_ids, n_hours)[keep.ravel()],
        "site_kind": np.repeat(kinds, n_hours)[keep.ravel()],
        "lon": np.repeat(lon, n_hours)[keep.ravel()],
        "lat": np.repeat(lat, n_hours)[keep.ravel()],
        "pollutant": pollutant,
        "value": values.ravel()[keep.ravel()],
        "unit": unit,
    })


def _gaps(n_sites: int, n_hours: int, rng, outages: float, long_share: float) -> np.ndarray:
    """True where a reading exists: random outages of 2–48 h and some week-long gaps."""
    keep = np.ones((n_sites, n_hours), bool)
    count = rng.poisson(outages, n_sites)
    site = np.repeat(np.arange(n_sites), count)
    begin = rng.integers(0, n_hours, len(site))
    length = rng.integers(2, 49, len(site))
    long_gap = rng.random(n_sites) < long_share
    site = np.concatenate([site, np.flatnonzero(long_gap)])
    begin = np.concatenate([begin, rng.integers(0, n_hours, int(long_gap.sum()))])
    length = np.concatenate([length, np.full(int(long_gap.sum()), 168)])
    hours = np.arange(n_hours)
    for s, b, n in zip(site, begin, length, strict=True):   # a few dozen outages
        keep[s, (hours >= b) & (hours < b + n)] = False
    return keep


def _station_readings(monitors, times, background, contribution, bg_pm10, rh, temperature_c,
                      rng, background_city):
    """Readings of the fixed stations = background + Σ contributions + instrument error."""
    n_sites, n_hours = contribution.shape
    true = background + contribution
    kind = monitors["site_kind"].to_numpy()
    reference = kind == "reference"
    day = np.arange(n_hours) / 24.0
    # reference: ±3 % gain noise and 2 µg/m³ noise (HJ 653 class instruments)
    # micro-stations: the errors left after the factory / co-location calibration every
    # bureau does before deploying a low-cost PM sensor (HJ 1263-2022 asks a slope within
    # 1 ± 0.2 of the reference; US EPA (2021) sensor targets: slope 1 ± 0.35, intercept
    # within ±5 µg/m³, RMSE ≤ 7 µg/m³): gain error sd 10 % (kept within ±20 %), offset sd
    # 2.5 µg/m³, drift sd 0.1 µg/m³ per day (±3 µg/m³ over a month) and a residual
    # humidity response of up to +25 % at saturation. A gain of 0.8–1.3 (the raw,
    # uncalibrated spread) made most "hotspots" out of sensors reading 25 % high.
    gain = np.where(reference, 1.0, np.clip(rng.normal(1.0, 0.10, n_sites), 0.8, 1.2))
    bias = np.where(reference, 0.0, rng.normal(0.0, 2.5, n_sites))
    drift = np.where(reference, 0.0, rng.normal(0.0, 0.1, n_sites))
    rh_coefficient = np.where(reference, 0.0, rng.uniform(0.0, 0.25, n_sites))
    noise_base = np.where(reference, 2.0, 3.0)
    noise_rel = np.where(reference, 0.03, 0.06)
    site_rh = np.clip(rh[None, :] + rng.normal(0, 2.0, (n_sites, 1)), 5, 100)
    humidity = 1.0 + rh_coefficient[:, None] * np.clip(site_rh - 60.0, 0, None) / 40.0
    sd = noise_base[:, None] + noise_rel[:, None] * true
    error_free = gain[:, None] * true * humidity + bias[:, None] + drift[:, None] * day[None, :]
    measured = np.round(np.maximum(error_free + rng.normal(0, 1, true.shape) * sd, 0.0), 1)
    keep = _gaps(n_sites, n_hours, rng, outages=2.0, long_share=0.05)
    keep[reference] = rng.random((int(reference.sum()), n_hours)) > 0.01
    ids, lon, lat = (monitors[c].to_numpy() for c in ("site_id", "lon", "lat"))
    frames = [_long(times, ids, kind, lon, lat, "PM2.5", measured, "µg/m³", keep)]
    # reference stations: PM10, RH, TEMP too
    r = np.flatnonzero(reference)
    gradient = background[r] / np.maximum(background_city[None, :], 1e-9)
    pm10_true = bg_pm10[None, :] * gradient + contribution[r] * 1.6
    pm10 = np.round(np.maximum(pm10_true * (1 + rng.normal(0, 0.03, pm10_true.shape)),
                               measured[r] * 1.05), 1)
    sub = (times, ids[r], kind[r], lon[r], lat[r])
    frames.append(_long(*sub, "PM10", pm10, "µg/m³", keep[r]))
    frames.append(_long(*sub, "RH", np.round(site_rh[r], 1), "%", keep[r]))
    temp = np.round(temperature_c[None, :] + rng.normal(0, 0.3, (len(r), n_hours)), 1)
    frames.append(_long(*sub, "TEMP", temp, "°C", keep[r]))
    readings = pd.concat(frames, ignore_index=True)
    truth = pd.DataFrame({
        "site_id": np.repeat(ids, n_hours), "site_kind": np.repeat(kind, n_hours),
        "time": np.tile(times, n_sites), "lon": np.repeat(lon, n_hours),
        "lat": np.repeat(lat, n_hours), "background": background.ravel(),
        "contribution": contribution.ravel(), "true_value": true.ravel(),
        "error_free": error_free.ravel(), "noise_sd": sd.ravel(), "reported": keep.ravel(),
    })
    instruments = pd.DataFrame({"site_id": ids, "site_kind": kind, "gain": gain, "bias": bias,
                                "drift_per_day": drift, "rh_coefficient": rh_coefficient,
                                "noise_base": noise_base, "noise_relative": noise_rel})
    return readings, truth, instruments


def _mobile_readings(sizes, roads, spec, times, hours_local, points, met, profile,
                     direction_offset, sigma_y_factor, sigma_z_factor, bg_city, gradient, rng):
    """Taxi tracks: positions along roads every few minutes, 08–18 Beijing time."""
    minutes = sizes["mobile_minutes"]
    n_taxis = sizes["taxis"]
    local_hour = hours_local.hour.to_numpy()
    active = np.flatnonzero((local_hour >= 8) & (local_hour < 18))
    per_hour = 60 // minutes
    hour = np.repeat(active, per_hour)
    minute = np.tile(np.arange(per_hour) * minutes, len(active))
    frames, truths = [], []
    for taxi in range(n_taxis):
        road = roads.iloc[taxi % len(roads)]
        x, y = np.asarray(road["x"]), np.asarray(road["y"])
        cumulative = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        length = cumulative[-1]
        speed = rng.uniform(25, 40) / 3.6                      # [m/s]
        elapsed = (hour - active[0]) * 3600.0 + minute * 60.0
        s = (rng.uniform(0, 2 * length) + speed * elapsed) % (2 * length)
        s = np.where(s > length, 2 * length - s, s)            # back and forth
        px = np.interp(s, cumulative, x) + rng.normal(0, 15, len(s))
        py = np.interp(s, cumulative, y) + rng.normal(0, 15, len(s))
        contribution = tr.moving_contributions(
            points, px, py, np.full(len(px), 2.0), hour, met, emission=profile,
            direction_offset=direction_offset, sigma_y_factor=sigma_y_factor,
            sigma_z_factor=sigma_z_factor)
        background = gradient(px, py) * bg_city[hour]
        true = background + contribution
        gain = rng.uniform(0.9, 1.1)
        sd = 2.0 + 0.08 * true
        value = np.round(np.maximum(gain * true + rng.normal(0, 1, len(true)) * sd, 0), 1)
        lon, lat = spec.to_lonlat(px, py)
        time = times[hour] + pd.to_timedelta(minute, unit="min")
        site = f"TAXI{taxi + 1:02d}"
        frames.append(pd.DataFrame({"time": time, "site_id": site, "site_kind": "mobile",
                                    "lon": np.round(lon, 6), "lat": np.round(lat, 6),
                                    "pollutant": "PM2.5", "value": value, "unit": "µg/m³"}))
        truths.append(pd.DataFrame({"site_id": site, "site_kind": "mobile", "time": time,
                                    "lon": lon, "lat": lat, "background": background,
                                    "contribution": contribution, "true_value": true,
                                    "error_free": gain * true, "noise_sd": sd,
                                    "reported": True}))
    return pd.concat(frames, ignore_index=True), pd.concat(truths, ignore_index=True)


def _met_tables(reference, times, u10, wind_from, temperature_c, rh, pressure, rain, rng):
    """Wind and meteorology tables at the reference stations (site-level noise)."""
    n_sites, n_hours = len(reference), len(times)
    ids = np.repeat(reference["site_id"].to_numpy(), n_hours)
    lon = np.repeat(reference["lon"].to_numpy(), n_hours)
    lat = np.repeat(reference["lat"].to_numpy(), n_hours)
    time = np.tile(times, n_sites)
    speed = np.round(np.tile(u10, n_sites) * rng.lognormal(0, 0.1, n_sites * n_hours), 1)
    direction = np.round((np.tile(wind_from, n_sites) + rng.normal(0, 8, n_sites * n_hours))
                         % 360.0, 0)
    wind = pd.DataFrame({"time": time, "site_id": ids, "lon": lon, "lat": lat,
                         "wind_speed": speed, "wind_dir": direction})
    met = pd.DataFrame({
        "time": time, "site_id": ids,
        "temperature": np.round(np.tile(temperature_c, n_sites)
                                + rng.normal(0, 0.3, n_sites * n_hours), 1),
        "rh": np.round(np.clip(np.tile(rh, n_sites) + rng.normal(0, 2, n_sites * n_hours), 5,
                               100), 1),
        "pressure": np.round(np.tile(pressure, n_sites), 1),
        "rain": np.round(np.tile(np.nan_to_num(rain), n_sites), 1),
    })
    return wind, met


def _sources_table(enterprises, roads, construction, rng) -> pd.DataFrame:
    """The registered sources table (contract columns); some stack parameters left blank."""
    e = enterprises
    n = len(e)
    table = pd.DataFrame({
        "source_id": e["enterprise_id"], "name": e["enterprise_name"], "kind": "point",
        "lon": e["lon"], "lat": e["lat"], "geometry": "",
        "stack_height": e["stack_height"].astype(float),
        "stack_diameter": e["stack_diameter"].astype(float),
        "exit_velocity": e["exit_velocity"].astype(float),
        "exit_temperature": e["exit_temperature"].astype(float),
        "industry_code": e["industry_code"], "sector": e["sector"], "defaults_used": "",
    })
    # about one in eight enterprises did not report one or more stack parameters
    stack = ["stack_height", "stack_diameter", "exit_velocity", "exit_temperature"]
    missing = rng.random((n, 4)) < 0.05
    missing[rng.random(n) < 0.04] = True
    designed = (e["behaviour"] != "honest").to_numpy()
    missing[designed] = False
    for j, column in enumerate(stack):
        table.loc[missing[:, j], column] = np.nan
    lines = pd.DataFrame({
        "source_id": roads["source_id"], "name": roads["name"], "kind": "line",
        "lon": roads["lon"], "lat": roads["lat"], "geometry": roads["geometry"],
        "stack_height": 1.0, "stack_diameter": np.nan, "exit_velocity": np.nan,
        "exit_temperature": np.nan, "industry_code": "", "sector": "traffic",
        "defaults_used": ""})
    areas = pd.DataFrame({
        "source_id": construction["source_id"], "name": construction["name"], "kind": "area",
        "lon": construction["lon"], "lat": construction["lat"],
        "geometry": construction["geometry"], "stack_height": 2.0, "stack_diameter": np.nan,
        "exit_velocity": np.nan, "exit_temperature": np.nan, "industry_code": "",
        "sector": "dust", "defaults_used": ""})
    return pd.concat([table, lines, areas], ignore_index=True)


def main_sources(truth: Truth, cells=None, start=None, end=None) -> pd.DataFrame:
    """The true main source of each cell: the largest total contribution to its excess.

    Parameters
    ----------
    truth : Truth
        ``city.truth``.
    cells : sequence of cell ids or DataFrame with ``cell_id``, optional
        Cells to report (default every cell with a contribution).
    start, end : str or Timestamp, optional
        Window [start, end) (naive = Beijing time).

    Returns
    -------
    DataFrame
        cell_id, source_id, kind (registered | unregistered), behaviour, contribution
        [µg/m³, mean over the window's hours], excess [µg/m³, mean Σ contributions],
        share (contribution / excess), second_source, second_share.
    """
    frame = truth.contributions
    hours = truth.background["time"]
    if start is not None or end is not None:
        def utc(value):
            stamp = pd.Timestamp(value)
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize("Asia/Shanghai")
            return stamp.tz_convert("UTC")
        mask = pd.Series(True, index=frame.index)
        hour_mask = pd.Series(True, index=hours.index)
        if start is not None:
            mask &= frame["time"] >= utc(start)
            hour_mask &= hours >= utc(start)
        if end is not None:
            mask &= frame["time"] < utc(end)
            hour_mask &= hours < utc(end)
        frame = frame.loc[mask]
        hours = hours.loc[hour_mask]
    n_hours = max(int(hours.nunique()), 1)
    if cells is not None:
        ids = cells["cell_id"] if isinstance(cells, pd.DataFrame) else pd.Series(list(cells))
        frame = frame.loc[frame["cell_id"].isin(set(ids))]
    by_source = frame.groupby(["cell_id", "source_id"], as_index=False)["contribution"].sum()
    by_source["contribution"] /= n_hours
    by_source = by_source.sort_values(["cell_id", "contribution"], ascending=[True, False])
    excess = by_source.groupby("cell_id")["contribution"].sum()
    rank = by_source.groupby("cell_id").cumcount()
    first = by_source.loc[rank == 0].set_index("cell_id")
    second = by_source.loc[rank == 1].set_index("cell_id")
    behaviour = truth.sources.set_index("source_id")["behaviour"]
    out = pd.DataFrame({"cell_id": first.index, "source_id": first["source_id"].to_numpy(),
                        "contribution": first["contribution"].to_numpy()})
    out["kind"] = np.where(behaviour.reindex(out["source_id"]).to_numpy() == "unregistered",
                           "unregistered", "registered")
    out["behaviour"] = behaviour.reindex(out["source_id"]).to_numpy()
    out["excess"] = excess.reindex(out["cell_id"]).to_numpy()
    out["share"] = out["contribution"] / out["excess"]
    out["second_source"] = second["source_id"].reindex(out["cell_id"]).fillna("").to_numpy()
    out["second_share"] = (second["contribution"].reindex(out["cell_id"]).to_numpy()
                           / out["excess"].to_numpy())
    return out.reset_index(drop=True)[["cell_id", "source_id", "kind", "behaviour",
                                       "contribution", "excess", "share", "second_source",
                                       "second_share"]]
