from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.provenance.services import log_audit, log_size


class Command(BaseCommand):
    help = "Recompute the transparency log from the stored envelopes; report altered leaves, nodes, envelopes or checkpoints."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = log_audit()
        for p in problems:
            self.stdout.write(f"FAIL {p}")
        if problems:
            raise CommandError(f"The transparency log has {len(problems)} problem(s).")
        self.stdout.write(
            f"ok   the log's {log_size()} leaves, interior nodes and checkpoints are consistent and signed"
        )
