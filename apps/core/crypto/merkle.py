"""RFC 9162 Merkle trees: leaf and node hashing, tree heads, inclusion and consistency
proofs, and their verification.

Storage-agnostic: proofs are computed from ``NodeStore.get(level, index)``, the hash of the
perfect subtree of 2**level leaves starting at leaf ``index * 2**level``. Those subtrees are
written once, when their last leaf is appended (``nodes_completed_by``), so a proof needs
O(log n) stored hashes plus O(log n) hashing for the tree's ragged right edge. RFC 9162's
recursion only ever asks for left subtrees that are perfect and aligned, which is what makes
this work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(hashes: list[bytes]) -> bytes:
    """RFC 9162 MTH over ready leaf hashes (bottom-up, carrying the odd node up)."""
    if not hashes:
        return EMPTY_ROOT
    level = hashes
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


GetNode = Callable[[int, int], bytes]


def subtree_root(get: GetNode, start: int, end: int) -> bytes:
    """MTH of leaves [start, end)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return get(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_root(get, start, start + k), subtree_root(get, start + k, end))


def inclusion_proof(get: GetNode, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, start + k), subtree_root(get, start + k, end)]
        return [*path(m - k, start + k, end), subtree_root(get, start, start + k)]

    return path(index, 0, size)


def consistency_proof(get: GetNode, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n])."""
    if not 0 < old_size <= new_size:
        raise ValueError("need 0 < old_size <= new_size")

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree_root(get, start, end)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), subtree_root(get, start + k, end)]
        return [*subproof(m - k, start + k, end, False), subtree_root(get, start, start + k)]

    return subproof(old_size, 0, new_size, True) if old_size < new_size else []


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root the proof implies, for comparison with a signed head."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof is too short")
    return r


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size == new_size:
        return old_root == new_root and not proof
    if not 0 < old_size < new_size or not proof:
        return False
    if old_size & (old_size - 1) == 0:
        proof = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def nodes_completed_by(index: int, get: GetNode, new_leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Perfect subtrees that leaf ``index`` completes: (level, position, hash), level 0 first."""
    out = [(0, index, new_leaf)]
    level, position, current = 0, index, new_leaf
    while position & 1:
        sibling = get(level, position - 1)
        current = node_hash(sibling, current)
        level, position = level + 1, position >> 1
        out.append((level, position, current))
    return out


@dataclass
class MemoryTree:
    """An in-memory log, for tests, benchmarks and the offline verifier."""

    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    size: int = 0

    def get(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def append(self, data: bytes) -> int:
        index = self.size
        for level, position, h in nodes_completed_by(index, self.get, leaf_hash(data)):
            self.nodes[(level, position)] = h
        self.size += 1
        return index

    def root(self, size: int | None = None) -> bytes:
        return subtree_root(self.get, 0, self.size if size is None else size)
