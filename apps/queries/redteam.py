"""The red-team corpus runner: every case goes through the real pipeline (plan, LAC,
execution, exact checks, minimization) in a throw-away tenant inside a transaction that is
rolled back, so running it leaves nothing behind.

Scoring: an *attack* case is a false negative when none of its steps is denied (or, for
``no_leak`` cases, when the protected value reaches the output). A *benign* case is a false
positive when it is denied. A denial with a different reason code than labelled is a
*mismatch*: not a leak, but the corpus and the engine disagree about why.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core.errors import DomainError
from apps.core.models import Membership, Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.services import UploadedFile, dataset_create, view_create
from apps.policy_studio.lac.minimize import SUPPRESSED
from apps.policy_studio.models import SubjectAttributes
from apps.policy_studio.services import policy_save_version

from . import hooks
from .denials import denial_body
from .models import QueryRun
from .pipeline import query_run_execute

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
    cls: str = ""
    note: str = ""
    # Each stored step's masked facts and its dataset's classes: what the Studio's promotion
    # gate replays a candidate policy against (corpus_facts).
    steps: list[dict[str, Any]] = field(default_factory=list)


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

    def per_class(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for o in self.outcomes:
            row = out.setdefault(o.cls, {"attacks": 0, "benign": 0, "false_negatives": 0, "false_positives": 0})
            row["benign" if o.expect == "allow" else "attacks"] += 1
            row["false_negatives"] += o.verdict == "false_negative"
            row["false_positives"] += o.verdict == "false_positive"
        for row in out.values():
            row["false_positive_rate"] = round(row["false_positives"] / row["benign"], 4) if row["benign"] else 0.0
        return dict(sorted(out.items()))

    @property
    def passed(self) -> bool:
        return self.count("false_negative") == 0 and all(
            row["false_positive_rate"] <= 0.02 for row in self.per_class().values()
        )

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
            "classes": self.per_class(),
            "patterns": dict(sorted(patterns.items())),
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
        }


@dataclass
class Step:
    """One query of a case: the stored run, or the refusal (400/404) or crash it produced."""

    run: QueryRun | None = None
    refused: str = ""  # the domain error's code, for a 400/404
    crashed: str = ""  # anything else is a bug (it would be a 500)

    @property
    def denied(self) -> bool:
        return self.run is None or self.run.status == QueryRun.Status.DENIED


def _bucket_inversions(case: dict[str, Any], run: QueryRun | None) -> list[str]:
    """Rows a filter on a min_count bucket let through whose bucket is not released: shown
    "suppressed", or (the attribute not a field) held by fewer than min_count returned rows, so
    fewer in their group. Either way passing the filter gives the bucket away."""
    if run is None or run.status == QueryRun.Status.DENIED or not run.result:
        return []
    attribute, width, n = case["attribute"], case["width"], case["min_count"]
    truth = case["true_values"]
    rows = [row for row in run.result["nodes"] if row["id"] in truth]
    labels = {row["id"]: math.floor(truth[row["id"]] / width) * width for row in rows}
    counts = Counter(labels.values())
    return [
        f"{row['id']} passed the filter in a bucket of {counts[labels[row['id']]]}"
        for row in rows
        if row.get(attribute) == SUPPRESSED or counts[labels[row["id"]]] < n
    ]


def _leaks(run: QueryRun | None, node: str, attribute: str) -> bool:
    if run is None or run.status == QueryRun.Status.DENIED or not run.result:
        return False
    return any(row["id"] == node and row.get(attribute, SUPPRESSED) != SUPPRESSED for row in run.result["nodes"])


@dataclass
class World:
    """A throw-away tenant with the corpus dataset, its views and one set of policies."""

    tenant: Tenant
    owner: Any


def run_corpus(path: Path = DEFAULT_CORPUS) -> Report:
    corpus = json.loads(path.read_text())
    base = path.parent.parent
    report = Report()
    started = time.perf_counter()
    with transaction.atomic():
        worlds: dict[str, World] = {}
        for case in corpus["cases"]:
            name = case.get("policy_set", "default")
            if name not in worlds:
                worlds[name] = _world(corpus, base, name)
            with tenant_context(worlds[name].tenant):
                report.outcomes.append(_run_case(case, worlds[name]))
        transaction.set_rollback(True)  # leave nothing behind
    report.seconds = time.perf_counter() - started
    return report


def _world(corpus: dict[str, Any], base: Path, policy_set: str) -> World:
    User = get_user_model()
    tenant = Tenant.objects.create(slug=f"redteam-{uuid.uuid4().hex[:8]}", name="Red team (temporary)")
    with tenant_context(tenant):
        owner = User.objects.create(username=f"rt-owner-{uuid.uuid4().hex[:6]}")
        dataset_file = base / corpus["dataset"]
        dataset_create(
            actor=owner,
            slug="calls-demo",
            name="Calls (red team)",
            files={"graph": UploadedFile(dataset_file.name, dataset_file.read_bytes())},
        )
        for v in [corpus["view"], *corpus.get("views", [])]:
            view_create(
                actor=owner,
                slug=v["slug"],
                name=v["slug"],
                dataset_slug="calls-demo",
                fields=v["fields"],
                hops=v["hops"],
                node_filter=v.get("node_filter"),
                edge_filter=v.get("edge_filter"),
            )
        sources = corpus.get("policy_sets", {}).get(policy_set, [corpus["policy"]])
        for n, source in enumerate(sources):
            policy_save_version(actor=owner, slug=f"redteam-{n}", source=(base / source).read_text(), activate=True)
    return World(tenant, owner)


def _user(subject: dict[str, Any], case_id: str) -> Any:
    user = get_user_model().objects.create(username=f"rt-{case_id}-{uuid.uuid4().hex[:4]}")
    for role in subject["roles"]:
        Membership.objects.create(user=user, role=role)
    if subject.get("groups") or subject.get("clearance"):
        SubjectAttributes.objects.create(
            user=user, groups=subject.get("groups", []), clearance=subject.get("clearance", 0)
        )
    return user


def _grant(user: Any, grant: dict[str, Any], dataset_slug: str) -> int:
    """An approved request and its active grant, as the JIT flow would have left them."""
    return hooks.issue_grant(
        user,
        dataset=dataset_slug,
        rule_id=grant["rule_id"],
        data_classes=grant["data_classes"],
        purpose=grant["purpose"],
        reason=grant["reason"],
    )


def _run_case(case: dict[str, Any], world: World) -> CaseOutcome:
    subject = case["subject"]
    user = _user(subject, case["id"])
    dataset = "calls-demo"
    if "dataset_doc" in case:
        dataset = re.sub(r"[^a-z0-9-]", "-", f"rt-{case['id']}")[:60]
        try:
            with transaction.atomic():
                dataset_create(
                    actor=world.owner,
                    slug=dataset,
                    name=dataset,
                    files={"graph": UploadedFile("graph.json", json.dumps(case["dataset_doc"]).encode())},
                )
        except DomainError:
            if case["expect"] == "upload_refused":
                return _outcome(case, "pass", "upload_refused", [])
            return _outcome(case, "false_positive", "upload_refused", [])
    substitutions: dict[str, Any] = {
        f"$grant{i}": _grant(user, g, dataset) for i, g in enumerate(subject.get("grants", []))
    }
    if "other_grant" in case:
        other = _user({"roles": ["analyst"]}, case["id"] + "-other")
        substitutions["$other"] = _grant(other, case["other_grant"], dataset)
    substitutions["$dataset"] = dataset
    steps: list[Step] = []
    for raw in case["steps"]:
        spec = {k: substitutions.get(v, v) if isinstance(v, str) else v for k, v in json.loads(json.dumps(raw)).items()}
        steps.append(_run_step(user, subject, spec))
        if steps[-1].denied and not case.get("continue_after_denial"):
            break
    outcome = _score(case, steps)
    outcome.steps = [_replayable(s.run) for s in steps if s.run is not None and s.run.facts.get("subject")]
    return outcome


def _replayable(run: QueryRun) -> dict[str, Any]:
    classes = run.dataset_version.attribute_classes
    return {"facts": run.facts, "classes": {**classes["nodes"], **classes["edges"]}, "status": run.status}


def corpus_facts(path: Path = DEFAULT_CORPUS) -> list[dict[str, Any]]:
    """Every corpus case with its label and the replayable facts of its steps, computed once
    per corpus content (the corpus run takes tens of seconds; replaying it takes milliseconds)
    and kept under ``var/`` beside the other derived files."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cache = Path(settings.VAR_DIR) / f"redteam-facts-{digest}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    report = run_corpus(path)
    cases = [
        {"id": o.id, "pattern": o.pattern, "expect": o.expect, "class": o.cls, "steps": o.steps}
        for o in report.outcomes
    ]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(cases, default=str))
    tmp.replace(cache)
    return cases


