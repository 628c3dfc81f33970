from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView
from apps.core.api.pagination import StandardPagination
from apps.core.api.throttling import TenantRateThrottle
from apps.core.models import Role
from apps.core.permissions import ANY_MEMBER
from apps.core.tenancy import require_current_tenant

from .. import services, tenant_keys
from ..admission import gated
from ..models import DISCLOSURE, SELECTOR_TYPES, Participation
from ..quotas import l1_bundles, limited, pilot_of, round2_proofs
from ..verification import verify_bundles

RUNNERS = frozenset({Role.ADMIN, Role.PARTNER})


def validated(serializer_class: type[StrictSerializer], request: Any, session_id: str | None = None) -> dict[str, Any]:
    """Validate a request body; a refusal is audited like every other ZK-TX refusal."""
    incoming = serializer_class(data=request.data)
    if not incoming.is_valid():
        raise services.refuse_invalid_request(incoming.errors, session_id)
    return dict(incoming.validated_data)


def session_view(part: Participation | dict[str, Any]) -> dict[str, Any]:
    """A participation (or the poll's state of one, ``services.session_state_for``) as the API
    shows it to its tenant."""
    st = part if isinstance(part, dict) else services.participation_state(part)
    out: dict[str, Any] = {
        "session": st["session"],
        "role": st["role"],
        "status": st["status"],
        "k": st["k"],
        "disclosure": st["disclosure"],
        "selector_type": st["selector_type"],
        "suite": st["suite"],
        "key_registered": st["key_registered"],
        "round1_uploaded": st["round1_uploaded"],
        "round2_uploaded": st["round2_uploaded"],
        "failure": st["failure"],
        "statement_countersigned": st["statement_countersigned"],
        "default_region": getattr(pilot_of(require_current_tenant().pk), "default_region", "") or "",
    }
    if st["status"] == "done":
        out["verdict"] = {"overlap_at_most_k": st["verdict"]}
        if st["disclosure"] == "verdict_and_count":
            out["verdict"]["count"] = st["count"]
        out["bundle_digest"] = st["bundle_digest"]
    return out


class PilotShapedThrottle(TenantRateThrottle):
    """The tenant API budget, except for a tenant whose pilot sets a ZK-TX request rate: its
    ZK-TX requests are shaped by that token bucket instead (``quotas.limited``, which every
    handler here takes from), so they do not pay a second Redis round trip for a coarser
    counter. A pilot with no request rate, and any method without a limited handler (OPTIONS,
    a 405), leave the tenant budget in force."""

    def allow_request(self, request: Any, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        handler = getattr(view, request.method.lower(), None)
        if tenant is not None and getattr(handler, "tf_limited", False):  # OPTIONS, 405s: the tenant budget
            pilot = pilot_of(tenant.pk)
            if pilot is not None and pilot.requests_per_second > 0:
                return True
        return super().allow_request(request, view)


class ZkAPIView(TenantAPIView):
    throttle_classes = [PilotShapedThrottle]


class ProposeSerializer(StrictSerializer):
    partner = serializers.SlugField()
    k = serializers.IntegerField(min_value=0, max_value=1_000_000)
    disclosure = serializers.ChoiceField(choices=[d for d, _ in DISCLOSURE], default="verdict")
    selector_type = serializers.ChoiceField(choices=SELECTOR_TYPES)


class KeySerializer(StrictSerializer):
    key = serializers.CharField(max_length=66, min_length=66, trim_whitespace=False)
    proof = serializers.DictField(child=serializers.CharField(max_length=64, trim_whitespace=False))


def _point() -> serializers.CharField:
    return serializers.CharField(max_length=66, trim_whitespace=False)


class Round1Serializer(StrictSerializer):
    padded_size = serializers.IntegerField(min_value=1)
    chunks = serializers.ListField(child=serializers.ListField(child=_point()))
    signature = serializers.DictField(child=serializers.CharField(max_length=64, trim_whitespace=False))


class Round2Serializer(StrictSerializer):
    chunks = serializers.ListField(child=serializers.ListField(child=_point()))
    proofs = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(max_length=64, trim_whitespace=False))
    )


class CountersignSerializer(StrictSerializer):
    fingerprint = serializers.RegexField(r"^[0-9a-f]{64}$")
    signature = serializers.CharField(max_length=100, trim_whitespace=False)


class SessionListView(ZkAPIView):
    """Your tenant's ZK-TX sessions; POST proposes one to a partner tenant."""

    required_roles = {"get": RUNNERS | {Role.AUDITOR}, "post": RUNNERS}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="zk_sessions_list")
    @limited()
    def get(self, request: Any) -> Response:
        """Newest first, one page at a time (``?page=``, ``?page_size=`` up to 500; 50 by default)."""
        paginator = StandardPagination()
        page = paginator.paginate_queryset(services.SessionStates(), request, view=self)
        return paginator.get_paginated_response([session_view(state) for state in page])

    @extend_schema(request=ProposeSerializer, responses={201: OpenApiTypes.OBJECT})
    @gated
    @limited()
    def post(self, request: Any) -> Response:
        d = validated(ProposeSerializer, request)
        part = services.session_propose(
            actor=request.user,
            partner_slug=d["partner"],
            k=d["k"],
            disclosure=d["disclosure"],
            selector_type=d["selector_type"],
        )
        return Response(session_view(part), status=status.HTTP_201_CREATED)


