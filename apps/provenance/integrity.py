"""Integrity checks over everything an attacker with database access could rewrite.

Each check compares a stored row with something the database cannot forge — a signature
by a pinned key, or a signed head or checkpoint that names what must exist:

* ``audit_chain``: the tenant's hash chain and its signed head (a cut tail is caught), and
  every head anchored in the log still in the chain (a rollback, even to an older validly
  signed head, is caught once an anchor covers the removed events);
* ``transparency_log``: leaves, interior nodes and envelopes against every signed
  checkpoint (a checkpoint larger than the stored tree means leaves were removed);
* ``manifests``: each body against its signed digest and the executor's signature;
* ``verdicts``: each verification row against the envelope the verifier and the witness
  signed (status, manifest, run, tenant and both attestations; for v2 envelopes also the
  message, replay diff, attestation results and replay time the evidence pages show);
* ``reports``: each earlier integrity report against its signature, and against the
  ``integrity.checked`` audit event written with it (a deleted or inserted report is caught).

``integrity_run`` stores one signed :class:`IntegrityReport` per tenant, shown to its auditors.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.core.crypto.canonical import CanonicalizationError, canonicalize, digest
from apps.core.crypto.signing import pae, verify, verify_envelope
from apps.core.keys import signer
from apps.core.models import Tenant
from apps.core.services import audit_chain_walk, audit_record
from apps.core.tenancy import tenant_context

from .models import IntegrityReport, Manifest, Verification
from .pcq import manifest as manifest_mod
from .pcq import verdict
from .witness import V2

logger = logging.getLogger(__name__)
KINDS = ("audit_chain", "transparency_log", "manifests", "verdicts", "reports")
LABELS = {
    "audit_chain": "Audit chain",
    "transparency_log": "Transparency log",
    "manifests": "Manifests",
    "verdicts": "Verdicts",
    "reports": "Integrity reports",
}
REPORT_PAYLOAD_TYPE = "application/vnd.trustfabric.integrity-report+json"
REPORT_TYPE = "trustfabric/integrity-report/v1"
REPORT_SIGNER = "verifier"


def manifest_problem(m: Manifest) -> str | None:
    """Why ``m`` cannot be trusted, or None. Checked before every replay, too."""
    executor = signer("executor")
    try:
        computed = manifest_mod.body_digest(m.body)
        signed_bytes = manifest_mod.body_bytes(m.body)
    except (TypeError, ValueError) as exc:
        return f"manifest {m.digest[:12]}… (run {m.query_run_id}): the body cannot be canonicalized: {exc}"
    if computed != m.digest:
        return f"manifest {m.digest[:12]}… (run {m.query_run_id}): the stored body does not match its signed digest (the body was edited)"
    if m.executor_key_id != executor.key_id:
        return f"manifest {m.digest[:12]}… (run {m.query_run_id}): signed by key {m.executor_key_id}, not the pinned executor key"
    if not verify(executor.public, m.signature, signed_bytes):
        return f"manifest {m.digest[:12]}… (run {m.query_run_id}): the executor's signature does not verify"
    return None


def _statement(envelope: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (KeyError, TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def verdict_problem(v: Verification, tenant_slug: str) -> str | None:
    """Why the stored verdict ``v`` disagrees with what was witnessed, or None.

    A match is only ever recorded together with its envelope, so a match without one, an
    envelope that does not verify with the pinned verifier and witness keys, or one that
    names another manifest, run, tenant, verdict or attestation is a rewritten row."""
    entry = getattr(v, "entry", None)
    where = f"verification {v.pk} (run {v.manifest.query_run_id})"
    if entry is None:
        if v.status == Verification.Status.MATCH:
            return f"{where}: the stored verdict is 'match' but no witnessed envelope exists (the row was edited)"
        return None
    env = entry.envelope
    if digest(env) != entry.envelope_digest:
        return f"{where}: the stored envelope does not match its digest (it was edited)"
    verifier, witness = signer("verifier"), signer("witness")
    keys = {verifier.key_id: verifier.public, witness.key_id: witness.public}
    problems = verify_envelope(env, keys, [verifier.key_id, witness.key_id])
    if problems:
        return f"{where}: {problems[0]}"
    st = _statement(env)
    if st.get("manifest_digest") != v.manifest.digest:
        return f"{where}: the witnessed envelope names another manifest"
    if st.get("query_run") != v.manifest.query_run_id or st.get("tenant") != tenant_slug:
        return f"{where}: the witnessed envelope names another run or tenant"
    if st.get("verdict") != v.status:
        return f"{where}: the stored verdict {v.status!r} differs from the witnessed {st.get('verdict')!r} (the row was edited)"
    for component in ("verifier", "witness"):
        if st.get(f"{component}_attestation") != digest(getattr(v, f"{component}_evidence")):
            return f"{where}: the stored {component} attestation differs from the one the envelope binds"
    if st.get("type") == V2:
        # What the pages show besides the verdict: message, diff, attestation results.
        edited = verdict.shown_mismatches(st, {field: getattr(v, field) for field in verdict.SHOWN_FIELDS})
        if edited:
            return f"{where}: the stored {verdict.SHOWN_LABELS[edited[0]]} differs from the one the envelope binds (the row was edited)"
    return None


def witnessed_verdict(v: Verification | None, tenant_slug: str) -> dict[str, Any] | None:
    """What auditors are shown: the verdict as witnessed, never the row's word alone.

    ``status`` is the envelope's verdict when there is a valid one, ``integrity_failed`` when
    the row disagrees with it (or claims a match nobody witnessed), and otherwise the row's
    status (variance, error, pending and failed attestations are not witnessed by design)."""
    if v is None:
        return None
    problem = verdict_problem(v, tenant_slug)
    entry = getattr(v, "entry", None)
    if problem:
        return {
            "status": "integrity_failed",
            "label": "Integrity check failed",
            "witnessed": False,
            "problem": problem,
            "details_witnessed": False,
        }
    if entry is not None:
        st = _statement(entry.envelope)
        verdict = st["verdict"]
        return {
            "status": verdict,
            "label": f"{verdict.capitalize()} (witnessed)",
            "witnessed": True,
            "problem": None,
            # v1 envelopes (before the details were bound) vouch for the verdict only.
            "details_witnessed": st.get("type") == V2,
        }
    return {
        "status": v.status,
        "label": v.get_status_display(),
        "witnessed": False,
        "problem": None,
        "details_witnessed": False,
    }


# --- Signed reports -------------------------------------------------------------------------


def report_statement(r: Any) -> dict[str, Any]:
    """What a report's signature covers: tenant, time, trigger, outcome and every result."""
    return {
        "type": REPORT_TYPE,
        "tenant_id": r.tenant_id,
        "checked_at": r.checked_at.astimezone(UTC).isoformat(),
        "trigger": r.trigger,
        "ok": r.ok,
        "problems": r.problems,
        "results": r.results,
    }


