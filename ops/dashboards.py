"""Grafana dashboards as code: ``python ops/dashboards.py`` writes ops/grafana/*.json;
``--check`` fails when they are stale. ops/validate_dashboards.py validates them in CI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "grafana"
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str = "short", kind: str = "timeseries") -> dict:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((pid - 1) % 2), "y": 8 * ((pid - 1) // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend, "datasource": DS} for i, (e, legend) in enumerate(exprs)],
    }  # fmt: skip


def dashboard(uid: str, title: str, panels: list[dict], tenant_var: bool = False) -> dict:
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
    ]
    if tenant_var:
        variables.append(
            {
                "name": "tenant",
                "type": "query",
                "datasource": DS,
                "query": "label_values(tf_http_requests_total, tenant)",
                "refresh": 2,
                "includeAll": False,
            }
        )
    return {
        "uid": uid,
        "title": title,
        "tags": ["trustfabric"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": variables},
        "panels": panels,
    }


API = 'route=~"api/.*"'


def build() -> dict[str, dict]:
    overview = dashboard("tf-overview", "Trust Fabric — overview", [
        panel(1, "Requests per second by route", [("sum by (route) (rate(tf_http_requests_total[5m]))", "{{route}}")], "reqps"),
        panel(2, "API error ratio (5xx)", [(f'sum(rate(tf_http_requests_total{{{API}, status="5xx"}}[5m])) / sum(rate(tf_http_requests_total{{{API}}}[5m]))', "5xx ratio")], "percentunit"),
        panel(3, "API latency p50 / p95 / p99", [
            (f"histogram_quantile({q}, sum by (le) (rate(tf_http_request_duration_seconds_bucket{{{API}}}[5m])))", f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ], "s"),
        panel(4, "Error budget burn (1h) per SLO", [("max by (slo) (slo:sli_error:ratio_rate1h) / on (slo) (1 - max by (slo) (slo:objective:ratio))", "{{slo}}")]),
        panel(5, "Celery queue depth", [("sum by (queue) (tf_celery_queue_depth)", "{{queue}}")]),
        panel(6, "Task wait p95 per queue", [("histogram_quantile(0.95, sum by (le, queue) (rate(tf_celery_task_wait_seconds_bucket[5m])))", "{{queue}}")], "s"),
        panel(7, "JIT time to decision p50", [("histogram_quantile(0.5, sum by (le, outcome) (rate(tf_jit_time_to_decision_seconds_bucket[1h])))", "{{outcome}}")], "s"),
        panel(8, "PCQ verdicts per minute", [("sum by (verdict) (rate(tf_pcq_verdicts_total[5m])) * 60", "{{verdict}}")]),
    ])  # fmt: skip
    tenant = dashboard("tf-tenant", "Trust Fabric — per tenant", [
        panel(1, "Requests per second", [('sum by (route) (rate(tf_http_requests_total{tenant="$tenant"}[5m]))', "{{route}}")], "reqps"),
        panel(2, "Availability SLO error ratio", [('slo:sli_error:ratio_rate5m{slo="api-availability", tenant="$tenant"}', "5m"), ('slo:sli_error:ratio_rate1h{slo="api-availability", tenant="$tenant"}', "1h")], "percentunit"),
        panel(3, "Latency SLO error ratio (> 500 ms)", [('slo:sli_error:ratio_rate5m{slo="api-latency", tenant="$tenant"}', "5m"), ('slo:sli_error:ratio_rate1h{slo="api-latency", tenant="$tenant"}', "1h")], "percentunit"),
        panel(4, "Quota rejections per second", [('sum(rate(tf_quota_rejections_total{tenant="$tenant"}[5m]))', "429/s")]),
        panel(5, "Served / demand", [('sum(rate(tf_tenant_api_served_total{tenant="$tenant"}[1m])) / sum(rate(tf_tenant_api_demand_total{tenant="$tenant"}[1m]))', "served share")], "percentunit"),
        panel(6, "API latency p95", [(f'histogram_quantile(0.95, sum by (le) (rate(tf_http_request_duration_seconds_bucket{{{API}, tenant="$tenant"}}[5m])))', "p95")], "s"),
    ], tenant_var=True)  # fmt: skip
    zk = dashboard("tf-zk", "Trust Fabric — ZK-TX load", [
        panel(1, "Round-2 verification time p50 / p95", [
            (f"histogram_quantile({q}, sum by (le) (rate(tf_zk_verification_duration_seconds_bucket[5m])))", f"p{int(q * 100)}") for q in (0.5, 0.95)
        ], "s"),
        panel(2, "Round-2 verifications per minute by outcome", [("sum by (outcome) (rate(tf_zk_verification_duration_seconds_count[5m])) * 60", "{{outcome}}")]),
        panel(3, "ZK API requests per second", [('sum by (route) (rate(tf_http_requests_total{route=~"api/zk.*"}[5m]))', "{{route}}")], "reqps"),
        panel(4, "ZK API latency p95", [('histogram_quantile(0.95, sum by (le) (rate(tf_http_request_duration_seconds_bucket{route=~"api/zk.*"}[5m])))', "p95")], "s"),
    ])  # fmt: skip
    fair = dashboard("tf-fairness", "Trust Fabric — fairness", [
        panel(1, "Gini of served/demand (60 s window), SLO ≤ 0.16", [("max(tf_fairness_gini)", "gini"), ("vector(0.16)", "SLO")]),
        panel(2, "Active tenants in the window", [("max(tf_fairness_active_tenants)", "tenants")]),
        panel(3, "Served share per tenant", [("sum by (tenant) (rate(tf_tenant_api_served_total[1m])) / sum by (tenant) (rate(tf_tenant_api_demand_total[1m]))", "{{tenant}}")], "percentunit"),
        panel(4, "Fairness SLO: minutes over 0.16 (1h, 6h)", [('slo:sli_error:ratio_rate1h{slo="fairness"}', "1h"), ('slo:sli_error:ratio_rate6h{slo="fairness"}', "6h")], "percentunit"),
    ])  # fmt: skip
    cost = dashboard("tf-cost", "Trust Fabric — cost", [
        panel(1, "CPU-seconds per 1k proofs", [("max by (mode) (tf_zk_cost_cpu_seconds_per_1k_proofs)", "{{mode}}")], "s", "stat"),
        panel(2, "Price per 1k proofs", [("max by (mode) (tf_zk_cost_price_per_1k_proofs)", "{{mode}}")], "currencyUSD", "stat"),
        panel(3, "Batched saving vs unbatched", [('1 - max(tf_zk_cost_cpu_seconds_per_1k_proofs{mode="batched"}) / max(tf_zk_cost_cpu_seconds_per_1k_proofs{mode="unbatched"})', "saving")], "percentunit", "stat"),
        panel(4, "Worker CPU seconds per second", [("sum(rate(process_cpu_seconds_total[5m]))", "cpu")]),
    ])  # fmt: skip
    return {"overview": overview, "tenant": tenant, "zk": zk, "fairness": fair, "cost": cost}


def render() -> dict[Path, str]:
    return {OUT / f"{name}.json": json.dumps(d, indent=2, ensure_ascii=False) + "\n" for name, d in build().items()}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            print(f"{p} is stale: run make dashboards", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
    print(f"wrote {len(files)} dashboards to {OUT.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
