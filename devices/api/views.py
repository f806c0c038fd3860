"""The people-facing device API. Viewers read; operators act; admins manage."""

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from devices import commands, selectors, services, simulation
from devices.models import Device, DeviceStatus, DeviceType, SimulatedFleet
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.scoping import TenantAPIView
from telemetry.selectors import latest_values, metrics_of

from .base import DeviceScopedView, device_type_or_400
from .serializers import (
    CommandInput,
    CommandOutput,
    DeviceCreatedOutput,
    DeviceCreateInput,
    DeviceOutput,
    DeviceTypeInput,
    DeviceTypeOutput,
    DeviceTypeUpdateInput,
    DeviceUpdateInput,
    MaintenanceInput,
    ProvisionInput,
    ProvisionOutput,
    SimulationInput,
    SimulationOutput,
    StatusChangeOutput,
    TokenOutput,
)


def _with_latest(view: TenantAPIView, devices: list[Device]) -> list[dict[str, Any]]:
    latest = latest_values(tenant=view.tenant, device_ids=[d.id for d in devices])
    out: list[dict[str, Any]] = []
    for device in devices:
        data = dict(DeviceOutput(device).data)
        data["latest"] = latest.get(device.id, {})
        out.append(data)
    return out


class DeviceListView(TenantAPIView):
    """The tenant's devices with their latest values; admins register new ones."""

    serializer_class = DeviceOutput
    write_role = Role.ADMIN

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
        return self.get_paginated_response(_with_latest(self, list(page or [])))

    @extend_schema(request=DeviceCreateInput, responses={201: DeviceCreatedOutput})
    def post(self, request: Request) -> Response:
        payload = DeviceCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        device_type = device_type_or_400(tenant=self.tenant, name=data.pop("type"))
        device, token = services.device_create(tenant=self.tenant, device_type=device_type, **data)
        body = dict(DeviceOutput(device).data)
        body["token"] = token
        return Response(body, status=status.HTTP_201_CREATED)


