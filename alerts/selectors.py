"""Reads of the alerts app: a tenant's rules and alarms."""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from iotplatform.tenancy.models import Tenant

from .models import ACTIVE, RANK, Alarm, AlarmAction, AlarmActivity, AlertRule


def rule_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[AlertRule]:
    """The tenant's rules by name; ``filters``: ``device_type`` (a name), ``device`` (an id),
    ``kind``, ``enabled``."""
    rows = AlertRule.objects.filter(tenant=tenant).select_related("device_type", "device")
    filters = filters or {}
    if filters.get("device_type"):
        rows = rows.filter(device_type__name=filters["device_type"])
    if filters.get("device"):
        rows = rows.filter(device_id=filters["device"])
    if filters.get("kind"):
        rows = rows.filter(kind=filters["kind"])
    if filters.get("enabled") is not None:
        rows = rows.filter(enabled=filters["enabled"])
    return rows.order_by("name")


def alarm_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[Alarm]:
    """The tenant's alarms, newest first; ``filters``: ``status`` (a list; ``active``: open or
    acknowledged), ``min_severity`` (this severity or a more urgent one), ``device``, ``rule``,
    ``since`` (opened at or after)."""
    rows = Alarm.objects.filter(tenant=tenant).select_related("device", "rule")
    filters = filters or {}
    statuses = set(filters.get("status") or [])
    if "active" in statuses:
        statuses = (statuses - {"active"}) | {str(s) for s in ACTIVE}
    if statuses:
        rows = rows.filter(status__in=sorted(statuses))
    if filters.get("min_severity"):
        top = RANK[filters["min_severity"]]
        rows = rows.filter(severity__in=[s for s, rank in RANK.items() if rank <= top])
    if filters.get("device"):
        rows = rows.filter(device_id=filters["device"])
    if filters.get("rule"):
        rows = rows.filter(rule_id=filters["rule"])
    if filters.get("since"):
        rows = rows.filter(opened_at__gte=filters["since"])
    return rows.order_by("-opened_at", "-id")


def alarms_opened_count(*, tenant: Tenant, since: datetime) -> int:
    """How many times the tenant's alarms opened (or reopened) since ``since``."""
    return AlarmActivity.objects.filter(
        tenant=tenant,
        action__in=[AlarmAction.OPENED, AlarmAction.REOPENED],
        at__gte=since,
    ).count()
