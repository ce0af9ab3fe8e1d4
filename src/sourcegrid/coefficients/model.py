"""The coefficient library (系数库): its normalized table and the names it uses.

A coefficient library is a table of generation coefficients (产污系数) of the
coefficient method of the Second National Pollution Source Census (二污普),
one row per combination (industry, section, product, raw material, process,
scale tier), pollutant and end-of-pipe treatment. :class:`CoefficientLibrary`
holds one named version of it, normalized so that the accounting engine can
join on it directly:

- one row per single industry code (``'3311;3951'`` becomes two rows; ``'*'``
  stays ``'*'``);
- ``''`` means "any" in product, raw_material, process and scale;
- pollutants have canonical names (``SO2``, ``NOx``, ``PM``, ``COD``, ``NH3-N``,
  ``TN``, ``TP``, ``VOCs``);
- the coefficient is kept in the unit it was written in; ``coefficient_factor``
  turns it into kg per one ``activity_unit``;
- the removal efficiency is a fraction in [0, 1] (0 when there is no treatment).

References
----------
.. [1] 生态环境部. 排放源统计调查产排污核算方法和系数手册 (公告 2021年 第24号).
.. [2] 国务院第二次全国污染源普查领导小组办公室. 第二次全国污染源普查 工业污染源产排污系数手册, 2019.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

__all__ = [
    "CoefficientLibrary",
    "NORMALIZED_COLUMNS",
    "COMBINATION_COLUMNS",
    "KEY_COLUMNS",
    "HEADER_ALIASES",
    "POLLUTANT_NAMES",
    "POLLUTANT_CATEGORIES",
    "INDUSTRY_KINDS",
    "ANY_VALUES",
    "NO_TREATMENT_VALUES",
    "REQUIRED_COLUMNS",
    "empty_rows",
    "fold_width",
]

#: The normalized table, column → pandas dtype. This is the contract with the
#: accounting engine and the schema of the workspace table ``coefficient_rows``
#: (which adds ``extra``, the unknown columns of the source file as JSON).
NORMALIZED_COLUMNS: dict[str, str] = {
    "library": "object",
    "coefficient_row": "int64",
    "industry_code": "object",
    "industry_kind": "object",
    "section": "object",
    "product": "object",
    "raw_material": "object",
    "process": "object",
    "scale": "object",
    "scale_min": "float64",
    "scale_min_inclusive": "bool",
    "scale_max": "float64",
    "scale_max_inclusive": "bool",
    "scale_unit": "object",
    "pollutant_category": "object",
    "pollutant": "object",
    "unit": "object",
    "basis": "object",
    "activity_unit": "object",
    "coefficient_factor": "float64",
    "generation_coefficient": "float64",
    "generation_expression": "object",
    "treatment": "object",
    "removal_efficiency": "float64",
    "k_formula": "object",
    "source": "object",
}

#: The combination that picks a coefficient (scale as its label as written).
COMBINATION_COLUMNS = ["industry_code", "section", "product", "raw_material", "process", "scale"]

#: One coefficient per key: two rows with the same key are duplicates, and
#: two library versions are compared on it.
KEY_COLUMNS = COMBINATION_COLUMNS + ["pollutant", "treatment"]

#: Canonical (English) header → the headers the official tables use.
HEADER_ALIASES: dict[str, str] = {
    "行业代码": "industry_code",
    "国民经济行业代码": "industry_code",
    "行业类别代码": "industry_code",
    "行业类型": "industry_kind",
    "工段名称": "section",
    "工段": "section",
    "产品名称": "product",
    "产品": "product",
    "原料名称": "raw_material",
    "原料": "raw_material",
    "工艺名称": "process",
    "工艺": "process",
    "规模等级": "scale",
    "规模": "scale",
    "污染物类别": "pollutant_category",
    "污染物指标": "pollutant",
    "污染物": "pollutant",
    "单位": "unit",
    "产污系数": "generation_coefficient",
    "末端治理技术名称": "treatment",
    "末端治理技术": "treatment",
    "末端治理技术平均去除效率(%)": "removal_efficiency",
    "末端治理技术平均去除效率": "removal_efficiency",
    "平均去除效率(%)": "removal_efficiency",
    "平均去除效率": "removal_efficiency",
    "参考k值计算公式": "k_formula",
    "k值计算公式": "k_formula",
    "来源": "source",
    "备注": "note",
}

#: Columns a library file must have (the others default to empty).
REQUIRED_COLUMNS = ["industry_code", "industry_kind", "section", "pollutant_category",
                    "pollutant", "unit", "generation_coefficient"]

#: Optional canonical columns (empty when the file lacks them).
OPTIONAL_COLUMNS = ["product", "raw_material", "process", "scale", "treatment",
                    "removal_efficiency", "k_formula", "source"]

#: Pollutant name as written (lower-cased, spaces removed) → canonical name.
POLLUTANT_NAMES: dict[str, str] = {
    "二氧化硫": "SO2", "so2": "SO2", "so₂": "SO2",
    "氮氧化物": "NOx", "nox": "NOx", "noₓ": "NOx",
    "颗粒物": "PM", "pm": "PM", "particulatematter": "PM", "particulate-matter": "PM",
    "化学需氧量": "COD", "cod": "COD", "codcr": "COD",
    "氨氮": "NH3-N", "nh3-n": "NH3-N", "nh3n": "NH3-N", "nh₃-n": "NH3-N",
    "总氮": "TN", "tn": "TN",
    "总磷": "TP", "tp": "TP",
    "挥发性有机物": "VOCs", "vocs": "VOCs", "voc": "VOCs",
}

#: Canonical pollutant → its category, for the consistency check.
POLLUTANT_CATEGORY_OF: dict[str, str] = {
    "SO2": "air", "NOx": "air", "PM": "air", "VOCs": "air",
    "COD": "water", "NH3-N": "water", "TN": "water", "TP": "water",
}

#: pollutant_category as written (lower-cased) → 'air' | 'water'.
POLLUTANT_CATEGORIES: dict[str, str] = {"废气": "air", "air": "air", "大气": "air",
                                        "废水": "water", "water": "water"}

#: industry_kind as written (lower-cased) → 'process' | 'discrete'.
INDUSTRY_KINDS: dict[str, str] = {"流程型": "process", "process": "process",
                                  "离散型": "discrete", "discrete": "discrete"}

#: Texts meaning "any" in product, raw_material, process (normalized to '').
ANY_VALUES = frozenset({"所有", "所有产品", "所有原料", "所有工艺", "all", "any", "*"})

#: Treatment texts meaning "no treatment" (normalized to '').
NO_TREATMENT_VALUES = frozenset({"直排", "无", "无治理", "无治理措施", "none", "/"})


def fold_width(text: str) -> str:
    """Full-width digits, letters and signs to ASCII (NFKC): '４４１１' → '4411', '＞' → '>'.

    Chinese spreadsheets often carry full-width characters; they are folded
    before a value is parsed. Chinese characters are unchanged.
    """
    return unicodedata.normalize("NFKC", text)


def empty_rows() -> pd.DataFrame:
    """An empty normalized table with the contract's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in NORMALIZED_COLUMNS.items()})


