"""Login, the signed-in home page with its live feed, and logout in a real headless Chromium."""

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devices.models import Device
from iotplatform.tenancy.models import Role, Tenant

from .. import factories, servers

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = servers.ARTIFACTS / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous ones, so lift Django's guard for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def server() -> Iterator[str]:
    with servers.asgi_server() as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; whatever it did, nothing on it was refused by the Content-Security-Policy
    (Chromium reports each refused script, style or connection on the console)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not refused, refused


def sign_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def api_post(server: str, username: str, path: str, body: dict[str, Any]) -> requests.Response:
    """The REST API as another signed-in user would call it, beside the open page."""
    return requests.post(
        f"{server}{path}", json=body, auth=(username, factories.PASSWORD), timeout=10
    )


def ingest(server: str, token: str, values: dict[str, float]) -> None:
    response = requests.post(
        f"{server}/api/v1/ingest",
        json=values,
        headers={"Authorization": f"Device {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_login_dashboard_live_toasts_theme_and_logout(
    page: Page, server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    import time

    from devices.services import device_create, device_types_install_catalog

    factories.make_user(tenant, Role.OPERATOR, "browser-op")
    pump_type = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
    pump, token = device_create(tenant=tenant, device_type=pump_type, name="Pump 1", serial="P-1")
    device_create(tenant=tenant, device_type=pump_type, name="Pump 2", serial="P-2")
    factories.make_device(other_tenant, name="Globex Press")
    ingest(server, token, {"temperature": 71.5, "vibration": 9.0, "pressure": 5.0})
    time.sleep(1.5)  # last_seen is flushed once a second: Pump 1 turns healthy

    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/accounts/login/?next=/")
    page.fill("#id_username", "browser-op")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")

    sign_in(page, server, "browser-op")
    expect(page.locator("h1")).to_contain_text("Acme Plant")
    expect(page.locator("#username")).to_have_text("browser-op")
    expect(page.get_by_text("Globex Press")).to_have_count(0)
    expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)
    # Cards with the real figures: 1 of 2 active, its temperature, 1 of 3 readings beyond the
    # pump's warning limits (vibration 9 > 7.1), fresh data.
    expect(page.locator('[data-card="active"]')).to_have_text("1")
    expect(page.locator('[data-card="total"]')).to_have_text("2")
    expect(page.locator('[data-card="offline"]')).to_have_text("1")
    expect(page.locator('[data-card="avg_temperature"]')).to_have_text("71.5")
    expect(page.locator('[data-card="anomaly_rate_5m"]')).to_have_text("33.3%")
    expect(page.locator('[data-card="alerts_5m"]')).to_have_text("0")
    expect(page.locator('[data-card="freshness"]')).to_have_text(re.compile(r"^\d+ s$"))
    # A live chart per key metric, drawn from the minute rollups.
    expect(page.locator("#fleet-temperature .main-svg").first).to_be_visible(timeout=10_000)
    assert page.evaluate("document.getElementById('fleet-temperature').data[0].y") == [71.5]
    expect(page.locator("#fleet-vibration")).to_have_count(1)

    # A reading arrives: the temperature card follows without a reload.
    ingest(server, token, {"temperature": 73.5})
    expect(page.locator('[data-card="avg_temperature"]')).to_have_text("73.5", timeout=5_000)

    # An operator action through the API: toast, feed, cards, all live.
    response = api_post(
        server, "browser-op", f"/api/v1/devices/{pump.pk}/maintenance", {"on": True}
    )
    assert response.status_code == 200
    expect(page.locator(".toast").first).to_have_text("Pump 1: Healthy → Maintenance")
    expect(page.locator("#feed li").first).to_contain_text("Pump 1: Healthy → Maintenance")
    expect(page.locator('[data-card="maintenance"]')).to_have_text("1")
    expect(page.locator('[data-card="active"]')).to_have_text("0")
    expect(page.locator('[data-card="avg_temperature"]')).to_have_text("—")  # none active
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)

    # The light theme sticks across pages.
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(page.locator("#fleet-temperature .main-svg").first).to_be_visible(timeout=10_000)
    page.screenshot(path=str(SHOTS / "home-light.png"), full_page=True)
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server}/accounts/login/")
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/accounts/login/?next=/")


def test_the_page_shows_when_live_updates_are_reconnecting(
    page: Page, server: str, tenant: Tenant
) -> None:
    factories.make_user(tenant, Role.VIEWER, "reconnect-viewer")
    sign_in(page, server, "reconnect-viewer")
    expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)
    # Lose the session server-side: the socket is refused and the page says it is retrying.
    page.context.clear_cookies()
    page.evaluate("IoTLive.socket().close()")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#live-state")).to_contain_text("Reconnecting")
    sign_in(page, server, "reconnect-viewer")
    expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)


