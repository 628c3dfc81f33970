"""The promises the repository makes about itself: configuration that agrees everywhere,
a compose file that validates, production settings that pass Django's deploy checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[1]


def _env_example_vars() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return {line.split("=", 1)[0] for line in text.splitlines() if re.match(r"^[A-Z_]+=", line)}


def _compose_vars() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))


def _settings_vars() -> set[str]:
    text = (ROOT / "trustfabric" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', text))


def _readme_vars() -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "README.md").read_text(), re.MULTILINE))


def test_compose_env_example_and_readme_agree_on_every_variable() -> None:
    assert _compose_vars() == _env_example_vars()
    assert _env_example_vars() <= _readme_vars()
    assert _settings_vars() == _readme_vars(), "README's configuration table must list exactly what settings read"


def test_compose_file_validates() -> None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        cmd = ["docker", "compose", "config", "-q"]
    else:
        cmd = [shutil.which("docker-compose") or "docker-compose", "config", "-q"]
    require_service(bool(shutil.which(cmd[0])), "docker compose / docker-compose is not installed")
    env = {**os.environ, "SECRET_KEY": "x" * 50} | {
        f"PCQ_{r}_KEY": "A" * 44 for r in ("EXECUTOR", "VERIFIER", "WITNESS", "LOG", "TEE_DEVICE")
    }
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    services = subprocess.run([*cmd[:-1], "--services"], cwd=ROOT, env=env, capture_output=True, text=True).stdout
    assert set(services.split()) == {"postgres", "redis", "migrate", "web", "worker", "notifications", "beat"}


def test_production_settings_pass_check_deploy() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "k9#" + "x7Qp" * 15,
        "ALLOWED_HOSTS": "trustfabric.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"DJANGO_DEBUG": "false"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("path", ["docs/architecture.md", "docs/api.md", "runbooks/audit-chain.md"])
def test_docs_exist_and_are_not_empty(path: str) -> None:
    assert len((ROOT / path).read_text().split()) > 100


def test_seed_demo_is_idempotent_and_prints_logins(db) -> None:
    from django.contrib.auth import get_user_model

    from apps.core.models import AuditEvent, Membership, Tenant

    first = StringIO()
    call_command("seed_demo", stdout=first)
    counts = (Tenant.objects.count(), get_user_model().objects.count(), Membership.all_tenants.count())
    events = AuditEvent.all_tenants.count()
    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert counts == (Tenant.objects.count(), get_user_model().objects.count(), Membership.all_tenants.count())
    assert AuditEvent.all_tenants.count() == events
    assert counts[0] >= 3
    roles = set(Membership.all_tenants.values_list("role", flat=True))
    assert roles == {"admin", "policy_author", "approver", "auditor", "analyst", "partner"}
    assert "nb-auditor" in first.getvalue() and "trustfabric-demo" in first.getvalue()
