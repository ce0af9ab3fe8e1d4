"""Monitoring method (实测法), material balance (物料衡算) and method priority.

Expected numbers are worked out by hand in each test: hourly emission = C [mg/m³] ×
Q [m³/h] × 10⁻⁶ kg (HJ 75-2017 排放量 = 浓度 × 流量 × 时间); sulfur balance SO2 = 2 ×
fuel × S% × (1 − retention) (系数手册 2021, 物料衡算法; 2 = M(SO2)/M(S)); solvent
balance E = input − recovered − in product − destroyed (EMEP/EEA Guidebook 2.D.3).
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.accounting.engine import EMISSION_COLUMNS, account
from sourcegrid.accounting.material_balance import account_balance, solvent_balance, sulfur_balance
from sourcegrid.accounting.methods import combine_methods, parse_priority
from sourcegrid.accounting.monitoring import account_monitoring, hourly_emission
from sourcegrid.cli.main import app
from sourcegrid.errors import InputError, NotFoundError, OptionError

from .cases import GOOD_ACTIVITY, GOOD_TREATMENT, LIBRARY

runner = CliRunner()


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def cems(eid="E1", outlet="DA001", pollutant="SO2", hours=10, conc=100.0, flow=10000.0,
         invalid=(), missing=(), day="2017-03-01"):
    rows = []
    for h in range(hours):
        if h in missing:
            continue
        time = (pd.Timestamp(day) + pd.Timedelta(hours=h)).strftime("%Y-%m-%d %H:%M")
        rows.append(dict(enterprise_id=eid, outlet_id=outlet, time=time,
                         pollutant=pollutant, concentration=str(conc), flow=str(flow),
                         valid="0" if h in invalid else "1"))
    return rows


def test_hourly_emission_unit():
    # 100 mg/m³ × 10 000 m³/h = 10⁶ mg/h = 1 kg/h
    assert hourly_emission([100.0], [10000.0])[0] == pytest.approx(1.0)


def test_short_gap_is_mean_of_the_hours_either_side():
    rows = cems(invalid={3}, missing={4, 6})
    rows[5 - 1]["concentration"] = "200"  # hour 5 (index 4 after hour 4 was removed)
    result = account_monitoring(pd.DataFrame(rows))
    total = result.totals.iloc[0]
    # hours 3–4 between hour 2 (100) and hour 5 (200): 150 mg/m³ → 1.5 kg each;
    # hour 6 between hour 5 (200) and 7 (100): 1.5 kg. Measured: 6 × 1 + 2 = 8 kg.
    assert total["emission"] == pytest.approx(8 + 3 * 1.5)
    assert (total["expected_hours"], total["valid_hours"]) == (10, 7)
    assert (total["filled_short_hours"], total["filled_long_hours"]) == (3, 0)
    assert total["capture_rate"] == pytest.approx(0.7)
    assert not total["valid_monitoring"]  # 70 % < 90 %
    marks = result.hourly.set_index(result.hourly["time"].dt.tz_convert("Asia/Shanghai").dt.hour)["fill"]
    assert list(marks[[2, 3, 4, 5, 6]]) == ["measured", "short_gap", "short_gap", "measured",
                                            "short_gap"]


def test_long_gap_takes_the_lookback_maximum():
    # 30 valid hours at 100 then hour 30 at 300, a 30-hour gap, then 100 again
    rows = cems(hours=70, invalid=set(range(31, 61)))
    rows[30]["concentration"] = "300"
    result = account_monitoring(pd.DataFrame(rows), lookback_hours=720)
    total = result.totals.iloc[0]
    # 31 + 9 measured hours: 39 × 1 kg + 3 kg; 30 filled hours at max(100, 300) = 3 kg each
    assert total["filled_long_hours"] == 30
    assert total["emission"] == pytest.approx(39 + 3 + 30 * 3)
    # the conservative rule: a 1-h gap is already "long"
    short = account_monitoring(pd.DataFrame(cems(invalid={5, 6})), rule="conservative")
    assert short.totals.iloc[0]["filled_long_hours"] == 2


def test_manual_measurement_times_operating_hours():
    rows = [dict(enterprise_id="E2", outlet_id="DW001", time="2017-05-01 10:00", pollutant="COD",
                 concentration="50", flow="20000", kind="手工", operating_hours="100"),
            dict(enterprise_id="E2", outlet_id="DW001", time="2017-08-01 10:00", pollutant="COD",
                 concentration="150", flow="20000", kind="manual", operating_hours="100")]
    total = account_monitoring(pd.DataFrame(rows)).totals.iloc[0]
    # mean rate (1 + 3)/2 = 2 kg/h × 100 h = 200 kg
    assert total["kind"] == "manual" and total["emission"] == pytest.approx(200.0)


def test_bad_monitoring_rows_all_reported_nothing_loaded():
    rows = cems(hours=3)
    rows[0]["concentration"] = "abc"
    rows[1].update(enterprise_id="", flow="-5", valid="maybe", time="yesterday")
    rows.append(dict(rows[2]))  # duplicate hour
    rows.append(dict(enterprise_id="E1", outlet_id="X", time="2017-03-01 00:00",
                     pollutant="SO2", concentration="1", flow="1", kind="manual"))
    with pytest.raises(InputError) as caught:
        account_monitoring(pd.DataFrame(rows))
    got = {(p.row, p.column, p.reason) for p in caught.value.problems}
    assert got == {(2, "concentration", "not_a_number"), (3, "enterprise_id", "missing_value"),
                   (3, "flow", "negative_amount"), (3, "valid", "bad_flag"),
                   (3, "time", "bad_time"), (5, "time", "duplicate_row"),
                   (6, "operating_hours", "missing_value")}
    message = str(caught.value)
    assert "expected an ISO 8601 time" in message and "a flow ≥ 0" in message
    with pytest.raises(InputError, match="no column 'flow'"):
        account_monitoring(pd.DataFrame(rows).drop(columns="flow"))
    with pytest.raises(NotFoundError, match="hj75_style"):
        account_monitoring(pd.DataFrame(cems()), rule="nope")
    with pytest.raises(OptionError, match="year or month"):
        account_monitoring(pd.DataFrame(cems()), period="week")


def test_sulfur_and_solvent_balance_by_hand():
    # 5 000 t coal, S 1 %, 10 % kept in ash: G = 2 × 5·10⁶ kg × 0.01 × 0.9 = 90 000 kg
    g, r, e = sulfur_balance([5e6], [1.0], [0.1], removal_efficiency=[0.9])
    assert (g[0], r[0], e[0]) == pytest.approx((90000.0, 81000.0, 9000.0))
    g, r, e = solvent_balance([1000.0], [200.0], [100.0], [500.0])
    assert (g[0], r[0], e[0]) == pytest.approx((900.0, 700.0, 200.0))


def test_balance_table_and_its_problems():
    table = pd.DataFrame([
        dict(enterprise_id="E2", period="2017", section="燃烧", formula="sulfur_balance",
             fuel="0.5", fuel_unit="万吨", sulfur_percent="1.0", retention="0.1", removal="81000"),
        dict(enterprise_id="E9", period="2017", section="涂装", formula="solvent_balance",
             solvent_input="1000", recovered="200", in_product="100", destroyed="500"),
    ])
    out = account_balance(table)
    assert list(out["emission"]) == pytest.approx([9000.0, 200.0])
    assert (out["generation"] - out["removal"] - out["emission"]).abs().max() < 1e-9
    assert set(out["method"]) == {"material_balance"} and list(out["pollutant"]) == ["SO2",
                                                                                    "VOCs"]
    bad = pd.DataFrame([
        dict(enterprise_id="E2", period="2017", formula="sulfur_balance", fuel="x",
             sulfur_percent="150", retention="2"),
        dict(enterprise_id="E9", period="", formula="solvent_balance", solvent_input="100",
             recovered="200"),
        dict(enterprise_id="E9", period="2017", formula="magic"),
    ])
    with pytest.raises(InputError) as caught:
        account_balance(bad)
    got = {(p.row, p.column, p.reason) for p in caught.value.problems}
    assert got == {(2, "fuel", "not_a_number"), (2, "sulfur_percent", "out_of_range"),
                   (2, "retention", "out_of_range"), (3, "period", "missing_value"),
                   (3, "formula", "negative_balance"), (4, "formula", "unknown_formula")}


def _coefficient():
    return account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT).emissions[EMISSION_COLUMNS]


def test_priority_picks_one_method_and_says_why():
    monitoring = account_monitoring(pd.DataFrame(
        cems("E1") + cems("E2", invalid=set(range(5, 10))))).totals
    balance = account_balance(pd.DataFrame([dict(
        enterprise_id="E2", period="2017", section="燃烧", formula="sulfur_balance",
        fuel="5000", sulfur_percent="1", retention="0.1", removal_efficiency="0.9")]))
    out = combine_methods(coefficient=_coefficient(), monitoring=monitoring, balance=balance)
    by = out.set_index(["enterprise_id", "pollutant"])
    # E1 SO2: valid CEMS, 10 h × 1 kg
    assert by.loc[("E1", "SO2"), "method"] == "monitoring"
    assert by.loc[("E1", "SO2"), "emission"] == pytest.approx(10.0)
    assert pd.isna(by.loc[("E1", "SO2"), "generation"])
    # E2 SO2: CEMS capture 50 % → material balance (hand-worked above: 9 000 kg)
    assert by.loc[("E2", "SO2"), "method"] == "material_balance"
    assert by.loc[("E2", "SO2"), "emission"] == pytest.approx(9000.0)
    assert "capture rate 50.0 %" in by.loc[("E2", "SO2"), "method_reason"]
    # E1 NOx: nothing but the coefficient (cases.py: 9 000 kg)
    assert by.loc[("E1", "NOx"), "method"] == "coefficient"
    assert by.loc[("E1", "NOx"), "method_reason"] == ("not used: cems: no data; manual: no data; "
                                                       "material_balance: no data")
    assert out.duplicated(["enterprise_id", "period", "pollutant", "section"]).sum() == 0
    defined = out["generation"].notna()
    assert ((out.loc[defined, "generation"] - out.loc[defined, "removal"]
             - out.loc[defined, "emission"]).abs() < 1e-6).all()
    # per-enterprise override: E1 by coefficients first
    override = pd.DataFrame([dict(enterprise_id="E1", pollutant="SO2",
                                  priority="coefficient;cems")])
    out = combine_methods(coefficient=_coefficient(), monitoring=monitoring, overrides=override)
    row = out.set_index(["enterprise_id", "pollutant"]).loc[("E1", "SO2")]
    assert row["method"] == "coefficient" and row["method_reason"].startswith("first in")


def test_priority_problems():
    with pytest.raises(NotFoundError, match="valid: cems"):
        parse_priority("cems;telepathy")
    bad = pd.DataFrame([dict(enterprise_id="", pollutant="SO2", priority="x"),
                        dict(enterprise_id="E1", pollutant="", priority="manual>cems")])
    with pytest.raises(InputError) as caught:
        combine_methods(coefficient=_coefficient(), overrides=bad)
    assert {(p.row, p.column, p.reason) for p in caught.value.problems} == {
        (2, "priority", "unknown_method"), (2, "enterprise_id", "missing_value")}


def test_cli_account_monitoring(tmp_path):
    monitoring = tmp_path / "cems.csv"
    pd.DataFrame(cems("E1", invalid={2})).to_csv(monitoring, index=False)
    out = tmp_path / "e.csv"
    result = runner.invoke(app, ["account-monitoring", str(monitoring), "--out", str(out),
                                 "--min-capture", "0.8", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    emissions = pd.read_csv(out)
    assert emissions["emission"].tolist() == pytest.approx([10.0])  # hour 2 filled with 1 kg
    assert "Monitoring series" in result.output
    # expected hours from 2017-02-28 23:00 to 2017-03-01 11:00 Beijing time: 12 hours, the
    # first filled from the first valid hour (1 kg), the last two from the last (1 kg each)
    result = runner.invoke(app, ["account-monitoring", str(monitoring), "--out", str(out),
                                 "--from", "2017-02-28 23:00", "--to", "2017-03-01 11:00",
                                 "--min-capture", "0.5"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["emission"].tolist() == pytest.approx([12.0])
    result = runner.invoke(app, ["account-monitoring", str(monitoring), "--from", "soon"])
    assert result.exit_code == 2 and "--from soon" in result.output
    result = runner.invoke(app, ["account-monitoring", str(monitoring), "--rule", "x"])
    assert result.exit_code == 2 and "unknown fill rule 'x'" in result.output
    assert runner.invoke(app, ["account-monitoring", "--help"]).exit_code == 0


def test_number_column_reports_every_bad_value_with_its_row(tmp_path):
    from sourcegrid.accounting.monitoring import number_column
    from sourcegrid.errors import InputError
    from sourcegrid.io.tables import read_table

    path = tmp_path / "measured.csv"
    path.write_text("enterprise_id,emission\nE1,12.5\nE2,abc\nE3,inf\nE4,-3\n", encoding="utf-8")
    frame = read_table(path)
    with pytest.raises(InputError) as caught:
        number_column(frame, "emission", path.name)
    problems = caught.value.problems
    # header is row 1: 'abc' stands in row 3, 'inf' in row 4; -3 is a number (no minimum)
    assert [(p.row, p.value, p.reason) for p in problems] == [
        (3, "abc", "not_a_number"), (4, "inf", "not_a_number")]
    with pytest.raises(InputError, match="bad table"):
        number_column(frame, "removal", path.name)
    good = read_table(_write(tmp_path / "ok.csv", "emission\n1\n2.5\n"))
    assert number_column(good, "emission", "ok.csv").tolist() == [1.0, 2.5]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path
