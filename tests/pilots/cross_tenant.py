"""Cross-tenant cases for the pilots app (used by tests/core/test_cross_tenant.py): an appeal
and a pilot document between tenant A and a third tenant, so tenant B is party to neither."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.services import audit_record
from apps.core.tenancy import tenant_context


def _third_pair(tenant: Any, owner: Any) -> Any:
    from apps.core.models import Tenant
    from tests.zk.conftest import pilot

    third, created = Tenant.objects.get_or_create(slug="agency-c", defaults={"name": "Agency C"})
    if created:
        pilot(tenant, third.slug, owner)
        pilot(third, tenant.slug, owner)
    return third


def _appeal(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.pilots import appeals

    third = _third_pair(tenant, owner)
    with tenant_context(tenant):
        with transaction.atomic():  # the refusal A's API answered (as the ZK views audit it)
            audit_record("zk.refused", actor=owner, payload={"code": "k_floor", "route": "session_propose"})
        party = appeals.appeal_file(
            actor=owner,
            subject="refusal",
            decision_code="k_floor",
            partner_slug=third.slug,
            reason="The k floor refused a pilot session we agreed with agency-c.",
        )
    return {"appeal_id": str(party.appeal.public_id), "partner": third.slug}


def _document(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.pilots import readiness

    third = _third_pair(tenant, owner)
    with tenant_context(tenant):
        party = readiness.document_create(
            actor=owner,
            partner_slug=third.slug,
            kind="checklist",
            title="Pilot checklist",
            scope="Phase 1",
            items=["Both admins named"],
        )
    return {"document_id": str(party.document.public_id), "partner": third.slug}


PILOTS_API_CASES = {
    "api-pilot-appeals": _appeal,
    "api-pilot-appeal": _appeal,
    "api-pilot-operator-appeals": _appeal,
    "api-pilot-operator-decide": _appeal,
    "api-pilot-documents": _document,
    "api-pilot-document": _document,
    "api-pilot-document-sign": _document,
    "api-pilot-state": _document,
}
# Operator-only routes: a tenant member (of any tenant) gets 403 ``operators_only`` for every id,
# existing or not, so the answer says nothing about another tenant's appeal.
PILOTS_OPERATOR_ONLY = {"api-pilot-operator-decide"}
PILOTS_PAGE_CASES = {
    "pilot-appeal": _appeal,
    "pilot-operator-appeal": _appeal,
    "pilot-page": _document,
}
