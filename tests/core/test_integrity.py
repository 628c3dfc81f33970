"""integrity_verify, as an attacker with database access would meet it: each kind of row is
rewritten with the append-only triggers disabled, and each rewrite is detected by the
command (named, non-zero exit), stored for the tenant's auditors, and shown on their pages."""

from __future__ import annotations

import html
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.provenance import services
from apps.provenance.models import IntegrityReport, LogLeaf, Manifest, Verification
from tests.conftest import demo_query, member, tamper, token_client


def _verified_run(client, tenant, **query):
    response = client.post("/api/queries/", demo_query(**query), format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    with tenant_context(tenant):
        v = Verification.objects.get(manifest__query_run_id=run_id)
        if v.finished_at is None:
            v = services.verification_run(v.pk)
    assert v.status == "match", v.message
    return run_id, v


@pytest.fixture
def world(analyst_api_a, lac_a, auditor_a):
    """Two witnessed runs in tenant A (so the newest leaf is not the only one)."""
    first = _verified_run(analyst_api_a, lac_a, seeds=["grp12-0"], hops=2, metric="pagerank")
    second = _verified_run(analyst_api_a, lac_a, seeds=["com-050"], hops=1, metric="degree")
    return {"tenant": lac_a, "runs": [first, second], "auditor": auditor_a}


def _verify(tenant=None) -> tuple[bool, str]:
    out = io.StringIO()
    try:
        call_command("integrity_verify", *([] if tenant is None else ["--tenant", tenant.slug]), stdout=out)
    except CommandError as exc:
        return "Integrity problems in" not in str(exc), out.getvalue()
    return True, out.getvalue()


def _shown_to_auditors(world, kind: str, needle: str) -> None:
    """The stored report, its page and its API all name the problem."""
    tenant, auditor = world["tenant"], world["auditor"]
    with tenant_context(tenant):
        report = IntegrityReport.objects.order_by("-checked_at", "-id").first()
    assert report is not None and not report.ok
    assert needle in report.results[kind]["first"]
    from django.test import Client

    web = Client()
    web.force_login(auditor)
    page = html.unescape(web.get(reverse("integrity")).content.decode())
    assert 'data-integrity="failed"' in page and needle in page
    api = token_client(auditor, tenant).get("/api/pcq/integrity/").json()
    assert api["latest"]["results"][kind]["ok"] is False and needle in api["latest"]["results"][kind]["first"]


def test_an_intact_deployment_passes_and_auditors_see_it(world, client) -> None:
    ok, out = _verify()
    assert ok, out
    assert "ok   agency-a: manifests (2 checked)" in out and "ok   agency-a: verdicts (2 checked)" in out
    client.force_login(world["auditor"])
    assert 'data-integrity="ok"' in client.get(reverse("integrity")).content.decode()


def test_deleting_the_newest_audit_event_is_detected(world) -> None:
    tenant = world["tenant"]
    newest = AuditEvent.all_tenants.filter(tenant=tenant).order_by("-seq").first()
    tamper("DELETE FROM core_auditevent WHERE id = %s", [newest.pk], "core_auditevent", "audit_append_only")
    ok, out = _verify(tenant)
    assert not ok and "FAIL agency-a: audit chain:" in out and "were removed from the tail" in out
    _shown_to_auditors(world, "audit_chain", "were removed from the tail")


def test_deleting_the_newest_log_leaf_is_detected(world) -> None:
    size = LogLeaf.objects.count()
    tamper('DELETE FROM provenance_logleaf WHERE "index" = %s', [size - 1], "provenance_logleaf")
    ok, out = _verify(world["tenant"])
    assert not ok and f"checkpoint at size {size} is larger than the stored tree ({size - 1} leaves)" in out
    _shown_to_auditors(world, "transparency_log", "is larger than the stored tree")


def test_deleting_the_newest_leaf_with_its_checkpoint_is_caught_by_the_audit_chain(world) -> None:
    size = LogLeaf.objects.count()
    tamper('DELETE FROM provenance_logleaf WHERE "index" = %s', [size - 1], "provenance_logleaf")
    tamper("DELETE FROM provenance_logcheckpoint WHERE size = %s", [size], "provenance_logcheckpoint")
    tamper("DELETE FROM provenance_lognode WHERE level = 0 AND position = %s", [size - 1], "provenance_lognode")
    ok, out = _verify(world["tenant"])
    assert not ok and f"witnessed at log leaf {size - 1}, which is no longer in the log" in out
    # The subtree hash written when that leaf arrived still names it, too.
    assert "covers leaves beyond the stored tree" in out


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("jit_grant", {"id": 999, "request": 1, "reason_sha256": "0" * 64}),
        ("tenant", "mallory"),
        ("random_seed", 8),
    ],
)
def test_editing_a_manifest_body_is_detected(world, field, value) -> None:
    run_id, _ = world["runs"][0]
    with tenant_context(world["tenant"]):
        m = Manifest.objects.get(query_run_id=run_id)
    body = {**m.body, field: value}
    tamper("UPDATE provenance_manifest SET body = %s WHERE id = %s", [json.dumps(body), m.pk], "provenance_manifest")
    ok, out = _verify(world["tenant"])
    needle = "the stored body does not match its signed digest"
    assert not ok and needle in out
    _shown_to_auditors(world, "manifests", needle)


