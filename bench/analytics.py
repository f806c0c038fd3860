"""Analytics benchmark: one apply cycle for a 10,000-device fleet, and a retrain of one tenant's
device type on 30 days of 1-minute features, each beside the same model calls on in-memory
arrays (the ratio is the platform's overhead: reading the rollups, storing, publishing).

    .venv/bin/python bench/analytics.py [--devices 10000] [--train-devices 12] [--days 30]
                                        [--profile]  (the top of a cProfile of each, to stderr)

1. A scratch database (``iot_bench_analytics``) gets a tenant with ``--devices`` pumps, each
   with the last hour of one-minute readings of four metrics (the forecasts' and rules'
   window), and ``--train-devices`` of them with ``--days`` of one-minute history: normal
   operation with a wear creep before each of several recorded failures (so the RUL trainer
   has runs to failure); the thirtieth of the fleet whose residual fits are renewed in the
   timed minute with the two days that refit reads, and the sixtieth whose RUL is refreshed
   with the two days and a tenth a refresh reads at most (a life begun four days before, its
   first-day zero kept). Written through the real ingest writer (rollups included). After
   training, every device gets a kept residual fit.
2. Retrain (anomaly, RUL, clusters) of the pump type, timed, then the same model fitting on the
   in-memory frame the trainers read (baseline).
3. One apply cycle over the fleet (``scoring.scores_apply``), timed (its peak memory measured
   on the minute before, under tracemalloc, which would slow the timed one), then
   the baseline: the same scoring calls (anomaly score and its drivers, each device's residual
   against its kept fit, health, the rule detectors, for the tenth of the fleet due the
   forecasts of limited metrics, for the sixtieth due the lifetime features + RUL prediction,
   for the thirtieth due the residual refits) on in-memory arrays of the same shape.
"""

import argparse
import subprocess
import sys

from common import BIN, ROOT, django_env, dotenv, scratch_database

TARGET_APPLY_S = 30.0
TARGET_RETRAIN_S = 120.0

