"""Inputs and outputs of the telemetry query API. Query parameters are validated here so a bad
one gets a 400 naming it."""

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

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


class RangeInput(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="default: 24 hours before end")
    end = serializers.DateTimeField(required=False, help_text="default: now")

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


class FleetInput(RangeInput):
    metric = serializers.CharField(max_length=64)
    bucket = serializers.ChoiceField(choices=["1h", "1d"], default="1h")
    type = serializers.CharField(required=False, help_text="only devices of this type")


class ExportInput(RangeInput):
    devices = CommaList(help_text="comma-separated device ids")
    metrics = CommaList(required=False, help_text="default: every metric the devices have")
    layout = serializers.ChoiceField(
        choices=["wide", "long"],
        default="wide",
        help_text="wide: a column per metric; long: a row per reading",
    )

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
    table = serializers.CharField(help_text="raw readings or the rollup that answered")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    series = serializers.DictField(child=SeriesData())


class LatestOutput(serializers.Serializer):
    devices = serializers.DictField(child=serializers.DictField())
