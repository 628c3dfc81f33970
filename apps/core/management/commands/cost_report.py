"""make cost: CPU-seconds (and price) per 1,000 ZK-TX proofs verified, batched vs unbatched.

The measurement is ``apps.zk_proofs.cost.measure`` (the verification code the worker runs,
timed directly; ``manage.py bench_load`` reports the same beside its HTTP run). The result is written
to var/cost-per-1k.json, which /metrics exports (tf_zk_cost_*), with the price computed from
TF_PRICE_PER_CPU_HOUR at scrape time.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.metrics import cost_report_path
from apps.zk_proofs.cost import measure


class Command(BaseCommand):
    help = "CPU-seconds and price per 1k ZK proofs, batched vs unbatched (JSON; feeds /metrics)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--points", type=int, default=4096, help="points verified per mode")
        parser.add_argument("--price-per-cpu-hour", type=float, default=None)

    def handle(self, *args: Any, points: int, price_per_cpu_hour: float | None, **options: Any) -> None:
        price = settings.TF_PRICE_PER_CPU_HOUR if price_per_cpu_hour is None else price_per_cpu_hour
        result = measure(points, price)
        cost_report_path().write_text(json.dumps(result, indent=2) + "\n")
        self.stdout.write(json.dumps(result, indent=2))
