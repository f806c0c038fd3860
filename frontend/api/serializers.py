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
    avg_health = serializers.FloatField(
        allow_null=True, help_text="0 (failed) to 100 (as new); null until a model sets it"
    )
    fail_24h = serializers.IntegerField(
        help_text="devices whose remaining useful life is at most 24 hours (not in maintenance)"
    )
    fail_7d = serializers.IntegerField(help_text="the same within 7 days")
    freshness_seconds = serializers.FloatField(
        allow_null=True, help_text="seconds since the newest reading of the fleet"
    )
