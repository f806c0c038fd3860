"""The Alerts page in a real headless Chromium on the real ASGI server: an operator
acknowledges, comments on and clears an alarm; an alarm raised meanwhile arrives live at the top
of the table with a toast; another tenant's alarm never shows. The rules page refuses a bad rule
with the API's reason and saves a good one."""

import threading
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from alerts import alarms, rules
from alerts.models import AlarmActivity, AlertRule
from devices.models import Device
from iotplatform.tenancy.models import Role, Tenant

from .. import factories
from .test_browser import SHOTS, browser, page, server, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "page", "server"]  # the fixtures, shared with the other browser tests


def _rule(tenant: Tenant, device: Device, name: str) -> AlertRule:
    return rules.rule_create(
        tenant=tenant,
        name=name,
        device=device,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        severity="critical",
    )


def _raise_elsewhere(rule: AlertRule, device: Device, value: float) -> Any:
    """Raised as the platform raises it, off this thread (Playwright's event loop runs here,
    and the live publish needs a thread of its own)."""
    out: list[Any] = []

    def run() -> None:
        from django.db import connection

        out.append(alarms.alarm_raise(rule=rule, device=device, value=value, at=timezone.now()))
        connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return out[0].alarm


def test_an_operator_works_an_alarm_and_a_new_one_arrives_live(page: Page, server: str) -> None:
    tenant = factories.make_tenant("acme", "Acme Plant")
    operator = factories.make_user(tenant, Role.OPERATOR, "oscar")
    pump = factories.make_device(tenant, name="Pump 1")
    motor = factories.make_device(tenant, name="Motor 2")
    first = alarms.alarm_raise(
        rule=_rule(tenant, pump, "Pump hot"), device=pump, value=91.0, at=timezone.now()
    ).alarm
    other = factories.make_tenant("globex", "Globex Foundry")
    press = factories.make_device(other, name="Globex Press")
    sign_in(page, server, operator.username)
    page.goto(f"{server}/alerts/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    row = page.locator(f'tr[data-alarm="{first.pk}"]')
    expect(row.locator('[data-field="status"]')).to_have_text("Open")

    row.locator('button[data-step="acknowledge"]').click()
    expect(row.locator('[data-field="status"]')).to_have_text("Acknowledged")
    expect(row.locator('button[data-step="acknowledge"]')).to_be_hidden()

    # Raised by the platform while the page is open: it arrives at the top, with a toast.
    _raise_elsewhere(_rule(other, press, "Press hot"), press, 99.0)
    second = _raise_elsewhere(_rule(tenant, motor, "Motor hot"), motor, 97.5)
    top = page.locator("#alarms tbody tr").first
    expect(top).to_have_attribute("data-alarm", str(second.pk))
    expect(top).to_contain_text("Motor hot")
    expect(top).to_contain_text("97.5")
    expect(page.locator(".toast").filter(has_text="CRITICAL: Motor hot on Motor 2")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "alerts.png"), full_page=True)

    row.locator("a[data-open]").click()
    dialog = page.locator("#alarm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-activity]")).to_contain_text("acknowledged · oscar")
    dialog.locator("textarea").fill("valve replaced")
    dialog.locator('button[type="submit"]', has_text="Add comment").click()
    expect(dialog.locator("[data-activity]")).to_contain_text("commented · oscar — valve replaced")
    dialog.locator('#comment-form button[data-step="clear"]').click()
    expect(dialog.locator("[data-facts]")).to_contain_text("Cleared")
    dialog.locator("form[method=dialog] button").click()
    expect(row.locator('[data-field="status"]')).to_have_text("Cleared")
    assert list(AlarmActivity.objects.filter(alarm=first).values_list("action", flat=True)) == [
        "opened",
        "acknowledged",
        "commented",
        "cleared",
    ]
    expect(page.locator("#alarms")).not_to_contain_text("Press hot")


def test_an_admin_adds_a_rule_after_the_api_names_what_is_wrong(page: Page, server: str) -> None:
    tenant = factories.make_tenant("acme", "Acme Plant")
    admin = factories.make_user(tenant, Role.ADMIN, "alice")
    factories.make_device(tenant, name="Pump 1")
    sign_in(page, server, admin.username)
    page.goto(f"{server}/alerts/rules/")
    page.click("#new-rule")
    form = page.locator("#rule-form")
    form.locator('[name="name"]').fill("Pump too hot")
    form.locator('[name="metric"]').fill("colour")
    form.locator('[name="threshold"]').fill("80")
    form.locator('button[type="submit"]').click()
    expect(form.locator("[data-error]")).to_contain_text("'colour' is not a metric")
    form.locator('[name="metric"]').fill("temperature")
    form.locator('[name="clear_threshold"]').fill("76")
    form.locator('button[type="submit"]').click()
    row = page.locator("#rules tr", has_text="Pump too hot")
    expect(row).to_contain_text("temperature above 80.0 (clears at 76.0)")
    rule = AlertRule.objects.get(name="Pump too hot")
    row.locator("input[data-toggle]").uncheck()
    expect(row).to_have_class("rule-off")
    rule.refresh_from_db()
    assert (rule.threshold, rule.clear_threshold, rule.enabled) == (80.0, 76.0, False)
    page.screenshot(path=str(SHOTS / "alert-rules.png"), full_page=True)


