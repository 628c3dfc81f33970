"""make cost: CPU-seconds per 1k ZK proofs, exported on /metrics with a configurable price."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from apps.core import metrics


def test_cost_report_is_measured_and_exported_with_the_configured_price(db: Any, settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path
    settings.TF_PRICE_PER_CPU_HOUR = 3.6  # 0.001 per CPU-second: price = cpu-seconds / 1000
    call_command("cost_report", "--points", "64", stdout=open(tmp_path / "out.json", "w"))  # noqa: SIM115
    report = json.loads((tmp_path / "cost-per-1k.json").read_text())
    batched, unbatched = report["modes"]["batched"], report["modes"]["unbatched"]
    assert batched["points"] == unbatched["points"] == 64
    assert unbatched["chunk_points"] == 1 and batched["chunk_points"] > 1
    assert batched["cpu_seconds_per_1k_proofs"] > 0 and unbatched["cpu_seconds_per_1k_proofs"] > 0

    samples = _scrape()
    cpu = samples[("tf_zk_cost_cpu_seconds_per_1k_proofs", "unbatched")]
    assert cpu == unbatched["cpu_seconds_per_1k_proofs"]
    assert samples[("tf_zk_cost_price_per_1k_proofs", "unbatched")] == pytest.approx(cpu / 1000)
    settings.TF_PRICE_PER_CPU_HOUR = 7.2  # a new price needs no new measurement
    assert _scrape()[("tf_zk_cost_price_per_1k_proofs", "unbatched")] == pytest.approx(cpu / 500)


def _scrape() -> dict[tuple[str, str | None], float]:
    body = metrics.metrics_view(RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1")).content.decode()
    return {(s.name, s.labels.get("mode")): s.value for f in text_string_to_metric_families(body) for s in f.samples}
