"""The grouped coupling, the bounded fit (gain error, released sources, the solver) and
the rule that lists a registered source before a virtual one inside its location."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import lsq_linear

from sourcegrid.grid.spec import GridSpec
from sourcegrid.tracing import dispersion
from sourcegrid.tracing.attribution import (
    _bounded_least_squares,
    _registered_first,
    fit_contributions,
)


def _wind(rng, hours):
    speed = rng.uniform(1, 6, hours)
    direction = rng.uniform(0, 360, hours)
    direction[::17] = np.nan  # hours without a wind
    stability = np.array(list("ABCDEF"))[rng.integers(0, 6, hours)]
    return speed, direction, stability


def test_grouped_coupling_is_the_sum_of_the_coupling():
    """out[g, k, t] = Σ_s∈g Σ_r w_s W[r, k] c[s, r, t], with c from coupling()."""
    rng = np.random.default_rng(5)
    hours = 60
    speed, direction, stability = _wind(rng, hours)
    sx, sy = rng.uniform(-5000, 5000, 7), rng.uniform(-5000, 5000, 7)
    rx, ry = rng.uniform(-3000, 3000, 5), rng.uniform(-3000, 3000, 5)
    group = np.array([0, 0, 1, 2, 2, 2, 3])
    weight = np.array([0.5, 0.5, 1.0, 0.2, 0.3, 0.5, 1.0])
    # receptor 1 weighs in two cells (a monitor two cells interpolate from)
    receptor_weights = np.array([[1.0, 0.0], [0.6, 0.3], [0.4, 0.0], [0.0, 0.7], [0.0, 0.0]])
    kwargs = dict(effective_height=12.0, max_distance=8000.0, sigma_theta_deg=10.0,
                  dtype=np.float64)
    full = dispersion.coupling(sx, sy, rx, ry, speed, direction, stability,
                               **kwargs).to_dense()  # S × R × T
    expected = np.einsum("srt,rk->skt", full, receptor_weights)
    expected = np.stack([(expected[group == g] * weight[group == g, None, None]).sum(axis=0)
                         for g in range(4)])
    got = dispersion.grouped_coupling(sx, sy, rx, ry, speed, direction, stability,
                                      receptor_weights=sparse.csr_matrix(receptor_weights),
                                      source_group=group, source_weight=weight,
                                      chunk_elements=97, **kwargs)
    assert got.shape == (4, 2, hours) and expected.max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_grouped_coupling_on_lattices_shares_the_displacements():
    """Sources and receptors on lattices of a common step with one release height (the
    tracer's virtual sources around a cell's receptor points): each distinct
    displacement is coupled once, and the sums equal the loop over sources (plain
    Gaussian plume per source, dense) weighted by hand."""
    rng = np.random.default_rng(3)
    hours = 48
    speed, direction, stability = _wind(rng, hours)
    ticks = np.arange(-3, 4) * 500.0
    sx, sy = (a.ravel() for a in np.meshgrid(ticks, ticks))  # 49 sources, 500 m apart
    rx, ry = (a.ravel() for a in np.meshgrid([-500.0, 0.0, 500.0], [0.0, 500.0]))
    group = np.arange(len(sx)) % 5
    weight = rng.uniform(0.5, 1.5, len(sx))
    receptor_weights = np.zeros((len(rx), 2))
    receptor_weights[:3, 0] = 1 / 3  # cell 0: the first three receptors
    receptor_weights[2:, 1] = 1 / 4  # cell 1: the last four (receptor 2 in both)
    shared = dispersion._shared_displacements(sx, sy, rx, ry, 10.0, 1e9)
    assert shared is not None and len(shared["dx"]) < len(sx) * len(rx) / 2
    slow = dispersion.coupling_loop(sx, sy, rx, ry, speed, direction, stability,
                                    effective_height=10.0)  # S × R × T
    expected = np.einsum("srt,rk->skt", slow * weight[:, None, None], receptor_weights)
    expected = np.stack([expected[group == g].sum(axis=0) for g in range(5)])
    got = dispersion.grouped_coupling(sx, sy, rx, ry, speed, direction, stability,
                                      receptor_weights=receptor_weights, source_group=group,
                                      source_weight=weight, effective_height=10.0,
                                      max_distance=1e9, dtype=np.float64, chunk_elements=333)
    assert got.shape == (5, 2, hours) and (expected > 0).sum() > 100
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    # per-hour heights that differ between sources are not shared
    heights = np.tile(np.linspace(5, 50, len(sx))[:, None], (1, hours))
    assert dispersion._shared_displacements(sx, sy, rx, ry, heights, 1e9) is None


def test_coupling_direction_window_keeps_every_element_of_the_dense_band():
    """The per-pair window of hours (sorted by direction) drops nothing the |y| < 4σy band
    keeps: the values equal the loop over sources (dense, no window) where it is non-zero."""
    rng = np.random.default_rng(11)
    hours = 72
    speed, direction, stability = _wind(rng, hours)
    sx, sy = rng.uniform(-6000, 6000, 9), rng.uniform(-6000, 6000, 9)
    rx, ry = rng.uniform(-6000, 6000, 6), rng.uniform(-6000, 6000, 6)
    fast = dispersion.coupling(sx, sy, rx, ry, speed, direction, stability,
                               effective_height=20.0, max_distance=1e9, dtype=np.float64,
                               chunk_elements=50).to_dense()
    slow = dispersion.coupling_loop(sx, sy, rx, ry, speed, direction, stability,
                                    effective_height=20.0)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert (slow > 0).sum() > 100


def test_a_bounded_gain_takes_the_mean_of_a_sensor_gain_error():
    """Excess = 0.2 × background exactly (a sensor reading 20 % high, no source).

    Hand-worked: with |b| ≤ 0.35 and no offset, b = 0.2 and the nuisance is the whole
    excess, so no share is left to the source; with |b| ≤ 0.1 the 1-D convex optimum
    0.2 is clipped to the bound: nuisance = 0.1 × background.
    """
    background = np.array([50.0, 100.0, 150.0, 100.0, 60.0, 140.0])
    excess = 0.2 * background
    source = np.array([[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]])  # a source seen in two hours
    cells = np.zeros(6, dtype=np.int64)
    beta, _, nuisance = fit_contributions(excess, source, np.array([0]), prior_sd=np.inf,
                                          offsets=cells, covariate=background,
                                          max_offset=0.0, max_gain=0.35)
    np.testing.assert_allclose(nuisance, excess, atol=1e-9)
    assert beta[0] == pytest.approx(0.0, abs=1e-9)
    beta, _, nuisance = fit_contributions(excess, np.zeros((1, 6)), np.array([0]),
                                          prior_sd=np.inf, offsets=cells,
                                          covariate=background, max_offset=0.0, max_gain=0.1)
    np.testing.assert_allclose(nuisance, 0.1 * background, atol=1e-9)
    # the free coefficient of the centred background (max_gain None) cannot take the
    # mean: b (B − B̄) has mean 0 (with the offset held at 0 the mean stays unexplained)
    _, _, nuisance = fit_contributions(excess, np.zeros((1, 6)), np.array([0]),
                                       prior_sd=np.inf, offsets=cells, covariate=background,
                                       max_offset=0.0)
    assert nuisance.mean() == pytest.approx(0.0, abs=1e-9)


def test_a_released_source_is_fitted_without_the_prior():
    """One source, excess = 10 × its prediction. With the prior (τ = 1) β is pulled
    towards 1; released, β = 10 exactly (plain least squares, below the bound 100)."""
    predicted = np.array([[1.0, 2.0, 0.0, 3.0, 1.0, 0.0, 2.0, 1.0]])
    excess = 10.0 * predicted[0] + np.array([0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    held, _, _ = fit_contributions(excess, predicted, np.array([4]), prior_sd=1.0)
    free, _, _ = fit_contributions(excess, predicted, np.array([4]), prior_sd=1.0,
                                   released=[4])
    # σ = 1.4826 × MAD of the excess is > 0 here, so the prior does pull
    assert held[0] < 9.9
    assert free[0] == pytest.approx(10.0, rel=1e-9)


def test_bounded_least_squares_matches_bvls_when_bounds_bind():
    """Hand-worked small case, then a tall random one against scipy's BVLS."""
    # min (x0 − 3)² + (x1 + 1)²  with 0 ≤ x0 ≤ 1, −2 ≤ x1: x = (1, −1)
    x = _bounded_least_squares(np.eye(2), np.array([3.0, -1.0]), np.array([0.0, -2.0]),
                               np.array([1.0, np.inf]))
    np.testing.assert_allclose(x, [1.0, -1.0], atol=1e-12)
    rng = np.random.default_rng(8)
    matrix = np.abs(rng.normal(size=(400, 12)))
    target = matrix @ rng.uniform(-1, 3, 12) + rng.normal(0, 0.1, 400)
    lower = np.r_[np.zeros(9), -0.5, -0.5, -np.inf]
    upper = np.r_[np.full(9, 1.5), 0.5, np.inf, np.inf]
    got = _bounded_least_squares(matrix, target, lower, upper)
    expected = lsq_linear(matrix, target, bounds=(lower, upper), method="bvls").x
    cost = lambda v: float(np.sum((matrix @ v - target) ** 2))  # noqa: E731
    assert np.all(got >= lower - 1e-9) and np.all(got <= upper + 1e-9)
    assert cost(got) == pytest.approx(cost(expected), rel=1e-9)
    assert (np.isclose(got, upper) | np.isclose(got, lower)).sum() >= 2  # bounds bind


