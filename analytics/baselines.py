"""The residual detector in the apply cycle: each metric of a device against the device's own
fit on its other metrics and the time of day over its previous day (``ml.residuals``), kept per
device as a ``DeviceBaseline`` row. It sees what the type-wide multivariate model cannot: one
device's sensor drifting or jumping while its load moves everything else, measured in that
device's own noise.

- Every minute each device's newest minute is scored against its kept fit: the largest |z|
  over the type's ``residual_threshold`` is its residual score (1.0 at the threshold, like the
  multivariate score's limit), the metric furthest out its driver.
- Every ``REFIT_MINUTES`` a device's fit is renewed, staggered by device (a thirtieth of the
  fleet a minute), from its previous ``REFIT_HISTORY_MINUTES``: the fit's own day and the day
  before it, which the robust first pass needs to judge the fit's minutes as
  ``residual_scores`` does over a whole history. Stuck runs are left out of the fit. The new
  fits are stored in the cycle's transaction, so a re-run of a minute writes nothing twice.

A fit takes the active anomaly model's signals and standardisation (the type's normal
operation) when it is made and keeps them, so a new model version takes over at each device's
next refit. A device silent for longer than the residual gap since its fit's last minute (a
repair) is not scored until its next refit.
"""

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant
from telemetry.windows import Held, minute_means

from . import rules
from .ml import detectors, residuals
from .models import DeviceBaseline
from .results import TOP_DRIVERS, DeviceResult

REFIT_MINUTES = residuals.RESIDUAL_BLOCK
REFIT_HISTORY_MINUTES = 2 * residuals.RESIDUAL_WINDOW
GAP = pd.Timedelta(residuals.RESIDUAL_GAP)
CHUNK_DEVICES = 2000  # devices refitted per read


