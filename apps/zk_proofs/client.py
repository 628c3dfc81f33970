"""The tenant-side ZK-TX client (suite v2). Runs at the tenant, needs neither the server's code
nor its database (only ``apps.zk_proofs.zk``, ``apps.zk_proofs.normalise`` and their
libraries), and never sends a selector: only blinded points, proofs and signatures leave it.

    tfzk keygen --out tenant-key.pem                 # or: python -m apps.zk_proofs.client …
    tfzk run --server https://tf.example --token tf_… --tenant northbridge \\
        --tenant-key tenant-key.pem --session <id> --type phone --selectors phones.txt \\
        [--region GB] [--out bundle.json]
    tfzk verify bundle.json --trust zktx-trust.json  # offline, against the pinned keys
    tfzk sign-document --digest <hex> --tenant-key tenant-key.pem

Packaged in ``clients/python`` (``pip install ./clients/python``); 429/503 answers are retried
after ``Retry-After``, an unreachable server is one clear line, not a traceback.

Steps: normalise (libphonenumber E.164 in the tenant's region, NFC + IDNA e-mails; a per-rule
report on stderr), deduplicate, pad with random dummies to a size bucket, draw a fresh session
key, prove possession, blind and sort, chunk, sign, upload round 1; fetch the counterpart's
blinded set, re-blind it in order with one batched DLEQ proof per chunk, upload round 2; check
the round-2 statement against what this client saw and countersign it with the tenant's
long-term key; wait for the verdict and save the bundle's exact bytes. The session key exists
only in this process's memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .normalise import prepare
from .zk import bundle_v2, fast, group, v2

BUCKETS = [2**i for i in range(7, 17)]
CHUNK = 1024


class ClientError(RuntimeError):
    pass


def bucket_for(n: int) -> int:
    for b in BUCKETS:
        if b >= n:
            return b
    raise ClientError(f"at most {BUCKETS[-1]} selectors per session")


def tenant_key_public(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


PILOT_DOCUMENT_CONTEXT = b"trustfabric/pilot-document/v1:"


def document_signing_message(digest: str) -> bytes:
    """What a tenant admin signs to sign a pilot checklist or agreement (its content digest)."""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ClientError("the document digest is 64 lower-case hex characters (shown on the pilot page)")
    return PILOT_DOCUMENT_CONTEXT + digest.encode()


def load_tenant_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ClientError("the tenant key must be an Ed25519 private key (PEM)")
    return key


@dataclass
class TenantSession:
    """One tenant's side of one session: the secret scalar never leaves this object."""

    session: str
    tenant: str
    role: str = ""
    x: int = field(default_factory=group.random_scalar, repr=False)
    seen: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def b(self) -> group.Backend:
        return group.backend("coincurve")

    @property
    def key(self) -> bytes:
        return self.b.base_mul(self.x)

    def key_upload(self) -> dict[str, Any]:
        proof = v2.prove_possession(self.b, self.x, self.key, self.tenant, self.session)
        return {"key": self.key.hex(), "proof": proof.as_dict()}

    def round1(self, selectors: list[str], min_size: int = 0) -> dict[str, Any]:
        padded = bucket_for(max(len(selectors), min_size))
        dummies = [f"dummy:{secrets.token_hex(16)}" for _ in range(padded - len(selectors))]
        points = sorted(p.hex() for p in v2.blind_selectors([*selectors, *dummies], self.x))
        chunks = [points[i : i + CHUNK] for i in range(0, len(points), CHUNK)]
        root = bundle_v2.chunks_root(chunks)
        message = v2.round1_message(self.session, self.role, self.tenant, self.key.hex(), root, padded)
        self.seen.update(padded_size=padded, round1_root=root)
        return {
            "padded_size": padded,
            "chunks": chunks,
            "signature": v2.sign(self.b, self.x, self.key, message).as_dict(),
        }

    def round2(self, counterpart: dict[str, Any]) -> dict[str, Any]:
        other_key = v2.parse_point_hex(counterpart["key"])
        self.b.validate(other_key)
        out_chunks, out_proofs = [], []
        scalar = self.x.to_bytes(32, "big")
        for index, chunk in enumerate(counterpart["chunks"]):
            us_points = fast.Points.parse([v2.parse_point_hex(u) for u in chunk])  # on curve, never the identity
            us, vs = us_points.compressed(), us_points.mul_all(scalar).compressed()
            out_chunks.append([v.hex() for v in vs])
            proof = v2.prove_dleq(self.b, self.x, self.key, other_key, us, vs, self.session, index, self.role)
            out_proofs.append(proof.as_dict())
        self.seen.update(
            other_key=counterpart["key"],
            other_round1_root=bundle_v2.chunks_root(counterpart["chunks"]),
            other_tenant=counterpart.get("tenant"),
            round2_root=bundle_v2.chunks_root(out_chunks),
        )
        return {"chunks": out_chunks, "proofs": out_proofs}

    def check_statement(self, stmt: dict[str, Any], expected: dict[str, Any]) -> None:
        """Countersign only what this client saw: its key and roots, the counterpart's key and
        round-1 root as received, the session's k, disclosure and selector type."""
        other = "B" if self.role == "A" else "A"
        checks = {
            "session": stmt.get("session") == self.session,
            "suite": stmt.get("suite") == v2.SUITE,
            "k": stmt.get("k") == expected["k"],
            "disclosure": stmt.get("disclosure") == expected["disclosure"],
            "selector type": stmt.get("selector_type") == expected["selector_type"],
            "my tenant": stmt.get("tenants", {}).get(self.role) == self.tenant,
            "counterpart tenant": self.seen.get("other_tenant") in (None, stmt.get("tenants", {}).get(other)),
            "my key": stmt.get("keys", {}).get(self.role) == self.key.hex(),
            "counterpart key": stmt.get("keys", {}).get(other) == self.seen.get("other_key"),
            "my padded size": stmt.get("padded_sizes", {}).get(self.role) == self.seen.get("padded_size"),
            "my round-1 root": stmt.get("roots", {}).get(self.role, {}).get("round1") == self.seen.get("round1_root"),
            "my round-2 root": stmt.get("roots", {}).get(self.role, {}).get("round2") == self.seen.get("round2_root"),
            "counterpart round-1 root": stmt.get("roots", {}).get(other, {}).get("round1")
            == self.seen.get("other_round1_root"),
        }
        wrong = [name for name, ok in checks.items() if not ok]
        if wrong:
            raise ClientError(f"refusing to countersign: the statement differs in {', '.join(wrong)}")

    def countersign(self, stmt: dict[str, Any], tenant_key: Ed25519PrivateKey) -> dict[str, str]:
        raw = base64.b64decode(tenant_key_public(tenant_key))
        return {
            "fingerprint": v2.fingerprint(raw),
            "signature": base64.b64encode(tenant_key.sign(v2.statement_bytes(stmt))).decode(),
        }


