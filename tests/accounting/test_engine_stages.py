"""Each stage of the accounting engine on its own (inputs, matching, generation,
treatment, rejects, output), on the hand-made cases of tests/accounting/cases.py.

Expected values are worked out by hand next to each assertion (the library rows and
their numbers are in cases.py; the formulas in sourcegrid.accounting.engine's docstring).
"""

from __future__ import annotations

import csv

import ibis
import pandas as pd
import pytest

from sourcegrid.accounting.engine import (
    EMISSION_COLUMNS,
    EXPLAIN_COLUMNS,
    stage_generation,
    stage_inputs,
    stage_matching,
    stage_output,
    stage_rejects,
    stage_treatment,
    tier_signature,
)

from .cases import BAD_ACTIVITY, BAD_TREATMENT, GOOD_ACTIVITY, GOOD_TREATMENT, LIBRARY, activity_row


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _fetch(con, table: ibis.Table) -> pd.DataFrame:
    return con.to_pyarrow(table).to_pandas()


def _by_enterprise(con, inputs, table: ibis.Table, *columns: str) -> dict:
    """(enterprise_id, pollutant) -> the columns, for a table keyed by activity_row."""
    names = inputs.activity.select("activity_row", "enterprise_id")
    frame = _fetch(con, table.join(names, "activity_row"))
    return {(e, p): tuple(values) for e, p, *values in
            frame[["enterprise_id", "pollutant", *columns]].itertuples(index=False)}


def test_inputs_checks_rows_and_numbers_the_scale_tiers(con):
    inputs = stage_inputs(BAD_ACTIVITY, LIBRARY, BAD_TREATMENT, con)
    # 10 rows; out: row 3 (industry 9999), 4 (activity -5), 5 ('abc'), 10 (duplicate of 9)
    kept = _fetch(con, inputs.activity)
    assert sorted(kept["_row"]) == [2, 6, 7, 8, 9, 11]
    reasons = pd.concat([_fetch(con, r)[["row", "reason"]] for r in inputs.rejects])
    assert set(map(tuple, reasons.values.tolist())) == {
        (3, "unknown_industry"), (4, "negative_amount"), (5, "not_a_number"),
        (10, "duplicate_row")}
    # the two tiers of cases.LIBRARY, numbered in the sort order of their labels
    # ('<' U+003C before '≥' U+2265)
    assert inputs.tiers["scale"].tolist() == ["<300MW", "≥300MW"]
    assert inputs.tiers["tier_no"].tolist() == [1, 2]
    assert inputs.variables == ["S", "production_hours", "run_hours"]
    assert inputs.k_variables == ["production_hours", "run_hours"]
    assert inputs.n_activity == 10


def test_tier_signature_marks_the_tiers_each_row_fits(con):
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    act = inputs.activity
    frame = _fetch(con, act.select(
        "enterprise_id",
        signature=tier_signature(act, inputs.tiers, inputs.capacity_factors)))
    got = dict(frame.itertuples(index=False))
    # character 1: '<300MW' (max 300 exclusive), character 2: '≥300MW' (min 300 inclusive)
    assert got == {"E1": "01",   # 600 MW
                   "E2": "01",   # exactly 300 MW: only the tier that includes its bound
                   "E3": "10",   # 299 MW
                   "E4": "00"}   # welding: no capacity, fits no tier


def test_matching_picks_one_combination_per_row_and_pollutant(con):
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    matching = stage_matching(inputs)
    chosen = matching.chosen.join(
        inputs.base.select("combination_id", "pollutant", "coefficient_row"), "combination_id")
    got = _by_enterprise(con, inputs, chosen, "coefficient_row")
    # base rows (first row of each combination): SO2 ≥300MW row 2, NOx row 4, SO2 <300MW
    # row 7 (that tier has no NOx), PM of the shared welding section row 9
    assert got == {("E1", "SO2"): (2,), ("E1", "NOx"): (4,), ("E2", "SO2"): (2,),
                   ("E2", "NOx"): (4,), ("E3", "SO2"): (7,), ("E4", "PM"): (9,)}
    assert _fetch(con, matching.no_combination).empty
    assert _fetch(con, matching.no_tier).empty
    assert _fetch(con, matching.ambiguous).empty


