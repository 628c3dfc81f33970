"""The query pipeline end to end, through the API as a user would call it."""

from __future__ import annotations

import json

import pytest

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.policy_studio.services import policy_deactivate, policy_save_version
from apps.queries.models import Decision, QueryRun
from tests.conftest import POLICY_SOURCE, demo_query, load_calls_demo, member, token_client
from tests.core.test_api import assert_envelope


def test_allowed_query_returns_a_minimized_result(analyst_api_a) -> None:
    response = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank", fields=["city", "age"]), format="json"
    )
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["status"] == "allowed" and run["reason_codes"] == ["rule:analysts-investigate"]
    nodes = run["result"]["nodes"]
    assert nodes and all(set(n) >= {"id", "value", "city", "age"} for n in nodes)
    assert all(n["age"] == "suppressed" or n["age"].startswith("[") for n in nodes)  # bucketed, never raw
    assert {s["attribute"] for s in run["minimization"]} == {"*", "age"}  # min_results is always listed
    assert run["decisions"][0]["outcome"] == "allow" and run["lac_overhead_us"] > 0


def test_denial_tells_the_subject_code_and_limit_and_the_auditor_the_witness(analyst_api_a, lac_a, admin_a) -> None:
    body = assert_envelope(
        analyst_api_a.post("/api/queries/", demo_query(seeds=["hub-a"], hops=1, metric="neighbourhood"), format="json"),
        403,
        "query_denied",
    )
    degree = next(v for v in body["details"]["violations"] if v["code"] == "DEGREE_EXCEEDED")
    assert (degree["constraint"], degree["limit"], degree["observed"]) == ("graph-shape", 25, "more than 25")
    assert "witness" not in degree and "60" not in json.dumps(body) and "hub-a-leaf" not in json.dumps(body)
    assert "linked to more than 25 others" in body["message"]
    run_id = body["details"]["run_id"]
    own = analyst_api_a.get(f"/api/queries/{run_id}/").json()  # the subject reading their own run
    assert "60" not in json.dumps(own["decisions"]) and "hub-a-leaf" not in json.dumps(own)
    auditor = token_client(admin_a, lac_a).get(f"/api/queries/{run_id}/").json()
    full = next(v for d in auditor["decisions"] for v in d["violations"] if v["code"] == "DEGREE_EXCEEDED")
    assert (full["observed"], full["witness"]) == (60, {"hub": "hub-a"})
    run = QueryRun.all_tenants.get(pk=run_id)
    assert run.result is None and run.status == "denied"  # nothing was returned or kept


def test_result_stage_denial_carries_the_path(analyst_api_a) -> None:
    # Filtered, so the planner cannot be sure; the executor measures the real path.
    body = assert_envelope(
        analyst_api_a.post(
            "/api/queries/",
            demo_query(
                seeds=["hub-b-leaf03"],
                hops=2,
                metric="degree",
                top_k=1,
                edge_filter={"type": ["calls", "texts", "payments"]},
            ),
            format="json",
        ),
        403,
    )
    violation = body["details"]["violations"][0]
    assert violation["stage"] == "result" and violation["code"] == "DEGREE_EXCEEDED"
    assert violation["observed"] == "more than 25"  # the subject's form; the decision keeps 35 and the hub
    decision = Decision.all_tenants.get(query_run_id=body["details"]["run_id"])
    assert decision.violations[0]["observed"] == 35 and decision.violations[0]["witness"] == {"hub": "hub-b"}


def test_monitor_only_never_widens_access(tenant_a, admin_a, analyst_a) -> None:
    """With only a monitor policy in force, default deny stands; the monitor decision is logged."""
    load_calls_demo(tenant_a, admin_a, mode="monitor")
    client = token_client(analyst_a, tenant_a)
    response = client.post(
        "/api/queries/",
        demo_query(seeds=["grp12-0"], hops=1, metric="neighbourhood", fields=["name", "phone"]),
        format="json",
    )
    body = assert_envelope(response, 403, "query_denied")
    assert "NO_ENFORCE_POLICY" in body["details"]["reason_codes"]
    run = QueryRun.all_tenants.get(pk=body["details"]["run_id"])
    assert run.result is None
    modes = {(d.mode, d.outcome) for d in Decision.all_tenants.filter(query_run=run)}
    assert modes == {("monitor", "deny"), ("enforce", "deny")}  # the shadow decision and the default deny