class SessionDetailView(ZkAPIView):
    required_roles = RUNNERS | {Role.AUDITOR}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @limited()
    def get(self, request: Any, session_id: str) -> Response:
        return Response(session_view(services.session_state_for(session_id)))


class SessionKeyView(ZkAPIView):
    required_roles = RUNNERS

    @extend_schema(request=KeySerializer, responses=OpenApiTypes.OBJECT)
    @limited()
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        d = validated(KeySerializer, request, session_id)
        part = services.key_register(part=own, key_hex=d["key"], proof=d["proof"])
        return Response(session_view(services.participation_for(str(part.session.public_id))))


class Round1View(ZkAPIView):
    required_roles = RUNNERS

    @extend_schema(request=Round1Serializer, responses={202: OpenApiTypes.OBJECT})
    @limited()
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        d = validated(Round1Serializer, request, session_id)
        part = services.round1_upload(
            part=own, padded_size=d["padded_size"], chunks=d["chunks"], signature=d["signature"]
        )
        return Response(
            session_view(services.participation_for(str(part.session.public_id))), status=status.HTTP_202_ACCEPTED
        )


class CounterpartView(ZkAPIView):
    """The counterpart's round-1 blinded set, to re-blind (never your own)."""

    required_roles = RUNNERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @limited()
    def get(self, request: Any, session_id: str) -> Response:
        return Response(services.counterpart_round1(services.participation_for(session_id)))


class Round2View(ZkAPIView):
    required_roles = RUNNERS

    @extend_schema(request=Round2Serializer, responses={202: OpenApiTypes.OBJECT})
    @gated
    @limited(round2_proofs)
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        d = validated(Round2Serializer, request, session_id)
        part = services.round2_upload(part=own, chunks=d["chunks"], chunk_proofs=d["proofs"])
        return Response(
            session_view(services.participation_for(str(part.session.public_id))), status=status.HTTP_202_ACCEPTED
        )


class StatementView(ZkAPIView):
    """The round-2 transcript statement (GET, once both round 2s are in) and your tenant's
    countersignature of it with a registered long-term key (POST)."""

    required_roles = {"get": RUNNERS | {Role.AUDITOR}, "post": RUNNERS}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @limited()
    def get(self, request: Any, session_id: str) -> Response:
        return Response(services.statement_for(services.participation_for(session_id)))

    @extend_schema(request=CountersignSerializer, responses={202: OpenApiTypes.OBJECT})
    @limited()
    def post(self, request: Any, session_id: str) -> Response:
        own = services.participation_for(session_id)  # another tenant's session: 404 before anything else
        d = validated(CountersignSerializer, request, session_id)
        part = services.statement_countersign(part=own, fingerprint=d["fingerprint"], signature=d["signature"])
        return Response(
            session_view(services.participation_for(str(part.session.public_id))), status=status.HTTP_202_ACCEPTED
        )


class TrustView(ZkAPIView):
    """The trust file to pin: the server's bundle key and the long-term keys of your tenant and
    its pilot partners, with fingerprints."""

    required_roles = RUNNERS | {Role.AUDITOR}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="zk_trust_file")
    @limited()
    def get(self, request: Any) -> Response:
        return Response(tenant_keys.trust_file())


class BundleView(ZkAPIView):
    """The signed bundle with its explainer, once the session is done."""

    required_roles = RUNNERS | {Role.AUDITOR}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @limited()
    def get(self, request: Any, session_id: str) -> Response:
        bundle = services.bundle_for(session_id)
        if bundle is None:
            from apps.core.errors import Conflict

            raise Conflict("The session has no bundle yet.", code="not_ready")
        from django.http import HttpResponse

        from apps.core.crypto.canonical import canonicalize

        from ..zk import canonical_v1

        data = canonical_v1.canonicalize(bundle) if "digest" in bundle else canonicalize(bundle)
        response = HttpResponse(data, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="zktx-{session_id}.json"'
        return response


class VerifySerializer(StrictSerializer):
    bundles = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=500)
    level = serializers.ChoiceField(choices=["L0", "L1"], default="L1")


class VerifyView(ZkAPIView):
    """Verify up to 500 bundles. L0: each header digest is one this server issued and saw
    verified (a cache lookup). L1: server and tenant signatures. A failing batch is bisected
    to name the bad bundles."""

    required_roles = ANY_MEMBER

    @extend_schema(request=VerifySerializer, responses=OpenApiTypes.OBJECT)
    @limited(l1_bundles)
    def post(self, request: Any) -> Response:
        d = validated(VerifySerializer, request)
        bundles, level = d["bundles"], d["level"]
        bad = verify_bundles(bundles, level)
        return Response({"level": level, "count": len(bundles), "valid": not bad, "invalid_indexes": bad})
