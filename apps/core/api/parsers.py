"""The one JSON parser of the API. It refuses, with a 400, what the storage layer cannot
hold or the process cannot walk: NUL characters (PostgreSQL text and jsonb refuse them),
lone UTF-16 surrogates (not encodable as UTF-8), numbers beyond a double's range (they would
decode to infinity, which neither JSON nor jsonb can hold), a key named twice in one object
(two readers could see two different documents, and the dropped value would escape the other
checks), and nesting deeper than ``MAX_DEPTH`` (every recursive walk after the decoder,
serializers and canonical JSON included, would overflow the stack). Refusing here, before any
view runs, covers every JSON column and text field at once.

Depth is counted where it is cheapest and safe. A body with at most ``SAFE_DECODE_DEPTH``
opening brackets (every real one: a batch of ten ZK-TX bundles has about 140) is decoded at
once, and the decoded value's depth is then measured level by level over its containers. Any
other body has its depth counted on the text before the decoder sees it: the C decoder
recurses once per level, guarded only by the interpreter's recursion limit, which is not a
bound on the stack once something raises it (a 100,000-deep body then crashed the process).
Every walk here is linear in the body: the path of a refused string is built from parent
links once one is found."""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ..crypto.canonical import has_lone_surrogate

MAX_DEPTH = 32
# The C decoder recurses once per level, and its guard is the interpreter's recursion limit,
# which a library (or a test runner) may raise past what a thread's stack holds. A body with
# at most this many opening brackets cannot nest deeper, so it is decoded at once; any other
# has its depth counted on the text first.
SAFE_DECODE_DEPTH = 1000
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class BodyRefused(ParseError):
    """A parse error with a precise code, mapped by the exception handler like any other."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code)
        self.tf_code, self.tf_details = code, details or {}


# A JSON string, or an unterminated one up to the end of the text. The closing quote is
# optional so the match never fails once it starts: a pattern that must find the closing
# quote would rescan the rest of the text from every later quote of an unterminated string
# (quadratic: a 200 KB body of ``"\"\"…`` would hold a web thread for tens of seconds).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text, counted without recursion (string
    contents are skipped, so brackets inside strings do not count). An unterminated string
    runs to the end of the text, as a character-by-character scan would read it.

    In text with no escaped quote (``\\"``) and no escaped backslash (``\\\\``), no escape
    can hide a ``"``: every one opens or closes a string, and splitting on ``"`` leaves the
    text outside strings at the even places (C passes; the common case, ``\\u`` escapes
    included). Otherwise strings are cut out by a linear regular expression. Either way only
    the brackets are left for the running sum."""
    plain = '\\"' not in text and "\\\\" not in text
    outside = "".join(text.split('"')[::2]) if plain else _STRING.sub("", text)
    steps = map(_DEPTH_STEP.__getitem__, _NOT_BRACKET.sub("", outside))
    return max(0, max(itertools.accumulate(steps), default=0))


# Where a NUL or a lone surrogate can come from in JSON text: the character itself, or a
# ``\u`` escape of NUL or of a surrogate. Text with neither cannot decode to one.
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _may_hold_bad(text: str) -> bool:
    """Cheapest tests first (substring searches, then a UTF-8 encode, which fails exactly on
    a lone surrogate); a regular expression only where the text has ``\\u`` escapes."""
    if "\x00" in text:
        return True
    if "\\u" in text and _BAD_ESCAPE.search(text):
        return True
    return has_lone_surrogate(text)


# A place in a decoded value: (the item, the place of its container or None, its key or index).
_Place = tuple[Any, "tuple[Any, Any, Any] | None", Any]


def _path(place: _Place, root: str) -> str:
    parts = []
    node: _Place | None = place
    while node is not None and node[1] is not None:
        parts.append(f"[{node[2]}]" if isinstance(node[2], int) else f".{node[2]}")
        node = node[1]
    return root + "".join(reversed(parts))


def check_json_value(value: Any, path: str = "$") -> None:
    """Refuse NUL and lone surrogates anywhere in a decoded value (keys included). Iterative,
    and linear: each item keeps a link to its container, not a copy of its path."""
    stack: list[_Place] = [(value, None, None)]
    while stack:
        place = stack.pop()
        item = place[0]
        if isinstance(item, str):
            _check_string(item, place, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, (key, place, "<key>"), path)
                stack.append((child, place, key))
        elif isinstance(item, list):
            stack.extend((child, place, i) for i, child in enumerate(item))


def _check_string(text: str, place: _Place, root: str) -> None:
    match = _BAD_CHARS.search(text)
    if match is None:
        return
    if match.group() == "\x00":
        raise BodyRefused(
            "nul_character", "Strings may not contain NUL (\\u0000) characters.", {"path": _path(place, root)}
        )
    raise BodyRefused(
        "invalid_unicode",
        "Strings may not contain unpaired UTF-16 surrogates (\\ud800-\\udfff).",
        {"path": _path(place, root)},
    )


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise BodyRefused("invalid_encoding", f"The body is not valid {encoding}.") from exc
        if not text.strip():
            raise ParseError("The body is empty; send a JSON document.")
        try:
            return loads_checked(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def loads_checked(text: str) -> Any:
    """``json.loads`` with this module's limits, for JSON that arrives outside the API parser
    (a textarea, an uploaded file): ``BodyRefused`` for what storage or the stack cannot
    take, ``ValueError`` for text that is not JSON."""
    opens = text.count("[") + text.count("{")
    if opens > SAFE_DECODE_DEPTH and _nesting_depth(text) > MAX_DEPTH:
        raise _too_deep()
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_object_once
        )
    except RecursionError as exc:  # defence in depth: the checks above come first
        raise _too_deep() from exc
    if opens > MAX_DEPTH and _value_depth(value) > MAX_DEPTH:
        raise _too_deep()
    if _may_hold_bad(text):  # otherwise no string in the value can hold one
        check_json_value(value)
    return value


def _value_depth(value: Any) -> int:
    """Nesting depth of a decoded value, one level at a time (iterative; it stops counting
    past ``MAX_DEPTH``). With every key once, equal to the depth of the text it came from."""
    level, depth = [value], 0
    while depth <= MAX_DEPTH:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = []
        for container in containers:
            level.extend(container.values() if isinstance(container, dict) else container)
    return depth


def _too_deep() -> BodyRefused:
    return BodyRefused(
        "too_deeply_nested",
        f"The JSON is nested more than {MAX_DEPTH} levels deep; at most {MAX_DEPTH} are accepted.",
        {"max_depth": MAX_DEPTH},
    )


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):  # the key itself is not echoed: it is the caller's data
        raise BodyRefused("duplicate_key", "An object names the same key twice; each key may appear once.")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("a number is beyond the range of a double (about ±1.8e308)")
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and PostgreSQL jsonb refuses them.
    raise ValueError(f"{name} is not a JSON number")
