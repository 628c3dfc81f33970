"""PCQ writes: sign a manifest for every executed query, verify it (attest → replay →
compare), have the witness co-sign a match, and append it to the transparency log."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.crypto import checkpoint, merkle
from apps.core.crypto.canonical import RFC8785, TF_JSON_1, canonicalize, digest
from apps.core.keys import public_keys, signer
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant
from apps.graphs.ingest import Graph
from apps.graphs.models import DatasetVersion
from apps.queries import hooks
from apps.queries.models import Decision, QueryRun

from . import attest, log_sources, witness
from .log_append import log_append, log_size  # noqa: F401 - the append path lives in its own module
from .models import AuditHeadAnchor, LogCheckpoint, LogLeaf, LogNode, Manifest, Verification, WitnessedEntry
from .pcq import bundle, manifest
from .verifier import verify_manifest

ANCHOR_TYPE = "trustfabric/audit-head/v1"
_trees_lock = threading.Lock()
_trees: OrderedDict[str, dict[str, Any]] = OrderedDict()


def input_checksum(version: DatasetVersion) -> dict[str, Any]:
    """The Merkle checksum tree of a dataset version and the encoding its stored content hash
    was computed in (both once per process per version)."""
    with _trees_lock:
        if version.content_hash in _trees:
            return _trees[version.content_hash]
    doc = DatasetVersion.unpack(version.graph_blob)
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    # Versions uploaded before RFC 8785 carry a tf-json-1 hash; the manifest says which.
    hash_version = RFC8785 if graph.content_hash(RFC8785) == version.content_hash else TF_JSON_1
    tree = {"tree": manifest.checksum_tree(doc), "canonicalization": hash_version}
    with _trees_lock:
        _trees[version.content_hash] = tree
        while len(_trees) > 32:
            _trees.popitem(last=False)
    return tree


def input_entry(version: DatasetVersion, view: Any) -> dict[str, Any]:
    """A manifest's description of one input: which dataset version, and its hashes."""
    checksum = input_checksum(version)
    return {
        "dataset": version.dataset.slug,
        "view": view.slug if view else None,
        "version": version.number,
        "content_hash": version.content_hash,
        "canonicalization": checksum["canonicalization"],
        "checksum_tree": checksum["tree"],
    }


def manifest_body(
    run: QueryRun, execution: Any, steps: list[Any], sampling: dict[str, Any] | None = None
) -> dict[str, Any]:
    version = run.dataset_version
    decisions = Decision.objects.filter(query_run=run).select_related("policy_version__policy")
    body = {
        "schema": manifest.SCHEMA_ID,
        "kind": "execution",
        "tenant": run.tenant.slug,
        "query_run": run.pk,
        "inputs": [input_entry(version, run.view)],
        "transforms": manifest.transforms_for(run.spec, version.dataset.slug, run.view.slug if run.view else None),
        "random_seed": run.spec.get("random_seed", 7),
        "libraries": manifest.libraries(),
        "policy": [
            {
                "policy": d.policy_version.policy.slug,
                "version": d.policy_version.number,
                "source_hash": d.policy_version.source_hash,
                "mode": d.mode,
                "outcome": d.outcome,
                "reason_codes": d.reason_codes,
            }
            for d in decisions
            if d.policy_version is not None
        ],
        "minimization": [s.as_dict() for s in steps],
        "jit_grant": hooks.describe_grant(run.jit_grant_id),
        "outputs": manifest.outputs_for(
            run.spec["metric"], execution.nodes, execution.values, execution.edges, run.result
        ),
    }
    if sampling is not None:  # pcq_ops (issue 16): the replay sampling decision, manifest v3
        body["sampling"] = sampling
    return body


def manifest_create(
    run: QueryRun, execution: Any, steps: list[Any], sampling: dict[str, Any] | None = None
) -> Manifest:
    """Build, validate and sign the manifest of an executed query. Runs inside the
    pipeline's transaction, so a query result never exists without its manifest."""
    body = manifest_body(run, execution, steps, sampling)
    manifest.validate(body)
    executor = signer("executor")
    row = Manifest.objects.create(
        query_run=run,
        body=body,
        digest=manifest.body_digest(body),
        signature=executor.sign(manifest.body_bytes(body)),
        executor_key_id=executor.key_id,
    )
    audit_record(
        "manifest.signed", target=row, payload={"query_run": run.pk, "digest": row.digest, "key_id": executor.key_id}
    )
    return row


