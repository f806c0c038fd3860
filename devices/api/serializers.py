from rest_framework import serializers


class DeviceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    serial = serializers.CharField()
    type = serializers.CharField(source="type.name")
    location = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    last_seen = serializers.DateTimeField(allow_null=True)
    health = serializers.FloatField(allow_null=True)
    rul_hours = serializers.FloatField(allow_null=True)


class MaintenanceInput(serializers.Serializer):
    on = serializers.BooleanField(help_text="true: into maintenance; false: back to service")