def test_a_registered_source_inside_a_virtual_ones_location_goes_first():
    spec = GridSpec.from_bbox((116.5, 38.0, 117.2, 38.55), 3000)
    x0, y0 = spec.centre_xy(np.array([5]), np.array([5]))
    # virtual source at the cell centre; A 600 m east, B 1.8 km north, C 400 m west but
    # without a prediction at the cell
    xs = x0[0] + np.array([0.0, 600.0, 0.0, -400.0])
    ys = y0[0] + np.array([0.0, 0.0, 1800.0, 0.0])
    lon, lat = spec.to_lonlat(xs, ys)
    table = pd.DataFrame({
        "source_id": ["unregistered-1", "B", "A", "C"], "kind": ["unregistered", "registered",
                                                                "registered", "registered"],
        "lon": lon[[0, 2, 1, 3]], "lat": lat[[0, 2, 1, 3]],
        "predicted": [np.nan, 3.0, 0.5, 0.0], "_location_m": [1000.0, np.nan, np.nan, np.nan]})
    moved, notes = _registered_first(table, spec)
    assert list(moved["source_id"]) == ["A", "unregistered-1", "B", "C"]
    assert list(notes) == [0] and notes[0][0] == "unregistered-1"
    assert notes[0][1] == pytest.approx(600.0, abs=1.0)
    # with a location estimate of 300 m nothing moves
    same, none = _registered_first(table.assign(_location_m=[300.0, np.nan, np.nan, np.nan]),
                                   spec)
    assert list(same["source_id"]) == list(table["source_id"]) and none == {}


def test_bad_gain_bound_is_reported():
    from sourcegrid.tracing.attribution import TraceError, trace_cell

    from .synthetic import make_workspace

    ws, spec, _, times = make_workspace(hours=48)
    cells = spec.cells()
    target = cells.loc[(cells.row == 6) & (cells.col == 6)].iloc[0]
    with pytest.raises(TraceError, match=r"max_gain_error must be in \[0, 1\) or None, got 2"):
        trace_cell(ws, target.cell_id, times[0], times[-1], max_gain_error=2)
