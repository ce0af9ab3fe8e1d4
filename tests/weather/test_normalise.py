"""The normalisation machinery: named sets, the constrained sampler, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError, NotFoundError
from sourcegrid.weather.features import relative_humidity, time_variables
from sourcegrid.weather.normalise import (
    ConstrainedSampler,
    model_parameters,
    normalise,
    normalise_naive,
    resampling_parameters,
)


def test_named_sets_and_their_sources():
    assert model_parameters("deweather").settings["max_depth"] == 5  # build_dw_model tree_depth
    assert model_parameters("rmweather").settings["n_estimators"] == 300  # rmw_train_model
    sets = resampling_parameters("deweather")
    assert (sets.scheme, sets.window_days, sets.window_hours, sets.samples) == (
        "constrained", 30, 2, 200)  # simulate_dw_met defaults
    for name in ("deweather", "rmweather", "quick"):
        assert model_parameters(name).source
    with pytest.raises(NotFoundError) as error:
        model_parameters("xgboost")
    assert "deweather" in str(error.value) and "rmweather" in str(error.value)
    with pytest.raises(NotFoundError) as error:
        resampling_parameters("random")
    assert "vu2019" in str(error.value)


def test_time_variables_are_beijing_time():
    # 2024-01-01 00:00 UTC is Monday 08:00 in Beijing, day 1
    frame = time_variables(pd.to_datetime(["2024-01-01T00:00Z", "2024-12-31T16:00Z"]))
    assert frame["date_unix"].tolist() == [1704067200.0, 1735660800.0]
    assert frame["hour"].tolist() == [8.0, 0.0]
    assert frame["day_of_year"].tolist() == [1.0, 1.0]  # 2025-01-01 in Beijing
    assert frame["weekday"].tolist() == [0.0, 2.0]  # Monday, Wednesday


def test_relative_humidity_magnus():
    # T = 20 °C, Td = 10 °C: exp(17.625·10/253.04 − 17.625·20/263.04) = exp(−0.64357) = 0.52541
    assert relative_humidity([20.0], [10.0])[0] == pytest.approx(52.541, abs=0.01)
    assert relative_humidity([15.0], [15.0])[0] == pytest.approx(100.0)


def test_constrained_sampler_draws_exactly_the_window_uniformly():
    # one non-leap year of hours (2015): target day 1, hour 0, window ±1 day, ±1 hour.
    # Circular distance on 366 days: day 2 is 1 away, day 365 is 2 away (excluded), so the
    # candidates are days {1, 2} × hours {23, 0, 1}: 6 hours.
    times = pd.date_range("2015-01-01", "2015-12-31 23:00", freq="h")
    sampler = ConstrainedSampler(times.dayofyear, times.hour, 1, 1)
    index, empty = sampler.draw(np.array([1]), np.array([0]), 6000, np.random.default_rng(0))
    assert empty == 0
    drawn = pd.Series(list(zip(times.dayofyear[index[:, 0]], times.hour[index[:, 0]],
                               strict=True)))
    counts = drawn.value_counts()
    assert set(counts.index) == {(1, 23), (1, 0), (1, 1), (2, 23), (2, 0), (2, 1)}
    # uniform: 1000 each, binomial sd sqrt(6000·(1/6)·(5/6)) = 28.9; allow 5 sd
    assert (counts - 1000).abs().max() < 145


def test_sampler_wraps_the_year_end():
    times = pd.date_range("2015-01-01", "2015-12-31 23:00", freq="h")
    sampler = ConstrainedSampler(times.dayofyear, times.hour, 2, 0)
    index, _ = sampler.draw(np.array([365]), np.array([12]), 2000, np.random.default_rng(1))
    days = set(times.dayofyear[index[:, 0]])
    # 365 ± 2 on a 366-day circle: 363, 364, 365, (366 absent), 1
    assert days == {363, 364, 365, 1}
    assert set(times.hour[index[:, 0]]) == {12}


def _two_months(dongsi_series):
    part = dongsi_series.iloc[:1488]
    return part["time"].to_numpy(), part["value"].to_numpy(), part[
        ["wind_speed", "wind_dir", "TEMP", "RH", "PRES"]]


def test_seeded_and_reproducible(dongsi_series):
    times, values, met = _two_months(dongsi_series)
    one = normalise(times, values, met, model="quick", resampling="quick", seed=5, skill=False)
    two = normalise(times, values, met, model="quick", resampling="quick", seed=5, skill=False)
    other = normalise(times, values, met, model="quick", resampling="quick", seed=6,
                      skill=False)
    pd.testing.assert_frame_equal(one.series, two.series)
    assert not np.allclose(one.series["normalised"], other.series["normalised"],
                           equal_nan=True)
    # the normalised series is smoother than the observations
    assert one.series["normalised"].std() < one.series["observed"].std()


def test_batched_and_naive_agree(dongsi_series):
    times, values, met = _two_months(dongsi_series)
    batched = normalise(times, values, met, model="quick", resampling="quick", seed=2,
                        skill=False, chunk_rows=5000)  # several chunks
    naive = normalise_naive(times, values, met, model="quick", resampling="quick", seed=2,
                            fitted=batched.model)
    fast = batched.series["normalised"].dropna().to_numpy()
    assert fast.shape == naive.shape
    # different random streams, same distribution of draws: the means agree closely
    assert abs(fast.mean() - naive.mean()) / naive.mean() < 0.02
    assert np.corrcoef(fast, naive)[0, 1] > 0.9


def test_resample_daily_means_average_to_the_normalised_series(dongsi_series):
    times, values, met = _two_months(dongsi_series)
    result = normalise(times, values, met, model="quick", resampling="quick", seed=1,
                       skill=False)
    assert result.resample_daily_means.shape == (20, len(result.resample_days))
    series = result.series.dropna(subset=["normalised"])
    local = series["time"].dt.tz_convert("Asia/Shanghai").dt.date
    daily = series.groupby(local)["normalised"].mean()
    np.testing.assert_allclose(result.resample_daily_means.mean(axis=0), daily.to_numpy(),
                               rtol=1e-9)


def test_skill_on_held_back_blocks(dongsi_series):
    part = dongsi_series.iloc[:8760]
    result = normalise(part["time"].to_numpy(), part["value"].to_numpy(),
                       part[["wind_speed", "wind_dir", "TEMP", "RH"]], model="quick",
                       resampling="quick", seed=0, samples=2)
    skill = result.skill
    assert 0.15 < skill["n_test"] / (skill["n_test"] + skill["n_train"]) < 0.25
    assert 0.0 < skill["r2"] < 1.0 and skill["rmse"] > 0


def test_bad_inputs_report_every_problem():
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC")
    with pytest.raises(InputError) as error:
        normalise(times, np.ones(9), pd.DataFrame({"fog": np.ones(10)}))
    reasons = set(error.value.frame["reason"])
    assert reasons == {"length_mismatch", "unknown_variable"}
    with pytest.raises(InputError) as error:
        normalise(times, np.ones(10), pd.DataFrame({"TEMP": np.ones(10)}))
    assert "at least 200 hours" in error.value.frame["message"].iloc[0]
