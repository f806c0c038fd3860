from rest_framework import serializers

from devices.models import DeviceStatus


class LatestValueOutput(serializers.Serializer):
    time = serializers.DateTimeField()
    value = serializers.FloatField()


class DeviceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    serial = serializers.CharField()
    type = serializers.CharField(source="type.name")
    location = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=DeviceStatus.choices)
    last_seen = serializers.DateTimeField(allow_null=True)
    health = serializers.FloatField(allow_null=True)
    rul_hours = serializers.FloatField(allow_null=True)
    desired_config = serializers.DictField()
    reported_config = serializers.DictField()
    latest = serializers.DictField(
        child=LatestValueOutput(), help_text="newest value of each metric", required=False
    )


class DeviceCreateInput(serializers.Serializer):
    type = serializers.CharField(help_text="device type name, e.g. pump")
    name = serializers.CharField(max_length=200)
    serial = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list
    )


class DeviceUpdateInput(serializers.Serializer):
    type = serializers.CharField(required=False)
    name = serializers.CharField(max_length=200, required=False)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)


class DeviceCreatedOutput(DeviceOutput):
    token = serializers.CharField(help_text="shown once: stored only as a hash")


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="shown once: stored only as a hash")


class MaintenanceInput(serializers.Serializer):
    on = serializers.BooleanField(help_text="true: into maintenance; false: back to service")


class DeviceTypeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    metrics = serializers.DictField()
    expected_interval_seconds = serializers.IntegerField()
    zscore_window = serializers.IntegerField(
        help_text="minutes the rolling z-score detector compares the latest minute with"
    )
    zscore_threshold = serializers.FloatField(
        help_text="standard deviations from that window that flag a metric"
    )
    residual_threshold = serializers.FloatField(
        help_text="residual standard deviations from the device's own fit on its other "
        "metrics (over its previous day) that flag a metric"
    )


class DeviceTypeInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    metrics = serializers.DictField(required=False, default=dict)
    expected_interval_seconds = serializers.IntegerField(min_value=1, max_value=86400, default=5)
    zscore_window = serializers.IntegerField(min_value=3, max_value=120, default=20)
    zscore_threshold = serializers.FloatField(min_value=0.5, max_value=20.0, default=2.0)
    residual_threshold = serializers.FloatField(min_value=2.0, max_value=50.0, default=6.0)


class DeviceTypeUpdateInput(serializers.Serializer):
    """What an admin may change on a type (its name and metrics are fixed once devices use
    them; the apply cycle's detector settings are not)."""

    expected_interval_seconds = serializers.IntegerField(
        min_value=1, max_value=86400, required=False
    )
    zscore_window = serializers.IntegerField(min_value=3, max_value=120, required=False)
    zscore_threshold = serializers.FloatField(min_value=0.5, max_value=20.0, required=False)
    residual_threshold = serializers.FloatField(min_value=2.0, max_value=50.0, required=False)


class StatusChangeOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()


class ProvisionDeviceInput(serializers.Serializer):
    serial = serializers.CharField(max_length=100)
    type = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ProvisionInput(serializers.Serializer):
    devices = ProvisionDeviceInput(many=True, allow_empty=False, max_length=1000)  # type: ignore[call-arg]


class ProvisionedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    serial = serializers.CharField()
    token = serializers.CharField()


class ProvisionOutput(serializers.Serializer):
    devices = ProvisionedOutput(many=True)


class CommandInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["restart", "set_config", "simulate"])
    payload = serializers.DictField(
        required=False,
        default=dict,
        help_text="set_config: {interval_seconds, thresholds}; simulate (the simulator's devices "
        "only): {fault: bearing|overheating|seal_leak|battery_fade|spike|drift|stuck, metric, "
        "minutes}",
    )
    ttl_seconds = serializers.IntegerField(
        min_value=10, max_value=86_400, default=300, help_text="expires unanswered after this"
    )


class CommandOutput(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.IntegerField(source="device_id")
    kind = serializers.CharField()
    payload = serializers.DictField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    response = serializers.JSONField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)


class SimulationInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["start", "stop", "restart"])
    devices = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    interval_seconds = serializers.IntegerField(min_value=1, max_value=3600, required=False)
    time_scale = serializers.FloatField(
        min_value=1,
        max_value=100_000,
        required=False,
        help_text="how many times faster than the clock the devices wear (their readings still "
        "come in real time): 360 ages them an hour every 10 s",
    )
    transport = serializers.ChoiceField(
        choices=["http", "mqtt"],
        required=False,
        help_text="how the devices report: the HTTP ingest API or the platform's MQTT broker",
    )


class SimulationOutput(serializers.Serializer):
    desired = serializers.CharField()
    status = serializers.CharField()
    devices = serializers.IntegerField()
    interval_seconds = serializers.IntegerField()
    time_scale = serializers.FloatField(help_text="how many times faster than the clock they wear")
    transport = serializers.CharField(help_text="http or mqtt")
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    stats = serializers.DictField(
        help_text="the simulator's own figures: generated, accepted, "
        "points_per_s, reporting, failed, …"
    )
    message = serializers.CharField()
