"""The query API: bucketed series from raw readings and rollups, fleet aggregates, latest values
and the streaming CSV export."""

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Device
from iotplatform.tenancy.models import Tenant
from telemetry import queries

from . import known_readings
from .known_readings import T0


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def parse_times(series: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out = dict(series)
    out["t"] = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in series["t"]]
    return out


def assert_series_equal(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> None:
    assert got["t"] == want["t"]
    assert got["count"] == want["count"]
    for key in ("min", "avg", "max"):
        assert got[key] == pytest.approx(want[key], rel=1e-12)


@pytest.fixture
def readings(tenant: Tenant, device: Device, other_device: Device) -> list[known_readings.Row]:
    second = Device.objects.create(tenant=tenant, type=device.type, name="Pump 2", serial="P-2")
    ours = known_readings.rows(tenant.id, device.id) + known_readings.rows(
        tenant.id, second.id, ("temperature",)
    )
    known_readings.write(ours + known_readings.rows(other_device.tenant_id, other_device.id))
    return ours


@pytest.mark.django_db
class TestDeviceSeries:
    @pytest.mark.parametrize(
        ("bucket", "table"),
        [
            ("30s", "telemetry_reading"),
            ("5m", "telemetry_rollup_1m"),
            ("1h", "telemetry_rollup_1h"),
            ("1d", "telemetry_rollup_1h"),
        ],
    )
    def test_every_source_gives_the_exact_aggregates(
        self,
        api_as: Any,
        viewer: Any,
        device: Device,
        readings: list[known_readings.Row],
        bucket: str,
        table: str,
    ) -> None:
        response = api_as(viewer).get(
            f"/api/v1/devices/{device.pk}/series",
            {
                "metrics": "temperature,vibration",
                "start": iso(T0),
                "end": iso(T0 + timedelta(hours=3)),
                "bucket": bucket,
            },
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["bucket"], body["table"]) == (bucket, table)
        width = queries.BUCKETS[bucket]
        for metric in ("temperature", "vibration"):
            assert_series_equal(
                parse_times(body["series"][metric]),
                known_readings.expected(readings, width, metric, device.id),
            )

    def test_points_choose_the_bucket_and_start_widens_to_whole_buckets(
        self, api_as: Any, viewer: Any, device: Device, readings: list[known_readings.Row]
    ) -> None:
        body = (
            api_as(viewer)
            .get(
                f"/api/v1/devices/{device.pk}/series",
                {
                    "start": iso(T0 + timedelta(seconds=90)),
                    "end": iso(T0 + timedelta(hours=3)),
                    "points": 200,
                },
            )
            .json()
        )
        assert body["bucket"] == "1m"  # 178.5 minutes over at most 200 buckets
        assert body["start"] == iso(T0 + timedelta(seconds=60))
        # default: what the type declares (temperature) and what was reported (vibration)
        assert set(body["series"]) == {"temperature", "vibration"}
        temperature = body["series"]["temperature"]
        assert len(temperature["t"]) == 179 and temperature["count"][0] == 6

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"start": "yesterday"}, "start"),
            ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}, "start"),
            ({"bucket": "3m"}, "bucket"),
            ({"points": "0"}, "points"),
            (
                {"bucket": "1s", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
                "bucket",
            ),
            ({"metrics": ",".join(f"m{i}" for i in range(30))}, "metrics"),
            ({"end": "0001-01-01T00:00"}, "end"),  # a day before it: no such date (was a 500)
            ({"start": "9999-12-31T23:59"}, "start"),
        ],
    )
    def test_bad_parameters_are_400_naming_them(
        self, api_as: Any, viewer: Any, device: Device, params: dict[str, str], field: str
    ) -> None:
        response = api_as(viewer).get(f"/api/v1/devices/{device.pk}/series", params)
        assert response.status_code == 400
        assert field in response.json()

    def test_foreign_device_is_404(self, api_as: Any, viewer: Any, other_device: Device) -> None:
        response = api_as(viewer).get(f"/api/v1/devices/{other_device.pk}/series")
        assert response.status_code == 404