def verification_request(manifest_row: Manifest) -> Verification:
    """Queue a verification of ``manifest_row`` (the Celery task runs after commit)."""
    from .tasks import verify

    with transaction.atomic():
        v = Verification.objects.create(manifest=manifest_row)
        tenant_id, vid = manifest_row.tenant_id, v.pk
        transaction.on_commit(lambda: verify.delay(tenant_id, vid))
    return v


def _lease_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.PCQ_VERIFY_LEASE_SECONDS)


def verification_claim(verification_id: int) -> datetime | None:
    """Take the lease on an unfinished verification: free, or its holder's lease expired
    (the worker died). Returns the lease token (the claim time), or None."""
    now = timezone.now()
    claimed = (
        Verification.objects.filter(pk=verification_id, finished_at__isnull=True)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=_lease_cutoff()))
        .update(claimed_at=now, attempts=F("attempts") + 1)
    )
    return now if claimed else None


def verification_run(verification_id: int) -> Verification:
    """Attest the verifier, replay, and on a match attest the witness, co-sign and log.

    Exactly once: the work runs under a lease (``verification_claim``), and its result —
    log leaf, witnessed entry, verdict, audit events — is written in one transaction that
    first checks the lease is still ours. A worker killed mid-way wrote nothing; the sweep
    re-queues the verification when its lease expires. A verification that is finished, or
    leased by a live worker, is returned unchanged."""
    claim = verification_claim(verification_id)
    v = Verification.objects.select_related("manifest__query_run__dataset_version").get(pk=verification_id)
    if claim is None:
        return v
    try:
        return _verify_claimed(v, claim)
    except Exception:
        # Give the lease back so the task's retry (or the sweep) can run it again now.
        Verification.objects.filter(pk=v.pk, claimed_at=claim, finished_at__isnull=True).update(claimed_at=None)
        raise


def _verify_claimed(v: Verification, claim: datetime) -> Verification:
    from .integrity import manifest_problem

    # Replay only what the executor signed: a body edited in the database is an error, never
    # a verdict about the edited body.
    problem = manifest_problem(v.manifest)
    if problem:
        return _finish(v, claim, Verification.Status.ERROR, f"Not verified: {problem}.")
    nonce = v.manifest.digest
    evidence, result = attest.attest("verifier", nonce)
    v.verifier_evidence, v.verifier_result = evidence, result
    if result["status"] != "affirming":
        return _finish(
            v,
            claim,
            Verification.Status.ATTESTATION_FAILED,
            "The verifier's attestation was not affirming: " + "; ".join(result["reasons"]),
        )
    from apps.queries.pipeline import tenant_key

    graph_doc = DatasetVersion.unpack(v.manifest.query_run.dataset_version.graph_blob)
    outcome, replay_ms = verify_manifest(v.manifest.body, graph_doc, tenant_key("minimize"))
    v.diff, v.replay_ms = outcome["diff"], round(replay_ms, 3)
    if outcome["verdict"] != "match":
        return _finish(v, claim, outcome["verdict"], outcome["message"])
    w_evidence, w_result = attest.attest("witness", nonce)
    v.witness_evidence, v.witness_result = w_evidence, w_result
    if w_result["status"] != "affirming":
        return _finish(
            v,
            claim,
            Verification.Status.ATTESTATION_FAILED,
            "Replay matched, but the witness's attestation was not affirming, so nothing was witnessed or logged: "
            + "; ".join(w_result["reasons"]),
        )
    verified_at = datetime.now(UTC).isoformat(timespec="seconds")
    payload = witness.statement(
        manifest_digest=nonce,
        query_run=v.manifest.query_run_id,
        tenant=require_current_tenant().slug,
        verified_at=verified_at,
        verifier_evidence=evidence,
        witness_evidence=w_evidence,
        shown={
            "message": outcome["message"],
            "diff": v.diff,
            "verifier_result": result,
            "witness_result": w_result,
            "replay_ms": v.replay_ms,
        },
    )
    env = witness.cosign(payload, signer("verifier"), signer("witness"))
    return _finish(v, claim, Verification.Status.MATCH, outcome["message"], envelope=env)


