"""Loading readings from files: the simulator's histories and the platform's own CSV export.

Accepted files (the layout is recognised from the header):

- ``ts,device,metric,value``: ``ts`` in milliseconds since the epoch (simulator histories);
- ``time,device_id,device,metric,value``: the export's long layout (ISO-8601 times);
- ``time,device_id,device,<metric>,<metric>…``: the export's wide layout;
- ``readings.parquet`` with the first layout.

Rows are matched to the tenant's devices by serial (the ``device`` column). Writing goes through
the same writer as ingestion, so re-importing a file stores nothing twice and the rollups stay
exact.
"""

import csv
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection

from devices.metrics import is_metric_key
from devices.models import Device, DeviceType
from devices.services import device_create, device_types_install_catalog
from iotplatform.tenancy.models import Tenant

from .ingest.parse import VALUE_LIMIT
from .ingest.writer import Row, write_sync

BATCH_ROWS = 50_000


class ImportFileError(ValueError):
    """The file cannot be imported (bad header, unreadable)."""


@dataclass
class ImportResult:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    unknown_devices: set[str] = field(default_factory=set)
    skipped: int = 0
    created_devices: list[str] = field(default_factory=list)


def devices_create_from(tenant: Tenant, devices_csv: Path) -> list[str]:
    """Create the devices a simulator history lists that the tenant lacks (by serial)."""
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    existing = set(Device.objects.filter(tenant=tenant).values_list("serial", flat=True))
    created = []
    with devices_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["serial"] in existing:
                continue
            device_type = (
                types.get(row["type"])
                or DeviceType.objects.get_or_create(tenant=tenant, name=row["type"])[0]
            )
            device_create(
                tenant=tenant,
                device_type=device_type,
                name=row["name"],
                serial=row["serial"],
                location=row.get("location", ""),
            )
            created.append(row["serial"])
    return created


def _batches(path: Path) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Record batches of a readings file with the bytes read so far."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        total = path.stat().st_size
        for i, batch in enumerate(parquet.iter_batches(batch_size=BATCH_ROWS)):
            yield batch, int(total * (i + 1) / max(parquet.num_row_groups, 1))
        return
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={"device": pa.string(), "metric": pa.string(), "time": pa.string()},
            strings_can_be_null=True,
        ),
    )
    read = 0
    size = path.stat().st_size
    for batch in reader:
        read = min(size, read + batch.nbytes)
        yield batch, read


def _long_rows(batch: pa.RecordBatch) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    names = batch.schema.names
    if "ts" in names:
        times = pc.cast(batch.column("ts"), pa.timestamp("ms", tz="UTC"))
    else:
        times = pc.strptime(
            pc.replace_substring_regex(batch.column("time"), r"Z$", "+00:00"),
            format="%Y-%m-%dT%H:%M:%S%z",
            unit="us",
            error_is_null=True,
        )
        if times.null_count:  # fractional seconds: let Python parse those
            times = pa.array(
                [
                    datetime.fromisoformat(v) if v else None
                    for v in batch.column("time").to_pylist()
                ],
                type=pa.timestamp("us", tz="UTC"),
            )
    if "metric" in names:
        return (
            times.to_pylist(),
            batch.column("device").to_pylist(),
            batch.column("metric").to_pylist(),
            batch.column("value").to_pylist(),
        )
    metrics = [n for n in names if n not in ("time", "ts", "device_id", "device")]
    when, serials, keys, values = [], [], [], []
    time_list = times.to_pylist()
    serial_list = batch.column("device").to_pylist()
    for metric in metrics:
        for t, s, v in zip(time_list, serial_list, batch.column(metric).to_pylist(), strict=True):
            if v is not None:
                when.append(t)
                serials.append(s)
                keys.append(metric)
                values.append(v)
    return when, serials, keys, values


def _storable(metric: Any, value: Any) -> bool:
    """A reading the ingest API would accept too: a metric key, a finite number within
    ±VALUE_LIMIT."""
    if not isinstance(metric, str) or not is_metric_key(metric):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(number) and -VALUE_LIMIT <= number <= VALUE_LIMIT


def readings_import(
    *, tenant: Tenant, path: Path, progress: Callable[[int, int], None] | None = None
) -> ImportResult:
    """Import one readings file into the tenant; see the module docstring for the layouts."""
    with path.open("rb") as handle:
        header = handle.readline().decode(errors="replace") if path.suffix != ".parquet" else ""
    if path.suffix != ".parquet" and not (
        {"device"} <= set(h.strip().strip('"') for h in header.split(","))
        and ("ts" in header or "time" in header)
    ):
        raise ImportFileError(f"{path.name}: expected a header with ts or time, and device")
    serials = dict(Device.objects.filter(tenant=tenant).values_list("serial", "id"))
    result = ImportResult()
    size = path.stat().st_size
    connection.ensure_connection()
    pg = connection.connection
    for batch, read in _batches(path):
        when, devices, metrics, values = _long_rows(batch)
        rows: list[Row] = []
        for t, serial, metric, value in zip(when, devices, metrics, values, strict=True):
            device_id = serials.get(serial)
            if device_id is None:
                result.unknown_devices.add(str(serial))
                result.skipped += 1
            elif t is None or not _storable(metric, value):
                result.skipped += 1
            else:
                rows.append((t, tenant.id, device_id, metric, float(value)))
        result.rows += len(rows)
        with pg.transaction():
            stored = write_sync(pg, rows)
        kept = len(rows) if stored is None else len(stored)
        result.stored += kept
        result.duplicates += len(rows) - kept
        if progress:
            progress(read, size)
    return result
