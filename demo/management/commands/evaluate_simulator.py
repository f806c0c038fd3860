import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics import lifetimes
from analytics.ml import detectors, frames, lifetime, lifetime_choice, residuals, rul, wear
from analytics.ml.anomaly import confusion
from demo import cycle_evaluation
from demo.fleet_history import Fleet, histories, load
from simulator import anomalies

# Devices are new at the start and wear out in about 30 days (Rates.mean_life_days, lognormal
# spread 0.35, use rate about 1 a second): 90 days hold two or three failures a device, and 50
# devices give every type several (the rarest, 10 % of the fleet, about five) and every failure
# mode some lives: 25 held one seal-leak pump.
DAYS = 90.0
DEVICES = 50

VALUE_KINDS = anomalies.KINDS  # outages and clock skews leave every value right
THRESHOLDS = (4.0, 5.0, 6.0, 8.0, 10.0)  # |z| of a residual against the device's own fit
STUCK = (2, 3)  # readings of one value in a row
HOLDS = (1, 2, 3)  # a flag held this many minutes (1: as detected)
SATURATED = 0.001  # a value repeated in more of normal operation's minutes is a range's end
VALIDATION_SHARE = 0.3  # the last 30 % of the training fleet's range chooses the parameters

TOLERANCE = lifetime.TOLERANCE
# A failure's RUL figures: its type, its number, each minute's prediction, the truth, and what
# the apply cycle shows at that minute.
Life = tuple[str, float, np.ndarray, np.ndarray, np.ndarray]

# --- anomaly -------------------------------------------------------------------------------