def test_editing_a_manifest_body_and_its_digest_is_detected_by_the_signature(world) -> None:
    from apps.core.crypto.canonical import digest

    run_id, _ = world["runs"][0]
    with tenant_context(world["tenant"]):
        m = Manifest.objects.get(query_run_id=run_id)
    body = {**m.body, "jit_grant": {"id": 7, "request": 7, "reason_sha256": "1" * 64}}
    tamper(
        "UPDATE provenance_manifest SET body = %s, digest = %s WHERE id = %s",
        [json.dumps(body), digest(body), m.pk],
        "provenance_manifest",
    )
    ok, out = _verify(world["tenant"])
    assert not ok and "the executor's signature does not verify" in out


def test_a_manifest_edited_before_its_verification_is_not_replayed(world, analyst_api_a) -> None:
    tenant = world["tenant"]
    response = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json")
    with tenant_context(tenant):
        m = Manifest.objects.get(query_run_id=response.json()["id"])
        body = {**m.body, "jit_grant": {"id": 1, "request": 1, "reason_sha256": "2" * 64}}
        tamper(
            "UPDATE provenance_manifest SET body = %s WHERE id = %s", [json.dumps(body), m.pk], "provenance_manifest"
        )
        v = services.verification_run(Verification.objects.create(manifest=m).pk)
    assert v.status == "error" and "does not match its signed digest" in v.message
    assert not hasattr(v, "entry") or v.entry is None


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("status", "variance", "the stored verdict 'variance' differs from the witnessed 'match'"),
        ("verifier_evidence", '{"claims": {}, "signature": ""}', "stored verifier attestation differs"),
    ],
)
def test_editing_a_witnessed_verdict_row_is_detected(world, client, column, value, needle) -> None:
    run_id, v = world["runs"][0]
    Verification.all_tenants.filter(pk=v.pk).update(**{column: json.loads(value) if "{" in value else value})
    ok, out = _verify(world["tenant"])
    assert not ok and needle in out
    _shown_to_auditors(world, "verdicts", needle)
    client.force_login(world["auditor"])
    page = html.unescape(client.get(reverse("evidence-detail", args=[run_id])).content.decode())
    assert 'data-verdict="integrity_failed"' in page and needle in page


def test_a_verdict_edited_into_a_match_is_not_shown_as_one(world, analyst_api_a, client) -> None:
    tenant = world["tenant"]
    response = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json")
    run_id = response.json()["id"]
    with tenant_context(tenant):
        v = Verification.objects.get(manifest__query_run_id=run_id)
    # A verification that never ran (nothing witnessed) rewritten to a match.
    Verification.all_tenants.filter(pk=v.pk).update(status="match", finished_at=None)
    ok, out = _verify(tenant)
    assert not ok and "the stored verdict is 'match' but no witnessed envelope exists" in out
    client.force_login(world["auditor"])
    listing = client.get(reverse("evidence")).content.decode()
    assert 'data-verdict="integrity_failed"' in listing
    api = token_client(world["auditor"], tenant).get(f"/api/evidence/{run_id}/").json()
    assert api["verification"]["status"] == "integrity_failed" and api["verification"]["integrity_problem"]


