"""Alerts' answers to what the floors below announce."""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.services import device_types_install_catalog
from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.signals import tenant_created

from .models import ReportRun, ReportSchedule
from .notify import recipients_install_defaults
from .rules import rules_install_defaults


@receiver(tenant_created)
def install_default_rules(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    """A new tenant starts with the default alert rules of the catalogue's device types (the
    devices app installs those types on the same signal; installing is idempotent, so the
    order the receivers run in does not matter)."""
    device_types_install_catalog(tenant=tenant)
    rules_install_defaults(tenant=tenant)


@receiver(tenant_created)
def install_default_recipients(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    """A new tenant's alarms reach its operators and admins from warning up."""
    recipients_install_defaults(tenant=tenant)


@receiver(post_save, sender=ReportSchedule)
def report_schedule_saved(sender: Any, instance: ReportSchedule, **kwargs: Any) -> None:
    """Beat's entry follows the schedule, whichever way it was saved (API, admin, shell)."""
    from .report_runs import schedule_sync

    schedule_sync(instance)


@receiver(post_delete, sender=ReportSchedule)
def report_schedule_deleted(sender: Any, instance: ReportSchedule, **kwargs: Any) -> None:
    from .report_runs import schedule_unsync

    schedule_unsync(instance.pk)


@receiver(post_save, sender=Tenant)
def tenant_saved(sender: Any, instance: Tenant, created: bool, **kwargs: Any) -> None:
    """A tenant's report schedules run in its time zone: a change of zone moves their beat
    entries with it."""
    if created:
        return
    from .report_runs import schedule_sync

    for schedule in ReportSchedule.objects.filter(tenant=instance).select_related("tenant"):
        schedule_sync(schedule)


@receiver(post_delete, sender=ReportRun)
def report_run_deleted(sender: Any, instance: ReportRun, **kwargs: Any) -> None:
    """A report deleted (with its tenant, or by an admin) takes its zip with it."""
    if instance.archive:
        instance.archive.delete(save=False)
