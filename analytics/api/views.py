"""The analytics API: model versions, retraining with progress, anomaly spells, a device's
prediction. Viewers read; operators and admins retrain."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import baselines, forecasting, insights, rules, scoring, selectors, tasks, training
from analytics.models import AnomalyEvent, ModelVersion, TrainingRun
from devices.api.base import DeviceScopedView, device_type_or_400
from devices.selectors import device_list
from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.scoping import TenantAPIView
from telemetry import queries
from telemetry.api.serializers import SeriesOutput
from telemetry.selectors import latest_values

from .serializers import (
    AnomalyEventOutput,
    AnomalyFilter,
    ClustersInput,
    ClustersOutput,
    ForecastInput,
    ForecastOutput,
    ModelVersionFilter,
    ModelVersionOutput,
    PredictionOutput,
    ScoresInput,
    TrainingInput,
    TrainingRunOutput,
)


class ModelVersionListView(TenantAPIView):
    """The tenant's trained models, newest first, with their backtests and history."""

    serializer_class = ModelVersionOutput

    def tenant_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.model_version_list(
            tenant=self.tenant, filters=self.query(ModelVersionFilter)
        )

    @extend_schema(parameters=[ModelVersionFilter], responses=ModelVersionOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ModelVersionOutput(page, many=True).data)


class ModelVersionDetailView(TenantAPIView):
    serializer_class = ModelVersionOutput

    def tenant_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.model_version_list(tenant=self.tenant)

    def get(self, request: Request, pk: int) -> Response:
        return Response(ModelVersionOutput(self.get_object()).data)


