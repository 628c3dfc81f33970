"""Cases for tests/core/test_cross_tenant.py: how to build tenant A's digest objects, so the
walk over every object page can ask for them as a member of tenant B."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from apps.core.tenancy import tenant_context


def _digest(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.tenant_rollups import periods
    from apps.tenant_rollups.services import digest_build

    # A week long ago that tenant B has no digest for.
    week = periods.week_starting(date(2024, 1, 1), periods.zone(tenant.time_zone))
    digest = digest_build(tenant, week=week)
    return {"week": digest.week_start.isoformat()}


def _item(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.tenant_rollups.models import ActionItem

    with tenant_context(tenant):
        item = ActionItem.objects.create(
            kind="denial_rising", key="denial_rising:X", title="X rose", owner=owner, due_on=date.today() + timedelta(7)
        )
    return {"pk": str(item.pk)}


DIGEST_PAGE_CASES = {"digest-detail": _digest, "digest-download": _digest, "digest-item-update": _item}
# Reached with a signed per-recipient token, no tenant in the URL; see tests/tenant_rollups/test_reading.py.
DIGEST_TOKEN_PAGES = {"digest-open", "digest-image", "digest-unsubscribe"}
