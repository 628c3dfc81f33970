"""Promotion requests (issue 14, step 2): dev → stage → prod with gates run as a task with a
job row, prod approved by a second author, rollback audited."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.policy_studio import promotions
from apps.policy_studio.models import Deployment, Policy, PromotionRequest, StudioEvent
from apps.policy_studio.services import policy_save_version
from tests.conftest import POLICY_SOURCE, member

pytestmark = pytest.mark.django_db
TESTS = """tests:
  - {id: analyst-investigates, subject: {role: [analyst]}, resource: {data_class: [P2]}, purpose: investigation,
     expect: allow, reasons: ["rule:analysts-investigate"]}
  - {id: partner-no-identities, subject: {role: [partner]}, resource: {data_class: [P1]}, expect: deny}
"""


@pytest.fixture
def second(lac_a):
    return member(lac_a, "second-author", Role.POLICY_AUTHOR)


def draft(admin, source: str) -> int:
    return policy_save_version(
        actor=admin, slug="investigations", source=source, activate=True, environment="dev"
    ).number


def promote(actor, number: int, target: str, capture) -> PromotionRequest:
    with capture(execute=True):
        p = promotions.promotion_create(actor=actor, slug="investigations", number=number, target_env=target)
    p.refresh_from_db()
    return p


def test_dev_to_stage_to_prod_with_gates_and_a_second_author(
    lac_a, admin_a, second, django_capture_on_commit_callbacks
):
    with tenant_context(lac_a):
        n = draft(admin_a, POLICY_SOURCE + TESTS)
        stage = promote(admin_a, n, "stage", django_capture_on_commit_callbacks)
        job = stage.jobs.get()
        assert job.status == "done" and [r["gate"] for r in job.results] == [
            "lint", "tests", "redteam", "simulation", "coverage"
        ]  # fmt: skip
        assert all(r["ok"] for r in job.results), [r for r in job.results if not r["ok"]]
        tests = next(r for r in job.results if r["gate"] == "tests")
        assert tests["summary"].startswith("2/2 cases pass") and tests["details"]["rule_coverage"]["percent"] > 0
        assert stage.status == "ready"
        promotions.promotion_apply(actor=admin_a, pk=stage.pk)
        prod = promote(admin_a, n, "prod", django_capture_on_commit_callbacks)
        assert prod.status == "ready" and prod.needs_approval
        with pytest.raises(Exception, match="second author"):
            promotions.promotion_approve(actor=admin_a, pk=prod.pk)
        with pytest.raises(Exception, match="approval"):
            promotions.promotion_apply(actor=admin_a, pk=prod.pk)
        promotions.promotion_approve(actor=second, pk=prod.pk)
        policy = Policy.objects.get(slug="investigations")
        assert policy.active_version.number == n
        entry = Deployment.objects.filter(environment="prod").first()
        assert entry.kind == "promotion" and entry.version.number == n and entry.actor == second
        assert AuditEvent.objects.filter(action="policy.promoted").count() == 2

        back = promotions.rollback(actor=second, slug="investigations")
        policy.refresh_from_db()
        assert policy.active_version.number == 1 and back.kind == "rollback"
        assert AuditEvent.objects.filter(action="policy.rolled_back").exists()
        assert StudioEvent.objects.filter(name="revert").count() == 1


def test_promotion_must_start_where_the_version_runs(lac_a, admin_a):
    with tenant_context(lac_a):
        n = draft(admin_a, POLICY_SOURCE + "\n# v2\n")
        with pytest.raises(Exception, match="promote it to stage first"):
            promotions.promotion_create(actor=admin_a, slug="investigations", number=n, target_env="prod")
        with pytest.raises(Exception, match="first environment"):
            promotions.promotion_create(actor=admin_a, slug="investigations", number=n, target_env="dev")