def test_a_viewer_sets_how_they_are_told(page: Page, server: str) -> None:
    from alerts.models import NotificationProfile
    from alerts.notify import recipients_install_defaults

    tenant = factories.make_tenant("acme", "Acme Plant")
    recipients_install_defaults(tenant=tenant)
    viewer = factories.make_user(tenant, Role.VIEWER, "vera")
    sign_in(page, server, viewer.username)
    page.goto(f"{server}/alerts/notifications/")
    form = page.locator("#profile-form")
    form.locator('[name="sms"]').check()
    form.locator('button[type="submit"]').click()
    expect(form.locator("[data-error]")).to_contain_text("phone: Text messages need a phone")
    form.locator('[name="phone"]').fill("+4915112345678")
    form.locator('[name="quiet_start"]').fill("22:00")
    form.locator('[name="quiet_end"]').fill("06:30")
    form.locator('button[type="submit"]').click()
    expect(page.locator(".toast").filter(has_text="Notification settings saved")).to_be_visible()
    profile = NotificationProfile.objects.get(user=viewer)
    assert (profile.sms, profile.phone, f"{profile.quiet_end:%H:%M}") == (
        True,
        "+4915112345678",
        "06:30",
    )
    expect(page.locator("#recipients")).to_have_count(0)  # admins choose the recipients


def test_a_devices_charts_mark_its_alarms(page: Page, server: str) -> None:
    tenant = factories.make_tenant("acme", "Acme Plant")
    viewer = factories.make_user(tenant, Role.VIEWER, "vera")
    pump = factories.make_device(tenant, name="Pump 1")
    _raise_elsewhere(_rule(tenant, pump, "Pump hot"), pump, 91.0)
    sign_in(page, server, viewer.username)
    page.goto(f"{server}/devices/{pump.pk}/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    chart = page.locator("#chart-temperature")
    expect(chart.locator(".annotation-text", has_text="⚑")).to_have_count(1)
    # Raised while the page is open: its mark appears without a reload.
    motor_rule = rules.rule_create(
        tenant=tenant, name="Pump offline", device=pump, kind="offline", severity="major"
    )
    _raise_elsewhere(motor_rule, pump, 0.0)
    # (The chart has no readings, so its range is the loaded one: the new mark, a second
    # later, is laid out but drawn only once the range moves on; the layout is checked.)
    marks = (
        "() => document.getElementById('chart-temperature').layout.annotations"
        ".filter(a => a.text === '⚑').length"
    )
    for _ in range(100):
        if page.evaluate(marks) == 2:
            break
        page.wait_for_timeout(50)
    assert page.evaluate(marks) == 2


def test_an_admin_previews_saves_and_sends_a_report(page: Page, server: str, tmp_path: Any) -> None:
    from alerts.models import ReportRun, ReportSchedule

    from .. import servers

    tenant = factories.make_tenant("acme", "Acme Plant")
    admin = factories.make_user(tenant, Role.ADMIN, "alice")
    factories.make_device(tenant, name="Pump 1")
    box = tmp_path / "mail"
    with (
        servers.mail_sink(box) as port,
        servers.celery_worker(
            TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_URL=f"smtp://127.0.0.1:{port}",
        ),
    ):
        sign_in(page, server, admin.username)
        page.goto(f"{server}/reports/")
        page.click("#new-schedule")
        form = page.locator("#schedule-form")
        form.locator('[name="name"]').fill("Pumps daily")
        form.locator('[name="emails"]').fill("plant@acme.example, nope")
        form.locator("[data-preview-button]").click()
        expect(form.locator("[data-error]")).to_contain_text("Not an email address: 'nope'")
        form.locator('[name="emails"]').fill("plant@acme.example")
        expect(form.locator('[name="bucket"]')).to_be_hidden()
        form.locator('input[name="sections"][value="readings"]').check()
        form.locator('[name="bucket"]').select_option("15m")  # shown once readings is ticked
        form.locator("[data-preview-button]").click()
        expect(form.locator("[data-preview]")).to_contain_text("summary.csv: 0 rows")
        expect(form.locator("[data-preview]")).to_contain_text("readings.csv: 0 rows")
        expect(form.locator("[data-preview] th").first).to_have_text("device_id")
        form.locator('button[type="submit"]').click()
        row = page.locator("#schedules tr", has_text="Pumps daily")
        expect(row).to_contain_text("Daily at 07:00")
        row.locator("[data-send]").click()
        expect(page.locator(".toast").filter(has_text="on its way to 1")).to_be_visible()
        run = page.locator("#runs tr[data-run]").first
        for _ in range(100):  # the page reloads itself; the worker sends meanwhile
            if run.count() and run.get_attribute("data-status") == "sent":
                break
            page.wait_for_timeout(200)
            page.reload()
        expect(run.locator('[data-field="status"]')).to_have_text("Sent")
        page.screenshot(path=str(SHOTS / "reports.png"), full_page=True)
    saved = ReportSchedule.objects.get()
    assert (saved.emails, saved.sections, saved.bucket) == (
        ["plant@acme.example"],
        ["summary", "readings"],
        "15m",
    )
    assert ReportRun.objects.get().manual
    assert len(list(box.glob("*.eml"))) == 1
