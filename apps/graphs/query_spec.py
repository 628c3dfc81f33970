"""The query spec: a JSON document, validated by JSON Schema (pure; no Django)."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import jsonschema

METRICS = ("neighbourhood", "degree", "pagerank", "betweenness", "shortest_paths", "communities")
_SCALAR = {"type": ["string", "number", "boolean"]}
_FILTER = {
    "type": "object",
    "maxProperties": 10,
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR, "maxItems": 100}]},
}
QUERY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Trust Fabric graph query",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "dataset": {"type": "string", "minLength": 1, "maxLength": 64},
        "view": {"type": "string", "minLength": 1, "maxLength": 64},
        "seeds": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 200},
            "minItems": 1,
            "maxItems": 100,
        },
        "hops": {"type": "integer", "minimum": 0, "maximum": 10},
        "node_filter": _FILTER,
        "edge_filter": _FILTER,
        "metric": {"enum": list(METRICS)},
        "target": {"type": "string", "minLength": 1, "maxLength": 200},
        "fields": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 10000},
        "offset": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "purpose": {"type": "string", "minLength": 1, "maxLength": 64},
        "reason": {"type": "string", "minLength": 3, "maxLength": 2000},
        "random_seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "grant": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    },
    "required": ["seeds", "metric", "purpose", "reason"],
    "oneOf": [{"required": ["dataset"]}, {"required": ["view"]}],
}
# JSON Schema counts 2.0 as an integer; Python's slicing and seeding do not. An integer field
# takes integers only, so ``top_k: 2.0`` is a 400, not a crash later in execution.
_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_StrictValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_STRICT_TYPES)
_validator = _StrictValidator(QUERY_SCHEMA)


# A filter value shaped like a period ("2026", "2026-06", "2026-06-01") is read as one, so it
# must be a real one: "2026-13" or "0000" is a 400, not a filter that silently matches nothing.
_PERIOD_SHAPE = re.compile(r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")


def _valid_period(v: str) -> bool:
    parts = [int(p) for p in v.split("-")]
    try:
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return False
    return True


class QuerySpecError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        first_path, messages = next(iter(errors.items()))
        super().__init__(f"{first_path}: {messages[0]}")


def validate_query_spec(spec: Any) -> dict[str, Any]:
    """Return the spec with defaults filled in, or raise QuerySpecError naming each bad path."""
    errors = _schema_errors(spec)
    for path, text in _strings(spec):
        if "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            errors.setdefault(path or "(root)", []).append("text must not contain NUL bytes or unpaired surrogates")
    if isinstance(spec, dict):
        for path, values in _filter_values(spec):
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                errors.setdefault(path, []).append("numbers must be finite (no NaN or Infinity)")
        reason = spec.get("reason")
        if isinstance(reason, str) and len(reason.strip()) < 3:
            errors.setdefault("reason", []).append("give a reason of at least 3 characters other than spaces")
        for path, values in _filter_values(spec):
            for v in values:
                if isinstance(v, str) and _PERIOD_SHAPE.match(v) and not _valid_period(v):
                    errors.setdefault(path, []).append(
                        f"{v!r} is not a valid period (a year 0001-9999, a month 01-12, a real day)"
                    )
    if errors:
        raise QuerySpecError(errors)
    if spec["metric"] == "shortest_paths" and "target" not in spec:
        raise QuerySpecError({"target": ["shortest_paths needs a target node"]})
    return {"node_filter": {}, "edge_filter": {}, "fields": [], "offset": 0, "random_seed": 7, **spec}


def _schema_errors(spec: Any) -> dict[str, list[str]]:
    """The JSON Schema's complaints by path, in words a query author reads."""
    errors: dict[str, list[str]] = {}
    for error in sorted(_validator.iter_errors(spec), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        message = error.message
        if error.validator == "oneOf" and not error.absolute_path:
            message = 'give exactly one of "dataset" or "view"'
        elif error.validator == "additionalProperties":
            message = f"unknown field(s): {message.split('(')[-1].rstrip(')')}"
        errors.setdefault(path, []).append(message)
    return errors


def _filter_values(spec: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """Each filter key's path and its values as a list (a single value is a list of one)."""
    out = []
    for name in ("node_filter", "edge_filter"):
        filters = spec.get(name)
        for key, value in filters.items() if isinstance(filters, dict) else ():
            out.append((f"{name}/{key}", value if isinstance(value, list) else [value]))
    return out


def _strings(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Every string in the spec (keys included), with its path; the schema bounds the depth,
    the guard keeps an invalid spec from recursing far."""
    if depth > 6:
        return []
    if isinstance(value, str):
        return [(path, value)]
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}/{k}" if path else str(k)
            if isinstance(k, str):
                out.append((sub, k))
            out += _strings(v, sub, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value[:200]):
            out += _strings(v, f"{path}/{i}", depth + 1)
    return out
