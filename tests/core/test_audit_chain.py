from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from apps.core import audit_chain
from apps.core.models import AuditEvent, AuditImmutableError
from apps.core.services import AuditOutsideTransaction, audit_chain_walk, audit_record
from apps.core.tenancy import tenant_context
from tests.conftest import require_service, tamper
from tests.factories import audit_event_in

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")


def _chain(tenant, n: int) -> list[AuditEvent]:
    return [audit_event_in(tenant, f"test.step{i}", payload={"i": i}) for i in range(n)]


def test_events_chain_per_tenant(tenant_a, tenant_b) -> None:
    a = _chain(tenant_a, 3)
    b = _chain(tenant_b, 2)
    assert [e.seq for e in a] == [1, 2, 3] and [e.seq for e in b] == [1, 2]
    assert a[0].prev_hash == audit_chain.GENESIS_HASH
    assert a[1].prev_hash == a[0].hash and a[2].prev_hash == a[1].hash
    assert audit_chain_walk(tenant_a).ok and audit_chain_walk(tenant_b).ok
    assert audit_chain_walk(tenant_a).events_checked == 3


def test_event_is_written_in_the_callers_transaction(tenant_a) -> None:
    def failing_action() -> None:
        with transaction.atomic():
            audit_record("test.doomed")
            raise RuntimeError("the action failed")

    with tenant_context(tenant_a):
        with pytest.raises(RuntimeError):
            failing_action()
        assert not AuditEvent.objects.exists()


def test_event_outside_the_callers_transaction_is_refused(tenant_a) -> None:
    """The test's own wrapping transaction does not count: the action must open one."""
    with tenant_context(tenant_a), pytest.raises(AuditOutsideTransaction, match="inside the transaction"):
        audit_record("test.loose")
    assert not AuditEvent.all_tenants.exists()


@pytest.mark.django_db(transaction=True)
def test_event_outside_any_transaction_is_refused(tenant_a) -> None:
    with tenant_context(tenant_a), pytest.raises(AuditOutsideTransaction):
        audit_record("test.loose")
    with tenant_context(tenant_a), transaction.atomic():
        audit_record("test.kept")
    assert list(AuditEvent.all_tenants.values_list("action", flat=True)) == ["test.kept"]


def test_secrets_in_payload_are_redacted_before_hashing(tenant_a) -> None:
    event = audit_event_in(tenant_a, payload={"api_token": "tf_abcdefghijklmnopqrstuvwxyz", "note": "ok"})
    event.refresh_from_db()
    assert event.payload == {"api_token": "[REDACTED]", "note": "ok"}
    assert audit_chain_walk(tenant_a).ok


def test_model_layer_refuses_update_and_delete(tenant_a) -> None:
    event = audit_event_in(tenant_a)
    event.action = "test.rewritten"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.all_tenants.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditImmutableError):
        AuditEvent.all_tenants.filter(pk=event.pk).delete()


@on_postgres
def test_postgres_refuses_update_and_delete(tenant_a) -> None:
    event = audit_event_in(tenant_a)
    for sql in (
        "UPDATE core_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.action == "test.event"


def _tamper(sql: str, params: list) -> None:
    tamper(sql, params, "core_auditevent", "audit_append_only")


def _verify_output(tenant) -> str:
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify", tenant=tenant.slug, stdout=out)
    return out.getvalue()


def test_audit_verify_names_the_altered_event(tenant_a) -> None:
    events = _chain(tenant_a, 5)
    _tamper("UPDATE core_auditevent SET reason = 'nothing happened' WHERE id = %s", [events[2].pk])
    output = _verify_output(tenant_a)
    assert f"BROKEN at event #3 (id {events[2].pk})" in output
    assert "fields altered" in output


def test_audit_verify_names_an_altered_payload(tenant_a) -> None:
    events = _chain(tenant_a, 4)
    _tamper("UPDATE core_auditevent SET payload = %s WHERE id = %s", ['{"i": 99}', events[1].pk])
    assert "event #2" in _verify_output(tenant_a)


def test_audit_verify_names_a_removed_event(tenant_a) -> None:
    events = _chain(tenant_a, 4)
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [events[1].pk])
    output = _verify_output(tenant_a)
    assert "sequence gap: expected #2, found #3" in output


def test_audit_verify_passes_an_intact_chain_and_checks_other_tenants(tenant_a, tenant_b) -> None:
    from io import StringIO

    _chain(tenant_a, 2)
    _chain(tenant_b, 1)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "agency-a: OK, 2 events" in out.getvalue()
    assert "agency-b: OK, 1 events" in out.getvalue()


def test_unknown_tenant_is_a_clear_command_error(db) -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("audit_verify", tenant="nope")


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_contiguous_chain(tenant_a) -> None:
    import threading

    require_service(connection.vendor == "postgresql", "row locks need PostgreSQL")
    errors: list[Exception] = []

    def worker(n: int) -> None:
        from django.db import connection as conn

        try:
            for i in range(10):
                audit_event_in(tenant_a, f"test.thread{n}", payload={"i": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit_chain_walk(tenant_a)
    assert report.ok and report.events_checked == 40


# --- The signed head: removing events from the tail is detected --------------------------


def test_every_append_signs_the_new_head(tenant_a) -> None:
    from apps.core.models import AuditHead

    events = _chain(tenant_a, 3)
    head = AuditHead.all_tenants.get(tenant=tenant_a)
    assert (head.seq, head.hash) == (3, events[-1].hash)
    assert f"trustfabric.local/audit-head/{tenant_a.pk}\n3\n" in head.note
    assert audit_chain_walk(tenant_a).ok


def test_deleting_the_newest_event_is_detected(tenant_a) -> None:
    events = _chain(tenant_a, 4)
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [events[-1].pk])
    output = _verify_output(tenant_a)
    assert "the chain ends at #3 but its signed head names #4: 1 event(s) were removed from the tail" in output


def test_rolling_the_head_row_back_with_the_tail_is_detected(tenant_a) -> None:
    from apps.core.models import AuditHead

    events = _chain(tenant_a, 4)
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [events[-1].pk])
    # The attacker rewrites the head row to name event #3, but cannot re-sign it.
    AuditHead.all_tenants.filter(tenant=tenant_a).update(seq=3, hash=events[2].hash)
    assert "the head record differs from its signed note" in _verify_output(tenant_a)
    # A note that is not signed by the log key is refused too.
    AuditHead.all_tenants.filter(tenant=tenant_a).update(note="garbage")
    assert "the signed head does not verify" in _verify_output(tenant_a)


def test_removing_the_head_record_is_detected(tenant_a, tenant_b) -> None:
    from apps.core.models import AuditHead

    _chain(tenant_a, 2)
    _chain(tenant_b, 2)
    b_note = AuditHead.all_tenants.get(tenant=tenant_b).note
    AuditHead.all_tenants.filter(tenant=tenant_a).update(note=b_note)
    assert "belongs to another chain" in _verify_output(tenant_a)
    AuditHead.all_tenants.filter(tenant=tenant_a).delete()
    assert "no signed head is stored" in _verify_output(tenant_a)


def test_an_event_inserted_after_the_head_is_detected(tenant_a) -> None:
    from apps.core.models import AuditHead

    _chain(tenant_a, 3)
    before = AuditHead.all_tenants.get(tenant=tenant_a)
    audit_event_in(tenant_a, "test.more")
    # Restore the old (validly signed) head: a replayed older head is caught by the chain.
    AuditHead.all_tenants.filter(tenant=tenant_a).update(seq=before.seq, hash=before.hash, note=before.note)
    assert "events after the signed head #3" in _verify_output(tenant_a)
