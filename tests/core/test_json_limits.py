"""The API parser's checks (apps/core/api/parsers.py) against plain references: the depth
counts (of the text, of the decoded value) must equal a character-by-character count; exactly
the bodies deeper than the limit, with a key named twice or a number beyond a double are
refused; the NUL / surrogate pre-check may skip the value walk only when the walk would find
nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.api import parsers


def depth_by_walk(text: str) -> int:
    """The reference: every character, tracking strings and escapes."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\x00\n', max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_depth_of_json_text_equals_the_walk(value) -> None:
    text = json.dumps(value)
    assert parsers._nesting_depth(text) == depth_by_walk(text)


escaped_values = st.recursive(
    st.integers() | st.text(alphabet="[]{}ab\n\x00\u201c\u2264é", max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet="[]{}k\u201d", max_size=4), inner),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(escaped_values, st.booleans())
def test_depth_of_text_with_u_escapes_equals_the_walk(value, ascii_only) -> None:
    """The split-on-quotes path: ``\\u`` and ``\\n`` escapes, no escaped quote or backslash."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert '\\"' not in text and "\\\\" not in text
    assert parsers._nesting_depth(text) == depth_by_walk(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='[]{}"\\ ax', max_size=60))
def test_depth_of_any_text_equals_the_walk(text) -> None:
    """Broken JSON too (an unterminated string, a trailing backslash)."""
    assert parsers._nesting_depth(text) == depth_by_walk(text)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_depth_of_a_decoded_value_equals_the_walk_of_its_text(value) -> None:
    text = json.dumps(value)
    assert parsers._value_depth(json.loads(text)) == min(depth_by_walk(text), parsers.MAX_DEPTH + 1)


@st.composite
def nested(draw: st.DrawFn) -> tuple[object, int]:
    """A value nested exactly ``depth`` levels (lists and dicts mixed, each with a leaf beside)."""
    depth = draw(st.integers(0, 2 * parsers.MAX_DEPTH))
    value: object = draw(st.integers() | st.text(alphabet="[]{}", max_size=3))
    for _ in range(depth):
        sibling = draw(st.integers() | st.text(alphabet='[]{}"', max_size=3))
        value = [sibling, value] if draw(st.booleans()) else {"s": sibling, "v": value}
    return value, depth


@settings(max_examples=300, deadline=None)
@given(nested())
def test_the_parser_refuses_exactly_what_is_nested_past_the_limit(case) -> None:
    value, depth = case
    text = json.dumps(value)
    if depth > parsers.MAX_DEPTH:
        with pytest.raises(parsers.BodyRefused, match="nested more than 32 levels deep"):
            parsers.loads_checked(text)
    else:
        assert parsers.loads_checked(text) == value


def test_a_body_deeper_than_the_decoder_allows_is_refused_with_its_depth() -> None:
    """The C decoder's own recursion guard fires first; the answer is the same refusal."""
    with pytest.raises(parsers.BodyRefused, match="nested more than 32 levels deep"):
        parsers.loads_checked("[" * 100_000 + "]" * 100_000)


def test_an_unterminated_string_of_escaped_quotes_is_refused_in_linear_time() -> None:
    """The shape that makes a must-close string pattern rescan from every quote (quadratic:
    this body would take tens of seconds there). Here it is one pass; json refuses it."""
    body = '"' + '\\"' * 100_000 + "[" * 2000
    assert parsers._STRING.match(body).end() == len(body)  # one match runs to the end
    with pytest.raises(ValueError):
        parsers.loads_checked(body)


def test_a_deep_body_is_refused_even_where_the_recursion_limit_was_raised() -> None:
    """The C decoder's only guard is the recursion limit; raised (as test runners and some
    libraries do), a 100,000-deep body crashed the process. In a child process, so that a
    regression fails this test instead of killing the run."""
    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'trustfabric.settings')\n"
        "import django; django.setup(); sys.setrecursionlimit(10**6)\n"
        "from apps.core.api import parsers\n"
        "for body in ('[' * 200_000 + ']' * 200_000, '{\"a\":' * 100_000 + '1' + '}' * 100_000):\n"
        "    try:\n"
        "        parsers.loads_checked(body)\n"
        "    except parsers.BodyRefused as exc:\n"
        "        print(exc.tf_code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout.split()) == (0, ["too_deeply_nested", "too_deeply_nested"]), done.stderr[-800:]


