"""make bench-load, short and slow (a few seconds at a low rate, with chaos): gunicorn, a
Celery worker and a private Redis on loopback, the generator in its own process; the JSON
and the PNG come out, every request got an answer, the flooding tenant is shaped and the
others are not, and the session driven through a worker kill and a Redis pause got the
right verdict exactly once."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import require_service

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def test_a_short_chaos_run_loses_nothing_and_shapes_only_the_flood(tmp_path) -> None:
    require_service(connection.vendor == "postgresql", "DATABASE_URL must point at PostgreSQL")
    out = io.StringIO()
    target = tmp_path / "load.json"
    call_command(
        "bench_load", "--duration", "9s", "--rate", "15", "--window", "3", "--chaos",
        "--redis-port", "18421", "--web-port", "18422", "--out", str(target), stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue())
    assert json.loads(target.read_text())["requests"] == result["requests"] > 50
    assert target.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not target.with_suffix(".plan.json").exists()  # tokens and keys are not left behind
    assert result["requests_unanswered"] == 0
    assert [e["event"].split()[0] for e in result["chaos"]] == ["worker", "redis"]
    flood, normal = result["tenants"]["lt-3"], [result["tenants"][f"lt-{i}"] for i in range(3)]
    assert flood["weight"] == 10 and flood["shaped_429"] > 0
    assert all(t["shaped_429"] == 0 for t in normal)
    v = result["verdicts"]
    assert v["driven"] >= 1 and v["right_verdict"] == v["driven"]
    assert v["lost"] == [] and v["duplicated"] == []
    assert len(result["windows"]) == 3 and all(0 <= w["gini"] <= 1 for w in result["windows"])
    assert result["generator_cpu_seconds"] > 0 and result["server_cpu_seconds"]["web"] > 0
    assert all(0 < v < 60 for v in result["machine_speed_cpu_seconds"].values())
    assert result["cost"]["direct_per_1k_proofs_cpu_seconds"]["batched"] > 0
