"""What the trainers read: a device type's minute means over a window (once per training run,
``Frames``), the devices worth reading when the fleet is too big to read whole (``sample``),
the signals a model can rest on, and the runs to failure and normal operation in them."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant
from telemetry.windows import minute_means

from .models import Failure

# Before a failure the machine is no longer "normal": those minutes stay out of the anomaly
# model's training.
PRE_FAILURE = timedelta(hours=24)
# The most device-minutes one trainer reads (about 2 M rows of a few metrics: a few hundred MB
# at its peak): a month of 46 devices, a week of 198.
MAX_TRAIN_DEVICE_MINUTES = 2_000_000
SAMPLE_SEED = 0  # the tie-break among devices with as much history


class NotEnoughData(Exception):
    """The window holds too little to train this kind (the message says what is missing)."""


def type_devices(tenant: Tenant, device_type: DeviceType) -> list[int]:
    return list(
        Device.objects.filter(tenant=tenant, type=device_type)
        .order_by("id")
        .values_list("id", flat=True)
    )


def sample(
    tenant: Tenant,
    device_type: DeviceType,
    devices: list[int],
    start: datetime,
    end: datetime,
) -> list[int]:
    """The devices a trainer reads: all of them, or, when their minutes over [start, end) would
    pass MAX_TRAIN_DEVICE_MINUTES, those with the most history in it (hour-metric cells of the
    hourly rollups; ties in a seeded random order). A type's behaviour is learnt as well from
    fifty of its devices as from ten thousand, and ten thousand months do not fit in memory."""
    days = (end - start).total_seconds() / 86_400
    limit = max(1, int(MAX_TRAIN_DEVICE_MINUTES // (days * 1440)))
    if len(devices) <= limit:
        return devices
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT device_id, count(*) FROM telemetry_rollup_1h "
            "WHERE tenant_id = %s AND metric = ANY(%s::text[]) AND bucket >= %s AND bucket < %s "
            "AND device_id = ANY(%s::int8[]) GROUP BY device_id",
            [tenant.id, sorted(device_type.metrics), start, end, devices],
        )
        history = dict(cursor.fetchall())
    rng = np.random.default_rng(SAMPLE_SEED)
    order = rng.permutation(len(devices))  # the tie-break
    ranked = sorted(range(len(devices)), key=lambda i: (-history.get(devices[i], 0), order[i]))
    return sorted(devices[i] for i in ranked[:limit])


def usable_signals(frame: pd.DataFrame) -> list[str]:
    """Metrics present in most minutes (a sensor seldom reported cannot carry a model)."""
    coverage = frame.notna().mean()
    return [m for m in frame.columns if coverage[m] >= 0.5 and frame[m].std() > 0]


_Read = tuple[tuple[int, int], frozenset[int], datetime, datetime, pd.DataFrame]


class Frames:
    """The minute means one training run reads, once: the trainers of a run ask for the same
    type's month (anomaly), its devices with failures over the month (RUL) and its last week
    (clusters); the first read serves the others by slicing. Without one, every call reads."""

    def __init__(self) -> None:
        # (tenant id, type id), the devices, start, end, and the frame read
        self._read: _Read | None = None

    def minutes(
        self,
        tenant: Tenant,
        device_type: DeviceType,
        devices: list[int],
        start: datetime,
        end: datetime,
    ) -> pd.DataFrame:
        key = (tenant.id, device_type.id)
        if self._read is not None:
            read_key, read_devices, read_start, read_end, frame = self._read
            same = read_key == key and read_end == end and read_start <= start
            if same and set(devices) <= read_devices:
                part = frame
                if len(devices) < len(read_devices):
                    part = part[part.index.get_level_values("device").isin(devices)]
                if start > read_start:
                    part = part[part.index.get_level_values("minute") >= start]
                return part
        frame = minute_means(
            tenant_id=tenant.id,
            device_ids=devices,
            metrics=sorted(device_type.metrics),
            start=start,
            end=end,
        )
        self._read = (key, frozenset(devices), start, end, frame)
        return frame


def window(
    tenant: Tenant,
    device_type: DeviceType,
    devices: list[int],
    start: datetime,
    end: datetime,
    frames: Frames | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The type's minute means over [start, end) and the signals a model can rest on."""
    frame = (frames or Frames()).minutes(tenant, device_type, devices, start, end)
    signals = usable_signals(frame) if len(frame) else []
    if not signals:
        raise NotEnoughData("no metric reported in most minutes of the window")
    return frame, signals


def failures_of(tenant: Tenant, devices: list[int]) -> pd.DataFrame:
    rows = list(
        Failure.objects.filter(tenant=tenant, device_id__in=devices)
        .order_by("device_id", "failed_at")
        .values_list("device_id", "failed_at", "repaired_at")
    )
    return pd.DataFrame(rows, columns=["device", "failed_at", "repaired_at"])


def outside_failures(frame: pd.DataFrame, failures: pd.DataFrame) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    devices = frame.index.get_level_values("device").to_numpy()
    minutes = frame.index.get_level_values("minute")
    for device, failed, repaired in failures.itertuples(index=False):
        end = repaired if repaired is not None and not pd.isna(repaired) else failed
        keep &= ~((devices == device) & (minutes >= failed - PRE_FAILURE) & (minutes <= end))
    return keep
