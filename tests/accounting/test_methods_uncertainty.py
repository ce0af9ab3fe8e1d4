"""Uncertainty (不确定性分析): Approach 1 and Approach 2 of IPCC 2006 Vol. 1 Ch. 3.

Expected values are worked out by hand: for a sum of rows sharing one coefficient
(fully correlated) σ = u_c × ΣE; for independent rows σ = √Σ(u E)² (IPCC Eq. 3.1/3.2);
for E = G(1 − ηk), ∂E/∂η = −Gk, so σ_E = G k η u_η. Monte Carlo is checked against
those within its sampling error (20,000 draws: the sd of an sd estimate is about
σ/√(2n) = 0.5 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.accounting.uncertainty import (
    analytic,
    bounded_sd,
    monte_carlo,
    propagate,
    row_uncertainties,
)
from sourcegrid.cli.main import app
from sourcegrid.errors import InputError, NotFoundError, OptionError

runner = CliRunner()


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def rows(coefficient_rows, generation, eta=0.0, k=np.nan, u_c=0.0, u_a=0.0, u_eta=0.0,
         u_k=0.0):
    n = len(coefficient_rows)
    e = np.asarray(generation, float) * (1 - eta * (1.0 if np.isnan(k) else k))
    return pd.DataFrame(dict(
        enterprise_id=[f"E{i}" for i in range(n)], period="2017", source_row=np.arange(n) + 2,
        region_code="130900", industry_code="4411", pollutant="SO2",
        coefficient_row=coefficient_rows, treatment="FGD" if eta else "",
        generation=generation, emission=e, removal_efficiency=eta, k=k,
        generation_coefficient_rsd=u_c, activity_rsd=u_a, removal_efficiency_rsd=u_eta,
        k_rsd=u_k))


def test_shared_coefficient_is_fully_correlated():
    shared = propagate(rows([5, 5], [500.0, 500.0], u_c=0.1), draws=20000).totals.iloc[0]
    # σ = 0.1 × 1000 = 100; 95 %: 1000 ± 196.0; U = 19.6 %
    assert shared["sd"] == pytest.approx(100.0)
    assert (shared["low"], shared["high"]) == pytest.approx((804.0036, 1195.9964), abs=1e-3)
    assert shared["uncertainty_percent"] == pytest.approx(19.59964, rel=1e-5)
    assert shared["mc_mean"] == pytest.approx(1000.0, rel=0.005)
    assert shared["mc_sd"] == pytest.approx(100.0, rel=0.03)
    apart = propagate(rows([5, 6], [500.0, 500.0], u_c=0.1), draws=20000).totals.iloc[0]
    # independent: σ = √(50² + 50²) = 70.71
    assert apart["sd"] == pytest.approx(70.7107, rel=1e-5)
    assert apart["mc_sd"] == pytest.approx(70.7107, rel=0.03)


def test_removal_efficiency_and_k():
    # G = 1000, η = 0.9, k = 1 (k = 1 cannot vary: its sd cap √(1·0) = 0), u_η = 5 %:
    # E = 100, σ = 1000 × 1 × 0.9 × 0.05 = 45
    total = propagate(rows([5], [1000.0], eta=0.9, k=1.0, u_eta=0.05, u_k=0.1),
                      draws=20000).totals.iloc[0]
    assert total["emission"] == pytest.approx(100.0)
    assert total["sd"] == pytest.approx(45.0)
    assert total["mc_mean"] == pytest.approx(100.0, rel=0.01)  # the Beta keeps the mean
    assert total["mc_sd"] == pytest.approx(45.0, rel=0.04)
    # the cap: η = 0.99, u = 10 % → sd = min(0.099, 0.5 √(0.99 × 0.01)) = 0.049749
    assert bounded_sd(0.99, 0.10) == pytest.approx(0.5 * np.sqrt(0.0099))


def test_activity_shared_by_pollutants_of_one_row():
    frame = rows([5, 6], [400.0, 600.0], u_a=0.05)
    frame["source_row"] = 2  # one activity row, two pollutants (same group)
    frame["enterprise_id"] = "E0"
    u = row_uncertainties(frame)
    totals, contributions = analytic(frame, u, ["region"])
    # one activity draw for both: σ = 0.05 × 1000 = 50
    assert totals.iloc[0]["sd"] == pytest.approx(50.0)
    assert contributions.iloc[0]["share"] == pytest.approx(1.0)
    mc = monte_carlo(frame, u, ["region"], draws=20000)
    assert mc.iloc[0]["mc_sd"] == pytest.approx(50.0, rel=0.03)


def test_rsd_from_library_range_and_defaults():
    frame = rows([5, 6], [100.0, 100.0]).drop(columns=["generation_coefficient_rsd"])
    library = pd.DataFrame(dict(coefficient_row=[5, 6], generation_coefficient=[10.0, 10.0],
                                generation_coefficient_low=[8.04, np.nan],
                                generation_coefficient_high=[11.96, np.nan]))
    u = row_uncertainties(frame, library)
    # 95 % range 8.04–11.96 around 10: RSD = 3.92 / (2 × 1.96 × 10) = 0.1
    assert u["u_generation_coefficient"].iloc[0] == pytest.approx(0.1, rel=1e-3)
    assert list(u["origin_generation_coefficient"]) == ["library range", "default"]
    assert u["u_generation_coefficient"].iloc[1] == pytest.approx(0.30)


def test_by_groups_and_bad_input():
    frame = pd.concat([rows([5], [100.0], u_c=0.1), rows([6], [300.0], u_c=0.1)
                       .assign(pollutant="NOx", enterprise_id="E9")], ignore_index=True)
    out = propagate(frame, ["pollutant"], draws=200).totals.set_index("pollutant")
    assert out.loc["SO2", "sd"] == pytest.approx(10.0) and out.loc["NOx", "sd"] == \
        pytest.approx(30.0)
    with pytest.raises(NotFoundError, match="valid: enterprise, industry, pollutant"):
        propagate(frame, ["county"])
    with pytest.raises(OptionError, match="at least 2"):
        propagate(frame, draws=1)
    bad = frame.assign(generation_coefficient_rsd=[-0.1, np.inf])
    with pytest.raises(InputError) as caught:
        propagate(bad)
    assert [(p.row, p.reason) for p in caught.value.problems] == [(2, "bad_uncertainty"),
                                                                   (3, "bad_uncertainty")]


def test_cli_uncertainty_and_account_option(tmp_path):
    path = tmp_path / "emissions.csv"
    rows([5, 5], [500.0, 500.0], u_c=0.1).to_csv(path, index=False)
    out = tmp_path / "intervals.csv"
    result = runner.invoke(app, ["uncertainty", str(path), "--draws", "200", "--out", str(out),
                                 "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "Approach 1" in result.output and "Largest variance contributions" in result.output
    assert pd.read_csv(out)["sd"].iloc[0] == pytest.approx(0.1)  # t
    bad = tmp_path / "bad.csv"
    rows([5], [500.0]).assign(emission="x", k="-1").to_csv(bad, index=False)
    result = runner.invoke(app, ["uncertainty", str(bad)])
    assert result.exit_code == 2
    assert "not_a_number" in result.output and "negative_amount" in result.output
    result = runner.invoke(app, ["uncertainty", str(path), "--by", "county"])
    assert result.exit_code == 2 and "unknown grouping key 'county'" in result.output
    assert runner.invoke(app, ["uncertainty", "--help"]).exit_code == 0
    assert "--uncertainty" in runner.invoke(app, ["account", "--help"]).output


def test_monte_carlo_memory_is_bounded_by_the_chunk():
    import tracemalloc

    # 10,000 independent rows (no coefficient row: nothing shared). Materialised, 250 draws
    # would hold 200 × 10,000 float32 (7.6 MiB) more than 50 draws; in chunks of 256 rows
    # the peak grows by the chunk only (200 × 256 values per array)
    n = 10_000
    frame = rows([""] * n, np.full(n, 10.0), u_c=0.1, u_a=0.05)
    frame["coefficient_row"] = pd.Series([pd.NA] * n, dtype="string")
    u = row_uncertainties(frame)
    peaks, results = [], []
    for draws in (50, 250):
        tracemalloc.start()
        results.append(monte_carlo(frame, u, ["region"], draws=draws, chunk_rows=256))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] - peaks[0] < 200 * n * 4 / 4
    # independent rows: σ = √n × 10 × √(0.1² + 0.05² + 0.1² × 0.05²) = 111.9 kg
    assert results[1].iloc[0]["mc_sd"] == pytest.approx(np.sqrt(n) * 10 * np.sqrt(
        0.01 + 0.0025 + 0.01 * 0.0025), rel=0.2)
