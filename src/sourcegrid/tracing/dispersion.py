"""Dispersion for source tracing: steady Gaussian plume, stability, plume rise, coupling.

What it computes
----------------
- :func:`gaussian_plume` -- the steady-state Gaussian plume with ground reflection and
  an optional mixing lid, with Briggs (1973) open-country (rural) or urban sigmas:

  C = q / (2π u σy σz) · exp(−y² / 2σy²) · V,
  V = exp(−(z − h)² / 2σz²) + exp(−(z + h)² / 2σz²)  (ground reflection);

  with a mixing height L, the images of the lid are added for n = ±1, 2
  (V = Σ_n [exp(−(z − h + 2nL)² / 2σz²) + exp(−(z + h + 2nL)² / 2σz²)]), and when
  σz > 1.6 L the plume is well mixed: C = q / (√(2π) u σy L) · exp(−y²/2σy²)
  (Turner 1970 eq. 5.2, 5.3). A plume above the lid (h ≥ L) gives 0 at the ground.
  q [g/s], u [m/s], lengths [m]; C is returned in **µg/m³** (× 10⁶).
- :data:`BRIGGS_SIGMA` -- σ = a·x·(1 + b·x)^c per class A-F, rural and urban
  (Briggs 1973 as tabulated by Hanna, Briggs and Hosker 1982, Table 4.5; Griffiths
  1994).
- :func:`pasquill_stability` -- Pasquill class A-F from wind speed and the net
  radiation index of Turner's method (solar altitude from time and place, i.e. hour
  and season; cloud cover and ceiling where known).
- :func:`plume_rise` -- Briggs final plume rise from stack height, diameter, exit
  velocity and temperature, with stack-tip downwash (the ISC3 formulation).
- :func:`coupling` -- contribution per unit emission [µg/m³ per g/s] of every source at
  every receptor in every hour, vectorised over (source, receptor) pairs × hours, with
  a distance cut-off and a crosswind cut-off (|y| > 4σy) so that a month of a city
  (thousands of sources, 400 cells, 720 h) is a sparse matrix that fits in memory;
  :func:`grouped_coupling` -- the same summed over groups of sources (the points of a
  line or area source) and of receptors (the monitors of a cell), as a dense
  (groups × cells × hours) array, without the sparse matrix in between.

Limits
------
Flat terrain, steady state within each hour, one wind for the whole domain per hour,
no chemistry, deposition or secondary aerosol, no building downwash, final (not
transitional) plume rise, calms clipped to :data:`MIN_WIND_SPEED`. Line and area
sources are treated as points at their reference coordinates. It is a screening
model for ranking candidates, not a regulatory one: the regulatory model of the US
EPA is **AERMOD** (40 CFR Part 51 Appendix W), and China's guideline HJ 2.2-2018 lists
AERMOD and CALPUFF; use those for permits and impact assessments.

Cost
----
:func:`coupling` evaluates only downwind (x > 1 m) elements inside the distance
cut-off and the ±4σy band; see ``benchmarks/dispersion.py`` for its throughput in
source-receptor-hours per second against a loop over sources.

References
----------
Turner, D. B. (1970). Workbook of Atmospheric Dispersion Estimates. US EPA, Office of
Air Programs, Publication AP-26 (eq. 3.1, 5.2, 5.3; example Problem 1).
Turner, D. B. (1964). A diffusion model for an urban area. J. Appl. Meteor. 3, 83-91
(net radiation index).
Briggs, G. A. (1973). Diffusion estimation for small emissions. ATDL contribution
file No. 79, NOAA ATDL, Oak Ridge (doi:10.2172/5118833).
Hanna, S. R., Briggs, G. A. and Hosker, R. P. (1982). Handbook on Atmospheric
Diffusion. DOE/TIC-11223, Table 4.5.
Griffiths, R. F. (1994). Errors in the use of the Briggs parameterization for
atmospheric dispersion coefficients. Atmospheric Environment 28(17), 2861-2865.
US EPA (1995). User's guide for the Industrial Source Complex (ISC3) dispersion models,
Vol. II, EPA-454/B-95-003b, §1.1.4 (plume rise, stack-tip downwash, wind profile
exponents).
US EPA (2000). Meteorological Monitoring Guidance for Regulatory Modeling Applications,
EPA-454/R-99-005, §6.4.1 (Turner's method, Table 6-4 and 6-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError, SourcegridError

__all__ = [
    "STABILITY_CLASSES",
    "BRIGGS_SIGMA",
    "WIND_PROFILE_EXPONENT",
    "MIN_WIND_SPEED",
    "stability_codes",
    "briggs_sigmas",
    "gaussian_plume",
    "solar_elevation",
    "net_radiation_index",
    "pasquill_stability",
    "wind_at_height",
    "plume_rise",
    "effective_height",
    "Coupling",
    "coupling",
    "grouped_coupling",
    "coupling_loop",
]

#: Pasquill stability classes, most unstable first (codes 0-5).
STABILITY_CLASSES = "ABCDEF"
#: Wind speeds below this are set to it [m/s] (ISC3 sets hourly speeds < 1 m/s to 1 m/s).
MIN_WIND_SPEED = 1.0
#: Downwind distances shorter than this give no contribution [m].
MIN_DISTANCE = 1.0

#: Briggs (1973) sigmas σ = a·x·(1 + b·x)^c [m], x [m], per terrain and class A-F:
#: columns (a_y, b_y, c_y, a_z, b_z, c_z). Source: Hanna, Briggs and Hosker (1982)
#: Table 4.5 ('open-country' = rural, 'urban'); AIChE/CCPS (1999) Table 2-10.
BRIGGS_SIGMA: dict[str, np.ndarray] = {
    "rural": np.array([
        [0.22, 1e-4, -0.5, 0.20, 0.0, 1.0],     # A
        [0.16, 1e-4, -0.5, 0.12, 0.0, 1.0],     # B
        [0.11, 1e-4, -0.5, 0.08, 2e-4, -0.5],   # C
        [0.08, 1e-4, -0.5, 0.06, 1.5e-3, -0.5],  # D
        [0.06, 1e-4, -0.5, 0.03, 3e-4, -1.0],   # E
        [0.04, 1e-4, -0.5, 0.016, 3e-4, -1.0],  # F
    ]),
    "urban": np.array([
        [0.32, 4e-4, -0.5, 0.24, 1e-3, 0.5],    # A
        [0.32, 4e-4, -0.5, 0.24, 1e-3, 0.5],    # B
        [0.22, 4e-4, -0.5, 0.20, 0.0, 1.0],     # C
        [0.16, 4e-4, -0.5, 0.14, 3e-4, -0.5],   # D
        [0.11, 4e-4, -0.5, 0.08, 1.5e-3, -0.5],  # E
        [0.11, 4e-4, -0.5, 0.08, 1.5e-3, -0.5],  # F
    ]),
}

#: Wind profile exponent p of u(z) = u_ref·(z / z_ref)^p per class A-F (ISC3 User's
#: Guide Vol. II, §1.1.5: rural 0.07 0.07 0.10 0.15 0.35 0.55; urban 0.15 0.15 0.20
#: 0.25 0.30 0.30).
WIND_PROFILE_EXPONENT: dict[str, np.ndarray] = {
    "rural": np.array([0.07, 0.07, 0.10, 0.15, 0.35, 0.55]),
    "urban": np.array([0.15, 0.15, 0.20, 0.25, 0.30, 0.30]),
}

#: Potential temperature gradient [K/m] of the stable classes E, F (ISC3 §1.1.4.3).
STABLE_LAPSE = {4: 0.020, 5: 0.035}
GRAVITY = 9.80665  # m/s²


class DispersionError(SourcegridError, ValueError):
    """Dispersion inputs outside their domain."""


def _terrain(terrain: str) -> str:
    if terrain not in BRIGGS_SIGMA:
        raise NotFoundError("terrain", terrain, BRIGGS_SIGMA)
    return terrain


def stability_codes(stability) -> np.ndarray:
    """Stability classes 'A'-'F' (or codes 0-5) as int codes 0-5 (A = 0).

    Raises
    ------
    NotFoundError
        For a class that is not one of A-F (the valid ones are listed).
    """
    array = np.asarray(stability)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 5):
            raise NotFoundError("stability class", str(array[(array < 0) | (array > 5)].flat[0]),
                                list(STABILITY_CLASSES))
        return array.astype(np.int64)
    text = np.char.upper(np.asarray(array, dtype=str))
    codes = np.full(text.shape, -1, dtype=np.int64)
    for code, letter in enumerate(STABILITY_CLASSES):
        codes[text == letter] = code
    if (codes < 0).any():
        raise NotFoundError("stability class", str(text[codes < 0].flat[0]),
                            list(STABILITY_CLASSES))
    return codes


def briggs_sigmas(x, stability, terrain: str = "rural") -> tuple[np.ndarray, np.ndarray]:
    """Briggs (1973) σy and σz [m] at downwind distance x [m] (broadcasting).

    Parameters
    ----------
    x : array_like
        Downwind distance [m]; values ≤ 0 give NaN.
    stability : array_like of str or int
        Pasquill class 'A'-'F' (or 0-5).
    terrain : {'rural', 'urban'}
        Briggs open-country or urban curves.

    References
    ----------
    Briggs (1973); Hanna, Briggs and Hosker (1982), Table 4.5.
    """
    table = BRIGGS_SIGMA[_terrain(terrain)]
    codes = stability_codes(stability)
    x = np.asarray(x, dtype=float)
    a_y, b_y, c_y, a_z, b_z, c_z = (table[codes, i] for i in range(6))
    with np.errstate(invalid="ignore"):
        positive = np.where(x > 0, x, np.nan)
        sigma_y = a_y * positive * (1.0 + b_y * positive) ** c_y
        sigma_z = a_z * positive * (1.0 + b_z * positive) ** c_z
    return sigma_y, sigma_z


def _vertical_factor(z, h, sigma_z, mixing_height):
    """Vertical term V of the plume (ground reflection, lid images, well-mixed limit)."""
    two = 2.0 * sigma_z * sigma_z
    factor = np.exp(-((z - h) ** 2) / two) + np.exp(-((z + h) ** 2) / two)
    if mixing_height is None:
        return factor
    lid = np.asarray(mixing_height, dtype=float)
    for n in (-2, -1, 1, 2):
        shift = 2.0 * n * lid
        factor = factor + np.exp(-((z - h + shift) ** 2) / two) + np.exp(
            -((z + h + shift) ** 2) / two)
    mixed = np.sqrt(2.0 * np.pi) * sigma_z / lid
    factor = np.where(sigma_z > 1.6 * lid, mixed, factor)
    return np.where(h >= lid, 0.0, factor)


def gaussian_plume(q, u, x, y, z, h, stability, terrain: str = "rural",
                   mixing_height=None, *, sigma_y=None, sigma_z=None) -> np.ndarray:
    """Steady Gaussian plume concentration [µg/m³] with ground reflection.

    Parameters
    ----------
    q : array_like
        Emission rate [g/s].
    u : array_like
        Wind speed at release height [m/s] (values below :data:`MIN_WIND_SPEED` are
        raised to it).
    x : array_like
        Downwind distance [m]; x ≤ 1 m gives 0 (receptor upwind or at the source).
    y : array_like
        Crosswind distance [m].
    z : array_like
        Receptor height above ground [m].
    h : array_like
        Effective release height [m] (stack height + plume rise).
    stability : array_like of str or int
        Pasquill class 'A'-'F' (or 0-5).
    terrain : {'rural', 'urban'}
        Briggs (1973) open-country or urban sigmas.
    mixing_height : array_like, optional
        Height of the mixing lid [m]; None = no lid.
    sigma_y, sigma_z : array_like, optional
        Dispersion parameters [m] to use instead of Briggs' (e.g. read from the
        Pasquill-Gifford curves, as Turner's workbook does).

    Returns
    -------
    numpy.ndarray
        Concentration [µg/m³], the broadcast shape of the inputs.

    Notes
    -----
    C = q / (2π u σy σz) · exp(−y²/2σy²) · [exp(−(z−h)²/2σz²) + exp(−(z+h)²/2σz²)]
    (Turner 1970, eq. 3.1), with lid images and the well-mixed limit σz > 1.6 L
    (eq. 5.2, 5.3). Limits: flat terrain, steady state, no chemistry (see the module
    docstring; the regulatory model is AERMOD).

    References
    ----------
    Turner (1970), Workbook of Atmospheric Dispersion Estimates, AP-26; Briggs (1973).
    """
    q = np.asarray(q, dtype=float)
    u = np.maximum(np.asarray(u, dtype=float), MIN_WIND_SPEED)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = np.asarray(z, dtype=float)
    h = np.asarray(h, dtype=float)
    briggs_y, briggs_z = briggs_sigmas(np.where(x > MIN_DISTANCE, x, np.nan), stability, terrain)
    sigma_y = briggs_y if sigma_y is None else np.asarray(sigma_y, dtype=float)
    sigma_z = briggs_z if sigma_z is None else np.asarray(sigma_z, dtype=float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        vertical = _vertical_factor(z, h, sigma_z, mixing_height)
        value = (q / (2.0 * np.pi * u * sigma_y * sigma_z)
                 * np.exp(-(y * y) / (2.0 * sigma_y * sigma_y)) * vertical) * 1e6
    return np.where(np.isfinite(value) & (x > MIN_DISTANCE), value, 0.0)


# ------------------------------------------------------------------------------------
# Stability by Turner's method
# ------------------------------------------------------------------------------------

#: Turner (1964) class (1 = A ... 7 = G) by wind speed [knots] row and net radiation
#: index column (4, 3, 2, 1, 0, -1, -2); EPA-454/R-99-005 Table 6-5.
_TURNER_TABLE = np.array([
    # NRI:  4  3  2  1  0 -1 -2
    [1, 1, 2, 3, 4, 6, 7],   # 0-1 kt
    [1, 2, 2, 3, 4, 6, 7],   # 2-3
    [1, 2, 3, 4, 4, 5, 6],   # 4-5
    [2, 2, 3, 4, 4, 5, 6],   # 6
    [2, 2, 3, 4, 4, 4, 5],   # 7
    [2, 3, 3, 4, 4, 4, 5],   # 8-9
    [3, 3, 4, 4, 4, 4, 5],   # 10
    [3, 3, 4, 4, 4, 4, 4],   # 11
    [3, 4, 4, 4, 4, 4, 4],   # >= 12
])
#: Upper speed [knots] of each row of the table (integer knots, rounded).
_TURNER_SPEED_ROWS = np.array([1, 3, 5, 6, 7, 9, 10, 11])
KNOTS_PER_MS = 1.0 / 0.514444


def solar_elevation(time, lon, lat) -> np.ndarray:
    """Solar elevation angle [degree] at UTC times and places (NOAA low-precision formulas).

    Parameters
    ----------
    time : array_like of datetime
        Times (tz-aware or naive UTC).
    lon, lat : float or array_like
        Place [degree].

    References
    ----------
    Spencer, J. W. (1971). Fourier series representation of the position of the sun.
    Search 2(5), 172 (declination and equation of time); NOAA ESRL General Solar
    Position Calculations.
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(time), utc=True))
    day = stamps.dayofyear.to_numpy(float)
    hours = (stamps.hour + stamps.minute / 60.0 + stamps.second / 3600.0).to_numpy(float)
    gamma = 2.0 * np.pi / 365.0 * (day - 1 + (hours - 12) / 24.0)
    equation = 229.18 * (0.000075 + 0.001868 * np.cos(gamma) - 0.032077 * np.sin(gamma)
                         - 0.014615 * np.cos(2 * gamma) - 0.040849 * np.sin(2 * gamma))
    declination = (0.006918 - 0.399912 * np.cos(gamma) + 0.070257 * np.sin(gamma)
                   - 0.006758 * np.cos(2 * gamma) + 0.000907 * np.sin(2 * gamma)
                   - 0.002697 * np.cos(3 * gamma) + 0.00148 * np.sin(3 * gamma))
    solar_minutes = hours * 60.0 + equation + 4.0 * np.asarray(lon, dtype=float)
    hour_angle = np.deg2rad(solar_minutes / 4.0 - 180.0)
    latitude = np.deg2rad(np.asarray(lat, dtype=float))
    cos_zenith = (np.sin(latitude) * np.sin(declination)
                  + np.cos(latitude) * np.cos(declination) * np.cos(hour_angle))
    return 90.0 - np.rad2deg(np.arccos(np.clip(cos_zenith, -1.0, 1.0)))


