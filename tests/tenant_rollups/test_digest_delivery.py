"""The weekly digest end to end: the beat schedule driven by the test clock builds, signs,
logs and mails it (aiosmtpd) with its charts, signature and links; the offline verifier
accepts the archived document and rejects edited ones; retries deliver exactly once."""

from __future__ import annotations

import base64
import json
import re
import smtplib
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client

from apps.core.keys import public_keys
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.tenant_rollups.models import Digest, DigestDelivery
from apps.tenant_rollups.services import preference_set
from tests.conftest import ROOT
from tests.tenant_rollups.conftest import local_time
from trustfabric.celery import app

pytestmark = pytest.mark.django_db


def beat(now, capture) -> dict:
    """Run the digest beat entry as the scheduler would at ``now``."""
    entry = app.conf.beat_schedule["tenant-digests-hourly"]
    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    with capture(execute=True):
        return app.tasks[entry["task"]].apply(kwargs={"now": now.isoformat()}).get()


def parts(message) -> dict:
    out: dict = {"images": {}}
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "text/plain":
            out["text"] = part.get_payload(decode=True).decode()
        elif ctype == "text/html":
            out["html"] = part.get_payload(decode=True).decode()
        elif ctype == "image/png":
            out["images"][part["Content-ID"].strip("<>")] = part.get_payload(decode=True)
    return out


def subscribe(user, tenant) -> None:
    with tenant_context(tenant):
        preference_set(user=user, subscribed=True)


