"""The generated fleet histories the simulator evaluation reads: a history directory as
``python -m simulator history`` writes it (devices, labels, failures, RUL truth, readings as CSV
or Parquet), checked file by file and turned into one-minute frames; or a training and a
held-out history generated afresh from two seeds."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.core.management.base import CommandError

from analytics.ml import frames
from simulator.fleet import Rates, make_fleet
from simulator.history import generate

# The generated range ends at a fixed time, so the same seeds give the same figures.
END = 1_790_000_000.0
INTERVAL = 60.0

FILES = {
    "devices.csv": ("serial", "type"),
    "labels.csv": ("device", "kind", "start_ms", "end_ms"),
    "failures.csv": ("device", "failed_at_ms", "repaired_at_ms"),
    "rul.csv": ("ts", "device", "rul_seconds", "censored"),
    "readings": ("ts", "device", "metric", "value"),
}

MAY_BE_EMPTY = ("labels.csv", "failures.csv")  # a quiet fleet, a short range: just a header


@dataclass
class Fleet:
    name: str
    devices: pd.DataFrame  # indexed by serial: type, …
    labels: pd.DataFrame
    failures: pd.DataFrame
    minutes: pd.DataFrame  # frames.minute_means
    rul: pd.DataFrame  # frames.rul_at on minutes' index

    def types(self) -> np.ndarray:
        serials = self.minutes.index.get_level_values("device")
        return self.devices["type"].reindex(serials).to_numpy()


def _check(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CommandError(f"{path}: missing columns {', '.join(missing)}")
    if frame.empty and path.name not in MAY_BE_EMPTY:
        raise CommandError(f"{path}: no rows")
    return frame


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if name == "readings":
        parquet = folder / "readings.parquet"
        path = parquet if parquet.is_file() else folder / "readings.csv"
    if not path.is_file():
        raise CommandError(f"{path}: missing")
    if path.stat().st_size == 0:
        raise CommandError(f"{path}: empty")
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        elif name in ("readings", "rul.csv"):  # large: arrow's parallel reader
            table = pacsv.read_csv(path)
        else:
            return _check(path, pd.read_csv(path), FILES[name])
    except (pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise CommandError(f"{path}: not readable ({exc})") from None
    return _check(path, table.to_pandas(), FILES[name])


def load(folder: Path, name: str) -> Fleet:
    """A history directory as the simulator writes it, checked, as one-minute frames."""
    if not folder.is_dir():
        raise CommandError(f"{folder}: no such directory")
    devices = _read(folder, "devices.csv").astype({"serial": str}).set_index("serial")
    labels = _read(folder, "labels.csv")
    failures = _read(folder, "failures.csv")
    truth = _read(folder, "rul.csv")
    readings = _read(folder, "readings")
    for column in ("ts", "value"):
        if not pd.api.types.is_numeric_dtype(readings[column]):
            raise CommandError(f"{folder}: readings' {column} column is not numeric")
    minutes = frames.minute_means(readings)
    unknown = set(minutes.index.get_level_values("device")) - set(devices.index)
    if unknown:
        raise CommandError(
            f"{folder / 'devices.csv'}: no row for {len(unknown)} devices with readings "
            f"(e.g. {sorted(unknown)[0]})"
        )
    return Fleet(
        name=name,
        devices=devices,
        labels=labels,
        failures=failures,
        minutes=minutes,
        rul=frames.rul_at(truth, minutes.index),
    )


@contextmanager
def histories(options: dict[str, Any]) -> Iterator[tuple[Path, Path]]:
    """The two directories given, or a training and a held-out history generated afresh."""
    if options["train"] or options["holdout"]:
        if not (options["train"] and options["holdout"]):
            raise CommandError("--train and --holdout go together")
        yield options["train"], options["holdout"]
        return
    if options["seed"] == options["holdout_seed"]:
        raise CommandError("--holdout-seed must differ from --seed: a held-out fleet")
    rates = Rates()
    with tempfile.TemporaryDirectory(prefix="evaluate_simulator-") as directory:
        paths = []
        for name, seed in (("train", options["seed"]), ("holdout", options["holdout_seed"])):
            path = Path(directory) / name
            generate(
                make_fleet(options["devices"], seed, rates),
                path,
                start=END - options["days"] * 86_400,
                end=END,
                interval=INTERVAL,
                rates=rates,
                parquet=True,
            )
            paths.append(path)
        yield paths[0], paths[1]
