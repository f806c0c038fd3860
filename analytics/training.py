"""Retraining: one tenant's device type, from its minute means, into new model versions.

- **anomaly**: the multivariate detector (PCA T²+Q or IsolationForest, chosen by backtest,
  ``analytics.ml.anomaly.anomaly_choose``) on normal operation — minutes with every signal,
  outside the day before each recorded failure and its repair;
- **rul**: the lifetime model on every run to a recorded failure read whole
  (``analytics.rul_training``);
- **cluster**: DBSCAN behaviour clusters over the devices' recent windows; each device's
  ``cluster`` is its latest window's.

A new version becomes active only when its backtest on the held-out share is not worse than
the active version's on the same rows (``registry.model_version_promote``). A training run
records its progress (``TrainingRun``) and announces it live.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from devices.models import DeviceType
from devices.services import devices_cluster_set
from iotplatform import live
from iotplatform.tenancy.models import Tenant
from telemetry.windows import minute_means

from . import registry
from .artefacts import artefact_load
from .insights import windows_in_spells
from .ml import anomaly as anomaly_ml
from .ml import clusters as cluster_ml
from .ml import detectors
from .models import ModelKind, TrainingRun
from .rul_training import rul_train
from .training_data import (
    Frames,
    NotEnoughData,
    failures_of,
    outside_failures,
    sample,
    type_devices,
    window,
)
from .versions import Outcome, version_store

logger = logging.getLogger(__name__)

TRAIN_DAYS = 30
CLUSTER_DAYS = 7
CLUSTER_WINDOW_MINUTES = 30
CHUNK_DEVICES = 2000  # devices per read of the clusters' latest windows
HOLDOUT_SHARE = 0.2
MIN_ANOMALY_ROWS = 200
SEED = 0
STALE_RUN = timedelta(hours=1)


def anomaly_train(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    end: datetime,
    requested_by: Any = None,
    frames: Frames | None = None,
) -> Outcome:
    start = end - timedelta(days=TRAIN_DAYS)
    devices = sample(tenant, device_type, type_devices(tenant, device_type), start, end)
    frame, signals = window(tenant, device_type, devices, start, end, frames)
    normal_rows = outside_failures(frame, failures_of(tenant, devices))
    normal = frame[signals][normal_rows].dropna()
    if len(normal) < MIN_ANOMALY_ROWS:
        raise NotEnoughData(
            f"{len(normal)} complete minutes of normal operation, "
            f"at least {MIN_ANOMALY_ROWS} needed"
        )
    # Time order across devices, so the held-out share is the most recent stretch.
    normal = normal.sort_index(level="minute", kind="stable")
    model, info = anomaly_ml.anomaly_choose(normal, holdout_share=HOLDOUT_SHARE, seed=SEED)
    chosen = info["chosen"]
    metrics = {"backtest": info["backtest"], "chosen": chosen, **info["backtest"][chosen]}
    version = version_store(
        tenant=tenant,
        device_type=device_type,
        kind=ModelKind.ANOMALY,
        obj=model,
        algorithm=chosen,
        window=(start, end),
        rows=len(normal),
        devices=normal.index.get_level_values("device").nunique(),
        signals=signals,
        params={
            "holdout_share": HOLDOUT_SHARE,
            "seed": SEED,
            # the values normal operation repeats minute after minute: no stuck sensor
            "saturated": detectors.saturated_values(frame[signals], normal_rows),
        },
        metrics=metrics,
        requested_by=requested_by,
    )
    active_score = None
    active = registry.active_version(tenant=tenant, device_type=device_type, kind="anomaly")
    if active is not None:
        holdout = normal.iloc[int(len(normal) * (1 - HOLDOUT_SHARE)) :]
        old = artefact_load(name=active.artefact, checksum=active.checksum)
        if set(old.signals) <= set(holdout.columns):
            active_score = anomaly_ml.anomaly_backtest(old, holdout, seed=SEED)["f1"]
    activated = registry.model_version_promote(
        version=version, metric="f1", candidate_score=metrics["f1"], active_score=active_score
    )
    return Outcome(version, activated, f"{chosen}, backtest F1 {metrics['f1']:.3f}")


def _latest_windows(
    tenant: Tenant, devices: list[int], signals: list[str], end: datetime
) -> pd.DataFrame:
    """Each device's latest full window of CLUSTER_WINDOW_MINUTES (from the last two windows'
    minutes), read CHUNK_DEVICES at a time."""
    parts = []
    for first in range(0, len(devices), CHUNK_DEVICES):
        frame = minute_means(
            tenant_id=tenant.id,
            device_ids=devices[first : first + CHUNK_DEVICES],
            metrics=signals,
            start=end - timedelta(minutes=2 * CLUSTER_WINDOW_MINUTES),
            end=end,
        )
        stats = cluster_ml.window_stats(
            frame.dropna().reset_index(),
            unit="device",
            time="minute",
            signals=signals,
            rows=CLUSTER_WINDOW_MINUTES,
        )
        parts.append(stats.groupby(level=0).tail(1))
    return pd.concat(parts) if parts else pd.DataFrame()


def cluster_train(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    end: datetime,
    requested_by: Any = None,
    frames: Frames | None = None,
) -> Outcome:
    start = end - timedelta(days=CLUSTER_DAYS)
    every = type_devices(tenant, device_type)
    devices = sample(tenant, device_type, every, start, end)
    frame, signals = window(tenant, device_type, devices, start, end, frames)
    data = frame[signals].dropna().reset_index()
    stats = cluster_ml.window_stats(
        data, unit="device", time="minute", signals=signals, rows=CLUSTER_WINDOW_MINUTES
    )
    # A sampled fleet: the others' latest window too (those with a full one in the last hour),
    # so every device reporting gets its cluster.
    rest = sorted(set(every) - set(devices))
    if rest:
        stats = pd.concat([stats, _latest_windows(tenant, rest, signals, end)]).sort_index()
    if len(stats) < 10:
        raise NotEnoughData(f"{len(stats)} windows of {CLUSTER_WINDOW_MINUTES} minutes")
    in_spells = windows_in_spells(
        tenant, stats.index, timedelta(minutes=CLUSTER_WINDOW_MINUTES), end
    )
    result = cluster_ml.behaviour_clusters(stats, flags=in_spells)
    latest = stats.groupby(level=0).tail(1)
    positions = {key: i for i, key in enumerate(stats.index)}
    assignment = {int(unit): int(result.labels[positions[(unit, t)]]) for unit, t in latest.index}
    artefact = {"index": stats.index, "result": result, "signals": signals}
    counts = {str(k): int(v) for k, v in result.counts.items()}
    version = version_store(
        tenant=tenant,
        device_type=device_type,
        kind=ModelKind.CLUSTER,
        obj=artefact,
        algorithm="dbscan",
        window=(start, end),
        rows=len(stats),
        devices=len(assignment),
        signals=signals,
        params={"window_minutes": CLUSTER_WINDOW_MINUTES, "eps": float(result.eps)},
        metrics={
            "clusters": len([k for k in result.counts if k != -1]),
            "noise_share": float(result.counts.get(-1, 0)) / len(stats),
            "counts": counts,
            "anomalies": {str(k): int(v) for k, v in result.anomalies.items()},
        },
        requested_by=requested_by,
    )
    # Clusters describe the fleet as it is now; there is nothing to backtest them against.
    with transaction.atomic():
        activated = registry.model_version_promote(version=version, metric=None)
        devices_cluster_set(tenant=tenant, clusters=assignment)
    return Outcome(version, activated, f"{version.metrics['clusters']} clusters")


TRAINERS: dict[str, Callable[..., Outcome]] = {
    ModelKind.ANOMALY: anomaly_train,
    ModelKind.RUL: rul_train,
    ModelKind.CLUSTER: cluster_train,
}
ALL_KINDS = [ModelKind.ANOMALY, ModelKind.RUL, ModelKind.CLUSTER]


def _announce(run: TrainingRun) -> None:
    data: live.TrainingData = {
        "run": run.pk,
        "device_type": run.device_type.name,
        "status": run.status,
        "progress": run.progress,
        "step": run.step,
        "results": run.results,
    }
    live.publish(tenant_id=run.tenant_id, event=live.Event.TRAINING, data=data)


def _progress(run: TrainingRun, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=list(fields))
    _announce(run)


@transaction.atomic
def training_run_request(
    *, tenant: Tenant, device_type: DeviceType, kinds: list[str] | None = None, requested_by: Any
) -> tuple[TrainingRun, bool]:
    """A queued run for the type, or the one already queued or running; (run, created)."""
    if device_type.tenant_id != tenant.id:
        raise ValueError("the device type belongs to another tenant")
    kinds = list(kinds or ALL_KINDS)
    pending = (
        TrainingRun.objects.select_for_update()
        .filter(tenant=tenant, device_type=device_type, status__in=["queued", "running"])
        .first()
    )
    if pending is not None:
        return pending, False
    run = TrainingRun.objects.create(
        tenant=tenant, device_type=device_type, kinds=kinds, requested_by=requested_by
    )
    return run, True


def training_run_execute(*, run_id: int, end: datetime | None = None) -> TrainingRun | None:
    """Run a queued training run (a task's body). A run already finished is left alone, so a
    redelivered task trains nothing twice; one another worker holds is skipped."""
    with transaction.atomic():
        # A run marked running long ago lost its worker: it may be taken again.
        stale = timezone.now() - STALE_RUN
        run = (
            TrainingRun.objects.select_for_update(skip_locked=True)
            .select_related("device_type", "tenant")
            .filter(Q(status="queued") | Q(status="running", started_at__lt=stale), pk=run_id)
            .first()
        )
        if run is None:
            return None
        run.status = TrainingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    end = end or timezone.now().replace(second=0, microsecond=0)
    results: dict[str, Any] = {}
    frames = Frames()
    try:
        for i, kind in enumerate(run.kinds):
            _progress(run, step=f"training {kind}", progress=i / len(run.kinds))
            try:
                outcome = TRAINERS[kind](
                    tenant=run.tenant,
                    device_type=run.device_type,
                    end=end,
                    requested_by=run.requested_by,
                    frames=frames,
                )
                results[kind] = outcome.as_dict()
            except NotEnoughData as exc:
                results[kind] = {"version": None, "activated": False, "message": str(exc)}
            _progress(run, results=results)
    except Exception as exc:
        logger.exception("training run %s failed", run.pk)
        _progress(
            run,
            status=TrainingRun.Status.FAILED,
            message=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            step="failed",
        )
        return run
    _progress(
        run, status=TrainingRun.Status.DONE, progress=1.0, step="done", finished_at=timezone.now()
    )
    return run


def training_runs_nightly(*, now: datetime | None = None) -> list[TrainingRun]:
    """A run for every device type with devices, of every tenant (those already pending are
    returned as they are)."""
    runs = []
    types = DeviceType.objects.filter(devices__isnull=False).distinct().select_related("tenant")
    for device_type in types:
        run, _ = training_run_request(
            tenant=device_type.tenant, device_type=device_type, requested_by=None
        )
        runs.append(run)
    return runs