def net_radiation_index(elevation, cloud_cover=None, ceiling_height=None) -> np.ndarray:
    """Turner's net radiation index (−2 ... 4).

    Parameters
    ----------
    elevation : array_like
        Solar elevation [degree]; ≤ 0 is night.
    cloud_cover : array_like, optional
        Total cloud cover [tenths, 0-10]; NaN or None = unknown (day: taken as ≤ 5/10,
        night: as > 4/10, i.e. the less extreme classes).
    ceiling_height : array_like, optional
        Cloud ceiling [m]; NaN or None = unknown (taken as ≥ 7000 ft).

    Notes
    -----
    Insolation class by solar altitude: > 60° → 4, 35-60° → 3, 15-35° → 2, ≤ 15° → 1.
    Total cover 10/10 with ceiling < 7000 ft → NRI 0 (day or night). Night: cover
    ≤ 4/10 → −2, else −1. Day with cover > 5/10: subtract 2 for ceiling < 7000 ft,
    1 for 7000-16000 ft, 1 for cover 10/10 above 16000 ft; the day index is at least 1.

    References
    ----------
    Turner (1964); EPA-454/R-99-005 §6.4.1, Table 6-4.
    """
    elevation = np.asarray(elevation, dtype=float)
    shape = elevation.shape
    cover = (np.full(shape, np.nan) if cloud_cover is None
             else np.broadcast_to(np.asarray(cloud_cover, dtype=float), shape))
    ceiling_ft = (np.full(shape, np.nan) if ceiling_height is None
                  else np.broadcast_to(np.asarray(ceiling_height, dtype=float), shape) / 0.3048)
    insolation = np.select([elevation > 60, elevation > 35, elevation > 15], [4, 3, 2], 1)
    known = np.isfinite(cover)
    cloudy = known & (cover > 5)
    minus = np.select([cloudy & (ceiling_ft < 7000), cloudy & (ceiling_ft < 16000),
                       cloudy & (cover >= 10)], [2, 1, 1], 0)
    day = np.maximum(insolation - minus, 1)
    night = np.where(known & (cover <= 4), -2, -1)
    index = np.where(elevation > 0, day, night)
    overcast_low = known & (cover >= 10) & (ceiling_ft < 7000)
    return np.where(overcast_low, 0, index).astype(np.int64)


