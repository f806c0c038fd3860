"""The Analytics page's reads: anomaly spells counted over time, per device and detector, and
the two CSV downloads (the spells of a range, the cluster of every window). Viewers read."""

from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import insights
from devices.api.base import DeviceScopedView, device_type_or_400
from devices.selectors import device_list

from .serializers import AnomalyExportInput, AnomalyStatsInput, AnomalyStatsOutput, ClustersInput
from .views import cluster_windows_or_404

CSV = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")}


def _download(body: AsyncIterator[bytes], name: str) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


class AnomalyStatsView(DeviceScopedView):
    """Anomaly spells of a range: those begun in each hour or day of the tenant's clock (every
    bucket, empty ones 0), and those overlapping the range per device and per detector."""

    serializer_class = AnomalyStatsOutput

    @extend_schema(parameters=[AnomalyStatsInput], responses=AnomalyStatsOutput)
    def get(self, request: Request) -> Response:
        data = self.query(AnomalyStatsInput)
        device_type = None
        if data.get("type"):
            device_type = device_type_or_400(tenant=self.tenant, name=data["type"])
        body = insights.spell_counts(
            tenant=self.tenant,
            start=data["start"],
            end=data["end"],
            bucket=data["bucket"],
            tz=data.get("tz") or self.tenant.timezone,
            device_type=device_type,
        )
        return Response(AnomalyStatsOutput(body).data)


class AnomalyExportView(DeviceScopedView):
    """The anomaly spells overlapping a range as CSV (the report's ``anomalies.csv``), oldest
    first, streamed; times on the clock of ``tz`` (default: the tenant's)."""

    @extend_schema(parameters=[AnomalyExportInput], responses=CSV)
    def get(self, request: Request) -> StreamingHttpResponse:
        data = self.query(AnomalyExportInput)
        device_type = device = None
        if data.get("type"):
            device_type = device_type_or_400(tenant=self.tenant, name=data["type"])
        if data.get("device"):
            device = device_list(tenant=self.tenant).filter(pk=data["device"]).first()
            if device is None:  # another tenant's device and a missing one look the same
                raise exceptions.NotFound(f"Device {data['device']} not found.")
        events = insights.spells(
            tenant=self.tenant,
            start=data["start"],
            end=data["end"],
            device_type=device_type,
            device=device,
        )
        tz = data.get("tz") or self.tenant.timezone
        return _download(insights.anomalies_csv(events, tz), "anomalies")


class ClusterExportView(DeviceScopedView):
    """The active behaviour clusters of a type as CSV: one row per window (those starting in
    the range, when given) with its device, times, cluster, 3-D coordinates and whether it
    overlaps an anomaly spell."""

    @extend_schema(parameters=[ClustersInput], responses=CSV)
    def get(self, request: Request) -> StreamingHttpResponse:
        data = self.query(ClustersInput)
        windows = cluster_windows_or_404(self.tenant, data)
        tz = data.get("tz") or self.tenant.timezone
        return _download(insights.clusters_csv(windows, tz), "clusters")
