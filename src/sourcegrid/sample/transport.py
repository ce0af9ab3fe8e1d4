"""The sample city's own transport: how the generator turns emissions into concentrations.

This is the *truth* side of the sample city. It is deliberately a different
model from the one the tracer fits (:mod:`sourcegrid.tracing.dispersion`, Briggs
(1973) sigmas with Turner stability and Briggs plume rise), so that scoring the
tracer on the sample city is not circular. Nothing here imports
:mod:`sourcegrid.tracing`.

Model
-----
Steady Gaussian plume per source and hour, ground reflection and a mixing lid
with multiple reflections:

    C = q / (2 π u σy σz) · exp(−y² / 2σy²) · V(z, H, σz, zi)

    V = Σ_{j=−2..2} [exp(−(z − H + 2 j zi)² / 2σz²) + exp(−(z + H + 2 j zi)² / 2σz²)]

and, once σz > 1.6 zi, the well-mixed form V = √(2π) σz / zi. A plume whose
effective height H is at or above the lid gives nothing at the ground (the
ISC3 rule). C is returned in µg/m³ for q in g/s.

- σy, σz: Pasquill–Gifford curves in the power-law form of the ISC3 model
  (σy = 465.11628 · x · tan(0.017453293 · (c − d ln x)), σz = a x^b, x in km,
  coefficients of ISC3 Vol. II Tables 1-1 and 1-2, rural), which reproduce
  Turner's workbook curves; σz is capped at 5000 m.
- Horizontal meander: σy² += (x · σθ)², σθ = min(σv / u10, 1) rad with the lateral
  turbulence σv = 0.5 m/s (Hanna, S. R. (1983), Lateral turbulence intensity and plume
  meandering during stable conditions, J. Clim. Appl. Meteor. 22, 1424-1430: σv stays
  near 0.5 m/s as the wind drops, so an hour's σθ reaches 30-60° in light winds; a cap
  of 0.3 rad gave hourly means of thousands of µg/m³ beside ground-level sources),
  plus per source-hour multiplicative perturbations of σy and σz (log-normal)
  and of the wind direction (normal, degrees), drawn by the generator.
- Finite source and receptor sizes: a line or area sub-point of extent ℓ and a
  cell-average receptor of side L add ℓ²/12 and L²/12 to σy² (the variance of a
  uniform segment).
- Wind at stack height by the ISC3 rural power law u = u10 (z/10)^p with
  p = 0.07, 0.07, 0.10, 0.15, 0.35, 0.55 for A–F; at least 1 m/s.
- Plume rise by Holland's (1953) formula as given by Turner (1970, eq. 4.3),
  Δh = vs d / u · (1.5 + 2.68·10⁻³ P d (Ts − Ta)/Ts) with P in hPa, times 1.15
  for A/B and 0.85 for E/F (Turner's suggested correction), capped at 400 m.
- Stability: Pasquill's key (Turner 1970, Table 2-1) from the 10 m wind, the
  solar elevation (insolation strong > 60°, moderate 35–60°, slight 15–35°) and
  the cloud cover in oktas (night: ≤ 3/8 or ≥ 4/8 low cloud; 8/8 → D), with a
  random choice inside split classes ('A–B') and occasional one-class jumps.
- Mixing height: daytime growth to a seasonal maximum by mid-afternoon,
  night-time mechanical height from the wind, log-normal noise.

Limits: flat terrain, steady state within an hour, no chemistry, deposition or
secondary aerosol, no building downwash, no calms (u ≥ 1 m/s). It is a
generator of plausible truth, not a regulatory model (that is AERMOD).

Everything is vectorised: sources × receptors × hours in chunks of hours,
with a distance cut-off, pairs summed into receptors by sparse matrices.

References
----------
.. [1] U.S. EPA (1995) User's guide for the Industrial Source Complex (ISC3)
       dispersion models, Vol. II, EPA-454/B-95-003b, §1.1.5 (Tables 1-1, 1-2),
       §1.1.3 (wind profile exponents).
.. [2] Turner, D.B. (1970) Workbook of atmospheric dispersion estimates.
       U.S. EPA AP-26 (Table 2-1 stability key, eq. 4.3 Holland plume rise,
       Figures 3-2 and 3-3 sigma curves).
.. [3] Pasquill, F. (1961) The estimation of the dispersion of windborne
       material. Meteorol. Mag. 90, 33–49; Gifford, F.A. (1961) Use of routine
       meteorological observations for estimating atmospheric dispersion.
       Nucl. Saf. 2(4), 47–51.
.. [4] Holland, J.Z. (1953) A meteorological survey of the Oak Ridge area.
       USAEC Report ORO-99.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from sourcegrid.errors import NotFoundError

__all__ = [
    "STABILITY_CLASSES",
    "PG_SIGMA_Y",
    "PG_SIGMA_Z",
    "WIND_PROFILE_EXPONENTS",
    "sigma_y",
    "sigma_z",
    "holland_plume_rise",
    "wind_at_height",
    "solar_elevation",
    "pasquill_class",
    "mixing_height",
    "plume_concentration",
    "HourlyMet",
    "SourcePoints",
    "Receptors",
    "static_contributions",
    "moving_contributions",
]

STABILITY_CLASSES = ("A", "B", "C", "D", "E", "F")

#: σy coefficients (c, d) [degree] per Pasquill class, ISC3 Vol. II Table 1-1 (rural):
#: σy = 465.11628 x tan(0.017453293 (c − d ln x)), x [km], σy [m].
PG_SIGMA_Y = {
    "A": (24.1670, 2.5334), "B": (18.3330, 1.8096), "C": (12.5000, 1.0857),
    "D": (8.3330, 0.72382), "E": (6.2500, 0.54287), "F": (4.1667, 0.36191),
}

#: σz = a x^b [m], x [km] up to the given upper bound, ISC3 Vol. II Table 1-2 (rural).
#: Rows: (upper bound of x [km], a, b). Class A beyond 3.11 km is 5000 m (a=5000, b=0).
PG_SIGMA_Z = {
    "A": [(0.10, 122.800, 0.94470), (0.15, 158.080, 1.05420), (0.20, 170.220, 1.09320),
          (0.25, 179.520, 1.12620), (0.30, 217.410, 1.26440), (0.40, 258.890, 1.40940),
          (0.50, 346.750, 1.72830), (3.11, 453.850, 2.11660), (np.inf, 5000.0, 0.0)],
    "B": [(0.20, 90.673, 0.93198), (0.40, 98.483, 0.98332), (np.inf, 109.300, 1.09710)],
    "C": [(np.inf, 61.141, 0.91465)],
    "D": [(0.30, 34.459, 0.86974), (1.00, 32.093, 0.81066), (3.00, 32.093, 0.64403),
          (10.00, 33.504, 0.60486), (30.00, 36.650, 0.56589), (np.inf, 44.053, 0.51179)],
    "E": [(0.10, 24.260, 0.83660), (0.30, 23.331, 0.81956), (1.00, 21.628, 0.75660),
          (2.00, 21.628, 0.63077), (4.00, 22.534, 0.57154), (10.00, 24.703, 0.50527),
          (20.00, 26.970, 0.46713), (40.00, 35.420, 0.37615), (np.inf, 47.618, 0.29592)],
    "F": [(0.20, 15.209, 0.81558), (0.70, 14.457, 0.78407), (1.00, 13.953, 0.68465),
          (2.00, 13.953, 0.63227), (3.00, 14.823, 0.54503), (7.00, 16.187, 0.46490),
          (15.00, 17.836, 0.41507), (30.00, 22.651, 0.32681), (60.00, 27.074, 0.27436),
          (np.inf, 34.219, 0.21716)],
}
SIGMA_Z_MAX = 5000.0
#: Lateral turbulence σv [m/s] of the meander term σθ = min(σv / u10, 1 rad) (Hanna 1983).
MEANDER_SIGMA_V = 0.5

#: Wind profile exponents p (u = u10 (z/10)^p) per class A–F, ISC3 Vol. II §1.1.3 (rural).
WIND_PROFILE_EXPONENTS = {"rural": (0.07, 0.07, 0.10, 0.15, 0.35, 0.55)}

#: Stability correction of Holland's plume rise (Turner 1970, §4): A/B ×1.15, E/F ×0.85.
_HOLLAND_STABILITY = np.array([1.15, 1.15, 1.0, 1.0, 0.85, 0.85])

# flattened σz table for a vectorised lookup: bounds offset by 1000 km per class
_Z_BOUNDS, _Z_A, _Z_B = [], [], []
for _k, _name in enumerate(STABILITY_CLASSES):
    for _upper, _a, _b in PG_SIGMA_Z[_name]:
        _Z_BOUNDS.append(min(_upper, 999.0) + 1000.0 * _k)
        _Z_A.append(_a)
        _Z_B.append(_b)
_Z_BOUNDS = np.asarray(_Z_BOUNDS)
_Z_A = np.asarray(_Z_A)
_Z_B = np.asarray(_Z_B)
_Y_C = np.array([PG_SIGMA_Y[c][0] for c in STABILITY_CLASSES])
_Y_D = np.array([PG_SIGMA_Y[c][1] for c in STABILITY_CLASSES])


def _class_index(stability) -> np.ndarray:
    values = np.asarray(stability)
    if values.dtype.kind in "iu":
        if values.size and (values.min() < 0 or values.max() > 5):
            raise NotFoundError("stability class index", str(values.max()), map(str, range(6)))
        return values.astype(np.int64)
    text = np.char.upper(values.astype(str))
    index = np.searchsorted(np.array(STABILITY_CLASSES), text)
    index = np.clip(index, 0, 5)
    bad = np.array(STABILITY_CLASSES)[index] != text
    if np.any(bad):
        raise NotFoundError("stability class", str(text[bad].ravel()[0]), STABILITY_CLASSES)
    return index


def sigma_y(x, stability) -> np.ndarray:
    """Pasquill–Gifford horizontal dispersion σy [m] in the ISC3 form.

    Parameters
    ----------
    x : array_like
        Downwind distance [m] (> 0).
    stability : array_like
        Class 'A'–'F' or index 0–5 (broadcasts with ``x``).

    References
    ----------
    U.S. EPA (1995) ISC3 Vol. II, eq. 1-33 and Table 1-1.
    """
    k = _class_index(stability)
    x_km = np.maximum(np.asarray(x, dtype=float), 1.0) / 1000.0
    theta = 0.017453293 * (_Y_C[k] - _Y_D[k] * np.log(x_km))
    return 465.11628 * x_km * np.tan(theta)


def sigma_z(x, stability) -> np.ndarray:
    """Pasquill–Gifford vertical dispersion σz = a x^b [m] (ISC3 Table 1-2), capped at 5000 m.

    Parameters
    ----------
    x : array_like
        Downwind distance [m] (> 0).
    stability : array_like
        Class 'A'–'F' or index 0–5.

    References
    ----------
    U.S. EPA (1995) ISC3 Vol. II, eq. 1-34 and Table 1-2.
    """
    k = _class_index(stability)
    x_km = np.clip(np.asarray(x, dtype=float), 1.0, 998_000.0) / 1000.0
    x_km, k = np.broadcast_arrays(x_km, k)
    row = np.searchsorted(_Z_BOUNDS, x_km + 1000.0 * k, side="left")
    return np.minimum(_Z_A[row] * x_km ** _Z_B[row], SIGMA_Z_MAX)


def wind_at_height(u10, height, stability, terrain: str = "rural") -> np.ndarray:
    """Wind speed at ``height`` [m] by the ISC3 power law, at least 1 m/s.

    References
    ----------
    U.S. EPA (1995) ISC3 Vol. II, eq. 1-6 and §1.1.3.
    """
    if terrain not in WIND_PROFILE_EXPONENTS:
        raise NotFoundError("terrain", terrain, WIND_PROFILE_EXPONENTS)
    p = np.asarray(WIND_PROFILE_EXPONENTS[terrain])[_class_index(stability)]
    z = np.maximum(np.asarray(height, dtype=float), 10.0)
    return np.maximum(np.asarray(u10, dtype=float) * (z / 10.0) ** p, 1.0)


def holland_plume_rise(exit_velocity, stack_diameter, exit_temperature, ambient_temperature,
                       wind_speed, pressure=1013.0, stability=3) -> np.ndarray:
    """Holland's (1953) plume rise Δh [m], with Turner's stability correction, capped at 400 m.

    Parameters
    ----------
    exit_velocity : array_like
        Stack exit velocity vs [m/s].
    stack_diameter : array_like
        Inside diameter d [m].
    exit_temperature, ambient_temperature : array_like
        Ts and Ta [K].
    wind_speed : array_like
        Wind at stack height u [m/s].
    pressure : array_like
        Atmospheric pressure P [hPa].
    stability : array_like
        Class 'A'–'F' or index 0–5.

    References
    ----------
    Turner, D.B. (1970) Workbook of atmospheric dispersion estimates, eq. 4.3;
    Holland, J.Z. (1953) USAEC ORO-99.
    """
    vs = np.asarray(exit_velocity, dtype=float)
    d = np.asarray(stack_diameter, dtype=float)
    ts = np.asarray(exit_temperature, dtype=float)
    ta = np.asarray(ambient_temperature, dtype=float)
    u = np.maximum(np.asarray(wind_speed, dtype=float), 1.0)
    buoyancy = 2.68e-3 * np.asarray(pressure, dtype=float) * d * np.maximum(ts - ta, 0.0) / ts
    rise = vs * d / u * (1.5 + buoyancy) * _HOLLAND_STABILITY[_class_index(stability)]
    return np.minimum(rise, 400.0)


def solar_elevation(time_utc, lon, lat) -> np.ndarray:
    """Solar elevation angle [degree] (declination and equation of time by Spencer 1971).

    Parameters
    ----------
    time_utc : array of datetime64
    lon, lat : float
        Position [degree].

    References
    ----------
    Spencer, J.W. (1971) Fourier series representation of the position of the sun.
    Search 2(5), 172.
    """
    t = np.asarray(time_utc, dtype="datetime64[s]")
    year_start = t.astype("datetime64[Y]").astype("datetime64[s]")
    day = (t - year_start).astype(float) / 86400.0
    gamma = 2 * np.pi * day / 365.0
    decl = (0.006918 - 0.399912 * np.cos(gamma) + 0.070257 * np.sin(gamma)
            - 0.006758 * np.cos(2 * gamma) + 0.000907 * np.sin(2 * gamma))
    eot = 229.18 * (0.000075 + 0.001868 * np.cos(gamma) - 0.032077 * np.sin(gamma)
                    - 0.014615 * np.cos(2 * gamma) - 0.040849 * np.sin(2 * gamma))
    minutes = (day % 1.0) * 1440.0
    solar_minutes = minutes + eot + 4.0 * lon
    hour_angle = np.radians(solar_minutes / 4.0 - 180.0)
    phi = np.radians(lat)
    sin_e = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
    return np.degrees(np.arcsin(np.clip(sin_e, -1.0, 1.0)))


# Pasquill's key (Turner 1970, Table 2-1). Rows: wind bins <2, 2-3, 3-5, 5-6, >6 m/s.
# Day columns: strong, moderate, slight insolation; a split class 'A-B' is (low, high).
_DAY = [[(0, 0), (0, 1), (1, 1)],
        [(0, 1), (1, 1), (2, 2)],
        [(1, 1), (1, 2), (2, 2)],
        [(2, 2), (2, 3), (3, 3)],
        [(2, 2), (3, 3), (3, 3)]]
# Night columns: ≥ 4/8 low cloud (thinly overcast), ≤ 3/8 cloud.
_NIGHT = [[4, 5], [4, 5], [3, 4], [3, 3], [3, 3]]


def pasquill_class(u10, elevation, cloud_oktas, rng: np.random.Generator | None = None,
                   jump_probability: float = 0.1) -> np.ndarray:
    """Pasquill stability class index (0 = A … 5 = F) per hour, with randomness.

    Parameters
    ----------
    u10 : array_like
        Wind speed at 10 m [m/s].
    elevation : array_like
        Solar elevation [degree] (≤ 0 is night).
    cloud_oktas : array_like
        Cloud cover [oktas, 0–8]; 8 gives D day and night, ≥ 5/8 lowers the insolation
        class one step by day.
    rng : numpy Generator, optional
        Picks inside split classes ('A–B' → A or B) and jumps one class with
        ``jump_probability``; without it the more stable class of a split is used.

    References
    ----------
    Turner, D.B. (1970) Workbook of atmospheric dispersion estimates, Table 2-1
    (after Pasquill 1961); insolation classes by solar elevation as in Turner (1964).
    """
    u = np.asarray(u10, dtype=float)
    elev = np.asarray(elevation, dtype=float)
    cloud = np.asarray(cloud_oktas, dtype=float)
    wind_bin = np.digitize(u, [2.0, 3.0, 5.0, 6.0])
    insolation = np.where(elev > 60, 0, np.where(elev > 35, 1, 2))
    insolation = np.where(cloud >= 5, np.minimum(insolation + 1, 2), insolation)
    day = np.asarray(_DAY)                         # (5, 3, 2)
    low = day[wind_bin, insolation, 0]
    high = day[wind_bin, insolation, 1]
    pick = rng.random(u.shape) < 0.5 if rng is not None else np.ones(u.shape, bool)
    day_class = np.where(pick, high, low)
    night_class = np.asarray(_NIGHT)[wind_bin, (cloud <= 3).astype(int)]
    stability = np.where(elev > 0, day_class, night_class)
    stability = np.where(cloud >= 8, 3, stability)
    if rng is not None and jump_probability > 0:
        jump = rng.random(u.shape) < jump_probability
        step = np.where(rng.random(u.shape) < 0.5, -1, 1)
        stability = np.where(jump, np.clip(stability + step, 0, 5), stability)
    return stability.astype(np.int64)


def mixing_height(time_local_hour, u10, stability, season_max,
                  rng: np.random.Generator | None = None, noise: float = 0.15) -> np.ndarray:
    """Mixing height zi [m] per hour: convective growth by day, mechanical at night.

    Day (06–18 local): zi = max(z_night, season_max · sin(π (hour − 6) / 18)) rising to
    ``season_max`` by 15:00 and falling after; night: z_night = clip(100 + 60 u10, 80, 600);
    stable classes E/F cap it at 300 m; log-normal noise of ``noise``.

    Parameters
    ----------
    time_local_hour : array_like
        Local solar-ish hour 0–23.
    u10 : array_like
        Wind at 10 m [m/s].
    stability : array_like
        Class index 0–5.
    season_max : float or array_like
        Afternoon maximum [m] (winter ~ 700, summer ~ 1500 over the North China Plain);
        an array per hour broadcasts with ``time_local_hour``. It is the height itself,
        not a factor: never multiply the result by it.

    References
    ----------
    Holzworth, G.C. (1972) Mixing heights, wind speeds and potential for urban air
    pollution throughout the contiguous United States. U.S. EPA AP-101 (the
    morning/afternoon shape); the night-time form is the generator's own.
    """
    hour = np.asarray(time_local_hour, dtype=float)
    u = np.asarray(u10, dtype=float)
    night = np.clip(100.0 + 60.0 * u, 80.0, 600.0)
    phase = np.clip((hour - 6.0) / 18.0, 0.0, 1.0)
    growth = season_max * np.sin(np.pi * phase * 1.0) ** 0.8
    day = (hour >= 6) & (hour <= 18)
    zi = np.where(day, np.maximum(night, growth), night)
    zi = np.where(np.asarray(stability) >= 4, np.minimum(zi, 300.0), zi)
    if rng is not None and noise > 0:
        zi = zi * rng.lognormal(0.0, noise, zi.shape)
    return np.maximum(zi, 50.0)


def plume_concentration(q, u, x, y, z, h, sy, sz, zi) -> np.ndarray:
    """Gaussian plume with ground reflection and a mixing lid (multiple reflections) [µg/m³].

    Parameters
    ----------
    q : array_like
        Emission rate [g/s].
    u : array_like
        Wind speed at the release height [m/s].
    x, y, z : array_like
        Downwind, crosswind distance and receptor height [m]; x ≤ 0 gives 0.
    h : array_like
        Effective release height [m].
    sy, sz : array_like
        Dispersion parameters [m] at x.
    zi : array_like
        Mixing height [m]; ``np.inf`` for no lid.

    Returns
    -------
    numpy.ndarray
        Concentration [µg/m³] (1 g/m³ = 10⁶ µg/m³).

    References
    ----------
    Turner (1970) eq. 3.1 (reflection) and eq. 5.2 (limited mixing); U.S. EPA (1995)
    ISC3 Vol. II eqs. 1-50 to 1-54 (the image sum and the σz > 1.6 zi well-mixed form).
    """
    q, u, x, y, z, h, sy, sz, zi = (np.asarray(v, dtype=float) for v in (q, u, x, y, z, h, sy, sz,
                                                                         zi))
    shape = np.broadcast_shapes(*(np.shape(v) for v in (q, u, x, y, z, h, sy, sz, zi)))
    q, u, x, y, z, h, sy, sz, zi = (np.broadcast_to(v, shape).ravel()
                                    for v in (q, u, x, y, z, h, sy, sz, zi))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        lateral = np.exp(-0.5 * (y / sy) ** 2)
        vertical = np.exp(-0.5 * ((z - h) / sz) ** 2) + np.exp(-0.5 * ((z + h) / sz) ** 2)
        # images in the lid only where they matter (σz above a fifth of zi)
        lid = np.flatnonzero(np.isfinite(zi) & (sz > 0.2 * zi))
        if len(lid):
            zl, hl, szl, zil = z[lid], h[lid], sz[lid], zi[lid]
            images = vertical[lid].copy()
            for j in (-2, -1, 1, 2):
                shift = 2.0 * j * zil
                images += (np.exp(-0.5 * ((zl - hl + shift) / szl) ** 2)
                           + np.exp(-0.5 * ((zl + hl + shift) / szl) ** 2))
            mixed = np.sqrt(2 * np.pi) * szl / zil
            vertical[lid] = np.where(szl > 1.6 * zil, mixed, images)
        conc = q / (2 * np.pi * u * sy * sz) * lateral * vertical * 1e6
        conc = np.where((x > 0) & (h < zi), conc, 0.0)
    return np.nan_to_num(conc, nan=0.0, posinf=0.0).reshape(shape)


# ---- the generator's drivers -----------------------------------------------------------------

@dataclass
class HourlyMet:
    """City-wide hourly meteorology for the transport (arrays of length n_hours)."""

    wind_speed: np.ndarray       # u10 [m/s]
    wind_from: np.ndarray        # direction the wind comes from [degree]
    stability: np.ndarray        # class index 0–5
    mixing_height: np.ndarray    # zi [m]
    temperature: np.ndarray      # ambient [K]
    pressure: np.ndarray         # [hPa]

    @property
    def n_hours(self) -> int:
        return len(self.wind_speed)


@dataclass
class SourcePoints:
    """Emission points (a line or area source is many sub-points of one parent).

    ``rate`` is the sub-point's share of the parent's base rate [g/s]; the hourly rate is
    ``rate × profile[parent, hour]``. ``extent`` [m] is the sub-point's size (0 for stacks).
    """

    x: np.ndarray
    y: np.ndarray
    parent: np.ndarray
    rate: np.ndarray
    stack_height: np.ndarray
    stack_diameter: np.ndarray
    exit_velocity: np.ndarray
    exit_temperature: np.ndarray
    extent: np.ndarray


@dataclass
class Receptors:
    """Receptor points: x, y, z [m], the extra σy² variance [m²] of a cell-average
    receptor, and which output row (``group``) they add into with ``weight``."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    variance: np.ndarray
    group: np.ndarray
    weight: np.ndarray


