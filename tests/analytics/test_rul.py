"""The RUL pipeline's pieces, checked against hand-computed cases, and the evaluation command
on a small synthetic data set in the C-MAPSS layout (the real one lives outside the repo)."""

import math
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.ml import cmapss, rul
from analytics.ml.features import window_features


def test_rmse_and_the_phm08_score_by_hand() -> None:
    predicted, actual = [12.0, 5.0, 30.0], [10.0, 5.0, 43.0]  # d = +2 (late), 0, -13 (early)
    assert rul.rmse(predicted, actual) == pytest.approx(math.sqrt((4 + 0 + 169) / 3))
    late, early = math.exp(2 / 10) - 1, math.exp(13 / 13) - 1
    assert rul.phm08_score(predicted, actual) == pytest.approx(late + early)


def test_the_target_is_capped_at_the_knee() -> None:
    life = pd.Series([200, 200, 200])
    age = pd.Series([1, 100, 190])
    assert rul.capped_rul(life, age).tolist() == [125, 100, 10]


def test_window_features_by_hand_and_without_look_ahead() -> None:
    frame = pd.DataFrame(
        {
            "unit": [2, 2, 2, 1, 1, 1, 1],
            "cycle": [1, 2, 3, 1, 2, 3, 4],
            "s": [10.0, 10.0, 10.0, 1.0, 3.0, 5.0, 7.0],  # unit 1 rises by 2 a cycle
        }
    )
    out = window_features(frame, unit="unit", order="cycle", signals=["s"], windows=(3,))
    unit1 = out.loc[frame.index[frame["unit"] == 1]]
    assert unit1["s_m3"].tolist() == pytest.approx([1.0, 2.0, 3.0, 5.0])
    assert unit1["s_sl3"].tolist() == pytest.approx([0.0, 2.0, 2.0, 2.0])
    assert unit1["s_exp"].tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0])
    unit2 = out.loc[frame.index[frame["unit"] == 2]]
    assert unit2["s_sl3"].tolist() == [0.0, 0.0, 0.0]
    # The first row of unit 1 knows nothing of its later readings.
    again = window_features(frame.iloc[[3]], unit="unit", order="cycle", signals=["s"])
    assert again.iloc[0]["s_m5"] == 1.0 and again.iloc[0]["s_ewm"] == 1.0


def _synthetic(folder: Path, units: int = 12, seed: int = 1) -> None:
    """Engines whose sensors drift as they wear, in the C-MAPSS layout."""
    rng = np.random.default_rng(seed)

    def engine(unit: int, life: int, upto: int) -> list[list[float]]:
        rows = []
        for cycle in range(1, upto + 1):
            wear = cycle / life
            sensors = [1.0 + i + wear * (i % 3) + rng.normal(0, 0.02) for i in range(21)]
            rows.append([unit, cycle, 0.0, 0.0, 100.0, *sensors])
        return rows

    train, test, truth = [], [], []
    for unit in range(1, units + 1):
        life = int(rng.integers(120, 220))
        train += engine(unit, life, life)
        cut = int(rng.integers(40, life - 5))
        test += engine(unit, life, cut)
        truth.append(life - cut)
    np.savetxt(folder / "train_FD001.txt", np.array(train), fmt="%.4f")
    np.savetxt(folder / "test_FD001.txt", np.array(test), fmt="%.4f")
    np.savetxt(folder / "RUL_FD001.txt", np.array(truth), fmt="%d")


@pytest.mark.slow
@pytest.mark.timeout(900)  # two folds of every candidate: a minute or more on a busy machine
def test_evaluate_rul_runs_the_protocol_and_reports_once(tmp_path: Path) -> None:
    _synthetic(tmp_path)
    out = StringIO()
    call_command("evaluate_rul", "--cmapss", str(tmp_path), "--folds", "2", stdout=out)
    text = out.getvalue()
    assert "Choosing on 2 folds of training units" in text
    assert text.count("validation RMSE") == len(rul.CANDIDATES)
    assert text.count("test (12 units, last cycle)") == 1
    figure = float(text.split("RMSE ")[-1].split()[0])
    assert figure < 40  # learnt something: the spread of the true cycles left is larger


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "train_FD001.txt").unlink(), "train_FD001.txt: missing"),
        (lambda d: (d / "test_FD001.txt").write_text(""), "test_FD001.txt: empty"),
        (lambda d: (d / "train_FD001.txt").write_text("1 2 3\n"), "3 columns, expected 26"),
        (lambda d: (d / "RUL_FD001.txt").write_text("5\n"), "1 values for 12 test units"),
    ],
)
def test_a_bad_data_set_is_an_error_naming_the_file(
    tmp_path: Path, damage: Callable[[Path], object], message: str
) -> None:
    _synthetic(tmp_path)
    damage(tmp_path)
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_rul", "--cmapss", str(tmp_path), stdout=StringIO())
    with pytest.raises(cmapss.DatasetError, match=message):
        cmapss.cmapss_load(tmp_path)
