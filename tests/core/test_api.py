"""The API's contract: authentication, the error envelope, throttling, tokens."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import ApiToken, AuditEvent, Membership, Role
from tests.conftest import member, token_client


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code:
        assert body["code"] == code
    return body


def test_anonymous_gets_401_with_envelope(db) -> None:
    response = APIClient().get("/api/me/")
    assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_identifies_user_and_tenant(api_a, tenant_a) -> None:
    body = api_a.get("/api/me/").json()
    assert body["username"] == "admin-a" and body["tenant"] == tenant_a.slug
    assert "auditor" in body["roles"]


@pytest.mark.parametrize(
    "header",
    ["Bearer tf_notarealtokenatall", "Bearer", "Bearer a b", "Token \xff"],
)
def test_bad_tokens_are_refused(db, header: str) -> None:
    response = APIClient().get("/api/me/", HTTP_AUTHORIZATION=header)
    assert_envelope(response, 401, "authentication_failed")


def _save_active(rows, active: bool) -> None:
    for row in rows:
        row.is_active = active
        row.save()


def test_revoked_expired_and_orphaned_tokens_are_refused(admin_a, tenant_a, monkeypatch) -> None:
    """Edits through the models apply at once (the auth epoch); edits straight in the database
    (``QuerySet.update``, SQL) once the process's memory of the token is older than
    ``TF_API_TOKEN_CACHE_SECONDS``. Expiry is checked on every request."""
    from apps.core.api import authentication

    now = [1000.0]
    monkeypatch.setattr(authentication, "clock", lambda: now[0])
    client = token_client(admin_a, tenant_a)
    token = ApiToken.all_tenants.get(key_hash=ApiToken.hash_key(client.token_plaintext))
    assert client.get("/api/me/").status_code == 200
    token.expires_at = timezone.now()
    token.save(update_fields=["expires_at"])
    assert_envelope(client.get("/api/me/"), 401)
    token.expires_at = None
    token.save(update_fields=["expires_at"])
    assert client.get("/api/me/").status_code == 200
    memberships = list(Membership.all_tenants.filter(user=admin_a, tenant=tenant_a))
    _save_active(memberships, False)
    assert_envelope(client.get("/api/me/"), 401)
    _save_active(memberships, True)
    assert client.get("/api/me/").status_code == 200
    # Straight in the database: within the cache time the token still works, after it not
    # (with an in-process cache nothing is remembered, and it stops at once).
    Membership.all_tenants.filter(user=admin_a).update(is_active=False)
    if authentication.remember_seconds() > 0:
        assert client.get("/api/me/").status_code == 200
        now[0] += settings.TF_API_TOKEN_CACHE_SECONDS
    assert_envelope(client.get("/api/me/"), 401)
    Membership.all_tenants.filter(user=admin_a).update(is_active=True)
    ApiToken.all_tenants.filter(pk=token.pk).update(expires_at=timezone.now())
    assert_envelope(client.get("/api/me/"), 401)  # expiry needs no lookup


def test_another_process_changing_the_epoch_makes_this_one_look_again(admin_a, tenant_a) -> None:
    """What another web process's bump looks like here: only the shared epoch changes. A
    remembered token is then looked up again at once, even after a direct database edit; a
    save inside a transaction bumps before it commits (and once more on commit)."""
    from django.core.cache import cache
    from django.db import transaction

    from apps.core.api import authentication

    client = token_client(admin_a, tenant_a)
    assert client.get("/api/me/").status_code == 200
    ApiToken.all_tenants.filter(user=admin_a).update(revoked_at=timezone.now())
    cache.set(authentication.EPOCH_KEY, "bumped-by-another-process", timeout=None)
    assert_envelope(client.get("/api/me/"), 401)
    with transaction.atomic():
        admin_a.save()
        inside = cache.get(authentication.EPOCH_KEY)
    assert inside != "bumped-by-another-process"


def test_a_sign_in_elsewhere_does_not_make_processes_forget_tokens(admin_a) -> None:
    from django.contrib.auth.models import update_last_login
    from django.core.cache import cache

    from apps.core.api import authentication

    authentication._new_epoch()
    before = cache.get(authentication.EPOCH_KEY)
    update_last_login(None, admin_a)
    assert cache.get(authentication.EPOCH_KEY) == before
    admin_a.first_name = "Renamed"
    admin_a.save()
    assert cache.get(authentication.EPOCH_KEY) != before


def test_a_remembered_token_dies_with_its_user_tenant_or_revocation(admin_a, tenant_a, api_a) -> None:
    client = token_client(admin_a, tenant_a)
    assert client.get("/api/me/").status_code == 200
    admin_a.is_active = False
    admin_a.save()
    assert_envelope(client.get("/api/me/"), 401)
    admin_a.is_active = True
    admin_a.save()
    assert client.get("/api/me/").status_code == 200
    tenant_a.is_active = False
    tenant_a.save()
    assert_envelope(client.get("/api/me/"), 401)
    tenant_a.is_active = True
    tenant_a.save()
    token = ApiToken.all_tenants.get(key_hash=ApiToken.hash_key(client.token_plaintext))
    assert client.get("/api/me/").status_code == 200
    assert api_a.delete(f"/api/tokens/{token.pk}/").status_code == 204
    assert_envelope(client.get("/api/me/"), 401)


def test_create_list_and_revoke_token_is_audited(api_a, tenant_a) -> None:
    created = api_a.post("/api/tokens/", {"name": "zk client"}, format="json")
    assert created.status_code == 201
    plaintext = created.json()["token"]
    assert plaintext.startswith("tf_")
    listed = api_a.get("/api/tokens/").json()["results"]
    assert "token" not in listed[0] and {t["name"] for t in listed} == {"test", "zk client"}
    assert api_a.delete(f"/api/tokens/{created.json()['id']}/").status_code == 204
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert_envelope(revoked.get("/api/me/"), 401)
    actions = list(AuditEvent.all_tenants.filter(tenant=tenant_a).values_list("action", flat=True))
    assert "api_token.created" in actions and "api_token.revoked" in actions
    # the plaintext is in no audit payload
    assert plaintext not in json.dumps(list(AuditEvent.all_tenants.values("payload", "reason")))


def test_malformed_json_is_400(api_a) -> None:
    response = api_a.post("/api/tokens/", "{not json", content_type="application/json")
    assert_envelope(response, 400, "malformed_request")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ["a list"]}, "name"),
        ({"name": "x", "expires_at": "not-a-date"}, "expires_at"),
        ({"name": "x", "tenant": "agency-b"}, "tenant"),
        ({}, "name"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_wrong_types_unknown_and_missing_fields_are_400_with_details(api_a, payload, field) -> None:
    body = assert_envelope(api_a.post("/api/tokens/", payload, format="json"), 400, "validation_error")
    assert field in body["details"]


def test_non_object_body_is_400(api_a) -> None:
    assert_envelope(api_a.post("/api/tokens/", [1, 2], format="json"), 400, "validation_error")


def test_expiry_in_the_past_is_a_domain_error(api_a) -> None:
    body = assert_envelope(
        api_a.post("/api/tokens/", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, format="json"), 400
    )
    assert body["details"] == {"expires_at": "in_past"}


@override_settings(TF_MAX_REQUEST_BYTES=1024)
def test_oversize_body_is_413_and_nothing_is_stored(api_a) -> None:
    before = ApiToken.all_tenants.count()
    response = api_a.post("/api/tokens/", {"name": "x" * 5000}, format="json")
    assert_envelope(response, 413, "request_too_large")
    assert ApiToken.all_tenants.count() == before


def test_wrong_media_type_and_method(api_a) -> None:
    assert_envelope(api_a.post("/api/tokens/", "name=x", content_type="text/plain"), 415)
    assert_envelope(api_a.put("/api/me/", {}, format="json"), 405, "method_not_allowed")


def test_unknown_api_path_is_json_404(api_a) -> None:
    assert_envelope(api_a.get("/api/does-not-exist/"), 404, "not_found")


def test_role_is_required_for_the_audit_api(tenant_a, analyst_a) -> None:
    client = token_client(analyst_a, tenant_a)
    assert_envelope(client.get("/api/audit-events/"), 403, "permission_denied")


def test_audit_api_lists_filters_and_fetches_by_seq(api_a, tenant_a) -> None:
    listed = api_a.get("/api/audit-events/", {"action": "api_token"}).json()
    assert listed["count"] >= 1 and all(e["action"].startswith("api_token") for e in listed["results"])
    seq = listed["results"][0]["seq"]
    assert api_a.get(f"/api/audit-events/{seq}/").json()["seq"] == seq
    assert_envelope(api_a.get("/api/audit-events/", {"since": "yesterday"}), 400, "validation_error")


@pytest.mark.parametrize("value", ["2026-12-01", "2026-12-01T09:30", "2026-12-01T09:30:00+01:00", "20261201"])
def test_audit_time_filters_take_what_their_schema_says(api_a, value) -> None:
    """The schema documents Python's ISO 8601 reading (not RFC 3339's narrower ``date-time``):
    what it names is accepted, and the schema says ``string`` so no client is told otherwise."""
    listed = api_a.get("/api/audit-events/", {"since": "2000-01-01", "until": value})
    assert listed.status_code == 200 and isinstance(listed.json()["results"], list)
    schema = api_a.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/audit-events/"]["get"]["parameters"]}
    assert params["until"]["schema"] == {"type": "string", "example": "2026-12-01T09:30:00Z"}
    assert "fromisoformat" in params["since"]["description"]


def test_audit_chain_check_via_api(api_a, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert api_a.post("/api/audit-chain-checks/").status_code == 202
    checks = api_a.get("/api/audit-chain-checks/").json()["results"]
    assert checks and checks[0]["ok"] is True and checks[0]["events_checked"] >= 1


@override_settings(TF_API_TENANT_RATE="5/min")
def test_throttling_is_per_tenant(tenant_a, tenant_b, admin_a, admin_b) -> None:
    a1 = token_client(admin_a, tenant_a)
    a2 = token_client(member(tenant_a, "second-a", Role.ANALYST), tenant_a)
    b = token_client(admin_b, tenant_b)
    statuses = [a1.get("/api/me/").status_code for _ in range(3)] + [a2.get("/api/me/").status_code for _ in range(3)]
    assert statuses[:5] == [200] * 5
    body = assert_envelope(a2.get("/api/me/"), 429, "throttled")
    assert body["details"]["retry_after_seconds"] > 0
    assert b.get("/api/me/").status_code == 200  # another tenant is unaffected


def test_x_tenant_header_selects_among_the_users_tenants(tenant_a, tenant_b) -> None:
    both = member(tenant_a, "both", Role.ANALYST)
    member(tenant_b, "both", Role.AUDITOR)
    client = APIClient()
    client.force_login(both)
    assert client.get("/api/me/", HTTP_X_TENANT="agency-b").json()["roles"] == ["auditor"]
    stranger = member(tenant_a, "stranger", Role.ANALYST)
    client.force_login(stranger)
    assert_envelope(client.get("/api/me/", HTTP_X_TENANT="agency-b"), 404, "tenant_not_found")


def test_schema_endpoint_serves_openapi(api_a) -> None:
    response = api_a.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.") and "/api/audit-events/" in schema["paths"]
