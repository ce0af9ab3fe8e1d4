"""The first census route (一污普, 2007): emission by emission coefficients (排污系数).

In the 2007 route the emission of a pollutant is ``E = e × A``: e the emission coefficient
(排污系数) of the combination (product, process, raw material, scale) **and the treatment
type** (末端治理技术) the enterprise runs, A the activity in the coefficient's basis. The
generation coefficient is not used (G and R are not defined: NaN).

Library format: the ordinary coefficient library (DESIGN.md) with one more column,
``emission_coefficient`` [排污系数] (a number or an expression like ``16*S``), on the row of
each (combination, pollutant, treatment); the row without treatment holds the coefficient
of untreated emission.

How: the coefficient engine (:func:`sourcegrid.accounting.engine.account`) does the
matching (most specific combination, scale tiers, ambiguity), the unit conversion and the
rejects on a derived library with one unit coefficient per combination, so the same Ibis
expressions run on every engine; the treatment of each (enterprise, section, pollutant)
then selects the row of its emission coefficient (a small pandas join), and the
coefficient is evaluated with the activity row's variables.

Rejects added by this route: ``no_emission_coefficient`` (the library has no 2007 row for
the enterprise's treatment in that combination), ``missing_variable`` (the coefficient's
expression needs a variable the activity row lacks).

:func:`compare_routes` puts two runs side by side (two routes, or two library versions) by
industry, section and pollutant, with the change of the total and of the emission per
unit of activity (the census article's example: oil in synthetic-ammonia wastewater fell
82.3 % per tonne between the censuses).

References
----------
.. [1] 第一次全国污染源普查 工业污染源产排污系数手册 (2008), 使用说明 (排污系数 by 治理技术).
.. [2] 第二次全国污染源普查 工业污染源产排污系数手册 (2019), 使用说明.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem

__all__ = ["ROUTES", "EMISSION_COEFFICIENT_HEADERS", "census2007_account", "route_account",
           "compare_routes", "illustrative_emission_coefficients"]

ROUTES = ("census2017", "census2007")
#: Column names of the emission coefficient in a library file (kept as unknown columns).
EMISSION_COEFFICIENT_HEADERS = ("emission_coefficient", "排污系数")
_COMBINATION = ["industry_code", "section", "product", "raw_material", "process", "scale",
                "pollutant"]


def _emission_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The library rows with an emission coefficient, parsed; every bad one reported."""
    from sourcegrid.errors import ExpressionError
    from sourcegrid.expressions import parse

    column = next((c for c in EMISSION_COEFFICIENT_HEADERS if c in rows.columns), None)
    if column is None:
        raise NotFoundError("library column", "emission_coefficient (排污系数)",
                            [c for c in rows.columns if not c.startswith("_")])
    text = rows[column].astype("string").fillna("").str.strip()
    rows = rows.assign(emission_text=text).loc[text != ""].copy()
    problems, values, expressions = [], [], []
    for row, value in zip(rows["coefficient_row"], rows["emission_text"], strict=True):
        try:
            number = float(value)
            ok = np.isfinite(number) and number >= 0
            values.append(number if ok else np.nan)
            expressions.append("")
            if not ok:
                problems.append(Problem("library", int(row), column, value,
                                        "bad_coefficient", "expected a number ≥ 0 or an "
                                        "expression"))
        except ValueError:
            try:
                parse(value)
                values.append(np.nan)
                expressions.append(value)
            except ExpressionError as error:
                values.append(np.nan)
                expressions.append("")
                problems.append(Problem("library", int(row), column, value,
                                        "bad_coefficient", str(error)))
    if problems:
        raise InputError(problems, "the library's emission coefficients (排污系数) are bad")
    if rows.empty:
        raise InputError([Problem("library", None, column, "", "missing_value",
                                  "no row has an emission coefficient (排污系数)")],
                         "the library has no emission coefficients for the 2007 route")
    return rows.assign(emission_value=values, emission_expression=expressions)


