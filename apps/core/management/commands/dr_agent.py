"""The application side of ``make dr-drill`` (ops/dr_drill.py drives it).

    DATABASE_FAILOVER_HOSTS=127.0.0.1:P1,127.0.0.1:P2 manage.py dr_agent load --acks FILE --stop-file FILE
    manage.py dr_agent verify --acks FILE --kill-time T

``load`` writes through the real services as fast as it can: queries through the LAC/PCQ
pipeline (query run, decisions, signed manifest, verification, witness, log append and
their audit events) and plain audit events, and appends one JSON line per write to the
ack file *after* its transaction committed: that is what the app told its caller. The
drill sets DATABASE_FAILOVER_HOSTS to both regions (``target_session_attrs=read-write``),
so after a failover the next connection lands on whichever cluster accepts writes (libpq's
multi-host failover; no settings change, no restart).

``verify`` runs against the surviving cluster: every acknowledged write from before the
kill is there (RPO), the audit chains walk, the transparency log matches the last signed
checkpoint the app saw on the old primary by a consistency proof (so a restore cannot
silently fork or roll back the log), and every manifest matches its digest and signature.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction

QUERY = {
    "dataset": "calls-demo",
    "purpose": "investigation",
    "reason": "DR drill load",
    "seeds": ["grp20-1"],
    "hops": 1,
    "metric": "neighbourhood",
    "fields": ["city"],
}


class Command(BaseCommand):
    help = "DR drill agent: write load with acknowledgements, or verify the survivor."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("mode", choices=["load", "verify"])
        parser.add_argument("--acks", type=Path, required=True)
        parser.add_argument("--stop-file", type=Path)
        parser.add_argument("--tenant", default="northbridge")
        parser.add_argument("--kill-time", type=float, default=0.0)
        parser.add_argument("--max-seconds", type=float, default=300.0)

    def handle(self, *args: Any, mode: str, **o: Any) -> None:
        if mode == "load":
            self.load(o["acks"], o["stop_file"], o["tenant"], o["max_seconds"])
        else:
            self.stdout.write(json.dumps(verify(o["acks"], o["kill_time"])))

    def load(self, acks: Path, stop: Path | None, slug: str, max_seconds: float) -> None:
        from apps.core.models import Tenant
        from apps.core.services import audit_record
        from apps.core.tenancy import tenant_context
        from apps.provenance.models import LogCheckpoint, Manifest
        from apps.queries.pipeline import query_run_execute

        tenant = Tenant.objects.get(slug=slug)
        prefix = {"northbridge": "nb", "harbor-customs": "hc", "sandbox": "sb"}[slug]  # seed_demo's users
        analyst = get_user_model().objects.get(username=f"{prefix}-analyst")
        started, n, errors = time.monotonic(), 0, 0
        with acks.open("a", buffering=1) as out:
            while time.monotonic() - started < max_seconds and not (stop and stop.exists()):
                n += 1
                try:
                    with tenant_context(tenant):
                        if n % 2:
                            with transaction.atomic():
                                ev = audit_record("dr.drill.write", payload={"n": n})
                            ack = {"kind": "audit", "tenant": tenant.pk, "seq": ev.seq}
                        else:
                            run = query_run_execute(actor=analyst, roles=frozenset({"analyst"}), spec=QUERY)
                            m = Manifest.objects.filter(query_run=run).values_list("digest", flat=True).first()
                            ack = {"kind": "query", "tenant": tenant.pk, "id": run.pk, "manifest": m}
                            cp = LogCheckpoint.objects.order_by("-size").first()
                            if cp is not None:
                                ack["checkpoint"] = {"size": cp.size, "root": cp.root_hash, "note": cp.note}
                    ack["t"] = time.time()
                    out.write(json.dumps(ack) + "\n")
                except Exception as exc:  # noqa: BLE001 - any failed write is just not acknowledged
                    # (a database error may also surface from an eager task as the driver's own class)
                    errors += 1
                    out.write(json.dumps({"kind": "error", "t": time.time(), "error": type(exc).__name__}) + "\n")
                    connection.close()
                    time.sleep(0.1)
        self.stdout.write(json.dumps({"writes_attempted": n, "errors": errors}))


def verify(acks: Path, kill_time: float) -> dict[str, Any]:
    from apps.core.crypto import checkpoint, merkle
    from apps.core.keys import signer
    from apps.core.models import AuditEvent, Tenant
    from apps.core.services import audit_chain_walk
    from apps.provenance.integrity import manifest_problem
    from apps.provenance.models import LogCheckpoint, Manifest
    from apps.provenance.services import consistency_proof, log_audit, log_size
    from apps.queries.models import QueryRun

    lines = [json.loads(line) for line in acks.read_text().splitlines() if line.strip()]
    before = [a for a in lines if a["kind"] != "error" and (not kill_time or a["t"] < kill_time)]
    missing = []
    for a in before:
        if a["kind"] == "audit":
            present = AuditEvent.all_tenants.filter(tenant_id=a["tenant"], seq=a["seq"]).exists()
        elif a["kind"] == "query":
            present = QueryRun.all_tenants.filter(pk=a["id"]).exists()
            if present and a.get("manifest"):
                present = Manifest.all_tenants.filter(digest=a["manifest"]).exists()
        else:  # an observation (e.g. a checkpoint seen), not a write
            continue
        if not present:
            missing.append(a)
    chains = {}
    for t in Tenant.objects.all():
        report = audit_chain_walk(t)
        chains[t.slug] = {"events": report.events_checked, "ok": report.ok}
    # The newest signed checkpoint the app acknowledged on the old primary is the anchor.
    anchor = next((a["checkpoint"] for a in reversed(before) if a.get("checkpoint")), None)
    log: dict[str, Any] = {"size": log_size(), "problems": log_audit()}
    if anchor:
        cp = checkpoint.parse_and_verify(anchor["note"], signer("log").public)
        log["anchor_size"] = cp.size
        newest = LogCheckpoint.objects.order_by("-size").first()
        if newest is None or newest.size < cp.size:
            log["consistent_with_anchor"] = False
            log["problems"].append(f"the log was rolled back below the signed checkpoint at size {cp.size}")
        else:
            proof = [bytes.fromhex(h) for h in consistency_proof(cp.size, newest.size)]
            ok = merkle.verify_consistency(cp.size, newest.size, cp.root, bytes.fromhex(newest.root_hash), proof)
            log["consistent_with_anchor"] = ok
            if not ok:
                log["problems"].append(f"the log does not extend the signed checkpoint at size {cp.size} (fork)")
    # The same check integrity_verify and every verification run (digest, then signature).
    bad_manifests = [m.pk for m in Manifest.all_tenants.all() if manifest_problem(m) is not None]
    return {
        "acknowledged_before_kill": len(before),
        "missing_after_failover": len(missing),
        "oldest_missing_t": min((a["t"] for a in missing), default=None),
        "audit_chains": chains,
        "audit_chains_ok": all(c["ok"] for c in chains.values()),
        "log": log,
        "log_ok": not log["problems"] and log.get("consistent_with_anchor", True),
        "manifests_checked": Manifest.all_tenants.count(),
        "manifests_bad": bad_manifests,
        "manifests_ok": not bad_manifests,
    }
