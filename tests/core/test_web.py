"""The HTML side: sign-in, tenant switching, the audit pages, tokens, probes, admin."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import ApiToken, AuditChainCheck, Role
from tests.conftest import member, require_service
from tests.factories import MembershipFactory, UserFactory, audit_event_in

PASSWORD = "correct horse battery staple"


@pytest.fixture
def web(client: Client) -> Client:
    return client


def login(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_page_and_sign_in(web, admin_a) -> None:
    page = web.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert b"Sign in" in web.get("/login/").content
    bad = login(web, "admin-a", "wrong")
    assert bad.status_code == 200 and b"Please enter a correct username and password" in bad.content
    assert login(web, "admin-a").status_code == 302
    assert b"Agency A" in web.get("/").content


def test_login_is_throttled_after_repeated_failures(web, admin_a) -> None:
    for _ in range(5):
        login(web, "admin-a", "wrong")
    locked = login(web, "admin-a")  # even the right password is refused while locked
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content


def test_home_shows_only_the_current_tenants_members(web, tenant_a, tenant_b) -> None:
    both = member(tenant_a, "both", Role.ANALYST)
    member(tenant_b, "both", Role.AUDITOR)
    member(tenant_a, "only-in-a", Role.APPROVER)
    member(tenant_b, "only-in-b", Role.APPROVER)
    web.force_login(both)
    home = web.get("/").content.decode()
    assert "only-in-a" in home and "only-in-b" not in home
    switched = web.post(reverse("tenant-switch"), {"tenant": "agency-b", "next": "/"}, follow=True)
    page = switched.content.decode()
    assert "Now working in Agency B" in page and "only-in-b" in page and "only-in-a" not in page


def test_switching_to_a_tenant_you_do_not_belong_to_is_404(web, analyst_a, tenant_b) -> None:
    web.force_login(analyst_a)
    response = web.post(reverse("tenant-switch"), {"tenant": tenant_b.slug})
    assert response.status_code == 404
    assert b"Agency A" in web.get("/").content  # still in A


def test_switch_ignores_offsite_next(web, analyst_a, tenant_a) -> None:
    web.force_login(analyst_a)
    response = web.post(reverse("tenant-switch"), {"tenant": tenant_a.slug, "next": "//evil.example/"})
    assert response["Location"] == "/"


def test_user_with_no_tenant_sees_a_clear_page(web, db) -> None:
    web.force_login(UserFactory(username="loner"))
    response = web.get("/")
    assert response.status_code == 403 and b"not a member of any active tenant" in response.content


def test_audit_pages_need_the_auditor_or_admin_role(web, analyst_a, auditor_a, tenant_a) -> None:
    audit_event_in(tenant_a, "policy.saved", reason="weekly update")
    web.force_login(analyst_a)
    assert web.get(reverse("audit-list")).status_code == 403
    web.force_login(auditor_a)
    page = web.get(reverse("audit-list"), {"action": "policy"}).content.decode()
    assert "policy.saved" in page and "weekly update" in page and "membership" not in page


def test_audit_detail_is_404_for_another_tenants_event(web, tenant_a, tenant_b) -> None:
    for _ in range(20):
        event = audit_event_in(tenant_b, "test.b-only")
    auditor = member(tenant_a, "aud", Role.AUDITOR)
    web.force_login(auditor)
    assert web.get(reverse("audit-detail", args=[event.seq])).status_code == 404


def test_audit_detail_shows_the_objects_trail(web, auditor_a, tenant_a) -> None:
    first = audit_event_in(tenant_a, "thing.created", target_type="demo.thing", target_id="7")
    audit_event_in(tenant_a, "thing.changed", target_type="demo.thing", target_id="7")
    web.force_login(auditor_a)
    page = web.get(reverse("audit-detail", args=[first.seq])).content.decode()
    assert "thing.changed" in page and first.hash in page


def test_verify_chain_button_records_a_check(web, auditor_a, tenant_a, django_capture_on_commit_callbacks) -> None:
    audit_event_in(tenant_a, "x.y")
    web.force_login(auditor_a)
    with django_capture_on_commit_callbacks(execute=True):
        web.post(reverse("audit-verify"))
    assert AuditChainCheck.all_tenants.filter(tenant=tenant_a, ok=True).exists()
    assert "Intact" in web.get(reverse("audit-list")).content.decode()


def test_token_page_shows_plaintext_once_and_revokes(web, analyst_a) -> None:
    web.force_login(analyst_a)
    created = web.post(reverse("tokens"), {"name": "laptop"}).content.decode()
    assert "copy it now" in created
    plaintext = created.split("data-new-token>")[1].split("<")[0]
    listing = web.get(reverse("tokens")).content.decode()
    assert "laptop" in listing and plaintext not in listing
    token_id = ApiToken.all_tenants.get(name="laptop").pk
    web.post(reverse("token-revoke", args=[token_id]))
    assert "revoked" in web.get(reverse("tokens")).content.decode()


def test_token_form_errors_are_400(web, analyst_a) -> None:
    web.force_login(analyst_a)
    response = web.post(reverse("tokens"), {"name": ""})
    assert response.status_code == 400 and b"This field is required" in response.content


def test_revoking_another_users_token_is_404(web, tenant_a, analyst_a, admin_a) -> None:
    from tests.factories import api_token_for

    token, _ = api_token_for(admin_a, tenant_a)
    web.force_login(analyst_a)
    assert web.post(reverse("token-revoke", args=[token.pk])).status_code == 404


def test_probes(web, db) -> None:
    assert web.get("/healthz").json() == {"status": "ok"}
    ready = web.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_readyz_reports_an_unreachable_broker(web, db, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = web.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["broker"].startswith("error")


def test_readyz_checks_a_real_broker(web, db, settings) -> None:
    require_service(settings.CELERY_BROKER_URL.startswith("redis://"), "needs CELERY_BROKER_URL (Redis)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = web.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["broker"] == "ok"


def test_admin_lists_only_the_current_tenants_rows(web, tenant_a, tenant_b) -> None:
    staff = member(tenant_a, "staffer", Role.ADMIN)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    MembershipFactory(tenant=tenant_b, user=UserFactory(username="b-person"))
    MembershipFactory(tenant=tenant_a, user=UserFactory(username="a-person"))
    web.force_login(staff)
    page = web.get("/admin/core/membership/").content.decode()
    assert "a-person" in page and "b-person" not in page
    assert web.get("/admin/core/auditevent/").status_code == 200


def test_security_headers(web, db) -> None:
    response = web.get("/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


def test_swagger_ui_is_served_locally(web, analyst_a) -> None:
    web.force_login(analyst_a)
    page = web.get("/api/docs/").content.decode()
    assert "swagger" in page.lower() and "cdn" not in page.lower()


def test_readyz_reports_an_unreachable_cache(web, db, settings) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = web.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["cache"].startswith("error")


def test_readyz_checks_the_cache(web, db) -> None:
    assert web.get("/readyz").json()["checks"]["cache"] == "ok"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example/", "https://evil.example/", "javascript:alert(1)"]
)
def test_tenant_switch_never_redirects_off_site(web, admin_a, target) -> None:
    web.force_login(admin_a)
    response = web.post(reverse("tenant-switch"), {"tenant": "agency-a", "next": target})
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_tenant_switch_follows_a_local_next(web, admin_a) -> None:
    web.force_login(admin_a)
    response = web.post(reverse("tenant-switch"), {"tenant": "agency-a", "next": "/audit/?page=2"})
    assert response["Location"] == "/audit/?page=2"