def pasquill_stability(wind_speed, time=None, *, lon: float = 116.8, lat: float = 38.3,
                       cloud_cover=None, ceiling_height=None, hour=None,
                       season: str | None = None) -> np.ndarray:
    """Pasquill stability class 'A'-'F' by Turner's method.

    Parameters
    ----------
    wind_speed : array_like
        Wind speed at 10 m [m/s].
    time : array_like of datetime, optional
        UTC times; with ``lon``/``lat`` they give the solar elevation (hour and season).
    lon, lat : float
        Place [degree] (default: Cangzhou).
    cloud_cover : array_like, optional
        Total cloud cover [tenths]; unknown when None (see :func:`net_radiation_index`).
    ceiling_height : array_like, optional
        Cloud ceiling [m].
    hour : array_like, optional
        Local solar hour (0-23), used with ``season`` when ``time`` is not given.
    season : {'winter', 'spring', 'summer', 'autumn'}, optional
        With ``hour``: the mid-season day (15 Jan, Apr, Jul, Oct) gives the sun.

    Returns
    -------
    numpy.ndarray of str
        Class letters; Turner's class G (7) is reported as F.

    References
    ----------
    Turner (1964); EPA-454/R-99-005 §6.4.1, Tables 6-4 and 6-5.
    """
    speed = np.asarray(wind_speed, dtype=float)
    if time is not None:
        elevation = solar_elevation(time, lon, lat).reshape(np.shape(time) or (1,))
        if np.ndim(time) == 0:
            elevation = elevation[0]
    elif hour is not None:
        seasons = {"winter": "01-15", "spring": "04-15", "summer": "07-15", "autumn": "10-15"}
        if season not in seasons:
            raise NotFoundError("season", str(season), seasons)
        hours = np.asarray(hour, dtype=float)
        if np.any((hours < 0) | (hours >= 24)):
            raise DispersionError(f"hour must be in [0, 24), got {hours[(hours < 0) | (hours >= 24)].flat[0]}")
        base = pd.Timestamp(f"2001-{seasons[season]}", tz="UTC")
        # local solar hour at lon 0 equals UTC hour
        stamps = base + pd.to_timedelta(np.atleast_1d(hours).ravel(), unit="h")
        elevation = solar_elevation(stamps, 0.0, lat).reshape(np.shape(hours) or (1,))
        if np.ndim(hours) == 0:
            elevation = elevation[0]
    else:
        raise DispersionError("give time (with lon, lat) or hour with season")
    index = net_radiation_index(elevation, cloud_cover, ceiling_height)
    knots = np.rint(np.where(np.isfinite(speed), speed, 0.0) * KNOTS_PER_MS)
    row = np.searchsorted(_TURNER_SPEED_ROWS, knots, side="left")
    column = 4 - np.broadcast_to(index, np.shape(row))
    turner = _TURNER_TABLE[row, column]
    letters = np.asarray(list(STABILITY_CLASSES), dtype="<U1")
    return letters[np.minimum(turner, 6) - 1]


