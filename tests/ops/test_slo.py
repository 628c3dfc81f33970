"""SLOs → Prometheus rules and alerts (promtool), and the Grafana dashboards."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require_service

sys.path.insert(0, str(ROOT / "ops"))
import slo_rules
import validate_dashboards

PROM = ROOT / "ops" / "prometheus"


def _promtool() -> str:
    path = shutil.which("promtool")
    require_service(path is not None, "promtool (Debian package prometheus) is not installed")
    return str(path)


def test_rules_and_their_tests_are_generated_from_the_slo_file() -> None:
    assert slo_rules.main(["--check"]) == 0


def test_promtool_checks_the_rules_and_every_alert_fires_and_resolves_in_its_test() -> None:
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", str(PROM / "rules.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=PROM, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    rules = yaml.safe_load((PROM / "rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROM / "rules_test.yml").read_text())["tests"]
    covered: dict[str, list] = {}
    for t in tests:
        for case in t["alert_rule_test"]:
            covered.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    # One test per alert, with a firing and a resolved expectation.
    assert set(covered) == alerts
    assert all(sorted(v) == [False, True] for v in covered.values())
    assert len(alerts) == 5 * 3 + 2  # burn-rate alerts per SLO, plus policy drift and flooding


def test_a_weaker_alert_threshold_fails_the_rule_tests(tmp_path: Path) -> None:
    """The promtool tests can fail: page at 144x instead of 14.4x and they do."""
    promtool = _promtool()
    (tmp_path / "rules.yml").write_text((PROM / "rules.yml").read_text().replace("(14.4 * ", "(144 * "))
    shutil.copy(PROM / "rules_test.yml", tmp_path)
    run = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0
    assert "BudgetBurnFast" in run.stdout + run.stderr


def test_per_tenant_alerts_name_the_burning_tenant_only() -> None:
    tests = yaml.safe_load((PROM / "rules_test.yml").read_text())["tests"]
    case = next(t for t in tests if "TFApiAvailabilityBudgetBurnFast" in t["name"])
    fired = case["alert_rule_test"][0]["exp_alerts"]
    assert [a["exp_labels"]["tenant"] for a in fired] == [slo_rules.BAD_TENANT]
    assert any(f'tenant="{slo_rules.GOOD_TENANT}"' in s["series"] for s in case["input_series"])


def test_latency_thresholds_are_bucket_bounds_of_their_histograms() -> None:
    from apps.core import metrics

    spec = yaml.safe_load((ROOT / "ops" / "slo.yaml").read_text())
    histograms = {
        h._name: h._kwargs.get("buckets") or h._upper_bounds
        for h in vars(metrics).values()
        if type(h).__name__ == "Histogram"
    }
    for slo in spec["slos"]:
        if slo["kind"] == "latency":
            bounds = [float(b) for b in histograms[slo["histogram"]]]
            assert float(slo["threshold"]) in bounds, slo["name"]


def test_dashboards_are_current_and_validate() -> None:
    _promtool()
    import dashboards

    assert dashboards.main(["--check"]) == 0
    assert validate_dashboards.problems() == []
    assert {p.stem for p in (ROOT / "ops" / "grafana").glob("*.json")} == {
        "overview",
        "tenant",
        "zk",
        "fairness",
        "cost",
    }


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["panels"][0]["targets"][0].update(expr="max(tf_no_such_metric)"), "tf_no_such_metric"),
        (lambda d: d["panels"][0]["targets"][0].update(expr="sum by (x 1) (tf_fairness_gini)"), "promtool"),
        (lambda d: d["panels"][0].pop("datasource"), "datasource"),
        (lambda d: d["panels"][1].update(id=d["panels"][0]["id"]), "duplicate panel ids"),
    ],
)
def test_a_broken_dashboard_is_refused(tmp_path: Path, monkeypatch: Any, edit: Any, expected: str) -> None:
    _promtool()
    src = ROOT / "ops" / "grafana" / "fairness.json"
    dash = json.loads(src.read_text())
    edit(dash)
    (tmp_path / "fairness.json").write_text(json.dumps(dash))
    monkeypatch.setattr(validate_dashboards, "GRAFANA", tmp_path)
    found = validate_dashboards.problems()
    assert any(expected in p for p in found), found
