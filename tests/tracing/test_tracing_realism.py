"""The cross-validated fallback of the ranking model, the bounded offset of the fit and
the receptors that stand for a cell (the tracer predicts what the fused value is made of)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.tracing.attribution import MONITOR_WEIGHT, _receptors, fit_contributions
from sourcegrid.tracing.learning import RankingModel


def _physical_is_right(cells=30):
    """Traces whose physical rank 1 is always the cause; the other features are noise."""
    rng = np.random.default_rng(11)
    rows = []
    for c in range(cells):
        for rank in range(1, 7):
            rows.append({"run_id": f"r{c}", "cell_id": f"R{c:04d}C0001",
                         "source_id": f"S{c}-{rank}", "kind": "registered", "lon": 116.8,
                         "lat": 38.3, "rank": rank, "physical_rank": rank,
                         "share": rng.uniform(0, 1), "scale_factor": 1.0,
                         "predicted": rng.uniform(0.1, 2), "fitted": rng.uniform(0, 1),
                         "distance_m": rng.uniform(500, 9000),
                         "upwind_hours_share": rng.uniform(0, 0.5), "correlation": 0.5,
                         "cpf_at_bearing": 0.3, "group_size": 1})
    frame = pd.DataFrame(rows)
    first = frame.loc[frame["physical_rank"] == 1]
    findings = pd.DataFrame({"cell_id": first["cell_id"], "source_id": first["source_id"],
                             "lon": np.nan, "lat": np.nan, "confirmed": True})
    return frame, findings


def test_model_falls_back_when_it_cannot_beat_the_physical_ranking():
    results, findings = _physical_is_right()
    model = RankingModel.fit(results, findings)
    # the physical ranking puts every cause first, so the model can at best tie it in
    # cross-validation: it must not replace it
    assert model.fallback and "cross-validation" in model.reason
    table = results[results["cell_id"] == "R0003C0001"]
    assert model.rerank(table)["source_id"].tolist() == table["source_id"].tolist()
    # without the check, the model is fitted as before
    assert not RankingModel.fit(results, findings, cross_validate=False).fallback


def test_offset_is_bounded():
    # a steady 10 µg/m³ from the one candidate (predicted 1 at the reported rate, so
    # β = 10) and no sensor offset: with a free offset the constant part is ambiguous
    # between β and a; bounded at 2 µg/m³ the source must carry at least 8 of the 10
    hours = np.arange(200)
    predicted = np.vstack([1.0 + 0.05 * np.sin(hours / 5.0)])
    excess = 10.0 * predicted[0]
    offsets = np.zeros(len(hours), dtype=np.int64)
    beta, offset, _ = fit_contributions(excess, predicted, np.array([0]), prior_sd=np.inf,
                                        offsets=offsets, max_offset=2.0)
    assert abs(offset[0]) <= 2.0 + 1e-9
    assert beta[0] * predicted[0].mean() >= 8.0 - 1e-6
    assert np.allclose(beta[0] * predicted[0] + offset[0], excess, atol=0.6)


def test_receptors_follow_the_fusion():
    monitors = pd.DataFrame({"site_id": ["REF", "M1", "M2"],
                             "site_kind": ["reference", "micro", "micro"],
                             "x": [0.0, 100.0, 6000.0], "y": [0.0, 0.0, 0.0],
                             "cell_id": ["A", "A", "B"]})
    cell_x, cell_y = np.array([0.0, 3000.0]), np.array([0.0, 0.0])
    x, y, owner, kinds, weight = _receptors(["A", "C"], cell_x, cell_y, 3000.0, 3, monitors)
    assert kinds == ["monitors", "interpolated"]
    # cell A: its two monitors, weighted 1/0.10² : 1/0.25² (fusion weights)
    a = owner == 0
    ratio = MONITOR_WEIGHT["reference"] / MONITOR_WEIGHT["micro"]
    assert np.allclose(weight[a], [ratio / (ratio + 1), 1 / (ratio + 1)])
    # cell C (no monitor, centre at 3 km): cell A's monitors (mean position 50 m, 2950 m
    # away) and cell B's (6000 m, 3000 m away), inverse distance squared between cells
    c = owner == 1
    lam_a, lam_b = 1 / 2950.0 ** 2, 1 / 3000.0 ** 2
    expected = np.array([lam_a * ratio / (ratio + 1), lam_a / (ratio + 1), lam_b]) / (lam_a + lam_b)
    assert np.allclose(weight[c], expected)
    for index in (0, 1):
        assert np.isclose(weight[owner == index].sum(), 1.0)
