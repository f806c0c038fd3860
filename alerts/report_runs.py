"""Reports on their schedules: each schedule is a django-celery-beat crontab in the tenant's time
zone (so a daily 07:00 report goes out at 07:00 local on both sides of a daylight-saving change),
kept in step whenever the schedule is saved or deleted. A tick makes the period's ``ReportRun``
(one per schedule and period: a beat that fires twice makes one) with its files, then emails it
exactly once the way alarm deliveries are sent: a claim with a lease, the SMTP hand-over split
around the commit point, retries with backoff, never a second email after the hand-over.

A run's files are streamed into one zip in the reports storage as they are produced (a partial
``.part`` file until complete, moved into place whole), so memory stays flat however large the
report. The email carries the CSV files, or the zip when they are large, or only the link when
even the zip is too large to mail."""

import json
import logging
import os
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files import File
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from .channels import Commit
from .channels.email import email_send
from .delivery import send_once, sweep
from .models import Frequency, ReportRun, ReportSchedule, report_storage
from .report_content import ReportFile, report_write
from .reports import period_for

log = logging.getLogger(__name__)
TASK = "alerts.report_run"
PART = ".part"


class _Produced(File):
    """A finished zip in the storage's directory: moved into place, not copied."""

    def temporary_file_path(self) -> str:
        return str(self.name)


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
    recipients = sorted(
        {u.email for u in schedule.people.filter(is_active=True) if u.email} | set(schedule.emails)
    )
    storage = report_storage()
    with _produced(schedule, start, end, tz) as (part, files), open(part, "rb") as produced:
        name = storage.save(
            f"{schedule.tenant_id}/{start:%Y%m%d}-{schedule.pk}-{uuid.uuid4().hex[:12]}.zip",
            _Produced(produced, name=part),
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
                files=[{"name": f.name, "rows": f.rows, "bytes": f.bytes} for f in files],
                archive=name,
                archive_bytes=storage.size(name),
                due_at=timezone.now(),
                manual=by is not None,
                requested_by=by,
            )
    except IntegrityError:  # another tick made it meanwhile
        storage.delete(name)
        return ReportRun.objects.get(schedule=schedule, period_start=start, manual=False)


@contextmanager
def _produced(
    schedule: ReportSchedule, start: datetime, end: datetime, tz: str
) -> Iterator[tuple[str, list[ReportFile]]]:
    """The report's zip written to a ``.part`` file beside the stored ones (gone after)."""
    directory = _directory()
    with tempfile.NamedTemporaryFile(dir=directory, suffix=PART, delete=False) as part:
        try:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                files = report_write(
                    lambda name: archive.open(name, "w", force_zip64=True),
                    schedule, start, end, tz,
                )  # fmt: skip
        except BaseException:
            os.unlink(part.name)
            raise
    try:
        yield part.name, files
    finally:
        if os.path.exists(part.name):
            os.unlink(part.name)


def _directory() -> str:
    directory = str(getattr(report_storage(), "location", "") or tempfile.gettempdir())
    os.makedirs(directory, exist_ok=True)
    return directory


def parts_sweep(older_than: float = 86400.0) -> int:
    """Partial zips left by workers that died writing them."""
    removed = 0
    for part in Path(_directory()).glob(f"*{PART}"):
        if part.stat().st_mtime < time.time() - older_than:
            part.unlink(missing_ok=True)
            removed += 1
    return removed


def run_files(run: ReportRun) -> dict[str, bytes]:
    """Every file of the run, in memory (a small run's attachments)."""
    with run.archive.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def run_file_chunks(run: ReportRun, name: str, size: int = 256 * 1024) -> Iterator[bytes]:
    """One file of the run, decompressed as it is read (a download of any size)."""
    raw: IO[bytes] = run.archive.open("rb")
    try:
        with zipfile.ZipFile(raw) as archive, archive.open(name) as member:
            while chunk := member.read(size):
                yield chunk
    finally:
        raw.close()


def attachments(run: ReportRun) -> str:
    """How the email carries the files: ``files`` (each CSV), ``zip`` or ``none`` (too large to
    mail: the link only)."""
    if sum(f["bytes"] for f in run.files) <= settings.REPORTS_ZIP_OVER_BYTES:
        return "files"
    return "zip" if (run.archive_bytes or 0) <= settings.REPORTS_ATTACH_MAX_BYTES else "none"


def _email(run: ReportRun) -> EmailMultiAlternatives:
    tz = run.tenant.timezone
    context = {
        "run": run,
        "local_start": run.period_start.astimezone(ZoneInfo(tz)),
        "local_end": run.period_end.astimezone(ZoneInfo(tz)),
        "tz": tz,
        "link": f"{settings.PUBLIC_URL.rstrip('/')}/reports/#run-{run.pk}",
        "attached": attachments(run),
        "megabytes": f"{(run.archive_bytes or 0) / 1e6:.1f}",
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
    if context["attached"] == "files":
        for name, data in run_files(run).items():
            email.attach(name, data, "text/csv")
    elif context["attached"] == "zip":
        with run.archive.open("rb") as archive:
            email.attach(f"report-{run.pk}.zip", archive.read(), "application/zip")
    return email


def _send_run(run: ReportRun, commit: Commit) -> dict[str, Any]:
    email_send(_email(run), commit)
    return {}


def run_send(pk: int) -> str:
    """Email the run if it is due and nobody else is sending it; its status after."""
    from .tasks import report_send

    return send_once(ReportRun, pk, _send_run, report_send)


def runs_sweep(now: datetime | None = None) -> dict[str, int]:
    """Runs whose nudge was lost or whose sender died: resent before the hand-over, recorded
    unconfirmed after it (never a second email)."""
    from .tasks import report_send

    result = sweep(ReportRun, report_send, now)
    return {**result, "parts_removed": parts_sweep()}
