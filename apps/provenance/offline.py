"""The standalone offline verifier: no Django, no database, no network.

    python -m apps.provenance.offline verify evidence.tar.gz --keys trusted-keys.json [--inputs calls-demo.json]

The keys are always pinned: ``--keys`` (GET /api/pcq/keys/, fingerprints checked out of band) must
give every role the bundle's signatures need; without it, or with a pin file that misses a role or
is malformed, the bundle is not verified (the bundle's own keys.json is never trusted).

Checks the bundle's archive, manifest schema and executor signature, the verifier's and the
witness's DSSE signatures, both simulated attestations (bound to the manifest, measurements
equal to the bundled reference values), the verdict details a v2 envelope binds (message,
replay diff, attestation results, replay time: an edited one is named), the inclusion proof
against the signed checkpoint and the input hashes. With ``--inputs`` (the dataset's canonical JSON) it also replays the query
and compares outputs within tolerance. Exit status 0 = verified, 1 = not verified.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

from .pcq.bundle import verify_bundle


def _manifest_from(data: bytes) -> dict:
    import gzip

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        return json.loads(tar.extractfile("manifest.json").read())["manifest"]  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.provenance.offline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify an evidence bundle")
    v.add_argument("bundle", type=Path)
    v.add_argument(
        "--keys", type=Path, help="required: JSON of pinned public keys (role -> base64) from /api/pcq/keys/"
    )
    v.add_argument("--inputs", type=Path, help="the input dataset's JSON, to replay the query too")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    data = args.bundle.read_bytes()
    trusted = None
    if args.keys:
        try:
            trusted = json.loads(args.keys.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(
                f"NOT VERIFIED — not verified: the pin file {args.keys} cannot be read as JSON ({exc}); key not pinned"
            )
            return 1
    report = verify_bundle(data, trusted)
    replay_result = None
    if args.inputs and report.ok:
        from .pcq.replay import replay

        replay_result = replay(_manifest_from(data), json.loads(args.inputs.read_text()), key=None)
        report.check("replay", replay_result["verdict"] == "match", replay_result["message"])
        report.warnings.extend(replay_result["diff"].get("notes", []))
    if args.json:
        print(json.dumps({"verified": report.ok, "checks": report.checks, "warnings": report.warnings}, indent=2))
    else:
        for check in report.checks:
            print(f"{'ok  ' if check['ok'] else 'FAIL'} {check['check']}: {check['message']}")
        for warning in report.warnings:
            print(f"note {warning}")
        print("VERIFIED (attestation mode: sim)" if report.ok else "NOT VERIFIED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
