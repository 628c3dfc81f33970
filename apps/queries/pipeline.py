"""The query pipeline: query → plan → LAC (access rules + graph constraints) → execute →
exact re-check → minimize → store, with every policy's decision logged and audited.

``query_run_execute`` only sequences named stages, each a function a test can target
(tests/queries/test_stages.py): ``plan`` → ``decide_before`` → ``execute_and_check`` →
``minimize`` → ``verdict`` → ``decision_log_facts`` → ``store``. Validation and view merging
are in ``planning``.

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

from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant
from apps.graphs import cache as graph_cache
from apps.graphs import engine
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
from apps.policy_studio.lac.engine import Context, GrantFacts, Resource, Subject
from apps.policy_studio.lac.language import CompiledPolicy
from apps.policy_studio.models import PolicyVersion

from . import exposure, hooks
from .models import QUERY_RUN_AUDIT_TARGET, Decision, QueryRun
from .planning import Prepared, plan_facts, prepare

EXPOSURE_WINDOW = exposure.EXPOSURE_WINDOW
logger = logging.getLogger(__name__)


def tenant_key(purpose: str) -> bytes:
    """A per-tenant key for keyed hashes (masking in logs, the hash transform)."""
    tenant = require_current_tenant()
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{tenant.pk}".encode(), hashlib.sha256).digest()


def mask_value(value: Any) -> str:
    return lac_minimize.keyed_hash(value, tenant_key("decision-log"))


@dataclass
class Plan:
    """Stage 1 (plan): everything decided before any policy runs."""

    actor: AbstractBaseUser
    now: Any
    environment: str
    prepared: Prepared
    subject: Subject
    resource: Resource
    context: Context
    policies: list[tuple[PolicyVersion, CompiledPolicy]]
    loaded: graph_cache.LoadedVersion
    enforce_rules: tuple[Any, ...]
    contract: list[dict[str, Any]]
    facts: lac_constraints.PlanFacts
    grants: tuple[GrantFacts, ...]

    @property
    def spec(self) -> dict[str, Any]:
        return self.prepared.spec

    @property
    def reason_sha256(self) -> str:
        return self.context.reason_sha256


@dataclass
class Produced:
    """What execution and minimization produced (empty when the run was blocked)."""

    execution: engine.Execution | None = None
    execution_ms: float = 0.0
    observed: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    steps: list[lac_minimize.AppliedStep] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    revealed: dict[str, Any] = field(default_factory=dict)
    failure: str = ""

    def fail(self, failure: str) -> None:
        """Nothing computed is kept after a failure; what was observed stays for the log."""
        self.failure = failure
        self.result, self.steps, self.returned, self.revealed, self.execution = None, [], [], {}, None


@dataclass
class Verdict:
    """Stage 5 (verdict): the run's status and the words the subject reads."""

    status: str
    codes: list[str]
    explanation: str
    used_grant: int | None
    jit_rule: str


GRANT_CODES = ("GRANT_NOT_APPLICABLE", "GRANT_REASON_MISMATCH")


def query_run_execute(*, actor: AbstractBaseUser, roles: frozenset[str], spec: Any, now: Any = None) -> QueryRun:
    """Run one query through the whole pipeline and store it with its decisions.

    Denials are results, not errors: the returned run says what was denied and why. Only a
    malformed query (400) or an unknown dataset/view (404) raises. A failure after validation
    is stored as a ``failed`` run with its audit event."""
    planned = plan(actor=actor, roles=roles, spec=spec, now=now or timezone.now())
    outcomes = decide_before(planned)
    produced = Produced()
    if not is_blocked(outcomes):
        try:
            execute_and_check(planned, outcomes, produced)
            if not is_blocked(outcomes):
                minimize(planned, produced)
        except Exception as exc:  # stored and audited as a failed run: never a 500, never lost
            logger.exception("query execution failed")
            produced.fail(type(exc).__name__)
    judged = verdict(outcomes, produced.failure)
    return store(planned, outcomes, produced, judged, decision_log_facts(planned, produced))


