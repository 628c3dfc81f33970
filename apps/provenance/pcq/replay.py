"""Replay a manifest from its inputs and compare the outputs within tolerance (pure).

Verdicts: ``match`` — same inputs, same nodes and edges, every metric value within its
tolerance and the same minimized result; ``variance`` — the replay ran but something
differs; ``error`` — the replay could not run as recorded (inputs missing or altered, an
unknown transform). The diff says exactly what differed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from importlib import metadata
from typing import Any

from apps.core.crypto.canonical import digest
from apps.graphs import engine
from apps.graphs.ingest import Graph
from apps.graphs.stats import build_networkx
from apps.policy_studio.lac import minimize
from apps.policy_studio.lac.language import MinimizeRule

from .manifest import canonicalization, checksum_tree, content_hash_canonicalization, edges_digest, spec_from_transforms

# Checksum trees by content hash, per process. The content hash is SHA-256 over the same
# canonical bytes the tree is built from, so a hit is the tree of identical data; it saves
# the dominant cost of a replay (one canonicalization per record) when several manifests
# over one dataset version are verified by the same worker.
_TREES: OrderedDict[str, dict[str, Any]] = OrderedDict()
_TREES_LOCK = threading.Lock()
_TREES_MAX = 16


def _checksum_tree(graph: Graph, content_hash: str, canon: str) -> dict[str, Any]:
    # The tree depends on the record encoding too, so it is part of the key.
    key = f"{canon}:{content_hash}"
    with _TREES_LOCK:
        if key in _TREES:
            _TREES.move_to_end(key)
            return _TREES[key]
    tree = checksum_tree(graph.canonical(), canon)
    with _TREES_LOCK:
        _TREES[key] = tree
        while len(_TREES) > _TREES_MAX:
            _TREES.popitem(last=False)
    return tree


def clear_caches() -> None:
    """Forget memoised checksum trees (benchmarks measure cold replays with this)."""
    with _TREES_LOCK:
        _TREES.clear()


def _graph(doc: dict[str, Any]) -> Graph:
    return Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])


def _rules(steps: list[dict[str, Any]]) -> tuple[MinimizeRule, ...]:
    return tuple(
        MinimizeRule(
            id=s["rule"],
            transform=s["transform"],
            attributes=() if s["attribute"] == "*" else (s["attribute"],),
            params=s["params"],
        )
        for s in steps
    )


def replay(manifest: dict[str, Any], graph_doc: dict[str, Any], *, key: bytes | None) -> dict[str, Any]:
    """``key`` is the tenant's minimization key; without it (offline) keyed transforms cannot
    be recomputed and the minimized result is not compared (the diff says so)."""
    diff: dict[str, Any] = {"inputs": [], "transforms": [], "versions": [], "metrics": [], "structure": {}, "notes": []}
    recorded = manifest["inputs"][0]
    # Each hash is recomputed in the encoding the manifest names (v1 manifests: legacy).
    canon = canonicalization(manifest)
    graph = _graph(graph_doc)
    actual_hash = graph.content_hash(content_hash_canonicalization(manifest))
    actual_tree = _checksum_tree(graph, actual_hash, canon)
    inputs_ok = actual_hash == recorded["content_hash"] and actual_tree["root"] == recorded["checksum_tree"]["root"]
    diff["inputs"].append(
        {
            "dataset": recorded["dataset"],
            "version": recorded["version"],
            "recorded_hash": recorded["content_hash"],
            "replayed_hash": actual_hash,
            "recorded_tree_root": recorded["checksum_tree"]["root"],
            "replayed_tree_root": actual_tree["root"],
            "ok": inputs_ok,
        }
    )
    for name, version in sorted(manifest.get("libraries", {}).items()):
        try:
            current = metadata.version(name)
        except metadata.PackageNotFoundError:
            current = "missing"
        diff["versions"].append({"library": name, "recorded": version, "replayed": current, "ok": current == version})
    if not inputs_ok:
        return {"verdict": "error", "message": "The inputs differ from the ones the manifest names.", "diff": diff}
    outputs = manifest.get("outputs")
    if outputs is None:
        return {"verdict": "error", "message": "A plan manifest has no outputs to compare.", "diff": diff}
    try:
        spec = {**spec_from_transforms(manifest["transforms"]), "random_seed": manifest["random_seed"]}
        g = build_networkx(graph)
        execution = engine.execute(g, spec)
    except (KeyError, ValueError, TypeError) as exc:
        return {"verdict": "error", "message": f"The transform chain could not be replayed: {exc}", "diff": diff}
    diff["transforms"] = [{"op": t["op"], "params": t["params"], "ok": True} for t in manifest["transforms"]]

    problems = []
    if execution.nodes != outputs["nodes"]:
        missing = sorted(set(outputs["nodes"]) - set(execution.nodes))
        extra = sorted(set(execution.nodes) - set(outputs["nodes"]))
        diff["structure"]["nodes"] = {
            "missing": missing[:20],
            "extra": extra[:20],
            "order_differs": not missing and not extra,
        }
        problems.append("returned nodes differ")
    if edges_digest(execution.edges, canon) != outputs["edges_digest"]:
        diff["structure"]["edges"] = {"recorded_count": outputs["edge_count"], "replayed_count": len(execution.edges)}
        problems.append("returned edges differ")
    tolerance = outputs["tolerance"]
    worst = 0.0
    out_of_band = 0
    for node, value in outputs["values"].items():
        got = execution.values.get(node)
        delta = abs(got - value) if got is not None else float("inf")
        worst = max(worst, delta)
        if delta > tolerance:
            out_of_band += 1
            if len(diff["metrics"]) < 50:
                diff["metrics"].append(
                    {"node": node, "recorded": value, "replayed": got, "delta": delta, "tolerance": tolerance}
                )
    diff["structure"]["metric_summary"] = {
        "values": len(outputs["values"]),
        "outside_tolerance": out_of_band,
        "max_delta": worst,
        "tolerance": tolerance,
    }
    if out_of_band:
        problems.append(f"{out_of_band} metric value(s) outside the tolerance band ±{tolerance:g}")

    keyed = any(s["transform"] == "hash" for s in manifest["minimization"])
    if keyed and key is None:
        diff["notes"].append(
            "Keyed minimization (hash) cannot be recomputed without the tenant key; the minimized result was not compared."
        )
    else:
        rendered = engine.render(g, execution, spec["fields"], spec["metric"])
        classes = {**graph.node_classes, **graph.edge_classes}
        result, _ = minimize.apply(
            rendered,
            _rules(manifest["minimization"]),
            classes,
            key or b"",
            node_filtered=spec.get("node_filter") or {},
            edge_filtered=spec.get("edge_filter") or {},
            source_attrs=engine.attribute_lookups(g),
        )
        if digest(result, canon) != outputs["result_digest"]:
            problems.append("the minimized result differs")
            diff["structure"]["result_digest"] = {
                "recorded": outputs["result_digest"],
                "replayed": digest(result, canon),
            }
    if problems:
        return {"verdict": "variance", "message": "Replay differs: " + "; ".join(problems) + ".", "diff": diff}
    return {"verdict": "match", "message": "Replay reproduced the recorded outputs within tolerance.", "diff": diff}