@pytest.mark.django_db
def test_fleet_aggregates_per_hour_and_type(
    api_as: Any, viewer: Any, device: Device, readings: list[known_readings.Row]
) -> None:
    client = api_as(viewer)
    params = {"metric": "temperature", "start": iso(T0), "end": iso(T0 + timedelta(hours=3))}
    body = client.get("/api/v1/telemetry/fleet", params).json()
    got = parse_times(body["series"]["temperature"])
    assert_series_equal(got, known_readings.expected(readings, timedelta(hours=1), "temperature"))
    assert got["devices"] == [2, 2, 2]  # the other tenant's device is not counted
    daily = client.get("/api/v1/telemetry/fleet", {**params, "bucket": "1d"}).json()
    assert daily["series"]["temperature"]["count"] == [2 * known_readings.SAMPLES]
    five = client.get("/api/v1/telemetry/fleet", {**params, "bucket": "5m"}).json()
    assert five["table"] == "telemetry_rollup_1m"
    got = parse_times(five["series"]["temperature"])
    assert_series_equal(got, known_readings.expected(readings, timedelta(minutes=5), "temperature"))
    assert client.get("/api/v1/telemetry/fleet", {**params, "bucket": "30s"}).status_code == 400
    none = client.get("/api/v1/telemetry/fleet", {**params, "type": "pump"}).json()
    assert none["series"]["temperature"]["devices"] == [2, 2, 2]
    assert client.get("/api/v1/telemetry/fleet", {**params, "type": "rocket"}).status_code == 400


@pytest.mark.django_db
def test_latest_values_of_the_whole_tenant_in_one_query(
    api_as: Any,
    viewer: Any,
    device: Device,
    other_device: Device,
    readings: list[known_readings.Row],
) -> None:
    client = api_as(viewer)
    client.get("/api/v1/me")
    with CaptureQueriesContext(connection) as queries_run:
        body = client.get("/api/v1/telemetry/latest").json()
    latest = [q for q in queries_run if "telemetry_latest" in q["sql"]]
    assert len(latest) == 1
    assert str(other_device.id) not in body["devices"]
    last = known_readings.T0 + (known_readings.SAMPLES - 1) * known_readings.STEP
    assert body["devices"][str(device.id)]["vibration"] == {
        "time": iso(last),
        "value": known_readings.value("vibration", known_readings.SAMPLES - 1, device.id),
    }


