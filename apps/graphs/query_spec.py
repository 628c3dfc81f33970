"""The query spec: a JSON document, validated by JSON Schema (pure; no Django)."""

from __future__ import annotations

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
    },
    "required": ["seeds", "metric", "purpose", "reason"],
    "oneOf": [{"required": ["dataset"]}, {"required": ["view"]}],
}
_validator = jsonschema.Draft202012Validator(QUERY_SCHEMA)


class QuerySpecError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        first_path, messages = next(iter(errors.items()))
        super().__init__(f"{first_path}: {messages[0]}")


def validate_query_spec(spec: Any) -> dict[str, Any]:
    """Return the spec with defaults filled in, or raise QuerySpecError naming each bad path."""
    errors: dict[str, list[str]] = {}
    for error in sorted(_validator.iter_errors(spec), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        message = error.message
        if error.validator == "oneOf" and not error.absolute_path:
            message = 'give exactly one of "dataset" or "view"'
        elif error.validator == "additionalProperties":
            message = f"unknown field(s): {message.split('(')[-1].rstrip(')')}"
        errors.setdefault(path, []).append(message)
    if errors:
        raise QuerySpecError(errors)
    if spec["metric"] == "shortest_paths" and "target" not in spec:
        raise QuerySpecError({"target": ["shortest_paths needs a target node"]})
    return {"node_filter": {}, "edge_filter": {}, "fields": [], "offset": 0, "random_seed": 7, **spec}
