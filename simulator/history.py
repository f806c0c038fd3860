"""Fast generation of long histories with ground truth, vectorised per device.

Output directory:

- ``readings.csv`` (and ``readings.parquet`` with ``--parquet``): ``ts,device,metric,value``,
  ``ts`` in milliseconds since the epoch (ThingsBoard's unit; formatting ISO times would cost
  more than generating the data), ``device`` the serial;
- ``devices.csv``: serial, type, name, location, failure mode;
- ``labels.csv``: every injected anomaly, outage and clock skew with its window
  (``anomalies.LABEL_COLUMNS``; the live runner writes the same);
- ``failures.csv``: when each device failed and was repaired (``anomalies.FAILURE_COLUMNS``);
- ``rul.csv``: the true remaining useful life at each reading time (``censored`` when the next
  failure lies beyond the generated range, so the figure is a lower bound);
- ``wear.json``: where each device's life stands at the end (``state.wear_save``), which a live
  run given this file in its state directory continues from.

Devices start new, or with ``in_service`` some way into their first life, as a plant's are
when it is first connected.

``manage.py telemetry_import DIR`` loads such a directory into a tenant.
"""

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.signal import lfilter

from . import anomalies, physics, state
from .anomalies import Event
from .fleet import DeviceSpec, Rates
from .state import MEAN_USE_RATE, WEAR_FILE, WearState, wear_save

CSV_OPTIONS = pacsv.WriteOptions(quoting_style="none", batch_size=1 << 16)
RUL_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()),
        ("device", pa.dictionary(pa.int32(), pa.string())),
        ("rul_seconds", pa.int64()),
        ("censored", pa.int8()),
    ]
)


@dataclass
class DeviceHistory:
    spec: DeviceSpec
    t: np.ndarray  # true times, seconds
    ts: np.ndarray  # reported times (clock skew applied), seconds
    reporting: np.ndarray  # bool: a reading was sent
    values: dict[str, np.ndarray]
    events: list[Event]
    failures: list[tuple[float, float]]  # (failed at, repaired at)
    rul: np.ndarray  # seconds to the next failure
    censored: np.ndarray  # bool: no failure before the end of the range
    ended: WearState  # where its life stands at the end of the range
    degradation: np.ndarray  # 0 (new) to 1 (failing) at each time


def _wander(rng: np.random.Generator, n: int, interval: float) -> np.ndarray:
    """A slow AR(1) load wander with a time constant of about two hours."""
    a = float(np.exp(-interval / 7200.0))
    return lfilter([np.sqrt(1 - a * a) * 0.12], [1, -a], rng.normal(size=n))


def simulate(
    spec: DeviceSpec,
    start: float,
    end: float,
    interval: float,
    rates: Rates,
    *,
    in_service: bool = False,
) -> DeviceHistory:
    """The device's history over [start, end): new at ``start``, or (``in_service``) already
    some way into its first life (``state.in_service``), as a plant's devices are when it is
    first connected."""
    rng = spec.rng(2)
    t = start + np.arange(int((end - start) // interval)) * interval
    n = len(t)
    wander = _wander(rng, n, interval)
    load = np.clip(physics.shift_load(t, spec.phase) + wander, 0.05, 1.0)
    use = np.cumsum((0.4 + load) * interval)

    # Lives: wear accumulates from the last repair; at the end of a life the device fails and
    # stays down for the repair time.
    degradation = np.zeros(n)
    life_start_index = np.zeros(n, dtype=np.int64)
    down = np.zeros(n, dtype=bool)
    failures: list[tuple[float, float]] = []
    life_use = spec.life_use
    used = state.in_service(spec) * life_use if in_service else 0.0  # before the first reading
    first_used = used
    i0, since = 0, np.zeros(0)
    while i0 < n:
        base = use[i0 - 1] if i0 else 0.0
        since = use[i0:] - base + used
        over = np.flatnonzero(since >= life_use)
        stop = i0 + (int(over[0]) if len(over) else n - i0)
        degradation[i0:stop] = (since[: stop - i0] / life_use) ** 1.6
        life_start_index[i0:stop] = i0
        if stop >= n:
            break
        failed_at = float(t[stop])
        repaired_at = failed_at + rates.repair_hours * 3600
        back = int(np.searchsorted(t, repaired_at))
        down[stop:back] = True
        failures.append((failed_at, repaired_at))
        life_use = spec.life_use * float(rng.lognormal(0.0, rates.life_spread / 2))
        used = 0.0
        i0 = back
    # Where the life under way stands at the end (a device down at the end: a new life begins).
    ended = WearState(use=0.0, life_use=life_use, age=0.0, wander=float(wander[-1]) if n else 0.0)
    if n and i0 < n:
        ended.use = float(since[-1])
        ended.age = end - float(t[i0]) + (first_used / MEAN_USE_RATE if i0 == 0 else 0.0)

    wear = physics.Wear.of(spec.failure_mode, np.clip(degradation, 0, 1))
    sags = (rng.random(n) < interval * physics.SAGS_PER_DAY / physics.DAY) * rng.uniform(1, 4, n)
    sag = lfilter([1.0], [1, -float(np.exp(-interval / physics.SAG_RECOVERY))], sags)
    first_age = first_used / MEAN_USE_RATE
    elapsed = t - t[life_start_index] + np.where(life_start_index == 0, first_age, 0.0)
    battery = physics.battery_level(
        elapsed, fade=wear.battery_fade, drain_per_day=spec.drain_per_day, sag=sag
    )
    values = physics.metrics(
        spec.kind, load=load, temp_air=physics.ambient(t), wear=wear, battery=battery, noise=rng
    )

    events = anomalies.on_grid(anomalies.schedule(spec, start, end, rates), t)
    anomalies.apply(events, values, t, device_kind=spec.kind, held={})
    reporting = ~down & anomalies.reporting(events, t)
    ts = anomalies.reported_times(events, t)

    next_failure = np.full(n, np.inf)
    for failed_at, _ in reversed(failures):
        next_failure[t <= failed_at] = failed_at
    censored = ~np.isfinite(next_failure)
    rul = np.where(censored, end - t, next_failure - t)
    return DeviceHistory(
        spec, t, ts, reporting, values, events, failures, rul, censored, ended, degradation
    )


def _table(history: DeviceHistory) -> pa.Table:
    keep = history.reporting
    ts_ms = np.round(history.ts[keep] * 1000).astype(np.int64)
    metrics = list(history.values)
    count = len(ts_ms)
    return pa.table(
        {
            "ts": pa.array(np.tile(ts_ms, len(metrics))),
            "device": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(count * len(metrics), dtype=np.int32)),
                pa.array([history.spec.serial]),
            ),
            "metric": pa.DictionaryArray.from_arrays(
                pa.array(np.repeat(np.arange(len(metrics), dtype=np.int32), count)),
                pa.array(metrics),
            ),
            "value": pa.array(
                np.round(np.concatenate([history.values[m][keep] for m in metrics]), 4)
            ),
        }
    )


