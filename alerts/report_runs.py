"""Reports on their schedules: each schedule is a django-celery-beat crontab in the tenant's time
zone (so a daily 07:00 report goes out at 07:00 local on both sides of a daylight-saving change),
kept in step whenever the schedule is saved or deleted. A tick makes the period's ``ReportRun``
(one per schedule and period: a beat that fires twice makes one) with its files, then emails it
exactly once the way alarm deliveries are sent: a claim with a lease, the SMTP hand-over split
around the commit point, retries with backoff, never a second email after the hand-over."""

import io
import json
import logging
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from .channels import DeliveryError, Unconfirmed
from .channels.email import email_send
from .delivery import backoff
from .models import DeliveryStatus, Frequency, ReportRun, ReportSchedule
from .report_content import report_files
from .reports import period_for

log = logging.getLogger(__name__)
TASK = "alerts.report_run"


def task_name(schedule_id: int) -> str:
    return f"report-schedule-{schedule_id}"


def schedule_sync(schedule: ReportSchedule) -> PeriodicTask:
    """The schedule's beat entry as the schedule now says (created, changed or disabled)."""
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(schedule.at.minute),
        hour=str(schedule.at.hour),
        day_of_week=str((schedule.weekday + 1) % 7)
        if schedule.frequency == Frequency.WEEKLY and schedule.weekday is not None
        else "*",
        day_of_month=str(schedule.day_of_month) if schedule.frequency == Frequency.MONTHLY else "*",
        month_of_year="*",
        timezone=schedule.tenant.timezone,
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=task_name(schedule.pk),
        defaults={
            "task": TASK,
            "crontab": crontab,
            "interval": None,
            "kwargs": json.dumps({"schedule": schedule.pk}),
            "enabled": schedule.enabled,
            "description": f"{schedule.tenant.slug}: {schedule.name}",
        },
    )
    return task


def schedule_unsync(schedule_id: int) -> None:
    PeriodicTask.objects.filter(name=task_name(schedule_id)).delete()


def run_make(schedule: ReportSchedule, *, at: datetime | None = None, by: Any = None) -> ReportRun:
    """The run of the period ``at`` closes: beat's made once (a second tick finds the first's);
    a person's (``by``: "send now") a run of its own each time."""
    at = at or timezone.now()
    tz = schedule.tenant.timezone
    start, end = period_for(schedule, at=at, tz=tz)
    if by is None:
        found = ReportRun.objects.filter(
            schedule=schedule, period_start=start, manual=False
        ).first()
        if found is not None:
            return found
    files = report_files(schedule, start, end, tz)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f.name, f.data)
    recipients = sorted(
        {u.email for u in schedule.people.filter(is_active=True) if u.email} | set(schedule.emails)
    )
    try:
        with transaction.atomic():
            return ReportRun.objects.create(
                tenant_id=schedule.tenant_id,
                schedule=schedule,
                name=schedule.name,
                period_start=start,
                period_end=end,
                recipients=recipients,
                files=[{"name": f.name, "rows": f.rows, "bytes": len(f.data)} for f in files],
                content=buffer.getvalue(),
                due_at=timezone.now(),
                manual=by is not None,
                requested_by=by,
            )
    except IntegrityError:  # another tick made it meanwhile
        return ReportRun.objects.get(schedule=schedule, period_start=start, manual=False)


def run_files(run: ReportRun) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bytes(run.content))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _email(run: ReportRun) -> EmailMultiAlternatives:
    tz = run.tenant.timezone
    context = {
        "run": run,
        "local_start": run.period_start.astimezone(ZoneInfo(tz)),
        "local_end": run.period_end.astimezone(ZoneInfo(tz)),
        "tz": tz,
        "link": f"{settings.PUBLIC_URL.rstrip('/')}/api/v1/reports/runs/{run.pk}",
    }
    email = EmailMultiAlternatives(
        subject=f"[Report] {run.name}: {context['local_start']:%Y-%m-%d} to "
        f"{context['local_end']:%Y-%m-%d} ({run.tenant.name})",
        body=render_to_string("alerts/email/report.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(run.recipients),
        headers={"X-IoT-Report-Run": str(run.pk), "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(render_to_string("alerts/email/report.html", context), "text/html")
    files = run_files(run)
    if sum(len(b) for b in files.values()) > settings.REPORTS_ZIP_OVER_BYTES:
        email.attach(f"report-{run.pk}.zip", bytes(run.content), "application/zip")
    else:
        for name, data in files.items():
            email.attach(name, data, "text/csv")
    return email


def run_send(pk: int) -> str:
    """Email the run if it is due and nobody else is sending it; its status after."""
    now = timezone.now()
    lease = timedelta(seconds=settings.ALERTS_DELIVERY_LEASE)
    claimable = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], due_at__lte=now)
    claimable |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    if not ReportRun.objects.filter(claimable, pk=pk).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=now + lease
    ):
        return "not due"
    run = ReportRun.objects.select_related("tenant").get(pk=pk)
    mine = ReportRun.objects.filter(pk=pk, attempts=run.attempts)

    def commit() -> None:
        if not mine.filter(status=DeliveryStatus.SENDING).update(status=DeliveryStatus.COMMITTED):
            raise DeliveryError("Another sender took this report over (the lease ran out).")

    try:
        email_send(_email(run), commit)
    except Unconfirmed as exc:
        mine.filter(status=DeliveryStatus.COMMITTED).update(
            status=DeliveryStatus.UNCONFIRMED, reason=str(exc)[:500]
        )
        return DeliveryStatus.UNCONFIRMED
    except DeliveryError as exc:
        failed = exc.permanent or run.attempts >= settings.ALERTS_DELIVERY_ATTEMPTS
        due = now + backoff(run.attempts)
        mine.filter(status__in=[DeliveryStatus.SENDING, DeliveryStatus.COMMITTED]).update(
            status=DeliveryStatus.FAILED if failed else DeliveryStatus.RETRYING,
            reason=str(exc)[:500],
            due_at=due,
            lease_until=None,
        )
        if failed:
            return DeliveryStatus.FAILED
        from .tasks import report_send

        report_send.apply_async((pk,), eta=due)
        return DeliveryStatus.RETRYING
    mine.filter(status=DeliveryStatus.COMMITTED).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), reason=""
    )
    return DeliveryStatus.SENT


def runs_sweep(now: datetime | None = None) -> dict[str, int]:
    """Runs whose nudge was lost or whose sender died: resent before the hand-over, recorded
    unconfirmed after it (never a second email)."""
    from .tasks import report_send

    now = now or timezone.now()
    unconfirmed = ReportRun.objects.filter(
        status=DeliveryStatus.COMMITTED, lease_until__lt=now
    ).update(
        status=DeliveryStatus.UNCONFIRMED,
        reason="The sender stopped after handing the report over; not resent.",
    )
    due = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], due_at__lte=now)
    due |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    pks = list(ReportRun.objects.filter(due).values_list("pk", flat=True)[:100])
    for pk in pks:
        report_send.apply_async((pk,))
    return {"requeued": len(pks), "unconfirmed": unconfirmed}
