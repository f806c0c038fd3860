"""The smoothed T²+Q detector (smoothing, alarm hold, slow signals) and its leave-group-out
choice, against hand-computed and synthetic cases; and its part of the SKAB evaluation."""

import re
from io import StringIO
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.ml import adaptive, smoothed
from analytics.ml.anomaly import confusion, t2q_fit
from analytics.ml.smoothed import SmoothedParams, smoothed_fit


def test_confusion_is_skabs_binary_metric_pooled_over_experiments() -> None:
    # SKAB sums TP, FP, FN, TN over the experiments, then F1 = TP / (TP + (FN + FP) / 2),
    # FAR = FP / (FP + TN), MAR = FN / (FN + TP).
    first = ([1, 1, 1, 0, 0], [1, 1, 0, 0, 0])  # flags, labels: TP 2, FP 1, TN 2
    second = ([0, 0, 1, 0], [1, 1, 1, 0])  # TP 1, FN 2, TN 1
    flags = np.r_[first[0], second[0]]
    labels = np.r_[first[1], second[1]]
    tp, fp, fn, tn = 3, 1, 2, 3
    assert confusion(flags, labels) == pytest.approx(
        {"f1": tp / (tp + (fn + fp) / 2), "far": fp / (fp + tn), "mar": fn / (fn + tp)}
    )
    assert confusion(flags, labels)["f1"] == pytest.approx(2 / 3)


def test_ewma_by_hand() -> None:
    assert smoothed.ewma([0.0, 10.0, 10.0], 0.5).tolist() == [0.0, 5.0, 7.5]
    assert smoothed.ewma([0.0, 10.0, 10.0], 0.5, start=4.0).tolist() == [2.0, 6.0, 8.0]
    assert smoothed.ewma([3.0, 1.0], 1.0, start=100.0).tolist() == [3.0, 1.0]  # no smoothing
    assert smoothed.ewma([], 0.5).tolist() == []


def test_hold_keeps_an_alarm_on_for_that_many_readings_after_it() -> None:
    flags = np.array([0, 1, 0, 0, 0, 1, 0], dtype=bool)
    assert smoothed.hold(flags, 2).astype(int).tolist() == [0, 1, 1, 1, 0, 1, 1]
    assert smoothed.hold(flags, 3).astype(int).tolist() == [0, 1, 1, 1, 1, 1, 1]
    assert smoothed.hold(flags, 0).tolist() == flags.tolist()
    assert not smoothed.hold(np.zeros(4, dtype=bool), 2).any()


def test_slow_signals_are_those_whose_next_reading_is_mostly_their_last() -> None:
    rng = np.random.default_rng(0)
    runs = [
        np.c_[rng.normal(size=400), np.cumsum(rng.normal(size=400)), rng.normal(size=400)]
        for _ in range(3)
    ]
    ac = smoothed.lag1_autocorrelation(runs[0])
    assert abs(ac[0]) < 0.2 and ac[1] > 0.9
    assert smoothed.slow_signals(runs) == [1]
    assert smoothed.lag1_autocorrelation(np.ones((5, 1))).tolist() == [0.0]  # constant


def test_a_slow_signal_is_differenced_or_dropped_as_asked() -> None:
    data = np.array([[1.0, 10.0, 5.0], [2.0, 13.0, 6.0], [3.0, 11.0, 7.0]])
    diffed = smoothed._features(data, [1], "difference", np.array([0.0, 9.0, 0.0]))
    assert diffed.tolist() == [[1.0, 5.0, 1.0], [2.0, 6.0, 3.0], [3.0, 7.0, -2.0]]
    assert smoothed._features(data, [1], "difference", None)[:, 2].tolist() == [0.0, 3.0, -2.0]
    assert smoothed._features(data, [1], "drop", None).tolist() == data[:, [0, 2]].tolist()
    assert smoothed._features(data, [1], "keep", None) is data


def _plane(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 2))
    return np.c_[latent, latent.sum(axis=1)] + rng.normal(scale=0.05, size=(rows, 3))


def test_the_defaults_are_the_plain_detector() -> None:
    data = _plane(800, 0)
    data[600:, 2] += 0.5
    flags = smoothed_fit(data[:400], SmoothedParams()).flags(data[400:])
    assert np.array_equal(flags, t2q_fit(data[:400]).flags(data[400:]))


def test_smoothing_catches_a_faint_fault_and_the_hold_bridges_a_dip_in_it() -> None:
    data = _plane(900, 1)
    data[600:800, 2] += 0.2  # a faint fault (about 4 noise deviations) that lasts ...
    data[700:740, 2] -= 0.2  # ... but looks normal for 40 readings
    fault = np.r_[200:300, 340:400]
    plain = smoothed_fit(data[:400], SmoothedParams()).flags(data[400:])
    assert plain[fault].mean() < 0.6  # every other reading of the fault looks normal
    calm = smoothed_fit(data[:400], SmoothedParams(alpha=0.1)).flags(data[400:])
    assert calm[fault].mean() > 0.95
    assert calm[200:400].mean() < 0.9  # the dip is seen
    held = smoothed_fit(data[:400], SmoothedParams(alpha=0.1, hold=30)).flags(data[400:])
    assert held[200:400].all()
    assert not held[445:].any()  # the hold ends 30 readings after the smoothed alarm does
    assert np.array_equal(held, smoothed.hold(calm, 30))


