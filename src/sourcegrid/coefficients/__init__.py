"""The coefficient library (系数库): import, validation, versions, comparison.

Public API::

    from sourcegrid.coefficients import (
        load_library, sample_library, store_library, stored_library, list_libraries,
        compare_libraries, CoefficientLibrary, parse_scale, parse_coefficient_unit,
    )

See :mod:`sourcegrid.coefficients.model` for the normalized table (the
contract with the accounting engine).
"""

from sourcegrid.coefficients.basis import CoefficientUnit, parse_coefficient_unit
from sourcegrid.coefficients.export import to_canonical
from sourcegrid.coefficients.importer import (
    REASONS,
    library_from_frame,
    load_library,
    normalize_expression,
    validate_file,
)
from sourcegrid.coefficients.model import (
    COMBINATION_COLUMNS,
    HEADER_ALIASES,
    KEY_COLUMNS,
    NORMALIZED_COLUMNS,
    CoefficientLibrary,
    canonical_pollutant,
)
from sourcegrid.coefficients.scale import (
    AmbiguousTierError,
    ScaleTier,
    find_tier,
    match_tiers,
    overlapping_tiers,
    parse_scale,
    tier_contains,
)
from sourcegrid.coefficients.versions import (
    LibraryExistsError,
    compare_libraries,
    ensure_sample_library,
    list_libraries,
    remove_library,
    store_library,
    stored_library,
)

__all__ = [
    "AmbiguousTierError",
    "COMBINATION_COLUMNS",
    "CoefficientLibrary",
    "CoefficientUnit",
    "HEADER_ALIASES",
    "KEY_COLUMNS",
    "LibraryExistsError",
    "NORMALIZED_COLUMNS",
    "REASONS",
    "ScaleTier",
    "canonical_pollutant",
    "compare_libraries",
    "ensure_sample_library",
    "find_tier",
    "library_from_frame",
    "list_libraries",
    "load_library",
    "match_tiers",
    "normalize_expression",
    "overlapping_tiers",
    "parse_coefficient_unit",
    "parse_scale",
    "remove_library",
    "sample_library",
    "store_library",
    "stored_library",
    "tier_contains",
    "to_canonical",
    "validate_file",
]


def sample_library():
    """The shipped illustrative sample library, validated (see :mod:`sourcegrid.sample.library`)."""
    from sourcegrid.sample.library import sample_library as load_sample

    return load_sample()
