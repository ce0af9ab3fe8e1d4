"""The sample city's own transport (sourcegrid.sample.transport).

Expected values are worked by hand from the cited formulas and coefficient tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.sample import transport as tr


def test_sigmas_at_one_km_match_the_isc3_tables_and_turner():
    # ISC3 Vol. II Table 1-1, class D: c = 8.3330, d = 0.72382; at x = 1 km ln x = 0:
    # σy = 465.11628 · 1 · tan(0.017453293 · 8.3330) = 465.11628 · 0.146474 = 68.127 m
    # (Turner 1970, Fig. 3-2 reads about 68 m at 1 km, class D).
    assert tr.sigma_y(1000.0, "D") == pytest.approx(68.127, abs=0.01)
    # Table 1-2, class D, 0.31–1.00 km: a = 32.093, b = 0.81066 → σz = 32.093 m (Turner ~32 m)
    assert tr.sigma_z(1000.0, "D") == pytest.approx(32.093, abs=1e-3)
    # class F at 5 km: a = 16.187, b = 0.46490 → 16.187 · 5^0.4649 = 34.207 m
    assert tr.sigma_z(5000.0, "F") == pytest.approx(16.187 * 5 ** 0.46490, rel=1e-9)
    # class A beyond 3.11 km: 5000 m
    assert tr.sigma_z(3500.0, "A") == 5000.0
    # indices and letters agree; arrays broadcast
    assert np.allclose(tr.sigma_y([500, 2000], [3, 3]), tr.sigma_y([500, 2000], ["D", "d"]))


def test_unknown_stability_class_names_the_valid_ones():
    with pytest.raises(NotFoundError, match="valid: A, B, C, D, E, F"):
        tr.sigma_y(1000.0, "G")


def test_hand_worked_gaussian_plume_value():
    # Q = 100 g/s, u = 5 m/s, H = 50 m, receptor on the ground on the axis at 1 km, class D,
    # no lid. Turner (1970) eq. 3.1 with z = 0: C = Q/(π σy σz u) · exp(−H²/(2σz²))
    # = 100/(π · 68.127 · 32.093 · 5) · exp(−2500/(2 · 1029.96))
    # = 2.9118e-3 g/m³ · 0.29709 = 8.651e-4 g/m³ = 865.1 µg/m³
    sy, sz = 68.127, 32.093
    value = tr.plume_concentration(100.0, 5.0, 1000.0, 0.0, 0.0, 50.0, sy, sz, np.inf)
    assert value == pytest.approx(865.1, rel=1e-3)


def test_well_mixed_limit_under_a_low_lid():
    # σz > 1.6 zi: C = Q/(√(2π) σy u zi) (ISC3 eq. 1-54); Q=10, u=2, σy=300, zi=200
    # → 10/(2.5066 · 300 · 2 · 200) = 3.3245e-5 g/m³ = 33.245 µg/m³
    value = tr.plume_concentration(10.0, 2.0, 5000.0, 0.0, 0.0, 20.0, 300.0, 400.0, 200.0)
    assert value == pytest.approx(33.245, rel=1e-3)
    # a plume above the lid gives nothing at the ground
    assert tr.plume_concentration(10.0, 2.0, 5000.0, 0.0, 0.0, 250.0, 300.0, 400.0, 200.0) == 0


def test_mass_flux_through_a_crosswind_plane_equals_the_emission():
    # ∫∫ C u dy dz over the half space z ≥ 0 (ground reflection) = Q
    q, u, h, sy, sz = 7.0, 3.0, 40.0, 120.0, 60.0
    y = np.linspace(-8 * sy, 8 * sy, 801)
    z = np.linspace(0.0, h + 8 * sz, 801)
    grid_y, grid_z = np.meshgrid(y, z)
    c = tr.plume_concentration(q, u, 2000.0, grid_y, grid_z, h, sy, sz, np.inf) / 1e6
    flux = np.trapezoid(np.trapezoid(c * u, y, axis=1), z)
    assert flux == pytest.approx(q, rel=2e-3)
    # with a lid the flux below it is also Q (reflections keep the mass in the layer)
    zi = 300.0
    z = np.linspace(0.0, zi, 601)
    grid_y, grid_z = np.meshgrid(y, z)
    c = tr.plume_concentration(q, u, 2000.0, grid_y, grid_z, h, sy, 150.0, zi) / 1e6
    flux = np.trapezoid(np.trapezoid(c * u, y, axis=1), z)
    assert flux == pytest.approx(q, rel=5e-3)


@pytest.mark.parametrize("stability", list("ABCDEF"))
def test_ground_level_centreline_falls_with_distance(stability):
    x = np.geomspace(100.0, 30000.0, 60)
    c = tr.plume_concentration(1.0, 3.0, x, 0.0, 0.0, 0.0, tr.sigma_y(x, stability),
                               tr.sigma_z(x, stability), np.inf)
    assert np.all(np.diff(c) <= 0)
    assert np.all(c > 0)


def test_concentrations_are_never_negative_and_zero_upwind():
    rng = np.random.default_rng(1)
    n = 5000
    x = rng.uniform(-5000, 20000, n)
    stability = rng.integers(0, 6, n)
    c = tr.plume_concentration(rng.uniform(0, 10, n), rng.uniform(1, 10, n), x,
                               rng.normal(0, 500, n), rng.uniform(0, 20, n),
                               rng.uniform(0, 200, n), tr.sigma_y(np.abs(x), stability),
                               tr.sigma_z(np.abs(x), stability), rng.uniform(100, 1500, n))
    assert np.all(c >= 0) and np.all(np.isfinite(c))
    assert np.all(c[x <= 0] == 0)


def test_holland_plume_rise_hand_value():
    # Turner (1970) eq. 4.3: Δh = vs d/u (1.5 + 2.68e-3 P d (Ts − Ta)/Ts)
    # vs = 10, d = 2, u = 5, P = 1000 hPa, Ts = 400 K, Ta = 280 K:
    # 10·2/5 · (1.5 + 2.68e-3·1000·2·120/400) = 4 · (1.5 + 1.608) = 12.432 m (class D)
    assert tr.holland_plume_rise(10, 2, 400, 280, 5, 1000, "D") == pytest.approx(12.432)
    # unstable ×1.15, stable ×0.85 (Turner's suggested correction)
    assert tr.holland_plume_rise(10, 2, 400, 280, 5, 1000, "A") == pytest.approx(12.432 * 1.15)
    assert tr.holland_plume_rise(10, 2, 400, 280, 5, 1000, "F") == pytest.approx(12.432 * 0.85)


def test_pasquill_key_without_randomness():
    # Turner (1970) Table 2-1: day, wind < 2 m/s, strong insolation → A (A–B split: the more
    # stable without rng is B for moderate); night, < 2 m/s, ≤ 3/8 cloud → F; overcast → D
    u = np.array([1.0, 1.0, 1.0, 4.0, 7.0, 1.0])
    elevation = np.array([65.0, 45.0, -10.0, -10.0, 20.0, 65.0])
    cloud = np.array([0, 0, 2, 6, 0, 8])
    assert tr.pasquill_class(u, elevation, cloud).tolist() == [0, 1, 5, 3, 3, 3]


def test_wind_profile_power_law():
    # ISC3: u(z) = u10 (z/10)^p, class D rural p = 0.15: 3 · (100/10)^0.15 = 4.2372 m/s
    assert tr.wind_at_height(3.0, 100.0, "D") == pytest.approx(3.0 * 10 ** 0.15)
    assert tr.wind_at_height(0.2, 5.0, "F") == 1.0       # at least 1 m/s


def test_solar_elevation_noon_at_the_equinox():
    # 2017-03-20 ~ equinox: at solar noon the elevation is about 90° − latitude
    # (38.3° N → ~51.7°); Beijing-time noon at 116.86° E is 04:00 UTC − (116.86 − 120)·4 min
    t = np.array(["2017-03-20T04:12"], dtype="datetime64[s]")
    assert tr.solar_elevation(t, 116.86, 38.3)[0] == pytest.approx(51.7, abs=1.0)


def test_static_driver_sums_sources_like_the_formula():
    # one source, one receptor straight downwind, no perturbations: the driver gives the
    # plume formula with the driver's σy (ISC3 + meander) and the wind at stack height
    met = tr.HourlyMet(np.array([4.0]), np.array([270.0]), np.array([3]), np.array([800.0]),
                       np.array([283.0]), np.array([1013.0]))
    points = tr.SourcePoints(np.array([0.0]), np.array([0.0]), np.array([0]), np.array([2.0]),
                             np.array([10.0]), np.array([0.0]), np.array([0.0]),
                             np.array([283.0]), np.array([0.0]))
    receptors = tr.Receptors(np.array([2000.0]), np.array([0.0]), np.array([0.0]),
                             np.array([0.0]), np.array([0]), np.array([1.0]))
    zeros, ones = np.zeros((1, 1)), np.ones((1, 1))
    total, by_parent = tr.static_contributions(
        points, receptors, met, emission=ones, direction_offset=zeros, sigma_y_factor=ones,
        sigma_z_factor=ones, n_groups=1, n_parents=1, keep_by_parent=True)
    # wind from the west (270°) blows to +x; u at 10 m stack = 4 m/s; meander σv/u =
    # 0.5/4 rad (σv = 0.5 m/s, Hanna 1983)
    sy = math.hypot(float(tr.sigma_y(2000.0, "D")), 0.5 / 4.0 * 2000.0)
    sz = float(tr.sigma_z(2000.0, "D"))
    expected = 2.0 / (math.pi * 4.0 * sy * sz) * math.exp(-0.5 * (10.0 / sz) ** 2) * 1e6
    assert total[0, 0] == pytest.approx(expected, rel=1e-3)
    assert by_parent[3][0] == pytest.approx(expected, rel=1e-3)
    # a receptor upwind gets nothing
    receptors.x[0] = -2000.0
    total, _ = tr.static_contributions(
        points, receptors, met, emission=ones, direction_offset=zeros, sigma_y_factor=ones,
        sigma_z_factor=ones, n_groups=1, n_parents=1)
    assert total[0, 0] == 0.0
