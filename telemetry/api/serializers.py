"""Inputs and outputs of the telemetry query API. Query parameters are validated here so a bad
one gets a 400 naming it."""

import zoneinfo
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from telemetry.export import EXPORT_BUCKETS
from telemetry.queries import BUCKETS

MAX_METRICS = 20


class CommaList(serializers.CharField):
    """``a,b,c`` in a query string → a list of strings."""

    def to_internal_value(self, data: Any) -> list[str]:  # type: ignore[override]
        text = super().to_internal_value(data)
        items = [part.strip() for part in text.split(",") if part.strip()]
        if len(items) > MAX_METRICS:
            raise serializers.ValidationError(f"At most {MAX_METRICS} entries.")
        return items


class RangeTime(serializers.DateTimeField):
    """A time a range may start or end at: 1970 to 2999, so the defaults (a day before ``end``)
    and the bucket arithmetic stay within what a date can hold (year 1 would be a 500)."""

    def to_internal_value(self, value: Any) -> Any:
        parsed = super().to_internal_value(value)
        if not 1970 <= parsed.year <= 2999:
            raise serializers.ValidationError("Between the years 1970 and 2999.")
        return parsed


class TimeZoneField(serializers.CharField):
    """An IANA time zone name, e.g. Europe/Berlin."""

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if name not in zoneinfo.available_timezones():
            raise serializers.ValidationError(
                f"Unknown time zone {name!r}; an IANA name such as Europe/Berlin or UTC."
            )
        return name


def tz_field() -> TimeZoneField:
    return TimeZoneField(
        required=False,
        max_length=64,
        help_text="the time zone whose days the day and week buckets are (they start at its "
        "midnight, weeks on Mondays) and whose clock times are written in; default: the "
        "tenant's",
    )


class RangeInput(serializers.Serializer):
    start = RangeTime(required=False, help_text="default: 24 hours before end")
    end = RangeTime(required=False, help_text="default: now")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - timedelta(days=1)
        if start >= end:
            raise serializers.ValidationError({"start": "start must be before end."})
        attrs.update(start=start, end=end)
        return attrs


class SeriesInput(RangeInput):
    metrics = CommaList(required=False, help_text="comma-separated; default: all of the type's")
    points = serializers.IntegerField(
        min_value=1, max_value=10_000, default=1000, help_text="at most this many buckets"
    )
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS), required=False, help_text="a fixed bucket instead of `points`"
    )
    tz = tz_field()


class FleetInput(RangeInput):
    metric = serializers.CharField(max_length=64)
    bucket = serializers.ChoiceField(choices=["1m", "5m", "15m", "1h", "1d"], default="1h")
    type = serializers.CharField(required=False, help_text="only devices of this type")
    tz = tz_field()


class ExportInput(RangeInput):
    devices = CommaList(help_text="comma-separated device ids")
    metrics = CommaList(required=False, help_text="default: every metric the devices have")
    layout = serializers.ChoiceField(
        choices=["wide", "long"],
        default="wide",
        help_text="wide: a column per metric; long: a row per reading",
    )
    bucket = serializers.ChoiceField(
        choices=list(EXPORT_BUCKETS),
        required=False,
        help_text="instead of the readings, per device, metric and bucket: count, min, avg, max",
    )
    tz = tz_field()

    def validate_devices(self, value: list[str]) -> list[int]:
        try:
            ids = [int(v) for v in value]
        except ValueError:
            raise serializers.ValidationError("Device ids are numbers.") from None
        if not ids:
            raise serializers.ValidationError("Name at least one device.")
        return ids


class SeriesData(serializers.Serializer):
    t = serializers.ListField(child=serializers.DateTimeField())
    count = serializers.ListField(child=serializers.IntegerField())
    min = serializers.ListField(child=serializers.FloatField())
    avg = serializers.ListField(child=serializers.FloatField())
    max = serializers.ListField(child=serializers.FloatField())


