from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.ml import adaptive
from analytics.ml.anomaly import confusion, t2q_fit

TRAIN_ROWS = 400  # SKAB's protocol: each experiment's first 400 readings are normal, for fitting
LABEL = "anomaly"
NOT_SIGNALS = (LABEL, "changepoint")
# The drift-following detector's candidates (adapt 0, window 1: the plain detector).
CANDIDATES = adaptive.grid(
    quantiles=(0.99, 0.995, 0.999), windows=(1, 10), adapts=(0.0, 0.001, 0.003)
)


def _experiment(path: Path, *, labelled: bool = True) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=";", index_col="datetime")
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise CommandError(f"{path}: not a SKAB file ({exc})") from None
    if labelled and LABEL not in frame.columns:
        raise CommandError(f"{path}: no '{LABEL}' column")
    if len(frame) <= TRAIN_ROWS:
        raise CommandError(f"{path}: {len(frame)} rows, the protocol needs more than {TRAIN_ROWS}")
    signals = frame.drop(columns=[c for c in NOT_SIGNALS if c in frame])
    if signals.shape[1] == 0:
        raise CommandError(f"{path}: no signal columns")
    numeric = signals.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        bad = [str(c) for c in signals.columns[numeric.isna().any()]]
        raise CommandError(f"{path}: non-numeric or missing values in {', '.join(bad)}")
    return frame


def _signals(frame: pd.DataFrame) -> np.ndarray:
    return frame.drop(columns=[c for c in NOT_SIGNALS if c in frame]).to_numpy(float)


def _line(result: dict[str, float]) -> str:
    return (
        f"F1 {result['f1']:.2f}  false-alarm rate {result['far']:.1%}  "
        f"missed-alarm rate {result['mar']:.1%}"
    )


class Command(BaseCommand):
    help = (
        "Evaluate anomaly detectors on SKAB by its outlier-detection protocol (each "
        "experiment's first 400 readings fit the model, the rest are scored): the PCA T²+Q "
        "detector, then its drift-following variant with parameters chosen by leave-one-group-"
        "out over the experiment groups (valve1, valve2, other): each group is scored with the "
        "parameters that did best on the others, and the out-of-fold F1 is pooled. "
        "manage.py evaluate_anomaly --skab ../shared/datasets/skab"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skab", required=True, type=Path, metavar="FOLDER")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["skab"]
        files = sorted(p for p in folder.glob("*/*.csv") if p.parent.name != "anomaly-free")
        if not files:
            raise CommandError(f"{folder}: no experiment files (<folder>/<group>/<n>.csv)")
        experiments: list[adaptive.Experiment] = []
        for path in files:
            frame = _experiment(path)
            signals = _signals(frame)
            if experiments and signals.shape[1] != experiments[0].train.shape[1]:
                raise CommandError(
                    f"{path}: {signals.shape[1]} signals, "
                    f"{experiments[0].name} has {experiments[0].train.shape[1]}"
                )
            experiments.append(
                adaptive.Experiment(
                    name=f"{path.parent.name}/{path.name}",
                    group=path.parent.name,
                    train=signals[:TRAIN_ROWS],
                    scored=signals[TRAIN_ROWS:],
                    labels=frame[LABEL].iloc[TRAIN_ROWS:].to_numpy() > 0,
                )
            )
        plain = confusion(
            np.concatenate([t2q_fit(e.train).flags(e.scored) for e in experiments]),
            np.concatenate([e.labels for e in experiments]),
        )
        self.stdout.write(f"SKAB ({len(files)} experiments): {_line(plain)}")

        folds, result, flags = adaptive.leave_group_out(experiments, CANDIDATES)
        self.stdout.write(
            f"drift-following T²+Q: {len(CANDIDATES)} candidates (limit quantile, score "
            "averaged over a window of readings, rate the centre follows normal readings); "
            "parameters chosen by leave-one-group-out, best pooled F1 on the other groups:"
        )
        for fold in folds:
            self.stdout.write(
                f"  {fold.held_out:<12} chosen {fold.params.label()}  (F1 {fold.train_f1:.2f} "
                f"where chosen)  held out: {_line(fold.held_out_result)}"
            )
        self.stdout.write(
            f"drift-following T²+Q, out of fold ({len(files)} experiments): {_line(result)}"
        )
        overall = max(CANDIDATES, key=lambda p: adaptive.pooled(flags[p], experiments)["f1"])
        self.stdout.write(f"parameters for use (chosen on every group): {overall.label()}")
        normal = folder / "anomaly-free" / "anomaly-free.csv"
        if normal.is_file():
            readings = _signals(_experiment(normal, labelled=False))
            alarms = adaptive.adaptive_fit(readings[:TRAIN_ROWS], overall).flags(
                readings[TRAIN_ROWS:]
            )
            self.stdout.write(
                f"anomaly-free.csv with those parameters: false-alarm rate {alarms.mean():.1%}"
            )
