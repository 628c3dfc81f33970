"""Attacks on ZK-TX v2 evidence: forged and edited bundles, unpinned keys, a server that
rewrites k, replayed countersignatures, transcripts at rest, retention, the committed v1
bundle, and the count-disclosure controls."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from apps.core.crypto.signing import key_id
from apps.core.keys import signer
from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.zk_proofs.client import ClientError, TenantSession, tenant_key_public
from apps.zk_proofs.models import OverlapSession, Participation, PilotSettings, TenantKey
from apps.zk_proofs.offline import NOT_PINNED, verify_file
from apps.zk_proofs.zk import bundle_v2
from tests.conftest import member
from tests.core.test_api import assert_envelope
from tests.zk.test_zk_sessions import _propose, drive, trust_for

VECTORS = Path(__file__).parent / "vectors"


@pytest.fixture
def finished(zk_pair) -> dict[str, Any]:
    session = _propose(zk_pair["api_a"], zk_pair["tb"].slug, 20)
    sides = drive(zk_pair, session, [f"+4477{i:08d}" for i in range(130)], [f"+4477{i:08d}" for i in range(100, 230)])
    data = zk_pair["api_a"].get(f"/api/zk/sessions/{session}/bundle/").content
    return {"session": session, "data": data, "trust": trust_for(zk_pair["ta"]), "sides": sides, **zk_pair}


def _resign(bundle: dict[str, Any], private: Ed25519PrivateKey | None = None) -> bytes:
    """What a hostile server (or anyone with a key) can do: re-sign an edited header."""
    if private is None:
        bundle["server_signature"] = signer("executor").sign(bundle_v2.server_message(bundle["header"]))
    else:
        bundle["header"]["server_key_id"] = key_id(private.public_key())
        msg = bundle_v2.server_message(bundle["header"])
        bundle["server_signature"] = base64.b64encode(private.sign(msg)).decode()
    return rfc8785.dumps(bundle)


def test_the_issued_bundle_verifies_only_against_pinned_keys(finished) -> None:
    assert verify_file(finished["data"], finished["trust"]) == []
    assert verify_file(finished["data"], None) == [NOT_PINNED]
    forged = json.loads(finished["data"])
    forged["header"]["verdict"] = not forged["header"]["verdict"]
    data = _resign(forged, Ed25519PrivateKey.generate())  # flipped and re-signed with a fresh key
    assert verify_file(data, finished["trust"]) == [NOT_PINNED]
    assert verify_file(data, None) == [NOT_PINNED]
    # a trust file that pins the tenants but not that key changes nothing
    other_trust = {**finished["trust"], "server_keys": {}}
    assert verify_file(finished["data"], other_trust) == [NOT_PINNED]


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.update(extra="1"),
        lambda b: b.update(tenant_signatures={"A": b["header"]["tenants"]["A"]["round1_signature"]}),
        lambda b: b["header"].update(note="added by someone"),
        lambda b: b["header"]["tenants"]["A"].update(key=b["header"]["tenants"]["A"]["key"].upper()),
        lambda b: b["header"]["tenants"]["A"]["round1_signature"].update(
            c="0x" + b["header"]["tenants"]["A"]["round1_signature"]["c"][2:]
        ),
        lambda b: b["header"]["tenants"]["B"]["round1_signature"].update(
            s=b["header"]["tenants"]["B"]["round1_signature"]["s"].upper()
        ),
        lambda b: b["header"]["tenants"]["A"].pop("statement_signature"),
        lambda b: b["header"].update(count=0),
    ],
    ids=[
        "extra-top-level",
        "tenant-sigs-outside",
        "extra-header-key",
        "upper-key",
        "0x-scalar",
        "upper-scalar",
        "dropped-countersig",
        "count-added",
    ],
)
def test_edits_outside_or_inside_the_header_fail_even_when_re_canonicalised(finished, edit) -> None:
    bundle = json.loads(finished["data"])
    edit(bundle)
    problems = verify_file(rfc8785.dumps(bundle), finished["trust"])
    assert problems and problems != [], problems


def test_a_server_that_rewrites_k_cannot_keep_the_countersignatures(finished) -> None:
    """Even re-signed with the real server key, a changed k breaks both tenants' statements."""
    bundle = json.loads(finished["data"])
    bundle["header"]["k"] = 999
    problems = verify_file(_resign(bundle), finished["trust"])
    assert "the countersigned statement differs from the header" in problems
    bundle["header"]["statement"]["k"] = 999  # rewrite the statement too
    problems = verify_file(_resign(bundle), finished["trust"])
    assert any("countersignature does not verify" in p for p in problems), problems
    # and an honest client refuses to countersign a statement whose k is not the session's
    me: TenantSession = finished["sides"]["A"]
    stmt = {**finished["api_a"].get(f"/api/zk/sessions/{finished['session']}/statement/").json(), "k": 999}
    with pytest.raises(ClientError, match="k"):
        me.check_statement(stmt, {"k": 20, "disclosure": "verdict_and_count", "selector_type": "phone"})