@pytest.mark.django_db(transaction=True)
class TestExport:
    def _csv(self, response: Any) -> list[list[str]]:
        assert response.status_code == 200, getattr(response, "content", b"")[:500]
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]

        # The export is an asynchronous stream (what the ASGI server sends chunk by chunk).
        async def collect() -> bytes:
            return b"".join([chunk async for chunk in response.streaming_content])

        text = async_to_sync(collect)().decode()
        return list(csv.reader(io.StringIO(text)))

    def test_wide_layout(
        self, api_as: Any, viewer: Any, device: Device, readings: list[known_readings.Row]
    ) -> None:
        rows = self._csv(
            api_as(viewer).get(
                "/api/v1/telemetry/export.csv",
                {
                    "devices": str(device.id),
                    "start": iso(T0),
                    "end": iso(T0 + timedelta(seconds=30)),
                },
            )
        )
        header = ["time", "device_id", "device", "temperature", "vibration"]
        assert rows[0] == header
        v = known_readings.value
        assert rows[1:] == [
            [
                iso(T0 + i * known_readings.STEP),
                str(device.id),
                "P-001",
                *[repr(v(m, i, device.id)) for m in header[3:]],
            ]
            for i in range(3)
        ]

    @pytest.mark.parametrize("serial", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"])
    def test_a_serial_a_spreadsheet_would_run_is_written_as_text(
        self,
        api_as: Any,
        viewer: Any,
        device: Device,
        readings: list[known_readings.Row],
        serial: str,
    ) -> None:
        Device.objects.filter(pk=device.pk).update(serial=serial)
        rows = self._csv(
            api_as(viewer).get(
                "/api/v1/telemetry/export.csv",
                {"devices": str(device.id), "start": iso(T0), "end": iso(T0 + known_readings.STEP)},
            )
        )
        assert rows[1][2] == f"'{serial}"
        assert float(rows[1][3]) == known_readings.value(
            "temperature", 0, device.id
        )  # numbers as they are

    def test_long_layout_with_metric_filter_over_two_devices(
        self, api_as: Any, viewer: Any, device: Device, readings: list[known_readings.Row]
    ) -> None:
        second = Device.objects.get(serial="P-2")
        rows = self._csv(
            api_as(viewer).get(
                "/api/v1/telemetry/export.csv",
                {
                    "devices": f"{device.id},{second.id}",
                    "metrics": "temperature",
                    "layout": "long",
                    "start": iso(T0),
                    "end": iso(T0 + timedelta(seconds=20)),
                },
            )
        )
        assert rows == [
            ["time", "device_id", "device", "metric", "value"],
            [
                iso(T0),
                str(device.id),
                "P-001",
                "temperature",
                repr(known_readings.value("temperature", 0, device.id)),
            ],
            [
                iso(T0),
                str(second.id),
                "P-2",
                "temperature",
                repr(known_readings.value("temperature", 0, second.id)),
            ],
            [
                iso(T0 + known_readings.STEP),
                str(device.id),
                "P-001",
                "temperature",
                repr(known_readings.value("temperature", 1, device.id)),
            ],
            [
                iso(T0 + known_readings.STEP),
                str(second.id),
                "P-2",
                "temperature",
                repr(known_readings.value("temperature", 1, second.id)),
            ],
        ]

    def test_whole_range_streams_every_reading(
        self, api_as: Any, viewer: Any, device: Device, readings: list[known_readings.Row]
    ) -> None:
        rows = self._csv(
            api_as(viewer).get(
                "/api/v1/telemetry/export.csv",
                {
                    "devices": str(device.id),
                    "layout": "long",
                    "start": iso(T0),
                    "end": iso(T0 + timedelta(hours=4)),
                },
            )
        )
        assert len(rows) - 1 == 2 * known_readings.SAMPLES

    def test_foreign_device_is_404_and_bad_input_400(
        self, api_as: Any, viewer: Any, device: Device, other_device: Device
    ) -> None:
        client = api_as(viewer)
        foreign = client.get(
            "/api/v1/telemetry/export.csv", {"devices": f"{device.id},{other_device.id}"}
        )
        assert foreign.status_code == 404
        bad = client.get("/api/v1/telemetry/export.csv", {"devices": "x"})
        assert bad.status_code == 400 and "devices" in bad.json()
        bad = client.get("/api/v1/telemetry/export.csv", {"devices": "1", "layout": "tall"})
        assert bad.status_code == 400 and "layout" in bad.json()

    def test_page_download_url(
        self,
        page_as: Any,
        viewer: Any,
        device: Device,
        other_device: Device,
        readings: list[known_readings.Row],
    ) -> None:
        client = page_as(viewer)
        rows = self._csv(
            client.get(
                "/export/readings.csv",
                {
                    "devices": str(device.id),
                    "metrics": "vibration",
                    "start": iso(T0),
                    "end": iso(T0 + timedelta(seconds=10)),
                },
            )
        )
        assert rows == [
            ["time", "device_id", "device", "vibration"],
            [
                iso(T0),
                str(device.id),
                "P-001",
                repr(known_readings.value("vibration", 0, device.id)),
            ],
        ]
        assert (
            client.get("/export/readings.csv", {"devices": str(other_device.id)}).status_code == 404
        )
        assert client.get("/export/readings.csv", {"devices": ""}).status_code == 400
