"""The first census route (一污普, 2007): emission by emission coefficients (排污系数).

In the 2007 route the emission of a pollutant is ``E = e × A``: e the emission coefficient
(排污系数) of the combination (product, process, raw material, scale) **and the treatment
type** (末端治理技术) the enterprise runs, A the activity in the coefficient's basis. The
generation coefficient is not used (G and R are not defined: NaN).

Library format: the ordinary coefficient library (DESIGN.md) with one more column,
``emission_coefficient`` [排污系数] (a number or an expression like ``16*S``), on the row of
each (combination, pollutant, treatment); the row without treatment holds the coefficient
of untreated emission.

How: the whole route is one Ibis expression graph on the workspace engine (DuckDB,
PySpark, PostgreSQL). The stages of the coefficient engine
(:mod:`sourcegrid.accounting.engine`) do the input checks, the matching (most specific
combination, scale tiers, ambiguity), the unit conversion and their rejects on a derived
library with one unit coefficient per combination; the treatment table is checked as for
the census2017 route (:func:`sourcegrid.accounting.inputs.prepare_treatment`); joins in the
engine then select the row of the emission coefficient of each (enterprise, section,
pollutant)'s treatment, and the coefficient (a number, or an expression of the activity
row's variables, compiled to SQL) is evaluated there. Only the library (parsed with
pandas: a few thousand rows) and the rejects and emissions fetched at the end pass
through Python.

Rejects added by this route: ``no_emission_coefficient`` (the library has no 2007 row for
the enterprise's treatment in that combination), ``missing_variable`` (the coefficient's
expression needs a variable the activity row lacks, or reports not as a number in its
domain, :data:`sourcegrid.accounting.inputs.VARIABLE_DOMAINS`), ``invalid_coefficient``
(the expression gives no finite, non-negative value, e.g. a division by zero).

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


def _combination_numbers(emission_rows: pd.DataFrame) -> pd.DataFrame:
    """Number each 2007 combination (industry code, section, product, raw material, process,
    scale, pollutant); its first row is the one the engine matches on."""
    rows = emission_rows.copy()
    for column in ("treatment", *_COMBINATION):
        rows[column] = rows[column].astype("string").fillna("")
    rows["combination"] = rows.groupby(_COMBINATION, sort=False).ngroup().astype("int64")
    return rows


def _unit_library(rows: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame,
                                                                        pd.DataFrame]:
    """One row per combination with a unit generation coefficient and no treatment (the
    engine matches, converts the activity to the coefficient's basis and rejects on it),
    and which combination each of its rows is (coefficient_row, industry_code, pollutant)."""
    first = rows.drop_duplicates(_COMBINATION)
    unit = first.assign(generation_coefficient=1.0, generation_expression="", treatment="",
                        removal_efficiency=0.0, k_formula="")
    numbers = first[["coefficient_row", "industry_code", "pollutant", "combination"]].rename(
        columns={"coefficient_row": "u_row", "industry_code": "u_code",
                 "pollutant": "u_pollutant"}).astype(
        {"u_row": "int64", "u_code": "string", "u_pollutant": "string",
         "combination": "int64"})
    return unit[[c for c in columns if c in unit.columns]], numbers


def _treatment_table(treatment, source: str, con):
    """The checked treatment table in the engine (:func:`prepare_treatment`: the same checks
    and rejects as the census2017 route), pollutant names made canonical (二氧化硫 → SO2)."""
    from sourcegrid.accounting.inputs import prepare_treatment
    from sourcegrid.coefficients import canonical_pollutant

    trt, rejects, _ = prepare_treatment(treatment, source=source, con=con)
    if trt is None:
        return None, None
    names = [n for n in con.to_pyarrow(trt.select("pollutant").distinct())["pollutant"]
             .to_pylist() if n]
    mapping = {n: canonical_pollutant(n) for n in names}
    if any(k != v for k, v in mapping.items()):
        trt = trt.mutate(pollutant=trt.pollutant.substitute(mapping, else_=trt.pollutant))
    return trt, rejects


def _variables_table(activity, variables: Sequence[str], source: str, con):
    """The activity's formula variables by row number, as numbers in their domain (NULL when
    missing, not a number or outside :data:`sourcegrid.accounting.inputs.VARIABLE_DOMAINS`),
    bound in the engine: ``v_row`` and ``v_<name>``."""
    import ibis
    import pyarrow as pa

    from sourcegrid.accounting.inputs import ACTIVITY_ALIASES, as_arrow, in_domain, read_number
    from sourcegrid.io.tables import ROW, canonical_headers
    from sourcegrid.store.portable import engine_table

    names = [str(c) for c in (activity.columns if isinstance(activity, pd.DataFrame)
                              else activity.column_names)]
    wanted = set(variables)
    keep = [n for n, c in zip(names, canonical_headers(names, ACTIVITY_ALIASES), strict=True)
            if c in wanted or n == ROW]
    if isinstance(activity, pd.DataFrame):
        part = activity[keep] if keep else pd.DataFrame(index=activity.index)
    else:
        part = activity.select(keep) if keep else pa.table({ROW: pa.array(
            np.arange(2, activity.num_rows + 2, dtype="int64"))})
    arrow = as_arrow(part, ACTIVITY_ALIASES, source, numbers=wanted, strip=wanted)
    table, _, _ = engine_table(arrow, con, position=False, view="census2007_variables")
    columns = {"v_row": table[ROW].cast("int64")}
    for name in sorted(wanted):
        if name not in table.columns:
            columns[f"v_{name}"] = ibis.null("float64")
            continue
        number, _ = read_number(table[name])  # NULL where not a finite number
        columns[f"v_{name}"] = in_domain(number, name)
    return table.select(**columns)


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
    con : ibis backend, optional
        Where the query runs (default: an in-memory DuckDB); PySpark and PostgreSQL run
        the same expressions.
    into : str, optional
        Keep the emissions in ``con`` as this table (``emissions_table``) instead of
        fetching them (``emissions`` is then None).

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

    from sourcegrid.accounting.engine import unordered

    rows = library.rows if hasattr(library, "rows") else library
    name = getattr(library, "name", None) or (str(rows["library"].iloc[0]) if len(rows) else "")
    emission_rows = _combination_numbers(_emission_rows(rows))
    con = con if con is not None else ibis.duckdb.connect()
    with unordered(con):
        return _census2007(activity, rows, emission_rows, treatment, con, f"{name}@census2007",
                           activity_source, treatment_source, into)


def _census2007(activity, rows, emission_rows, treatment, con, name, activity_source,
                treatment_source, into):
    """Build the route as one Ibis graph on ``con`` and execute it: rejects, then emissions."""
    import ibis

    from sourcegrid.accounting.engine import (
        EXPLAIN_COLUMNS,
        AccountingResult,
        as_text,
        fetch_frame,
        fetch_rejects,
        formula_case,
        missing_variables,
        nan_to_null,
        ordered,
        stage_generation,
        stage_inputs,
        stage_matching,
        stage_output,
        stage_rejects,
        stage_treatment,
        typed_rejects,
    )
    from sourcegrid.errors import problems_frame
    from sourcegrid.expressions import parse
    from sourcegrid.store.portable import drop_views, engine_table

    # 1. the engine's stages on the unit library: matching, units, input rejects
    unit, numbers = _unit_library(emission_rows, rows.columns)
    inputs = stage_inputs(activity, unit, None, con, library_name=name,
                          activity_source=activity_source)
    matching = stage_matching(inputs)
    treated = stage_treatment(inputs, stage_generation(inputs, matching.chosen)).cache()
    checked = stage_rejects(inputs, matching, treated)
    base = stage_output(inputs, checked.good, explain=False)

    # 2. the combination each emission row matched: a file row repeated for several industry
    # codes is one coefficient_row; its code is the activity's own (or '*' for all)
    combinations, _, _ = engine_table(numbers, con, position=False, view="census2007_units")
    star = sorted(int(r) for r in unit.loc[unit["industry_code"] == "*", "coefficient_row"])
    code = (ibis.ifelse(base.coefficient_row.isin(star), "*", base.industry_code) if star
            else base.industry_code)
    b = base.mutate(u_lookup=code)
    b = b.join(combinations, [b.coefficient_row == combinations.u_row,
                              b.u_lookup == combinations.u_code,
                              b.pollutant == combinations.u_pollutant]).drop(
        "u_row", "u_code", "u_pollutant", "u_lookup")

    # 3. the treatment of each (enterprise, section, pollutant): pollutant row, else category
    trt, trt_rejects = _treatment_table(treatment, treatment_source, con)
    if trt is not None:
        by_pollutant = trt.filter(trt.pollutant != "")
        by_category = trt.filter((trt.pollutant == "") & (trt.pollutant_category != ""))
        tp = by_pollutant.select(tp_enterprise_id="enterprise_id", tp_section="section",
                                 tp_pollutant="pollutant", tp_treatment="treatment")
        tc = by_category.select(tc_enterprise_id="enterprise_id", tc_section="section",
                                tc_category="pollutant_category", tc_treatment="treatment")
        b = b.left_join(tp, [b.enterprise_id == tp.tp_enterprise_id,
                             b.section == tp.tp_section, b.pollutant == tp.tp_pollutant])
        b = b.left_join(tc, [b.enterprise_id == tc.tc_enterprise_id,
                             b.section == tc.tc_section,
                             b.pollutant_category == tc.tc_category])
        text = ibis.ifelse(b.tp_treatment.notnull(), b.tp_treatment,
                           b.tc_treatment.fill_null(""))
        b = b.mutate(treatment=text).drop(*tp.columns, *tc.columns)
    else:
        b = b.mutate(treatment=ibis.literal(""))
    b = b.view()

    # 4. the emission coefficient of that treatment in that combination
    coefficients = emission_rows.drop_duplicates(["combination", "treatment"])[
        ["combination", "treatment", "coefficient_row", "emission_value",
         "emission_expression"]].rename(columns={
             "combination": "e_combination", "treatment": "e_treatment",
             "coefficient_row": "emission_row"}).astype({
                 "e_combination": "int64", "e_treatment": "string", "emission_row": "int64",
                 "emission_value": "float64", "emission_expression": "string"})
    coefficients = nan_to_null(engine_table(coefficients, con, position=False,
                                            view="census2007_coefficients")[0])
    r = b.left_join(coefficients, [b.combination == coefficients.e_combination,
                                   b.treatment == coefficients.e_treatment]).drop(
        "e_combination", "e_treatment")

    # 5. its value: a number, or the expression of the activity row's variables
    expressions = sorted({t for t in emission_rows["emission_expression"] if t})
    variables = sorted(set().union(*(parse(t).variables for t in expressions)))
    if variables:
        values = _variables_table(activity, variables, activity_source, con)
        r = r.left_join(values, r.source_row == values.v_row).drop("v_row")
    r = r.view()

    def column(variable: str) -> ibis.Value:
        return r[f"v_{variable}"]

    expression = r.emission_expression.fill_null("")
    formula = formula_case(expression, expressions, lambda t: parse(t).to_ibis(column),
                           ibis.null("float64"))
    value = ibis.ifelse(expression == "", r.emission_value, formula)
    missing = missing_variables(expression, expressions, column)
    named = formula_case(expression, expressions,
                         lambda t: ibis.literal(", ".join(sorted(parse(t).variables))),
                         ibis.literal(""))
    r = r.mutate(
        emission_coefficient=ibis.ifelse(
            ((value < 0) | value.isinf() | value.isnan()).fill_null(False),
            ibis.null("float64"), value),
        missing=missing, named=named, expression=expression)
    no_row = r.emission_row.isnull()
    lacking = ~no_row & (r.missing != "")
    invalid = ~no_row & (r.missing == "") & r.emission_coefficient.isnull()

    # 6. the route's rejects (the engine's, the treatment table's and its own)
    def reject(t: ibis.Table, column_name: str, value_: ibis.Value, reason: str,
               message: ibis.Value) -> ibis.Table:
        return t.select(source=ibis.literal(activity_source), row=t.source_row.cast("int64"),
                        column=ibis.literal(column_name), value=value_.cast("string"),
                        reason=ibis.literal(reason), message=message.cast("string"))

    none = r.filter(no_row)
    short = r.filter(lacking)
    bad = r.filter(invalid)
    own = [
        reject(none, "treatment", none.treatment, "no_emission_coefficient",
               none.pollutant + ": the library has no emission coefficient (排污系数) for "
               "treatment " + ibis.ifelse(none.treatment == "", "(none)", none.treatment)
               + " in the combination of row " + as_text(none.coefficient_row)),
        reject(short, "emission_coefficient", short.expression, "missing_variable",
               "the emission coefficient " + short.expression + " needs variable(s) "
               + short.named + " that the activity row does not report as a number in its "
               "domain"),
        reject(bad, "emission_coefficient", bad.expression, "invalid_coefficient",
               bad.pollutant + ": the emission coefficient " + bad.expression
               + " gives no finite, non-negative value with the reported variables "
               "(division by zero?)"),
    ]
    parts = [*checked.rejects, *([trt_rejects] if trt_rejects is not None else []), *own]
    rejects = fetch_rejects(con, ibis.union(*[typed_rejects(p) for p in parts]))
    # ordered here, not by the engine's collation: the same order on every engine
    rejects = rejects.sort_values(["row", "reason", "column", "source", "value", "message"],
                                  ignore_index=True)
    rejects = rejects.astype({"row": "Int64"}) if len(rejects) else problems_frame([])
    for cached in (*matching.caches, checked.problems):
        cached.release()

    # 7. the emission rows: E = e × A (A in the coefficient's basis, with its unit factor:
    # the engine's generation for a unit coefficient)
    good = r.filter(~no_row & ~lacking & ~invalid)

    def number(x: ibis.Value) -> ibis.Value:
        return as_text(x.round(6))

    emissions_expr = good.select(
        "enterprise_id", "period", "section", "pollutant", "pollutant_category",
        generation=ibis.null("float64"), removal=ibis.null("float64"),
        emission=good.emission_coefficient * good.generation,
        method=ibis.literal("coefficient"), library=ibis.literal(name),
        coefficient_row=good.emission_row.cast("int64"), treatment=good.treatment,
        removal_efficiency=ibis.null("float64"), k=ibis.null("float64"),
        note=("census2007: E = e × A = " + number(good.emission_coefficient) + " "
              + good.coefficient_unit + " × " + number(good.activity_in_basis)
              + " (排污系数, treatment " + ibis.ifelse(good.treatment == "", "none",
                                                      good.treatment)
              + ", row " + as_text(good.emission_row) + ")"),
        **{c: good[c] for c in EXPLAIN_COLUMNS[:14]},
        coefficient_unit=good.coefficient_unit,
        generation_coefficient=good.emission_coefficient,
        coefficient_expression=good.expression,
        k_source=ibis.literal("none"), k_formula=good.k_formula,
        source_row=good.source_row,
    ).order_by(["source_row", "pollutant"])
    ordered(con)
    emissions, emissions_table = None, None
    if into is None:
        emissions = fetch_frame(con, emissions_expr)
        n, accounted = len(emissions), int(emissions["source_row"].nunique())
    else:
        emissions_table = con.create_table(into, emissions_expr, overwrite=True)
        stats = con.to_pyarrow(emissions_table.aggregate(
            n=emissions_table.count(),
            accounted=emissions_table.source_row.nunique())).to_pylist()[0]
        n, accounted = int(stats["n"] or 0), int(stats["accounted"] or 0)
    treated.release()
    for cached in inputs.caches:  # the checked inputs, released here, not by the collector
        cached.release()
    drop_views(con)
    return AccountingResult(emissions=emissions, rejects=rejects,
                            activity_rows=inputs.n_activity, accounted_rows=accounted,
                            library=name, engine=con.name, emission_rows=n,
                            emissions_table=emissions_table)


def route_account(route: str, activity, library, treatment=None, **options):
    """Account by ``route``: census2017 (generation coefficients, the engine) or census2007."""
    from sourcegrid.accounting.engine import account

    if route not in ROUTES:
        raise NotFoundError("accounting route", route, ROUTES)
    if route == "census2017":
        return account(activity, library, treatment, **options)
    options.pop("explain", None)
    options.pop("progress", None)  # one pass: nothing to report between parts
    return census2007_account(activity, library, treatment, **options)


def compare_routes(first, second, by: Sequence[str] = ("industry_code", "section", "pollutant"),
                   *, names: tuple[str, str] = ("a", "b"), con=None) -> pd.DataFrame:
    """Two runs of the same enterprises side by side.

    Parameters
    ----------
    first, second : ibis.Table or pandas.DataFrame
        Emission rows of two runs (two routes, or two library versions). Ibis tables are
        summed in their engine; only the sums per group come back.
    by : sequence of str
        Group columns.
    con : ibis backend, optional
        Where DataFrames are summed (default: an in-memory DuckDB).

    Returns
    -------
    pandas.DataFrame
        Per group: emission_<a>, emission_<b> [kg], change_percent (100 (b − a)/a),
        activity_<a>, activity_<b> (the summed activity in each run's coefficient basis;
        the number of rows when a run has no ``activity_in_basis``), per_unit_<a>,
        per_unit_<b> [kg per unit of activity] and per_unit_change_percent.
    """
    import ibis

    from sourcegrid.store.portable import engine_table, fetch

    a, b = names
    keys = list(by)
    out = []
    for data, label in ((first, a), (second, b)):
        # an Ibis table is summed in its own engine, a DataFrame or Arrow table on ``con``
        table, backend, _ = engine_table(data, None if isinstance(data, ibis.Table) else con,
                                         position=False)
        missing = [k for k in [*keys, "emission"] if k not in table.columns]
        if missing:
            raise NotFoundError("column of the emissions", missing[0],
                                [c for c in table.columns if not c.startswith("_")])
        activity = (table.activity_in_basis.cast("float64").sum()
                    if "activity_in_basis" in table.columns else table.count().cast("float64"))
        sums = table.group_by(keys).aggregate(
            emission=table.emission.cast("float64").sum(), activity=activity)
        frame = fetch(backend, sums)
        out.append(frame.set_index(keys).add_suffix(f"_{label}"))
    table = out[0].join(out[1], how="outer").reset_index()
    table = table.sort_values(keys, ignore_index=True, na_position="last")
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
