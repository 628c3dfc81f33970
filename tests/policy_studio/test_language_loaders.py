"""The parser gives the same document and the same problems (message, line, column) with
libyaml as with the pure-Python loader: libyaml only speeds up the success path."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy_studio.lac import language
from apps.policy_studio.lac.language import PolicySyntaxError, parse
from apps.policy_studio.library import TEMPLATES
from tests.conftest import FIXTURES

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="libyaml not installed")

SOURCES = [
    *(p.read_text() for p in sorted((FIXTURES / "policies").glob("*.yaml"))),
    *(t.source for t in TEMPLATES),
    "mode: enforce\nrules:\n  - id: a\n    effect: [allow\n",
    "mode: enforce\nrules:\n  - id: a\n    effect: perhaps\n",
    "mode: enforce\nrules: " + "[" * 40 + "]" * 40 + "\n",
    "mode: enforce\nrules: []\nconstraints:\n  - {id: c, max_degree: " + "9" * 60 + "}\n",
    "mode: enforce\nrules: []\n\tbad: tab\n",
    "a: b: c\n",
    "",
    "- just\n- a list\n",
    "mode: enforce\nrules: []\nmode: monitor\n",
    "mode: &a enforce\nrules: []\ndescription: *a\n",
    "mode: enforce\nrules: []\ndescription: !!binary aGVsbG8=\n",
]


def outcome(source: str):
    try:
        return ("ok", parse(source))
    except PolicySyntaxError as exc:
        return ("problems", [p.as_dict() for p in exc.problems])


def both(source: str, monkeypatch: pytest.MonkeyPatch):
    fast = outcome(source)
    with monkeypatch.context() as m:
        m.setattr(language, "_LOADERS", (yaml.SafeLoader,))
        slow = outcome(source)
    return fast, slow


@pytest.mark.parametrize("source", SOURCES)
def test_libyaml_and_python_agree(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = both(source, monkeypatch)
    assert fast == slow


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="mode:enforcrulsid-[]{},\n #&*!'\"\t0123456789", max_size=80))
def test_libyaml_and_python_agree_on_arbitrary_text(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow = both("mode: enforce\nrules: []\n" + text, monkeypatch)
        assert fast == slow