def test_beat_delivers_the_signed_digest_at_each_tenants_local_monday_morning(
    digest_world, smtp, django_capture_on_commit_callbacks
) -> None:
    w = digest_world
    subscribe(w["auditor"], w["tenant"])
    schedule = app.conf.beat_schedule["tenant-digests-hourly"]["schedule"]
    assert schedule.minute == {5} and len(schedule.hour) == 24  # hourly, at :05

    # Monday after the week, 00:05 to 06:05 Berlin time: A's digest is not due yet. (Tenant B,
    # on UTC, catches up on its own previous week, which never had a digest.)
    for hour in range(7):
        assert "agency-a" not in beat(local_time(w["week"], w["tz"], 7, hour, 5), django_capture_on_commit_callbacks)
    assert not smtp.to("owner-a@example.test")
    # 07:05 Berlin: tenant A's digest; tenant B (UTC) is still before its 07:00.
    built = beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    assert built == {"agency-a": w["week"].label}
    # 08:05 Berlin = 07:05 UTC: B's Monday morning; A is not built twice.
    later = beat(local_time(w["week"], w["tz"], 7, 8, 5), django_capture_on_commit_callbacks)
    assert later == {"agency-b": w["week"].label}
    assert beat(local_time(w["week"], w["tz"], 7, 9, 5), django_capture_on_commit_callbacks) == {}

    [mail] = smtp.to("owner-a@example.test")
    assert len(smtp.to("auditor-a@example.test")) == 1  # opted in
    assert not smtp.to("analyst-a@example.test")  # analysts are not digest readers
    assert w["week"].label in mail["Subject"] and "Agency A" in mail["Subject"]
    assert str(mail["List-Unsubscribe"]).strip().startswith(f"<{settings.SITE_URL}/digests/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parts(mail)

    # Charts: each <img src="cid:..."> in the HTML has its PNG in the message.
    cids = set(re.findall(r'src="cid:([^"]+)"', body["html"]))
    assert {"chart-denials_by_reason", "chart-approval_times", "chart-verdicts"} <= cids
    assert cids == set(body["images"]) and all(png.startswith(b"\x89PNG") for png in body["images"].values())

    # Signature: the key id, the document's digest and its log entry are in the mail.
    with tenant_context(w["tenant"]):
        digest = Digest.objects.get()
    assert digest.key_id in body["html"] and digest.document_sha256 in body["text"]
    assert f"transparency-log entry {digest.leaf_index}" in body["html"]

    # Numbers, each a link to the page behind it; missing sources say so instead of a number.
    doc = digest.document
    decisions = next(s for s in doc["sections"] if s["key"] == "decisions")
    by_key = {m["key"]: m for m in decisions["metrics"]}
    assert (by_key["queries_allowed"]["value"], by_key["queries_denied"]["value"]) == (2, 4)
    assert by_key["queries_denied"]["previous"] == 1
    denied_link = by_key["queries_denied"]["link"]
    assert denied_link.startswith("/audit/?action=query.denied&since=")
    assert f'href="{settings.SITE_URL}{denied_link.replace("&", "&amp;")}"' in body["html"]
    jit = {m["key"]: m for m in next(s for s in doc["sections"] if s["key"] == "jit")["metrics"]}
    assert (jit["approved"]["value"], jit["approval_median"]["value"], jit["approval_p90"]["value"]) == (3, 4.0, 30.0)
    assert jit["approved"]["previous"] == 1 and jit["approval_median"]["link"] == "/jit/metrics/"
    zk = {m["key"]: m for m in next(s for s in doc["sections"] if s["key"] == "zk")["metrics"]}
    assert zk["sessions"]["value"] == 1 and zk["proofs_verified"]["value"] == 1
    replays = {m["key"]: m for m in next(s for s in doc["sections"] if s["key"] == "replays")["metrics"]}
    assert replays["verdict_match"]["value"] == 2 and "verdict=match" in replays["verdict_match"]["link"]
    anomalies = next(s for s in doc["sections"] if s["key"] == "anomalies")
    assert anomalies["status"] == "not_recorded" and "metrics" not in anomalies
    assert "Not recorded yet: open replay anomalies" in body["text"]

    # The link from the mail leads to a page that shows the same number.
    owner = Client()
    owner.force_login(w["owner"])
    page = owner.get(denied_link)
    assert page.status_code == 200 and page.content.count(b"query.denied") >= 4
    assert b"query.allowed" not in page.content  # the link's filter applies

    events = AuditEvent.all_tenants.filter(tenant=w["tenant"], action="digest.signed")
    assert events.count() == 1 and events.get().payload["leaf_index"] == digest.leaf_index


def _verify(path, keys=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "apps.tenant_rollups.offline", "verify-digest", str(path)]
    if keys:
        args += ["--keys", str(keys)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


def test_offline_verifier_accepts_the_archived_digest_and_rejects_edited_ones(
    digest_world, smtp, django_capture_on_commit_callbacks, tmp_path
) -> None:
    w = digest_world
    beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(w["owner"])
    day = w["week"].start_day.isoformat()
    archive = client.get("/digests/")
    assert archive.status_code == 200 and f'href="/digests/{day}/digest.dsse.json"'.encode() in archive.content
    response = client.get(f"/digests/{day}/digest.dsse.json")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    original = json.loads(response.content)
    keys = tmp_path / "trusted-keys.json"
    keys.write_text(json.dumps(public_keys()))

    good = tmp_path / "digest.dsse.json"
    good.write_bytes(response.content)
    ok = _verify(good, keys)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"VERIFIED digest agency-a {w['week'].label}" in ok.stdout

    def edited(name, change) -> subprocess.CompletedProcess:
        data = json.loads(json.dumps(original))
        change(data)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return _verify(path, keys)

    def fewer_denials(data) -> None:
        doc = json.loads(base64.b64decode(data["envelope"]["payload"]))
        metric = next(m for m in doc["sections"][0]["metrics"] if m["key"] == "queries_denied")
        metric["value"] = 0
        import rfc8785

        data["envelope"]["payload"] = base64.b64encode(rfc8785.dumps(doc)).decode()

    bad = edited("fewer-denials", fewer_denials)
    assert bad.returncode == 1 and "FAIL signature" in bad.stdout and "NOT VERIFIED" in bad.stdout

    def other_checkpoint(data) -> None:
        data["log"]["tree_size"] -= 1

    assert "FAIL inclusion" in edited("truncated-log", other_checkpoint).stdout

    def forged_keys(data) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from apps.core.crypto.signing import Signer, envelope

        fake = Signer("executor", Ed25519PrivateKey.generate())
        payload = base64.b64decode(data["envelope"]["payload"]).replace(b'"value":4', b'"value":0', 1)
        data["envelope"] = envelope(payload, [fake], payload_type=data["envelope"]["payloadType"])
        data["keys"]["executor"] = fake.describe()["public_key"]

    # Re-signed with a key carried in the file: rejected against the pinned keys.
    assert edited("forged", forged_keys).returncode == 1


def test_failed_smtp_is_retried_and_delivered_exactly_once(
    digest_world, smtp, django_capture_on_commit_callbacks
) -> None:
    w = digest_world
    smtp.failures = 2
    beat(local_time(w["week"], w["tz"], 7, 8, 5), django_capture_on_commit_callbacks)
    assert len(smtp.to("owner-a@example.test")) == 1
    with tenant_context(w["tenant"]):
        delivery = DigestDelivery.objects.get(recipient=w["owner"])
        assert delivery.status == "sent" and delivery.attempts == 3
        # Queuing the same digest again sends nothing (unique key per digest and recipient).
        from apps.tenant_rollups.services import digest_queue_deliveries

        with django_capture_on_commit_callbacks(execute=True):
            assert digest_queue_deliveries(delivery.digest) == 0
    assert len(smtp.to("owner-a@example.test")) == 1


def test_a_late_beat_catches_up_and_an_empty_week_shows_no_invented_numbers(
    digest_world, smtp, django_capture_on_commit_callbacks
) -> None:
    w = digest_world
    # The beat was down on Monday; Wednesday it builds the last complete week.
    beat(local_time(w["week"], w["tz"], 9, 12, 5), django_capture_on_commit_callbacks)
    # A week later: nothing happened in the new week.
    beat(local_time(w["week"], w["tz"], 14, 7, 5), django_capture_on_commit_callbacks)
    with tenant_context(w["tenant"]):
        first, second = Digest.objects.order_by("week_start")
    assert second.week_start - first.week_start == timedelta(days=7)
    jit = {m["key"]: m for m in next(s for s in second.document["sections"] if s["key"] == "jit")["metrics"]}
    assert jit["approval_median"]["value"] is None and jit["approval_median"]["previous"] == 4.0
    text = parts(smtp.to("owner-a@example.test")[-1])["text"]
    assert "Median minutes: — (previous 4" in text


def test_a_row_left_sending_by_a_killed_worker_is_sent_again_only_after_the_claim_timeout(
    digest_world, smtp, django_capture_on_commit_callbacks
) -> None:
    from django.utils import timezone

    from apps.tenant_rollups import mail

    w = digest_world
    smtp.failures = 99  # nothing gets through: every row ends up failed
    with pytest.raises(smtplib.SMTPDataError):  # the eager task gives up after its retries
        beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    smtp.failures = 0
    with tenant_context(w["tenant"]):
        row = DigestDelivery.objects.get(recipient=w["owner"])
        # A worker claimed it and died mid-send a minute ago: nobody else sends it yet.
        DigestDelivery.objects.filter(pk=row.pk).update(
            status="sending", claimed_at=timezone.now() - timedelta(minutes=1)
        )
        assert mail.deliver(row.pk) == "sending" and not smtp.to("owner-a@example.test")
        # After the claim timeout it is claimed again and sent, once.
        DigestDelivery.objects.filter(pk=row.pk).update(claimed_at=timezone.now() - timedelta(minutes=11))
        assert mail.deliver(row.pk).startswith("sent")
        assert mail.deliver(row.pk) == "sent"
    assert len(smtp.to("owner-a@example.test")) == 1


@pytest.mark.django_db(transaction=True)
def test_two_builders_racing_for_the_same_week_make_one_digest_and_one_log_entry(digest_world, smtp) -> None:
    import threading

    from django.db import connection

    from apps.provenance.models import LogLeaf
    from apps.tenant_rollups.services import digest_build

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and concurrent connections")
    w = digest_world
    before = LogLeaf.objects.count()
    now = local_time(w["week"], w["tz"], 7, 7, 5)
    results, barrier = [], threading.Barrier(2)

    def build() -> None:
        barrier.wait()
        try:
            results.append(digest_build(w["tenant"], now=now).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and results[0] == results[1]
    assert LogLeaf.objects.count() == before + 1
    assert len(smtp.to("owner-a@example.test")) == 1
