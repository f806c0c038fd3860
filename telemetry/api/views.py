"""Telemetry queries: bucketed series, fleet aggregates, latest values and CSV export."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from devices.api.base import DeviceScopedView, device_type_or_400
from devices.models import Device
from telemetry import analysis, queries
from telemetry.export import export_response
from telemetry.selectors import latest_values, metrics_of

from .serializers import (
    AnomalyInput,
    AnomalyOutput,
    ExportInput,
    FleetInput,
    LatestOutput,
    SeriesInput,
    SeriesOutput,
    StatisticsInput,
    StatisticsOutput,
)


def _series_body(series: queries.Series, device: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bucket": queries.bucket_name(series.bucket),
        "tz": series.tz,
        "table": series.source,
        "start": series.start,
        "end": series.end,
        "series": series.metrics,
    }
    if device is not None:
        body["device"] = device
    return body


class DeviceReadingsView(DeviceScopedView):
    """Base of the views that read one device's readings over a range."""

    def device_and_input(self, input_class: type[Serializer]) -> tuple[Device, dict[str, Any]]:
        """The tenant's device of the URL (404 otherwise) and the validated query (400)."""
        device = self.get_object()
        params = input_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return device, dict(params.validated_data)

    def metrics_asked(self, device: Device, data: dict[str, Any]) -> list[str]:
        """The metrics asked for, else every metric the device declares or has reported."""
        return list(data.get("metrics") or metrics_of(tenant=self.tenant, devices=[device]))


@contextmanager
def range_limited() -> Iterator[None]:
    """A range too large to analyse is the client's to narrow: a 400 naming it."""
    try:
        yield
    except analysis.RangeTooLarge as exc:
        raise exceptions.ValidationError({"start": [str(exc)]}) from None


class DeviceSeriesView(DeviceReadingsView):
    """A device's metrics over a range, bucketed to at most `points` buckets (or a fixed
    `bucket`): min / avg / max / count per bucket, columnar, ready for a chart."""

    serializer_class = SeriesOutput

    @extend_schema(parameters=[SeriesInput], responses=SeriesOutput)
    def get(self, request: Request, pk: int) -> Response:
        device, data = self.device_and_input(SeriesInput)
        metrics = self.metrics_asked(device, data)
        if not metrics:
            raise exceptions.ValidationError({"metrics": ["The device has no metrics yet."]})
        width = (
            queries.BUCKETS[data["bucket"]]
            if "bucket" in data
            else queries.bucket_for(data["start"], data["end"], data["points"])
        )
        if (data["end"] - data["start"]) / width > 10_000:
            raise exceptions.ValidationError({"bucket": ["More than 10,000 buckets; widen it."]})
        series = queries.device_series(
            tenant_id=self.tenant.id,
            device_id=device.id,
            metrics=metrics,
            start=data["start"],
            end=data["end"],
            width=width,
            tz=data.get("tz") or self.tenant.timezone,
        )
        return Response(_series_body(series, device.id))


class DeviceStatisticsView(DeviceReadingsView):
    """A device's readings over a range, per metric: count, min, max, mean, standard
    deviation, percentiles (exact), a histogram and a kernel density estimate."""

    serializer_class = StatisticsOutput

    @extend_schema(parameters=[StatisticsInput], responses=StatisticsOutput)
    def get(self, request: Request, pk: int) -> Response:
        device, data = self.device_and_input(StatisticsInput)
        with range_limited():
            stats = analysis.statistics(
                tenant_id=self.tenant.id,
                device_id=device.id,
                metrics=self.metrics_asked(device, data),
                start=data["start"],
                end=data["end"],
            )
        return Response(
            {"device": device.id, "start": data["start"], "end": data["end"], "metrics": stats}
        )


class DeviceAnomaliesView(DeviceReadingsView):
    """The anomaly explorer: readings of one metric over a range that a method flags —
    `value` (outside low / high), `quantile` (outside the range's q_low / q_high quantiles) or
    `zscore` (|z| above threshold against the previous `window` readings). At most 5,000
    points are returned (`count` has them all); a range of over 1,000,000 readings is refused."""

    serializer_class = AnomalyOutput

    @extend_schema(parameters=[AnomalyInput], responses=AnomalyOutput)
    def get(self, request: Request, pk: int) -> Response:
        device, data = self.device_and_input(AnomalyInput)
        with range_limited():
            flagged = analysis.anomalies(
                tenant_id=self.tenant.id,
                device_id=device.id,
                metric=data["metric"],
                start=data["start"],
                end=data["end"],
                method=data["method"],
                low=data.get("low"),
                high=data.get("high"),
                q_low=data.get("q_low"),
                q_high=data.get("q_high"),
                window=data["window"],
                threshold=data["threshold"],
            )
        points: dict[str, list[Any]] = {"t": flagged.times, "v": flagged.values}
        if flagged.scores is not None:
            points["z"] = flagged.scores
        return Response(
            {
                "device": device.id,
                "metric": data["metric"],
                "method": data["method"],
                "low": flagged.low,
                "high": flagged.high,
                "total": flagged.total,
                "count": flagged.count,
                "truncated": flagged.truncated,
                "points": points,
            }
        )


class FleetSeriesView(DeviceScopedView):
    """One metric over the tenant's fleet per 1, 5 or 15 minutes, hour or day: min / avg / max,
    readings and reporting devices per bucket."""

    serializer_class = SeriesOutput

    @extend_schema(parameters=[FleetInput], responses=SeriesOutput)
    def get(self, request: Request) -> Response:
        params = FleetInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        type_id = None
        if data.get("type"):
            type_id = device_type_or_400(tenant=self.tenant, name=data["type"]).id
        series = queries.fleet_series(
            tenant_id=self.tenant.id,
            metric=data["metric"],
            start=data["start"],
            end=data["end"],
            width=queries.BUCKETS[data["bucket"]],
            device_type_id=type_id,
            tz=data.get("tz") or self.tenant.timezone,
        )
        return Response(_series_body(series))


class LatestView(DeviceScopedView):
    """The newest value of every metric of every device of the tenant, in one query."""

    serializer_class = LatestOutput

    def get(self, request: Request) -> Response:
        return Response({"devices": latest_values(tenant=self.tenant)})


class ExportView(DeviceScopedView):
    """Readings of some devices as CSV, streamed: any range, wide or long layout."""

    @extend_schema(
        parameters=[ExportInput],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = ExportInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            return export_response(tenant=self.tenant, params=params.validated_data)
        except Http404 as exc:
            raise exceptions.NotFound(str(exc)) from None