CODE = r"""
import django, cProfile, pstats, resource, sys, time, tracemalloc; django.setup()
from datetime import UTC, datetime, timedelta
import numpy as np, pandas as pd
from django.db import connection
from analytics import baselines, forecasting, lifetimes, registry, rul_training, rules, scoring
from analytics import training
from django.conf import settings
from threadpoolctl import threadpool_limits
from analytics.ml import anomaly as anomaly_ml, health as health_ml
from analytics.ml import clusters as clusters_ml, detectors as detectors_ml, lifetime, residuals
from analytics.ml import lifetime_choice, wear as wear_ml
from analytics.models import DeviceBaseline, DeviceLife, Failure
from devices.models import Device, DeviceStatus
from devices.services import device_types_install_catalog
from iotplatform.tenancy.services import tenant_create
from telemetry.ingest.writer import write_sync
from telemetry.windows import minute_means

DEVICES, TRAIN, DAYS, PROFILE = {devices}, {train_devices}, {days}, {profile}

def profiled(call):
    if not PROFILE:
        return call()
    profile = cProfile.Profile()
    out = profile.runcall(call)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    return out
METRICS = {{"temperature": (60, 1.0), "vibration": (2.0, 0.1), "pressure": (50, 1.5),
           "current": (12, 0.4)}}
threadpool_limits(settings.ANALYTICS_THREADS)  # the worker's limit, for platform and baseline alike
tenant = tenant_create(slug="bench", name="Bench")
pump = {{t.name: t for t in device_types_install_catalog(tenant=tenant)}}["pump"]
Device.objects.bulk_create([
    Device(tenant=tenant, type=pump, name=f"Pump {{i}}", serial=f"P-{{i:05d}}",
           status=DeviceStatus.HEALTHY) for i in range(DEVICES)])
ids = list(Device.objects.filter(tenant=tenant).order_by("id").values_list("id", flat=True))
minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
rng = np.random.default_rng(0)
connection.ensure_connection()
pg = connection.connection

def write(rows):
    with pg.transaction():
        write_sync(pg, rows)

began = time.perf_counter()
# Training history: DAYS of minutes for TRAIN devices, lives of ~8 days ending in failures.
minutes = DAYS * 1440
life = 8 * 1440
start = minute - timedelta(minutes=minutes + 60)
failures = []
for k, device in enumerate(ids[:TRAIN]):
    offset = int(rng.integers(0, life))
    age = (np.arange(minutes) + offset) % life
    wear = np.clip((age - 0.6 * life) / (0.4 * life), 0, None) ** 2
    load = rng.normal(size=minutes)
    times = [start + timedelta(minutes=i) for i in range(minutes)]
    rows = []
    for metric, (mean, spread) in METRICS.items():
        drift = {{"temperature": 25, "vibration": 2.0}}.get(metric, 0) * wear
        values = mean + spread * (0.8 * load + 0.6 * rng.normal(size=minutes)) + drift
        rows += [(t, tenant.id, device, metric, float(v)) for t, v in zip(times, values)]
    for first in range(0, len(rows), 200_000):
        write(rows[first:first + 200_000])
    for i in np.flatnonzero(age == life - 1):
        at = times[i] + timedelta(minutes=1)
        failures.append(Failure(tenant=tenant, device_id=device, failed_at=at, repaired_at=at))
Failure.objects.bulk_create(failures)
# The fleet's last hour (the apply cycle's window); two days for the devices whose residual
# fits are renewed in the timed minute, and the minutes a RUL refresh reads (at most: a wear
# candidate's two days and a tenth) for those whose RUL is, their lives begun four days ago.
refit = [i for i in ids if baselines.refit_due(i, minute)]
rul_due = [i for i in ids[TRAIN:] if lifetimes.refresh_due(i, minute)]
RUL_SPAN = int(2 * wear_ml.BASELINE * lifetimes.READ_SLACK) + 1
repaired = minute - timedelta(days=4)
Failure.objects.bulk_create([
    Failure(tenant=tenant, device_id=i, failed_at=repaired - timedelta(hours=1),
            repaired_at=repaired) for i in rul_due])
batch = []
for device in ids[TRAIN:]:
    n = baselines.REFIT_HISTORY_MINUTES + 1 if baselines.refit_due(device, minute) else 60
    n = max(n, RUL_SPAN if device in rul_due else 0)
    load = rng.normal(size=n)
    for metric, (mean, spread) in METRICS.items():
        values = mean + spread * (0.8 * load + 0.6 * rng.normal(size=n))
        batch += [(minute - timedelta(minutes=n - 1 - i), tenant.id, device, metric,
                   float(values[i])) for i in range(n)]
    if len(batch) > 200_000:
        write(batch); batch = []
write(batch)
Device.objects.filter(tenant=tenant).update(last_seen=minute + timedelta(seconds=30))
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
loaded = time.perf_counter() - began
print(f"loaded {{len(failures)}} failures and the fleet's readings in {{loaded:.0f}} s", flush=True)

# --- retrain ---
end = minute + timedelta(minutes=1)
began = time.perf_counter()
outcomes = {{}}
frames = training.Frames()  # as a training run does: one read serves its three trainers
for kind, trainer in training.TRAINERS.items():
    t0 = time.perf_counter()
    outcome = profiled(lambda: trainer(tenant=tenant, device_type=pump, end=end, frames=frames))
    outcomes[kind] = (outcome, time.perf_counter() - t0)
retrain = time.perf_counter() - began
for kind, (outcome, seconds) in outcomes.items():
    print(f"  retrain {{kind:8s}} {{seconds:6.1f}} s  {{outcome.message}}", flush=True)

# Baseline: the same fitting on the in-memory frame.
frame = minute_means(tenant_id=tenant.id, device_ids=ids[:TRAIN], metrics=sorted(METRICS),
                     start=end - timedelta(days=DAYS), end=end)
week = minute_means(tenant_id=tenant.id, device_ids=ids, metrics=sorted(METRICS),
                    start=end - timedelta(days=training.CLUSTER_DAYS), end=end)
rul_frame = minute_means(tenant_id=tenant.id, device_ids=ids[:TRAIN], metrics=sorted(METRICS),
                         start=end - timedelta(days=rul_training.RUL_TRAIN_DAYS), end=end)
t0 = time.perf_counter()
normal = frame.dropna().sort_index(level="minute", kind="stable")
anomaly_ml.anomaly_choose(normal, holdout_share=training.HOLDOUT_SHARE, seed=0)
known = pd.DataFrame([(f.device_id, f.failed_at, f.repaired_at) for f in failures],
                     columns=["device", "failed_at", "repaired_at"])
lives = lifetime.lives_of(rul_frame.index.get_level_values("device"),
                          rul_frame.index.get_level_values("minute"), known)
lifetime_choice.lifetime_train(rul_frame, lives, end_h=lifetime.hours_of(end))
stats = clusters_ml.window_stats(week.dropna().reset_index(), unit="device", time="minute",
                                 signals=sorted(METRICS), rows=training.CLUSTER_WINDOW_MINUTES)
clusters_ml.behaviour_clusters(stats)
baseline_retrain = time.perf_counter() - t0
print(f"RESULT retrain {{retrain:.1f}} {{baseline_retrain:.1f}}", flush=True)

# Every device's kept residual fit, as the cycle leaves them (the first training device's).
anomaly = registry.active_model(tenant=tenant, device_type=pump, kind="anomaly")
model = anomaly.artefact
kept = baselines.baselines_refit(tenant=tenant, device_ids=ids[:1], signals=model.signals,
                                 centre=model.mean, scale=model.scale, ignore={{}},
                                 minute=minute)[0]
DeviceBaseline.objects.bulk_create([
    DeviceBaseline(device_id=i, tenant=tenant, fitted_at=minute - timedelta(minutes=2),
                   rows=kept.rows, signals=kept.signals, fit=kept.fit) for i in ids])
# The RUL-due devices' lives as the cycle keeps them (their first day's zero found long ago).
rul = registry.active_model(tenant=tenant, device_type=pump, kind="rul")
if rul is not None:
    DeviceLife.objects.bulk_create([
        DeviceLife(device_id=i, tenant=tenant, started_at=repaired, version=rul.version,
                   signals=rul.artefact.metrics, baseline=[0.0] * len(rul.artefact.metrics),
                   updated_at=minute - timedelta(hours=1)) for i in rul_due])

# --- apply ---
# The minute before first, under tracemalloc for the peak memory (it slows allocation, so that
# run is not the one timed); then the minute itself, timed.
tracemalloc.start()
scoring.scores_apply(tenant=tenant, minute=minute - timedelta(minutes=1))
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
scoring_began = time.perf_counter()
result = profiled(lambda: scoring.scores_apply(tenant=tenant, minute=minute))
apply_s = time.perf_counter() - scoring_began
print(f"  apply {{apply_s:.1f}} s for {{result.devices}} devices", flush=True)

# Baseline: the same calls on in-memory arrays of the fleet's shape.
window = minute_means(tenant_id=tenant.id, device_ids=ids, metrics=sorted(METRICS),
                      start=minute - timedelta(minutes=rules.FORECAST_HISTORY_MINUTES - 1),
                      end=minute + timedelta(minutes=1))
due = [i for i in ids if scoring.forecast_due(int(i), minute)]  # as the cycle does
if rul is not None:
    span = timedelta(minutes=int(rul.artefact.history_readings * lifetimes.READ_SLACK))
    rul_history = minute_means(tenant_id=tenant.id, device_ids=rul_due,
                               metrics=rul.artefact.metrics, start=minute - span,
                               end=minute + timedelta(minutes=1))
limits = rules.limits(list(Device.objects.filter(id__in=due).select_related("type")))
history = minute_means(tenant_id=tenant.id, device_ids=refit, metrics=model.signals,
                       start=minute - timedelta(minutes=baselines.REFIT_HISTORY_MINUTES),
                       end=minute)
fits = [residuals.ResidualFit.from_json(b.fit) for b in DeviceBaseline.objects.order_by("device")]
t0 = time.perf_counter()
latest = window[window.index.get_level_values("minute") == minute].droplevel("minute")
complete = latest[anomaly.artefact.signals].dropna()
anomaly.artefact.score(complete)
scoring._deviation_shares(anomaly.artefact, complete.to_numpy(float))  # the drivers
residuals.residual_latest(complete.to_numpy(float), [minute] * len(complete), fits[:len(complete)],
                          centre=model.mean, scale=model.scale)
for _, own in history.groupby(level="device", sort=False):
    values = own.to_numpy(float)
    stuck = np.zeros(len(own), dtype=bool)
    for j in range(values.shape[1]):
        stuck |= detectors_ml.stuck_runs(values[:, j], 2) > 0
    residuals.residual_fit(values, own.index.get_level_values("minute"), centre=model.mean,
                           scale=model.scale, exclude=stuck)
forecasting.crossings(window[window.index.get_level_values("device").isin(due)], limits,
                      minute=minute, history_minutes=rules.FORECAST_HISTORY_MINUTES,
                      hours=rules.FORECAST_HOURS)
if rul is not None:
    model_rul = rul.artefact
    codes = pd.factorize(rul_history.index.get_level_values("device"))[0]
    born = np.full(len(codes), lifetime.hours_of(repaired))
    rul_lives = lifetime.Lives(codes.astype(np.int64), born, np.full(len(codes), np.nan),
                               wear_ml.epoch_hours(rul_history.index.get_level_values("minute")))
    f = lifetime.life_features(rul_history, rul_lives, model_rul.coefficients,
                               base=np.zeros((len(codes), model_rul.baseline_size)),
                               at=np.flatnonzero(np.r_[codes[1:] != codes[:-1], True]),
                               **model_rul.parts)
    model_rul.predict(f)
health_ml.health_rules(latest, {{i: {{}} for i in latest.index}}, battery_drop=None)
recent = window[window.index.get_level_values("minute")
                >= minute - timedelta(minutes=rules.context_minutes(pump))]
detectors_ml.latest_flags(recent, {{}}, window=pump.zscore_window,
                          threshold=pump.zscore_threshold,
                          min_periods=rules.zscore_min_periods(pump))
baseline_apply = time.perf_counter() - t0

print(f"RESULT apply {{apply_s:.1f}} {{baseline_apply:.2f}} {{result.devices}} {{result.flagged}} "
      f"{{peak / 2**20:.0f}}", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--train-devices", type=int, default=12)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="cProfile each, to stderr")
    args = parser.parse_args()
    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"),
        "iot_bench_analytics",
    )
    env = django_env(database_url, MODEL_STORAGE_DIR=str(ROOT / ".models-bench"))
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env
    )
    code = CODE.format(
        devices=args.devices, train_devices=args.train_devices, days=args.days, profile=args.profile
    )
    figures = {}
    with subprocess.Popen(
        [str(BIN / "python"), "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("RESULT "):
                name, *values = line.split()[1:]
                figures[name] = [float(v) for v in values]
            print(line, end="", flush=True)
    if child.returncode:
        sys.exit(child.returncode)
    retrain, base_retrain = figures["retrain"]
    apply_s, base_apply, devices, flagged, peak = figures["apply"]
    print(
        f"retrain one device type, {args.train_devices} devices x {args.days} days of minutes: "
        f"{retrain:.1f} s (target {TARGET_RETRAIN_S:.0f} s); the same fits in memory "
        f"{base_retrain:.1f} s, ratio {retrain / base_retrain:.2f}"
    )
    print(
        f"apply one minute, {devices:.0f} devices ({flagged:.0f} flagged): {apply_s:.1f} s "
        f"(target {TARGET_APPLY_S:.0f} s), peak Python memory {peak:.0f} MiB; the same model "
        f"calls on in-memory arrays {base_apply:.2f} s, ratio {apply_s / base_apply:.1f}"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
