"""The pilots API: appeals (tenants file and read; operators list and decide), pilot documents
(create, read, sign) and the per-pair pilot state. Errors are ``{code, message, details}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView
from apps.core.models import Role
from apps.core.permissions import ADMINS, SIGNED_IN

from .. import appeals, readiness
from ..models import Appeal, AppealParty, DocumentParty, PilotDocument

READERS = frozenset({Role.ADMIN, Role.PARTNER, Role.AUDITOR})
RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})


def validated(serializer_class: type[StrictSerializer], request: Any) -> dict[str, Any]:
    """The body as the serializer validated it; a refusal is DRF's 400 in the envelope."""
    incoming = serializer_class(data=request.data)
    incoming.is_valid(raise_exception=True)
    return dict(incoming.validated_data)


class AppealFileSerializer(StrictSerializer):
    subject = serializers.ChoiceField(choices=Appeal.Subject.values)
    reason = serializers.CharField(max_length=appeals.REASON_MAX)
    session = serializers.UUIDField(required=False)
    decision_code = serializers.CharField(max_length=80, required=False, default="")
    partner = serializers.SlugField(required=False, default="")


class AppealDecisionSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=[Appeal.Status.UPHELD.value, Appeal.Status.OVERTURNED.value])
    reason = serializers.CharField(max_length=appeals.REASON_MAX)


class AppealListView(TenantAPIView):
    """Appeals your tenant filed or is the partner of; POST files one (SLA starts now)."""

    required_roles = {"get": READERS, "post": RUNNERS}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_appeals_list")
    def get(self, request: Any) -> Response:
        parties = AppealParty.objects.select_related("appeal__filed_by", "appeal__decided_by")
        return Response({"results": [appeals.appeal_view(p.appeal, tenant=request.tenant) for p in parties]})

    @extend_schema(
        request=AppealFileSerializer, responses={201: OpenApiTypes.OBJECT}, operation_id="pilot_appeals_create"
    )
    def post(self, request: Any) -> Response:
        d = validated(AppealFileSerializer, request)
        party = appeals.appeal_file(
            actor=request.user,
            subject=d["subject"],
            reason=d["reason"],
            session_id=str(d["session"]) if d.get("session") else "",
            decision_code=d["decision_code"],
            partner_slug=d["partner"],
        )
        return Response(appeals.appeal_view(party.appeal, tenant=request.tenant), status=status.HTTP_201_CREATED)


class AppealDetailView(TenantAPIView):
    required_roles = READERS

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_appeal_detail")
    def get(self, request: Any, appeal_id: str) -> Response:
        return Response(appeals.appeal_view(appeals.appeal_for(appeal_id).appeal, tenant=request.tenant))


class OperatorAppealListView(TenantAPIView):
    """The operators' (partner success) queue: open appeals first, by deadline. Superusers only."""

    tenant_required = False
    required_roles = SIGNED_IN

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_operator_appeals")
    def get(self, request: Any) -> Response:
        appeals.require_operator(request.user)
        return Response({"results": [appeals.appeal_view(a) for a in appeals.operator_queue()]})


class OperatorDecisionView(TenantAPIView):
    tenant_required = False
    required_roles = SIGNED_IN

    @extend_schema(
        request=AppealDecisionSerializer, responses=OpenApiTypes.OBJECT, operation_id="pilot_operator_decide"
    )
    def post(self, request: Any, appeal_id: str) -> Response:
        appeals.require_operator(request.user)
        d = validated(AppealDecisionSerializer, request)
        appeal = appeals.appeal_decide(
            public_id=appeal_id, actor=request.user, outcome=d["outcome"], reason=d["reason"]
        )
        return Response(appeals.appeal_view(appeal))


class PilotDocumentSerializer(StrictSerializer):
    partner = serializers.SlugField()
    kind = serializers.ChoiceField(choices=PilotDocument.Kind.values)
    title = serializers.CharField(max_length=200)
    scope = serializers.CharField(max_length=10_000)
    items = serializers.ListField(child=serializers.CharField(max_length=300), required=False, default=list)
    starts_on = serializers.DateField(required=False, allow_null=True, default=None)
    ends_on = serializers.DateField(required=False, allow_null=True, default=None)


class PilotSignSerializer(StrictSerializer):
    signatory_title = serializers.CharField(max_length=120)
    fingerprint = serializers.RegexField(r"^[0-9a-f]{64}$", required=False, default="")
    signature = serializers.CharField(max_length=100, required=False, default="")


class DocumentListView(TenantAPIView):
    """Pilot checklists and agreements your tenant is a party to; admins create them."""

    required_roles = {"get": READERS, "post": ADMINS}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_documents_list")
    def get(self, request: Any) -> Response:
        parties = DocumentParty.objects.select_related("document").order_by("-document__created_at")
        return Response({"results": [readiness.document_view(p) for p in parties]})

    @extend_schema(
        request=PilotDocumentSerializer, responses={201: OpenApiTypes.OBJECT}, operation_id="pilot_documents_create"
    )
    def post(self, request: Any) -> Response:
        d = validated(PilotDocumentSerializer, request)
        party = readiness.document_create(
            actor=request.user,
            partner_slug=d["partner"],
            kind=d["kind"],
            title=d["title"],
            scope=d["scope"],
            items=d["items"],
            starts_on=d["starts_on"],
            ends_on=d["ends_on"],
        )
        return Response(readiness.document_view(party), status=status.HTTP_201_CREATED)


class DocumentDetailView(TenantAPIView):
    required_roles = READERS

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_document_detail")
    def get(self, request: Any, document_id: str) -> Response:
        return Response(readiness.document_view(readiness.document_for(document_id)))


class DocumentSignView(TenantAPIView):
    """Your tenant's admin signs: with a tenant-key signature over the document's digest
    (``tfzk sign-document``), or without one as a recorded approval."""

    required_roles = ADMINS

    @extend_schema(request=PilotSignSerializer, responses=OpenApiTypes.OBJECT, operation_id="pilot_document_sign")
    def post(self, request: Any, document_id: str) -> Response:
        readiness.document_for(document_id)  # another tenant's document is a 404 before the body is read
        d = validated(PilotSignSerializer, request)
        party = readiness.document_sign(
            actor=request.user,
            public_id=document_id,
            signatory_title=d["signatory_title"],
            fingerprint=d["fingerprint"],
            signature=d["signature"],
        )
        return Response(readiness.document_view(party))


class PilotStateView(TenantAPIView):
    """One partner pair's pilot: both sides' settings, quotas and use, sessions, appeals, documents."""

    required_roles = ADMINS

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pilot_state")
    def get(self, request: Any, partner: str) -> Response:
        return Response(readiness.pilot_state(partner))
