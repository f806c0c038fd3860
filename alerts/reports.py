"""Report schedules: what each needs (checked, each problem named by its field) and the period a
run covers — the tenant's days: periods start and end at its local midnight, so a day across a
daylight-saving change is 23 or 25 hours long."""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from devices.models import Device
from iotplatform.tenancy.models import Membership, Tenant

from .models import DeviceScope, Frequency, ReportSchedule, ReportSection

MAX_EMAILS = 50
SCHEDULE_FIELDS = (
    "name",
    "frequency",
    "weekday",
    "day_of_month",
    "at",
    "scope",
    "device_type",
    "tag",
    "metrics",
    "sections",
    "bucket",
    "emails",
    "enabled",
)


def schedule_validate(
    schedule: ReportSchedule, *, devices: list[Device], people: list[Any]
) -> None:
    errors: dict[str, str] = {}
    freq = schedule.frequency
    if freq not in Frequency.values:
        errors["frequency"] = f"One of {', '.join(Frequency.values)}."
    if freq == Frequency.WEEKLY:
        if schedule.weekday is None or not 0 <= schedule.weekday <= 6:
            errors["weekday"] = "A weekly report needs its weekday: 0 (Monday) to 6 (Sunday)."
    elif schedule.weekday is not None:
        errors["weekday"] = "Only a weekly report has a weekday."
    if freq == Frequency.MONTHLY:
        if schedule.day_of_month is None or not 1 <= schedule.day_of_month <= 28:
            errors["day_of_month"] = "A monthly report needs its day: 1 to 28 (every month has it)."
    elif schedule.day_of_month is not None:
        errors["day_of_month"] = "Only a monthly report has a day of the month."
    tenant_id = schedule.tenant_id
    scope = schedule.scope
    if scope == DeviceScope.TYPE:
        if schedule.device_type is None:
            errors["device_type"] = "A report on a device type names the type."
        elif schedule.device_type.tenant_id != tenant_id:
            errors["device_type"] = "Not found."
    elif schedule.device_type is not None:
        errors["device_type"] = "Only a report on a device type names one."
    if scope == DeviceScope.TAG and not schedule.tag.strip():
        errors["tag"] = "A report on a tag names the tag."
    elif scope != DeviceScope.TAG and schedule.tag:
        errors["tag"] = "Only a report on a tag names one."
    if scope == DeviceScope.LIST:
        foreign = [d.pk for d in devices if d.tenant_id != tenant_id]
        if not devices:
            errors["devices"] = "A report on listed devices lists at least one."
        elif foreign:
            errors["devices"] = f"Unknown devices: {foreign}."
    elif devices:
        errors["devices"] = "Only a report on listed devices lists them."
    if not isinstance(schedule.metrics, list) or not all(
        isinstance(m, str) and m for m in schedule.metrics
    ):
        errors["metrics"] = "A list of metric names (empty: every metric)."
    sections = schedule.sections
    if not isinstance(sections, list) or not sections:
        errors["sections"] = f"At least one of {', '.join(ReportSection.values)}."
    else:
        unknown = [s for s in sections if s not in ReportSection.values]
        if unknown:
            errors["sections"] = (
                f"Unknown section {unknown[0]!r}; one of {', '.join(ReportSection.values)}."
            )
        elif ReportSection.READINGS in sections and not schedule.bucket:
            errors["bucket"] = "The readings section needs its bucket: 1m, 15m or 1h."
    if schedule.bucket and schedule.bucket not in ("1m", "15m", "1h"):
        errors["bucket"] = "1m, 15m or 1h."
    errors.update(_recipients_errors(tenant_id, schedule.emails, people))
    if errors:
        raise ValidationError(errors)


def _recipients_errors(tenant_id: int, emails: Any, people: list[Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        return {"emails": "A list of email addresses."}
    if len(emails) > MAX_EMAILS:
        errors["emails"] = f"At most {MAX_EMAILS} outside addresses."
    bad = []
    for address in emails:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        errors["emails"] = f"Not an email address: {', '.join(repr(b) for b in bad)}."
    members = set(
        Membership.objects.filter(tenant_id=tenant_id, user__in=people).values_list(
            "user_id", flat=True
        )
    )
    strangers = [p.pk for p in people if p.pk not in members]
    if strangers:
        errors["people"] = f"Not members of this tenant: {strangers}."
    elif not emails and not people:
        errors["people"] = "A report goes to at least one person or address."
    return errors


@transaction.atomic
def schedule_save(
    *,
    tenant: Tenant,
    schedule: ReportSchedule | None = None,
    devices: list[Device] | None = None,
    people: list[Any] | None = None,
    **fields: Any,
) -> ReportSchedule:
    """Create (``schedule`` None) or change a schedule with ``fields``; the devices listed and
    the people it goes to replace the old lists when given."""
    unknown = set(fields) - set(SCHEDULE_FIELDS)
    if unknown:
        raise ValueError(f"not schedule fields: {sorted(unknown)}")
    schedule = schedule or ReportSchedule(tenant=tenant, sections=[ReportSection.SUMMARY])
    for name, value in fields.items():
        setattr(schedule, name, value)
    if devices is None and schedule.scope != DeviceScope.LIST:
        devices = []  # a list left behind by a change of scope goes with it
    devices = list(schedule.devices.all()) if devices is None and schedule.pk else devices or []
    people = list(schedule.people.all()) if people is None and schedule.pk else people or []
    schedule_validate(schedule, devices=devices, people=people)
    if (
        ReportSchedule.objects.filter(tenant=tenant, name=schedule.name)
        .exclude(pk=schedule.pk)
        .exists()
    ):
        raise ValidationError({"name": f"A report schedule named {schedule.name!r} exists."})
    schedule.save()
    schedule.devices.set(devices)
    schedule.people.set(people)
    return schedule


def period_for(schedule: ReportSchedule, *, at: datetime, tz: str) -> tuple[datetime, datetime]:
    """The period a run at ``at`` reports on: it ends at the tenant's last local midnight and
    starts a day, seven days or a calendar month before (local midnights again)."""
    zone = ZoneInfo(tz)
    today: date = at.astimezone(zone).date()
    if schedule.frequency == Frequency.MONTHLY:
        first = today.replace(day=1)
        start_day = (first - timedelta(days=1)).replace(day=1)
        end_day = first
    else:
        end_day = today
        start_day = today - timedelta(days=7 if schedule.frequency == Frequency.WEEKLY else 1)
    return (
        datetime.combine(start_day, time(0), tzinfo=zone),
        datetime.combine(end_day, time(0), tzinfo=zone),
    )
