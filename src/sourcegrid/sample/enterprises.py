"""Generated sample enterprises: activity and treatment tables for a sample city.

The city is modelled on Cangzhou (沧州, Hebei), where the hotspot-grid pilot ran;
the enterprises are invented. Every row draws a combination of the given
coefficient library (by default the shipped sample library), a capacity inside
that combination's scale tier, an activity of plausible size, the variables its
formulas need (sulfur S and ash A contents of coal in %, run and production
hours, reagent use) and, per pollutant, one of the library's treatments or none.
Vectorized with NumPy, so 10^6 rows take seconds (benchmarks use it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_CITY", "generate_enterprises"]

#: Counties of the sample city (行政区划代码 of Cangzhou's districts and county-level units).
SAMPLE_CITY = {
    "name": "沧州市 Cangzhou",
    "region_code": "130900",
    "counties": ["130902", "130903", "130921", "130922", "130925", "130981", "130982",
                 "130983", "130984"],
    "bbox": (116.3, 37.5, 117.8, 38.9),
}

_COMBINATION = ["industry_code", "section", "product", "raw_material", "process", "scale"]


def generate_enterprises(n_rows: int = 300, *, library=None, seed: int = 2017,
                         period: str = "2017") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``n_rows`` section-activity rows and their treatment rows.

    Returns
    -------
    (activity, treatment) : pandas.DataFrame
        In the canonical formats of DESIGN.md ("Activity", "Treatment").
    """
    if library is None:
        from sourcegrid.coefficients import sample_library

        library = sample_library()
    rows = library.rows if hasattr(library, "rows") else library
    rng = np.random.default_rng(seed)
    combos = rows.drop_duplicates(_COMBINATION)[
        _COMBINATION + ["scale_min", "scale_max", "scale_unit", "activity_unit", "industry_kind"]
    ].sort_values(_COMBINATION, ignore_index=True)
    industries = combos["industry_code"].unique()
    start = combos.groupby("industry_code", sort=False).cumcount().eq(0)
    first = combos.index[start].to_numpy()
    count = combos.groupby("industry_code", sort=False).size().to_numpy()

    # enterprises of 1–3 sections each, all in one industry
    n_enterprises = max(1, n_rows // 2)
    sections = rng.integers(1, 4, n_enterprises)
    enterprise = np.repeat(np.arange(n_enterprises), sections)[:n_rows]
    if len(enterprise) < n_rows:
        enterprise = np.concatenate([enterprise, np.arange(n_rows - len(enterprise)) + n_enterprises])
    industry_of = rng.integers(0, len(industries), enterprise.max() + 1)
    industry = industry_of[enterprise]
    pick = first[industry] + np.floor(rng.random(n_rows) * count[industry]).astype(int)
    chosen = combos.iloc[pick].reset_index(drop=True)

    low = chosen["scale_min"].to_numpy(dtype=float)
    high = chosen["scale_max"].to_numpy(dtype=float)
    low = np.where(np.isnan(low), np.where(np.isnan(high), np.nan, high / 4), low)
    high = np.where(np.isnan(high), low * 3, high)
    capacity = low + rng.random(n_rows) * (high - low)
    has_tier = chosen["scale"].to_numpy() != ""
    counties = np.array(SAMPLE_CITY["counties"])
    west, south, east, north = SAMPLE_CITY["bbox"]
    size = rng.lognormal(mean=np.log(2000.0), sigma=1.0, size=n_rows)
    gas = chosen["activity_unit"].to_numpy() == "万立方米"
    size = np.where(gas, size / 20, size)
    # power units: fuel in proportion to capacity, ~5000 h a year at 0.3 t coal/MWh
    # (or ~0.02 万m³ natural gas/MWh), with a load factor of 0.6–1.0
    power = chosen["scale_unit"].to_numpy() == "MW"
    load = rng.uniform(0.6, 1.0, n_rows)
    size = np.where(power & ~gas, capacity * 5000 * 0.3 * load, size)
    size = np.where(power & gas, capacity * 5000 * 0.02 * load, size)
    ids = np.char.add("E", np.char.zfill(enterprise.astype(str), 7))
    activity = pd.DataFrame({
        "enterprise_id": ids,
        "enterprise_name": np.char.add("示例企业", np.char.zfill(enterprise.astype(str), 7)),
        "industry_code": chosen["industry_code"].to_numpy(),
        "region_code": counties[enterprise % len(counties)],
        "lon": np.round(west + rng.random(n_rows) * (east - west), 5),
        "lat": np.round(south + rng.random(n_rows) * (north - south), 5),
        "section": chosen["section"].to_numpy(),
        "product": chosen["product"].to_numpy(),
        "raw_material": chosen["raw_material"].to_numpy(),
        "process": chosen["process"].to_numpy(),
        # rounded down to 0.1: rounding up could leave a '<b' tier at its excluded bound
        "capacity": np.where(has_tier, np.floor(capacity * 10) / 10, np.nan),
        "capacity_unit": np.where(has_tier, chosen["scale_unit"].to_numpy(), ""),
        "activity": np.round(size, 2),
        "activity_unit": chosen["activity_unit"].to_numpy(),
        "period": period,
        # sulfur: coal S in % (0.3–1.5); natural gas total sulfur in mg/m³ (1–20, GB 17820
        # class 1 gas ≤ 20), as the gas rows' 0.02*S expects
        "S": np.where(gas, np.round(rng.uniform(1.0, 20.0, n_rows), 1),
                      np.round(rng.uniform(0.3, 1.5, n_rows), 2)),
        "A": np.round(rng.uniform(8.0, 30.0, n_rows), 1),     # ash content [%]
    })
    # treatment is reported per enterprise × section: one activity row per section here
    activity = activity.drop_duplicates(["enterprise_id", "section", "period"],
                                        ignore_index=True)

    # one treatment (or none) per enterprise × section × pollutant, from the library's options
    options = rows.loc[rows["treatment"] != "", _COMBINATION + ["pollutant", "treatment"]]
    keyed = activity.reset_index().merge(
        combos[_COMBINATION].assign(scale_key=combos["scale"]), how="left",
        on=_COMBINATION[:5])
    keyed = keyed.drop_duplicates("index")
    offered = keyed[["index", "enterprise_id", *_COMBINATION]].merge(options, on=_COMBINATION)
    offered["draw"] = rng.random(len(offered))
    offered = offered.sort_values(["index", "pollutant", "draw"])
    offered = offered.drop_duplicates(["index", "pollutant"])
    # power plants all treat their flue gas; a fifth of the other sections run untreated
    treated = (offered["industry_code"] == "4411") | (rng.random(len(offered)) < 0.8)
    offered = offered.loc[treated]
    n = len(offered)
    treatment = pd.DataFrame({
        "enterprise_id": offered["enterprise_id"].to_numpy(),
        "section": offered["section"].to_numpy(),
        "pollutant": offered["pollutant"].to_numpy(),
        "treatment": offered["treatment"].to_numpy(),
        "run_hours": np.round(rng.uniform(6000, 8000, n)),
        "production_hours": 8000.0,
        "desulfurizer_used": np.round(rng.uniform(700, 1000, n)),
        "desulfurizer_design": 1000.0,
        "denitrifier_used": np.round(rng.uniform(600, 1000, n)),
        "denitrifier_design": 1000.0,
        "treated_volume": np.round(rng.uniform(0.8, 1.0, n) * 1e5),
        "wastewater_volume": 1e5,
        "carbon_replaced": np.round(rng.uniform(6, 10, n), 1),
        "carbon_required": 10.0,
    })
    treatment = treatment.drop_duplicates(["enterprise_id", "section", "pollutant"],
                                          ignore_index=True)
    return activity, treatment
