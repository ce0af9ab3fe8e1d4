"""A receptor shared by several cells of a joint fit is coupled once, with the same result."""

from __future__ import annotations

import numpy as np

from sourcegrid.tracing import dispersion
from sourcegrid.tracing.attribution import _cell_series, _distinct_receptors


def test_shared_receptors_give_the_series_of_the_full_computation():
    rng = np.random.default_rng(3)
    hours = 48
    speed = rng.uniform(1, 6, hours)
    direction = rng.uniform(0, 360, hours)
    stability = np.array(list("ABCDEF"))[rng.integers(0, 6, hours)]
    sx, sy = rng.uniform(-4000, 4000, 6), rng.uniform(-4000, 4000, 6)
    # three cells; monitors M0..M3; cell 1 and cell 2 both interpolate from M1 and M2
    mx = np.array([0.0, 1200.0, -800.0, 2500.0])
    my = np.array([0.0, 300.0, 900.0, -1500.0])
    entry_monitor = np.array([0, 1, 2, 1, 2, 3])
    entry_cell = np.array([0, 1, 1, 2, 2, 2])
    entry_weight = np.array([1.0, 0.7, 0.3, 0.5, 0.25, 0.25])
    full = dispersion.coupling(sx, sy, mx[entry_monitor], my[entry_monitor], speed, direction,
                               stability, effective_height=10.0, max_distance=20_000)
    expected = _cell_series(full, entry_cell, 3, entry_weight)
    px, py, entry_receptor = _distinct_receptors(mx[entry_monitor], my[entry_monitor])
    assert len(px) == 4 and np.allclose(px[entry_receptor], mx[entry_monitor])
    shared = dispersion.coupling(sx, sy, px, py, speed, direction, stability,
                                 effective_height=10.0, max_distance=20_000)
    got = _cell_series(shared, entry_cell, 3, entry_weight, entry_receptor)
    assert expected.shape == (6, 3, hours) and expected.max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    # and without weights: the plain mean over each cell's entries
    np.testing.assert_allclose(_cell_series(shared, entry_cell, 3, None, entry_receptor),
                               _cell_series(full, entry_cell, 3), rtol=1e-12, atol=0)
