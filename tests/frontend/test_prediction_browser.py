"""What the prediction engine knows, on the open pages of a real headless Chromium on the real
ASGI server: the devices table takes each scoring minute's health and RUL live and marks the
lowest RULs in red; a status pill says why the device is in its status; the dashboard orders
what needs attention by remaining useful life and counts the devices predicted to fail. Another
tenant's scores never reach the page."""

import re
import threading
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from devices.models import DeviceStatus
from iotplatform import live
from iotplatform.tenancy.models import Role, Tenant

from .. import factories
from .test_browser import SHOTS, browser, page, server, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "page", "server"]
LOW = re.compile(r"\blow-rul\b")
REASON = "vibration 4.1 mm/s, 3.2 standard deviations above its baseline"


def _publish_elsewhere(tenant_id: int, event: live.Event, data: Any) -> None:
    """Published as the scoring cycle publishes, off Playwright's thread."""
    worker = threading.Thread(
        target=lambda: live.publish(tenant_id=tenant_id, event=event, data=data)
    )
    worker.start()
    worker.join()


def _score(health: float, rul: float) -> dict[str, Any]:
    return {"health": health, "rul_hours": rul, "rul_low": rul * 0.8, "rul_high": rul * 1.2,
            "anomaly": 0.1, "flagged": False, "flags": []}  # fmt: skip


