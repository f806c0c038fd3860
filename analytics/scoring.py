"""The apply cycle: every minute, each reporting device's latest minute scored by its type's
active models — anomaly score with the metrics that drove it, health 0-100, remaining useful
life with its interval — and the results stored, set on the devices, and pushed live.

One tenant-minute is one transaction: the derived series (readings under reserved keys), the
devices' health and RUL, anomaly spells, status changes (through the one status writer) and the
``ScoringCycle`` row that says the minute is done. A re-run of the same minute finds that row and
writes nothing; two concurrent runs meet on its unique index and the second writes nothing.
Devices are read in chunks so memory stays bounded however large the fleet.
"""

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction

from devices import status
from devices.models import Device, DeviceStatus, DeviceType
from devices.services import devices_forecast_set, devices_scores_set
from iotplatform import live
from iotplatform.tenancy.models import Tenant
from telemetry.ingest.writer import Row, write_sync
from telemetry.windows import minute_means

from . import baselines, lifetimes, registry, rules
from .ml import health as health_model
from .models import AnomalyEvent, ModelKind, ScoringCycle
from .results import TOP_DRIVERS, DeviceResult

logger = logging.getLogger(__name__)

# The derived series, stored as readings under keys no device may send (they start with "_").
ANOMALY_KEY = "_anomaly"
HEALTH_KEY = "_health"
RUL_KEY = "_rul_hours"
RUL_LOW_KEY = "_rul_low"
RUL_HIGH_KEY = "_rul_high"
DERIVED = (ANOMALY_KEY, HEALTH_KEY, RUL_KEY, RUL_LOW_KEY, RUL_HIGH_KEY)

CLEAR_LEVEL = 0.8  # an anomaly spell ends when the score falls below this (hysteresis: 1.0 opens)
# The type-wide multivariate model (T²+Q or IsolationForest) counts against twice its control
# limit. Its limit is a quantile of the whole fleet's normal minutes, so a device's own normal
# departures from the fleet (its load, its wear) cross it; each device's residual against its own
# fit judges those, and the type-wide model is left the gross faults (and the devices with no
# fit yet). On the simulator's validation split the cycle's F1 was 0.63 at 1x, 0.88 at 1.5x,
# 0.89 at 2x, 3x and 5x and without the type-wide model (evaluate_simulator, the cycle rows).
MULTIVARIATE_LIMIT = 2.0
# A forecast looks hours ahead: each device's is renewed every FORECAST_EVERY_MINUTES, a tenth of
# the fleet a minute; anomaly and health every minute; RUL every lifetimes.REFRESH_MINUTES.
FORECAST_EVERY_MINUTES = 10
CHUNK_DEVICES = 2000  # devices read and scored at a time
EVENT_DEVICES = 1000  # devices per live scores event


@dataclass
class CycleResult:
    tenant_id: int
    minute: datetime
    devices: int
    flagged: int
    opened: int
    ended: int
    seconds: float
    skipped: bool = False


