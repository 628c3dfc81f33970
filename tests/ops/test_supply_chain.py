"""make sbom / provenance / verify-supply-chain: what a release verifier relies on, attacked."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "ops"))
import supply_chain as sc


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signed release in a temporary dist/ with its own key (built once: ~3 s)."""
    base = tmp_path_factory.mktemp("release")
    mp = pytest.MonkeyPatch()
    mp.setattr(sc, "DIST", base / "dist")
    mp.setenv("TF_RELEASE_KEY_FILE", str(base / "release-key.pem"))
    sc.sbom()
    sc.provenance()
    mp.undo()
    return base


@pytest.fixture
def dist(release: Path, tmp_path: Path, monkeypatch: Any) -> Path:
    """A fresh copy of the release for each test to tamper with."""
    import shutil

    copy = tmp_path / "dist"
    shutil.copytree(release / "dist", copy)
    monkeypatch.setattr(sc, "DIST", copy)
    monkeypatch.setenv("TF_RELEASE_KEY_FILE", str(release / "release-key.pem"))
    return copy


def _problems() -> list[str]:
    result = sc.verify()
    assert result["ok"] is (not result["problems"])
    return result["problems"]


def test_every_artifact_has_a_valid_sbom_and_signed_provenance(dist: Path) -> None:
    assert _problems() == []
    for name in sc.ARTIFACTS:
        bom = json.loads((dist / f"{name}.cdx.json").read_text())
        assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6" and bom["version"] == 1
        assert bom["serialNumber"].startswith("urn:uuid:")
        libs = [c for c in bom["components"] if c["type"] == "library"]
        assert libs and all(c["purl"].startswith("pkg:pypi/") for c in libs)
        assert bom["dependencies"]
        env = json.loads((dist / f"{name}.intoto.json").read_text())
        st = json.loads(base64.b64decode(env["payload"]))
        assert st["_type"] == "https://in-toto.io/Statement/v1"
        assert st["predicateType"] == "https://slsa.dev/provenance/v1"
        deps = {d.get("name") for d in st["predicate"]["buildDefinition"]["resolvedDependencies"]}
        assert {"requirements.lock", "sbom"} <= deps
        assert st["predicate"]["runDetails"]["metadata"]["startedOn"]


def test_image_sbom_is_the_lock_with_hashes_and_licences(dist: Path) -> None:
    bom = json.loads((dist / "trustfabric-image-python.json.cdx.json").read_text())
    lock = sc.parse_lock(ROOT / "requirements.lock")
    comps = {c["name"]: c for c in bom["components"]}
    assert set(comps) == set(lock)
    assert all(c["hashes"][0]["content"] in lock[n][1] for n, c in comps.items())
    assert comps["django"]["licenses"]
    celery = next(d for d in bom["dependencies"] if d["ref"].startswith("pkg:pypi/celery@"))
    assert any(r.startswith("pkg:pypi/kombu@") for r in celery["dependsOn"])


def test_zk_client_sbom_lists_its_module_set_and_libraries(dist: Path) -> None:
    bom = json.loads((dist / "tf-zk-client.tar.gz.cdx.json").read_text())
    files = {c["name"] for c in bom["components"] if c["type"] == "file"}
    assert {"apps/zk_proofs/client.py", "apps/zk_proofs/zk/proofs.py", "apps/core/crypto/signing.py"} <= files
    assert not any("models" in f or "views" in f for f in files)  # no server code in the client
    assert {"coincurve", "cryptography"} <= {c["name"] for c in bom["components"] if c["type"] == "library"}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tf-zk-client.tar.gz", "artifact's sha256 differs"),
        ("trustfabric-src.tar.gz", "artifact's sha256 differs"),
        ("trustfabric-image-python.json", "artifact's sha256 differs"),
        ("tf-zk-client.tar.gz.cdx.json", "SBOM's sha256 differs"),
    ],
)
def test_tampering_with_an_artifact_or_its_sbom_fails(dist: Path, target: str, expected: str) -> None:
    path = dist / target
    data = bytearray(path.read_bytes())
    if target.endswith(".cdx.json"):
        bom = json.loads(data)
        bom["components"][0]["version"] = "9.9.9"  # still schema-valid, just a lie
        path.write_text(json.dumps(bom))
    else:
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    assert any(expected in p for p in _problems())


def test_a_regenerated_sbom_that_is_not_the_lock_fails_even_if_resigned(dist: Path) -> None:
    """An attacker with the signing step (not the lock) drops a component and re-signs."""
    path = dist / "trustfabric-image-python.json.cdx.json"
    bom = json.loads(path.read_text())
    bom["components"] = bom["components"][1:]
    path.write_text(json.dumps(bom))
    sc.provenance()
    assert any("not requirements.lock" in p for p in _problems())


def test_altered_provenance_fails(dist: Path) -> None:
    prov = dist / "tf-zk-client.tar.gz.intoto.json"
    env = json.loads(prov.read_text())
    st = json.loads(base64.b64decode(env["payload"]))
    st["subject"][0]["digest"]["sha256"] = sc.sha256_file(dist / "tf-zk-client.tar.gz")[::-1]
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    prov.write_text(json.dumps(env))
    assert any("does not verify" in p for p in _problems())


def test_provenance_signed_by_another_key_fails(dist: Path, release: Path, tmp_path: Path, monkeypatch: Any) -> None:
    """The pinned release key counts, not whichever key signed the evidence."""
    monkeypatch.setenv("TF_RELEASE_KEY_FILE", str(tmp_path / "attacker.pem"))
    sc.provenance()
    assert _problems() == []  # against the attacker's own key it would pass...
    monkeypatch.setenv("TF_RELEASE_KEY_FILE", str(release / "release-key.pem"))
    found = _problems()  # ...against the pinned one it does not
    assert len([p for p in found if "lacks a valid signature" in p]) == len(sc.ARTIFACTS)


def test_missing_provenance_or_an_unlisted_artifact_fails(dist: Path) -> None:
    (dist / "trustfabric-src.tar.gz.intoto.json").unlink()
    (dist / "extra-tool.whl").write_bytes(b"not declared")
    found = _problems()
    assert "trustfabric-src.tar.gz: trustfabric-src.tar.gz.intoto.json is missing" in found
    assert "extra-tool.whl: in dist/ without an SBOM and provenance" in found


def test_lock_check_catches_a_requirement_that_was_not_relocked(tmp_path: Path, monkeypatch: Any) -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "requirements.lock", "requirements-dev.lock"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    monkeypatch.setattr(sc, "ROOT", tmp_path)
    assert sc.lock(check=True)["ok"]
    with (tmp_path / "requirements.txt").open("a") as fh:
        fh.write("tomli-w==1.2.0\n")
    text = (tmp_path / "requirements.txt").read_text().replace("Django==5.2.19", "Django==5.2.18")
    (tmp_path / "requirements.txt").write_text(text)
    problems = sc.lock(check=True)["problems"]
    assert any("tomli-w is in requirements.txt but not locked" in p for p in problems)
    assert any("django is 5.2.19, requirements.txt pins 5.2.18" in p for p in problems)


def test_every_lock_entry_is_hashed_and_the_dockerfile_installs_from_it() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        entries = sc.parse_lock(ROOT / lock)
        assert entries and all(len(h) >= 1 for _, h in entries.values())
    docker = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements.lock" in docker
    assert "--require-hashes --no-deps -r requirements-dev.lock" in (ROOT / "Makefile").read_text()