def test_a_tenant_key_not_in_the_trust_file_is_not_verified(finished) -> None:
    trust = json.loads(json.dumps(finished["trust"]))
    fp = json.loads(finished["data"])["header"]["tenants"]["B"]["tenant_key_fingerprint"]
    del trust["tenant_keys"][fp]
    problems = verify_file(finished["data"], trust)
    assert problems == [f"not verified: tenant {finished['tb'].slug}'s long-term key is not pinned"]


def test_countersignatures_are_checked_refused_and_audited(zk_pair) -> None:
    api_a, api_b = zk_pair["api_a"], zk_pair["api_b"]
    session = _propose(api_a, zk_pair["tb"].slug, 20)
    drive(zk_pair, session, [f"a{i}" for i in range(10)], [f"a{i}" for i in range(5, 15)], countersign=False)
    url = f"/api/zk/sessions/{session}/statement/"
    stmt = api_a.get(url).json()
    assert stmt["k"] == 20 and set(stmt["roots"]) == {"A", "B"} and set(stmt["roots"]["A"]) == {"round1", "round2"}
    stranger = Ed25519PrivateKey.generate()
    me = TenantSession(session=session, tenant=zk_pair["ta"].slug, role="A")
    assert_envelope(api_a.post(url, me.countersign(stmt, stranger), format="json"), 400, "unknown_tenant_key")
    good = me.countersign(stmt, zk_pair["key_a"])
    wrong = {**good, "signature": me.countersign({**stmt, "k": 21}, zk_pair["key_a"])["signature"]}
    assert_envelope(api_a.post(url, wrong, format="json"), 400, "bad_countersignature")
    # B's key is registered, but to tenant B: A cannot countersign with it
    assert_envelope(api_a.post(url, me.countersign(stmt, zk_pair["key_b"]), format="json"), 400, "unknown_tenant_key")
    assert api_a.post(url, good, format="json").status_code == 202
    assert_envelope(api_a.post(url, good, format="json"), 409, "replayed_countersignature")
    assert OverlapSession.objects.get(public_id=session).status != "done"  # B has not countersigned
    codes = set(AuditEvent.all_tenants.filter(action="zk.refused").values_list("payload__code", flat=True))
    assert {"unknown_tenant_key", "bad_countersignature", "replayed_countersignature"} <= codes
    assert AuditEvent.all_tenants.filter(action="zk.countersigned", tenant=zk_pair["ta"]).count() == 1
    del api_b


def test_transcripts_are_sealed_at_rest_and_bound_to_their_row(finished) -> None:
    from apps.zk_proofs.sealing import SealError, open_sealed
    from apps.zk_proofs.services import _raw_chunks

    s = OverlapSession.objects.get(public_id=finished["session"])
    parts = {p.role: p for p in Participation.all_tenants.filter(session=s)}
    a_points = finished["api_b"].get(f"/api/zk/sessions/{finished['session']}/counterpart/").json()["chunks"][0]
    raw_x = bytes.fromhex(a_points[0])[1:]
    for p in parts.values():
        stored = bytes(p.round1_sealed) + bytes(p.round2_sealed) + json.dumps([p.round1, p.round2]).encode()
        assert raw_x not in stored and a_points[0].encode() not in stored
    # moved to the other role's row, a blob does not open
    with pytest.raises(SealError):
        open_sealed(s.data_key_wrapped, str(s.public_id), "B|round1", parts["A"].round1_sealed)
    assert len(_raw_chunks(parts["A"], "round1")[0]) == 64 * 256  # 130 selectors padded to 256


