import uuid

from hypothesis import given
from hypothesis import strategies as st

from apps.core.ids import is_uuid


@given(st.uuids())
def test_every_uuid_form_is_one(value: uuid.UUID) -> None:
    assert is_uuid(value) and is_uuid(str(value)) and is_uuid(value.hex) and is_uuid(str(value).upper())


@given(
    st.one_of(
        st.text(alphabet="ghijklmnopqrstuvwxyz-{}: \n", max_size=40),  # no hex digits: never 32 of them
        st.text(alphabet="0123456789abcdef", max_size=31),  # too few
        st.text(alphabet="0123456789abcdef", min_size=33, max_size=40),  # too many
        st.integers(),
        st.none(),
        st.lists(st.integers()),
        st.floats(),
    )
)
def test_anything_else_is_not_and_never_raises(value: object) -> None:
    assert is_uuid(value) is False
