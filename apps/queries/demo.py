"""Demo data for LAC: the calls-demo dataset, a Tier-1 view, the investigations policy (v1 in
force, a stricter v2 saved beside it for the simulator) and a short query history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.graphs.services import UploadedFile, dataset_create, view_create
from apps.policy_studio.models import Policy
from apps.policy_studio.services import policy_save_version, subject_attributes_set

from .pipeline import query_run_execute

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
DEMO_QUERIES = [
    {"seeds": ["grp12-0"], "hops": 2, "metric": "pagerank", "fields": ["city", "age"]},
    {"seeds": ["grp20-1"], "hops": 1, "metric": "neighbourhood", "fields": ["city"]},
    {"seeds": ["com-010"], "hops": 1, "metric": "degree", "fields": ["city"]},
    {"seeds": ["hub-a"], "hops": 1, "metric": "neighbourhood", "fields": ["city"]},
    {"seeds": ["chain-00"], "hops": 6, "metric": "neighbourhood"},
    {"seeds": ["com-001"], "hops": 2, "metric": "pagerank", "top_k": 20, "offset": 120},
    {"seeds": ["grp30-0"], "hops": 2, "metric": "communities", "fields": ["city"]},
    {"seeds": ["com-050"], "hops": 2, "metric": "betweenness", "top_k": 10},
]


def install_calls_demo(actor: Any) -> None:
    """The calls-demo dataset and its two views (calls-only; identities, Tier-1) in the
    current tenant. Shared by the demo data and the tests."""
    graph = FIXTURES / "datasets" / "calls-demo.json"
    dataset_create(
        actor=actor,
        slug="calls-demo",
        name="Calls (demo)",
        description="Synthetic call/text/payment graph with hubs, a chain, a community and small groups.",
        files={"graph": UploadedFile(graph.name, graph.read_bytes())},
    )
    view_create(
        actor=actor,
        slug="calls-only",
        name="Calls only",
        dataset_slug="calls-demo",
        fields=["city"],
        hops=2,
        edge_filter={"type": ["calls"]},
    )
    view_create(
        actor=actor,
        slug="identities",
        name="Identities (Tier-1)",
        dataset_slug="calls-demo",
        fields=["name", "phone", "city"],
        hops=1,
    )


def seed(tenant: Tenant, prefix: str) -> None:
    User = get_user_model()
    author = User.objects.get(username=f"{prefix}-author")
    analyst = User.objects.get(username=f"{prefix}-analyst")
    with tenant_context(tenant):
        if Dataset.objects.filter(slug="calls-demo").exists():
            return
        install_calls_demo(author)
        source = (FIXTURES / "policies" / "investigations.yaml").read_text()
        policy_save_version(
            actor=author,
            slug="investigations",
            name="Investigations",
            source=source,
            note="Initial policy",
            activate=True,
        )
        stricter = source.replace("max_degree: 25", "max_degree: 8").replace(
            "max_component_size: 40", "max_component_size: 20"
        )
        policy_save_version(actor=author, slug="investigations", source=stricter, note="Proposal: tighter shape limits")
        subject_attributes_set(actor=author, user=analyst, groups=["fraud-team"], clearance=2)
        for query in DEMO_QUERIES:
            spec = {"dataset": "calls-demo", "purpose": "investigation", "reason": "Demo case 2026-118", **query}
            query_run_execute(actor=analyst, roles=frozenset({"analyst"}), spec=spec)
        assert Policy.objects.filter(slug="investigations").exists()
