"""Appeals: filed against real refusals, quota decisions and verdicts; the SLA's reminder and
escalation follow the test clock and go out as e-mail through the outbox; an operator decides
with a reason; both tenants see it; every step is audited in both chains without the reason's
text; another tenant gets a 404; bad input gets {code, message, details}."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.pilots import appeals
from apps.pilots.models import Appeal
from apps.zk_proofs.models import OverlapSession, PilotSettings
from tests.conftest import member, token_client
from tests.core.test_api import assert_envelope
from tests.factories import TenantFactory, UserFactory
from tests.zk.test_zk_sessions import _propose

pytestmark = pytest.mark.django_db
REASON = "Our k floor was agreed at 3 for this partner in the MOU annex"


@pytest.fixture
def operator() -> Any:
    return UserFactory(username="ps-operator", is_superuser=True, is_staff=True)


def _refuse_k_floor(zk_pair) -> None:
    answer = zk_pair["api_a"].post(
        "/api/zk/sessions/",
        {"partner": zk_pair["tb"].slug, "k": 1, "disclosure": "verdict", "selector_type": "phone"},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["code"] == "k_floor"


def _file(api, **body: Any) -> Any:
    return api.post("/api/pilots/appeals/", body, format="json")


def test_a_refusal_appeal_reaches_the_operator_and_both_tenants_see_the_decision(
    zk_pair, operator, smtp, django_capture_on_commit_callbacks
) -> None:
    _refuse_k_floor(zk_pair)
    with django_capture_on_commit_callbacks(execute=True):
        answer = _file(
            zk_pair["api_a"], subject="refusal", decision_code="k_floor", partner=zk_pair["tb"].slug, reason=REASON
        )
    assert answer.status_code == 201, answer.content
    appeal = answer.json()
    assert appeal["status"] == "open" and appeal["appellant"] == zk_pair["ta"].slug and appeal["partner"] == "agency-b"
    [mail] = smtp.to("ps-operator@example.test")
    assert "New pilot appeal from" in mail["Subject"] and REASON not in mail.as_string()
    # the partner tenant sees it too; a third tenant does not
    seen_by_b = zk_pair["api_b"].get(f"/api/pilots/appeals/{appeal['appeal']}/")
    assert seen_by_b.status_code == 200 and seen_by_b.json()["reason"] == REASON and seen_by_b.json()["mine"] is False
    other = TenantFactory(slug="agency-c")
    outsider = token_client(member(other, "c-admin", Role.ADMIN), other)
    assert_envelope(outsider.get(f"/api/pilots/appeals/{appeal['appeal']}/"), 404, "not_found")
    assert outsider.get("/api/pilots/appeals/").json()["results"] == []
    # tenants cannot decide; the operator can, once, with a reason
    ops = token_client_for_operator(operator)
    assert_envelope(
        zk_pair["api_a"].post(
            f"/api/pilots/operator/appeals/{appeal['appeal']}/decision/",
            {"outcome": "overturned", "reason": "x" * 20},
            format="json",
        ),
        403,
        "operators_only",
    )
    assert_envelope(
        ops.post(
            f"/api/pilots/operator/appeals/{appeal['appeal']}/decision/",
            {"outcome": "overturned", "reason": "no"},
            format="json",
        ),
        400,
        "bad_reason",
    )
    with django_capture_on_commit_callbacks(execute=True):
        decided = ops.post(
            f"/api/pilots/operator/appeals/{appeal['appeal']}/decision/",
            {"outcome": "overturned", "reason": "The annex allows k = 3; settings corrected"},
            format="json",
        )
    assert decided.status_code == 200 and decided.json()["status"] == "overturned"
    assert_envelope(
        ops.post(
            f"/api/pilots/operator/appeals/{appeal['appeal']}/decision/",
            {"outcome": "upheld", "reason": "second thoughts here"},
            format="json",
        ),
        409,
        "appeal_decided",
    )
    for api in (zk_pair["api_a"], zk_pair["api_b"]):
        view = api.get(f"/api/pilots/appeals/{appeal['appeal']}/").json()
        assert (
            view["decision_reason"] == "The annex allows k = 3; settings corrected"
            and view["decided_by"] == "ps-operator"
        )
    assert any("decided" in m["Subject"] for m in smtp.to("partner-a@example.test"))
    assert any("decided" in m["Subject"] for m in smtp.to("zk-admin-b@example.test"))  # the partner's admin too
    for tenant in (zk_pair["ta"], zk_pair["tb"]):
        events = AuditEvent.all_tenants.filter(tenant=tenant, action__startswith="pilot.appeal_")
        assert {e.action for e in events} == {"pilot.appeal_filed", "pilot.appeal_decided"}
        assert all(REASON not in str(e.payload) and "settings corrected" not in str(e.payload) for e in events)
        assert all(e.payload["appeal"] == appeal["appeal"] for e in events)


def token_client_for_operator(operator) -> Any:
    """Operators hold no tenant token; they use the API with their session."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(operator)
    return client