def test_matching_sets_apart_rows_without_a_combination_or_a_tier(con):
    inputs = stage_inputs(BAD_ACTIVITY, LIBRARY, BAD_TREATMENT, con)
    matching = stage_matching(inputs)
    assert _fetch(con, matching.no_combination)["_row"].tolist() == [8]  # section 脱硝
    assert _fetch(con, matching.no_tier)["_row"].tolist() == [7]         # no capacity


def test_matching_ties_are_ambiguous_with_their_rows(con):
    # as in test_engine: row 21 is as specific as row 9 (industry, section, one more key)
    twin = LIBRARY.iloc[[7]].assign(coefficient_row=21, raw_material="", process="手工",
                                    generation_coefficient=2.0)
    library = pd.concat([LIBRARY, twin], ignore_index=True)
    activity = pd.DataFrame([activity_row("W", "3311", "焊接", "焊材", "手工", 1, "吨")])
    inputs = stage_inputs(activity, library, None, con)
    matching = stage_matching(inputs)
    assert _fetch(con, matching.chosen).empty
    tied = _fetch(con, matching.ambiguous)
    assert tied["pollutant"].tolist() == ["PM"]
    assert sorted(tied["rows"].iloc[0].split(", ")) == ["21", "9"]


def test_generation_is_coefficient_times_activity_in_basis(con):
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    generated = stage_generation(inputs, stage_matching(inputs).chosen)
    got = _by_enterprise(con, inputs, generated, "coefficient_value", "activity_in_basis",
                         "generation")
    # E1: c = 17 × S = 17 × 0.8 = 13.6 kg/t; A = 1 万吨 = 10 000 t; G = 136 000 kg
    assert got[("E1", "SO2")] == pytest.approx((13.6, 10_000.0, 136_000.0))
    # E1 NOx: c = 7.5 kg/t; G = 75 000 kg
    assert got[("E1", "NOx")] == pytest.approx((7.5, 10_000.0, 75_000.0))
    # E4 welding: c = 9.19 kg/t, A = 20 t, G = 183.8 kg
    assert got[("E4", "PM")] == pytest.approx((9.19, 20.0, 183.8))


def test_treatment_removes_eta_times_k_and_series_multiply(con):
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    treated = stage_treatment(inputs, stage_generation(inputs, stage_matching(inputs).chosen))
    got = _by_enterprise(con, inputs, treated, "removal_efficiency", "k", "removal", "emission")
    # SO2: η = 0.95 (row 3), k = run_hours / production_hours = 7200 / 8000 = 0.9;
    # R = 136 000 × 0.95 × 0.9 = 116 280, E = 19 720
    assert got[("E1", "SO2")] == pytest.approx((0.95, 0.9, 116_280.0, 19_720.0))
    # NOx: SCR;SNCR in series, k = 1 given: η = 1 − (1 − 0.8)(1 − 0.4) = 0.88,
    # R = 75 000 × 0.88 = 66 000
    assert got[("E1", "NOx")] == pytest.approx((0.88, 1.0, 66_000.0, 9_000.0))
    # E2 has no treatment row: η = 0, R = 0, E = G
    efficiency, k, removal, emission = got[("E2", "SO2")]
    assert (efficiency, removal, emission) == pytest.approx((0.0, 0.0, 85_000.0))
    assert k is None or pd.isna(k)


def test_rejects_name_the_reason_of_every_row_that_cannot_be_accounted(con):
    inputs = stage_inputs(BAD_ACTIVITY, LIBRARY, BAD_TREATMENT, con)
    matching = stage_matching(inputs)
    treated = stage_treatment(inputs, stage_generation(inputs, matching.chosen)).cache()
    checked = stage_rejects(inputs, matching, treated)
    reasons = pd.concat([_fetch(con, r)[["row", "reason", "column"]] for r in checked.rejects])
    got = set(map(tuple, reasons.values.tolist()))
    # the matching and accounting reasons (cases.EXPECTED_REJECTS, beside the input checks)
    assert {(2, "missing_variable", "generation_coefficient"),   # B1 reports no S
            (6, "unit_mismatch", "activity_unit"),               # 件 is not a mass
            (7, "no_matching_scale", "capacity"),
            (8, "no_matching_coefficient", "section"),
            (9, "unknown_treatment", "treatment"),               # 静电除尘 not in the library
            (11, "missing_variable", "k")} <= got                # production_hours missing
    # accountable: B1 NOx and B9 NOx (their SO2 is rejected, NOx needs no variable)
    good = _fetch(con, checked.good)
    assert sorted(zip(good["enterprise_id"], good["pollutant"], strict=True)) == [
        ("B1", "NOx"), ("B9", "NOx")]


