from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.ml import cmapss, rul
from analytics.ml.features import window_features


class Command(BaseCommand):
    help = (
        "Evaluate the remaining-useful-life model on NASA C-MAPSS (FD001 layout) by the "
        "published protocol: parameters chosen on held-out training units, then RMSE and the "
        "PHM08 score at each test unit's last cycle (reported once). "
        "manage.py evaluate_rul --cmapss ../shared/datasets/cmapss"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cmapss", required=True, type=Path, metavar="FOLDER")
        parser.add_argument("--subset", default="FD001")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = cmapss.cmapss_load(options["cmapss"], options["subset"])
        except cmapss.DatasetError as exc:
            raise CommandError(str(exc)) from None
        signals = cmapss.SIGNALS
        train = window_features(data.train, unit="unit", order="cycle", signals=signals)
        life = data.train.groupby("unit")["cycle"].transform("max")
        target = rul.capped_rul(life.loc[train.index], train["cycle"])
        units = data.train.loc[train.index, "unit"]
        best, tried = rul.choose_params(train, target, units, seed=options["seed"])
        for params, score in tried:
            self.stdout.write(f"validation RMSE {score:6.2f}  {params}")
        self.stdout.write(f"chosen on validation: {best}")
        model = rul.rul_fit(train, target, best)
        test = window_features(data.test, unit="unit", order="cycle", signals=signals)
        last = test.loc[data.test.loc[test.index].groupby("unit").tail(1).index]
        predicted = model.predict(last)
        actual = data.truth
        inside = np.mean((predicted.low <= actual) & (actual <= predicted.high))
        self.stdout.write(
            f"test ({len(actual)} units, last cycle): RMSE {rul.rmse(predicted.point, actual):.2f}"
            f"  PHM08 score {rul.phm08_score(predicted.point, actual):.1f}"
            f"  80 % interval holds {inside:.0%}"
        )
