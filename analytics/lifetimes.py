"""Remaining useful life in the apply cycle: each device's current life, kept between cycles
(``DeviceLife``), and its RUL from the type's active lifetime model (``ml.lifetime``) on the
same features the model was trained and measured on.

A device's features need its current life's start (its last repair, or its first reading: the
age), the life's first-day median residual per metric (the indicators' zero, frozen once the
life has ``wear.BASELINE`` readings) and its last ``history_readings`` minutes (the rolling
medians, the daily change). The start and the baseline are kept per device and renewed when a
repair starts a new life or a new model version measures residuals against another new-device
fit; the last minutes are read. A life younger than the minutes read is read whole and its
baseline is computed from them (and kept once frozen); an older one is given its kept baseline
(read once, from the life's first day, when missing). The renewed rows are stored in the
cycle's transaction (``lives_save``), so a re-run of a minute writes nothing twice.

Each device's RUL is refreshed every ``REFRESH_MINUTES``, staggered across the fleet. Why not
every 10 minutes, as the forecasts: the indicators are medians over up to a day of minutes and
their change over a day, and the trajectory reads the day-long median (it stands for the age
12 h back), so an hour moves them by a small share of their window — the RUL changes by about
the hour that passed, nothing the next refresh does not catch. And they cost: two days of
minutes a device (wear candidates), 10,000 devices every 10 minutes would read some 14 M
rollup rows a minute; every hour, a sixth of that.
"""

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

from iotplatform.tenancy.models import Tenant
from telemetry.windows import Held, minute_means, minute_means_spans

from .ml import lifetime, wear
from .models import DeviceLife, Failure
from .results import DeviceResult

REFRESH_MINUTES = 60
# The minutes read before the refreshed one: the model's history_readings and a tenth more, so a
# device that missed a few minutes still has them (one that missed more gets slightly shorter
# windows than the model was trained with).
READ_SLACK = 1.1
FIRST_DAY_MINUTES = 3 * 1440  # the span read for a life's first day of readings
CHUNK_DEVICES = 500  # devices read at a time (two days of minutes each)