def _report_bytes(r: Any) -> bytes:
    # DSSE's pre-authentication encoding with its own payload type: a report signature can
    # never be taken for a verdict envelope's, nor the other way round.
    return pae(REPORT_PAYLOAD_TYPE, canonicalize(report_statement(r)))


def report_sign(r: Any) -> None:
    """Sign ``r`` (an unsaved report, or a historical row in a migration) in place."""
    key = signer(REPORT_SIGNER)
    r.signature, r.key_id = key.sign(_report_bytes(r)), key.key_id


def report_problem(r: IntegrityReport) -> str | None:
    """Why the stored report ``r`` cannot be trusted (edited, inserted, moved), or None."""
    where = f"integrity report {r.pk} of {r.checked_at:%Y-%m-%d %H:%M:%S} UTC"
    if not r.signature:
        return f"{where} is unsigned: it was not written by an integrity run (inserted or edited)"
    key = signer(REPORT_SIGNER)
    if r.key_id != key.key_id:
        return f"{where}: signed by key {r.key_id}, not the pinned {REPORT_SIGNER} key"
    try:
        data = _report_bytes(r)
    except (CanonicalizationError, TypeError, ValueError, AttributeError):
        return f"{where}: its contents cannot be canonicalized (the row was edited)"
    if not verify(key.public, r.signature, data):
        return f"{where}: the signature does not verify (the report was edited)"
    return None


def report_problems(tenant: Tenant) -> tuple[int, list[str]]:
    """Every stored report of ``tenant`` against its signature and against the audit event
    written in the same transaction (audit chain anchored): a report deleted (say, the failing
    one, so an older green one shows as the latest), copied or inserted is named."""
    from apps.core.models import AuditEvent

    reports = list(IntegrityReport.all_tenants.filter(tenant=tenant).order_by("checked_at", "id"))
    problems = [p for p in map(report_problem, reports) if p]
    by_id = {r.pk: r for r in reports}
    recorded = set()
    events = AuditEvent.all_tenants.filter(tenant=tenant, action="integrity.checked").order_by("seq")
    for seq, target, payload in events.values_list("seq", "target_id", "payload").iterator(chunk_size=2000):
        pk = int(target) if str(target).isdigit() else None
        recorded.add(pk)
        r = by_id.get(pk)  # type: ignore[arg-type]
        if r is None:
            problems.append(f"audit event #{seq} records integrity report {target}, which no longer exists (deleted)")
        elif not isinstance(payload, dict) or (payload.get("ok"), payload.get("problems")) != (r.ok, r.problems):
            problems.append(f"integrity report {r.pk} differs from the outcome audit event #{seq} recorded")
    problems += [
        f"integrity report {r.pk} has no integrity.checked audit event (it was inserted)"
        for r in reports
        if r.pk not in recorded
    ]
    return len(reports), problems


