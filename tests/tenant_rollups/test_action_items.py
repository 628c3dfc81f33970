"""Action items: proposed from what the digest found, carried into every later digest
until closed, changed only by their owner or an admin; and the archive and items stay
inside their tenant (another tenant's digest or item is a 404)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.tenant_rollups.models import ActionItem, Digest, DigestImmutableError
from tests.conftest import tamper
from tests.tenant_rollups.conftest import local_time
from tests.tenant_rollups.test_digest_delivery import beat

pytestmark = pytest.mark.django_db


def _items(digest: Digest) -> dict[str, list[dict]]:
    return digest.document["action_items"]


def _digests(tenant) -> list[Digest]:
    with tenant_context(tenant):
        return list(Digest.objects.order_by("week_start"))


def test_items_appear_carry_over_and_close(digest_world, smtp, django_capture_on_commit_callbacks) -> None:
    w = digest_world
    beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    [first] = _digests(w["tenant"])
    # The hub query broke two limits, 4 times this week against once the week before: both
    # reasons are "rising"; the deciding rule is listed but proposes nothing.
    opened = {i["title"]: i for i in _items(first)["open"]}
    assert set(opened) == {
        "Denials for DEGREE_EXCEEDED rose to 4 (previous week 1)",
        "Denials for COMPONENT_SIZE_EXCEEDED rose to 4 (previous week 1)",
    }
    item = opened["Denials for DEGREE_EXCEEDED rose to 4 (previous week 1)"]
    assert item["kind"] == "denial_rising" and item["owner"] == "owner-a" and not item["carried_over"]
    assert item["due_on"] == (w["week"].start_day + timedelta(days=14)).isoformat()
    assert item["link"].startswith("/audit/?action=query.denied")
    rules = [m for m in first.document["sections"][0]["metrics"] if m["group"] == "Denials by policy rule"]
    assert [(m["label"], m["value"], m["previous"]) for m in rules] == [("analysts-investigate", 4, 1)]

    owner = Client()
    owner.force_login(w["owner"])
    page = owner.get("/digests/actions/").content.decode()
    assert f'data-item="{item["id"]}" data-status="open"' in page

    # Next week nothing new happens: the item is carried over, not duplicated.
    beat(local_time(w["week"], w["tz"], 14, 7, 5), django_capture_on_commit_callbacks)
    second = _digests(w["tenant"])[1]
    carried = {i["id"]: i for i in _items(second)["open"]}
    assert set(carried) == {i["id"] for i in opened.values()}
    assert carried[item["id"]]["carried_over"] and carried[item["id"]]["since"] == first.week_label
    assert "carried over" in smtp.to("owner-a@example.test")[-1].get_body(("html",)).get_content()

    # The auditor (not the owner, not an admin) cannot change it; the owner closes it.
    auditor = Client()
    auditor.force_login(w["auditor"])
    auditor.post(f"/digests/actions/{item['id']}/", {"status": "closed"})
    with tenant_context(w["tenant"]):
        assert ActionItem.objects.get(pk=item["id"]).status == "open"
    assert owner.post(f"/digests/actions/{item['id']}/", {"status": "in_progress"}).status_code == 302
    assert owner.post(f"/digests/actions/{item['id']}/", {"status": "closed"}).status_code == 302
    with tenant_context(w["tenant"]):
        closed = ActionItem.objects.get(pk=item["id"])
    assert closed.status == "closed" and closed.closed_by == w["owner"]
    changes = [
        e.payload["changes"]
        for e in AuditEvent.all_tenants.filter(tenant=w["tenant"], action="digest.action_item_updated").order_by("seq")
    ]
    assert changes == [{"status": "in_progress"}, {"status": "closed"}]
    # A closed item stays closed.
    owner.post(f"/digests/actions/{item['id']}/", {"status": "open"})
    with tenant_context(w["tenant"]):
        assert ActionItem.objects.get(pk=item["id"]).status == "closed"

    # The next digest reports it closed and no longer carries it.
    beat(local_time(w["week"], w["tz"], 21, 7, 5), django_capture_on_commit_callbacks)
    third = _digests(w["tenant"])[2]
    assert item["id"] not in {i["id"] for i in _items(third)["open"]} and len(_items(third)["open"]) == 1
    assert [i["id"] for i in _items(third)["closed_recently"]] == [item["id"]]


def test_admin_reassigns_only_to_members(digest_world, smtp, django_capture_on_commit_callbacks) -> None:
    w = digest_world
    beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    with tenant_context(w["tenant"]):
        item = ActionItem.objects.first()
    owner = Client()
    owner.force_login(w["owner"])
    owner.post(f"/digests/actions/{item.pk}/", {"status": "open", "owner": w["outsider"].pk})
    with tenant_context(w["tenant"]):
        assert ActionItem.objects.get(pk=item.pk).owner == w["owner"]  # a member of another tenant is refused
    owner.post(f"/digests/actions/{item.pk}/", {"status": "open", "owner": w["auditor"].pk})
    with tenant_context(w["tenant"]):
        assert ActionItem.objects.get(pk=item.pk).owner == w["auditor"]


def test_another_tenants_archive_download_and_items_are_404(
    digest_world, smtp, django_capture_on_commit_callbacks
) -> None:
    w = digest_world
    beat(local_time(w["week"], w["tz"], 7, 8, 5), django_capture_on_commit_callbacks)
    with tenant_context(w["tenant"]):
        item = ActionItem.objects.first()
    day = w["week"].start_day.isoformat()
    outsider = Client()
    outsider.force_login(w["outsider"])
    # B has its own digest of the same week, so the URL exists there: B sees only its own.
    b_detail = outsider.get(f"/digests/{day}/")
    assert b_detail.status_code == 200 and b"Agency A" not in b_detail.content
    b_file = json.loads(outsider.get(f"/digests/{day}/digest.dsse.json").content)
    assert json.loads(base64.b64decode(b_file["envelope"]["payload"]))["tenant"]["slug"] == "agency-b"
    assert outsider.get("/digests/").content.count(b"data-week=") == len(_digests(w["other"]))
    # A's action item: 404 to read-modify, the same as a missing one.
    assert outsider.post(f"/digests/actions/{item.pk}/", {"status": "closed"}).status_code == 404
    assert outsider.post("/digests/actions/999999/", {"status": "closed"}).status_code == 404
    assert str(item.title).encode() not in outsider.get("/digests/actions/?status=all").content
    with tenant_context(w["tenant"]):
        assert ActionItem.objects.get(pk=item.pk).status == "open"
    # A week B has no digest for is a 404 too.
    earlier = (w["week"].start_day.replace(year=w["week"].start_day.year - 1)).isoformat()
    assert outsider.get(f"/digests/{earlier}/").status_code == 404
    assert outsider.get("/digests/not-a-date/").status_code == 404


def test_an_edited_stored_digest_is_flagged_on_its_page(digest_world, smtp, django_capture_on_commit_callbacks) -> None:
    w = digest_world
    beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    [digest] = _digests(w["tenant"])
    with pytest.raises(DigestImmutableError):
        digest.save()
    owner = Client()
    owner.force_login(w["owner"])
    day = w["week"].start_day.isoformat()
    assert b'data-verified="true"' in owner.get(f"/digests/{day}/").content
    # Someone with table-owner rights rewrites the stored document (trigger disabled).
    doc = digest.document
    next(m for m in doc["sections"][0]["metrics"] if m["key"] == "queries_denied")["value"] = 0
    envelope = {**digest.envelope, "payload": base64.b64encode(json.dumps(doc).encode()).decode()}
    tamper(
        "UPDATE tenant_rollups_digest SET envelope = %s WHERE id = %s",
        [json.dumps(envelope), digest.pk],
        "tenant_rollups_digest",
    )
    page = owner.get(f"/digests/{day}/").content.decode()
    assert 'data-verified="false"' in page and "signature" in page


def test_a_closed_finding_that_recurs_opens_a_new_item(digest_world, smtp, django_capture_on_commit_callbacks) -> None:
    from apps.tenant_rollups.sections.base import Proposal, Section
    from apps.tenant_rollups.services import _apply_proposals

    w = digest_world
    section = Section("decisions", "Decisions")
    section.proposals.append(Proposal(kind="denial_rising", key="denial_rising:X", title="X rose"))
    with tenant_context(w["tenant"]):
        [first], _ = _apply_proposals([section], w["week"])
        assert _apply_proposals([section], w["week"]) == ([], [first])  # still open: seen again
        ActionItem.objects.filter(pk=first).update(status="closed")
        [second], _ = _apply_proposals([section], w["week"])
    assert second != first
