"""A receptor shared by several cells of a joint fit is coupled once, with the same result."""

from __future__ import annotations

import numpy as np

from sourcegrid.tracing import dispersion
from sourcegrid.tracing.attribution import _distinct_receptors, _receptor_map


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
    # every entry coupled on its own (sources × entries × hours), then each cell's
    # weighted sum of its entries, by hand
    full = dispersion.coupling(sx, sy, mx[entry_monitor], my[entry_monitor], speed, direction,
                               stability, effective_height=10.0,
                               max_distance=20_000).to_dense()
    expected = np.zeros((6, 3, hours))
    for entry, cell in enumerate(entry_cell):
        expected[:, cell, :] += entry_weight[entry] * full[:, entry, :]
    px, py, entry_receptor = _distinct_receptors(mx[entry_monitor], my[entry_monitor])
    assert len(px) == 4 and np.allclose(px[entry_receptor], mx[entry_monitor])
    point_x, point_y, mapping = _receptor_map(mx[entry_monitor], my[entry_monitor], entry_cell,
                                              entry_weight, 3)
    assert len(point_x) == 4  # M1 and M2 coupled once for both cells
    got = dispersion.grouped_coupling(sx, sy, point_x, point_y, speed, direction, stability,
                                      receptor_weights=mapping, effective_height=10.0,
                                      max_distance=20_000)
    assert expected.shape == (6, 3, hours) and expected.max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # and without weights: the plain mean over each cell's entries
    _, _, plain = _receptor_map(mx[entry_monitor], my[entry_monitor], entry_cell, None, 3)
    mean = np.zeros((6, 3, hours))
    for entry, cell in enumerate(entry_cell):
        mean[:, cell, :] += full[:, entry, :] / np.sum(entry_cell == cell)
    np.testing.assert_allclose(
        dispersion.grouped_coupling(sx, sy, point_x, point_y, speed, direction, stability,
                                    receptor_weights=plain, effective_height=10.0,
                                    max_distance=20_000), mean, rtol=1e-10, atol=1e-12)
