"""The shipped illustrative sample library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.coefficients import find_tier, load_library, sample_library
from sourcegrid.expressions import parse
from sourcegrid.sample.library import sample_library_path

from .helpers import ZH_HEADERS


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return sample_library().rows


def test_size_and_sources(rows):
    assert 60 <= rows["coefficient_row"].nunique() <= 150
    # official tables are not bundled: every row says its values are illustrative
    assert rows["source"].str.contains("示意值 illustrative, not the official 二污普 table").all()
    assert (rows["library"] == "sample").all()


def test_cotton_printing_and_dyeing(rows):
    dyeing = rows[rows["industry_code"] == "1713"]
    assert set(dyeing["section"]) == {"前处理", "染色", "印花", "整理"}
    assert (dyeing["industry_kind"] == "process").all()
    assert (dyeing["pollutant_category"] == "water").all()
    for section, group in dyeing.groupby("section"):
        assert set(group["pollutant"]) == {"COD", "NH3-N", "TN", "TP"}, section
    assert (dyeing["basis"] == "product").all() and (dyeing["activity_unit"] == "吨").all()
    assert (dyeing.loc[dyeing["treatment"] != "", "k_formula"]
            == "treated_volume / wastewater_volume").all()
    # plausible: raw COD of a whole line (all sections) 50-300 kg per t of cloth
    cod = dyeing[(dyeing["pollutant"] == "COD") & (dyeing["treatment"] == "")]
    per_section = cod.groupby("section")["generation_coefficient"].max()
    assert 50 <= per_section.sum() <= 300
    # NH3-N, TN, TP are written in g/t: factor 0.001 to kg/t
    assert (dyeing.loc[dyeing["pollutant"] != "COD", "coefficient_factor"] == 0.001).all()


def test_thermal_power(rows):
    power = rows[rows["industry_code"] == "4411"]
    assert set(power["raw_material"]) == {"燃煤", "天然气"}
    assert {"≥300MW", "100-300MW", "<100MW"} <= set(power["scale"])
    assert set(power["pollutant"]) == {"SO2", "NOx", "PM"}
    coal = power[power["raw_material"] == "燃煤"]
    assert set(coal.loc[coal["pollutant"] == "SO2", "generation_expression"]) == {"17*S"}
    assert (power.loc[power["raw_material"] == "天然气", "activity_unit"] == "万立方米").all()
    efficiency = power.groupby("treatment")["removal_efficiency"].first()
    assert efficiency["石灰石-石膏法"] == pytest.approx(0.95)
    assert efficiency["SCR"] == pytest.approx(0.80)
    assert efficiency["SNCR"] == pytest.approx(0.40)
    assert efficiency["静电除尘"] == pytest.approx(0.99)
    assert efficiency["袋式除尘"] == pytest.approx(0.995)
    k = power.groupby("treatment")["k_formula"].first()
    assert k["石灰石-石膏法"] == "desulfurizer_used / desulfurizer_design"
    assert k["静电除尘"] == "run_hours / production_hours"
    # NOx of pulverized coal differs by tier, lower for bigger units
    nox = coal[(coal["pollutant"] == "NOx") & (coal["process"] == "煤粉炉")]
    by_tier = nox.groupby("scale")["generation_coefficient"].first()
    assert by_tier["≥300MW"] < by_tier["100-300MW"] < by_tier["<100MW"]


def test_tiers_of_each_combination_do_not_overlap(rows):
    # capacity [MW] → its tier by the rules of DESIGN.md ('a-b' includes a, excludes b)
    expected = {1.0: "<100MW", 99.99: "<100MW", 100.0: "100-300MW", 150.0: "100-300MW",
                299.99: "100-300MW", 300.0: "≥300MW", 1000.0: "≥300MW"}
    power = rows[(rows["industry_code"] == "4411") & (rows["scale"] != "")]
    groups = power.groupby(["section", "process", "raw_material", "pollutant", "treatment"])
    assert len(groups) >= 10
    for _, group in groups:
        tiers = group.drop_duplicates("scale")
        for capacity, label in expected.items():
            hit = find_tier(tiers, capacity, "MW")  # raises on an ambiguity
            got = None if hit is None else tiers.loc[hit, "scale"]
            assert got == (label if label in set(tiers["scale"]) else None)


def test_discrete_common_sections(rows):
    discrete = rows[rows["industry_kind"] == "discrete"]
    assert {"下料", "焊接", "涂装", "表面处理"} <= set(discrete["section"])
    for section, group in discrete.groupby("section"):
        assert group["industry_code"].nunique() >= 3, section
    assert set(discrete["pollutant"]) == {"PM", "VOCs"}
    assert {"钢材", "焊材", "溶剂型涂料", "水性涂料"} <= set(discrete["raw_material"])
    treatments = set(discrete["treatment"])
    assert {"布袋除尘", "活性炭吸附", "RTO"} <= treatments
    assert any("催化燃烧" in t for t in treatments)
    # welding fume of a manual electrode after AP-42 Table 12.19-1 (E7018: 18.4 g/kg)
    welding = discrete[(discrete["process"] == "手工电弧焊")]
    assert (welding["generation_coefficient"] == 18.4).all()


def test_every_formula_parses_and_names_its_variables(rows):
    expressions = set(rows["generation_expression"]) - {""}
    assert {v for e in expressions for v in parse(e).variables} == {"S", "A"}
    formulas = set(rows["k_formula"]) - {""}
    names = {v for f in formulas for v in parse(f).variables}
    assert {"treated_volume", "wastewater_volume", "run_hours", "production_hours"} <= names
    values = rows["generation_coefficient"].dropna()
    assert (values >= 0).all() and np.isfinite(values).all()


def test_english_headers_give_the_same_library(tmp_path):
    frame = pd.read_csv(sample_library_path(), dtype=str, keep_default_na=False)
    frame = frame.rename(columns={zh: en for en, zh in ZH_HEADERS.items()})
    assert set(frame.columns) == set(ZH_HEADERS)
    frame.to_csv(tmp_path / "sample_en.csv", index=False)
    english = load_library(tmp_path / "sample_en.csv", "sample")
    pd.testing.assert_frame_equal(english.rows, sample_library().rows)


def test_sample_is_a_fresh_copy():
    first = sample_library()
    first.rows.loc[0, "generation_coefficient"] = -1.0
    assert sample_library().rows.loc[0, "generation_coefficient"] == 65.0
