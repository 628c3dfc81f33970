"""The tenant-side ZK-TX client. Runs at the tenant, needs neither the server's code nor its
database (only ``apps.zk_proofs.zk`` and the standard library), and never sends a selector:
only blinded points, proofs and signatures leave it.

    python -m apps.zk_proofs.client run --server https://tf.example --token tf_… \\
        --session <id> --type phone --selectors phones.txt [--country 44] [--out bundle.json]

Steps: normalise (phones to E.164, e-mails lower-cased, ids trimmed), deduplicate, pad with
random dummies to a size bucket, draw a fresh session key, prove possession, blind and sort,
chunk, sign, upload round 1; fetch the counterpart's blinded set, re-blind it in order with one
batched DLEQ proof per chunk, upload round 2; wait for the verdict and fetch the bundle. The
session key exists only in this process's memory and is gone when it exits.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .zk import group, proofs
from .zk.bundle import chunks_root, round1_message

BUCKETS = [2**i for i in range(7, 17)]
CHUNK = 1024
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class ClientError(RuntimeError):
    pass


def normalise(value: str, kind: str, country: str = "44") -> str | None:
    """One selector in canonical form, or None if it cannot be normalised."""
    value = value.strip()
    if not value:
        return None
    if kind == "phone":
        digits = re.sub(r"[\s\-().]", "", value)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        elif digits.startswith("0"):
            digits = f"+{country}{digits[1:]}"
        elif not digits.startswith("+"):
            digits = f"+{digits}"
        return digits if _E164.match(digits) else None
    if kind == "email":
        value = value.lower()
        return value if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) else None
    return value


def prepare(values: list[str], kind: str, country: str = "44") -> tuple[list[str], int]:
    """Normalised, deduplicated selectors and how many were rejected."""
    seen: dict[str, None] = {}
    rejected = 0
    for v in values:
        n = normalise(v, kind, country)
        if n is None:
            rejected += 1
        else:
            seen.setdefault(n, None)
    return list(seen), rejected


def bucket_for(n: int) -> int:
    for b in BUCKETS:
        if b >= n:
            return b
    raise ClientError(f"at most {BUCKETS[-1]} selectors per session")


@dataclass
class TenantSession:
    """One tenant's side of one session: the secret scalar never leaves this object."""

    session: str
    tenant: str
    role: str = ""
    backend: str = "coincurve"
    x: int = field(default_factory=group.random_scalar, repr=False)

    @property
    def b(self) -> group.Backend:
        return group.backend(self.backend)

    @property
    def key(self) -> bytes:
        return self.b.base_mul(self.x)

    def key_upload(self) -> dict[str, Any]:
        proof = proofs.prove_possession(self.b, self.x, self.key, self.tenant, self.session)
        return {"key": self.key.hex(), "proof": proof.as_dict()}

    def round1(self, selectors: list[str], min_size: int = 0) -> dict[str, Any]:
        padded = bucket_for(max(len(selectors), min_size))
        dummies = [f"dummy:{secrets.token_hex(16)}" for _ in range(padded - len(selectors))]
        points = sorted(self.b.mul(proofs.selector_point(self.b, s), self.x).hex() for s in [*selectors, *dummies])
        chunks = [points[i : i + CHUNK] for i in range(0, len(points), CHUNK)]
        root = chunks_root(chunks)
        signature = proofs.sign(self.b, self.x, self.key, round1_message(self.session, self.role, root, padded))
        return {"padded_size": padded, "chunks": chunks, "signature": signature.as_dict()}

    def round2(self, counterpart_chunks: list[list[str]]) -> dict[str, Any]:
        out_chunks, out_proofs = [], []
        for index, chunk in enumerate(counterpart_chunks):
            us = [self.b.validate(bytes.fromhex(u)) for u in chunk]  # on curve, never the identity
            vs = [self.b.mul(u, self.x) for u in us]
            out_chunks.append([v.hex() for v in vs])
            out_proofs.append(proofs.prove_dleq(self.b, self.x, self.key, us, vs, self.session, index).as_dict())
        return {"chunks": out_chunks, "proofs": out_proofs}


class Api:
    def __init__(self, server: str, token: str) -> None:
        if not server.startswith(("https://", "http://")):
            raise ClientError("the server URL must start with https:// (or http:// on a test machine)")
        self.base = server.rstrip("/") + "/api/zk/sessions/"
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - scheme checked in __init__
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - the server URL is the operator's
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read().decode(errors="replace")
            raise ClientError(f"{method} {path} -> {exc.code}: {payload[:300]}") from exc


def run(
    api: Api, session: str, tenant: str, selectors: list[str], min_size: int = 0, wait: float = 300, poll: float = 0.5
) -> dict[str, Any]:
    state = api.call("GET", f"{session}/")
    me = TenantSession(session=session, tenant=tenant, role=state["role"])
    api.call("POST", f"{session}/key/", me.key_upload())
    deadline = time.monotonic() + wait
    api.call("POST", f"{session}/round1/", me.round1(selectors, min_size))
    while True:
        try:
            other = api.call("GET", f"{session}/counterpart/")
            break
        except ClientError as exc:
            if "not_ready" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(poll)
    api.call("POST", f"{session}/round2/", me.round2(other["chunks"]))
    while True:
        state = api.call("GET", f"{session}/")
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(poll)
    if state["status"] != "done":
        raise ClientError(f"session ended in {state['status']}: {state.get('failure')}")
    return {"state": state, "bundle": api.call("GET", f"{session}/bundle/")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.zk_proofs.client")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="take part in a session")
    r.add_argument("--server", required=True)
    r.add_argument("--token", required=True, help="an API token of your tenant (partner or admin role)")
    r.add_argument("--tenant", required=True, help="your tenant's slug (bound into the key proof)")
    r.add_argument("--session", required=True)
    r.add_argument("--type", choices=["phone", "email", "account"], required=True)
    r.add_argument("--selectors", type=Path, required=True, help="one selector per line")
    r.add_argument("--country", default="44", help="country code for national phone numbers")
    r.add_argument("--min-size", type=int, default=128)
    r.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    values, rejected = prepare(args.selectors.read_text().splitlines(), args.type, args.country)
    print(f"{len(values)} selectors after normalisation and deduplication ({rejected} rejected)", file=sys.stderr)
    result = run(Api(args.server, args.token), args.session, args.tenant, values, args.min_size)
    if args.out:
        args.out.write_text(json.dumps(result["bundle"], indent=2))
    print(json.dumps(result["state"]["verdict"]))
    print(result["bundle"]["explainer"], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
