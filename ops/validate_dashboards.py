"""Validate ops/grafana/*.json: the dashboard structure Grafana needs (a JSON schema),
unique uids and panel ids, every PromQL expression parsed by promtool, and every metric
it names exported by apps/core/metrics.py or recorded by ops/prometheus/rules.yml.

    python ops/validate_dashboards.py     # exit 1 and a list of problems when invalid
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRAFANA = HERE / "grafana"

TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {"refId": {"type": "string", "pattern": "^[A-Z]$"}, "expr": {"type": "string", "minLength": 1}},
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "datasource", "gridPos", "targets"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["timeseries", "stat", "gauge", "table", "bargauge"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": {
            "type": "object",
            "required": ["h", "w", "x", "y"],
            "properties": {"w": {"type": "integer", "minimum": 1, "maximum": 24}, "x": {"type": "integer", "minimum": 0, "maximum": 23}},
        },
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
    },
}  # fmt: skip
DASHBOARD = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": PANEL},
    },
}

_METRIC = re.compile(r"\b((?:tf|slo|process)_?[a-zA-Z0-9_:]*)\b(?!\s*\()")
_FUNCS_AND_KEYWORDS = {"sum", "by", "rate", "max", "on", "group_left", "histogram_quantile", "vector", "without"}


def known_metrics() -> set[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trustfabric.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from prometheus_client import REGISTRY

    from apps.core import metrics

    names = set(REGISTRY._names_to_collectors) | set(metrics.SCRAPE_TIME_METRICS)
    rules = yaml.safe_load((HERE / "prometheus" / "rules.yml").read_text())
    names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names


def problems() -> list[str]:
    out: list[str] = []
    known = known_metrics()
    exprs: list[tuple[str, str]] = []
    uids: set[str] = set()
    for path in sorted(GRAFANA.glob("*.json")):
        try:
            dash = json.loads(path.read_text())
            jsonschema.validate(dash, DASHBOARD)
        except (ValueError, jsonschema.ValidationError) as exc:
            out.append(f"{path.name}: {str(exc).splitlines()[0]}")
            continue
        if dash["uid"] in uids:
            out.append(f"{path.name}: duplicate uid {dash['uid']}")
        uids.add(dash["uid"])
        ids = [p["id"] for p in dash["panels"]]
        if len(ids) != len(set(ids)):
            out.append(f"{path.name}: duplicate panel ids")
        variables = {v["name"] for v in dash["templating"]["list"]}
        for p in dash["panels"]:
            for t in p["targets"]:
                expr = t["expr"]
                for var in re.findall(r"\$(\w+)", expr):
                    if var not in variables:
                        out.append(f"{path.name} panel {p['id']}: ${var} is not a dashboard variable")
                concrete = re.sub(r"\$\w+", "x", expr)
                exprs.append((f"{path.name} panel {p['id']} {t['refId']}", concrete))
                bare = re.sub(r"\{[^}]*\}", "", concrete)  # label matchers
                bare = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
                for name in _METRIC.findall(bare):
                    if name in _FUNCS_AND_KEYWORDS:
                        continue
                    base = re.sub(r"_(bucket|count|sum|total)$", "", name)
                    if name not in known and base not in known:
                        out.append(f"{path.name} panel {p['id']}: {name} is not exported or recorded")
    if not list(GRAFANA.glob("*.json")):
        out.append("no dashboards in ops/grafana")
    out += _promql_problems(exprs)
    return out


def _promql_problems(exprs: list[tuple[str, str]]) -> list[str]:
    """promtool parses every expression (as recording rules in a throw-away file)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return ["promtool not found (apt-get install prometheus)"]
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"dashboard:expr{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        yaml.safe_dump(rules, fh)
    try:
        res = subprocess.run([promtool, "check", "rules", fh.name], capture_output=True, text=True)
    finally:
        os.unlink(fh.name)
    if res.returncode == 0:
        return []
    return [f"promtool: {line}" for line in (res.stdout + res.stderr).splitlines() if "rror" in line or "expr" in line]


def main() -> int:
    found = problems()
    for p in found:
        print(p, file=sys.stderr)
    print(json.dumps({"dashboards": len(list(GRAFANA.glob("*.json"))), "problems": len(found)}))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
