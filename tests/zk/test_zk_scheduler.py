"""The fair scheduler on the real broker Redis: deficit round robin across tenants, leases
that bring a killed worker's job back, idempotent submission, the fairness windows — and a
real Celery worker serving a small tenant while a big one floods."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from apps.core import fairness
from apps.zk_proofs import scheduler
from tests.conftest import require_service, start_worker, tasks_routed_to


def _drain_order() -> list[int]:
    order = []
    while (job := scheduler.pop()) is not None:
        scheduler.ack(job[0])
        order.append(job[2])
    return order


def test_a_small_tenant_is_served_between_a_big_tenants_jobs(sched) -> None:
    for i in range(40):
        scheduler.submit(1, "zk.verify_round2", [1, i], cost=8)
    for i in range(3):
        scheduler.submit(2, "zk.verify_round2", [2, i], cost=8)
    order = _drain_order()
    assert len(order) == 43 and sched["kicks"] == [1] * 43
    small = [i for i, t in enumerate(order) if t == 2]
    assert max(small) < 8, order  # FIFO would have served them last (positions 40-42)


def test_costs_are_shared_by_work_not_by_job_count(sched) -> None:
    """A tenant with big jobs (32 chunk proofs) does not crowd out one with small ones (1)."""
    for i in range(10):
        scheduler.submit(1, "zk.verify_round2", [1, i], cost=32)
    for i in range(64):
        scheduler.submit(2, "zk.verify_round2", [2, i], cost=1)
    served = {1: 0.0, 2: 0.0}
    for _ in range(40):
        job = scheduler.pop()
        assert job is not None
        scheduler.ack(job[0])
        served[job[2]] += 32 if job[2] == 1 else 1
    assert 0.5 < served[1] / served[2] < 2.0, served


def test_a_killed_workers_job_comes_back_after_its_lease(sched, settings) -> None:
    settings.ZK_SCHED_LEASE_SECONDS = 30
    scheduler.submit(1, "zk.verify_round2", [1, 7])
    jid, payload, tenant, attempts = scheduler.pop()
    assert (payload["args"], tenant, attempts) == ([1, 7], 1, 1)
    assert scheduler.pop() is None and scheduler.leased() == 1  # leased, not lost
    sched["now"][0] += 20
    assert scheduler.renew(jid)  # the worker is alive and renews
    sched["now"][0] += 20
    assert scheduler.pop() is None
    sched["now"][0] += 31  # the worker died: no renewals
    again = scheduler.pop()
    assert again is not None and again[0] == jid and again[3] == 2
    assert sched["kicks"] == [1, 1]  # the re-queued job got its drain message
    assert scheduler.ack(jid) and not scheduler.ack(jid)


def test_submission_is_idempotent_and_a_late_duplicate_is_dropped(sched, settings) -> None:
    settings.ZK_SCHED_LEASE_SECONDS = 10
    assert scheduler.submit(1, "zk.verify_round2", [1, 1])
    assert not scheduler.submit(1, "zk.verify_round2", [1, 1])  # already queued
    jid = scheduler.pop()[0]
    sched["now"][0] += 11
    scheduler.submit(2, "zk.verify_round2", [2, 1])
    other = scheduler.pop()  # re-queues the expired lease (tenant 1's job), serves tenant 2
    assert other[2] == 2 and scheduler.leased() == 1
    # ... then the slow worker finishes tenant 1's job after all: done once
    assert scheduler.ack(jid) and scheduler.ack(other[0])
    assert scheduler.pop() is None  # the re-queued copy is dropped, not run twice
    assert not scheduler.submit(1, "zk.verify_round2", [1, 1])  # done: not queued again
    assert [t for t, _ in scheduler.completion_log()] == [1, 2]
    assert scheduler.depths() == {} and scheduler.leased() == 0


def test_windows_report_demand_served_and_gini(sched) -> None:
    for i in range(20):
        scheduler.submit(1, "zk.verify_round2", [1, i], cost=2)
    for i in range(2):
        scheduler.submit(2, "zk.verify_round2", [2, i], cost=2)
    for _ in range(6):
        scheduler.ack(scheduler.pop()[0])
    w = scheduler.recent_windows(0)[0]
    assert w["tenants"][1] == {"demand": 40.0, "served": 8.0}
    assert w["tenants"][2] == {"demand": 4.0, "served": 4.0}
    assert w["active"] == 2 and w["gini"] == 0.0  # both got their max-min fair share
    sched["now"][0] += 60  # the backlog carries into the next window as demand
    scheduler.ack(scheduler.pop()[0])
    nxt = scheduler.recent_windows(0)[0]
    assert nxt["tenants"] == {1: {"demand": 32.0, "served": 2.0}}


def test_fair_gini_sees_a_starved_tenant() -> None:
    # FIFO behind a flood: the small tenant got nothing of its fair share
    assert fairness.fair_gini({"big": 100, "small": 3}, {"big": 53}) == (0.5, 2)
    assert fairness.fair_gini({"big": 100, "small": 3}, {"big": 50, "small": 3}) == (0.0, 2)


@given(st.dictionaries(st.sampled_from("abcdef"), st.floats(0.01, 1e6), min_size=1), st.floats(0, 1e7))
def test_maxmin_shares_never_exceed_demand_or_capacity(demand, capacity) -> None:
    shares = fairness.maxmin_shares(demand, capacity)
    assert all(0 <= shares[t] <= demand[t] + 1e-6 for t in demand)
    assert sum(shares.values()) <= capacity * (1 + 1e-9) + 1e-6
    # nobody below an equal split unless it asked for less
    equal = min(capacity / len(demand), max(demand.values()))
    assert all(shares[t] >= min(demand[t], equal) * (1 - 1e-9) - 1e-6 for t in demand)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_serves_the_small_tenant_before_the_flood_drains(tenant_a, tenant_b) -> None:
    """Jobs for participations that no longer exist: the worker pops, runs and acknowledges
    each (a no-op verification), so the finishing order is the scheduler's order."""
    require_service(settings.CELERY_BROKER_URL.startswith("redis://"), "CELERY_BROKER_URL must point at Redis")
    scheduler.reset()
    queue = f"test-sched-{time.time_ns()}"
    with tasks_routed_to(queue):
        for i in range(30):
            assert scheduler.submit(tenant_a.pk, "zk.verify_round2", [tenant_a.pk, 10_000 + i], cost=4)
        for i in range(3):
            assert scheduler.submit(tenant_b.pk, "zk.verify_round2", [tenant_b.pk, 20_000 + i], cost=4)
        worker = start_worker(queue)
        try:
            deadline = time.monotonic() + 90
            while len(scheduler.completion_log()) < 33 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.communicate(timeout=30)
    order = [t for t, _ in scheduler.completion_log()]
    assert len(order) == 33, order
    small = [i for i, t in enumerate(order) if t == tenant_b.pk]
    assert len(small) == 3 and max(small) < 8, order
    assert scheduler.depths() == {} and scheduler.leased() == 0
    scheduler.reset()
