"""The Analytics page in a real headless Chromium on the real ASGI server: it draws the 3-D
scatter of exactly the clusters and windows the API returns, counts the spells per day and per
hour, draws each metric's fleet trend, and its CSV link downloads the spells of the range shown.
Another tenant's devices never appear on it."""

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Page, expect

from analytics import training
from analytics.models import AnomalyEvent
from iotplatform.tenancy.models import Role, Tenant
from tests.analytics import plant
from tests.telemetry.known_readings import write

from .. import factories
from .test_browser import SHOTS, browser, page, server, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "page", "server"]


def _poll(page: Page, script: str, tries: int = 200) -> Any:
    """``script``'s value once truthy (the page's CSP forbids wait_for_function's eval)."""
    for _ in range(tries):
        value = page.evaluate(script)
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"never true: {script}")


def _spell(device: Any, start: Any, minutes: int) -> AnomalyEvent:
    return AnomalyEvent.objects.create(
        tenant=device.tenant, device=device, detector="residual", started_at=start,
        last_at=start + timedelta(minutes=minutes), ended_at=start + timedelta(minutes=minutes),
        minutes=minutes, peak_score=3.0, drivers=[{"metric": "temperature", "share": 0.7}],
    )  # fmt: skip


def test_the_analytics_page_draws_the_apis_clusters_counts_and_trends(
    page: Page, server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    factories.make_user(tenant, Role.VIEWER, "analytics-viewer")
    devices = plant.pumps(tenant, 4)
    theirs = plant.pumps(other_tenant, 1)[0]
    theirs.name = "Globex pump"
    theirs.save()
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(hours=12)
    rows = plant.normal(devices, start=start, minutes=12 * 60)
    # the fourth pump runs hotter and harder for its last four hours: a behaviour of its own
    hot = start + timedelta(hours=8)
    rows = [
        (t, ten, d, m, v + (9.0 if m in ("temperature", "pressure") else 0.0))
        if d == devices[3].id and t >= hot
        else (t, ten, d, m, v)
        for t, ten, d, m, v in rows
    ]
    write(rows)
    spells = [
        _spell(devices[3], hot, 45),
        _spell(devices[0], now - timedelta(hours=2), 20),
        _spell(devices[3], now - timedelta(hours=26), 30),  # yesterday, before the data
    ]
    _spell(theirs, now - timedelta(hours=3), 10)
    assert training.cluster_train(tenant=tenant, device_type=devices[0].type, end=now).activated

    sign_in(page, server, "analytics-viewer")
    page.goto(f"{server}/analytics/")
    labels = _poll(page, "document.getElementById('cluster-plot').dataset.clusters")
    params = {"type": "pump", "start": (now - timedelta(days=7)).isoformat()}
    api = requests.get(
        f"{server}/api/v1/analytics/clusters",
        params=params,
        auth=("analytics-viewer", factories.PASSWORD),
        timeout=10,
    ).json()
    assert sorted(labels.split(",")) == sorted({str(c) for c in api["points"]["cluster"]})
    traces = page.evaluate(
        "document.getElementById('cluster-plot').data.map(t => [t.type, t.meta, t.x.length])"
    )
    assert {t[0] for t in traces} == {"scatter3d"}
    per_cluster = {t[1]: t[2] for t in traces}
    assert sum(per_cluster.values()) == len(api["points"]["x"]) == 4 * 24
    for label, count in per_cluster.items():
        assert count == api["clusters"][label]["windows"]
    expect(page.locator("#clusters-info")).to_contain_text("96 windows in this range")
    # the spells begun in the last 7 days, per day, then per hour
    total = _poll(page, "document.getElementById('anomaly-counts').dataset.total")
    assert total == "3"
    expect(page.locator("#detectors-info")).to_contain_text("residual 3")
    days = page.evaluate("document.getElementById('anomaly-counts').data[0].x.length")
    assert days in (7, 8)  # the days of the tenant's clock the 7 days touch
    pie = page.evaluate("document.getElementById('pie-devices').data[0].labels")
    assert sorted(pie) == ["Pump 1", "Pump 4"] and "Globex pump" not in page.content()
    page.get_by_role("button", name="Per hour").click()
    _poll(page, "document.getElementById('anomaly-counts').data[0].x.length > 100")
    expect(page.locator("#counts-info")).to_contain_text("per hour")
    # a fleet trend per metric, each with points
    trends = page.locator("#trends [data-metric]")
    expect(trends).to_have_count(len(plant.METRICS))
    _poll(
        page,
        "[...document.querySelectorAll('#trends [data-metric]')].every(d => d.dataset.points > 0)",
    )
    page.screenshot(path=str(SHOTS / "analytics.png"), full_page=True)

    # the CSV link: the spells of the range shown, no more
    href = page.locator("#export-anomalies").get_attribute("href")
    assert href and "type=pump" in href
    response = page.request.get(f"{server}{href}")
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    rows_csv = list(csv.reader(io.StringIO(response.text())))
    assert sorted(int(r[0]) for r in rows_csv[1:]) == sorted(e.pk for e in spells)
    # the 24-hour range: yesterday's spell gone from the counts
    page.get_by_role("button", name="24 hours").click()
    _poll(page, "document.getElementById('anomaly-counts').dataset.total === '2'")
