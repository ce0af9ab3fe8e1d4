"""Surface water: reading samples, section classes, exceedances, basin shares and grades.

Limits from GB 3838-2002 Table 1; grades from 地表水环境质量评价办法（试行）. Every
expected number is worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError, NotFoundError
from sourcegrid.quality.water import (
    assess_sections,
    assess_water,
    assessed_parameters,
    basin_grade,
    basin_summary,
    normalize_samples,
    section_means,
)


def _long(rows):
    return pd.DataFrame(rows, columns=["section_id", "basin", "waterbody", "parameter", "value"])


@pytest.fixture
def samples():
    frame = _long([
        # S1 river: NH3-N mean (1.2+1.8)/2 = 1.5 -> IV, multiple (1.5-1)/1 = 0.50;
        # TP mean (0.25+0.33)/2 = 0.29 -> IV, multiple (0.29-0.2)/0.2 = 0.45;
        # DO 4 -> IV (3 <= 4 < 5), no multiple; COD 18 -> III. Section IV.
        ("S1", "B1", "river", "NH3-N", "1.2"), ("S1", "B1", "river", "NH3-N", "1.8"),
        ("S1", "B1", "river", "TP", "0.25"), ("S1", "B1", "river", "TP", "0.33"),
        ("S1", "B1", "river", "DO", "4"), ("S1", "B1", "river", "COD", "18"),
        # S2 river: Pb 0.06 -> V (0.05 < 0.06 <= 0.1), multiple (0.06-0.05)/0.05 = 0.20;
        # NH3-N 2.5 -> 劣V, multiple 1.50; COD 35 -> V, multiple (35-20)/20 = 0.75.
        # Section 劣V; main pollutants: Pb first (heavy metal), then NH3-N (劣V), COD.
        ("S2", "B1", "river", "Pb", "0.06"), ("S2", "B1", "river", "NH3-N", "2.5"),
        ("S2", "B1", "river", "COD", "35"),
        # S3 lake: TP 0.04 -> III for lakes (0.025 < 0.04 <= 0.05); TN 1.2 -> IV (lakes
        # count TN by default). Section IV; without TN: III.
        ("S3", "B2", "lake", "TP", "0.04"), ("S3", "B2", "lake", "TN", "1.2"),
        # S4 river: DO 8 -> I; TN 5 (劣V) not counted for rivers by default. Section I.
        ("S4", "B2", "river", "DO", "8"), ("S4", "B2", "river", "TN", "5"),
    ])
    out, rejects = normalize_samples(frame)
    assert rejects.empty
    return out


def test_section_means_are_period_means(samples):
    means = section_means(samples).set_index(["section_id", "parameter"])
    assert means.loc[("S1", "NH3-N"), "value"] == pytest.approx(1.5)
    assert means.loc[("S1", "NH3-N"), "samples"] == 2
    assert means.loc[("S1", "TP"), "value"] == pytest.approx(0.29)


def test_section_class_is_the_worst_item(samples):
    parameters, sections = assess_sections(section_means(samples))
    sections = sections.set_index("section_id")
    assert sections["class_label"].to_dict() == {"S1": "IV", "S2": "劣V", "S3": "IV", "S4": "I"}
    assert sections["status"].to_dict() == {"S1": "轻度污染", "S2": "重度污染", "S3": "轻度污染",
                                            "S4": "优"}
    assert sections.loc["S1", "exceeding"] == "NH3-N(0.50);TP(0.45);DO"
    assert sections.loc["S1", "main_pollutants"] == "NH3-N;TP;DO"
    assert sections.loc["S2", "exceeding"] == "Pb(0.20);NH3-N(1.50);COD(0.75)"
    assert sections.loc["S2", "main_pollutants"] == "Pb;NH3-N;COD"
    assert sections.loc["S4", "exceeding"] == ""
    detail = parameters.set_index(["section_id", "parameter"])
    assert detail.loc[("S1", "TP"), "exceedance_multiple"] == pytest.approx(0.45)
    assert detail.loc[("S1", "TP"), "limit_III"] == pytest.approx(0.2)
    assert detail.loc[("S3", "TP"), "limit_III"] == pytest.approx(0.05)
    assert np.isnan(detail.loc[("S1", "DO"), "exceedance_multiple"])
    assert not detail.loc[("S4", "TN"), "assessed"]  # TN of a river: reference only


def test_total_nitrogen_option(samples):
    means = section_means(samples)
    _, without = assess_sections(means, include_total_nitrogen=False)
    assert without.set_index("section_id").loc["S3", "class_label"] == "III"
    _, with_tn = assess_sections(means, include_total_nitrogen=True)
    assert with_tn.set_index("section_id").loc["S4", "class_label"] == "劣V"
    assert "TN" in assessed_parameters("lake")
    assert "TN" not in assessed_parameters("river")
    assert "fecal_coliform" in assessed_parameters("river", include_fecal_coliform=True)


def _sections(classes):
    return pd.DataFrame({"section_id": [f"s{i}" for i in range(len(classes))],
                         "basin": "B", "class": classes})


@pytest.mark.parametrize(
    ("classes", "share_good", "share_worst", "grade"),
    [
        # 9 of 10 in I-III = 90 % -> 优
        ([1, 2, 3, 3, 3, 3, 3, 3, 3, 4], 90.0, 0.0, "优"),
        # 8 of 10 = 80 % -> 良好
        ([1] * 8 + [4, 6], 80.0, 10.0, "良好"),
        # 3 of 4 = 75 % (boundary) -> 良好
        ([1, 2, 3, 4], 75.0, 0.0, "良好"),
        # 14 of 20 = 70 %, 劣V 3 of 20 = 15 % -> 轻度污染
        ([2] * 14 + [4, 5, 5, 6, 6, 6], 70.0, 15.0, "轻度污染"),
        # 7 of 10 = 70 %, 劣V 2 of 10 = 20 % (boundary) -> 中度污染
        ([3] * 7 + [4, 6, 6], 70.0, 20.0, "中度污染"),
        # 7 of 10, 劣V 30 % -> 中度污染
        ([3] * 7 + [6, 6, 6], 70.0, 30.0, "中度污染"),
        # 5 of 10 = 50 %, 劣V 4 of 10 = 40 % (boundary) -> 重度污染
        ([1] * 5 + [4] + [6] * 4, 50.0, 40.0, "重度污染"),
        # I-III exactly 60 %, 劣V exactly 40 %: the one point the '< 60 %' wording leaves
        # out; 重度污染 by the '< 75 %' wording
        ([1, 2, 3, 6, 6], 60.0, 40.0, "重度污染"),
    ],
)
def test_basin_shares_and_grade(classes, share_good, share_worst, grade):
    summary = basin_summary(_sections(classes)).iloc[0]
    assert summary["sections"] == len(classes)
    assert summary["share_I_III"] == pytest.approx(share_good)
    assert summary["share_worse_than_V"] == pytest.approx(share_worst)
    assert summary["share_I_III"] + summary["share_IV_V"] + summary["share_worse_than_V"] == \
        pytest.approx(100.0)
    assert summary["grade"] == grade


def test_basin_grade_vectorized():
    assert list(basin_grade([95, 80, 74, 74, 50], [0, 5, 19.9, 39.9, 45])) == [
        "优", "良好", "轻度污染", "中度污染", "重度污染"]


def test_basin_summary_over_all_sections():
    summary = basin_summary(_sections([1, 3, 6, 6]), by=None)
    assert list(summary.columns[:2]) == ["sections", "class_I"]
    assert summary.iloc[0]["share_I_III"] == pytest.approx(50.0)


def test_basin_with_fewer_than_5_sections_uses_mean_concentrations(samples):
    result = assess_water(samples, by="basin")
    basins = result.basins.set_index("basin")
    # B1 has 2 sections: S1 (IV) and S2 (劣V); shares 0 % I-III, 50 % 劣V.
    assert basins.loc["B1", "share_worse_than_V"] == pytest.approx(50.0)
    # Graded from the mean of the section means: NH3-N (1.5+2.5)/2 = 2.0 -> V (the worst
    # item; Pb 0.06 V, COD (18+35)/2 = 26.5 IV, TP 0.29 IV, DO 4 IV) -> V -> 中度污染.
    assert basins.loc["B1", "method"] == "mean_concentration"
    assert basins.loc["B1", "grade"] == "中度污染"


def test_reading_rejects_every_bad_value_with_its_reason():
    frame = pd.DataFrame({
        "断面": ["S1", "S1", "S1", "S1", None, "S1", "S1"],
        "监测项目": ["氨氮", "氨氮", "pH", "chlorophyll", "COD", "氨氮", "COD"],
        "浓度": ["abc", "-0.1", "15", "3", "10", "500", "10"],
        "单位": [None, None, None, None, None, "ug/L", "kg"],
    })
    samples, rejects = normalize_samples(frame, source="s.csv")
    found = set(zip(rejects["row"], rejects["reason"], strict=True))
    assert found == {(2, "not_a_number"), (3, "negative_value"), (4, "out_of_range"),
                     (5, "unknown_parameter"), (6, "missing_section"), (8, "bad_unit")}
    assert rejects.set_index("row").loc[5, "column"] == "parameter"
    assert "expected a GB 3838-2002 Table 1 item" in rejects.set_index("row").loc[5, "message"]
    # 500 µg/L -> 0.5 mg/L; the only sample kept
    assert len(samples) == 1
    assert samples.iloc[0]["parameter"] == "NH3-N"
    assert samples.iloc[0]["value"] == pytest.approx(0.5)


def test_wide_table_with_chinese_headers():
    frame = pd.DataFrame({"断面名称": ["A", "B"], "流域": ["X", "X"], "水体类型": ["湖库", "河流"],
                          "总磷": ["0.1", "0.1"], "溶解氧": ["6", "6,5"], "氨氮": ["—", "0.1"],
                          "省份": ["甲", "甲"]})
    samples, rejects = normalize_samples(frame)
    assert set(rejects["reason"]) == {"not_a_number"}
    assert rejects.iloc[0]["column"] == "溶解氧"
    _, sections = assess_sections(section_means(samples))
    assert len(rejects) == 1  # '—' is 'not measured', not a bad value
    # TP 0.1: lake IV (0.05 < 0.1 <= 0.1), river II (0.02 < 0.1 <= 0.1); DO 6 -> II;
    # B's DO '6,5' rejected; B's NH3-N 0.1 -> I
    assert sections.set_index("section_id")["class_label"].to_dict() == {"A": "IV", "B": "II"}
    assert "省份" in samples.columns  # unknown columns are kept


def test_structure_problems_are_reported_together():
    with pytest.raises(InputError) as error:
        normalize_samples(pd.DataFrame({"x": [1]}), source="bad.csv")
    reasons = {p.reason for p in error.value.problems}
    assert reasons == {"missing_column", "no_parameter_column"}
    assert "cannot read water samples from bad.csv" in str(error.value)


def test_unknown_default_waterbody():
    with pytest.raises(NotFoundError, match="unknown waterbody 'sea'"):
        normalize_samples(pd.DataFrame({"section_id": ["a"], "TP": ["0.1"]}), waterbody="sea")


def test_section_without_an_assessed_item_is_kept_unclassified():
    frame = _long([("S1", "B", "river", "TN", "3"), ("S2", "B", "river", "COD", "10")])
    samples, _ = normalize_samples(frame)
    _, sections = assess_sections(section_means(samples))
    # S1 has only total nitrogen, which rivers do not assess: kept, no class
    assert sections.set_index("section_id")["class_label"].to_dict() == {"S1": "", "S2": "I"}
    summary = basin_summary(sections).iloc[0]
    assert summary["sections"] == 1 and summary["unclassified"] == 1
    assert summary["share_I_III"] == pytest.approx(100.0)


def test_values_below_the_detection_limit():
    frame = _long([("S1", "B", "river", "CN", "0.004L"), ("S1", "B", "river", "Hg", "<0.00004"),
                   ("S1", "B", "river", "COD", "12")])
    samples, rejects = normalize_samples(frame)
    assert list(rejects["reason"]) == ["below_detection_limit"] * 2
    assert "half the detection limit" in rejects.iloc[0]["message"]
    assert list(samples["parameter"]) == ["COD"]
    samples, rejects = normalize_samples(frame, below_detection="half")
    assert rejects.empty
    values = samples.set_index("parameter")["value"]
    # half the detection limits: 0.004 / 2 = 0.002, 0.00004 / 2 = 0.00002
    assert values["CN"] == pytest.approx(0.002)
    assert values["Hg"] == pytest.approx(0.00002)
    with pytest.raises(NotFoundError, match="unknown below-detection rule 'zero'"):
        normalize_samples(frame, below_detection="zero")


def test_one_summary_over_all_sections_with_few_sections():
    frame = _long([("S1", "", "river", "TP", "0.1"), ("S1", "", "river", "DO", "6"),
                   ("S2", "", "river", "TP", "0.5"), ("S2", "", "river", "DO", "8")])
    samples, _ = normalize_samples(frame)
    result = assess_water(samples, by=None)
    summary = result.basins.iloc[0]
    # S1: TP 0.1 II, DO 6 II -> II; S2: TP 0.5 劣V -> 劣V; shares 50 % and 50 %.
    # Two sections (< 5): graded from mean concentrations TP 0.3 -> IV, DO 7 -> II => IV
    # -> 轻度污染 (the class-share rule alone would say 重度污染)
    assert summary["share_I_III"] == pytest.approx(50.0)
    assert summary["method"] == "mean_concentration"
    assert summary["grade"] == "轻度污染"
    assert "_all" not in result.sections.columns


def test_min_sections_rule_can_be_turned_off(samples):
    result = assess_water(samples, by="basin", min_sections=None)
    basins = result.basins.set_index("basin")
    # B1: 0 % in I-III, 劣V 50 % -> 重度污染 by class shares
    assert basins.loc["B1", "method"] == "class_shares"
    assert basins.loc["B1", "grade"] == "重度污染"
