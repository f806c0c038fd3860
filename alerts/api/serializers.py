"""The alerts API's shapes: rules in and out, alarms and their activity out, filters."""

from typing import Any

from rest_framework import serializers

from alerts.models import (
    Alarm,
    AlarmActivity,
    AlarmStatus,
    AlertRule,
    ConditionKind,
    Direction,
    Severity,
)
from alerts.rules import RULE_FIELDS

BIGINT = 2**63 - 1


class RuleInput(serializers.Serializer):
    """A rule as people write it: on a device type (by name) or on one device (by id)."""

    name = serializers.CharField(max_length=120)
    device_type = serializers.CharField(max_length=100, required=False, allow_null=True)
    device = serializers.IntegerField(
        min_value=1, max_value=BIGINT, required=False, allow_null=True
    )
    kind = serializers.ChoiceField(choices=ConditionKind.choices)
    metric = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.ABOVE)
    threshold = serializers.FloatField(required=False, allow_null=True, default=None)
    clear_threshold = serializers.FloatField(required=False, allow_null=True, default=None)
    duration_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86_400, default=0)
    window_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86_400, default=0)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.WARNING)
    cooldown_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86_400, default=300)
    enabled = serializers.BooleanField(default=True)


class RuleOutput(serializers.ModelSerializer):
    device_type = serializers.CharField(source="device_type.name", allow_null=True, default=None)
    device_name = serializers.CharField(source="device.name", allow_null=True, default=None)

    class Meta:
        model = AlertRule
        fields = ["id", *RULE_FIELDS, "device_name", "created_at", "updated_at"]


class RuleFilter(serializers.Serializer):
    device_type = serializers.CharField(max_length=100, required=False)
    device = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    kind = serializers.ChoiceField(choices=ConditionKind.choices, required=False)
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)


STATUS_CHOICES = [*AlarmStatus.values, "active"]


class AlarmFilter(serializers.Serializer):
    status = serializers.CharField(
        required=False,
        help_text="comma-separated: open, acknowledged, cleared, closed, or active "
        "(open and acknowledged)",
    )
    min_severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, help_text="this severity or a more urgent one"
    )
    device = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    rule = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)

    def validate_status(self, value: str) -> list[str]:
        statuses = [s.strip() for s in value.split(",") if s.strip()]
        unknown = [s for s in statuses if s not in STATUS_CHOICES]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown status {unknown[0]!r}; one of {', '.join(STATUS_CHOICES)}."
            )
        return statuses


def _who(user: Any) -> str | None:
    return None if user is None else user.get_username()


class AlarmOutput(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name")
    rule_metric = serializers.CharField(
        source="rule.metric", help_text="the metric the rule watches (empty: the device's state)"
    )
    device_name = serializers.CharField(source="device.name")
    acknowledged_by = serializers.SerializerMethodField()
    cleared_by = serializers.SerializerMethodField()
    closed_by = serializers.SerializerMethodField()

    class Meta:
        model = Alarm
        fields = [
            "id",
            "rule",
            "rule_name",
            "rule_metric",
            "device",
            "device_name",
            "severity",
            "status",
            "message",
            "occurrences",
            "first_value",
            "last_value",
            "opened_at",
            "last_seen_at",
            "acknowledged_at",
            "acknowledged_by",
            "cleared_at",
            "cleared_by",
            "closed_at",
            "closed_by",
        ]

    def get_acknowledged_by(self, alarm: Alarm) -> str | None:
        return _who(alarm.acknowledged_by)

    def get_cleared_by(self, alarm: Alarm) -> str | None:
        """Empty when the platform cleared it (its condition cleared)."""
        return _who(alarm.cleared_by)

    def get_closed_by(self, alarm: Alarm) -> str | None:
        return _who(alarm.closed_by)


class ActivityOutput(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AlarmActivity
        fields = ["at", "action", "actor", "text", "value"]

    def get_actor(self, activity: AlarmActivity) -> str | None:
        """Empty for the platform's own steps (opened, reopened, cleared by its condition)."""
        return _who(activity.actor)


class AlarmDetailOutput(AlarmOutput):
    activity = ActivityOutput(many=True, read_only=True)

    class Meta(AlarmOutput.Meta):
        fields = [*AlarmOutput.Meta.fields, "activity"]


class StepInput(serializers.Serializer):
    text = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CommentInput(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