@dataclass
class Detector:
    """A type's detector: each metric's residual against the device's own recent fit
    (``residuals.residual_scores``) beyond ``threshold``, or a value stuck for ``stuck``
    readings (``detectors.stuck_runs``; values in ``ignore``, a metric's saturated ends, never
    count), either one's flag held ``hold`` minutes."""

    metrics: list[str]
    centre: np.ndarray
    scale: np.ndarray
    ignore: dict[str, list[float]]
    threshold: float
    stuck: int
    hold: int

    def scores(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The largest |z| of each row (NaN-free) and its longest run of a repeated value (0:
        none), device by device."""
        z = np.zeros(len(x))
        runs = np.zeros(len(x), dtype=np.int64)
        device = x.index.get_level_values("device")
        minute = x.index.get_level_values("minute")
        values = x[self.metrics].to_numpy(dtype=float)
        codes, _ = pd.factorize(device)
        bounds = np.searchsorted(codes, np.arange(codes.max() + 2)) if len(x) else [0]
        for lo, hi in itertools.pairwise(bounds):
            own = values[lo:hi]
            run = np.zeros(hi - lo, dtype=np.int64)
            for j, metric in enumerate(self.metrics):
                run = np.maximum(run, detectors.stuck_runs(own[:, j], 2, self.ignore[metric]))
            scores = residuals.residual_scores(
                own,
                minute[lo:hi],
                centre=self.centre,
                scale=self.scale,
                exclude=run > 0,
            )
            z[lo:hi] = np.nan_to_num(np.abs(scores), nan=0.0).max(axis=1)
            runs[lo:hi] = run
        return z, runs

    def flags(
        self, x: pd.DataFrame, scores: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        z, runs = scores if scores is not None else self.scores(x)
        raw = (z > self.threshold) | (runs >= self.stuck)
        return detectors.held(raw, x.index.get_level_values("device").to_numpy(), self.hold)


def _normal(fleet: Fleet, rows: np.ndarray) -> np.ndarray:
    """Minutes fit to learn normal operation from: complete, outside every labelled window
    (anomalies, outages, clock skews)."""
    inside = frames.labelled_minutes(fleet.labels, fleet.minutes.index).to_numpy()
    return rows & ~inside


def _detector(
    x: pd.DataFrame, normal: np.ndarray, threshold: float, stuck: int, hold: int
) -> Detector:
    data = x[normal].to_numpy(dtype=float)
    return Detector(
        list(x.columns),
        np.nanmean(data, axis=0),
        np.nanstd(data, axis=0),
        detectors.saturated_values(x, normal, share=SATURATED),
        threshold,
        stuck,
        hold,
    )


def detector_fit(fleet: Fleet, kind: str) -> tuple[Detector, float]:
    """Threshold, stuck run and hold chosen on the training fleet's last 30 % (the type's
    centre, scale and saturated values from the rest; each device's fits are its own, on its
    previous readings), then the type's figures taken from all of it. Returns the detector and
    its validation F1."""
    x = fleet.minutes[fleet.types() == kind].dropna(axis=1, how="all")
    complete = x.notna().all(axis=1).to_numpy()
    minute = x.index.get_level_values("minute")
    cut = minute.min() + (minute.max() - minute.min()) * (1 - VALIDATION_SHARE)
    early = np.asarray(minute < cut)
    sub = Fleet(fleet.name, fleet.devices, fleet.labels, fleet.failures, x, fleet.rul)
    normal = _normal(sub, complete)
    truth = frames.labelled_minutes(fleet.labels, x.index, kinds=VALUE_KINDS).to_numpy()
    late = ~early & complete
    base = _detector(x, normal & early, THRESHOLDS[0], STUCK[0], HOLDS[0])
    scores = base.scores(x)
    results = []
    for threshold in THRESHOLDS:
        for stuck in STUCK:
            for hold in HOLDS:
                detector = replace(base, threshold=threshold, stuck=stuck, hold=hold)
                flags = detector.flags(x, scores)
                results.append((confusion(flags[late], truth[late])["f1"], threshold, stuck, hold))
    f1, threshold, stuck, hold = max(results, key=lambda r: r[0])
    return _detector(x, normal, threshold, stuck, hold), f1


# --- remaining useful life ------------------------------------------------------------------
# The platform's code path (``analytics.ml.lifetime``): lives from the recorded failures, the
# new-device fit, features, the candidates chosen on the training fleet's last 30 %.


def fleet_failures(fleet: Fleet) -> pd.DataFrame:
    """The fleet's failures as the platform records them (``Failure``: device, failed_at,
    repaired_at; NaT: not repaired)."""
    f = fleet.failures
    repaired = pd.to_numeric(f["repaired_at_ms"], errors="coerce")
    return pd.DataFrame(
        {
            "device": f["device"].astype(str).to_numpy(),
            "failed_at": pd.to_datetime(f["failed_at_ms"].astype("int64"), unit="ms", utc=True),
            "repaired_at": pd.to_datetime(repaired, unit="ms", utc=True),
        }
    )


def type_lives(fleet: Fleet, kind: str, metrics: list[str]) -> tuple[pd.DataFrame, lifetime.Lives]:
    """One type's minutes and their lives (each device's first minute, then each repair)."""
    x = fleet.minutes.loc[fleet.types() == kind, metrics]
    index = x.index
    lives = lifetime.lives_of(
        index.get_level_values("device"), index.get_level_values("minute"), fleet_failures(fleet)
    )
    return x, lives


def last_of_lives(fleet: Fleet, rows: pd.MultiIndex) -> pd.Series:
    """For each failure, the minutes of ``rows`` in the last 20 % of its life (from the
    device's first minute or its last repair to the failure): the failure's number per row,
    -1 elsewhere."""
    out = np.full(len(rows), -1, dtype=np.int64)
    device = rows.get_level_values("device").astype(str).to_numpy()
    minute = rows.get_level_values("minute")
    failures = fleet.failures.reset_index(drop=True)
    born = {
        d: m.min()
        for d, m in pd.Series(minute, index=device).groupby(level=0)  # first minute
    }
    previous: dict[str, pd.Timestamp] = {}
    order = failures.sort_values(["device", "failed_at_ms"]).index
    for number in order:
        row = failures.loc[number]
        serial = str(row["device"])
        failed = pd.Timestamp(int(row["failed_at_ms"]), unit="ms", tz="UTC")
        start = previous.get(serial, born.get(serial))
        if pd.notna(row["repaired_at_ms"]) and str(row["repaired_at_ms"]) != "":
            previous[serial] = pd.Timestamp(int(float(row["repaired_at_ms"])), unit="ms", tz="UTC")
        if start is None:
            continue
        begin = failed - (failed - start) * lifetime.LAST_SHARE
        out[(device == serial) & np.asarray(minute >= begin) & np.asarray(minute < failed)] = number
    return pd.Series(out, index=rows)


def rul_train(fleet: Fleet, kind: str, metrics: list[str]) -> tuple[lifetime.LifetimeModel, Any]:
    """The type's RUL model as the platform trains it (``analytics.training.rul_train`` on the
    same pure functions): the new-device fit, the features, the candidate chosen on the last
    30 %, then fitted on all of it. Returns the model and the choice."""
    x, lives = type_lives(fleet, kind, metrics)
    end_h = float(np.nanmax(lives.now_h))
    trained = lifetime_choice.lifetime_train(x, lives, end_h=end_h, require_held_out=False)
    model, choice = trained.model, trained.choice
    return model, choice


def as_shown(
    features: pd.DataFrame,
    rows: np.ndarray,
    predict: Callable[[pd.DataFrame], np.ndarray],
    knee: float,
) -> np.ndarray:
    """At each of ``rows`` (a mask over ``features``, index device, minute), what the apply cycle
    shows: the prediction at the device's last refresh (``lifetimes.refresh_due``, the devices
    numbered in order), kept until the next; the knee before the first."""
    index = features.index
    codes = pd.factorize(index.get_level_values("device"))[0]
    minutes = index.get_level_values("minute").as_unit("ns").asi8 // 60_000_000_000
    every = lifetimes.REFRESH_MINUTES
    due = minutes % every == codes % every
    last = pd.Series(np.where(due, np.arange(len(index)), np.nan)).groupby(codes).ffill()
    source = last.to_numpy()[rows]
    out = np.full(len(source), knee)
    known = np.isfinite(source)
    wanted = np.unique(source[known]).astype(np.int64)
    predicted = pd.Series(predict(features.iloc[wanted]), index=wanted)
    out[known] = predicted.loc[source[known].astype(np.int64)].to_numpy()
    return out


# --- the command ---------------------------------------------------------------------------


def _share(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.0%}"


def _figure(x: float, fmt: str = "{:.2f}") -> str:
    return "-" if np.isnan(x) else fmt.format(x)


class Command(BaseCommand):
    help = (
        "Measure the prediction models on the simulator: anomaly detection (each metric's "
        "residual against the device's own fit on its other metrics over its previous day, and "
        "stuck sensors) and the RUL model, trained per device type on one generated fleet "
        "history and measured on a held-out one (another seed), on one-minute means. Anomaly "
        "F1 and false/missed-alarm rates over minutes, the share of labelled anomalies flagged "
        "at least once; for each failure, the share of its last 20 % of life predicted within "
        "±15 % of the true RUL, and the RMSE. manage.py evaluate_simulator [--days 90 "
        "--devices 50 --seed 1 --holdout-seed 2 | --train DIR --holdout DIR]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=DAYS)
        parser.add_argument("--devices", type=int, default=DEVICES)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--holdout-seed", type=int, default=2)
        parser.add_argument("--train", type=Path, metavar="DIR", help="a generated history")
        parser.add_argument("--holdout", type=Path, metavar="DIR", help="another one")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        with histories(options) as (train_dir, holdout_dir):
            train = load(train_dir, "training")
            holdout = load(holdout_dir, "held-out")
        self.describe(train, holdout)
        rows = []
        pooled: dict[str, list[Any]] = {
            k: [] for k in ("flags", "truth", "hits", *cycle_evaluation.THRESHOLDS)
        }
        lives: list[Life] = []
        types = [t for t in train.devices["type"].unique() if t in set(holdout.types())]
        for kind in types:
            row, flags, truth, hits, kind_lives = self.evaluate(train, holdout, kind)
            rows.append(row)
            pooled["flags"].append(flags)
            pooled["truth"].append(truth)
            pooled["hits"].append(hits)
            for name in cycle_evaluation.THRESHOLDS:
                pooled[name].append(row.pop(name))
            lives += kind_lives
        if not rows:
            raise CommandError("no device type has minutes in both fleets")
        flags, truth = np.concatenate(pooled["flags"]), np.concatenate(pooled["truth"])
        hits = pd.concat(pooled["hits"])
        overall = confusion(flags, truth)
        rows.append(
            {
                "type": "overall",
                "devices": sum(r["devices"] for r in rows),
                **overall,
                "events": float(np.mean(hits)) if len(hits) else np.nan,
                "choice": "",
                **self.rul_summary(lives),
            }
        )
        self.table(rows)
        shown = self.rul_summary(lives, shown=True)
        self.stdout.write(
            f"RUL as the apply cycle shows it (each device refreshed every "
            f"{lifetimes.REFRESH_MINUTES} minutes, staggered, the value kept in between): "
            f"{_share(shown['within'])} within ±15 %, RMSE {_figure(shown['rmse'], '{:.1f}')} h; "
            + ", ".join(
                f"{r['type']} {_share(r['shown_within'])} / {_figure(r['shown_rmse'], '{:.1f}')} h"
                for r in rows[:-1]
            )
        )
        for line in cycle_evaluation.table([r["type"] for r in rows[:-1]], pooled, truth):
            self.stdout.write(line)
        by_kind = hits.groupby(level=0).mean()
        self.stdout.write(
            "labelled anomalies flagged at least once, by kind: "
            + ", ".join(f"{k} {by_kind[k]:.0%}" for k in VALUE_KINDS if k in by_kind)
        )
        self.stdout.write(
            f"targets: anomaly F1 >= 0.9: {'met' if overall['f1'] >= 0.9 else 'missed'} "
            f"({overall['f1']:.2f}); RUL within ±15 % over the last 20 % of life: "
            f"{_share(rows[-1]['within'])} of minutes on average over failures"
        )

    def describe(self, train: Fleet, holdout: Fleet) -> None:
        for fleet in (train, holdout):
            kinds = fleet.labels["kind"].value_counts()
            self.stdout.write(
                f"{fleet.name} fleet: {len(fleet.devices)} devices, "
                f"{len(fleet.minutes):,} device-minutes, {len(fleet.failures)} failures; "
                "labels: "
                + ", ".join(f"{k} {kinds.get(k, 0)}" for k in (*VALUE_KINDS, "outage"))
                + f", clock_skew {kinds.get('clock_skew', 0)}"
            )
        self.stdout.write(
            "anomalies scored: the value anomalies (" + ", ".join(VALUE_KINDS) + "), a minute "
            "positive when it meets one's window; outages (no readings) and clock skews (values "
            "right, times off) are no value anomaly: their minutes count as normal, and all "
            "labelled windows are left out of the type's centre and scale. Each device's metrics "
            f"fitted on its other metrics and the time of day over its previous "
            f"{residuals.RESIDUAL_WINDOW} minutes (renewed every {residuals.RESIDUAL_BLOCK}); "
            "|z| threshold, stuck run and hold chosen per type on the training fleet's last 30 %. "
            "RUL: capped at "
            f"{lifetime.KNEE_HOURS:.0f} h, windows "
            f"{', '.join(str(w) for w in lifetime.WINDOWS)} min, with health "
            "indicators (each metric's residual against new devices' fit on the others, and "
            "that residual as a share of the value expected, its gain; their rolling medians "
            f"over {', '.join(str(w) for w in wear.WINDOWS)} min less their median "
            "over the life's first day, their change over a day, the life's age, the hour of the "
            "week): the window features on hours, the indicators alone or with them on "
            "log(1 + hours), or the half-day indicators' power-law path extrapolated to the "
            "closest training lives' failure levels (each life's path in its indicators or their "
            "gains, whichever it follows the more smoothly), alone or with the indicators, each "
            "with the lives counted in wall hours or on the type's use clock (its weekly rate "
            "of use, learnt from its own signals: analytics/ml/clock.py), chosen per type by "
            f"cross-validation over {lifetime.FOLDS} groups of the training fleet's failed lives; "
            "lives from the recorded failures, as the platform trains and applies it "
            f"(analytics/ml/lifetime.py); {lifetime.PARAMS}."
        )

    def evaluate(
        self, train: Fleet, holdout: Fleet, kind: str
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, pd.Series, list[Life]]:
        detector, validation_f1 = detector_fit(train, kind)
        selected = holdout.types() == kind
        x = holdout.minutes[selected]
        complete = x[detector.metrics].notna().all(axis=1).to_numpy()
        scores = detector.scores(x)  # each device's own fits on all its minutes
        flags = detector.flags(x, scores)[complete]
        x = x[complete]
        model = cycle_evaluation.multivariate(train, kind, detector.metrics)
        cycle = cycle_evaluation.by_threshold(model, x, scores, complete, detector.threshold)
        labels = holdout.labels[holdout.labels["device"].isin(x.index.unique("device"))]
        truth = frames.labelled_minutes(labels, x.index, kinds=VALUE_KINDS).to_numpy()
        windows = frames.windows_flagged(
            labels, pd.Series(flags, index=x.index), kinds=VALUE_KINDS
        ).dropna()
        # by kind: which ones the detectors see at all
        hits = pd.Series(windows.to_numpy(dtype=bool), index=labels.loc[windows.index, "kind"])
        result = confusion(flags, truth)

        rul_model, choice = rul_train(train, kind, detector.metrics)
        chosen, validation_share = choice.name, choice.share
        if self.verbosity >= 2:
            self.stdout.write(
                f"  {kind} RUL candidates, cross-validated over {choice.lives} training lives: "
                + ", ".join(
                    f"{name} {_share(share)} / {_figure(choice.rmses[name], '{:.1f}')} h"
                    for name, share in choice.shares.items()
                )
            )
        test_x, test_lives = type_lives(holdout, kind, detector.metrics)
        test = lifetime.life_features(
            test_x, test_lives, rul_model.coefficients, levels=rul_model.levels
        )
        predict = rul_model.point
        test_truth = holdout.rul[selected]
        life = last_of_lives(holdout, test_truth.index).to_numpy()
        lives = []
        in_end = life >= 0
        if in_end.any():
            predicted = predict(test[in_end])
            shown = as_shown(test, in_end, predict, rul_model.knee)
            actual = test_truth["rul_seconds"].to_numpy()[in_end] / 3600
            for number in np.unique(life[in_end]):
                own = life[in_end] == number
                lives.append((kind, float(number), predicted[own], actual[own], shown[own]))
        row = {
            "type": kind,
            "devices": int(x.index.unique("device").size),
            **result,
            "events": float(np.mean(hits)) if len(hits) else np.nan,
            "choice": f"|z| > {detector.threshold:g}, stuck {detector.stuck}, hold "
            f"{detector.hold} (val F1 {validation_f1:.2f}); RUL {chosen} (val "
            f"{_share(validation_share)})",
            **self.rul_summary(lives),
            **{f"shown_{k}": v for k, v in self.rul_summary(lives, shown=True).items()},
            **cycle,
        }
        if self.verbosity >= 2:
            for _, number, p, a, _ in lives:
                failure = holdout.failures.loc[int(number)]
                failed = pd.Timestamp(int(failure["failed_at_ms"]), unit="ms", tz="UTC")
                self.stdout.write(
                    f"  {failure['device']} failed {failed:%Y-%m-%d %H:%M}: "
                    f"{np.mean(np.abs(p - a) <= TOLERANCE * a):.0%} within ±15 %, "
                    f"RMSE {rul.rmse(p, a):.1f} h over its last {a.max():.0f} h"
                )
        return row, flags, truth, hits, lives

    def rul_summary(self, lives: list[Life], *, shown: bool = False) -> dict[str, Any]:
        """The share within ±15 % averaged over the failures and the RMSE: of each minute's
        prediction, or (``shown``) of what the apply cycle shows then."""
        if not lives:
            return {"failures": 0, "within": np.nan, "rmse": np.nan}
        column = 4 if shown else 2
        pairs = [(life[column], life[3]) for life in lives]
        shares = [float(np.mean(np.abs(p - a) <= TOLERANCE * a)) for p, a in pairs]
        p = np.concatenate([p for p, _ in pairs])
        a = np.concatenate([a for _, a in pairs])
        return {"failures": len(lives), "within": float(np.mean(shares)), "rmse": rul.rmse(p, a)}

    def table(self, rows: list[dict[str, Any]]) -> None:
        self.stdout.write(
            f"{'type':<15}{'devices':>8}{'F1':>6}{'false':>7}{'missed':>8}{'events':>8}"
            f"{'failures':>10}{'RUL ±15%':>10}{'RMSE h':>8}  chosen on validation"
        )
        for r in rows:
            self.stdout.write(
                f"{r['type']:<15}{r['devices']:>8}{r['f1']:>6.2f}{r['far']:>7.1%}{r['mar']:>8.1%}"
                f"{_share(r['events']):>8}{r['failures']:>10}{_share(r['within']):>10}"
                f"{_figure(r['rmse'], '{:.1f}'):>8}  {r['choice']}"
            )
