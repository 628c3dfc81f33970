"""Supply chain: hash-locked dependencies, CycloneDX 1.6 SBOMs and DSSE-signed SLSA v1
provenance for every artifact Trust Fabric ships, and the check that all of it holds.

    python ops/supply_chain.py lock [--check]   # requirements*.txt -> requirements*.lock (pip's resolver)
    python ops/supply_chain.py sbom             # dist/<artifact> and dist/<artifact>.cdx.json
    python ops/supply_chain.py provenance       # dist/<artifact>.intoto.json (DSSE, release key)
    python ops/supply_chain.py verify           # signatures, digests, schema; exit 1 on any problem

The artifacts (docs/supply-chain.md):
- ``trustfabric-src.tar.gz``: the application source at HEAD (``git archive``); its SBOM is the
  Python environment the app runs in (every installed distribution, with the lock's hashes).
- ``trustfabric-image-python.json``: the container image's Python layer as the Dockerfile
  builds it (base image, Dockerfile digest, lock digest, install command); its SBOM is
  requirements.lock. No image is built here, so the layer is described, not its tarball.
- ``tf-zk-client.tar.gz``: the tenant-side ZK-TX client's module set (client.py and every in-repo
  module it imports, found from the import graph) with an SBOM of those files and the libraries
  they import. The installable package (``clients/python``, console script ``tfzk``) ships the
  same set; ``tests/zk/test_zk_client_package.py`` checks they agree.

Every command prints one JSON object. Django is not needed (the DSSE code is plain Python).
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _LazySigning:
    """apps.core.crypto.signing (Django-free DSSE + Ed25519), imported on first use so
    `lock --check` runs on a bare Python before the virtualenv exists."""

    def __getattr__(self, name: str) -> Any:
        from apps.core.crypto import signing as module

        return getattr(module, name)


signing = _LazySigning()

DIST = Path(os.environ.get("TF_DIST_DIR", ROOT / "dist"))
LOCKS = {"requirements.txt": "requirements.lock", "requirements-dev.txt": "requirements-dev.lock"}
ARTIFACTS = ("trustfabric-src.tar.gz", "trustfabric-image-python.json", "tf-zk-client.tar.gz")
CLIENT_ENTRY_POINTS = ("apps/zk_proofs/client.py", "apps/zk_proofs/offline.py")
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "urn:trustfabric:buildtype:make-release:v1"
BUILDER_ID = "urn:trustfabric:builder:make:v1"
LOCK_PLATFORM = "linux x86_64, CPython 3.11 (this machine, CI, and python:3.11-slim)"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Locks ------------------------------------------------------------------------------------


def _pins(requirements: Path) -> dict[str, tuple[str, set[str]]]:
    """Top-level ``name[extras]==version`` pins of a requirements file (and its -r includes)."""
    pins: dict[str, tuple[str, set[str]]] = {}
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            pins.update(_pins(requirements.parent / line[2:].strip()))
        elif m := re.match(r"^([A-Za-z0-9_.\-]+)(?:\[([^\]]+)\])?==([^\s;]+)", line):
            extras = {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}
            pins[normalize(m.group(1))] = (m.group(3), extras)
    return pins


def parse_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{normalized name: (version, [sha256 hashes])} from a hash-locked requirements file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            current = normalize(m.group(1))
            entries[current] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def lock(check: bool) -> dict[str, Any]:
    """Resolve each requirements file with pip (``--dry-run --report``) and write its lock:
    every transitive distribution pinned with the sha256 of the file pip installs. The dev
    lock is resolved under the runtime lock as a constraint, so the two agree."""
    result: dict[str, Any] = {"platform": LOCK_PLATFORM, "locks": {}}
    problems: list[str] = []
    for req, out in LOCKS.items():
        lock_path = ROOT / out
        if check:
            if not lock_path.exists():
                problems.append(f"{out} is missing: run make lock")
                continue
            locked = parse_lock(lock_path)
            for name, (version, _) in _pins(ROOT / req).items():
                if name not in locked:
                    problems.append(f"{out}: {name} is in {req} but not locked: run make lock")
                elif locked[name][0] != version:
                    problems.append(f"{out}: {name} is {locked[name][0]}, {req} pins {version}: run make lock")
            missing_hash = [n for n, (_, hashes) in locked.items() if not hashes]
            problems += [f"{out}: {n} has no hash" for n in missing_hash]
            result["locks"][out] = len(locked)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--report", str(report), "-r", str(ROOT / req)]  # fmt: skip
            if out != "requirements.lock":
                # Constrain to the runtime pins (without hashes: they would switch pip to
                # --require-hashes for the unlocked dev requirements too).
                constraints = Path(tmp) / "constraints.txt"
                pins = parse_lock(ROOT / "requirements.lock").items()
                constraints.write_text("".join(f"{n}=={v}\n" for n, (v, _) in pins))
                cmd += ["-c", str(constraints)]
            subprocess.run(cmd, check=True, capture_output=True)
            installs = json.loads(report.read_text())["install"]
        lines = [
            f"# Generated by `make lock` (ops/supply_chain.py lock) from {req}; do not edit by hand.",
            f"# Every distribution, transitive ones included, with the sha256 of the file pip installs on {LOCK_PLATFORM}.",
            f"# Install with: pip install --require-hashes --no-deps -r {out}",
        ]
        for item in sorted(installs, key=lambda i: normalize(i["metadata"]["name"])):
            name, version = normalize(item["metadata"]["name"]), item["metadata"]["version"]
            digest = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
            if not digest:
                raise SystemExit(f"pip reported no sha256 for {name}=={version}")
            lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
        lock_path.write_text("\n".join(lines) + "\n")
        result["locks"][out] = len(installs)
    result["problems"] = problems
    result["ok"] = not problems
    return result


# --- SBOMs ------------------------------------------------------------------------------------


def _license_of(dist: metadata.Distribution | None) -> str | None:
    if dist is None:
        return None
    md = dist.metadata
    expression = md.get("License-Expression")
    if expression:
        return expression.strip()
    text = (md.get("License") or "").strip()
    if text and len(text) <= 80 and "\n" not in text and text.upper() not in ("UNKNOWN", "NONE"):
        return text
    classifiers = [c.split("::")[-1].strip() for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
    classifiers = [c for c in classifiers if c != "OSI Approved"]
    return " OR ".join(classifiers) if classifiers else None


def _requires(dist: metadata.Distribution, extras: set[str]) -> list[str]:
    from packaging.requirements import Requirement

    out = []
    for raw in dist.requires or []:
        req = Requirement(raw)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ({""} | extras)):
            out.append(normalize(req.name))
    return out


def _bom(root_name: str, root_version: str, root_type: str, packages: list[dict[str, Any]], files: list[dict[str, Any]],
         properties: dict[str, str]) -> str:  # fmt: skip
    """A CycloneDX 1.6 JSON document: one component per package (purl, hashes, licence) and
    per file, the dependency graph, a fresh serial number and version 1; schema-validated."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # older layout
        from cyclonedx.factory.license import LicenseFactory

    licenses = LicenseFactory()
    root = Component(
        name=root_name, version=root_version, type=ComponentType(root_type), bom_ref=f"root:{root_name}",
        properties=[Property(name=k, value=v) for k, v in properties.items()],
    )  # fmt: skip
    bom = Bom(serial_number=uuid.uuid4(), version=1, metadata=BomMetaData(component=root))
    by_name: dict[str, Component] = {}
    for p in packages:
        lic = []
        if p.get("license"):
            try:
                lic = [licenses.make_from_string(p["license"])]
            except Exception:  # noqa: BLE001 - a free-text licence the factory cannot parse
                lic = [LicenseExpression(p["license"])] if " " not in p["license"] else []
        c = Component(
            name=p["name"], version=p["version"], type=ComponentType.LIBRARY,
            bom_ref=f"pkg:pypi/{p['name']}@{p['version']}",
            purl=PackageURL("pypi", name=p["name"], version=p["version"]),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h) for h in p.get("hashes", [])],
            licenses=lic,
        )  # fmt: skip
        by_name[p["name"]] = c
        bom.components.add(c)
    file_components = []
    for f in files:
        c = Component(
            name=f["path"], type=ComponentType.FILE, bom_ref=f"file:{f['path']}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f["sha256"])],
        )  # fmt: skip
        file_components.append(c)
        bom.components.add(c)
    for p in packages:
        bom.register_dependency(by_name[p["name"]], [by_name[d] for d in p.get("requires", []) if d in by_name])
    direct = [by_name[n] for n in properties.get("trustfabric:direct", "").split(",") if n in by_name]
    bom.register_dependency(root, direct + file_components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    validate_sbom(text)
    return text


def validate_sbom(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ValueError(f"SBOM does not validate against CycloneDX 1.6: {error}")


def _installed() -> dict[str, metadata.Distribution]:
    return {normalize(d.metadata["Name"]): d for d in metadata.distributions() if d.metadata["Name"]}


def _extras_wanted(req_files: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for req in req_files:
        for name, (_, extras) in _pins(ROOT / req).items():
            out.setdefault(name, set()).update(extras)
    return out


def sbom_environment(version: str) -> str:
    installed = _installed()
    dev_lock = parse_lock(ROOT / "requirements-dev.lock") if (ROOT / "requirements-dev.lock").exists() else {}
    extras = _extras_wanted(["requirements-dev.txt"])
    packages = []
    for name, dist in sorted(installed.items()):
        locked = dev_lock.get(name)
        packages.append({
            "name": name, "version": dist.version, "license": _license_of(dist),
            "hashes": locked[1] if locked and locked[0] == dist.version else [],
            "requires": _requires(dist, extras.get(name, set())),
        })  # fmt: skip
    direct = ",".join(sorted(_pins(ROOT / "requirements.txt")))
    return _bom("trustfabric", version, "application", packages, [],
                {"trustfabric:artifact": "trustfabric-src.tar.gz", "trustfabric:sbom-of": "the Python environment of the app",
                 "trustfabric:python": sys.version.split()[0], "trustfabric:direct": direct})  # fmt: skip


def sbom_lock(version: str, lock_file: str, artifact: str) -> str:
    installed = _installed()
    extras = _extras_wanted(["requirements.txt"])
    packages = []
    for name, (ver, hashes) in sorted(parse_lock(ROOT / lock_file).items()):
        dist = installed.get(name)
        dist = dist if dist is not None and dist.version == ver else None
        packages.append({
            "name": name, "version": ver, "hashes": hashes, "license": _license_of(dist),
            "requires": _requires(dist, extras.get(name, set())) if dist else [],
        })  # fmt: skip
    return _bom("trustfabric-image-python", version, "container", packages, [],
                {"trustfabric:artifact": artifact, "trustfabric:sbom-of": f"the image's Python layer ({lock_file})",
                 "trustfabric:base-image": base_image(), "trustfabric:direct": ",".join(sorted(_pins(ROOT / "requirements.txt")))})  # fmt: skip


def client_modules() -> tuple[list[Path], set[str]]:
    """The ZK client's module set: its entry points and every in-repo module they import,
    transitively; plus the top-level third-party modules they import."""
    seen: set[Path] = set()
    third_party: set[str] = set()
    todo = [ROOT / p for p in CLIENT_ENTRY_POINTS]
    stdlib = set(sys.stdlib_module_names)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in ("apps",):
                    for candidate in (ROOT / Path(*name.split("."))).with_suffix(".py"), ROOT / Path(*name.split(".")) / "__init__.py":  # fmt: skip
                        if candidate.exists():
                            todo.append(candidate)
                elif top and top not in stdlib and top != "__future__":
                    third_party.add(top)
    # Package __init__ files the modules need to import as a package.
    for path in list(seen):
        for parent in path.relative_to(ROOT).parents:
            init = ROOT / parent / "__init__.py"
            if parent != Path(".") and init.exists():
                seen.add(init)
    return sorted(seen), third_party


def _deterministic_tar(members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def base_image() -> str:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if m := re.match(r"^ARG PYTHON_IMAGE=(\S+)", line):
            return m.group(1)
        if m := re.match(r"^FROM (\S+)", line):
            return m.group(1)
    return "unknown"


def build_artifacts() -> dict[str, Path]:
    DIST.mkdir(parents=True, exist_ok=True)
    commit = git("rev-parse", "HEAD")
    src = DIST / "trustfabric-src.tar.gz"
    tar = subprocess.run(["git", "archive", "--format=tar", f"--prefix=trustfabric-{commit[:12]}/", commit],
                         cwd=ROOT, capture_output=True, check=True).stdout  # fmt: skip
    src.write_bytes(gzip.compress(tar, mtime=0))
    layer = DIST / "trustfabric-image-python.json"
    layer.write_text(json.dumps({
        "base_image": base_image(),
        "base_image_pinned_by_digest": "@sha256:" in base_image(),
        "dockerfile_sha256": sha256_file(ROOT / "Dockerfile"),
        "lock": "requirements.lock", "lock_sha256": sha256_file(ROOT / "requirements.lock"),
        "install": "pip install --require-hashes --no-deps -r requirements.lock",
        "python": "3.11",
    }, indent=2, sort_keys=True) + "\n")  # fmt: skip
    modules, _ = client_modules()
    client = DIST / "tf-zk-client.tar.gz"
    client.write_bytes(_deterministic_tar([(str(p.relative_to(ROOT)), p.read_bytes()) for p in modules]))
    return {"trustfabric-src.tar.gz": src, "trustfabric-image-python.json": layer, "tf-zk-client.tar.gz": client}


def sbom() -> dict[str, Any]:
    commit = git("rev-parse", "HEAD")
    version = f"0+g{commit[:12]}"
    artifacts = build_artifacts()
    modules, third_party = client_modules()
    installed = _installed()
    top_to_dist = metadata.packages_distributions()
    client_pkgs = []
    for top in sorted(third_party):
        for dname in top_to_dist.get(top, []):
            dist = installed.get(normalize(dname))
            if dist is not None and normalize(dname) not in {p["name"] for p in client_pkgs}:
                client_pkgs.append({"name": normalize(dname), "version": dist.version, "license": _license_of(dist),
                                    "hashes": parse_lock(ROOT / "requirements.lock").get(normalize(dname), ("", []))[1],
                                    "requires": []})  # fmt: skip
    files = [{"path": str(p.relative_to(ROOT)), "sha256": sha256_file(p)} for p in modules]
    docs = {
        "trustfabric-src.tar.gz": sbom_environment(version),
        "trustfabric-image-python.json": sbom_lock(version, "requirements.lock", "trustfabric-image-python.json"),
        "tf-zk-client.tar.gz": _bom("tf-zk-client", version, "application", client_pkgs, files,
                                    {"trustfabric:artifact": "tf-zk-client.tar.gz",
                                     "trustfabric:sbom-of": "the ZK-TX client module set (no client package exists yet)",
                                     "trustfabric:direct": ",".join(p["name"] for p in client_pkgs)}),
    }  # fmt: skip
    out: dict[str, Any] = {"version": version, "artifacts": {}}
    for name, text in docs.items():
        path = DIST / f"{name}.cdx.json"
        path.write_text(text)
        doc = json.loads(text)
        out["artifacts"][name] = {
            "sha256": sha256_file(artifacts[name]),
            "sbom": path.name,
            "components": len(doc.get("components", [])),
            "with_hashes": sum(1 for c in doc.get("components", []) if c.get("hashes")),
            "with_licenses": sum(1 for c in doc.get("components", []) if c.get("licenses")),
            "dependency_edges": sum(len(d.get("dependsOn", [])) for d in doc.get("dependencies", [])),
            "serialNumber": doc["serialNumber"],
        }
    return out


# --- Provenance -------------------------------------------------------------------------------


def _key_paths() -> tuple[Path, Path]:
    key = Path(os.environ.get("TF_RELEASE_KEY_FILE", ROOT / "var" / "release-key.pem"))
    pub = Path(os.environ.get("TF_RELEASE_PUBKEY_FILE", key.with_suffix(".pub")))
    return key, pub


def release_signer() -> tuple[signing.Signer, str]:
    """The release key (Ed25519 PEM at TF_RELEASE_KEY_FILE). Without one, a local key is
    made once and its public half written next to it, which then is the pinned key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_path, pub_path = _key_paths()
    note = f"release key {key_path}"
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        pub_path.write_text(signing.b64(signing.public_bytes(private.public_key())) + "\n")
        note = f"generated a local release key at {key_path} (pinned public key {pub_path})"
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise SystemExit("the release key must be an Ed25519 private key (PEM)")
    return signing.Signer("release", private), note


def statement(name: str, artifact: Path, sbom_path: Path, started: str) -> dict[str, Any]:
    commit = git("rev-parse", "HEAD")
    try:
        repo = git("remote", "get-url", "origin")
    except subprocess.CalledProcessError:
        repo = "file:trustfabric"
    resolved = [
        {"uri": f"git+{repo}@{commit}", "digest": {"gitCommit": commit}},
        {"uri": "file:requirements.lock", "name": "requirements.lock", "digest": {"sha256": sha256_file(ROOT / "requirements.lock")}},
        {"uri": f"file:dist/{sbom_path.name}", "name": "sbom", "mediaType": "application/vnd.cyclonedx+json",
         "digest": {"sha256": sha256_file(sbom_path)}},
    ]  # fmt: skip
    if name == "trustfabric-image-python.json":
        resolved.append(
            {"uri": "file:Dockerfile", "name": "Dockerfile", "digest": {"sha256": sha256_file(ROOT / "Dockerfile")}}
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": sha256_file(artifact)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"target": "make sbom provenance", "artifact": name, "source": {"uri": repo, "commit": commit}},
                "internalParameters": {"python": sys.version.split()[0], "lockPlatform": LOCK_PLATFORM},
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"supply_chain.py": sha256_file(Path(__file__))}},
                "metadata": {"invocationId": str(uuid.uuid4()), "startedOn": started, "finishedOn": utcnow()},
            },
        },
    }  # fmt: skip


def provenance() -> dict[str, Any]:
    started = utcnow()
    signer, note = release_signer()
    out: dict[str, Any] = {"key": note, "key_id": signer.key_id, "artifacts": {}}
    for name in ARTIFACTS:
        artifact, sbom_path = DIST / name, DIST / f"{name}.cdx.json"
        if not artifact.exists() or not sbom_path.exists():
            raise SystemExit(f"{artifact} or its SBOM is missing: run make sbom first")
        payload = json.dumps(statement(name, artifact, sbom_path, started), sort_keys=True).encode()
        env = signing.envelope(payload, [signer], payload_type=PAYLOAD_TYPE)
        (DIST / f"{name}.intoto.json").write_text(json.dumps(env, indent=2) + "\n")
        out["artifacts"][name] = {"provenance": f"{name}.intoto.json", "subject_sha256": sha256_file(artifact)}
    return out


# --- Verification -----------------------------------------------------------------------------


def pinned_key() -> tuple[str, Any]:
    _, pub_path = _key_paths()
    if not pub_path.exists():
        raise SystemExit(f"no pinned release public key at {pub_path} (TF_RELEASE_PUBKEY_FILE)")
    public = signing.load_public(pub_path.read_text().strip())
    return signing.key_id(public), public


def verify() -> dict[str, Any]:
    """Every expected artifact has an SBOM and a provenance envelope; the envelope is signed
    by the pinned release key; the statement's subject digest is the artifact's, its SBOM
    and lock digests are the files on disk; the SBOM validates; the image SBOM is the lock."""
    kid, public = pinned_key()
    problems: list[str] = []
    checked: dict[str, Any] = {}
    lock_digest = sha256_file(ROOT / "requirements.lock")
    for name in ARTIFACTS:
        artifact, sbom_path, prov = DIST / name, DIST / f"{name}.cdx.json", DIST / f"{name}.intoto.json"
        missing = [p.name for p in (artifact, sbom_path, prov) if not p.exists()]
        if missing:
            problems += [f"{name}: {m} is missing" for m in missing]
            continue
        try:
            validate_sbom(sbom_path.read_text())
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
        env = json.loads(prov.read_text())
        if env.get("payloadType") != PAYLOAD_TYPE:
            problems.append(f"{name}: provenance payloadType is {env.get('payloadType')!r}")
        sig_problems = signing.verify_envelope(env, {kid: public}, [kid])
        if sig_problems:
            problems += [f"{name}: {p}" for p in sig_problems]
            continue
        st = json.loads(base64.b64decode(env["payload"]))
        if st.get("_type") != STATEMENT_TYPE or st.get("predicateType") != PREDICATE_TYPE:
            problems.append(f"{name}: not an in-toto v1 statement with a SLSA v1 predicate")
            continue
        subjects = {s["name"]: s["digest"].get("sha256") for s in st.get("subject", [])}
        if subjects.get(name) != sha256_file(artifact):
            problems.append(f"{name}: the artifact's sha256 differs from the signed subject digest")
        deps = {d.get("name"): d["digest"] for d in st["predicate"]["buildDefinition"]["resolvedDependencies"]}
        if deps.get("sbom", {}).get("sha256") != sha256_file(sbom_path):
            problems.append(f"{name}: the SBOM's sha256 differs from the one named in the provenance")
        if deps.get("requirements.lock", {}).get("sha256") != lock_digest:
            problems.append(f"{name}: requirements.lock differs from the one the provenance names")
        if name == "trustfabric-image-python.json":
            bom = json.loads(sbom_path.read_text())
            in_sbom = {(c["name"], c.get("version"), tuple(h["content"] for h in c.get("hashes", [])))
                       for c in bom.get("components", [])}  # fmt: skip
            in_lock = {(n, v, tuple(h)) for n, (v, h) in parse_lock(ROOT / "requirements.lock").items()}
            if in_sbom != in_lock:
                problems.append(f"{name}: the SBOM's components are not requirements.lock")
        checked[name] = {
            "subject_sha256": subjects.get(name),
            "builder": st["predicate"]["runDetails"]["builder"]["id"],
        }
    known = set(ARTIFACTS) | {f"{a}.cdx.json" for a in ARTIFACTS} | {f"{a}.intoto.json" for a in ARTIFACTS}
    for extra in sorted(p.name for p in DIST.glob("*") if p.is_file() and p.name not in known):
        problems.append(f"{extra}: in dist/ without an SBOM and provenance")
    return {"key_id": kid, "artifacts": checked, "problems": problems, "ok": not problems}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["lock", "sbom", "provenance", "verify"])
    parser.add_argument("--check", action="store_true", help="lock: only check the locks match requirements*.txt")
    args = parser.parse_args(argv)
    if args.command == "lock":
        result = lock(args.check)
    elif args.command == "sbom":
        result = sbom()
    elif args.command == "provenance":
        result = provenance()
    else:
        result = verify()
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
