"""Every failed gate kind explains itself (issue 14, acceptance 2): which rules, constraints
or cases failed, the policy and data diff, a suggested mitigation, and a one-click draft
that turns the gate green. Time-to-fix is recorded from the failure to the next success."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.core.tenancy import tenant_context
from apps.policy_studio import environments as envs
from apps.policy_studio import promotions
from apps.policy_studio.models import Policy, StudioEvent
from apps.policy_studio.services import policy_save_version
from tests.conftest import POLICY_SOURCE, demo_query

pytestmark = pytest.mark.django_db
HASH_NAMES = "  - {id: hash-names, transform: hash, applies_to: {data_class: [P1]}}\n"


@pytest.fixture
def registered(lac_a, admin_a):
    """v1 registered (and running) in every environment."""
    with tenant_context(lac_a):
        policy = Policy.objects.get(slug="investigations")
        with transaction.atomic():  # register() joins the caller's transaction, as in the migration
            for name in envs.names():
                envs.register(
                    policy=policy, environment=name, version=policy.active_version, kind="migration", actor=None
                )
    return lac_a


def propose(admin, source: str, capture, target: str = "stage"):
    number = policy_save_version(
        actor=admin, slug="investigations", source=source, activate=True, environment="dev"
    ).number
    with capture(execute=True):
        p = promotions.promotion_create(actor=admin, slug="investigations", number=number, target_env=target)
    p.refresh_from_db()
    return p, {r["gate"]: r for r in p.jobs.get().results}


def fix(admin, p, gate: str, capture):
    with capture(execute=True):
        new = promotions.mitigation_apply(actor=admin, pk=p.pk, gate=gate)
    new.refresh_from_db()
    return new, {r["gate"]: r for r in new.jobs.get().results}


def test_coverage_and_lint_failures_suggest_a_hash_rule_and_the_fix_turns_them_green(
    registered, admin_a, django_capture_on_commit_callbacks
):
    with tenant_context(registered):
        p, gates = propose(admin_a, POLICY_SOURCE.replace(HASH_NAMES, ""), django_capture_on_commit_callbacks)
        assert p.status == "failed" and not gates["coverage"]["ok"] and not gates["lint"]["ok"]
        insight = gates["coverage"]["insight"]
        assert (
            "falls from 100.0% to 0.0%" in insight["cause"]
            and "name (P1, was investigations/hash-names)" in insight["cause"]
        )
        assert insight["suggestion"] == "Add a `hash` rule for the P1 attribute `name`."
        assert insight["policy_diff"]["changes"][0]["id"] == "hash-names"
        assert insight["policy_diff"]["changes"][0]["kind"] == "removed"
        assert insight["data_diff"][0]["dataset"] == "calls-demo" and "name" in insight["data_diff"][0]["tier1"]
        assert "`name`" in gates["lint"]["insight"]["suggestion"] and gates["lint"]["insight"]["mitigation"]
        fixed, after = fix(admin_a, p, "coverage", django_capture_on_commit_callbacks)
        assert after["coverage"]["ok"] and after["lint"]["ok"] and fixed.status == "ready", after
        promotions.promotion_apply(actor=admin_a, pk=fixed.pk)
        ttf = StudioEvent.objects.get(name="time_to_fix")
        assert ttf.value >= 0 and ttf.data["env"] == "stage"


def test_failing_policy_test_names_the_case_and_the_rule_and_restores_it(
    registered, admin_a, django_capture_on_commit_callbacks
):
    tests = (
        "tests:\n  - {id: analyst-investigates, subject: {role: [analyst]}, resource: {data_class: [P2]},"
        " purpose: investigation, expect: allow}\n"
    )
    source = POLICY_SOURCE.replace("purpose: [investigation, fraud]", "purpose: [fraud]") + tests
    with tenant_context(registered):
        p, gates = propose(admin_a, source, django_capture_on_commit_callbacks)
        insight = gates["tests"]["insight"]
        assert not gates["tests"]["ok"]
        assert insight["cause"].startswith("case analyst-investigates: expected allow, got deny")
        assert "analysts-investigate" in insight["suggestion"]
        _, after = fix(admin_a, p, "tests", django_capture_on_commit_callbacks)
        assert after["tests"]["ok"] and after["tests"]["summary"].startswith("1/1 cases pass")


def test_red_team_regression_names_the_attack_cases_and_restores_the_constraint(
    registered, admin_a, django_capture_on_commit_callbacks
):
    start = POLICY_SOURCE.index("constraints:\n")
    end = POLICY_SOURCE.index("minimize:\n")
    with tenant_context(registered):
        p, gates = propose(admin_a, POLICY_SOURCE[:start] + POLICY_SOURCE[end:], django_capture_on_commit_callbacks)
        red = gates["redteam"]
        assert not red["ok"] and red["details"]["regressions"]
        insight = red["insight"]
        assert "attack case(s) the base denies get through" in insight["cause"]
        assert "hub_expansion" in insight["cause"] or "component_harvest" in insight["cause"]
        assert "graph-shape" in insight["suggestion"]
        _, after = fix(admin_a, p, "redteam", django_capture_on_commit_callbacks)
        assert after["redteam"]["ok"] and after["redteam"]["details"]["changed"] == 0


def test_simulation_failure_suggests_raising_the_limit(
    registered, admin_a, analyst_api_a, django_capture_on_commit_callbacks
):
    for seeds, hops, metric in [
        (["grp12-0"], 2, "pagerank"),
        (["com-010"], 1, "degree"),
        (["com-020"], 2, "neighbourhood"),
    ]:
        spec = demo_query(seeds=seeds, hops=hops, metric=metric, fields=["city", "age"])
        analyst_api_a.post("/api/queries/", spec, format="json")
    with tenant_context(registered):
        # straight to prod's history: promote to stage, then to prod
        tight = POLICY_SOURCE.replace("max_degree: 25", "max_degree: 3")
        stage, _ = propose(admin_a, tight, django_capture_on_commit_callbacks)
        promotions.promotion_apply(actor=admin_a, pk=stage.pk)
        with django_capture_on_commit_callbacks(execute=True):
            p = promotions.promotion_create(actor=admin_a, slug="investigations", number=stage.version.number)
        p.refresh_from_db()
        sim = {r["gate"]: r for r in p.jobs.get().results}["simulation"]
        denied = sim["details"]["summary"]["newly_denied"]
        assert not sim["ok"] and denied >= 1, sim["summary"]
        insight = sim["insight"]
        assert f"{denied} past allowed decision(s) would be denied" in insight["cause"]
        assert "DEGREE_EXCEEDED" in insight["cause"]
        assert insight["suggestion"].startswith("Raise `max_degree` of `graph-shape` to ")
        assert "or add `top_k`" in insight["suggestion"] and insight["mitigation"]
        raised = int(insight["suggestion"].split(" to ")[1].split(" ")[0])
        assert raised > 3 and f"max_degree: {raised}" in insight["mitigation"]
        assert sim["details"]["examples"][0]["before"] == "allow" and sim["details"]["examples"][0]["after"] == "deny"
