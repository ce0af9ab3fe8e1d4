"""Benchmark: the coefficient method on N generated section-activity rows.

Five implementations of the same accounting run on the same input, each in a fresh
subprocess (so each one's peak memory is its own: VmHWM of /proc/self/status), and
each ends with the emissions written to Parquet:

- **floor**: hand-written DuckDB SQL that does everything sourcegrid promises: every
  input check (types, blanks, codes, domains, duplicates) with a reject row per
  problem, the most specific combination resolved once per distinct key and scale-tier
  signature, ambiguous matches, G = c × A with the formula coefficients, the
  treatment (pollutant rows before category rows, series η·k = 1 − Π(1 − η_i·k_i), k
  given or from its formula, clipped), the accounting rejects, the short note. The
  small dimension tables (unit factors by pint, the treatment parts) are prepared in
  Python, as sourcegrid prepares them;
- **sourcegrid**: :func:`sourcegrid.accounting.engine.account` on DuckDB, written
  straight to the file (``out=``, ``explain=False``);
- **sourcegrid, files read by DuckDB**: the same, with the activity and treatment files
  read by the engine (:func:`sourcegrid.accounting.inputs.engine_input`, as
  ``sourcegrid account`` reads CSV and Parquet) instead of Arrow tables in Python
  memory: its peak memory holds no input table. A run too large for DuckDB's memory
  limit (``--memory-limit``) is accounted in parts of whole enterprises; the ``parts``
  column says how many;
- **sourcegrid, CSV read by DuckDB**: the same from UTF-8 CSV copies of the two files
  (written before the clock starts): every number is text to be parsed and checked;
- **pandas**: the same formula written the obvious way with pandas merges. It does
  less: no rejects with reasons, no specificity or ambiguity check, no series
  treatment, no note.

The results are checked equal (totals of G, R, E and row counts), then seconds,
rows/s, peak RSS and the ratios are printed side by side.

Usage::

    .venv/bin/python benchmarks/accounting.py                 # 5·10^5 rows, ~1 minute
    .venv/bin/python benchmarks/accounting.py --rows 1000000
    .venv/bin/python benchmarks/accounting.py --scaling       # 10^5, 10^6, 10^7 rows
    .venv/bin/python benchmarks/accounting.py --scaling --sizes 1000000,3000000,10000000 \
        --implementations sourcegrid_file --memory-limit 2GB   # in parts above 10^6
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from memory import peak_rss_mb  # benchmarks/memory.py (scripts run from this folder)
from sourcegrid.expressions import parse
from sourcegrid.units import conversion_factor

KEYS = ["product", "raw_material", "process"]
IMPLEMENTATIONS = ("floor", "sourcegrid", "sourcegrid_file", "sourcegrid_csv", "pandas")
_CHUNK = 1_000_000


# --------------------------------------------------------------------------- input


def generate(rows: int, folder: Path, seed: int) -> None:
    """activity.parquet and treatment.parquet with ``rows`` activity rows, generated in
    chunks of 10^6 (enterprise ids made unique across chunks), so 10^7 rows never sit
    in pandas at once."""
    from sourcegrid.coefficients import sample_library
    from sourcegrid.sample.enterprises import generate_enterprises

    library = sample_library()
    writers: dict[str, pq.ParquetWriter] = {}
    done = 0
    for chunk in range((rows + _CHUNK - 1) // _CHUNK):
        size = min(_CHUNK, rows - done)
        activity, treatment = generate_enterprises(int(size / 0.64) + 1, library=library,
                                                   seed=seed + chunk)
        activity = activity.iloc[:size].copy()
        for frame in (activity, treatment):
            frame["enterprise_id"] = f"C{chunk:02d}" + frame["enterprise_id"]
        for name, frame in (("activity", activity), ("treatment", treatment)):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in writers:
                writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writers[name].write_table(table.cast(writers[name].schema))
        done += size
    for writer in writers.values():
        writer.close()


# --------------------------------------------------------------------------- pandas


def pandas_baseline(activity: pd.DataFrame, rows: pd.DataFrame,
                    treatment: pd.DataFrame) -> pd.DataFrame:
    """The same formula, written the obvious way with pandas merges."""
    combination = ["industry_code", "section", *KEYS, "scale", "pollutant"]
    base = rows.sort_values("coefficient_row").drop_duplicates(combination)
    m = activity.merge(base, on=["industry_code", "section"], suffixes=("", "_lib"))
    ok = np.ones(len(m), dtype=bool)
    for key in KEYS:
        ok &= (m[f"{key}_lib"] == "") | (m[f"{key}_lib"] == m[key])
    factors = {(a, b): conversion_factor(a, b) for a, b in
               m.loc[(m["scale_unit"] != "") & (m["capacity_unit"] != ""),
                     ["capacity_unit", "scale_unit"]]
               .drop_duplicates().itertuples(index=False)}
    cap = m["capacity"] * pd.Series([factors.get((a, b), np.nan) for a, b in
                                     zip(m["capacity_unit"], m["scale_unit"], strict=True)],
                                    index=m.index)
    lower = m["scale_min"].isna() | np.where(m["scale_min_inclusive"], cap >= m["scale_min"],
                                             cap > m["scale_min"])
    upper = m["scale_max"].isna() | np.where(m["scale_max_inclusive"], cap <= m["scale_max"],
                                             cap < m["scale_max"])
    ok &= (m["scale"] == "") | (lower & upper)
    m = m.loc[ok].copy()
    coefficient = m["generation_coefficient"].to_numpy(copy=True)
    for text, index in m.groupby("generation_expression").groups.items():
        if text:
            coefficient[m.index.get_indexer(index)] = parse(text).evaluate(
                {v: m.loc[index, v].to_numpy() for v in parse(text).variables})
    unit = {(a, b): conversion_factor(a, b) for a, b in
            m[["activity_unit", "activity_unit_lib"]].drop_duplicates().itertuples(index=False)}
    unit_factor = np.array([unit[(a, b)] for a, b in
                            zip(m["activity_unit"], m["activity_unit_lib"], strict=True)])
    m["generation"] = coefficient * m["coefficient_factor"] * m["activity"] * unit_factor
    m = m.merge(treatment, on=["enterprise_id", "section", "pollutant"], how="left",
                suffixes=("", "_t"))
    treated = rows.loc[rows["treatment"] != "", [*combination, "treatment", "removal_efficiency",
                                                 "k_formula"]]
    m = m.drop(columns=["treatment", "removal_efficiency", "k_formula"]).rename(
        columns={"treatment_t": "treatment"})
    m = m.merge(treated, on=[*combination, "treatment"], how="left")
    k = np.ones(len(m))
    for text, index in m.groupby("k_formula").groups.items():
        if text:
            position = m.index.get_indexer(index)
            k[position] = parse(text).evaluate({v: m.loc[index, v].to_numpy()
                                                for v in parse(text).variables})
    efficiency = m["removal_efficiency"].fillna(0.0).to_numpy()
    m["removal"] = m["generation"] * efficiency * np.clip(k, 0, 1)
    m["emission"] = m["generation"] - m["removal"]
    return m[["enterprise_id", "section", "pollutant", "generation", "removal", "emission"]]


# --------------------------------------------------------------------------- floor


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _case(column: str, texts, sql_of, default: str) -> str:
    branches = " ".join(f"WHEN {_sql_text(t)} THEN {sql_of(t)}" for t in texts if t)
    return f"(CASE {column} {branches} ELSE {default} END)" if branches else default


def _formula_sql(text: str, column) -> str:
    """A library formula as SQL over the row's variables (``column(name)`` is the SQL of
    a variable; the library's formulas are arithmetic SQL reads as it is)."""
    names = parse(text).variables
    return "(" + re.sub(r"[A-Za-z_][A-Za-z_0-9]*",
                        lambda m: column(m.group()) if m.group() in names else m.group(),
                        text) + ")"