def plan(*, actor: AbstractBaseUser, roles: frozenset[str], spec: Any, now: Any) -> Plan:
    """Stage 1: validate and resolve the query, and gather the facts the planner knows."""
    # The Studio environment whose policies decide (prod unless the query names another).
    environment = check_environment(spec.get("environment") if isinstance(spec, dict) else None)
    if isinstance(spec, dict):
        spec = {k: v for k, v in spec.items() if k != "environment"}
    prepared = prepare(spec)
    spec = prepared.spec
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
    return Plan(
        actor=actor,
        now=now,
        environment=environment,
        prepared=prepared,
        subject=subject_for(actor, roles),
        resource=resource,
        context=context,
        policies=policies,
        loaded=loaded,
        enforce_rules=enforce_rules,
        contract=contract,
        facts=facts,
        grants=grants,
    )


def decide_before(planned: Plan) -> list[PolicyOutcome]:
    """Stage 2: every policy decides on the plan, before anything is executed. With no policy
    in force the default deny decides; monitor-only policies run in shadow beside it."""
    outcomes = decide_before_execution(
        planned.policies,
        planned.subject,
        planned.resource,
        planned.context,
        planned.facts,
        planned.contract,
        planned.grants,
    )
    if not planned.policies:
        outcomes = [PolicyOutcome(None, "enforce")]
        outcomes[0].deny(
            "access", "NO_ACTIVE_POLICY", "No policy is active in this tenant, so nothing is allowed (default deny)."
        )
    elif not any(p.mode == "enforce" for _, p in planned.policies):
        # Monitor policies are evaluated in shadow beside the default deny, never instead of it.
        outcomes.append(_no_enforce_policy())
    return outcomes


def is_blocked(outcomes: list[PolicyOutcome]) -> bool:
    return any(not o.allowed and o.mode == "enforce" for o in outcomes)


def execute_and_check(planned: Plan, outcomes: list[PolicyOutcome], produced: Produced) -> None:
    """Stage 3: execute, measure what the execution revealed (with the subject's prior
    exposure where a policy needs it), and let every policy decide again on the facts."""
    loaded, spec = planned.loaded, planned.spec
    produced.execution, produced.execution_ms = _execute(loaded, spec)
    execution, csr = produced.execution, loaded.csr
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
    if _needs_exposure(planned.policies):
        _add_exposure(planned, execution, result_facts, outcomes)
    produced.observed = result_facts.observe()
    decide_on_result(outcomes, planned.policies, planned.resource, produced.observed)


def _add_exposure(
    planned: Plan,
    execution: engine.Execution,
    result_facts: lac_constraints.ResultFacts,
    outcomes: list[PolicyOutcome],
) -> None:
    csr = planned.loaded.csr
    prior_nodes, prior_edges = exposure.prior_exposure(planned.actor, planned.prepared.dataset.pk, planned.now)
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


def minimize(planned: Plan, produced: Produced) -> None:
    """Stage 4: render the allowed execution and apply the enforced minimization rules."""
    loaded, spec, execution = planned.loaded, planned.spec, produced.execution
    assert execution is not None  # minimize runs only after execute_and_check
    rendered = engine.render(loaded.graph, execution, spec["fields"], spec["metric"])
    produced.result, produced.steps = lac_minimize.apply(
        rendered,
        planned.enforce_rules,
        loaded.attribute_classes["nodes"],
        tenant_key("minimize"),
        edge_classes=loaded.attribute_classes["edges"],
        node_filtered=spec["node_filter"],
        edge_filtered=spec["edge_filter"],
        source_attrs=engine.attribute_lookups(loaded.graph),
    )
    produced.returned = [n["id"] for n in produced.result["nodes"]]
    produced.revealed = exposure.as_json(execution.revealed_nodes, execution.revealed_edges)


def verdict(outcomes: list[PolicyOutcome], failure: str = "") -> Verdict:
    """Stage 5: status, reason codes and the subject's explanation from the outcomes."""
    blocked = is_blocked(outcomes)
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
    return Verdict(
        status=status,
        codes=codes,
        explanation=explanation,
        used_grant=next((o.grant_id for o in outcomes if o.allowed and o.grant_id and o.mode == "enforce"), None),
        jit_rule=next(
            (o.jit_rule for o in outcomes if o.jit_rule and {"JIT_REQUIRED", *GRANT_CODES} & set(o.codes)), ""
        ),
    )


