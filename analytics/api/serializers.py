"""Inputs and outputs of the analytics API."""

from typing import Any

from rest_framework import serializers

from analytics import insights
from analytics.models import AnomalyEvent, ModelKind, ModelState, ModelVersion, TrainingRun
from telemetry.api.serializers import RangeInput, RangeTime, tz_field


class ModelVersionChangeOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    reason = serializers.CharField()


class ModelVersionOutput(serializers.ModelSerializer):
    device_type = serializers.CharField(source="device_type.name")
    changes = ModelVersionChangeOutput(many=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "device_type",
            "kind",
            "state",
            "algorithm",
            "trained_at",
            "window_start",
            "window_end",
            "rows",
            "devices",
            "signals",
            "params",
            "metrics",
            "checksum",
            "size",
            "changes",
        ]


class ModelVersionFilter(serializers.Serializer):
    type = serializers.CharField(required=False, max_length=100)
    kind = serializers.ChoiceField(choices=ModelKind.choices, required=False)
    state = serializers.ChoiceField(choices=ModelState.choices, required=False)


class TrainingInput(serializers.Serializer):
    type = serializers.CharField(max_length=100, help_text="the device type to retrain")
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ModelKind.choices),
        required=False,
        allow_empty=False,
        max_length=len(ModelKind.choices),
        help_text="default: every kind",
    )


class TrainingRunOutput(serializers.ModelSerializer):
    device_type = serializers.CharField(source="device_type.name")

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "device_type",
            "kinds",
            "status",
            "progress",
            "step",
            "message",
            "results",
            "created_at",
            "started_at",
            "finished_at",
        ]


class AnomalyEventOutput(serializers.ModelSerializer):
    device_name = serializers.CharField(source="device.name")

    class Meta:
        model = AnomalyEvent
        fields = [
            "id",
            "device",
            "device_name",
            "detector",
            "version",
            "started_at",
            "last_at",
            "ended_at",
            "minutes",
            "peak_score",
            "drivers",
        ]


class AnomalyFilter(RangeInput):
    device = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    open = serializers.BooleanField(required=False, default=False)


class Interval(serializers.Serializer):
    hours = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class FlagOutput(serializers.Serializer):
    detector = serializers.ChoiceField(choices=["residual", "stuck", "threshold", "zscore"])
    metric = serializers.CharField()
    value = serializers.FloatField(help_text="the metric's mean in the minute")
    score = serializers.FloatField(
        help_text="residual: the metric's residual against the device's own fit on its other "
        "metrics over its previous day, in that fit's standard deviations (signed); "
        "threshold: how far past the warning limit; zscore: standard deviations from "
        "the type's window of minutes before; stuck: the minutes the value has not moved"
    )


class CrossingOutput(serializers.Serializer):
    metric = serializers.CharField()
    limit = serializers.FloatField(help_text="the device's warning limit")
    direction = serializers.ChoiceField(choices=["above", "below"])
    hours = serializers.FloatField(help_text="until the forecast passes it")
    earliest_hours = serializers.FloatField(help_text="until its 80 % interval's bound does")


class PredictionOutput(serializers.Serializer):
    device = serializers.IntegerField()
    minute = serializers.DateTimeField(allow_null=True, help_text="the last minute scored")
    health = serializers.FloatField(allow_null=True, help_text="0-100")
    rul = Interval(help_text="remaining useful life in hours with its 80 % interval")
    anomaly_score = serializers.FloatField(
        allow_null=True,
        help_text="the largest of the type's multivariate score over twice its limit, the "
        "residual |z| over the type's threshold and a stuck sensor's 2.0; above 1.0 opens a spell",
    )
    anomaly = AnomalyEventOutput(allow_null=True, help_text="the open anomaly spell, if any")
    flags = FlagOutput(
        many=True,
        help_text="the stuck-sensor, threshold and rolling z-score detectors' flags on the last "
        "minute scored",
    )
    crossing = CrossingOutput(
        allow_null=True,
        help_text="the soonest forecast crossing of a warning limit in the next 3 hours, from "
        "the last 3 hours of minute means (none already past a limit: see flags)",
    )
    cluster = serializers.IntegerField(allow_null=True, help_text="-1: an outlier")
    models = serializers.DictField(
        child=serializers.IntegerField(), help_text="kind → the active version's id"
    )