def test_a_wrong_wrapping_key_opens_nothing(finished, settings) -> None:
    from apps.zk_proofs.sealing import SealError
    from apps.zk_proofs.services import _raw_chunks

    part = Participation.all_tenants.filter(session__public_id=finished["session"]).first()
    settings.ZK_TRANSCRIPT_KEY = base64.b64encode(b"\x07" * 32).decode()
    with pytest.raises(SealError):
        _raw_chunks(part, "round1")


def test_retention_deletes_transcripts_and_audits_it(finished, settings) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from apps.zk_proofs.retention import transcripts_purge

    assert transcripts_purge() == 0  # young sessions stay
    settings.ZK_TRANSCRIPT_RETENTION_DAYS = 30
    assert transcripts_purge(timezone.now() + timedelta(days=31)) == 1
    s = OverlapSession.objects.get(public_id=finished["session"])
    assert s.data_key_wrapped is None and s.transcript_deleted_at and s.status == "done" and s.bundle
    assert not Participation.all_tenants.filter(session=s, round1_sealed__isnull=False).exists()
    assert AuditEvent.all_tenants.filter(action="zk.transcript_deleted").count() == 2
    assert_envelope(
        finished["api_b"].get(f"/api/zk/sessions/{finished['session']}/counterpart/"), 409, "transcript_deleted"
    )
    assert verify_file(finished["data"], finished["trust"]) == []  # the bundle outlives the transcript
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("zk_export_transcript", finished["session"], "/tmp/never-written.json")


def test_the_committed_v1_bundle_still_verifies_with_its_pinned_key() -> None:
    data = (VECTORS / "v1_bundle.json").read_bytes()
    key = (VECTORS / "v1_server_key.txt").read_text().strip()
    transcript = json.loads((VECTORS / "v1_transcript.json").read_text())
    assert verify_file(data, server_key=key) == []
    assert verify_file(data, transcript=transcript, server_key=key, backend="coincurve") == []
    assert verify_file(data) == [NOT_PINNED]
    other = base64.b64encode(b"\x01" * 32).decode()
    assert verify_file(data, server_key=other) == ["the bundle names a server key other than the pinned one"]
    bundle = json.loads(data)
    bundle["header"]["verdict"] = not bundle["header"]["verdict"]
    from apps.zk_proofs.zk.canonical_v1 import canonicalize

    assert verify_file(canonicalize(bundle), server_key=key)


def test_count_disclosure_needs_a_high_enough_k_and_a_free_count_quota(zk_pair) -> None:
    api = zk_pair["api_a"]
    for tenant in (zk_pair["ta"], zk_pair["tb"]):
        with tenant_context(tenant):
            PilotSettings.objects.update(count_min_k=30, count_releases_per_pair_per_day=1)
    body = {"partner": zk_pair["tb"].slug, "k": 20, "selector_type": "phone"}
    assert_envelope(
        api.post("/api/zk/sessions/", {**body, "disclosure": "verdict_and_count"}, format="json"),
        400,
        "count_not_allowed",
    )
    created = api.post("/api/zk/sessions/", body, format="json")
    assert created.status_code == 201 and created.json()["disclosure"] == "verdict"  # the default
    assert (
        api.post("/api/zk/sessions/", {**body, "k": 30, "disclosure": "verdict_and_count"}, format="json").status_code
        == 201
    )
    assert_envelope(
        api.post("/api/zk/sessions/", {**body, "k": 40, "disclosure": "verdict_and_count"}, format="json"),
        409,
        "count_quota",
    )
    assert (
        api.post("/api/zk/sessions/", {**body, "k": 40}, format="json").status_code == 201
    )  # verdict only still works


