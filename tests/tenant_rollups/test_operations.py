"""Operator commands: rebuild a missed week, check every digest against the log (and catch
an altered leaf); one tenant's failing build does not stop the others."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core.tenancy import tenant_context
from apps.provenance.services import log_audit
from apps.tenant_rollups import periods, services
from apps.tenant_rollups.models import Digest
from tests.conftest import tamper
from tests.tenant_rollups.conftest import local_time
from tests.tenant_rollups.test_digest_delivery import beat

pytestmark = pytest.mark.django_db


def test_digest_build_command_and_log_check(digest_world, smtp, django_capture_on_commit_callbacks) -> None:
    w = digest_world
    out = StringIO()
    monday = w["week"].previous(periods.zone(w["tz"])).start_day
    with django_capture_on_commit_callbacks(execute=True):
        call_command("digest_build", tenant="agency-a", week=monday.isoformat(), stdout=out)
        call_command("digest_build", tenant="agency-a", week=monday.isoformat(), stdout=out)  # idempotent
    with tenant_context(w["tenant"]):
        [digest] = Digest.objects.all()
    assert digest.week_start == monday and out.getvalue().count(f"log entry {digest.leaf_index}") == 2
    assert len(smtp.to("owner-a@example.test")) == 1
    with pytest.raises(CommandError, match="must be a Monday"):
        call_command("digest_build", tenant="agency-a", week=(monday + timedelta(days=1)).isoformat())
    with pytest.raises(CommandError, match="No active tenant"):
        call_command("digest_build", tenant="nobody")

    ok = StringIO()
    call_command("digest_log_verify", stdout=ok)
    assert "ok   1 digests are signed and in the log" in ok.getvalue()
    # The shared log's own audit reads the digest leaf back (a registered log source) ...
    assert log_audit() == []
    with tenant_context(w["tenant"]):
        envelope = dict(digest.envelope, payload=digest.envelope["payload"][:-4] + "AAA=")
    tamper(
        "UPDATE tenant_rollups_digest SET envelope = %s WHERE id = %s",
        [json.dumps(envelope), digest.pk],
        "tenant_rollups_digest",
    )
    # ... so an edited digest is a leaf that no longer matches.
    assert any("tenant digest" in p for p in log_audit())
    tamper(
        'UPDATE provenance_logleaf SET leaf_hash = %s WHERE "index" = %s',
        ["0" * 64, digest.leaf_index],
        "provenance_logleaf",
    )
    bad = StringIO()
    with pytest.raises(CommandError):
        call_command("digest_log_verify", stdout=bad)
    assert "the log leaf is not this envelope's" in bad.getvalue()


def test_one_tenants_failure_does_not_stop_the_others(
    digest_world, smtp, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    w = digest_world
    real = services.digest_build

    def flaky(tenant, **kwargs):
        if tenant.slug == "agency-b":
            raise RuntimeError("boom")
        return real(tenant, **kwargs)

    monkeypatch.setattr(services, "digest_build", flaky)
    built = beat(local_time(w["week"], w["tz"], 7, 12, 5), django_capture_on_commit_callbacks)
    assert built == {"agency-a": w["week"].label}
    monkeypatch.setattr(services, "digest_build", real)
    assert "agency-b" in beat(local_time(w["week"], w["tz"], 7, 13, 5), django_capture_on_commit_callbacks)


def test_bench_digest_prints_json_and_leaves_nothing_behind(db) -> None:
    import json

    from apps.core.models import Tenant
    from apps.provenance.models import LogLeaf

    before = (Tenant.objects.count(), LogLeaf.objects.count())
    out = StringIO()
    call_command("bench_digest", queries=200, jit=10, recipients=2, repeat=2, stdout=out)
    result = json.loads(out.getvalue())
    assert result["offline_verify"]["verified"] is True and result["fixture"]["recipients"] == 2
    assert result["email_first_recipient_draws_charts"]["bytes"] > 1000
    assert (Tenant.objects.count(), LogLeaf.objects.count()) == before