def decision_log_facts(planned: Plan, produced: Produced) -> dict[str, Any]:
    """Stage 6: the facts the decision log keeps, with seeds and observed node ids masked."""
    spec, facts = planned.spec, planned.facts
    return {
        "subject": planned.subject.as_dict(),
        "resource": planned.resource.as_dict(),
        "context": planned.context.as_dict(),
        "query": {
            "metric": spec["metric"],
            "hops": spec["hops"],
            "fields": spec["fields"],
            "top_k": spec.get("top_k"),
            "offset": spec["offset"],
            "filter_keys": sorted({*spec["node_filter"], *spec["edge_filter"]}),
            "seeds": [mask_value(s) for s in spec["seeds"]],
            "reason_sha256": planned.reason_sha256,
        },
        "plan": {
            "filtered": facts.filtered,
            "seed_stats": [list(v) for v in facts.seed_stats.values()],
            "estimates": facts.estimates,
            "recent_result_denials": facts.recent_result_denials,
        },
        "observed": _mask_observed(produced.observed),
        "view_violations": planned.contract,
        "grants": [
            {
                "id": g.id,
                "rule_id": g.rule_id,
                "dataset": g.dataset,
                "data_classes": sorted(g.data_classes),
                "purpose": g.purpose,
            }
            for g in planned.grants
        ],
        **({"failure": produced.failure} if produced.failure else {}),
    }


def store(
    planned: Plan,
    outcomes: list[PolicyOutcome],
    produced: Produced,
    judged: Verdict,
    masked_facts: dict[str, Any],
) -> QueryRun:
    """Stage 7: the run, its decisions, its audit event and its manifests, in one transaction."""
    result = produced.result
    result_digest = (
        hashlib.sha256(json.dumps(result, sort_keys=True, separators=(",", ":")).encode()).hexdigest() if result else ""
    )
    with transaction.atomic():
        run = QueryRun.objects.create(
            environment=planned.environment,
            user=planned.actor,
            spec=planned.spec,
            dataset_version=planned.prepared.version,
            view=planned.prepared.view,
            status=judged.status,
            reason_codes=judged.codes,
            explanation=judged.explanation,
            result=result,
            result_digest=result_digest,
            minimization=[s.as_dict() for s in produced.steps],
            returned_nodes=produced.returned,
            exposure=produced.revealed,
            facts=masked_facts,
            lac_overhead_us=sum(o.elapsed_us for o in outcomes),
            execution_ms=round(produced.execution_ms, 3),
            jit_grant_id=judged.used_grant,
            jit_rule=judged.jit_rule,
            created_at=planned.now,
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
        event = audit_record(
            _AUDIT_ACTIONS.get(judged.status, "query.allowed"),
            actor=planned.actor,
            target=run,
            target_type=QUERY_RUN_AUDIT_TARGET,
            reason=planned.spec["reason"],
            payload=_audit_payload(planned, outcomes, decisions, produced, judged, result_digest),
        )
        QueryRun.objects.filter(pk=run.pk).update(audit_seq=event.seq)
        run.audit_seq = event.seq
        if result is not None and produced.execution is not None:
            for record_manifest in hooks.manifest_recorders():
                record_manifest(run, produced.execution, produced.steps)
    return run


_AUDIT_ACTIONS = {QueryRun.Status.DENIED: "query.denied", QueryRun.Status.FAILED: "query.failed"}


def _audit_payload(
    planned: Plan,
    outcomes: list[PolicyOutcome],
    decisions: list[Decision],
    produced: Produced,
    judged: Verdict,
    result_digest: str,
) -> dict[str, Any]:
    used_grant = judged.used_grant
    grant_reason = next((g.reason_sha256 for g in planned.grants if g.id == used_grant), "") if used_grant else ""
    return {
        "dataset": planned.prepared.dataset.slug,
        "version": planned.prepared.version.number,
        "view": planned.resource.view,
        "status": judged.status,
        "reason_codes": judged.codes,
        "decisions": [
            {"id": d.pk, "policy_version": o.version.pk if o.version else None, "outcome": d.outcome}
            for d, o in zip(decisions, outcomes, strict=True)
        ],
        "result_digest": result_digest,
        "jit_grant": used_grant,
        "named_grant": planned.spec.get("grant"),
        "reason_sha256": planned.reason_sha256,
        **({"grant_reason_sha256": grant_reason} if used_grant else {}),
        **({"failure": produced.failure} if produced.failure else {}),
    }


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
