"""RUL on the real database: the lifetime model trained on a small simulated fleet's runs to
failure, and the apply cycle's RUL — the same as the pure functions' prediction on the same
minutes, each device's life kept across cycles and renewed by a repair, written once, one
tenant's failures and RUL never another's."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command

from analytics import artefacts, lifetimes, scoring, training
from analytics.ml import lifetime, wear
from analytics.ml.lifetime_choice import USE
from analytics.models import DeviceLife, Failure, ModelState, ModelVersion, ScoringCycle
from demo import fleet_history
from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant
from simulator.fleet import Rates, make_fleet
from simulator.history import generate
from telemetry.models import Reading
from telemetry.windows import minute_means
from tests.telemetry.known_readings import write

DAY = 86_400.0
DAYS = 10
# Pumps that wear out in about two and a half days, repaired in 8 hours: ten days hold a dozen
# runs to failure, some of them longer than the two days of minutes the cycle reads.
RATES = Rates(mean_life_days=2.5, anomalies_per_day=2.0)
END = datetime.fromtimestamp(fleet_history.END, tz=UTC)


def _fleet(folder: Path, seed: int) -> Path:
    generate(
        make_fleet(3, seed, RATES, kinds=("pump",)),
        folder,
        start=fleet_history.END - DAYS * DAY,
        end=fleet_history.END,
        interval=60,
        rates=RATES,
    )
    return folder


def _import(tenant: Tenant, folder: Path) -> DeviceType:
    call_command("telemetry_import", str(folder), tenant=tenant.slug, stdout=StringIO())
    call_command("failures_import", str(folder), tenant=tenant.slug, stdout=StringIO())
    return DeviceType.objects.get(tenant=tenant, name="pump")


@pytest.fixture(scope="module")
def fleet_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lifetimes")
    return _fleet(root / "a", 11), _fleet(root / "b", 12)


def _failures(device: Device) -> pd.DataFrame:
    rows = list(
        Failure.objects.filter(device=device)
        .order_by("failed_at")
        .values_list("device_id", "failed_at", "repaired_at")
    )
    frame = pd.DataFrame(rows, columns=["device", "failed_at", "repaired_at"])
    frame["repaired_at"] = pd.to_datetime(frame["repaired_at"], utc=True)
    return frame


def _spy(model: lifetime.LifetimeModel, monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """The features the cycle predicts from (the cycle's model is the cached artefact)."""
    seen: list[pd.DataFrame] = []
    predict = model.predict

    def spy(features: pd.DataFrame) -> Any:
        seen.append(features)
        return predict(features)

    monkeypatch.setattr(model, "predict", spy)
    return seen


def _same_features(seen: list[pd.DataFrame], device: Device, expected: pd.DataFrame) -> None:
    """The cycle's features of the device's minute are the pure functions' (the trees of a
    boosted model would hide a small difference)."""
    rows = pd.concat(seen)
    row = rows[rows.index.get_level_values("device") == device.id].iloc[-1]
    want = expected.iloc[-1][row.index]
    assert row.index.equals(want.index) and len(row) >= 5
    assert row.to_numpy(dtype=float) == pytest.approx(
        want.to_numpy(dtype=float), rel=1e-9, nan_ok=True
    )
    seen.clear()


def _pure(model: lifetime.LifetimeModel, device: Device, minute: datetime) -> Any:
    """The pure functions' prediction at ``minute`` from the device's whole history up to it."""
    frame = minute_means(
        tenant_id=device.tenant_id,
        device_ids=[device.id],
        metrics=model.metrics,
        start=END - timedelta(days=DAYS + 1),
        end=minute + timedelta(minutes=1),
    )
    index = frame.index
    failures = _failures(device)
    failures.loc[failures["repaired_at"] > pd.Timestamp(minute), "repaired_at"] = pd.NaT
    lives = lifetime.lives_of(
        index.get_level_values("device"), index.get_level_values("minute"), failures
    )
    features = lifetime.life_features(frame, lives, model.coefficients, levels=model.levels)
    if model.library is not None:
        features = lifetime.with_projection(features, model.metrics, model.library)
    return model.predict(features.iloc[[-1]]), frame, features


def _stored(device: Device, minute: datetime) -> dict[str, float]:
    return dict(
        Reading.objects.filter(device=device, time=minute, metric__startswith="_rul").values_list(
            "metric", "value"
        )
    )


def _cycle(tenant: Tenant, minute: datetime) -> scoring.CycleResult:
    Device.objects.filter(tenant=tenant).update(last_seen=minute + timedelta(seconds=30))
    return scoring.scores_apply(tenant=tenant, minute=minute)


def _at(frame: pd.DataFrame, after: datetime) -> datetime:
    """The first minute with a reading at or after ``after``."""
    minutes = frame.index.get_level_values("minute")
    return minutes[minutes >= after][0].to_pydatetime()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_trained_on_runs_to_failure_the_cycle_predicts_as_the_pure_functions_do(
    tenant: Tenant,
    fleet_dirs: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    api_as: Any,
    viewer: Any,
) -> None:
    pump = _import(tenant, fleet_dirs[0])
    outcome = training.rul_train(tenant=tenant, device_type=pump, end=END)
    assert outcome.activated, outcome.message
    version = ModelVersion.objects.get(kind="rul", state=ModelState.ACTIVE)
    candidate, on_clock = version.algorithm.removesuffix(USE), version.algorithm.endswith(USE)
    assert candidate in lifetime.CANDIDATES
    failures = Failure.objects.filter(tenant=tenant, failed_at__lte=END).count()
    assert version.params["lives"] == failures  # every run to failure read whole
    assert version.metrics["held_out_lives"] >= 1
    # every candidate measured in wall hours and on the pumps' use clock
    assert set(version.metrics["candidates"]) == {
        name + clock for name in lifetime.CANDIDATES for clock in ("", USE)
    }
    assert 0.0 <= version.metrics["within_15"] <= 1.0 and version.metrics["rmse"] > 0
    model = artefacts.artefact_load(name=version.artefact, checksum=version.checksum)
    assert isinstance(model, lifetime.LifetimeModel) and model.name == candidate
    assert (model.clock is not None) == on_clock
    assert (
        model.bands is not None
        and list(model.bands.low) == version.metrics["interval_bands"]["low"]
    )

    # Find a device with a life longer than the minutes the cycle reads, then another after it.
    monkeypatch.setattr(lifetimes, "REFRESH_MINUTES", 1)  # every device due every minute
    span = timedelta(minutes=int(model.history_readings * lifetimes.READ_SLACK))
    chosen = None
    for device in Device.objects.filter(tenant=tenant).order_by("id"):
        repairs = list(Failure.objects.filter(device=device).order_by("failed_at"))
        _, frame, _ = _pure(model, device, END - timedelta(minutes=1))
        born = frame.index.get_level_values("minute")[0].to_pydatetime()
        first, after = repairs[0], repairs[1] if len(repairs) > 1 else None
        long_enough = first.failed_at - born > span + timedelta(hours=2)
        if long_enough and after is not None and first.repaired_at is not None:
            chosen = (device, born, first, after, frame)
            break
    assert chosen is not None, "no device with a long first life and a second one"
    device, born, first, after, frame = chosen

    # In the long life: the kept baseline, read from the life's first day.
    old = _at(frame, born + span + timedelta(minutes=30))
    expected, _, features = _pure(model, device, old)
    seen = _spy(model, monkeypatch)
    assert not _cycle(tenant, old).skipped
    _same_features(seen, device, features)
    stored = _stored(device, old)
    assert stored[scoring.RUL_KEY] == round(float(expected.point[0]), 2)
    assert stored[scoring.RUL_LOW_KEY] == round(float(expected.low[0]), 2)
    assert stored[scoring.RUL_HIGH_KEY] == round(float(expected.high[0]), 2)
    device.refresh_from_db()
    assert device.rul_hours == stored[scoring.RUL_KEY]
    state = DeviceLife.objects.get(device=device)
    assert (state.started_at, state.version_id) == (born, version.id)
    first_day = frame.iloc[: wear.BASELINE]
    zero = wear.life_baseline(
        first_day.to_numpy(),
        first_day.index.get_level_values("minute"),
        model.coefficients,
        levels=model.levels,
    )
    assert state.baseline == pytest.approx(list(zero), rel=1e-12)

    # Lives of several devices, each from its own start, read in one query: each zero is the
    # one its own first day gives.
    assert first.repaired_at is not None
    starts = {device.id: first.repaired_at}
    for other in Device.objects.filter(tenant=tenant).exclude(id=device.id):
        starts[other.id] = (
            Failure.objects.filter(device=other).order_by("failed_at").first() or first
        ).repaired_at or first.repaired_at
    zeros = lifetimes._first_days(tenant, starts, model)
    assert set(zeros) == set(starts) and len(set(starts.values())) > 1
    for device_id, start in starts.items():
        rows = minute_means(
            tenant_id=tenant.id,
            device_ids=[device_id],
            metrics=model.metrics,
            start=start,
            end=start + timedelta(minutes=lifetimes.FIRST_DAY_MINUTES),
        ).iloc[: wear.BASELINE]
        own = wear.life_baseline(
            rows.to_numpy(),
            rows.index.get_level_values("minute"),
            model.coefficients,
            levels=model.levels,
        )
        assert zeros[device_id] == pytest.approx(list(own), rel=1e-12)

    # After the repair, a day and a bit into the next life: a new life, a new zero.
    assert first.repaired_at is not None
    young = _at(frame, first.repaired_at + timedelta(minutes=1500))
    assert young < after.failed_at
    expected, _, features = _pure(model, device, young)
    seen.clear()  # the pure prediction's own
    _cycle(tenant, young)
    _same_features(seen, device, features)
    stored = _stored(device, young)
    assert stored[scoring.RUL_KEY] == round(float(expected.point[0]), 2)
    # The device's prediction gives what the cycle stored.
    body = api_as(viewer).get(f"/api/v1/devices/{device.id}/prediction").json()
    assert body["rul"] == {
        "hours": stored[scoring.RUL_KEY],
        "low": stored[scoring.RUL_LOW_KEY],
        "high": stored[scoring.RUL_HIGH_KEY],
    }
    state.refresh_from_db()
    assert state.started_at == first.repaired_at and state.updated_at == young
    assert state.baseline is not None and state.baseline != pytest.approx(list(zero))
    rows = frame[frame.index.get_level_values("minute") >= first.repaired_at].iloc[: wear.BASELINE]
    renewed = wear.life_baseline(
        rows.to_numpy(),
        rows.index.get_level_values("minute"),
        model.coefficients,
        levels=model.levels,
    )
    assert state.baseline == pytest.approx(list(renewed), rel=1e-12)

    # The same minute again writes nothing.
    counts = (Reading.objects.count(), DeviceLife.objects.count())
    before = list(DeviceLife.objects.values_list("device_id", "updated_at", "baseline"))
    assert _cycle(tenant, young).skipped
    assert counts == (Reading.objects.count(), DeviceLife.objects.count())
    assert before == list(DeviceLife.objects.values_list("device_id", "updated_at", "baseline"))
    assert ScoringCycle.objects.filter(tenant=tenant, minute=young).count() == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_another_tenant_s_failures_never_train_and_its_people_never_read_the_rul(
    tenant: Tenant,
    other_tenant: Tenant,
    fleet_dirs: tuple[Path, Path],
    api_as: Any,
    other_admin: Any,
    viewer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    theirs = _import(other_tenant, fleet_dirs[1])
    ours = _import(tenant, fleet_dirs[0])
    # Only two of our failures kept: not enough, however many the other tenant has.
    kept = Failure.objects.filter(tenant=tenant).order_by("failed_at")[:2]
    Failure.objects.filter(tenant=tenant).exclude(id__in=[f.id for f in kept]).delete()
    assert Failure.objects.filter(tenant=other_tenant).count() > 3
    with pytest.raises(training.NotEnoughData, match="2 recorded failures in the window"):
        training.rul_train(tenant=tenant, device_type=ours, end=END)
    assert not ModelVersion.objects.filter(tenant=tenant).exists()
    # Theirs trains on theirs alone and scores their devices, none of ours.
    outcome = training.rul_train(tenant=other_tenant, device_type=theirs, end=END)
    assert outcome.version is not None
    assert outcome.version.params["lives"] == Failure.objects.filter(tenant=other_tenant).count()
    monkeypatch.setattr(lifetimes, "REFRESH_MINUTES", 1)
    minute = END.replace(second=0) - timedelta(minutes=30)
    _cycle(tenant, minute)
    _cycle(other_tenant, minute)
    assert not Reading.objects.filter(tenant=tenant, metric=scoring.RUL_KEY).exists()
    assert not DeviceLife.objects.filter(tenant=tenant).exists()
    device = Device.objects.filter(tenant=other_tenant, life__isnull=False).first()
    assert device is not None and device.rul_hours is not None
    mine = api_as(other_admin).get(f"/api/v1/devices/{device.id}/prediction")
    assert mine.status_code == 200 and mine.json()["rul"]["hours"] == device.rul_hours
    assert api_as(viewer).get(f"/api/v1/devices/{device.id}/prediction").status_code == 404


def test_too_few_runs_read_whole_is_a_clear_message(db: None, tenant: Tenant) -> None:
    device = Device.objects.create(
        tenant=tenant,
        type=DeviceType.objects.create(tenant=tenant, name="pump", metrics={"t": {}}),
        name="P",
        serial="P-1",
    )
    rows = []
    for days in (100, 70):  # before the window, and between the first two failures
        start = END - timedelta(days=days)
        rows += [
            (start + timedelta(minutes=i), tenant.id, device.id, "t", float(i % 7))
            for i in range(300)
        ]
    write(rows)
    # Three failures in the window, but the life before the first began 100 days ago (its
    # first day unread) and the last one has no readings: one run to failure read whole.
    for days in (80, 60, 40):
        failed = END - timedelta(days=days)
        Failure.objects.create(
            tenant=tenant, device=device, failed_at=failed, repaired_at=failed + timedelta(hours=1)
        )
    with pytest.raises(training.NotEnoughData, match=r"^1 runs to failure read whole"):
        training.rul_train(tenant=tenant, device_type=device.type, end=END)
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_retrain_is_compared_on_the_runs_to_failure_the_active_never_saw(
    tenant: Tenant, fleet_dirs: tuple[Path, Path]
) -> None:
    pump = _import(tenant, fleet_dirs[0])
    earlier = END - timedelta(days=3)
    first = training.rul_train(tenant=tenant, device_type=pump, end=earlier)
    assert first.activated and first.version is not None
    # The same window again: no life ended since the active was trained, so nothing the
    # active did not see to compare on — it stays, however the candidate scores.
    again = training.rul_train(tenant=tenant, device_type=pump, end=earlier)
    assert again.version is not None and not again.activated
    change = again.version.changes.latest("at")
    assert change.reason.startswith(
        f"kept as candidate: no run to failure ended since active v{first.version.pk}"
    )
    active = ModelVersion.objects.get(tenant=tenant, kind="rul", state=ModelState.ACTIVE)
    assert active.pk == first.version.pk
    # Three days later some have: both are measured on those lives' last 20 % alone.
    since = Failure.objects.filter(tenant=tenant, failed_at__gt=earlier, failed_at__lte=END)
    assert since.exists()
    later = training.rul_train(tenant=tenant, device_type=pump, end=END)
    assert later.version is not None
    reason = later.version.changes.latest("at").reason
    assert f"on the last 20 % of the {since.count()} runs to failure ended since " in reason
    assert reason.startswith("activated: backtest rmse" if later.activated else "kept")