def _containers(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(_containers(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_containers(v) for v in value)
    return 0


def _dumps_twice(value: object, target: int, seen: list[int]) -> str:
    """``json.dumps``, except that the ``target``-th container (depth first) names a key twice."""
    here = seen[0] if isinstance(value, dict | list) else None
    if here is not None:
        seen[0] += 1
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {_dumps_twice(v, target, seen)}" for k, v in value.items()]
        items += ['"dup": 1', '"dup": 2'] if here == target else []
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        items = [_dumps_twice(v, target, seen) for v in value]
        items += ['{"dup": 1, "dup": 2}'] if here == target else []
        return "[" + ", ".join(items) + "]"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(json_values, st.data())
def test_a_key_named_twice_anywhere_is_refused(value, data) -> None:
    """A repeated key in any container of any value is refused, whatever the rest holds (the
    dropped value would otherwise escape every other check, and two readers could disagree)."""
    assert json.loads(_dumps_twice(value, -1, [0])) == value  # the writer itself is faithful
    count = _containers(value)
    if not count:
        return
    text = _dumps_twice(value, data.draw(st.integers(0, count - 1)), [0])
    with pytest.raises(parsers.BodyRefused) as refused:
        parsers.loads_checked(text)
    assert refused.value.tf_code == "duplicate_key"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.8e308", "[1e309]", '{"x": -2e308}'])
def test_numbers_beyond_a_double_are_refused(number) -> None:
    """They would decode to infinity, which JSON and PostgreSQL jsonb cannot hold (and which
    broke rendering the error answer itself)."""
    with pytest.raises(ValueError, match="beyond the range of a double"):
        parsers.loads_checked(number)


def test_the_largest_doubles_and_long_integers_pass() -> None:
    assert parsers.loads_checked("[1.7976931348623157e308, -1e-400, 12345678901234567890123]") == [
        1.7976931348623157e308,
        -0.0,
        12345678901234567890123,
    ]


def test_the_path_of_a_refused_string_is_exact_and_built_only_then() -> None:
    """A long key above a wide list cost key length × list length when every item carried a
    copy of its path; with parent links each item is one tuple."""
    wide = {"k" * 30_000: [0] * 30_000 + [{"b": ["x", "\x00"]}], "e": "\ud83d\ude00"}
    text = json.dumps(wide)
    tracemalloc.start()
    try:
        with pytest.raises(parsers.BodyRefused) as refused:
            parsers.loads_checked(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.tf_details == {"path": f"$.{'k' * 30_000}[30000].b[1]"}
    assert peak < 30 * 2**20, peak  # copied paths: about 900 MB for this 90 KB body


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_a_nul_anywhere_is_refused_with_or_without_the_precheck(value, ascii_only) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        parsers.check_json_value(value)
        expected = None
    except parsers.BodyRefused as exc:
        expected = exc.tf_code
    if depth_by_walk(text) > parsers.MAX_DEPTH:
        return
    try:
        parsers.loads_checked(text)
        got = None
    except parsers.BodyRefused as exc:
        got = exc.tf_code
    assert got == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"a": "x\\u0000"}', "nul_character"),
        ('["\\ud800"]', "invalid_unicode"),
        ('{"\\uDFFF": 1}', "invalid_unicode"),
        ('["\\ud83d\\ude00"]', None),  # a pair is one character, not a lone surrogate
        ('["\\\\u0000"]', None),  # an escaped backslash, then the letters u0000
    ],
)
def test_escapes_that_decode_to_nul_or_a_lone_surrogate_are_refused(text, code) -> None:
    if code is None:
        assert parsers.loads_checked(text)
    else:
        with pytest.raises(parsers.BodyRefused) as refused:
            parsers.loads_checked(text)
        assert refused.value.tf_code == code