def test_monitor_policy_in_shadow_logs_its_would_be_denial(lac_a, admin_a, analyst_api_a) -> None:
    with tenant_context(lac_a):
        policy_save_version(
            actor=admin_a,
            slug="fraud-only",
            source="mode: monitor\nrules:\n  - {id: fraud, effect: allow, when: {purpose: [fraud]}}\n",
            activate=True,
        )
    response = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["grp12-0"], hops=1, metric="neighbourhood", fields=["city"]), format="json"
    )
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["status"] == "allowed_monitor" and run["explanation"].startswith("Monitor mode only")
    assert {(d["mode"], d["outcome"]) for d in run["decisions"]} == {("enforce", "allow"), ("monitor", "deny")}


def test_enforce_mode_blocks_the_same_query(analyst_api_a) -> None:
    response = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["hub-a"], hops=1, metric="neighbourhood", fields=["city"]), format="json"
    )
    assert response.status_code == 403


def test_no_policy_in_force_denies_everything(lac_a, admin_a, analyst_api_a) -> None:
    with tenant_context(lac_a):
        policy_deactivate(actor=admin_a, slug="investigations")
    body = assert_envelope(
        analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json"), 403
    )
    assert body["details"]["reason_codes"] == ["NO_ACTIVE_POLICY"]


def test_decisions_and_audit_are_linked_both_ways(analyst_api_a, lac_a) -> None:
    run = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json").json()
    event = AuditEvent.all_tenants.get(tenant=lac_a, seq=run["audit_seq"])
    assert event.action == "query.allowed" and event.target_id == str(run["id"]) and event.reason == "case 2026-118"
    assert [d["id"] for d in event.payload["decisions"]] == [d["id"] for d in run["decisions"]]
    decision = Decision.all_tenants.get(pk=run["decisions"][0]["id"])
    assert decision.query_run_id == run["id"] and decision.policy_version.policy.slug == "investigations"
    # the decision log keeps seeds only as keyed hashes
    stored = QueryRun.all_tenants.get(pk=run["id"]).facts
    assert stored["query"]["seeds"][0].startswith("h:") and "grp12-0" not in str(stored)


@pytest.mark.parametrize(
    ("spec", "status", "detail"),
    [
        ({"seeds": "grp12-0", "metric": "degree"}, 400, "seeds"),
        ({"seeds": ["a"], "metric": "telepathy"}, 400, "metric"),
        ({"seeds": ["a"], "metric": "degree", "hops": 99}, 400, "hops"),
        ({"seeds": ["a"], "metric": "degree", "sneaky": True}, 400, "(root)"),
        ({"seeds": ["a"], "metric": "shortest_paths"}, 400, "target"),
        ({"seeds": ["a"], "metric": "degree", "fields": ["ssn"]}, 400, "fields"),
        ({"seeds": ["a"], "metric": "degree", "node_filter": {"ssn": "1"}}, 400, "node_filter"),
        ({"seeds": ["a"], "metric": "degree", "dataset": "nope"}, 404, None),
    ],
)
def test_bad_queries_are_4xx_and_store_nothing(analyst_api_a, spec, status, detail) -> None:
    body = assert_envelope(analyst_api_a.post("/api/queries/", {**demo_query(), **spec}, format="json"), status)
    if detail:
        assert detail in body["details"]
    assert not QueryRun.all_tenants.exists()


def test_a_view_can_be_narrowed_but_not_widened(analyst_api_a) -> None:
    on_view = {
        "view": "calls-only",
        "seeds": ["chain-00"],
        "metric": "neighbourhood",
        "purpose": "investigation",
        "reason": "case",
    }
    narrowed = analyst_api_a.post("/api/queries/", on_view, format="json")
    assert narrowed.status_code == 201
    assert {e["type"] for e in narrowed.json()["result"]["edges"]} == {"calls"}
    widened = analyst_api_a.post("/api/queries/", {**on_view, "fields": ["phone"]}, format="json")
    assert "FIELD_NOT_IN_VIEW" in assert_envelope(widened, 403)["details"]["reason_codes"]