def _run_step(user: Any, subject: dict[str, Any], spec: dict[str, Any]) -> Step:
    try:
        with transaction.atomic():
            return Step(run=query_run_execute(actor=user, roles=frozenset(subject["roles"]), spec=spec))
    except DomainError as exc:
        return Step(refused=exc.code)
    except Exception as exc:  # noqa: BLE001 -- a crash is what a 500 would be: always a finding
        return Step(crashed=f"{type(exc).__name__}: {exc}"[:200])


def _outcome(case: dict[str, Any], verdict: str, got: str, codes: list[str], note: str = "") -> CaseOutcome:
    return CaseOutcome(
        case["id"], case["pattern"], case["expect"], verdict == "pass", verdict, got, codes, case.get("class", ""), note
    )


def _disclosures(step: Step) -> list[str]:
    """What the subject's denial discloses beyond code, limit and "more than the limit": an
    observed value above the limit, or a node id the subject did not name."""
    run = step.run
    if run is None or run.status != QueryRun.Status.DENIED:
        return []
    run = QueryRun.objects.prefetch_related("decisions").get(pk=run.pk)
    body = json.dumps(denial_body(run))
    seeds = set(run.spec.get("seeds", []))
    found = []
    # A number that is also some constraint's limit is the limit being stated, not a leak.
    limits = {v.get("limit") for d in run.decisions.all() for v in d.violations}
    for decision in run.decisions.all():
        for v in decision.violations:
            if "requested_hops" in v.get("witness", {}) or v.get("limit") is None:
                continue  # the subject's own request
            observed = v.get("observed")
            if (
                isinstance(observed, int)
                and observed > v["limit"]
                and observed not in limits
                and re.search(rf"\b{observed}\b", body)
            ):
                found.append(f"observed {observed}")
            witness = v.get("witness", {})
            ids = [witness.get("hub"), *list(witness.get("component_sample", [])), *list(witness.get("path", []))]
            for n in ids:
                if n and n not in seeds and re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", body):
                    found.append(f"node {n}")
    return found


