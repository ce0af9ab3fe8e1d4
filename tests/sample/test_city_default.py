"""The default sample city (28 days): its designed hotspots dominate their cells."""

from __future__ import annotations

import pytest

from sourcegrid.sample.city import generate_city, main_sources


@pytest.mark.slow
def test_default_city_hotspots_stand_out_with_their_designed_source():
    city = generate_city(7)
    truth = city.truth
    hours = truth.background["time"].nunique()
    assert hours == 28 * 24
    excess = truth.contributions.groupby("cell_id")["contribution"].sum() / hours
    threshold = excess.quantile(0.9)
    designed = excess.reindex(truth.hotspots["cell_id"]).fillna(0.0)
    # most designed hotspot cells are in the top 10 % of cells by local excess
    assert (designed >= threshold).mean() >= 0.7
    main = main_sources(truth, truth.hotspots["cell_id"], "2017-01-01", "2017-01-29")
    merged = truth.hotspots.merge(main, on="cell_id", suffixes=("", "_main"))
    assert (merged["source_id"] == merged["source_id_main"]).mean() >= 0.8
    assert set(truth.hotspots["behaviour"]) == {"under_reporting", "treatment_off", "low_k",
                                                "unregistered"}