def _missing_sql(text: str, column) -> str:
    names = sorted(parse(text).variables)
    return "(" + " OR ".join(f"{column(n)} IS NULL" for n in names) + ")" if names else "false"


def _flagged(con, name: str, checks, soft, key: list[str]) -> list[str]:
    """Temp table ``{name}f``: view ``name`` with a flag per check (hard checks and soft
    ones, which reject a value but not the row) and ``bad`` (any hard check); temp table
    ``{name}_dup_rows``: the rows whose key repeats an earlier row's. Returns the SELECTs
    of the rejects (row, col, reason) of both."""
    flags = ", ".join(f"coalesce({w}, false) AS f{i}" for i, (_, _, w) in enumerate(checks + soft))
    con.execute(f"""
        CREATE TEMP TABLE {name}f AS SELECT *, {flags},
               {' OR '.join(f'coalesce({w}, false)' for _, _, w in checks)} AS bad FROM {name}""")
    columns = ", ".join(key)
    con.execute(f"""
        CREATE TEMP TABLE {name}_dup_rows AS
        SELECT {name}f._row FROM {name}f JOIN (
            SELECT {columns}, min(_row) AS first_row
            FROM {name}f GROUP BY ALL HAVING count(*) > 1) d USING ({columns})
        WHERE {name}f._row <> d.first_row""")
    rejects = [f"SELECT _row AS row, '{c}' AS col, '{r}' AS reason FROM {name}f WHERE f{i}"
               for i, (c, r, _) in enumerate(checks + soft)]
    rejects.append(f"SELECT _row, 'enterprise_id', 'duplicate_row' FROM {name}_dup_rows")
    return rejects


