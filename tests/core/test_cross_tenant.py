"""Every API endpoint, called as a member of another tenant, answers 404 or an empty list.

The test walks the URL resolver, so an endpoint added later without a case in
``CASES`` fails here until someone says how to build an object for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.core.models import Membership
from apps.core.tenancy import tenant_context
from apps.queries.pipeline import query_run_execute
from tests.conftest import demo_query, load_calls_demo
from tests.factories import AuditChainCheckFactory, api_token_for, audit_event_in
from tests.pcq_ops.cross_tenant import PCQ_OPS_API_CASES, PCQ_OPS_PAGE_CASES, PCQ_OPS_TOKEN_PAGES
from tests.pilots.cross_tenant import PILOTS_API_CASES, PILOTS_OPERATOR_ONLY, PILOTS_PAGE_CASES
from tests.policy_studio.cross_tenant import STUDIO_API_CASES, STUDIO_PAGE_CASES
from tests.tenant_rollups.cross_tenant import DIGEST_PAGE_CASES, DIGEST_TOKEN_PAGES

# Endpoints that hold no tenant data of their own.
NOT_TENANT_DATA = {"api-root", "api-schema", "api-docs"}


def _membership(tenant: Any, owner: Any) -> dict[str, str]:
    with tenant_context(tenant):
        return {"pk": str(Membership.objects.filter(user=owner).first().pk)}


def _audit_event(tenant: Any, owner: Any) -> dict[str, str]:
    # Seqs are per tenant; push A's chain well past B's so the seq names only A's event.
    for _ in range(30):
        event = audit_event_in(tenant, "test.secret-a")
    return {"seq": str(event.seq)}


def _lac(tenant: Any, owner: Any) -> dict[str, str]:
    load_calls_demo(tenant, owner)
    with tenant_context(tenant):
        run = query_run_execute(
            actor=owner, roles=frozenset({"analyst"}), spec=demo_query(seeds=["grp12-0"], metric="degree")
        )
    return {"slug": "calls-demo", "pk": str(run.pk), "number": "1"}


def _policy(tenant: Any, owner: Any) -> dict[str, str]:
    _lac(tenant, owner)
    return {"slug": "investigations", "number": "1"}


def _view(tenant: Any, owner: Any) -> dict[str, str]:
    _lac(tenant, owner)
    return {"slug": "identities"}


def _witnessed(tenant: Any, owner: Any) -> dict[str, str]:
    """A query in A whose manifest was verified, witnessed and logged."""
    from apps.provenance.models import Manifest, Verification
    from apps.provenance.services import verification_run

    names = _lac(tenant, owner)
    with tenant_context(tenant):
        v = verification_run(Verification.objects.create(manifest=Manifest.objects.get(query_run_id=names["pk"])).pk)
        assert v.status == "match", v.message
        names["leaf_index"] = str(v.entry.leaf_index)
    return names


def _jit(tenant: Any, owner: Any) -> dict[str, str]:
    """A pending JIT request and an approved one (with its grant) in A."""
    from guardian.shortcuts import assign_perm

    from apps.core.models import Role
    from apps.graphs.models import Dataset
    from apps.jit_approvals import services as jit
    from apps.policy_studio.models import SubjectAttributes
    from tests.conftest import member

    _lac(tenant, owner)
    approvers = [member(tenant, f"sup-{i}", Role.APPROVER) for i in range(2)]
    with tenant_context(tenant):
        dataset = Dataset.objects.get(slug="calls-demo")
        for user in approvers:
            SubjectAttributes.objects.create(user=user, groups=["supervisors"])
            assign_perm("graphs.approve_access", user, dataset)
        asked = {
            "dataset_slug": "calls-demo",
            "data_classes": ["P0"],
            "purpose": "investigation",
            "reason": "a-secret-token reason",
            "duration_minutes": 30,
        }
        jit.request_create(requester=owner, roles=frozenset({"analyst"}), **asked)
        approved = jit.request_create(requester=owner, roles=frozenset({"analyst"}), **asked)
        for user in approvers:
            jit.decide(request_id=approved.pk, approver=user, decision="approve", channel="web")
        return {"pk": str(approved.pk), "grant": str(approved.grant.pk)}


def _integrity_report(tenant: Any, owner: Any) -> dict[str, str]:
    """An integrity report in A (B's auditors must see only B's)."""
    from apps.provenance.integrity import integrity_run

    names = _witnessed(tenant, owner)
    integrity_run([tenant])
    return names


def _jit_grant(tenant: Any, owner: Any) -> dict[str, str]:
    names = _jit(tenant, owner)
    return {"pk": names["grant"]}


def _zk(tenant: Any, owner: Any) -> dict[str, str]:
    """A ZK-TX session between A and a third tenant (so B is no party to it)."""
    from apps.core.models import Tenant
    from apps.zk_proofs import services as zk
    from tests.zk.conftest import pilot

    third = Tenant.objects.create(slug="agency-c", name="Agency C")
    pilot(tenant, third.slug, owner)
    pilot(third, tenant.slug, owner)
    with tenant_context(tenant):
        part = zk.session_propose(
            actor=owner, partner_slug=third.slug, k=20, disclosure="verdict", selector_type="phone"
        )
    return {"session_id": str(part.session.public_id)}


# route name (or its prefix) -> builds objects in tenant A, returns the URL kwargs naming them
CASES: dict[str, Callable[[Any, Any], dict[str, str]]] = {
    "tenant": lambda tenant, owner: {"slug": tenant.slug},
    "membership": _membership,
    "auditevent": _audit_event,
    "auditchaincheck": lambda tenant, owner: {"pk": str(AuditChainCheckFactory(tenant=tenant).pk)},
    "apitoken": lambda tenant, owner: {"pk": str(api_token_for(owner, tenant, name="a-secret-token")[0].pk)},
    "api-me": lambda tenant, owner: {},
    "dataset": _lac,
    "graphview": _view,
    "policy": _policy,
    "policy-version": _policy,
    "queryrun": _lac,
    "api-policy-validate": lambda tenant, owner: {},
    "api-policy-lint": _policy,  # tenant B naming A's policy (for hints) gets 404
    "api-simulations": _policy,
    "api-coverage": _view,
    "evidence-api": _witnessed,
    "api-pcq-inclusion": _witnessed,
    "api-pcq-consistency": _witnessed,
    "api-pcq-checkpoint": _witnessed,
    "api-pcq-keys": _witnessed,
    "api-pcq-schema": lambda tenant, owner: {},
    "api-pcq-integrity": _integrity_report,
    "api-pcq-compile": _lac,
    "jit-request-api": _jit,
    "jit-grant-api": _jit_grant,
    "api-jit-metrics": _jit,
    "api-zk-sessions": _zk,
    "api-zk-session": _zk,
    "api-zk-key": _zk,
    "api-zk-round1": _zk,
    "api-zk-counterpart": _zk,
    "api-zk-round2": _zk,
    "api-zk-bundle": _zk,
    "api-zk-statement": _zk,
    "api-zk-trust": _zk,
    "api-zk-verify": _zk,
}
CASES.update(PCQ_OPS_API_CASES)
CASES.update(PILOTS_API_CASES)
CASES.update(STUDIO_API_CASES)
# What must not appear in another tenant's answers.
SECRETS = ("agency-a", "a-secret-token", "test.secret-a", "calls-demo", "investigations", "identities", "grp12-0")


def _api_patterns() -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/"):
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver().url_patterns, "")
    return found


def _case_for(name: str) -> str | None:
    if name in CASES:
        return name
    base = name.rsplit("-", 1)[0]
    return base if base in CASES else None


def test_every_api_route_has_a_cross_tenant_case() -> None:
    missing = sorted(
        {p.name for _, p in _api_patterns() if p.name and p.name not in NOT_TENANT_DATA and not _case_for(p.name)}
    )
    assert missing == [], f"add these to CASES: {missing}"


@pytest.mark.parametrize(
    "route",
    sorted({p.name for _, p in _api_patterns() if p.name and p.name not in NOT_TENANT_DATA}),
)
def test_other_tenant_sees_nothing(route: str, tenant_a, admin_a, api_b) -> None:
    from django.urls import reverse

    case = _case_for(route)
    names = CASES[case](tenant_a, admin_a)
    pattern = next(p for _, p in _api_patterns() if p.name == route)
    kwargs = {key: names.get(key, names.get("pk", "1")) for key in pattern.pattern.regex.groupindex if key != "format"}
    url = reverse(route, kwargs=kwargs)
    for method in ("get", "patch", "put", "delete", "post"):
        body = {"policy": "investigations", "version_a": 1, "version_b": 1, "source": "mode: enforce\nrules: []\n"}
        response = getattr(api_b, method)(url, body, format="json")
        status = response.status_code
        assert status != 500, f"{method.upper()} {url} -> 500"
        if kwargs and route in PILOTS_OPERATOR_ONLY and status == 403:
            assert response.json()["code"] == "operators_only", f"{method.upper()} {url} -> {response.json()}"
            continue
        if kwargs:
            assert status in (404, 405), f"{method.upper()} {url} -> {status}"
            continue
        if status in (404, 405):
            continue
        assert status < 500
        text = json.dumps(response.json())
        leaked = [s for s in SECRETS if s in text]
        assert leaked == [], f"{method.upper()} {url} leaked {leaked}"


# --- HTML pages: every page that names an object answers 404 to another tenant's member ----

PAGE_CASES: dict[str, Callable[[Any, Any], dict[str, str]]] = {
    "audit-detail": _audit_event,
    "token-revoke": lambda tenant, owner: {"pk": str(api_token_for(owner, tenant, name="a-secret-token")[0].pk)},
    "dataset-page": _lac,
    "policy-edit": _policy,
    "studio-version": _policy,
    "studio-diff": _policy,
    "studio-activate": _policy,
    "policy-simulate": _policy,
    "query-detail": _lac,
    "evidence-detail": _witnessed,
    "evidence-bundle": _witnessed,
    "jit-request-detail": _jit,
    "jit-decide": lambda tenant, owner: {**_jit(tenant, owner), "decision": "approve"},
    "jit-grant-revoke": _jit_grant,
    "jit-grant": _jit_grant,
    "jit-grant-run": _jit_grant,
    "zk-session": _zk,
}
# Pages whose URL names no tenant object.
PAGES_WITHOUT_OBJECTS = {"jit-email-action"}  # the token is checked on its own; see tests/jit
PAGE_CASES.update(DIGEST_PAGE_CASES)
PAGE_CASES.update(PCQ_OPS_PAGE_CASES)
PAGE_CASES.update(PILOTS_PAGE_CASES)
PAGE_CASES.update(STUDIO_PAGE_CASES)
PAGES_WITHOUT_OBJECTS |= DIGEST_TOKEN_PAGES | PCQ_OPS_TOKEN_PAGES


def _page_patterns() -> list[URLPattern]:
    found: list[URLPattern] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if not route.startswith(("api/", "admin/")) and p.pattern.regex.groupindex:
                    found.append(p)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_object_page_has_a_cross_tenant_case() -> None:
    names = {p.name for p in _page_patterns()} - PAGES_WITHOUT_OBJECTS
    assert names - set(PAGE_CASES) == set()


@pytest.mark.parametrize("route", sorted(PAGE_CASES))
def test_other_tenant_gets_404_from_every_object_page(route: str, tenant_a, admin_a, admin_b, client) -> None:
    from django.urls import reverse

    names = PAGE_CASES[route](tenant_a, admin_a)
    pattern = next(p for p in _page_patterns() if p.name == route)
    kwargs = {key: names.get(key, names.get("pk", "1")) for key in pattern.pattern.regex.groupindex}
    url = reverse(route, kwargs=kwargs)
    client.force_login(admin_b)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code in (404, 405), f"{method.upper()} {url} -> {response.status_code}"
        assert b"a-secret-token" not in response.content and b"grp12-0" not in response.content
