"""The alerts API: alert rules (admins write, operators enable and disable, viewers read) and
alarms (operators acknowledge, clear, close and comment; viewers read). Another tenant's rule
or alarm is a 404, as a missing one."""

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import alarms, rules, selectors
from alerts.models import Alarm, AlertRule
from devices.api.base import device_type_or_400
from devices.selectors import device_list
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.scoping import TenantAPIView

from .serializers import (
    ActivityOutput,
    AlarmDetailOutput,
    AlarmFilter,
    AlarmOutput,
    CommentInput,
    RuleFilter,
    RuleInput,
    RuleOutput,
    StepInput,
)


class AlarmConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "alarm_state"


class RuleWriting(TenantAPIView):
    def _targets(self, data: dict[str, Any]) -> dict[str, Any]:
        """The device type (by name) and device (by id) of a rule, the tenant's or a 400."""
        out = dict(data)
        if "device_type" in data:
            name = data["device_type"]
            out["device_type"] = (
                None
                if name is None
                else device_type_or_400(tenant=self.tenant, name=name, field="device_type")
            )
        if "device" in data:
            device_id = data["device"]
            device = (
                None
                if device_id is None
                else device_list(tenant=self.tenant).filter(pk=device_id).first()
            )
            if device_id is not None and device is None:
                raise exceptions.ValidationError({"device": [f"Unknown device {device_id}."]})
            out["device"] = device
        return out


class RuleListView(RuleWriting):
    """The tenant's alert rules; an admin adds one."""

    serializer_class = RuleOutput
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[AlertRule]:
        return selectors.rule_list(tenant=self.tenant, filters=self.query(RuleFilter))

    @extend_schema(parameters=[RuleFilter], responses=RuleOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RuleOutput(page, many=True).data)

    @extend_schema(request=RuleInput, responses={201: RuleOutput})
    def post(self, request: Request) -> Response:
        data = RuleInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule = rules.rule_create(tenant=self.tenant, **self._targets(data.validated_data))
        return Response(RuleOutput(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(RuleWriting):
    """One rule. An admin changes or deletes it; an operator may only enable or disable it."""

    serializer_class = RuleOutput
    write_role = Role.OPERATOR

    def tenant_queryset(self) -> QuerySet[AlertRule]:
        return selectors.rule_list(tenant=self.tenant)

    def get(self, request: Request, pk: int) -> Response:
        return Response(RuleOutput(self.get_object()).data)

    @extend_schema(request=RuleInput(partial=True), responses=RuleOutput)
    def patch(self, request: Request, pk: int) -> Response:
        rule = self.get_object()
        data = RuleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        if not self.membership.allows(Role.ADMIN) and set(fields) - {"enabled"}:
            raise exceptions.PermissionDenied("Operators may only enable or disable a rule.")
        rule = rules.rule_update(rule=rule, **self._targets(fields))
        return Response(RuleOutput(rule).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        if not self.membership.allows(Role.ADMIN):
            raise exceptions.PermissionDenied("Only admins delete rules.")
        rules.rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlarmListView(TenantAPIView):
    """The tenant's alarms, newest first."""

    serializer_class = AlarmOutput

    def tenant_queryset(self) -> QuerySet[Alarm]:
        return selectors.alarm_list(tenant=self.tenant, filters=self.query(AlarmFilter))

    @extend_schema(parameters=[AlarmFilter], responses=AlarmOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AlarmOutput(page, many=True).data)


class AlarmDetailView(TenantAPIView):
    """One alarm with its activity: who did what, when, and the comments."""

    serializer_class = AlarmDetailOutput

    def tenant_queryset(self) -> QuerySet[Alarm]:
        return selectors.alarm_list(tenant=self.tenant).prefetch_related("activity__actor")

    def get(self, request: Request, pk: int) -> Response:
        return Response(AlarmDetailOutput(self.get_object()).data)


class AlarmStepView(TenantAPIView):
    """Acknowledge, clear or close an alarm (operators; a step its state does not allow is a
    409 saying why), with an optional comment."""

    serializer_class = AlarmDetailOutput
    step: ClassVar[str] = ""

    def tenant_queryset(self) -> QuerySet[Alarm]:
        return selectors.alarm_list(tenant=self.tenant)

    @extend_schema(
        request=StepInput,
        responses={200: AlarmDetailOutput, 409: OpenApiResponse(description="not in this state")},
    )
    def post(self, request: Request, pk: int) -> Response:
        alarm = self.get_object()
        data = StepInput(data=request.data)
        data.is_valid(raise_exception=True)
        step = {
            "acknowledge": alarms.alarm_acknowledge,
            "clear": alarms.alarm_clear,
            "close": alarms.alarm_close,
        }[self.step]
        try:
            alarm = step(alarm=alarm, by=request.user, text=data.validated_data["text"])
        except alarms.AlarmStateError as exc:
            raise AlarmConflict(str(exc)) from None
        alarm = self.tenant_queryset().prefetch_related("activity__actor").get(pk=alarm.pk)
        return Response(AlarmDetailOutput(alarm).data)


class AlarmCommentView(TenantAPIView):
    """A comment on an alarm (operators)."""

    serializer_class = ActivityOutput

    def tenant_queryset(self) -> QuerySet[Alarm]:
        return selectors.alarm_list(tenant=self.tenant)

    @extend_schema(request=CommentInput, responses={201: ActivityOutput})
    def post(self, request: Request, pk: int) -> Response:
        alarm = self.get_object()
        data = CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        activity = alarms.alarm_comment(
            alarm=alarm, by=request.user, text=data.validated_data["text"]
        )
        return Response(ActivityOutput(activity).data, status=status.HTTP_201_CREATED)