def latest_report_problem(tenant: Tenant, latest: IntegrityReport | None) -> str | None:
    """What the integrity page says about the report it shows as the latest: its signature,
    and whether it is the one the newest ``integrity.checked`` audit event names."""
    from apps.core.models import AuditEvent

    if latest is not None and (problem := report_problem(latest)):
        return problem
    newest = (
        AuditEvent.all_tenants.filter(tenant=tenant, action="integrity.checked")
        .order_by("-seq")
        .values_list("seq", "target_id")
        .first()
    )
    if newest is not None and (latest is None or str(latest.pk) != str(newest[1])):
        return (
            f"audit event #{newest[0]} records integrity report {newest[1]} as the newest, "
            f"but {'no report' if latest is None else f'report {latest.pk}'} is stored as the latest "
            "(a report was deleted or inserted)"
        )
    return None


def _first(kind: str, checked: int, problems: list[str]) -> dict[str, Any]:
    return {
        "label": LABELS[kind],
        "ok": not problems,
        "checked": checked,
        "problems": len(problems),
        "first": problems[0] if problems else None,
    }


def tenant_results(tenant: Tenant, log_problems: list[str], log_size: int) -> dict[str, dict[str, Any]]:
    """Every check for one tenant (the log's result is shared: the log is global)."""
    from .services import audit_anchor_problems

    chain = audit_chain_walk(tenant)
    chain_problems = [chain.first_break.describe()] if chain.first_break else []
    results = {
        "audit_chain": _first("audit_chain", chain.events_checked, chain_problems + audit_anchor_problems(tenant)),
        "transparency_log": _first("transparency_log", log_size, log_problems),
    }
    with tenant_context(tenant):
        manifests = Manifest.objects.order_by("id")
        problems = [p for p in (manifest_problem(m) for m in manifests.iterator(chunk_size=500)) if p]
        results["manifests"] = _first("manifests", manifests.count(), problems)
        verifications = Verification.objects.select_related("manifest", "entry").order_by("id")
        problems = [p for p in (verdict_problem(v, tenant.slug) for v in verifications.iterator(chunk_size=500)) if p]
        problems += _witnessed_but_missing(tenant, log_size)
        results["verdicts"] = _first("verdicts", verifications.count(), problems)
    results["reports"] = _first("reports", *report_problems(tenant))
    return results


def _witnessed_but_missing(tenant: Tenant, log_size: int) -> list[str]:
    """The audit chain (anchored by its signed head) records every witnessing with its leaf
    index; each must still be in the log and in the tenant's entries, so deleting the newest
    leaf together with its checkpoint and entry is caught too."""
    from apps.core.models import AuditEvent

    from .models import WitnessedEntry

    entries = set(WitnessedEntry.all_tenants.filter(tenant=tenant).values_list("leaf_index", flat=True))
    problems = []
    events = AuditEvent.all_tenants.filter(tenant=tenant, action="pcq.witnessed").order_by("seq")
    for seq, payload in events.values_list("seq", "payload").iterator(chunk_size=2000):
        index = payload.get("leaf_index") if isinstance(payload, dict) else None
        if not isinstance(index, int):
            continue
        if index >= log_size or index not in entries:
            problems.append(
                f"audit event #{seq} records a verdict witnessed at log leaf {index}, which is no longer in the log"
            )
    return problems


def integrity_run(tenants: list[Tenant], *, trigger: str = "command") -> list[IntegrityReport]:
    """Run every check for each tenant and store one report each (plus an audit event)."""
    from .services import audit_heads_anchor, log_audit, log_size

    log_problems, size = log_audit(), log_size()
    reports = []
    for tenant in tenants:
        results = tenant_results(tenant, log_problems, size)
        count = sum(r["problems"] for r in results.values())
        with tenant_context(tenant), transaction.atomic():
            report = IntegrityReport(
                tenant=tenant,
                checked_at=timezone.now(),
                ok=count == 0,
                problems=count,
                results=results,
                trigger=trigger,
            )
            report_sign(report)
            report.save()
            audit_record(
                "integrity.checked",
                target=report,
                payload={"ok": report.ok, "problems": count, "failed": [k for k in KINDS if not results[k]["ok"]]},
            )
        reports.append(report)
    # Anchor the heads just checked (after the report's own audit event), so a later
    # rollback of any chain to before this point contradicts the log. Never into a log that
    # failed its check: appending would build on (and hide) the damage.
    if not log_problems:
        try:
            audit_heads_anchor(tenants)
        except DatabaseError:
            # The log's stored nodes disagree with its leaves in a way the check missed;
            # the next run reports on what is stored, so anchoring simply waits.
            logger.warning("integrity: audit heads not anchored: the log refused the append", exc_info=True)
    return reports