RETRY_STATUSES = (429, 503)
CONNECT_RETRIES = 3  # an unreachable server: 1 + 2 + 4 s of retries, then one clear line


class Api:
    """The ZK-TX API over HTTPS. A 429 or 503 (quota, back-pressure, breaker) is retried after
    the server's ``Retry-After`` (else exponential backoff: 1, 2, 4 … s, at most 60 s), up to
    ``retries`` times; a request that never reached the server (connection refused, DNS), and
    any other connection failure of a read, is retried at most ``CONNECT_RETRIES`` times.
    Everything else is a ``ClientError`` with the server's ``{code, message}``."""

    def __init__(
        self, server: str, token: str, *, retries: int = 5, timeout: float = 120, sleep: Any = time.sleep
    ) -> None:
        if not server.startswith(("https://", "http://")):
            raise ClientError("the server URL must start with https:// (or http:// on a test machine)")
        self.server = server.rstrip("/")
        self.base = self.server + "/api/zk/sessions/"
        self.token = token
        self.retries, self.timeout, self.sleep = retries, timeout, sleep
        self.waited: list[float] = []  # the pauses taken, for the operator's log and tests

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = min(60.0, float(2**attempt))
        if retry_after and retry_after.strip().isascii() and retry_after.strip().isdigit():
            delay = min(300.0, float(retry_after.strip()))
        self.waited.append(delay)
        self.sleep(delay)

    def raw(self, method: str, path: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        url = path if path.startswith(self.server) else self.base + path
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked in __init__
            request.add_header("Authorization", f"Bearer {self.token}")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the operator's URL
                    return response.read()
            except urllib.error.HTTPError as exc:
                payload = exc.read().decode(errors="replace")
                if exc.code in RETRY_STATUSES and attempt < self.retries:
                    self._pause(attempt, exc.headers.get("Retry-After"))
                    continue
                raise ClientError(f"{method} {path} -> {exc.code}: {_explain(payload)}") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                never_sent = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
                if (never_sent or method == "GET") and attempt < min(self.retries, CONNECT_RETRIES):
                    self._pause(attempt, None)
                    continue
                raise ClientError(f"cannot reach the server at {self.server}: {_reason(reason)}") from None
        raise ClientError(f"{method} {path}: no answer after {self.retries + 1} attempts")  # pragma: no cover

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self.raw(method, path, body) or b"null")


