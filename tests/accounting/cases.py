"""Hand-made cases for the coefficient method, shared by the engine tests.

The library is written directly in the normalized form of
``sourcegrid.coefficients`` (one row per industry code) so these tests do not
depend on the importer; its numbers are illustrative. Expected results are
worked out by hand next to each case.
"""

from __future__ import annotations

import math

import pandas as pd

NAN = math.nan


def _row(row, code, kind, section, raw, process, scale, smin, smin_inc, smax, smax_inc, unit_s,
         category, pollutant, coefficient, expression, treatment, efficiency, k_formula,
         unit="千克/吨-原料", activity_unit="吨", factor=1.0):
    return dict(
        library="handmade", coefficient_row=row, industry_code=code, industry_kind=kind,
        section=section, product="", raw_material=raw, process=process, scale=scale,
        scale_min=smin, scale_min_inclusive=smin_inc, scale_max=smax, scale_max_inclusive=smax_inc,
        scale_unit=unit_s, pollutant_category=category, pollutant=pollutant, unit=unit,
        basis="raw_material", activity_unit=activity_unit, coefficient_factor=factor,
        generation_coefficient=coefficient, generation_expression=expression,
        treatment=treatment, removal_efficiency=efficiency, k_formula=k_formula,
        source="hand-made test row",
    )


BIG = ("≥300MW", 300.0, True, NAN, False, "MW")
SMALL = ("<300MW", NAN, False, 300.0, False, "MW")
ANY = ("", NAN, False, NAN, False, "")

LIBRARY = pd.DataFrame([
    _row(2, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "SO2", NAN, "17*S", "", 0.0, ""),
    _row(3, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "SO2", NAN, "17*S",
         "石灰石-石膏法", 0.95, "run_hours / production_hours"),
    _row(4, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "NOx", 7.5, "", "", 0.0, ""),
    _row(5, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "NOx", 7.5, "", "SCR", 0.8, ""),
    _row(6, "4411", "process", "燃烧", "燃煤", "煤粉炉", *BIG, "air", "NOx", 7.5, "", "SNCR", 0.4, ""),
    _row(7, "4411", "process", "燃烧", "燃煤", "煤粉炉", *SMALL, "air", "SO2", NAN, "17*S", "", 0.0, ""),
    _row(8, "4411", "process", "燃烧", "燃煤", "煤粉炉", *SMALL, "air", "SO2", NAN, "17*S",
         "石灰石-石膏法", 0.9, ""),
    # a common section of discrete-type industries, shared by two industry codes
    _row(9, "3311", "discrete", "焊接", "焊材", "", *ANY, "air", "PM", 9.19, "", "", 0.0, ""),
    _row(9, "3951", "discrete", "焊接", "焊材", "", *ANY, "air", "PM", 9.19, "", "", 0.0, ""),
    _row(10, "3311", "discrete", "焊接", "焊材", "", *ANY, "air", "PM", 9.19, "", "袋式除尘", 0.99, ""),
    _row(10, "3951", "discrete", "焊接", "焊材", "", *ANY, "air", "PM", 9.19, "", "袋式除尘", 0.99, ""),
])


def activity_row(eid, code, section, raw, process, activity, unit="吨", capacity=None,
                 capacity_unit="MW", **variables):
    return dict(enterprise_id=eid, enterprise_name=f"企业{eid}", industry_code=code,
                region_code="130900", section=section, product="", raw_material=raw,
                process=process, capacity=capacity, capacity_unit=capacity_unit if capacity
                is not None else "", activity=activity, activity_unit=unit, period="2017",
                **variables)


GOOD_ACTIVITY = pd.DataFrame([
    # 600 MW coal boiler, 1 万吨 coal = 10 000 t, sulfur 0.8 %
    activity_row("E1", "4411", "燃烧", "燃煤", "煤粉炉", 1, "万吨", 600, S=0.8),
    # exactly 300 MW: the '≥300MW' tier includes its bound
    activity_row("E2", "4411", "燃烧", "燃煤", "煤粉炉", 5000, "吨", 300, S=1.0),
    # 299 MW: the '<300MW' tier
    activity_row("E3", "4411", "燃烧", "燃煤", "煤粉炉", 2000, "吨", 299, S=0.5),
    # welding in a discrete-type industry (3951) through the shared common section
    activity_row("E4", "3951", "焊接", "焊材", "", 20, "吨"),
])
GOOD_TREATMENT = pd.DataFrame([
    dict(enterprise_id="E1", section="燃烧", pollutant="SO2", treatment="石灰石-石膏法",
         k=None, run_hours=7200, production_hours=8000),
    dict(enterprise_id="E1", section="燃烧", pollutant="NOx", treatment="SCR;SNCR", k=1.0,
         run_hours=None, production_hours=None),
    dict(enterprise_id="E3", section="燃烧", pollutant="二氧化硫", treatment="石灰石-石膏法",
         k=0.5, run_hours=None, production_hours=None),
    dict(enterprise_id="E4", section="焊接", pollutant="颗粒物", treatment="袋式除尘", k=0.5,
         run_hours=None, production_hours=None),
])

