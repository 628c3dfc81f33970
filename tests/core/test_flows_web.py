"""Layout and wording the user notices: the overview lists the user's roles, switching tenant
on a page the new roles cannot see lands on the overview with a sentence (not a bare 403),
error details are sentences (never a code spelled out letter by letter), a favicon, and audit
targets shown by human name and linked to their page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from tests.conftest import demo_query, member
from tests.factories import MembershipFactory


def _messages(page) -> list[str]:
    return re.findall(r'<li class="msg-[a-z]+">(.*?)</li>', page.content.decode())


def test_the_overview_lists_the_users_roles(tenant_a) -> None:
    user = member(tenant_a, "two-roles", Role.ANALYST, Role.APPROVER)
    web = Client()
    web.force_login(user)
    page = web.get("/").content.decode()
    assert re.findall(r'<span class="pill" data-my-role>(.*?)</span>', page) == ["Analyst", "Approver"]


def test_switching_tenant_on_a_page_the_new_roles_cannot_see_lands_on_the_overview(tenant_a, tenant_b) -> None:
    user = member(tenant_a, "auditor-both", Role.AUDITOR)
    MembershipFactory(tenant=tenant_b, user=user, role=Role.ANALYST)
    web = Client()
    web.force_login(user)
    assert web.get("/audit/").status_code == 200
    landed = web.post("/tenants/switch/", {"tenant": "agency-b", "next": "/audit/?page=1"}, follow=True)
    assert landed.status_code == 200 and landed.redirect_chain[-1][0] == "/"
    [message] = _messages(landed)
    assert message.startswith("Now working in Agency B.") and "(Analyst) cannot open the page you were on" in message
    # A page about one of the previous tenant's objects is not followed either.
    web.post("/tenants/switch/", {"tenant": "agency-a", "next": "/"})
    moved = web.post("/tenants/switch/", {"tenant": "agency-b", "next": "/audit/3/"}, follow=True)
    assert moved.redirect_chain[-1][0] == "/" and "belongs to the previous tenant" in _messages(moved)[-1]


def test_an_unknown_dataset_is_one_sentence_on_the_query_page(lac_a, analyst_a) -> None:
    web = Client()
    web.force_login(analyst_a)
    page = web.post("/queries/", {"spec": json.dumps(demo_query(dataset="nope", seeds=["x"], metric="degree"))})
    html = page.content.decode()
    assert page.status_code == 404 and "No dataset &#x27;nope&#x27;." in html, html[html.find("error") :][:600]
    assert "n; o; t" not in html and 'class="problems"' not in html


def test_a_prov_chain_runs_from_the_query_page(lac_a, analyst_a) -> None:
    web = Client()
    web.force_login(analyst_a)
    chain = 'prov { dataset("calls-demo") -> seeds(ids=["grp12-0"]) -> expand(hops=2) -> degree() }'
    page = web.post("/queries/", {"spec": json.dumps({"prov": chain, "purpose": "investigation", "reason": "dsl"})})
    assert page.status_code == 302, page.content.decode()[:2000]
    run_page = web.get(page["Location"]).content.decode()
    assert 'data-status="allowed"' in run_page and "&quot;metric&quot;: &quot;degree&quot;" in run_page
    refused = web.post("/queries/", {"spec": json.dumps({"prov": 12})})
    assert refused.status_code == 400 and "prov must be the text of a provenance chain." in refused.content.decode()


def test_every_page_has_a_favicon(web_client_for_analyst) -> None:
    page = web_client_for_analyst.get("/").content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon.svg"', page)


def test_audit_targets_are_human_names_linked_to_their_page(lac_a, admin_a) -> None:
    web = Client()
    web.force_login(admin_a)
    web.post("/queries/", {"spec": json.dumps(demo_query(seeds=["grp12-0"], hops=1, metric="degree"))})
    with tenant_context(lac_a):
        from apps.queries.models import QueryRun

        run = QueryRun.objects.latest("pk")
    page = web.get(f"/audit/?target_id={run.pk}&target_type=policy_studio.queryrun").content.decode()
    assert f'<a href="/queries/{run.pk}/" data-audit-target="policy_studio.queryrun">Query #{run.pk}</a>' in page
    detail = web.get(f"/audit/{run.audit_seq}/").content.decode()
    assert f'Everything about <a href="/queries/{run.pk}/"' in detail


@pytest.fixture
def web_client_for_analyst(analyst_a) -> Client:
    web = Client()
    web.force_login(analyst_a)
    return web
