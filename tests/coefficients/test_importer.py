"""Importing and validating a coefficient library file."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sourcegrid.coefficients import NORMALIZED_COLUMNS, load_library, normalize_expression
from sourcegrid.coefficients.importer import REASONS, validate_file
from sourcegrid.errors import InputError

from .helpers import GOOD_ROW, row, write_library


def test_chinese_header_csv(tmp_path):
    path = write_library(tmp_path / "lib.csv", [
        row(),
        row(scale="100-300MW", pollutant="氮氧化物", generation_coefficient="5.3", treatment="SCR",
            removal_efficiency="80", k_formula="denitrifier_used / denitrifier_design"),
        row(industry_code="3311;3951;3952", industry_kind="离散型", section="涂装",
            raw_material="溶剂型涂料", process="喷涂", scale="所有规模", pollutant="挥发性有机物",
            unit="克/吨-原料", generation_coefficient="560000", treatment="直排",
            removal_efficiency="0", k_formula=""),
        row(industry_code="1713", section="染色", product="棉机织物", raw_material="所有原料",
            process="所有工艺", scale="", pollutant_category="废水", pollutant="化学需氧量",
            unit="千克/吨-产品", generation_coefficient="45", treatment="物理+化学+生物",
            removal_efficiency="88", k_formula="treated_volume / wastewater_volume", source=""),
    ])
    library = load_library(path, "t1", source="unit test")
    rows = library.rows
    assert list(rows.columns) == list(NORMALIZED_COLUMNS)
    assert rows.dtypes.astype(str).to_dict() == NORMALIZED_COLUMNS
    assert len(rows) == 6  # 1 + 1 + 3 industry codes + 1
    assert library.name == "t1" and library.source == "unit test" and library.file == str(path)

    so2 = rows.iloc[0]
    assert so2["library"] == "t1" and so2["coefficient_row"] == 2
    assert (so2["industry_code"], so2["industry_kind"], so2["product"]) == ("4411", "process", "")
    assert (so2["scale"], so2["scale_min"], so2["scale_min_inclusive"]) == ("≥300MW", 300.0, True)
    assert math.isnan(so2["scale_max"]) and so2["scale_unit"] == "MW"
    assert (so2["pollutant_category"], so2["pollutant"]) == ("air", "SO2")
    assert (so2["basis"], so2["activity_unit"], so2["coefficient_factor"]) == ("raw_material", "吨", 1.0)
    assert math.isnan(so2["generation_coefficient"]) and so2["generation_expression"] == "17*S"
    assert so2["removal_efficiency"] == pytest.approx(0.95)
    assert so2["source"] == "test row"

    nox = rows.iloc[1]
    assert nox["generation_coefficient"] == 5.3 and nox["generation_expression"] == ""
    assert (nox["scale_min"], nox["scale_max"], nox["scale_max_inclusive"]) == (100.0, 300.0, False)

    vocs = rows[rows["pollutant"] == "VOCs"]
    assert vocs["industry_code"].tolist() == ["3311", "3951", "3952"]
    assert (vocs["coefficient_row"] == 4).all() and (vocs["industry_kind"] == "discrete").all()
    assert (vocs["treatment"] == "").all() and (vocs["removal_efficiency"] == 0.0).all()
    assert (vocs["scale"] == "").all() and vocs["scale_min"].isna().all()
    assert (vocs["coefficient_factor"] == 0.001).all()  # 克 → 千克

    cod = rows.iloc[5]
    assert (cod["product"], cod["raw_material"], cod["process"]) == ("棉机织物", "", "")
    assert (cod["pollutant_category"], cod["pollutant"], cod["basis"]) == ("water", "COD", "product")
    assert cod["source"] == "unit test"  # empty 来源 falls back to the library's source


def test_english_headers_and_unknown_columns_kept(tmp_path):
    path = write_library(tmp_path / "lib.csv", [row(industry_kind="process", pollutant_category="air",
                                                    pollutant="SO2", note="备注一", extra_id="7")],
                         chinese=False)
    rows = load_library(path, "en").rows
    assert rows.loc[0, "industry_kind"] == "process" and rows.loc[0, "pollutant"] == "SO2"
    assert list(rows.columns) == [*NORMALIZED_COLUMNS, "note", "extra_id"]
    assert (rows.loc[0, "note"], rows.loc[0, "extra_id"]) == ("备注一", "7")


def test_xlsx_import(tmp_path):
    path = write_library(tmp_path / "lib.xlsx", [
        row(),
        row(industry_code="4411", scale="<100MW", pollutant="颗粒物", generation_coefficient="9.5A",
            treatment="袋式除尘", removal_efficiency="99.5", k_formula="run_hours / production_hours"),
    ])
    library = load_library(path, "x", sheet="系数")
    assert load_library(path, "x", sheet="0").rows.equals(library.rows)  # index as text (CLI)
    with pytest.raises(InputError, match="cannot read sheet 'nope'"):
        load_library(path, "x", sheet="nope")
    assert library.rows["pollutant"].tolist() == ["SO2", "PM"]
    # the official tables' implicit product '9.5A' is stored as '9.5*A'
    assert library.rows.loc[1, "generation_expression"] == "9.5*A"
    assert library.rows.loc[1, "removal_efficiency"] == pytest.approx(0.995)
    assert library.rows["coefficient_row"].tolist() == [2, 3]


def test_xlsx_numbers_and_parquet(tmp_path):
    # numeric spreadsheet cells (industry code 4411, efficiency 95) read as text
    frame = pd.DataFrame([{**GOOD_ROW, "industry_code": 4411, "removal_efficiency": 95,
                           "generation_coefficient": 4.6, "pollutant": "NOx", "treatment": "SCR"}])
    frame.to_excel(tmp_path / "numbers.xlsx", index=False)
    rows = load_library(tmp_path / "numbers.xlsx", "n").rows
    assert rows.loc[0, "industry_code"] == "4411" and rows.loc[0, "generation_coefficient"] == 4.6
    write_library(tmp_path / "lib.parquet", [row()])
    assert load_library(tmp_path / "lib.parquet", "p").rows.loc[0, "pollutant"] == "SO2"


def test_any_industry_and_separators(tmp_path):
    path = write_library(tmp_path / "any.csv", [
        row(industry_code="*", industry_kind="离散型"),
        row(industry_code="3311；3952 ; 3670", process="x")])
    rows = load_library(path, "any").rows
    assert rows["industry_code"].tolist() == ["*", "3311", "3670", "3952"]
    assert rows["coefficient_row"].tolist() == [2, 3, 3, 3]


def test_full_width_characters(tmp_path):
    # Chinese spreadsheets often carry full-width digits, letters and signs
    path = write_library(tmp_path / "wide.csv", [
        row(industry_code="４４１１；４４１２", scale="≥３００ＭＷ", generation_coefficient="１７Ｓ",
            removal_efficiency="９５", unit="千克／吨－原料"),
        row(process="x", scale="１００～３００MW", generation_coefficient="５．３",
            pollutant="NOx", treatment="SCR", removal_efficiency="８０％")])
    rows = load_library(path, "wide").rows
    assert rows["industry_code"].tolist() == ["4411", "4412", "4411"]
    assert rows.loc[0, "generation_expression"] == "17*S"
    assert (rows.loc[0, "scale_min"], rows.loc[0, "scale_unit"]) == (300.0, "MW")
    assert rows.loc[0, "scale"] == "≥３００ＭＷ"  # the label as written
    assert (rows.loc[0, "activity_unit"], rows.loc[0, "basis"]) == ("吨", "raw_material")
    assert rows.loc[2, "generation_coefficient"] == 5.3
    assert (rows.loc[2, "scale_min"], rows.loc[2, "scale_max"]) == (100.0, 300.0)
    assert rows["removal_efficiency"].tolist() == pytest.approx([0.95, 0.95, 0.80])


def test_process_any_values_normalized(tmp_path):
    rows = [row(process=text, section=f"s{i}") for i, text in
            enumerate(["所有", "所有工艺", "all", "*", "ALL"])]
    rows += [row(product="所有产品", raw_material="所有原料", section="x")]
    library = load_library(write_library(tmp_path / "a.csv", rows), "a")
    assert (library.rows["process"].iloc[:5] == "").all()
    assert library.rows.loc[5, ["product", "raw_material"]].tolist() == ["", ""]


@pytest.mark.parametrize(("text", "expected"), [
    ("17S", "17*S"), ("9.5A", "9.5*A"), ("0.1(A+B)", "0.1*(A+B)"), ("1e3*S", "1e3*S"),
    ("17*S", "17*S"), ("S2 * 3", "S2 * 3"), ("2.5e-1S", "2.5e-1*S"),
])
def test_normalize_expression(text, expected):
    assert normalize_expression(text) == expected


# One bad row per reason; processes differ so that no two rows share a combination.
BAD_ROWS = [
    (row(section=""), "工段名称", "", "missing_value", "expected a value in this column"),
    (row(industry_code="441"), "行业代码", "441", "bad_industry_code",
     "expected a 4-digit GB/T 4754-2017 class code, several separated by ';', or '*': 441 has "
     "fewer than 4 digits (a lost leading zero?)"),
    (row(industry_code="4411;44a1"), "行业代码", "4411;44a1", "bad_industry_code",
     "expected a 4-digit GB/T 4754-2017 class code, several separated by ';', or '*'"),
    (row(industry_kind="mixed"), "行业类型", "mixed", "bad_industry_kind",
     "expected process, discrete, 流程型 or 离散型"),
    (row(pollutant_category="废渣"), "污染物类别", "废渣", "bad_pollutant_category",
     "expected 废气, 废水, air or water"),
    (row(pollutant="化学需氧量"), "污染物指标", "化学需氧量", "pollutant_category_mismatch",
     "expected a pollutant of its category: 化学需氧量 is a water pollutant but the row's "
     "category says otherwise"),
    (row(unit="千克/吨"), "单位", "千克/吨", "bad_unit",
     "expected a unit such as 千克/吨-产品, 克/吨-原料 or kg/t-product: '千克/吨' names no basis"),
    (row(unit="平方米/吨-产品"), "单位", "平方米/吨-产品", "bad_unit",
     "numerator '平方米' is not a mass"),
    (row(generation_coefficient="12,5"), "产污系数", "12,5", "bad_coefficient",
     "expected a non-negative number or an expression such as 17*S: '12,5' uses a comma; write "
     "the decimal point as '.' (12.5) and no thousands separator"),
    (row(generation_coefficient="17*S+"), "产污系数", "17*S+", "bad_coefficient",
     "'17*S+' ends early"),
    (row(generation_coefficient="-3"), "产污系数", "-3", "negative_coefficient",
     "expected a non-negative generation coefficient"),
    (row(removal_efficiency="ninety"), "末端治理技术平均去除效率(%)", "ninety",
     "bad_removal_efficiency", "expected a number from 0 to 100 [%]: not a number"),
    (row(removal_efficiency="95,5"), "末端治理技术平均去除效率(%)", "95,5",
     "bad_removal_efficiency", "expected a number from 0 to 100 [%]: '95,5' uses a comma; write "
     "the decimal point as '.' (95.5)"),
    (row(removal_efficiency="120"), "末端治理技术平均去除效率(%)", "120",
     "removal_efficiency_out_of_range", "expected a removal efficiency from 0 to 100 [%]"),
    (row(removal_efficiency=""), "末端治理技术平均去除效率(%)", "", "missing_removal_efficiency",
     "expected a removal efficiency [%] for a row with a treatment: the row names a treatment "
     "but no efficiency"),
    (row(treatment="", removal_efficiency="50"), "末端治理技术名称", "",
     "efficiency_without_treatment", "expected a treatment name for a removal efficiency above "
     "0: the row gives a removal efficiency above 0 but no treatment"),
    (row(k_formula="run_hours / "), "参考k值计算公式", "run_hours /", "bad_k_formula",
     "expected an expression such as run_hours / production_hours, or empty for k = 1: "
     "'run_hours /' ends early"),
    (row(scale="300-100MW"), "规模等级", "300-100MW", "bad_scale",
     "expected a scale tier such as ≥300MW, 100-300MW, <10万吨/年 or 所有规模: scale "
     "'300-100MW': lower bound 300 is not below upper bound 100"),
    (row(scale="大型"), "规模等级", "大型", "bad_scale", "cannot read scale tier '大型'"),
]


def test_every_bad_row_reported_at_once(tmp_path):
    rows = [dict(bad, process=f"工艺{i}") for i, (bad, *_) in enumerate(BAD_ROWS)]
    rows.append(row(process="good"))
    path = write_library(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError) as caught:
        load_library(path, "bad")
    error = caught.value
    assert error.summary == "bad.csv is not a valid coefficient library"
    assert len(error.problems) == len(BAD_ROWS)
    by_row = {p.row: p for p in error.problems}
    assert set(by_row) == set(range(2, 2 + len(BAD_ROWS)))  # the good last row is not reported
    for number, (_, column, value, reason, message) in enumerate(BAD_ROWS, start=2):
        problem = by_row[number]
        assert (problem.column, problem.value, problem.reason) == (column, value, reason)
        assert message in problem.message, (reason, problem.message)
        assert problem.source == "bad.csv"
    assert set(error.frame.columns) == {"source", "row", "column", "value", "reason", "message"}


def test_duplicates_reported_with_the_first_row(tmp_path):
    path = write_library(tmp_path / "dup.csv", [
        row(),
        row(generation_coefficient="16*S"),           # same key as row 2
        row(industry_code="4412;4411", scale=">=300MW", process="煤粉炉"),  # 4411 repeats row 2
        row(industry_code="4412", treatment="SCR", pollutant="NOx"),
    ])
    with pytest.raises(InputError) as caught:
        load_library(path, "dup")
    problems = caught.value.problems
    assert [(p.row, p.reason) for p in problems] == [(3, "duplicate_row"), (4, "duplicate_row")]
    assert problems[0].message == (
        "expected one row per combination, pollutant, treatment and industry code: industry "
        "4411, section '锅炉', pollutant SO2, treatment 石灰石-石膏法 repeats row 2")
    assert problems[1].column == "行业代码" and "repeats row 2" in problems[1].message


def test_missing_columns_and_empty_file(tmp_path):
    frame = pd.DataFrame([GOOD_ROW]).drop(columns=["unit", "section"])
    frame.to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(InputError) as caught:
        load_library(tmp_path / "cols.csv", "c")
    problems = caught.value.problems
    assert [(p.column, p.reason, p.row) for p in problems] == [
        ("section", "missing_column", None), ("unit", "missing_column", None)]
    assert problems[1].message == "expected the library needs this column (or its Chinese header 单位)"

    pd.DataFrame(columns=list(GOOD_ROW)).to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(InputError) as caught:
        load_library(tmp_path / "empty.csv", "e")
    assert caught.value.problems[0].reason == "empty_file"
    assert caught.value.problems[0].message == "expected at least one data row below the header"


def test_bad_library_name_and_missing_file(tmp_path):
    path = write_library(tmp_path / "ok.csv", [row()])
    with pytest.raises(InputError) as caught:
        load_library(path, "my lib")
    assert caught.value.problems[0].reason == "bad_library_name"
    assert caught.value.problems[0].message == (
        "expected a library name of letters, digits, '_', '-' or '.'")
    with pytest.raises(InputError, match="file does not exist"):
        load_library(tmp_path / "nope.csv", "x")


def test_validate_file_returns_rejects(tmp_path):
    good = write_library(tmp_path / "good.csv", [row()])
    assert validate_file(good).empty
    bad = write_library(tmp_path / "bad.csv", [row(industry_kind="x", unit="kg")])
    frame = validate_file(bad)
    assert frame["reason"].tolist() == ["bad_industry_kind", "bad_unit"]
    assert frame["row"].tolist() == [2, 2]


def test_every_reason_has_a_test():
    tested = {reason for *_, reason, _ in BAD_ROWS} | {
        "duplicate_row", "missing_column", "empty_file", "bad_library_name"}
    assert tested == set(REASONS)
