"""PCQ operations writes: generate fixtures with their goldens, run them (flake detection,
quarantine, release), escalate overdue quarantines, set replay sampling rates.

Every write is one transaction with its audit event; mail goes out after commit through a
Celery task (the same Django SMTP path the JIT outbox and the digests use). ``now`` is the
test clock: services take it so lifetimes and escalation are tested without sleeping."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import DomainError
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant
from apps.graphs.models import Dataset

from . import fixtures, lineage
from .models import FixtureRun, Quarantine, ReplayFixture, ReplaySampling, RunLineage


def _on_commit_task(task: Any, *args: Any) -> None:
    tenant_id = require_current_tenant().pk
    transaction.on_commit(lambda: task.delay(tenant_id, *args))


# --- Fixtures and goldens -------------------------------------------------------------------


def _case(f: ReplayFixture) -> fixtures.Case:
    return fixtures.Case(f.shape, f.size, f.seed, f.metric, f.nondeterministic_step)


def fixture_generate(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    shape: str,
    size: int,
    seed: int,
    metric: str = "pagerank",
    nondeterministic_step: str = "",
    owner: AbstractBaseUser | None = None,
) -> ReplayFixture:
    """Generate a replay case and record its golden (every transform's output digest)."""
    try:
        case = fixtures.Case(shape, size, seed, metric, nondeterministic_step)
    except ValueError as exc:
        raise DomainError(str(exc), code="fixture_invalid") from exc
    if ReplayFixture.objects.filter(name=name).exists():
        raise DomainError(f"A fixture named {name!r} exists.", code="fixture_exists")
    golden = fixtures.run(case)
    with transaction.atomic():
        f = ReplayFixture.objects.create(
            name=name,
            shape=shape,
            size=size,
            seed=seed,
            metric=metric,
            generator_version=fixtures.GENERATOR_VERSION,
            nondeterministic_step=nondeterministic_step,
            golden=golden,
            owner=owner or actor,
        )
        audit_record(
            "pcq_ops.fixture_generated",
            actor=actor,
            target=f,
            payload={"case": [shape, size, seed, metric], "golden": golden["digest"]},
        )
    return f


STANDARD_SET = (
    ("chain-64", "chain", 64, 1, "neighbourhood"),
    ("star-200", "star", 200, 2, "degree"),
    ("grid-400", "grid", 400, 3, "pagerank"),
    ("random-300", "random", 300, 4, "betweenness"),
    ("random-1000", "random", 1000, 5, "communities"),
)


def fixtures_ensure_standard(actor: AbstractBaseUser | None = None) -> list[ReplayFixture]:
    """The standard fixture set (idempotent): small and mid sizes, every shape."""
    have = set(ReplayFixture.objects.values_list("name", flat=True))
    return [
        fixture_generate(actor=actor, name=n, shape=s, size=z, seed=seed, metric=m)
        for n, s, z, seed, m in STANDARD_SET
        if n not in have
    ]


def _fixture_lineage(f: ReplayFixture, varying: str | None = None) -> dict[str, Any]:
    from apps.provenance import attest

    return {
        "code": lineage.code_node(attest.measurement("verifier")),
        "dependency": lineage.dependency_node(),
        "policy": lineage.policy_node([], []),
        "dataset": lineage.dataset_node(
            f"{f.generator_version}/{f.shape}-{f.size}-s{f.seed}", 1, f.golden["steps"]["source"]
        ),
        "transform": lineage.transform_node(list(fixtures.STEPS), varying),
    }


def fixture_run(f: ReplayFixture, *, trigger: str = "command", reruns: int | None = None, now: datetime | None = None):
    """Run one fixture against its golden. A differing run is rerun ``reruns`` times with
    the same inputs and seed: if the reruns disagree with each other the fixture is flaky
    (the first transform whose digest varies is named) and quarantined; if they agree, the
    golden drifted. Either is an anomaly. A quarantined fixture runs and reports, never gates."""
    from . import anomalies

    now = now or timezone.now()
    reruns = settings.TF_PCQ_FLAKE_RERUNS if reruns is None else reruns
    case = _case(f)
    doc = fixtures.generate(case)
    first = fixtures.run(case, doc)["steps"]
    golden = f.golden["steps"]
    outcome, varying, rate, repeats = FixtureRun.Outcome.PASS, None, 0.0, []
    if first != golden:
        repeats = [fixtures.run(case, doc)["steps"] for _ in range(reruns)]
        varying = fixtures.varying_step([first, *repeats])
        if varying:
            outcome = FixtureRun.Outcome.FLAKY
            rate = sum(1 for r in repeats if r != first) / max(len(repeats), 1)
        else:
            outcome = FixtureRun.Outcome.DRIFT
            varying = None
    with transaction.atomic():
        open_q = Quarantine.objects.select_for_update().filter(fixture=f, released_at__isnull=True).first()
        run = FixtureRun.objects.create(
            fixture=f,
            outcome=outcome,
            steps=first,
            reruns=len(repeats),
            flaky_rate=rate,
            varying_step=varying or "",
            gating=open_q is None and outcome != FixtureRun.Outcome.FLAKY,
            trigger=trigger,
            created_at=now,
        )
        current = _fixture_lineage(f, varying)
        RunLineage.objects.create(
            subject=f"fixture:{f.name}",
            good=outcome == FixtureRun.Outcome.PASS,
            lineage=current,
            fixture_run=run,
            created_at=now,
        )
        if outcome == FixtureRun.Outcome.FLAKY:
            if open_q is None:
                quarantine_open(f, step=varying or "", rate=rate, now=now)
            else:
                open_q.clean_runs = 0
                open_q.save(update_fields=["clean_runs"])
        elif open_q is not None and outcome == FixtureRun.Outcome.PASS:
            _count_clean_run(open_q, now)
        if outcome != FixtureRun.Outcome.PASS:
            step = varying or fixtures.first_differing_step(golden, first)
            kind = "flaky" if outcome == FixtureRun.Outcome.FLAKY else "golden_drift"
            text = (
                f"Fixture {f.name} is nondeterministic: the output of `{step}` varies across "
                f"{len(repeats) + 1} runs of the same inputs and seed (flaky rate {rate:.0%})."
                if kind == "flaky"
                else f"Fixture {f.name} drifted from its golden at `{step}` (the same on {len(repeats)} reruns)."
            )
            anomalies.anomaly_record(
                kind=kind,
                message=text,
                fixture=f,
                dataset=f"fixture:{f.name}",
                transform=step or "",
                metric=f.metric,
                current=current,
                subject=f"fixture:{f.name}",
                now=now,
            )
    return run


def fixtures_run_all(*, trigger: str = "command", names: list[str] | None = None, now: datetime | None = None):
    """Run every fixture of the current tenant; the result says what gates."""
    qs = ReplayFixture.objects.all()
    if names:
        qs = qs.filter(name__in=names)
    runs = [fixture_run(f, trigger=trigger, now=now) for f in qs]
    gating_failures = [r.fixture.name for r in runs if r.gating and r.outcome != FixtureRun.Outcome.PASS]
    return {
        "fixtures": len(runs),
        "pass": sum(r.outcome == FixtureRun.Outcome.PASS for r in runs),
        "drift": [r.fixture.name for r in runs if r.outcome == FixtureRun.Outcome.DRIFT],
        "flaky": {r.fixture.name: r.varying_step for r in runs if r.outcome == FixtureRun.Outcome.FLAKY},
        "quarantined": sorted(r.fixture.name for r in runs if not r.gating),
        "gating_failures": gating_failures,
        "ok": not gating_failures,
    }


# --- Quarantine --------------------------------------------------------------------------


def quarantine_open(f: ReplayFixture, *, step: str, rate: float, now: datetime, reason: str = "") -> Quarantine:
    q = Quarantine.objects.create(
        fixture=f,
        owner=f.owner,
        reason=reason or f"flaky: `{step}` output varies across reruns (rate {rate:.0%})",
        varying_step=step,
        flaky_rate=rate,
        opened_at=now,
        deadline_at=now + timedelta(days=settings.TF_PCQ_QUARANTINE_MAX_DAYS),
    )
    audit_record(
        "pcq_ops.quarantine_opened",
        target=q,
        payload={"fixture": f.name, "step": step, "rate": rate, "deadline": q.deadline_at.isoformat()},
    )
    return q


def _count_clean_run(q: Quarantine, now: datetime) -> None:
    q.clean_runs += 1
    fields = ["clean_runs"]
    if q.clean_runs >= settings.TF_PCQ_QUARANTINE_RELEASE_RUNS:
        q.released_at = now
        fields.append("released_at")
        audit_record(
            "pcq_ops.quarantine_released", target=q, payload={"fixture": q.fixture.name, "clean_runs": q.clean_runs}
        )
    q.save(update_fields=fields)


def quarantine_assign(q: Quarantine, *, actor: AbstractBaseUser, owner: AbstractBaseUser, reason: str) -> Quarantine:
    if not reason.strip():
        raise DomainError("A quarantine needs a reason.", code="reason_required")
    with transaction.atomic():
        q.owner, q.reason = owner, reason.strip()
        q.save(update_fields=["owner", "reason"])
        audit_record("pcq_ops.quarantine_assigned", actor=actor, target=q, reason=q.reason, payload={"owner": owner.pk})
    return q


def quarantines_escalate(now: datetime | None = None) -> list[Quarantine]:
    """Quarantines past their deadline are escalated (audited, owner and admins e-mailed),
    once each; they stay in quarantine until K clean runs release them."""
    from .tasks import quarantine_escalation_mail

    now = now or timezone.now()
    escalated = []
    with transaction.atomic():
        due = Quarantine.objects.select_for_update().filter(
            released_at__isnull=True, escalated_at__isnull=True, deadline_at__lte=now
        )
        for q in due:
            q.escalated_at = now
            q.save(update_fields=["escalated_at"])
            audit_record(
                "pcq_ops.quarantine_escalated",
                target=q,
                payload={
                    "fixture": q.fixture.name,
                    "opened": q.opened_at.isoformat(),
                    "deadline": q.deadline_at.isoformat(),
                },
            )
            _on_commit_task(quarantine_escalation_mail, q.pk)
            escalated.append(q)
    return escalated


# --- Sampled production replays ----------------------------------------------------------


def sampling_rate(dataset: Dataset | None) -> float:
    """The dataset's rate, else the tenant's default, else 100%."""
    rows = dict(ReplaySampling.objects.filter(dataset__in=[dataset] if dataset else []).values_list("dataset", "rate"))
    if dataset is not None and dataset.pk in rows:
        return rows[dataset.pk]
    default = ReplaySampling.objects.filter(dataset__isnull=True).values_list("rate", flat=True).first()
    return 1.0 if default is None else default


def sampling_decide(run: Any) -> dict[str, Any]:
    """Whether query run ``run`` is replayed: a deterministic draw from its tenant and id
    (anyone can recompute it) against the configured rate. Recorded in the manifest."""
    rate = sampling_rate(run.dataset_version.dataset)
    h = hashlib.sha256(f"tf-replay-sample:{run.tenant_id}:{run.pk}".encode()).digest()
    draw = int.from_bytes(h[:8], "big") / 2**64
    return {"rate": rate, "draw": round(draw, 6), "replayed": rate >= 1.0 or draw < rate}


def sampling_parse(text: str) -> float:
    """A rate typed on the page: ``0.1`` or ``10%``. Refused with a sentence otherwise."""
    raw = (text or "").strip()
    try:
        rate = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        rate = float("nan")
    return _sampling_check(rate, raw)


def _sampling_check(rate: Any, shown: Any = None) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise DomainError(
            "The replay rate must be a number above 0 and at most 1 (for example 0.1 or 10%): "
            "a rate of 0 would replay nothing, and auditors would lose every replay.",
            code="validation_error",
            details={"rate": shown if shown is not None else rate},
        )
    return float(rate)


def sampling_set(*, actor: AbstractBaseUser, rate: float, dataset: Dataset | None = None) -> ReplaySampling:
    """Set the replay rate (0 < rate <= 1) of the tenant (no dataset) or of one dataset; audited."""
    _sampling_check(rate)
    with transaction.atomic():
        row, _ = ReplaySampling.objects.update_or_create(
            dataset=dataset, defaults={"rate": float(rate), "updated_at": timezone.now()}
        )
        audit_record(
            "pcq_ops.sampling_set",
            actor=actor,
            target=row,
            payload={"dataset": dataset.slug if dataset else None, "rate": float(rate)},
        )
    return row


def sampling_clear(*, actor: AbstractBaseUser, dataset: Dataset | None) -> bool:
    """Drop a dataset's own rate (it follows the tenant's again) or the tenant's (back to
    100%); audited. False when there was none."""
    with transaction.atomic():
        row = ReplaySampling.objects.select_for_update().filter(dataset=dataset).first()
        if row is None:
            return False
        audit_record(
            "pcq_ops.sampling_cleared",
            actor=actor,
            target=row,
            payload={"dataset": dataset.slug if dataset else None, "rate": row.rate},
        )
        row.delete()
    return True
