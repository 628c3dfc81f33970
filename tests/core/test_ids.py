import uuid

from hypothesis import given
from hypothesis import strategies as st

from apps.core.ids import is_uuid


@given(st.uuids())
def test_every_uuid_form_is_one(value: uuid.UUID) -> None:
    assert is_uuid(value) and is_uuid(str(value)) and is_uuid(value.hex) and is_uuid(str(value).upper())


@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.integers()), st.floats()))
def test_anything_else_is_not_and_never_raises(value: object) -> None:
    try:
        expected = bool(uuid.UUID(str(value)))
    except ValueError:
        expected = False
    assert is_uuid(value) is expected
