"""`manage.py backup` and `backup_check` on the real TimescaleDB: the counts written with a
dump are those of its snapshot, the dump restores by TimescaleDB's procedure with every count
equal, and a damaged dump or manifest fails with the file named, exit status 1."""

import json
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from iotplatform.database import conninfo
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading, RollupMinute

from .. import factories
from . import known_readings

pytestmark = pytest.mark.django_db(transaction=True)


def _databases() -> set[str]:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _run(command: str, *args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def backed_up(tenant: Tenant, tmp_path: Path) -> Path:
    device = factories.make_device(tenant)
    known_readings.write(known_readings.rows(tenant.id, device.id, samples=600))
    dump = tmp_path / "platform.dump"
    assert "1,200 readings" in _run("backup", str(dump))
    return dump


def test_a_backup_restores_with_every_count_equal(backed_up: Path, tenant: Tenant) -> None:
    counts = json.loads(backed_up.with_name("platform.dump.json").read_text())["counts"]
    assert counts["telemetry_reading"] == 1200
    assert counts["telemetry_rollup_1m"] == RollupMinute.objects.count() > 0
    assert counts["tenancy_tenant"] == Tenant.objects.count()
    # written after the backup: not in it, and no reason for the check to fail
    device = factories.make_device(tenant)
    known_readings.write(known_readings.rows(tenant.id, device.id, samples=10))
    assert Reading.objects.count() == 1220
    out = _run("backup_check", str(backed_up))
    assert f"{len(counts)} tables, {sum(counts.values()):,} rows, every count equal" in out
    assert f"{connection.settings_dict['NAME']}_restore_check" not in _databases()


def test_a_restore_holding_fewer_rows_than_the_backup_says_fails_naming_the_table(
    backed_up: Path,
) -> None:
    manifest = backed_up.with_name("platform.dump.json")
    content = json.loads(manifest.read_text())
    content["counts"]["telemetry_reading"] += 1
    manifest.write_text(json.dumps(content))
    with pytest.raises(
        CommandError, match="telemetry_reading: 1,201 in the backup, 1,200 restored"
    ):
        _run("backup_check", str(backed_up))


def test_a_damaged_dump_or_a_missing_manifest_fails_naming_the_file(backed_up: Path) -> None:
    whole = backed_up.read_bytes()
    backed_up.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CommandError, match=rf"{backed_up}: does not restore: "):
        _run("backup_check", str(backed_up))
    backed_up.with_name("platform.dump.json").unlink()
    with pytest.raises(CommandError, match=r"platform.dump.json: missing"):
        _run("backup_check", str(backed_up))
    with pytest.raises(CommandError, match=r"nowhere.dump: no such file"):
        _run("backup_check", str(backed_up.with_name("nowhere.dump")))