def test_reminder_and_escalation_follow_the_clock_once_each(
    zk_pair, operator, smtp, django_capture_on_commit_callbacks
) -> None:
    _refuse_k_floor(zk_pair)
    _file(zk_pair["api_a"], subject="refusal", decision_code="k_floor", partner="agency-b", reason=REASON)
    appeal = Appeal.objects.get()
    created = appeal.created_at
    with django_capture_on_commit_callbacks(execute=True):
        assert appeals.sweep(now=created + timedelta(hours=11, minutes=59)) == {"reminded": 0, "escalated": 0}
        assert appeals.sweep(now=created + timedelta(hours=12)) == {"reminded": 1, "escalated": 0}
        assert appeals.sweep(now=created + timedelta(hours=13)) == {"reminded": 0, "escalated": 0}
    assert any("Reminder" in m["Subject"] for m in smtp.to("ps-operator@example.test"))
    assert not smtp.to("zk-admin-a@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        assert appeals.sweep(now=created + timedelta(hours=24)) == {"reminded": 0, "escalated": 1}
        assert appeals.sweep(now=created + timedelta(hours=25)) == {"reminded": 0, "escalated": 0}
    for address in ("ps-operator@example.test", "zk-admin-a@example.test", "zk-admin-b@example.test"):
        assert sum("Escalated" in m["Subject"] for m in smtp.to(address)) == 1
    view = zk_pair["api_b"].get(f"/api/pilots/appeals/{appeal.public_id}/").json()
    assert view["escalated_at"] and view["reminded_at"]
    # decided late: recorded as outside the SLA
    appeals.appeal_decide(
        public_id=str(appeal.public_id),
        actor=operator,
        outcome="upheld",
        reason="k floor is 5 for both",
        now=created + timedelta(hours=26),
    )
    event = AuditEvent.all_tenants.get(tenant=zk_pair["tb"], action="pilot.appeal_decided")
    assert event.payload["within_sla"] is False
    actions = set(AuditEvent.all_tenants.filter(tenant=zk_pair["ta"]).values_list("action", flat=True))
    assert {"pilot.appeal_reminded", "pilot.appeal_escalated"} <= actions


def test_the_sla_is_a_setting(zk_pair, settings) -> None:
    settings.PILOT_APPEAL_SLA_HOURS = 4
    settings.PILOT_APPEAL_REMIND_HOURS = 1
    _refuse_k_floor(zk_pair)
    _file(zk_pair["api_a"], subject="refusal", decision_code="k_floor", reason=REASON)
    appeal = Appeal.objects.get()
    assert appeal.due_at - appeal.created_at == timedelta(hours=4)
    assert appeals.sweep(now=appeal.created_at + timedelta(hours=1))["reminded"] == 1


def test_a_quota_decision_can_be_appealed_and_unknown_decisions_cannot(zk_pair) -> None:
    with tenant_context(zk_pair["ta"]):
        PilotSettings.objects.update(requests_per_second=1, requests_burst=1)
    from apps.zk_proofs import quotas

    quotas._settings_cache.clear()
    api = zk_pair["api_a"]
    codes = [api.get("/api/zk/sessions/").status_code for _ in range(3)]
    assert 429 in codes
    assert_envelope(
        _file(api, subject="quota", decision_code="tenant.proofs_per_day", reason=REASON), 404, "unknown_decision"
    )
    assert_envelope(_file(api, subject="refusal", decision_code="k_floor", reason=REASON), 404, "unknown_decision")
    answer = _file(api, subject="quota", decision_code="tenant.requests_per_second", reason=REASON)
    assert answer.status_code == 201 and answer.json()["partner"] is None
    assert_envelope(
        _file(api, subject="quota", decision_code="tenant.requests_per_second", reason=REASON), 409, "appeal_open"
    )


def test_a_verdict_appeal_names_a_finished_session_of_the_tenant(zk_pair) -> None:
    session = _propose(zk_pair["api_a"], zk_pair["tb"].slug, 20)
    assert_envelope(_file(zk_pair["api_b"], subject="verdict", session=session, reason=REASON), 409, "not_ready")
    OverlapSession.objects.filter(public_id=session).update(status="done", verdict=False, finished_at=timezone.now())
    answer = _file(zk_pair["api_b"], subject="verdict", session=session, reason=REASON)
    assert answer.status_code == 201
    assert answer.json()["appellant"] == "agency-b" and answer.json()["partner"] == zk_pair["ta"].slug
    assert zk_pair["api_a"].get("/api/pilots/appeals/").json()["results"][0]["session"] == session
    other = TenantFactory(slug="agency-c")
    outsider = token_client(member(other, "c-partner", Role.PARTNER), other)
    assert_envelope(_file(outsider, subject="verdict", session=session, reason=REASON), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"subject": "verdict", "reason": REASON}, 400, "session_required"),
        ({"subject": "bogus", "reason": REASON}, 400, "validation_error"),
        ({"subject": "refusal", "decision_code": "k_floor", "reason": "short"}, 400, "bad_reason"),
        ({"subject": "refusal", "reason": REASON}, 400, "decision_required"),
        ({"subject": "verdict", "session": "not-a-uuid", "reason": REASON}, 400, "validation_error"),
        ({"subject": "refusal", "decision_code": "k_floor", "reason": REASON, "extra": 1}, 400, "validation_error"),
        ({"subject": "refusal", "decision_code": 7, "reason": REASON}, 400, "validation_error"),
    ],
)
def test_bad_appeals_get_a_clear_4xx(zk_pair, body, status, code) -> None:
    assert_envelope(_file(zk_pair["api_a"], **body), status, code)


