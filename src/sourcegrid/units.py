"""Units: one pint registry, Chinese unit names included.

Internal units (converted with pint only where data enters or leaves):

- mass: kg (emissions, generation, removal);
- concentration: µg/m³, except CO in mg/m³;
- time: UTC;
- activity: the unit of the coefficient's basis (t, m³, kWh, ...).

Counting units of different things (件 piece, 台 machine, 辆 vehicle, 套 set,
个 item) are separate dimensions so that pieces never silently convert to
vehicles. A normal cubic metre (标立方米, gas volume at standard conditions) is
kept apart from a cubic metre for the same reason: converting between them
needs temperature and pressure, which a unit text does not give.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pint

from sourcegrid.errors import UnitError

__all__ = ["ureg", "parse_unit", "conversion_factor", "canonical_unit_text", "CHINESE_UNITS"]

#: Chinese unit names (and common English spellings) and their definitions.
CHINESE_UNITS: dict[str, str] = {
    "吨": "t",
    "万吨": "1e4 * t",
    "千吨": "1e3 * t",
    "千克": "kg",
    "公斤": "kg",
    "克": "g",
    "毫克": "mg",
    "微克": "ug",
    "立方米": "m**3",
    "万立方米": "1e4 * m**3",
    "亿立方米": "1e8 * m**3",
    "升": "L",
    "千升": "1e3 * L",
    "平方米": "m**2",
    "万平方米": "1e4 * m**2",
    "千瓦时": "kWh",
    "万千瓦时": "1e4 * kWh",
    "兆瓦时": "MWh",
    "千瓦": "kW",
    "兆瓦": "MW",
    "万千瓦": "1e4 * kW",
    "年": "year",
    "月": "month",
    "天": "day",
    "日": "day",
    "小时": "hour",
    "时": "hour",
    "米": "m",
    "万米": "1e4 * m",
    "千米": "km",
    "公里": "km",
}

_EXTRA_DEFINITIONS = [
    # counts of different things are different dimensions
    "piece = [piece] = pcs",
    "machine = [machine]",
    "vehicle = [vehicle]",
    "unit_set = [unit_set]",
    "item = [item]",
    "件 = piece",
    "万件 = 1e4 * piece",
    "台 = machine",
    "万台 = 1e4 * machine",
    "辆 = vehicle",
    "万辆 = 1e4 * vehicle",
    "套 = unit_set",
    "个 = item",
    "万个 = 1e4 * item",
    # gas volume at standard conditions (0 °C, 101.325 kPa)
    "normal_cubic_meter = [normal_volume] = Nm3",
    "标立方米 = normal_cubic_meter",
    "万标立方米 = 1e4 * normal_cubic_meter",
    # boiler capacity in tonnes of steam per hour (蒸吨/小时) is a mass flow
    "steam_tonne = t = t_steam",
    "蒸吨 = steam_tonne",
]

_ALIASES = {
    "µg": "ug",
    "μg": "ug",
    "m³": "m**3",
    "m²": "m**2",
    "m3": "m**3",
    "m2": "m**2",
    "nm3": "Nm3",
    "tonne": "t",
    "tonnes": "t",
    "ton": "t",
    "tons": "t",
    "kwh": "kWh",
    "mwh": "MWh",
    "mw": "MW",
    "kw": "kW",
    "pieces": "piece",
    "pcs": "piece",
    "vehicles": "vehicle",
    "machines": "machine",
    "sets": "unit_set",
    "set": "unit_set",
    "a": "year",
    "yr": "year",
    "h": "hour",
}


def _build_registry() -> pint.UnitRegistry:
    registry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    for line in _EXTRA_DEFINITIONS:
        registry.define(line)
    for name, definition in CHINESE_UNITS.items():
        registry.define(f"{name} = {definition}")
    return registry


#: The one registry of the package. Quantities from other registries do not mix with it.
ureg = _build_registry()

_TOKEN = re.compile(r"[A-Za-zµμ³²_][A-Za-z0-9µμ³²_]*|[\u4e00-\u9fff]+")


def _normalise(text: str) -> str:
    text = text.strip().replace("（", "(").replace("）", ")").replace("／", "/").replace("·", "*")
    text = text.replace("³", "**3").replace("²", "**2")

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        return _ALIASES.get(word, _ALIASES.get(word.lower(), word))

    return _TOKEN.sub(swap, text)


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> pint.Unit:
    """Parse a unit text (Chinese or English) into a pint unit.

    Parameters
    ----------
    text : str
        E.g. ``'万吨'``, ``'千克/吨'``, ``'kg/t'``, ``'MW'``, ``'蒸吨/小时'``, ``'µg/m³'``.

    Raises
    ------
    UnitError
        When the text is empty or names a unit the registry does not know.
    """
    if text is None or not str(text).strip():
        raise UnitError("empty unit text; expected a unit such as 't', '吨', 'kg/t' or '万立方米'")
    try:
        quantity = ureg.parse_expression(_normalise(str(text)))
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, SyntaxError,
            TypeError, ValueError, AttributeError) as error:
        raise UnitError(f"unknown unit {text!r}: {error}") from None
    if not isinstance(quantity, pint.Quantity):
        raise UnitError(f"{text!r} is a number, not a unit")
    if quantity.magnitude != 1:
        # '万吨' parses to 1e4 t: fold the factor into a scaled unit
        return _scaled(text, quantity)
    return quantity.units


def _scaled(text: str, quantity: pint.Quantity) -> pint.Unit:
    name = f"_scaled_{abs(hash(text))}"
    ureg.define(f"{name} = {quantity.magnitude!r} * {quantity.units:~C}")
    return ureg.Unit(name)


def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Factor f such that a value in ``from_unit`` times f is in ``to_unit``.

    Raises
    ------
    UnitError
        When either text is not a unit or the dimensions differ; the message
        names both units and both dimensions.
    """
    source, target = parse_unit(from_unit), parse_unit(to_unit)
    try:
        return float((1 * source).to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"cannot convert {from_unit!r} ({source.dimensionality}) to {to_unit!r} "
            f"({target.dimensionality})"
        ) from None


def canonical_unit_text(text: str) -> str:
    """The base-unit form of a unit text, for comparing and storing units."""
    unit = parse_unit(text)
    base = (1 * unit).to_base_units()
    return f"{base.units:~C}"
