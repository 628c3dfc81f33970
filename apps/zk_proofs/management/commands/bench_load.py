"""make bench-load: the ZK-TX request mix over HTTP against gunicorn + a Celery worker +
PostgreSQL + a private Redis, several tenants, one flooding at 10× its share (docs/zk-tx.md,
"Load generator"). Prints JSON and writes it, with a PNG, to var/."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.core.bench import ROOT, ProfileError, machine_speed, require_production
from apps.core.models import AuditEvent, Membership, Role, Tenant
from apps.core.services import api_token_create
from apps.core.tenancy import tenant_context
from apps.zk_proofs.client import tenant_key_public
from apps.zk_proofs.cost import measure
from apps.zk_proofs.loadstack import Stack
from apps.zk_proofs.models import Participation, PilotAgreement, PilotSettings
from apps.zk_proofs.quotas import SETTINGS_TTL
from apps.zk_proofs.tenant_keys import tenant_key_register


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        raise CommandError(f"--duration {text!r}: use e.g. 10s, 2m or 45m")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def seed(tenants: int, flood: float, rate: float) -> list[dict[str, Any]]:
    """Tenants lt-0 … lt-N-1 in pairs (0-1, 2-3, …), pilots on for their partner, one fresh
    API token and long-term key each per run. The last tenant floods at ``flood`` × the
    others' share (its quota is set by ``run_quotas`` after the warm-up)."""
    weights = [1.0] * (tenants - 1) + [flood]
    User = get_user_model()
    out = []
    for i in range(tenants):
        slug, partner = f"lt-{i}", f"lt-{i ^ 1}"
        tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": f"Load tenant {i}"})
        user, _ = User.objects.get_or_create(username=f"lt-{i}-partner")
        with tenant_context(tenant):
            for role in (Role.PARTNER, Role.ADMIN):
                Membership.objects.get_or_create(tenant=tenant, user=user, role=role)
            quota = 1000  # during the warm-up; run_quotas() sets the run's
            PilotSettings.objects.update_or_create(
                defaults={
                    "enabled": True,
                    "partners": [partner],
                    "selector_types": ["phone"],
                    "disclosure_modes": ["verdict", "verdict_and_count"],
                    "min_set_size": 100,
                    "k_floor": 5,
                    "count_min_k": 5,
                    "count_releases_per_pair_per_day": 1_000_000,
                    "requests_per_second": quota,
                    "requests_burst": 2 * quota,
                    "pair_requests_per_second": 100_000,
                    "sessions_per_day": 10_000_000,
                    "sessions_per_pair_per_day": 10_000_000,
                    "proofs_per_day": 100_000_000,
                }
            )
            if not PilotAgreement.objects.filter(partner=partner).exists():
                PilotAgreement.objects.create(
                    partner=partner,
                    scope="Load benchmark",
                    starts_on=timezone.now().date() - timedelta(days=1),
                    ends_on=timezone.now().date() + timedelta(days=365),
                    signatories=["bench"],
                    recorded_by=user,
                )
            key = Ed25519PrivateKey.generate()
            tenant_key_register(
                actor=user, label=f"bench-load {time.time():.0f}", public_key_b64=tenant_key_public(key)
            )
            _, token = api_token_create(user=user, name="bench-load")
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        out.append({"slug": slug, "token": token, "weight": weights[i], "partner": partner, "key_pem": pem.decode()})
    return out


def run_quotas(tenants: list[dict[str, Any]], rate: float) -> None:
    """The run's request quotas: the flooding tenant gets 3× a normal share (so its flood is
    shaped); the others get 3× a share plus room for the sessions the generator drives."""
    normal_rate = rate / sum(t["weight"] for t in tenants)
    for t in tenants:
        quota = round(3 * normal_rate) + (0 if t["weight"] > 1 else 40)
        PilotSettings.all_tenants.filter(tenant__slug=t["slug"]).update(
            requests_per_second=max(5, quota), requests_burst=2 * max(5, quota)
        )


