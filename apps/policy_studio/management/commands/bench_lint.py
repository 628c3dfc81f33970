"""manage.py bench_lint: what the editor's "lint as you type" costs, as JSON.

* ``lint_fixture``: compile + lint + rule-line placement of the demo investigations policy
  (58 lines), the size authors write; the figure is the p95 over the runs.
* ``lint_500_rules``: the same for a policy at the schema's rule limit (500 rules), the
  worst case one request can ask for.
* ``diff_500_rules``: the rule-level diff of two 500-rule versions (one rule renamed).

In-process CPU work (no database): the lint API adds the tenant's dataset facts (one query)
and the history tally (cached for 60 s per policy).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.bench import figure, pct
from apps.policy_studio.lac.diff import diff_policies, item_lines
from apps.policy_studio.lac.language import compile_policy
from apps.policy_studio.lac.lint import lint_source


def _big_policy(n: int = 500, seed: int = 7) -> str:
    rnd = random.Random(seed)
    rules = [
        {
            "id": f"r{i}",
            "effect": rnd.choice(["allow", "deny"]),
            "description": "generated",
            "when": {
                "role": [rnd.choice(["analyst", "partner", "auditor"])],
                "purpose": [f"p{rnd.randint(0, 20)}"],
                "data_class": ["P2", "P3"],
            },
        }
        for i in range(n)
    ]
    return yaml.safe_dump({"mode": "enforce", "rules": rules}, sort_keys=False)


def _time(fn: Any, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _lint(source: str) -> None:
    compiled = compile_policy(source)
    lint_source(source, compiled=compiled)
    item_lines(source)


class Command(BaseCommand):
    help = "Time compile + lint + diff of policy source (the editor's as-you-type path); prints JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="Few runs (a smoke test of the harness).")

    def handle(self, *args: Any, quick: bool = False, **options: Any) -> None:
        fixture = (Path(settings.BASE_DIR) / "fixtures" / "policies" / "investigations.yaml").read_text()
        big = _big_policy()
        renamed = big.replace("- id: r1\n", "- id: r1-renamed\n", 1)
        small_runs, big_runs = (5, 1) if quick else (50, 5)
        fixture_ms = pct(_time(lambda: _lint(fixture), small_runs))
        big_ms = pct(_time(lambda: _lint(big), big_runs))
        diff_ms = pct(_time(lambda: diff_policies(big, renamed), big_runs))
        report = {
            "lint_fixture": fixture_ms,
            "lint_500_rules": big_ms,
            "diff_500_rules": diff_ms,
            "sizes": {"fixture_chars": len(fixture), "big_chars": len(big)},
            "targets": {
                "lint_fixture_p95_ms": figure(fixture_ms["p95_ms"], unit="ms", target=300, aim=100),
                "lint_500_rules_p95_ms": figure(big_ms["p95_ms"], unit="ms", target=5000, aim=2000),
            },
        }
        self.stdout.write(json.dumps(report, indent=2))
