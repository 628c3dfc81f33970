"""The leak classes of issue 9, end to end through the API (the red-team corpus covers them
in bulk; these tests pin the user-visible behaviour of each fix)."""

from __future__ import annotations

import io
import json

import pytest

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.graphs import engine
from apps.graphs.models import Dataset
from apps.graphs.services import UploadedFile, dataset_version_upload
from apps.queries.models import QueryRun
from tests.conftest import FIXTURES, demo_query
from tests.core.test_api import assert_envelope

LEAVES = [f"hub-a-leaf{i:02d}" for i in range(60)]


def _post(client, **kw):
    return client.post("/api/queries/", demo_query(**kw), format="json")


def test_pagerank_top1_is_checked_on_the_graph_it_was_computed_on(analyst_api_a) -> None:
    body = assert_envelope(_post(analyst_api_a, seeds=["hub-a-leaf00"], hops=2, metric="pagerank", top_k=1), 403)
    assert "DEGREE_EXCEEDED" in body["details"]["reason_codes"]


def test_pages_of_a_hub_add_up_to_its_degree(analyst_api_a) -> None:
    first = _post(analyst_api_a, seeds=["hub-a"], hops=1, metric="neighbourhood", offset=1, top_k=20)
    assert first.status_code == 201, first.content
    second = assert_envelope(
        _post(analyst_api_a, seeds=["hub-a"], hops=1, metric="neighbourhood", offset=21, top_k=20), 403
    )
    assert "CUMULATIVE_DEGREE_EXCEEDED" in body_codes(second)


def body_codes(body: dict) -> list[str]:
    return body["details"]["reason_codes"]


def test_cumulative_degree_spans_views_and_versions(lac_a, admin_a, analyst_api_a) -> None:
    first = analyst_api_a.post(
        "/api/queries/",
        {**demo_query(seeds=LEAVES[:12], hops=1, metric="neighbourhood"), "dataset": "calls-demo"},
        format="json",
    )
    assert first.status_code == 201, first.content
    # A new version of the same dataset (one more node), then the rest through a view.
    doc = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
    doc["nodes"].append({"id": "zz-new", "type": "person", "city": "York"})
    with tenant_context(lac_a):
        dataset = Dataset.objects.get(slug="calls-demo")
        version, created = dataset_version_upload(
            actor=admin_a, dataset=dataset, files={"graph": UploadedFile("v2.json", json.dumps(doc).encode())}
        )
    assert created and version.number == 2
    second = analyst_api_a.post(
        "/api/queries/",
        {k: v for k, v in demo_query(seeds=LEAVES[12:24], hops=1, metric="neighbourhood").items() if k != "dataset"}
        | {"view": "calls-only"},
        format="json",
    )
    third = _post(analyst_api_a, seeds=LEAVES[24:36], hops=1, metric="neighbourhood")
    codes = [r.json().get("details", {}).get("reason_codes", []) for r in (second, third)]
    assert any("CUMULATIVE_DEGREE_EXCEEDED" in c for c in codes), codes


def test_exact_filters_on_minimized_attributes_are_refused_and_buckets_work(analyst_api_a) -> None:
    exact = assert_envelope(
        _post(analyst_api_a, seeds=["grp12-0"], hops=1, metric="neighbourhood", node_filter={"age": 37}), 403
    )
    assert "FILTER_FINER_THAN_RELEASE" in body_codes(exact)
    day = assert_envelope(
        _post(analyst_api_a, seeds=["grp12-0"], hops=1, metric="neighbourhood", edge_filter={"since": "2026-06-12"}),
        403,
    )
    assert "FILTER_FINER_THAN_RELEASE" in body_codes(day)
    bucket = _post(
        analyst_api_a,
        seeds=["com-010"],
        hops=1,
        metric="neighbourhood",
        node_filter={"age": "[30, 40)"},
        fields=["age"],
    )
    assert bucket.status_code == 201, bucket.content
    rows = [n for n in bucket.json()["result"]["nodes"] if n["hops"] > 0]
    assert all(n["age"] in ("[30, 40)", "suppressed") for n in rows)


