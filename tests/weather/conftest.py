"""Shared data of the weather tests: real Beijing meteorology (Dongsi, 2014-2016)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "beijing_multisite"
DONGSI = DATA / "dongsi_2013-03_2017-02.csv.gz"
CITY = DATA / "beijing_12site_mean_2013-03_2017-02.csv.gz"
JANUARIES = DATA / "dongsi_dingling_2015-01_2016-01.csv"


@pytest.fixture(scope="session")
def dongsi_series():
    """Dongsi hourly PM2.5 and meteorology, 2014-01-01 to 2016-12-31 (Beijing time)."""
    from sourcegrid.weather.inputs import series_from_file

    series, _ = series_from_file(DONGSI)
    local = series["time"].dt.tz_convert("Asia/Shanghai")
    keep = (local.dt.year >= 2014) & (local.dt.year <= 2016)
    return series[keep].reset_index(drop=True)
