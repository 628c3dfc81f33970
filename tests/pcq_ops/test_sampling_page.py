"""The replay sampling page: admins set the tenant's and each dataset's rate (0 < rate <= 1),
refused rates get a sentence, every change is audited, and another tenant's dataset is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.core.errors import DomainError
from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.pcq_ops import services
from apps.pcq_ops.models import ReplaySampling
from tests.conftest import member

pytestmark = pytest.mark.django_db
URL = "/ops/pcq/sampling/"


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _rates(tenant) -> dict[str | None, float]:
    with tenant_context(tenant):
        return {r.dataset.slug if r.dataset else None: r.rate for r in ReplaySampling.objects.select_related("dataset")}


def test_an_admin_sets_and_clears_rates_per_tenant_and_dataset_audited(lac_a, admin_a) -> None:
    assert reverse("pcq-ops-sampling") == URL
    c = _client(admin_a)
    page = c.get(URL).content.decode()
    assert 'data-scope="calls-demo"' in page and "follows the default" in page and "none (100%)" in page
    assert c.post(URL, {"dataset": "", "rate": "0.5", "action": "set"}).status_code == 302
    assert c.post(URL, {"dataset": "calls-demo", "rate": "10%", "action": "set"}).status_code == 302
    assert _rates(lac_a) == {None: 0.5, "calls-demo": 0.1}
    page = c.get(URL).content.decode()
    assert "Replay rate of dataset calls-demo set to 10.0%." in page
    with tenant_context(lac_a):
        dataset = Dataset.objects.get(slug="calls-demo")
        assert services.sampling_rate(dataset) == 0.1 and services.sampling_rate(None) == 0.5
        events = AuditEvent.objects.filter(action="pcq_ops.sampling_set").order_by("seq")
        assert [(e.actor, e.payload["dataset"], e.payload["rate"]) for e in events] == [
            (admin_a, None, 0.5),
            (admin_a, "calls-demo", 0.1),
        ]
    assert c.post(URL, {"dataset": "calls-demo", "action": "clear"}).status_code == 302
    assert _rates(lac_a) == {None: 0.5}
    assert "it follows the tenant default again" in c.get(URL).content.decode()
    with tenant_context(lac_a):
        assert services.sampling_rate(Dataset.objects.get(slug="calls-demo")) == 0.5  # follows the default again
        cleared = AuditEvent.objects.get(action="pcq_ops.sampling_cleared")
        assert cleared.actor == admin_a and cleared.payload == {"dataset": "calls-demo", "rate": 0.1}


@pytest.mark.parametrize("typed", ["0", "0%", "1.5", "101%", "-0.2", "abc", "", "nan", "inf"])
def test_a_rate_outside_0_to_1_is_refused_with_a_sentence(lac_a, admin_a, typed) -> None:
    response = _client(admin_a).post(URL, {"dataset": "calls-demo", "rate": typed, "action": "set"})
    assert response.status_code == 400
    assert (
        "The replay rate must be a number above 0 and at most 1 (for example 0.1 or 10%)" in response.content.decode()
    )
    assert _rates(lac_a) == {}
    with tenant_context(lac_a):
        assert not AuditEvent.objects.filter(action="pcq_ops.sampling_set").exists()


def test_only_admins_and_only_their_own_tenant(lac_a, admin_a, tenant_b, admin_b) -> None:
    for role in (Role.APPROVER, Role.AUDITOR, Role.POLICY_AUTHOR, Role.ANALYST):
        c = _client(member(lac_a, f"not-admin-{role}", role))
        assert c.get(URL).status_code == 403
        assert c.post(URL, {"dataset": "", "rate": "0.5", "action": "set"}).status_code == 403
    other = _client(admin_b)  # tenant B has no calls-demo: A's dataset is not found
    assert "calls-demo" not in other.get(URL).content.decode()
    assert other.post(URL, {"dataset": "calls-demo", "rate": "0.5", "action": "set"}).status_code == 404
    assert other.post(URL, {"dataset": "calls-demo", "action": "clear"}).status_code == 404
    assert other.post(URL, {"dataset": "", "rate": "0.2", "action": "set"}).status_code == 302
    assert _rates(lac_a) == {} and _rates(tenant_b) == {None: 0.2}


@given(x=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5).map(float))
@hsettings(max_examples=200, deadline=None)
def test_a_typed_rate_is_accepted_exactly_when_above_0_and_at_most_1(x) -> None:
    for typed, value in ((repr(x), x), (f"{x * 100!r}%", x * 100 / 100)):
        if 0 < value <= 1:
            assert services.sampling_parse(typed) == pytest.approx(value)
        else:
            with pytest.raises(DomainError) as refused:
                services.sampling_parse(typed)
            assert refused.value.message.startswith("The replay rate must be a number above 0 and at most 1")
