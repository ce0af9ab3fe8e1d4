"""The coefficient method on hand-checked cases, and its rejects.

Expected values are worked out by hand in tests/accounting/cases.py.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.accounting.engine import ClippedOperatingRate, account, aggregate
from sourcegrid.errors import InputError, NotFoundError

from .cases import (
    BAD_ACTIVITY,
    BAD_TREATMENT,
    EXPECTED,
    EXPECTED_REJECTS,
    GOOD_ACTIVITY,
    GOOD_TREATMENT,
    LIBRARY,
    activity_row,
)


def _by_key(result) -> dict:
    frame = result.emissions
    return {(e, p): (g, r, x) for e, p, g, r, x in
            frame[["enterprise_id", "pollutant", "generation", "removal", "emission"]]
            .itertuples(index=False)}


def test_hand_checked_generation_removal_emission():
    result = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT)
    got = _by_key(result)
    assert set(got) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        assert got[key] == pytest.approx(expected, rel=1e-12, abs=1e-9), key
    assert result.rejects.empty
    assert result.accounted_rows == 4


def test_generation_equals_removal_plus_emission_on_every_row():
    frame = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions
    assert (frame["generation"] - frame["removal"] - frame["emission"]).abs().max() < 1e-9
    assert (frame["emission"] >= 0).all() and (frame["removal"] >= 0).all()


def test_each_row_explains_itself():
    frame = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions.set_index(
        ["enterprise_id", "pollutant"])
    so2 = frame.loc[("E1", "SO2")]
    assert so2["library"] == "handmade"
    assert so2["coefficient_row"] == 2          # the combination's generation coefficient
    assert so2["removal_efficiency"] == pytest.approx(0.95)
    assert so2["k"] == pytest.approx(0.9)       # 7200 / 8000
    assert so2["k_source"] == "formula"
    assert "17*S" in so2["note"] and "run_hours / production_hours" in so2["note"]
    nox = frame.loc[("E1", "NOx")]
    assert "series" in nox["note"] and "rows 5, 6" in nox["note"] or "rows 6, 5" in nox["note"]
    # nominal series efficiency 1 − (1 − 0.8)(1 − 0.4) = 0.88, k = 1 given
    assert nox["removal_efficiency"] == pytest.approx(0.88)
    assert nox["k"] == pytest.approx(1.0)
    untreated = frame.loc[("E2", "SO2")]
    assert untreated["treatment"] == "" and untreated["k_source"] == "none"
    assert "E = G" in untreated["note"]


def test_tier_edges_pick_the_right_rows():
    frame = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions.set_index(
        ["enterprise_id", "pollutant"])
    assert frame.loc[("E2", "SO2"), "coefficient_row"] == 2   # 300 MW is in '≥300MW'
    assert frame.loc[("E3", "SO2"), "coefficient_row"] == 7   # 299 MW is in '<300MW'
    assert ("E3", "NOx") not in frame.index                   # the small tier has no NOx row


def test_every_reject_reason_with_its_row_and_column():
    result = account(BAD_ACTIVITY, LIBRARY, BAD_TREATMENT)
    got = {(int(r), reason, column) for r, reason, column in
           result.rejects[["row", "reason", "column"]].itertuples(index=False)}
    assert got == EXPECTED_REJECTS
    def messages(reason: str) -> str:
        return " | ".join(result.rejects.loc[result.rejects["reason"] == reason, "message"])

    assert "17*S needs variable(s) S that the activity row does not report" in messages(
        "missing_variable")
    assert "needs variable(s) production_hours" in messages("missing_variable")
    assert "has no coefficients for this industry code" in messages("unknown_industry")
    assert "duplicate of row 9" in messages("duplicate_row")
    assert "does not convert to the coefficient basis 千克/吨-原料" in messages("unit_mismatch")
    assert "静电除尘" in messages("unknown_treatment")
    assert "give capacity + capacity_unit or a scale label" in messages("no_matching_scale")
    assert "section 脱硝" in messages("no_matching_coefficient")
    assert messages("negative_amount") == "activity must be >= 0"
    # partly accountable rows keep their other pollutants: B1 and B9 still have NOx
    assert set(result.emissions["enterprise_id"]) == {"B1", "B9"}
    assert set(result.emissions["pollutant"]) == {"NOx"}


def test_k_above_one_is_clipped_with_a_warning_and_a_note():
    treatment = pd.DataFrame([dict(enterprise_id="E1", section="燃烧", pollutant="SO2",
                                   treatment="石灰石-石膏法", run_hours=8400,
                                   production_hours=8000)])  # both within 0-8784 h
    with pytest.warns(ClippedOperatingRate):
        result = account(GOOD_ACTIVITY.iloc[[0]], LIBRARY, treatment)
    row = result.emissions.set_index("pollutant").loc["SO2"]
    assert row["k"] == 1.0
    assert "clipped to [0, 1] from 1.05" in row["note"]
    # R = 136 000 × 0.95 × 1
    assert row["removal"] == pytest.approx(129_200.0)


def test_category_row_treats_every_pollutant_of_the_category():
    treatment = pd.DataFrame([dict(enterprise_id="E2", section="燃烧", pollutant_category="废气",
                                   treatment="SCR", k=1.0)])
    result = account(GOOD_ACTIVITY.iloc[[1]], LIBRARY, treatment)
    got = _by_key(result)
    # NOx: SCR η = 0.8 → R = 37 500 × 0.8 = 30 000. SO2 has no SCR row: rejected, not dropped.
    assert got[("E2", "NOx")] == pytest.approx((37_500.0, 30_000.0, 7_500.0))
    assert list(result.rejects["reason"]) == ["unknown_treatment"]


def test_chinese_headers_are_read():
    chinese = GOOD_ACTIVITY.rename(columns={
        "enterprise_id": "企业编号", "industry_code": "行业代码", "section": "工段名称",
        "raw_material": "原料名称", "process": "工艺名称", "activity": "活动水平",
        "activity_unit": "活动水平单位", "period": "年份", "capacity": "生产规模",
        "capacity_unit": "规模单位"})
    result = account(chinese, LIBRARY, GOOD_TREATMENT)
    assert _by_key(result)[("E1", "SO2")] == pytest.approx(EXPECTED[("E1", "SO2")])


def test_missing_required_column_lists_all_of_them():
    with pytest.raises(InputError) as caught:
        account(GOOD_ACTIVITY.drop(columns=["activity", "period"]), LIBRARY)
    columns = {p.column for p in caught.value.problems}
    assert columns == {"activity", "period"}
    assert "needs a column 'activity'" in str(caught.value)


def test_specific_row_beats_generic_and_equal_rows_are_ambiguous():
    generic = LIBRARY.iloc[[7]].assign(coefficient_row=20, raw_material="", generation_coefficient=1.0)
    # as specific as row 9 (industry, section and one more key), but on the process
    twin = LIBRARY.iloc[[7]].assign(coefficient_row=21, raw_material="", process="手工",
                                    generation_coefficient=2.0)
    library = pd.concat([LIBRARY, generic, twin], ignore_index=True)
    specific = account(pd.DataFrame([activity_row("W", "3311", "焊接", "焊材", "", 1, "吨")]),
                       library)
    assert specific.emissions["coefficient_row"].tolist() == [9]   # not the generic row 20
    both = account(pd.DataFrame([activity_row("W", "3311", "焊接", "焊材", "手工", 1, "吨")]),
                   library)
    assert both.emissions.empty
    assert both.rejects["reason"].tolist() == ["ambiguous_match"]
    assert "9" in both.rejects["message"].iloc[0] and "21" in both.rejects["message"].iloc[0]


def test_aggregate_by_region_and_pollutant_conserves_totals():
    emissions = account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions
    totals = aggregate(emissions, ["region", "pollutant"]).set_index("pollutant")
    # SO2: 19 720 + 85 000 + 9 350 = 114 070 kg emitted
    assert totals.loc["SO2", "emission"] == pytest.approx(114_070.0)
    assert totals["generation"].sum() == pytest.approx(emissions["generation"].sum())
    with pytest.raises(NotFoundError, match="valid: enterprise, industry, pollutant"):
        aggregate(emissions, ["county"])


@pytest.mark.parametrize("amount", [float("inf"), "inf", "1e999", "-inf"])
def test_an_amount_that_is_not_finite_is_rejected_not_accounted(amount):
    activity = GOOD_ACTIVITY.iloc[[3]].astype(object).assign(activity=amount)
    result = account(activity, LIBRARY)
    assert result.emissions.empty
    assert result.rejects[["row", "column", "reason"]].values.tolist() == [
        [2, "activity", "not_a_number"]]