def scoring_minute(now: datetime) -> datetime:
    """The minute a cycle at ``now`` scores: the last complete one."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=1)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _drivers(
    signals: Sequence[str], shares: np.ndarray, values: np.ndarray
) -> list[dict[str, Any]]:
    order = np.argsort(-shares)[:TOP_DRIVERS]
    return [
        {"metric": signals[i], "share": round(float(shares[i]), 3), "value": float(values[i])}
        for i in order
        if shares[i] > 0
    ]


def _deviation_shares(model: Any, values: np.ndarray) -> np.ndarray:
    """Which metrics drove a flag, as each one's share of the row's distance from normal
    operation in standard deviations. Not the model's own residual contributions: with
    correlated signals (load drives them all) those smear a fault onto the healthy ones — an
    overheating pump's flat current got two thirds of the blame in a test — and an operator
    reads "drivers" as "which readings are off"."""
    z = np.abs((values - model.mean) / model.scale)
    total = z.sum(axis=1, keepdims=True)
    return np.where(total > 0, z / np.where(total > 0, total, 1.0), 0.0)


def _score_type(
    *, tenant: Tenant, device_type: DeviceType, devices: Sequence[Device], minute: datetime
) -> list[DeviceResult]:
    """Score one device type's devices that reported in ``minute``."""
    anomaly = registry.active_model(tenant=tenant, device_type=device_type, kind=ModelKind.ANOMALY)
    rul = registry.active_model(tenant=tenant, device_type=device_type, kind=ModelKind.RUL)
    metrics = sorted(set(device_type.metrics) | set(anomaly.artefact.signals if anomaly else []))
    by_id = {d.id: d for d in devices}
    limits = rules.limits(devices)
    context = rules.context_minutes(device_type)
    # The residual fits due are renewed first, from the minutes before this one: the minute is
    # scored by the fit of the day before it, as a device's prediction recomputes it.
    held = lifetimes.held_history(
        tenant=tenant,
        model=None if rul is None else rul.artefact,
        minute=minute,
        device_ids=by_id,
        metrics=metrics,
        since=None if anomaly is None else baselines.refit_start(minute),
    )
    refitted = (
        {}
        if anomaly is None
        else baselines.baselines_refit_due(
            tenant=tenant,
            device_type=device_type,
            anomaly=anomaly,
            minute=minute,
            device_ids=by_id,
            held=held,
        )
    )
    results: list[DeviceResult] = []
    for ids in _chunks(sorted(by_id), CHUNK_DEVICES):
        frame = minute_means(
            tenant_id=tenant.id,
            device_ids=ids,
            metrics=metrics,
            start=minute - timedelta(minutes=context),
            end=minute + timedelta(minutes=1),
        )
        if frame.empty:
            continue
        latest = frame[frame.index.get_level_values("minute") == minute].droplevel("minute")
        if latest.empty:
            continue
        chunk = {i: DeviceResult(int(i), by_id[int(i)].name) for i in latest.index}
        if anomaly is not None:
            model = anomaly.artefact
            complete = latest[model.signals].dropna()
            if len(complete):
                scores = model.score(complete) / MULTIVARIATE_LIMIT
                values = complete.to_numpy(float)
                shares = _deviation_shares(model, values)
                for row, device_id in enumerate(complete.index):
                    result = chunk[int(device_id)]
                    result.anomaly = float(scores[row])
                    result.drivers = _drivers(model.signals, shares[row], values[row])
                    result.anomaly_version = anomaly.version.id
                    result.detector = model.kind
            baselines.residuals_apply(
                latest=latest,
                device_type=device_type,
                anomaly=anomaly,
                minute=minute,
                chunk=chunk,
                refitted=refitted,
            )
            _apply_stuck(frame, device_type, anomaly, chunk)
        _apply_health(frame, latest, minute, limits, chunk)
        _apply_flags(frame, device_type, limits, chunk)
        results.extend(chunk.values())
    by_device = {r.device_id: r for r in results}
    for device_id, baseline in refitted.items():
        if device_id in by_device:
            by_device[device_id].baseline = baseline
    due = [i for i in by_device if forecast_due(i, minute)]
    for ids in _chunks(due, CHUNK_DEVICES):
        found = rules.crossings(
            tenant_id=tenant.id, device_limits={i: limits.get(i, {}) for i in ids}, minute=minute
        )
        for device_id in ids:
            by_device[device_id].forecast = True
        for device_id, crossing in found.items():
            by_device[device_id].crossing = crossing
    if rul is not None:
        lifetimes.lifetimes_apply(
            tenant=tenant,
            version_id=rul.version.id,
            model=rul.artefact,
            minute=minute,
            results=by_device,
            held=held,
        )
    return results


