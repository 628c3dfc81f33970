"""QueryRun and Decision moved from policy_studio to queries in Django's state only: a
PostgreSQL database at the old head, with rows, migrates forward with its rows intact."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _conninfo(dbname: str) -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={dbname}"


def _migrate(url: str, *targets: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", *targets, "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def test_old_head_with_rows_migrates_forward_with_rows_intact() -> None:
    db = settings.DATABASES["default"]
    name = f"tf_move_{uuid.uuid4().hex[:8]}"
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # The old head: the query tables belong to policy_studio, the manifest points there.
        _migrate(url, "policy_studio", "0003_query_run_exposure_and_failed_status")
        _migrate(url, "provenance", "0005_audit_head_anchor")
        with psycopg.connect(_conninfo(name), autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # rows without their FK parents
            conn.execute(
                "INSERT INTO policy_studio_queryrun (id, tenant_id, user_id, spec, dataset_version_id, status,"
                " reason_codes, explanation, result_digest, minimization, returned_nodes, exposure, facts,"
                " lac_overhead_us, execution_ms, jit_rule, created_at)"
                " VALUES (41, 1, 1, '{\"dataset\": \"d\"}', 1, 'allowed', '[]', 'ok', 'abc', '[]', '[]', '{}',"
                " '{}', 7, 1.5, '', now())"
            )
            conn.execute(
                "INSERT INTO policy_studio_decision (id, tenant_id, query_run_id, mode, outcome, stage,"
                " reason_codes, explanation, violations, timing_us, created_at)"
                " VALUES (5, 1, 41, 'enforce', 'allow', 'access', '[]', 'ok', '[]', 3, now())"
            )
        _migrate(url)
        with psycopg.connect(_conninfo(name)) as conn:
            run = conn.execute(
                "SELECT id, status, result_digest, lac_overhead_us FROM policy_studio_queryrun"
            ).fetchall()
            decision = conn.execute("SELECT id, query_run_id, outcome FROM policy_studio_decision").fetchall()
            applied = conn.execute("SELECT name FROM django_migrations WHERE app = 'queries'").fetchall()
        assert run == [(41, "allowed", "abc", 7)]
        assert decision == [(5, 41, "allow")]
        assert ("0001_query_run_and_decision_from_policy_studio",) in applied
        with psycopg.connect(_conninfo(name)) as conn:  # issue 14: old runs were decided by prod
            assert conn.execute("SELECT environment FROM policy_studio_queryrun").fetchall() == [("prod",)]
    finally:
        with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
