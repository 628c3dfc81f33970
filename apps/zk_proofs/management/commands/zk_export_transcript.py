from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.zk_proofs.models import OverlapSession, Participation


class Command(BaseCommand):
    help = (
        "Operator only: write a finished session's transcript for an L2 audit. A transcript holds "
        "both doubly-blinded sets: never give it to a tenant (with its own session key it would "
        "reveal which of its selectors matched)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("session")
        parser.add_argument("out", type=Path)

    def handle(self, *args: Any, session: str, out: Path, **options: Any) -> None:
        s = OverlapSession.objects.filter(public_id=session, status="done").first()
        if s is None:
            raise CommandError("No finished session with that id.")
        parts = {p.role: p for p in Participation.all_tenants.filter(session=s)}
        out.write_text(json.dumps({r: {"round1": p.round1, "round2": p.round2} for r, p in parts.items()}))
        self.stdout.write(f"transcript of {session} written to {out}")
