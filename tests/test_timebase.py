"""Time conventions: Beijing time in, UTC stored, calendar days in Beijing time.

Expected values by hand: Beijing time is UTC+8 (DESIGN.md, "Observations"); the IANA
tz database (zone Asia/Shanghai, "PRC" rules) has daylight saving time (UTC+9) from
1991-04-14 to 1991-09-15, so a naive 1991-07-01 12:00 is 03:00 UTC.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import ibis
import pandas as pd
import pytest

from sourcegrid import timebase
from sourcegrid.errors import OptionError


def test_naive_texts_are_beijing_time_and_offsets_are_kept():
    texts = pd.Series(["2024-01-10 08:00", "2024/1/10 8:00", "2024-01-10T08:00:00+08:00",
                       "2024-01-10T00:00:00Z", "1991-07-01 12:00", "not a time", None])
    got = timebase.to_utc(texts)
    midnight = pd.Timestamp("2024-01-10T00:00Z")
    assert got.iloc[:4].tolist() == [midnight] * 4
    assert got.iloc[4] == pd.Timestamp("1991-07-01T03:00Z")  # DST 1991: UTC+9
    assert got.iloc[5:].isna().all()


def test_single_times_and_periods():
    assert timebase.utc_timestamp("2026-03-01") == pd.Timestamp("2026-02-28T16:00Z")
    with pytest.raises(OptionError, match="--from"):
        timebase.utc_timestamp("2024-13-45", "--from")
    with pytest.raises(OptionError, match="reversed or empty"):
        timebase.utc_period("2024-01-10", "2024-01-09")


def test_calendar_days_and_months_are_beijing_time():
    # 16:00 UTC is midnight in Beijing: the day changes there, not at 00:00 UTC
    times = pd.Series(pd.to_datetime(["2024-01-09T15:59:59Z", "2024-01-09T16:00:00Z"]))
    assert timebase.local_date(times).tolist() == [date(2024, 1, 9), date(2024, 1, 10)]
    assert timebase.local_date(pd.Timestamp("2024-01-09T16:00Z")) == date(2024, 1, 10)
    assert timebase.month_bounds("2026-03") == (pd.Timestamp("2026-02-28T16:00Z"),
                                                pd.Timestamp("2026-03-31T16:00Z"))
    assert timebase.month_bounds("2026-03", shift=-12)[0] == pd.Timestamp("2025-02-28T16:00Z")


def test_engine_day_expression_agrees_with_pandas():
    frame = pd.DataFrame({"time": pd.to_datetime(["2024-01-09T15:59:59Z",
                                                  "2024-01-09T16:00:00Z"])})
    table = ibis.memtable(frame)
    days = ibis.duckdb.connect().execute(
        table.select(day=timebase.local_date_expr(table.time)))["day"]
    assert [pd.Timestamp(d).date() for d in days] == [date(2024, 1, 9), date(2024, 1, 10)]


def test_one_home_of_the_constants():
    from sourcegrid.grid import fusion, hotspots
    from sourcegrid.observations import readers
    from sourcegrid.quality import averaging
    from sourcegrid.weather import features, trend

    assert {hotspots.LOCAL_TIMEZONE, readers.LOCAL_TZ, features.LOCAL_TIMEZONE,
            trend.LOCAL_TIMEZONE} == {"Asia/Shanghai"}
    assert averaging.UTC_OFFSET_HOURS == fusion.LOCAL_TZ_OFFSET_HOURS == 8
    assert readers.to_utc is timebase.to_utc and readers.utc_period is timebase.utc_period


@pytest.mark.parametrize(("module", "other"), [
    ("sourcegrid.observations.satellite", "sourcegrid.observations.ingest"),
    ("sourcegrid.observations.ingest", "sourcegrid.observations.satellite"),
])
def test_no_import_cycle_between_ingest_and_satellite(module, other):
    code = f"import sys, {module}; print({other!r} in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
