from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.core.tenancy import tenant_context
from apps.policy_studio.models import PolicyVersion
from apps.policy_studio.services import policy_save_version
from apps.queries.models import QueryRun
from apps.queries.redteam import DEFAULT_CORPUS, run_corpus
from tests.conftest import POLICY_SOURCE, demo_query

LEAK_CLASSES = {
    "metric_scope", "paging_seed", "cumulative_degree", "denial_disclosure", "filter_oracle", "attribute_collision",
    "view_binding", "decoy_padding", "grant_reason", "monitor_fail_open", "malformed_numbers",
}  # fmt: skip


def test_the_corpus_covers_every_leak_class_with_attacks_and_lookalikes() -> None:
    corpus = json.loads(DEFAULT_CORPUS.read_text())
    cases = corpus["cases"]
    assert len(cases) >= 250 and all(c.get("class") for c in cases)
    for cls in LEAK_CLASSES:
        attacks = [c for c in cases if c["class"] == cls and c["expect"] != "allow"]
        benign = [c for c in cases if c["class"] == cls and c["expect"] == "allow"]
        assert len(attacks) >= 10 and len(benign) >= 3, cls
    multi_step = {c["class"] for c in cases if len(c["steps"]) > 1 and c["expect"] != "allow"}
    assert {"paging_seed", "cumulative_degree", "denial_disclosure"} <= multi_step


def test_redteam_corpus_has_zero_false_negatives(db) -> None:
    report = run_corpus()
    failures = [o for o in report.outcomes if o.verdict != "pass"]
    assert failures == [], failures
    summary = report.summary()
    assert summary["false_negatives"] == 0 and report.passed
    assert all(row["false_positive_rate"] <= 0.02 for row in summary["classes"].values())
    assert not QueryRun.all_tenants.exists()  # the run left nothing behind


def test_a_weakened_policy_makes_the_corpus_fail(tmp_path, db) -> None:
    """The corpus really bites: drop the degree cap and hub expansion leaks."""
    corpus = json.loads(DEFAULT_CORPUS.read_text())
    (tmp_path / "policies").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "redteam").mkdir()
    (tmp_path / "policies" / "investigations.yaml").write_text(
        POLICY_SOURCE.replace("    max_degree: 25\n", "").replace("max_component_size: 40", "max_component_size: 4000")
    )
    (tmp_path / "datasets" / "calls-demo.json").write_text(
        (DEFAULT_CORPUS.parents[1] / "datasets" / "calls-demo.json").read_text()
    )
    corpus["cases"] = [c for c in corpus["cases"] if c["pattern"] == "hub_expansion"]
    (tmp_path / "redteam" / "corpus.json").write_text(json.dumps(corpus))
    report = run_corpus(tmp_path / "redteam" / "corpus.json")
    assert report.count("false_negative") > 0 and not report.passed
    with pytest.raises(CommandError, match="red-team corpus failed"):
        call_command("lac_redteam", corpus=str(tmp_path / "redteam" / "corpus.json"), stdout=StringIO())


def _history(tenant, analyst) -> None:
    from apps.queries.pipeline import query_run_execute

    with tenant_context(tenant):
        for seeds, hops, metric in [
            (["grp12-0"], 2, "pagerank"),
            (["com-010"], 1, "degree"),
            (["hub-b"], 1, "degree"),
            (["com-020"], 2, "neighbourhood"),
        ]:
            query_run_execute(
                actor=analyst,
                roles=frozenset({"analyst"}),
                spec=demo_query(seeds=seeds, hops=hops, metric=metric, fields=["city", "age"]),
            )


def test_simulator_shows_what_a_stricter_version_changes(lac_a, admin_a, analyst_a, api_a) -> None:
    _history(lac_a, analyst_a)
    with tenant_context(lac_a):
        policy_save_version(
            actor=admin_a,
            slug="investigations",
            source=POLICY_SOURCE.replace("max_degree: 25", "max_degree: 3").replace(
                "width: 10, min_count: 3", "width: 20, min_count: 3"
            ),
        )
    response = api_a.post(
        "/api/simulations/", {"policy": "investigations", "version_a": 1, "version_b": 2}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"]["decisions"] == 4 and body["summary"]["newly_denied"] >= 1
    denied = [r for r in body["changed"] if r["b"]["outcome"] == "deny"]
    assert all("DEGREE_EXCEEDED" in r["b"]["codes"] for r in denied)
    assert any(
        c["attribute"] == "age" and "width=20" in c["b"] for r in body["changed"] for c in r["minimization_changes"]
    )
    assert_same = api_a.post(
        "/api/simulations/", {"policy": "investigations", "version_a": 1, "version_b": 1}, format="json"
    ).json()
    assert assert_same["summary"]["changed"] == 0


def test_simulation_page_and_csv(client, lac_a, admin_a, analyst_a) -> None:
    _history(lac_a, analyst_a)
    with tenant_context(lac_a):
        policy_save_version(
            actor=admin_a, slug="investigations", source=POLICY_SOURCE.replace("max_degree: 25", "max_degree: 3")
        )
    client.force_login(admin_a)
    page = client.get(reverse("policy-simulate", args=["investigations"]), {"a": 1, "b": 2}).content.decode()
    assert "newly denied" in page and "pill deny" in page
    csv_text = client.get(
        reverse("policy-simulate", args=["investigations"]), {"a": 1, "b": 2, "format": "csv"}
    ).content.decode()
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("run_id,created_at,user,dataset,outcome_a,outcome_b") and rows
    assert client.get(reverse("policy-simulate", args=["investigations"]), {"a": 1, "b": 99}).status_code == 404


def test_simulation_of_1k_decisions_is_fast_enough_to_measure(lac_a, admin_a, analyst_a) -> None:
    """Functional check only (speed is in make bench-lac): 1,000 decisions replay."""
    from apps.policy_studio.simulator import simulate
    from apps.queries.selectors import past_decisions

    _history(lac_a, analyst_a)
    with tenant_context(lac_a):
        run = QueryRun.objects.first()
        QueryRun.objects.bulk_create(
            [
                QueryRun(
                    **{f.attname: getattr(run, f.attname) for f in QueryRun._meta.concrete_fields if f.attname != "id"}
                )
                for _ in range(996)
            ]
        )
        version = PolicyVersion.objects.get(number=1)
        sim = simulate(version, version, past_decisions())
    assert len(sim.rows) == 1000 and sim.summary()["changed"] == 0


def test_coverage_is_computed_and_fails_below_100(lac_a, admin_a, client) -> None:
    out = StringIO()
    call_command("lac_coverage", tenant=lac_a.slug, stdout=out)
    assert (
        "1/1 Tier-1 views covered (100.0%)" in out.getvalue()
        and "identities.phone (P0): investigations/mask-phone" in out.getvalue()
    )
    with tenant_context(lac_a):
        policy_save_version(
            actor=admin_a, slug="investigations", activate=True,
            source=POLICY_SOURCE.replace("  - {id: mask-phone, transform: mask, attributes: [phone], keep_last: 2}\n", ""),
        )  # fmt: skip
    with pytest.raises(CommandError, match="below 100%"):
        call_command("lac_coverage", tenant=lac_a.slug, stdout=StringIO())
    client.force_login(admin_a)
    page = client.get(reverse("coverage")).content.decode()
    assert "FAIL" in page and 'data-coverage="0.0"' in page
