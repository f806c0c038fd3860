from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.ml import adaptive, smoothed
from analytics.ml.anomaly import confusion, t2q_fit

TRAIN_ROWS = 400  # SKAB's protocol: each experiment's first 400 readings are normal, for fitting
LABEL = "anomaly"
NOT_SIGNALS = (LABEL, "changepoint")
# The drift-following detector's candidates (adapt 0, window 1: the plain detector).
CANDIDATES = adaptive.grid(
    quantiles=(0.99, 0.995, 0.999), windows=(1, 10), adapts=(0.0, 0.001, 0.003)
)
# The smoothed detector's candidates (slow keep, alpha 1, hold 0: the plain detector).
SMOOTHED = smoothed.grid(
    slows=("keep", "difference", "drop"),
    quantiles=(0.95, 0.99, 0.995),
    alphas=(1.0, 0.3, 0.1, 0.03),
    holds=(0, 10, 30, 100),
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


def _names(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if c not in NOT_SIGNALS]


class _SmoothedFlags:
    """An experiment's alarms by candidate, the fit and scores shared by candidates that
    differ in their hold only."""

    def __init__(self, slow: list[int]) -> None:
        self.slow = slow
        self.excess: dict[tuple[str, str, float, float], np.ndarray] = {}

    def __call__(self, e: adaptive.Experiment, p: smoothed.SmoothedParams) -> np.ndarray:
        key = (e.name, p.slow, p.quantile, p.alpha)
        if key not in self.excess:
            model = smoothed.smoothed_fit(e.train, p, slow=self.slow)
            self.excess[key] = model.excess(e.scored) > 1.0
        return smoothed.hold(self.excess[key], p.hold)


def _line(result: dict[str, float]) -> str:
    return (
        f"F1 {result['f1']:.2f}  false-alarm rate {result['far']:.1%}  "
        f"missed-alarm rate {result['mar']:.1%}"
    )


class Command(BaseCommand):
    help = (
        "Evaluate anomaly detectors on SKAB by its outlier-detection protocol (each "
        "experiment's first 400 readings fit the model, the rest are scored): the PCA T²+Q "
        "detector, then two variants with parameters chosen by leave-one-group-out over the "
        "experiment groups (valve1, valve2, other): each group is scored with the parameters "
        "that did best on the others, and the out-of-fold F1, false- and missed-alarm rates "
        "are pooled. The variants: drift-following (the centre follows normal readings) and "
        "smoothed (T² and Q exponentially smoothed, alarms held, slow signals kept, "
        "differenced or dropped); the smoothed one's parameters chosen on every group are "
        "then tried on anomaly-free/anomaly-free.csv. "
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
        names: list[str] = []
        for path in files:
            frame = _experiment(path)
            signals = _signals(frame)
            names = names or _names(frame)
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

        folds, result, _ = adaptive.leave_group_out(experiments, CANDIDATES)
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
        slow = smoothed.slow_signals([e.train for e in experiments])
        slow_names = ", ".join(names[i] for i in slow) or "none"
        s_folds, s_result, s_flags = smoothed.leave_group_out(
            experiments, SMOOTHED, _SmoothedFlags(slow)
        )
        self.stdout.write(
            f"smoothed T²+Q: {len(SMOOTHED)} candidates (slow signals kept, differenced or "
            "dropped; limit quantile; weight of the newest reading in the exponentially "
            "weighted mean of T² and Q; readings an alarm is held); slow signals (median lag-1 "
            f"autocorrelation of the training readings above {smoothed.SLOW_AUTOCORRELATION:g}): "
            f"{slow_names}; parameters chosen by leave-one-group-out, best pooled F1 on the "
            "other groups:"
        )
        for s_fold in s_folds:
            self.stdout.write(
                f"  {s_fold.held_out:<12} chosen {s_fold.params.label()}  (F1 "
                f"{s_fold.train_f1:.2f} where chosen)  held out: {_line(s_fold.held_out_result)}"
            )
        self.stdout.write(
            f"smoothed T²+Q, out of fold ({len(files)} experiments): {_line(s_result)}"
        )
        overall = max(SMOOTHED, key=lambda p: adaptive.pooled(s_flags[p], experiments)["f1"])
        self.stdout.write(f"parameters for use (chosen on every group): {overall.label()}")
        normal = folder / "anomaly-free" / "anomaly-free.csv"
        if normal.is_file():
            readings = _signals(_experiment(normal, labelled=False))
            if readings.shape[1] != experiments[0].train.shape[1]:
                raise CommandError(
                    f"{normal}: {readings.shape[1]} signals, "
                    f"{experiments[0].name} has {experiments[0].train.shape[1]}"
                )
            alarms = smoothed.smoothed_fit(readings[:TRAIN_ROWS], overall, slow=slow).flags(
                readings[TRAIN_ROWS:]
            )
            self.stdout.write(
                f"anomaly-free.csv with those parameters: false-alarm rate {alarms.mean():.1%}"
            )
