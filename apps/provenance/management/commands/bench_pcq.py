"""make bench-pcq: manifest build and sign (RFC 8785, with the legacy encoder as the baseline
in the same run), the per-manifest integrity check, replay time by graph size, log append
throughput, audit appends with and without the signed head, and proof generation at 10^6
leaves. Prints JSON.

Replay fixtures are connected scale-free graphs of ~1k, ~10k and ~100k edges (Barabási–Albert,
fixed seed), queried with PageRank two hops out from a hub; replay = content hash + Merkle
checksum tree of the inputs + rebuild the graph + rerun the query + compare within tolerance.
Replays are cold (the per-process checksum-tree memo cleared before each run) with the
warm figure beside them, and a breakdown of where the time goes. In the production profile
the graph is read the way a verification worker reads it (the stored gzip blob, unpacked).

Log appends: in the embedded profile inside a transaction that is rolled back; in the
production profile (PostgreSQL, append-only triggers on) committed for real — one
transaction per append from one process, the same from four processes at once, and batches
of 16 — so point the production profile at a throw-away database (``make bench`` does).
Proofs at 10^6 leaves use the same algorithms over an in-memory node store (writing 10^6 rows
to build a fixture would measure the database, not the proofs).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from contextlib import nullcontext
from typing import Any

import networkx as nx
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from apps.core import bench
from apps.core.crypto import merkle
from apps.core.crypto.canonical import CURRENT, TF_JCS_1, canonicalize, digest
from apps.core.crypto.signing import verify
from apps.core.keys import signer
from apps.graphs import engine
from apps.graphs.ingest import Graph
from apps.graphs.models import DatasetVersion
from apps.graphs.stats import build_networkx
from apps.policy_studio.lac import minimize
from apps.provenance.pcq import manifest
from apps.provenance.pcq import replay as replay_module
from apps.provenance.pcq.replay import replay


def _pct(samples: list[float]) -> dict[str, float]:
    return bench.pct(samples, digits=3)


APPENDER = """
import sys, time, django
django.setup()
from django.db import transaction
from apps.provenance.log_append import log_append_many
count, start_at, batch = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[4])
payload = sys.argv[3].encode()
while time.time() < start_at:
    time.sleep(0.001)
t0 = time.perf_counter()
for i in range(0, count, batch):
    with transaction.atomic():
        log_append_many([payload + b"-%d" % j for j in range(i, min(count, i + batch))])
