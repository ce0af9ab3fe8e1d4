"""Whether a text column needs trimming, read from Arrow's buffers.

The expected answer is Python's own ``str.strip`` of the same whitespace: a column
needs trimming when some text differs from its stripped self.
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from sourcegrid.accounting.inputs import _WHITESPACE, _needs_trim

texts = st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ["a", "é", "中", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\u3000", "\xa0", "-"]),
    max_size=5)), max_size=30)


def _expected(values) -> bool:
    return any(v is not None and v != v.strip(_WHITESPACE) for v in values)


@given(texts, st.sampled_from([pa.string(), pa.large_string()]))
def test_agrees_with_str_strip(values, kind):
    assert _needs_trim(pa.array(values, type=kind)) == _expected(values)


@given(texts, st.integers(0, 30), st.integers(0, 30))
def test_a_slice_is_read_from_its_own_offset(values, start, length):
    array = pa.array(values, type=pa.string())
    part = array.slice(min(start, len(values)), length)
    assert _needs_trim(part) == _expected(part.to_pylist())


@given(st.lists(texts, max_size=4))
def test_chunked_columns(chunks):
    column = pa.chunked_array([pa.array(c, type=pa.string()) for c in chunks], type=pa.string())
    assert _needs_trim(column) == _expected([v for c in chunks for v in c])


def test_other_unicode_space_is_not_trimmed():
    # the engine's strip() removes ASCII whitespace only: an ideographic or no-break
    # space at the edge is part of the text
    assert not _needs_trim(pa.array(["\u3000中", "a\xa0"]))
    assert _needs_trim(pa.array(["中 "]))
