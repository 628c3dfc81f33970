"""Error details on pages: field messages are shown whole, codes are left out, nothing is
ever split into letters (the old query page joined a code string character by character)."""

from hypothesis import given
from hypothesis import strategies as st

from apps.core.templatetags.problems import problem_lines

words = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
sentences = st.lists(words, min_size=2, max_size=5).map(" ".join)


@given(st.dictionaries(words, st.lists(sentences, min_size=1, max_size=3), max_size=4))
def test_field_messages_are_whole_sentences(details: dict[str, list[str]]) -> None:
    assert problem_lines(details) == [(k, "; ".join(v)) for k, v in details.items()]


@given(st.dictionaries(words, words, max_size=4))
def test_bare_codes_are_left_out(details: dict[str, str]) -> None:
    assert problem_lines(details) == []


def test_nested_details_get_dotted_names() -> None:
    assert problem_lines({"spec": {"hops": ["Must be at most 3."]}, "dataset": "not_found"}) == [
        ("spec.hops", "Must be at most 3.")
    ]