def test_shortest_paths_and_communities_run(analyst_api_a) -> None:
    path = analyst_api_a.post(
        "/api/queries/",
        demo_query(seeds=["chain-00"], target="chain-03", hops=3, metric="shortest_paths"),
        format="json",
    ).json()
    assert [n["id"] for n in path["result"]["nodes"]] == ["chain-00", "chain-01", "chain-02", "chain-03"]
    comm = analyst_api_a.post(
        "/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="communities"), format="json"
    )
    assert comm.status_code == 201


def test_results_are_deterministic(analyst_api_a) -> None:
    spec = demo_query(seeds=["com-010"], hops=1, metric="betweenness", fields=["city"])
    first = analyst_api_a.post("/api/queries/", spec, format="json").json()
    second = analyst_api_a.post("/api/queries/", spec, format="json").json()
    assert first["result_digest"] == second["result_digest"]


def test_another_tenants_dataset_is_a_404(lac_a, tenant_b, admin_b) -> None:
    client = token_client(member(tenant_b, "analyst-b", Role.ANALYST), tenant_b)
    assert_envelope(client.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json"), 404)


def test_auditors_read_but_cannot_run(lac_a, auditor_a, analyst_api_a) -> None:
    analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json")
    auditor = token_client(auditor_a, lac_a)
    assert auditor.get("/api/queries/").json()["count"] == 1
    assert_envelope(
        auditor.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="degree"), format="json"),
        403,
        "permission_denied",
    )


def test_policy_api_validation_and_versions(api_a, lac_a) -> None:
    check = api_a.post(
        "/api/policy-validation/", {"source": "mode: enforce\nrules:\n  - {id: x, effect: perhaps}\n"}, format="json"
    ).json()
    assert check["valid"] is False and check["problems"][0]["line"] == 3
    bad = assert_envelope(
        api_a.post("/api/policies/", {"slug": "investigations", "source": "mode: ["}, format="json"),
        400,
        "invalid_policy",
    )
    assert bad["details"]["problems"][0]["line"] == 1
    saved = api_a.post(
        "/api/policies/",
        {
            "slug": "investigations",
            "source": POLICY_SOURCE.replace("max_degree: 25", "max_degree: 5"),
            "note": "tighter",
        },
        format="json",
    )
    assert saved.status_code == 201 and saved.json()["number"] == 2
    detail = api_a.get("/api/policies/investigations/").json()
    assert detail["active_version"] == 1 and [v["number"] for v in detail["versions"]] == [2, 1]
    # One-click activation reaches dev only (issue 14); prod is reached by promotion.
    activated = api_a.post("/api/policies/investigations/activate/", {"version": 2}, format="json").json()
    envs = {e["name"]: e for e in activated["environments"]}
    assert activated["active_version"] == 1 and envs["dev"]["running"] == 2 and envs["prod"]["running"] == 1
    refused = api_a.post("/api/policies/investigations/activate/", {"version": 2, "environment": "prod"}, format="json")
    assert assert_envelope(refused, 409)["code"] == "promotion_required"
    assert_envelope(
        api_a.post("/api/policies/investigations/activate/", {"version": 2, "environment": "qa"}, format="json"), 400
    )
    assert_envelope(api_a.post("/api/policies/investigations/activate/", {"version": 9}, format="json"), 404)


def test_query_page_reads_the_spec_with_the_checked_loader(client, lac_a, analyst_a) -> None:
    """The page refuses what the API refuses: NaN and deep nesting are 400s with a sentence."""
    client.force_login(analyst_a)
    nan = client.post("/queries/", {"spec": '{"dataset": "calls-demo", "hops": NaN}'})
    assert nan.status_code == 400
    assert b"NaN is not a JSON number" in nan.content
    deep = client.post("/queries/", {"spec": "[" * 200 + "]" * 200})
    assert deep.status_code == 400
    assert b"levels deep" in deep.content
