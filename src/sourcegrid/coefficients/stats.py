"""Counts of a coefficient library, as the census reports them, and steps per industry.

:func:`library_stats` counts what the census bulletins and manuals report for their
coefficient libraries: industries by major group (大类, the first two digits of the
GB/T 4754-2017 class code) and by class (小类, the four-digit code), sections (工段),
products, raw materials, processes, generation coefficients (one per combination ×
pollutant), treatment efficiencies (rows with an end-of-pipe technology and its average
removal efficiency) and, when the library has them, emission coefficients (排污系数).

:func:`accounting_steps` counts, per industry, the *accounting steps* an enterprise of that
industry goes through: the distinct sections whose rows apply to its code (its own rows and
the common sections of discrete-type industries shared by several codes or by '*').
Between two versions it gives the change (the census article: six common sections cut the
steps of audio equipment manufacturing, 3952, by 57.14 %, i.e. from 14 to 6).

References
----------
.. [1] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 说明 (counts of the library).
.. [2] GB/T 4754-2017 国民经济行业分类 (大类 = two digits, 小类 = four digits).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["library_stats", "accounting_steps"]

_COUNTED = ["section", "product", "raw_material", "process"]


def _rows(library) -> pd.DataFrame:
    return library.rows if hasattr(library, "rows") else library


def library_stats(library) -> pd.DataFrame:
    """One row per counted item: item, 中文, count.

    Returns
    -------
    pandas.DataFrame
        rows, industries (大类), industries (小类), sections, products, raw materials,
        processes, generation coefficients, treatment efficiencies (+ emission coefficients).
    """
    rows = _rows(library)
    codes = rows["industry_code"].astype(str)
    classes = codes[codes.str.fullmatch(r"\d{4}")]
    generation = rows.loc[rows["generation_coefficient"].notna()
                          | (rows["generation_expression"].fillna("") != "")]
    combination = ["industry_code", *_COUNTED, "scale", "pollutant"]
    items = [
        ("rows (file rows)", "行数", rows["coefficient_row"].nunique()),
        ("industries, major groups", "行业大类", classes.str[:2].nunique()),
        ("industries, classes", "行业小类", classes.nunique()),
        *[(label, zh, rows.loc[rows[c].fillna("") != "", c].nunique())
          for c, label, zh in zip(_COUNTED, ["sections", "products", "raw materials",
                                             "processes"], ["工段", "产品", "原料", "工艺"],
                                  strict=True)],
        ("generation coefficients", "产污系数",
         generation.drop_duplicates(["coefficient_row", *combination[1:]])[combination[1:]]
         .drop_duplicates().shape[0]),
        ("treatment efficiencies", "末端治理技术平均去除效率",
         rows.loc[rows["treatment"].fillna("") != ""].drop_duplicates(
             ["coefficient_row"]).shape[0]),
    ]
    for column in ("emission_coefficient", "排污系数"):
        if column in rows:
            given = rows[column].astype("string").fillna("").str.strip() != ""
            items.append(("emission coefficients", "排污系数",
                          rows.loc[given, "coefficient_row"].nunique()))
            break
    return pd.DataFrame(items, columns=["item", "中文", "count"])


def _steps(rows: pd.DataFrame) -> pd.Series:
    codes = rows["industry_code"].astype(str)
    own = rows.loc[codes != "*"]
    steps = own.groupby("industry_code")["section"].agg(lambda s: set(s[s != ""]))
    shared = set(rows.loc[codes == "*", "section"]) - {""}
    return steps.map(lambda s: len(s | shared))


def accounting_steps(first, second=None, *, names: tuple[str, str] | None = None
                     ) -> pd.DataFrame:
    """Accounting steps (sections) per industry code, and their change between versions.

    Returns
    -------
    pandas.DataFrame
        industry_code, steps_<first> (and steps_<second>, change, change_percent =
        100 (second − first) / first).
    """
    a = names[0] if names else getattr(first, "name", "first")
    out = _steps(_rows(first)).rename(f"steps_{a}").to_frame()
    if second is not None:
        b = names[1] if names else getattr(second, "name", "second")
        if b == a:
            b = f"{b}_2"
        out = out.join(_steps(_rows(second)).rename(f"steps_{b}"), how="outer")
        out["change"] = out[f"steps_{b}"] - out[f"steps_{a}"]
        out["change_percent"] = 100 * out["change"] / out[f"steps_{a}"]
    return out.reset_index().rename(columns={"index": "industry_code"})
