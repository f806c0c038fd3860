"""evaluate_simulator end to end on a tiny generated fleet (pumps with one-day lives, so they
fail inside four days), its figures recomputed from the same arrays, and its bad-input errors."""

import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.ml import detectors, frames, lifetime
from analytics.ml.anomaly import confusion
from demo import cycle_evaluation, fleet_history
from demo.management.commands import evaluate_simulator as command
from simulator.fleet import Rates, make_fleet
from simulator.history import generate

DAY = 86_400.0
RATES = Rates(mean_life_days=1.0, anomalies_per_day=8.0)


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fleets")
    for name, seed in (("train", 11), ("holdout", 12)):
        generate(
            make_fleet(3, seed, RATES, kinds=("pump",)),
            root / name,
            start=fleet_history.END - 4 * DAY,
            end=fleet_history.END,
            interval=60,
            rates=RATES,
        )
    return root / "train", root / "holdout"


def _row(text: str, name: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(name)).split()


def test_the_printed_figures_are_those_of_the_arrays(fleets: tuple[Path, Path]) -> None:
    train_dir, holdout_dir = fleets
    out = StringIO()
    call_command(
        "evaluate_simulator", "--train", str(train_dir), "--holdout", str(holdout_dir), stdout=out
    )
    text = out.getvalue()
    pump, overall = _row(text, "pump"), _row(text, "overall")

    train = command.load(train_dir, "training")
    holdout = command.load(holdout_dir, "held-out")
    detector, _ = command.detector_fit(train, "pump")
    x = holdout.minutes.dropna(axis=1, how="all")
    flags = detector.flags(x)
    truth = frames.labelled_minutes(holdout.labels, x.index, kinds=command.VALUE_KINDS)
    expected = confusion(flags, truth)
    assert 0 < truth.mean() < 1 and flags.any()
    assert pump[2:5] == [
        f"{expected['f1']:.2f}",
        f"{expected['far']:.1%}",
        f"{expected['mar']:.1%}",
    ]
    assert overall[1:5] == pump[1:5]  # one type: the overall row is the same
    windows = frames.windows_flagged(
        holdout.labels, pd.Series(flags, index=x.index), kinds=command.VALUE_KINDS
    ).dropna()
    assert pump[5] == f"{windows.mean():.0%}"
    spikes = windows[holdout.labels.loc[windows.index, "kind"] == "spike"]
    assert f"by kind: spike {spikes.mean():.0%}, level_shift" in text
    assert pump[6] == str(len(holdout.failures))  # every failure's life is measured
    assert "targets: anomaly F1 >= 0.9: " in text
    assert "RUL as the apply cycle shows it (each device refreshed every 60 minutes" in text
    assert f"({expected['f1']:.2f})" in text

    # As the apply cycle combines the detectors: the type's multivariate model, the residual
    # over the threshold and stuck sensors, each minute inside a spell or not.
    model = cycle_evaluation.multivariate(train, "pump", detector.metrics)
    complete = x.notna().all(axis=1).to_numpy()
    cycle = cycle_evaluation.by_threshold(
        model, x[complete], detector.scores(x), complete, detector.threshold
    )
    after = text.split("as the platform's apply cycle combines them")[1]
    line = next(line for line in after.splitlines() if line.startswith("pump"))
    for name, flags in cycle.items():
        r = confusion(flags, truth[complete])
        assert f"F1 {r['f1']:.2f}, false {r['far']:.1%}, missed {r['mar']:.1%}" in line, name
    assert cycle["threshold 6"].any() and not cycle["threshold 6"].all()


def test_every_candidate_s_cross_validated_predictions_give_its_share(
    fleets: tuple[Path, Path],
) -> None:
    # What bench/rul_candidates.py compares with a validation fleet: each candidate's
    # predictions over the measured rows, by models fitted without their lives.
    train = command.load(fleets[0], "training")
    metrics = list(train.minutes.dropna(axis=1, how="all").columns)
    _, choice = command.rul_train(train, "pump", metrics)
    _, lives = command.type_lives(train, "pump", metrics)
    assert choice.lives >= 2 and set(choice.measured_points) == set(choice.shares)
    actual, life = lives.hours_left[choice.measured], lives.life[choice.measured]
    for name, predicted in choice.measured_points.items():
        assert len(predicted) == choice.measured.sum() and np.isfinite(predicted).all()
        good = np.abs(predicted - actual) <= lifetime.TOLERANCE * actual
        by_life = [good[life == i].mean() for i in np.unique(life)]
        assert choice.shares[name] == pytest.approx(np.mean(by_life)), name
    assert np.array_equal(choice.measured_points[choice.name], choice.measured_point)


