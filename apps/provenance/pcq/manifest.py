"""Query manifests: what went in, what was done, what was decided, what came out.

A manifest is a JSON document validated by ``MANIFEST_SCHEMA`` (published at
``/api/pcq/manifest-schema/`` and in ``docs/pcq-manifest.schema.json``), serialized
canonically so its SHA-256 is stable, and signed by the executor's Ed25519 key. The schema id
names the canonicalization: v2 manifests are RFC 8785 (``rfc8785``), v1 manifests (made
before) use the legacy ``tf-jcs-1`` encoder and keep verifying with it. ``kind: plan`` manifests (from the provenance DSL) have no outputs yet; ``kind:
execution`` manifests (one per executed query) do.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from typing import Any

import jsonschema

from apps.core.crypto.canonical import CURRENT, RFC8785, TF_JCS_1, TF_JSON_1, VERSIONS, canonicalize, digest
from apps.core.crypto.merkle import leaf_hash, root_of

SCHEMA_ID_V1 = "https://trustfabric.local/schemas/pcq-manifest/v1"
SCHEMA_ID_V2 = "https://trustfabric.local/schemas/pcq-manifest/v2"
# v3 (pcq_ops, issue 16): adds ``sampling``, whether this run was chosen for replay. v1 and
# v2 manifests stay valid and verify as before.
SCHEMA_ID = "https://trustfabric.local/schemas/pcq-manifest/v3"
# The canonical encoding each manifest schema version is hashed and signed in.
CANONICALIZATION = {SCHEMA_ID_V1: TF_JCS_1, SCHEMA_ID_V2: RFC8785, SCHEMA_ID: RFC8785}
# Absolute tolerances per metric: replayed values may differ by at most this much.
TOLERANCES = {
    "neighbourhood": 0.0,
    "degree": 0.0,
    "pagerank": 1e-6,
    "betweenness": 1e-9,
    "shortest_paths": 0.0,
    "communities": 0.0,
}
LIBRARIES = ("networkx", "numpy", "scipy")

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_STEP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["op", "params"],
    "properties": {
        "op": {"enum": ["source", "seeds", "expand", "metric", "rank", "select"]},
        "params": {"type": "object"},
    },
}
MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Trust Fabric proof-carrying query manifest",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "kind",
        "inputs",
        "transforms",
        "random_seed",
        "libraries",
        "policy",
        "minimization",
        "jit_grant",
        "outputs",
    ],
    "properties": {
        "schema": {"enum": [SCHEMA_ID, SCHEMA_ID_V2, SCHEMA_ID_V1]},
        "kind": {"enum": ["plan", "execution"]},
        "tenant": {"type": "string"},
        "query_run": {"type": ["integer", "null"]},
        "inputs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["dataset", "version", "content_hash", "checksum_tree"],
                "properties": {
                    "dataset": {"type": "string"},
                    "view": {"type": ["string", "null"]},
                    "version": {"type": "integer", "minimum": 1},
                    "content_hash": _HEX64,
                    # v2: how the dataset's content hash was computed (datasets uploaded
                    # before RFC 8785 keep their tf-json-1 hash). Absent in v1 = tf-json-1.
                    "canonicalization": {"enum": list(VERSIONS)},
                    "checksum_tree": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["algorithm", "leaves", "root"],
                        "properties": {
                            "algorithm": {"const": "rfc9162-sha256"},
                            "leaves": {"type": "integer"},
                            "root": _HEX64,
                        },
                    },
                },
            },
        },
        "transforms": {"type": "array", "minItems": 3, "items": _STEP},
        "random_seed": {"type": "integer"},
        "libraries": {"type": "object", "additionalProperties": {"type": "string"}},
        "policy": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["policy", "version", "source_hash", "mode", "outcome", "reason_codes"],
                "properties": {
                    "policy": {"type": "string"},
                    "version": {"type": "integer"},
                    "source_hash": _HEX64,
                    "mode": {"enum": ["enforce", "monitor"]},
                    "outcome": {"enum": ["allow", "deny"]},
                    "reason_codes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "minimization": {"type": "array", "items": {"type": "object"}},
        "jit_grant": {"type": ["object", "null"]},
        # v3: the replay sampling decision (pcq_ops): the configured rate, the run's
        # deterministic draw in [0, 1), and whether it was replayed (draw < rate).
        "sampling": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rate", "draw", "replayed"],
            "properties": {
                "rate": {"type": "number", "minimum": 0, "maximum": 1},
                "draw": {"type": "number", "minimum": 0, "maximum": 1},
                "replayed": {"type": "boolean"},
            },
        },
        "outputs": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "metric",
                        "nodes",
                        "values",
                        "edges_digest",
                        "edge_count",
                        "result_digest",
                        "tolerance",
                    ],
                    "properties": {
                        "metric": {"type": "string"},
                        "nodes": {"type": "array", "items": {"type": "string"}},
                        "values": {"type": "object", "additionalProperties": {"type": "number"}},
                        "edges_digest": _HEX64,
                        "edge_count": {"type": "integer"},
                        "result_digest": _HEX64,
                        "tolerance": {"type": "number", "minimum": 0},
                    },
                },
            ]
        },
    },
}
_validator = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)


class ManifestInvalid(ValueError):
    pass


def validate(manifest: Any) -> None:
    errors = sorted(_validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        e = errors[0]
        where = "/".join(map(str, e.absolute_path)) or "(root)"
        raise ManifestInvalid(f"{where}: {e.message}")


def canonicalization(body: Any) -> str:
    """The canonical encoding ``body`` is hashed and signed in (by its schema id)."""
    schema = body.get("schema") if isinstance(body, dict) else None
    return CANONICALIZATION.get(schema, CURRENT)  # type: ignore[arg-type]


def body_digest(body: Any) -> str:
    return digest(body, canonicalization(body))


def body_bytes(body: Any) -> bytes:
    return canonicalize(body, canonicalization(body))


def content_hash_canonicalization(body: dict[str, Any], index: int = 0) -> str:
    """How the content hash of input ``index`` was computed (v1 manifests predate the field
    and every v1 input was hashed with ``tf-json-1``)."""
    default = TF_JSON_1 if canonicalization(body) == TF_JCS_1 else RFC8785
    version: str = body["inputs"][index].get("canonicalization", default)
    return version


def libraries() -> dict[str, str]:
    return {name: metadata.version(name) for name in LIBRARIES}


def checksum_tree(graph: dict[str, Any], version: str = CURRENT) -> dict[str, Any]:
    """Merkle tree over the canonical dataset: the attribute classes, then each node, then
    each edge, one leaf each. A verifier that recomputes the root has checked every record."""
    leaves = [leaf_hash(canonicalize(graph["attributes"], version))]
    leaves += [leaf_hash(canonicalize(n, version)) for n in graph["nodes"]]
    leaves += [leaf_hash(canonicalize(e, version)) for e in graph["edges"]]
    return {"algorithm": "rfc9162-sha256", "leaves": len(leaves), "root": root_of(leaves).hex()}


def transforms_for(spec: dict[str, Any], dataset: str, view: str | None) -> list[dict[str, Any]]:
    """The transform chain of a (validated, view-merged) query spec, in execution order."""
    metric_params: dict[str, Any] = {"name": spec["metric"]}
    if spec["metric"] == "shortest_paths":
        metric_params["target"] = spec["target"]
    if spec["metric"] == "pagerank":
        metric_params |= {"alpha": 0.85, "tol": 1e-9}
    chain = [
        {"op": "source", "params": {"dataset": dataset, "view": view}},
        {"op": "seeds", "params": {"ids": list(spec["seeds"])}},
        {
            "op": "expand",
            "params": {"hops": spec["hops"], "node_filter": spec["node_filter"], "edge_filter": spec["edge_filter"]},
        },
        {"op": "metric", "params": metric_params},
    ]
    if spec.get("top_k") is not None or spec.get("offset"):
        chain.append({"op": "rank", "params": {"top_k": spec.get("top_k"), "offset": spec.get("offset", 0)}})
    if spec["fields"]:
        chain.append({"op": "select", "params": {"fields": list(spec["fields"])}})
    return chain


def spec_from_transforms(transforms: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of ``transforms_for``: the engine spec a replay runs."""
    spec: dict[str, Any] = {"node_filter": {}, "edge_filter": {}, "fields": [], "offset": 0, "hops": 1}
    for step in transforms:
        p = step["params"]
        if step["op"] == "seeds":
            spec["seeds"] = list(p["ids"])
        elif step["op"] == "expand":
            spec |= {"hops": p["hops"], "node_filter": p["node_filter"], "edge_filter": p["edge_filter"]}
        elif step["op"] == "metric":
            spec["metric"] = p["name"]
            if "target" in p:
                spec["target"] = p["target"]
        elif step["op"] == "rank":
            spec["top_k"], spec["offset"] = p["top_k"], p["offset"]
        elif step["op"] == "select":
            spec["fields"] = list(p["fields"])
    return spec


def edges_digest(edges: list[tuple[str, str]], version: str = CURRENT) -> str:
    return hashlib.sha256(canonicalize([list(e) for e in edges], version)).hexdigest()


def outputs_for(
    metric: str,
    nodes: list[str],
    values: dict[str, float],
    edges: list[tuple[str, str]],
    result: Any,
    version: str = CURRENT,
) -> dict[str, Any]:
    return {
        "metric": metric,
        "nodes": list(nodes),
        "values": {n: values[n] for n in nodes if n in values},
        "edges_digest": edges_digest(edges, version),
        "edge_count": len(edges),
        "result_digest": digest(result, version),
        "tolerance": TOLERANCES[metric],
    }
