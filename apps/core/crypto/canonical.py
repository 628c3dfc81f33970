"""Canonical JSON, versioned (pure: no Django imports).

Everything an outside verifier recomputes — manifests and their digests, checksum trees,
dataset content hashes, evidence bundles — is hashed and signed over a canonical encoding.
The encoding is versioned, because what was signed under one version must keep verifying:

* ``rfc8785`` (current): RFC 8785 (JCS) exactly, by the ``rfc8785`` package. Numbers use
  the ECMAScript shortest round-trip form (``1e-6`` is ``0.000001``; ``2**68`` as a float is
  ``295147905179352830000``); integers outside ±(2**53 − 1) and NaN/Infinity are refused.
* ``tf-jcs-1`` (legacy): the encoder PCQ manifests used before. It is JCS for strings, keys
  and small numbers but writes ``1e-6`` as ``1e-6`` and large integral floats digit by digit.
  Kept byte-for-byte so v1 manifests and v1 ZK-TX bundles still verify; never used for new data.
* ``tf-json-1`` (legacy): how dataset content hashes were computed before (Python's
  ``json.dumps`` with sorted keys: code-point key order, ``repr`` floats such as ``1e-06``).

Which version a document uses is named by the document (a manifest's ``schema``, an input's
``canonicalization``), never guessed.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

RFC8785 = "rfc8785"
TF_JCS_1 = "tf-jcs-1"
TF_JSON_1 = "tf-json-1"
CURRENT = RFC8785
VERSIONS = (RFC8785, TF_JCS_1, TF_JSON_1)
# Largest integer an IEEE 754 double (and so every JCS verifier) represents exactly.
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value has no canonical form in the requested version (e.g. NaN, a 2**60 integer)."""


def _json_is_jcs(value: Any) -> bool:
    """Whether Python's C JSON encoder (sorted keys, no spaces, UTF-8) writes exactly the
    RFC 8785 form of ``value``: true when there are no floats, every integer is a safe one,
    every key is ASCII (so code-point order is UTF-16 order) and no string holds a lone
    surrogate. Both encoders then escape the same characters the same way (``"``, ``\\``,
    ``\\b\\f\\n\\r\\t`` and other controls as lowercase ``\\u00xx``) and copy the rest
    (tests/core/test_canonical_fast.py checks them against each other with hypothesis)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if has_lone_surrogate(item):
                return False
        elif kind is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif item is not None and kind is not bool:
            return False  # floats, tuples and anything else: the reference encoder decides
    return True


def has_lone_surrogate(text: str) -> bool:
    """A lone UTF-16 surrogate (no UTF-8 form): the encode fails exactly then, in C, far
    quicker than a character-class search of non-ASCII text."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def canonicalize(value: Any, version: str = CURRENT) -> bytes:
    """The canonical UTF-8 bytes of ``value`` under ``version``."""
    if version == RFC8785:
        if _json_is_jcs(value):  # the same bytes, a C encoder instead of a Python one
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            return rfc8785.dumps(value)
        except rfc8785.CanonicalizationError as exc:
            raise CanonicalizationError(str(exc)) from exc
    if version == TF_JCS_1:
        out: list[str] = []
        _legacy_encode(value, out)
        return "".join(out).encode("utf-8")
    if version == TF_JSON_1:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    raise CanonicalizationError(f"unknown canonicalization {version!r}")


def digest(value: Any, version: str = CURRENT) -> str:
    """SHA-256 (hex) of the canonical form under ``version``."""
    return hashlib.sha256(canonicalize(value, version)).hexdigest()


def is_canonicalizable(value: Any) -> bool:
    """Whether a scalar has an RFC 8785 form (used to refuse such values at the door)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    return False


# --- tf-jcs-1: the legacy encoder, frozen ------------------------------------------------


def _legacy_number(value: float | int) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        raise CanonicalizationError("NaN and Infinity cannot be canonicalized")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def _legacy_encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(_legacy_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _legacy_encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _legacy_encode(value[key], out)
        out.append("}")
    else:
        raise TypeError(f"cannot canonicalize {type(value).__name__}")
