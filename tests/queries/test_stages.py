"""The pipeline's named stages, each targeted on its own (apps/queries/pipeline.py).

The end-to-end behaviour is in test_pipeline.py; these pin what each stage hands the next."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.policy_studio.decide import PolicyOutcome
from apps.queries import hooks, pipeline
from apps.queries.models import Decision, QueryRun
from tests.conftest import demo_query

ROLES = frozenset({Role.ANALYST})


def _plan(user: Any, **overrides: Any) -> pipeline.Plan:
    return pipeline.plan(actor=user, roles=ROLES, spec=demo_query(**overrides), now=timezone.now())


def test_plan_binds_seeds_to_the_view_and_knows_the_seed_degree(lac_a, analyst_a) -> None:
    with tenant_context(lac_a):
        planned = _plan(analyst_a, seeds=["hub-a", "grp12-0"], metric="degree")
        assert planned.facts.seed_stats["hub-a"][0] == 60  # the planner knows the hub before execution
        assert planned.resource.dataset == "calls-demo" and planned.context.reason_sha256
        assert [p.mode for _, p in planned.policies] == ["enforce"]


def test_decide_before_denies_a_known_hub_before_anything_runs(lac_a, analyst_a) -> None:
    with tenant_context(lac_a):
        planned = _plan(analyst_a, seeds=["hub-a"], hops=1, metric="neighbourhood")
        outcomes = pipeline.decide_before(planned)
    assert pipeline.is_blocked(outcomes)
    assert outcomes[0].stage == "plan" and "DEGREE_EXCEEDED" in outcomes[0].codes
    assert not QueryRun.all_tenants.exists()  # a stage stores nothing; only store() does


def test_decide_before_with_no_policy_is_the_default_deny(tenant_a, analyst_a, admin_a) -> None:
    from tests.conftest import load_calls_demo

    load_calls_demo(tenant_a, admin_a, policy=None)
    with tenant_context(tenant_a):
        outcomes = pipeline.decide_before(_plan(analyst_a, seeds=["grp12-0"], metric="degree"))
    assert [o.codes for o in outcomes] == [["NO_ACTIVE_POLICY"]] and pipeline.is_blocked(outcomes)


def test_execute_and_check_denies_on_the_measured_path(lac_a, analyst_a) -> None:
    with tenant_context(lac_a):
        planned = _plan(
            analyst_a,
            seeds=["hub-b-leaf03"],
            hops=2,
            metric="degree",
            top_k=1,
            edge_filter={"type": ["calls", "texts", "payments"]},
        )
        outcomes = pipeline.decide_before(planned)
        assert not pipeline.is_blocked(outcomes)  # filtered: the planner cannot be sure
        produced = pipeline.Produced()
        pipeline.execute_and_check(planned, outcomes, produced)
    assert pipeline.is_blocked(outcomes) and outcomes[0].stage == "result"
    assert produced.execution is not None and produced.observed and produced.result is None


def test_minimize_releases_ages_only_as_buckets(lac_a, analyst_a) -> None:
    with tenant_context(lac_a):
        planned = _plan(analyst_a, seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city", "age"])
        outcomes = pipeline.decide_before(planned)
        produced = pipeline.Produced()
        pipeline.execute_and_check(planned, outcomes, produced)
        pipeline.minimize(planned, produced)
    assert produced.result is not None and produced.returned == [n["id"] for n in produced.result["nodes"]]
    assert all(n["age"] == "suppressed" or n["age"].startswith("[") for n in produced.result["nodes"])
    assert {s.attribute for s in produced.steps} == {"*", "age"}


def _outcome(mode: str, *, deny: str | None = None) -> PolicyOutcome:
    o = PolicyOutcome(None, mode)
    if deny:
        o.deny("access", deny, f"Denied by {deny}.")
    else:
        o.codes = ["rule:ok"]
    return o


@pytest.mark.parametrize(
    ("outcomes", "failure", "status", "codes"),
    [
        ([_outcome("enforce")], "", "allowed", ["rule:ok"]),
        ([_outcome("enforce"), _outcome("monitor", deny="M")], "", "allowed_monitor", ["M"]),
        ([_outcome("enforce", deny="E"), _outcome("monitor", deny="M")], "", "denied", ["E"]),
        ([_outcome("enforce")], "KeyError", "failed", ["EXECUTION_FAILED", "rule:ok"]),
    ],
)
def test_verdict(outcomes, failure, status, codes) -> None:
    judged = pipeline.verdict(outcomes, failure)
    assert (judged.status, judged.codes) == (status, codes)
    if status == "allowed_monitor":
        assert judged.explanation.startswith("Monitor mode only: ")
    if failure:
        assert "could not be computed" in judged.explanation and failure not in judged.explanation


def test_decision_log_facts_keep_seeds_only_as_keyed_hashes(lac_a, analyst_a) -> None:
    with tenant_context(lac_a):
        planned = _plan(analyst_a, seeds=["grp12-0"], metric="degree")
        facts = pipeline.decision_log_facts(planned, pipeline.Produced(failure="KeyError"))
        assert facts["query"]["seeds"] == [pipeline.mask_value("grp12-0")]
    assert "grp12-0" not in json.dumps(facts) and facts["failure"] == "KeyError"


def test_store_is_one_transaction_with_the_manifest(lac_a, analyst_a, monkeypatch) -> None:
    def refusing_recorder(run: Any, execution: Any, steps: Any) -> None:
        raise RuntimeError("no manifest")

    monkeypatch.setattr(hooks, "_manifest_recorders", [refusing_recorder])
    with tenant_context(lac_a), pytest.raises(RuntimeError):
        pipeline.query_run_execute(actor=analyst_a, roles=ROLES, spec=demo_query(seeds=["grp12-0"], metric="degree"))
    # Without its manifest nothing is kept: no run, no decisions, no audit event.
    assert not QueryRun.all_tenants.exists() and not Decision.all_tenants.exists()
    assert not AuditEvent.all_tenants.filter(action__startswith="query.").exists()
