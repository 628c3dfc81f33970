"""The lifecycle API (issue 14, acceptance 4): promotions, gates, insights, drift, registry,
rollback and metrics, with {code, message, details} errors; cross-tenant 404s are covered
for every route by tests/core/test_cross_tenant.py."""

from __future__ import annotations

import pytest

from apps.core.models import Role
from tests.conftest import POLICY_SOURCE, member, token_client
from tests.core.test_api import assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)  # gates are queued on commit


@pytest.fixture
def second_api(lac_a):
    return token_client(member(lac_a, "second-author", Role.POLICY_AUTHOR), lac_a)


def test_promotion_api_from_dev_to_prod_with_errors_as_envelopes(api_a, second_api, lac_a) -> None:
    saved = api_a.post(
        "/api/policies/", {"slug": "investigations", "source": POLICY_SOURCE + "\n# v2\n", "activate": True},
        format="json",
    )  # fmt: skip
    assert saved.status_code == 201
    assert assert_envelope(
        api_a.post("/api/promotions/", {"policy": "investigations", "version": 9}, format="json"), 404
    )
    bad = api_a.post("/api/promotions/", {"policy": "investigations", "version": 2, "target": "qa"}, format="json")
    assert assert_envelope(bad, 400)["code"] == "unknown_environment"
    skip = api_a.post("/api/promotions/", {"policy": "investigations", "version": 2, "target": "prod"}, format="json")
    assert assert_envelope(skip, 409)["code"] == "not_in_source"
    assert_envelope(api_a.post("/api/promotions/", {"policy": "investigations", "version": "2"}, format="json"), 400)

    stage = api_a.post("/api/promotions/", {"policy": "investigations", "version": 2}, format="json")
    assert stage.status_code == 201 and stage.json()["target_env"] == "stage"
    pk = stage.json()["id"]
    body = api_a.get(f"/api/promotions/{pk}/").json()
    assert body["status"] == "ready" and body["job"]["status"] == "done" and body["job"]["ok"]
    assert [g["gate"] for g in api_a.get(f"/api/promotions/{pk}/gates/").json()[0]["results"]] == [
        "lint", "tests", "redteam", "simulation", "coverage"
    ]  # fmt: skip
    assert api_a.get(f"/api/promotions/{pk}/insights/").json() == {"insights": []}
    assert api_a.post(f"/api/promotions/{pk}/apply/").json()["status"] == "applied"
    again = assert_envelope(api_a.post(f"/api/promotions/{pk}/apply/"), 409)
    assert again["code"] == "promotion_not_ready"

    prod = api_a.post("/api/promotions/", {"policy": "investigations", "version": 2}, format="json").json()
    assert prod["target_env"] == "prod" and prod["needs_approval"]
    mine = assert_envelope(api_a.post(f"/api/promotions/{prod['id']}/approve/"), 403)
    assert mine["code"] == "second_author_required"
    assert assert_envelope(api_a.post(f"/api/promotions/{prod['id']}/apply/"), 403)["code"] == "approval_required"
    approved = second_api.post(f"/api/promotions/{prod['id']}/approve/").json()
    assert approved["status"] == "applied" and approved["approver"] == "second-author"

    registry = {e["name"]: e for e in api_a.get("/api/registry/").json()["policies"][0]["environments"]}
    assert registry["prod"]["registered"] == 2 and registry["prod"]["running"] == 2 and registry["prod"]["in_sync"]
    back = api_a.post("/api/rollbacks/", {"policy": "investigations"}, format="json").json()
    assert back == {"policy": "investigations", "environment": "prod", "version": 1}
    assert assert_envelope(api_a.post("/api/rollbacks/", {"policy": "nope"}, format="json"), 404)
    metrics = api_a.get("/api/studio-metrics/").json()
    assert metrics["revert_rate"]["reverts"] == 1 and metrics["revert_rate"]["prod_promotions"] == 1


def test_drift_api_and_a_failed_gate_insight(api_a, lac_a) -> None:
    # lac_a put v1 in prod directly (tooling path, never promoted): that is drift.
    checked = api_a.post("/api/drift/check/").json()
    assert checked["detected"] >= 1
    drift = api_a.get("/api/drift/").json()
    rows = drift["results"] if isinstance(drift, dict) else drift
    assert any(d["kind"] == "hotfix" and d["policy"] == "investigations" for d in rows)
    hash_names = "  - {id: hash-names, transform: hash, applies_to: {data_class: [P1]}}\n"
    api_a.post(
        "/api/policies/", {"slug": "investigations", "source": POLICY_SOURCE.replace(hash_names, ""), "activate": True},
        format="json",
    )  # fmt: skip
    pk = api_a.post("/api/promotions/", {"policy": "investigations", "version": 2}, format="json").json()["id"]
    insights = {i["gate"]: i for i in api_a.get(f"/api/promotions/{pk}/insights/").json()["insights"]}
    # stage runs nothing yet, so coverage is not lowered (0% → 0%); lint names the gap
    assert "coverage" not in insights and insights["lint"]["mitigation"]
    assert "LAC105" in insights["lint"]["cause"]
    assert "a `hash` rule for the P1 attribute `name`" in insights["lint"]["suggestion"]
    bad_gate = api_a.post(f"/api/promotions/{pk}/fix/", {"gate": "nope"}, format="json")
    assert_envelope(bad_gate, 400)
    fixed = api_a.post(f"/api/promotions/{pk}/fix/", {"gate": "lint"}, format="json")
    assert fixed.status_code == 201 and fixed.json()["version"] == 3