def test_a_slow_drift_is_no_alarm_once_the_slow_signal_is_differenced_or_dropped() -> None:
    rng = np.random.default_rng(2)
    data = _plane(1000, 2)
    temperature = np.linspace(0.0, 5.0, 1000) + rng.normal(scale=0.01, size=1000)
    data = np.c_[data, temperature]  # creeps far beyond its 400 training readings
    data[800:, 2] += 3.0  # a real fault, in a fast signal
    labels = np.arange(600) >= 400
    cases: tuple[tuple[Literal["keep", "difference", "drop"], float], ...] = (
        ("keep", 1.0),
        ("difference", 0.05),
        ("drop", 0.05),
    )
    for how, most in cases:
        flags = smoothed_fit(data[:400], SmoothedParams(slow=how), slow=[3]).flags(data[400:])
        assert flags[~labels].mean() <= most
        assert flags[labels].mean() > 0.95
    kept = smoothed_fit(data[:400], SmoothedParams(slow="keep"), slow=[3]).flags(data[400:])
    assert kept[~labels].mean() > 0.6  # every normal reading once past the ramp's end


def test_leave_group_out_scores_each_group_with_parameters_chosen_on_the_others() -> None:
    data = _plane(1000, 3)
    faulty = np.arange(1000) >= 600
    data[faulty, 2] += np.where(np.arange(400) % 7 == 0, 0.0, 1.0)  # a fault with dips
    scored_labels = faulty[400:]
    experiments = [
        adaptive.Experiment(f"{g}/1.csv", g, data[:400], data[400:], scored_labels) for g in "abc"
    ]
    candidates = smoothed.grid(slows=("keep",), quantiles=(0.99,), alphas=(1.0,), holds=(0, 10))
    calls: list[tuple[str, int]] = []

    def detect(e: adaptive.Experiment, p: SmoothedParams) -> np.ndarray:
        calls.append((e.name, p.hold))
        return smoothed_fit(e.train, p).flags(e.scored)

    folds, result, flags = smoothed.leave_group_out(experiments, candidates, detect)
    assert len(calls) == 6  # every candidate once on every experiment
    assert [f.held_out for f in folds] == ["a", "b", "c"]
    assert all(f.params.hold == 10 for f in folds)  # the hold bridges the dips
    assert result == adaptive.pooled(flags[candidates[1]], experiments)
    assert result["f1"] > adaptive.pooled(flags[candidates[0]], experiments)["f1"]


def _experiment(path: Path, shift_at: int, rows: int = 600, seed: int = 0) -> None:
    data = _plane(rows, seed)
    data[shift_at:, 2] += 3.0
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    frame.insert(0, "datetime", pd.date_range("2020-03-09", periods=rows, freq="s"))
    frame["anomaly"] = (np.arange(rows) >= shift_at).astype(float)
    frame["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)


def test_evaluate_anomaly_reports_the_smoothed_detector_out_of_fold(tmp_path: Path) -> None:
    _experiment(tmp_path / "valve1" / "1.csv", shift_at=500)
    _experiment(tmp_path / "valve2" / "1.csv", shift_at=520, seed=2)
    _experiment(tmp_path / "other" / "1.csv", shift_at=450, seed=1)
    _experiment(tmp_path / "anomaly-free" / "anomaly-free.csv", shift_at=10_000, seed=3)
    out = StringIO()
    call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=out)
    text = out.getvalue()
    assert "smoothed T²+Q: 144 candidates" in text
    assert (
        "slow signals (median lag-1 autocorrelation of the training readings above 0.8): none"
        in text
    )
    for group in ("other", "valve1", "valve2"):
        assert re.search(rf"\n  {group} +chosen slow=keep  quantile=", text)
    line = text.split("smoothed T²+Q, out of fold (3 experiments): ")[1].splitlines()[0]
    assert re.fullmatch(r"F1 \d\.\d\d  false-alarm rate \d+\.\d%  missed-alarm rate \d+\.\d%", line)
    assert float(line.split()[1]) > 0.9
    assert "parameters for use (chosen on every group): slow=" in text
    assert "anomaly-free.csv with those parameters: false-alarm rate" in text


def test_an_anomaly_free_file_with_other_signals_is_an_error_naming_it(tmp_path: Path) -> None:
    _experiment(tmp_path / "valve1" / "1.csv", shift_at=500)
    _experiment(tmp_path / "anomaly-free" / "anomaly-free.csv", shift_at=10_000)
    normal = tmp_path / "anomaly-free" / "anomaly-free.csv"
    pd.read_csv(normal, sep=";").drop(columns=["c"]).to_csv(normal, sep=";", index=False)
    with pytest.raises(CommandError, match=re.escape("anomaly-free.csv: 2 signals, valve1/1.csv")):
        call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=StringIO())
