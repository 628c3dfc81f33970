from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.zk_proofs.retention import transcripts_purge


class Command(BaseCommand):
    help = "Delete ZK-TX transcripts older than ZK_TRANSCRIPT_RETENTION_DAYS (sealed sets and data keys)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{transcripts_purge()} transcript(s) deleted")