class SeriesOutput(serializers.Serializer):
    device = serializers.IntegerField(required=False)
    bucket = serializers.CharField()
    tz = serializers.CharField(help_text="the time zone of the day and week buckets")
    table = serializers.CharField(help_text="raw readings or the rollup that answered")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    series = serializers.DictField(child=SeriesData())


class LatestOutput(serializers.Serializer):
    devices = serializers.DictField(child=serializers.DictField())


class StatisticsInput(RangeInput):
    metrics = CommaList(required=False, help_text="comma-separated; default: all of the device's")


class AnomalyInput(RangeInput):
    metric = serializers.CharField(max_length=64)
    method = serializers.ChoiceField(
        choices=[
            ("value", "outside fixed low / high bounds"),
            ("quantile", "outside the range's low / high quantiles"),
            ("zscore", "rolling z-score over the previous readings"),
        ]
    )
    low = serializers.FloatField(required=False, help_text="value: flag readings below")
    high = serializers.FloatField(required=False, help_text="value: flag readings above")
    q_low = serializers.FloatField(
        required=False, min_value=0, max_value=1, help_text="quantile: e.g. 0.01"
    )
    q_high = serializers.FloatField(
        required=False, min_value=0, max_value=1, help_text="quantile: e.g. 0.99"
    )
    window = serializers.IntegerField(
        min_value=3, max_value=10_000, default=60, help_text="zscore: previous readings"
    )
    threshold = serializers.FloatField(
        min_value=0.1, max_value=100, default=3.0, help_text="zscore: |z| above this"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        method = attrs["method"]
        if method == "value":
            low, high = attrs.get("low"), attrs.get("high")
            if low is None and high is None:
                raise serializers.ValidationError({"low": "Give low, high or both."})
            if low is not None and high is not None and low >= high:
                raise serializers.ValidationError({"low": "low must be below high."})
        if method == "quantile":
            q_low, q_high = attrs.get("q_low"), attrs.get("q_high")
            if q_low is None and q_high is None:
                raise serializers.ValidationError({"q_low": "Give q_low, q_high or both."})
            if q_low is not None and q_high is not None and q_low >= q_high:
                raise serializers.ValidationError({"q_low": "q_low must be below q_high."})
        return attrs


class PercentilesOutput(serializers.Serializer):
    p1 = serializers.FloatField()
    p5 = serializers.FloatField()
    p25 = serializers.FloatField()
    p50 = serializers.FloatField()
    p75 = serializers.FloatField()
    p95 = serializers.FloatField()
    p99 = serializers.FloatField()


class HistogramOutput(serializers.Serializer):
    edges = serializers.ListField(child=serializers.FloatField())
    counts = serializers.ListField(child=serializers.IntegerField())


class KdeOutput(serializers.Serializer):
    x = serializers.ListField(child=serializers.FloatField())
    y = serializers.ListField(child=serializers.FloatField(), help_text="readings per bin")
    bandwidth = serializers.FloatField()


class MetricStatisticsOutput(serializers.Serializer):
    count = serializers.IntegerField()
    min = serializers.FloatField(required=False)
    max = serializers.FloatField(required=False)
    mean = serializers.FloatField(required=False)
    std = serializers.FloatField(required=False)
    percentiles = PercentilesOutput(required=False)
    histogram = HistogramOutput(required=False)
    kde = KdeOutput(required=False, allow_null=True)


class StatisticsOutput(serializers.Serializer):
    device = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    metrics = serializers.DictField(child=MetricStatisticsOutput())


class AnomalyOutput(serializers.Serializer):
    device = serializers.IntegerField()
    metric = serializers.CharField()
    method = serializers.CharField()
    low = serializers.FloatField(allow_null=True, help_text="the bounds used (value, quantile)")
    high = serializers.FloatField(allow_null=True)
    total = serializers.IntegerField(help_text="readings in the range")
    count = serializers.IntegerField(help_text="readings flagged")
    truncated = serializers.BooleanField(help_text="more flagged than returned")
    points = serializers.DictField(help_text="t, v (and z for zscore), oldest first")
