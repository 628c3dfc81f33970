"""Schemathesis against the served OpenAPI schema: every operation, positive and negative
examples (bounded), every example sent once with a token of each role, all checks but one.
Zero server errors, only documented statuses and bodies, and no schema-violating request
accepted. Left out: ``positive_data_acceptance`` - a schema-valid body may still be refused
by rules a schema cannot state (the policy language, the provenance DSL, a slug that exists),
and those refusals are 400s in the envelope, which the other checks hold to."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.core.models import Role
from tests.conftest import load_calls_demo, member, token_client

ROLES = tuple(Role.values)
EXAMPLES_PER_OPERATION = 2


@pytest.fixture
def served_schema(db, tenant_a, tenant_b, settings):
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections

    settings.TF_API_TENANT_RATE = "100000/min"  # the fuzzer is one tenant: do not test the throttle
    load_calls_demo(tenant_a, member(tenant_a, "st-owner", *ROLES))
    tokens = {role: token_client(member(tenant_a, f"st-{role}", role), tenant_a).token_plaintext for role in ROLES}
    # Like Django's test client: keep the test's connection (and its transaction) open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield (
            schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler()),
            tokens,
        )  # not get_wsgi_application: it reconfigures logging
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _fuzz(strategy, label: str, tokens: dict[str, str], failures: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case) -> None:
        for role, token in tokens.items():
            try:
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {token}"}, excluded_checks=[positive_data_acceptance]
                )
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected and reported below
                failures.setdefault(f"{case.operation.label} as {role} ({label})", str(exc)[:600])
                return

    run()


def test_every_operation_for_every_role(served_schema) -> None:
    schema, tokens = served_schema
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:
        for mode in GenerationMode:
            _fuzz(operation.as_strategy(generation_mode=mode), mode.value, tokens, failures)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in sorted(failures.items()))