def test_output_has_the_columns_in_order_and_explains_each_row(con):
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    matching = stage_matching(inputs)
    treated = stage_treatment(inputs, stage_generation(inputs, matching.chosen)).cache()
    good = stage_rejects(inputs, matching, treated).good
    explained = _fetch(con, stage_output(inputs, good, explain=True))
    assert explained.columns.tolist() == EMISSION_COLUMNS + EXPLAIN_COLUMNS
    # ordered by source row, then pollutant: E1 (row 2) NOx, SO2; E2 NOx, SO2; E3; E4
    assert list(zip(explained["source_row"], explained["pollutant"], strict=True)) == [
        (2, "NOx"), (2, "SO2"), (3, "NOx"), (3, "SO2"), (4, "SO2"), (5, "PM")]
    so2 = explained.set_index(["enterprise_id", "pollutant"]).loc[("E1", "SO2")]
    # c = 17 × 0.8, A = 1 万吨 = 10 000 t (numbers written as the engine casts a double)
    assert so2["note"] == ("G = c × A = 13.6 (17*S) 千克/吨-原料 × 10000.0 吨; "
                           "η·k = 0.95 × 0.9 (k formula: run_hours / production_hours)")
    short = _fetch(con, stage_output(inputs, good, explain=False)).set_index(
        ["enterprise_id", "pollutant"])
    assert short.loc[("E1", "SO2"), "note"] == ""          # the columns say it all
    assert short.loc[("E2", "SO2"), "note"] == "no treatment: E = G"


def test_output_written_straight_to_a_file(tmp_path):
    import pyarrow.parquet as pq

    from sourcegrid.accounting.engine import account

    path = tmp_path / "emissions.parquet"
    result = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, out=path, explain=False)
    assert result.emissions is None and result.emissions_table is None
    # 6 (enterprise, pollutant) rows of cases.EXPECTED from 4 activity rows
    assert (result.emission_rows, result.accounted_rows) == (6, 4)
    written = pq.read_table(path).to_pandas()
    assert written.columns.tolist() == EMISSION_COLUMNS   # no explanation columns unasked
    # SO2 emitted: 19 720 + 85 000 + 9 350 = 114 070 kg (cases.EXPECTED)
    assert written.loc[written["pollutant"] == "SO2", "emission"].sum() == pytest.approx(114_070.0)
    explained = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, out=tmp_path / "e.csv")
    assert explained.emission_rows == 6
    with open(tmp_path / "e.csv", encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == EMISSION_COLUMNS + EXPLAIN_COLUMNS


def test_only_the_kinds_of_problem_found_build_reject_tables(con):
    # BAD_ACTIVITY: row 8 matches no combination, row 7 fits no scale tier, and no row
    # is ambiguous (cases.EXPECTED_REJECTS); each found table holds distinct keys
    inputs = stage_inputs(BAD_ACTIVITY, LIBRARY, BAD_TREATMENT, con)
    matching = stage_matching(inputs)
    found = {name: int(table.count().to_pyarrow().as_py())
             for name, table in matching.found.items()}
    assert found == {"no_combination": 1, "no_tier": 1, "ambiguous": 0}
    # GOOD_ACTIVITY with GOOD_TREATMENT: every row is accounted, so neither the input
    # checks nor any later stage leaves a reject table to fetch
    inputs = stage_inputs(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con)
    assert inputs.rejects == []
    matching = stage_matching(inputs)
    treated = stage_treatment(inputs, stage_generation(inputs, matching.chosen)).cache()
    assert stage_rejects(inputs, matching, treated).rejects == []