def floor_sql(activity: pa.Table, treatment: pa.Table, library, out: Path) -> dict:
    """The whole run in hand-written DuckDB SQL; returns the reject count."""
    import duckdb

    from sourcegrid.accounting import engine
    from sourcegrid.accounting.inputs import AMOUNT_MAX, variable_domain
    from sourcegrid.coefficients.model import canonical_pollutant

    con = duckdb.connect(config=_duckdb_config())
    con.execute("SET preserve_insertion_order = false")
    rows = engine._tiers(engine._combinations(library.rows.reset_index(drop=True)))
    generation_vars, k_vars = engine._formula_columns(rows)
    expressions = sorted({t for t in rows["generation_expression"] if t})
    k_formulas = sorted({t for t in rows["k_formula"] if t})
    act_vars = sorted(v for v in generation_vars | k_vars if v in activity.column_names)
    trt_vars = sorted(v for v in k_vars if v in treatment.column_names)
    activity = activity.append_column("_row", pa.array(np.arange(activity.num_rows) + 2))
    treatment = treatment.append_column("_row", pa.array(np.arange(treatment.num_rows) + 2))
    con.register("act_raw", activity)
    con.register("trt_raw", treatment)
    lib = engine._library_table(rows)
    con.register("lib", lib)

    def text(column: str, source: str) -> str:
        return (f"coalesce(trim(CAST({column} AS VARCHAR)), '')" if column in source
                else "''")

    def anything(column: str) -> str:
        return (f"CASE WHEN {text(column, activity.column_names)} IN ('所有', '所有产品', "
                f"'所有原料', '所有工艺', 'all', '*', '-', '/') THEN '' ELSE "
                f"{text(column, activity.column_names)} END")

    def domain(name: str) -> str:
        low, high, _ = variable_domain(name)
        return f'(CASE WHEN "{name}" BETWEEN {low!r} AND {high!r} THEN "{name}" END)'

    def finite(name: str, names) -> str:
        return (f"(CASE WHEN isfinite({name}) THEN {name} END)" if name in names
                else "CAST(NULL AS DOUBLE)")

    # 1. activity: typed, flagged, duplicates, rejects
    names = activity.column_names
    variables = ", ".join(f'{domain(v)} AS "{v}", "{v}" AS "raw_{v}"' for v in act_vars)
    con.execute(f"""
        CREATE TEMP VIEW a AS
        SELECT _row, {text('enterprise_id', names)} AS enterprise_id,
               {text('enterprise_name', names)} AS enterprise_name,
               {text('industry_code', names)} AS industry_code,
               {text('region_code', names)} AS region_code, {anything('section')} AS section,
               {anything('product')} AS product, {anything('raw_material')} AS raw_material,
               {anything('process')} AS process, {text('capacity_unit', names)} AS capacity_unit,
               {text('scale', names)} AS scale, {text('activity_unit', names)} AS activity_unit,
               {text('period', names)} AS period, {finite('activity', names)} AS activity,
               {finite('capacity', names)} AS capacity, {finite('lon', names)} AS lon,
               {finite('lat', names)} AS lat, activity AS raw_activity,
               {'capacity' if 'capacity' in names else 'NULL'} AS raw_capacity
               {', ' + variables if variables else ''}
        FROM act_raw""")
    checks = [
        ("enterprise_id", "missing_value", "enterprise_id = ''"),
        ("industry_code", "missing_value", "industry_code = ''"),
        ("section", "missing_value", "section = ''"),
        ("activity_unit", "missing_value", "activity_unit = ''"),
        ("period", "missing_value", "period = ''"),
        ("industry_code", "bad_industry_code",
         "industry_code <> '' AND NOT regexp_full_match(industry_code, '[0-9]{4}')"),
        ("region_code", "bad_region_code",
         "region_code <> '' AND NOT regexp_full_match(region_code, '[0-9]{6}')"),
        ("period", "bad_period",
         "period <> '' AND NOT regexp_full_match(period, '[0-9]{4}(-(0[1-9]|1[0-2]))?')"),
        ("activity", "missing_value", "raw_activity IS NULL"),
        ("activity", "not_a_number", "raw_activity IS NOT NULL AND activity IS NULL"),
        ("capacity", "not_a_number", "raw_capacity IS NOT NULL AND capacity IS NULL"),
        ("activity", "negative_amount", "activity < 0"),
        ("activity", "out_of_domain", f"activity > {AMOUNT_MAX!r}"),
        ("capacity", "negative_amount", "capacity < 0"),
        ("capacity", "out_of_domain", f"capacity > {AMOUNT_MAX!r}"),
        ("capacity_unit", "missing_value", "capacity IS NOT NULL AND capacity_unit = ''"),
        ("lon", "bad_coordinate", "abs(lon) > 180"),
        ("lat", "bad_coordinate", "abs(lat) > 90"),
    ]
    soft = [(v, "out_of_domain", f'"{v}" IS NULL AND "raw_{v}" IS NOT NULL') for v in act_vars]
    rejects = _flagged(con, "a", checks, soft,
                       ["enterprise_id", "section", "product", "raw_material", "process", "period"])
    known = ", ".join(_sql_text(c) for c in sorted(set(rows["industry_code"])))
    rejects.append(f"SELECT _row, 'industry_code', 'unknown_industry' FROM af "
                   f"WHERE NOT bad AND industry_code NOT IN ({known}) "
                   f"AND _row NOT IN (SELECT _row FROM a_dup_rows)")
    con.execute(f"""
        CREATE TEMP VIEW ag AS SELECT * FROM af
        WHERE NOT bad AND industry_code IN ({known})
          AND _row NOT IN (SELECT _row FROM a_dup_rows)""")

    # 2. treatment: typed, flagged, duplicates, rejects
    names = treatment.column_names
    pollutants = [p for (p,) in con.execute(
        f"SELECT DISTINCT {text('pollutant', names)} FROM trt_raw").fetchall() if p]
    mapping = {p: canonical_pollutant(p) for p in pollutants}
    canonical = _case(text("pollutant", names), [p for p in mapping if mapping[p] != p],
                      lambda p: _sql_text(mapping[p]), text("pollutant", names))
    category = text("pollutant_category", names)
    k = finite("k", names)
    tvars = ", ".join(f'{domain(v)} AS "{v}", "{v}" AS "raw_{v}"' for v in trt_vars)
    con.execute(f"""
        CREATE TEMP VIEW t AS
        SELECT _row, {text('enterprise_id', names)} AS enterprise_id,
               {text('section', names)} AS section, {canonical} AS pollutant,
               CASE {category} WHEN '废气' THEN 'air' WHEN '废水' THEN 'water'
                    WHEN 'AIR' THEN 'air' WHEN 'Air' THEN 'air' WHEN 'WATER' THEN 'water'
                    WHEN 'Water' THEN 'water' ELSE {category} END AS pollutant_category,
               replace({text('treatment', names)}, '；', ';') AS treatment,
               CASE WHEN {k} > 1 THEN {k} / 100 ELSE {k} END AS k, {k} AS raw_k
               {', ' + tvars if tvars else ''}
        FROM trt_raw""")
    tchecks = [
        ("enterprise_id", "missing_value", "enterprise_id = ''"),
        ("pollutant", "missing_value", "pollutant = '' AND pollutant_category = ''"),
        ("pollutant_category", "bad_category",
         "pollutant_category <> '' AND pollutant_category NOT IN ('air', 'water')"),
        ("k", "bad_k", "raw_k < 0 OR raw_k > 100"),
    ]
    tsoft = [(v, "out_of_domain", f'"{v}" IS NULL AND "raw_{v}" IS NOT NULL') for v in trt_vars]
    rejects += _flagged(con, "t", tchecks, tsoft,
                        ["enterprise_id", "section", "pollutant", "pollutant_category"])
    con.execute("""CREATE TEMP VIEW tg AS SELECT * FROM tf
                   WHERE NOT bad AND _row NOT IN (SELECT _row FROM t_dup_rows)""")

    # 3. small tables: unit factors, treatment parts (pint and the library, in Python)
    units = con.execute("SELECT DISTINCT activity_unit, capacity_unit FROM ag").df()
    unit_factors = engine._unit_factors(
        units[["activity_unit"]].drop_duplicates().merge(
            lib[["lib_activity_unit"]].drop_duplicates(), how="cross"),
        "activity_unit", "lib_activity_unit", "unit_factor")
    capacity_factors = engine._unit_factors(
        units[["capacity_unit"]].drop_duplicates().merge(
            lib[["scale_unit"]].drop_duplicates(), how="cross"),
        "capacity_unit", "scale_unit", "capacity_factor")
    texts = [t for (t,) in con.execute("SELECT DISTINCT treatment FROM tg").fetchall() if t]
    parts = engine._wide_parts(engine._treatment_parts(rows, texts))
    widest = sum(1 for c in parts.columns if c.startswith("part") and c.endswith("_row"))
    con.register("unit_factors", unit_factors)
    con.register("parts", parts)

    # 4. matching, once per distinct (keys, tier signature)
    tiers = rows.loc[rows["is_base"] & (rows["tier_no"] > 0)].drop_duplicates("tier_no")
    signature = "''"
    for tier in tiers.sort_values("tier_no").itertuples(index=False):
        factors = dict(capacity_factors.loc[capacity_factors["scale_unit"] == tier.scale_unit,
                                            ["capacity_unit", "capacity_factor"]].values)
        capacity = ("(capacity * " + _case("capacity_unit", factors,
                                           lambda u, f=factors: repr(float(f[u])), "NULL") + ")")
        low = "true" if pd.isna(tier.scale_min) else (
            f"{capacity} {'>=' if tier.scale_min_inclusive else '>'} {tier.scale_min!r}")
        high = "true" if pd.isna(tier.scale_max) else (
            f"{capacity} {'<=' if tier.scale_max_inclusive else '<'} {tier.scale_max!r}")
        signature += (f" || CASE WHEN coalesce(scale = {_sql_text(tier.scale)} OR ({low} AND "
                      f"{high}), false) THEN '1' ELSE '0' END")
    scale_ok = "CASE " + " ".join(
        f"WHEN b.tier_no = {t} THEN substr(k.sig, {t}, 1) = '1'"
        for t in tiers["tier_no"]) + " ELSE true END" if len(tiers) else "true"
    keys = "industry_code, section, product, raw_material, process, sig"
    con.execute(f"""CREATE TEMP VIEW keyed AS SELECT _row, industry_code, section, product,
                    raw_material, process, {signature} AS sig FROM ag""")
    con.execute(f"""
        CREATE TEMP TABLE cand AS
        SELECT k.*, b.combination_id, b.specificity, b.pollutant, b.coefficient_row,
               {scale_ok} AS scale_ok
        FROM (SELECT DISTINCT {keys} FROM keyed) k JOIN lib b
          ON b.is_base AND (b.lib_industry_code = k.industry_code OR b.lib_industry_code = '*')
         AND (b.lib_section = '' OR b.lib_section = k.section)
         AND (b.lib_product = '' OR b.lib_product = k.product)
         AND (b.lib_raw_material = '' OR b.lib_raw_material = k.raw_material)
         AND (b.lib_process = '' OR b.lib_process = k.process)""")
    con.execute(f"""
        CREATE TEMP TABLE res AS
        WITH ok AS (SELECT * FROM cand WHERE scale_ok),
             best AS (SELECT {keys}, pollutant, max(specificity) AS best FROM ok GROUP BY ALL)
        SELECT {keys}, pollutant, count(*) AS n_best, max(combination_id) AS combination_id,
               string_agg(CAST(coefficient_row AS VARCHAR), ', ') AS rows
        FROM ok JOIN best USING ({keys}, pollutant) WHERE specificity = best GROUP BY ALL""")
    rejects.append(f"""SELECT _row, 'section', 'no_matching_coefficient' FROM keyed
                       ANTI JOIN cand USING ({keys})""")
    rejects.append(f"""SELECT _row, 'capacity', 'no_matching_scale' FROM keyed SEMI JOIN (
                       SELECT {keys} FROM cand GROUP BY ALL HAVING NOT bool_or(scale_ok)) f
                       USING ({keys})""")
    rejects.append(f"""SELECT _row, 'pollutant', 'ambiguous_match' FROM keyed
                       JOIN res USING ({keys}) WHERE n_best > 1""")

    # 5. generation, treatment (parts side by side), removal, emission
    carried = ["treatment", "k", *trt_vars]
    tp = ", ".join(f'{c} AS "tp_{c}"' for c in carried)
    tc = ", ".join(f'{c} AS "tc_{c}"' for c in carried)
    kvars = ", ".join(f'coalesce(CASE WHEN tp.tp_treatment IS NOT NULL THEN tp."tp_{v}" '
                      f'ELSE tc."tc_{v}" END, {"g." + chr(34) + v + chr(34) if v in act_vars else "NULL"}) AS "k_{v}"'
                      for v in sorted(k_vars))
    coefficient = _case("b.generation_expression", expressions,
                        lambda t: _formula_sql(t, lambda n: f'g."{n}"'),
                        "b.generation_coefficient")
    missing_gen = _case("b.generation_expression", expressions,
                        lambda t: _missing_sql(t, lambda n: f'g."{n}"'), "false")
    con.execute(f"""
        CREATE TEMP TABLE m AS
        SELECT g._row, g.enterprise_id, g.section, g.period, b.pollutant, b.pollutant_category,
               b.combination_id, b.coefficient_row, uf.unit_factor,
               CASE WHEN isfinite({coefficient}) AND {coefficient} >= 0 THEN {coefficient}
                    END AS coefficient_value,
               {missing_gen} AS missing_gen, g.activity * uf.unit_factor AS activity_in_basis,
               b.coefficient_factor,
               CASE WHEN tp.tp_treatment IS NOT NULL THEN tp.tp_treatment
                    ELSE coalesce(tc.tc_treatment, '') END AS treatment_text,
               CASE WHEN tp.tp_treatment IS NOT NULL THEN tp.tp_k ELSE tc.tc_k END AS k_given
               {', ' + kvars if kvars else ''}
        FROM keyed JOIN res USING ({keys})
        JOIN ag g ON g._row = keyed._row
        JOIN lib b ON b.is_base AND b.combination_id = res.combination_id
        LEFT JOIN unit_factors uf ON uf.activity_unit = g.activity_unit
                                 AND uf.lib_activity_unit = b.lib_activity_unit
        LEFT JOIN (SELECT enterprise_id, section, pollutant, {tp} FROM tg WHERE pollutant <> '') tp
          ON tp.enterprise_id = g.enterprise_id AND tp.section = g.section
         AND tp.pollutant = b.pollutant
        LEFT JOIN (SELECT enterprise_id, section, pollutant_category, {tc} FROM tg
                   WHERE pollutant = '' AND pollutant_category <> '') tc
          ON tc.enterprise_id = g.enterprise_id AND tc.section = g.section
         AND tc.pollutant_category = b.pollutant_category
        WHERE res.n_best = 1""")
    part_sql = []
    for j in range(1, widest + 1):
        formula = f"coalesce(p.part{j}_k_formula, '')"
        k_value = _case(formula, k_formulas,
                        lambda t: _formula_sql(t, lambda n: f'm."k_{n}"'), "1.0")
        missing = _case(formula, k_formulas,
                        lambda t: _missing_sql(t, lambda n: f'm."k_{n}"'), "false")
        part_sql.append(f"""
               p.part{j}_row AS row{j}, p.part{j}_efficiency AS eff{j},
               CASE WHEN m.k_given IS NOT NULL THEN m.k_given ELSE {k_value} END AS k_raw{j},
               CASE WHEN m.k_given IS NOT NULL THEN false ELSE {missing} END AS missing_k{j},
               p.part{j}_treatment AS name{j}""")
    con.execute(f"""
        CREATE TEMP VIEW pk AS
        SELECT m.*, {','.join(part_sql)}
        FROM m LEFT JOIN parts p ON p.combination_id = m.combination_id
                                AND p.treatment_text = m.treatment_text""")
    clip = "greatest(least(k_raw{j}, 1.0), 0.0)"
    keep = " * ".join(f"CASE WHEN row{j} IS NULL AND {j} > 1 THEN 1.0 ELSE "
                      f"1 - coalesce(eff{j} * {clip.format(j=j)}, 0.0) END"
                      for j in range(1, widest + 1))
    nominal = " * ".join(f"CASE WHEN row{j} IS NULL AND {j} > 1 THEN 1.0 ELSE "
                         f"1 - coalesce(eff{j}, 0.0) END" for j in range(1, widest + 1))
    n_parts = " + ".join(f"CAST(row{j} IS NOT NULL AS INTEGER)" for j in range(1, widest + 1))
    any_missing = " OR ".join(f"(row{j} IS NOT NULL AND missing_k{j})"
                              for j in range(1, widest + 1))
    invalid = " OR ".join(f"(row{j} IS NOT NULL AND k_raw{j} IS NULL AND NOT missing_k{j})"
                          for j in range(1, widest + 1))
    clipped = " OR ".join(f"(row{j} IS NOT NULL AND (k_raw{j} < 0 OR k_raw{j} > 1))"
                          for j in range(1, widest + 1))
    details = " || '; ' || ".join(
        f"coalesce(name{j} || ' η=' || CAST(eff{j} AS VARCHAR) || ' k=' || "
        f"CAST(round({clip.format(j=j)}, 6) AS VARCHAR), '')" for j in range(1, widest + 1))
    con.execute(f"""
        CREATE TEMP TABLE r AS
        SELECT *, CASE WHEN treatment_text = '' THEN 0.0 ELSE 1 - ({keep}) END AS removed,
               CASE WHEN treatment_text = '' THEN 0.0 ELSE 1 - ({nominal}) END AS efficiency,
               {n_parts} AS n_parts, coalesce({any_missing}, false) AS missing_k,
               coalesce({invalid}, false) AS invalid_k, coalesce({clipped}, false) AS clipped,
               k_raw1 AS k_shown
        FROM pk""")
    rejects += [
        "SELECT _row, 'activity_unit', 'unit_mismatch' FROM r WHERE unit_factor IS NULL",
        "SELECT _row, 'generation_coefficient', 'missing_variable' FROM r WHERE missing_gen",
        "SELECT _row, 'generation_coefficient', 'invalid_coefficient' FROM r "
        "WHERE unit_factor IS NOT NULL AND NOT missing_gen AND coefficient_value IS NULL",
        "SELECT _row, 'treatment', 'unknown_treatment' FROM r "
        "WHERE treatment_text <> '' AND n_parts = 0",
        "SELECT _row, 'k', 'missing_variable' FROM r WHERE n_parts > 0 AND missing_k",
        "SELECT _row, 'k', 'invalid_k' FROM r WHERE n_parts > 0 AND NOT missing_k AND invalid_k",
    ]
    n_rejects = con.execute("SELECT count(*) FROM (" + " UNION ALL ".join(rejects)
                            + ")").fetchone()[0]
    name = _sql_text(library.name)
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"""
        COPY (
          SELECT enterprise_id, period, section, pollutant, pollutant_category,
                 coefficient_value * coefficient_factor * activity_in_basis AS generation,
                 coefficient_value * coefficient_factor * activity_in_basis * removed AS removal,
                 coefficient_value * coefficient_factor * activity_in_basis * (1 - removed)
                   AS emission,
                 'coefficient' AS method, {name} AS library, coefficient_row,
                 treatment_text AS treatment, efficiency AS removal_efficiency,
                 CASE WHEN treatment_text = '' THEN NULL WHEN n_parts > 1
                      THEN removed / nullif(efficiency, 0) ELSE greatest(least(k_shown, 1), 0)
                 END AS k,
                 CASE WHEN treatment_text = '' THEN 'no treatment: E = G'
                      ELSE CASE WHEN n_parts > 1 THEN 'series, η·k = 1 − Π(1 − η_i·k_i) = '
                                || CAST(round(removed, 6) AS VARCHAR) || ' [' || {details}
                                || ']' ELSE '' END
                           || CASE WHEN clipped THEN 'k clipped to [0, 1]' ELSE '' END
                 END AS note,
                 _row AS source_row
          FROM r
          WHERE unit_factor IS NOT NULL AND NOT missing_gen AND coefficient_value IS NOT NULL
            AND (treatment_text = '' OR n_parts > 0) AND NOT missing_k AND NOT invalid_k
          ORDER BY _row, pollutant
        ) TO '{out}' (FORMAT parquet)""")
    return {"rejects": int(n_rejects)}