def test_reports_are_per_tenant(world, tenant_b) -> None:
    auditor_b = member(tenant_b, "auditor-b", "auditor")
    newest = AuditEvent.all_tenants.filter(tenant=world["tenant"]).order_by("-seq").first()
    tamper("DELETE FROM core_auditevent WHERE id = %s", [newest.pk], "core_auditevent", "audit_append_only")
    ok, out = _verify()
    assert not ok and "ok   agency-b: audit chain" in out
    body = token_client(auditor_b, tenant_b).get("/api/pcq/integrity/").json()
    assert body["latest"]["results"]["audit_chain"]["ok"] is True
    from django.test import Client

    web = Client()
    web.force_login(auditor_b)
    page = web.get(reverse("integrity")).content.decode()
    assert 'data-integrity="ok"' in page and "removed from the tail" not in page
    assert all(
        r["id"] not in {x.pk for x in IntegrityReport.all_tenants.filter(tenant=world["tenant"])}
        for r in body["reports"]
    )


def test_integrity_api_needs_an_evidence_role_and_validates_limit(world, analyst_a) -> None:
    from tests.core.test_api import assert_envelope

    _verify()
    assert token_client(analyst_a, world["tenant"]).get("/api/pcq/integrity/").status_code == 403
    auditor = token_client(world["auditor"], world["tenant"])
    assert_envelope(auditor.get("/api/pcq/integrity/", {"limit": 0}), 400, "validation_error")
    assert len(auditor.get("/api/pcq/integrity/", {"limit": 1}).json()["reports"]) == 1


def test_the_nightly_task_stores_a_report_per_tenant(world, tenant_b) -> None:
    from apps.provenance.tasks import integrity_verify_all
    from trustfabric.celery import app

    result = integrity_verify_all.delay().get()
    assert result["failed"] == [] and result["tenants"] == 2
    assert IntegrityReport.all_tenants.filter(trigger="nightly").count() == 2
    schedule = app.conf.beat_schedule["integrity-verify-nightly"]
    assert schedule["task"] == "provenance.integrity_verify_all"


def test_rolling_a_chain_back_to_an_older_signed_head_is_caught_by_its_log_anchor(tenant_a) -> None:
    """The signed head alone cannot tell an old head from the current one; the log can, once
    the newer head was anchored in it (hourly, and after every integrity run)."""
    from apps.core.models import AuditHead
    from apps.core.services import audit_chain_walk
    from apps.provenance.models import AuditHeadAnchor
    from tests.factories import audit_event_in

    for i in range(3):
        audit_event_in(tenant_a, f"test.step{i}")
    old = AuditHead.all_tenants.get(tenant=tenant_a)
    newer = [audit_event_in(tenant_a, f"test.later{i}") for i in range(2)]
    [anchor] = services.audit_heads_anchor([tenant_a])
    assert (anchor.seq, anchor.head_hash) == (5, newer[-1].hash)
    assert services.audit_heads_anchor([tenant_a]) == []  # unchanged head: not anchored twice
    for event in newer:
        tamper("DELETE FROM core_auditevent WHERE id = %s", [event.pk], "core_auditevent", "audit_append_only")
    AuditHead.all_tenants.filter(tenant=tenant_a).update(seq=old.seq, hash=old.hash, note=old.note)
    # The chain and the restored head agree, but the anchored seq (#5) is evidence: the walk sees it too.
    assert "references event #5" in audit_chain_walk(tenant_a).first_break.problem
    ok, out = _verify(tenant_a)
    assert not ok and "audit-head anchor at log leaf" in out and "references event #5" in out
    assert AuditHeadAnchor.all_tenants.filter(tenant=tenant_a).count() >= 1


