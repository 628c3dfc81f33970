"""The red-team corpus runner: every case goes through the real pipeline (plan, LAC,
execution, exact checks, minimization) in a throw-away tenant inside a transaction that is
rolled back, so running it leaves nothing behind.

Scoring: an *attack* case is a false negative when none of its steps is denied (or, for
``no_leak`` cases, when the protected value reaches the output). A *benign* case is a false
positive when it is denied. A denial with a different reason code than labelled is a
*mismatch*: not a leak, but the corpus and the engine disagree about why.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core.models import Membership, Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.services import UploadedFile, dataset_create, view_create

from .lac.minimize import SUPPRESSED
from .models import QueryRun, SubjectAttributes
from .pipeline import query_run_execute
from .services import policy_save_version

DEFAULT_CORPUS = Path(settings.BASE_DIR) / "fixtures" / "redteam" / "corpus.json"


@dataclass
class CaseOutcome:
    id: str
    pattern: str
    expect: str
    ok: bool
    verdict: str  # pass | false_negative | false_positive | mismatch
    got: str
    codes: list[str]


@dataclass
class Report:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def attacks(self) -> int:
        return sum(1 for o in self.outcomes if o.expect != "allow")

    @property
    def benign(self) -> int:
        return sum(1 for o in self.outcomes if o.expect == "allow")

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)

    @property
    def false_positive_rate(self) -> float:
        return self.count("false_positive") / self.benign if self.benign else 0.0

    @property
    def passed(self) -> bool:
        return self.count("false_negative") == 0 and self.false_positive_rate <= 0.02

    def summary(self) -> dict[str, Any]:
        patterns = Counter(o.pattern for o in self.outcomes)
        return {
            "cases": len(self.outcomes),
            "attacks": self.attacks,
            "benign": self.benign,
            "false_negatives": self.count("false_negative"),
            "false_positives": self.count("false_positive"),
            "false_positive_rate": round(self.false_positive_rate, 4),
            "reason_code_mismatches": self.count("mismatch"),
            "patterns": dict(sorted(patterns.items())),
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
        }


def _leaks(run: QueryRun, node: str, attribute: str) -> bool:
    if run.status == QueryRun.Status.DENIED or not run.result:
        return False
    return any(row["id"] == node and row.get(attribute, SUPPRESSED) != SUPPRESSED for row in run.result["nodes"])


def run_corpus(path: Path = DEFAULT_CORPUS) -> Report:
    corpus = json.loads(path.read_text())
    base = path.parent.parent
    report = Report()
    started = time.perf_counter()
    with transaction.atomic():
        tenant = Tenant.objects.create(slug=f"redteam-{uuid.uuid4().hex[:8]}", name="Red team (temporary)")
        with tenant_context(tenant):
            _run_cases(corpus, base, report)
        transaction.set_rollback(True)  # leave nothing behind
    report.seconds = time.perf_counter() - started
    return report


def _run_cases(corpus: dict[str, Any], base: Path, report: Report) -> None:
    User = get_user_model()
    owner = User.objects.create(username=f"rt-owner-{uuid.uuid4().hex[:6]}")
    dataset_file = base / corpus["dataset"]
    dataset_create(
        actor=owner,
        slug="calls-demo",
        name="Calls (red team)",
        files={"graph": UploadedFile(dataset_file.name, dataset_file.read_bytes())},
    )
    v = corpus["view"]
    view_create(
        actor=owner,
        slug=v["slug"],
        name=v["slug"],
        dataset_slug="calls-demo",
        fields=v["fields"],
        hops=v["hops"],
        edge_filter=v.get("edge_filter"),
    )
    policy_save_version(actor=owner, slug="redteam", source=(base / corpus["policy"]).read_text(), activate=True)
    for case in corpus["cases"]:
        subject = case["subject"]
        user = User.objects.create(username=f"rt-{case['id']}-{uuid.uuid4().hex[:4]}")
        for role in subject["roles"]:
            Membership.objects.create(user=user, role=role)
        if subject.get("groups") or subject.get("clearance"):
            SubjectAttributes.objects.create(
                user=user, groups=subject.get("groups", []), clearance=subject.get("clearance", 0)
            )
        runs = []
        for step in case["steps"]:
            run = query_run_execute(actor=user, roles=frozenset(subject["roles"]), spec=json.loads(json.dumps(step)))
            runs.append(run)
            if run.status == QueryRun.Status.DENIED:
                break
        report.outcomes.append(_score(case, runs))


def _score(case: dict[str, Any], runs: list[QueryRun]) -> CaseOutcome:
    last = runs[-1]
    denied = last.status == QueryRun.Status.DENIED
    codes = list(last.reason_codes)
    expect = case["expect"]
    if expect == "allow":
        verdict = "false_positive" if denied else "pass"
    elif expect == "no_leak":
        verdict = "false_negative" if any(_leaks(r, case["node"], case["attribute"]) for r in runs) else "pass"
    elif not denied:
        verdict = "false_negative"
    else:
        verdict = "pass" if case.get("code") in codes else "mismatch"
    return CaseOutcome(case["id"], case["pattern"], expect, verdict == "pass", verdict, last.status, codes)