class TrainingListView(TenantAPIView):
    """Retraining runs; an operator or an admin asks for one (answered at once: the run's
    progress is at ``/analytics/training/<id>`` and on the live socket)."""

    serializer_class = TrainingRunOutput
    write_role = Role.OPERATOR

    def tenant_queryset(self) -> QuerySet[TrainingRun]:
        return selectors.training_run_list(tenant=self.tenant)

    @extend_schema(responses=TrainingRunOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TrainingRunOutput(page, many=True).data)

    @extend_schema(
        request=TrainingInput,
        responses={
            202: TrainingRunOutput,
            200: OpenApiResponse(TrainingRunOutput, "a run for this type is already pending"),
        },
    )
    def post(self, request: Request) -> Response:
        payload = TrainingInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        device_type = device_type_or_400(tenant=self.tenant, name=data["type"])
        run, created = training.training_run_request(
            tenant=self.tenant,
            device_type=device_type,
            kinds=data.get("kinds"),
            requested_by=request.user,
        )
        if created:
            tasks.training_run_execute.delay(run.pk)
        return Response(
            TrainingRunOutput(run).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class TrainingDetailView(TenantAPIView):
    serializer_class = TrainingRunOutput

    def tenant_queryset(self) -> QuerySet[TrainingRun]:
        return selectors.training_run_list(tenant=self.tenant)

    def get(self, request: Request, pk: int) -> Response:
        return Response(TrainingRunOutput(self.get_object()).data)


class AnomalyListView(TenantAPIView):
    """Anomaly spells, newest first: when, how long, how far and which metrics drove them."""

    serializer_class = AnomalyEventOutput

    def tenant_queryset(self) -> QuerySet[AnomalyEvent]:
        data = self.query(AnomalyFilter)
        device = None
        if data.get("device"):
            device = device_list(tenant=self.tenant).filter(pk=data["device"]).first()
            if device is None:
                raise exceptions.NotFound(f"Device {data['device']} not found.")
        return selectors.anomaly_event_list(
            tenant=self.tenant,
            device=device,
            open_only=data["open"],
            start=data.get("start"),
            end=data.get("end"),
        )

    @extend_schema(parameters=[AnomalyFilter], responses=AnomalyEventOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AnomalyEventOutput(page, many=True).data)


class DevicePredictionView(DeviceScopedView):
    """What the engine says of a device now: health, remaining useful life with its interval,
    anomaly score and open spell, behaviour cluster, and the active models behind them."""

    serializer_class = PredictionOutput

    def get(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        derived = latest_values(tenant=self.tenant, device_ids=[device.id]).get(device.id, {})

        def value(key: str) -> float | None:
            return derived[key]["value"] if key in derived else None

        minute = derived[scoring.HEALTH_KEY]["time"] if scoring.HEALTH_KEY in derived else None
        event = selectors.open_anomaly(tenant=self.tenant, device=device)
        body = {
            "device": device.id,
            "minute": minute,
            "health": device.health,
            "rul": {
                "hours": device.rul_hours,
                "low": value(scoring.RUL_LOW_KEY),
                "high": value(scoring.RUL_HIGH_KEY),
            },
            "anomaly_score": value(scoring.ANOMALY_KEY),
            "anomaly": event,
            "flags": []
            if minute is None
            else [
                *baselines.device_residual_flags(device=device, minute=minute),
                *rules.device_flags(device=device, minute=minute),
            ],
            "crossing": None
            if minute is None
            else rules.device_crossing(device=device, minute=minute),
            "cluster": device.cluster,
            "models": {
                kind: v.pk
                for kind, v in selectors.active_versions(
                    tenant=self.tenant, device_type=device.type
                ).items()
            },
        }
        return Response(PredictionOutput(body).data)


class DeviceScoresView(DeviceScopedView):
    """The device's derived series over a range — anomaly score, health, RUL and its interval
    — bucketed like ``/series`` (they are readings under reserved keys: ``_anomaly``,
    ``_health``, ``_rul_hours``, ``_rul_low``, ``_rul_high``)."""

    serializer_class = SeriesOutput

    @extend_schema(parameters=[ScoresInput], responses=SeriesOutput)
    def get(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        data = self.query(ScoresInput)
        width = queries.bucket_for(data["start"], data["end"], data["points"])
        series = queries.device_series(
            tenant_id=self.tenant.id,
            device_id=device.id,
            metrics=list(scoring.DERIVED),
            start=data["start"],
            end=data["end"],
            width=width,
            tz=self.tenant.timezone,
        )
        return Response(
            {
                "device": device.id,
                "bucket": queries.bucket_name(series.bucket),
                "tz": series.tz,
                "table": series.source,
                "start": series.start,
                "end": series.end,
                "series": series.metrics,
            }
        )


class DeviceForecastView(DeviceScopedView):
    """A metric's forecast for the next hours with its interval, and when it will pass the
    device's warning limits ("temperature will pass 75 °C in about 3 h")."""

    serializer_class = ForecastOutput

    @extend_schema(parameters=[ForecastInput], responses=ForecastOutput)
    def get(self, request: Request, pk: int) -> Response:
        device = self.get_object()
        data = self.query(ForecastInput)
        try:
            result = forecasting.device_forecast(
                device=device,
                metric=data["metric"],
                hours=data["hours"],
                history_hours=data["history_hours"],
                level=data["level"],
            )
        except forecasting.ForecastError as exc:
            raise exceptions.ValidationError({"metric": [str(exc)]}) from None
        return Response(ForecastOutput(result).data)


class ClustersView(TenantAPIView):
    """The active behaviour clusters of a device type: the windows of every device (those
    starting in the range, when one is given) in 3-D (PCA of their scaled mean / std / slope per
    metric), each window's cluster (-1: an outlier) and whether it overlaps an anomaly spell, and
    windows and anomalies per cluster."""

    serializer_class = ClustersOutput

    def tenant_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.model_version_list(tenant=self.tenant)

    @extend_schema(parameters=[ClustersInput], responses=ClustersOutput)
    def get(self, request: Request) -> Response:
        windows = cluster_windows_or_404(self.tenant, self.query(ClustersInput))
        return Response(ClustersOutput(windows.body()).data)


def cluster_windows_or_404(tenant: Tenant, data: dict[str, Any]) -> insights.ClusterWindows:
    device_type = device_type_or_400(tenant=tenant, name=data["type"])
    windows = insights.ClusterWindows(
        tenant=tenant, device_type=device_type, start=data.get("start"), end=data.get("end")
    )
    if not windows.found:
        raise exceptions.NotFound(f"No behaviour clusters trained for {device_type.name!r} yet.")
    return windows
