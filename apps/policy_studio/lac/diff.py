"""Rule-level diff of two policy sources (pure; no Django).

Items are matched by ``id`` within their section (rules, jit, constraints, minimize); each is
added, removed or changed (which fields, before and after) or moved (same content, another
place in an order the engine observes). On top of that the diff says whether the two
*compiled* forms are identical: the structure the engine reads, without comments, layout,
quoting, mapping-key order, descriptions, defaults spelled out, or the interleaving of allow
and deny rules (the compiler keeps them apart).

Order inside a list the engine walks in order stays significant: the first matching deny,
allow or JIT rule is the one a decision names, the first minimize rule naming an attribute
wins, constraint violations are reported in policy order, and condition lists are quoted in
order in decision sentences. Reordering those is reported as ``moved`` and is not
compiled-identical; a formatting-only change is.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from .language import CompiledPolicy, compile_policy

SECTIONS = ("rules", "jit", "constraints", "minimize")
# The parser's loader, so item lines are the parser's lines (libyaml's dialect differs).
LOADER: Any = yaml.SafeLoader
# Keys that document an item but never reach the compiled form.
DOC_ONLY = frozenset({"description"})


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ItemChange:
    """One rule, JIT rule, constraint or minimize rule that differs between the two sources."""

    section: str
    id: str
    kind: str  # added | removed | changed | moved
    fields: tuple[FieldChange, ...] = ()
    line_before: int | None = None
    line_after: int | None = None

    @property
    def doc_only(self) -> bool:
        """Only documentation (description) changed: the compiled item is the same."""
        return self.kind == "changed" and all(f.field in DOC_ONLY for f in self.fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "id": self.id,
            "kind": self.kind,
            "fields": [f.as_dict() for f in self.fields],
            "line_before": self.line_before,
            "line_after": self.line_after,
            "doc_only": self.doc_only,
        }


@dataclass(frozen=True)
class PolicyDiff:
    changes: tuple[ItemChange, ...]
    top_level: tuple[FieldChange, ...]  # mode, description
    compiled_identical: bool
    text_identical: bool
    digest_before: str
    digest_after: str

    @property
    def empty(self) -> bool:
        """Nothing differs at rule level (the text may still differ in layout or comments)."""
        return not self.changes and not self.top_level

    @property
    def formatting_only(self) -> bool:
        """The texts differ but the compiled forms are identical."""
        return self.compiled_identical and not self.text_identical

    def section(self, name: str) -> list[ItemChange]:
        return [c for c in self.changes if c.section == name]

    def summary(self) -> str:
        if self.text_identical:
            return "identical"
        if self.compiled_identical:
            what = "formatting, comments, descriptions or reordering only"
            return f"{what}; the compiled policy is identical"
        counts: dict[str, int] = {}
        for change in self.changes:
            if not change.doc_only:
                counts[change.kind] = counts.get(change.kind, 0) + 1
        parts = [f"{n} {kind}" for kind, n in sorted(counts.items())]
        parts += [f"{f.field} changed" for f in self.top_level if f.field not in DOC_ONLY]
        return ", ".join(parts) or "the compiled policy differs"

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "compiled_identical": self.compiled_identical,
            "formatting_only": self.formatting_only,
            "text_identical": self.text_identical,
            "digest_before": self.digest_before,
            "digest_after": self.digest_after,
            "top_level": [f.as_dict() for f in self.top_level],
            "changes": [c.as_dict() for c in self.changes],
        }


def compiled_form(policy: CompiledPolicy) -> dict[str, Any]:
    """What the engine reads from a compiled policy, as plain data (no source hash, no document)."""
    return {
        "mode": policy.mode,
        "allow": [asdict(r) for r in policy.allow],
        "deny": [asdict(r) for r in policy.deny],
        "jit": [asdict(j) for j in policy.jit],
        "constraints": [asdict(c) for c in policy.constraints],
        "minimize": [asdict(m) for m in policy.minimize],
    }


def compiled_digest(policy: CompiledPolicy) -> str:
    """SHA-256 of the compiled form: equal for sources that differ only in formatting."""
    canonical = json.dumps(compiled_form(policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def item_lines(source: str) -> dict[tuple[str, str], int]:
    """1-based line of each item, keyed by (section, id). The source must already parse."""
    root = yaml.compose(source, Loader=LOADER)
    lines: dict[tuple[str, str], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if getattr(key, "value", None) not in SECTIONS or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for k, v in item.value:
                if getattr(k, "value", None) == "id" and isinstance(v, yaml.ScalarNode):
                    lines[(str(key.value), str(v.value))] = item.start_mark.line + 1
    return lines


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldChange, ...]:
    keys = sorted(set(before) | set(after))
    return tuple(FieldChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k))


def _order_key(section: str, item: dict[str, Any]) -> str:
    # Allow and deny rules are compiled into two lists: only order within one effect counts.
    return str(item.get("effect", "")) if section == "rules" else ""


def _section_changes(
    section: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    lines: tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]],
) -> list[ItemChange]:
    old = {item["id"]: item for item in before}
    new = {item["id"]: item for item in after}
    out: list[ItemChange] = []

    def change(item_id: str, kind: str, fields: tuple[FieldChange, ...] = ()) -> ItemChange:
        key = (section, item_id)
        return ItemChange(section, item_id, kind, fields, lines[0].get(key), lines[1].get(key))

    for item in before:
        if item["id"] not in new:
            out.append(change(item["id"], "removed"))
    for item in after:
        item_id = item["id"]
        if item_id not in old:
            out.append(change(item_id, "added"))
        elif fields := _field_changes(old[item_id], item):
            out.append(change(item_id, "changed", fields))
    # Moved: items kept in the same ordered list (same effect, for rules) whose relative order
    # changed; an item can be both changed and moved (two rows).
    for group in sorted({_order_key(section, i) for i in after}):
        same = {i for i in old if i in new and _order_key(section, old[i]) == _order_key(section, new[i]) == group}
        kept_old = [i["id"] for i in before if i["id"] in same]
        kept_new = [i["id"] for i in after if i["id"] in same]
        if kept_old == kept_new:
            continue
        matcher = difflib.SequenceMatcher(a=kept_old, b=kept_new, autojunk=False)
        stayed = {kept_old[b.a + k] for b in matcher.get_matching_blocks() for k in range(b.size)}
        out += [change(i, "moved") for i in kept_new if i not in stayed]
    return out


def diff_policies(before: str, after: str) -> PolicyDiff:
    """Rule-level diff of two valid policy sources (raises PolicySyntaxError if one is invalid)."""
    compiled = (compile_policy(before), compile_policy(after))
    docs = (compiled[0].document, compiled[1].document)
    lines = (item_lines(before), item_lines(after))
    changes: list[ItemChange] = []
    for section in SECTIONS:
        changes += _section_changes(section, docs[0].get(section, []), docs[1].get(section, []), lines)
    top = tuple(
        FieldChange(k, docs[0].get(k), docs[1].get(k))
        for k in ("mode", "description")
        if docs[0].get(k) != docs[1].get(k)
    )
    digests = (compiled_digest(compiled[0]), compiled_digest(compiled[1]))
    return PolicyDiff(
        changes=tuple(changes),
        top_level=top,
        compiled_identical=digests[0] == digests[1],
        text_identical=before == after,
        digest_before=digests[0],
        digest_after=digests[1],
    )


@dataclass(frozen=True)
class TextLine:
    """One row of a side-by-side text diff: tag is equal, insert, delete or replace."""

    tag: str
    line_before: int | None
    text_before: str
    line_after: int | None
    text_after: str


def text_diff(before: str, after: str) -> list[TextLine]:
    """Line-by-line diff of two texts, aligned for a side-by-side view."""
    a, b = before.splitlines(), after.splitlines()
    rows: list[TextLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            rows.append(
                TextLine(
                    tag,
                    i + 1 if i < i2 else None,
                    a[i] if i < i2 else "",
                    j + 1 if j < j2 else None,
                    b[j] if j < j2 else "",
                )
            )
    return rows
