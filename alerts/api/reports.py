"""The report schedules API: admins add, change and delete schedules; everyone reads them.
Another tenant's schedule is a 404; a device type, device or person of another tenant is a 400
naming the field."""

import csv
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import reports
from alerts.models import DeviceScope, Frequency, ReportRun, ReportSchedule, ReportSection
from alerts.report_content import report_write
from alerts.report_runs import run_file_chunks, run_make
from alerts.tasks import report_send
from devices.api.base import device_type_or_400
from devices.selectors import device_list
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.scoping import TenantAPIView

BIGINT = 2**63 - 1
PREVIEW_ROWS = 10


class ScheduleInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    frequency = serializers.ChoiceField(choices=Frequency.choices, default=Frequency.DAILY)
    weekday = serializers.IntegerField(min_value=0, max_value=6, required=False, allow_null=True)
    day_of_month = serializers.IntegerField(
        min_value=1, max_value=28, required=False, allow_null=True
    )
    at = serializers.TimeField(help_text="local time in the tenant's time zone, e.g. 07:00")
    scope = serializers.ChoiceField(choices=DeviceScope.choices, default=DeviceScope.ALL)
    device_type = serializers.CharField(max_length=100, required=False, allow_null=True)
    tag = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    devices = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        required=False,
        max_length=10_000,
    )
    metrics = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )
    sections = serializers.ListField(
        child=serializers.ChoiceField(choices=ReportSection.choices),
        required=False,
        max_length=4,
    )
    bucket = serializers.ChoiceField(
        choices=[("1m", "1m"), ("15m", "15m"), ("1h", "1h")], required=False, allow_blank=True
    )
    people = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        required=False,
        max_length=1000,
    )
    emails = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, max_length=100
    )
    enabled = serializers.BooleanField(default=True)


class ScheduleOutput(serializers.ModelSerializer):
    device_type = serializers.CharField(source="device_type.name", allow_null=True, default=None)
    devices = serializers.SerializerMethodField()
    people = serializers.SerializerMethodField()

    class Meta:
        model = ReportSchedule
        fields = ["id", *reports.SCHEDULE_FIELDS, "devices", "people", "created_at", "updated_at"]

    def get_devices(self, schedule: ReportSchedule) -> list[int]:
        return sorted(d.pk for d in schedule.devices.all())

    def get_people(self, schedule: ReportSchedule) -> list[dict[str, Any]]:
        return [{"id": u.pk, "username": u.get_username()} for u in schedule.people.all()]


class ScheduleWriting(TenantAPIView):
    serializer_class = ScheduleOutput
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[ReportSchedule]:
        return ReportSchedule.objects.select_related("device_type").prefetch_related(
            "devices", "people"
        )

    def _save(self, data: dict[str, Any], schedule: ReportSchedule | None) -> ReportSchedule:
        fields = dict(data)
        if "device_type" in fields:
            name = fields["device_type"]
            fields["device_type"] = (
                None
                if name is None
                else device_type_or_400(tenant=self.tenant, name=name, field="device_type")
            )
        devices = fields.pop("devices", None)
        if devices is not None:
            found = {d.pk: d for d in device_list(tenant=self.tenant).filter(pk__in=devices)}
            missing = [d for d in devices if d not in found]
            if missing:
                raise exceptions.ValidationError({"devices": [f"Unknown devices: {missing}."]})
            devices = [found[d] for d in devices]
        people = fields.pop("people", None)
        if people is not None:
            people = list(get_user_model().objects.filter(pk__in=people))
            if len(people) != len(set(data["people"])):
                known = {p.pk for p in people}
                unknown = [p for p in data["people"] if p not in known]
                raise exceptions.ValidationError({"people": [f"Unknown people: {unknown}."]})
        return reports.schedule_save(
            tenant=self.tenant, schedule=schedule, devices=devices, people=people, **fields
        )


