"""The lineage of a replay: code measurement, dependency set, policy version, dataset
version and transform chain — and what changed against the last good run.

Each node is ``{"value": <comparable>, "label": <what a person reads>, "detail": {...}}``;
two runs differ at a node when the values differ. The root of an anomaly is the first
changed node in ``ROOT_ORDER`` (a policy or data change explains more than a library or code
change that happened at the same time only when it is the one that changed)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from typing import Any

NODES = ("code", "dependency", "policy", "dataset", "transform")
ROOT_ORDER = ("policy", "dataset", "dependency", "code", "transform")
ROOT_KIND = {"policy": "policy", "dataset": "dataset", "dependency": "dependency", "code": "code", "transform": "code"}


@lru_cache(maxsize=1)
def installed_packages() -> tuple[tuple[str, str], ...]:
    """Every installed distribution and its version (what the SBOM lists), once per process."""
    found = {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}
    return tuple(sorted(found.items()))


def dependency_node(packages: tuple[tuple[str, str], ...] | None = None) -> dict[str, Any]:
    packages = packages if packages is not None else installed_packages()
    text = "\n".join(f"{n}=={v}" for n, v in packages)
    value = hashlib.sha256(text.encode()).hexdigest()
    return {"value": value, "label": f"{len(packages)} packages ({value[:12]})", "detail": dict(packages)}


def code_node(measurement: str) -> dict[str, Any]:
    return {"value": measurement, "label": f"verifier {measurement[:12]}", "detail": {}}


def policy_node(policies: list[dict[str, Any]], minimization: list[dict[str, Any]]) -> dict[str, Any]:
    if not policies:
        return {"value": "none", "label": "no policy", "detail": {"minimization": {}}}
    value = ",".join(f"{p['policy']}@{p['version']}:{p['source_hash'][:16]}" for p in policies)
    label = ", ".join(f"policy {p['policy']} v{p['version']}" for p in policies)
    rules = {f"{m.get('attribute', '*')}": m.get("transform", "") for m in minimization}
    return {"value": value, "label": label, "detail": {"minimization": rules}}


def dataset_node(name: str, version: Any, content_hash: str) -> dict[str, Any]:
    return {"value": f"{name}@{version}:{content_hash}", "label": f"dataset {name} v{version}", "detail": {}}


def transform_node(chain: list[str], varying: str | None = None) -> dict[str, Any]:
    label = " → ".join(chain)
    return {"value": "/".join(chain), "label": label, "detail": {"varying_step": varying or ""}}


def for_manifest(body: dict[str, Any], measurement: str) -> dict[str, Any]:
    recorded = body["inputs"][0]
    return {
        "code": code_node(measurement),
        "dependency": dependency_node(),
        "policy": policy_node(body.get("policy", []), body.get("minimization", [])),
        "dataset": dataset_node(recorded["dataset"], recorded["version"], recorded["content_hash"]),
        "transform": transform_node([t["op"] for t in body["transforms"]]),
    }


def change_text(node: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """One sentence: what this node was at the last good run and what it is now."""
    if before is None:
        return f"no good run recorded before; now {after['label']}"
    if before["value"] == after["value"]:
        return f"unchanged since the last good run ({after['label']})"
    if node == "policy":
        old, new = before["detail"].get("minimization", {}), after["detail"].get("minimization", {})
        moved = [f"minimization for `{a}`: {old.get(a) or 'none'} → {new.get(a) or 'none'}"
                 for a in sorted(set(old) | set(new)) if old.get(a) != new.get(a)]  # fmt: skip
        return f"{before['label']} → {after['label']}" + (f" ({'; '.join(moved)})" if moved else "")
    if node == "dependency":
        old, new = before["detail"], after["detail"]
        moved = [f"{n} {old.get(n, 'absent')} → {new.get(n, 'absent')}"
                 for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]  # fmt: skip
        return "; ".join(moved[:10]) or f"{before['label']} → {after['label']}"
    return f"{before['label']} → {after['label']}"


def compare(current: dict[str, Any], last_good: dict[str, Any] | None) -> dict[str, Any]:
    """``{changed: [node...], root_kind, root, changes: {node: text}}``."""
    if last_good is None:
        changed: list[str] = []
    else:
        changed = [n for n in NODES if n in current and (last_good.get(n) or {}).get("value") != current[n]["value"]]
    changes = {n: change_text(n, (last_good or {}).get(n), current[n]) for n in NODES if n in current}
    first = next((n for n in ROOT_ORDER if n in changed), None)
    if first is None:
        varying = current.get("transform", {}).get("detail", {}).get("varying_step")
        if varying:
            return {"changed": changed, "root_kind": "code", "root": f"nondeterministic transform {varying}",
                    "changes": changes}  # fmt: skip
        return {"changed": changed, "root_kind": "unknown", "root": "", "changes": changes}
    return {"changed": changed, "root_kind": ROOT_KIND[first], "root": changes[first], "changes": changes}
