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

References
----------
.. [1] 生态环境部公告 2021年第24号, 排放源统计调查产排污核算方法和系数手册 (物料衡算法).
.. [2] HJ 953-2018 排污许可证申请与核发技术规范 锅炉 (SO2 by the sulfur balance).
.. [3] EMEP/EEA air pollutant emission inventory guidebook 2019, 2.D.3 Solvent use
   (solvent mass balance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.accounting.monitoring import _text, missing_columns, number_problems
from sourcegrid.errors import InputError, Problem
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers

__all__ = ["FORMULAS", "sulfur_balance", "solvent_balance", "account_balance",
           "SO2_PER_S"]

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


def account_balance(frame: pd.DataFrame, *, source: str = "balance") -> pd.DataFrame:
    """Emissions by the named balances of a balance table, every problem at once.

    Parameters
    ----------
    frame : pandas.DataFrame
        enterprise_id, section, period, formula and the formula's inputs (FORMULAS);
        sulfur: fuel (+ fuel_unit, default 吨), sulfur_percent, retention, removal [kg] or
        removal_efficiency (0–1); solvent: solvent_input, recovered, in_product,
        destroyed [kg].

    Returns
    -------
    pandas.DataFrame
        Canonical emission columns with method ``material_balance`` and the formula and its
        inputs in ``note``.

    Raises
    ------
    InputError
        Every problem of every row (nothing is returned partly).
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
                                      "a sulfur content in [0, 100] %" if column ==
                                      "sulfur_percent" else "an amount ≥ 0"))
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
    for i in np.flatnonzero(sulfur & np.isnan(fuel_factor)):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), "fuel_unit",
                                str(unit.iat[i]), "unit_mismatch",
                                "fuel_unit: expected a mass unit (吨, 万吨, kg, t)"))
    v = {k: np.nan_to_num(a) for k, a in values.items()}
    n = len(frame)
    generation, removal, emission = (np.full(n, np.nan) for _ in range(3))
    notes = np.full(n, "", dtype=object)
    if sulfur.any():
        fuel = v["fuel"] * np.nan_to_num(fuel_factor)
        given_removal = ~np.isnan(values["removal"])
        g, r_eff, _ = sulfur_balance(fuel, v["sulfur_percent"], v["retention"],
                                     removal_efficiency=v["removal_efficiency"])
        r = np.where(given_removal, v["removal"], r_eff)
        generation[sulfur], removal[sulfur] = g[sulfur], r[sulfur]
        text = pd.Series("G = 2 × fuel × S% × (1 − retention) = 2 × ", index=frame.index) \
            + pd.Series(fuel, index=frame.index).map("{:g}".format) + " kg × " \
            + pd.Series(v["sulfur_percent"], index=frame.index).map("{:g}".format) \
            + "/100 × (1 − " + pd.Series(v["retention"], index=frame.index).map("{:g}".format) \
            + "); R = " + pd.Series(np.where(given_removal, "removal given",
                                             "G × removal_efficiency"), index=frame.index)
        notes[sulfur] = ("sulfur_balance: " + text[sulfur]).to_numpy()
    solvent = (formula == "solvent_balance").to_numpy()
    if solvent.any():
        g, r, _ = solvent_balance(v["solvent_input"], v["recovered"], v["in_product"],
                                  v["destroyed"])
        generation[solvent], removal[solvent] = g[solvent], r[solvent]
        fmt = {c: pd.Series(v[c], index=frame.index).map("{:g}".format)
               for c in ("solvent_input", "recovered", "in_product", "destroyed")}
        text = ("solvent_balance: E = input − recovered − in product − destroyed = "
                + fmt["solvent_input"] + " − " + fmt["recovered"] + " − " + fmt["in_product"]
                + " − " + fmt["destroyed"] + " kg")
        notes[solvent] = text[solvent].to_numpy()
    emission = generation - removal
    negative = (emission < -1e-9) | (generation < -1e-9)
    for i in np.flatnonzero(negative):
        problems.append(Problem(str(frame[SOURCE].iat[i]), int(frame[ROW].iat[i]), "formula",
                                str(formula.iat[i]), "negative_balance",
                                f"{formula.iat[i]}: the balance gives generation "
                                f"{generation[i]:g} kg and emission {emission[i]:g} kg; more "
                                "leaves than enters (check the inputs)"))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column))
        raise InputError(problems, f"{source}: nothing was loaded")
    spec = pd.DataFrame(FORMULAS).T
    out = pd.DataFrame({
        "enterprise_id": _text(frame, "enterprise_id").to_numpy(),
        "period": _text(frame, "period").to_numpy(),
        "section": _text(frame, "section").to_numpy(),
        "pollutant": formula.map(spec["pollutant"]).to_numpy(),
        "pollutant_category": formula.map(spec["pollutant_category"]).to_numpy(),
        "generation": generation, "removal": removal, "emission": emission,
        "method": "material_balance", "library": "", "coefficient_row": pd.NA,
        "treatment": "", "removal_efficiency": np.where(generation > 0, removal / np.where(
            generation > 0, generation, 1), 0.0), "k": np.nan, "note": notes,
        "source_row": frame[ROW].to_numpy(),
    })
    return out.astype({"coefficient_row": "Int64"})