def _effective(points: SourcePoints, met: HourlyMet) -> tuple[np.ndarray, np.ndarray]:
    """Per (point, hour): wind at stack height [m/s] and effective height [m]."""
    stability = met.stability[None, :]
    u_stack = wind_at_height(met.wind_speed[None, :], points.stack_height[:, None], stability)
    rise = holland_plume_rise(points.exit_velocity[:, None], points.stack_diameter[:, None],
                              points.exit_temperature[:, None], met.temperature[None, :],
                              u_stack, met.pressure[None, :], stability)
    return u_stack, points.stack_height[:, None] + rise


def _evaluate(point, hour, downwind, crosswind, z_receptor, variance, points: SourcePoints,
              met: HourlyMet, u_stack, height, emission, sigma_y_factor, sigma_z_factor):
    """Concentration [µg/m³] of flat (point, hour) elements already known to be downwind.

    Elements further than 5 σy off the plume axis are skipped (below exp(−12.5) of the
    centreline value).
    """
    out = np.zeros(len(point))
    parent = points.parent[point]
    x_eff = np.maximum(downwind, 50.0)
    stability = met.stability[hour]
    u10 = met.wind_speed[hour]
    meander = np.minimum(MEANDER_SIGMA_V / np.maximum(u10, 0.5), 1.0) * x_eff
    sy = np.sqrt((sigma_y(x_eff, stability) * sigma_y_factor[parent, hour]) ** 2 + meander ** 2
                 + points.extent[point] ** 2 / 12.0 + variance)
    keep = np.flatnonzero(np.abs(crosswind) < 5.0 * sy)
    point, hour, parent = point[keep], hour[keep], parent[keep]
    x_eff, sy, stability = x_eff[keep], sy[keep], stability[keep]
    sz = sigma_z(x_eff, stability) * sigma_z_factor[parent, hour]
    q = points.rate[point] * emission[parent, hour]
    out[keep] = plume_concentration(q, u_stack[point, hour], x_eff, crosswind[keep],
                                    np.broadcast_to(z_receptor, out.shape)[keep],
                                    height[point, hour], sy, sz, met.mixing_height[hour])
    return out


