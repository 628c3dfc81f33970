"""Migration 0006: a database with a policy in force before environments existed comes out
with that version registered as what prod should run (issue 14)."""

from __future__ import annotations

import hashlib
import uuid

import psycopg
from django.conf import settings

from tests.queries.test_move_migration import _conninfo, _migrate


def test_active_versions_become_prods_registry() -> None:
    db = settings.DATABASES["default"]
    name = f"tf_reg_{uuid.uuid4().hex[:8]}"
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _migrate(url, "policy_studio", "0005_lifecycle")
        source = "mode: enforce\nrules: []\n"
        with psycopg.connect(_conninfo(name), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO core_tenant (id, slug, name, kind, is_active, time_zone, created_at)"
                " VALUES (1, 'a', 'A', 'agency', true, 'UTC', now())"
            )
            conn.execute(
                "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,"
                " is_staff, is_active, date_joined, last_login) VALUES (1, '!', false, 'u', '', '', '', false, true, now(), now())"
            )
            conn.execute("SET session_replication_role = replica")  # policy and version point at each other
            conn.execute(
                "INSERT INTO policy_studio_policyversion (id, tenant_id, policy_id, number, source, source_hash,"
                " mode, note, created_by_id, created_at) VALUES (7, 1, 3, 2, %s, 'x', 'enforce', '', 1, now())",
                [source],
            )
            conn.execute(
                "INSERT INTO policy_studio_policy (id, tenant_id, slug, name, active_version_id, created_by_id,"
                " created_at) VALUES (3, 1, 'p', 'p', 7, 1, now()), (4, 1, 'draft', 'draft', NULL, 1, now())"
            )
        _migrate(url)
        with psycopg.connect(_conninfo(name)) as conn:
            rows = conn.execute(
                "SELECT tenant_id, policy_id, environment, version_id, digest, kind FROM policy_studio_deployment"
            ).fetchall()
        assert rows == [(1, 3, "prod", 7, hashlib.sha256(source.encode()).hexdigest(), "migration")]
    finally:
        with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
