from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.zk_proofs.models import OverlapSession, Participation
from apps.zk_proofs.sealing import SealError
from apps.zk_proofs.services import _raw_chunks
from apps.zk_proofs.zk import fast


def _hex_chunks(raws: list[bytes]) -> list[list[str]]:
    return [[fast.compress(raw[i : i + 64]).hex() for i in range(0, len(raw), 64)] for raw in raws]


class Command(BaseCommand):
    help = (
        "Operator only: write a finished session's transcript (decrypted) for an L2 audit. A "
        "transcript holds both doubly-blinded sets: never give it to a tenant (with its own session "
        "key it would reveal which of its selectors matched)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("session")
        parser.add_argument("out", type=Path)

    def handle(self, *args: Any, session: str, out: Path, **options: Any) -> None:
        s = OverlapSession.objects.filter(public_id=session, status="done").first()
        if s is None:
            raise CommandError("No finished session with that id.")
        parts = {p.role: p for p in Participation.all_tenants.select_related("session").filter(session=s)}
        try:
            transcript = {
                r: {
                    "round1": {"padded_size": p.round1["padded_size"], "chunks": _hex_chunks(_raw_chunks(p, "round1"))},
                    "round2": {"chunks": _hex_chunks(_raw_chunks(p, "round2")), "proofs": p.round2["proofs"]},
                }
                for r, p in parts.items()
            }
        except SealError as exc:
            raise CommandError(str(exc)) from exc
        out.write_text(json.dumps(transcript))
        self.stdout.write(f"transcript of {session} written to {out}")
