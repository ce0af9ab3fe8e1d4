"""The sample city's inventory end to end: account → build → import → cells → candidates."""

from __future__ import annotations

import pytest

from sourcegrid.grid.spec import write_spec
from sourcegrid.inventory import build_inventory, import_inventory, tracing_candidates
from sourcegrid.store import Workspace


def test_sample_city_inventory_conserves_totals_and_feeds_the_tracer():
    from sourcegrid.accounting.engine import account
    from sourcegrid.accounting.store import save_run
    from sourcegrid.coefficients import sample_library
    from sourcegrid.sample.city import generate_city

    city = generate_city(4, days=1, n_enterprises=40, n_micro=10)
    ws = Workspace.in_memory()
    write_spec(ws, city.spec)
    save_run(ws, account(city.activity, sample_library(), city.treatment), run="city")
    build_inventory(ws, run="city", sources=city.sources)
    import_inventory(ws, city.other_emissions, city.sources, origin="other_emissions.csv")
    inventory = ws.read("inventory")
    cells = ws.read("cell_inventory")
    # every source lies inside the grid: cell totals equal inventory totals per pollutant
    for pollutant, total in inventory.groupby("pollutant")["emission"].sum().items():
        on_cells = cells.loc[cells["pollutant"] == pollutant, "emission"].sum()
        assert on_cells == pytest.approx(total, rel=1e-9), pollutant
    candidates = tracing_candidates(ws, "PM2.5", "2017-01")
    assert set(candidates["kind"]) == {"point", "line", "area"}
    assert not set(candidates["source_id"]) & set(city.unregistered["source_id"])
    assert (candidates["emission_rate"] > 0).all()
    assert candidates["size_fraction"].str.contains("× PM").all()
