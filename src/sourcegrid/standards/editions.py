"""Editions of a standard: read an edition as written, and find the one in force on a date.

HJ 633 and GB 3095 each have a 2012 and a 2026 edition, the 2026 one in force from
2026-03-01 (cover pages). An edition may be given as ``2026``, ``'2026'`` or the full code
``'HJ 633-2026'`` (also with the long dash of printed standards, ``'HJ 633—2026'``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sourcegrid.errors import NotFoundError

__all__ = ["check_edition", "edition_in_force"]


def check_edition(edition: str | int, *, standard: str, editions: Sequence[str]) -> str:
    """The edition year as text; NotFoundError naming the valid ones for any other.

    Parameters
    ----------
    edition : str or int
        ``2026``, ``'2026'`` or ``'<standard>-2026'``.
    standard : str
        Code of the standard without the year, e.g. ``'HJ 633'``; its letters (``HJ``)
        mark a full code.
    editions : sequence of str
        The edition years known.

    Examples
    --------
    >>> check_edition("HJ 633—2026", standard="HJ 633", editions=("2012", "2026"))
    '2026'
    """
    text = str(edition).strip()
    if text.upper().startswith(standard.split()[0].upper()):
        text = text.replace("—", "-").rsplit("-", 1)[-1]
    if text not in editions:
        raise NotFoundError(f"{standard} edition", str(edition), editions)
    return text


def edition_in_force(date: dt.date, in_force: Mapping[str, dt.date]) -> str:
    """The latest edition whose first day in force is on or before a (local) date.

    Parameters
    ----------
    date : datetime.date
        The day, in local (Beijing) time.
    in_force : mapping
        ``{edition: first day in force}``; the oldest edition may use ``datetime.date.min``.

    Examples
    --------
    >>> edition_in_force(dt.date(2026, 3, 1), {"2012": dt.date.min, "2026": dt.date(2026, 3, 1)})
    '2026'
    """
    started = [edition for edition, first in in_force.items() if first <= date]
    if not started:
        raise NotFoundError(f"edition in force on {date.isoformat()}", date.isoformat(),
                            in_force)
    return max(started, key=lambda edition: in_force[edition])
