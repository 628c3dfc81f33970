"""The policy language: YAML validated by a JSON Schema, with line and column in errors,
compiled once into ``CompiledPolicy``.

```yaml
mode: enforce                 # enforce (blocks) or monitor (logs would-be denials)
rules:                        # deny beats allow; nothing matches = deny
  - id: analysts-investigate
    effect: allow
    when: {role: [analyst], purpose: [investigation], data_class: [P2, P3]}
constraints:                  # graph-shape limits, checked at plan time and on the result
  - id: p1-shape
    applies_to: {data_class: [P0, P1]}
    max_component_size: 50
    max_path_length: 2
    max_degree: 25
minimize:                     # transforms applied to results after LAC
  - {id: mask-phone, transform: mask, attributes: [phone], keep_last: 2}
tests:                        # the policy's own tests (lac/policy_tests.py), never compiled
  - {id: analyst-may, subject: {role: [analyst]}, resource: {data_class: [P2]},
     purpose: investigation, expect: allow, reasons: ["rule:analysts-investigate"]}
```
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
import yaml

DATA_CLASSES = ["P0", "P1", "P2", "P3"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ROLES = ["admin", "policy_author", "approver", "auditor", "analyst", "partner"]
_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 100}, "minItems": 1}
_CLASSES = {"type": "array", "items": {"enum": DATA_CLASSES}, "minItems": 1, "uniqueItems": True}
_SCOPE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"data_class": _CLASSES, "dataset": _STRINGS, "view": _STRINGS},
}
_POSINT = {"type": "integer", "minimum": 0}

CONDITION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "role": {"type": "array", "items": {"enum": ROLES}, "minItems": 1},
        "group": _STRINGS,
        "clearance": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"min": _POSINT},
            "required": ["min"],
        },
        "dataset": _STRINGS,
        "view": _STRINGS,
        "data_class": _CLASSES,
        "license": _STRINGS,
        "legal_authority": _STRINGS,
        "purpose": _STRINGS,
        "hours": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "from": {"type": "integer", "minimum": 0, "maximum": 23},
                "to": {"type": "integer", "minimum": 1, "maximum": 24},
            },
            "required": ["from", "to"],
        },
        "weekdays": {"type": "array", "items": {"enum": WEEKDAYS}, "minItems": 1},
        "max_dataset_age_days": {"type": "integer", "minimum": 1},
    },
}

# The policy's own tests (like ``opa test``): example requests with the expected decision and,
# optionally, reason codes the decision must carry ("rule:<id>", "RULE_DENY", "JIT_REQUIRED").
# They never reach the compiled form; the Studio's promotion gate runs them (lac/policy_tests.py).
TESTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 500,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "expect"],
        "properties": {
            "id": _ID,
            "description": {"type": "string"},
            "subject": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "role": {"type": "array", "items": {"enum": ROLES}},
                    "group": {"type": "array", "items": {"type": "string", "maxLength": 100}},
                    "clearance": {"type": "integer", "minimum": 0, "maximum": 10},
                },
            },
            "resource": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "dataset": {"type": "string", "maxLength": 100},
                    "view": {"type": "string", "maxLength": 100},
                    "data_class": _CLASSES,
                    "license": {"type": "string", "maxLength": 100},
                    "legal_authority": {"type": "string", "maxLength": 100},
                    "age_days": _POSINT,
                },
            },
            "purpose": {"type": "string", "maxLength": 100},
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "weekday": {"enum": WEEKDAYS},
            "expect": {"enum": ["allow", "deny"]},
            "reasons": _STRINGS,
        },
    },
}

POLICY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["mode", "rules"],
    "properties": {
        "description": {"type": "string"},
        "mode": {"enum": ["enforce", "monitor"]},
        "rules": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "effect"],
                "properties": {
                    "id": _ID,
                    "effect": {"enum": ["allow", "deny"]},
                    "description": {"type": "string"},
                    "when": CONDITION_SCHEMA,
                },
            },
        },
        "constraints": {
            "type": "array",
            "maxItems": 200,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id"],
                "minProperties": 2,
                "properties": {
                    "id": _ID,
                    "applies_to": _SCOPE,
                    "max_component_size": {"type": "integer", "minimum": 1},
                    "max_path_length": _POSINT,
                    "max_degree": _POSINT,
                    "max_results": {"type": "integer", "minimum": 1},
                    "max_cumulative_component": {"type": "integer", "minimum": 1},
                    "max_result_denials": {"type": "integer", "minimum": 0, "maximum": 1000},
                },
            },
        },
        "jit": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "when"],
                "properties": {
                    "id": _ID,
                    "description": {"type": "string"},
                    "when": CONDITION_SCHEMA,
                    "approvers": {"enum": [1, 2]},
                    "approver_groups": _STRINGS,
                    "fallback_groups": _STRINGS,
                    "max_wait_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
                    "reminder_minutes": {"type": "integer", "minimum": 1},
                    "escalate_after_minutes": {"type": "integer", "minimum": 1},
                    "max_grant_minutes": {"type": "integer", "minimum": 1, "maximum": 43200},
                    "high_risk": {"type": "boolean"},
                },
            },
        },
        "tests": TESTS_SCHEMA,
        "minimize": {
            "type": "array",
            "maxItems": 200,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "transform"],
                "properties": {
                    "id": _ID,
                    "transform": {"enum": ["mask", "hash", "bucket", "truncate_date", "redact", "min_results"]},
                    "attributes": _STRINGS,
                    "applies_to": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"data_class": _CLASSES},
                    },
                    "keep_last": {"type": "integer", "minimum": 0, "maximum": 32},
                    "width": {"type": "number", "exclusiveMinimum": 0},
                    "edges": {"type": "array", "items": {"type": "number"}, "minItems": 1},
                    "unit": {"enum": ["day", "month", "year"]},
                    "min_count": {"type": "integer", "minimum": 1},
                },
            },
        },
    },
}
_validator = jsonschema.Draft202012Validator(POLICY_SCHEMA)


@dataclass(frozen=True)
class PolicyProblem:
    line: int
    column: int
    path: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "path": self.path, "message": self.message}


class PolicySyntaxError(ValueError):
    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        p = problems[0]
        super().__init__(f"line {p.line}, column {p.column}: {p.message}")


@dataclass(frozen=True)
class Rule:
    id: str
    effect: str
    when: dict[str, Any]


@dataclass(frozen=True)
class Constraint:
    id: str
    applies_to: dict[str, list[str]]
    max_component_size: int | None = None
    max_path_length: int | None = None
    max_degree: int | None = None
    max_results: int | None = None
    max_cumulative_component: int | None = None
    # Result-stage denials a subject may collect per dataset in 24 hours before every further
    # query there is refused at plan time (a denial still says "more than the limit": one bit).
    max_result_denials: int | None = None


@dataclass(frozen=True)
class MinimizeRule:
    id: str
    transform: str
    attributes: tuple[str, ...] = ()
    data_classes: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def covers(self, attribute: str, data_class: str | None) -> bool:
        return attribute in self.attributes or (data_class is not None and data_class in self.data_classes)


@dataclass(frozen=True)
class JitRule:
    """An allow rule that also needs a just-in-time grant: matching it without a grant is a
    denial with a "request access" path; with an active grant for the scope it allows."""

    id: str
    when: dict[str, Any]
    approvers: int = 1
    approver_groups: tuple[str, ...] = ()
    fallback_groups: tuple[str, ...] = ()
    max_wait_minutes: int = 60
    reminder_minutes: int = 15
    escalate_after_minutes: int = 30
    max_grant_minutes: int = 240
    high_risk: bool = False

    @property
    def effect(self) -> str:
        return "allow"


@dataclass(frozen=True)
class CompiledPolicy:
    source_hash: str
    mode: str
    allow: tuple[Rule, ...]
    deny: tuple[Rule, ...]
    constraints: tuple[Constraint, ...]
    minimize: tuple[MinimizeRule, ...]
    document: dict[str, Any]
    jit: tuple[JitRule, ...] = ()


def _mark_for(root: yaml.Node | None, path: list[Any], *, at_key: bool = False) -> tuple[int, int]:
    """Line and column (1-based) of the YAML value at ``path`` (or of its key, with
    ``at_key``), falling back to the nearest parent that exists."""
    node = root
    best = (1, 1) if root is None else (root.start_mark.line + 1, root.start_mark.column + 1)
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == step), None)
            if pair is None:
                break
            key, node = pair
            mark = key.start_mark if (at_key and last) else node.start_mark
            best = (mark.line + 1, mark.column + 1)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            best = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            break
    return best


def _friendly(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=repr)
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown key(s) {', '.join(map(repr, extra))}; expected one of: {allowed}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required here")
    if error.validator == "minProperties":
        return "give at least one limit (max_component_size, max_path_length, max_degree, …)"
    return str(error.message)


class _Mark(Protocol):
    """A YAML position (the pure-Python and the C loader each have their own Mark class)."""

    line: int
    column: int


def _position(mark: _Mark | None) -> tuple[int, int]:
    """1-based (line, column) of a YAML mark; the start of the text when there is none."""
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def parse(source: str) -> dict[str, Any]:
    """Parse and validate; raise PolicySyntaxError with every problem's line and column."""
    if len(source) > 200_000:
        raise PolicySyntaxError([PolicyProblem(1, 1, "", "policy is larger than 200,000 characters")])
    document: dict[str, Any] | None
    try:
        _check_shape(source)
        root, document = _load(source)
    except yaml.MarkedYAMLError as exc:
        line, col = _position(exc.problem_mark or exc.context_mark)
        raise PolicySyntaxError([PolicyProblem(line, col, "", f"YAML syntax: {exc.problem or exc.context}")]) from exc
    except yaml.YAMLError as exc:
        raise PolicySyntaxError([PolicyProblem(1, 1, "", f"YAML syntax: {exc}")]) from exc
    if document is None or root is None:
        raise PolicySyntaxError([PolicyProblem(1, 1, "", "the policy is empty; it needs at least mode and rules")])
    problems = []
    for error in sorted(_validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=repr)
            line, col = _mark_for(root, [*path, extra[0]], at_key=True)
        else:
            line, col = _mark_for(root, path)
        problems.append(PolicyProblem(line, col, "/".join(map(str, path)), _friendly(error)))
    if not problems:
        problems = _semantic_problems(document, root)
    if problems:
        raise PolicySyntaxError(sorted(problems, key=lambda p: (p.line, p.column)))
    return document


