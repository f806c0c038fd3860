"""The RUL trainer: the lifetime model (``analytics.ml.lifetime``, what the simulator
evaluation measures) on a device type's runs to a recorded failure (``Failure`` rows), each
read whole from its start (the first reading or the repair that began it): the candidate
chosen by cross-validation over those lives, whose out-of-sample errors give its interval
(split-conformal bands) and its backtest against the active version on the lives that failed
since that one was trained (``_backtest``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant

from . import registry
from .artefacts import artefact_load
from .lifetimes import first_readings
from .ml import lifetime, lifetime_choice
from .ml import rul as rul_ml
from .models import ModelKind
from .training_data import (
    Frames,
    NotEnoughData,
    failures_of,
    sample,
    type_devices,
    usable_signals,
)
from .versions import Outcome, version_store

MIN_LIVES = 3  # runs to failure needed for a RUL model (some held out to measure it)
# Lives must be read whole, from the first reading or the repair that began them (their first
# day is the indicators' zero): the simulator's devices live about 30 days, the longest about
# twice that, so 90 days hold every life that failed in the last month or so. Reading 90 days
# instead of 30 samples fewer devices (MAX_TRAIN_DEVICE_MINUTES: about 15 of them).
RUL_TRAIN_DAYS = 90


def rul_train(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    end: datetime,
    requested_by: Any = None,
    frames: Frames | None = None,
) -> Outcome:
    start = end - timedelta(days=RUL_TRAIN_DAYS)
    devices = type_devices(tenant, device_type)
    failures = failures_of(tenant, devices)
    recent = failures[(failures["failed_at"] > start) & (failures["failed_at"] <= end)]
    if len(recent) < MIN_LIVES:
        raise NotEnoughData(
            f"{len(recent)} recorded failures in the window, at least {MIN_LIVES} needed"
        )
    failed = sample(tenant, device_type, sorted(int(d) for d in set(recent["device"])), start, end)
    # Its own read: the run's Frames keep the anomaly trainer's month for the clusters.
    frame = Frames().minutes(tenant, device_type, failed, start, end)
    signals = usable_signals(frame) if len(frame) else []
    if not signals:
        raise NotEnoughData("no metric reported in most minutes of the devices that failed")
    x = frame[signals]
    index = x.index
    lives = lifetime.lives_of(
        index.get_level_values("device"),
        index.get_level_values("minute"),
        failures[failures["device"].isin(failed)],
        first=first_readings(tenant_id=tenant.id, device_ids=failed, metrics=signals),
        since=start,
    )
    complete = np.unique(lives.life[(lives.life >= 0) & np.isfinite(lives.failed_h)])
    if len(complete) < MIN_LIVES:
        raise NotEnoughData(
            f"{len(complete)} runs to failure read whole (from the first reading or a repair "
            f"within the last {RUL_TRAIN_DAYS} days), at least {MIN_LIVES} needed"
        )
    try:
        trained = lifetime_choice.lifetime_train(x, lives, end_h=lifetime.hours_of(end))
    except ValueError as exc:  # too few new minutes, or no life failing late in the window
        raise NotEnoughData(str(exc)) from None
    model, choice, features = trained.model, trained.choice, trained.features
    assert model.bands is not None  # lives were held out
    bands = model.bands
    version = version_store(
        tenant=tenant,
        device_type=device_type,
        kind=ModelKind.RUL,
        obj=model,
        algorithm=choice.name,
        window=(start, end),
        rows=len(features),
        devices=len(set(index.get_level_values("device"))),
        signals=signals,
        params={
            **lifetime.PARAMS,
            "knee_hours": lifetime.KNEE_HOURS,
            "lives": len(complete),
            "fit_every_minutes": lifetime.TRAIN_EVERY,
            "train_days": RUL_TRAIN_DAYS,
        },
        metrics={
            "rmse": choice.rmse,
            "within_15": choice.share,
            "held_out_lives": choice.lives,
            "candidates": {
                name: {"within_15": choice.shares[name], "rmse": choice.rmses[name]}
                for name in choice.shares
            },
            "interval_bands": {
                "edges": list(bands.edges),
                "low": list(bands.low),
                "high": list(bands.high),
            },
        },
        requested_by=requested_by,
    )
    backtest = _backtest(tenant, device_type, x, lives, choice)
    activated = registry.model_version_promote(
        version=version,
        metric="rmse",
        candidate_score=backtest.candidate,
        active_score=backtest.active,
        on=backtest.on,
        unmeasured=backtest.unmeasured,
    )
    return Outcome(
        version,
        activated,
        f"{choice.name}: {choice.share:.0%} within ±15 % over the last 20 % of "
        f"{choice.lives} held-out lives, RMSE {choice.rmse:.1f} h",
    )


@dataclass
class Backtest:
    """The candidate's and the active version's RMSE on the same lives (``on``); the active's
    None: none to compare with (the candidate replaces it); ``unmeasured``: why the two cannot
    be compared fairly (the active stays)."""

    candidate: float
    active: float | None = None
    on: str = ""
    unmeasured: str | None = None


def _backtest(
    tenant: Tenant,
    device_type: DeviceType,
    x: pd.DataFrame,
    lives: lifetime.Lives,
    choice: lifetime_choice.Choice,
) -> Backtest:
    """The candidate against the active version on the runs to failure that ended after the
    active was trained — lives it never saw, and the candidate's cross-validated predictions
    never saw them either. Without such a life the active stays: its own training lives would
    flatter it (measured in sample) against the candidate's out-of-sample figure. An active
    version of an older format or other metrics is replaced."""
    active = registry.active_version(tenant=tenant, device_type=device_type, kind="rul")
    if active is None:
        return Backtest(choice.rmse)
    old = artefact_load(name=active.artefact, checksum=active.checksum)
    if not isinstance(old, lifetime.LifetimeModel) or not set(old.metrics) <= set(x.columns):
        return Backtest(choice.rmse)
    with np.errstate(invalid="ignore"):
        unseen = choice.measured & (lives.failed_h > lifetime.hours_of(active.window_end))
    count = int(np.unique(lives.life[unseen]).size)
    if not count:
        return Backtest(
            choice.rmse,
            unmeasured=f"no run to failure ended since active v{active.pk} was trained "
            f"(its window ends {active.window_end:%Y-%m-%d %H:%M}): nothing it did not see "
            "to compare the two on",
        )
    actual = lives.hours_left[unseen]
    features = lifetime.life_features(x[old.metrics], lives, old.coefficients, **old.parts)
    return Backtest(
        rul_ml.rmse(choice.measured_point[unseen[choice.measured]], actual),
        rul_ml.rmse(old.point(features[unseen]), actual),
        on=f"the last 20 % of the {count} runs to failure ended since v{active.pk} was trained",
    )