def test_tenant_admins_register_and_revoke_keys_on_the_page_and_it_is_audited(zk_pair, tenant_a) -> None:
    page = Client()
    page.force_login(zk_pair["admin_a"])
    private = Ed25519PrivateKey.generate()
    response = page.post("/zk/keys/", {"label": "HSM Leeds", "public_key": tenant_key_public(private)}, follow=True)
    with tenant_context(tenant_a):
        key = TenantKey.objects.get(label="HSM Leeds")
    assert key.fingerprint in response.content.decode()
    assert AuditEvent.all_tenants.filter(
        action="zk.tenant_key_registered", payload__fingerprint=key.fingerprint
    ).exists()
    assert (
        "Ed25519 public key is exactly 32 bytes"
        in page.post("/zk/keys/", {"label": "x", "public_key": "AAAA"}, follow=True).content.decode()
    )
    assert AuditEvent.all_tenants.filter(action="zk.refused", payload__code="bad_tenant_key").exists()
    partner = Client()
    partner.force_login(zk_pair["a"])
    partner.post("/zk/keys/", {"revoke": key.fingerprint})
    with tenant_context(tenant_a):
        assert TenantKey.objects.get(pk=key.pk).revoked_at is None  # partners cannot revoke
    page.post("/zk/keys/", {"revoke": key.fingerprint})
    with tenant_context(tenant_a):
        assert TenantKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditEvent.all_tenants.filter(action="zk.tenant_key_revoked").exists()
    trust = json.loads(page.get("/zk/trust.json").content)
    assert key.fingerprint not in {k["fingerprint"] for k in trust["tenant_keys"]}  # revoked keys are not pinned
    assert {k["tenant"] for k in trust["tenant_keys"]} == {zk_pair["ta"].slug, zk_pair["tb"].slug}
    outsider_tenant = type(tenant_a).objects.create(slug="agency-z", name="Z")
    outsider = Client()
    outsider.force_login(member(outsider_tenant, "z-admin", Role.ADMIN))
    assert key.fingerprint not in outsider.get("/zk/keys/").content.decode()


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*path, key))
    return out


def _edited(bundle: dict[str, Any]):
    """Every field of ``bundle`` deleted, retyped or joined by an unknown key, one at a time."""
    import copy

    for path in _paths(bundle):
        for edit in ("delete", "extra", None, 1, 1.5, True, "x", [], {}):
            edited = copy.deepcopy(bundle)
            parent = edited
            for key in path[:-1]:
                parent = parent[key]
            if not path:
                if edit != "extra":
                    continue
                edited["extra"] = 1
            elif edit == "delete":
                del parent[path[-1]]
            elif edit == "extra":
                if not isinstance(parent[path[-1]], dict):
                    continue
                parent[path[-1]]["unexpected"] = 1
            else:
                parent[path[-1]] = edit
            yield path, edit, edited


def test_the_fast_form_check_agrees_with_the_problem_list_on_every_edit(finished) -> None:
    """``schema_ok`` (the L0 check's) must refuse exactly what ``schema_problems`` reports, for
    each field of an issued bundle deleted, retyped or joined by an unknown key."""
    bundle = json.loads(finished["data"])
    assert bundle_v2.schema_ok(bundle) and not bundle_v2.schema_problems(bundle)
    checked = 0
    for path, edit, edited in _edited(bundle):
        assert bundle_v2.schema_ok(edited) == (not bundle_v2.schema_problems(edited)), (path, edit)
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("level", ["L0", "L1"])
def test_remembered_checks_never_change_an_answer(finished, level) -> None:
    """The verify API remembers a bundle's check by its exact JSON: after the issued bundle
    passed, none of its edits passes with it, and every edit gets the answer it gets from a
    process that remembers nothing. A malformed header is an invalid bundle, never a 500."""
    from apps.zk_proofs import verification

    bundle = json.loads(finished["data"])
    edits = [edited for _, _, edited in _edited(bundle) if edited != bundle]
    edits += [{**bundle, "header": bad} for bad in ("x", [], {"type": "trustfabric/zktx-bundle/v1"})]
    v1 = {"type": "trustfabric/zktx-bundle/v1"}
    edits += [
        {**bundle, "header": {**bundle["header"], "k": 2**60}},  # no canonical form
        {**bundle, "header": {**v1, "tenants": []}},
        {**bundle, "header": {**v1, "tenants": "x"}},
        {"header": v1, "server_signature": 5},
    ]
    edits.append({**bundle, "header": {**bundle["header"], "tenants": {"A": "x", "B": {"tenant_key_fingerprint": 1}}}})
    cold = []
    for edited in edits:
        verification.forget_issued_digests()
        cold.append(verification.verify_bundles([edited], level) == [])
    verification.forget_issued_digests()
    assert verification.verify_bundles([bundle], level) == []
    warm = verification.verify_bundles([bundle, *edits, bundle], level)
    assert [i - 1 for i in warm] == [i for i, ok in enumerate(cold) if not ok]
    assert not any(cold), "an edit of an issued bundle passed"
    api = finished["api_a"]
    answer = api.post("/api/zk/verify/", {"bundles": [bundle, edits[-1]], "level": level}, format="json")
    assert answer.status_code == 200 and answer.json()["invalid_indexes"] == [1]


