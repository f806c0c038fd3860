"""A read replica for the query API (``DATABASE_REPLICA_URL``), on two real databases: the test
database as the primary and a copy of it (restored from a backup) as the replica. The server's
series, statistics and CSV export read the replica; ingestion, sign-in and everything else use
the primary."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection

from iotplatform.database import conninfo
from iotplatform.tenancy.models import Role, Tenant
from telemetry.backup import backup_check, backup_create
from telemetry.models import Reading

from .. import factories, servers
from ..telemetry import known_readings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

T0 = known_readings.T0


def _iso(when: object) -> str:
    return when.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def test_the_query_api_reads_the_replica_and_everything_else_the_primary(
    tenant: Tenant, tmp_path: Path
) -> None:
    from devices.services import device_create

    viewer = factories.make_user(tenant, Role.VIEWER, "replica-viewer")
    viewer.set_password("replica-pass-2024")
    viewer.save()
    device, token = device_create(
        tenant=tenant, device_type=factories.make_device_type(tenant), name="P"
    )
    known_readings.write(known_readings.rows(tenant.id, device.id, ("temperature",), 600))
    backup_create(tmp_path / "copy.dump")
    backup_check(tmp_path / "copy.dump", keep=True)  # the copy: the replica, as of now
    replica = f"{connection.settings_dict['NAME']}_restore_check"
    # The primary moves on: a second hour the replica has not seen (lag, exaggerated).
    later = [(when + timedelta(hours=2), *rest) for when, *rest in known_readings.rows(
        tenant.id, device.id, ("temperature",), 360)]  # fmt: skip
    known_readings.write(later)  # type: ignore[arg-type]
    env = {"DATABASE_REPLICA_URL": servers.database_url(name=replica)}
    span = {"start": _iso(T0), "end": _iso(T0 + timedelta(hours=3))}
    try:
        with servers.asgi_server(None, **env) as url:
            api = requests.Session()
            api.auth = ("replica-viewer", "replica-pass-2024")
            series = api.get(f"{url}/api/v1/devices/{device.id}/series",
                             params={**span, "metrics": "temperature", "bucket": "1h"})  # fmt: skip
            assert series.status_code == 200, series.text
            counts = series.json()["series"]["temperature"]["count"]
            assert sum(counts) == 600  # the primary holds 960
            stats = api.get(f"{url}/api/v1/devices/{device.id}/statistics",
                            params={**span, "metrics": "temperature"}).json()  # fmt: skip
            assert stats["metrics"]["temperature"]["count"] == 600, stats
            export = api.get(f"{url}/api/v1/telemetry/export.csv",
                             params={**span, "devices": str(device.id)})  # fmt: skip
            assert len(list(csv.reader(io.StringIO(export.text)))) == 1 + 600
            # Ingestion writes to the primary only.
            posted = requests.post(f"{url}/api/v1/ingest", json={"temperature": 1.0},
                                   headers={"Authorization": f"Device {token}"})  # fmt: skip
            assert posted.json()["accepted"] == 1
    finally:
        with psycopg.connect(conninfo(database="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{replica}" WITH (FORCE)')
    assert Reading.objects.filter(device=device).count() == 600 + 360 + 1
