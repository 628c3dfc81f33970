"""Environments and the registry (issue 14, step 1): each environment runs one version per
policy, queries name theirs (prod by default), one-click activation reaches dev only."""

from __future__ import annotations

import pytest

from apps.core.tenancy import tenant_context
from apps.policy_studio import environments
from apps.policy_studio.models import Deployment
from apps.policy_studio.services import policy_activate, policy_put_in_force, policy_save_version
from tests.conftest import POLICY_SOURCE, demo_query
from tests.core.test_api import assert_envelope

pytestmark = pytest.mark.django_db
LOOSE = (
    POLICY_SOURCE.replace("max_degree: 25", "max_degree: 100")
    .replace("max_component_size: 40", "max_component_size: 100")
    .replace("max_cumulative_component: 60", "max_cumulative_component: 200")
)
HUB = demo_query(seeds=["hub-a"], hops=1, metric="neighbourhood", fields=["city"])  # degree 60 > 25


def _loosen(admin) -> None:
    policy_save_version(
        actor=admin,
        slug="investigations",
        source=LOOSE,
        activate=True,
        environment="dev",
    )


def test_query_is_decided_by_the_environment_it_names(lac_a, admin_a, analyst_api_a) -> None:
    with tenant_context(lac_a):
        _loosen(admin_a)
    assert analyst_api_a.post("/api/queries/", HUB, format="json").status_code == 403  # prod: v1
    dev = analyst_api_a.post("/api/queries/", {**HUB, "environment": "dev"}, format="json")
    assert dev.status_code == 201 and dev.json()["environment"] == "dev"
    assert dev.json()["decisions"][0]["policy"] == "investigations v2"
    assert "environment" not in dev.json()["spec"]
    # stage runs nothing yet: default deny
    stage = analyst_api_a.post("/api/queries/", {**HUB, "environment": "stage"}, format="json")
    assert assert_envelope(stage, 403)["code"] == "query_denied"
    bad = analyst_api_a.post("/api/queries/", {**HUB, "environment": "qa"}, format="json")
    assert assert_envelope(bad, 400)["code"] == "unknown_environment"


def test_query_page_has_an_environment_selector_defaulting_to_prod(client, lac_a, admin_a, analyst_a) -> None:
    with tenant_context(lac_a):
        _loosen(admin_a)
    client.force_login(analyst_a)
    page = client.get("/queries/").content.decode()
    assert 'name="environment"' in page and '<option value="prod" selected>' in page
    import json

    response = client.post("/queries/", {"spec": json.dumps(HUB), "environment": "dev"})
    assert response.status_code == 302
    with tenant_context(lac_a):
        from apps.queries.models import QueryRun

        run = QueryRun.objects.latest("created_at")
    assert run.environment == "dev" and run.status == "allowed"


def test_registry_records_what_each_environment_should_run_and_since_when(lac_a, admin_a) -> None:
    with tenant_context(lac_a):
        _loosen(admin_a)
        policy = environments.Policy.objects.get(slug="investigations")
        rows = {r.name: r for r in environments.environment_rows(policy)}
        assert rows["dev"].registered.version.number == 2 and rows["dev"].running.number == 2
        assert rows["prod"].running.number == 1 and rows["stage"].running is None
        assert rows["dev"].registered.digest == environments.digest(rows["dev"].registered.version)
        with pytest.raises(Exception, match="by promotion"):
            policy_put_in_force(actor=admin_a, slug="investigations", number=2, environment="prod")
        # the hotfix path changes what prod runs, not what the registry says it should
        before = Deployment.objects.filter(environment="prod").count()
        policy_activate(actor=admin_a, slug="investigations", number=2)
        assert Deployment.objects.filter(environment="prod").count() == before
        policy.refresh_from_db()
        assert environments.running_version(policy, "prod").number == 2


def test_environment_names_are_configurable(settings, lac_a, admin_a) -> None:
    settings.TF_STUDIO_ENVIRONMENTS = ["sandbox", "live"]
    assert environments.prod_name() == "live" and environments.next_after("sandbox") == "live"
    with tenant_context(lac_a), pytest.raises(Exception, match="Unknown environment"):
        policy_put_in_force(actor=admin_a, slug="investigations", number=1, environment="dev")
