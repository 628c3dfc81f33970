"""Sampled replays in the manifest, production anomalies with their lineage root, the
explorer (filters, groups, CSV, ≤ 5 clicks from a page to the root), suppression rules
(approval, breadth guard, lifetime, expiry, reminders, audit), paging, the drill, and the
cross-tenant answer for every new page."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import DomainError
from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.pcq_ops import anomalies, services, tasks
from apps.pcq_ops.models import Anomaly, OnCallPage, RunLineage, SuppressionRule
from apps.policy_studio.services import policy_save_version
from apps.provenance.models import Verification
from apps.queries.pipeline import query_run_execute
from tests.conftest import POLICY_SOURCE, demo_query, member
from tests.jit.conftest import smtp  # noqa: F401  (the aiosmtpd fixture)

pytestmark = pytest.mark.django_db
QUERY = demo_query(seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city"])


def _browser(user, tenant) -> Client:
    c = Client()
    c.force_login(user)
    session = c.session
    session["tenant_id"] = tenant.pk
    session.save()
    return c


def _run(analyst, capture):
    with capture(execute=True):
        return query_run_execute(actor=analyst, roles=frozenset({Role.ANALYST}), spec=QUERY)


def test_sampling_is_recorded_in_the_manifest_and_unsampled_runs_are_not_replayed(
    lac_a, admin_a, analyst_a, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(lac_a):
        full = _run(analyst_a, django_capture_on_commit_callbacks)
        assert full.manifest.body["sampling"]["replayed"] is True and full.manifest.body["sampling"]["rate"] == 1.0
        assert full.manifest.body["schema"].endswith("/v3")
        assert Verification.objects.filter(manifest=full.manifest).exists()
        # The smallest rates replay (almost) nothing; 0 itself is refused (nothing would ever replay).
        services.sampling_set(actor=admin_a, rate=1e-12, dataset=Dataset.objects.get(slug="calls-demo"))
        skipped = _run(analyst_a, django_capture_on_commit_callbacks)
        assert skipped.manifest.body["sampling"] == {
            **skipped.manifest.body["sampling"],
            "rate": 1e-12,
            "replayed": False,
        }
        assert not Verification.objects.filter(manifest=skipped.manifest).exists()
        assert AuditEvent.objects.filter(action="manifest.signed", target_id=str(skipped.manifest.pk)).exists()
        for bad in (1.5, 0, 0.0, -0.1, float("nan"), True, "0.5"):
            with pytest.raises(DomainError):
                services.sampling_set(actor=admin_a, rate=bad)


@pytest.fixture
def policy_anomaly(lac_a, admin_a, analyst_a, django_capture_on_commit_callbacks, smtp):  # noqa: F811
    """A good replay under policy v1, then a variance under v2: the root is the policy."""
    admin_a.email = "oncall@a.test"
    admin_a.save()
    with tenant_context(lac_a):
        good = _run(analyst_a, django_capture_on_commit_callbacks)
        assert RunLineage.objects.get(verification__manifest=good.manifest).good
        policy_save_version(actor=admin_a, slug="investigations", source=POLICY_SOURCE + "\n# v2\n", activate=True)
        bad = _run(analyst_a, django_capture_on_commit_callbacks)
        v = Verification.objects.get(manifest=bad.manifest)
        # The replay's verdict, as a variance would be recorded.
        Verification.objects.filter(pk=v.pk).update(status="variance", message="Replay differs: 3 metric values.")
        v.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            a = anomalies.verification_finished(v)
    return {"anomaly": a, "tenant": lac_a, "admin": admin_a, "smtp": smtp}


def test_a_policy_change_is_the_root_and_on_call_reaches_it_in_three_clicks(policy_anomaly, admin_b, tenant_b) -> None:
    a = policy_anomaly["anomaly"]
    assert a.root_kind == "policy" and "investigations v1" in a.root and "v2" in a.root and a.changed == ["policy"]
    assert a.page is not None
    page_mail = [m for m in policy_anomaly["smtp"].messages if "PCQ page" in m["Subject"]]
    assert page_mail and "oncall@a.test" in page_mail[0]["To"]
    c = _browser(policy_anomaly["admin"], policy_anomaly["tenant"])
    clicks = 0
    html = c.get(reverse("pcq-ops-pages")).content.decode()
    link = reverse("pcq-ops-page", args=[a.page_id])
    assert link in html
    html, clicks = c.get(link).content.decode(), clicks + 1
    link = reverse("pcq-ops-anomaly", args=[a.pk])
    assert link in html
    html, clicks = c.get(link).content.decode(), clicks + 1
    link = reverse("pcq-ops-lineage", args=[a.pk, "policy"])
    assert link in html
    html, clicks = c.get(link).content.decode(), clicks + 1
    assert "This is the root of the anomaly." in html and "investigations v2" in html and clicks <= 5
    # Another tenant's admin gets the same 404 as for a missing object, on every page.
    other = _browser(admin_b, tenant_b)
    for url in (
        reverse("pcq-ops-page", args=[a.page_id]),
        reverse("pcq-ops-anomaly", args=[a.pk]),
        reverse("pcq-ops-lineage", args=[a.pk, "policy"]),
    ):
        assert other.get(url).status_code == 404
    assert str(a.pk) not in other.get(reverse("pcq-ops-anomalies") + "?format=csv").content.decode()


def test_explorer_filters_groups_and_exports_csv(policy_anomaly) -> None:
    c = _browser(policy_anomaly["admin"], policy_anomaly["tenant"])
    url = reverse("pcq-ops-anomalies")
    assert f'data-anomaly="{policy_anomaly["anomaly"].pk}"' in c.get(url + "?root_kind=policy").content.decode()
    assert "data-anomaly=" not in c.get(url + "?root_kind=dataset").content.decode()
    assert "data-groups" in c.get(url + "?group=root_kind").content.decode()
    rows = list(csv.reader(io.StringIO(c.get(url + "?format=csv&kind=variance").content.decode())))
    assert rows[0][:4] == ["id", "created_at", "kind", "severity"] and rows[1][2] == "variance"
    assert rows[1][8] == "policy"


def test_suppression_needs_a_second_person_and_mutes_without_deleting(tenant_a, admin_a, smtp) -> None:  # noqa: F811
    author = member(tenant_a, "author", Role.POLICY_AUTHOR)
    author.email = "author@a.test"
    author.save()
    approver = member(tenant_a, "approver", Role.APPROVER)
    now = timezone.now()
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="g", shape="chain", size=20, seed=1, metric="degree")
        m = {"fixture": "g", "kind": "golden_drift"}
        with pytest.raises(DomainError) as too_broad:
            anomalies.suppression_create(actor=author, matchers={"kind": "golden_drift"}, reason="x", hours=4)
        assert too_broad.value.code == "suppression_too_broad"
        with pytest.raises(DomainError) as too_long:
            anomalies.suppression_create(actor=author, matchers=m, reason="x", hours=24 * 30)
        assert too_long.value.code == "suppression_lifetime"
        with pytest.raises(DomainError):
            anomalies.suppression_create(actor=author, matchers={**m, "bogus": 1}, reason="x", hours=4)
        rule = anomalies.suppression_create(actor=author, matchers=m, reason="known drift, fix in #99", hours=30)
        assert rule.status == "pending"
        with pytest.raises(DomainError) as self_approval:
            anomalies.suppression_approve(rule, actor=author, roles=frozenset({Role.APPROVER}))
        assert self_approval.value.code == "self_approval"
        rule = anomalies.suppression_approve(rule, actor=approver, roles=frozenset({Role.APPROVER}))
        assert rule.status == "active"
        golden = {**f.golden, "steps": {**f.golden["steps"], "rank": "0" * 64}}
        type(f).objects.filter(pk=f.pk).update(golden=golden)
        f.refresh_from_db()
        services.fixture_run(f, reruns=1)
        a = Anomaly.objects.get()
        assert a.suppressed_by == rule and a.page is None and OnCallPage.objects.count() == 0
        # Reminder before the end (once), then expiry; both audited.
        assert anomalies.suppressions_sweep(now=now + timedelta(hours=10)) == {"expired": 0, "reminded": 1}
        tasks.suppression_reminder_mail(tenant_a.pk, rule.pk)
        assert anomalies.suppressions_sweep(now=now + timedelta(hours=11)) == {"expired": 0, "reminded": 0}
        assert anomalies.suppressions_sweep(now=now + timedelta(hours=31)) == {"expired": 1, "reminded": 0}
        rule.refresh_from_db()
        assert rule.status == "expired"
        actions = set(
            AuditEvent.objects.filter(action__startswith="pcq_ops.suppression").values_list("action", flat=True)
        )
        assert actions == {f"pcq_ops.suppression_{x}" for x in ("created", "approved", "reminded", "expired")}
        # After expiry the same drift pages.
        services.fixture_run(f, reruns=1)
        assert Anomaly.objects.count() == 2 and OnCallPage.objects.count() == 1
    assert any("ends soon" in m["Subject"] and "author@a.test" in m["To"] for m in smtp.messages)


def test_a_broad_rule_needs_an_extra_approver(tenant_a, admin_a) -> None:
    a1, a2 = member(tenant_a, "ap1", Role.APPROVER), member(tenant_a, "ap2", Role.APPROVER)
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="g", shape="chain", size=20, seed=1, metric="degree")
        type(f).objects.filter(pk=f.pk).update(golden={**f.golden, "steps": {**f.golden["steps"], "rank": "0" * 64}})
        f.refresh_from_db()
        services.fixture_run(f, reruns=1)
        rule = anomalies.suppression_create(
            actor=admin_a, matchers={"fixture": "g", "kind": "golden_drift"}, reason="r", hours=2
        )
        assert rule.approvals_required == 2 and rule.breadth["share"] == 1.0
        assert anomalies.suppression_approve(rule, actor=a1, roles=frozenset({Role.APPROVER})).status == "pending"
        assert anomalies.suppression_approve(rule, actor=a2, roles=frozenset({Role.APPROVER})).status == "active"


def test_suppression_pages_are_role_checked_and_tenant_scoped(tenant_a, admin_a, tenant_b, admin_b) -> None:
    author = member(tenant_a, "author", Role.POLICY_AUTHOR)
    c = _browser(author, tenant_a)
    url = reverse("pcq-ops-suppressions")
    body = {
        "matchers": json.dumps({"dataset": "calls-demo", "root_kind": "policy"}),
        "hours": "4",
        "reason": "v7 rollout",
    }
    assert c.post(url, body).status_code == 302
    with tenant_context(tenant_a):
        rule = SuppressionRule.objects.get()
    assert c.post(reverse("pcq-ops-approve", args=[rule.pk])).status_code == 403  # an author is not an approver
    assert _browser(admin_b, tenant_b).post(reverse("pcq-ops-approve", args=[rule.pk])).status_code == 404
    assert "v7 rollout" in c.get(url).content.decode() and "author" in c.get(url).content.decode()
    assert c.post(url, {**body, "matchers": "{"}).status_code == 400
    assert _browser(admin_a, tenant_a).post(reverse("pcq-ops-approve", args=[rule.pk])).status_code == 302
    with tenant_context(tenant_a):
        rule.refresh_from_db()
        assert rule.status == "active"


def test_fixture_report_page_and_csv(tenant_a, admin_a, tenant_b, admin_b) -> None:
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="a-only", shape="chain", size=20, seed=1, metric="degree")
        type(f).objects.filter(pk=f.pk).update(nondeterministic_step="select")
        f.refresh_from_db()
        services.fixture_run(f, reruns=2)
    url = reverse("pcq-ops-report")
    assert "a-only" in _browser(admin_a, tenant_a).get(url).content.decode()
    assert "a-only" in _browser(admin_a, tenant_a).get(url + "?format=csv").content.decode()
    assert "a-only" not in _browser(admin_b, tenant_b).get(url + "?format=csv").content.decode()


def test_drill_prints_pages_avoided_and_no_missed_true_positive() -> None:
    out = StringIO()
    call_command("pcq_drill", stdout=out)
    result = json.loads(out.getvalue())
    assert result["benign_pages_avoided"] >= 0.4 and result["true_positives_missed"] == 0
    assert result["true_positives"] == 4 and result["pages_with_rules"] < result["pages_without_rules"]


def test_api_rules_and_anomalies_are_scoped_and_errors_are_envelopes(tenant_a, admin_a, tenant_b, admin_b) -> None:
    from tests.conftest import token_client

    approver = member(tenant_a, "api-approver", Role.APPROVER)
    api_a, api_b, api_ap = (
        token_client(admin_a, tenant_a),
        token_client(admin_b, tenant_b),
        token_client(approver, tenant_a),
    )
    body = {"matchers": {"dataset": "calls-demo", "root_kind": "policy"}, "reason": "v7 rollout", "hours": 4}
    created = api_a.post("/api/pcq-ops/suppressions/", body, format="json")
    assert created.status_code == 201 and created.json()["status"] == "pending"
    pk = created.json()["id"]
    too_broad = api_a.post("/api/pcq-ops/suppressions/", {**body, "matchers": {"dataset": "x"}}, format="json")
    assert too_broad.status_code == 400 and too_broad.json()["code"] == "suppression_too_broad"
    bad_type = api_a.post("/api/pcq-ops/suppressions/", {**body, "hours": "4"}, format="json")
    assert bad_type.status_code == 400 and set(bad_type.json()) >= {"code", "message", "details"}
    assert api_a.post(f"/api/pcq-ops/suppressions/{pk}/approve/").json()["code"] == "self_approval"
    assert api_b.post(f"/api/pcq-ops/suppressions/{pk}/approve/").status_code == 404
    assert api_b.get(f"/api/pcq-ops/suppressions/{pk}/").status_code == 404
    assert api_ap.post(f"/api/pcq-ops/suppressions/{pk}/approve/").json()["status"] == "active"
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="g", shape="chain", size=20, seed=1, metric="degree")
        type(f).objects.filter(pk=f.pk).update(golden={**f.golden, "steps": {**f.golden["steps"], "rank": "0" * 64}})
        f.refresh_from_db()
        services.fixture_run(f, reruns=1)
        a = Anomaly.objects.get()
    assert [r["id"] for r in api_a.get("/api/pcq-ops/anomalies/?kind=golden_drift").json()["results"]] == [a.pk]
    assert api_b.get(f"/api/pcq-ops/anomalies/{a.pk}/").status_code == 404
    assert api_b.get("/api/pcq-ops/anomalies/").json()["results"] == []