def test_a_view_binds_its_seeds_and_its_filters(lac_a, admin_a, analyst_api_a) -> None:
    from apps.graphs.services import view_create

    with tenant_context(lac_a):
        view_create(
            actor=admin_a,
            slug="leeds",
            name="Leeds",
            dataset_slug="calls-demo",
            fields=["city"],
            hops=1,
            node_filter={"city": ["Leeds"]},
        )
    doc = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
    york = [n["id"] for n in doc["nodes"] if n["city"] == "York" and n["id"].startswith("com-")][:3]
    query = {k: v for k, v in demo_query(seeds=york, hops=1, metric="neighbourhood").items() if k != "dataset"}
    ran = analyst_api_a.post("/api/queries/", {**query, "view": "leeds"}, format="json")
    assert ran.status_code == 201, ran.content
    assert all(n["city"] == "Leeds" for n in ran.json()["result"]["nodes"])  # the York seeds are not in the view
    outside = assert_envelope(
        analyst_api_a.post(
            "/api/queries/", {**query, "view": "leeds", "node_filter": {"age": "[30, 40)"}}, format="json"
        ),
        403,
    )
    assert "FILTER_NOT_IN_VIEW" in body_codes(outside)


def test_an_ambiguous_upload_is_refused_with_a_clear_400(api_a) -> None:
    doc = {
        "attributes": {"nodes": {"phone": "P0"}, "edges": {"phone": "P3"}},
        "nodes": [{"id": "a", "phone": "+1"}, {"id": "b", "phone": "+2"}],
        "edges": [{"source": "a", "target": "b", "phone": "mobile"}],
    }
    f = io.BytesIO(json.dumps(doc).encode())
    f.name = "g.json"
    body = assert_envelope(
        api_a.post("/api/datasets/", {"slug": "amb", "name": "Amb", "graph": f}, format="multipart"), 400
    )
    assert "declared on nodes as P0 and on edges as P3" in json.dumps(body)


@pytest.mark.parametrize("bad", [{"top_k": 2.0}, {"offset": 1.0, "top_k": 3}, {"hops": 1.0}, {"random_seed": 7.0}])
def test_integral_floats_are_a_400_and_store_nothing(analyst_api_a, bad) -> None:
    before = QueryRun.all_tenants.count()
    assert_envelope(_post(analyst_api_a, seeds=["grp12-0"], metric="neighbourhood", **bad), 400, "invalid_query")
    assert QueryRun.all_tenants.count() == before


def test_a_failure_after_validation_is_stored_and_audited_never_a_500(analyst_api_a, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("simulated engine bug")

    monkeypatch.setattr(engine, "execute", broken)
    body = assert_envelope(_post(analyst_api_a, seeds=["grp12-0"], hops=1, metric="neighbourhood"), 422, "query_failed")
    run = QueryRun.all_tenants.get(pk=body["details"]["run_id"])
    assert run.status == "failed" and run.result is None and "EXECUTION_FAILED" in run.reason_codes
    event = AuditEvent.all_tenants.get(tenant=run.tenant, seq=run.audit_seq)
    assert event.action == "query.failed" and event.payload["failure"] == "RuntimeError"


def test_result_stage_denials_are_rate_limited(analyst_api_a) -> None:
    probe = {
        "seeds": ["hub-a-leaf00"],
        "hops": 2,
        "metric": "neighbourhood",
        "edge_filter": {"type": ["calls", "texts", "payments"]},
    }
    codes = [body_codes(_post(analyst_api_a, **probe).json()) for _ in range(6)]
    assert all("DEGREE_EXCEEDED" in c for c in codes[:5]) and "DENIAL_RATE_EXCEEDED" in codes[5]


def test_naming_another_tenants_grant_is_refused_like_any_grant_not_yours(
    analyst_api_a, analyst_a, tenant_b, admin_b
) -> None:
    from apps.queries.redteam import _grant
    from tests.conftest import load_calls_demo, member

    load_calls_demo(tenant_b, admin_b)
    reason = "Case B-7: their own case"
    grant = {
        "rule_id": "identities-with-approval",
        "data_classes": ["P0", "P1", "P2", "P3"],
        "purpose": "investigation",
        "reason": reason,
    }
    with tenant_context(tenant_b):
        theirs = _grant(member(tenant_b, "analyst-b", "analyst"), grant, "calls-demo")
    body = assert_envelope(
        analyst_api_a.post(
            "/api/queries/",
            demo_query(seeds=["grp12-0"], metric="neighbourhood", fields=["name"], grant=theirs, reason=reason),
            format="json",
        ),
        403,
        "query_denied",
    )
    assert "GRANT_NOT_APPLICABLE" in body_codes(body)
    run = QueryRun.all_tenants.get(pk=body["details"]["run_id"])
    assert (
        run.jit_grant_id is None
        and AuditEvent.all_tenants.get(tenant=run.tenant, seq=run.audit_seq).action == "query.denied"
    )
