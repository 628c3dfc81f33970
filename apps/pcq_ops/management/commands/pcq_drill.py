"""``manage.py pcq_drill [--seed N] [--days D]``: the suppression drill; prints JSON (benign
pages avoided, true positives missed) and exits 1 if a true positive was missed."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.pcq_ops import drill


class Command(BaseCommand):
    help = "Simulate a week of anomalies and measure pages with and without suppression rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=16)
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args: Any, **opts: Any) -> None:
        result = drill.run(
            opts["seed"], opts["days"], settings.TF_PCQ_PAGE_GROUP_MINUTES, settings.TF_PCQ_PAGE_MIN_SEVERITY
        )
        self.stdout.write(json.dumps(result, indent=2))
        if result["true_positives_missed"]:
            raise CommandError("the rules muted a true positive")