#: (enterprise, pollutant) -> (generation, removal, emission) [kg], worked out by hand.
EXPECTED = {
    # G = 17 × 0.8 kg/t × 10 000 t = 136 000; k = 7200/8000 = 0.9; R = G × 0.95 × 0.9
    ("E1", "SO2"): (136_000.0, 116_280.0, 19_720.0),
    # G = 7.5 × 10 000 = 75 000; series SCR;SNCR, no combined row:
    # η·k = 1 − (1 − 0.8·1)(1 − 0.4·1) = 1 − 0.2 × 0.6 = 0.88; R = 66 000
    ("E1", "NOx"): (75_000.0, 66_000.0, 9_000.0),
    # untreated: G = E = 17 × 1.0 × 5000 = 85 000 and 7.5 × 5000 = 37 500
    ("E2", "SO2"): (85_000.0, 0.0, 85_000.0),
    ("E2", "NOx"): (37_500.0, 0.0, 37_500.0),
    # small tier: G = 17 × 0.5 × 2000 = 17 000; η = 0.9 (row 8), k = 0.5 → R = 7 650
    ("E3", "SO2"): (17_000.0, 7_650.0, 9_350.0),
    # welding: G = 9.19 × 20 = 183.8; R = 183.8 × 0.99 × 0.5 = 90.981
    ("E4", "PM"): (183.8, 90.981, 92.819),
}

BAD_ACTIVITY = pd.DataFrame([
    activity_row("B1", "4411", "燃烧", "燃煤", "煤粉炉", 1000, "吨", 600),  # no S: SO2 rejected
    activity_row("B2", "9999", "燃烧", "燃煤", "煤粉炉", 1000, "吨", 600, S=1),  # unknown industry
    activity_row("B3", "4411", "燃烧", "燃煤", "煤粉炉", -5, "吨", 600, S=1),  # negative
    activity_row("B4", "4411", "燃烧", "燃煤", "煤粉炉", "abc", "吨", 600, S=1),  # not a number
    activity_row("B5", "4411", "燃烧", "燃煤", "煤粉炉", 1000, "件", 600, S=1),  # unit mismatch
    activity_row("B6", "4411", "燃烧", "燃煤", "煤粉炉", 1000, "吨", None, S=1),  # no capacity
    activity_row("B7", "4411", "脱硝", "燃煤", "煤粉炉", 1000, "吨", 600, S=1),  # no combination
    activity_row("B8", "3311", "焊接", "焊材", "", 10, "吨"),  # unknown treatment (below)
    activity_row("B8", "3311", "焊接", "焊材", "", 10, "吨"),  # duplicate of the row above
    activity_row("B9", "4411", "燃烧", "燃煤", "煤粉炉", 1000, "吨", 600, S=1),  # k variable missing
])
BAD_TREATMENT = pd.DataFrame([
    dict(enterprise_id="B8", section="焊接", pollutant="PM", treatment="静电除尘", k=None,
         run_hours=None, production_hours=None),
    dict(enterprise_id="B9", section="燃烧", pollutant="SO2", treatment="石灰石-石膏法", k=None,
         run_hours=7000, production_hours=None),
])
#: (spreadsheet row, reason, column) of every expected reject; the header is row 1.
EXPECTED_REJECTS = {
    (2, "missing_variable", "generation_coefficient"),
    (3, "unknown_industry", "industry_code"),
    (4, "negative_amount", "activity"),
    (5, "not_a_number", "activity"),
    (6, "unit_mismatch", "activity_unit"),
    (7, "no_matching_scale", "capacity"),
    (8, "no_matching_coefficient", "section"),
    (9, "unknown_treatment", "treatment"),
    (10, "duplicate_row", "enterprise_id"),
    (11, "missing_variable", "k"),
}