def _explain(payload: str) -> str:
    """The server's {code, message} if it sent one, else the start of the body."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:300]
    if isinstance(body, dict) and "code" in body:
        return f"{body.get('code')}: {body.get('message', '')}"[:300]
    return payload[:300]


def _reason(reason: Any) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server running, and is the URL right?)"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    return str(reason) or type(reason).__name__


def _poll(api: Api, path: str, deadline: float, poll: float) -> Any:
    while True:
        try:
            return api.call("GET", path)
        except ClientError as exc:
            if "not_ready" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(poll)


def run(
    api: Api,
    session: str,
    tenant: str,
    selectors: list[str],
    tenant_key: Ed25519PrivateKey,
    min_size: int = 0,
    wait: float = 300,
    poll: float = 0.5,
    expect: dict[str, Any] | None = None,
) -> dict[str, Any]:
    state = api.call("GET", f"{session}/")
    expected = {"k": state["k"], "disclosure": state["disclosure"], "selector_type": state["selector_type"]}
    for name, value in (expect or {}).items():
        if value is not None and expected[name] != value:
            raise ClientError(f"the session's {name} is {expected[name]!r}, not {value!r}: not taking part")
    me = TenantSession(session=session, tenant=tenant, role=state["role"])
    api.call("POST", f"{session}/key/", me.key_upload())
    deadline = time.monotonic() + wait
    api.call("POST", f"{session}/round1/", me.round1(selectors, min_size))
    other = _poll(api, f"{session}/counterpart/", deadline, poll)
    api.call("POST", f"{session}/round2/", me.round2(other))
    stmt = _poll(api, f"{session}/statement/", deadline, poll)
    me.check_statement(stmt, expected)
    api.call("POST", f"{session}/statement/", me.countersign(stmt, tenant_key))
    while True:
        state = api.call("GET", f"{session}/")
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(poll)
    if state["status"] != "done":
        raise ClientError(f"session ended in {state['status']}: {state.get('failure')}")
    raw = api.raw("GET", f"{session}/bundle/")
    return {"state": state, "bundle_bytes": raw, "bundle": json.loads(raw)}


def main(argv: list[str] | None = None) -> int:
    """``tfzk`` (the packaged client) or ``python -m apps.zk_proofs.client``. Errors print one
    line and exit 1 (no traceback)."""
    try:
        return _main(argv)
    except ClientError as exc:
        print(f"tfzk: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file that cannot be read or written
        print(f"tfzk: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfzk: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfzk", description="Trust Fabric ZK-TX tenant client")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("keygen", help="create the tenant's long-term Ed25519 key (register its public half)")
    g.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="take part in a session")
    r.add_argument("--server", required=True)
    r.add_argument("--token", help="an API token of your tenant (partner or admin role); default: $TF_TOKEN")
    r.add_argument("--tenant", required=True, help="your tenant's slug (bound into the key proof)")
    r.add_argument("--tenant-key", type=Path, required=True, help="your tenant's long-term key (PEM), to countersign")
    r.add_argument("--session", required=True)
    r.add_argument("--type", choices=["phone", "email", "account"], required=True)
    r.add_argument("--selectors", type=Path, required=True, help="one selector per line")
    r.add_argument("--region", help="region for national phone numbers (default: your tenant's pilot setting)")
    r.add_argument("--k", type=int, help="refuse to take part unless the session's k is this")
    r.add_argument("--min-size", type=int, default=128)
    r.add_argument("--out", type=Path, help="save the bundle exactly as the server signed it")
    r.add_argument("--retries", type=int, default=5, help="retries on 429/503 and unreachable server (default 5)")
    r.add_argument("--wait", type=float, default=300, help="seconds to wait for the partner and the verdict")
    d = sub.add_parser("sign-document", help="sign a pilot checklist or agreement's digest with the tenant key")
    d.add_argument("--digest", required=True, help="the document's digest, from the pilot page")
    d.add_argument("--tenant-key", type=Path, required=True)
    v = sub.add_parser("verify", help="verify a saved bundle offline against a pinned trust file")
    v.add_argument("bundle", type=Path)
    v.add_argument("--trust", type=Path, required=True, help="the trust file, checked by fingerprint out of band")
    v.add_argument("--transcript", type=Path, help="operator-exported transcript: enables the L2 audit")
    return parser


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "keygen":
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public = tenant_key_public(private)
        print(f"public key (register it on the ZK-TX keys page): {public}")
        print(f"fingerprint: {v2.fingerprint(base64.b64decode(public))}")
        return 0
    if args.command == "sign-document":
        key = load_tenant_key(args.tenant_key)
        signature = base64.b64encode(key.sign(document_signing_message(args.digest.strip()))).decode()
        print(f"fingerprint: {v2.fingerprint(base64.b64decode(tenant_key_public(key)))}")
        print(f"signature: {signature}")
        return 0
    if args.command == "verify":
        from .offline import main as offline_main

        rest = [str(args.bundle), "--trust", str(args.trust), "--backend", "coincurve"]
        return offline_main(["verify", *rest, *(["--transcript", str(args.transcript)] if args.transcript else [])])
    token = args.token or os.environ.get("TF_TOKEN", "")
    if not token:
        raise ClientError("give an API token with --token or in TF_TOKEN")
    api = Api(args.server, token, retries=args.retries)
    region = args.region or api.call("GET", f"{args.session}/").get("default_region") or None
    values, report = prepare(args.selectors.read_text(encoding="utf-8").splitlines(), args.type, region)
    print(f"normalisation (region {region or 'none'}):", file=sys.stderr)
    for rule, n in report.items():
        print(f"  {rule}: {n}", file=sys.stderr)
    result = run(
        api,
        args.session,
        args.tenant,
        values,
        load_tenant_key(args.tenant_key),
        args.min_size,
        wait=args.wait,
        expect={"k": args.k},
    )
    if args.out:
        args.out.write_bytes(result["bundle_bytes"])  # the exact bytes: canonical, verifiable offline
    print(json.dumps(result["state"]["verdict"]))
    print(result["bundle"]["header"]["explainer"], file=sys.stderr)
    if api.waited:
        print(f"waited {sum(api.waited):.0f} s in {len(api.waited)} retries (quota or back-pressure)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