def test_l1_after_a_direct_edit_of_a_pinned_key(finished, monkeypatch) -> None:
    """A long-term key's row is remembered for ISSUED_TTL (a registered key never changes); a
    public key edited straight in the database no longer matches its fingerprint, pins nothing
    once the memory is older, and the check says invalid (not a 500)."""
    from apps.zk_proofs import verification

    now = [9000.0]
    monkeypatch.setattr(verification, "clock", lambda: now[0])
    body = {"bundles": [json.loads(finished["data"])], "level": "L1"}
    assert finished["api_a"].post("/api/zk/verify/", body, format="json").json()["valid"] is True
    fp = body["bundles"][0]["header"]["tenants"]["B"]["tenant_key_fingerprint"]
    TenantKey.all_tenants.filter(fingerprint=fp).update(public_key=tenant_key_public(Ed25519PrivateKey.generate()))
    assert finished["api_a"].post("/api/zk/verify/", body, format="json").json()["valid"] is True
    # the same bundle with its keys in another order is checked afresh, against the
    # remembered key, and its pass must not outlive that memory
    now[0] += verification.ISSUED_TTL - 1
    reordered = {"bundles": [dict(reversed(list(body["bundles"][0].items())))], "level": "L1"}
    assert finished["api_a"].post("/api/zk/verify/", reordered, format="json").json()["valid"] is True
    now[0] += 1
    for sent in (body, reordered):
        answer = finished["api_a"].post("/api/zk/verify/", sent, format="json")
        assert answer.status_code == 200 and answer.json()["valid"] is False


def test_a_bundle_countersigned_before_a_key_revocation_still_verifies(finished) -> None:
    """The verify API pins revoked keys too (the trust file a tenant downloads does not): a
    revocation stops new countersignatures, not the evidence already signed."""
    from apps.zk_proofs import verification
    from apps.zk_proofs.tenant_keys import tenant_key_revoke

    bundle = json.loads(finished["data"])
    with tenant_context(finished["tb"]):
        tenant_key_revoke(
            actor=finished["admin_b"], fingerprint=bundle["header"]["tenants"]["B"]["tenant_key_fingerprint"]
        )
    verification.forget_issued_digests()  # nothing remembered: the keys come from the database
    answer = finished["api_a"].post("/api/zk/verify/", {"bundles": [bundle], "level": "L1"}, format="json")
    assert answer.status_code == 200 and answer.json()["valid"] is True


def test_l0_after_a_direct_edit_of_the_session_status(finished, monkeypatch) -> None:
    """An issued digest is remembered for ISSUED_TTL; a status edited straight in the database
    (the app never moves a session out of ``done``) shows once that memory is older."""
    from apps.zk_proofs import verification

    now = [5000.0]
    monkeypatch.setattr(verification, "clock", lambda: now[0])
    body = {"bundles": [json.loads(finished["data"])], "level": "L0"}
    assert finished["api_a"].post("/api/zk/verify/", body, format="json").json()["valid"] is True
    OverlapSession.objects.filter(public_id=finished["session"]).update(status="failed")
    assert finished["api_a"].post("/api/zk/verify/", body, format="json").json()["valid"] is True
    now[0] += verification.ISSUED_TTL
    assert finished["api_a"].post("/api/zk/verify/", body, format="json").json()["valid"] is False


def test_the_session_list_pages_and_refuses_bad_page_input(finished) -> None:
    api = finished["api_a"]
    first = api.get("/api/zk/sessions/?page_size=1").json()
    assert first["count"] >= 1 and len(first["results"]) == 1
    assert first["results"][0]["session"] == str(finished["session"])  # newest first
    assert_envelope(api.get("/api/zk/sessions/?page_size=0"), 400)
    assert_envelope(api.get("/api/zk/sessions/?page=abc"), 400)
    assert_envelope(api.get("/api/zk/sessions/?page=999999"), 404)