def test_an_edited_anchor_is_detected(tenant_a) -> None:
    from apps.provenance.models import AuditHeadAnchor
    from tests.factories import audit_event_in

    audit_event_in(tenant_a, "test.step")
    [anchor] = services.audit_heads_anchor([tenant_a])
    statement = {**anchor.statement, "seq": 1, "hash": "0" * 64}
    tamper(
        "UPDATE provenance_auditheadanchor SET statement = %s, head_hash = %s WHERE id = %s",
        [json.dumps(statement), "0" * 64, anchor.pk],
        "provenance_auditheadanchor",
    )
    ok, out = _verify(tenant_a)
    assert not ok and f"leaf {anchor.leaf_index}: the leaf hash does not match its audit-head anchor" in out
    assert AuditHeadAnchor.all_tenants.get(pk=anchor.pk).head_hash == "0" * 64


# --- Signed integrity reports ------------------------------------------------------------------


def _green_report(tenant) -> IntegrityReport:
    from tests.factories import audit_event_in

    audit_event_in(tenant, "test.step")
    ok, out = _verify(tenant)
    assert ok, out
    with tenant_context(tenant):
        return IntegrityReport.objects.order_by("-checked_at", "-id").first()


def _report_page(tenant, auditor) -> str:
    from django.test import Client

    web = Client()
    web.force_login(auditor)
    return html.unescape(web.get(reverse("integrity")).content.decode())


def _reports_check_fails(tenant, needle: str) -> None:
    ok, out = _verify(tenant)
    assert not ok and "FAIL agency-a: integrity reports:" in out and needle in out, out


@pytest.mark.parametrize(
    ("assignment", "value"),
    [
        ("ok = %s", False),
        ("problems = %s", 7),
        ("results = %s", json.dumps({"audit_chain": {"ok": True, "first": None}})),
        ("trigger = %s", "nightly"),
        ("checked_at = checked_at + %s::interval", "1 day"),
    ],
)
def test_an_edited_report_shows_signature_invalid_and_is_named_by_the_next_run(tenant_a, assignment, value) -> None:
    auditor = member(tenant_a, "auditor-r", "auditor")
    report = _green_report(tenant_a)
    assert 'data-integrity="ok"' in _report_page(tenant_a, auditor)
    tamper(
        f"UPDATE provenance_integrityreport SET {assignment} WHERE id = %s",
        [value, report.pk],
        "provenance_integrityreport",
    )
    page = _report_page(tenant_a, auditor)
    assert 'data-integrity="signature-invalid"' in page and "Signature invalid" in page
    assert f"integrity report {report.pk} of" in page and "the signature does not verify" in page
    api = token_client(auditor, tenant_a).get("/api/pcq/integrity/").json()
    assert "signature does not verify" in api["latest"]["integrity_problem"]
    _reports_check_fails(tenant_a, f"integrity report {report.pk} of")


def test_a_report_moved_to_another_tenant_is_invalid_there(tenant_a, tenant_b) -> None:
    report = _green_report(tenant_a)
    tamper(
        "UPDATE provenance_integrityreport SET tenant_id = %s WHERE id = %s",
        [tenant_b.pk, report.pk],
        "provenance_integrityreport",
    )
    page = _report_page(tenant_b, member(tenant_b, "auditor-b", "auditor"))
    assert 'data-integrity="signature-invalid"' in page and "the signature does not verify" in page


def test_a_fake_green_report_is_unsigned(tenant_a) -> None:
    auditor = member(tenant_a, "auditor-r", "auditor")
    _green_report(tenant_a)
    # An attacker with DB access inserts a newer green report (they cannot sign it).
    with tenant_context(tenant_a):
        fake = IntegrityReport.objects.create(ok=True, problems=0, results={}, trigger="nightly")
    page = _report_page(tenant_a, auditor)
    assert 'data-integrity="signature-invalid"' in page and f"integrity report {fake.pk} of" in page
    assert "is unsigned" in page
    _reports_check_fails(tenant_a, "is unsigned")


