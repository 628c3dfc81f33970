"""Root-cause insights for failed gates (docs/studio.md): what failed (rules, constraints,
cases), the policy diff against what the target runs, the data diff (dataset versions, their
statistics and classes), a suggested mitigation and, where the fix is mechanical, the source
of a draft that applies it (one click in the Studio saves it as a new version in dev)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from apps.graphs.models import TIER1_CLASSES, Dataset

from .gates import GateInput
from .lac.diff import diff_policies
from .lac.language import PolicySyntaxError, compile_policy

# Which constraint limit a plan/result violation is about.
LIMITS = {
    "DEGREE_EXCEEDED": "max_degree",
    "COMPONENT_SIZE_EXCEEDED": "max_component_size",
    "PATH_LENGTH_EXCEEDED": "max_path_length",
    "RESULT_WINDOW_EXCEEDED": "max_results",
    "CUMULATIVE_COMPONENT_EXCEEDED": "max_cumulative_component",
}


def _data_diff() -> list[dict[str, Any]]:
    """Per dataset: the latest version against the one before (classes added or changed)."""
    out = []
    for dataset in Dataset.objects.order_by("slug"):
        versions = list(dataset.versions.order_by("-number")[:2])
        if not versions:
            continue
        latest = versions[0]
        now = {**latest.attribute_classes["nodes"], **latest.attribute_classes["edges"]}
        before: dict[str, str] = {}
        if len(versions) > 1:
            prev = versions[1].attribute_classes
            before = {**prev["nodes"], **prev["edges"]}
        out.append(
            {
                "dataset": dataset.slug,
                "version": latest.number,
                "previous": versions[1].number if len(versions) > 1 else None,
                "nodes": latest.node_count,
                "stats": {k: latest.stats_summary.get(k) for k in ("max_degree", "largest_component")},
                "added": {a: c for a, c in now.items() if a not in before} if before else {},
                "reclassified": {a: [before[a], c] for a, c in now.items() if a in before and before[a] != c},
                "tier1": sorted(a for a, c in now.items() if c in TIER1_CLASSES),
            }
        )
    return out


def _compiles(source: str) -> bool:
    try:
        compile_policy(source)
    except PolicySyntaxError:
        return False
    return True


def add_minimize_rules(source: str, rules: list[str]) -> str:
    """``source`` with flow-style minimize items appended to its ``minimize:`` section (text
    kept as written), or a new section at the end."""
    lines = source.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if re.match(r"^minimize:\s*(#.*)?$", line)), None)
    items = [f"  - {r}" for r in rules]
    if start is None:
        return "\n".join([*lines, "minimize:", *items]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^[A-Za-z_]", lines[i])), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[:end] + items + lines[end:]) + "\n"


def set_limit(source: str, constraint_id: str, key: str, value: int) -> str:
    doc = yaml.safe_load(source)
    for c in doc.get("constraints", []):
        if c["id"] == constraint_id:
            c[key] = value
    return yaml.safe_dump(doc, sort_keys=False, width=120)


def restore_items(source: str, base_source: str, ids: set[str]) -> str:
    """``source`` with the rules ``ids`` as the base has them (re-added, restored or removed)."""
    doc, base = yaml.safe_load(source), yaml.safe_load(base_source)
    for section in ("rules", "jit", "minimize", "constraints"):
        mine = doc.get(section, [])
        theirs = {i["id"]: i for i in base.get(section, [])}
        kept = []
        for item in mine:
            if item["id"] in ids:
                if item["id"] in theirs:
                    kept.append(theirs[item["id"]])
                continue  # added by the candidate: removed
            kept.append(item)
        for item_id in ids:
            if item_id in theirs and item_id not in {i["id"] for i in mine}:
                kept.append(theirs[item_id])
        if kept or section in doc:
            doc[section] = kept
    return yaml.safe_dump(doc, sort_keys=False, width=120)


def _changed_ids(g: GateInput) -> set[str]:
    if g.base is None:
        return set()
    return {c.id for c in diff_policies(g.base.source, g.candidate.source).changes if not c.doc_only}


def _coverage_fix(missing: list[dict[str, Any]], source: str) -> tuple[str, str | None]:
    pairs = sorted({(m["field"], m["class"]) for m in missing})
    rules = [f"{{id: hash-{f}, transform: hash, attributes: [{f}]}}" for f, _ in pairs]
    words = ", ".join(f"a `hash` rule for the {c} attribute `{f}`" for f, c in pairs)
    return f"Add {words}.", add_minimize_rules(source, rules)


def _lint(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    d = result["details"]
    if "problems" in d:
        return {"cause": "The source does not compile.", "failed": d["problems"], "suggestion": "Fix the problems."}
    errors = [f for f in d["findings"] if f["severity"] == "error"]
    missing = []
    for f in errors:
        if f["code"] == "LAC105":
            for _dataset, attribute, cls in re.findall(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+) \((P[01])\)", f["message"]):
                missing.append({"field": attribute, "class": cls})
    out: dict[str, Any] = {
        "cause": f"{len(errors)} lint error(s): " + "; ".join(f"{f['code']} line {f['line']}" for f in errors),
        "failed": errors,
        "suggestion": "Fix each error at its line (docs/lac-lint.md explains every rule).",
    }
    if missing:
        out["suggestion"], out["mitigation"] = _coverage_fix(missing, g.candidate.source)
    return out


def _tests(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    failed = [c for c in result["details"]["results"] if not c["ok"]]
    culprits = _changed_ids(g) & {c["decided_by"] for c in failed if c["decided_by"]} or _changed_ids(g)
    out: dict[str, Any] = {
        "cause": "; ".join(
            f"case {c['id']}: expected {c['expect']}, got {c['got']}"
            + (f" by rule {c['decided_by']}" if c["decided_by"] else "")
            + (f", missing {', '.join(c['missing_reasons'])}" if c["missing_reasons"] else "")
            for c in failed
        ),
        "failed": failed,
        "suggestion": "Restore the rules the failing cases depend on, or fix the cases if the change is intended.",
    }
    if g.base is not None and culprits:
        out["suggestion"] = f"Restore rule(s) {', '.join(sorted(culprits))} as {g.base} has them."
        out["mitigation"] = restore_items(g.candidate.source, g.base.source, culprits)
    return out


def _redteam(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    regressions = result["details"]["regressions"]
    allowing = {c.split(":", 1)[1] for r in regressions for c in r["after_codes"] if c.startswith("rule:")}
    culprits = (_changed_ids(g) & allowing) or _changed_ids(g)
    out: dict[str, Any] = {
        "cause": f"{len(regressions)} attack case(s) the base denies get through: "
        + ", ".join(f"{r['case']} ({r['pattern']})" for r in regressions[:10]),
        "failed": regressions,
        "suggestion": "Tighten the rules that now allow these attacks.",
    }
    if g.base is not None and culprits:
        out["suggestion"] = f"Restore rule(s) {', '.join(sorted(culprits))} as {g.base} has them."
        out["mitigation"] = restore_items(g.candidate.source, g.base.source, culprits)
    return out


def _simulation(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    broken = result["details"]["newly_denied"]
    needed: dict[tuple[str, str], int] = {}
    for row in broken:
        for v in row["violations"]:
            key = LIMITS.get(v.get("code", ""))
            if key and isinstance(v.get("observed"), int):
                slot = (v["constraint"], key)
                needed[slot] = max(needed.get(slot, 0), v["observed"])
    out: dict[str, Any] = {
        "cause": f"{len(broken)} past allowed decision(s) would be denied, e.g. "
        + ", ".join(f"run #{r['run_id']} ({' '.join(r['after_codes'][:2])})" for r in broken[:5]),
        "failed": broken,
        "suggestion": "Check whether these analysts' queries should keep working.",
    }
    if needed:
        source = g.candidate.source
        words = []
        for (constraint, key), value in sorted(needed.items()):
            words.append(f"raise `{key}` of `{constraint}` to {value} or add `top_k`")
            source = set_limit(source, constraint, key, value)
        out["suggestion"] = "; ".join(words).capitalize() + "."
        out["mitigation"] = source
    elif g.base is not None and _changed_ids(g):
        out["suggestion"] = f"Restore rule(s) {', '.join(sorted(_changed_ids(g)))} as {g.base} has them."
        out["mitigation"] = restore_items(g.candidate.source, g.base.source, _changed_ids(g))
    return out


def _coverage(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    d = result["details"]
    missing = d["lost"] or d["uncovered"]
    suggestion, mitigation = _coverage_fix(missing, g.candidate.source)
    return {
        "cause": f"Tier-1 coverage falls from {d['before']}% to {d['after']}%: "
        + ", ".join(f"{m['view']}.{m['field']} ({m['class']}, was {m['was'] or 'uncovered'})" for m in missing),
        "failed": missing,
        "suggestion": suggestion,
        "mitigation": mitigation,
    }


EXPLAIN = {"lint": _lint, "tests": _tests, "redteam": _redteam, "simulation": _simulation, "coverage": _coverage}


def explain(result: dict[str, Any], g: GateInput) -> dict[str, Any]:
    """The insight for one failed gate result."""
    insight = EXPLAIN[result["gate"]](result, g)
    mitigation = insight.pop("mitigation", None)
    insight["mitigation"] = mitigation if mitigation and _compiles(mitigation) else None
    insight["policy_diff"] = diff_policies(g.base.source, g.candidate.source).as_dict() if g.base else None
    insight["data_diff"] = _data_diff()
    return insight
