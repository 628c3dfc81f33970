from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.api.base import TenantReadOnlyViewSet
from apps.core.api.parsers import SafeJSONParser

from .. import selectors, services
from ..forms import files_from
from ..models import Dataset, GraphView
from ..permissions import DATA_READERS, DATA_STEWARDS
from .serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    DatasetVersionSerializer,
    GraphViewCreateSerializer,
    GraphViewSerializer,
    UploadSerializer,
)


class DatasetViewSet(TenantReadOnlyViewSet):
    """Graph datasets. Create and add versions with multipart uploads: one JSON file as
    ``graph``, or CSV files as ``nodes`` and ``edges``."""

    serializer_class = DatasetSerializer
    queryset = Dataset.all_tenants.none()  # for the schema; get_queryset is the real one
    lookup_field = "slug"
    parser_classes = [MultiPartParser, SafeJSONParser]
    required_roles = {
        "list": DATA_READERS,
        "retrieve": DATA_READERS,
        "create": DATA_STEWARDS,
        "versions": DATA_STEWARDS,
    }

    def get_queryset(self) -> Any:
        return selectors.datasets()

    @extend_schema(request={"multipart/form-data": DatasetCreateSerializer}, responses={201: DatasetSerializer})
    def create(self, request: Any) -> Response:
        incoming = DatasetCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        files = files_from(data)
        for key in ("graph", "nodes", "edges"):
            data.pop(key, None)
        version = services.dataset_create(actor=request.user, files=files, **data)
        return Response(
            DatasetSerializer(version.dataset, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: DatasetVersionSerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request: Any, slug: str) -> Response:
        """Upload a new version. Identical content answers 200 with the existing version."""
        dataset = self.get_object()
        incoming = UploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        version, created = services.dataset_version_upload(
            actor=request.user, dataset=dataset, files=files_from(incoming.validated_data)
        )
        return Response(
            DatasetVersionSerializer(version, context=self.get_serializer_context()).data,
            status=201 if created else 200,
        )


class GraphViewViewSet(TenantReadOnlyViewSet):
    """Saved views over datasets. A view whose fields include P0/P1 attributes is Tier-1."""

    serializer_class = GraphViewSerializer
    queryset = GraphView.all_tenants.none()  # for the schema; get_queryset is the real one
    lookup_field = "slug"
    required_roles = {"list": DATA_READERS, "retrieve": DATA_READERS, "create": DATA_STEWARDS}

    def get_queryset(self) -> Any:
        return selectors.graph_views()

    @extend_schema(request=GraphViewCreateSerializer, responses={201: GraphViewSerializer})
    def create(self, request: Any) -> Response:
        incoming = GraphViewCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        view = services.view_create(
            actor=request.user,
            slug=data["slug"],
            name=data["name"],
            dataset_slug=data["dataset"],
            fields=data["fields"],
            hops=data["hops"],
            node_filter=data["node_filter"],
            edge_filter=data["edge_filter"],
        )
        return Response(GraphViewSerializer(view).data, status=status.HTTP_201_CREATED)
