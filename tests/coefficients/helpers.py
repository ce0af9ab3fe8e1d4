"""Helpers for the coefficient library tests: a good row and writers for library files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: The official Chinese headers (第二次全国污染源普查 工业污染源产排污系数手册), written out here
#: rather than taken from the code under test.
ZH_HEADERS = {
    "industry_code": "行业代码",
    "industry_kind": "行业类型",
    "section": "工段名称",
    "product": "产品名称",
    "raw_material": "原料名称",
    "process": "工艺名称",
    "scale": "规模等级",
    "pollutant_category": "污染物类别",
    "pollutant": "污染物指标",
    "unit": "单位",
    "generation_coefficient": "产污系数",
    "treatment": "末端治理技术名称",
    "removal_efficiency": "末端治理技术平均去除效率(%)",
    "k_formula": "参考k值计算公式",
    "source": "来源",
}

GOOD_ROW = {
    "industry_code": "4411",
    "industry_kind": "流程型",
    "section": "锅炉",
    "product": "所有产品",
    "raw_material": "燃煤",
    "process": "煤粉炉",
    "scale": "≥300MW",
    "pollutant_category": "废气",
    "pollutant": "二氧化硫",
    "unit": "千克/吨-原料",
    "generation_coefficient": "17*S",
    "treatment": "石灰石-石膏法",
    "removal_efficiency": "95",
    "k_formula": "desulfurizer_used / desulfurizer_design",
    "source": "test row",
}


def row(**changes: str) -> dict[str, str]:
    """GOOD_ROW with some values changed."""
    return {**GOOD_ROW, **changes}


def write_library(path: Path, rows: list[dict[str, str]], *, chinese: bool = True) -> Path:
    """Write rows (English keys) as a library file; Chinese headers by default."""
    frame = pd.DataFrame(rows, dtype=object)
    if chinese:
        frame = frame.rename(columns=ZH_HEADERS)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8")
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False, sheet_name="系数")
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    return path