def refresh_due(device_id: int, minute: datetime) -> bool:
    """Whether a device's RUL is refreshed in this minute: every REFRESH_MINUTES, staggered."""
    slot = int(minute.timestamp() // 60) % REFRESH_MINUTES
    return device_id % REFRESH_MINUTES == slot


def history_start(model: lifetime.LifetimeModel, minute: datetime) -> datetime:
    """The first minute a refresh at ``minute`` reads."""
    return minute - timedelta(minutes=int(model.history_readings * READ_SLACK))


def held_history(
    *,
    tenant: Tenant,
    model: Any,
    minute: datetime,
    device_ids: Iterable[int],
    metrics: Sequence[str],
    since: datetime | None = None,
) -> Held | None:
    """The minutes of the devices whose RUL is refreshed this minute, read once for the cycle:
    the refresh reads them, and so does anything else of the cycle over the same devices
    (``metrics`` and from ``since``; their residual fits are renewed in the same minute, as
    REFRESH_MINUTES is a multiple of REFIT_MINUTES). None: no lifetime model, or more devices
    due than a chunk."""
    if not isinstance(model, lifetime.LifetimeModel):
        return None
    due = sorted(i for i in device_ids if refresh_due(i, minute))
    if not due or len(due) > CHUNK_DEVICES:
        return None
    start = history_start(model, minute)
    if since is not None:
        start = min(start, since)
    end = minute + timedelta(minutes=1)
    columns = list(dict.fromkeys([*model.metrics, *metrics]))
    frame = minute_means(tenant_id=tenant.id, device_ids=due, metrics=columns, start=start, end=end)
    return Held(frame, start, end)


def _chunks(items: Sequence[int], size: int = CHUNK_DEVICES) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def first_readings(
    *, tenant_id: int, device_ids: Sequence[int], metrics: Sequence[str]
) -> dict[int, datetime]:
    """Each device's first minute with a reading of one of ``metrics`` (the hour from the
    hourly rollups, then the minute within it)."""
    if not device_ids or not metrics:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH firsts AS (SELECT device_id, min(bucket) AS hour FROM telemetry_rollup_1h "
            "WHERE tenant_id = %(tenant)s AND device_id = ANY(%(devices)s::int8[]) "
            "AND metric = ANY(%(metrics)s::text[]) GROUP BY device_id) "
            "SELECT f.device_id, min(m.bucket) FROM firsts f JOIN telemetry_rollup_1m m "
            "ON m.tenant_id = %(tenant)s AND m.device_id = f.device_id "
            "AND m.metric = ANY(%(metrics)s::text[]) AND m.bucket >= f.hour "
            "AND m.bucket < f.hour + interval '1 hour' GROUP BY f.device_id",
            {"tenant": tenant_id, "devices": list(device_ids), "metrics": list(metrics)},
        )
        return {int(d): at for d, at in cursor.fetchall()}


def life_starts(
    *,
    tenant: Tenant,
    device_ids: Sequence[int],
    minute: datetime,
    kept: Mapping[int, DeviceLife],
    metrics: Sequence[str],
) -> dict[int, datetime]:
    """Each device's current life's start at ``minute``: its last repair, or its first reading
    (kept, or read); devices failed and not repaired by then are left out."""
    latest = {
        int(f.device_id): f
        for f in Failure.objects.filter(
            tenant=tenant, device_id__in=list(device_ids), failed_at__lte=minute
        )
        .order_by("device_id", "-failed_at")
        .distinct("device_id")
    }
    out: dict[int, datetime] = {}
    unknown = []
    for device_id in device_ids:
        failure = latest.get(device_id)
        if failure is not None:
            if failure.repaired_at is not None and failure.repaired_at <= minute:
                out[device_id] = failure.repaired_at
        elif device_id in kept:
            out[device_id] = kept[device_id].started_at
        else:
            unknown.append(device_id)
    out.update(first_readings(tenant_id=tenant.id, device_ids=unknown, metrics=metrics))
    return out


def _first_days(
    tenant: Tenant, starts: Mapping[int, datetime], model: lifetime.LifetimeModel
) -> dict[int, list[float | None] | None]:
    """The lives' frozen baselines from their first day of readings (the first BASELINE within
    FIRST_DAY_MINUTES of each start; ``starts``: device → its life's start), read in one
    query; None: a life with fewer there."""
    span = timedelta(minutes=FIRST_DAY_MINUTES)
    frame = minute_means_spans(
        tenant_id=tenant.id,
        spans={d: (at, at + span) for d, at in starts.items()},
        metrics=model.metrics,
    )
    out: dict[int, list[float | None] | None] = dict.fromkeys(starts)
    for device_id, own in frame.groupby(level="device", sort=False):
        if len(own) >= wear.BASELINE:
            base = wear.life_baseline(
                own.to_numpy(dtype=float),
                own.index.get_level_values("minute"),
                model.coefficients,
                levels=model.levels,
            )
            out[int(device_id)] = _json(base)
    return out


def _json(values: Iterable[float]) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _state(
    kept: DeviceLife | None,
    *,
    tenant: Tenant,
    device_id: int,
    started_at: datetime,
    version_id: int,
    model: lifetime.LifetimeModel,
    minute: datetime,
) -> tuple[DeviceLife, bool]:
    """The device's state for this life and version: the kept row, or a new one (the baseline
    to be found); and whether it is new."""
    if (
        kept is not None
        and kept.started_at == started_at
        and kept.version_id == version_id
        and kept.signals == model.indicators
    ):
        return kept, False
    return DeviceLife(
        device_id=device_id,
        tenant=tenant,
        started_at=started_at,
        version_id=version_id,
        signals=model.indicators,
        baseline=None,
        updated_at=minute,
    ), True


def lifetimes_apply(
    *,
    tenant: Tenant,
    version_id: int,
    model: Any,
    minute: datetime,
    results: Mapping[int, DeviceResult],
    held: Held | None = None,
) -> None:
    """The RUL and interval of the devices due this minute (``refresh_due``) among
    ``results`` (those that reported in it), set on their results with their renewed life
    rows (unsaved). A model of another kind (an older version's format) predicts nothing.
    ``held``: their minutes, already read (``held_history``)."""
    if not isinstance(model, lifetime.LifetimeModel):
        return
    due = sorted(i for i in results if refresh_due(i, minute))
    for ids in _chunks(due):
        _apply_chunk(tenant, version_id, model, minute, ids, results, held)


def _apply_chunk(
    tenant: Tenant,
    version_id: int,
    model: lifetime.LifetimeModel,
    minute: datetime,
    ids: Sequence[int],
    results: Mapping[int, DeviceResult],
    held: Held | None,
) -> None:
    kept = {s.device_id: s for s in DeviceLife.objects.filter(tenant=tenant, device_id__in=ids)}
    starts = life_starts(
        tenant=tenant, device_ids=ids, minute=minute, kept=kept, metrics=model.metrics
    )
    since = history_start(model, minute)
    frame = minute_means(
        tenant_id=tenant.id,
        device_ids=sorted(starts),
        metrics=model.metrics,
        start=since,
        end=minute + timedelta(minutes=1),
        held=held,
    )
    if frame.empty:
        return
    devices = frame.index.get_level_values("device").to_numpy()
    times = frame.index.get_level_values("minute")
    bounds = np.flatnonzero(np.r_[True, devices[1:] != devices[:-1], True])
    found = []
    for lo, hi in itertools.pairwise(int(b) for b in bounds):
        device_id = int(devices[lo])
        started_at = starts[device_id]
        own = frame.iloc[lo:hi][np.asarray(times[lo:hi] >= started_at)]
        if own.empty or own.index[-1][1] != minute:
            continue
        state, renewed = _state(
            kept.get(device_id),
            tenant=tenant,
            device_id=device_id,
            started_at=started_at,
            version_id=version_id,
            model=model,
            minute=minute,
        )
        found.append((device_id, own, state, renewed, started_at >= since))
    # Once per life and version, for the lives older than the rows read (``whole``: the rows
    # hold the life from its start). A life with fewer readings in its first days (a device
    # reporting seldom) keeps no zero (NaN, not read again): its rows read then give theirs,
    # an approximation.
    first = _first_days(
        tenant,
        {
            d: state.started_at
            for d, _, state, _, whole in found
            if state.baseline is None and not whole
        },
        model,
    )
    parts: list[pd.DataFrame] = []
    lives: list[tuple[np.ndarray, np.ndarray]] = []
    bases: list[np.ndarray] = []
    last: list[int] = []
    for device_id, own, state, renewed, whole in found:
        if state.baseline is None:
            if whole and len(own) >= wear.BASELINE:
                base = wear.life_baseline(
                    own.to_numpy(dtype=float),
                    own.index.get_level_values("minute"),
                    model.coefficients,
                    levels=model.levels,
                )
                state.baseline = _json(base)
            elif not whole:
                state.baseline = first.get(device_id) or [None] * model.baseline_size
            renewed = renewed or state.baseline is not None
        if renewed:
            state.updated_at = minute
            results[device_id].life = state
        given = np.full((len(own), model.baseline_size), np.nan)
        if not whole:
            given[:] = [np.nan if v is None else v for v in state.baseline or []]
        parts.append(own)
        bases.append(given)
        born = lifetime.hours_of(state.started_at)
        lives.append((np.full(len(own), len(last)), np.full(len(own), born)))
        last.append(device_id)
    if not parts:
        return
    values = pd.concat(parts)
    life = lifetime.Lives(
        np.concatenate([k for k, _ in lives]).astype(np.int64),
        np.concatenate([b for _, b in lives]),
        np.full(len(values), np.nan),
        wear.epoch_hours(values.index.get_level_values("minute")),
    )
    ends = np.cumsum([len(p) for p in parts]) - 1
    features = lifetime.life_features(
        values, life, model.coefficients, base=np.vstack(bases), at=ends, **model.parts
    )
    predicted = model.predict(features)
    for row, device_id in enumerate(last):
        result = results[device_id]
        result.rul = round(float(predicted.point[row]), 2)
        result.rul_low = round(float(predicted.low[row]), 2)
        result.rul_high = round(float(predicted.high[row]), 2)


def lives_save(lives: Sequence[DeviceLife]) -> None:
    """Store renewed life rows over the old ones (inside the cycle's transaction)."""
    DeviceLife.objects.bulk_create(
        lives,
        update_conflicts=True,
        unique_fields=["device"],
        update_fields=["started_at", "version", "signals", "baseline", "updated_at"],
    )
