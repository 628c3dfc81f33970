"""One-row rules on the JIT models: "may this approver still decide" and "is this link usable".
The services and the e-mail view ask the row; these pin the rule itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from tests.conftest import member
from tests.factories import AccessRequestFactory, ApprovalFactory, ApprovalLinkFactory, dataset_in, policy_in

POLICY = "mode: enforce\nrules:\n  - {id: analysts, effect: allow, when: {role: [analyst]}}\n"


@pytest.fixture
def pending(tenant_a, admin_a):
    request = AccessRequestFactory(
        tenant=tenant_a,
        requester=member(tenant_a, "requester", Role.ANALYST),
        dataset=dataset_in(tenant_a, admin_a),
        policy_version=policy_in(tenant_a, admin_a, POLICY),
    )
    return request, member(tenant_a, "sup", Role.APPROVER)


def test_an_approver_may_decide_a_pending_request_once(pending) -> None:
    request, sup = pending
    now = timezone.now()
    with tenant_context(request.tenant):
        assert request.decision_refusal(sup, now) is None
        ApprovalFactory(request=request, approver=sup)
        assert request.decision_refusal(sup, now)[0] == "already_decided"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"status": "approved"}, "not_pending"),
        ({"deadline_at": timezone.now() - timedelta(seconds=1)}, "past_deadline"),
    ],
)
def test_a_decided_or_late_request_refuses(pending, change, code) -> None:
    request, sup = pending
    for name, value in change.items():
        setattr(request, name, value)
    with tenant_context(request.tenant):
        refusal = request.decision_refusal(sup, timezone.now())
    assert refusal is not None and refusal[0] == code and refusal[1].endswith(".")


def test_the_requester_never_decides_their_own_request(pending) -> None:
    request, _ = pending
    with tenant_context(request.tenant):
        assert request.decision_refusal(request.requester, timezone.now())[0] == "self_approval"


def test_a_link_is_usable_until_spent_or_expired(pending) -> None:
    request, sup = pending
    link = ApprovalLinkFactory(request=request, approver=sup)
    now = timezone.now()
    assert link.problem(now) is None
    assert link.problem(link.expires_at) == "This link has expired."
    link.used_at = now
    assert link.problem(now) == "This link has already been used."
