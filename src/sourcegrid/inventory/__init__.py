"""The emission inventory on the grid (sources, allocation to cells, size fractions).

- :mod:`~sourcegrid.inventory.sources`: the sources table, its checks and default stack
  parameters by industry;
- :mod:`~sourcegrid.inventory.fractions`: PM (颗粒物) → PM2.5 / PM10 size fractions;
- :mod:`~sourcegrid.inventory.allocation`: points to their cell, lines by length, areas by
  area, totals conserved;
- :mod:`~sourcegrid.inventory.build`: build from an accounting run, import one made
  elsewhere, and :func:`tracing_candidates` for the tracer.
"""

from sourcegrid.inventory.allocation import Allocation, allocate_to_cells, cell_shares
from sourcegrid.inventory.build import (
    CELL_INVENTORY_COLUMNS,
    INVENTORY_COLUMNS,
    InventoryResult,
    build_inventory,
    import_inventory,
    inventory_summary,
    period_hours,
    tracing_candidates,
)
from sourcegrid.inventory.fractions import SIZE_FRACTIONS, fraction_note, size_fraction
from sourcegrid.inventory.sources import (
    DEFAULT_STACK_PARAMETERS,
    SOURCE_COLUMNS,
    apply_stack_defaults,
    validate_sources,
)

__all__ = [
    "Allocation", "allocate_to_cells", "cell_shares", "CELL_INVENTORY_COLUMNS",
    "INVENTORY_COLUMNS", "InventoryResult", "build_inventory", "import_inventory",
    "inventory_summary", "period_hours", "tracing_candidates", "SIZE_FRACTIONS",
    "fraction_note", "size_fraction", "DEFAULT_STACK_PARAMETERS", "SOURCE_COLUMNS",
    "apply_stack_defaults", "validate_sources",
]
