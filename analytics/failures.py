"""Run-to-failure labels: a history's ``failures.csv`` (the simulator's layout:
``device,failure_mode,failed_at_ms,repaired_at_ms``, the device by serial, times in milliseconds,
an empty repair time for a device still down) into ``Failure`` rows. Re-importing the same file
stores nothing twice (unique on device and failure time); a bad file stores nothing."""

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction

from devices.models import Device
from iotplatform.tenancy.models import Tenant

from .models import Failure

COLUMNS = ("device", "failure_mode", "failed_at_ms", "repaired_at_ms")


class FailureFileError(ValueError):
    """The file cannot be read as failures (names the file and what is wrong)."""


@dataclass
class FailureImport:
    rows: int = 0
    stored: int = 0
    skipped: int = 0
    unknown_devices: set[str] = field(default_factory=set)


def _time(path: Path, line: int, name: str, text: str) -> datetime:
    try:
        ms = int(text)
    except ValueError:
        raise FailureFileError(
            f"{path.name}, line {line}: {name} {text!r} is not a number"
        ) from None
    if not 946684800000 <= ms <= 32503680000000:  # 2000 to 3000
        raise FailureFileError(f"{path.name}, line {line}: {name} {ms} is out of range")
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@transaction.atomic
def failures_import(*, tenant: Tenant, path: Path) -> FailureImport:
    """Store the failures of ``path`` for the tenant's devices (matched by serial)."""
    if not path.is_file():
        raise FailureFileError(f"{path}: missing")
    serials = dict(Device.objects.filter(tenant=tenant).values_list("serial", "id"))
    result = FailureImport()
    failures = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise FailureFileError(f"{path.name}: missing columns {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            result.rows += 1
            device_id = serials.get(row["device"])
            if device_id is None:
                result.unknown_devices.add(row["device"])
                result.skipped += 1
                continue
            failed = _time(path, line, "failed_at_ms", row["failed_at_ms"])
            repaired = None
            if row["repaired_at_ms"]:
                repaired = _time(path, line, "repaired_at_ms", row["repaired_at_ms"])
                if repaired < failed:
                    raise FailureFileError(f"{path.name}, line {line}: repaired before it failed")
            failures.append(
                Failure(
                    tenant=tenant,
                    device_id=device_id,
                    failed_at=failed,
                    repaired_at=repaired,
                    mode=row["failure_mode"][:64],
                )
            )
    before = Failure.objects.filter(tenant=tenant).count()
    Failure.objects.bulk_create(failures, ignore_conflicts=True)
    result.stored = Failure.objects.filter(tenant=tenant).count() - before
    return result
