"""AQI per HJ 633-2012 and HJ 633-2026.

Expected values are the breakpoints of HJ 633-2012 Table 1 / HJ 633-2026 Table 3
(transcribed in tests/standards/test_hj633.py) or worked out by hand in comments with
equation (1): IAQI = (IAQI_hi - IAQI_lo) / (BP_hi - BP_lo) * (C - BP_lo) + IAQI_lo,
rounded up to an integer (2012 §6.2, 2026 §4.2.6).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcegrid.errors import InputError, NotFoundError
from sourcegrid.observations.readers import read_observations
from sourcegrid.quality import aqi
from tests.standards.test_hj633 import IAQI, TABLE_1_2012, TABLE_3_2026

DATA = Path(__file__).parents[1] / "data" / "beijing" / "beijing_2017-01_2sites.csv"
TABLES = {"2012": TABLE_1_2012, "2026": TABLE_3_2026}
CASES = [(edition, pollutant, period, i)
         for edition, table in TABLES.items()
         for (pollutant, period), row in table.items()
         for i in range(len(row))]


def _hours(start_local: str, hours: int, site: str = "S1", **values) -> pd.DataFrame:
    """A wide hourly frame; start given in Beijing time, stored in UTC."""
    time = pd.date_range(start_local, periods=hours, freq="h", tz="Asia/Shanghai").tz_convert("UTC")
    frame = pd.DataFrame({"time": time, "site_id": site})
    for pollutant, value in values.items():
        frame[pollutant.replace("PM25", "PM2.5")] = value
    return frame


# -- every breakpoint at, just below and just above ---------------------------------------
@pytest.mark.parametrize(("edition", "pollutant", "period", "i"), CASES)
def test_every_breakpoint(edition, pollutant, period, i):
    row = TABLES[edition][pollutant, period]
    point, level = row[i], IAQI[i]
    step = 0.1 if pollutant == "CO" else 1.0  # the 2026 rounding unit
    at = aqi.iaqi(pollutant, [point], period, edition)[0]
    assert at == level  # the table itself
    if edition == "2012":
        # IAQI in (level - 1, level] rounds up to level; just above, up to level + 1.
        below = aqi.iaqi(pollutant, [point - 0.001], period, edition)[0]
        if i > 0:
            assert below == level
        if i < len(row) - 1:
            assert aqi.iaqi(pollutant, [point + 0.001], period, edition)[0] == level + 1
    else:
        # 2026 rounds the concentration first (GB/T 8170): within 0.4 units it is the
        # breakpoint itself.
        assert aqi.iaqi(pollutant, [point - 0.4 * step, point + 0.4 * step], period,
                        edition).tolist() == [level, level]
        if i > 0:
            below = aqi.iaqi(pollutant, [point - step], period, edition)[0]
            assert IAQI[i - 1] < below <= level
        if i < len(row) - 1:
            above = aqi.iaqi(pollutant, [point + step], period, edition)[0]
            assert level < above <= IAQI[i + 1]


def test_pm_2026_around_each_breakpoint_by_hand():
    # HJ 633-2026 Table 3, PM2.5 daily: 0, 35, 60, 115, 150, 250, 350, 500
    # 34: 50*34/35 = 48.57 -> 49;        36: 50 + 50*1/25 = 52
    # 59: 50 + 50*24/25 = 98;            61: 100 + 50*1/55 = 100.9 -> 101
    # 114: 100 + 50*54/55 = 149.09 -> 150; 116: 150 + 50*1/35 = 151.4 -> 152
    # 149: 150 + 50*34/35 = 198.6 -> 199; 151: 200 + 100*1/100 = 201
    # 249: 299; 251: 301; 349: 399; 351: 400 + 100/150 = 400.7 -> 401
    # 499: 400 + 100*149/150 = 499.3 -> 500; 501: above the table -> 500
    concentration = [34, 36, 59, 61, 114, 116, 149, 151, 249, 251, 349, 351, 499, 501]
    expected = [49, 52, 98, 101, 150, 152, 199, 201, 299, 301, 399, 401, 500, 500]
    assert aqi.iaqi("PM2.5", concentration, "24h", "2026").tolist() == expected
    # PM10 daily: 0, 50, 120, 250, 350, 420, 500, 600
    # 49 -> 49; 51: 50 + 50/70 = 50.7 -> 51; 119: 50 + 50*69/70 = 99.3 -> 100;
    # 121: 100 + 50/130 = 100.4 -> 101; 249: 100 + 50*129/130 = 149.6 -> 150;
    # 251: 150.5 -> 151; 349: 199.5 -> 200; 351: 200 + 100/70 = 201.4 -> 202;
    # 419: 200 + 100*69/70 = 298.6 -> 299; 421: 300 + 100/80 = 301.25 -> 302;
    # 499: 300 + 100*79/80 = 398.75 -> 399; 501: 401; 599: 499; 601: 500
    concentration = [49, 51, 119, 121, 249, 251, 349, 351, 419, 421, 499, 501, 599, 601]
    expected = [49, 51, 100, 101, 150, 151, 200, 202, 299, 302, 399, 401, 499, 500]
    assert aqi.iaqi("PM10", concentration, "24h", "2026").tolist() == expected


def test_pm_changes_between_editions():
    # PM2.5 daily 75: 2012 Table 1 -> IAQI 100; 2026 Table 3: 100 + 50*15/55 = 113.6 -> 114
    assert aqi.iaqi("PM2.5", [75], "daily", "2012").tolist() == [100]
    assert aqi.iaqi("PM2.5", [75], "daily", "2026").tolist() == [114]
    # PM10 daily 150: 2012 -> 100; 2026: 100 + 50*30/130 = 111.5 -> 112
    assert aqi.iaqi("PM10", [150], "daily", "2012").tolist() == [100]
    assert aqi.iaqi("PM10", [150], "daily", "2026").tolist() == [112]


def test_nan_and_negative_give_nan():
    result = aqi.iaqi("NO2", [np.nan, -1.0, 40.0], "24h", "2012")
    assert np.isnan(result[0]) and np.isnan(result[1]) and result[2] == 50


# -- rounding of each edition ---------------------------------------------------------
def test_rounding_2012_ceiling():
    # HJ 633-2012 §6.2: 全部进位取整数. PM2.5 35.1: 50 + 50*0.1/40 = 50.125 -> 51.
    # CO 2.05 mg/m3 (24 h): 50 + 50*0.05/2 = 51.25 -> 52. No concentration rounding.
    assert aqi.iaqi("PM2.5", [35.1], "24h", "2012").tolist() == [51]
    assert aqi.iaqi("CO", [2.05], "24h", "2012").tolist() == [52]


def test_rounding_2026_concentration_half_even_then_ceiling():
    # HJ 633-2026 §4.2.2, GB/T 8170: 60.5 -> 60 (IAQI 100); 61.5 -> 62:
    # 100 + 50*2/55 = 101.8 -> 102. 35.4 -> 35 (50); 35.5 -> 36: 50 + 50*1/25 = 52.
    assert aqi.iaqi("PM2.5", [60.5, 61.5, 35.4, 35.5], "24h", "2026").tolist() == [100, 102, 50, 52]
    # CO to one decimal: 2.05 -> 2.0 (IAQI 50); 2.15 -> 2.2: 50 + 50*0.2/2 = 55
    assert aqi.iaqi("CO", [2.05, 2.15], "24h", "2026").tolist() == [50, 55]
    assert aqi.round_concentration("CO", [0.25, 0.35]).tolist() == [0.2, 0.4]


# -- special rules ----------------------------------------------------------------------
def test_so2_one_hour_above_800():
    # 2012 Table 1 note (2): report the 24-hour IAQI instead; 2026 Table 3 note b: 200.
    assert np.isnan(aqi.iaqi("SO2", [801], "1h", "2012")[0])
    assert aqi.iaqi("SO2", [801], "1h", "2012", fallback=[92]).tolist() == [92]
    assert aqi.iaqi("SO2", [801, 5000], "1h", "2026").tolist() == [200, 200]


def test_o3_eight_hour_above_800():
    # 2012 Table 1 note (3): report the 1-hour IAQI instead; 2026 Table 3 note c: 300.
    assert np.isnan(aqi.iaqi("O3", [801], "8h", "2012")[0])
    assert aqi.iaqi("O3", [801], "8h_max", "2012", fallback=[350]).tolist() == [350]
    assert aqi.iaqi("O3", [801, 2000], "8h", "2026").tolist() == [300, 300]


def test_hourly_2012_so2_above_800_reports_the_24h_iaqi():
    # 23 hours of SO2 100 then one of 900: 24-h moving mean (23*100 + 900)/24 = 133.33;
    # IAQI 24 h: 50 + 50*(133.33 - 50)/100 = 91.67 -> 92 replaces the 1-hour IAQI.
    frame = _hours("2017-01-01 00:00", 24, SO2=[100.0] * 23 + [900.0])
    result = aqi.hourly(frame)
    last = result.iloc[-1]
    assert last["edition"] == "2012" and last["iaqi_SO2"] == 92 and last["aqi"] == 92
    assert last["primary_pollutant"] == "SO2"
    # the same hour in 2026: IAQI 200 (Table 3 note b); other hours SO2 100: 50*100/150 -> 34
    result = aqi.hourly(frame, edition="2026")
    assert result["iaqi_SO2"].iloc[-1] == 200 and result["iaqi_SO2"].iloc[0] == 34


def test_daily_o3_above_800():
    # O3 900 every hour: max 8-h 900 > 800. 2012: report O3 1-h max IAQI:
    # 300 + 100*(900 - 800)/200 = 350. 2026: counts 300 (daily report uses max 8-h only).
    frame = _hours("2017-07-01 00:00", 24, O3=900.0)
    old = aqi.daily(frame).iloc[0]
    assert (old["iaqi_O3_1h"], old["iaqi_O3_8h"], old["aqi"]) == (350, 350, 350)
    assert old["primary_pollutant"] == "O3" and old["nonattainment"] == "O3"
    new = aqi.daily(frame, edition="2026").iloc[0]
    assert new["iaqi_O3_8h"] == 300 and pd.isna(new["iaqi_O3_1h"])
    # 2026 §5.3.1: other pollutants missing, AQI 300 > 100 still published
    assert new["aqi"] == 300 and new["category"] == "重度污染"


def test_2026_realtime_pm_one_hour_against_daily_breakpoints():
    # HJ 633-2026 §4.2.4: PM2.5 1-h 75 read on the daily column: 100 + 50*15/55 -> 114.
    # 2012 real-time uses the 24-h moving mean instead: one hour only -> not valid.
    frame = _hours("2026-03-01 08:00", 1, PM25=75.0)
    new = aqi.hourly(frame).iloc[0]
    assert new["edition"] == "2026" and new["iaqi_PM2.5"] == 114 and new["aqi"] == 114
    old = aqi.hourly(frame, edition="2012").iloc[0]
    assert pd.isna(old["iaqi_PM2.5"]) and pd.isna(old["aqi"])
    with pytest.raises(NotFoundError, match="valid: 24h"):
        aqi.iaqi("PM2.5", [75], "1h", "2012")


def test_2012_realtime_pm_24h_moving_mean():
    # 24 hours of PM2.5 = 75 -> moving mean 75 -> IAQI 100 at the 24th hour; with 20
    # hours the mean is valid (GB 3095 Table 4), with 19 it is not.
    frame = _hours("2017-01-01 00:00", 24, PM25=75.0)
    result = aqi.hourly(frame)
    assert result["iaqi_PM2.5"].iloc[23] == 100
    assert result["iaqi_PM2.5"].iloc[19] == 100  # 20 valid hours
    assert pd.isna(result["iaqi_PM2.5"].iloc[18])  # 19 valid hours


# -- primary pollutant, ties, levels -------------------------------------------------------
def test_primary_pollutant_ties_and_threshold():
    frame = aqi.report({"iaqi_PM10": [120, 50, 40, 80],
                        "iaqi_PM2.5": [120, 50, 30, 80],
                        "iaqi_O3_1h": [20, 10, 10, 80],
                        "iaqi_O3_8h": [20, 10, 10, 80]}, "2012")
    assert frame["aqi"].tolist() == [120, 50, 40, 80]
    # ties all listed (HJ 633-2012 §4.4.2); none when AQI <= 50; O3 named once
    assert frame["primary_pollutant"].tolist() == ["PM10;PM2.5", "", "", "O3;PM10;PM2.5"]
    assert frame["nonattainment"].tolist() == ["PM10;PM2.5", "", "", ""]
    assert frame["level"].tolist() == [3, 1, 1, 2]
    assert frame["category"].tolist() == ["轻度污染", "优", "优", "良"]
    assert frame["colour"].tolist() == ["#FF7E00", "#00E400", "#00E400", "#FFFF00"]


def test_levels_at_the_limits():
    # Table 2 (2012) / Table 1 (2026): 0-50, 51-100, 101-150, 151-200, 201-300, >300
    assert aqi.level([0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500]).tolist() == [
        1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]


def test_2026_has_no_nonattainment():
    frame = aqi.report({"iaqi_PM2.5": [160]}, "2026")
    assert pd.isna(frame["nonattainment"].iloc[0])
    assert frame["primary_pollutant"].iloc[0] == "PM2.5"


# -- 2026 §5.3.1 missing pollutants ---------------------------------------------------------
def test_2026_missing_pollutant_publishes_only_above_100():
    # Only PM2.5 measured. 70 -> rounded 70: 100 + 50*10/55 = 109.1 -> 110 > 100: published.
    # 50: 50 + 50*15/25 = 80 <= 100 -> AQI NA, the IAQI itself still reported.
    frame = pd.concat([_hours("2026-03-02 00:00", 24, site="A", PM25=70.0),
                       _hours("2026-03-02 00:00", 24, site="B", PM25=50.0)])
    result = aqi.daily(frame).set_index("site_id")
    assert result.loc["A", "aqi"] == 110 and result.loc["A", "category"] == "轻度污染"
    assert pd.isna(result.loc["B", "aqi"]) and pd.isna(result.loc["B", "category"])
    assert pd.isna(result.loc["B", "primary_pollutant"])
    assert result.loc["B", "iaqi_PM2.5"] == 80
    # §5.3.2: pollutants outside the monitoring plan do not withhold the AQI
    others = ["SO2", "NO2", "CO", "O3", "PM10"]
    result = aqi.daily(frame, not_monitored=others).set_index("site_id")
    assert result.loc["B", "aqi"] == 80
    # 2012 has no such rule: AQI from what is there,
    # PM2.5 50 on the 2012 column: 50 + 50*(50 - 35)/(75 - 35) = 68.75 -> 69
    result = aqi.daily(frame, edition="2012").set_index("site_id")
    assert result.loc["B", "aqi"] == 69


# -- edition by date ----------------------------------------------------------------------------
def test_edition_follows_the_date():
    # 2026-03-01 00:00 Beijing = 2026-02-28 16:00 UTC. Hour before: 2012.
    frame = _hours("2026-02-28 22:00", 4, NO2=100.0)
    result = aqi.hourly(frame)
    assert result["edition"].tolist() == ["2012", "2012", "2026", "2026"]
    assert str(result["time"].iloc[2]) == "2026-02-28 16:00:00+00:00"
    days = aqi.daily(_hours("2026-02-28 00:00", 48, NO2=40.0))
    assert days["date"].tolist() == [dt.date(2026, 2, 28), dt.date(2026, 3, 1)]
    assert days["edition"].tolist() == ["2012", "2026"]
    forced = aqi.daily(_hours("2026-02-28 00:00", 48, NO2=40.0), edition=2026)
    assert forced["edition"].tolist() == ["2026", "2026"]
    with pytest.raises(NotFoundError, match="valid: 2012, 2026"):
        aqi.daily(frame, edition="2020")


def test_long_format_and_bad_input():
    frame = _hours("2017-01-01 00:00", 24, NO2=40.0).melt(["time", "site_id"], var_name="pollutant")
    assert aqi.daily(frame)["aqi"].tolist() == [50]
    bad = frame.copy()
    bad.loc[3, "value"] = -5.0
    bad.loc[5, "time"] = bad.loc[5, "time"] + pd.Timedelta(minutes=30)
    with pytest.raises(InputError) as error:
        aqi.daily(bad)
    reasons = error.value.frame.set_index("row")["reason"].to_dict()
    assert reasons == {5: "negative_value", 7: "not_on_the_hour"}
    twice = pd.concat([frame, frame.iloc[[0]]])
    with pytest.raises(InputError, match="expected one NO2 reading per site and hour"):
        aqi.daily(twice)
    with pytest.raises(InputError, match="required column 'site_id' is missing"):
        aqi.daily(frame.drop(columns="site_id"))
    with pytest.raises(NotFoundError, match="unknown averaging period 'weekly'"):
        aqi.iaqi("NO2", [1], "weekly", "2012")


def test_ibis_table_input():
    import ibis

    frame = _hours("2017-01-01 00:00", 24, NO2=40.0)
    assert aqi.daily(ibis.memtable(frame))["aqi"].tolist() == [50]


# -- invariants -----------------------------------------------------------------------------------
SEGMENTS = [(e, p, q) for e, t in TABLES.items() for (p, q) in t]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SEGMENTS), st.floats(0, 4000), st.floats(0, 4000))
def test_iaqi_monotone_in_concentration(segment, a, b):
    edition, pollutant, period = segment
    low, high = sorted((a, b))
    if (edition, pollutant, period) in {("2012", "SO2", "1h"), ("2012", "O3", "8h")}:
        high = min(high, 800.0)
        low = min(low, high)
    first, second = aqi.iaqi(pollutant, [low, high], period, edition)
    assert first <= second


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 700), min_size=6, max_size=6), st.integers(0, 5),
       st.floats(0, 300), st.sampled_from(["2012", "2026"]))
def test_aqi_monotone_in_each_concentration(values, which, increase, edition):
    names = ["SO2", "NO2", "CO", "PM10", "PM2.5", "O3"]
    periods = ["24h", "24h", "24h", "24h", "24h", "8h"]
    columns = ["iaqi_SO2", "iaqi_NO2", "iaqi_CO", "iaqi_PM10", "iaqi_PM2.5", "iaqi_O3_8h"]
    scale = [1, 1, 0.1, 1, 1, 1]

    def total(vals):
        iaqis = {c: aqi.iaqi(n, [min(v * s, 800)], q, edition)
                 for c, n, q, v, s in zip(columns, names, periods, vals, scale, strict=True)}
        return aqi.report(iaqis, edition)["aqi"].iloc[0]

    raised = list(values)
    raised[which] += increase
    assert total(values) <= total(raised)


# -- real data ---------------------------------------------------------------------------------
def _beijing():
    return read_observations(DATA, site_kind="reference", units={"CO": "ug/m3"}).readings


def test_beijing_daily_by_hand():
    result = _beijing().pipe(aqi.daily).set_index(["site_id", "date"])
    # Dingling 2017-01-02, 24 valid hours each (tests/data/beijing, Beijing time):
    # PM2.5: 311 256 57 22 17 18 12 9 8 10 12 13 15 14 19 43 139 203 216 210 200 197 179
    #        172 -> sum 2352, mean 98.0. 2012: 100 + 50*(98 - 75)/40 = 128.75 -> 129.
    # PM10: as PM2.5 except 14h 26, 15h 84, 16h 194, 17h 225, 18h 226 -> sum 2487, mean
    #        103.625. 2012: 50 + 50*53.625/100 = 76.8 -> 77.
    # NO2: 123 118 33 24 22 20 9 8 10 11 8 10 10 11 22 35 70 96 105 97 87 87 74 70 -> 1160,
    #        mean 48.33. 2012: 50 + 50*8.33/40 = 60.4 -> 61.
    # O3: 5 3 43 54 56 55 69 71 67 69 73 71 74 75 69 71 75 59 44 31 29 20 25 23; max 1 h 75:
    #        50*75/160 = 23.4 -> 24; max 8 h: hours 9-16 = 577/8 = 72.125: 50*72.125/100 -> 37.
    day = result.loc[("Dingling", dt.date(2017, 1, 2))]
    assert day["edition"] == "2012"
    assert day[["iaqi_PM2.5", "iaqi_PM10", "iaqi_NO2", "iaqi_O3_1h", "iaqi_O3_8h"]].tolist() == [
        129, 77, 61, 24, 37]
    assert day["PM2.5_24h"] == pytest.approx(98.0) and day["O3_8h_max"] == pytest.approx(72.125)
    assert (day["aqi"], day["category"], day["primary_pollutant"]) == (129, "轻度污染", "PM2.5")
    assert day["nonattainment"] == "PM2.5"
    # Dongsi 2017-01-01: PM2.5 501 492 447 416 400 413 407 423 442 470 477 484 488 572 580 589
    # 573 563 533 514 488 481 469 470 -> sum 11692, mean 487.17:
    # 400 + 100*(487.17 - 350)/150 = 491.4 -> 492, 严重污染.
    day = result.loc[("Dongsi", dt.date(2017, 1, 1))]
    assert (day["aqi"], day["level"], day["category"]) == (492, 6, "严重污染")


def test_beijing_daily_2026_rules_by_hand():
    result = aqi.daily(_beijing(), edition="2026").set_index(["site_id", "date"])
    # Dingling 2017-01-02 read with HJ 633-2026: PM2.5 98 -> 100 + 50*38/55 = 134.5 -> 135;
    # PM10 103.625 -> 104 (GB/T 8170) -> 50 + 50*54/70 = 88.6 -> 89.
    day = result.loc[("Dingling", dt.date(2017, 1, 2))]
    assert (day["iaqi_PM2.5"], day["iaqi_PM10"], day["aqi"]) == (135, 89, 135)
    assert day["PM10_24h"] == 104
    assert (aqi.summary(aqi.daily(_beijing()))["total"].tolist()) == [31, 31, 62]


def test_empty_input_gives_empty_reports():
    frame = pd.DataFrame({"time": pd.to_datetime([], utc=True), "site_id": [], "pollutant": [],
                          "value": []})
    assert len(aqi.daily(frame)) == 0 and len(aqi.hourly(frame)) == 0


def test_hour_ending_labels_are_kept():
    # 01:00 hour-ending = 00:00-01:00; the report gives the hour back with the same label
    frame = _hours("2017-01-01 01:00", 24, NO2=40.0)
    result = aqi.hourly(frame, hour_ending=True)
    assert result["time"].tolist() == frame["time"].tolist()
    assert aqi.daily(frame, hour_ending=True)["date"].tolist() == [dt.date(2017, 1, 1)]


def test_chunks_do_not_change_the_result():
    frame = pd.concat([_hours("2017-01-01 00:00", 60, site=site, PM25=float(i * 20 + 10),
                              O3=float(200 - i * 30)) for i, site in enumerate("ABCDE")])
    frame.loc[frame.index[:5], "PM2.5"] = np.nan
    whole = aqi.hourly(frame)
    pieces = aqi.hourly(frame, chunk_hours=50)  # about one site per chunk
    pd.testing.assert_frame_equal(whole, pieces)
    assert list(pieces["site_id"].cat.categories) == list("ABCDE")
    assert pieces["site_id"].value_counts().to_dict() == {s: 60 for s in "ABCDE"}


def test_wide_duplicates_and_negative_values_are_reported():
    frame = _hours("2017-01-01 00:00", 3, NO2=[40.0, -1.0, 40.0], CO=1.0)
    doubled = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    with pytest.raises(InputError) as error:
        aqi.hourly(doubled)
    problems = error.value.frame
    assert problems[["row", "column", "reason"]].values.tolist() == [
        [4, "time", "duplicate_reading"], [5, "time", "duplicate_reading"],
        [3, "NO2", "negative_value"]]
    assert "expected one row of readings per site and hour" in str(error.value)


def test_beijing_hourly_by_hand():
    result = aqi.hourly(_beijing())
    local = result["time"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M")
    hour = result[(result["site_id"] == "Dongsi") & (local == "2017-01-01 23:00")].iloc[0]
    # Dongsi 2017-01-01 23:00 (HJ 633-2012 real-time): the 24-h moving PM2.5 window is the
    # whole day, mean 487.17 (see test_beijing_daily_by_hand) -> 492. NO2 1 h 146 on the
    # 1-h column: 50 + 50*(146 - 100)/100 = 73. CO 9100 ug/m3 = 9.1 mg/m3 on the 1-h column:
    # 50 + 50*(9.1 - 5)/5 = 91.
    assert hour["edition"] == "2012"
    assert (hour["iaqi_PM2.5"], hour["iaqi_NO2"], hour["iaqi_CO"]) == (492, 73, 91)
    assert (hour["aqi"], hour["primary_pollutant"]) == (492, "PM2.5")
