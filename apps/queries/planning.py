"""Planning inputs: a query validated and resolved against its dataset or view (a view may
only narrow), and the plan facts the graph constraints judge before execution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.core.errors import NotFound, ValidationFailed
from apps.graphs import cache as graph_cache
from apps.graphs import engine
from apps.graphs.models import Dataset, DatasetVersion, GraphView
from apps.graphs.query_spec import QuerySpecError, validate_query_spec
from apps.policy_studio.lac import constraints as lac_constraints


@dataclass
class Prepared:
    """A query resolved against its dataset/view, with what the planner needs."""

    spec: dict[str, Any]
    dataset: Dataset
    version: DatasetVersion
    view: GraphView | None
    classes: frozenset[str]
    view_violations: list[dict[str, Any]] = field(default_factory=list)


def _bad(errors: dict[str, Any], message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_query", details=errors)


def prepare(raw: Any) -> Prepared:
    """Validate the spec and resolve names; 400 for malformed queries, 404 for unknown names.

    Node and edge attributes are resolved in their own scope: ``fields`` may name either (the
    upload refuses one name with two classes), ``node_filter`` only node attributes and
    ``edge_filter`` only edge attributes, and each touches its own scope's class."""
    try:
        spec = validate_query_spec(raw)
    except QuerySpecError as exc:
        raise _bad(exc.errors, f"The query is not valid: {exc}") from exc
    view = None
    violations: list[dict[str, Any]] = []
    if "view" in spec:
        view = GraphView.objects.select_related("dataset").filter(slug=spec["view"]).first()
        if view is None:
            raise NotFound(f"No view {spec['view']!r}.", details={"view": "not_found"})
        dataset = view.dataset
        violations = merge_view(spec, view)
    else:
        dataset = Dataset.objects.filter(slug=spec["dataset"]).first()
        if dataset is None:
            raise NotFound(f"No dataset {spec['dataset']!r}.", details={"dataset": "not_found"})
        spec.setdefault("hops", 1)
    version = dataset.latest_version
    if version is None:
        raise NotFound(f"Dataset {dataset.slug!r} has no data yet.")
    classes = version.attribute_classes
    node_classes, edge_classes = classes["nodes"], classes["edges"]
    unknown_fields = [f for f in spec["fields"] if f not in node_classes and f not in edge_classes]
    if unknown_fields:
        raise _bad({"fields": unknown_fields}, f"Unknown field(s): {', '.join(unknown_fields)}.")
    for name, scope in (("node_filter", node_classes), ("edge_filter", edge_classes)):
        bad = [k for k in spec[name] if k != "type" and k not in scope]
        if bad:
            which = "node" if name == "node_filter" else "edge"
            raise _bad({name: bad}, f"{name} names unknown {which} attribute(s): {', '.join(bad)}.")
    touched = {dataset.structure_class}
    for f in spec["fields"]:
        touched |= {scope[f] for scope in (node_classes, edge_classes) if f in scope}
    touched |= {node_classes[k] for k in spec["node_filter"] if k != "type"}
    touched |= {edge_classes[k] for k in spec["edge_filter"] if k != "type"}
    if view is not None and view.node_filter:
        # The view binds its seeds too: a seed outside the view is treated as absent (the same
        # answer as an unknown id, so the binding is not itself an oracle).
        graph = graph_cache.load(version).graph
        inside = engine.matcher(view.node_filter)
        spec["seeds"] = [s for s in spec["seeds"] if s in graph and inside(graph.nodes[s])]
    return Prepared(spec, dataset, version, view, frozenset(touched), violations)


def merge_view(spec: dict[str, Any], view: GraphView) -> list[dict[str, Any]]:
    """A query on a view may only narrow it. Widening attempts are recorded as violations;
    filtering on an attribute the view does not release is one (a filter is an oracle)."""
    out = []
    spec.setdefault("hops", view.hops)
    if spec["hops"] > view.hops:
        out.append({"code": "HOPS_EXCEED_VIEW", "limit": view.hops, "observed": spec["hops"]})
    if not spec["fields"]:
        spec["fields"] = list(view.fields)
    extra = sorted(set(spec["fields"]) - set(view.fields))
    if extra:
        out.append({"code": "FIELD_NOT_IN_VIEW", "fields": extra})
    for name in ("node_filter", "edge_filter"):
        fixed: dict[str, Any] = getattr(view, name) or {}
        outside = sorted(k for k in spec[name] if k != "type" and k not in view.fields and k not in fixed)
        if outside:
            out.append({"code": "FILTER_NOT_IN_VIEW", "filter": name, "keys": outside})
        merged = dict(spec[name])
        for key, allowed in fixed.items():
            allowed_set = set(allowed) if isinstance(allowed, list) else {allowed}
            asked = merged.get(key)
            if asked is None:
                merged[key] = sorted(allowed_set)
                continue
            asked_set = set(asked) if isinstance(asked, list) else {asked}
            if not asked_set <= allowed_set:
                out.append(
                    {"code": "FILTER_WIDENS_VIEW", "filter": name, "key": key, "extra": sorted(asked_set - allowed_set)}
                )
            merged[key] = sorted(asked_set & allowed_set)
        spec[name] = merged
    return out


def plan_facts(prepared: Prepared) -> lac_constraints.PlanFacts:
    stats = graph_cache.load(prepared.version).stats
    spec = prepared.spec
    return lac_constraints.PlanFacts(
        seeds=spec["seeds"],
        hops=spec["hops"],
        filtered=bool(spec["node_filter"] or spec["edge_filter"]),
        top_k=spec.get("top_k"),
        offset=spec["offset"],
        seed_stats={
            s: (n.degree, n.component, n.reach2) for s in spec["seeds"] if (n := stats.nodes.get(s)) is not None
        },
        component_sizes=stats.component_sizes,
        component_max_degree=stats.component_max_degree,
        component_hub=stats.component_hub,
        metric=spec["metric"],
    )
