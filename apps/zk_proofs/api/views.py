from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView
from apps.core.models import Role
from apps.core.permissions import ANY_MEMBER

from .. import services
from ..models import DISCLOSURE, SELECTOR_TYPES, Participation

RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})


def session_view(part: Participation) -> dict[str, Any]:
    s = part.session
    out: dict[str, Any] = {
        "session": str(s.public_id),
        "role": part.role,
        "status": s.status,
        "k": s.k,
        "disclosure": s.disclosure,
        "selector_type": s.selector_type,
        "suite": s.suite,
        "key_registered": bool(part.key),
        "round1_uploaded": part.round1 is not None,
        "round2_uploaded": part.round2 is not None,
        "failure": s.failure,
    }
    if s.status == "done":
        out["verdict"] = {"overlap_at_most_k": s.verdict}
        if s.disclosure == "verdict_and_count":
            out["verdict"]["count"] = s.count
        out["bundle_digest"] = s.bundle_digest
    return out


class ProposeSerializer(StrictSerializer):
    partner = serializers.SlugField()
    k = serializers.IntegerField(min_value=0, max_value=1_000_000)
    disclosure = serializers.ChoiceField(choices=[d for d, _ in DISCLOSURE])
    selector_type = serializers.ChoiceField(choices=SELECTOR_TYPES)


class KeySerializer(StrictSerializer):
    key = serializers.CharField(max_length=66, min_length=66)
    proof = serializers.DictField(child=serializers.CharField(max_length=64))


class Round1Serializer(StrictSerializer):
    padded_size = serializers.IntegerField(min_value=1)
    chunks = serializers.ListField(child=serializers.ListField(child=serializers.CharField(max_length=66)))
    signature = serializers.DictField(child=serializers.CharField(max_length=64))


class Round2Serializer(StrictSerializer):
    chunks = serializers.ListField(child=serializers.ListField(child=serializers.CharField(max_length=66)))
    proofs = serializers.ListField(child=serializers.DictField(child=serializers.CharField(max_length=64)))


class SessionListView(TenantAPIView):
    """Your tenant's ZK-TX sessions; POST proposes one to a partner tenant."""

    required_roles = {"get": RUNNERS | {Role.AUDITOR}, "post": RUNNERS}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="zk_sessions_list")
    def get(self, request: Any) -> Response:
        parts = Participation.objects.select_related("session").order_by("-session__created_at")
        return Response({"results": [session_view(p) for p in parts]})

    @extend_schema(request=ProposeSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Any) -> Response:
        incoming = ProposeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        part = services.session_propose(
            actor=request.user,
            partner_slug=d["partner"],
            k=d["k"],
            disclosure=d["disclosure"],
            selector_type=d["selector_type"],
        )
        return Response(session_view(part), status=status.HTTP_201_CREATED)


class SessionDetailView(TenantAPIView):
    required_roles = RUNNERS | {Role.AUDITOR}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any, session_id: str) -> Response:
        return Response(session_view(services.participation_for(session_id)))


class SessionKeyView(TenantAPIView):
    required_roles = RUNNERS

    @extend_schema(request=KeySerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        incoming = KeySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        part = services.key_register(
            part=own, key_hex=incoming.validated_data["key"], proof=incoming.validated_data["proof"]
        )
        return Response(session_view(services.participation_for(str(part.session.public_id))))


class Round1View(TenantAPIView):
    required_roles = RUNNERS

    @extend_schema(request=Round1Serializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        incoming = Round1Serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        part = services.round1_upload(
            part=own, padded_size=d["padded_size"], chunks=d["chunks"], signature=d["signature"]
        )
        return Response(
            session_view(services.participation_for(str(part.session.public_id))), status=status.HTTP_202_ACCEPTED
        )


class CounterpartView(TenantAPIView):
    """The counterpart's round-1 blinded set, to re-blind (never your own)."""

    required_roles = RUNNERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any, session_id: str) -> Response:
        return Response(services.counterpart_round1(services.participation_for(session_id)))


class Round2View(TenantAPIView):
    required_roles = RUNNERS

    @extend_schema(request=Round2Serializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        incoming = Round2Serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        part = services.round2_upload(part=own, chunks=d["chunks"], chunk_proofs=d["proofs"])
        return Response(
            session_view(services.participation_for(str(part.session.public_id))), status=status.HTTP_202_ACCEPTED
        )


class BundleView(TenantAPIView):
    """The signed bundle with its explainer, once the session is done."""

    required_roles = RUNNERS | {Role.AUDITOR}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any, session_id: str) -> Response:
        part = services.participation_for(session_id)
        if part.session.bundle is None:
            from apps.core.errors import Conflict

            raise Conflict("The session has no bundle yet.", code="not_ready")
        from django.http import HttpResponse

        from apps.provenance.pcq.canonical import canonicalize

        response = HttpResponse(canonicalize(part.session.bundle), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="zktx-{session_id}.json"'
        return response


class VerifySerializer(StrictSerializer):
    bundles = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=500)
    level = serializers.ChoiceField(choices=["L0", "L1"], default="L1")


def bisect(items: list[Any], ok: Any) -> list[int]:
    """Indexes of the failing items: check the batch, split a failing batch in halves."""

    def walk(lo: int, hi: int) -> list[int]:
        if ok(items[lo:hi]):
            return []
        if hi - lo == 1:
            return [lo]
        mid = (lo + hi) // 2
        return walk(lo, mid) + walk(mid, hi)

    return walk(0, len(items)) if items else []


class VerifyView(TenantAPIView):
    """Verify up to 500 bundles. L0: each header digest is one this server issued and saw
    verified (a cache lookup). L1: server and tenant signatures. A failing batch is bisected
    to name the bad bundles."""

    required_roles = ANY_MEMBER

    @extend_schema(request=VerifySerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        from apps.provenance.keys import public_keys
        from apps.provenance.pcq.canonical import digest

        from ..models import OverlapSession
        from ..zk.bundle import verify_l1

        incoming = VerifySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        bundles, level = incoming.validated_data["bundles"], incoming.validated_data["level"]
        if level == "L0":
            known = set(
                OverlapSession.objects.filter(
                    bundle_digest__in=[b.get("digest", "") for b in bundles], status="done"
                ).values_list("bundle_digest", flat=True)
            )

            def check(batch: list[Any]) -> bool:
                return all(b.get("digest") in known and digest(b.get("header", {})) == b.get("digest") for b in batch)
        else:
            key = public_keys()["executor"]

            def check(batch: list[Any]) -> bool:
                return all(not verify_l1(b, key) for b in batch)

        bad = bisect(bundles, check)
        return Response({"level": level, "count": len(bundles), "valid": not bad, "invalid_indexes": bad})
