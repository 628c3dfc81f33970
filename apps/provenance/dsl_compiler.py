"""Compile provenance DSL chains against the current tenant's datasets."""

from __future__ import annotations

from typing import Any

from apps.core.errors import NotFound, ValidationFailed
from apps.graphs.models import Dataset, GraphView

from .pcq import manifest
from .pcq.dsl import Chain, ProvSyntaxError, parse
from .services import input_entry


def parse_or_400(text: str) -> Chain:
    try:
        return parse(text)
    except ProvSyntaxError as exc:
        raise ValidationFailed(
            f"The provenance chain is not valid: {exc}", code="invalid_prov", details=exc.as_dict()
        ) from exc


def compile_plan(text: str) -> dict[str, Any]:
    """A ``kind: plan`` manifest: sources resolved to dataset versions and hashes, the
    transform chain, no outputs yet. Deterministic: the same chain on the same data always
    compiles to the same bytes."""
    chain = parse_or_400(text)
    view = None
    if chain.source_kind == "view":
        view = GraphView.objects.select_related("dataset").filter(slug=chain.source).first()
        if view is None:
            raise NotFound(f"No view {chain.source!r}.")
        dataset = view.dataset
    else:
        dataset = Dataset.objects.filter(slug=chain.source).first()
        if dataset is None:
            raise NotFound(f"No dataset {chain.source!r}.")
    versions = dataset.versions.all() if chain.version is None else dataset.versions.filter(number=chain.version)
    version = versions.order_by("-number").first()
    if version is None:
        raise NotFound(f"Dataset {dataset.slug!r} has no version {chain.version}.")
    spec = {"node_filter": {}, "edge_filter": {}, "fields": [], "offset": 0, **chain.spec}
    if view is not None:
        # The plan shows what will really run: the view's filters and limits merged in.
        from apps.queries.planning import merge_view

        if "hops" not in chain.spec:
            spec.pop("hops", None)
        widened = merge_view(spec, view)
        if widened:
            raise ValidationFailed(
                "The chain asks for more than its view allows.", code="invalid_prov", details={"violations": widened}
            )
    spec.setdefault("hops", 1)
    body = {
        "schema": manifest.SCHEMA_ID,
        "kind": "plan",
        "query_run": None,
        "inputs": [input_entry(version, view)],
        "transforms": manifest.transforms_for(spec, dataset.slug, view.slug if view else None),
        "random_seed": spec.get("random_seed", 7),
        "libraries": {},
        "policy": [],
        "minimization": [],
        "jit_grant": None,
        "outputs": None,
    }
    manifest.validate(body)
    return body


def query_spec(text: str) -> dict[str, Any]:
    """The query spec a chain runs as (for POST /api/queries/ with ``prov``)."""
    chain = parse_or_400(text)
    target = {"view": chain.source} if chain.source_kind == "view" else {"dataset": chain.source}
    return {**target, **chain.spec}
