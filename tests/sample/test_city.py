"""The sample city generator: reproducibility, contract, truth and the error model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError, SourcegridError
from sourcegrid.sample.city import generate_city, load_weather, main_sources

SMALL = dict(days=3, n_enterprises=60, n_micro=30)


@pytest.fixture(scope="module")
def city():
    return generate_city(11, **SMALL)


def test_same_seed_same_city_other_seed_other_city(city):
    again = generate_city(11, **SMALL)
    pd.testing.assert_frame_equal(city.readings, again.readings)
    pd.testing.assert_frame_equal(city.truth.contributions, again.truth.contributions)
    pd.testing.assert_frame_equal(city.activity, again.activity)
    other = generate_city(12, days=1, n_enterprises=60, n_micro=30)
    assert not city.sources["lon"].head(30).equals(other.sources["lon"].head(30))


def test_contract_tables(city):
    assert city.spec.cell_size == 3000
    assert 18 <= city.spec.nrows <= 22 and 18 <= city.spec.ncols <= 22
    assert {"cell_id", "county_code", "township_code"} <= set(city.cells.columns)
    # townships are invented under the real Cangzhou county codes
    assert (city.cells["township_code"].str[:6] == city.cells["county_code"]).all()
    assert city.cells["county_code"].str.startswith("1309").all()
    assert list(city.sources.columns[:13]) == [
        "source_id", "name", "kind", "lon", "lat", "geometry", "stack_height", "stack_diameter",
        "exit_velocity", "exit_temperature", "industry_code", "sector", "defaults_used"]
    assert set(city.sources["kind"]) == {"point", "line", "area"}
    assert city.sources.loc[city.sources["kind"] == "line", "geometry"].str.contains(
        '"LineString"').all()
    assert city.sources.loc[city.sources["kind"] == "area", "geometry"].str.contains(
        '"Polygon"').all()
    assert set(city.readings["site_kind"]) == {"reference", "micro", "mobile"}
    reference = city.readings.loc[city.readings["site_kind"] == "reference"]
    assert set(reference["pollutant"]) == {"PM2.5", "PM10", "RH", "TEMP"}
    assert list(city.wind.columns) == ["time", "site_id", "lon", "lat", "wind_speed", "wind_dir"]
    assert list(city.met.columns) == ["time", "site_id", "temperature", "rh", "pressure", "rain"]
    assert {"estimate"} == set(city.other_emissions["method"])
    assert str(city.readings["time"].dt.tz) == "UTC"
    # industry 4411 coal boilers are among the enterprises
    assert (city.activity["industry_code"] == "4411").any()
    # the first hour is 00:00 Beijing time of the start day
    assert city.start == pd.Timestamp("2016-12-31T16:00", tz="UTC")


def test_unregistered_sources_are_hidden(city):
    hidden = set(city.unregistered["source_id"])
    assert 3 <= len(hidden) <= 6
    assert not hidden & set(city.sources["source_id"])
    assert not hidden & set(city.activity["enterprise_id"])
    assert not hidden & set(city.other_emissions["enterprise_id"])
    assert hidden <= set(city.truth.contributions["source_id"])


def test_truth_is_sparse_positive_and_never_empty_for_hotspot_cells(city):
    contributions = city.truth.contributions
    assert (contributions["contribution"] > 0.01).all()
    assert contributions["pollutant"].eq("PM2.5").all()
    assert not contributions.duplicated(["source_id", "cell_id", "time"]).any()
    for _, hotspot in city.truth.hotspots.iterrows():
        rows = contributions.loc[contributions["cell_id"] == hotspot["cell_id"]]
        assert len(rows), hotspot["cell_id"]
        assert hotspot["source_id"] in set(rows["source_id"])
    main = main_sources(city.truth, city.truth.hotspots["cell_id"])
    assert len(main) == len(city.truth.hotspots["cell_id"].unique())
    assert ((main["share"] > 0) & (main["share"] <= 1)).all()
    # most designed hotspot cells are dominated by their designed source
    merged = city.truth.hotspots.merge(main, on="cell_id", suffixes=("", "_main"))
    assert (merged["source_id"] == merged["source_id_main"]).mean() >= 0.6


def test_hotspot_cells_stand_out(city):
    contributions = city.truth.contributions
    hours = city.truth.background["time"].nunique()
    excess = contributions.groupby("cell_id")["contribution"].sum() / hours
    designed = excess.reindex(city.truth.hotspots["cell_id"]).fillna(0)
    assert designed.median() > 2 * excess.median()


def test_readings_are_background_plus_contributions_plus_error(city):
    truth = city.truth.monitors
    np.testing.assert_allclose(truth["true_value"], truth["background"] + truth["contribution"])
    assert (truth["contribution"] >= 0).all()
    pm = city.readings.loc[city.readings["pollutant"] == "PM2.5"]
    fixed = pm.loc[pm["site_kind"] != "mobile"].merge(
        truth, on=["site_id", "time"], suffixes=("", "_truth"))
    assert len(fixed) == int(truth.loc[truth["site_kind"] != "mobile", "reported"].sum())
    # within the error model: |reading − error-free value| ≤ 5 σ (+ rounding), or clipped at 0
    deviation = (fixed["value"] - fixed["error_free"]).abs()
    assert ((deviation <= 5 * fixed["noise_sd"] + 0.05) | (fixed["value"] == 0)).mean() == 1.0
    # the reference instruments have no gain or bias: their mean error is small
    ref = fixed.loc[fixed["site_kind"] == "reference"]
    assert abs((ref["value"] - ref["true_value"]).mean()) < 1.0
    mobile = pm.loc[pm["site_kind"] == "mobile"].reset_index(drop=True)
    mobile_truth = truth.loc[truth["site_kind"] == "mobile"].reset_index(drop=True)
    deviation = (mobile["value"] - mobile_truth["error_free"]).abs()
    assert ((deviation <= 5 * mobile_truth["noise_sd"] + 0.05) | (mobile["value"] == 0)).all()


def test_micro_stations_have_gaps_and_instrument_errors(city):
    instruments = city.truth.instruments
    micro = instruments.loc[instruments["site_kind"] == "micro"]
    # calibrated low-cost sensors: gain within 1 ± 0.2 (HJ 1263-2022), spread sd ~10 %
    assert micro["gain"].between(0.8, 1.2).all() and micro["gain"].std() > 0.05
    assert micro["bias"].abs().max() < 15.0  # offset sd 2.5 µg/m³: 6 sd
    assert (micro["bias"] != 0).all() and (micro["drift_per_day"] != 0).all()
    counts = city.readings.loc[city.readings["site_kind"] == "micro"].groupby("site_id").size()
    assert counts.min() < 3 * 24            # some hours missing somewhere


def test_mobile_tracks_move_along_roads_every_two_minutes(city):
    mobile = city.readings.loc[city.readings["site_kind"] == "mobile"]
    assert mobile["site_id"].nunique() == 3
    one = mobile.loc[mobile["site_id"] == "TAXI01"].sort_values("time")
    steps = one["time"].diff().dropna()
    assert (steps == pd.Timedelta(minutes=2)).mean() > 0.9
    assert one[["lon", "lat"]].drop_duplicates().shape[0] > 0.9 * len(one)


def test_write_puts_tables_in_a_folder_and_truth_only_when_asked(city, tmp_path: Path):
    plain = city.write(tmp_path / "plain")
    for name in ("activity", "treatment", "sources", "other_emissions", "readings", "wind",
                 "met"):
        assert (plain / f"{name}.csv").stat().st_size > 0
    assert not (plain / "truth").exists()
    folder = city.write(tmp_path / "city", truth=True)
    assert (folder / "truth" / "contributions.parquet").exists()
    back = pd.read_parquet(folder / "truth" / "contributions.parquet")
    assert len(back) == len(city.truth.contributions)


def test_the_truth_transport_is_not_the_tracer():
    import sourcegrid.sample.city as city_module
    import sourcegrid.sample.transport as transport_module

    for module in (city_module, transport_module):
        text = Path(module.__file__).read_text(encoding="utf-8")
        assert "import sourcegrid.tracing" not in text
        assert "from sourcegrid.tracing" not in text


def test_the_truth_and_the_tracer_give_different_numbers_for_one_source_and_hour():
    """The same 1 g/s, 10 m, non-buoyant source, 3 m/s from the north, receptor 1 km and
    3 km due south at 1.5 m, lid 1000 m, no perturbation, one hour per class A–F: the
    truth (ISC3 sigmas, meander) and the tracer's coupling (Briggs 1973) must not agree,
    and their ratio must vary with the hour's stability (no one scale factor maps one on
    the other), or the tracer would be scored against itself."""
    import sourcegrid.sample.transport as tr
    from sourcegrid.tracing.dispersion import coupling

    hours = 6
    classes = np.arange(6)
    met = tr.HourlyMet(np.full(hours, 3.0), np.zeros(hours), classes, np.full(hours, 1000.0),
                       np.full(hours, 283.15), np.full(hours, 1013.0))
    one = np.ones((1, hours))
    for distance in (1000.0, 3000.0):
        points = tr.SourcePoints(np.zeros(1), np.zeros(1), np.zeros(1, dtype=int), np.ones(1),
                                 np.full(1, 10.0), np.zeros(1), np.zeros(1),
                                 np.full(1, 283.15), np.zeros(1))
        receptors = tr.Receptors(np.zeros(1), np.array([-distance]), np.array([1.5]),
                                 np.zeros(1), np.zeros(1, dtype=int), np.ones(1))
        truth, _ = tr.static_contributions(points, receptors, met, emission=one,
                                           direction_offset=0 * one, sigma_y_factor=one,
                                           sigma_z_factor=one, n_groups=1, n_parents=1)
        tracer = coupling([0.0], [0.0], [0.0], [-distance], met.wind_speed, met.wind_from,
                          classes, effective_height=10.0, mixing_height=met.mixing_height,
                          dtype=np.float64).to_dense()[0, 0]
        assert (truth[0] > 0).all() and (tracer > 0).all()   # both see the receptor
        ratio = truth[0] / tracer
        assert np.abs(np.log(ratio)).max() > np.log(1.25), ratio
        assert ratio.max() / ratio.min() > 1.25, ratio


def test_mixing_height_stays_within_50_to_2000_m(monkeypatch):
    """Review 1.1: the city's lid is the season's afternoon maximum (700 m in winter)
    shaped by the hour, never the shape times that maximum again (100+ km lids)."""
    import sourcegrid.sample.transport as tr

    seen = []
    original = tr.HourlyMet

    def capture(*args, **kwargs):
        met = original(*args, **kwargs)
        seen.append(np.asarray(met.mixing_height, dtype=float))
        return met

    monkeypatch.setattr(tr, "HourlyMet", capture)
    generate_city(5, days=2, n_enterprises=20, n_micro=10, extent_km=18.0)
    zi = seen[0]
    assert len(zi) == 48 and np.isfinite(zi).all()
    assert zi.min() >= 50.0 and zi.max() <= 2000.0, (zi.min(), zi.max())
    # January afternoons reach a few hundred metres (700 m ± noise), nights stay low
    assert 300.0 < zi.max() < 1200.0


def test_bad_options_are_reported():
    with pytest.raises(SourcegridError, match="the packaged weather covers"):
        generate_city(1, start="2015-01-01", days=3)
    with pytest.raises(NotFoundError, match="valid: default, large"):
        generate_city(1, size="huge")
    with pytest.raises(SourcegridError, match="n_unregistered must be 3–6"):
        generate_city(1, n_unregistered=9)


def test_weather_slice_is_packaged_with_its_attribution():
    weather = load_weather()
    assert set(weather["station"]) == {"Dingling", "Dongsi"}
    assert weather["time_local"].min() == pd.Timestamp("2016-07-01")
    readme = Path(__file__).parents[2] / "src" / "sourcegrid" / "sample" / "data" / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "Zhang, S." in text


def test_true_scale_factors_follow_the_behaviours(city):
    truth = city.truth.sources.set_index("source_id")
    honest = truth.loc[(truth["behaviour"] == "honest") & (truth["inventory_pm25_rate"] > 0)]
    # honest: the truth differs from the inventory by the ±15 % size-fraction jitter, the time
    # profile and the sector's true PM2.5 share (industry 0.45 = inventory 0.45)
    assert honest["true_scale_factor"].between(0.3, 2.0).all()
    under = truth.loc[truth["behaviour"] == "under_reporting"]
    assert (under["true_scale_factor"] > 1.8).all()
    off = truth.loc[truth["behaviour"] == "treatment_off"]
    assert (off["true_scale_factor"] > 2.0).all()
    assert np.isinf(truth.loc[truth["behaviour"] == "unregistered", "true_scale_factor"]).all()
