from rest_framework import serializers


class DashboardSummaryOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    devices = serializers.DictField(
        child=serializers.IntegerField(), help_text="total, active, and one count per status"
    )
    avg_temperature = serializers.FloatField(
        allow_null=True, help_text="mean of the latest temperature of the active devices"
    )
    alerts_5m = serializers.IntegerField(help_text="alarms opened in the last 5 minutes")
    readings_5m = serializers.IntegerField()
    anomaly_rate_5m = serializers.FloatField(
        allow_null=True, help_text="share of the last 5 minutes' readings beyond warning limits"
    )
    avg_health = serializers.FloatField(allow_null=True, help_text="null until a model sets it")
    freshness_seconds = serializers.FloatField(
        allow_null=True, help_text="seconds since the newest reading of the fleet"
    )