def test_the_devices_table_follows_health_and_rul_live(
    page: Page, server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    factories.make_user(tenant, Role.VIEWER, "scores-viewer")
    kind = factories.make_device_type(tenant)
    devices = [
        factories.make_device(tenant, kind, name=f"Pump {i}", status=DeviceStatus.HEALTHY,
                              health=90.0, rul_hours=500.0 + i)
        for i in range(10)
    ]  # fmt: skip
    theirs = factories.make_device(other_tenant, name="Theirs", rul_hours=1.0)
    sign_in(page, server, "scores-viewer")
    page.goto(f"{server}/devices/")
    first = page.locator(f'tr[data-device="{devices[3].id}"]')
    expect(page.locator("tr.low-rul")).to_have_count(1)  # the lowest tenth: Pump 0
    expect(page.locator("#live-state")).to_have_text("Live")  # its socket hears the minute
    _publish_elsewhere(
        tenant.id,
        live.Event.DEVICE_SCORES,
        {"minute": "2026-12-04T12:00:00+00:00",
         "devices": {str(devices[3].id): _score(41.4, 12.6)}},
    )  # fmt: skip
    expect(first.locator("[data-health]")).to_have_text("41")
    expect(first.locator("[data-rul]")).to_have_text("13")
    expect(page.locator("tr.low-rul")).to_have_count(1)
    expect(first).to_have_class(LOW)  # the shortest life now
    _publish_elsewhere(
        other_tenant.id,
        live.Event.DEVICE_SCORES,
        {"minute": "2026-12-04T12:00:00+00:00", "devices": {str(theirs.id): _score(1, 1)}},
    )
    _publish_elsewhere(
        tenant.id,
        live.Event.DEVICE_STATUS,
        live.device_status_data(
            device_id=devices[3].id, name=devices[3].name, previous=DeviceStatus.HEALTHY,
            status=DeviceStatus.ANOMALY, at="2026-12-04T12:00:30+00:00", reason=REASON,
        ),
    )  # fmt: skip
    pill = first.locator("[data-status-pill]")
    expect(pill).to_have_text("Anomaly")
    expect(pill).to_have_attribute("title", REASON)
    expect(first).to_have_class(LOW)  # still; another tenant's score changed nothing
    assert page.locator(f'tr[data-device="{theirs.id}"]').count() == 0


def test_an_operator_retrains_a_type_and_follows_its_progress(
    page: Page, server: str, tenant: Tenant
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from analytics.models import ModelVersion
    from tests.analytics import plant

    from .. import servers

    factories.make_user(tenant, Role.OPERATOR, "models-op")
    devices = plant.pumps(tenant, 3)
    now = timezone.now().replace(second=0, microsecond=0)
    plant.store(plant.normal(devices, start=now - timedelta(days=2), minutes=2 * 1440 - 5))
    with servers.celery_worker():
        sign_in(page, server, "models-op")
        page.goto(f"{server}/models/")
        pump = page.locator('section[data-type="pump"]')
        expect(pump).to_contain_text("Not trained yet")
        # Every training event the page receives, in order (the page draws each on the bar).
        page.evaluate(
            "window.__steps = []; IoTLive.on(IoTLive.events.TRAINING, "
            "d => window.__steps.push([d.progress, d.status, d.step]))"
        )
        pump.locator("[data-retrain]").click()
        expect(pump.locator("[data-training]")).to_be_visible()
        steps: list[list[Any]] = []
        shown = ""
        for _ in range(600):  # until the page reloads itself at the end of the run
            try:
                seen, text = page.evaluate(
                    "[window.__steps, document.querySelector("
                    "'section[data-type=\"pump\"] [data-step]').textContent]"
                )
            except PlaywrightError:
                break
            if seen is None:  # reloaded: what it saw before is kept
                break
            steps, shown = seen, text
            page.wait_for_timeout(100)
        expect(pump.locator('tr[data-state="active"]').first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(SHOTS / "models.png"), full_page=True)
    assert any(0 < p < 1 and status == "running" and step.startswith("training")
               for p, status, step in steps), steps  # fmt: skip
    assert steps[-1] == [1.0, "done", "done"] and "new versions below" in shown, (steps, shown)
    assert ModelVersion.objects.filter(tenant=tenant, state="active").exists()


def test_the_device_page_shows_the_prediction_and_follows_it_live(
    page: Page, server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from analytics.models import AnomalyEvent
    from tests.telemetry.known_readings import write

    factories.make_user(tenant, Role.VIEWER, "prediction-viewer")
    kind = factories.make_device_type(tenant)
    pump = factories.make_device(
        tenant, kind, name="Pump P", status=DeviceStatus.HEALTHY, health=72.4, rul_hours=131.2,
        cluster=2,
    )  # fmt: skip
    theirs = factories.make_device(other_tenant, name="Theirs")
    now = timezone.now().replace(second=0, microsecond=0)
    rows = []
    for hours_ago in range(24, -1, -1):  # a day of scores: health falling, life shrinking
        at = now - timedelta(hours=hours_ago)
        for metric, value in (("_health", 96 - hours_ago), ("_rul_hours", 131.2 + hours_ago),
                              ("_rul_low", 96.0 + hours_ago), ("_rul_high", 188.4 + hours_ago),
                              ("_anomaly", 0.42)):  # fmt: skip
            rows.append((at, tenant.id, pump.id, metric, float(value)))
    for minute in range(180, 0, -1):  # the last three hours' temperature, climbing to its limit
        rows.append((now - timedelta(minutes=minute), tenant.id, pump.id, "temperature",
                     60.0 + 14.0 * (180 - minute) / 180))  # fmt: skip
    write(rows)
    kind.metrics = {"temperature": {"unit": "°C", "warn_high": 75.0, "alarm_high": 90.0}}
    kind.save()
    AnomalyEvent.objects.create(
        tenant=tenant, device=pump, detector="residual", started_at=now - timedelta(minutes=40),
        last_at=now - timedelta(minutes=30), ended_at=now - timedelta(minutes=30), minutes=10,
        peak_score=2.4, drivers=[{"metric": "temperature", "share": 0.8, "value": 71.0}],
    )  # fmt: skip
    sign_in(page, server, "prediction-viewer")
    page.goto(f"{server}/devices/{pump.id}/")
    chart = page.locator("#chart-temperature")
    expect(chart).to_have_attribute("data-forecast", re.compile(r"^[1-9]\d*$"), timeout=20_000)
    expect(chart).to_have_attribute("data-crossing", re.compile(r"^\d"))  # passes 75 °C soon
    marks = page.evaluate(
        "document.getElementById('chart-temperature').layout.annotations.map(a => a.text)"
    )
    assert "◆" in marks  # the anomaly spell, on the chart of the metric that drove it
    card = page.locator("#prediction")
    expect(card.locator('[data-p="health"]')).to_have_text("72 / 100")
    expect(card.locator('[data-p="rul"]')).to_have_text("131 h (80 %: 96 to 188 h)")
    expect(card.locator('[data-p="anomaly_score"]')).to_have_text("0.42")
    expect(card.locator('[data-p="cluster"]')).to_have_text("2")
    expect(card.locator("#trend")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    assert page.locator("#chart-_health").count() == 0  # the scores are not metrics' charts
    expect(page.locator("#live-state")).to_have_text("Live")
    crossing = {"metric": "temperature", "limit": 75.0, "direction": "above", "hours": 1.6,
                "earliest_hours": 0.9}  # fmt: skip
    _publish_elsewhere(
        other_tenant.id,
        live.Event.DEVICE_SCORES,
        {"minute": now.isoformat(), "devices": {str(theirs.id): _score(5.0, 2.0)}},
    )
    _publish_elsewhere(
        tenant.id,
        live.Event.DEVICE_SCORES,
        {"minute": now.isoformat(),
         "devices": {str(pump.id): {**_score(64.6, 101.0), "crossing": crossing}}},
    )  # fmt: skip
    expect(card.locator('[data-p="health"]')).to_have_text("65 / 100")
    expect(card.locator('[data-p="rul"]')).to_have_text("101 h (80 %: 81 to 121 h)")
    expect(card.locator('[data-p="crossing"]')).to_have_text(
        "temperature passes 75 °C (above) in about 1.6 h, as early as 54 min"
    )
    page.screenshot(path=str(SHOTS / "device-prediction.png"), full_page=True)
