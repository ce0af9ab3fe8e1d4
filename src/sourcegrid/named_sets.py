"""Named parameter sets: pick one by name, or override some values of 'default'.

Thresholds and uncertainties live in module constants as named sets (like pvlib's
parameter dictionaries), ``{set name: {parameter: value}}`` with a 'default' set. A
caller names a set, or passes a mapping of the parameters to change; a wrong set name or
an unknown parameter raises :class:`sourcegrid.errors.NotFoundError` listing the valid
names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sourcegrid.errors import NotFoundError

__all__ = ["named_set"]


def named_set(sets: Mapping[str, Mapping[str, Any]], name: str | Mapping[str, Any], *,
              set_kind: str, parameter_kind: str,
              convert: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """A copy of the set called ``name``, or 'default' with the values of a mapping.

    Parameters
    ----------
    sets : mapping
        ``{set name: {parameter: value}}``, with a 'default' set when overrides are used.
    name : str or mapping
        Name of a set, or ``{parameter: value}`` overriding some values of 'default'.
    set_kind, parameter_kind : str
        What a set and a parameter are called in the error message ("QC parameter set",
        "QC parameter").
    convert : callable, optional
        Applied to each overriding value (``float`` for numbers given as text).

    Raises
    ------
    NotFoundError
        Unknown set name, or an override of a parameter 'default' does not have.

    Examples
    --------
    >>> named_set({"default": {"a": 1, "b": 2}}, {"b": 3}, set_kind="set",
    ...           parameter_kind="parameter")
    {'a': 1, 'b': 3}
    """
    if isinstance(name, Mapping):
        merged = dict(sets["default"])
        unknown = set(name) - set(merged)
        if unknown:
            raise NotFoundError(parameter_kind, sorted(unknown)[0], merged)
        merged.update({key: convert(value) if convert else value for key, value in name.items()})
        return merged
    if name not in sets:
        raise NotFoundError(set_kind, name, sets)
    return dict(sets[name])
