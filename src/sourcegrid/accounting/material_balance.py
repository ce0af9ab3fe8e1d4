"""The material-balance method (物料衡算): sulfur balance and solvent balance.

Named formulas (``FORMULAS``), each with its inputs as columns of a balance table
(one row per enterprise × section × period; ``formula`` names the balance):

``sulfur_balance`` (combustion, SO2), masses in kg::

    G = 2 × fuel × S/100 × (1 − retention)        2 = M(SO2)/M(S) = 64/32
    R = removal            (given [kg]), or G × removal_efficiency (0–1) when given instead
    E = G − R

  fuel [t, converted with ``fuel_unit``], S = sulfur content [%] (收到基硫分), retention =
  share of the sulfur kept in ash and slag (0–1; 0 when empty).

``solvent_balance`` (VOCs from solvent use), masses in kg::

    G = solvent_input − in_product                 what volatilised
    R = recovered + destroyed                      recovery and destruction (e.g. RTO)
    E = G − R = input − recovered − in_product − destroyed

G = R + E holds on every row. A balance giving E < 0 (more removed than generated)
is a reject (``negative_balance``), not a clipped zero.

The table is checked in pandas (:func:`prepare_balance`: one row per enterprise ×
section × period, every problem at once) and the balances are computed in the engine
(:func:`balance_expression`, CASE branches per formula); only the negative balances are
fetched to be reported, and the rows when a DataFrame is wanted.

References
----------
.. [1] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册 (物料衡算法).
.. [2] HJ 953-2018 排污许可证申请与核发技术规范 锅炉 (SO2 by the sulfur balance).
.. [3] EMEP/EEA air pollutant emission inventory guidebook 2019, 2.D.3 Solvent use
   (solvent mass balance).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from sourcegrid.accounting.monitoring import _text, missing_columns, number_problems
from sourcegrid.errors import InputError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers
from sourcegrid.store.portable import engine_table

__all__ = ["FORMULAS", "sulfur_balance", "solvent_balance", "account_balance",
           "prepare_balance", "balance_expression", "SO2_PER_S"]

#: Molar mass ratio M(SO2)/M(S) = 64.06/32.06 ≈ 2 (the factor the census manuals use).
SO2_PER_S = 2.0

#: Named balances: pollutant, category and their input columns (required, optional).
FORMULAS: dict[str, dict] = {
    "sulfur_balance": {"pollutant": "SO2", "pollutant_category": "air",
                       "required": ("fuel", "sulfur_percent"),
                       "optional": ("fuel_unit", "retention", "removal",
                                    "removal_efficiency")},
    "solvent_balance": {"pollutant": "VOCs", "pollutant_category": "air",
                        "required": ("solvent_input",),
                        "optional": ("recovered", "in_product", "destroyed")},
}
BALANCE_ALIASES = {"企业编号": "enterprise_id", "工段名称": "section", "公式": "formula",
                   "燃料消耗量": "fuel", "硫分": "sulfur_percent", "固硫率": "retention",
                   "脱硫量": "removal", "溶剂使用量": "solvent_input", "回收量": "recovered",
                   "产品带走量": "in_product", "销毁量": "destroyed"}


def sulfur_balance(fuel, sulfur_percent, retention=0.0, removal=None, removal_efficiency=None):
    """SO2 by the sulfur balance.

    Parameters
    ----------
    fuel : array_like
        Fuel burnt [kg].
    sulfur_percent : array_like
        Sulfur content [%].
    retention : array_like
        Share of the sulfur kept in ash and slag [0–1].
    removal : array_like, optional
        SO2 removed [kg] (e.g. from the desulfurizer's gypsum balance).
    removal_efficiency : array_like, optional
        Used when ``removal`` is not given: R = G × removal_efficiency [0–1].

    Returns
    -------
    generation, removal, emission : numpy.ndarray [kg]

    References
    ----------
    .. [1] 排放源统计调查产排污核算方法和系数手册 (2021), 物料衡算法; HJ 953-2018.
    """
    generation = SO2_PER_S * np.asarray(fuel, float) * np.asarray(sulfur_percent, float) / 100 \
        * (1 - np.asarray(retention, float))
    if removal is not None:
        removed = np.asarray(removal, float)
    elif removal_efficiency is not None:
        removed = generation * np.asarray(removal_efficiency, float)
    else:
        removed = np.zeros_like(generation)
    return generation, removed, generation - removed


def solvent_balance(solvent_input, recovered=0.0, in_product=0.0, destroyed=0.0):
    """VOCs by the solvent balance: E = input − recovered − in product − destroyed [kg].

    Returns
    -------
    generation, removal, emission : numpy.ndarray [kg]
        G = input − in product, R = recovered + destroyed, E = G − R.

    References
    ----------
    .. [1] EMEP/EEA Guidebook 2019, 2.D.3 (solvent mass balance); 系数手册 (2021) 物料衡算法.
    """
    generation = np.asarray(solvent_input, float) - np.asarray(in_product, float)
    removed = np.asarray(recovered, float) + np.asarray(destroyed, float)
    return generation, removed, generation - removed


def prepare_balance(frame: pd.DataFrame, *, source: str = "balance"
                    ) -> tuple[pd.DataFrame, list[Problem]]:
    """Check and type a balance table: (typed rows, problems), every problem at once.

    The typed rows carry every formula input in kg (fuel converted with ``fuel_unit``;
    an empty optional input is 0), ``given_removal`` (sulfur: removal given rather than
    removal_efficiency) and the ``note`` that writes the formula out with the row's
    inputs. Rows with problems are kept (their inputs as 0) so that the balance check
    (:func:`account_balance`) reports them too; nothing is returned while any problem
    is left.
    """
    from sourcegrid.units import conversion_factor

    frame = with_row_numbers(frame, source, BALANCE_ALIASES)
    problems = missing_columns(frame, ("enterprise_id", "period", "formula"), source)
    if problems:
        raise InputError(problems, f"{source}: the balance table lacks required columns")
    formula = _text(frame, "formula")
    for i in np.flatnonzero(~formula.isin(list(FORMULAS)).to_numpy()):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), "formula",
                                str(formula.iat[i]), "unknown_formula",
                                f"formula: expected one of {', '.join(FORMULAS)}"))
    for column in ("enterprise_id", "period"):
        for i in np.flatnonzero((_text(frame, column) == "").to_numpy()):
            problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), column,
                                    "", "missing_value", f"{column}: expected a value"))
    values: dict[str, np.ndarray] = {}
    fractions = {"retention", "removal_efficiency"}
    for name, spec in FORMULAS.items():
        rows = (formula == name).to_numpy()
        part = frame.loc[rows]
        for column in spec["required"]:
            if column not in frame.columns and rows.any():
                problems.append(Problem(source, None, column, "", "missing_column",
                                        f"formula {name} needs a column {column!r}"))
        for column in (*spec["required"], *spec["optional"]):
            if column == "fuel_unit":
                continue
            got = number_problems(part, column, problems,
                                  required=column in spec["required"],
                                  maximum=1.0 if column in fractions else (
                                      100.0 if column == "sulfur_percent" else None),
                                  expected="a share in [0, 1]" if column in fractions else (
                                      "an amount ≥ 0" if column != "sulfur_percent" else
                                      "a sulfur content in [0, 100] %"))
            values.setdefault(column, np.full(len(frame), np.nan))[rows] = got.to_numpy()
    unit = _text(frame, "fuel_unit").replace("", "吨")
    factors = {}
    for text in unit[(formula == "sulfur_balance")].unique():
        try:
            factors[text] = conversion_factor(text, "kg")
        except Exception:  # noqa: BLE001 (a UnitError or pint's own) -> reported below
            factors[text] = np.nan
    fuel_factor = unit.map(factors).to_numpy(dtype=float)
    sulfur = (formula == "sulfur_balance").to_numpy()
    solvent = (formula == "solvent_balance").to_numpy()
    for i in np.flatnonzero(sulfur & np.isnan(fuel_factor)):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), "fuel_unit",
                                str(unit.iat[i]), "unit_mismatch",
                                "fuel_unit: expected a mass unit (吨, 万吨, kg, t)"))
    n = len(frame)
    inputs = ("fuel", "sulfur_percent", "retention", "removal", "removal_efficiency",
              "solvent_input", "recovered", "in_product", "destroyed")
    v = {k: np.nan_to_num(values.get(k, np.full(n, np.nan))) for k in inputs}
    v["fuel"] = v["fuel"] * np.nan_to_num(fuel_factor)
    given_removal = ~np.isnan(values.get("removal", np.full(n, np.nan)))
    notes = np.full(n, "", dtype=object)
    index = frame.index

    def fmt(column: str) -> pd.Series:
        return pd.Series(v[column], index=index).map("{:g}".format)

    if sulfur.any():
        text = ("sulfur_balance: G = 2 × fuel × S% × (1 − retention) = 2 × " + fmt("fuel")
                + " kg × " + fmt("sulfur_percent") + "/100 × (1 − " + fmt("retention")
                + "); R = " + pd.Series(np.where(given_removal, "removal given",
                                                 "G × removal_efficiency"), index=index))
        notes[sulfur] = text[sulfur].to_numpy()
    if solvent.any():
        text = ("solvent_balance: E = input − recovered − in product − destroyed = "
                + fmt("solvent_input") + " − " + fmt("recovered") + " − " + fmt("in_product")
                + " − " + fmt("destroyed") + " kg")
        notes[solvent] = text[solvent].to_numpy()
    spec = pd.DataFrame(FORMULAS).T
    typed = pd.DataFrame({
        "enterprise_id": _text(frame, "enterprise_id").to_numpy(),
        "period": _text(frame, "period").to_numpy(),
        "section": _text(frame, "section").to_numpy(),
        "formula": formula.to_numpy(),
        "pollutant": formula.map(spec["pollutant"]).fillna("").to_numpy(),
        "pollutant_category": formula.map(spec["pollutant_category"]).fillna("").to_numpy(),
        **{k: v[k] for k in inputs}, "given_removal": given_removal, "note": notes,
        "source_row": frame[ROW].to_numpy().astype("int64"),
        "source": frame[SOURCE].astype(str).to_numpy(),
    })
    text_columns = ["enterprise_id", "period", "section", "formula", "pollutant",
                    "pollutant_category", "note", "source"]
    return typed.astype({c: "string" for c in text_columns}), problems


def balance_expression(typed: ibis.Table) -> ibis.Table:
    """Generation, removal and emission [kg] of every typed balance row (Ibis).

    ``typed``: the rows of :func:`prepare_balance`. The named formulas (module docstring)
    are CASE branches on ``formula``; G = R + E holds on every row.
    """
    f = typed
    sulfur_g = SO2_PER_S * f.fuel * f.sulfur_percent / 100 * (1 - f.retention)
    sulfur_r = ibis.ifelse(f.given_removal, f.removal, sulfur_g * f.removal_efficiency)
    solvent_g = f.solvent_input - f.in_product
    solvent_r = f.recovered + f.destroyed
    generation = ibis.cases((f.formula == "sulfur_balance", sulfur_g),
                            (f.formula == "solvent_balance", solvent_g),
                            else_=ibis.null("float64"))
    removal = ibis.cases((f.formula == "sulfur_balance", sulfur_r),
                         (f.formula == "solvent_balance", solvent_r),
                         else_=ibis.null("float64"))
    rows = f.mutate(generation=generation, removal=removal)
    rows = rows.mutate(emission=rows.generation - rows.removal)
    return rows.select(
        "enterprise_id", "period", "section", "pollutant", "pollutant_category", "generation",
        "removal", "emission", method=ibis.literal("material_balance"),
        library=ibis.literal(""), coefficient_row=ibis.null("int64"),
        treatment=ibis.literal(""),
        removal_efficiency=ibis.ifelse(rows.generation > 0, rows.removal / rows.generation,
                                       0.0),
        k=ibis.null("float64"), note=rows.note, source_row=rows.source_row,
        formula=rows.formula, source=rows.source)


OUTPUT = ["enterprise_id", "period", "section", "pollutant", "pollutant_category",
          "generation", "removal", "emission", "method", "library", "coefficient_row",
          "treatment", "removal_efficiency", "k", "note", "source_row"]


def account_balance(frame, *, source: str = "balance", con=None, fetch: bool | None = None):
    """Emissions by the named balances of a balance table, every problem at once.

    Parameters
    ----------
    frame : pandas.DataFrame or ibis.Table
        enterprise_id, section, period, formula and the formula's inputs (FORMULAS);
        sulfur: fuel (+ fuel_unit, default 吨), sulfur_percent, retention, removal [kg] or
        removal_efficiency (0–1); solvent: solvent_input, recovered, in_product,
        destroyed [kg]. One row per enterprise × section × period: an Ibis table is
        fetched to be checked, as a DataFrame is.
    con : ibis backend, optional
        Where the balances are computed (default: the Ibis table's backend, or an
        in-memory DuckDB).
    fetch : bool, optional
        Return a DataFrame (default for a DataFrame input) or the Ibis expression.

    Returns
    -------
    pandas.DataFrame or ibis.Table
        Canonical emission columns with method ``material_balance`` and the formula and its
        inputs in ``note``; ``source_row`` (the table's row).

    Raises
    ------
    InputError
        Every problem of every row, including balances where more leaves than enters
        (``negative_balance``); nothing is returned partly.
    """
    was_table = isinstance(frame, ibis.Table)
    if was_table:
        con = con if con is not None else frame._find_backend()
        frame = frame.to_pandas()
    con = con if con is not None else ibis.duckdb.connect()
    fetch = not was_table if fetch is None else fetch
    typed, problems = prepare_balance(frame, source=source)
    rows = balance_expression(engine_table(typed, con, position=False, view="balance")[0])
    negative = rows.filter((rows.emission < -1e-9) | (rows.generation < -1e-9))
    for r in negative.to_pyarrow().to_pylist():
        problems.append(Problem(r["source"], int(r["source_row"]), "formula", r["formula"],
                                "negative_balance",
                                f"{r['formula']}: the balance gives generation "
                                f"{r['generation']:g} kg and emission {r['emission']:g} kg; "
                                "more leaves than enters (check the inputs)"))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column))
        raise InputError(problems, f"{source}: nothing was loaded")
    rows = rows.select(*OUTPUT)
    if not fetch:
        return rows
    out = rows.to_pyarrow().to_pandas()
    out = out.sort_values("source_row", ignore_index=True)
    for column in ("enterprise_id", "period", "section", "pollutant", "pollutant_category",
                   "method", "library", "treatment", "note"):
        out[column] = out[column].astype(object)
    return out.astype({"coefficient_row": "Int64"})