def _load(source: str) -> tuple[yaml.Node | None, Any]:
    """The composed root node and the document constructed from it: one parse (what
    ``yaml.safe_load`` does after composing), not a second one for the document."""
    loader = yaml.SafeLoader(source)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40
_NUMBERISH = re.compile(r"^[-+]?(0[xob])?[0-9a-fA-F_:.]+([eE][-+]?[0-9_]+)?$")


def _check_shape(source: str) -> None:
    """Refuse what would crash the YAML loader, with line and column, before loading it:
    nesting deeper than any policy needs (the composer recurses per level) and numbers longer
    than any policy needs (Python refuses to convert integers past its digit limit). Walks the
    event stream, which is iterative."""
    depth = 0
    for event in yaml.parse(source, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise PolicySyntaxError(
                    [PolicyProblem(*_position(event.start_mark), "", f"nested more than {MAX_DEPTH} levels deep")]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif (
            isinstance(event, yaml.ScalarEvent)
            and event.style is None
            and len(event.value) > MAX_NUMBER_CHARS
            and _NUMBERISH.match(event.value)
        ):
            raise PolicySyntaxError(
                [PolicyProblem(*_position(event.start_mark), "", f"number longer than {MAX_NUMBER_CHARS} characters")]
            )


def _semantic_problems(doc: dict[str, Any], root: yaml.Node) -> list[PolicyProblem]:
    problems = []
    for section in ("rules", "constraints", "minimize", "jit"):
        seen: dict[str, int] = {}
        for index, item in enumerate(doc.get(section, [])):
            if item["id"] in seen:
                line, col = _mark_for(root, [section, index, "id"], at_key=True)
                problems.append(PolicyProblem(line, col, f"{section}/{index}/id", f"duplicate id {item['id']!r}"))
            seen[item["id"]] = index
    for index, item in enumerate(doc.get("minimize", [])):
        t = item["transform"]
        where = _mark_for(root, ["minimize", index])
        if t != "min_results" and not item.get("attributes") and not item.get("applies_to"):
            problems.append(
                PolicyProblem(*where, f"minimize/{index}", "say which attributes: attributes or applies_to")
            )
        if t == "bucket" and ("width" in item) == ("edges" in item):
            problems.append(PolicyProblem(*where, f"minimize/{index}", "bucket needs exactly one of width or edges"))
        if t == "truncate_date" and "unit" not in item:
            problems.append(PolicyProblem(*where, f"minimize/{index}", "truncate_date needs a unit (day, month, year)"))
        if t == "min_results" and "min_count" not in item:
            problems.append(PolicyProblem(*where, f"minimize/{index}", "min_results needs min_count"))
        if t == "bucket" and "edges" in item and item["edges"] != sorted(item["edges"]):
            problems.append(PolicyProblem(*where, f"minimize/{index}/edges", "bucket edges must be in ascending order"))
    for index, rule in enumerate(doc.get("rules", [])):
        hours = rule.get("when", {}).get("hours")
        if hours and hours["from"] >= hours["to"]:
            line, col = _mark_for(root, ["rules", index, "when", "hours"])
            problems.append(PolicyProblem(line, col, f"rules/{index}/when/hours", "hours.from must be before hours.to"))
    return problems


def compile_policy(source: str) -> CompiledPolicy:
    doc = parse(source)
    rules = [Rule(r["id"], r["effect"], r.get("when", {})) for r in doc.get("rules", [])]
    constraints = tuple(
        Constraint(
            id=c["id"],
            applies_to=c.get("applies_to", {}),
            **{
                k: c.get(k)
                for k in (
                    "max_component_size",
                    "max_path_length",
                    "max_degree",
                    "max_results",
                    "max_cumulative_component",
                    "max_result_denials",
                )
            },
        )
        for c in doc.get("constraints", [])
    )
    minimize = tuple(
        MinimizeRule(
            id=m["id"],
            transform=m["transform"],
            attributes=tuple(m.get("attributes", ())),
            data_classes=tuple(m.get("applies_to", {}).get("data_class", ())),
            params={k: v for k, v in m.items() if k not in ("id", "transform", "attributes", "applies_to")},
        )
        for m in doc.get("minimize", [])
    )
    jit = tuple(
        JitRule(
            id=j["id"],
            when=j["when"],
            approver_groups=tuple(j.get("approver_groups", ())),
            fallback_groups=tuple(j.get("fallback_groups", ())),
            **{
                k: j[k]
                for k in (
                    "approvers",
                    "max_wait_minutes",
                    "reminder_minutes",
                    "escalate_after_minutes",
                    "max_grant_minutes",
                    "high_risk",
                )
                if k in j
            },
        )
        for j in doc.get("jit", [])
    )
    return CompiledPolicy(
        jit=jit,
        source_hash=hashlib.sha256(source.encode()).hexdigest(),
        mode=doc["mode"],
        allow=tuple(r for r in rules if r.effect == "allow"),
        deny=tuple(r for r in rules if r.effect == "deny"),
        constraints=constraints,
        minimize=minimize,
        document=doc,
    )