class DeviceDetailView(DeviceScopedView):
    serializer_class = DeviceOutput
    write_role = Role.ADMIN

    def get(self, request: Request, pk: int) -> Response:
        return Response(_with_latest(self, [self.get_object()])[0])

    @extend_schema(request=DeviceUpdateInput, responses=DeviceOutput)
    def patch(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        payload = DeviceUpdateInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        if "type" in fields:
            fields["type"] = device_type_or_400(tenant=self.tenant, name=fields["type"])
        device = services.device_update(device=device, **fields)
        return Response(_with_latest(self, [device])[0])

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.device_delete(device=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceTokenView(DeviceScopedView):
    """Admins rotate a device's token: the old ones stop working, the new one is shown once."""

    serializer_class = TokenOutput
    write_role = Role.ADMIN

    @extend_schema(request=None, responses={201: TokenOutput})
    def post(self, request: Request, pk: int) -> Response:
        token = services.device_token_rotate(device=self.get_object())
        return Response({"token": token}, status=status.HTTP_201_CREATED)


class DeviceMaintenanceView(DeviceScopedView):
    """Operators put a device into maintenance or back into service."""

    serializer_class = MaintenanceInput

    @extend_schema(request=MaintenanceInput, responses=DeviceOutput)
    def post(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        payload = MaintenanceInput(data=request.data)
        payload.is_valid(raise_exception=True)
        device = services.device_maintenance_set(device=device, on=payload.validated_data["on"])
        return Response(DeviceOutput(device).data)


class DeviceTypeListView(TenantAPIView):
    """The tenant's device types and their metric definitions; admins add types."""

    serializer_class = DeviceTypeOutput
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[DeviceType]:
        return selectors.device_type_list(tenant=self.tenant)

    @extend_schema(responses=DeviceTypeOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DeviceTypeOutput(page, many=True).data)

    @extend_schema(request=DeviceTypeInput, responses={201: DeviceTypeOutput})
    def post(self, request: Request) -> Response:
        payload = DeviceTypeInput(data=request.data)
        payload.is_valid(raise_exception=True)
        device_type = services.device_type_create(tenant=self.tenant, **payload.validated_data)
        return Response(DeviceTypeOutput(device_type).data, status=status.HTTP_201_CREATED)


class DeviceTypeDetailView(TenantAPIView):
    """One device type; admins change its reporting interval and its rolling z-score
    detector's window and threshold (``PATCH``)."""

    serializer_class = DeviceTypeOutput
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[DeviceType]:
        return selectors.device_type_list(tenant=self.tenant)

    def get(self, request: Request, pk: int) -> Response:
        return Response(DeviceTypeOutput(self.get_object()).data)

    @extend_schema(request=DeviceTypeUpdateInput, responses=DeviceTypeOutput)
    def patch(self, request: Request, pk: int) -> Response:
        device_type = self.get_object()
        payload = DeviceTypeUpdateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        unknown = (
            sorted(set(request.data) - set(payload.fields)) if hasattr(request.data, "keys") else []
        )
        if unknown:
            raise exceptions.ValidationError(
                {
                    unknown[0]: [
                        f"Not a setting of a device type (these are: {', '.join(payload.fields)})."
                    ]
                }
            )
        device_type = services.device_type_update(device_type=device_type, **payload.validated_data)
        return Response(DeviceTypeOutput(device_type).data)


class DeviceStatusHistoryView(DeviceScopedView):
    """When the device's status changed, from what to what, newest first."""

    serializer_class = StatusChangeOutput

    @extend_schema(responses=StatusChangeOutput(many=True))
    def get(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        page = self.paginate_queryset(
            selectors.status_change_list(tenant=self.tenant, device=device)
        )
        return self.get_paginated_response(StatusChangeOutput(page, many=True).data)


class ProvisionView(APIView):
    """Gateways and the simulator register their devices with the tenant's ingestion key
    (``Authorization: Gateway <key>`` or ``X-API-Key``) and get each device's token."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []

    def get_authenticate_header(self, request: Request) -> str:
        """No or a wrong key is a 401 naming the scheme (DRF answers 403 without one)."""
        return 'Gateway realm="ingestion key"'

    @extend_schema(
        request=ProvisionInput,
        responses=ProvisionOutput,
        auth=[],
    )
    def post(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        key = value.strip() if scheme.lower() == "gateway" else request.headers.get("X-API-Key")
        ingest_key = services.ingest_key_authenticate(key or "")
        if ingest_key is None:
            raise exceptions.AuthenticationFailed("unknown or revoked ingestion key")
        payload = ProvisionInput(data=request.data)
        payload.is_valid(raise_exception=True)
        provisioned = services.devices_provision(
            tenant=ingest_key.tenant, specs=payload.validated_data["devices"]
        )
        return Response(
            {
                "devices": [
                    {"id": device.id, "serial": device.serial, "token": token}
                    for device, token in provisioned
                ]
            }
        )


class DeviceCommandsView(DeviceScopedView):
    """The device's commands, newest first; operators issue restart or set_config."""

    serializer_class = CommandOutput

    @extend_schema(responses=CommandOutput(many=True))
    def get(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        page = self.paginate_queryset(selectors.command_list(tenant=self.tenant, device=device))
        return self.get_paginated_response(CommandOutput(page, many=True).data)

    @extend_schema(request=CommandInput, responses={201: CommandOutput})
    def post(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        payload = CommandInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        command = commands.command_issue(
            device=device,
            kind=data["kind"],
            payload=data["payload"],
            by=request.user,
            ttl=timedelta(seconds=data["ttl_seconds"]),
            reported_metrics=metrics_of(tenant=self.tenant, devices=[device]),
        )
        return Response(CommandOutput(command).data, status=status.HTTP_201_CREATED)


class SimulationView(TenantAPIView):
    """The tenant's simulated fleet: its status; operators start, stop or restart it."""

    serializer_class = SimulationOutput

    def tenant_queryset(self) -> QuerySet[SimulatedFleet]:
        return SimulatedFleet.objects.all()

    def get(self, request: Request) -> Response:
        return Response(SimulationOutput(simulation.simulation_get(tenant=self.tenant)).data)

    @extend_schema(request=SimulationInput, responses=SimulationOutput)
    def post(self, request: Request) -> Response:
        payload = SimulationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        fleet = simulation.simulation_control(tenant=self.tenant, **payload.validated_data)
        return Response(SimulationOutput(fleet).data)