# ------------------------------------------------------------------------------------
# Wind profile and plume rise
# ------------------------------------------------------------------------------------


def wind_at_height(wind_speed, height, stability, terrain: str = "rural",
                   reference_height: float = 10.0) -> np.ndarray:
    """Wind speed at a height by the power law u(z) = u_ref·(z/z_ref)^p [m/s].

    Heights below the reference height take the reference speed (ISC3 §1.1.5).
    """
    exponent = WIND_PROFILE_EXPONENT[_terrain(terrain)][stability_codes(stability)]
    ratio = np.maximum(np.asarray(height, dtype=float), reference_height) / reference_height
    return np.asarray(wind_speed, dtype=float) * ratio ** exponent


def plume_rise(stack_diameter, exit_velocity, exit_temperature, wind_speed, stability,
               ambient_temperature=288.15) -> np.ndarray:
    """Briggs final plume rise [m] (buoyancy or momentum, whichever dominates; ISC3).

    Parameters
    ----------
    stack_diameter : array_like
        Inner diameter at the top [m].
    exit_velocity : array_like
        Exit velocity [m/s].
    exit_temperature : array_like
        Exit temperature [K].
    wind_speed : array_like
        Wind speed at stack top [m/s].
    stability : array_like of str or int
        Pasquill class.
    ambient_temperature : array_like
        Ambient temperature [K].

    Notes
    -----
    F_b = g·v·d²·(T_s − T_a)/(4·T_s), F_m = v²·d²·T_a/(4·T_s). Unstable/neutral:
    Δh = 21.425·F_b^¾/u (F_b < 55), 38.71·F_b^⅗/u (F_b ≥ 55) when ΔT exceeds the
    crossover (0.0297·T_s·v^⅓/d^⅔, resp. 0.00575·T_s·v^⅔/d^⅓), else Δh = 3·d·v/u.
    Stable (E, F; s = g·(dθ/dz)/T_a, dθ/dz = 0.020, 0.035 K/m): Δh = 2.6·(F_b/(u·s))^⅓
    when ΔT > 0.019582·T_s·v·√s, else min(1.5·(F_m/(u·√s))^⅓, 3·d·v/u).

    References
    ----------
    Briggs, G. A. (1975). Plume rise predictions. In: Lectures on Air Pollution and
    Environmental Impact Analyses, AMS, 59-111; ISC3 User's Guide Vol. II
    (EPA-454/B-95-003b) §1.1.4.3.
    """
    d = np.asarray(stack_diameter, dtype=float)
    v = np.asarray(exit_velocity, dtype=float)
    ts = np.asarray(exit_temperature, dtype=float)
    ta = np.asarray(ambient_temperature, dtype=float)
    u = np.maximum(np.asarray(wind_speed, dtype=float), MIN_WIND_SPEED)
    codes = stability_codes(stability)
    with np.errstate(invalid="ignore", divide="ignore"):
        delta_t = np.maximum(ts - ta, 0.0)
        fb = GRAVITY * v * d * d * delta_t / (4.0 * np.where(ts > 0, ts, np.nan))
        fm = v * v * d * d * ta / (4.0 * np.where(ts > 0, ts, np.nan))
        momentum_neutral = 3.0 * d * v / u
        small = fb < 55.0
        crossover = np.where(small, 0.0297 * ts * np.cbrt(v) / d ** (2.0 / 3.0),
                             0.00575 * ts * v ** (2.0 / 3.0) / np.cbrt(d))
        buoyant = np.where(small, 21.425 * fb ** 0.75, 38.71 * fb ** 0.6) / u
        neutral = np.where(delta_t >= crossover, buoyant, momentum_neutral)
        lapse = np.where(codes == 5, STABLE_LAPSE[5], STABLE_LAPSE[4])
        s = GRAVITY * lapse / ta
        stable_crossover = 0.019582 * ts * v * np.sqrt(s)
        stable_buoyant = 2.6 * np.cbrt(fb / (u * s))
        stable_momentum = np.minimum(1.5 * np.cbrt(fm / (u * np.sqrt(s))), momentum_neutral)
        stable = np.where(delta_t > stable_crossover, stable_buoyant, stable_momentum)
        rise = np.where(codes >= 4, stable, neutral)
    return np.where(np.isfinite(rise) & (rise > 0), rise, 0.0)


def effective_height(stack_height, stack_diameter, exit_velocity, exit_temperature,
                     wind_speed, stability, *, ambient_temperature=288.15,
                     terrain: str = "rural") -> np.ndarray:
    """Effective release height [m]: stack height with stack-tip downwash plus plume rise.

    The wind at stack top follows :func:`wind_at_height` from the 10 m wind; stack-tip
    downwash h' = h_s + 2·d·(v/u − 1.5) when v < 1.5·u (Briggs 1974; ISC3 §1.1.4.2).
    Missing stack parameters give a ground-level (h = stack height or 0) release.
    All arguments broadcast (e.g. sources as a column, hours as a row).
    """
    hs = np.nan_to_num(np.asarray(stack_height, dtype=float), nan=0.0)
    d = np.nan_to_num(np.asarray(stack_diameter, dtype=float), nan=0.0)
    v = np.nan_to_num(np.asarray(exit_velocity, dtype=float), nan=0.0)
    ts = np.nan_to_num(np.asarray(exit_temperature, dtype=float), nan=0.0)
    u_top = np.maximum(wind_at_height(wind_speed, hs, stability, terrain), MIN_WIND_SPEED)
    downwash = np.where(v < 1.5 * u_top, 2.0 * d * (v / u_top - 1.5), 0.0)
    tip = np.maximum(hs + downwash, 0.0)
    rise = plume_rise(d, v, ts, u_top, stability, ambient_temperature)
    return np.where(d > 0, tip + rise, hs)


# ------------------------------------------------------------------------------------
# Coupling: contribution per unit emission, sources × receptors × hours
# ------------------------------------------------------------------------------------