def test_deleting_the_newest_failing_report_is_detected(tenant_a) -> None:
    auditor = member(tenant_a, "auditor-r", "auditor")
    _green_report(tenant_a)
    newest = AuditEvent.all_tenants.filter(tenant=tenant_a).order_by("-seq").first()
    tamper("DELETE FROM core_auditevent WHERE id = %s", [newest.pk], "core_auditevent", "audit_append_only")
    ok, _ = _verify(tenant_a)
    assert not ok
    with tenant_context(tenant_a):
        red = IntegrityReport.objects.order_by("-checked_at", "-id").first()
    assert not red.ok
    # Hide the failure: delete the red report so the older green one is the latest again.
    tamper("DELETE FROM provenance_integrityreport WHERE id = %s", [red.pk], "provenance_integrityreport")
    page = _report_page(tenant_a, auditor)
    assert 'data-integrity="signature-invalid"' in page
    assert f"records integrity report {red.pk} as the newest" in page
    _reports_check_fails(tenant_a, f"records integrity report {red.pk}, which no longer exists")


def test_a_copied_genuine_report_is_detected(tenant_a) -> None:
    """A signed report copied as a new row (its signature verifies) has no audit event."""
    report = _green_report(tenant_a)
    tamper(
        "INSERT INTO provenance_integrityreport (tenant_id, checked_at, ok, problems, results, trigger, signature, key_id)"
        " SELECT tenant_id, checked_at, ok, problems, results, trigger, signature, key_id"
        " FROM provenance_integrityreport WHERE id = %s",
        [report.pk],
        "provenance_integrityreport",
    )
    page = _report_page(tenant_a, member(tenant_a, "auditor-r", "auditor"))
    assert 'data-integrity="signature-invalid"' in page and "a report was deleted or inserted" in page
    _reports_check_fails(tenant_a, "has no integrity.checked audit event (it was inserted)")


# --- What the evidence page shows besides the verdict is bound to the witness ------------------


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("message", "Replay matched; nothing to see.", "verdict message"),
        ("diff", {"inputs": [], "notes": ["all fine"]}, "replay diff"),
        ("verifier_result", {"status": "affirming", "mode": "sim", "reasons": []}, "verifier attestation result"),
        ("witness_result", {"status": "affirming", "mode": "hw", "reasons": []}, "witness attestation result"),
        ("replay_ms", 0.001, "replay time"),
    ],
)
def test_editing_what_the_evidence_page_shows_is_detected(world, client, field, value, label) -> None:
    run_id, v = world["runs"][0]
    client.force_login(world["auditor"])
    page = client.get(reverse("evidence-detail", args=[run_id])).content.decode()
    assert 'data-verdict="match"' in page and "data-details-unbound" not in page
    Verification.all_tenants.filter(pk=v.pk).update(**{field: value})
    needle = f"the stored {label} differs from the one the envelope binds"
    ok, out = _verify(world["tenant"])
    assert not ok and needle in out
    _shown_to_auditors(world, "verdicts", needle)
    page = html.unescape(client.get(reverse("evidence-detail", args=[run_id])).content.decode())
    assert 'data-verdict="integrity_failed"' in page and needle in page
    api = token_client(world["auditor"], world["tenant"]).get(f"/api/evidence/{run_id}/").json()
    assert api["verification"]["status"] == "integrity_failed" and needle in api["verification"]["integrity_problem"]