def refit_due(device_id: int, minute: datetime) -> bool:
    """Whether a device's fit is renewed after this minute: every REFIT_MINUTES, staggered."""
    slot = int(minute.timestamp() // 60) % REFIT_MINUTES
    return device_id % REFIT_MINUTES == slot


def residuals_latest(
    *,
    latest: pd.DataFrame,
    minute: datetime,
    refitted: Mapping[int, DeviceBaseline] | None = None,
) -> dict[int, list[detectors.Flag]]:
    """Each device's newest minute (``latest``: a row per device id, a column per metric)
    against its kept fit (or the one just ``refitted``, not stored yet): a ``residual`` flag
    per metric with a z, furthest first (``score`` the signed z); devices without a fit that
    saw the last ``GAP`` are left out."""
    refitted = refitted or {}
    ids = [int(i) for i in latest.index]
    kept = DeviceBaseline.objects.filter(
        device_id__in=[i for i in ids if i not in refitted], fitted_at__gte=minute - GAP
    ).only("device_id", "fitted_at", "signals", "fit")
    fresh = [b for b in refitted.values() if b.device_id in latest.index]
    by_signals: dict[tuple[str, ...], list[DeviceBaseline]] = {}
    for baseline in [*kept, *fresh]:
        if baseline.fitted_at >= minute - GAP:
            by_signals.setdefault(tuple(baseline.signals), []).append(baseline)
    out: dict[int, list[detectors.Flag]] = {}
    for signals, group in by_signals.items():
        if not set(signals) <= set(latest.columns):
            continue
        values = latest.loc[[b.device_id for b in group], list(signals)].to_numpy(dtype=float)
        z = residuals.residual_latest(
            values,
            pd.DatetimeIndex([minute] * len(group)),
            [residuals.ResidualFit.from_json(b.fit) for b in group],
            centre=np.array([b.fit["centre"] for b in group]),
            scale=np.array([b.fit["scale"] for b in group]),
        )
        for row, baseline in enumerate(group):
            scored = np.flatnonzero(np.isfinite(z[row]))
            order = scored[np.argsort(-np.abs(z[row, scored]))]
            if len(order):
                out[baseline.device_id] = [
                    detectors.Flag(
                        minute, signals[j], "residual", float(values[row, j]), float(z[row, j])
                    )
                    for j in order
                ]
    return out


def refit_start(minute: datetime) -> datetime:
    """The first minute a fit renewed after ``minute`` reads."""
    return minute - timedelta(minutes=REFIT_HISTORY_MINUTES)


def baselines_refit(
    *,
    tenant: Tenant,
    device_ids: Sequence[int],
    signals: Sequence[str],
    centre: np.ndarray,
    scale: np.ndarray,
    ignore: Mapping[str, Sequence[float]],
    minute: datetime,
    held: Held | None = None,
) -> list[DeviceBaseline]:
    """New fits of the devices from their REFIT_HISTORY_MINUTES before ``minute`` (unsaved:
    the cycle stores them with its minute); ``ignore``: per metric, values a healthy sensor
    repeats, which are no stuck run. ``fitted_at`` is the last minute a fit saw."""
    if not device_ids or not signals:
        return []
    frame = minute_means(
        tenant_id=tenant.id,
        device_ids=device_ids,
        metrics=list(signals),
        start=refit_start(minute),
        end=minute,
        held=held,
    )
    if frame.empty:
        return []
    devices = frame.index.get_level_values("device").to_numpy()
    times = frame.index.get_level_values("minute")
    values = frame.to_numpy(dtype=float)
    bounds = np.flatnonzero(np.r_[True, devices[1:] != devices[:-1], True])
    out = []
    for lo, hi in itertools.pairwise(bounds):
        own = values[lo:hi]
        stuck = np.zeros(hi - lo, dtype=bool)
        for j, metric in enumerate(signals):
            stuck |= detectors.stuck_runs(own[:, j], 2, ignore.get(metric, ())) > 0
        fit = residuals.residual_fit(own, times[lo:hi], centre=centre, scale=scale, exclude=stuck)
        if fit is None:
            continue
        out.append(
            DeviceBaseline(
                device_id=int(devices[lo]),
                tenant=tenant,
                fitted_at=times[hi - 1].to_pydatetime(),
                rows=fit.rows,
                signals=list(signals),
                fit={
                    "centre": list(map(float, centre)),
                    "scale": list(map(float, scale)),
                    **fit.as_json(),
                },
            )
        )
    return out


def baselines_save(baselines: Sequence[DeviceBaseline]) -> None:
    """Store new fits over the old ones (inside the cycle's transaction)."""
    DeviceBaseline.objects.bulk_create(
        baselines,
        update_conflicts=True,
        unique_fields=["device"],
        update_fields=["fitted_at", "rows", "signals", "fit"],
    )


def _chunks(items: Sequence[int], size: int = CHUNK_DEVICES) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def residuals_apply(
    *,
    latest: pd.DataFrame,
    device_type: DeviceType,
    anomaly: Any,
    minute: datetime,
    chunk: dict[int, DeviceResult],
    refitted: Mapping[int, DeviceBaseline],
) -> None:
    """Each device's metrics against its own kept fit: a ``residual`` flag per metric past the
    type's threshold; the residual score (furthest |z| over the threshold) is the device's
    anomaly score when above the multivariate one, its metrics the drivers."""
    threshold = device_type.residual_threshold
    for device_id, flags in residuals_latest(
        latest=latest, minute=minute, refitted=refitted
    ).items():
        result = chunk[int(device_id)]
        result.flags = [
            *result.flags,
            *rules.flag_dicts([f for f in flags if abs(f.score) > threshold]),
        ]
        score = abs(flags[0].score) / threshold
        if score > (result.anomaly or 0.0):
            total = sum(abs(f.score) for f in flags)
            result.anomaly = score
            result.drivers = [
                {
                    "metric": f.metric,
                    "share": round(float(abs(f.score) / total), 3),
                    "value": f.value,
                }
                for f in flags[:TOP_DRIVERS]
            ]
            result.anomaly_version = anomaly.version.id
            result.detector = "residual"


def baselines_refit_due(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    anomaly: Any,
    minute: datetime,
    device_ids: Iterable[int],
    held: Held | None = None,
) -> dict[int, DeviceBaseline]:
    """The renewed fits of the devices due this minute (``refit_due``), unsaved; ``held``:
    minutes some of them already read."""
    model = anomaly.artefact
    due = [i for i in device_ids if refit_due(i, minute)]
    out = {}
    for ids in _chunks(due):
        for baseline in baselines_refit(
            tenant=tenant,
            device_ids=ids,
            signals=model.signals,
            centre=model.mean,
            scale=model.scale,
            ignore=rules.stuck_ignored(device_type, anomaly) or {},
            minute=minute,
            held=held,
        ):
            out[baseline.device_id] = baseline
    return out


def device_residual_flags(*, device: Device, minute: datetime) -> list[dict[str, Any]]:
    """The residual flags of one device's ``minute`` against its kept fit, as the cycle
    computed them (the fit renewed in a minute is the one that minute was scored by)."""
    baseline = DeviceBaseline.objects.filter(device=device).first()
    if baseline is None:
        return []
    latest = minute_means(
        tenant_id=device.tenant_id,
        device_ids=[device.id],
        metrics=baseline.signals,
        start=minute,
        end=minute + timedelta(minutes=1),
    ).droplevel("minute")
    flags = residuals_latest(latest=latest, minute=minute).get(device.id, [])
    threshold = device.type.residual_threshold
    return rules.flag_dicts([f for f in flags if abs(f.score) > threshold])
