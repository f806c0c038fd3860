from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.ml.anomaly import confusion, t2q_fit

TRAIN_ROWS = 400  # SKAB's protocol: each experiment's first 400 readings are normal, for fitting
LABEL = "anomaly"


def _experiment(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=";", index_col="datetime")
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise CommandError(f"{path}: not a SKAB file ({exc})") from None
    if LABEL not in frame.columns:
        raise CommandError(f"{path}: no '{LABEL}' column")
    if len(frame) <= TRAIN_ROWS:
        raise CommandError(f"{path}: {len(frame)} rows, the protocol needs more than {TRAIN_ROWS}")
    return frame


class Command(BaseCommand):
    help = (
        "Evaluate the PCA T²+Q anomaly detector on SKAB by its outlier-detection protocol: "
        "each experiment's first 400 readings fit the model, the rest are scored; F1, false- "
        "and missed-alarm rates over all experiments. "
        "manage.py evaluate_anomaly --skab ../shared/datasets/skab"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skab", required=True, type=Path, metavar="FOLDER")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["skab"]
        files = sorted(p for p in folder.glob("*/*.csv") if p.parent.name != "anomaly-free")
        if not files:
            raise CommandError(f"{folder}: no experiment files (<folder>/<group>/<n>.csv)")
        flags, labels = [], []
        for path in files:
            frame = _experiment(path)
            signals = frame.drop(columns=[c for c in (LABEL, "changepoint") if c in frame])
            model = t2q_fit(signals.iloc[:TRAIN_ROWS])
            flags.append(model.flags(signals.iloc[TRAIN_ROWS:]))
            labels.append(frame[LABEL].iloc[TRAIN_ROWS:].to_numpy() > 0)
        result = confusion(np.concatenate(flags), np.concatenate(labels))
        self.stdout.write(
            f"SKAB ({len(files)} experiments): F1 {result['f1']:.2f}  "
            f"false-alarm rate {result['far']:.1%}  missed-alarm rate {result['mar']:.1%}"
        )
