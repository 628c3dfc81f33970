"""The chunk-verification pool (no Django: pool processes import only this and the zk kit): one job = one chunk's batched DLEQ check.

Pool processes come from a ``forkserver`` context, never a plain ``fork`` of the caller: a
forked child inherits every file descriptor of the process that started it (a web server's
sockets, a browser driver's pipes), keeps them open for the life of the pool, and so keeps the
other end from ever seeing EOF. The fork server is a fresh interpreter that receives only the
descriptors multiprocessing passes it, and the job function lives here, importable without
Django, so a pool process needs nothing but this kit."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from .zk import fast, v2

Job = tuple[bytes, bytes, bytes, bytes, dict[str, str], str, int, str]


def verify_chunk(job: Job) -> bool:
    """One chunk: parse the stored points (64-byte X‖Y), verify the chunk-bound batched DLEQ."""
    key, other_key, u_raw, v_raw, proof, session, index, role = job
    try:
        return v2.verify_dleq_fast(
            key,
            other_key,
            fast.Points.from_raw(u_raw),
            fast.Points.from_raw(v_raw),
            v2.Proof.from_dict(proof),
            session,
            index,
            role,
        )
    except ValueError:
        return False


def executor(processes: int, *, kind: str = "processes") -> Executor:
    """A process pool on the fork server; a thread pool when asked, or inside a daemonic process
    (Celery's prefork children may not start processes) — cffi releases the GIL in every
    libsecp256k1 call, so chunks still verify in parallel there (measured in make bench-zk)."""
    if kind == "threads" or multiprocessing.current_process().daemon:
        return ThreadPoolExecutor(max_workers=processes, thread_name_prefix="zk-chunks")
    return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("forkserver"))
