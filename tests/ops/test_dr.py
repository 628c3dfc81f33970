"""The DR drill's checks on the surviving cluster (make dr-drill runs the whole failover;
here its verification is attacked on the test database, as a bad restore would)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.core.crypto import checkpoint
from apps.core.keys import signer
from apps.core.management.commands import dr_agent
from apps.provenance.services import log_append
from tests.conftest import tamper
from tests.factories import audit_event_in


def _acks(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"t": 1000.0 + i, **r}) + "\n" for i, r in enumerate(rows)))
    return path


def test_survivor_with_every_acknowledged_write_passes(tenant_a: Any, tmp_path: Path) -> None:
    events = [audit_event_in(tenant_a) for _ in range(3)]
    acks = _acks(tmp_path / "acks.jsonl", [{"kind": "audit", "tenant": tenant_a.pk, "seq": e.seq} for e in events])
    result = dr_agent.verify(acks, kill_time=0)
    assert result["acknowledged_before_kill"] == 3
    assert result["missing_after_failover"] == 0
    assert result["audit_chains_ok"] and result["manifests_ok"]


def test_an_acknowledged_write_missing_on_the_survivor_is_counted_as_lost(tenant_a: Any, tmp_path: Path) -> None:
    events = [audit_event_in(tenant_a) for _ in range(3)]
    acks = _acks(tmp_path / "acks.jsonl", [{"kind": "audit", "tenant": tenant_a.pk, "seq": e.seq} for e in events])
    # The replica never received the newest event (asynchronous replication lag).
    tamper("DELETE FROM core_auditevent WHERE id = %s", [events[-1].pk], "core_auditevent", "audit_append_only")
    result = dr_agent.verify(acks, kill_time=0)
    assert result["missing_after_failover"] == 1
    assert result["oldest_missing_t"] == 1002.0
    # Writes acknowledged after the kill time are not part of the RPO.
    assert dr_agent.verify(acks, kill_time=1001.5)["missing_after_failover"] == 0


def test_a_log_rolled_back_below_the_apps_last_signed_checkpoint_is_detected(db: Any, tmp_path: Path) -> None:
    with transaction.atomic():
        for i in range(3):
            log_append(f"leaf {i}".encode())
    from apps.provenance.models import LogCheckpoint

    cp = LogCheckpoint.objects.order_by("-size").first()
    ahead = checkpoint.sign(cp.size + 2, bytes.fromhex(cp.root_hash), signer("log"))  # the old primary was ahead
    acks = _acks(tmp_path / "acks.jsonl", [{"kind": "checkpoint", "checkpoint": {"note": ahead}}])
    result = dr_agent.verify(acks, kill_time=0)
    assert result["log"]["consistent_with_anchor"] is False
    assert any("rolled back below the signed checkpoint" in p for p in result["log"]["problems"])
    assert result["log_ok"] is False


def test_a_forked_log_fails_the_consistency_proof(db: Any, tmp_path: Path) -> None:
    with transaction.atomic():
        for i in range(4):
            log_append(f"leaf {i}".encode())
    forked = checkpoint.sign(2, bytes(32), signer("log"))  # size 2 with a root the log never had
    acks = _acks(tmp_path / "acks.jsonl", [{"kind": "checkpoint", "checkpoint": {"note": forked}}])
    result = dr_agent.verify(acks, kill_time=0)
    assert result["log"]["consistent_with_anchor"] is False
    assert any("does not extend the signed checkpoint" in p for p in result["log"]["problems"])


def test_the_failover_setting_lists_both_regions_and_wants_the_writable_one() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import django; django.setup(); from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['HOST'], d['PORT'], d['OPTIONS']['target_session_attrs'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "trustfabric.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5501/trustfabric",
        "DATABASE_FAILOVER_HOSTS": "127.0.0.1:5501,127.0.0.2:5502",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["127.0.0.1,127.0.0.2", "5501,5502", "read-write"]
