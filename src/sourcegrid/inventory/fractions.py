"""Particle size fractions: PM (颗粒物, total particulate) → PM2.5 and PM10 by source type.

An inventory of the census coefficient method gives particulate matter (颗粒物) as
one total. Tracing PM2.5 or PM10 needs the fine share of it, which depends on how
the particles were made (combustion gives fine ash and condensables; mechanical
handling, road and construction dust give coarse ones) and on the dust removal.
The shares below are multiplied onto the PM emission; the result says which set
and which source type it used (``size_fraction`` column, e.g.
``PM2.5 = 0.40 × PM (sourcegrid_2024: boiler)``).

``sourcegrid_2024`` (fractions of the PM mass, PM2.5 ≤ PM10 ≤ 1):

=========  =====  =====  ===================================================================
sector     PM2.5  PM10   basis
=========  =====  =====  ===================================================================
boiler     0.40   0.75   coal combustion behind ESP / fabric filters: the fine share rises
                         behind high-efficiency collectors (AP-42 §1.1, Table 1.1-6
                         cumulative size distributions, order of magnitude)
industry   0.45   0.80   controlled metal working, welding fume, coating overspray behind
                         fabric filters (AP-42 Appendix B.2 generalized distributions for
                         controlled sources, order of magnitude)
traffic    0.25   0.55   paved-road dust plus exhaust (AP-42 §13.2.1 particle size
                         multipliers for road dust, all exhaust PM counted as PM2.5)
dust       0.10   0.45   construction and material handling (AP-42 §13.2.4 aggregate
                         handling: k = 0.053 / 0.35 / 0.74 for < 2.5 / < 10 / < 30 µm)
other      0.50   0.80   unknown sources: a middle value
=========  =====  =====  ===================================================================

These are sourcegrid's documented defaults, of the magnitude of the cited tables,
not a copy of them; a bureau with measured size distributions passes its own set
(:func:`register_size_fractions`).

References
----------
.. [1] U.S. EPA (1995) AP-42, Compilation of Air Pollutant Emission Factors, 5th ed.,
       Appendix B.2 "Generalized particle size distributions"; §1.1 Bituminous and
       subbituminous coal combustion; §13.2.1 Paved roads; §13.2.4 Aggregate handling
       and storage piles.
.. [2] EMEP/EEA air pollutant emission inventory guidebook 2019, 1.A.1.a and 2.A.5.b
       (TSP, PM10 and PM2.5 factors side by side, for comparison).
"""

from __future__ import annotations

from sourcegrid.errors import NotFoundError, SourcegridError

__all__ = ["SIZE_FRACTIONS", "PM_NAMES", "size_fraction", "register_size_fractions",
           "fraction_note"]

#: Named sets: sector → {target pollutant: fraction of PM mass}.
SIZE_FRACTIONS: dict[str, dict[str, dict[str, float]]] = {
    "sourcegrid_2024": {
        "boiler": {"PM2.5": 0.40, "PM10": 0.75},
        "industry": {"PM2.5": 0.45, "PM10": 0.80},
        "traffic": {"PM2.5": 0.25, "PM10": 0.55},
        "dust": {"PM2.5": 0.10, "PM10": 0.45},
        "other": {"PM2.5": 0.50, "PM10": 0.80},
    },
}
#: Pollutant names that mean total particulate matter (颗粒物).
PM_NAMES = ("PM", "颗粒物", "TSP", "烟尘", "粉尘")


def register_size_fractions(name: str, fractions: dict[str, dict[str, float]]) -> None:
    """Add a named set; each sector needs PM2.5 ≤ PM10 ≤ 1 and an 'other' row."""
    if "other" not in fractions:
        raise SourcegridError(f"size fraction set {name!r} needs an 'other' sector")
    for sector, values in fractions.items():
        pm25, pm10 = values.get("PM2.5"), values.get("PM10")
        if pm25 is None or pm10 is None or not 0 <= pm25 <= pm10 <= 1:
            raise SourcegridError(f"size fraction set {name!r}, sector {sector!r}: expected "
                                  f"0 ≤ PM2.5 ≤ PM10 ≤ 1, got {values}")
    SIZE_FRACTIONS[name] = fractions


def size_fraction(sector: str, pollutant: str, name: str = "sourcegrid_2024") -> float:
    """Fraction of PM mass that is ``pollutant`` ('PM2.5' or 'PM10') for a sector.

    Unknown sectors use the set's 'other' row.

    Raises
    ------
    NotFoundError
        For an unknown set name or a pollutant other than PM2.5 / PM10.
    """
    if name not in SIZE_FRACTIONS:
        raise NotFoundError("size fraction set", name, SIZE_FRACTIONS)
    table = SIZE_FRACTIONS[name]
    row = table.get(sector, table["other"])
    if pollutant not in row:
        raise NotFoundError("size-fraction pollutant", pollutant, row)
    return float(row[pollutant])


def fraction_note(sector: str, pollutant: str, name: str = "sourcegrid_2024") -> str:
    """The text recorded with a derived row, e.g. 'PM2.5 = 0.40 × PM (sourcegrid_2024: boiler)'."""
    table = SIZE_FRACTIONS.get(name, {})
    used = sector if sector in table else "other"
    return f"{pollutant} = {size_fraction(sector, pollutant, name):.2f} × PM ({name}: {used})"
