"""Gi* by convolution against PySAL esda's G_Local(star=True, transform='B').

The weights are built here independently of sourcegrid: a brute-force
neighbour dict over the cells with data (holes excluded) fed to
libpysal.weights.W, or libpysal.weights.DistanceBand on the cell centres.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from esda.getisord import G_Local
from libpysal.weights import DistanceBand, W
from scipy.stats import norm

from sourcegrid.grid.hotspots import gi_star


def _random_grid(seed: int, rows: int, cols: int, hole_share: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.gamma(3.0, 20.0, size=(rows, cols))  # PM2.5-like, positive mean
    values[rng.random((rows, cols)) < hole_share] = np.nan
    return values


def _esda_z(values: np.ndarray, weights: W, cells: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([values[cell] for cell in cells])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands, division warnings inside esda
        result = G_Local(y, weights, transform="B", star=True, permutations=0)
    return np.asarray(result.Zs), np.asarray(result.p_norm)


def _neighbour_weights(values: np.ndarray, radius: float, shape: str):
    cells = [tuple(c) for c in np.argwhere(np.isfinite(values))]
    index = {cell: k for k, cell in enumerate(cells)}
    neighbours = {}
    for k, (i, j) in enumerate(cells):
        found = []
        for (a, b) in cells:
            if (a, b) == (i, j):
                continue  # esda adds the self-weight 1 itself for star=True, 'B'
            if shape == "square":
                distance = max(abs(a - i), abs(b - j))
            else:
                distance = ((a - i) ** 2 + (b - j) ** 2) ** 0.5
            if distance <= radius:
                found.append(index[(a, b)])
        neighbours[k] = found
    return W(neighbours, silence_warnings=True), cells


@pytest.mark.parametrize("shape", ["square", "disk"])
@pytest.mark.parametrize("radius", [1, 1.5, 2, 3, 6])
def test_gi_star_equals_esda_with_holes(shape, radius):
    values = _random_grid(seed=int(radius * 10) + len(shape), rows=17, cols=23, hole_share=0.2)
    weights, cells = _neighbour_weights(values, radius, shape)
    expected_z, expected_p = _esda_z(values, weights, cells)

    z, p = gi_star(values, radius, shape)
    ours_z = np.array([z[cell] for cell in cells])
    ours_p = np.array([p[cell] for cell in cells])
    np.testing.assert_allclose(ours_z, expected_z, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours_p, expected_p, rtol=0, atol=1e-9)
    holes = ~np.isfinite(values)
    assert np.isnan(z[holes]).all() and np.isnan(p[holes]).all()


@pytest.mark.parametrize("radius", [1.5, 2.5])
def test_gi_star_disk_equals_esda_distance_band(radius):
    """DistanceBand on cell centres (unit spacing) is the disk band."""
    values = _random_grid(seed=7, rows=12, cols=15, hole_share=0.15)
    cells = [tuple(c) for c in np.argwhere(np.isfinite(values))]
    centres = np.array([(j + 0.5, i + 0.5) for i, j in cells], dtype=float)  # x = col, y = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = DistanceBand(centres, threshold=radius, binary=True, silence_warnings=True)
    expected_z, _ = _esda_z(values, weights, cells)
    z, _ = gi_star(values, radius, "disk")
    np.testing.assert_allclose([z[cell] for cell in cells], expected_z, rtol=0, atol=1e-9)


def test_gi_star_large_disk_equals_esda():
    """A radius-8 disk (17 x 17 kernel, six distinct row widths stacked as boxes)."""
    values = _random_grid(seed=11, rows=30, cols=30, hole_share=0.25)
    weights, cells = _neighbour_weights(values, 8, "disk")
    expected_z, _ = _esda_z(values, weights, cells)
    z, _ = gi_star(values, 8, "disk")
    np.testing.assert_allclose([z[cell] for cell in cells], expected_z, rtol=0, atol=1e-9)


@pytest.mark.parametrize("radius", [3, 4.2, 7])
def test_gi_star_disk_stack_of_boxes_equals_esda_on_a_larger_grid(radius):
    """Disks with 4 to 8 distinct row widths, built as stacked running-sum boxes, on a
    40 x 50 grid with holes and edges, against DistanceBand on the cell centres."""
    values = _random_grid(seed=int(radius * 10), rows=40, cols=50, hole_share=0.2)
    cells = [tuple(c) for c in np.argwhere(np.isfinite(values))]
    centres = np.array([(j + 0.5, i + 0.5) for i, j in cells], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = DistanceBand(centres, threshold=radius + 1e-9, binary=True,
                               silence_warnings=True)
    expected_z, expected_p = _esda_z(values, weights, cells)
    result = gi_star(values, radius, "disk")
    np.testing.assert_allclose([result.z[cell] for cell in cells], expected_z, rtol=0, atol=1e-9)
    np.testing.assert_allclose([result.p[cell] for cell in cells], expected_p, rtol=0, atol=1e-9)


def test_gi_star_p_is_computed_on_request_and_unpacks():
    values = _random_grid(seed=3, rows=9, cols=11, hole_share=0.1)
    result = gi_star(values, 2, "square")
    z, p = result
    assert z is result.z and p is result.p  # computed once, then kept
    finite = np.isfinite(z)
    np.testing.assert_allclose(p[finite], norm.sf(np.abs(z[finite])), rtol=1e-12, atol=0)
    assert np.isnan(p[~finite]).all()