def _finish(
    v: Verification, claim: datetime, status: str, message: str, envelope: dict[str, Any] | None = None
) -> Verification:
    """Write the outcome, once: only while the lease ``claim`` is still this run's."""
    with transaction.atomic():
        held = (
            Verification.objects.select_for_update()
            .filter(pk=v.pk, claimed_at=claim, finished_at__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
        if held is None:
            # Our lease expired and another worker took over: its result stands, ours is dropped.
            return Verification.objects.get(pk=v.pk)
        if envelope is not None:
            index = log_append(canonicalize(envelope))
            entry = WitnessedEntry.objects.create(
                verification=v, envelope=envelope, envelope_digest=digest(envelope), leaf_index=index
            )
            audit_record(
                "pcq.witnessed",
                target=entry,
                payload={"manifest": v.manifest.digest, "leaf_index": index, "verification": v.pk},
            )
        v.status, v.message, v.finished_at = status, message, timezone.now()
        v.save(
            update_fields=[
                "status",
                "message",
                "finished_at",
                "diff",
                "replay_ms",
                "verifier_evidence",
                "verifier_result",
                "witness_evidence",
                "witness_result",
            ]
        )
        audit_record(
            "pcq.verified",
            target=v,
            payload={
                "manifest": v.manifest.digest,
                "status": status,
                "attestation": (v.verifier_result or {}).get("status"),
                "mode": "sim",
            },
        )
    return v


def verification_sweep(limit: int = 500) -> list[int]:
    """Re-queue unfinished verifications whose lease expired (their worker died) or that
    were never claimed long after creation (their message was lost). Re-queueing is safe:
    a duplicate message finds the verification finished or leased and does nothing."""
    from .tasks import verify

    stale_unclaimed = timezone.now() - timedelta(seconds=settings.PCQ_VERIFY_REQUEUE_AFTER_SECONDS)
    stale = (
        Verification.all_tenants.filter(finished_at__isnull=True)
        .filter(Q(claimed_at__lt=_lease_cutoff()) | Q(claimed_at__isnull=True, created_at__lt=stale_unclaimed))
        .order_by("created_at")
        .values_list("tenant_id", "pk")[:limit]
    )
    requeued = []
    for tenant_id, pk in stale:
        verify.delay(tenant_id, pk)
        requeued.append(pk)
    return requeued


# --- The transparency log -----------------------------------------------------------------


class _DbNodes:
    """Reads perfect-subtree hashes from LogNode, remembering what it has read."""

    def __init__(self, pending: dict[tuple[int, int], bytes] | None = None) -> None:
        self.cache: dict[tuple[int, int], bytes] = dict(pending or {})

    def get(self, level: int, position: int) -> bytes:
        key = (level, position)
        if key not in self.cache:
            self.cache[key] = bytes.fromhex(LogNode.objects.get(level=level, position=position).hash)
        return self.cache[key]


def latest_checkpoint() -> LogCheckpoint | None:
    return LogCheckpoint.objects.order_by("-size").first()


def inclusion_proof(index: int, size: int) -> list[str]:
    return [h.hex() for h in merkle.inclusion_proof(_DbNodes().get, index, size)]


def consistency_proof(old: int, new: int) -> list[str]:
    return [h.hex() for h in merkle.consistency_proof(_DbNodes().get, old, new)]


def log_audit() -> list[str]:
    """Recompute the whole log from the stored envelopes and report every discrepancy:
    altered envelopes, leaves, interior nodes, checkpoints (roots or signatures)."""
    problems: list[str] = []
    tree = _recompute_tree(problems)
    _audit_checkpoints(tree, problems)
    _audit_interior_nodes(tree, problems)
    return problems


@dataclass
class _StoredLog:
    leaves: dict[int, str]
    kept: dict[int, bytes]
    entries: dict[int, Any]
    anchors: dict[int, Any]
    others: dict[int, tuple[str, bytes]]


def _recompute_tree(problems: list[str]) -> merkle.MemoryTree:
    """The tree rebuilt from what each leaf stands for (its envelope, anchor or other source)."""
    leaves, kept = {}, {}
    for index, leaf_hash, data in LogLeaf.objects.order_by("index").values_list("index", "leaf_hash", "data"):
        leaves[index] = leaf_hash
        if data:
            kept[index] = data.encode("utf-8")
    stored = _StoredLog(
        leaves,
        kept,
        entries={e.leaf_index: e for e in WitnessedEntry.all_tenants.order_by("leaf_index")},
        anchors={a.leaf_index: a for a in AuditHeadAnchor.all_tenants.order_by("leaf_index")},
        others=log_sources.registered_leaves(),
    )
    tree = merkle.MemoryTree()
    for index in range(len(stored.leaves)):
        if index not in stored.leaves:
            problems.append(f"leaf {index} is missing")
            break
        tree.append(_leaf_data(index, stored, problems))
    return tree


def _leaf_data(index: int, stored: _StoredLog, problems: list[str]) -> bytes:
    leaf, kept, entry = stored.leaves[index], stored.kept, stored.entries.get(index)
    if entry is None and index in stored.others:
        source, data = stored.others[index]
        if merkle.leaf_hash(data).hex() != leaf:
            problems.append(f"leaf {index}: the leaf hash does not match its {source} entry (one was altered)")
        return data
    if index in kept and merkle.leaf_hash(kept[index]).hex() != leaf:
        problems.append(f"leaf {index}: the bytes stored with the leaf do not match its hash (one was altered)")
    if entry is None and index in stored.anchors:
        data = canonicalize(stored.anchors[index].statement)
        if merkle.leaf_hash(data).hex() != leaf:
            problems.append(f"leaf {index}: the leaf hash does not match its audit-head anchor (one was altered)")
        return data
    if entry is None and index in kept and merkle.leaf_hash(kept[index]).hex() == leaf:
        st = _anchor_statement(kept[index])
        problems.append(
            f"leaf {index}: the log anchors audit head #{st.get('seq')} of tenant {st.get('tenant_id')}, "
            "but its audit-head anchor row was deleted"
            if st
            else f"leaf {index} has no witnessed entry"
        )
        return kept[index]
    if entry is None:
        problems.append(f"leaf {index} has no witnessed entry")
        return b""
    data = canonicalize(entry.envelope)
    if digest(entry.envelope) != entry.envelope_digest:
        problems.append(f"leaf {index}: the stored envelope was altered (digest mismatch)")
    if merkle.leaf_hash(data).hex() != leaf:
        problems.append(f"leaf {index}: the leaf hash does not match its envelope (leaf or envelope altered)")
    return data


def _audit_checkpoints(tree: merkle.MemoryTree, problems: list[str]) -> None:
    log_key = signer("log").public
    for cp in LogCheckpoint.objects.order_by("size"):
        try:
            parsed = checkpoint.parse_and_verify(cp.note, log_key)
        except checkpoint.CheckpointError as exc:
            problems.append(f"checkpoint at size {cp.size}: {exc}")
            continue
        if parsed.size != cp.size or parsed.root.hex() != cp.root_hash:
            problems.append(f"checkpoint at size {cp.size}: the stored root differs from the signed note")
        if cp.size > tree.size:
            # A signed checkpoint is the log's promise that this many leaves exist.
            problems.append(
                f"checkpoint at size {cp.size} is larger than the stored tree ({tree.size} leaves): "
                f"{cp.size - tree.size} leaf/leaves were removed from the log"
            )
        elif tree.root(cp.size).hex() != parsed.root.hex():
            problems.append(f"checkpoint at size {cp.size}: the signed root does not match the recomputed tree")


def _audit_interior_nodes(tree: merkle.MemoryTree, problems: list[str]) -> None:
    for node in LogNode.objects.all():
        expected = tree.nodes.get((node.level, node.position))
        if expected is None and (node.position + 1) << node.level > tree.size:
            # A completed subtree whose leaves are gone: leaves were cut off the log's tail.
            problems.append(
                f"interior node {node.level}/{node.position} covers leaves beyond the stored tree "
                f"({tree.size} leaves): leaves were removed"
            )
        elif expected is not None and expected.hex() != node.hash:
            problems.append(f"interior node {node.level}/{node.position} was altered")


def audit_heads_anchor(tenants: list[Any]) -> list[AuditHeadAnchor]:
    """Append each tenant's current audit head to the transparency log, unless that head is
    already anchored. Hourly from beat and after every integrity run."""
    from apps.core.models import AuditHead
    from apps.core.tenancy import tenant_context

    anchored = []
    for tenant in tenants:
        head = AuditHead.all_tenants.filter(tenant=tenant).first()
        if head is None:
            continue
        last = AuditHeadAnchor.all_tenants.filter(tenant=tenant).order_by("-leaf_index").first()
        if last is not None and last.seq == head.seq and last.head_hash == head.hash:
            continue
        statement = {"type": ANCHOR_TYPE, "tenant_id": tenant.pk, "seq": head.seq, "hash": head.hash}
        with tenant_context(tenant), transaction.atomic():
            # Kept with the leaf: the log itself names what it anchored (see log_anchored_heads).
            index = log_append(canonicalize(statement), keep=True)
            anchored.append(
                AuditHeadAnchor.objects.create(seq=head.seq, head_hash=head.hash, statement=statement, leaf_index=index)
            )
    return anchored


def _anchor_statement(data: bytes) -> dict[str, Any] | None:
    """The audit-head statement in a kept leaf's bytes, or None."""
    import json

    try:
        st = json.loads(data)
    except ValueError:
        return None
    if not isinstance(st, dict) or st.get("type") != ANCHOR_TYPE:
        return None
    if not all(isinstance(st.get(k), t) for k, t in (("tenant_id", int), ("seq", int), ("hash", str))):
        return None
    return st


def log_anchored_heads(tenant: Any) -> list[tuple[int, int, str]]:
    """(leaf index, seq, hash) of each audit head of ``tenant`` that the log itself holds: the
    bytes kept with the leaf, taken only when they match the leaf hash (which the signed
    checkpoints cover). Survives the deletion of the tenant's AuditHeadAnchor rows."""
    needle = f'"tenant_id":{int(tenant.pk)},'
    heads = []
    rows = LogLeaf.objects.filter(data__contains=needle).order_by("index")
    for index, leaf_hash, data in rows.values_list("index", "leaf_hash", "data").iterator(chunk_size=2000):
        raw = data.encode("utf-8")
        st = _anchor_statement(raw) if merkle.leaf_hash(raw).hex() == leaf_hash else None
        if st is not None and st["tenant_id"] == tenant.pk:
            heads.append((index, st["seq"], st["hash"]))
    return heads


def audit_anchor_problems(tenant: Any) -> list[str]:
    """Every anchored head must still be in the chain: its event at ``seq`` with that hash —
    the anchors in the tenant's AuditHeadAnchor rows and, should those be deleted (with the
    whole chain, say), the ones the log itself holds."""
    from apps.core.models import AuditEvent

    problems = []
    rows = set()
    for a in AuditHeadAnchor.all_tenants.filter(tenant=tenant).order_by("leaf_index"):
        rows.add(a.leaf_index)
        if a.statement != {
            "type": ANCHOR_TYPE,
            "tenant_id": tenant.pk,
            "seq": a.seq,
            "hash": a.head_hash,
        }:
            problems.append(f"the audit-head anchor at log leaf {a.leaf_index} differs from its statement (edited)")
            continue
        found = AuditEvent.all_tenants.filter(tenant=tenant, seq=a.seq).values_list("hash", flat=True).first()
        if found != a.head_hash:
            problems.append(
                f"the log anchors event #{a.seq} (leaf {a.leaf_index}) but the chain "
                + ("no longer has it: the chain was rolled back" if found is None else "has another event there")
            )
    for index, seq, head_hash in log_anchored_heads(tenant):
        if index in rows:
            continue  # checked above (the row and the kept bytes both match the leaf hash)
        found = AuditEvent.all_tenants.filter(tenant=tenant, seq=seq).values_list("hash", flat=True).first()
        if found != head_hash:
            problems.append(
                f"the log anchors event #{seq} at leaf {index}, whose audit-head anchor row was deleted, and the chain "
                + (
                    "no longer has it: the chain was wiped or rolled back"
                    if found is None
                    else "has another event there"
                )
            )
    return problems


# --- Evidence bundles ---------------------------------------------------------------------


def evidence_bundle(entry: WitnessedEntry) -> bytes:
    v = entry.verification
    m = v.manifest
    cp = latest_checkpoint()
    assert cp is not None
    return bundle.build(
        {
            "manifest.json": {"manifest": m.body, "signature": m.signature, "key_id": m.executor_key_id},
            "envelope.json": entry.envelope,
            "attestation.json": {
                "mode": "sim",
                "verifier": {"evidence": v.verifier_evidence, "result": v.verifier_result},
                "witness": {"evidence": v.witness_evidence, "result": v.witness_result},
                "reference_values": attest.reference_values(),
            },
            # What the evidence page shows besides the verdict; a v2 envelope binds its digests.
            "verdict.json": {"message": v.message, "diff": v.diff, "replay_ms": v.replay_ms},
            "inclusion-proof.json": {
                "leaf_index": entry.leaf_index,
                "tree_size": cp.size,
                "leaf_hash": merkle.leaf_hash(canonicalize(entry.envelope)).hex(),
                "hashes": inclusion_proof(entry.leaf_index, cp.size),
            },
            "checkpoint.txt": cp.note,
            "inputs.json": m.body["inputs"],
            "keys.json": public_keys(),
        }
    )