def test_a_v1_envelope_still_verifies_and_says_what_it_does_not_bind(world, client) -> None:
    """Envelopes witnessed before v2 bind the verdict, manifest and evidence only: they stay
    valid, and the page says the message, diff and results are the row's word."""
    import base64

    from apps.core.crypto.canonical import digest
    from apps.core.keys import signer
    from apps.provenance import witness
    from apps.provenance.integrity import verdict_problem, witnessed_verdict
    from apps.provenance.models import WitnessedEntry

    run_id, v = world["runs"][0]
    entry = WitnessedEntry.all_tenants.get(verification=v)
    st = json.loads(base64.b64decode(entry.envelope["payload"]))
    assert st["type"] == witness.V2 and set(st["shown"]) == set(witness.SHOWN_FIELDS)
    v1 = {k: val for k, val in st.items() if k != "shown"} | {"type": witness.V1}
    env = witness.cosign(v1, signer("verifier"), signer("witness"))
    tamper(
        "UPDATE provenance_witnessedentry SET envelope = %s, envelope_digest = %s WHERE id = %s",
        [json.dumps(env), digest(env), entry.pk],
        "provenance_witnessedentry",
    )
    Verification.all_tenants.filter(pk=v.pk).update(message="edited, but v1 never bound it")
    v = Verification.all_tenants.select_related("manifest", "entry").get(pk=v.pk)
    assert verdict_problem(v, world["tenant"].slug) is None
    shown = witnessed_verdict(v, world["tenant"].slug)
    assert shown["status"] == "match" and shown["details_witnessed"] is False
    client.force_login(world["auditor"])
    page = client.get(reverse("evidence-detail", args=[run_id])).content.decode()
    assert 'data-verdict="match"' in page and "data-details-unbound" in page and "(v1," in page


# --- A whole chain wiped with its anchor rows ----------------------------------------------------


def test_wiping_a_whole_chain_with_its_anchor_rows_is_caught_by_the_log(tenant_a, tenant_b) -> None:
    """Events, signed head and AuditHeadAnchor rows all deleted, nothing else naming a seq:
    the log keeps each anchor's bytes with its leaf (covered by signed checkpoints)."""
    from apps.core.models import AuditHead
    from apps.core.services import audit_chain_walk
    from apps.provenance.models import AuditHeadAnchor
    from tests.factories import audit_event_in

    for i in range(3):
        audit_event_in(tenant_a, f"test.step{i}")
    [anchor] = services.audit_heads_anchor([tenant_a])
    assert services.log_anchored_heads(tenant_a) == [(anchor.leaf_index, 3, anchor.head_hash)]
    tamper("DELETE FROM core_auditevent WHERE tenant_id = %s", [tenant_a.pk], "core_auditevent", "audit_append_only")
    AuditHead.all_tenants.filter(tenant=tenant_a).delete()
    tamper("DELETE FROM provenance_auditheadanchor WHERE tenant_id = %s", [tenant_a.pk], "provenance_auditheadanchor")
    assert not AuditHeadAnchor.all_tenants.filter(tenant=tenant_a).exists()
    report = audit_chain_walk(tenant_a)
    assert not report.ok and "references event #3" in report.first_break.problem
    assert services.audit_anchor_problems(tenant_a) == [
        f"the log anchors event #3 at leaf {anchor.leaf_index}, whose audit-head anchor row was deleted, "
        "and the chain no longer has it: the chain was wiped or rolled back"
    ]
    ok, out = _verify(tenant_a)
    assert not ok
    assert (
        f"FAIL agency-a: audit chain: event #0 (id -): the chain ends at #0 but the audit-head anchor at log leaf {anchor.leaf_index} references event #3"
        in out
    )
    assert f"leaf {anchor.leaf_index}: the log anchors audit head #3 of tenant {tenant_a.pk}" in out
    assert audit_chain_walk(tenant_b).ok


def test_editing_the_bytes_kept_with_an_anchor_leaf_is_detected(tenant_a) -> None:
    from apps.provenance.models import LogLeaf
    from tests.factories import audit_event_in

    audit_event_in(tenant_a, "test.step")
    [anchor] = services.audit_heads_anchor([tenant_a])
    forged = json.dumps({"hash": "0" * 64, "seq": 1, "tenant_id": tenant_a.pk, "type": "trustfabric/audit-head/v1"})
    tamper(
        'UPDATE provenance_logleaf SET data = %s WHERE "index" = %s', [forged, anchor.leaf_index], "provenance_logleaf"
    )
    assert services.log_anchored_heads(tenant_a) == []  # not taken: it does not match the leaf hash
    ok, out = _verify(tenant_a)
    assert not ok and f"leaf {anchor.leaf_index}: the bytes stored with the leaf do not match its hash" in out
    assert LogLeaf.objects.get(index=anchor.leaf_index).data == forged