def _treatment_lookup(treatment: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """(enterprise_id, section, pollutant | category) → treatment text."""
    from sourcegrid.accounting.inputs import TREATMENT_ALIASES
    from sourcegrid.coefficients import canonical_pollutant
    from sourcegrid.io.tables import rename_headers

    columns = ["enterprise_id", "section", "pollutant", "pollutant_category", "treatment"]
    if treatment is None:
        return pd.DataFrame(columns=columns)
    frame = treatment.to_pandas() if hasattr(treatment, "to_pandas") else treatment.copy()
    frame = rename_headers(frame, TREATMENT_ALIASES)
    out = pd.DataFrame({c: (frame[c].astype("string").fillna("").str.strip()
                            if c in frame else "") for c in columns})
    out["pollutant"] = out["pollutant"].map(lambda p: canonical_pollutant(p) if p else "")
    out["pollutant_category"] = out["pollutant_category"].map(
        {"废气": "air", "废水": "water", "air": "air", "water": "water"}).fillna("")
    return out


def census2007_account(activity, library, treatment=None, *, con=None,
                       activity_source: str = "activity", treatment_source: str = "treatment",
                       into: str | None = None):
    """Account by the 2007 route: E = emission coefficient × activity.

    Parameters
    ----------
    activity, treatment : pandas.DataFrame or pyarrow.Table
        As for :func:`sourcegrid.accounting.engine.account`.
    library : CoefficientLibrary or pandas.DataFrame
        Rows with an ``emission_coefficient`` (排污系数) column.
    into : str, optional
        Also keep the emissions in ``con`` as this table (``emissions_table``).

    Returns
    -------
    sourcegrid.accounting.engine.AccountingResult
        Emissions with the engine's columns (generation and removal NULL, method
        ``coefficient``, library ``NAME@census2007``, the coefficient row of the treatment
        and ``E = e × A`` in the note) and the rejects of both steps.

    References
    ----------
    .. [1] 第一次全国污染源普查 工业污染源产排污系数手册 (2008).
    """
    import ibis

    from sourcegrid.accounting.engine import AccountingResult, account
    from sourcegrid.accounting.inputs import ACTIVITY_ALIASES
    from sourcegrid.expressions import parse
    from sourcegrid.io.tables import ROW, rename_headers

    rows = library.rows if hasattr(library, "rows") else library
    name = getattr(library, "name", None) or (str(rows["library"].iloc[0]) if len(rows) else "")
    emission_rows = _emission_rows(rows)
    # one unit coefficient per combination: the engine matches, converts and rejects
    unit = emission_rows.drop_duplicates(_COMBINATION).copy()
    unit = unit.assign(generation_coefficient=1.0, generation_expression="", treatment="",
                       removal_efficiency=0.0, k_formula="")
    unit = unit[[c for c in rows.columns if c in unit.columns]]
    con = con if con is not None else ibis.duckdb.connect()
    base = account(activity, unit, None, con=con, library_name=f"{name}@census2007",
                   activity_source=activity_source, explain=True)
    emissions = base.emissions
    # the matched combination: a file row repeated for several industry codes is one
    # coefficient_row; its code is the activity's own (or '*')
    combination_of = unit.drop_duplicates("coefficient_row").set_index("coefficient_row")[
        _COMBINATION[1:]]
    emissions = emissions.join(combination_of.add_prefix("c_"), on="coefficient_row").drop(
        columns="treatment")
    pairs = pd.MultiIndex.from_frame(unit[["coefficient_row", "industry_code"]])
    own = pd.MultiIndex.from_arrays([emissions["coefficient_row"],
                                     emissions["industry_code"].astype(str)]).isin(pairs)
    emissions["c_industry_code"] = np.where(own, emissions["industry_code"].astype(str), "*")
    # the treatment of each (enterprise, section, pollutant): pollutant row, else category
    lookup = _treatment_lookup(treatment, treatment_source)
    by_pollutant = lookup.loc[lookup["pollutant"] != "", ["enterprise_id", "section",
                                                          "pollutant", "treatment"]]
    by_category = lookup.loc[lookup["pollutant"] == "", ["enterprise_id", "section",
                                                         "pollutant_category", "treatment"]]
    emissions = emissions.merge(by_pollutant.drop_duplicates(["enterprise_id", "section",
                                                              "pollutant"]),
                                how="left", on=["enterprise_id", "section", "pollutant"])
    emissions = emissions.merge(by_category.drop_duplicates(
        ["enterprise_id", "section", "pollutant_category"]).rename(
        columns={"treatment": "category_treatment"}), how="left",
        on=["enterprise_id", "section", "pollutant_category"])
    emissions["treatment"] = emissions["treatment"].fillna(
        emissions["category_treatment"]).fillna("")
    coefficients = emission_rows[[*_COMBINATION, "treatment", "coefficient_row",
                                  "emission_value", "emission_expression"]].rename(
        columns={c: f"c_{c}" for c in _COMBINATION} | {"coefficient_row": "emission_row"})
    coefficients = coefficients.drop_duplicates([f"c_{c}" for c in _COMBINATION] + ["treatment"])
    emissions = emissions.merge(coefficients, how="left",
                                on=[f"c_{c}" for c in _COMBINATION] + ["treatment"])
    problems = []
    missing = emissions["emission_row"].isna()
    for row in emissions.loc[missing].itertuples(index=False):
        problems.append(Problem(activity_source, int(row.source_row), "treatment",
                                row.treatment, "no_emission_coefficient",
                                f"{row.pollutant}: the library has no emission coefficient "
                                f"(排污系数) for treatment {row.treatment or '(none)'} in the "
                                f"combination of row {row.coefficient_row}"))
    emissions = emissions.loc[~missing].copy()
    # the coefficient's value: constant, or its expression with the activity's variables
    value = emissions["emission_value"].to_numpy(dtype=float).copy()
    expressions = [t for t in emissions["emission_expression"].unique() if t]
    if expressions:
        raw = activity.to_pandas() if hasattr(activity, "to_pandas") else activity.copy()
        raw = rename_headers(raw, ACTIVITY_ALIASES)
        if ROW not in raw:
            raw.insert(0, ROW, range(2, len(raw) + 2))
        raw = raw.set_index(pd.to_numeric(raw[ROW]))
        for text in expressions:
            expression = parse(text)
            mask = (emissions["emission_expression"] == text).to_numpy()
            rows_of = emissions.loc[mask, "source_row"].astype("int64")
            variables, lacking = {}, np.zeros(mask.sum(), dtype=bool)
            for variable in expression.variables:
                got = pd.to_numeric(raw[variable], errors="coerce").reindex(rows_of) \
                    if variable in raw else pd.Series(np.nan, index=rows_of)
                variables[variable] = got.to_numpy(dtype=float)
                lacking |= np.isnan(variables[variable])
            with np.errstate(all="ignore"):
                value[mask] = np.broadcast_to(expression.evaluate(variables), mask.sum())
            for i, source_row in zip(np.flatnonzero(lacking), rows_of.to_numpy()[lacking],
                                     strict=True):
                problems.append(Problem(activity_source, int(source_row), "emission_coefficient",
                                        text, "missing_variable",
                                        f"the emission coefficient {text} needs variable(s) "
                                        f"{', '.join(sorted(expression.variables))}"))
                value[np.flatnonzero(mask)[i]] = np.nan
    emissions["emission_coefficient"] = value
    keep = np.isfinite(value)
    emissions = emissions.loc[keep]
    per_unit = emissions["generation"]  # kg for a coefficient of 1: A × unit factor
    emissions["emission"] = emissions["emission_coefficient"] * per_unit
    emissions["note"] = ("census2007: E = e × A = " + emissions["emission_coefficient"].map(
        "{:g}".format) + " " + emissions["coefficient_unit"].astype(str) + " × "
        + emissions["activity_in_basis"].map("{:g}".format) + " (排污系数, treatment "
        + emissions["treatment"].replace("", "none") + ", row "
        + emissions["emission_row"].astype("int64").astype(str) + ")")
    emissions["generation_coefficient"] = emissions["emission_coefficient"]
    emissions["coefficient_expression"] = emissions["emission_expression"]
    emissions["coefficient_row"] = emissions["emission_row"].astype("int64")
    emissions["generation"] = np.nan
    emissions["removal"] = np.nan
    emissions["removal_efficiency"] = np.nan
    emissions["k"] = np.nan
    emissions["k_source"] = "none"
    emissions = emissions[list(base.emissions.columns)].reset_index(drop=True)
    rejects = pd.concat([base.rejects, pd.DataFrame(
        [p.__dict__ for p in problems], columns=base.rejects.columns)], ignore_index=True) \
        if problems else base.rejects
    rejects = rejects.astype({"row": "Int64"})
    result = AccountingResult(
        emissions=emissions, rejects=rejects, activity_rows=base.activity_rows,
        accounted_rows=int(emissions["source_row"].nunique()), library=f"{name}@census2007",
        engine=base.engine, emission_rows=len(emissions))
    if into is not None:
        result.emissions_table = con.create_table(into, ibis.memtable(emissions),
                                                  overwrite=True)
    return result


def route_account(route: str, activity, library, treatment=None, **options):
    """Account by ``route``: census2017 (generation coefficients, the engine) or census2007."""
    from sourcegrid.accounting.engine import account

    if route not in ROUTES:
        raise NotFoundError("accounting route", route, ROUTES)
    if route == "census2017":
        return account(activity, library, treatment, **options)
    options.pop("explain", None)
    return census2007_account(activity, library, treatment, **options)


def compare_routes(first: pd.DataFrame, second: pd.DataFrame,
                   by: Sequence[str] = ("industry_code", "section", "pollutant"), *,
                   names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Two runs of the same enterprises side by side.

    Returns
    -------
    pandas.DataFrame
        Per group: emission_<a>, emission_<b> [kg], change_percent (100 (b − a)/a),
        activity (the summed activity in the coefficient basis of the first run),
        per_unit_<a>, per_unit_<b> [kg per unit of activity] and per_unit_change_percent.
    """
    a, b = names
    keys = list(by)
    out = []
    for frame, label in ((first, a), (second, b)):
        g = frame.groupby(keys, dropna=False).agg(
            emission=("emission", "sum"),
            activity=("activity_in_basis", "sum") if "activity_in_basis" in frame else (
                "emission", "size")).add_suffix(f"_{label}")
        out.append(g)
    table = out[0].join(out[1], how="outer").reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["change_percent"] = 100 * (table[f"emission_{b}"] - table[f"emission_{a}"]) \
            / table[f"emission_{a}"]
        table[f"per_unit_{a}"] = table[f"emission_{a}"] / table[f"activity_{a}"]
        table[f"per_unit_{b}"] = table[f"emission_{b}"] / table[f"activity_{b}"]
        table["per_unit_change_percent"] = 100 * (table[f"per_unit_{b}"]
                                                  - table[f"per_unit_{a}"]) / table[
            f"per_unit_{a}"]
    return table


def illustrative_emission_coefficients(library, name: str):
    """A copy of ``library`` with emission coefficients e = c × (1 − η) on every row.

    An *illustrative* construction for trying the 2007 route on a 2017-style library (the
    2007 tables' 排污系数 were measured per treatment, not derived): the row without
    treatment gets e = c, a treated row e = c × (1 − η) (k = 1). Expressions stay
    expressions: ``17*S`` with η = 0.95 becomes ``(17*S)*0.05``.

    Returns
    -------
    CoefficientLibrary
        Named ``name``, source saying how it was made.
    """
    from datetime import UTC, datetime

    from sourcegrid.coefficients import CoefficientLibrary

    rows = (library.rows if hasattr(library, "rows") else library).copy()
    keep = 1 - rows["removal_efficiency"].fillna(0.0)
    constant = rows["generation_expression"].fillna("") == ""
    number = (rows["generation_coefficient"] * keep).map(lambda v: f"{v:.6g}")
    expression = "(" + rows["generation_expression"].fillna("") + ")*" + keep.map(
        lambda v: f"{v:.6g}")
    rows["emission_coefficient"] = np.where(constant, number, np.where(keep == 1, rows[
        "generation_expression"], expression))
    # a combination without an untreated row gets one: e = c (E = G without treatment)
    combination = ["industry_code", *_COMBINATION[1:]]
    untreated = rows.groupby(combination, sort=False)["treatment"].transform(
        lambda t: (t.fillna("") == "").any())
    extra = rows.loc[~untreated].drop_duplicates(combination).copy()
    extra = extra.assign(treatment="", removal_efficiency=0.0, k_formula="",
                         emission_coefficient=np.where(
                             extra["generation_expression"].fillna("") == "",
                             extra["generation_coefficient"].map(lambda v: f"{v:.6g}"),
                             extra["generation_expression"]))
    rows = pd.concat([rows, extra], ignore_index=True)
    rows["library"] = name
    source = (f"illustrative 2007-route coefficients e = c × (1 − η) from library "
              f"{getattr(library, 'name', '')!r} (not the 1st census tables)")
    return CoefficientLibrary(name=name, source=source, imported_at=datetime.now(UTC), file="",
                              rows=rows)
