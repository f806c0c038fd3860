"""The drift-following T²+Q detector and its leave-group-out choice, on synthetic cases."""

import re
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.ml import adaptive
from analytics.ml.adaptive import AdaptiveParams, adaptive_fit


def test_moving_mean_by_hand() -> None:
    values = np.array([1.0, 3.0, 5.0, 7.0])
    assert adaptive._moving_mean(values, 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert adaptive._moving_mean(values, 1).tolist() == values.tolist()


def _drifting(rows: int = 1400, fault_at: int = 1100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 2))
    data = np.c_[latent, latent.sum(axis=1)] + rng.normal(scale=0.05, size=(rows, 3))
    data += np.linspace(0.0, 2.0, rows)[:, None]  # every signal creeps up together
    data[fault_at:, 2] += 3.0  # then one breaks away from the others
    return data


def test_following_the_drift_cuts_false_alarms_and_still_sees_the_fault() -> None:
    data = _drifting()
    fixed = adaptive_fit(data[:400], AdaptiveParams(quantile=0.99)).flags(data[400:])
    follows = adaptive_fit(data[:400], AdaptiveParams(quantile=0.99, adapt=0.02)).flags(data[400:])
    normal, fault = slice(0, 700), slice(700, None)
    assert follows[normal].mean() < 0.1 < fixed[normal].mean()
    assert follows[fault].mean() > 0.9


def test_persistence_and_the_window_quiet_a_lone_spike() -> None:
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(800, 2))
    data = np.c_[latent, latent.sum(axis=1)] + rng.normal(scale=0.05, size=(800, 3))
    data[600, 2] += 5.0  # one reading off the plane
    plain = adaptive_fit(data[:400], AdaptiveParams()).flags(data[400:])
    assert plain[200]
    patient = adaptive_fit(data[:400], AdaptiveParams(persistence=3)).flags(data[400:])
    assert not patient[200:203].any()
    # The plain parameters are the plain detector's.
    model = adaptive_fit(data[:400], AdaptiveParams())
    assert np.array_equal(plain, model.model.flags(data[400:]))


def test_leave_group_out_scores_each_group_with_parameters_chosen_on_the_others() -> None:
    data = _drifting(seed=2)
    labels = np.arange(1000) >= 700
    experiments = [
        adaptive.Experiment(f"{g}/1.csv", g, data[:400], data[400:], labels) for g in "abc"
    ]
    candidates = adaptive.grid(quantiles=(0.99,), windows=(1,), adapts=(0.0, 0.02))
    folds, result, flags = adaptive.leave_group_out(experiments, candidates)
    assert [f.held_out for f in folds] == ["a", "b", "c"]
    assert all(f.params.adapt == 0.02 for f in folds)  # follows the drift: fewer false alarms
    assert result == adaptive.pooled(flags[candidates[1]], experiments)
    assert result["f1"] > 0.9


def _experiment(path: Path, shift_at: int, rows: int = 600, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 2))
    data = np.c_[latent, latent.sum(axis=1)] + rng.normal(scale=0.05, size=(rows, 3))
    data[shift_at:, 2] += 3.0
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    frame.insert(0, "datetime", pd.date_range("2020-03-09", periods=rows, freq="s"))
    frame["anomaly"] = (np.arange(rows) >= shift_at).astype(float)
    frame["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)


def test_evaluate_anomaly_reports_the_out_of_fold_figure_and_how_it_was_chosen(
    tmp_path: Path,
) -> None:
    _experiment(tmp_path / "valve1" / "1.csv", shift_at=500)
    _experiment(tmp_path / "valve2" / "1.csv", shift_at=520, seed=2)
    _experiment(tmp_path / "other" / "1.csv", shift_at=450, seed=1)
    _experiment(tmp_path / "anomaly-free" / "anomaly-free.csv", shift_at=10_000, seed=3)
    out = StringIO()
    call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=out)
    text = out.getvalue()
    assert "leave-one-group-out" in text
    for group in ("other", "valve1", "valve2"):
        assert f"  {group:<12} chosen quantile=" in text
    oof = text.split("out of fold (3 experiments): F1 ")[1]
    assert float(oof.split()[0]) > 0.9
    assert "anomaly-free.csv with those parameters: false-alarm rate" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("datetime;a;anomaly\n" + "2020-01-01;x;0\n" * 401, "non-numeric or missing values in a"),
        ("datetime;anomaly\n" + "2020-01-01;0\n" * 401, "no signal columns"),
    ],
)
def test_bad_values_are_an_error_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "valve1" / "1.csv"
    bad.parent.mkdir()
    bad.write_text(content)
    with pytest.raises(CommandError, match=re.escape(f"1.csv: {message}")):
        call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=StringIO())


def test_experiments_with_different_signals_are_an_error(tmp_path: Path) -> None:
    _experiment(tmp_path / "other" / "1.csv", shift_at=500)
    frame = pd.read_csv(tmp_path / "other" / "1.csv", sep=";").drop(columns=["c"])
    (tmp_path / "valve1").mkdir()
    frame.to_csv(tmp_path / "valve1" / "1.csv", sep=";", index=False)
    with pytest.raises(CommandError, match=re.escape("valve1/1.csv: 2 signals, other/1.csv has 3")):
        call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=StringIO())
