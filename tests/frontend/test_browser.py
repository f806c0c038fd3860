"""Login, the signed-in home page with its live feed, and logout in a real headless Chromium."""

import os
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
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_login_live_update_and_logout(
    page: Page, server: str, tenant: Tenant, device: Device, other_device: Device
) -> None:
    factories.make_user(tenant, Role.OPERATOR, "browser-op")
    factories.make_device(tenant, name="Motor 7", serial="M-007", location="Hall 2")
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/accounts/login/?next=/")
    page.screenshot(path=str(SHOTS / "login.png"))

    page.fill("#id_username", "browser-op")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")

    sign_in(page, server, "browser-op")
    expect(page.locator("h1")).to_have_text("Acme Plant")
    expect(page.locator("#username")).to_have_text("browser-op")
    expect(page.get_by_role("link", name="Pump 1")).to_be_visible()
    expect(page.get_by_text("Globex Press")).to_have_count(0)
    expect(page.locator("#live-state")).to_have_text("live", timeout=10_000)

    # An operator action through the API shows up on the open page without a reload.
    response = requests.post(
        f"{server}/api/v1/devices/{device.pk}/maintenance",
        json={"on": True},
        auth=("browser-op", factories.PASSWORD),
        timeout=10,
    )
    assert response.status_code == 200
    row = page.locator(f'tr[data-device="{device.pk}"] [data-status]')
    expect(row).to_have_text("Maintenance", timeout=5_000)
    expect(page.locator("#feed")).to_contain_text("Pump 1: offline → maintenance")
    expect(page.locator('[data-status-count="maintenance"]')).to_have_text("1")
    expect(page.locator('[data-status-count="offline"]')).to_have_text("1")
    page.screenshot(path=str(SHOTS / "home.png"))

    page.get_by_role("link", name="Pump 1").click()
    expect(page.locator("h1")).to_contain_text("Pump 1")
    page.screenshot(path=str(SHOTS / "device.png"))

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server}/accounts/login/")
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/accounts/login/?next=/")


def test_foreign_device_page_is_not_found(
    page: Page, server: str, tenant: Tenant, other_device: Device
) -> None:
    factories.make_user(tenant, Role.VIEWER, "browser-viewer")
    sign_in(page, server, "browser-viewer")
    expect(page.locator("h1")).to_have_text("Acme Plant")
    response: Any = page.goto(f"{server}/devices/{other_device.pk}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.get_by_text("Globex Press")).to_have_count(0)


def test_device_page_charts_history_and_a_live_reading(
    page: Page, server: str, tenant: Tenant
) -> None:
    from datetime import UTC, datetime, timedelta

    from devices.services import device_create, device_types_install_catalog

    from ..telemetry import dataset

    factories.make_user(tenant, Role.VIEWER, "chart-viewer")
    pump_type = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
    pump, token = device_create(
        tenant=tenant, device_type=pump_type, name="Chart pump", serial="CP-1"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    dataset.write(
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
    page.wait_for_function(
        "document.getElementById('chart-temperature').data[3].y.includes(77.5)", timeout=5_000
    )
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

    from ..telemetry import dataset

    factories.make_user(tenant, Role.VIEWER, "export-viewer")
    t0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    dataset.write(
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