def test_auditors_read_but_cannot_file_and_operators_only_see_the_queue(zk_pair, operator) -> None:
    auditor = token_client(member(zk_pair["ta"], "zk-auditor", Role.AUDITOR), zk_pair["ta"])
    assert auditor.get("/api/pilots/appeals/").status_code == 200
    assert_envelope(_file(auditor, subject="refusal", decision_code="k_floor", reason=REASON), 403, "permission_denied")
    assert_envelope(zk_pair["api_a"].get("/api/pilots/operator/appeals/"), 403, "operators_only")
    assert token_client_for_operator(operator).get("/api/pilots/operator/appeals/").status_code == 200
    assert_envelope(token_client_for_operator(operator).get("/api/pilots/appeals/"), 403, "no_tenant")


@hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(offsets=st.lists(st.integers(min_value=0, max_value=48 * 60), min_size=1, max_size=6))
def test_any_sequence_of_sweeps_reminds_and_escalates_once_and_never_early(zk_pair, operator, offsets) -> None:
    """Whatever minutes the beat happens to run at: one reminder iff a sweep ran at or after
    12 h, one escalation iff at or after 24 h, stamped with the first such sweep."""
    _refuse_k_floor(zk_pair)
    with tenant_context(zk_pair["ta"]):
        party = appeals.appeal_file(actor=zk_pair["a"], subject="refusal", decision_code="k_floor", reason=REASON)
    appeal = party.appeal
    totals = {"reminded": 0, "escalated": 0}
    times = sorted(appeal.created_at + timedelta(minutes=m) for m in offsets)
    for now in times:
        for key, n in appeals.sweep(now=now).items():
            totals[key] += n
    appeal.refresh_from_db()
    due_remind = [t for t in times if t >= appeal.remind_at]
    due_escalate = [t for t in times if t >= appeal.due_at]
    assert totals == {"reminded": int(bool(due_remind)), "escalated": int(bool(due_escalate))}
    assert appeal.reminded_at == (due_remind[0] if due_remind else None)
    assert appeal.escalated_at == (due_escalate[0] if due_escalate else None)
    appeals.appeal_decide(public_id=str(appeal.public_id), actor=operator, outcome="upheld", reason="closing this one")


def test_the_operator_queue_lists_open_appeals_by_deadline_before_decided_ones(zk_pair, operator) -> None:
    api = zk_pair["api_a"]
    _refuse_k_floor(zk_pair)
    api.post("/api/zk/sessions/", {"partner": "nobody", "k": 20, "selector_type": "phone"}, format="json")
    api.post("/api/zk/sessions/", {"partner": "agency-b", "k": 20, "selector_type": "account"}, format="json")
    now = timezone.now()
    filed = {}
    with tenant_context(zk_pair["ta"]):
        for code, hours in (("k_floor", 3), ("partner_unknown", 1), ("selector_type", 2)):
            filed[code] = appeals.appeal_file(
                actor=zk_pair["a"],
                subject="refusal",
                decision_code=code,
                reason=REASON,
                now=now + timedelta(hours=hours),
            ).appeal
    appeals.appeal_decide(
        public_id=str(filed["partner_unknown"].public_id),
        actor=operator,
        outcome="upheld",
        reason="no such partner exists",
    )
    queue = token_client_for_operator(operator).get("/api/pilots/operator/appeals/").json()["results"]
    assert [(a["decision_code"], a["status"]) for a in queue] == [
        ("selector_type", "open"),
        ("k_floor", "open"),
        ("partner_unknown", "upheld"),
    ]
    page = token_client_for_operator(operator).get("/pilots/operator/").content.decode()
    assert page.index(str(filed["selector_type"].public_id)[:8]) < page.index(
        str(filed["partner_unknown"].public_id)[:8]
    )