print(time.perf_counter() - t0)
"""


def _graph_doc(edges: int) -> dict[str, Any]:
    n = max(10, edges // 4)
    g = nx.barabasi_albert_graph(n, 4, seed=11)
    rng = random.Random(5)
    nodes = [{"id": f"n{i:06d}", "type": "person", "city": rng.choice(["Leeds", "York", "Hull"])} for i in g.nodes]
    edge_list = [{"source": f"n{u:06d}", "target": f"n{v:06d}", "type": "calls"} for u, v in g.edges()]
    graph = Graph({"city": "P3"}, {}, nodes, edge_list)
    return graph.canonical()


def _manifest_for(doc: dict[str, Any]) -> dict[str, Any]:
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    spec = {
        "seeds": ["n000000"],
        "hops": 2,
        "metric": "pagerank",
        "node_filter": {},
        "edge_filter": {},
        "fields": ["city"],
        "offset": 0,
        "top_k": 100,
        "random_seed": 7,
    }
    g = build_networkx(graph)
    execution = engine.execute(g, spec)
    # As the pipeline does: the rendered result goes through minimization (no rules here),
    # which also drops the internal group labels the replay recomputes.
    result, _ = minimize.apply(engine.render(g, execution, spec["fields"], spec["metric"]), (), {}, b"")
    return {
        "schema": manifest.SCHEMA_ID,
        "kind": "execution",
        "query_run": 1,
        "inputs": [
            {
                "dataset": "bench",
                "view": None,
                "version": 1,
                "content_hash": graph.content_hash(),
                "canonicalization": CURRENT,
                "checksum_tree": manifest.checksum_tree(doc),
            }
        ],
        "transforms": manifest.transforms_for(spec, "bench", None),
        "random_seed": 7,
        "libraries": manifest.libraries(),
        "policy": [],
        "minimization": [],
        "jit_grant": None,
        "outputs": manifest.outputs_for("pagerank", execution.nodes, execution.values, execution.edges, result),
    }


class Command(BaseCommand):
    help = (
        "Benchmark PCQ (JSON): manifest build+sign, replay p50/p95 by graph size, log appends/s, proofs at 10^6 leaves."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="Smaller sizes and fewer runs (smoke test).")
        parser.add_argument(
            "--graph-memory", action="store_true", help="Also measure a cached graph's memory at 1M edges (~1 min)."
        )
        bench.add_profile_argument(parser)

    def handle(
        self, *args: Any, quick: bool = False, profile: str = "embedded", graph_memory: bool = False, **options: Any
    ) -> None:
        if profile == "production":
            try:
                bench.require_production()
            except bench.ProfileError as exc:
                raise CommandError(str(exc)) from exc
        sizes = [(1_000, 20), (10_000, 10), (100_000, 5)] if not quick else [(1_000, 3), (10_000, 2)]
        replays, builds = [], []
        for edges, runs in sizes:
            doc = _graph_doc(edges)
            started = time.perf_counter()
            body = _manifest_for(doc)
            build_ms = (time.perf_counter() - started) * 1000
            executor = signer("executor")
            sign_samples, legacy_samples, check_samples = [], [], []
            for _ in range(50):
                t0 = time.perf_counter()
                manifest.validate(body)
                executor.sign(canonicalize(body))
                digest(body)
                sign_samples.append((time.perf_counter() - t0) * 1000)
                # Baseline, same run: the legacy tf-jcs-1 encoder this release replaced.
                t0 = time.perf_counter()
                manifest.validate(body)
                executor.sign(canonicalize(body, TF_JCS_1))
                digest(body, TF_JCS_1)
                legacy_samples.append((time.perf_counter() - t0) * 1000)
                # What integrity_verify and every verification do first, per manifest.
                signature = executor.sign(manifest.body_bytes(body))
                t0 = time.perf_counter()
                assert manifest.body_digest(body) and verify(executor.public, signature, manifest.body_bytes(body))
                check_samples.append((time.perf_counter() - t0) * 1000)
            builds.append(
                {
                    "edges": len(doc["edges"]),
                    "build_incl_checksum_tree_and_execution_ms": round(build_ms, 2),
                    "validate_canonicalize_sign": _pct(sign_samples),
                    "validate_canonicalize_sign_legacy_baseline": _pct(legacy_samples),
                    "integrity_check_digest_and_signature": _pct(check_samples),
                }
            )
            blob = DatasetVersion.pack(doc) if profile == "production" else None
            cold, warm = [], []
            for _ in range(runs):
                replay_module.clear_caches()
                t0 = time.perf_counter()
                # Production: the verification worker unpacks the stored blob first.
                graph_doc = DatasetVersion.unpack(blob) if blob is not None else doc
                outcome = replay(body, graph_doc, key=None)
                cold.append((time.perf_counter() - t0) * 1000)
                assert outcome["verdict"] == "match", outcome["message"]
                t0 = time.perf_counter()
                replay(body, DatasetVersion.unpack(blob) if blob is not None else doc, key=None)
                warm.append((time.perf_counter() - t0) * 1000)
            replays.append(
                {
                    "edges": len(doc["edges"]),
                    "nodes": len(doc["nodes"]),
                    **_pct(cold),
                    "warm_same_version": _pct(warm),
                    "where_the_time_goes_ms": _breakdown(body, doc, blob),
                }
            )

        canon = self._canonicalization(10_000 if quick else 100_000)
        appends = self._appends(50 if quick else 1000, production=profile == "production")
        audit = self._audit_appends(100 if quick else 500)
        proofs = self._proofs(10_000 if quick else 1_000_000)
        worst = max(r["p95_ms"] for r in replays) / 1000
        sustained = appends["batches_of_16_commit_4_processes"]["appends_per_second"]
        report = {
            "benchmark": "pcq",
            "profile": profile,
            "graph_cache_memory": _graph_memory(1_000_000) if graph_memory else None,
            "database": connection.vendor,
            "manifest": builds,
            "replay": replays,
            "canonicalization": canon,
            "log_append": appends,
            "audit_append": audit,
            "proofs": proofs,
            "targets": {
                "replay_p95_seconds_largest": bench.figure(
                    round(worst, 3),
                    unit="s",
                    target=60,
                    aim=5,
                    baseline={"warm_p95_s": replays[-1]["warm_same_version"]["p95_ms"] / 1000},
                ),
                "log_appends_per_second": bench.figure(
                    sustained,
                    unit="appends/s",
                    target=1000,
                    aim=1000,
                    higher_is_better=True,
                    baseline={
                        "one_leaf_per_commit_1_process": appends["per_append_commit_1_process"]["appends_per_second"],
                        "one_leaf_per_commit_4_processes": appends["per_append_commit_4_processes"][
                            "appends_per_second"
                        ],
                    },
                ),
            },
        }
        self.stdout.write(json.dumps(report, indent=2))

    def _appends(self, count: int, *, production: bool) -> dict[str, Any]:
        from apps.provenance.log_append import log_append, log_append_many

        tag = uuid.uuid4().hex
        out: dict[str, Any] = {"database": connection.vendor, "committed": production}
        with transaction.atomic():
            # Rolled back: the figure without commit costs, and nothing kept.
            started = time.perf_counter()
            for i in range(count):
                log_append(f"bench-{tag}-in-one-transaction-{i}".encode())
            seconds = time.perf_counter() - started
            out["in_one_transaction"] = {"appends": count, "appends_per_second": round(count / seconds, 1)}
            transaction.set_rollback(True)
        with transaction.atomic():
            started = time.perf_counter()
            for b in range(count // 16):
                log_append_many([f"bench-{tag}-batch-in-one-transaction-{b}-{i}".encode() for i in range(16)])
            seconds = time.perf_counter() - started
            n = 16 * (count // 16)
            out["batches_of_16_in_one_transaction"] = {"appends": n, "appends_per_second": round(n / seconds, 1)}
            transaction.set_rollback(True)
        if not production:
            # SQLite has one writer at a time; the committed, concurrent figures are PostgreSQL's.
            out["per_append_commit_1_process"] = out["per_append_commit_4_processes"] = out["in_one_transaction"]
            out["batches_of_16"] = out["batches_of_16_commit_4_processes"] = out["batches_of_16_in_one_transaction"]
            out["note"] = "embedded: measured inside a rolled-back transaction (no commits, no concurrency)"
            return out
        started = time.perf_counter()
        for i in range(count):
            with transaction.atomic():
                log_append(f"bench-{tag}-single-{i}".encode())
        seconds = time.perf_counter() - started
        out["per_append_commit_1_process"] = {"appends": count, "appends_per_second": round(count / seconds, 1)}
        out["per_append_commit_4_processes"] = self._concurrent_appends(4, count // 4, tag, batch=1)
        out["batches_of_16_commit_4_processes"] = self._concurrent_appends(4, count, tag + "b", batch=16)
        started = time.perf_counter()
        for b in range(count // 16):
            log_append_many([f"bench-{tag}-batch-{b}-{i}".encode() for i in range(16)])
        seconds = time.perf_counter() - started
        out["batches_of_16"] = {
            "appends": 16 * (count // 16),
            "appends_per_second": round(16 * (count // 16) / seconds, 1),
        }
        return out

    def _concurrent_appends(self, processes: int, each: int, tag: str, *, batch: int) -> dict[str, Any]:
        """``processes`` appenders at once, each committing ``each`` leaves ``batch`` per
        transaction (a verification worker with ``batch`` envelopes ready)."""
        import subprocess
        import sys

        env = bench.production_env(DJANGO_SETTINGS_MODULE="trustfabric.settings")
        start_at = time.time() + 3  # all start together, after the interpreters are up
        procs = [
            subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                [sys.executable, "-c", APPENDER, str(each), str(start_at), f"bench-{tag}-p{p}", str(batch)],
                cwd=bench.ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in range(processes)
        ]
        results = [p.communicate(timeout=600) for p in procs]
        if any(p.returncode for p in procs):
            raise CommandError("a concurrent appender failed: " + " | ".join(err[-400:] for _, err in results))
        wall = max(float(out.strip().splitlines()[-1]) for out, _ in results)
        return {
            "processes": processes,
            "leaves_per_transaction": batch,
            "appends": processes * each,
            "wall_seconds": round(wall, 3),
            "appends_per_second": round(processes * each / wall, 1),
        }

    def _canonicalization(self, edges: int) -> dict[str, Any]:
        """CPU seconds (not wall time: the machine is shared) to canonicalize a dataset and
        build its checksum tree: RFC 8785 against the legacy encoder, same run, best of 3."""
        doc = _graph_doc(edges)
        out: dict[str, Any] = {"edges": len(doc["edges"])}
        for version in (CURRENT, TF_JCS_1):
            tree, whole = [], []
            for _ in range(3):
                t0 = time.process_time()
                manifest.checksum_tree(doc, version)
                tree.append(time.process_time() - t0)
                t0 = time.process_time()
                canonicalize(doc, version)
                whole.append(time.process_time() - t0)
            key = version if version == CURRENT else f"{version}_legacy_baseline"
            out[key] = {"checksum_tree_cpu_s": round(min(tree), 3), "whole_dataset_cpu_s": round(min(whole), 3)}
        return out

    def _audit_appends(self, count: int) -> dict[str, Any]:
        """audit_record with the signed head, and without it as the baseline (same run)."""
        from unittest import mock

        from apps.core import services as core_services
        from apps.core.models import Tenant
        from apps.core.tenancy import tenant_context

        best: dict[str, float] = {}
        # A warm-up round (connection, caches), then the two variants interleaved, best of 2.
        rounds = [("warmup", None)] + [("with_signed_head", None), ("baseline_without_head", "_head_advance")] * 2
        for label, patch in rounds:
            with transaction.atomic():
                tenant = Tenant.objects.create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="bench")
                ctx = mock.patch.object(core_services, patch, return_value=None) if patch else nullcontext()
                with tenant_context(tenant), ctx:
                    started = time.perf_counter()
                    for i in range(count):
                        core_services.audit_record("bench.event", payload={"i": i})
                    rate = count / (time.perf_counter() - started)
                best[label] = max(best.get(label, 0.0), rate)
                transaction.set_rollback(True)
        best.pop("warmup")
        out = {label: {"appends": count, "appends_per_second": round(rate, 1)} for label, rate in best.items()}
        return out

    def _proofs(self, leaves: int) -> dict[str, Any]:
        tree = merkle.MemoryTree()
        started = time.perf_counter()
        for i in range(leaves):
            tree.append(b"%d" % i)
        build_s = time.perf_counter() - started
        rng = random.Random(3)
        inclusion, consistency = [], []
        for _ in range(1000):
            index = rng.randrange(leaves)
            t0 = time.perf_counter()
            proof = merkle.inclusion_proof(tree.get, index, leaves)
            inclusion.append((time.perf_counter() - t0) * 1000)
            assert len(proof) <= 20 + 1
            old = rng.randrange(1, leaves)
            t0 = time.perf_counter()
            merkle.consistency_proof(tree.get, old, leaves)
            consistency.append((time.perf_counter() - t0) * 1000)
        return {
            "leaves": leaves,
            "tree_build_seconds": round(build_s, 2),
            "inclusion": _pct(inclusion),
            "consistency": _pct(consistency),
        }


def _breakdown(body: dict[str, Any], doc: dict[str, Any], blob: bytes | None) -> dict[str, float]:
    """One cold replay's stages, timed apart (the same work :func:`replay` does)."""
    from apps.provenance.pcq.manifest import spec_from_transforms

    out: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        out[name] = round((time.perf_counter() - t0) * 1000, 1)
        return value

    if blob is not None:
        doc = timed("unpack_stored_blob", lambda: DatasetVersion.unpack(blob))
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    timed("content_hash", graph.content_hash)
    timed("checksum_tree_canonicalize_every_record", lambda: manifest.checksum_tree(graph.canonical()))
    g = timed("build_networkx", lambda: build_networkx(graph))
    spec = {**spec_from_transforms(body["transforms"]), "random_seed": body["random_seed"]}
    execution = timed("execute_query", lambda: engine.execute(g, spec))
    timed("render_result", lambda: engine.render(g, execution, spec["fields"], spec["metric"]))
    return out


def _graph_memory(edges: int) -> dict[str, Any]:
    """Resident memory of one graph-cache entry (the networkx graph a web or worker process
    keeps per dataset version), measured as the RSS growth from building it."""
    import gc

    def rss_mib() -> float:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * 4096 / 2**20

    doc = _graph_doc(edges)
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    gc.collect()
    before = rss_mib()
    g = build_networkx(graph)
    gc.collect()
    grown = rss_mib() - before
    return {
        "edges": g.number_of_edges(),
        "nodes": g.number_of_nodes(),
        "rss_growth_mib": round(grown, 1),
        "mib_per_million_edges": round(grown * 1_000_000 / g.number_of_edges(), 1),
    }
