"""canonical.canonicalize's fast path (Python's C JSON encoder) must write exactly what the
rfc8785 package writes, for every value it takes; everything else goes to the package."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.crypto import canonical

SAFE = canonical.MAX_SAFE_INTEGER
any_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.text(
    alphabet='\x00\x01\x1f\x7f"\\/\u2028\u2029é𝄞', max_size=8
)
scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | any_text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=600, deadline=None)
@given(values)
def test_fast_path_writes_the_rfc8785_bytes(value) -> None:
    assert canonical.canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.recursive(scalars | st.floats(allow_nan=False, allow_infinity=False), lambda i: st.lists(i, max_size=3)))
def test_values_with_floats_still_match(value) -> None:
    assert canonical.canonicalize(value) == rfc8785.dumps(value)


def test_what_the_fast_path_declines() -> None:
    assert canonical._json_is_jcs({"a": [1, "x", None, True]})
    assert not canonical._json_is_jcs({"é": 1})  # key order would be code points, not UTF-16
    assert not canonical._json_is_jcs([1.5])
    assert not canonical._json_is_jcs([2**53])
    assert not canonical._json_is_jcs(["\ud800"])
    assert not canonical._json_is_jcs((1, 2))