@dataclass
class Coupling:
    """Contribution per unit emission [µg/m³ per g/s] of sources at receptors, per hour.

    Attributes
    ----------
    source_index, receptor_index : numpy.ndarray
        The (source, receptor) pairs within the distance cut-off.
    values : scipy.sparse.csr_matrix
        Shape (pairs, hours): the contribution per unit emission of pair p in hour t.
    n_sources, n_receptors, n_hours : int
        Sizes of the full (sources × receptors × hours) array.
    """

    source_index: np.ndarray
    receptor_index: np.ndarray
    values: object
    n_sources: int
    n_receptors: int
    n_hours: int

    @property
    def nnz(self) -> int:
        """Stored non-zero values."""
        return int(self.values.nnz)

    def receptor_series(self, receptor: int) -> np.ndarray:
        """Dense (sources × hours) array of one receptor."""
        rows = np.flatnonzero(self.receptor_index == receptor)
        out = np.zeros((self.n_sources, self.n_hours), dtype=self.values.dtype)
        if rows.size:
            out[self.source_index[rows]] = self.values[rows].toarray()
        return out

    def concentration(self, emission_rate) -> np.ndarray:
        """Σ_s q_s · c_s,r,t: (receptors × hours) concentration [µg/m³] for rates q [g/s]."""
        from scipy import sparse

        rate = np.broadcast_to(np.asarray(emission_rate, dtype=float), (self.n_sources,))
        weights = sparse.csr_matrix((rate[self.source_index], (self.receptor_index,
                                     np.arange(len(self.source_index)))),
                                    shape=(self.n_receptors, len(self.source_index)))
        return np.asarray((weights @ self.values).toarray())

    def to_dense(self) -> np.ndarray:
        """The full (sources × receptors × hours) array (small cases only)."""
        out = np.zeros((self.n_sources, self.n_receptors, self.n_hours),
                       dtype=self.values.dtype)
        out[self.source_index, self.receptor_index] = self.values.toarray()
        return out


def _pairs_within(source_x, source_y, receptor_x, receptor_y, max_distance):
    from scipy.spatial import cKDTree

    sources = np.column_stack([source_x, source_y])
    receptors = np.column_stack([receptor_x, receptor_y])
    if not np.isfinite(max_distance):
        s, r = np.meshgrid(np.arange(len(sources)), np.arange(len(receptors)), indexing="ij")
        return s.ravel(), r.ravel()
    tree = cKDTree(receptors)
    lists = tree.query_ball_point(sources, r=float(max_distance), return_sorted=True)
    lengths = np.fromiter((len(item) for item in lists), dtype=np.int64, count=len(lists))
    source_index = np.repeat(np.arange(len(sources)), lengths)
    receptor_index = (np.concatenate([np.asarray(item, dtype=np.int64) for item in lists])
                      if lengths.sum() else np.zeros(0, dtype=np.int64))
    return source_index, receptor_index


def coupling(source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction,
             stability, *, effective_height=0.0, receptor_height: float = 1.5,
             terrain: str = "rural", mixing_height=None, max_distance: float = 20_000.0,
             sigma_theta_deg: float = 0.0, chunk_elements: int = 500_000,
             dtype=np.float32) -> Coupling:
    """Contribution per unit emission of each source at each receptor and hour.

    Parameters
    ----------
    source_x, source_y : array_like, shape (S,)
        Source positions in a projected CRS [m].
    receptor_x, receptor_y : array_like, shape (R,)
        Receptor positions [m] (same CRS).
    wind_speed : array_like, shape (T,)
        Wind speed at 10 m [m/s], one per hour (one wind for the domain).
    wind_direction : array_like, shape (T,)
        Direction the wind blows from [degree]; NaN = no wind known (no contribution).
    stability : array_like, shape (T,)
        Pasquill class per hour ('A'-'F' or 0-5).
    effective_height : float or array_like, shape (S,) or (S, T)
        Effective release height [m] (see :func:`effective_height`).
    receptor_height : float
        Receptor height above ground [m].
    terrain : {'rural', 'urban'}
        Briggs sigmas.
    mixing_height : array_like, shape (T,), optional
        Mixing height per hour [m].
    max_distance : float
        Pairs farther apart are left out [m] (the distance cut-off).
    sigma_theta_deg : float
        Standard deviation of the wind direction at the source about the one measured
        [degree]: widens the plume as σy² = σy,Briggs² + (x·tan σθ)² (0 = Briggs alone).
        One wind for a whole city is off by several degrees at a source 10 km away; a
        plume that is too narrow makes the fit hinge on single hours.
    chunk_elements : int
        Pair-hours (in the wind-direction window of each pair) computed at once
        (bounds the working memory).
    dtype : numpy dtype
        Type of the stored values (float32 halves the memory).

    Returns
    -------
    Coupling
        Sparse (pairs × hours) values [µg/m³ per g/s]; the wind speed at release
        height follows the power law of :func:`wind_at_height`.

    Notes
    -----
    For pair p and hour t with the wind blowing towards (−sin θ, −cos θ): downwind
    x = Δx·(−sin θ) + Δy·(−cos θ), crosswind y = Δx·cos θ − Δy·sin θ; only elements
    with x > 1 m and |y| < 4σy are evaluated (exp(−8) ≈ 3·10⁻⁴ of the centre line);
    the hours of a pair are found by binary search among the hours sorted by wind
    direction (those within atan(4(a_y + tan σθ)) of the direction carrying the source
    to the receptor), so the cost grows with the elements inside the band, not with
    pairs × hours.
    """
    from scipy import sparse

    elements = _coupling_elements(
        source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction, stability,
        effective_height=effective_height, receptor_height=receptor_height, terrain=terrain,
        mixing_height=mixing_height, max_distance=max_distance,
        sigma_theta_deg=sigma_theta_deg, chunk_elements=chunk_elements, dtype=dtype)
    rows_out, cols_out, data_out = [], [], []
    for rows, cols, value in elements.chunks:
        rows_out.append(rows)
        cols_out.append(cols)
        data_out.append(value.astype(dtype, copy=False))
    if data_out:
        rows = np.concatenate(rows_out)
        cols = np.concatenate(cols_out)
        data = np.concatenate(data_out)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        data = np.zeros(0, dtype=dtype)
    values = sparse.csr_matrix((data, (rows, cols)), shape=(elements.n_pairs, elements.n_hours),
                               dtype=dtype)
    return Coupling(elements.source_index, elements.receptor_index, values,
                    elements.n_sources, elements.n_receptors, elements.n_hours)