class ScheduleListView(ScheduleWriting):
    """The tenant's report schedules; an admin adds one."""

    @extend_schema(responses=ScheduleOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ScheduleOutput(page, many=True).data)

    @extend_schema(request=ScheduleInput, responses={201: ScheduleOutput})
    def post(self, request: Request) -> Response:
        data = ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = self._save(data.validated_data, None)
        return Response(ScheduleOutput(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(ScheduleWriting):
    """One schedule; an admin changes or deletes it."""

    def get(self, request: Request, pk: int) -> Response:
        return Response(ScheduleOutput(self.get_object()).data)

    @extend_schema(request=ScheduleInput(partial=True), responses=ScheduleOutput)
    def patch(self, request: Request, pk: int) -> Response:
        schedule = self.get_object()
        data = ScheduleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        schedule = self._save(fields, schedule)
        return Response(ScheduleOutput(schedule).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunOutput(serializers.ModelSerializer):
    schedule = serializers.IntegerField(source="schedule_id", allow_null=True)

    class Meta:
        model = ReportRun
        fields = [
            "id", "schedule", "name", "period_start", "period_end", "recipients", "files",
            "archive_bytes", "status", "attempts", "reason", "created_at", "sent_at",
        ]  # fmt: skip


class RunListView(TenantAPIView):
    """Every report produced, newest period first: its files, recipients and how its email
    went."""

    serializer_class = RunOutput

    def tenant_queryset(self) -> QuerySet[ReportRun]:
        return ReportRun.objects.all()

    @extend_schema(responses=RunOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RunOutput(page, many=True).data)


class RunDetailView(TenantAPIView):
    serializer_class = RunOutput

    def tenant_queryset(self) -> QuerySet[ReportRun]:
        return ReportRun.objects.all()

    def get(self, request: Request, pk: int) -> Response:
        return Response(RunOutput(self.get_object()).data)


async def _streamed(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A file read in a thread chunk by chunk: the ASGI server sends each as it comes (it would
    read a synchronous iterator whole first)."""
    read = sync_to_async(lambda: next(chunks, b""), thread_sensitive=False)
    while chunk := await read():
        yield chunk


def _archive_chunks(run: ReportRun, size: int = 256 * 1024) -> Iterator[bytes]:
    with run.archive.open("rb") as raw:
        while chunk := raw.read(size):
            yield chunk


def _kept_or_404(run: ReportRun) -> None:
    if not run.archive.name or not run.archive.storage.exists(run.archive.name):
        raise exceptions.NotFound("This report's files are no longer kept.")


class RunFileView(TenantAPIView):
    """One of a report's CSV files, downloaded again (streamed, whatever its size)."""

    serializer_class = RunOutput

    def tenant_queryset(self) -> QuerySet[ReportRun]:
        return ReportRun.objects.all()

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request: Request, pk: int, name: str) -> StreamingHttpResponse:
        run = self.get_object()
        names = [f["name"] for f in run.files]
        if name not in names:
            raise exceptions.NotFound(f"No file {name!r} in this report: {names}.")
        _kept_or_404(run)
        response = StreamingHttpResponse(
            _streamed(run_file_chunks(run, name)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class RunArchiveView(RunFileView):
    """All of a report's files in one zip (what the email links to when it is too large to
    attach)."""

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:  # type: ignore[override]
        run = self.get_object()
        _kept_or_404(run)
        response = StreamingHttpResponse(
            _streamed(_archive_chunks(run)), content_type="application/zip"
        )
        if run.archive_bytes is not None:
            response["Content-Length"] = str(run.archive_bytes)
        response["Content-Disposition"] = (
            f'attachment; filename="report-{run.pk}-{run.period_start:%Y%m%d}.zip"'
        )
        return response


class ScheduleSendView(ScheduleWriting):
    """Send now (operators): the report of the schedule's latest complete period, made and
    emailed at once, beside the scheduled ones."""

    write_role = Role.OPERATOR

    @extend_schema(request=None, responses={202: RunOutput})
    def post(self, request: Request, pk: int) -> Response:
        schedule = self.get_object()
        run = run_make(schedule, by=request.user)
        report_send.apply_async((run.pk,))
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class PreviewView(ScheduleWriting):
    """What a schedule (saved or not) would send for its latest complete period: each file's
    columns and first rows. Nothing is saved."""

    @extend_schema(request=ScheduleInput, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        listed = fields.pop("devices", None)
        people = fields.pop("people", None) or []
        fields.setdefault("sections", [ReportSection.SUMMARY.value])
        if fields.get("device_type"):
            fields["device_type"] = device_type_or_400(
                tenant=self.tenant, name=fields["device_type"], field="device_type"
            )
        schedule = ReportSchedule(tenant=self.tenant, **fields)
        devices = list(device_list(tenant=self.tenant).filter(pk__in=listed or []))
        if listed and len(devices) != len(set(listed)):
            raise exceptions.ValidationError({"devices": ["Unknown devices."]})
        users = list(get_user_model().objects.filter(pk__in=people))
        reports.schedule_validate(schedule, devices=devices, people=users)
        tz = self.tenant.timezone
        start, end = reports.period_for(schedule, at=timezone.now(), tz=tz)
        written: dict[str, io.BytesIO] = {}

        @contextmanager
        def opener(name: str) -> Iterator[IO[bytes]]:
            written[name] = io.BytesIO()
            yield written[name]

        files = report_write(
            opener, schedule, start, end, tz, listed=[d.pk for d in devices], limit=PREVIEW_ROWS
        )
        out = []
        for f in files:
            rows = list(csv.reader(io.StringIO(written[f.name].getvalue().decode())))
            out.append({
                "name": f.name,
                # The readings are read only as far as the preview shows: "at least".
                "rows": f.rows if f.name != "readings.csv" or f.rows < PREVIEW_ROWS else None,
                "header": rows[0],
                "first": rows[1 : PREVIEW_ROWS + 1],
            })  # fmt: skip
        return Response({"period_start": start, "period_end": end, "files": out})
