"""The transparency log's append path: single and batched appends build exactly the RFC 9162
tree, and several processes appending at once on PostgreSQL lose and duplicate nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.crypto import checkpoint, merkle
from apps.core.keys import signer
from apps.provenance.log_append import LogCorrupted, frontier, log_append, log_append_many
from apps.provenance.models import LogCheckpoint, LogLeaf, LogNode
from tests.conftest import ROOT, _database_url, require_service, tamper


def _stored_tree_matches(expected: merkle.MemoryTree) -> None:
    """Leaves, every stored subtree and every checkpoint agree with an in-memory tree."""
    leaves = list(LogLeaf.objects.order_by("index").values_list("index", "leaf_hash"))
    assert [i for i, _ in leaves] == list(range(expected.size))
    assert [h for _, h in leaves] == [expected.get(0, i).hex() for i in range(expected.size)]
    stored = {(n.level, n.position): n.hash for n in LogNode.objects.all()}
    assert stored == {key: h.hex() for key, h in expected.nodes.items()}
    for cp in LogCheckpoint.objects.all():
        parsed = checkpoint.parse_and_verify(cp.note, signer("log").public)
        assert parsed.size == cp.size and parsed.root == expected.root(cp.size)


def test_frontier_is_the_binary_decomposition_of_the_size() -> None:
    assert frontier(0) == []
    assert frontier(1) == [(0, 0)]
    assert frontier(6) == [(2, 0), (1, 2)]
    assert frontier(13) == [(3, 0), (2, 2), (0, 12)]


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=8))
def test_single_and_batched_appends_build_the_same_tree_as_rfc9162(batches: list[int]) -> None:
    with transaction.atomic():
        expected = merkle.MemoryTree()
        counter = 0
        for size in batches:
            items = [b"leaf-%d" % (counter + i) for i in range(size)]
            counter += size
            indexes = log_append_many(items) if size > 1 else [log_append(items[0])]
            assert indexes == [expected.append(item) for item in items]
        _stored_tree_matches(expected)
        # One checkpoint per call, at the size after it.
        assert sorted(LogCheckpoint.objects.values_list("size", flat=True)) == [
            sum(batches[: i + 1]) for i in range(len(batches))
        ]
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_missing_frontier_subtree_stops_the_append() -> None:
    for i in range(3):
        log_append(b"x%d" % i)
    tamper("DELETE FROM provenance_lognode WHERE level = 1 AND position = 0", [], "provenance_lognode")
    with pytest.raises(LogCorrupted), transaction.atomic():
        log_append(b"x3")
    assert LogLeaf.objects.count() == 3


APPENDER = textwrap.dedent(
    """
    import sys, django
    django.setup()
    from django.db import transaction
    from apps.provenance.log_append import log_append, log_append_many
    worker, rounds = int(sys.argv[1]), int(sys.argv[2])
    for r in range(rounds):
        if r % 3 == 2:  # every third round a batch of three, like a worker with several ready
            log_append_many([b"w%d-r%d-b%d" % (worker, r, b) for b in range(3)])
        else:
            with transaction.atomic():
                log_append(b"w%d-r%d" % (worker, r))
    """
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_in_separate_processes_keep_the_tree_consistent() -> None:
    require_service(connection.vendor == "postgresql", "concurrent appends are checked on PostgreSQL")
    workers, rounds = 4, 30
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "trustfabric.settings"}
    env["PYTHONPATH"] = str(ROOT)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(w), str(rounds)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w in range(workers)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    expected_items = set()
    for w in range(workers):
        for r in range(rounds):
            if r % 3 == 2:
                expected_items |= {b"w%d-r%d-b%d" % (w, r, b) for b in range(3)}
            else:
                expected_items.add(b"w%d-r%d" % (w, r))
    stored = list(LogLeaf.objects.order_by("index").values_list("leaf_hash", flat=True))
    # No leaf lost, none duplicated, no gap in the indexes.
    assert len(stored) == len(expected_items) == len(set(stored))
    assert set(stored) == {merkle.leaf_hash(item).hex() for item in expected_items}
    # Rebuild the tree from the stored leaf order: every subtree and checkpoint agrees.
    expected = merkle.MemoryTree()
    for leaf_hash in stored:
        index = expected.size
        for lv, pos, h in merkle.nodes_completed_by(index, expected.get, bytes.fromhex(leaf_hash)):
            expected.nodes[(lv, pos)] = h
        expected.size += 1
    _stored_tree_matches(expected)
    sizes = list(LogCheckpoint.objects.order_by("size").values_list("size", flat=True))
    assert sizes[-1] == len(stored) and len(sizes) == len(set(sizes))