def grouped_coupling(source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction,
                     stability, *, receptor_weights, source_group=None, source_weight=None,
                     n_source_groups: int | None = None, effective_height=0.0,
                     receptor_height: float = 1.5, terrain: str = "rural", mixing_height=None,
                     max_distance: float = 20_000.0, sigma_theta_deg: float = 0.0,
                     chunk_elements: int = 500_000, dtype=np.float32) -> np.ndarray:
    """The coupling summed over groups of sources and of receptors, as a dense array.

    out[g, k, t] = Σ_s∈g Σ_r w_s · W[r, k] · c[s, r, t], with c the contribution per
    unit emission of :func:`coupling` (same physics, same cut-offs). A source tracer
    needs exactly this: a line or area source is the weighted sum of its points (groups
    of sources), and a cell's value the weighted mean of its monitors (groups of
    receptors). Accumulating the values as they are computed, without the sparse
    (pairs × hours) matrix, is several times faster than :func:`coupling` followed by
    the sums. When every source has the same effective height and the pairs repeat
    their displacements (sources and receptors on lattices of a common step, such as a
    tracer's virtual sources around a cell's receptor points), the plume is computed
    once per distinct displacement and the sums are one sparse product.

    Parameters
    ----------
    source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction, stability
        As :func:`coupling`.
    receptor_weights : array_like or scipy.sparse matrix, shape (R, K)
        Weight of receptor r in receptor group k (e.g. a monitor in the cells whose
        value it makes).
    source_group : array_like of int, shape (S,), optional
        Group of each source (default: every source its own group).
    source_weight : array_like, shape (S,), optional
        Weight of each source in its group (default 1).
    n_source_groups : int, optional
        Number of source groups (default max(source_group) + 1).
    effective_height, receptor_height, terrain, mixing_height, max_distance,
    sigma_theta_deg, chunk_elements, dtype
        As :func:`coupling` (``dtype`` is the working type of the plume formula).

    Returns
    -------
    numpy.ndarray, shape (G, K, T), float64
        [µg/m³ per g/s].
    """
    from scipy import sparse

    n_sources = len(np.asarray(source_x).ravel())
    group = (np.arange(n_sources, dtype=np.int64) if source_group is None
             else np.asarray(source_group, dtype=np.int64).ravel())
    weight = (np.ones(n_sources) if source_weight is None
              else np.asarray(source_weight, dtype=float).ravel())
    if len(group) != n_sources or len(weight) != n_sources:
        raise DispersionError("source_group and source_weight need one value per source")
    n_groups = int(group.max(initial=-1) + 1) if n_source_groups is None else int(n_source_groups)
    mapping = sparse.csr_matrix(receptor_weights, dtype=float)
    mapping.sum_duplicates()  # canonical: sorted column indices, no duplicates
    n_receptors = len(np.asarray(receptor_x).ravel())
    if mapping.shape[0] != n_receptors:
        raise DispersionError(f"receptor_weights must have one row per receptor "
                              f"({n_receptors}), got {mapping.shape[0]}")
    n_cells = mapping.shape[1]
    # keep only receptors that weigh in some group
    weighted = np.flatnonzero(np.diff(mapping.indptr) > 0)
    physics = dict(receptor_height=receptor_height, terrain=terrain,
                   mixing_height=mixing_height, sigma_theta_deg=sigma_theta_deg,
                   chunk_elements=chunk_elements, dtype=dtype)
    kept_x = np.asarray(receptor_x, float).ravel()[weighted]
    kept_y = np.asarray(receptor_y, float).ravel()[weighted]
    mapping = mapping[weighted]
    shared = _shared_displacements(source_x, source_y, kept_x, kept_y, effective_height,
                                   max_distance)
    if shared is not None:
        return _grouped_by_displacement(shared, group, weight, n_groups, mapping, wind_speed,
                                        wind_direction, stability, effective_height, physics)
    elements = _coupling_elements(
        source_x, source_y, kept_x, kept_y, wind_speed, wind_direction, stability,
        effective_height=effective_height, max_distance=max_distance, **physics)
    n_hours = elements.n_hours
    per_receptor = np.diff(mapping.indptr)
    single = bool(np.all(per_receptor == 1))
    receptor_cell = mapping.indices
    receptor_share = mapping.data
    pair_group = group[elements.source_index]
    pair_weight = weight[elements.source_index]
    pair_receptor = elements.receptor_index
    if single:  # each pair's place in the output and its weight, once per pair
        pair_slot = (pair_group * n_cells + receptor_cell[pair_receptor]) * n_hours
        pair_scale = pair_weight * receptor_share[pair_receptor]
    size = n_groups * n_cells * n_hours
    out = np.zeros(size)
    # the (index, value) of several chunks are summed at once: a bincount costs the size
    # of the output, which must not be paid per chunk
    pending_index, pending_value, pending = [], [], 0

    def flush():
        if pending_index:
            out[:] += np.bincount(np.concatenate(pending_index),
                                  weights=np.concatenate(pending_value), minlength=size)
            pending_index.clear()
            pending_value.clear()

    for rows, cols, value in elements.chunks:
        if single:
            pending_index.append(pair_slot[rows] + cols)
            pending_value.append(value * pair_scale[rows])
        else:  # a receptor in several groups: each value goes to each of them
            receptor = pair_receptor[rows]
            repeat = per_receptor[receptor]
            element = np.repeat(np.arange(len(rows)), repeat)
            within = np.arange(len(element)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
            slot = mapping.indptr[receptor[element]] + within
            cell = receptor_cell[slot]
            base = pair_group[rows[element]]
            pending_index.append((base * n_cells + cell) * n_hours + cols[element])
            pending_value.append(value[element]
                                 * (pair_weight[rows[element]] * receptor_share[slot]))
        pending += len(pending_value[-1])
        if pending >= max(size, int(chunk_elements)):
            flush()
            pending = 0
    flush()
    return out.reshape(n_groups, n_cells, n_hours)


#: Source-receptor displacements closer than this are taken as one [m] (far below the
#: float32 resolution of the plume formula at the distances of a trace).
DISPLACEMENT_TOLERANCE = 1e-4


def _shared_displacements(source_x, source_y, receptor_x, receptor_y, effective_height,
                          max_distance):
    """The pairs within the cut-off and their distinct displacements, when every source
    has the same effective height and the pairs repeat a displacement often enough to
    pay (sources and receptors on lattices of a common step, such as the virtual
    sources of a tracer around a cell's receptor points); None otherwise.

    With one release height for all sources a pair's contribution depends on the
    displacement receptor − source alone (one wind for the domain), so each distinct
    displacement needs the plume formula once.
    """
    heights = np.asarray(effective_height, dtype=float)
    source_x = np.asarray(source_x, dtype=float).ravel()
    source_y = np.asarray(source_y, dtype=float).ravel()
    n_sources = len(source_x)
    if n_sources < 2 or not max_distance > 0:
        return None
    if heights.ndim:
        if heights.shape[0] != n_sources:  # a wrong shape: the plume code reports it
            return None
        rows = heights.reshape(n_sources, -1)
        if not np.all(rows == rows[:1]):
            return None
        heights = rows[:1]
    source_index, receptor_index = _pairs_within(source_x, source_y, receptor_x, receptor_y,
                                                 max_distance)
    if len(source_index) < 2:
        return None
    dx = receptor_x[receptor_index] - source_x[source_index]
    dy = receptor_y[receptor_index] - source_y[source_index]
    key_x = np.round(dx / DISPLACEMENT_TOLERANCE).astype(np.int64)
    key_y = np.round(dy / DISPLACEMENT_TOLERANCE).astype(np.int64)
    order = np.lexsort((key_y, key_x))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (np.diff(key_x[order]) != 0) | (np.diff(key_y[order]) != 0)
    if 2 * int(new.sum()) > len(order):  # fewer than two pairs per displacement
        return None
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    first = order[new]
    return {"source_index": source_index, "receptor_index": receptor_index,
            "inverse": inverse, "dx": dx[first], "dy": dy[first], "height": heights}


def _grouped_by_displacement(shared, group, weight, n_groups, mapping, wind_speed,
                             wind_direction, stability, effective_height, physics):
    """:func:`grouped_coupling` from the coupling of the distinct displacements: one
    source at the origin coupled to a receptor at each displacement, then
    out[g·K + k, t] = Σ_p w_s(p) W[r(p), k] c[u(p), t] as one sparse product."""
    from scipy import sparse

    n_cells = mapping.shape[1]
    height = shared["height"]
    elements = _coupling_elements(
        np.zeros(1), np.zeros(1), shared["dx"], shared["dy"], wind_speed, wind_direction,
        stability, effective_height=height if np.ndim(height) else float(height),
        max_distance=np.inf, **physics)
    n_hours, n_unique = elements.n_hours, elements.n_pairs
    rows_out, cols_out, data_out = [], [], []
    for rows, cols, value in elements.chunks:
        rows_out.append(rows)
        cols_out.append(cols)
        data_out.append(value.astype(np.float64))
    size = (n_groups * n_cells, n_hours)
    if not data_out:
        return np.zeros(size).reshape(n_groups, n_cells, n_hours)
    unit = sparse.csr_matrix((np.concatenate(data_out),
                              (np.concatenate(rows_out), np.concatenate(cols_out))),
                             shape=(n_unique, n_hours))
    # each pair once per group of its receptor
    receptor = shared["receptor_index"]
    repeat = np.diff(mapping.indptr)[receptor]
    pair = np.repeat(np.arange(len(receptor)), repeat)
    within = np.arange(len(pair)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    slot = mapping.indptr[receptor[pair]] + within
    source = shared["source_index"][pair]
    combine = sparse.csr_matrix((weight[source] * mapping.data[slot],
                                 (group[source] * n_cells + mapping.indices[slot],
                                  shared["inverse"][pair])),
                                shape=(size[0], n_unique))
    return (combine @ unit).toarray().reshape(n_groups, n_cells, n_hours)


@dataclass
class _Elements:
    """The non-zero elements of a coupling, computed chunk by chunk."""

    source_index: np.ndarray
    receptor_index: np.ndarray
    n_sources: int
    n_receptors: int
    n_hours: int
    chunks: object  # iterator of (pair rows, hours, values)

    @property
    def n_pairs(self) -> int:
        return len(self.source_index)


def _coupling_elements(source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction,
                       stability, *, effective_height, receptor_height, terrain, mixing_height,
                       max_distance, sigma_theta_deg, chunk_elements, dtype) -> _Elements:
    """The pairs within the cut-off and an iterator over the chunks of their non-zero
    (pair, hour, value) elements (the physics of :func:`coupling`)."""
    source_x = np.asarray(source_x, dtype=float).ravel()
    source_y = np.asarray(source_y, dtype=float).ravel()
    receptor_x = np.asarray(receptor_x, dtype=float).ravel()
    receptor_y = np.asarray(receptor_y, dtype=float).ravel()
    speed = np.asarray(wind_speed, dtype=float).ravel()
    direction = np.asarray(wind_direction, dtype=float).ravel()
    n_sources, n_receptors, n_hours = len(source_x), len(receptor_x), len(speed)
    if len(direction) != n_hours:
        raise DispersionError("wind_speed and wind_direction differ in length")
    codes = np.broadcast_to(stability_codes(stability), (n_hours,))
    table = BRIGGS_SIGMA[_terrain(terrain)]
    exponent = WIND_PROFILE_EXPONENT[terrain][codes]
    heights = np.asarray(effective_height, dtype=float)
    if heights.ndim == 0:
        heights = np.full((n_sources, 1), float(heights))
    elif heights.ndim == 1:
        heights = heights.reshape(-1, 1)
    if heights.shape[0] != n_sources or heights.shape[1] not in (1, n_hours):
        raise DispersionError(f"effective_height must be scalar, (S,) or (S, T); got "
                              f"{heights.shape} for S={n_sources}, T={n_hours}")
    per_hour_height = heights.shape[1] == n_hours
    lid = None if mixing_height is None else np.broadcast_to(
        np.asarray(mixing_height, dtype=float), (n_hours,))
    if not max_distance > 0:
        raise DispersionError(f"max_distance must be > 0 m, got {max_distance}")
    source_index, receptor_index = _pairs_within(source_x, source_y, receptor_x, receptor_y,
                                                 max_distance)
    n_pairs = len(source_index)
    theta = np.deg2rad(direction)
    known = np.isfinite(theta)
    to_east = np.where(known, -np.sin(theta), 0.0)
    to_north = np.where(known, -np.cos(theta), 0.0)
    u10 = np.maximum(np.where(np.isfinite(speed), speed, MIN_WIND_SPEED), MIN_WIND_SPEED)
    a_y, b_y, _, a_z, b_z, c_z = (table[codes, i] for i in range(6))
    work = np.dtype(dtype) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)
    a_y, b_y, a_z, b_z = (v.astype(work) for v in (a_y, b_y, a_z, b_z))
    # sigma_z exponent per hour: ±1/2 (a square root) or ±1, negative = divided by
    z_half = np.abs(c_z) == 0.5
    z_negative = c_z < 0
    if not np.all(np.isin(np.abs(c_z), (0.5, 1.0))):
        raise DispersionError("Briggs sigma_z exponents must be ±1/2 or ±1")
    # wind at release height per source and hour (power law), computed once
    u_table = (u10[None, :] * (np.maximum(heights, 10.0) / 10.0) ** exponent[None, :]).astype(work)
    h_table = heights.astype(work)
    u_flat, h_flat = np.ascontiguousarray(u_table).ravel(), np.ascontiguousarray(h_table).ravel()
    z = work.type(receptor_height)
    two_pi = work.type(2.0 * np.pi)
    lid_table = None if lid is None else lid.astype(work)
    if not 0 <= sigma_theta_deg < 45:
        raise DispersionError(f"sigma_theta_deg must be in [0, 45) degrees, got {sigma_theta_deg}")
    spread = work.type(np.tan(np.deg2rad(sigma_theta_deg)))
    spread2 = spread * spread
    a_y2 = a_y * a_y
    # a cheap superset of the crosswind band: σy ≤ x·√(a_y² + tan²σθ), so |y| < 4σy
    # implies |y| < k·x with k = 4√(a_y² + tan²σθ) (+ 10⁻⁵ for the float32 rounding):
    # the receptor lies within atan(k) of the plume axis. Per pair, only the hours whose
    # wind direction is within atan(max k) of the direction that carries the source to
    # the receptor are looked at (the hours sorted by direction, a window per pair found
    # by binary search); the exact tests run on them.
    band = (4 * np.sqrt(a_y2 + spread2) * (1 + 1e-5)).astype(work)
    known_hours = np.flatnonzero(known)
    by_direction = known_hours[np.argsort(direction[known_hours], kind="stable")]
    sorted_direction = direction[by_direction]
    extended = np.concatenate([sorted_direction - 360.0, sorted_direction,
                               sorted_direction + 360.0])
    extended_hour = np.tile(by_direction, 3)
    # (+ 0.01°: the window must hold every hour the float32 test below keeps)
    half_angle = float(np.rad2deg(np.arctan(band.max(initial=0.0)))) + 0.01 if n_hours else 0.0
    pair_dx = receptor_x[receptor_index] - source_x[source_index]
    pair_dy = receptor_y[receptor_index] - source_y[source_index]
    carrying = (np.rad2deg(np.arctan2(pair_dx, pair_dy)) + 180.0) % 360.0  # wind from
    low = np.searchsorted(extended, carrying - half_angle, side="left")
    high = np.searchsorted(extended, carrying + half_angle, side="right")
    lengths = np.where(np.hypot(pair_dx, pair_dy) > MIN_DISTANCE, high - low, 0)
    ends = np.cumsum(lengths)
    # chunks of whole pairs with about chunk_elements elements each
    bounds = np.searchsorted(ends, np.arange(int(chunk_elements), int(ends[-1]) if n_pairs
                                             else 0, int(chunk_elements)), side="left")
    bounds = np.unique(np.concatenate([[0], np.minimum(bounds + 1, n_pairs), [n_pairs]]))
    pair_dx, pair_dy = pair_dx.astype(work), pair_dy.astype(work)
    east_t, north_t = to_east.astype(work), to_north.astype(work)

    def chunks():
        for first, last in zip(bounds[:-1], bounds[1:], strict=True):
            count = lengths[first:last]
            total = int(count.sum())
            if total == 0:
                continue
            local = np.repeat(np.arange(last - first), count)
            starts = np.cumsum(count) - count
            position = np.arange(total) - starts[local] + low[first:last][local]
            hour = extended_hour[position]
            pair = local + first
            dx, dy = pair_dx[pair], pair_dy[pair]
            east, north = east_t[hour], north_t[hour]
            along = dx * east + dy * north
            cross = dx * north - dy * east
            keep = np.flatnonzero((along > MIN_DISTANCE) & (np.abs(cross) < band[hour] * along))
            if keep.size == 0:
                continue
            p_local = pair[keep] - first
            t_local = hour[keep]
            x = along[keep]
            y = cross[keep]
            s_idx = source_index[first:last]
            # sigma_y for the classes (c_y = -1/2 for every class and terrain), widened:
            # σy² = x²·(a_y² / (1 + b_y·x) + tan²σθ), one square root
            sigma_y2 = x * x * (a_y2[t_local] / (1 + b_y[t_local] * x) + spread2)
            y2 = y * y
            inside = y2 < 16 * sigma_y2
            if not inside.all():
                p_local, t_local = p_local[inside], t_local[inside]
                x, y2, sigma_y2 = x[inside], y2[inside], sigma_y2[inside]
            if p_local.size == 0:
                continue
            # sigma_z = a_z·x·(1 + b_z·x)^c_z with c_z in {1, -1/2, -1, 1/2}
            grow = 1 + b_z[t_local] * x
            power = np.where(z_half[t_local], np.sqrt(grow), grow)
            scale = a_z[t_local] * x
            sigma_z = np.where(z_negative[t_local], scale / power, scale * power)
            flat = s_idx[p_local] * n_hours + t_local  # (source, hour) in the tables
            h = h_flat[flat] if per_hour_height else h_flat[s_idx[p_local]]
            u = u_flat[flat]
            two_sz2 = 2 * sigma_z * sigma_z
            if lid_table is None:
                # exp(−y²/2σy²)·[exp(−(z−h)²/2σz²) + exp(−(z+h)²/2σz²)], with
                # (z+h)² − (z−h)² = 4zh: two exponentials instead of three
                value = (1e6 / two_pi) / (u * np.sqrt(sigma_y2) * sigma_z) * np.exp(
                    -y2 / (2 * sigma_y2) - (z - h) ** 2 / two_sz2) * (
                    1 + np.exp(-4 * z * h / two_sz2))
            else:
                vertical = _vertical_factor(z, h, sigma_z, lid_table[t_local])
                value = (1e6 / two_pi) / (u * np.sqrt(sigma_y2) * sigma_z) * np.exp(
                    -y2 / (2 * sigma_y2)) * vertical
            yield ((p_local + first).astype(np.int64, copy=False),
                   t_local.astype(np.int64, copy=False), value)

    return _Elements(source_index, receptor_index, n_sources, n_receptors, n_hours, chunks())


def coupling_loop(source_x, source_y, receptor_x, receptor_y, wind_speed, wind_direction,
                  stability, *, effective_height=0.0, receptor_height: float = 1.5,
                  terrain: str = "rural", mixing_height=None) -> np.ndarray:
    """Baseline: the same contributions by a Python loop over sources (dense S × R × T).

    One :func:`gaussian_plume` call per source on (receptors × hours), with the same
    crosswind cut-off (|y| < 4σy); for the benchmark and as a reference in tests.
    """
    source_x = np.asarray(source_x, dtype=float).ravel()
    source_y = np.asarray(source_y, dtype=float).ravel()
    receptor_x = np.asarray(receptor_x, dtype=float).ravel()[:, None]
    receptor_y = np.asarray(receptor_y, dtype=float).ravel()[:, None]
    speed = np.asarray(wind_speed, dtype=float).ravel()
    theta = np.deg2rad(np.asarray(wind_direction, dtype=float).ravel())
    codes = np.broadcast_to(stability_codes(stability), speed.shape)
    heights = np.broadcast_to(np.asarray(effective_height, dtype=float).reshape(
        (-1, 1) if np.ndim(effective_height) == 1 else np.shape(effective_height) or (1, 1)),
        (len(source_x), len(speed)))
    out = np.zeros((len(source_x), len(receptor_x), len(speed)))
    for s in range(len(source_x)):
        dx = receptor_x - source_x[s]
        dy = receptor_y - source_y[s]
        along = -dx * np.sin(theta) - dy * np.cos(theta)
        cross = -dx * np.cos(theta) + dy * np.sin(theta)
        h = heights[s]
        u = wind_at_height(np.maximum(np.nan_to_num(speed, nan=MIN_WIND_SPEED), MIN_WIND_SPEED),
                           h, codes, terrain)
        value = gaussian_plume(1.0, u, along, cross, receptor_height, h, codes, terrain,
                               mixing_height)
        sigma_y = briggs_sigmas(np.where(along > MIN_DISTANCE, along, np.nan), codes, terrain)[0]
        with np.errstate(invalid="ignore"):
            inside = np.abs(cross) < 4.0 * sigma_y
        out[s] = np.where(np.isfinite(theta) & inside, value, 0.0)
    return out
