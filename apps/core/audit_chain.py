"""The audit hash chain, as a pure algorithm (no Django imports).

Each event's hash covers its own fields and the previous event's hash, so changing,
removing or reordering any stored event breaks every later link. ``verify_chain`` walks a
sequence of events and names the first link that does not hold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "tenant_id",
    "seq",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "reason",
    "request_id",
    "payload_digest",
    "created_at",
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 (RFC 8785 for our value types)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_digest(payload: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(payload))


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    material = {name: _normalise(fields[name]) for name in HASHED_FIELDS}
    material["prev_hash"] = prev_hash
    return sha256_hex(canonical_json(material))


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: Any
    problem: str

    def describe(self) -> str:
        return f"event #{self.seq} (id {self.event_id}): {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def check_head(report: ChainReport, head_seq: int | None, head_hash: str | None) -> ChainReport:
    """Compare an intact walk with the tenant's signed head (``None`` = no head stored).

    The chain alone cannot see its own tail being cut off; the head can: it names the
    newest event that was ever appended."""
    if not report.ok:
        return report
    last_seq = report.events_checked

    def broken(problem: str) -> ChainReport:
        return ChainReport(report.events_checked, report.head_hash, ChainBreak(last_seq, "-", problem))

    if head_seq is None:
        if last_seq == 0:
            return report
        return broken("no signed head is stored for this chain (the head record was removed)")
    if head_seq > last_seq:
        return broken(
            f"the chain ends at #{last_seq} but its signed head names #{head_seq}: "
            f"{head_seq - last_seq} event(s) were removed from the tail"
        )
    if head_seq < last_seq:
        return broken(f"events after the signed head #{head_seq} were not appended by the application")
    if head_hash != report.head_hash:
        return broken(f"the newest event's hash differs from the signed head {str(head_hash)[:12]}… (it was replaced)")
    return report


def verify_chain(events: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Walk events in ``seq`` order. Each mapping holds HASHED_FIELDS plus
    ``id``, ``payload``, ``prev_hash`` and ``hash``."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in events:
        checked += 1
        seq = event["seq"]
        broken = None
        if seq != expected_seq:
            broken = f"sequence gap: expected #{expected_seq}, found #{seq} (an event was removed or inserted)"
        elif event["prev_hash"] != expected_prev:
            broken = "previous-hash link does not match the hash of the event before it"
        elif payload_digest(event["payload"]) != event["payload_digest"]:
            broken = "payload does not match its stored digest (payload was altered)"
        else:
            computed = event_hash(event, event["prev_hash"])
            if computed != event["hash"]:
                broken = f"stored hash {event['hash'][:12]}… differs from recomputed {computed[:12]}… (fields altered)"
        if broken:
            return ChainReport(checked, expected_prev, ChainBreak(seq, event["id"], broken))
        expected_prev = event["hash"]
        expected_seq += 1
    return ChainReport(checked, expected_prev, None)
