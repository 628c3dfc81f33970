"""Replay fixtures and goldens, flake detection naming the nondeterministic transform,
auto-quarantine driven by the test clock, release after K clean runs, the weekly report."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.pcq_ops import fixtures, selectors, services, tasks
from apps.pcq_ops.models import Anomaly, FixtureRun, Quarantine, ReplayFixture
from tests.conftest import member
from tests.jit.conftest import smtp  # noqa: F401  (the aiosmtpd fixture)

pytestmark = pytest.mark.django_db


def test_generator_is_seeded_and_pinned() -> None:
    a = fixtures.generate(fixtures.Case("random", 200, 9))
    assert a == fixtures.generate(fixtures.Case("random", 200, 9))
    assert a != fixtures.generate(fixtures.Case("random", 200, 10))
    assert len(a["nodes"]) == 200
    run1, run2 = fixtures.run(fixtures.Case("grid", 100, 3)), fixtures.run(fixtures.Case("grid", 100, 3))
    assert run1 == run2 and set(run1["steps"]) == set(fixtures.STEPS)


def test_pcq_fixtures_command_generates_and_runs_the_standard_set(tenant_a) -> None:
    call_command("pcq_fixtures", "generate", "--standard", "--tenant", tenant_a.slug, stdout=StringIO())
    out = StringIO()
    call_command("pcq_fixtures", "run", "--tenant", tenant_a.slug, stdout=out)
    result = json.loads(out.getvalue())[tenant_a.slug]
    assert result["ok"] and result["pass"] == len(services.STANDARD_SET) == result["fixtures"]


def test_a_drifted_golden_fails_the_run_and_names_the_step(tenant_a) -> None:
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="g", shape="chain", size=30, seed=1, metric="degree")
        golden = dict(f.golden)
        golden["steps"] = {**golden["steps"], "metric": "0" * 64}
        ReplayFixture.objects.filter(pk=f.pk).update(golden=golden)
    with pytest.raises(CommandError):
        call_command("pcq_fixtures", "run", "--tenant", tenant_a.slug, stdout=StringIO())
    with tenant_context(tenant_a):
        run = FixtureRun.objects.get()
        assert run.outcome == "drift" and run.gating
        a = Anomaly.objects.get()
        assert a.kind == "golden_drift" and a.transform == "metric"


def test_flake_detector_names_the_nondeterministic_step_and_quarantines(tenant_a, admin_a, smtp) -> None:  # noqa: F811
    admin_a.email = "admin@a.test"
    admin_a.save()
    owner = member(tenant_a, "fixture-owner", Role.POLICY_AUTHOR)
    owner.email = "owner@a.test"
    owner.save()
    t0 = timezone.now()
    with tenant_context(tenant_a):
        f = services.fixture_generate(
            actor=admin_a, name="noisy", shape="random", size=80, seed=2, metric="pagerank",
            nondeterministic_step="rank", owner=owner,
        )  # fmt: skip
        run = services.fixture_run(f, reruns=4, now=t0)
        assert run.outcome == "flaky" and run.varying_step == "rank" and run.flaky_rate == 1.0
        assert not run.gating  # a flaky fixture never gates
        q = Quarantine.objects.get(fixture=f)
        assert q.owner == owner and "rank" in q.reason and q.released_at is None
        assert Anomaly.objects.get().root == "nondeterministic transform rank"
        # It keeps running and reporting while quarantined, and its result does not gate.
        assert services.fixtures_run_all(now=t0 + timedelta(hours=1))["ok"]
        # The test clock: before the deadline nothing happens; after it, one escalation.
        assert services.quarantines_escalate(now=t0 + timedelta(days=13)) == []
        assert len(services.quarantines_escalate(now=t0 + timedelta(days=15))) == 1
        assert services.quarantines_escalate(now=t0 + timedelta(days=16)) == []
        q.refresh_from_db()
        assert q.escalated_at is not None and q.released_at is None  # escalated, never lapsed
        assert AuditEvent.objects.filter(action="pcq_ops.quarantine_escalated").count() == 1
        tasks.quarantine_escalation_mail(tenant_a.pk, q.pk)
        report = selectors.fixture_report(now=t0 + timedelta(days=2))
        assert report["flaky_rate"] == 1.0 and [e["fixture"] for e in report["queue"]] == ["noisy"]
        assert "noisy" in selectors.fixture_report_csv(report)
        tasks.weekly_report_mail(tenant_a.pk)
    overdue = [m for m in smtp.messages if "overdue" in m["Subject"]]
    assert overdue and "owner@a.test" in overdue[0]["To"]
    weekly = next(m for m in smtp.messages if "Weekly replay fixture report" in m["Subject"])
    assert "owner@a.test" in weekly["To"] and "admin@a.test" in weekly["To"]
    body = weekly.as_string()
    assert "fixture-quarantine.csv" in body and "Flaky rate: 100.0% (target 0%)" in body


def test_release_after_k_clean_runs(tenant_a, settings) -> None:
    settings.TF_PCQ_QUARANTINE_RELEASE_RUNS = 3
    t0 = timezone.now()
    with tenant_context(tenant_a):
        f = services.fixture_generate(actor=None, name="fixed", shape="star", size=40, seed=1, metric="degree")
        # A transform turns nondeterministic after the golden was recorded.
        ReplayFixture.objects.filter(pk=f.pk).update(nondeterministic_step="metric")
        f.refresh_from_db()
        assert services.fixture_run(f, reruns=3, now=t0).varying_step == "metric"
        q = Quarantine.objects.get(fixture=f)
        # The fix: the step is deterministic again.
        ReplayFixture.objects.filter(pk=f.pk).update(nondeterministic_step="")
        f.refresh_from_db()
        for i in range(2):
            assert services.fixture_run(f, now=t0 + timedelta(hours=i + 1)).outcome == "pass"
            q.refresh_from_db()
            assert q.released_at is None
        services.fixture_run(f, now=t0 + timedelta(hours=5))
        q.refresh_from_db()
        assert q.released_at is not None and q.clean_runs == 3
        assert services.fixture_run(f, now=t0 + timedelta(hours=6)).gating


def test_fixtures_task_from_beat_runs_every_tenant(tenant_a, tenant_b) -> None:
    from trustfabric.celery import app

    assert app.conf.beat_schedule["pcq-fixtures-nightly"]["task"] == "pcq_ops.fixtures_run_all"
    for t in (tenant_a, tenant_b):
        with tenant_context(t):
            services.fixture_generate(actor=None, name="c", shape="chain", size=20, seed=1, metric="degree")
    assert tasks.fixtures_run_all.delay().get() == {"agency-a": True, "agency-b": True}
    with tenant_context(tenant_b):
        assert FixtureRun.objects.filter(trigger="schedule").count() == 1
