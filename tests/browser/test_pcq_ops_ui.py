"""On-call in a real browser: from the pages list to the root of an anomaly in at most five
clicks, for each root kind (policy, dataset, dependency, code), and the explorer's CSV."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.pcq_ops import anomalies, lineage
from apps.pcq_ops.models import RunLineage
from tests.browser.conftest import sign_in
from tests.conftest import member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = {
    "code": lineage.code_node("a" * 64),
    "dependency": lineage.dependency_node((("networkx", "3.3"), ("numpy", "2.1.0"), ("scipy", "1.13.1"))),
    "policy": lineage.policy_node(
        [{"policy": "investigations", "version": 6, "source_hash": "b" * 64}],
        [{"attribute": "age", "transform": "generalize"}],
    ),
    "dataset": lineage.dataset_node("calls-demo", 3, "c" * 64),
    "transform": lineage.transform_node(["source", "seeds", "expand", "metric"]),
}
CHANGES = {
    "policy": ("policy", lineage.policy_node(
        [{"policy": "investigations", "version": 7, "source_hash": "d" * 64}],
        [{"attribute": "age", "transform": "suppress"}],
    ), "minimization for `age`"),
    "dataset": ("dataset", lineage.dataset_node("calls-demo", 4, "e" * 64), "dataset calls-demo v4"),
    "dependency": ("dependency", lineage.dependency_node(
        (("networkx", "3.3"), ("numpy", "2.1.0"), ("scipy", "1.14.0"))
    ), "scipy 1.13.1 → 1.14.0"),
    "code": ("code", lineage.code_node("f" * 64), "verifier ffffffffffff"),
}  # fmt: skip


@pytest.mark.parametrize("root_kind", sorted(CHANGES))
def test_on_call_reaches_the_root_in_at_most_five_clicks(page, tenant_a, root_kind) -> None:
    member(tenant_a, "oncall", Role.ADMIN)
    node, changed, expected = CHANGES[root_kind]
    subject = f"query:calls-demo:{root_kind}"
    with tenant_context(tenant_a):
        RunLineage.objects.create(
            subject=subject, good=True, lineage=BASE, created_at=timezone.now() - timedelta(hours=1)
        )
        current = copy.deepcopy(BASE) | {node: changed}
        with transaction.atomic():  # as the replay service records it
            a = anomalies.anomaly_record(
                kind="variance", message="Replay differs.", current=current, subject=subject,
                dataset="calls-demo", transform="metric", metric="pagerank", delta=0.5, tolerance=1e-6,
            )  # fmt: skip
    assert a.root_kind == root_kind and a.page_id
    sign_in(page, "oncall", "correct horse battery staple")
    page.goto("/ops/pcq/pages/")
    clicks = 0
    for selector in (f"tr[data-page='{a.page_id}'] a", f"tr[data-anomaly='{a.pk}'] a", "li[data-changed] a"):
        page.click(selector)
        clicks += 1
    page.wait_for_load_state()  # the last click navigates; is_visible() does not wait for it
    page.wait_for_selector("[data-is-root]", state="attached", timeout=10_000)
    assert page.locator("[data-is-root]").is_visible()
    assert expected in page.locator("[data-change]").inner_text()
    assert clicks <= 5


def test_explorer_csv_downloads(page, tenant_a) -> None:
    member(tenant_a, "oncall", Role.ADMIN)
    with tenant_context(tenant_a), transaction.atomic():
        anomalies.anomaly_record(
            kind="error", message="Inputs differ.", current=BASE, subject="query:calls-demo:x", dataset="calls-demo"
        )
    sign_in(page, "oncall", "correct horse battery staple")
    page.goto("/ops/pcq/?kind=error")
    with page.expect_download() as info:
        page.click("a[data-csv]")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("id,created_at,kind") and ",error," in text


def test_an_admin_edits_a_dataset_replay_rate_and_sees_a_refused_one_explained(page, tenant_a) -> None:
    from apps.graphs.models import Dataset

    admin = member(tenant_a, "oncall", Role.ADMIN)
    with tenant_context(tenant_a):
        Dataset.objects.create(slug="calls-demo", name="Calls", created_by=admin)
    sign_in(page, "oncall", "correct horse battery staple")
    page.goto("/ops/pcq/")
    page.click("text=Replay sampling")
    row = page.locator("tr[data-scope='calls-demo']")
    assert row.locator("[data-effective]").inner_text() == "100%"
    row.locator("input[name=rate]").fill("0")
    row.locator("button[value=set]").click()
    assert "must be a number above 0 and at most 1" in page.locator("[data-sampling-error]").inner_text()
    row = page.locator("tr[data-scope='calls-demo']")
    row.locator("input[name=rate]").fill("25%")
    row.locator("button[value=set]").click()
    assert page.locator("tr[data-scope='calls-demo'] [data-effective]").inner_text() == "25%"
    assert page.locator("tr[data-scope='tenant'] [data-effective]").inner_text() == "100%"
