"""Pilot readiness: the MOU and checklist are signed in the app by each side's admin (tenant
key or recorded approval); a fully signed MOU is the agreement ZK-TX sessions need; the pilot
page shows both sides' settings, quotas against use, sessions, appeals and documents."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.zk_proofs.client import document_signing_message
from apps.zk_proofs.models import PilotAgreement, TenantKey
from tests.conftest import ROOT, member, token_client
from tests.core.test_api import assert_envelope
from tests.factories import TenantFactory
from tests.zk.test_zk_sessions import _propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(zk_pair) -> dict[str, Any]:
    return {
        "a": token_client(zk_pair["admin_a"], zk_pair["ta"]),
        "b": token_client(zk_pair["admin_b"], zk_pair["tb"]),
    }


def _mou(api, partner: str, **overrides: Any) -> Any:
    body = {
        "partner": partner,
        "kind": "mou",
        "title": "ZK-TX deconfliction pilot, phase 1",
        "scope": "Phone selectors; verdict only; k at least 5",
        "starts_on": (date.today() - timedelta(days=1)).isoformat(),
        "ends_on": (date.today() + timedelta(days=90)).isoformat(),
        **overrides,
    }
    return api.post("/api/pilots/documents/", body, format="json")


def _fingerprint(zk_pair, side: str) -> str:
    with tenant_context(zk_pair[f"t{side}"]):
        return TenantKey.objects.get().fingerprint


def test_a_signed_mou_is_the_agreement_sessions_need(zk_pair, admins) -> None:
    for tenant in (zk_pair["ta"], zk_pair["tb"]):
        with tenant_context(tenant):
            PilotAgreement.objects.all().delete()
    refused = zk_pair["api_a"].post(
        "/api/zk/sessions/", {"partner": "agency-b", "k": 20, "selector_type": "phone"}, format="json"
    )
    assert_envelope(refused, 403, "no_agreement")
    created = _mou(admins["a"], "agency-b")
    assert created.status_code == 201, created.content
    doc = created.json()
    assert doc["signed"] is False and [s["tenant"] for s in doc["signatures"]] == [zk_pair["ta"].slug, "agency-b"]
    # A signs with its long-term tenant key, over the digest both sides see
    signature = base64.b64encode(zk_pair["key_a"].sign(document_signing_message(doc["content_digest"]))).decode()
    signed_a = admins["a"].post(
        f"/api/pilots/documents/{doc['document']}/sign/",
        {"signatory_title": "Head of Legal", "fingerprint": _fingerprint(zk_pair, "a"), "signature": signature},
        format="json",
    )
    assert signed_a.status_code == 200, signed_a.content
    assert_envelope(
        admins["a"].post(f"/api/pilots/documents/{doc['document']}/sign/", {"signatory_title": "CISO"}, format="json"),
        409,
        "already_signed",
    )
    with tenant_context(zk_pair["tb"]):
        assert not PilotAgreement.objects.exists()  # one signature is not an agreement
    # B records its admin's approval (no key signature)
    signed_b = admins["b"].post(
        f"/api/pilots/documents/{doc['document']}/sign/", {"signatory_title": "CISO"}, format="json"
    )
    view = signed_b.json()
    assert view["signed"] is True
    assert [(s["method"], s["signer"]) for s in view["signatures"]] == [
        ("tenant_key", "zk-admin-a"),
        ("approval", "zk-admin-b"),
    ]
    for tenant, partner in ((zk_pair["ta"], "agency-b"), (zk_pair["tb"], zk_pair["ta"].slug)):
        with tenant_context(tenant):
            agreement = PilotAgreement.objects.get()
        assert agreement.partner == partner and agreement.ends_on == date.today() + timedelta(days=90)
        assert any("Head of Legal" in s for s in agreement.signatories)
        actions = set(AuditEvent.all_tenants.filter(tenant=tenant).values_list("action", flat=True))
        assert {"pilot.document_created", "pilot.document_signed", "pilot.agreement_recorded"} <= actions
    assert _propose(zk_pair["api_a"], "agency-b", 20)


def test_the_cli_signature_is_what_the_server_checks(zk_pair, admins, tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = tmp_path / "a.pem"
    key.write_bytes(
        zk_pair["key_a"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    doc = _mou(admins["a"], "agency-b").json()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.zk_proofs.client",
            "sign-document",
            "--digest",
            doc["content_digest"],
            "--tenant-key",
            str(key),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert fields["fingerprint"] == _fingerprint(zk_pair, "a")
    answer = admins["a"].post(
        f"/api/pilots/documents/{doc['document']}/sign/",
        {"signatory_title": "Head of Legal", "fingerprint": fields["fingerprint"], "signature": fields["signature"]},
        format="json",
    )
    assert answer.status_code == 200 and answer.json()["signatures"][0]["method"] == "tenant_key"


def test_signatures_that_do_not_verify_or_are_not_the_tenants_are_refused(zk_pair, admins) -> None:
    doc = _mou(admins["a"], "agency-b").json()
    other_doc = _mou(admins["a"], "agency-b", title="Phase 2").json()
    url = f"/api/pilots/documents/{doc['document']}/sign/"
    wrong_doc = base64.b64encode(zk_pair["key_a"].sign(document_signing_message(other_doc["content_digest"]))).decode()
    fp_a = _fingerprint(zk_pair, "a")
    body = {"signatory_title": "Head of Legal", "fingerprint": fp_a, "signature": wrong_doc}
    assert_envelope(admins["a"].post(url, body, format="json"), 400, "bad_signature")
    theirs = base64.b64encode(zk_pair["key_b"].sign(document_signing_message(doc["content_digest"]))).decode()
    body = {"signatory_title": "Head of Legal", "fingerprint": _fingerprint(zk_pair, "b"), "signature": theirs}
    assert_envelope(admins["a"].post(url, body, format="json"), 400, "unknown_tenant_key")
    assert_envelope(admins["a"].post(url, {"signatory_title": " "}, format="json"), 400, "validation_error")
    # partners (not admins) cannot sign; another tenant does not see the document at all
    assert_envelope(zk_pair["api_a"].post(url, {"signatory_title": "x"}, format="json"), 403, "permission_denied")
    other = TenantFactory(slug="agency-c")
    outsider = token_client(member(other, "c-admin", Role.ADMIN), other)
    assert_envelope(outsider.post(url, {"signatory_title": "x"}, format="json"), 404, "not_found")
    assert_envelope(outsider.get(f"/api/pilots/documents/{doc['document']}/"), 404, "not_found")
    assert_envelope(_mou(outsider, "agency-b"), 404, "partner_unknown")


def test_documents_must_be_complete_and_a_checklist_is_not_an_agreement(zk_pair, admins) -> None:
    assert_envelope(_mou(admins["a"], "agency-b", kind="checklist"), 400, "bad_document")
    assert_envelope(_mou(admins["a"], "agency-b", starts_on=None), 400, "bad_document")
    assert_envelope(_mou(admins["a"], "agency-b", ends_on="2020-01-01"), 400, "bad_document")
    assert_envelope(_mou(admins["a"], "agency-b", extra=True), 400, "validation_error")
    checklist = _mou(admins["a"], "agency-b", kind="checklist", items=["Tenant keys registered", "Trust file pinned"])
    doc = checklist.json()
    assert doc["items"] == ["Tenant keys registered", "Trust file pinned"] and doc["starts_on"] is None
    for side in ("a", "b"):
        admins[side].post(f"/api/pilots/documents/{doc['document']}/sign/", {"signatory_title": "CISO"}, format="json")
    assert admins["b"].get(f"/api/pilots/documents/{doc['document']}/").json()["signed"] is True
    with tenant_context(zk_pair["tb"]):
        assert PilotAgreement.objects.count() == 1  # only the fixture's, none from a checklist


def test_the_pilot_page_shows_settings_quotas_use_sessions_and_documents(zk_pair, admins) -> None:
    for _ in range(2):
        _propose(zk_pair["api_a"], "agency-b", 20)
    _mou(admins["a"], "agency-b")
    state = admins["b"].get(f"/api/pilots/partners/{zk_pair['ta'].slug}/").json()
    quotas = {q["quota"]: q for q in state["quotas"]}
    assert quotas["pair.sessions_per_day"] == {
        "quota": "pair.sessions_per_day",
        "limit": 10,
        "used_last_24h": 2,
        "share": 0.2,
    }
    assert len(state["sessions"]) == 2 and state["settings"]["theirs"]["k_floor"] == 5
    assert state["agreement_in_force"] is True and state["documents"][0]["signed"] is False
    browser = Client()
    browser.force_login(zk_pair["admin_b"])
    page = browser.get(f"/pilots/partners/{zk_pair['ta'].slug}/")
    html = page.content.decode()
    assert page.status_code == 200 and "pair.sessions_per_day" in html and "20 %" in html
    assert "ZK-TX deconfliction pilot, phase 1" in html and "Sign for agency-b" in html
    assert (
        '<tr data-setting="selector_types"><td>selector_types</td><td>phone, email</td><td>phone, email</td></tr>'
        in html
    )
    assert browser.get("/pilots/partners/agency-c/").status_code == 404
    assert_envelope(zk_pair["api_b"].get(f"/api/pilots/partners/{zk_pair['ta'].slug}/"), 403, "permission_denied")