def test_the_last_fifth_of_each_life_is_what_rul_is_measured_on(fleets: tuple[Path, Path]) -> None:
    holdout = command.load(fleets[1], "held-out")
    index = holdout.minutes.index
    life = command.last_of_lives(holdout, index)
    first = holdout.failures.sort_values("failed_at_ms").groupby("device").head(1)
    number = int(first.index[0])
    serial = first.loc[number, "device"]
    failed = pd.Timestamp(int(first.loc[number, "failed_at_ms"]), unit="ms", tz="UTC")
    born = index[index.get_level_values("device") == serial].get_level_values("minute").min()
    minutes = life[life == number].index.get_level_values("minute")
    assert (index[life.to_numpy() == number].get_level_values("device") == serial).all()
    assert minutes.max() < failed
    assert minutes.min() >= failed - (failed - born) * 0.2
    assert minutes.min() - (failed - (failed - born) * 0.2) < pd.Timedelta(minutes=2)


def _copy(source: Path, target: Path) -> None:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        (lambda d: (d / "labels.csv").unlink(), "labels.csv", "missing"),
        (lambda d: (d / "rul.csv").write_text(""), "rul.csv", "empty"),
        (lambda d: (d / "devices.csv").write_text("serial,type\n"), "devices.csv", "no rows"),
        (
            lambda d: (d / "failures.csv").write_text("device,failed_at_ms\nx,1\n"),
            "failures.csv",
            "missing columns repaired_at_ms",
        ),
        (
            lambda d: (d / "readings.csv").write_text("ts,device,value\n1,a,2\n"),
            "readings.csv",
            "missing columns metric",
        ),
    ],
)
def test_bad_input_is_an_error_naming_the_file(
    fleets: tuple[Path, Path],
    tmp_path: Path,
    damage: Callable[[Path], object],
    file: str,
    message: str,
) -> None:
    bad = tmp_path / "bad"
    _copy(fleets[0], bad)
    damage(bad)
    with pytest.raises(CommandError, match=f"{bad / file}: {message}"):
        call_command(
            "evaluate_simulator",
            "--train",
            str(fleets[0]),
            "--holdout",
            str(bad),
            stdout=StringIO(),
        )


def test_on_the_command_line_bad_input_exits_with_status_1(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "evaluate_simulator",
            *("--train", str(nowhere)),
            *("--holdout", str(nowhere)),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert result.returncode == 1
    assert f"{nowhere}: no such directory" in result.stderr
    with pytest.raises(CommandError, match="go together"):
        call_command("evaluate_simulator", "--train", str(nowhere), stdout=StringIO())


def test_a_held_flag_lasts_its_minutes_within_its_device() -> None:
    flags = np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=bool)
    device = np.array(list("aaaaabbb"))
    assert detectors.held(flags, device, 3).astype(int).tolist() == [1, 1, 1, 0, 1, 0, 0, 0]
    assert detectors.held(flags, device, 1).tolist() == flags.tolist()


def test_what_the_cycle_shows_is_the_last_refresh_s_prediction(monkeypatch) -> None:
    monkeypatch.setattr(command.lifetimes, "REFRESH_MINUTES", 3)
    minutes = pd.date_range("2026-01-01 00:00", periods=5, freq="min", tz="UTC")  # slots 0..4 % 3
    index = pd.MultiIndex.from_product([["a", "b"], minutes], names=["device", "minute"])
    features = pd.DataFrame({"x": np.arange(10.0)}, index=index)
    rows = np.ones(10, dtype=bool)
    shown = command.as_shown(features, rows, lambda f: f["x"].to_numpy() * 10, knee=99.0)
    # a (number 0) refreshes at minutes 0 and 3, b (number 1) at minute 1 and 4
    assert shown.tolist() == [0, 0, 0, 30, 30, 99, 60, 60, 60, 90]