def verdicts_once(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """From the audit trail: each session driven in the run verified each side once and issued
    its verdict once per tenant (no duplicates); a session whose uploads were all accepted has
    both (no losses)."""
    ids = [s["session"] for s in sessions if s.get("session")]
    dup, missing, unfinished = [], [], []
    for sid in ids:
        rows = list(Participation.all_tenants.filter(session__public_id=sid))
        parts = [str(p.pk) for p in rows]
        if len(parts) < 2 or any(p.round2 is None or not p.statement_signature for p in rows):
            unfinished.append(sid)  # the client never got all its uploads in (overload): not a server loss
            continue
        counts = [
            AuditEvent.all_tenants.filter(action=action, target_type="zk_proofs.participation", target_id=pk).count()
            for action in ("zk.round2_verified", "zk.verdict")
            for pk in parts
        ]
        if any(c > 1 for c in counts):
            dup.append(sid)
        elif len(counts) < 4 or any(c < 1 for c in counts):
            missing.append(sid)
    ok = sum(1 for s in sessions if s.get("ok"))
    return {
        "driven": len(sessions),
        "right_verdict": ok,
        "lost": missing,  # every upload accepted, no verdict: work the server lost
        "duplicated": dup,
        "unfinished_by_client": unfinished,
    }


class Command(BaseCommand):
    help = "ZK-TX load over HTTP (the documented mix, one tenant flooding); JSON on stdout, PNG in var/."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--duration", default="2m", help="10s, 2m (default), 45m (the soak)")
        parser.add_argument("--rate", type=float, default=300.0, help="target requests per second (all tenants)")
        parser.add_argument("--tenants", type=int, default=4, help="even; the last one floods")
        parser.add_argument("--flood", type=float, default=10.0, help="the flooding tenant's multiple of a share")
        parser.add_argument("--window", type=float, default=60.0, help="seconds per fairness/throughput window")
        parser.add_argument("--chaos", action="store_true", help="kill the worker and pause Redis during the run")
        parser.add_argument("--redis-port", type=int, default=18411)
        parser.add_argument("--web-port", type=int, default=18412)
        parser.add_argument("--out", default=str(ROOT / "var" / "bench-load.json"))

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            require_production()
        except ProfileError as exc:
            raise CommandError(str(exc)) from exc
        if o["tenants"] < 2 or o["tenants"] % 2:
            raise CommandError("--tenants must be even and at least 2 (tenants run sessions in pairs)")
        duration = duration_seconds(o["duration"])
        # a TERM (e.g. a timeout) still stops every process the stack started
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        out = Path(o["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        plan = {
            "rate": o["rate"],
            "duration": duration,
            "window": o["window"],
            "tenants": seed(o["tenants"], o["flood"], o["rate"]),
        }
        env = {"TF_API_TENANT_RATE": "100000000/min", "TF_ZK_VERIFY_PROCESSES": "1"}
        speed_before = machine_speed()
        with Stack(redis_port=o["redis_port"], web_port=o["web_port"], env_extra=env) as stack:
            plan["url"] = stack.url
            result = self._drive(stack, plan, out, o["chaos"])
        result["machine_speed_cpu_seconds"] = {"before": speed_before, "after": machine_speed()}
        result["cost"] = cost_figures(result)
        result["command"] = " ".join(["manage.py bench_load", *sys.argv[2:]])
        out.write_text(json.dumps(result, indent=2))
        plot(result, out.with_suffix(".png"))
        result["png"] = str(out.with_suffix(".png"))
        self.stdout.write(json.dumps(result, indent=2))

    def _drive(self, stack: Stack, plan: dict[str, Any], out: Path, chaos: bool) -> dict[str, Any]:
        plan_path = out.with_suffix(".plan.json")
        plan_path.write_text(json.dumps(plan))
        raw = out.with_suffix(".raw.json")
        gen = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "apps.zk_proofs.loadgen", str(plan_path), str(raw)],
            cwd=ROOT,
            env=stack.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = gen.stdout.readline() if gen.stdout else ""
            if line.strip() != "ready":
                gen.wait(timeout=60)
                raise CommandError(f"the load generator did not start (exit {gen.returncode}): {line[:300]}")
            run_quotas(plan["tenants"], plan["rate"])
            time.sleep(SETTINGS_TTL + 1)  # every web process has read the run's quotas
            gen.stdin.write("go\n")  # type: ignore[union-attr]
            gen.stdin.flush()  # type: ignore[union-attr]
            cpu0, t0 = stack.cpu(), time.monotonic()
            events = self._chaos(stack, plan["duration"]) if chaos else []
            gen.wait(timeout=plan["duration"] + 900)
        finally:
            if gen.poll() is None:
                gen.kill()
            plan_path.unlink(missing_ok=True)  # it holds tokens and private keys
        cpu1, wall = stack.cpu(), time.monotonic() - t0
        if gen.returncode != 0:
            raise CommandError(f"the load generator failed (exit {gen.returncode})")
        result = json.loads(raw.read_text())
        raw.unlink()
        server = {k: round(cpu1.get(k, 0) - cpu0.get(k, 0), 2) for k in cpu1}
        result["server_cpu_seconds"] = server
        result["server_cpu_share_of_2_cores"] = {k: round(v / wall / 2, 4) for k, v in server.items()}
        result["verdicts"] = verdicts_once(result["sessions"])
        result["chaos"] = [{"at_s": round(t, 1), "event": e} for t, e in events]
        result["proofs_verified"] = proofs_of(result["sessions"])
        result["settings"] = {"rate": plan["rate"], "duration_s": plan["duration"], "window_s": plan["window"]}
        return result

    def _chaos(self, stack: Stack, duration: float) -> list[tuple[float, str]]:
        """At a third of the run SIGKILL the worker (restarted at once); at two thirds pause
        the private Redis for 3 s. Runs in a thread; the list fills as it goes."""
        events: list[tuple[float, str]] = []
        t0 = time.monotonic()

        def run() -> None:
            time.sleep(duration / 3)
            stack.kill_worker()
            events.append((time.monotonic() - t0, "worker killed (SIGKILL) and restarted"))
            time.sleep(max(0.0, 2 * duration / 3 - (time.monotonic() - t0)))
            stack.pause_redis(3).join()
            events.append((time.monotonic() - t0, "redis paused 3 s (DEBUG SLEEP)"))

        threading.Thread(target=run, daemon=True).start()
        return events


def proofs_of(sessions: list[dict[str, Any]]) -> int:
    ids = [s["session"] for s in sessions if s.get("ok")]
    parts = Participation.all_tenants.filter(session__public_id__in=ids, round2_verified=True)
    return sum(len((p.round2 or {}).get("proofs") or []) for p in parts)


def cost_figures(result: dict[str, Any]) -> dict[str, Any]:
    """CPU-seconds per 1k proofs: batched vs unbatched verification measured directly
    (``apps.zk_proofs.cost``, as ``make cost``), and the worker's CPU in this run per 1k chunk proofs."""
    direct = measure(1024, settings.TF_PRICE_PER_CPU_HOUR)
    proofs = result["proofs_verified"]
    worker = result["server_cpu_seconds"].get("worker", 0.0)
    return {
        "direct_per_1k_proofs_cpu_seconds": {
            m: direct["modes"][m]["cpu_seconds_per_1k_proofs"] for m in ("batched", "unbatched")
        },
        "direct_batched_saving_vs_unbatched": direct["batched_saving_vs_unbatched"],
        "in_run_worker_cpu_seconds_per_1k_chunk_proofs": round(worker * 1000 / proofs, 2) if proofs else None,
        "in_run_chunk_proofs": proofs,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = result["windows"]
    xs = [w["start_s"] for w in ws]
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    axes[0].plot(xs, [w["rps"] for w in ws], marker="o")
    axes[0].set_ylabel("answered right, req/s")
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        axes[1].plot(xs, [w[q] for w in ws], marker="o", label=q)
    axes[1].set_ylabel("latency, ms")
    axes[1].legend()
    axes[2].plot(xs, [w["gini"] for w in ws], marker="o")
    axes[2].axhline(0.16, color="red", linestyle="--", label="target 0.16")
    axes[2].axhline(0.10, color="green", linestyle=":", label="aim 0.10")
    axes[2].set_ylabel("Gini (served/demand)")
    axes[2].set_xlabel("seconds into the run")
    axes[2].legend()
    fig.suptitle(f"ZK-TX load: {result['settings']['rate']:.0f} req/s target, {result['achieved_rps']} achieved")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