def test_foreign_device_page_is_not_found(
    page: Page, server: str, tenant: Tenant, other_device: Device
) -> None:
    factories.make_user(tenant, Role.VIEWER, "browser-viewer")
    sign_in(page, server, "browser-viewer")
    expect(page.locator("h1")).to_contain_text("Acme Plant")
    # The browser's own WebSocket for the other tenant's device is refused at the handshake,
    # while one for the tenant's own socket opens.
    outcome = """path => new Promise(resolve => {
        const ws = new WebSocket("ws://" + location.host + path);
        ws.onopen = () => { ws.close(); resolve("open"); };
        ws.onclose = () => resolve("refused");
    })"""
    assert page.evaluate(outcome, f"/ws/live/device/{other_device.pk}/") == "refused"
    assert page.evaluate(outcome, "/ws/live/") == "open"
    response: Any = page.goto(f"{server}/devices/{other_device.pk}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.get_by_text("Globex Press")).to_have_count(0)


def test_device_page_charts_history_and_a_live_reading(
    page: Page, server: str, tenant: Tenant
) -> None:
    from datetime import UTC, datetime, timedelta

    from devices.services import device_create, device_types_install_catalog

    from ..telemetry.known_readings import write

    factories.make_user(tenant, Role.VIEWER, "chart-viewer")
    pump_type = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
    pump, token = device_create(
        tenant=tenant, device_type=pump_type, name="Chart pump", serial="CP-1"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    write(
        [
            (
                now - timedelta(minutes=50) + timedelta(seconds=10 * i),
                tenant.id,
                pump.id,
                "temperature",
                60.0 + (i % 30) / 3,
            )
            for i in range(240)
        ]
    )
    sign_in(page, server, "chart-viewer")
    page.goto(f"{server}/devices/{pump.id}/")
    expect(page.locator("#chart-temperature .main-svg").first).to_be_visible(timeout=10_000)
    expect(page.locator("#range-info")).to_contain_text("Buckets of")
    averages = page.evaluate("document.getElementById('chart-temperature').data[2].y.length")
    assert averages > 20  # the last hour of history, bucketed
    # thresholds of the pump type are drawn (warn 75, alarm 85)
    shapes = page.evaluate("document.getElementById('chart-temperature').layout.shapes.length")
    assert shapes == 2
    SHOTS.mkdir(parents=True, exist_ok=True)

    response = requests.post(
        f"{server}/api/v1/ingest",
        json={"temperature": 77.5},
        headers={"Authorization": f"Device {token}"},
        timeout=10,
    )
    assert response.status_code == 200
    # polled with evaluate: the page's CSP refuses wait_for_function's eval when it must retry
    for _ in range(50):
        if page.evaluate("document.getElementById('chart-temperature').data[3].y.includes(77.5)"):
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the live reading 77.5 never reached the chart")

    # A command sent from elsewhere shows up in the command history, and its status follows.
    factories.make_user(tenant, Role.OPERATOR, "chart-op")
    sent = api_post(server, "chart-op", f"/api/v1/devices/{pump.id}/commands", {"kind": "restart"})
    assert sent.status_code == 201, sent.text
    history = page.locator(f'#commands tr[data-command="{sent.json()["id"]}"]')
    expect(history).to_contain_text("Restart")
    expect(history.locator("[data-command-status]")).to_have_text("Pending")
    requests.get(f"{server}/api/v1/{token}/rpc?timeout=0", timeout=10)
    requests.post(f"{server}/api/v1/{token}/rpc/{sent.json()['id']}", json={"ok": 1}, timeout=10)
    expect(history.locator("[data-command-status]")).to_have_text("Acknowledged")

    # Statistics and the distribution of the range shown (the 240 readings and the live one).
    values = [60.0 + (i % 30) / 3 for i in range(240)] + [77.5]
    row = page.locator('#stats-body tr[data-metric="temperature"] td')
    expect(row.nth(1)).to_have_text("240", timeout=10_000)  # loaded before the live reading
    expect(row.nth(2)).to_have_text(f"{min(values):.2f}")
    expect(page.locator("#hist-chart-temperature .main-svg").first).to_be_visible()
    bars = page.evaluate("document.getElementById('hist-chart-temperature').data[0].y")
    assert sum(bars) == 240
    kde = page.evaluate("document.getElementById('hist-chart-temperature').data[1].y.length")
    assert kde == 200

    # Anomaly explorer: value bounds default to the pump's warning limit (75 °C) and flag the
    # live reading, marked on the chart; a z-score run; a bad quantile pair is refused.
    explorer = page.locator("#explorer")
    explorer.locator("select[name=metric]").select_option("temperature")
    expect(explorer.locator("input[name=high]")).to_have_value("75")
    page.click("#explorer button[type=submit]")
    expect(page.locator("#explorer-info")).to_contain_text("1 of 241 readings flagged")
    flagged = page.evaluate("document.getElementById('chart-temperature').data[4].y")
    assert flagged == [77.5]
    explorer.locator("select[name=method]").select_option("zscore")
    explorer.locator("input[name=threshold]").fill("2.5")
    page.click("#explorer button[type=submit]")
    expect(page.locator("#explorer-info")).to_contain_text("readings flagged")
    explorer.locator("select[name=method]").select_option("quantile")
    explorer.locator("input[name=q_low]").fill("0.9")
    explorer.locator("input[name=q_high]").fill("0.1")
    page.click("#explorer button[type=submit]")
    expect(page.locator("#explorer-info")).to_contain_text("q_low must be below q_high")
    explorer.locator("input[name=q_low]").fill("0.05")
    explorer.locator("input[name=q_high]").fill("0.95")
    page.click("#explorer button[type=submit]")
    expect(page.locator("#explorer-info")).to_contain_text("readings flagged")
    page.screenshot(path=str(SHOTS / "device.png"), full_page=True)
    href = page.locator("#download").get_attribute("href") or ""
    assert href.startswith("/export/readings.csv?") and f"devices={pump.id}" in href


def test_devices_table_filters_sorts_and_sends_commands(
    page: Page, server: str, tenant: Tenant
) -> None:
    from devices.models import Command
    from devices.services import device_create, device_types_install_catalog

    factories.make_user(tenant, Role.OPERATOR, "table-op")
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    pump, token = device_create(
        tenant=tenant, device_type=types["pump"], name="Alpha pump", serial="T-1"
    )
    device_create(tenant=tenant, device_type=types["motor"], name="Beta motor", serial="T-2")
    device_create(tenant=tenant, device_type=types["motor"], name="Gamma motor", serial="T-3")
    sign_in(page, server, "table-op")
    page.goto(f"{server}/devices/")
    expect(page.locator("#shown")).to_have_text("3 of 3 devices")
    page.select_option("select[name=type]", "motor")
    expect(page.locator("#shown")).to_have_text("2 of 3 devices")
    expect(page.locator(f'tr[data-device="{pump.id}"]')).to_be_hidden()
    page.select_option("select[name=type]", "")
    page.fill("input[name=search]", "gamma")
    expect(page.locator("#shown")).to_have_text("1 of 3 devices")
    page.fill("input[name=search]", "")
    page.click("th:has-text('Name')")
    page.click("th:has-text('Name')")  # descending
    first = page.locator("#devices tbody tr").first.locator("a")
    expect(first).to_have_text("Gamma motor")

    # Restart, confirmed: a command is created and its status follows live to acked.
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator(f'tr[data-device="{pump.id}"]')
    row.locator("button[data-action=restart]").click()
    expect(row.locator("[data-command]")).to_have_text("restart: pending")
    command = Command.objects.get(device=pump)
    assert command.kind == "restart"
    rpc = requests.get(f"{server}/api/v1/{token}/rpc?timeout=0", timeout=10).json()
    assert rpc["id"] == command.id
    requests.post(f"{server}/api/v1/{token}/rpc/{command.id}", json={"ok": True}, timeout=10)
    expect(row.locator("[data-command]")).to_have_text("restart: acked", timeout=5_000)

    # Thresholds: the form refuses low ≥ high before anything is sent.
    row.locator("button[data-action=thresholds]").click()
    dialog = page.locator("#thresholds-dialog")
    dialog.locator("input[name=warn_low]").fill("90")
    dialog.locator("input[name=warn_high]").fill("80")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator("[data-error]")).to_contain_text("must be below")
    assert Command.objects.filter(device=pump).count() == 1
    dialog.locator("input[name=warn_low]").fill("10")
    dialog.locator("input[name=interval_seconds]").fill("30")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(row.locator("[data-command]")).to_have_text("set_config: pending")
    sent = Command.objects.filter(device=pump, kind="set_config").get()
    assert sent.payload == {
        "thresholds": {"temperature": {"warn_low": 10, "warn_high": 80}},
        "interval_seconds": 30,
    }
    page.screenshot(path=str(SHOTS / "devices.png"), full_page=True)


def test_export_page_downloads_the_chosen_readings(
    page: Page, server: str, tenant: Tenant, device: Device
) -> None:
    from datetime import UTC, datetime

    from ..telemetry.known_readings import write

    factories.make_user(tenant, Role.VIEWER, "export-viewer")
    t0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    write(
        [
            (t0, tenant.id, device.id, "temperature", 20.5),
            (t0, tenant.id, device.id, "vibration", 1.25),
        ]
    )
    sign_in(page, server, "export-viewer")
    page.goto(f"{server}/export/")
    page.select_option("select[name=devices]", str(device.id))
    page.select_option("select[name=metrics]", ["temperature"])
    page.fill("input[name=start]", "2026-05-04T09:00")
    page.fill("input[name=end]", "2026-05-04T11:00")
    page.check("input[value=long]")
    page.screenshot(path=str(SHOTS / "export.png"))
    with page.expect_download() as info:
        page.click("form.export-form button[type=submit]")
    content = Path(info.value.path()).read_text()
    assert content.splitlines() == [
        "time,device_id,device,metric,value",
        f"2026-05-04T10:00:00Z,{device.id},P-001,temperature,20.5",
    ]


def test_viewer_sees_no_simulator_controls(page: Page, server: str, tenant: Tenant) -> None:
    factories.make_user(tenant, Role.VIEWER, "sim-viewer")
    sign_in(page, server, "sim-viewer")
    page.goto(f"{server}/simulator/")
    expect(page.locator("button[data-action=start]")).to_have_count(0)
    expect(page.get_by_text("Operators can start and stop the simulator.")).to_be_visible()


def test_simulator_page_controls_and_live_status(page: Page, server: str, tenant: Tenant) -> None:
    from devices.models import Command, SimulatedFleet

    factories.make_user(tenant, Role.OPERATOR, "sim-op")
    factories.make_user(tenant, Role.OPERATOR, "sim-op-2")
    pump = factories.make_device(tenant, name="Pump 9")
    sign_in(page, server, "sim-op")
    page.goto(f"{server}/simulator/")
    expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)
    page.fill("#sim-form input[name=devices]", "7")
    page.fill("#sim-form input[name=interval_seconds]", "5")
    page.fill("#sim-form input[name=time_scale]", "3600")
    page.select_option("#sim-form select[name=transport]", "mqtt")
    page.click("#sim-form button[data-action=start]")
    expect(page.locator("#sim-desired")).to_have_text("running")
    expect(page.locator("#sim-devices")).to_have_text("7")
    expect(page.locator("#sim-transport")).to_have_text("MQTT")
    fleet = SimulatedFleet.objects.get(tenant=tenant)
    assert (
        fleet.desired, fleet.devices, fleet.interval_seconds, fleet.time_scale, fleet.transport
    ) == ("running", 7, 5, 3600.0, "mqtt")  # fmt: skip
    # A fault for one device: a command it obeys; the metric and minutes only for an anomaly.
    faults = page.locator("#fault-form")
    expect(faults.locator("select[name=metric]")).to_be_hidden()  # bearing wear first
    faults.locator("select[name=fault]").select_option("drift")
    faults.locator("select[name=metric]").select_option("temperature")
    faults.locator("input[name=minutes]").fill("10")
    faults.locator("button[type=submit]").click()
    expect(page.locator("#fault-result")).to_contain_text("drift sent to Pump 9")
    command = Command.objects.get(device=pump)
    assert (command.kind, command.payload) == (
        "simulate",
        {"fault": "drift", "metric": "temperature", "minutes": 10},
    )
    page.fill("#sim-form input[name=devices]", "0")
    page.click("#sim-form button[data-action=restart]")
    expect(page.locator("#sim-error")).to_contain_text("devices")
    # Another operator stops it: the open page follows over its socket.
    response = api_post(server, "sim-op-2", "/api/v1/simulator", {"action": "stop"})
    assert response.status_code == 200, response.text
    expect(page.locator("#sim-desired")).to_have_text("stopped", timeout=5_000)
    page.screenshot(path=str(SHOTS / "simulator.png"), full_page=True)


def test_admin_api_docs_and_browsable_api_work_under_the_page_policy(
    page: Page, server: str, tenant: Tenant, device: Device
) -> None:
    """Pages that are not ours (Django's admin, Swagger UI, DRF's browsable API) run their
    scripts under the same policy; the page fixture fails on anything it refused."""
    factories.make_user(tenant, Role.ADMIN, "browser-admin")
    sign_in(page, server, "browser-admin")
    page.goto(f"{server}/admin/devices/device/")
    expect(page.locator("#result_list")).to_contain_text(device.name)
    page.check("#action-toggle")  # the admin's actions.js ticks every row
    expect(page.locator("input.action-select").first).to_be_checked()
    page.goto(f"{server}/admin/devices/device/{device.pk}/change/")
    expect(page.locator("#id_name")).to_have_value(device.name)
    page.goto(f"{server}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)  # Swagger UI ran
    page.goto(f"{server}/api/v1/devices")
    expect(page.locator(".response-info")).to_contain_text(device.serial)
