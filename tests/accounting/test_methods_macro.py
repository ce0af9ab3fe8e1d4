"""Macro checks (宏观校核), hand-worked.

Reference totals are the 2nd census bulletin's national totals of 2017 (DESIGN.md);
2017 population 1,390.08 million (国家统计局 statistical communiqué 2017); the energy
bound is 2 × coal × S/100 (M(SO2)/M(S) = 2); outliers by the modified z-score of
Iglewicz and Hoaglin (1993).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.accounting.macro import (
    energy_check,
    intensity_outliers,
    production_check,
    reference_check,
)
from sourcegrid.cli.main import app
from sourcegrid.errors import InputError, NotFoundError, OptionError

runner = CliRunner()


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def emissions():
    return pd.DataFrame(dict(
        enterprise_id=["E1", "E2", "E3"], region_code=["130902", "130902", "130903"],
        industry_code="4411", section="锅炉", product="", raw_material="燃煤", process="煤粉炉",
        pollutant=["SO2", "SO2", "NOx"], generation=[9.0e6, 1.0e6, 5.0e6],
        emission=[1.0e6, 0.392e6, 2.0e6], activity_in_basis=[1.0, 1.0, 1.0]))


def test_reference_scaled_by_population():
    # share = 13 900 800 / 1 390 080 000 = 0.01; SO2 reference 696.32e4 t × 0.01 = 69 632 t
    out = reference_check(emissions(), population=13_900_800).set_index("pollutant")
    assert out.loc["SO2", "reference_t"] == pytest.approx(69632.0)
    assert out.loc["SO2", "accounted_t"] == pytest.approx(1392.0)  # (1e6 + 0.392e6) kg
    assert out.loc["SO2", "ratio"] == pytest.approx(1392 / 69632)
    assert out.loc["SO2", "status"] == "below"  # 0.02 < 0.05
    # NOx: 2 000 t against 1785.22e4 × 0.01 = 178 522 t: 0.0112 < 0.05 → below
    assert out.loc["NOx", "ratio"] == pytest.approx(2000 / 178522.0)
    assert out.loc["NOx", "status"] == "below"
    # COD not accounted at all: 0 t, below
    assert out.loc["COD", "accounted_t"] == 0.0 and out.loc["COD", "status"] == "below"


def test_reference_options():
    with pytest.raises(OptionError, match="exactly one"):
        reference_check(emissions())
    with pytest.raises(OptionError, match="exactly one"):
        reference_check(emissions(), share=0.1, area_km2=5)
    with pytest.raises(NotFoundError, match="census2017"):
        reference_check(emissions(), share=0.1, reference="census1990")
    with pytest.raises(OptionError, match="0 < low < high"):
        reference_check(emissions(), share=0.1, low=5, high=1)


def test_energy_bound():
    energy = pd.DataFrame(dict(region_code=["130902", "130903"], coal=["25", "1"],
                               coal_unit=["万吨", "万吨"], sulfur_percent=["1.0", "1.0"]))
    out = energy_check(emissions(), energy).set_index("region_code")
    # 130902: bound = 2 × 250 000 t × 1 % = 5 000 t; SO2 generation (9e6 + 1e6) kg = 10 000 t
    assert out.loc["130902", "reference_t"] == pytest.approx(5000.0)
    assert out.loc["130902", "accounted_t"] == pytest.approx(10000.0)
    assert out.loc["130902", "status"] == "above"
    # 130903: bound 200 t, no SO2 accounted → below 0.3 × bound
    assert out.loc["130903", "status"] == "below"
    bad = energy.assign(coal=["x", "-1"], sulfur_percent=["1", "200"], coal_unit=["m", "吨"])
    with pytest.raises(InputError) as caught:
        energy_check(emissions(), bad)
    assert {(p.row, p.column, p.reason) for p in caught.value.problems} == {
        (2, "coal", "not_a_number"), (3, "coal", "negative_amount"),
        (3, "sulfur_percent", "out_of_range"), (2, "coal_unit", "unit_mismatch")}


def test_production_against_activity():
    activity = pd.DataFrame(dict(industry_code=["4411", "4411", "1713"],
                                 activity=["1", "5000", "10"], activity_unit=["万吨", "吨", "吨"]))
    stats = pd.DataFrame(dict(industry_code=["4411", "1713"], output=["16000", "10"],
                              unit=["吨", "吨"]))
    out = production_check(activity, stats).set_index("industry_code")
    # 4411: 10 000 + 5 000 = 15 000 t against 16 000 t: ratio 0.9375, within ±20 %
    assert out.loc["4411", "accounted"] == pytest.approx(15000.0)
    assert out.loc["4411", "status"] == "within"
    assert out.loc["1713", "ratio"] == pytest.approx(1.0)


def test_intensity_outliers():
    # six enterprises of one combination at 1.0 … 1.1 kg/t and one at 10 kg/t
    intensity = [1.0, 1.02, 1.05, 1.1, 0.98, 1.01, 10.0]
    frame = pd.DataFrame(dict(
        enterprise_id=[f"E{i}" for i in range(7)], industry_code="3311", section="焊接",
        product="", raw_material="焊材", process="", pollutant="PM",
        emission=intensity, activity_in_basis=1.0))
    out = intensity_outliers(frame)
    assert list(out["enterprise_id"]) == ["E6"]
    # median 1.02; MAD of log intensities: |log x − log 1.02| median = log(1.02/1.0) …
    logs = np.log(intensity)
    mad = np.median(np.abs(logs - np.median(logs)))
    assert out["z"].iloc[0] == pytest.approx(0.6745 * (np.log(10) - np.median(logs)) / mad)
    assert out["ratio"].iloc[0] == pytest.approx(10 / 1.02)


def test_cli_check_macro(tmp_path):
    path = tmp_path / "emissions.csv"
    emissions().to_csv(path, index=False)
    energy = tmp_path / "energy.csv"
    pd.DataFrame(dict(region_code=["130902"], coal=["25"], coal_unit=["万吨"],
                      sulfur_percent=["1.0"])).to_csv(energy, index=False)
    out = tmp_path / "macro.csv"
    result = runner.invoke(app, ["check", "macro", str(path), "--population", "13900800",
                                 "--energy", str(energy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    checks = pd.read_csv(out)
    assert len(checks) == 8  # 7 reference pollutants + 1 region
    assert "not: " in result.output and "energy SO2 above" in result.output
    result = runner.invoke(app, ["check", "macro", str(path), "--share", "2"])
    assert result.exit_code == 2 and "a share at most 1" in result.output
    assert runner.invoke(app, ["check", "macro", "--help"]).exit_code == 0
