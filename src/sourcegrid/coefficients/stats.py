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

Both are Ibis aggregations (distinct counts, a union of own and shared sections per
industry): the library may be a :class:`CoefficientLibrary`, its rows as a DataFrame (run
on ``con``, default an in-memory DuckDB) or an Ibis table in any engine; only the counts
come back.

References
----------
.. [1] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 说明 (counts of the library).
.. [2] GB/T 4754-2017 国民经济行业分类 (大类 = two digits, 小类 = four digits).
"""

from __future__ import annotations

import ibis
import pandas as pd

from sourcegrid.store.portable import engine_name, engine_table, fetch, number, text

__all__ = ["library_stats", "accounting_steps"]

_COUNTED = ["section", "product", "raw_material", "process"]
_COMBINATION = ["section", "product", "raw_material", "process", "scale", "pollutant"]


def _table(library, con):
    rows = library.rows if hasattr(library, "rows") else library
    table, con, _ = engine_table(rows, con, position=False)
    return table, con


def _joined(table: ibis.Table, columns) -> ibis.Value:
    """The columns as one text key (unit separator between them)."""
    parts = [text(table, c) for c in columns]
    return parts[0].concat(*[p for c in parts[1:] for p in (ibis.literal("\x1f"), c)])


def library_stats(library, *, con=None) -> pd.DataFrame:
    """One row per counted item: item, 中文, count.

    Returns
    -------
    pandas.DataFrame
        rows, industries (大类), industries (小类), sections, products, raw materials,
        processes, generation coefficients, treatment efficiencies (+ emission coefficients).
    """
    t, con = _table(library, con)
    code = text(t, "industry_code")
    is_class = code.re_search(r"^[0-9]{4}$").fill_null(False)
    coefficient = number(t, "generation_coefficient", engine_name(con, t)) \
        if "generation_coefficient" in t.columns else ibis.null("float64")
    generation = coefficient.notnull() | (text(t, "generation_expression") != "")
    row = text(t, "coefficient_row")
    counts = dict(
        rows=row.nunique(), major=code.substr(0, 2).nunique(where=is_class),
        classes=code.nunique(where=is_class),
        **{c: text(t, c).nunique(where=text(t, c) != "") for c in _COUNTED},
        generation=_joined(t, _COMBINATION).nunique(where=generation),
        treatment=row.nunique(where=text(t, "treatment") != ""))
    emission = next((c for c in ("emission_coefficient", "排污系数") if c in t.columns), None)
    if emission is not None:
        counts["emission"] = row.nunique(where=text(t, emission) != "")
    got = fetch(con, t.aggregate(**counts)).iloc[0]
    items = [
        ("rows (file rows)", "行数", "rows"),
        ("industries, major groups", "行业大类", "major"),
        ("industries, classes", "行业小类", "classes"),
        *[(label, zh, c) for c, label, zh in zip(
            _COUNTED, ["sections", "products", "raw materials", "processes"],
            ["工段", "产品", "原料", "工艺"], strict=True)],
        ("generation coefficients", "产污系数", "generation"),
        ("treatment efficiencies", "末端治理技术平均去除效率", "treatment"),
    ]
    if emission is not None:
        items.append(("emission coefficients", "排污系数", "emission"))
    return pd.DataFrame([(label, zh, int(got[key])) for label, zh, key in items],
                        columns=["item", "中文", "count"])


def _steps(library, con) -> pd.Series:
    """Distinct sections per industry code: its own and the shared ('*') ones."""
    t, con = _table(library, con)
    rows = t.select(industry_code=text(t, "industry_code"), section=text(t, "section"))
    industries = rows.filter(rows.industry_code != "*").select("industry_code").distinct()
    shared = rows.filter((rows.industry_code == "*") & (rows.section != "")).select(
        "section").distinct()
    own = rows.filter((rows.industry_code != "*") & (rows.section != ""))
    sections = ibis.union(own, industries.cross_join(shared).select("industry_code",
                                                                    "section"),
                          distinct=True)
    counted = sections.group_by("industry_code").aggregate(steps=sections.section.nunique())
    steps = industries.left_join(counted, "industry_code").select(
        industries.industry_code, steps=counted.steps.fill_null(0))
    frame = fetch(con, steps).sort_values("industry_code", kind="stable")
    return frame.set_index("industry_code")["steps"].astype(int)


def accounting_steps(first, second=None, *, names: tuple[str, str] | None = None,
                     con=None) -> pd.DataFrame:
    """Accounting steps (sections) per industry code, and their change between versions.

    Returns
    -------
    pandas.DataFrame
        industry_code, steps_<first> (and steps_<second>, change, change_percent =
        100 (second − first) / first).
    """
    a = names[0] if names else getattr(first, "name", "first")
    out = _steps(first, con).rename(f"steps_{a}").to_frame()
    if second is not None:
        b = names[1] if names else getattr(second, "name", "second")
        if b == a:
            b = f"{b}_2"
        out = out.join(_steps(second, con).rename(f"steps_{b}"), how="outer")
        out["change"] = out[f"steps_{b}"] - out[f"steps_{a}"]
        out["change_percent"] = 100 * out["change"] / out[f"steps_{a}"]
    out.index.name = "industry_code"
    return out.reset_index()
