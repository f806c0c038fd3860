"""The notifications API: each person's own settings, the tenant's recipients per severity
(admins change them) and the delivery log (admins see the tenant's, others their own)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import preferences
from alerts.models import (
    Audience,
    Channel,
    DeliveryStatus,
    NotificationDelivery,
    NotificationProfile,
    Severity,
    SeverityRecipients,
    WebhookFormat,
)
from alerts.notify import profile_for
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.scoping import TenantAPIView

BIGINT = 2**63 - 1


class ProfileSerializer(serializers.ModelSerializer):
    webhook_format = serializers.ChoiceField(choices=WebhookFormat.choices, required=False)
    min_severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    webhook_secret = serializers.CharField(
        max_length=128, required=False, allow_blank=True, write_only=True
    )
    webhook_signed = serializers.SerializerMethodField()

    class Meta:
        model = NotificationProfile
        fields = [*preferences.PROFILE_FIELDS, "webhook_signed"]

    def get_webhook_signed(self, profile: NotificationProfile) -> bool:
        """Whether a secret is set (the secret itself is never shown)."""
        return bool(profile.webhook_secret)


class MyProfileView(TenantAPIView):
    """Your own notification settings in this tenant: channels, the least urgent severity you
    hear of, quiet hours (the tenant's time zone; critical alarms still come through unless
    ``quiet_critical`` is off)."""

    serializer_class = ProfileSerializer
    write_role = Role.VIEWER

    def tenant_queryset(self) -> QuerySet[NotificationProfile]:
        return NotificationProfile.objects.all()

    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(profile_for(tenant=self.tenant, user=request.user)).data)

    @extend_schema(request=ProfileSerializer(partial=True), responses=ProfileSerializer)
    def patch(self, request: Request) -> Response:
        data = ProfileSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        profile = preferences.profile_update(
            tenant=self.tenant, user=request.user, **data.validated_data
        )
        return Response(ProfileSerializer(profile).data)


class RecipientsOutput(serializers.ModelSerializer):
    people = serializers.SerializerMethodField()

    class Meta:
        model = SeverityRecipients
        fields = ["severity", "audience", "people"]

    def get_people(self, row: SeverityRecipients) -> list[dict[str, Any]]:
        return [{"id": u.pk, "username": u.get_username()} for u in row.people.all()]


class RecipientsInput(serializers.Serializer):
    audience = serializers.ChoiceField(choices=Audience.choices, required=False)
    people = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        required=False,
        max_length=1000,
    )


class RecipientsListView(TenantAPIView):
    """Who hears of the tenant's alarms, per severity."""

    serializer_class = RecipientsOutput

    def tenant_queryset(self) -> QuerySet[SeverityRecipients]:
        return SeverityRecipients.objects.all()

    def get(self, request: Request) -> Response:
        rows = preferences.recipients_list(tenant=self.tenant)
        return Response(RecipientsOutput(rows, many=True).data)


class RecipientsDetailView(TenantAPIView):
    """Change who hears of one severity's alarms (admins)."""

    serializer_class = RecipientsOutput
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[SeverityRecipients]:
        return SeverityRecipients.objects.all()

    @extend_schema(request=RecipientsInput, responses=RecipientsOutput)
    def patch(self, request: Request, severity: str) -> Response:
        if severity not in Severity.values:
            raise exceptions.NotFound(f"Unknown severity {severity!r}.")
        data = RecipientsInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = preferences.recipients_update(
            tenant=self.tenant, severity=severity, **data.validated_data
        )
        return Response(RecipientsOutput(row).data)


class DeliveryOutput(serializers.ModelSerializer):
    alarm = serializers.IntegerField(source="activity.alarm_id", allow_null=True, default=None)
    action = serializers.CharField(source="activity.action", allow_null=True, default=None)
    user = serializers.CharField(source="user.username", allow_null=True, default=None)

    class Meta:
        model = NotificationDelivery
        fields = [
            "id",
            "key",
            "alarm",
            "action",
            "activity_ids",
            "user",
            "channel",
            "address",
            "status",
            "reason",
            "attempts",
            "created_at",
            "due_at",
            "sent_at",
            "provider_id",
        ]


class DeliveryFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    alarm = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)


class DeliveryListView(TenantAPIView):
    """The delivery log, newest first: every message planned, with its status, attempts and the
    reason it failed, was retried or was held back. Admins see the tenant's; others their own."""

    serializer_class = DeliveryOutput

    def tenant_queryset(self) -> QuerySet[NotificationDelivery]:
        rows = NotificationDelivery.objects.select_related("activity", "user")
        if not self.membership.allows(Role.ADMIN):
            rows = rows.filter(user=self.membership.user)
        filters = self.query(DeliveryFilter)
        if "status" in filters:
            rows = rows.filter(status=filters["status"])
        if "channel" in filters:
            rows = rows.filter(channel=filters["channel"])
        if "alarm" in filters:
            rows = rows.filter(activity__alarm_id=filters["alarm"])
        return rows

    @extend_schema(parameters=[DeliveryFilter], responses=DeliveryOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)
