"""The template library: each template validates and lints clean (without dataset facts and
against the real calls-demo statistics), and "start from template" saves a draft."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.tenancy import tenant_context
from apps.policy_studio.coaching import dataset_facts
from apps.policy_studio.lac.language import compile_policy
from apps.policy_studio.lac.lint import lint_source
from apps.policy_studio.library import TEMPLATES
from apps.policy_studio.models import Policy
from tests.conftest import member

EXPECTED = {"investigations", "partner-access", "jit-identities", "graph-shape-caps"}


def test_the_library_has_the_four_templates() -> None:
    assert {t.slug for t in TEMPLATES} == EXPECTED


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.slug)
def test_each_template_validates_and_lints_clean(template) -> None:
    assert compile_policy(template.source).mode == "monitor"
    assert [f.as_dict() for f in lint_source(template.source)] == []


@pytest.mark.django_db
def test_each_template_lints_clean_against_the_real_demo_dataset(lac_a) -> None:
    with tenant_context(lac_a):
        facts = dataset_facts()
    assert [f.slug for f in facts] == ["calls-demo"]
    for template in TEMPLATES:
        assert [f.as_dict() for f in lint_source(template.source, facts)] == [], template.slug


@pytest.mark.django_db
def test_start_from_template_creates_a_draft(admin_a, tenant_a) -> None:
    web = Client()
    web.force_login(admin_a)
    page = web.get(reverse("studio-templates")).content.decode()
    assert all(f'id="template-{slug}"' in page for slug in EXPECTED)
    response = web.post(reverse("studio-templates"), {"template": "jit-identities", "slug": "identities", "name": ""})
    assert response.status_code == 302 and response.url == reverse("policy-edit", args=["identities"])
    with tenant_context(tenant_a):
        policy = Policy.objects.get(slug="identities")
        [version] = policy.versions.all()
        assert policy.active_version is None and policy.name == "JIT identities"  # a draft
        assert version.source == next(t for t in TEMPLATES if t.slug == "jit-identities").source
        assert version.note == "Started from template jit-identities"
    editor = web.get(response.url).content.decode()
    assert "nothing (draft)" in editor and "identities-with-approval" in editor
    again = web.post(reverse("studio-templates"), {"template": "investigations", "slug": "identities"})
    assert again.status_code == 409 and "exists already" in again.content.decode()
    assert web.post(reverse("studio-templates"), {"template": "nope", "slug": "x"}).status_code == 404
    bad = web.post(reverse("studio-templates"), {"template": "investigations", "slug": "Not A Slug"})
    assert bad.status_code == 400 and "lower-case" in bad.content.decode()


@pytest.mark.django_db
def test_only_authors_start_from_a_template(tenant_a) -> None:
    web = Client()
    web.force_login(member(tenant_a, "reader", "auditor"))
    assert web.get(reverse("studio-templates")).status_code == 200
    assert web.post(reverse("studio-templates"), {"template": "investigations", "slug": "x"}).status_code == 403
