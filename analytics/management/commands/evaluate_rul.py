from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser
from threadpoolctl import threadpool_limits

from analytics.ml import cmapss, rul
from analytics.ml.features import FEATURE_SETS, window_features, window_only_columns

# The parameters the feature sets are compared with (then the parameters are chosen for the
# winning set): a quick, middling candidate.
FEATURE_PARAMS = rul.CANDIDATES[3]
FOLDS = 5


class Command(BaseCommand):
    help = (
        "Evaluate the remaining-useful-life model on NASA C-MAPSS (FD001 layout) by the "
        "published protocol: the feature set, then the parameters, chosen on 5 folds of "
        "held-out training units cut at random ages, the 80 % interval calibrated on those "
        "folds' errors (split-conformal), then RMSE, the PHM08 score and the interval's "
        "coverage at each test unit's last cycle (reported once). "
        "manage.py evaluate_rul --cmapss ../shared/datasets/cmapss"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cmapss", required=True, type=Path, metavar="FOLDER")
        parser.add_argument("--subset", default="FD001")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--folds", type=int, default=FOLDS, help="of training units (the protocol's: 5)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = cmapss.cmapss_load(options["cmapss"], options["subset"])
        except cmapss.DatasetError as exc:
            raise CommandError(str(exc)) from None
        with threadpool_limits(1):  # a shared machine: one core
            self._evaluate(data, options["seed"], max(2, options["folds"]))

    def _evaluate(self, data: cmapss.CMAPSS, seed: int, folds: int) -> None:
        signals = cmapss.SIGNALS
        life = data.train.groupby("unit")["cycle"].transform("max")

        def prepared(
            kwargs: dict[str, Any],
        ) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
            """The features, the capped target, the true cycles left and the unit of each row."""
            train = window_features(
                data.train, unit="unit", order="cycle", signals=signals, **kwargs
            )
            age, end = train["cycle"], life.loc[train.index]
            units = data.train.loc[train.index, "unit"]
            return train, rul.capped_rul(end, age), end - age, units

        self.stdout.write(
            f"Choosing on {folds} folds of training units (each cut at 10 random ages); "
            f"feature sets compared with {FEATURE_PARAMS}:"
        )
        best_set: tuple[float, str, dict[str, Any], list[str] | None] | None = None
        for name, kwargs, window_only in FEATURE_SETS:
            train, target, _, units = prepared(kwargs)
            columns = window_only_columns(train.columns, signals) if window_only else None
            cv = rul.cross_validate(
                train, target, units, FEATURE_PARAMS, columns=columns, folds=folds, seed=seed
            )
            width = len(columns) if columns is not None else train.shape[1]
            self.stdout.write(f"  features {name:<36} {width:4d} columns  fold RMSE {cv.rmse:6.2f}")
            if best_set is None or cv.rmse < best_set[0]:
                best_set = (cv.rmse, name, kwargs, columns)
        assert best_set is not None
        _, name, kwargs, columns = best_set
        self.stdout.write(f"chosen features: {name} {kwargs}")
        train, target, left, units = prepared(kwargs)
        tried = []
        for params in rul.CANDIDATES:
            cv = rul.cross_validate(
                train, target, units, params, actual=left, columns=columns, folds=folds, seed=seed
            )
            tried.append((cv.rmse, params, cv))
            self.stdout.write(f"validation RMSE {cv.rmse:6.2f}  {params}")
        _, best, cv = min(tried, key=lambda item: item[0])
        self.stdout.write(f"chosen on validation: {best}")
        bands = rul.conformal_bands(cv.point, cv.actual)
        low, high = bands.interval(cv.point)
        held = np.mean((np.clip(low, 0, None) <= cv.actual) & (cv.actual <= high))
        ranges = ", ".join(
            f"{lo:+.0f}/{hi:+.0f}" for lo, hi in zip(bands.low, bands.high, strict=True)
        )
        self.stdout.write(
            f"80 % interval, split-conformal on the {len(cv.point)} out-of-fold predictions: "
            f"offsets {ranges} cycles for predictions below {bands.edges[0]:g}, up to "
            f"{bands.edges[-1]:g}, above (holds {held:.0%} of them, by construction)"
        )
        model = rul.rul_fit(train, target, best, columns=columns, bands=bands)
        test = window_features(data.test, unit="unit", order="cycle", signals=signals, **kwargs)
        last = test.loc[data.test.loc[test.index].groupby("unit").tail(1).index]
        predicted = model.predict(last)
        actual = data.truth
        inside = np.mean((predicted.low <= actual) & (actual <= predicted.high))
        self.stdout.write(
            f"test ({len(actual)} units, last cycle): RMSE {rul.rmse(predicted.point, actual):.2f}"
            f"  PHM08 score {rul.phm08_score(predicted.point, actual):.1f}"
            f"  80 % interval holds {inside:.0%}"
        )
