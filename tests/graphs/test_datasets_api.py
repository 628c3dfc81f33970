"""Datasets and views through the API and the pages: uploads, bad files, roles, tenants."""

from __future__ import annotations

import io

import pytest
from django.test import override_settings
from django.urls import reverse

from apps.core.models import AuditEvent, Role
from apps.graphs.models import Dataset, DatasetVersion
from tests.conftest import FIXTURES, member, token_client
from tests.core.test_api import assert_envelope


def _file(name: str, data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _upload(client, **files):
    payload = {"slug": "calls", "name": "Calls", **{k: _file(f"{k}.dat", v) for k, v in files.items()}}
    return client.post("/api/datasets/", payload, format="multipart")


def test_upload_json_then_csv_version_is_idempotent(api_a, tenant_a) -> None:
    response = _upload(api_a, graph=(FIXTURES / "datasets" / "calls-demo.json").read_bytes())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["latest_version"]["node_count"] == 504 and body["latest_version"]["stats_summary"]["max_degree"] == 60
    same = api_a.post(
        "/api/datasets/calls/versions/",
        {
            "nodes": _file("n.csv", (FIXTURES / "datasets" / "calls-demo-nodes.csv").read_bytes()),
            "edges": _file("e.csv", (FIXTURES / "datasets" / "calls-demo-edges.csv").read_bytes()),
        },
        format="multipart",
    )
    assert same.status_code == 200 and same.json()["number"] == 1  # same content, no new version
    changed = api_a.post(
        "/api/datasets/calls/versions/",
        {"graph": _file("g.json", b'{"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}]}')},
        format="multipart",
    )
    assert changed.status_code == 201 and changed.json()["number"] == 2
    assert AuditEvent.all_tenants.filter(tenant=tenant_a, action="dataset.version_uploaded").count() == 2


def test_bad_upload_is_400_names_the_row_and_stores_nothing(api_a, tenant_a) -> None:
    events = AuditEvent.all_tenants.count()
    body = assert_envelope(
        _upload(api_a, nodes=b"id,type\nn1,x\nn1,x\n", edges=b"source,target\nn1,ghost\n"), 400, "invalid_graph"
    )
    rows = {(p["file"], p["row"]) for p in body["details"]["problems"]}
    assert ("nodes.dat", 3) in rows and ("edges.dat", 2) in rows
    assert not Dataset.all_tenants.exists() and not DatasetVersion.all_tenants.exists()
    assert AuditEvent.all_tenants.count() == events


def test_upload_needs_files_and_a_valid_slug(api_a) -> None:
    assert_envelope(api_a.post("/api/datasets/", {"slug": "x", "name": "X"}, format="multipart"), 400, "invalid_graph")
    assert_envelope(api_a.post("/api/datasets/", {"slug": "Bad Slug!", "name": "X"}, format="multipart"), 400)


def test_duplicate_slug_is_409(api_a) -> None:
    graph = b'{"nodes": [{"id": "a"}], "edges": []}'
    assert _upload(api_a, graph=graph).status_code == 201
    assert_envelope(_upload(api_a, graph=graph), 409, "conflict")


@override_settings(TF_MAX_REQUEST_BYTES=100_000)
def test_huge_garbage_is_413_before_reading(api_a) -> None:
    assert_envelope(_upload(api_a, graph=b"\x00garbage" * 50_000), 413, "request_too_large")
    assert not Dataset.all_tenants.exists()


def test_analysts_cannot_upload(tenant_a, analyst_a) -> None:
    client = token_client(analyst_a, tenant_a)
    assert_envelope(_upload(client, graph=b'{"nodes": [{"id": "a"}]}'), 403, "permission_denied")


def test_views_are_tier1_when_they_show_p0_or_p1(lac_a, api_a) -> None:
    views = {v["slug"]: v for v in api_a.get("/api/views/").json()["results"]}
    assert views["identities"]["tier1"] is True and views["calls-only"]["tier1"] is False
    body = assert_envelope(
        api_a.post(
            "/api/views/", {"slug": "v2", "name": "V", "dataset": "calls-demo", "fields": ["nope"]}, format="json"
        ),
        400,
    )
    assert body["details"] == {"fields": ["nope"]}


def test_other_tenant_cannot_see_or_use_datasets(lac_a, api_b) -> None:
    assert api_b.get("/api/datasets/").json()["results"] == []
    assert_envelope(api_b.get("/api/datasets/calls-demo/"), 404)
    assert_envelope(
        api_b.post("/api/views/", {"slug": "v", "name": "v", "dataset": "calls-demo", "fields": []}, format="json"), 404
    )


def test_dataset_pages(client, lac_a, admin_a, tenant_b) -> None:
    client.force_login(admin_a)
    page = client.get(reverse("datasets")).content.decode()
    assert "calls-demo" in page and "Tier-1" in page
    detail = client.get(reverse("dataset-page", args=["calls-demo"])).content.decode()
    assert "hub-a" in detail and "504" in detail
    bad = client.post(
        reverse("datasets"),
        {"slug": "bad", "name": "Bad", "license": "x", "legal_authority": "y", "structure_class": "P2",
         "nodes": _file("n.csv", b"id\na\na\n"), "edges": _file("e.csv", b"source,target\n")},
    )  # fmt: skip
    assert bad.status_code == 400 and "row 3" in bad.content.decode()
    outsider = member(tenant_b, "outsider-b", Role.ADMIN)
    client.force_login(outsider)
    assert client.get(reverse("dataset-page", args=["calls-demo"])).status_code == 404


@pytest.mark.parametrize("role", [Role.ANALYST, Role.AUDITOR])
def test_readers_see_but_cannot_upload_in_pages(client, lac_a, role) -> None:
    user = member(lac_a, f"reader-{role}", role)
    client.force_login(user)
    page = client.get(reverse("datasets")).content.decode()
    assert "calls-demo" in page and "Upload a dataset" not in page
    # Posting is refused by the declared roles, before the view runs.
    assert client.post(reverse("datasets"), {"slug": "x", "name": "x"}).status_code == 403
    assert client.post(reverse("dataset-page", args=["calls-demo"]), {}).status_code == 403


PLANNER_KEYS = {"max_degree", "max_degree_node", "degree_histogram", "components", "largest_component",
                "component_size_histogram"}  # fmt: skip


@pytest.mark.parametrize(
    ("role", "sees_planner"),
    [
        (Role.ANALYST, False),
        (Role.PARTNER, False),
        (Role.AUDITOR, True),
        (Role.POLICY_AUTHOR, True),
        (Role.ADMIN, True),
    ],
)
def test_planner_statistics_only_for_policy_roles(client, lac_a, role, sees_planner) -> None:
    """The hub, its degree, the histograms and the largest component are what the graph
    constraints protect: analysts and partners see node and edge counts only, in the API
    (list and detail) and in the pages, through the one selector rule."""
    user = member(lac_a, f"stats-{role}", role)
    api = token_client(user, lac_a)
    listed = api.get("/api/datasets/").json()
    rows = listed["results"] if isinstance(listed, dict) and "results" in listed else listed
    summaries = [r["latest_version"]["stats_summary"] for r in rows if r["slug"] == "calls-demo"]
    summaries.append(api.get("/api/datasets/calls-demo/").json()["latest_version"]["stats_summary"])
    for summary in summaries:
        assert summary["nodes"] == 504
        assert bool(PLANNER_KEYS & set(summary)) is sees_planner, summary
        if not sees_planner:
            assert set(summary) == {"nodes", "edges"}
    client.force_login(user)
    detail = client.get(reverse("dataset-page", args=["calls-demo"])).content.decode()
    assert "504" in detail
    assert ("hub-a" in detail) is sees_planner
    assert ("Degree distribution" in detail) is sees_planner
