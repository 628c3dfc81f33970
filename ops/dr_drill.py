"""make dr-drill: a measured regional failover of Trust Fabric's PostgreSQL on loopback.

Region A (primary) and region B (streaming replica, pg_basebackup -R) are two clusters this
script creates with Debian's PostgreSQL 15 binaries, each with its own port and data
directory under a temporary folder. The app is migrated and seeded on A; `manage.py
dr_agent load` writes through the real services with a connection listing both regions
(DATABASE_FAILOVER_HOSTS: libpq target_session_attrs=read-write). Then the drill kills A (SIGKILL to the postmaster
and every backend: a lost region, not a clean shutdown), detects it with a probe (two
failed connects 0.5 s apart), promotes B, and waits for the app's first acknowledged
write on B. Afterwards `dr_agent verify` checks B: acknowledged writes lost, audit chains,
the transparency log against the last signed checkpoint the app saw (consistency proof),
and every manifest. Prints one JSON object; exit 1 if an aim or an integrity check fails.

    python ops/dr_drill.py [--warmup 10] [--after 5] [--sync] [--keep]

RTO = first acknowledged write after the kill - last acknowledged write before it.
RPO = writes acknowledged before the kill and missing on B, and how old the oldest one was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
AIM_RTO_S, AIM_RPO_S = 60.0, 5.0


def pg_bin() -> Path:
    explicit = os.environ.get("TF_PG_BIN")
    if explicit:
        return Path(explicit)
    for version in ("15", "16", "17"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin")
        if (candidate / "initdb").exists():
            return candidate
    raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql-15, or set TF_PG_BIN)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL cluster run as the postgres user when we are root (initdb refuses root)."""

    def __init__(self, name: str, base: Path, port: int) -> None:
        self.name, self.base, self.port = name, base, port
        self.data = base / name
        self.log = base / f"{name}.log"
        self.bin = pg_bin()

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.base)

    def configure(self, extra: dict[str, str]) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "wal_keep_size": "'128MB'",
            "fsync": "on",
            **extra,
        }
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write("\n# dr-drill\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))

    def initdb(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster and all its children at once: the region is gone."""
        pid = self.postmaster_pid()
        children = [
            int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        ]
        for p in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def url(self, db: str = "trustfabric") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"


def probe(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1) as c:
            c.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def sql(port: int, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        cur = c.execute(query)
        return list(cur.fetchall()) if cur.description else []


def manage(
    *args: str, db_url: str, env_extra: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")}
    env.update({"DATABASE_URL": db_url, "TF_REQUIRE_SERVICES": "0", **(env_extra or {})})
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, **kw)


def drill(warmup: float, after: float, sync: bool, keep: bool) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="tf-dr-"))
    if os.geteuid() == 0:  # the clusters run as postgres, which writes its data dirs and sockets here
        shutil.chown(base, "postgres")
    a, b = Cluster("region-a", base, free_port()), Cluster("region-b", base, free_port())
    timings: dict[str, float] = {}
    result: dict[str, Any] = {
        "drill": "dr",
        "regions": {"A": a.port, "B": b.port},
        "replication": "sync" if sync else "async",
    }
    load = None
    try:
        t0 = time.monotonic()
        a.initdb()
        a.configure({})
        a.start()
        sql(a.port, "CREATE DATABASE trustfabric")
        step = manage("migrate", "--noinput", "-v0", db_url=a.url())
        if step.returncode:
            raise RuntimeError(f"migrate failed: {step.stderr[-2000:]}")
        step = manage("seed_demo", db_url=a.url())
        if step.returncode:
            raise RuntimeError(f"seed_demo failed: {step.stderr[-2000:]}")
        timings["setup_primary_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        a.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(a.port), "-U", "postgres", "-D", str(b.data), "-R",
              "-X", "stream", "-c", "fast")  # fmt: skip
        b.configure({})
        # pg_basebackup -R wrote primary_conninfo to postgresql.auto.conf, which wins over
        # postgresql.conf: name the standby there, or synchronous_standby_names never matches.
        with (b.data / "postgresql.auto.conf").open("a") as fh:
            fh.write(f"primary_conninfo = 'host=127.0.0.1 port={a.port} user=postgres application_name=region_b'\n")
        b.start()
        for _ in range(100):
            if sql(
                a.port,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = 'region_b'",
            )[0][0]:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the replica never started streaming")
        if sync:  # only now: with no standby yet, every commit on A would wait forever
            sql(a.port, "ALTER SYSTEM SET synchronous_standby_names = 'region_b'")
            sql(a.port, "SELECT pg_reload_conf()")
        timings["setup_replica_s"] = time.monotonic() - t1

        acks, stop = base / "acks.jsonl", base / "stop"
        hosts = f"127.0.0.1:{a.port},127.0.0.1:{b.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")}
        # The app's own failover setting (trustfabric/settings.py), as production would set it.
        env.update({"DATABASE_URL": a.url(), "TF_REQUIRE_SERVICES": "0", "DATABASE_FAILOVER_HOSTS": hosts,
                    "DATABASE_CONN_MAX_AGE": "0"})  # fmt: skip
        load = subprocess.Popen(
            [PY, "manage.py", "dr_agent", "load", "--acks", str(acks), "--stop-file", str(stop)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(warmup)
        lag = sql(a.port, "SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0), "
                          "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication")  # fmt: skip
        result["replication_at_kill"] = (
            {"replay_lag_s": float(lag[0][0]), "bytes_behind": int(lag[0][1])} if lag else None
        )

        a.kill()
        kill_time = time.time()
        failures = 0
        while failures < 2:
            failures = failures + 1 if not probe(a.port) else 0
            time.sleep(0.5)
        detected = time.time()
        b.run("pg_ctl", "-D", str(b.data), "-w", "-t", "60", "promote")
        promoted = time.time()

        first_after = None
        deadline = time.time() + 120
        while time.time() < deadline and first_after is None:
            for line in acks.read_text().splitlines():
                ack = json.loads(line)
                if ack["kind"] != "error" and ack["t"] > kill_time:
                    first_after = ack["t"]
                    break
            time.sleep(0.2)
        time.sleep(after)
        stop.touch()
        out, err = load.communicate(timeout=120)
        load = None

        lines = [json.loads(x) for x in acks.read_text().splitlines()]
        ok_before = [x["t"] for x in lines if x["kind"] != "error" and x["t"] < kill_time]
        ok_after = [x for x in lines if x["kind"] != "error" and x["t"] > kill_time]
        last_before = max(ok_before) if ok_before else kill_time
        check = manage("dr_agent", "verify", "--acks", str(acks), "--kill-time", str(kill_time), db_url=b.url())
        if check.returncode:
            raise RuntimeError(f"verify failed: {check.stderr[-2000:]}")
        integrity = json.loads(check.stdout.strip().splitlines()[-1])
        rto = (first_after - last_before) if first_after else None
        rpo_s = (kill_time - integrity["oldest_missing_t"]) if integrity["oldest_missing_t"] else 0.0
        result.update({
            "load": json.loads(out.strip().splitlines()[-1]) if out.strip() else {"stderr": err[-500:]},
            "writes_acknowledged_before_kill": len(ok_before),
            "writes_acknowledged_after_failover": len(ok_after),
            "detection_s": round(detected - kill_time, 3),
            "promotion_s": round(promoted - detected, 3),
            "rto_s": round(rto, 3) if rto is not None else None,
            "rpo_writes_lost": integrity["missing_after_failover"],
            "rpo_s": round(rpo_s, 3),
            "integrity": {k: integrity[k] for k in ("audit_chains_ok", "log_ok", "manifests_ok")},
            "integrity_detail": {k: integrity[k] for k in ("audit_chains", "log", "manifests_checked", "manifests_bad")},
            "setup": {k: round(v, 2) for k, v in timings.items()},
            "aims": {"rto_s": AIM_RTO_S, "rpo_s": AIM_RPO_S},
        })  # fmt: skip
        if not ok_before:
            result["problem"] = "no write was acknowledged before the kill: RTO and RPO are not measured"
        result["ok"] = bool(
            ok_before
            and rto is not None
            and rto < AIM_RTO_S
            and rpo_s < AIM_RPO_S
            and all(result["integrity"].values())
        )
        return result
    finally:
        if load is not None:
            load.kill()
        a.stop()
        b.stop()
        if keep:
            result["kept"] = str(base)
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="Measured PostgreSQL failover drill (JSON).")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of load before the kill")
    p.add_argument("--after", type=float, default=5.0, help="seconds of load on B after the failover")
    p.add_argument("--sync", action="store_true", help="synchronous replication (RPO 0 by construction)")
    p.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    args = p.parse_args(argv)
    result = drill(args.warmup, args.after, args.sync, args.keep)
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
