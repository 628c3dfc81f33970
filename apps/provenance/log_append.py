"""The transparency log's append path: leaves, their completed subtrees and one signed
checkpoint per append (or per batch), in a handful of statements whatever the tree size.

Appends are serialised by a transaction-scoped advisory lock on PostgreSQL (SQLite's
``IMMEDIATE`` transactions serialise writers already); the unique indexes on the leaf index
and on (level, position) back that up, so two appenders that somehow raced would fail
rather than fork the tree. Everything else an append needs is the tree's *right frontier*:
the perfect subtrees of the binary decomposition of the current size (at most log2 n
stored hashes, read in one query). From the frontier alone we compute every subtree the new
leaves complete and the new root — no recursion over stored nodes, no per-level queries.

Cost per call (PostgreSQL): lock, size, frontier, three bulk inserts; a batch of k leaves
costs the same statements plus one signature, which is why verification workers hand in
every envelope they have ready (:func:`log_append_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.crypto import checkpoint, merkle
from apps.core.keys import signer

from .models import LogCheckpoint, LogLeaf, LogNode

LOG_LOCK_KEY = 727274


class LogCorrupted(RuntimeError):
    """A subtree the append needs is missing from storage: refuse to extend a broken tree."""


def frontier(size: int) -> list[tuple[int, int]]:
    """(level, position) of the perfect subtrees whose concatenation is leaves [0, size),
    largest first."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOG_LOCK_KEY])


def log_size() -> int:
    last = LogLeaf.objects.order_by("-index").values_list("index", flat=True).first()
    return 0 if last is None else last + 1


def _read_frontier(size: int) -> dict[tuple[int, int], bytes]:
    wanted = frontier(size)
    if not wanted:
        return {}
    rows = LogNode.objects.filter(reduce(or_, (Q(level=lv, position=pos) for lv, pos in wanted)))
    nodes = {(lv, pos): bytes.fromhex(h) for lv, pos, h in rows.values_list("level", "position", "hash")}
    missing = [key for key in wanted if key not in nodes]
    if missing:
        raise LogCorrupted(f"the log's stored subtree(s) {missing} are missing; not appending to a broken tree")
    return nodes


# Size and frontier in one round trip: for every set bit L of the size n, the frontier
# subtree at level L sits at position (n >> L) - 1. Runs after the lock, in its own
# statement, so its snapshot sees every append committed before we got the lock.
_PG_SIZE_AND_FRONTIER = """
WITH s AS (SELECT COALESCE(MAX("index") + 1, 0) AS n FROM {leaf})
SELECT s.n, lv.l, ln.position, ln.hash
FROM s
LEFT JOIN generate_series(0, 62) AS lv(l) ON (s.n >> lv.l) & 1 = 1
LEFT JOIN {node} ln ON ln.level = lv.l AND ln.position = (s.n >> lv.l) - 1
"""


def _size_and_frontier() -> tuple[int, dict[tuple[int, int], bytes]]:
    if connection.vendor != "postgresql":
        size = log_size()
        return size, _read_frontier(size)
    sql = _PG_SIZE_AND_FRONTIER.format(leaf=LogLeaf._meta.db_table, node=LogNode._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    size = rows[0][0]
    nodes = {(level, pos): bytes.fromhex(h) for _, level, pos, h in rows if h is not None}
    missing = [key for key in frontier(size) if key not in nodes]
    if missing:
        raise LogCorrupted(f"the log's stored subtree(s) {missing} are missing; not appending to a broken tree")
    return size, nodes


def _insert(leaves: list[LogLeaf], new_nodes: list[LogNode], cp: LogCheckpoint) -> None:
    """The three inserts; on PostgreSQL in one round trip (the append-only triggers only
    fire on UPDATE and DELETE, so nothing is bypassed)."""
    if connection.vendor != "postgresql":
        LogLeaf.objects.bulk_create(leaves)
        LogNode.objects.bulk_create(new_nodes)
        cp.save()
        return
    leaf_t, node_t, cp_t = LogLeaf._meta.db_table, LogNode._meta.db_table, LogCheckpoint._meta.db_table
    params: list[object] = []
    for leaf in leaves:
        params += [leaf.index, leaf.leaf_hash, leaf.data, leaf.created_at]
    for node in new_nodes:
        params += [node.level, node.position, node.hash]
    params += [cp.size, cp.root_hash, cp.note, cp.created_at]
    # Table names from our own models and placeholders only; every value is a parameter.
    leaf_rows, node_rows = ", ".join(["(%s, %s, %s, %s)"] * len(leaves)), ", ".join(["(%s, %s, %s)"] * len(new_nodes))
    sql = (
        f'INSERT INTO {leaf_t} ("index", leaf_hash, data, created_at) VALUES {leaf_rows}; '  # noqa: S608
        f"INSERT INTO {node_t} (level, position, hash) VALUES {node_rows}; "
        f"INSERT INTO {cp_t} (size, root_hash, note, created_at) VALUES (%s, %s, %s, %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def log_append_many(items: Sequence[bytes], *, keep: bool = False) -> list[int]:
    """Append ``items`` as consecutive leaves; one signed checkpoint covers the batch.
    Returns their indexes. Runs in (or opens) a transaction; the lock is held to its end.
    ``keep``: store each item (UTF-8 text) with its leaf, so the log alone says what it holds."""
    if not items:
        return []
    # No savepoint inside a caller's transaction: one statement fewer per append, and a
    # failure here must roll the caller back anyway (its entry names the leaf index).
    with transaction.atomic(savepoint=False):
        _lock()
        size, nodes = _size_and_frontier()
        now = timezone.now()
        leaves, new_nodes = [], []

        def get(level: int, position: int) -> bytes:
            return nodes[(level, position)]

        for offset, data in enumerate(items):
            index = size + offset
            completed = merkle.nodes_completed_by(index, get, merkle.leaf_hash(data))
            text = data.decode("utf-8") if keep else ""
            leaves.append(LogLeaf(index=index, leaf_hash=completed[0][2].hex(), data=text, created_at=now))
            for lv, pos, h in completed:
                nodes[(lv, pos)] = h
                new_nodes.append(LogNode(level=lv, position=pos, hash=h.hex()))
        new_size = size + len(items)
        root = merkle.subtree_root(get, 0, new_size)
        note = checkpoint.sign(new_size, root, signer("log"))
        _insert(leaves, new_nodes, LogCheckpoint(size=new_size, root_hash=root.hex(), note=note, created_at=now))
    return [leaf.index for leaf in leaves]


def log_append(data: bytes, *, keep: bool = False) -> int:
    """Append one leaf (see :func:`log_append_many`); returns its index."""
    return log_append_many([data], keep=keep)[0]
