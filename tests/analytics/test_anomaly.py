"""The PCA T²+Q detector and the SKAB evaluation, against hand-computed and synthetic cases."""

from collections.abc import Callable
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.ml.anomaly import confusion, t2q_fit


def test_confusion_by_hand() -> None:
    flags = [1, 1, 0, 0, 1, 0]
    labels = [1, 0, 1, 0, 1, 0]  # TP 2, FP 1, FN 1, TN 2
    result = confusion(flags, labels)
    assert result == pytest.approx({"f1": 4 / 6, "far": 1 / 3, "mar": 1 / 3})


def test_t2_and_q_flag_what_leaves_normal_operation() -> None:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(2000, 2))
    normal = np.c_[latent, latent @ [[1.0], [0.5]], latent @ [[-0.3], [1.0]]]
    normal += rng.normal(scale=0.05, size=normal.shape)
    model = t2q_fit(normal[:1000])
    assert model.flags(normal[1000:]).mean() < 0.03  # about the 1 % the limits allow
    far_along = np.array([[8.0, 8.0, 12.0, 5.6]])  # in the plane, far out: T²
    t2, q = model.scores(far_along)
    assert t2[0] > model.t2_limit and q[0] < model.q_limit
    off_plane = np.array([[0.0, 0.0, 3.0, -3.0]])  # breaks the correlations: Q
    t2, q = model.scores(off_plane)
    assert q[0] > model.q_limit
    assert model.flags(np.r_[far_along, off_plane]).all()


def _experiment(path: Path, shift_at: int, rows: int = 600, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 2))
    data = np.c_[latent, latent.sum(axis=1)] + rng.normal(scale=0.05, size=(rows, 3))
    data[shift_at:, 2] += 3.0  # a sensor breaks away from the others
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    frame.insert(0, "datetime", pd.date_range("2020-03-09", periods=rows, freq="s"))
    frame["anomaly"] = (np.arange(rows) >= shift_at).astype(float)
    frame["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)


def test_evaluate_anomaly_follows_the_protocol(tmp_path: Path) -> None:
    _experiment(tmp_path / "valve1" / "1.csv", shift_at=500)
    _experiment(tmp_path / "other" / "1.csv", shift_at=450, seed=1)
    _experiment(tmp_path / "anomaly-free" / "anomaly-free.csv", shift_at=10_000)  # skipped
    out = StringIO()
    call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=out)
    text = out.getvalue()
    assert "SKAB (2 experiments)" in text
    assert float(text.split("F1 ")[1].split()[0]) > 0.9


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text(""), "not a SKAB file"),
        (lambda p: p.write_text("datetime;a\n2020-01-01;1\n"), "no 'anomaly' column"),
        (lambda p: p.write_text("datetime;a;anomaly\n2020-01-01;1;0\n"), "1 rows"),
    ],
)
def test_a_bad_file_is_an_error_naming_it(
    tmp_path: Path, write: Callable[[Path], object], message: str
) -> None:
    bad = tmp_path / "valve1" / "1.csv"
    bad.parent.mkdir()
    write(bad)
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_anomaly", "--skab", str(tmp_path), stdout=StringIO())
    with pytest.raises(CommandError, match="no experiment files"):
        call_command("evaluate_anomaly", "--skab", str(tmp_path / "nowhere"), stdout=StringIO())


def _normal(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 2))
    data = np.c_[latent, latent @ [[1.0], [0.5]], latent @ [[-0.3], [1.0]]]
    data += rng.normal(scale=0.05, size=data.shape)
    return pd.DataFrame(data, columns=["a", "b", "c", "d"])


def test_both_kinds_share_one_interface() -> None:
    from analytics.ml.anomaly import iforest_fit

    train = _normal(1500)
    for model in (t2q_fit(train), iforest_fit(train)):
        assert model.signals == ["a", "b", "c", "d"]
        fresh = _normal(500, seed=1)
        assert model.flags(fresh).mean() < 0.05, model.kind  # limits at the 99th percentile
        far = pd.DataFrame([[9.0, -9.0, 9.0, 9.0]], columns=["d", "c", "b", "a"])  # by name
        assert model.score(far)[0] > 1.0, model.kind
        shares = model.contributions(pd.concat([fresh.iloc[:5], far[model.signals]]))
        assert np.allclose(shares.sum(axis=1), 1.0)
        with pytest.raises(KeyError, match="missing signals: d"):
            model.score(fresh.drop(columns=["d"]))


def test_the_backtest_counts_injected_faults() -> None:
    from analytics.ml.anomaly import anomaly_backtest, inject_faults

    train = _normal(1500)
    model = t2q_fit(train)
    holdout = _normal(600, seed=2)
    faulty, labels = inject_faults(holdout.to_numpy(), model.scale, seed=0)
    assert 0.15 <= labels.mean() <= 0.25  # about a fifth of the rows
    shifted = np.abs(faulty - holdout.to_numpy()).max(axis=1)
    assert (shifted[labels] > 0).all() and (shifted[~labels] == 0).all()
    result = anomaly_backtest(model, holdout, seed=0)
    flags = np.r_[model.flags(holdout), model.flags(faulty)]
    assert result == confusion(flags, np.r_[np.zeros(600, dtype=bool), labels])
    with_labels = anomaly_backtest(model, holdout, labels=np.zeros(600, dtype=bool))
    assert with_labels["far"] == pytest.approx(model.flags(holdout).mean())


def test_the_choice_follows_the_backtest() -> None:
    from analytics.ml.anomaly import anomaly_choose

    # Two operating modes (idle and full load) with an empty gap between: a reading in the gap
    # lies on the PCA plane near the mean, where T² and Q stay small; the forest isolates it.
    rng = np.random.default_rng(5)
    mode = rng.integers(0, 2, size=3000).astype(float)
    load = mode * 10 + rng.normal(scale=0.2, size=3000)
    data = pd.DataFrame(
        np.c_[load, 2 * load, -load] + rng.normal(scale=0.1, size=(3000, 3)),
        columns=["x", "y", "z"],
    )
    labels = np.zeros(3000, dtype=bool)
    gap = np.arange(2500, 3000, 5)
    data.iloc[gap] = np.c_[[5.0] * len(gap), [10.0] * len(gap), [-5.0] * len(gap)]
    labels[gap] = True
    model, info = anomaly_choose(data, labels=labels, holdout_share=0.2)
    backtest = info["backtest"]
    assert backtest["iforest"]["f1"] > backtest["pca_t2q"]["f1"]
    assert info["chosen"] == model.kind == "iforest"
