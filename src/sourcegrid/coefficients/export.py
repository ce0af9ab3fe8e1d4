"""Write a library back in the canonical file format (re-importable, zh or en headers)."""

from __future__ import annotations

import math

import pandas as pd

from sourcegrid.coefficients.model import NORMALIZED_COLUMNS, CoefficientLibrary

__all__ = ["to_canonical", "CANONICAL_COLUMNS", "CHINESE_HEADERS"]

#: The canonical library columns in file order (DESIGN.md, "Coefficient library").
CANONICAL_COLUMNS = ["industry_code", "industry_kind", "section", "product", "raw_material",
                     "process", "scale", "pollutant_category", "pollutant", "unit",
                     "generation_coefficient", "treatment", "removal_efficiency", "k_formula",
                     "source"]

#: The official tables' Chinese headers of the canonical columns.
CHINESE_HEADERS = {
    "industry_code": "行业代码", "industry_kind": "行业类型", "section": "工段名称",
    "product": "产品名称", "raw_material": "原料名称", "process": "工艺名称",
    "scale": "规模等级", "pollutant_category": "污染物类别", "pollutant": "污染物指标",
    "unit": "单位", "generation_coefficient": "产污系数", "treatment": "末端治理技术名称",
    "removal_efficiency": "末端治理技术平均去除效率(%)", "k_formula": "参考k值计算公式",
    "source": "来源",
}

_KINDS_ZH = {"process": "流程型", "discrete": "离散型"}
_CATEGORIES_ZH = {"air": "废气", "water": "废水"}


def _number_text(value: float, digits: int | None = None) -> str:
    """Shortest text that reads back as the same float ('65', not '65.0')."""
    if value is None or math.isnan(float(value)):
        return ""
    value = float(value) if digits is None else round(float(value), digits)
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def to_canonical(library: CoefficientLibrary, *, chinese: bool = False) -> pd.DataFrame:
    """A library as a canonical-format table, one row per file row.

    Rows that differ only in the industry code are joined again into a
    ';'-list; the coefficient is the number or the expression; the removal
    efficiency is in % (0-100). Loading the result gives the same normalized rows.

    Parameters
    ----------
    chinese : bool
        Chinese headers and values (流程型, 废气) as the official tables write them.
    """
    rows = library.rows
    others = [c for c in rows.columns if c != "industry_code"]
    group = rows[others].astype(str).groupby(others, sort=False).ngroup()
    codes = rows["industry_code"].astype(str).groupby(group, sort=False).agg(";".join)
    first = group.drop_duplicates()
    original = rows.loc[first.index]
    out = pd.DataFrame({
        "industry_code": codes.loc[first.to_numpy()].to_numpy(),
        "industry_kind": original["industry_kind"].to_numpy(),
        "section": original["section"].to_numpy(),
        "product": original["product"].to_numpy(),
        "raw_material": original["raw_material"].to_numpy(),
        "process": original["process"].to_numpy(),
        "scale": original["scale"].to_numpy(),
        "pollutant_category": original["pollutant_category"].to_numpy(),
        "pollutant": original["pollutant"].to_numpy(),
        "unit": original["unit"].to_numpy(),
        "generation_coefficient": [
            expression or _number_text(number) for expression, number in
            zip(original["generation_expression"], original["generation_coefficient"], strict=True)],
        "treatment": original["treatment"].to_numpy(),
        "removal_efficiency": [_number_text(v * 100.0, digits=10) if treatment else ""
                               for v, treatment in zip(original["removal_efficiency"],
                                                       original["treatment"], strict=True)],
        "k_formula": original["k_formula"].to_numpy(),
        "source": original["source"].to_numpy(),
    })
    for column in [c for c in rows.columns if c not in NORMALIZED_COLUMNS]:
        out[column] = original[column].to_numpy()
    if chinese:
        out["industry_kind"] = out["industry_kind"].map(_KINDS_ZH)
        out["pollutant_category"] = out["pollutant_category"].map(_CATEGORIES_ZH)
        out = out.rename(columns=CHINESE_HEADERS)
    return out
