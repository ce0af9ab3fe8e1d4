"""Monitoring, material balance and method priority on every engine.

The same hand-worked case runs on DuckDB, on a local PySpark session and on the PostgreSQL
test server; the results must equal each other and the numbers worked out here.

Formulas (see the modules): hourly emission = C [mg/m³] × Q [m³/h] × 10⁻⁶ kg (HJ 75-2017,
排放量 = 浓度 × 流量 × 时间); invalid or missing hours filled by the configurable rule of
:mod:`sourcegrid.accounting.monitoring` (here ``short_gap_hours`` = 2: a run of at most 2
hours takes the mean of the valid hours either side, a longer one the maximum of the
previous ``lookback_hours`` = 4 valid hours, concentration and flow each on their own);
sulfur balance SO2 = 2 × fuel × S% × (1 − retention) (系数手册 2021, 物料衡算法); solvent
balance E = input − recovered − in product − destroyed (EMEP/EEA Guidebook 2.D.3); the
priority of HJ 944-2018 (automatic monitoring, manual, material balance, coefficients).

The day: 2017-03-01, Beijing time (00:00 Beijing = 2017-02-28 16:00 UTC, so a monthly period
of 2017-03 shows that periods are taken in Beijing time).

Outlet E1/DA001 SO2, hours 0-23, C = 100 mg/m³ and Q = 10 000 m³/h (1 kg/h) except:
  h2 C 400 (4 kg); h4 C 200 (2 kg); h5 flagged invalid (its 999 / 999 ignored);
  h7 invalid; h8 Q 12 000 (1.2 kg); h10-h12 missing (no rows).
  h5: run of 1 → mean of h4 and h6: C 150, Q 10 000 → 1.5 kg.
  h7: run of 1 → mean of h6 and h8: C 100, Q 11 000 → 1.1 kg.
  h10-h12: run of 3 → long: the last 4 valid hours are h4, h6, h8, h9 (h5 and h7 are not
  valid): max C 200 (h4), max Q 12 000 (h8) → 2.4 kg each, 7.2 kg. (A window of 4 clock
  hours, h6-h9, would give C 100.)
  Measured: 19 valid hours, 16 × 1 + 4 + 2 + 1.2 = 23.2 kg. Total 23.2 + 1.5 + 1.1 + 7.2 =
  33.0 kg; 24 expected hours, 2 short and 3 long fills, capture 19/24.
Outlet E2/DA001 NOx, hours 0-23, C 80, Q 25 000 (2 kg/h) except h10 C 160 (4 kg); h0-h2
  invalid (a leading run of 3: long, no valid hour before it → the series maximum C 160,
  Q 25 000 → 4 kg each, 12 kg); h23 invalid (a trailing run of 1: the hour before, 2 kg).
  Measured: 20 hours, 19 × 2 + 4 = 42 kg. Total 42 + 12 + 2 = 56 kg; capture 20/24.
Outlet E4/DA001 SO2: 24 valid hours at C 50, Q 20 000 → 1 kg/h, 24 kg, capture 1.
Manual E3/DW001 COD: 50 and 150 mg/m³ at 20 000 m³/h (1 and 3 kg/h), 100 operating hours:
  mean rate 2 kg/h × 100 h = 200 kg.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from sourcegrid.accounting.engine import EMISSION_COLUMNS
from sourcegrid.accounting.material_balance import account_balance
from sourcegrid.accounting.methods import combine_methods
from sourcegrid.accounting.monitoring import account_monitoring
from sourcegrid.errors import InputError

ENGINES = [pytest.param("spark_backend", marks=[pytest.mark.spark, pytest.mark.slow],
                        id="pyspark"),
           pytest.param("postgres_backend", marks=pytest.mark.pg, id="postgres")]
RULE = dict(period="month", short_gap_hours=2, lookback_hours=4)


def _series(eid, outlet, pollutant, conc, flow, special):
    rows = []
    for hour in range(24):
        spec = special.get(hour, {})
        if spec == "missing":
            continue
        rows.append(dict(enterprise_id=eid, outlet_id=outlet, pollutant=pollutant,
                         time=f"2017-03-01 {hour:02d}:00", concentration=str(spec.get("c", conc)),
                         flow=str(spec.get("q", flow)), valid="0" if spec.get("invalid") else "1",
                         kind="cems", operating_hours=""))
    return rows


MONITORING = pd.DataFrame(
    _series("E1", "DA001", "SO2", 100, 10000, {
        2: {"c": 400}, 4: {"c": 200}, 5: {"invalid": 1, "c": 999, "q": 999}, 7: {"invalid": 1},
        8: {"q": 12000}, 10: "missing", 11: "missing", 12: "missing"})
    + _series("E2", "DA001", "NOx", 80, 25000, {
        0: {"invalid": 1}, 1: {"invalid": 1}, 2: {"invalid": 1}, 10: {"c": 160},
        23: {"invalid": 1}})
    + _series("E4", "DA001", "SO2", 50, 20000, {})
    + [dict(enterprise_id="E3", outlet_id="DW001", pollutant="COD", time=time,
            concentration=conc, flow="20000", valid="1", kind="手工", operating_hours="100")
       for time, conc in (("2017-03-10 10:00", "50"), ("2017-03-20 10:00", "150"))])

#: (enterprise, outlet, pollutant) → (emission [kg], expected, valid, short, long), by hand above
EXPECTED_TOTALS = {
    ("E1", "DA001", "SO2"): (33.0, 24, 19, 2, 3),
    ("E2", "DA001", "NOx"): (56.0, 24, 20, 1, 3),
    ("E4", "DA001", "SO2"): (24.0, 24, 24, 0, 0),
    ("E3", "DW001", "COD"): (200.0, 100, 0, 0, 0),
}
#: E1/DA001 hours (Beijing) → (fill, concentration, flow), by hand above
EXPECTED_HOURS = {4: ("measured", 200.0, 10000.0), 5: ("short_gap", 150.0, 10000.0),
                  7: ("short_gap", 100.0, 11000.0), 8: ("measured", 100.0, 12000.0),
                  10: ("long_gap", 200.0, 12000.0), 12: ("long_gap", 200.0, 12000.0),
                  13: ("measured", 100.0, 10000.0)}

BALANCE = pd.DataFrame([
    # G = 2 × 100 000 kg × 1/100 × (1 − 0.1) = 1 800; R = 0.9 G = 1 620; E = 180
    dict(enterprise_id="E1", period="2017-03", section="燃烧", formula="sulfur_balance",
         fuel="100", fuel_unit="吨", sulfur_percent="1", retention="0.1",
         removal_efficiency="0.9"),
    # G = 1 000 − 100 = 900; R = 200 + 500 = 700; E = 200
    dict(enterprise_id="E2", period="2017-03", section="涂装", formula="solvent_balance",
         solvent_input="1000", recovered="200", in_product="100", destroyed="500"),
])
COEFFICIENT = pd.DataFrame([
    dict(enterprise_id="E1", period="2017-03", section="燃烧", pollutant="SO2",
         pollutant_category="air", generation=5000.0, removal=4000.0, emission=1000.0,
         method="coefficient", library="handmade", coefficient_row=3, treatment="石灰石-石膏法",
         removal_efficiency=0.8, k=1.0, note=""),
    dict(enterprise_id="E2", period="2017-03", section="燃烧", pollutant="NOx",
         pollutant_category="air", generation=150.0, removal=50.0, emission=100.0,
         method="coefficient", library="handmade", coefficient_row=5, treatment="SNCR",
         removal_efficiency=1 / 3, k=1.0, note=""),
])[EMISSION_COLUMNS]
#: E2 NOx by coefficients first (a permit office's override for one enterprise and pollutant)
OVERRIDES = pd.DataFrame([dict(enterprise_id="E2", pollutant="NOx", priority="coefficient;cems")])

#: (enterprise, pollutant) → (method, method_detail, emission [kg], method_reason)
EXPECTED_CHOICE = {
    # CEMS capture 19/24 = 79.2 % < 90 %; no manual; the sulfur balance
    ("E1", "SO2"): ("material_balance", "material_balance", 180.0,
                    "not used: cems: outlet DA001: capture rate 79.2 % below the rule's "
                    "minimum; manual: no data"),
    ("E2", "NOx"): ("coefficient", "coefficient", 100.0,
                    "first in the priority (coefficient;cems)"),
    ("E2", "VOCs"): ("material_balance", "material_balance", 200.0,
                     "not used: cems: no data; manual: no data"),
    ("E3", "COD"): ("monitoring", "manual", 200.0, "not used: cems: no data"),
    ("E4", "SO2"): ("monitoring", "cems", 24.0,
                    "first in the priority (cems;manual;material_balance;coefficient)"),
}
TEXT = ["enterprise_id", "period", "section", "pollutant", "pollutant_category", "method",
        "library", "treatment", "note", "method_detail", "method_reason"]
NUMBERS = ["generation", "removal", "emission", "removal_efficiency", "k"]


def _monitoring(con):
    return account_monitoring(MONITORING, con=con, **RULE)


def _check_monitoring_by_hand(result):
    totals = result.totals
    got = {(e, o, p): (x, n, v, s, lg) for e, o, p, x, n, v, s, lg in totals[
        ["enterprise_id", "outlet_id", "pollutant", "emission", "expected_hours", "valid_hours",
         "filled_short_hours", "filled_long_hours"]].itertuples(index=False)}
    assert set(got) == set(EXPECTED_TOTALS)
    for key, expected in EXPECTED_TOTALS.items():
        assert got[key] == pytest.approx(expected, rel=1e-12), key
    assert set(totals["period"]) == {"2017-03"}
    by = totals.set_index(["enterprise_id", "outlet_id"])
    assert by.loc[("E1", "DA001"), "capture_rate"] == pytest.approx(19 / 24)
    assert list(totals.sort_values("enterprise_id")["valid_monitoring"]) == [
        False, False, True, True]
    hours = result.hourly
    assert len(hours) == 3 * 24  # every expected hour exists, the missing ones generated
    e1 = hours.loc[hours["enterprise_id"] == "E1"]
    e1 = e1.set_index(e1["time"].dt.tz_convert("Asia/Shanghai").dt.hour)
    for hour, (fill, conc, flow) in EXPECTED_HOURS.items():
        assert (e1.loc[hour, "fill"], e1.loc[hour, "concentration"],
                e1.loc[hour, "flow"]) == (fill, pytest.approx(conc), pytest.approx(flow)), hour
    assert (e1["fill"] != "measured").sum() == 5
    assert e1["emission"].sum() == pytest.approx(33.0)


def test_monitoring_by_hand_on_duckdb(duckdb_backend):
    _check_monitoring_by_hand(_monitoring(duckdb_backend))


def _combined(con):
    monitoring = _monitoring(con).totals
    balance = account_balance(BALANCE, con=con)
    return combine_methods(coefficient=COEFFICIENT, monitoring=monitoring, balance=balance,
                           overrides=OVERRIDES, con=con)


def _check_choice_by_hand(out):
    assert not out.duplicated(["enterprise_id", "period", "pollutant", "section"]).any()
    got = {(e, p): (m, d, x, r) for e, p, m, d, x, r in out[
        ["enterprise_id", "pollutant", "method", "method_detail", "emission",
         "method_reason"]].itertuples(index=False)}
    assert set(got) == set(EXPECTED_CHOICE)
    for key, (method, detail, emission, reason) in EXPECTED_CHOICE.items():
        assert got[key] == (method, detail, pytest.approx(emission, rel=1e-12), reason), key
    e1 = out.set_index(["enterprise_id", "pollutant"]).loc[("E1", "SO2")]
    assert (e1["generation"], e1["removal"]) == pytest.approx((1800.0, 1620.0))
    cems = out.set_index(["enterprise_id", "pollutant"]).loc[("E4", "SO2")]
    assert cems["note"] == "cems: DA001 24.0 kg (24 valid h, 0 filled h)"
    assert pd.isna(cems["generation"])
    defined = out["generation"].notna()
    assert ((out.loc[defined, "generation"] - out.loc[defined, "removal"]
             - out.loc[defined, "emission"]).abs() < 1e-9).all()


def test_balance_and_priority_by_hand_on_duckdb(duckdb_backend):
    _check_choice_by_hand(_combined(duckdb_backend))
    # engine tables in, an engine expression out (nothing fetched until asked)
    con = duckdb_backend
    coefficient = con.create_table("coefficient_rows", ibis.memtable(COEFFICIENT))
    balance = account_balance(BALANCE, con=con, fetch=False)
    assert isinstance(balance, ibis.Table)
    out = combine_methods(coefficient=coefficient, balance=balance, overrides=OVERRIDES,
                          monitoring=_monitoring(con).totals)
    assert isinstance(out, ibis.Table)
    _check_choice_by_hand(out.to_pandas().sort_values(["enterprise_id", "pollutant"],
                                                      ignore_index=True))


@pytest.mark.parametrize("engine", ENGINES)
def test_monitoring_same_on_every_engine(engine, duckdb_backend, request):
    duck = _monitoring(duckdb_backend)
    other = _monitoring(request.getfixturevalue(engine))
    _check_monitoring_by_hand(other)
    pd.testing.assert_frame_equal(duck.totals, other.totals, rtol=1e-12, check_dtype=False)
    pd.testing.assert_frame_equal(duck.hourly, other.hourly, rtol=1e-12, check_dtype=False)


@pytest.mark.parametrize("engine", ENGINES)
def test_balance_and_priority_same_on_every_engine(engine, duckdb_backend, request):
    duck = _combined(duckdb_backend)
    other = _combined(request.getfixturevalue(engine))
    _check_choice_by_hand(other)
    pd.testing.assert_frame_equal(duck[TEXT].astype(str), other[TEXT].astype(str))
    pd.testing.assert_frame_equal(duck[NUMBERS], other[NUMBERS], rtol=1e-12, check_dtype=False)
    assert list(duck["coefficient_row"].astype(str)) == list(other["coefficient_row"].astype(str))


def _engine_table(con, frame: pd.DataFrame) -> ibis.Table:
    """The monitoring rows as a typed table of the engine (time a UTC timestamp)."""
    typed = frame.assign(time=pd.to_datetime(frame["time"]).dt.tz_localize("Asia/Shanghai")
                         .dt.tz_convert("UTC"),
                         _row=range(2, len(frame) + 2), _source="cems_table")
    return con.create_table("monitoring_input", ibis.memtable(typed), overwrite=True)


@pytest.mark.parametrize("engine", ["duckdb_backend", pytest.param(
    "postgres_backend", marks=pytest.mark.pg, id="postgres")])
def test_engine_table_in_engine_out(engine, request):
    con = request.getfixturevalue(engine)
    result = account_monitoring(_engine_table(con, MONITORING), **RULE)
    assert result.hourly is None and isinstance(result.hourly_table, ibis.Table)
    hourly = result.hourly_table
    counted = hourly.group_by("fill").aggregate(n=hourly.count()).to_pandas()
    # E1: 19 measured, 2 short, 3 long; E2: 20, 1, 3; E4: 24 measured
    assert dict(zip(counted["fill"], counted["n"], strict=True)) == {
        "measured": 63, "short_gap": 3, "long_gap": 6}
    fetched = account_monitoring(_engine_table(con, MONITORING), fetch_hourly=True, **RULE)
    _check_monitoring_by_hand(fetched)


@pytest.mark.parametrize("engine", ["duckdb_backend", pytest.param(
    "postgres_backend", marks=pytest.mark.pg, id="postgres")])
def test_engine_table_problems_as_for_a_file(engine, request):
    """An engine table is checked with the same reason codes and rows as a file."""
    con = request.getfixturevalue(engine)
    bad = MONITORING.iloc[[0, 1, 2, 2, 69]].reset_index(drop=True).copy()
    bad.loc[0, "concentration"] = "abc"
    bad.loc[1, ["enterprise_id", "flow", "valid"]] = ["", "-5", "maybe"]
    bad.loc[4, ["kind", "operating_hours"]] = ["manual", ""]
    bad.loc[2, "kind"] = "telepathy"
    with pytest.raises(InputError) as from_frame:
        account_monitoring(bad)
    with pytest.raises(InputError) as from_table:
        account_monitoring(_engine_table(con, bad))
    expected = {(2, "concentration", "not_a_number"), (3, "enterprise_id", "missing_value"),
                (3, "flow", "negative_amount"), (3, "valid", "bad_flag"),
                (4, "kind", "bad_kind"), (5, "time", "duplicate_row"),
                (6, "operating_hours", "missing_value")}
    got = {(p.row, p.column, p.reason) for p in from_frame.value.problems}
    assert got == expected
    assert {(p.row, p.column, p.reason) for p in from_table.value.problems} == expected
    messages = {(p.row, p.column): p.message for p in from_frame.value.problems}
    assert {(p.row, p.column): p.message for p in from_table.value.problems} == messages
    # times in an engine table are timestamps (stored UTC); text is for files
    text_time = con.create_table("text_time", ibis.memtable(MONITORING), overwrite=True)
    with pytest.raises(InputError, match="expected a timestamp column"):
        account_monitoring(text_time)


@pytest.mark.parametrize("engine", ["duckdb_backend", pytest.param(
    "postgres_backend", marks=pytest.mark.pg, id="postgres")])
def test_engine_table_not_finite_and_alias_duplicate_as_for_a_file(engine, request):
    """One set of checks for both inputs: a concentration 'inf' or '1e999' is not a number,
    and 二氧化硫 is SO2, so its row (6) at an hour SO2 already has (row 2, E1/DA001 h0) is a
    second CEMS value for that hour; rows 3-5 (hours 1-3) are good."""
    con = request.getfixturevalue(engine)
    bad = MONITORING.iloc[[0, 1, 2, 3, 0]].reset_index(drop=True).copy()
    bad.loc[1, "concentration"] = "inf"
    bad.loc[2, "flow"] = "1e999"
    bad.loc[4, "pollutant"] = "二氧化硫"
    expected = {(3, "concentration", "inf", "not_a_number"),
                (4, "flow", "1e999", "not_a_number"),
                (6, "time", "duplicate_row")}
    with pytest.raises(InputError) as from_frame:
        account_monitoring(bad, con=con)
    got = {(p.row, p.column, p.value, p.reason) if p.reason != "duplicate_row"
           else (p.row, p.column, p.reason) for p in from_frame.value.problems}
    assert got == expected
    assert [p.value for p in from_frame.value.problems if p.row == 6] == ["2017-03-01 00:00"]
    with pytest.raises(InputError) as from_table:
        account_monitoring(_engine_table(con, bad))
    assert {(p.row, p.column, p.value, p.reason) if p.reason != "duplicate_row"
            else (p.row, p.column, p.reason) for p in from_table.value.problems} == expected
    messages = {(p.row, p.column): p.message for p in from_frame.value.problems}
    assert {(p.row, p.column): p.message for p in from_table.value.problems} == messages


def test_series_without_valid_hours_and_fallback(duckdb_backend):
    """E5: four hours, all flagged invalid → listed, not used. E6: hours 0-4 valid at
    100 mg/m³ × 10 000 m³/h (1 kg/h), hours 5-9 invalid: a trailing run of 5 ≤ 24 h
    takes the hour before (1 kg each), 10 kg; capture 5/10 = 50 % < 90 %. With the
    priority cems;manual and no manual data, no method meets its conditions: CEMS is used
    anyway, and the row says so."""
    rows = pd.DataFrame(
        [dict(enterprise_id="E5", outlet_id="DA001", pollutant="SO2",
              time=f"2017-03-01 {h:02d}:00", concentration="", flow="", valid="0")
         for h in range(4)]
        + [dict(enterprise_id="E6", outlet_id="DA001", pollutant="SO2",
                time=f"2017-03-01 {h:02d}:00", concentration="100", flow="10000",
                valid="1" if h < 5 else "0") for h in range(10)])
    totals = account_monitoring(rows, con=duckdb_backend).totals.set_index("enterprise_id")
    assert totals.loc["E5", "rule"] == "no valid hour: not used"
    assert pd.isna(totals.loc["E5", "emission"]) and totals.loc["E5", "expected_hours"] == 0
    assert totals.loc["E6", "emission"] == pytest.approx(10.0)
    assert totals.loc["E6", "filled_short_hours"] == 5
    out = combine_methods(monitoring=totals.reset_index(), priority="cems;manual",
                          con=duckdb_backend).set_index("enterprise_id")
    assert out.loc["E6", "method_reason"] == (
        "no method met its conditions; used cems anyway (cems: outlet DA001: capture rate "
        "50.0 % below the rule's minimum; manual: no data)")
    assert out.loc["E6", "emission"] == pytest.approx(10.0)
    # E5 has nothing but a series without a valid hour: used for want of any other, its
    # emission is unknown (NaN), not 0 kg
    assert pd.isna(out.loc["E5", "emission"])
    assert out.loc["E5", "method_reason"] == (
        "no method met its conditions; used cems anyway (cems: outlet DA001: no valid hour: "
        "not used; manual: no data)")