@dataclass
class CoefficientLibrary:
    """One named version of a coefficient library.

    Attributes
    ----------
    name : str
        The version name (e.g. ``'sample'``, ``'census2017'``, ``'manual2021'``).
    source : str
        Where the library comes from (publication, file, note).
    imported_at : datetime
        When it was imported (UTC).
    file : str
        The file it was read from ('' when built in code).
    rows : pandas.DataFrame
        The normalized table (:data:`NORMALIZED_COLUMNS`, then any unknown
        columns of the source file).
    """

    name: str
    source: str
    imported_at: datetime
    file: str
    rows: pd.DataFrame = field(repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def industry_codes(self) -> list[str]:
        """The industry codes the library covers (sorted; '*' included when present)."""
        return sorted(self.rows["industry_code"].unique())

    @property
    def extra_columns(self) -> list[str]:
        """Unknown columns of the source file, kept after the contract's columns."""
        return [c for c in self.rows.columns if c not in NORMALIZED_COLUMNS]

    def select(self, *, industry_code: str | None = None, section: str | None = None,
               pollutant: str | None = None) -> pd.DataFrame:
        """Rows of one industry, section and/or pollutant (canonical or Chinese name).

        A malformed industry code (not 4 digits), or a pollutant or section the library
        does not have, raises (the valid names listed) instead of selecting nothing.
        """
        from sourcegrid.errors import NotFoundError, OptionError

        rows = self.rows
        if industry_code is not None and not re.fullmatch(r"[0-9]{4}", str(industry_code)):
            raise OptionError("--industry", repr(industry_code), "a 4-digit GB/T 4754-2017 "
                              "industry class code, e.g. 4411")
        if section is not None and section not in set(rows["section"]):
            raise NotFoundError("section", section, set(rows["section"]) - {""})
        if pollutant is not None and canonical_pollutant(pollutant) not in set(rows["pollutant"]):
            raise NotFoundError("pollutant", pollutant, set(rows["pollutant"]))
        if industry_code is not None:
            rows = rows[rows["industry_code"].isin([industry_code, "*"])]
        if section is not None:
            rows = rows[rows["section"] == section]
        if pollutant is not None:
            canonical = canonical_pollutant(pollutant)
            rows = rows[rows["pollutant"] == canonical]
        return rows

    def summary(self) -> pd.DataFrame:
        """Row counts by industry kind, pollutant category and pollutant."""
        return (self.rows.groupby(["industry_kind", "pollutant_category", "pollutant"])
                .size().rename("rows").reset_index())


def canonical_pollutant(name: str) -> str:
    """Canonical pollutant name ('二氧化硫' → 'SO2'); unknown names are kept as written."""
    text = str(name).strip()
    return POLLUTANT_NAMES.get(text.lower().replace(" ", "").replace("_", "-"), text)