# --------------------------------------------------------------------------- workers




def _duckdb_config() -> dict:
    """DuckDB settings of the floor and sourcegrid runs: ``--memory-limit`` (passed to the
    worker as $SOURCEGRID_BENCH_MEMORY_LIMIT) caps DuckDB's memory, which then spills to a
    temporary folder; by default DuckDB may take 80 % of the machine's memory."""
    import os

    limit = os.environ.get("SOURCEGRID_BENCH_MEMORY_LIMIT", "")
    if not limit:
        return {}
    return {"memory_limit": limit, "temp_directory": tempfile.mkdtemp(prefix="sg-spill-")}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def as_csv(folder: Path) -> None:
    """activity.csv and treatment.csv: the Parquet inputs as UTF-8 CSV (written a batch
    at a time), as bureaus exchange them."""
    import pyarrow.csv as pacsv

    for name in ("activity", "treatment"):
        target = folder / f"{name}.csv"
        if target.exists():
            continue
        source = pq.ParquetFile(folder / f"{name}.parquet")
        with pacsv.CSVWriter(target, source.schema_arrow) as writer:
            for batch in source.iter_batches(batch_size=_CHUNK):
                writer.write_batch(batch)


def worker(which: str, folder: Path) -> dict:
    """Run one implementation on the Parquet input in ``folder``; seconds exclude reading.
    CPU seconds (user + system, all threads) are printed too: on a shared machine they
    vary far less than the wall clock."""
    from sourcegrid.coefficients import sample_library

    library = sample_library()
    if which in ("sourcegrid_file", "sourcegrid_csv"):  # the engine reads the files
        import ibis

        from sourcegrid.accounting.engine import account
        from sourcegrid.accounting.inputs import engine_input

        suffix = "parquet" if which == "sourcegrid_file" else "csv"
        if suffix == "csv":
            as_csv(folder)  # before the clock, as the other inputs are made before it
        out = folder / f"{which}.parquet"
        start, cpu = time.perf_counter(), _cpu_seconds()
        con = ibis.duckdb.connect(**_duckdb_config())
        result = account(engine_input(con, folder / f"activity.{suffix}"), library,
                         engine_input(con, folder / f"treatment.{suffix}", kind="treatment"),
                         con=con, out=out, explain=False)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        return _finished(which, result.activity_rows, seconds, cpu, 0.0, out, len(result.rejects),
                         parts=result.parts)
    activity = pq.read_table(folder / "activity.parquet")
    treatment = pq.read_table(folder / "treatment.parquet")
    input_mb = (activity.nbytes + treatment.nbytes) / 2**20
    out = folder / f"{which}.parquet"
    rejects = None
    if which == "pandas":
        activity, treatment = activity.to_pandas(), treatment.to_pandas()
        start, cpu = time.perf_counter(), _cpu_seconds()
        pandas_baseline(activity, library.rows, treatment).to_parquet(out, index=False)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    elif which == "floor":
        start, cpu = time.perf_counter(), _cpu_seconds()
        rejects = floor_sql(activity, treatment, library, out)["rejects"]
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    else:
        import ibis

        from sourcegrid.accounting.engine import account

        start, cpu = time.perf_counter(), _cpu_seconds()
        result = account(activity, library, treatment,
                         con=ibis.duckdb.connect(**_duckdb_config()), out=out, explain=False)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        rejects = len(result.rejects)
    rows = activity.num_rows if hasattr(activity, "num_rows") else len(activity)
    return _finished(which, rows, seconds, cpu, input_mb, out, rejects)


