"""Editions as written, and the edition in force on a date (cover pages: 2026-03-01)."""

import datetime as dt

import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.standards import editions, gb3095, hj633


@pytest.mark.parametrize("written", [2026, "2026", " 2026 ", "HJ 633-2026", "HJ 633—2026",
                                     "hj633-2026"])
def test_hj633_edition_as_written(written):
    assert hj633.check_edition(written) == "2026"


def test_gb3095_full_code():
    assert gb3095.check_edition("GB 3095-2012") == "2012"


def test_unknown_edition_names_the_valid_ones():
    with pytest.raises(NotFoundError, match=r"unknown HJ 633 edition '2019'; valid: 2012, 2026"):
        hj633.check_edition(2019)
    with pytest.raises(NotFoundError, match="GB 3095 edition"):
        gb3095.check_edition("GB 3095-1996")


@pytest.mark.parametrize("module", [hj633, gb3095])
def test_in_force_from_the_cover_date(module):
    # Both 2026 editions: 实施 2026-03-01 (cover pages); the day before is the 2012 edition.
    assert module.edition_for_date(dt.date(2026, 2, 28)) == "2012"
    assert module.edition_for_date(dt.date(2026, 3, 1)) == "2026"
    assert module.edition_for_date(dt.date(2013, 1, 1)) == "2012"


def test_no_edition_in_force_before_the_first():
    with pytest.raises(NotFoundError):
        editions.edition_in_force(dt.date(2000, 1, 1), {"2012": dt.date(2012, 2, 29)})