def forecast_due(device_id: int, minute: datetime) -> bool:
    """Whether a device is forecast in this minute: every FORECAST_EVERY_MINUTES, staggered by
    device so each minute does its share."""
    slot = int(minute.timestamp() // 60) % FORECAST_EVERY_MINUTES
    return device_id % FORECAST_EVERY_MINUTES == slot


def _apply_stuck(
    frame: pd.DataFrame, device_type: DeviceType, anomaly: Any, chunk: dict[int, DeviceResult]
) -> None:
    """A stuck sensor scores past the limit: the stuck metric is the spell's driver, and a
    ``stuck`` flag says so."""
    mine = frame[frame.index.get_level_values("device").isin(list(chunk))]
    for device_id, flags in rules.stuck_flags(mine, device_type, anomaly).items():
        result = chunk[int(device_id)]
        result.anomaly = max(result.anomaly or 0.0, rules.STUCK_SCORE)
        result.drivers = [
            {"metric": f.metric, "share": round(1.0 / len(flags), 3), "value": f.value}
            for f in flags
        ]
        result.anomaly_version = anomaly.version.id
        result.detector = "stuck"
        result.flags = [*result.flags, *rules.flag_dicts(flags)]


def _apply_flags(
    frame: pd.DataFrame,
    device_type: DeviceType,
    limits: dict[int, dict[str, dict[str, float]]],
    chunk: dict[int, DeviceResult],
) -> None:
    """The threshold and rolling z-score detectors on each device's minute (the type's window
    and threshold): what is off, beside the multivariate score."""
    mine = frame[frame.index.get_level_values("device").isin(list(chunk))]
    flagged = rules.rule_flags(mine, device_type, {i: limits.get(i, {}) for i in chunk})
    for device_id, flags in flagged.items():
        result = chunk[int(device_id)]
        result.flags = [*result.flags, *rules.flag_dicts(flags)]


def _apply_health(
    frame: pd.DataFrame,
    latest: pd.DataFrame,
    minute: datetime,
    limits: dict[int, dict[str, dict[str, float]]],
    chunk: dict[int, DeviceResult],
) -> None:
    drop = None
    if "battery" in frame.columns:
        recent = frame["battery"]
        since = minute - timedelta(minutes=rules.BATTERY_DROP_MINUTES)
        recent = recent[recent.index.get_level_values("minute") >= since]
        drop = (recent.groupby(level="device").max() - latest["battery"]).reindex(latest.index)
    by_rules = health_model.health_rules(
        latest, {i: limits.get(int(i), {}) for i in latest.index}, battery_drop=drop
    )
    anomaly = pd.Series(
        {i: chunk[int(i)].anomaly for i in latest.index}, index=latest.index, dtype=float
    )
    combined = health_model.health_score(by_rules, anomaly)
    for device_id, value in combined.items():
        chunk[int(device_id)].health = None if pd.isna(value) else round(float(value), 1)


def _rows(tenant: Tenant, minute: datetime, results: Sequence[DeviceResult]) -> list[Row]:
    rows: list[Row] = []
    for r in results:
        for key, value in (
            (ANOMALY_KEY, r.anomaly),
            (HEALTH_KEY, r.health),
            (RUL_KEY, r.rul),
            (RUL_LOW_KEY, r.rul_low),
            (RUL_HIGH_KEY, r.rul_high),
        ):
            if value is not None and np.isfinite(value):
                rows.append((minute, tenant.id, r.device_id, key, float(value)))
    return rows


def _claim(tenant: Tenant, minute: datetime) -> bool:
    """Insert the minute's ScoringCycle row (placeholder figures); False if it exists. A
    concurrent run inserting the same row waits on the unique index, then finds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_scoringcycle (tenant_id, minute, devices, flagged, seconds) "
            "VALUES (%s, %s, 0, 0, 0) ON CONFLICT DO NOTHING RETURNING id",
            [tenant.id, minute],
        )
        return cursor.fetchone() is not None


def _spells(
    tenant: Tenant, minute: datetime, results: Sequence[DeviceResult]
) -> tuple[list[AnomalyEvent], list[AnomalyEvent]]:
    """Open, extend and end anomaly spells; returns (opened, ended)."""
    scored = {r.device_id: r for r in results if r.anomaly is not None}
    open_events = {
        e.device_id: e
        for e in AnomalyEvent.objects.select_for_update().filter(
            tenant=tenant, device_id__in=list(scored), ended_at__isnull=True
        )
    }
    opened, ended, extended = [], [], []
    for device_id, r in scored.items():
        event = open_events.get(device_id)
        assert r.anomaly is not None
        if r.flagged:
            if event is None:
                opened.append(
                    AnomalyEvent(
                        tenant=tenant,
                        device_id=device_id,
                        version_id=r.anomaly_version,
                        detector=r.detector,
                        started_at=minute,
                        last_at=minute,
                        peak_score=r.anomaly,
                        drivers=r.drivers,
                    )
                )
            elif minute > event.last_at:
                event.last_at = minute
                event.minutes += 1
                if r.anomaly > event.peak_score:
                    event.peak_score, event.drivers = r.anomaly, r.drivers
                extended.append(event)
        elif event is not None and r.anomaly < CLEAR_LEVEL and minute > event.last_at:
            event.ended_at = minute
            ended.append(event)
    AnomalyEvent.objects.bulk_create(opened)
    AnomalyEvent.objects.bulk_update(
        extended + ended, ["last_at", "minutes", "peak_score", "drivers", "ended_at"]
    )
    return opened, ended


def _score(r: DeviceResult) -> live.DeviceScore:
    score: live.DeviceScore = {
        "health": r.health,
        "rul_hours": r.rul,
        "rul_low": r.rul_low,
        "rul_high": r.rul_high,
        "anomaly": None if r.anomaly is None else round(r.anomaly, 3),
        "flagged": r.flagged,
        "flags": r.flags,
    }
    if r.forecast:  # absent: not forecast this minute (each device is, every 10 minutes)
        score["crossing"] = r.crossing
    return score


def _publish(
    tenant: Tenant,
    minute: datetime,
    results: Sequence[DeviceResult],
    opened: Sequence[AnomalyEvent],
    ended: Sequence[AnomalyEvent],
) -> None:
    names = {r.device_id: r.name for r in results}
    for part in range(0, len(results), EVENT_DEVICES):
        data: live.DeviceScoresData = {
            "minute": minute.isoformat(),
            "devices": {str(r.device_id): _score(r) for r in results[part : part + EVENT_DEVICES]},
        }
        live.publish_on_commit(tenant_id=tenant.id, event=live.Event.DEVICE_SCORES, data=data)
    for state, events in (("opened", opened), ("ended", ended)):
        for e in events:
            anomaly: live.AnomalyData = {
                "event": e.id,
                "device": e.device_id,
                "name": names.get(e.device_id, ""),
                "state": state,
                "at": minute.isoformat(),
                "detector": e.detector,
                "started_at": e.started_at.isoformat(),
                "score": round(e.peak_score, 3),
                "drivers": e.drivers,
            }
            live.publish_on_commit(tenant_id=tenant.id, event=live.Event.ANOMALY, data=anomaly)


def scores_apply(*, tenant: Tenant, minute: datetime) -> CycleResult:
    """Score every device of the tenant that reported in ``minute`` and store the results
    (see the module docstring). Safe to run twice: the second run of a minute writes nothing."""
    began = time.monotonic()
    if ScoringCycle.objects.filter(tenant=tenant, minute=minute).exists():
        return CycleResult(tenant.id, minute, 0, 0, 0, 0, 0.0, skipped=True)
    # Devices that reported in the minute (last_seen is at least its start); those in
    # maintenance are not judged.
    devices = (
        Device.objects.filter(tenant=tenant, last_seen__gte=minute)
        .exclude(status=DeviceStatus.MAINTENANCE)
        .select_related("type")
        .order_by("id")
    )
    by_type: dict[int, list[Device]] = {}
    types: dict[int, DeviceType] = {}
    for device in devices:
        by_type.setdefault(device.type_id, []).append(device)
        types[device.type_id] = device.type
    results: list[DeviceResult] = []
    for type_id, members in by_type.items():
        results.extend(
            _score_type(tenant=tenant, device_type=types[type_id], devices=members, minute=minute)
        )
    with transaction.atomic():
        if not _claim(tenant, minute):
            return CycleResult(tenant.id, minute, 0, 0, 0, 0, 0.0, skipped=True)
        connection.ensure_connection()
        write_sync(connection.connection, _rows(tenant, minute, results))
        baselines.baselines_save([r.baseline for r in results if r.baseline is not None])
        lifetimes.lives_save([r.life for r in results if r.life is not None])
        opened, ended = _spells(tenant, minute, results)
        flagged = [r.device_id for r in results if r.flagged]
        cleared = [
            r.device_id for r in results if r.anomaly is not None and r.anomaly < CLEAR_LEVEL
        ]
        # The devices' own rows last, locked in id order: ingestion's last_seen flush waits
        # only for these updates, never for the writes above, and never deadlocks with them.
        status.devices_lock([r.device_id for r in results])
        devices_scores_set(
            tenant=tenant,
            scores={r.device_id: (r.health, r.rul) for r in results if r.health is not None},
        )
        devices_forecast_set(
            tenant=tenant, crossings={r.device_id: r.crossing for r in results if r.forecast}
        )
        status.devices_transition(
            device_ids=flagged, transition=status.ANOMALY_FLAGGED, at=minute + timedelta(minutes=1)
        )
        status.devices_transition(
            device_ids=cleared, transition=status.ANOMALY_CLEARED, at=minute + timedelta(minutes=1)
        )
        seconds = time.monotonic() - began
        ScoringCycle.objects.filter(tenant=tenant, minute=minute).update(
            devices=len(results), flagged=len(flagged), seconds=seconds
        )
        _publish(tenant, minute, results, opened, ended)
    return CycleResult(
        tenant.id, minute, len(results), len(flagged), len(opened), len(ended), seconds
    )