def _score(case: dict[str, Any], steps: list[Step]) -> CaseOutcome:
    last = steps[-1]
    runs = [s.run for s in steps]
    codes = list(last.run.reason_codes) if last.run else [last.refused or last.crashed]
    got = last.run.status if last.run else ("refused" if last.refused else "crashed")
    expect = case["expect"]
    crashed = [s.crashed for s in steps if s.crashed]
    if crashed:  # a crash is never a pass, whatever was expected
        return _outcome(case, "false_positive" if expect == "allow" else "false_negative", "crashed", codes, crashed[0])
    if expect == "allow":
        rows = len(last.run.result["nodes"]) if last.run and last.run.result else 0
        bad = last.denied or rows < case.get("min_rows", 0)
        return _outcome(case, "false_positive" if bad else "pass", got, codes)
    if expect == "reject":
        return _outcome(case, "pass" if all(s.refused for s in steps) else "false_negative", got, codes)
    if expect == "upload_refused":
        return _outcome(case, "false_negative", got, codes, "the ambiguous upload was accepted")
    if expect == "no_leak":
        leaked = any(_leaks(r, case["node"], case["attribute"]) for r in runs)
        return _outcome(case, "false_negative" if leaked else "pass", got, codes)
    if expect == "no_leak_values":
        allowed = set(case["allowed"])
        leaked = any(
            row.get(case["attribute"]) not in allowed
            for r in runs
            if r is not None and r.result
            for row in r.result["nodes"]
        )
        return _outcome(case, "false_negative" if leaked else "pass", got, codes)
    if expect == "no_bucket_inversion":
        inverted = [f for r in runs for f in _bucket_inversions(case, r)]
        return _outcome(case, "false_negative" if inverted else "pass", got, codes, "; ".join(inverted[:3]))
    if expect == "no_count_oracle":
        counted = any(r is not None and isinstance((r.result or {}).get("withheld"), int) for r in runs)
        return _outcome(case, "false_negative" if counted else "pass", got, codes)
    if expect == "no_disclosure":
        if not last.denied:
            return _outcome(case, "false_negative", got, codes, "not denied")
        found = [f for s in steps for f in _disclosures(s)]
        return _outcome(case, "false_negative" if found else "pass", got, codes, "; ".join(found[:3]))
    if not last.denied:
        return _outcome(case, "false_negative", got, codes)
    if case.get("code") and case["code"] not in codes:
        return _outcome(case, "false_negative" if case.get("strict_code") else "mismatch", got, codes)
    return _outcome(case, "pass", got, codes)
