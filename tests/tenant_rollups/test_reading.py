"""Reading and unsubscribing from the e-mail: the signed per-recipient link records a read
(once, and only for that recipient), the optional tracking image is counted apart, the
archive shows the read rate against the 95% target, and unsubscribing (link or RFC 8058
one-click) stops the next week's e-mail."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.tenant_rollups.models import DigestDelivery, DigestPreference
from tests.conftest import scan_logs_for
from tests.tenant_rollups.conftest import local_time
from tests.tenant_rollups.test_digest_delivery import beat, parts, subscribe

pytestmark = pytest.mark.django_db


def _links(smtp, address: str) -> dict[str, str]:
    body = parts(smtp.to(address)[-1])
    found = {
        "read": re.search(r"Open the digest: (\S+)", body["text"]).group(1),
        "unsubscribe": re.search(r"Unsubscribe: (\S+)", body["text"]).group(1),
    }
    image = re.search(r'<img src="(http[^"]+/digests/pixel/[^"]+)"', body["html"])
    if image:
        found["image"] = image.group(1)
    paths = {k: v.split("127.0.0.1:8000", 1)[-1] for k, v in found.items()}
    scan_logs_for(*(p.split("/")[3] for p in paths.values()))  # the tokens never reach a log line
    return paths


@pytest.fixture
def sent(digest_world, smtp, django_capture_on_commit_callbacks, settings):
    settings.TF_DIGEST_TRACKING_IMAGE = True
    subscribe(digest_world["auditor"], digest_world["tenant"])
    beat(local_time(digest_world["week"], digest_world["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    return digest_world


def test_signed_link_records_one_read_and_the_archive_shows_the_rate(sent, smtp) -> None:
    w = sent
    links = _links(smtp, "owner-a@example.test")
    anonymous = Client()
    page = anonymous.get(links["read"])  # no sign-in needed: the token is the credential
    assert page.status_code == 200 and b"data-read-recorded" in page.content
    assert b"Queries and policy decisions" in page.content
    anonymous.get(links["read"])  # a second open is not a second read
    with tenant_context(w["tenant"]):
        owner_row = DigestDelivery.objects.get(recipient=w["owner"])
        auditor_row = DigestDelivery.objects.get(recipient=w["auditor"])
    assert owner_row.read_at is not None and auditor_row.read_at is None
    assert AuditEvent.all_tenants.filter(tenant=w["tenant"], action="digest.read").count() == 1

    # The tracking image is counted separately and never turns into a read.
    auditor_links = _links(smtp, "auditor-a@example.test")
    image = anonymous.get(auditor_links["image"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    with tenant_context(w["tenant"]):
        auditor_row.refresh_from_db()
    assert auditor_row.image_opened_at is not None and auditor_row.read_at is None

    owner = Client()
    owner.force_login(w["owner"])
    archive = owner.get("/digests/").content.decode()
    row = re.search(rf'<tr data-week="{w["week"].label}">.*?</tr>', archive, re.S).group(0)
    # 2 sent, 1 read through the link (50%, below the 95% target), 1 image load.
    assert "<td>2</td><td>1</td>" in row and "50%" in row and "below target" in row
    assert re.search(r"<td>1</td>\s*<td><a", row)
    detail = owner.get(f"/digests/{w['week'].start_day.isoformat()}/").content.decode()
    assert "50% (1 of 2 read through the link; 1 image loads)" in detail


def test_forged_or_other_purpose_tokens_record_nothing(sent, smtp) -> None:
    links = _links(smtp, "owner-a@example.test")
    anonymous = Client()
    token = links["read"].split("/")[3]
    assert anonymous.get(f"/digests/open/{token[:-2]}xx/").status_code == 404
    # An unsubscribe token is not a read token (salted per purpose).
    unsubscribe_token = links["unsubscribe"].split("/")[3]
    assert anonymous.get(f"/digests/open/{unsubscribe_token}/").status_code == 404
    assert anonymous.get(f"/digests/unsubscribe/{token}/").status_code == 404
    with tenant_context(sent["tenant"]):
        assert not DigestDelivery.objects.filter(read_at__isnull=False).exists()


def test_unsubscribe_link_confirms_then_stops_next_weeks_mail(sent, smtp, django_capture_on_commit_callbacks) -> None:
    w = sent
    links = _links(smtp, "auditor-a@example.test")
    anonymous = Client(enforce_csrf_checks=True)
    confirm = anonymous.get(links["unsubscribe"])
    assert confirm.status_code == 200 and b"Unsubscribe?" in confirm.content
    with tenant_context(w["tenant"]):
        assert DigestPreference.objects.get(user=w["auditor"]).subscribed  # a GET (mail scanner) changes nothing
    # RFC 8058 one-click: the mail provider POSTs without cookies or CSRF token.
    done = anonymous.post(links["unsubscribe"], {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"data-unsubscribed" in done.content
    with tenant_context(w["tenant"]):
        assert not DigestPreference.objects.get(user=w["auditor"]).subscribed
    event = AuditEvent.all_tenants.get(tenant=w["tenant"], action="digest.unsubscribed")
    assert event.payload == {"via": "one-click"}

    # The owner unsubscribes on the preferences page instead.
    owner = Client()
    owner.force_login(w["owner"])
    assert owner.post("/digests/preferences/", {}).status_code == 302
    assert b"Tenant admins receive it unless" not in owner.get("/digests/preferences/").content

    beat(local_time(w["week"], w["tz"], 14, 7, 5), django_capture_on_commit_callbacks)
    assert len(smtp.to("auditor-a@example.test")) == 1 and len(smtp.to("owner-a@example.test")) == 1
    # Subscribing again brings the e-mail back the week after.
    assert owner.post("/digests/preferences/", {"subscribed": "on"}).status_code == 302
    beat(local_time(w["week"], w["tz"], 21, 7, 5), django_capture_on_commit_callbacks)
    assert len(smtp.to("owner-a@example.test")) == 2


def test_members_without_a_reader_role_cannot_subscribe(sent) -> None:
    analyst = Client()
    analyst.force_login(sent["analyst"])
    response = analyst.post("/digests/preferences/", {"subscribed": "on"})
    assert response.status_code == 403
    assert analyst.get("/digests/").status_code == 403
    with tenant_context(sent["tenant"]):
        assert not DigestPreference.objects.filter(user=sent["analyst"]).exists()


def test_links_expire(sent, smtp, monkeypatch) -> None:
    import time as real_time
    from types import SimpleNamespace

    from django.core import signing

    links = _links(smtp, "owner-a@example.test")
    later = real_time.time() + 121 * 86400
    # Only the signing module's clock moves (not the process-wide time.time).
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    assert Client().get(links["read"]).status_code == 404
    assert Client().get(links["unsubscribe"]).status_code == 200  # unsubscribing keeps working for 400 days


def test_admins_set_the_tenant_time_zone_others_cannot(digest_world) -> None:
    w = digest_world
    owner = Client()
    owner.force_login(w["owner"])
    assert owner.post("/digests/preferences/", {"time_zone": "Mars/Olympus"}).status_code == 400
    assert owner.post("/digests/preferences/", {"time_zone": "Asia/Tokyo"}).status_code == 302
    w["tenant"].refresh_from_db()
    assert w["tenant"].time_zone == "Asia/Tokyo"
    event = AuditEvent.all_tenants.get(tenant=w["tenant"], action="tenant.time_zone_set")
    assert event.payload == {"from": "Europe/Berlin", "to": "Asia/Tokyo"}
    auditor = Client()
    auditor.force_login(w["auditor"])
    assert auditor.post("/digests/preferences/", {"time_zone": "UTC"}).status_code == 403
    w["tenant"].refresh_from_db()
    assert w["tenant"].time_zone == "Asia/Tokyo"
