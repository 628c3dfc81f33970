"""Editor back end: the lint API (findings, dataset facts, history hints, bad input), identical
saves refused, the version diff (page and API), the lint rules page."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.policy_studio.models import PolicyVersion
from apps.policy_studio.services import policy_save_version
from tests.conftest import POLICY_SOURCE, demo_query, member, token_client

pytestmark = pytest.mark.django_db
LINT = "/api/policy-lint/"


def assert_error(response, status: int, code: str | None = None) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert {"code", "message", "details"} <= set(body)
    if code:
        assert body["code"] == code
    return body


def test_lint_api_returns_findings_with_line_and_column(api_a, lac_a) -> None:
    body = api_a.post(LINT, {"source": POLICY_SOURCE}, format="json").json()
    assert body["valid"] and body["datasets"] == ["calls-demo"] and body["summary"]["rules"] == 4
    assert [(f["code"], f["line"], f["column"], f["item"]) for f in body["findings"]] == [
        ("LAC104", 21, 5, "partners-never-identities")
    ]


def test_lint_uses_the_real_datasets_statistics_and_classes(api_a, lac_a) -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    doc["minimize"] = [m for m in doc["minimize"] if m["id"] != "hash-names"]  # name (P1) uncovered
    doc["constraints"][0] = {"id": "graph-shape", "max_degree": 1000}  # calls-demo's hub has 60
    body = api_a.post(LINT, {"source": yaml.safe_dump(doc, sort_keys=False)}, format="json").json()
    tier1 = [f for f in body["findings"] if f["code"] == "LAC105"]
    assert [f["item"] for f in tier1] == ["cleared-identity-team", "identities-with-approval"]
    assert all("calls-demo.name (P1)" in f["message"] and "phone" not in f["message"] for f in tier1)
    [dead] = [f for f in body["findings"] if f["code"] == "LAC106"]
    assert "max_degree 1000 ≥ largest degree 60" in dead["message"]


def test_lint_api_syntax_problems_and_bad_input(api_a, lac_a) -> None:
    body = api_a.post(LINT, {"source": "mode: enforce\nrules:\n  - id: a\n    effect: perhaps\n"}, format="json").json()
    assert not body["valid"] and body["problems"][0]["line"] == 4 and body["findings"] == []
    assert_error(api_a.post(LINT, {"source": 3, "extra": 1}, format="json"), 400)
    assert_error(api_a.post(LINT, {"source": "x" * 200_001}, format="json"), 400)
    assert_error(api_a.post(LINT, {"source": POLICY_SOURCE, "datasets": ["nope"]}, format="json"), 404, "not_found")
    assert_error(api_a.post(LINT, {"source": POLICY_SOURCE, "policy": "nope"}, format="json"), 404, "not_found")


def test_lint_api_refuses_a_body_over_the_request_limit(api_a, lac_a, settings) -> None:
    settings.TF_MAX_REQUEST_BYTES = 50_000
    assert_error(api_a.post(LINT, {"source": "#" * 60_000}, format="json"), 413, "request_too_large")


def test_lint_api_is_for_authors_and_tenant_bound(lac_a, analyst_a, api_b, admin_b) -> None:
    assert_error(token_client(analyst_a, lac_a).post(LINT, {"source": POLICY_SOURCE}, format="json"), 403)
    # Tenant B cannot name tenant A's policy or dataset.
    assert_error(api_b.post(LINT, {"source": POLICY_SOURCE, "policy": "investigations"}, format="json"), 404)
    assert_error(api_b.post(LINT, {"source": POLICY_SOURCE, "datasets": ["calls-demo"]}, format="json"), 404)


def test_history_hints_from_last_weeks_decisions(api_a, analyst_api_a) -> None:
    for _ in range(3):
        assert (
            analyst_api_a.post(
                "/api/queries/",
                demo_query(seeds=["grp20-1"], hops=1, metric="neighbourhood", fields=["city"]),
                format="json",
            ).status_code
            == 201
        )
    denied = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["hub-a"], hops=1, metric="neighbourhood", fields=["city"]), format="json"
    )
    assert denied.status_code == 403
    body = api_a.post(LINT, {"source": POLICY_SOURCE, "policy": "investigations"}, format="json").json()
    hints = {h["item"]: h for h in body["hints"]}
    assert hints["graph-shape"]["text"] == "This constraint denied 25% of last week's investigation queries (1 of 4)."
    assert hints["analysts-investigate"]["text"] == (
        "This rule allowed 75% of last week's investigation queries (3 of 4)."
    )
    assert hints["analysts-investigate"]["line"] == 5  # "- id: analysts-investigate"
    assert hints["retention"]["text"] == "Decided none of last week's 4 queries under this policy."
    # Hints follow the rule to its line in the source being edited.
    moved = "# a comment\n# another\n" + POLICY_SOURCE
    body = api_a.post(LINT, {"source": moved, "policy": "investigations"}, format="json").json()
    assert {h["item"]: h["line"] for h in body["hints"]}["analysts-investigate"] == 7


def test_identical_version_is_refused_by_api_and_editor(api_a, lac_a, admin_a) -> None:
    body = assert_error(
        api_a.post("/api/policies/", {"slug": "investigations", "source": POLICY_SOURCE}, format="json"),
        400,
        "identical_version",
    )
    assert body["details"] == {"previous_version": 1} and "identical to version 1" in body["message"]
    web = Client()
    web.force_login(admin_a)
    page = web.post(
        reverse("policy-edit", args=["investigations"]),
        {"slug": "investigations", "name": "Investigations", "source": POLICY_SOURCE},
    )
    assert page.status_code == 400 and "identical to version 1" in page.content.decode()
    with tenant_context(lac_a):
        assert PolicyVersion.objects.filter(policy__slug="investigations").count() == 1
    # A formatting-only change is a new version (the diff says it compiles the same).
    changed = api_a.post(
        "/api/policies/", {"slug": "investigations", "source": "# tidy\n" + POLICY_SOURCE}, format="json"
    )
    assert changed.status_code == 201 and changed.json()["number"] == 2


def _second_version(tenant, actor) -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    doc["constraints"][0]["max_degree"] = 30
    doc["rules"] = [r for r in doc["rules"] if r["id"] != "retention"]
    with tenant_context(tenant):
        policy_save_version(actor=actor, slug="investigations", source=yaml.safe_dump(doc, sort_keys=False))


def test_diff_api_between_two_versions(api_a, lac_a, admin_a, api_b) -> None:
    _second_version(lac_a, admin_a)
    body = api_a.get("/api/policies/investigations/diff/?a=1&b=2").json()
    assert not body["compiled_identical"]
    assert {(c["section"], c["id"], c["kind"]) for c in body["changes"]} == {
        ("constraints", "graph-shape", "changed"),
        ("rules", "retention", "removed"),
    }
    assert_error(api_a.get("/api/policies/investigations/diff/?a=1&b=9"), 404)
    assert_error(api_a.get("/api/policies/investigations/diff/?a=x"), 400)
    assert_error(api_b.get("/api/policies/investigations/diff/?a=1&b=2"), 404)


def test_diff_page_shows_rule_level_and_text_changes(lac_a, admin_a, tenant_b) -> None:
    _second_version(lac_a, admin_a)
    web = Client()
    web.force_login(admin_a)
    page = web.get(reverse("studio-diff", args=["investigations"]))  # default: previous → latest
    html = page.content.decode()
    assert page.status_code == 200 and "v1 → v2" in html
    assert 'data-item="retention" data-kind="removed"' in html and 'data-item="graph-shape" data-kind="changed"' in html
    assert "max_degree" in html and 'class="code del"' in html
    assert web.get(reverse("studio-diff", args=["investigations"]) + "?a=1&b=7").status_code == 404
    other = member(tenant_b, "author-b", Role.POLICY_AUTHOR)
    web.force_login(other)
    assert web.get(reverse("studio-diff", args=["investigations"])).status_code == 404


def test_lint_rules_page_has_one_section_per_rule(admin_a) -> None:
    from apps.policy_studio.lac.lint import RULES

    web = Client()
    web.force_login(admin_a)
    html = web.get(reverse("studio-lint-rules")).content.decode()
    for code in RULES:
        assert f'id="{code.lower()}"' in html


def test_text_diff_keeps_three_lines_of_context() -> None:
    from apps.policy_studio.editor_views import _with_context
    from apps.policy_studio.lac.diff import text_diff

    before = "\n".join(f"line {i}" for i in range(1, 21))
    rows = _with_context(text_diff(before, before.replace("line 10", "line ten")))
    assert rows[0] == 6 and rows[-1] == 7  # lines 1-6 and 14-20 hidden
    shown = [r.line_after for r in rows if not isinstance(r, int)]
    assert shown == [7, 8, 9, 10, 11, 12, 13]


def test_dataset_facts_follow_the_latest_version(lac_a, admin_a, api_a) -> None:
    import json

    from apps.graphs.models import Dataset
    from apps.graphs.services import UploadedFile, dataset_version_upload
    from tests.conftest import FIXTURES

    doc = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
    doc["attributes"]["nodes"]["alias"] = "P1"  # a new identifying attribute in version 2
    with tenant_context(lac_a):
        dataset = Dataset.objects.get(slug="calls-demo")
        dataset_version_upload(
            actor=admin_a, dataset=dataset, files={"graph": UploadedFile("g.json", json.dumps(doc).encode())}
        )
    source = POLICY_SOURCE.replace("applies_to: {data_class: [P1]}}", "attributes: [name]}")
    body = api_a.post(LINT, {"source": source, "datasets": ["calls-demo"]}, format="json").json()
    tier1 = [f["message"] for f in body["findings"] if f["code"] == "LAC105"]
    assert tier1 and all("calls-demo.alias (P1)" in m and "name" not in m.split(":")[1] for m in tier1)


def test_the_editor_opens_on_the_version_in_force_and_says_so(lac_a, admin_a) -> None:
    """A newer saved draft does not become the editor's starting point: it opens on what prod
    runs (the next fix starts from there), names it, and offers the other environments."""
    with tenant_context(lac_a):
        policy_save_version(actor=admin_a, slug="investigations", source=POLICY_SOURCE + "\n# draft v2\n")
    web = Client()
    web.force_login(admin_a)
    page = web.get(reverse("policy-edit", args=["investigations"]))
    assert page.status_code == 200
    assert page.context["form"].initial["source"] == POLICY_SOURCE
    text = page.content.decode()
    assert "Editing <strong>v1</strong>, the version in force in <strong>prod</strong>" in text
    assert "(the latest saved is v2)" in text
    latest = web.get(reverse("policy-edit", args=["investigations"]) + "?environment=latest")
    assert latest.context["form"].initial["source"].endswith("# draft v2\n")
    dev = web.get(reverse("policy-edit", args=["investigations"]) + "?environment=dev")
    assert "Nothing is in force in <strong>dev</strong>" in dev.content.decode()
    assert web.get(reverse("policy-edit", args=["investigations"]) + "?environment=nope").status_code == 404
