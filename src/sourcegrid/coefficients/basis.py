"""The unit column of a coefficient library: mass per unit of product or raw material.

The official tables write a coefficient's unit as ``<mass>/<activity unit>-<basis>``,
e.g. ``千克/吨-产品`` (kg per tonne of product), ``克/吨-原料`` (g per tonne of raw
material), ``千克/万立方米-原料`` (kg per 10⁴ m³ of gas burnt), ``吨/万吨-产品``;
English files write ``kg/t-product`` or ``kg/t-raw material``. The dash is
sometimes missing (``千克/吨产品``).

Internal unit of mass: kg. :func:`parse_coefficient_unit` gives the factor that
turns a coefficient written in this unit into kg per ONE activity unit as
written (``克/吨`` → 0.001; ``千克/万立方米`` → 1.0 per 万立方米).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sourcegrid.coefficients.model import fold_width
from sourcegrid.errors import UnitError
from sourcegrid.units import conversion_factor, parse_unit

__all__ = ["CoefficientUnit", "parse_coefficient_unit", "BASIS_NAMES", "BASES"]

#: The two bases of a coefficient.
BASES = ("product", "raw_material")

#: Basis suffix as written (lower-cased, spaces and '_' removed) → basis.
BASIS_NAMES: dict[str, str] = {
    "产品": "product",
    "product": "product",
    "products": "product",
    "原料": "raw_material",
    "原料用量": "raw_material",
    "燃料": "raw_material",
    "rawmaterial": "raw_material",
    "rawmaterials": "raw_material",
    "raw-material": "raw_material",
    "material": "raw_material",
}

_DASHES = "-－—–‐"
# '<mass>/<activity>' then an optional dash and the basis word at the end
_SUFFIX = re.compile(
    r"^(?P<rate>.+?)\s*[" + _DASHES + r"]?\s*"
    r"(?P<basis>产品|原料用量|原料|燃料|raw[\s_-]*materials?|materials?|products?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CoefficientUnit:
    """A parsed coefficient unit.

    Attributes
    ----------
    text : str
        The unit as written.
    mass_unit : str
        Numerator as written (``'千克'``, ``'g'``).
    activity_unit : str
        Denominator as written (``'吨'``, ``'万立方米'``).
    basis : {'product', 'raw_material'}
        What the activity counts.
    factor : float
        [kg per activity_unit] per [mass_unit per activity_unit]: multiply a
        coefficient in this unit by it to get kg per one ``activity_unit``.
    """

    text: str
    mass_unit: str
    activity_unit: str
    basis: str
    factor: float


@lru_cache(maxsize=2048)
def parse_coefficient_unit(text: str) -> CoefficientUnit:
    """Parse a coefficient unit such as ``'千克/吨-产品'`` or ``'g/件-product'``.

    Parameters
    ----------
    text : str
        ``<mass unit>/<activity unit>-<basis>``; basis 产品|原料|product|raw material,
        the dash optional.

    Returns
    -------
    CoefficientUnit

    Raises
    ------
    UnitError
        When the text has no basis, no '/', a numerator that is not a mass, or
        a unit pint does not know; the message says what was expected.

    Examples
    --------
    >>> parse_coefficient_unit("克/吨-原料").factor
    0.001
    >>> parse_coefficient_unit("千克/万立方米-原料").activity_unit
    '万立方米'
    """
    raw = "" if text is None else str(text)
    cleaned = fold_width(raw).strip()
    if not cleaned:
        raise UnitError("empty unit; expected e.g. '千克/吨-产品' or 'kg/t-raw material'")
    match = _SUFFIX.match(cleaned)
    if match is None:
        raise UnitError(f"{raw!r} names no basis; expected '<mass>/<unit>-产品' or "
                        "'<mass>/<unit>-原料' (or -product / -raw material)")
    basis_word = re.sub(r"[\s_]", "", match.group("basis").lower())
    basis = BASIS_NAMES.get(basis_word, BASIS_NAMES.get(basis_word.replace("-", ""), ""))
    rate = match.group("rate").strip().rstrip(_DASHES).strip()
    if rate.count("/") != 1:
        raise UnitError(f"{raw!r} is not '<mass>/<activity unit>-<basis>'; expected exactly "
                        "one '/', e.g. '千克/吨-产品'")
    mass_text, activity_text = (part.strip() for part in rate.split("/"))
    if not mass_text or not activity_text:
        raise UnitError(f"{raw!r} lacks a mass or an activity unit; expected e.g. '千克/吨-产品'")
    mass_unit = parse_unit(mass_text)
    if mass_unit.dimensionality != parse_unit("kg").dimensionality:
        raise UnitError(f"{raw!r}: numerator {mass_text!r} is not a mass "
                        f"({mass_unit.dimensionality}); expected 千克, 克, 吨, kg, g, t ...")
    parse_unit(activity_text)  # raises UnitError naming the unknown unit
    return CoefficientUnit(text=raw, mass_unit=mass_text, activity_unit=activity_text,
                           basis=basis, factor=conversion_factor(mass_text, "kg"))
