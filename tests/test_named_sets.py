"""Named parameter sets: a set by name, or overrides of 'default'."""

import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.named_sets import named_set

SETS = {"default": {"a": 1.0, "b": 2.0}, "strict": {"a": 0.5, "b": 1.0}}


def test_by_name_is_a_copy():
    chosen = named_set(SETS, "strict", set_kind="set", parameter_kind="parameter")
    chosen["a"] = 9.0
    assert SETS["strict"]["a"] == 0.5


def test_overrides_complete_from_default_and_convert():
    chosen = named_set(SETS, {"b": "3"}, set_kind="set", parameter_kind="parameter",
                       convert=float)
    assert chosen == {"a": 1.0, "b": 3.0}


def test_unknown_set_and_parameter_list_the_valid_names():
    with pytest.raises(NotFoundError, match=r"unknown set 'lax'; valid: default, strict"):
        named_set(SETS, "lax", set_kind="set", parameter_kind="parameter")
    with pytest.raises(NotFoundError, match=r"unknown parameter 'c'; valid: a, b"):
        named_set(SETS, {"c": 1}, set_kind="set", parameter_kind="parameter")
