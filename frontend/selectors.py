"""What the pages show, composed from each app's selectors (the top floor may read them all)."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from alerts.selectors import alarms_opened_count
from devices.selectors import fleet_status
from iotplatform.tenancy.models import Tenant
from telemetry.selectors import readings_summary

WINDOW = timedelta(minutes=5)


def dashboard_summary(*, tenant: Tenant) -> dict[str, Any]:
    """The dashboard's figures: devices by status and their average health (devices), the
    latest temperatures and the last five minutes' readings beyond their limits (telemetry),
    alarms opened in those minutes (alerts), and how fresh the newest data is."""
    now = timezone.now()
    fleet = fleet_status(tenant=tenant)
    readings = readings_summary(tenant=tenant, now=now, window=WINDOW)
    newest = fleet["last_seen"]
    return {
        "at": now,
        "devices": fleet["devices"],
        "avg_temperature": readings["avg_temperature"],
        "alerts_5m": alarms_opened_count(tenant=tenant, since=now - WINDOW),
        "readings_5m": readings["readings"],
        "anomaly_rate_5m": readings["anomaly_rate"],
        "avg_health": fleet["avg_health"],
        "fail_24h": fleet["fail_24h"],
        "fail_7d": fleet["fail_7d"],
        "freshness_seconds": max(0.0, (now - newest).total_seconds()) if newest else None,
    }