def _finished(which: str, rows: int, seconds: float, cpu: float, input_mb: float, out: Path,
              rejects, parts: int = 1) -> dict:
    """The worker's figures: peak memory now, and the totals of the file it wrote."""
    peak = peak_rss_mb()
    written = pq.read_table(out, columns=["generation", "removal", "emission"])
    totals = {c: float(pc.sum(written[c]).as_py()) for c in written.column_names}
    return {"which": which, "rows": rows, "seconds": seconds, "cpu": cpu, "peak_mb": peak,
            "input_mb": input_mb, "emission_rows": written.num_rows, "rejects": rejects,
            "parts": parts, **totals}


def run(which: str, folder: Path) -> dict:
    """``worker`` in a fresh interpreter, so its peak memory is its own."""
    done = subprocess.run([sys.executable, __file__, "--worker", which, "--input", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{which} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(results: list[dict]) -> None:
    """Stop unless every implementation gave the same totals and row counts."""
    first = results[0]
    for other in results[1:]:
        for column in ("generation", "removal", "emission"):
            if not np.isclose(first[column], other[column], rtol=1e-9):
                raise SystemExit(f"results differ: {column} {first['which']} {first[column]} "
                                 f"vs {other['which']} {other[column]}")
        if first["emission_rows"] != other["emission_rows"]:
            raise SystemExit(f"row counts differ: {first['emission_rows']} vs "
                             f"{other['emission_rows']} ({other['which']})")


def table(results: list[dict]) -> None:
    by = {r["which"]: r for r in results}
    print(f"{'implementation':<32}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'peak RSS MB':>13}"
          f"{'input MB':>10}{'rejects':>9}{'parts':>7}")
    labels = {"floor": "floor (hand-written DuckDB SQL)", "sourcegrid": "sourcegrid (Ibis, DuckDB)",
              "sourcegrid_file": "sourcegrid, files read by DuckDB",
              "sourcegrid_csv": "sourcegrid, CSV read by DuckDB",
              "pandas": "pandas merge baseline"}
    for r in results:
        rejects = "" if r["rejects"] is None else f"{r['rejects']:,}"
        print(f"{labels[r['which']]:<32}{r['seconds']:>9.2f}{r['cpu']:>8.1f}"
              f"{r['rows'] / r['seconds']:>11,.0f}"
              f"{r['peak_mb']:>13,.0f}{r['input_mb']:>10,.0f}{rejects:>9}{r.get('parts', 1):>7}")
    ours = by.get("sourcegrid")
    if ours is not None and "floor" in by:
        print(f"sourcegrid / floor: wall {ours['seconds'] / by['floor']['seconds']:.2f}, CPU "
              f"{ours['cpu'] / by['floor']['cpu']:.2f} (target <= 1.5)")
    if ours is not None and "pandas" in by:
        print(f"pandas / sourcegrid: wall {by['pandas']['seconds'] / ours['seconds']:.2f}x, CPU "
              f"{by['pandas']['cpu'] / ours['cpu']:.2f}x (target >= 5)")
    print(f"load average while running: {Path('/proc/loadavg').read_text().split()[0]} "
          "(on a shared machine compare the CPU columns)")
    first = results[0]
    print(f"{first['emission_rows']:,} emission rows; totals equal, emission "
          f"{first['emission'] / 1000:,.1f} t")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000,
                        help="section-activity rows to generate (default 5·10^5, ~1 minute)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scaling", action="store_true",
                        help="run 10^5, 10^6 and 10^7 rows (floor and sourcegrid; pandas up "
                        "to 10^6) and print seconds, rows/s and peak RSS of each")
    parser.add_argument("--sizes", default="100000,1000000,10000000",
                        help="the sizes --scaling runs (comma separated)")
    parser.add_argument("--memory-limit", default="",
                        help="DuckDB memory_limit of the floor and sourcegrid runs (e.g. 2GB; "
                        "default: DuckDB's own, 80 %% of the memory)")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS),
                        help="which to run, comma separated (default all: "
                        f"{', '.join(IMPLEMENTATIONS)}); the ratios need floor, sourcegrid "
                        "and pandas")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.input)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.scaling else [args.rows]
    if args.memory_limit:
        import os

        os.environ["SOURCEGRID_BENCH_MEMORY_LIMIT"] = args.memory_limit  # for the workers
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix="sourcegrid-bench-"))
        try:
            generate(size, folder, args.seed)
            chosen = [w.strip() for w in args.implementations.split(",")]
            unknown = sorted(set(chosen) - set(IMPLEMENTATIONS))
            if unknown:
                raise SystemExit(f"unknown implementation {unknown[0]!r}; valid: "
                                 f"{', '.join(IMPLEMENTATIONS)}")
            which = [w for w in IMPLEMENTATIONS
                     if w in chosen and (w != "pandas" or size <= 1_000_000)]
            results = [run(w, folder) for w in which]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        compare(results)
        print(f"\n{size:,} activity rows")
        table(results)
    print("each implementation runs in its own process from the same Parquet input (read "
          "before the clock starts, except by the 'read by DuckDB' ones, which read the files on "
          "the clock) and writes its emissions to Parquet; peak RSS includes the input tables "
          "held in Python")


if __name__ == "__main__":
    main()