#: σy / x at 100 m per class (the largest ratio of the ISC3 curves within 100 m – 100 km).
_SIGMA_Y_RATIO = sigma_y(100.0, np.arange(6)) / 100.0


def _wedge(downwind, crosswind, height, zi, spread, ratio=1.5 / 5.0):
    """Cheap first cut: downwind, under the lid and within 5 σy of the axis, with
    σy ≤ x · ratio + spread/5 a bound of the σy of :func:`_evaluate` (so nothing above
    exp(−12.5) of the centreline is cut)."""
    return (downwind > 0) & (height < zi) & (np.abs(crosswind) < 5.0 * downwind * ratio + spread)


def _cutoff(points: SourcePoints, cutoff) -> np.ndarray:
    """Cut-off distance per point [m]: ``cutoff``, doubled for stacks of 100 m and more."""
    return np.where(points.stack_height >= 100.0, 2.0 * cutoff, cutoff)


def _pairs(points: SourcePoints, receptors: Receptors, cutoff: float):
    """(point, receptor) pairs within the cut-off [m], in blocks to bound memory."""
    limit = _cutoff(points, cutoff)
    out_p, out_r = [], []
    block = max(1, 2_000_000 // max(len(receptors.x), 1))
    for start in range(0, len(points.x), block):
        sl = slice(start, start + block)
        d2 = ((points.x[sl, None] - receptors.x[None, :]) ** 2
              + (points.y[sl, None] - receptors.y[None, :]) ** 2)
        p, r = np.nonzero(d2 <= limit[sl, None] ** 2)
        out_p.append(p + start)
        out_r.append(r)
    return np.concatenate(out_p), np.concatenate(out_r)


def static_contributions(points: SourcePoints, receptors: Receptors, met: HourlyMet, *,
                         emission: np.ndarray, direction_offset: np.ndarray,
                         sigma_y_factor: np.ndarray, sigma_z_factor: np.ndarray,
                         n_groups: int, n_parents: int, cutoff: float = 15_000.0,
                         keep_by_parent: bool = False, threshold: float = 0.01,
                         chunk_hours: int = 24, pair_filter=None):
    """Contributions of every source at fixed receptors, every hour.

    Parameters
    ----------
    points, receptors, met
        The emission points, receptor points and hourly meteorology.
    emission : ndarray (n_parents, n_hours)
        Hourly emission factor of each parent source (times ``points.rate`` [g/s]).
    direction_offset, sigma_y_factor, sigma_z_factor : ndarray (n_parents, n_hours)
        Per source-hour perturbations (degrees, multiplicative factors).
    n_groups : int
        Output rows (receptor groups).
    keep_by_parent : bool
        Also return the sparse per (parent, group, hour) values above ``threshold``.
    pair_filter : callable, optional
        ``pair_filter(point_index, receptor_index) -> bool mask`` to drop pairs.

    Returns
    -------
    total : ndarray (n_groups, n_hours) [µg/m³]
    by_parent : (parent, group, hour, value) arrays, or None
    """
    n_hours = met.n_hours
    u_stack, height = _effective(points, met)
    p, r = _pairs(points, receptors, cutoff)
    if pair_filter is not None:
        keep = pair_filter(p, r)
        p, r = p[keep], r[keep]
    dx = receptors.x[r] - points.x[p]
    dy = receptors.y[r] - points.y[p]
    weight = receptors.weight[r]
    group = receptors.group[r]
    n_pairs = len(p)
    to_group = sparse.csr_matrix((weight, (group, np.arange(n_pairs))), shape=(n_groups, n_pairs))
    if keep_by_parent:
        key = points.parent[p].astype(np.int64) * n_groups + group
        unique_key, inverse = np.unique(key, return_inverse=True)
        to_key = sparse.csr_matrix((weight, (inverse, np.arange(n_pairs))),
                                   shape=(len(unique_key), n_pairs))
    total = np.zeros((n_groups, n_hours))
    kept = []
    parent_of_pair = points.parent[p]
    z_pair = receptors.z[r]
    variance_pair = receptors.variance[r]
    spread = 5.0 * np.sqrt(variance_pair + points.extent[p] ** 2 / 12.0) + 1.0
    for start in range(0, n_hours, chunk_hours):
        hours = np.arange(start, min(start + chunk_hours, n_hours))
        theta = np.radians(met.wind_from[hours][None, :] + 180.0 + direction_offset[:, hours])
        sin_t, cos_t = np.sin(theta)[parent_of_pair], np.cos(theta)[parent_of_pair]
        downwind = dx[:, None] * sin_t + dy[:, None] * cos_t
        crosswind = dx[:, None] * cos_t - dy[:, None] * sin_t
        height_pairs = height[:, hours][p]
        meander = np.minimum(MEANDER_SIGMA_V / np.maximum(met.wind_speed[hours], 0.5), 1.0)
        ratio = (_SIGMA_Y_RATIO[met.stability[hours]][None, :]
                 * sigma_y_factor[:, hours][parent_of_pair] + meander[None, :])
        flat = np.flatnonzero(_wedge(downwind, crosswind, height_pairs,
                                     met.mixing_height[hours][None, :], spread[:, None], ratio))
        pair_index, hour_offset = np.divmod(flat, len(hours))
        values = _evaluate(p[pair_index], hours[hour_offset], downwind.ravel()[flat],
                           crosswind.ravel()[flat], z_pair[pair_index],
                           variance_pair[pair_index], points, met, u_stack, height, emission,
                           sigma_y_factor, sigma_z_factor)
        conc = sparse.csr_matrix((values, (pair_index, hour_offset)),
                                 shape=(n_pairs, len(hours)))
        total[:, hours] = (to_group @ conc).toarray()
        if keep_by_parent:
            by_key = (to_key @ conc).tocoo()
            big = by_key.data > threshold
            kept.append((unique_key[by_key.row[big]], hours[by_key.col[big]], by_key.data[big]))
    by_parent = None
    if keep_by_parent:
        keys = np.concatenate([k for k, _, _ in kept]) if kept else np.zeros(0, np.int64)
        hours = np.concatenate([h for _, h, _ in kept]) if kept else np.zeros(0, np.int64)
        values = np.concatenate([v for _, _, v in kept]) if kept else np.zeros(0)
        by_parent = (keys // n_groups, keys % n_groups, hours, values)
    return total, by_parent


def moving_contributions(points: SourcePoints, x, y, z, hour, met: HourlyMet, *,
                         emission: np.ndarray, direction_offset: np.ndarray,
                         sigma_y_factor: np.ndarray, sigma_z_factor: np.ndarray,
                         cutoff: float = 15_000.0, chunk: int = 2000) -> np.ndarray:
    """Sum of all sources' contributions [µg/m³] at moving receptors (one hour each).

    Parameters
    ----------
    x, y, z : ndarray
        Receptor positions [m]; ``hour`` the hour index of each position.
    """
    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, z))
    hour = np.asarray(hour, dtype=np.int64)
    u_stack, height = _effective(points, met)
    total = np.zeros(len(x))
    for start in range(0, len(x), chunk):
        sl = slice(start, start + chunk)
        dx = x[None, sl] - points.x[:, None]
        dy = y[None, sl] - points.y[:, None]
        near = dx ** 2 + dy ** 2 <= _cutoff(points, cutoff)[:, None] ** 2
        pi, ri = np.nonzero(near)
        hh = hour[sl][ri]
        theta = np.radians(met.wind_from[hh] + 180.0 + direction_offset[points.parent[pi], hh])
        sin_t, cos_t = np.sin(theta), np.cos(theta)
        ddx, ddy = dx[pi, ri], dy[pi, ri]
        downwind = ddx * sin_t + ddy * cos_t
        crosswind = ddx * cos_t - ddy * sin_t
        ratio = (_SIGMA_Y_RATIO[met.stability[hh]] * sigma_y_factor[points.parent[pi], hh]
                 + np.minimum(0.15 / np.maximum(met.wind_speed[hh], 0.5), 0.3))
        first = np.flatnonzero(_wedge(downwind, crosswind, height[pi, hh],
                                      met.mixing_height[hh],
                                      5.0 * np.sqrt(points.extent[pi] ** 2 / 12.0) + 1.0, ratio))
        pi, ri, hh = pi[first], ri[first], hh[first]
        conc = _evaluate(pi, hh, downwind[first], crosswind[first], z[sl][ri], 0.0, points, met,
                         u_stack, height, emission, sigma_y_factor, sigma_z_factor)
        total[sl] = np.bincount(ri, weights=conc, minlength=len(x[sl]))
    return total
