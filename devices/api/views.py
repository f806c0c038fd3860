from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from devices import selectors, services
from devices.models import Device, DeviceStatus
from iotplatform.tenancy.scoping import TenantAPIView

from .serializers import DeviceOutput, MaintenanceInput


class DeviceListView(TenantAPIView):
    """The tenant's devices; filter with ?status=, ?type=, ?search=."""

    serializer_class = DeviceOutput

    def tenant_queryset(self) -> QuerySet[Device]:
        params = self.request.query_params
        return selectors.device_list(
            tenant=self.tenant,
            filters={k: params.get(k) for k in ("status", "type", "search")},
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=DeviceStatus.values),
            OpenApiParameter("type", str),
            OpenApiParameter("search", str),
        ],
        responses=DeviceOutput(many=True),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DeviceOutput(page, many=True).data)


class DeviceDetailView(TenantAPIView):
    serializer_class = DeviceOutput

    def tenant_queryset(self) -> QuerySet[Device]:
        return selectors.device_list(tenant=self.tenant)

    def get(self, request: Request, pk: int) -> Response:
        return Response(DeviceOutput(self.get_object()).data)


class DeviceMaintenanceView(TenantAPIView):
    """Operators put a device into maintenance or back into service."""

    serializer_class = MaintenanceInput

    def tenant_queryset(self) -> QuerySet[Device]:
        return selectors.device_list(tenant=self.tenant)

    @extend_schema(request=MaintenanceInput, responses=DeviceOutput)
    def post(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        payload = MaintenanceInput(data=request.data)
        payload.is_valid(raise_exception=True)
        device = services.device_maintenance_set(device=device, on=payload.validated_data["on"])
        return Response(DeviceOutput(device).data)
