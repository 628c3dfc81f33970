"""The parser composes once and constructs the document from that node: the same document
``yaml.safe_load`` gives, for valid and invalid text alike."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy_studio.lac.language import PolicySyntaxError, _load, parse
from apps.policy_studio.library import TEMPLATES
from tests.conftest import FIXTURES

SOURCES = [
    *(p.read_text() for p in sorted((FIXTURES / "policies").glob("*.yaml"))),
    *(t.source for t in TEMPLATES),
    "mode: &a enforce\nrules: []\ndescription: *a\n",
    "mode: enforce\nrules: []\nmode: monitor\n",
    "",
    "- just\n- a list\n",
]


def two_passes(source: str):
    try:
        return ("ok", yaml.compose(source, Loader=yaml.SafeLoader) is None, yaml.safe_load(source))
    except yaml.YAMLError as exc:
        return ("error", str(exc))


def one_pass(source: str):
    try:
        root, document = _load(source)
        return ("ok", root is None, document)
    except yaml.YAMLError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("source", SOURCES)
def test_one_parse_gives_what_safe_load_gives(source: str) -> None:
    assert one_pass(source) == two_passes(source)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="mode:enforcrulsid-[]{},\n #&*!'\"\t0123456789?|>%@`~\r\x85\ufeff", max_size=60))
def test_one_parse_gives_what_safe_load_gives_on_arbitrary_text(text: str) -> None:
    source = "mode: enforce\nrules: []\n" + text
    assert one_pass(source) == two_passes(source)


def test_keys_of_mixed_types_are_a_problem_not_a_crash() -> None:
    # YAML keys may be null and integers at once; naming them must not compare None with 1.
    with pytest.raises(PolicySyntaxError) as exc:
        parse("mode: enforce\nrules: []\n~: 1\n1: 2\n")
    assert exc.value.problems[0].message.startswith("unknown key(s) 1, None;")