def generate(
    fleet: list[DeviceSpec],
    out: Path,
    *,
    start: float,
    end: float,
    interval: float,
    rates: Rates,
    parquet: bool = False,
    in_service: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Write the fleet's history to ``out``; returns counts and the rate achieved."""
    worn: dict[str, WearState] = {}
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    points = 0
    schema = pa.schema(
        [
            ("ts", pa.int64()),
            ("device", pa.dictionary(pa.int32(), pa.string())),
            ("metric", pa.dictionary(pa.int32(), pa.string())),
            ("value", pa.float64()),
        ]
    )
    parquet_writer = None
    if parquet:
        import pyarrow.parquet as pq

        parquet_writer = pq.ParquetWriter(out / "readings.parquet", schema)
    with (
        pacsv.CSVWriter(out / "readings.csv", schema, write_options=CSV_OPTIONS) as writer,
        open(out / "labels.csv", "w", newline="") as labels_file,
        open(out / "failures.csv", "w", newline="") as failures_file,
        pacsv.CSVWriter(out / "rul.csv", RUL_SCHEMA, write_options=CSV_OPTIONS) as rul,
    ):
        labels = csv.writer(labels_file)
        labels.writerow(anomalies.LABEL_COLUMNS)
        failures = csv.writer(failures_file)
        failures.writerow(anomalies.FAILURE_COLUMNS)
        for done, spec in enumerate(fleet, 1):
            history = simulate(spec, start, end, interval, rates, in_service=in_service)
            worn[spec.serial] = history.ended
            table = _table(history)
            writer.write_table(table)
            if parquet_writer is not None:
                parquet_writer.write_table(table)
            points += table.num_rows
            labels.writerows(anomalies.label_row(spec.serial, e) for e in history.events)
            failures.writerows(
                anomalies.failure_row(spec.serial, spec.failure_mode, failed_at, repaired_at)
                for failed_at, repaired_at in history.failures
            )
            rul.write_table(
                pa.table(
                    {
                        "ts": pa.array(np.round(history.t * 1000).astype(np.int64)),
                        "device": pa.DictionaryArray.from_arrays(
                            pa.array(np.zeros(len(history.t), dtype=np.int32)),
                            pa.array([spec.serial]),
                        ),
                        "rul_seconds": pa.array(np.round(history.rul).astype(np.int64)),
                        "censored": pa.array(history.censored.astype(np.int8)),
                    },
                    schema=RUL_SCHEMA,
                )
            )
            if progress:
                progress(done, len(fleet))
    if parquet_writer is not None:
        parquet_writer.close()
    with open(out / "devices.csv", "w", newline="") as devices_file:
        devices = csv.writer(devices_file)
        devices.writerow(["serial", "type", "name", "location", "failure_mode"])
        for spec in fleet:
            devices.writerow([spec.serial, spec.kind, spec.name, spec.location, spec.failure_mode])
    if fleet:
        wear_save(out / WEAR_FILE, at=end, seed=fleet[0].seed, states=worn)
    seconds = time.perf_counter() - began
    return {
        "devices": len(fleet),
        "points": points,
        "seconds": seconds,
        "points_per_s": points / seconds if seconds else 0.0,
    }
