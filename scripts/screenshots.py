"""Screenshots of every page of a running demo (`make run`) into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8000] [--user acme-operator]

Signs in with the demo password, waits for each page's charts and live socket, runs the anomaly
explorer on a device page, and saves full-page PNGs (dark theme, plus the overview in light).
"""

import argparse
import os
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def live(page: Page) -> None:
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="acme-operator")
    parser.add_argument("--password", default="demo-pass-2024")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{args.url}/accounts/login/")
        page.fill("#id_username", args.user)
        page.screenshot(path=str(OUT / "login.png"))
        page.fill("#id_password", args.password)
        page.click("main button[type=submit]")
        page.wait_for_url(lambda u: "/accounts/login/" not in u)

        live(page)
        expect(page.locator(".chart .main-svg").first).to_be_visible(timeout=15_000)
        page.wait_for_timeout(6_000)  # a live point on every chart
        page.screenshot(path=str(OUT / "home.png"), full_page=True)
        page.click("#theme-toggle")
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(OUT / "home-light.png"), full_page=True)
        page.click("#theme-toggle")

        page.goto(f"{args.url}/devices/")
        live(page)
        page.wait_for_timeout(2_000)
        page.screenshot(path=str(OUT / "devices.png"), full_page=True)

        first = page.locator("#devices tbody tr a", has_text="Pump").first.get_attribute("href")
        page.goto(f"{args.url}{first}")
        live(page)
        expect(page.locator("#stats-body tr[data-metric]").first).to_be_visible(timeout=15_000)
        explorer = page.locator("#explorer")
        explorer.locator("select[name=metric]").select_option("temperature")
        explorer.locator("select[name=method]").select_option("zscore")
        explorer.locator("input[name=threshold]").fill("2.5")
        page.click("#explorer button[type=submit]")
        expect(page.locator("#explorer-info")).to_contain_text("flagged", timeout=15_000)
        page.wait_for_timeout(3_000)
        page.screenshot(path=str(OUT / "device.png"), full_page=True)

        page.goto(f"{args.url}/simulator/")
        live(page)
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(OUT / "simulator.png"), full_page=True)

        page.goto(f"{args.url}/export/")
        page.screenshot(path=str(OUT / "export.png"), full_page=True)

        tablet = browser.new_context(
            viewport={"width": 820, "height": 1180},
            is_mobile=True,
            storage_state=page.context.storage_state(),  # signed in
        ).new_page()
        tablet.goto(f"{args.url}/")
        live(tablet)
        expect(tablet.locator(".chart .main-svg").first).to_be_visible(timeout=15_000)
        tablet.wait_for_timeout(2_000)
        tablet.screenshot(path=str(OUT / "home-tablet.png"))
        browser.close()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
