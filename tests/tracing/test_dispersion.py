"""Gaussian plume, Briggs sigmas, Turner stability, plume rise and the coupling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.tracing import dispersion as d


def test_turner_workbook_problem_1():
    # Turner (1970), Workbook of Atmospheric Dispersion Estimates (AP-26), example
    # Problem 1: a burning dump emits 3 g/s of NOx; overcast night, u = 7 m/s, class D;
    # ground-level source, receptor 3 km downwind on the centre line. The workbook reads
    # sigma_y = 190 m and sigma_z = 65 m from its Figures 3-2 and 3-3 and gives
    # chi = Q / (pi sigma_y sigma_z u) = 1.1e-5 g/m3.
    value = d.gaussian_plume(3.0, 7.0, 3000.0, 0.0, 0.0, 0.0, "D", sigma_y=190.0, sigma_z=65.0)
    assert value == pytest.approx(1.1e-5 * 1e6, rel=0.01)  # ug/m3
    # by hand: 3 / (pi * 190 * 65 * 7) * 1e6 = 11.046 ug/m3
    assert value == pytest.approx(11.046, abs=1e-3)


def test_elevated_source_by_hand():
    # q = 100 g/s, u = 5 m/s, h = 50 m, sy = 100 m, sz = 50 m, receptor at y = 50, z = 0:
    # C = q/(2 pi u sy sz) * exp(-0.5*(50/100)^2) * 2*exp(-0.5*(50/50)^2)
    expected = 100 / (2 * np.pi * 5 * 100 * 50) * np.exp(-0.125) * 2 * np.exp(-0.5) * 1e6
    value = d.gaussian_plume(100, 5, 1000, 50, 0, 50, "D", sigma_y=100, sigma_z=50)
    assert value == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(681.5, rel=1e-4)  # 6.815e-4 g/m3


def test_briggs_sigmas_published_formulas():
    # Hanna, Briggs and Hosker (1982) Table 4.5, open country, class D:
    # sigma_y = 0.08x(1+0.0001x)^-1/2, sigma_z = 0.06x(1+0.0015x)^-1/2; at 1 km by hand
    sy, sz = d.briggs_sigmas(1000.0, "D", "rural")
    assert sy == pytest.approx(80 / np.sqrt(1.1))
    assert sz == pytest.approx(60 / np.sqrt(2.5))
    # urban, class B: 0.32x(1+0.0004x)^-1/2 and 0.24x(1+0.001x)^+1/2 at 2 km
    sy, sz = d.briggs_sigmas(2000.0, "B", "urban")
    assert sy == pytest.approx(640 / np.sqrt(1.8))
    assert sz == pytest.approx(480 * np.sqrt(3.0))
    # stable rural F: 0.016x(1+0.0003x)^-1 at 5 km
    assert d.briggs_sigmas(5000.0, "F")[1] == pytest.approx(80 / 2.5)


def test_sigmas_grow_with_distance_and_instability():
    x = np.array([100.0, 1000.0, 10000.0])
    for terrain in ("rural", "urban"):
        sy, sz = d.briggs_sigmas(x[:, None], np.array(list("ABCDEF")), terrain)
        assert np.all(np.diff(sy, axis=0) > 0) and np.all(np.diff(sz, axis=0) > 0)
        assert np.all(np.diff(sy, axis=1) <= 0)  # A widest, F narrowest


def test_plume_invariants():
    x = np.linspace(100, 20000, 50)
    c = d.gaussian_plume(10.0, 3.0, x, 0.0, 0.0, 0.0, "D")
    assert np.all(np.diff(c) < 0)  # ground source: falls with distance
    # linear in q, inverse in u, symmetric in y, zero upwind
    assert d.gaussian_plume(20.0, 3.0, 1000, 0, 0, 30, "C") == pytest.approx(
        2 * d.gaussian_plume(10.0, 3.0, 1000, 0, 0, 30, "C"))
    assert d.gaussian_plume(10.0, 6.0, 1000, 0, 0, 30, "C") == pytest.approx(
        d.gaussian_plume(10.0, 3.0, 1000, 0, 0, 30, "C") / 2)
    assert d.gaussian_plume(1, 3, 1000, 80, 0, 30, "C") == pytest.approx(
        d.gaussian_plume(1, 3, 1000, -80, 0, 30, "C"))
    assert d.gaussian_plume(1, 3, -1000, 0, 0, 30, "C") == 0.0
    # ground reflection doubles the ground-level centre-line value of a ground source
    value = d.gaussian_plume(1, 2, 500, 0, 0, 0, "D", sigma_y=40, sigma_z=20)
    assert value == pytest.approx(1e6 / (np.pi * 2 * 40 * 20))
    # broadcasting: stability array × distances
    grid = d.gaussian_plume(1, 3, x[:, None], 0, 1.5, 20, np.array(list("ABCDEF")))
    assert grid.shape == (50, 6)


def test_mixing_lid():
    # sigma_z > 1.6 L: well mixed, C = q / (sqrt(2 pi) u sigma_y L) (Turner 1970 eq. 5.3)
    value = d.gaussian_plume(10, 4, 20000, 0, 0, 50, "D", mixing_height=200, sigma_y=1000,
                             sigma_z=400)
    assert value == pytest.approx(10 / (np.sqrt(2 * np.pi) * 4 * 1000 * 200) * 1e6)
    # a lid raises ground-level values below the well-mixed limit, never lowers them
    free = d.gaussian_plume(10, 4, 3000, 0, 0, 50, "D")
    lidded = d.gaussian_plume(10, 4, 3000, 0, 0, 50, "D", mixing_height=300)
    assert lidded >= free
    # plume released above the lid: nothing at the ground
    assert d.gaussian_plume(10, 4, 3000, 0, 0, 500, "D", mixing_height=300) == 0.0


def test_unknown_stability_and_terrain():
    with pytest.raises(NotFoundError, match="unknown stability class 'G'; valid: A, B, C, D, E, F"):
        d.gaussian_plume(1, 1, 100, 0, 0, 0, "G")
    with pytest.raises(NotFoundError, match="unknown terrain 'suburban'; valid: rural, urban"):
        d.briggs_sigmas(100, "D", "suburban")


def test_turner_stability_table():
    # EPA-454/R-99-005 Tables 6-4/6-5. Summer noon at 38.3 N: solar altitude ~ 74 deg,
    # insolation class 4; at 1 m/s (2 kt) -> class 1 (A); at 6 m/s (12 kt) -> class 3 (C).
    noon = pd.Timestamp("2017-06-21 04:00", tz="UTC")  # 12:00 at ~116.8 E
    assert d.pasquill_stability(1.0, noon) == "A"
    assert d.pasquill_stability(6.0, noon) == "C"
    night = pd.Timestamp("2017-01-15 16:00", tz="UTC")  # 00:00 local
    # clear night (2/10): NRI -2; 2 m/s = 4 kt -> class 6 (F); 1 m/s -> 7 (G, reported F)
    assert d.pasquill_stability(2.0, night, cloud_cover=2) == "F"
    assert d.pasquill_stability(1.0, night, cloud_cover=2) == "F"
    # cloudy night (8/10): NRI -1, 2 m/s -> class 5 (E)
    assert d.pasquill_stability(2.0, night, cloud_cover=8) == "E"
    # overcast with a low ceiling: NRI 0 -> D at any speed, day or night
    assert d.pasquill_stability(1.0, noon, cloud_cover=10, ceiling_height=600) == "D"
    # by hour and season
    # 1 m/s = 2 kt: noon NRI 4 -> class 1 (A); midnight, cloud unknown (NRI -1) -> 6 (F)
    assert list(d.pasquill_stability([1.0, 1.0], hour=[12, 0], season="summer")) == ["A", "F"]
    with pytest.raises(NotFoundError, match="unknown season 'monsoon'"):
        d.pasquill_stability(1.0, hour=12, season="monsoon")


def test_plume_rise_by_hand():
    # d = 3 m, v = 15 m/s, Ts = 420 K, Ta = 288.15 K, u = 3 m/s, class D:
    # Fb = g v d^2 (Ts - Ta) / (4 Ts) = 103.9 m4/s3 >= 55 -> dh = 38.71 Fb^0.6 / u
    fb = 9.80665 * 15 * 9 * (420 - 288.15) / (4 * 420)
    assert fb == pytest.approx(103.9, abs=0.1)
    assert d.plume_rise(3, 15, 420, 3.0, "D") == pytest.approx(38.71 * fb ** 0.6 / 3.0)
    # stable F: s = g * 0.035 / Ta; dh = 2.6 (Fb / (u s))^(1/3)
    s = 9.80665 * 0.035 / 288.15
    assert d.plume_rise(3, 15, 420, 3.0, "F") == pytest.approx(2.6 * (fb / (3 * s)) ** (1 / 3))
    # a cold jet is momentum dominated: 3 d v / u
    assert d.plume_rise(0.5, 10, 290, 2.0, "D") == pytest.approx(3 * 0.5 * 10 / 2)
    # stack-tip downwash: v < 1.5 u lowers the release
    assert d.effective_height(20, 1.0, 2.0, 0.0, 5.0, "D") < 20


def test_coupling_matches_loop_and_is_sparse():
    rng = np.random.default_rng(3)
    s_count, r_count, t_count = 40, 12, 30
    sx, sy = rng.uniform(0, 20000, s_count), rng.uniform(0, 20000, s_count)
    rx, ry = rng.uniform(0, 20000, r_count), rng.uniform(0, 20000, r_count)
    speed = rng.uniform(0.5, 8, t_count)
    direction = rng.uniform(0, 360, t_count)
    direction[3] = np.nan  # no wind known: no contribution
    stability = rng.choice(list("ABCDEF"), t_count)
    height = rng.uniform(0, 80, s_count)
    fast = d.coupling(sx, sy, rx, ry, speed, direction, stability, effective_height=height,
                      max_distance=1e9, dtype=np.float64).to_dense()
    slow = d.coupling_loop(sx, sy, rx, ry, speed, direction, stability,
                           effective_height=height)
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert (fast > 0).sum() < fast.size / 2  # most source-receptor-hours are upwind
    assert np.all(fast[:, :, 3] == 0)
    cut = d.coupling(sx, sy, rx, ry, speed, direction, stability, effective_height=height,
                     max_distance=5000.0)
    distance = np.hypot(rx[None, :] - sx[:, None], ry[None, :] - sy[:, None])
    assert np.all(distance[cut.source_index, cut.receptor_index] <= 5000.0)
    dense = cut.to_dense()
    assert np.all(dense[distance > 5000.0] == 0)
    # concentration = sum over sources of rate x coupling
    rate = rng.uniform(0, 5, s_count)
    assert np.allclose(cut.concentration(rate), np.einsum("s,srt->rt", rate, dense),
                       rtol=1e-5, atol=1e-6)
    assert np.allclose(cut.receptor_series(2), dense[:, 2, :])
