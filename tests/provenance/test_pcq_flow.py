"""PCQ end to end: every executed query gets a signed manifest; the verifier (attested)
replays it; the witness co-signs a match into the transparency log; auditors browse and
download evidence that verifies offline and fails after any change."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from apps.core.crypto.canonical import canonicalize, digest
from apps.core.crypto.signing import verify
from apps.core.keys import public_keys, signer
from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.provenance import services
from apps.provenance.models import LogCheckpoint, LogLeaf, Manifest, Verification, WitnessedEntry
from apps.provenance.pcq import bundle as bundle_mod
from apps.provenance.pcq import manifest as manifest_mod
from apps.provenance.pcq.bundle import verify_bundle
from apps.provenance.pcq.replay import replay
from tests.conftest import FIXTURES, demo_query, tamper
from tests.core.test_api import assert_envelope

ROOT = Path(__file__).resolve().parents[2]


def _run_and_verify(client, tenant, **query):
    response = client.post("/api/queries/", demo_query(**query), format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    with tenant_context(tenant):
        manifest = Manifest.objects.get(query_run_id=run_id)
        verification = services.verification_run(Verification.objects.get(manifest=manifest).pk)
    return run_id, manifest, verification


def test_every_executed_query_has_a_signed_schema_valid_manifest(analyst_api_a, lac_a) -> None:
    run = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city", "age"]), format="json"
    ).json()
    with tenant_context(lac_a):
        m = Manifest.objects.get(query_run_id=run["id"])
    manifest_mod.validate(m.body)
    assert m.digest == digest(m.body) and verify(signer("executor").public, m.signature, canonicalize(m.body))
    inputs = m.body["inputs"][0]
    assert inputs["dataset"] == "calls-demo" and inputs["checksum_tree"]["leaves"] == 1 + 504 + 641
    assert [t["op"] for t in m.body["transforms"]] == ["source", "seeds", "expand", "metric", "select"]
    assert m.body["policy"][0]["policy"] == "investigations" and m.body["policy"][0]["outcome"] == "allow"
    assert {s["attribute"] for s in m.body["minimization"]} == {"*", "age"}  # min_results is always recorded
    assert (
        m.body["outputs"]["nodes"] == [n["id"] for n in run["result"]["nodes"]]
        and m.body["outputs"]["tolerance"] == 1e-6
    )
    assert m.body["jit_grant"] is None and set(m.body["libraries"]) == {"networkx", "numpy", "scipy"}
    denied = analyst_api_a.post("/api/queries/", demo_query(seeds=["hub-a"], metric="degree"), format="json")
    assert (
        denied.status_code == 403
        and not Manifest.all_tenants.filter(query_run_id=denied.json()["details"]["run_id"]).exists()
    )


def test_verification_matches_and_is_witnessed_into_the_log(analyst_api_a, lac_a) -> None:
    _run_id, m, v = _run_and_verify(analyst_api_a, lac_a, seeds=["com-050"], hops=2, metric="betweenness", top_k=10)
    assert v.status == "match" and v.verifier_result["status"] == "affirming" and v.witness_result["mode"] == "sim"
    entry = v.entry
    assert (
        LogLeaf.objects.get(index=entry.leaf_index)
        and LogCheckpoint.objects.order_by("-size").first().size == entry.leaf_index + 1
    )
    payload = json.loads(base64.b64decode(entry.envelope["payload"]))
    assert (
        payload["manifest_digest"] == m.digest
        and payload["verdict"] == "match"
        and payload["attestation_mode"] == "sim"
    )
    assert {s["keyid"] for s in entry.envelope["signatures"]} == {signer("verifier").key_id, signer("witness").key_id}
    actions = AuditEvent.all_tenants.filter(tenant=lac_a).values_list("action", flat=True)
    assert {"manifest.signed", "pcq.verified", "pcq.witnessed"} <= set(actions)
    # running the same verification again is a no-op: it is claimed once
    with tenant_context(lac_a):
        again = services.verification_run(v.pk)
    assert again.status == "match" and WitnessedEntry.all_tenants.count() == 1


def test_replay_reports_variance_with_a_readable_diff(analyst_api_a, lac_a) -> None:
    _run_id, m, _ = _run_and_verify(analyst_api_a, lac_a, seeds=["grp12-0"], hops=2, metric="pagerank")
    graph = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
    altered = json.loads(json.dumps(m.body))
    node = altered["outputs"]["nodes"][0]
    altered["outputs"]["values"][node] += 0.01
    outcome = replay(altered, graph, key=None)
    assert outcome["verdict"] == "variance" and "outside the tolerance band ±1e-06" in outcome["message"]
    [delta] = outcome["diff"]["metrics"]
    assert delta["node"] == node and delta["delta"] == pytest.approx(0.01) and delta["tolerance"] == 1e-6
    graph["nodes"][0]["city"] = "Elsewhere"
    broken_inputs = replay(m.body, graph, key=None)
    assert broken_inputs["verdict"] == "error" and broken_inputs["diff"]["inputs"][0]["ok"] is False


def test_a_verifier_with_different_code_cannot_get_anything_witnessed(analyst_api_a, lac_a, settings, tmp_path) -> None:
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"mode": "sim", "measurements": {"verifier": "0" * 64, "witness": "0" * 64}}))
    settings.PCQ_REFERENCE_VALUES = reference
    _run_id, _, v = _run_and_verify(analyst_api_a, lac_a, seeds=["grp12-0"], metric="degree")
    assert v.status == "attestation_failed" and "differs from the reference" in v.message
    assert not WitnessedEntry.all_tenants.exists() and not LogLeaf.objects.exists()
    with pytest.raises(CommandError, match="differs from the reference values for: verifier, witness"):
        call_command("attest_preflight", stdout=io.StringIO())


def test_preflight_passes_with_the_committed_reference_values() -> None:
    out = io.StringIO()
    call_command("attest_preflight", stdout=out)
    assert "ok   verifier (sim)" in out.getvalue() and "ok   witness (sim)" in out.getvalue()


@pytest.fixture
def witnessed(analyst_api_a, lac_a):
    run_id, _m, v = _run_and_verify(analyst_api_a, lac_a, seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city"])
    assert v.status == "match"
    with tenant_context(lac_a):
        data = services.evidence_bundle(v.entry)
    return run_id, v, data


def test_bundle_verifies_offline_and_fails_after_any_byte_changes(witnessed) -> None:
    _, _, data = witnessed
    assert verify_bundle(data, public_keys()).ok
    undetected = [
        i
        for i in range(len(data))
        if verify_bundle(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :], public_keys()).ok
    ]
    assert undetected == []
    assert not verify_bundle(data + b"\x00", public_keys()).ok and not verify_bundle(data[:-1], public_keys()).ok


def _members(data: bytes) -> dict:
    import gzip

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _rebuilt(data: bytes, name: str, change) -> bytes:
    files = {k: (v.decode() if k.endswith(".txt") else json.loads(v)) for k, v in _members(data).items()}
    files[name] = change(files[name])
    return bundle_mod.build(files)


def _failed(data: bytes) -> dict[str, str]:
    return {c["check"]: c["message"] for c in verify_bundle(data, public_keys()).failures}


def test_each_kind_of_tampering_names_what_failed(witnessed) -> None:
    _, _, data = witnessed

    def manifest_field(m):
        m["manifest"]["random_seed"] = 8
        return m

    def output(m):
        node = m["manifest"]["outputs"]["nodes"][0]
        m["manifest"]["outputs"]["values"][node] = 0.5
        return m

    def signature(m):
        m["signature"] = base64.b64encode(b"\x00" * 64).decode()
        return m

    def attestation(a):
        a["verifier"]["evidence"]["claims"]["measurement"] = "f" * 64
        return a

    def envelope_sig(e):
        e["signatures"][1]["sig"] = e["signatures"][0]["sig"]
        return e

    def checkpoint_root(note):
        lines = note.split("\n")
        lines[2] = base64.b64encode(b"\x07" * 32).decode()
        return "\n".join(lines)

    def proof(p):
        p["tree_size"] += 1
        return p

    assert "manifest signature" in _failed(_rebuilt(data, "manifest.json", manifest_field))
    failed = _failed(_rebuilt(data, "manifest.json", output))
    assert "manifest signature" in failed and "envelope subject" in failed
    assert _failed(_rebuilt(data, "manifest.json", signature))["manifest signature"].startswith(
        "the manifest's executor signature"
    )
    assert (
        "differs from the reference"
        in _failed(_rebuilt(data, "attestation.json", attestation))["verifier attestation (sim)"]
    )
    assert "envelope signatures" in _failed(_rebuilt(data, "envelope.json", envelope_sig))
    assert "checkpoint signature" in _failed(_rebuilt(data, "checkpoint.txt", checkpoint_root))
    assert "inclusion proof" in _failed(_rebuilt(data, "inclusion-proof.json", proof))


def _edit(part: str, field: str):
    def change(doc):
        if field == "replay_ms":
            doc[field] += 1.0
        elif field == "message":
            doc[field] += " Reviewed: no action needed."
        else:
            doc[field] = {**(doc[field] or {}), "reviewed": "ok"}
        return doc

    return (lambda a: {**a, part: change(dict(a[part]))}) if part != "verdict" else change


@pytest.mark.parametrize(
    ("member", "part", "field", "label"),
    [
        ("verdict.json", "verdict", "message", "verdict message"),
        ("verdict.json", "verdict", "diff", "replay diff"),
        ("verdict.json", "verdict", "replay_ms", "replay time"),
        ("attestation.json", "verifier", "result", "verifier attestation result"),
        ("attestation.json", "witness", "result", "witness attestation result"),
    ],
)
def test_an_edited_verdict_detail_fails_offline_with_its_name(witnessed, tmp_path, member, part, field, label) -> None:
    """Every value a v2 envelope binds besides the verdict, edited in an exported bundle (and
    the archive rebuilt canonically), fails the offline verifier naming that value."""
    _, _, data = witnessed
    assert "verdict.json" in _members(data) and verify_bundle(data, public_keys()).ok
    edited = _rebuilt(data, member, _edit(part, field))
    failed = _failed(edited)
    assert failed == {
        "verdict details": f"the bundle's {label} differs from the one the envelope binds (edited after witnessing)"
    }
    # The CLI an auditor runs says the same and exits 1.
    (tmp_path / "b.tar.gz").write_bytes(edited)
    (tmp_path / "keys.json").write_text(json.dumps(public_keys()))
    cmd = [sys.executable, "-m", "apps.provenance.offline", "verify", str(tmp_path / "b.tar.gz")]
    out = subprocess.run([*cmd, "--keys", str(tmp_path / "keys.json")], capture_output=True, text=True, check=False)
    assert out.returncode == 1 and f"FAIL verdict details: the bundle's {label} differs" in out.stdout


def test_a_bundle_without_verdict_json_still_verifies_and_says_what_it_lacks(witnessed) -> None:
    _, _, data = witnessed
    files = {k: (v.decode() if k.endswith(".txt") else json.loads(v)) for k, v in _members(data).items()}
    del files["verdict.json"]
    legacy = bundle_mod.build(files)
    report = verify_bundle(legacy, public_keys())
    assert report.ok and any("predates verdict.json" in w for w in report.warnings)
    # The attestation results are still checked in the older layout.
    files["attestation.json"]["witness"]["result"] = {"status": "affirming", "edited": True}
    assert "witness attestation result" in _failed(bundle_mod.build(files))["verdict details"]


def test_offline_cli_needs_no_django_and_checks_replay(witnessed, tmp_path) -> None:
    _, _, data = witnessed
    path = tmp_path / "evidence.tar.gz"
    path.write_bytes(data)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no DJANGO_SETTINGS_MODULE, no DATABASE_URL
    cmd = [
        sys.executable,
        "-m",
        "apps.provenance.offline",
        "verify",
        str(path),
        "--keys",
        str(tmp_path / "trusted-keys.json"),
        "--inputs",
        str(FIXTURES / "datasets" / "calls-demo.json"),
    ]
    keys = tmp_path / "trusted-keys.json"
    keys.write_text(json.dumps(public_keys()))
    ok = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok   replay" in ok.stdout and "VERIFIED (attestation mode: sim)" in ok.stdout
    path.write_bytes(_rebuilt(data, "manifest.json", lambda m: {**m, "signature": m["signature"][::-1]}))
    bad = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL manifest signature" in bad.stdout and "NOT VERIFIED" in bad.stdout


def _forged(data: bytes) -> tuple[bytes, dict]:
    """The bundle re-signed by an attacker with their own executor key, shipped in keys.json."""
    from apps.core.crypto.signing import Signer, b64, public_bytes

    forged = {role: Signer(role, Ed25519PrivateKey.generate()) for role in ("executor",)}
    files = {k: (v.decode() if k.endswith(".txt") else json.loads(v)) for k, v in _members(data).items()}
    executor = forged["executor"]
    body = files["manifest.json"]["manifest"]
    files["manifest.json"] = {**files["manifest.json"], "signature": executor.sign(manifest_mod.body_bytes(body))}
    files["keys.json"] = {**files["keys.json"], "executor": b64(public_bytes(executor.public))}
    return bundle_mod.build(files), files["keys.json"]


@pytest.mark.parametrize("pins", ["none", "{}", "[]", "partial", "not json", "bad key", "missing file"])
def test_offline_cli_requires_every_key_pinned(witnessed, tmp_path, pins) -> None:
    _, _, data = witnessed
    forged, forged_keys = _forged(data)
    path = tmp_path / "evidence.tar.gz"
    path.write_bytes(forged)
    pin = tmp_path / "pins.json"
    content = {
        "{}": "{}",
        "[]": "[]",
        "partial": json.dumps({"verifier": forged_keys["verifier"]}),
        "not json": "{nope",
        "bad key": json.dumps({**forged_keys, "executor": 7}),
    }.get(pins)
    if content is not None:
        pin.write_text(content)
    argv = ["verify", str(path)] + ([] if pins == "none" else ["--keys", str(pin)])
    from apps.provenance.offline import main

    cmd = [sys.executable, "-m", "apps.provenance.offline", *argv]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "VERIFIED (" not in out.stdout
    assert "not verified" in out.stdout and ("not pinned" in out.stdout or pins == "not json")
    assert main(argv) == 1


def test_a_re_signed_bundle_fails_against_the_pinned_keys(witnessed, tmp_path) -> None:
    _, _, data = witnessed
    forged, forged_keys = _forged(data)
    assert verify_bundle(forged, forged_keys).ok  # sanity: the forgery is self-consistent
    failures = {c["check"] for c in verify_bundle(forged, public_keys()).failures}
    assert {"trusted keys", "manifest signature"} <= failures
    assert not verify_bundle(forged).ok and not verify_bundle(forged, {}).ok and not verify_bundle(forged, []).ok  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "sql", "message"),
    [
        (
            "provenance_logleaf",
            'UPDATE provenance_logleaf SET leaf_hash = %s WHERE "index" = 0',
            "leaf 0: the leaf hash does not match",
        ),
        (
            "provenance_witnessedentry",
            "UPDATE provenance_witnessedentry SET envelope = %s WHERE leaf_index = 0",
            "leaf 0: the stored envelope was altered",
        ),
        (
            "provenance_logcheckpoint",
            "UPDATE provenance_logcheckpoint SET root_hash = %s WHERE size = 1",
            "checkpoint at size 1: the stored root differs",
        ),
    ],
)
def test_log_tampering_is_detected_by_the_command(witnessed, table, sql, message) -> None:
    call_command("pcq_log_verify", stdout=io.StringIO())
    value = '{"payloadType": "x", "payload": "", "signatures": []}' if "envelope" in sql else "ab" * 32
    tamper(sql, [value], table)
    out = io.StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("pcq_log_verify", stdout=out)
    assert message in out.getvalue()


def test_append_only_on_postgres(witnessed) -> None:
    from django.db import DatabaseError, transaction

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL triggers")
    for table in ("provenance_logleaf", "provenance_manifest", "provenance_logcheckpoint"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"DELETE FROM {table}")


def test_evidence_pages_show_verdict_sim_log_index_and_bundle(client, witnessed, lac_a, auditor_a) -> None:
    run_id, v, _ = witnessed
    client.force_login(auditor_a)
    listing = client.get(reverse("evidence"), {"verdict": "match"}).content.decode()
    assert f"#{run_id}" in listing and "affirming · sim" in listing
    page = client.get(reverse("evidence-detail", args=[run_id])).content.decode()
    assert 'data-verdict="match"' in page and "sim" in page and f"data-leaf-index>{v.entry.leaf_index}<" in page
    assert 'Server check: <span class="pill ok">included</span>' in page
    download = client.get(reverse("evidence-bundle", args=[run_id]))
    assert download["Content-Type"] == "application/gzip" and verify_bundle(download.content, public_keys()).ok


def test_evidence_api_and_log_endpoints(witnessed, lac_a, auditor_a) -> None:
    from tests.conftest import token_client

    run_id, v, _ = witnessed
    api = token_client(auditor_a, lac_a)
    body = api.get(f"/api/evidence/{run_id}/").json()
    assert body["verification"]["status"] == "match" and body["verification"]["attestation_mode"] == "sim"
    cp = api.get("/api/pcq/log/checkpoint/").json()
    proof = api.get(f"/api/pcq/log/entries/{v.entry.leaf_index}/inclusion-proof/").json()
    assert proof["tree_size"] == cp["size"]
    assert_envelope(api.get("/api/pcq/log/consistency-proof/", {"old": 5, "new": 2}), 400, "validation_error")
    assert_envelope(api.get("/api/pcq/log/consistency-proof/", {"old": "x"}), 400)
    assert_envelope(api.get(f"/api/pcq/log/entries/{v.entry.leaf_index}/inclusion-proof/", {"size": 0}), 400)
    assert api.get(f"/api/evidence/{run_id}/bundle/").status_code == 200
    assert api.post(f"/api/evidence/{run_id}/reverify/").status_code == 202


def test_the_ten_dsl_examples_compile_to_their_documented_manifests(lac_a) -> None:
    from apps.provenance.dsl_compiler import compile_plan

    examples = sorted((ROOT / "docs" / "pcq-examples").glob("*.prov"))
    assert len(examples) == 10
    with tenant_context(lac_a):
        for source in examples:
            compiled = json.dumps(compile_plan(source.read_text()), indent=2, sort_keys=True) + "\n"
            assert compiled == source.with_suffix(".manifest.json").read_text(), source.name


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ('prov { dataset("calls-demo") -> seeds(ids=["a"]) pagerank() }', (1, 50)),
        ('prov {\n  dataset("calls-demo")\n  -> seeds(ids=["a"])\n  -> frobnicate()\n}', (4, 6)),
        ('prov { dataset("calls-demo") -> seeds(ids="a") -> degree() }', (1, 39)),
        ('prov { dataset("calls-demo")', (1, 28)),
    ],
)
def test_malformed_dsl_gets_line_and_column(api_a, lac_a, source, where) -> None:
    body = assert_envelope(api_a.post("/api/pcq/compile/", {"source": source}, format="json"), 400, "invalid_prov")
    assert (body["details"]["line"], body["details"]["column"]) == where
    assert "expected" in body["message"] or "must be" in body["message"] or "unknown step" in body["message"]


def test_a_dsl_chain_runs_as_a_query(analyst_api_a) -> None:
    response = analyst_api_a.post(
        "/api/queries/",
        {
            "prov": 'prov { dataset("calls-demo") -> seeds(ids=["grp12-0"]) -> expand(hops=2) -> degree() }',
            "purpose": "investigation",
            "reason": "dsl",
        },
        format="json",
    )
    assert response.status_code == 201 and response.json()["spec"]["metric"] == "degree"
