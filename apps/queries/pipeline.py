"""The query pipeline: query → plan → LAC (access rules + graph constraints) → execute →
exact re-check → minimize → store, with every policy's decision logged and audited.

Other apps plug in through the declared hooks in ``apps.queries.hooks``: grant providers
(JIT grants consulted before access rules deny) and manifest recorders (provenance signs
a manifest for every executed query inside this transaction).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant
from apps.graphs import cache as graph_cache
from apps.graphs import engine
from apps.graphs.models import Dataset, DatasetVersion, GraphView
from apps.graphs.query_spec import QuerySpecError, validate_query_spec
from apps.policy_studio.decide import (
    PolicyOutcome,
    _needs_exposure,
    _no_enforce_policy,
    active_policies,
    decide_before_execution,
    decide_on_result,
    subject_for,
)
from apps.policy_studio.environments import check as check_environment
from apps.policy_studio.lac import constraints as lac_constraints
from apps.policy_studio.lac import minimize as lac_minimize
from apps.policy_studio.lac.engine import Context, Resource

from . import exposure, hooks
from .models import QUERY_RUN_AUDIT_TARGET, Decision, QueryRun

EXPOSURE_WINDOW = exposure.EXPOSURE_WINDOW
logger = logging.getLogger(__name__)


def tenant_key(purpose: str) -> bytes:
    """A per-tenant key for keyed hashes (masking in logs, the hash transform)."""
    tenant = require_current_tenant()
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{tenant.pk}".encode(), hashlib.sha256).digest()


def mask_value(value: Any) -> str:
    return lac_minimize.keyed_hash(value, tenant_key("decision-log"))


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


def query_run_execute(*, actor: AbstractBaseUser, roles: frozenset[str], spec: Any, now: Any = None) -> QueryRun:
    """Run one query through the whole pipeline and store it with its decisions.

    Denials are results, not errors: the returned run says what was denied and why. Only a
    malformed query (400) or an unknown dataset/view (404) raises. A failure after validation
    is stored as a ``failed`` run with its audit event."""
    now = now or timezone.now()
    # The Studio environment whose policies decide (prod unless the query names another).
    environment = check_environment(spec.get("environment") if isinstance(spec, dict) else None)
    if isinstance(spec, dict):
        spec = {k: v for k, v in spec.items() if k != "environment"}
    prepared = prepare(spec)
    spec = prepared.spec
    subject = subject_for(actor, roles)
    resource = Resource(
        dataset=prepared.dataset.slug,
        view=prepared.view.slug if prepared.view else None,
        data_classes=prepared.classes,
        license=prepared.dataset.license,
        legal_authority=prepared.dataset.legal_authority,
        dataset_age_days=(now - prepared.version.created_at).days,
    )
    reason_sha256 = hashlib.sha256(spec["reason"].encode()).hexdigest()
    context = Context(purpose=spec["purpose"], now=now, grant=spec.get("grant"), reason_sha256=reason_sha256)
    policies = active_policies(environment)
    loaded = graph_cache.load(prepared.version)
    node_classes, edge_classes = loaded.attribute_classes["nodes"], loaded.attribute_classes["edges"]
    enforce_rules = tuple(r for (_, p) in policies if p.mode == "enforce" for r in p.minimize)
    contract = prepared.view_violations + lac_minimize.filter_violations(
        spec, enforce_rules, node_classes, edge_classes
    )
    facts = plan_facts(prepared)
    facts.estimate()
    if _needs_exposure(policies):
        facts.recent_result_denials = exposure.recent_result_denials(actor, prepared.dataset.pk, now)
    grants = tuple(g for provider in hooks.grant_providers() for g in provider(actor, now))
    outcomes = decide_before_execution(policies, subject, resource, context, facts, contract, grants)
    if not policies:
        outcomes = [PolicyOutcome(None, "enforce")]
        outcomes[0].deny(
            "access", "NO_ACTIVE_POLICY", "No policy is active in this tenant, so nothing is allowed (default deny)."
        )
    elif not any(p.mode == "enforce" for _, p in policies):
        # Monitor policies are evaluated in shadow beside the default deny, never instead of it.
        outcomes.append(_no_enforce_policy())
    blocked = any(not o.allowed and o.mode == "enforce" for o in outcomes)

    result = None
    execution = None
    steps: list[lac_minimize.AppliedStep] = []
    observed: dict[str, Any] = {}
    returned: list[str] = []
    revealed: dict[str, Any] = {}
    execution_ms = 0.0
    failure = ""
    if not blocked:
        try:
            execution, execution_ms = _execute(loaded, spec)
            csr = loaded.csr
            result_facts = lac_constraints.ResultFacts(
                nodes=execution.revealed_nodes,
                edges=execution.revealed_edges,
                dist=execution.dist,
                path_to=execution.path_to,
                offset=spec["offset"],
                returned=len(execution.nodes),
                pairs=execution.revealed_pairs,
                index_nodes=execution.revealed_index,
                ids=csr.ids,
                far=execution.far_node,
            )
            if _needs_exposure(policies):
                prior_nodes, prior_edges = exposure.prior_exposure(actor, prepared.dataset.pk, now)
                started = time.perf_counter_ns()
                # Exposure from older versions counts where its ids still exist in this one.
                seen = [csr.index[n] for n in prior_nodes if n in csr.index]
                current = execution.revealed_index if execution.revealed_index is not None else []
                result_facts.exposure_component = lac_constraints.exposure_component_csr(
                    csr.matrix,
                    np.concatenate([np.asarray(seen, dtype=np.int64), np.asarray(current, dtype=np.int64)]),
                    csr.ids,
                )
                pairs = execution.revealed_pairs if execution.revealed_pairs is not None else csr.pairs_of([])
                result_facts.exposure_degree = lac_constraints.exposure_degree_pairs(
                    csr.pairs_of(sorted(prior_edges)), pairs, csr.ids
                )
                cumulative_us = (time.perf_counter_ns() - started) // 1000
                for o in outcomes:
                    o.elapsed_us += cumulative_us
            observed = result_facts.observe()
            decide_on_result(outcomes, policies, resource, observed)
            blocked = any(not o.allowed and o.mode == "enforce" for o in outcomes)
            if not blocked:
                rendered = engine.render(loaded.graph, execution, spec["fields"], spec["metric"])
                result, steps = lac_minimize.apply(
                    rendered,
                    enforce_rules,
                    node_classes,
                    tenant_key("minimize"),
                    edge_classes=edge_classes,
                    node_filtered=spec["node_filter"],
                    edge_filtered=spec["edge_filter"],
                    source_attrs=engine.attribute_lookups(loaded.graph),
                )
                returned = [n["id"] for n in result["nodes"]]
                revealed = exposure.as_json(execution.revealed_nodes, execution.revealed_edges)
        except Exception as exc:  # stored and audited as a failed run: never a 500, never lost
            logger.exception("query execution failed")
            failure = type(exc).__name__
            result, steps, returned, revealed, execution = None, [], [], {}, None

    monitor_denials = [o for o in outcomes if not o.allowed and o.mode == "monitor"]
    if failure:
        status = QueryRun.Status.FAILED
    elif blocked:
        status = QueryRun.Status.DENIED
    elif monitor_denials:
        status = QueryRun.Status.ALLOWED_MONITOR
    else:
        status = QueryRun.Status.ALLOWED
    deciding = [o for o in outcomes if not o.allowed and (o.mode == "enforce" or not blocked)] or outcomes
    codes = sorted({c for o in deciding for c in o.codes})
    # The run's explanation is what the subject reads; the decisions keep the auditor's words.
    explanation = " ".join(o.subject_explanation for o in deciding)
    if status == QueryRun.Status.ALLOWED_MONITOR:
        explanation = "Monitor mode only: " + explanation
    if failure:
        codes = sorted({*codes, "EXECUTION_FAILED"})
        explanation = "The query was allowed but could not be computed; nothing was returned. The failure is recorded."
    used_grant = next((o.grant_id for o in outcomes if o.allowed and o.grant_id and o.mode == "enforce"), None)
    masked_facts = {
        "subject": subject.as_dict(),
        "resource": resource.as_dict(),
        "context": context.as_dict(),
        "query": {
            "metric": spec["metric"],
            "hops": spec["hops"],
            "fields": spec["fields"],
            "top_k": spec.get("top_k"),
            "offset": spec["offset"],
            "filter_keys": sorted({*spec["node_filter"], *spec["edge_filter"]}),
            "seeds": [mask_value(s) for s in spec["seeds"]],
            "reason_sha256": reason_sha256,
        },
        "plan": {
            "filtered": facts.filtered,
            "seed_stats": [list(v) for v in facts.seed_stats.values()],
            "estimates": facts.estimates,
            "recent_result_denials": facts.recent_result_denials,
        },
        "observed": _mask_observed(observed),
        "view_violations": contract,
        "grants": [
            {
                "id": g.id,
                "rule_id": g.rule_id,
                "dataset": g.dataset,
                "data_classes": sorted(g.data_classes),
                "purpose": g.purpose,
            }
            for g in grants
        ],
        **({"failure": failure} if failure else {}),
    }
    overhead_us = sum(o.elapsed_us for o in outcomes)
    result_digest = (
        hashlib.sha256(json.dumps(result, sort_keys=True, separators=(",", ":")).encode()).hexdigest() if result else ""
    )
    grant_reason = next((g.reason_sha256 for g in grants if g.id == used_grant), "") if used_grant else ""
    with transaction.atomic():
        run = QueryRun.objects.create(
            environment=environment,
            user=actor,
            spec=spec,
            dataset_version=prepared.version,
            view=prepared.view,
            status=status,
            reason_codes=codes,
            explanation=explanation,
            result=result,
            result_digest=result_digest,
            minimization=[s.as_dict() for s in steps],
            returned_nodes=returned,
            exposure=revealed,
            facts=masked_facts,
            lac_overhead_us=overhead_us,
            execution_ms=round(execution_ms, 3),
            jit_grant_id=used_grant,
            jit_rule=next(
                (o.jit_rule for o in outcomes if o.jit_rule and {"JIT_REQUIRED", *GRANT_CODES} & set(o.codes)), ""
            ),
            created_at=now,
        )
        decisions = [
            Decision(
                tenant=run.tenant,
                query_run=run,
                policy_version=o.version,
                mode=o.mode,
                outcome="allow" if o.allowed else "deny",
                stage=o.stage,
                reason_codes=o.codes,
                explanation=o.explanation,
                violations=o.violations,
                timing_us=o.elapsed_us,
            )
            for o in outcomes
        ]
        Decision.objects.bulk_create(decisions)
        action = {QueryRun.Status.DENIED: "query.denied", QueryRun.Status.FAILED: "query.failed"}.get(
            status, "query.allowed"
        )
        event = audit_record(
            action,
            actor=actor,
            target=run,
            target_type=QUERY_RUN_AUDIT_TARGET,
            reason=spec["reason"],
            payload={
                "dataset": prepared.dataset.slug,
                "version": prepared.version.number,
                "view": resource.view,
                "status": status,
                "reason_codes": codes,
                "decisions": [
                    {"id": d.pk, "policy_version": o.version.pk if o.version else None, "outcome": d.outcome}
                    for d, o in zip(decisions, outcomes, strict=True)
                ],
                "result_digest": result_digest,
                "jit_grant": used_grant,
                "named_grant": spec.get("grant"),
                "reason_sha256": reason_sha256,
                **({"grant_reason_sha256": grant_reason} if used_grant else {}),
                **({"failure": failure} if failure else {}),
            },
        )
        QueryRun.objects.filter(pk=run.pk).update(audit_seq=event.seq)
        run.audit_seq = event.seq
        if result is not None and execution is not None:
            for record_manifest in hooks.manifest_recorders():
                record_manifest(run, execution, steps)
    return run


GRANT_CODES = ("GRANT_NOT_APPLICABLE", "GRANT_REASON_MISMATCH")


def _execute(loaded: graph_cache.LoadedVersion, spec: dict[str, Any]) -> tuple[engine.Execution, float]:
    started = time.perf_counter()
    execution = engine.execute(loaded.graph, spec, loaded.csr)
    return execution, (time.perf_counter() - started) * 1000


def _mask_observed(observed: dict[str, Any]) -> dict[str, Any]:
    """Node ids in observations are kept only as keyed hashes in the decision log."""
    if not observed:
        return {}
    out = dict(observed)
    for key in ("component_sample", "cumulative_sample", "far_path"):
        out[key] = [mask_value(n) for n in observed.get(key) or []]
    for key in ("hub", "cumulative_hub"):
        out[key] = mask_value(observed[key]) if observed.get(key) else None
    return out