class ScoresInput(RangeInput):
    points = serializers.IntegerField(
        min_value=1, max_value=10_000, default=1000, help_text="at most this many buckets"
    )


class ForecastInput(serializers.Serializer):
    metric = serializers.CharField(max_length=64)
    hours = serializers.FloatField(
        min_value=0.25, max_value=24.0, default=3.0, help_text="how far ahead"
    )
    history_hours = serializers.FloatField(
        min_value=1.0, max_value=72.0, default=6.0, help_text="the recent past it learns from"
    )
    level = serializers.FloatField(
        min_value=0.5, max_value=0.99, default=0.8, help_text="the interval's coverage"
    )


class Crossing(serializers.Serializer):
    limit = serializers.FloatField()
    direction = serializers.ChoiceField(choices=["above", "below"])
    at = serializers.DateTimeField(allow_null=True, help_text="when the forecast passes it")
    hours = serializers.FloatField(allow_null=True)
    earliest_hours = serializers.FloatField(
        allow_null=True, help_text="when the interval's bound passes it (the worst case)"
    )


class ForecastOutput(serializers.Serializer):
    device = serializers.IntegerField()
    metric = serializers.CharField()
    unit = serializers.CharField()
    step_seconds = serializers.IntegerField()
    level = serializers.FloatField()
    history = serializers.DictField(child=serializers.ListField(), help_text="t, value")
    forecast = serializers.DictField(child=serializers.ListField(), help_text="t, mean, low, high")
    crossings = Crossing(many=True)


class ClustersInput(serializers.Serializer):
    type = serializers.CharField(max_length=100)
    start = RangeTime(required=False, help_text="only the windows starting at or after this")
    end = RangeTime(required=False, help_text="only the windows starting before this")
    tz = tz_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"start": "start must be before end."})
        return attrs


class AnomalyStatsInput(RangeInput):
    type = serializers.CharField(required=False, max_length=100, help_text="one device type")
    bucket = serializers.ChoiceField(choices=["hour", "day"], default="day")
    tz = tz_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        span = (attrs["end"] - attrs["start"]).total_seconds()
        limit = insights.MAX_BUCKETS[attrs["bucket"]]
        if span > limit * (3600 if attrs["bucket"] == "hour" else 86400):
            raise serializers.ValidationError(
                {"bucket": f"At most {limit} {attrs['bucket']}s; choose a shorter range or days."}
            )
        return attrs


class AnomalyExportInput(RangeInput):
    type = serializers.CharField(required=False, max_length=100, help_text="one device type")
    device = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    tz = tz_field()


class ClustersOutput(serializers.Serializer):
    version = serializers.IntegerField()
    device_type = serializers.CharField()
    trained_at = serializers.DateTimeField()
    window_start = serializers.DateTimeField(help_text="the data the clusters were found in")
    window_end = serializers.DateTimeField()
    windows = serializers.IntegerField(help_text="windows starting in the range asked for")
    eps = serializers.FloatField()
    explained = serializers.ListField(child=serializers.FloatField())
    window_minutes = serializers.IntegerField()
    clusters = serializers.DictField(
        child=serializers.DictField(),
        help_text="label → windows, their minutes and the windows overlapping an anomaly spell "
        "(anomalies), over every window in the range; -1 = outliers",
    )
    points = serializers.DictField(
        child=serializers.ListField(),
        help_text="one entry per window plotted (at most 20,000: every outlier and anomalous "
        "window, a sample of the rest): device, name, start, x, y, z, cluster, anomalous",
    )


class CountOutput(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField()


class DeviceCountOutput(serializers.Serializer):
    device = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class AnomalyStatsOutput(serializers.Serializer):
    bucket = serializers.CharField()
    tz = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    total = serializers.IntegerField(help_text="spells overlapping the range")
    begun = serializers.IntegerField(help_text="of them, begun in it: the series' sum")
    series = CountOutput(many=True, help_text="spells begun per hour or day of tz")
    devices = DeviceCountOutput(many=True, help_text="spells per device, the 20 most")
    other_devices = serializers.IntegerField(help_text="spells of the devices not listed")
    detectors = serializers.DictField(child=serializers.IntegerField())
