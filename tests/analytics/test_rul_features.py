"""The new RUL features, the conformal interval and the cross-validation, by hand."""

import joblib
import numpy as np
import pandas as pd
import pytest

from analytics.ml import rul
from analytics.ml.features import unit_baseline, window_features, window_only_columns

FRAME = pd.DataFrame(
    {
        "unit": [1, 1, 1, 1, 2, 2],
        "cycle": [1, 2, 3, 4, 1, 2],
        "s": [2.0, 4.0, 9.0, 5.0, 10.0, 12.0],
    }
)


def test_the_baseline_is_the_mean_of_the_first_readings_without_look_ahead() -> None:
    base = unit_baseline(FRAME["s"], FRAME["unit"], 2)
    # unit 1: 2, then (2+4)/2 = 3 and 3 ever after; unit 2: 10, then 11
    assert base.tolist() == pytest.approx([2.0, 3.0, 3.0, 3.0, 10.0, 11.0])


def test_baseline_deviations_std_and_extra_ewms_by_hand() -> None:
    out = window_features(
        FRAME,
        unit="unit",
        order="cycle",
        signals=["s"],
        windows=(2,),
        stds=(2,),
        ewm_alphas=(0.5,),
        baseline=2,
        raw=False,
    )
    unit1 = out.loc[FRAME.index[FRAME["unit"] == 1]]
    assert unit1["s_m2"].tolist() == pytest.approx([2.0, 3.0, 6.5, 7.0])
    assert unit1["s_dm2"].tolist() == pytest.approx([0.0, 0.0, 3.5, 4.0])  # minus 2, 3, 3, 3
    assert unit1["s_sd2"].tolist() == pytest.approx([0.0, np.sqrt(2), np.sqrt(12.5), np.sqrt(8)])
    # adjusted EWM, alpha 1/2: weights 1, 1/2 -> (4 + 2/2) / 1.5
    assert unit1["s_ewm0.5"].iloc[1] == pytest.approx(5.0 / 1.5)
    assert unit1["s_dewm"].iloc[0] == 0.0
    assert "s" not in out.columns  # raw=False drops the raw values


def test_window_only_columns_leave_out_what_needs_the_whole_history() -> None:
    out = window_features(
        FRAME, unit="unit", order="cycle", signals=["s"], windows=(2,), stds=(2,), baseline=2
    )
    assert {"s_exp", "s_dm2", "s_dewm"} <= set(out.columns)
    assert window_only_columns(out.columns, ["s"]) == ["s", "s_m2", "s_sl2", "s_sd2", "s_ewm"]


def test_the_default_features_are_the_chosen_set_long_windows_no_baseline() -> None:
    out = window_features(FRAME, unit="unit", order="cycle", signals=["s"])
    assert {"s_m120", "s_sl120", "s_exp"} <= set(out.columns)
    assert not any("_dm" in c or "_sd" in c for c in out.columns)


def test_conformal_bands_by_hand() -> None:
    # 9 predictions below 40 with residuals -4..4, 9 above 80 with residuals -40..40.
    point = np.r_[np.full(9, 20.0), np.full(9, 100.0)]
    actual = point + np.r_[np.arange(-4, 5), np.arange(-40, 41, 10)]
    bands = rul.conformal_bands(point, actual, coverage=0.8, edges=(40.0, 80.0))
    # n = 9, q = 0.9: k = ceil(10 * 0.9) = 9th smallest for the top, 1st for the bottom
    assert bands.low[0] == -4 and bands.high[0] == 4
    assert bands.low[2] == -40 and bands.high[2] == 40
    assert bands.low[1] == -40 and bands.high[1] == 40  # empty range: all residuals (18)
    low, high = bands.interval([10.0, 100.0])
    assert low.tolist() == [6.0, 60.0] and high.tolist() == [14.0, 140.0]
    # Wider data, coverage 0.5: n = 9, k = ceil(10 * 0.75) = 8th smallest, 10 - 8 = 2nd
    bands = rul.conformal_bands(np.zeros(9), np.arange(-4.0, 5.0), coverage=0.5, edges=())
    assert (bands.low, bands.high) == ((-3.0,), (3.0,))


def test_a_model_with_bands_predicts_its_interval_and_pickles(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.uniform(0, 100, 400)})
    y = x["a"] + rng.normal(0, 2, 400)
    bands = rul.ConformalBands(edges=(50.0,), low=(-3.0, -10.0), high=(2.0, 12.0))
    model = rul.rul_fit(x, y, {"max_iter": 50}, bands=bands)
    assert model.bounds == []  # no quantile models when the bands are given
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    again = joblib.load(path)
    p = again.predict(pd.DataFrame({"a": [10.0, 90.0]}))
    assert p.high - p.point == pytest.approx([2.0, 12.0])
    assert p.point - p.low == pytest.approx([3.0, 10.0])


def test_cross_validation_holds_every_unit_out_once() -> None:
    folds = rul.unit_folds(list(range(1, 11)) * 3, folds=3, seed=0)
    assert sorted(len(f) for f in folds) == [3, 3, 4]
    assert set().union(*folds) == set(range(1, 11))
    rows = []
    for unit in range(1, 9):
        life = 40 + 5 * unit
        rows += [{"unit": unit, "age": a, "s": a / life, "left": life - a} for a in range(life)]
    frame = pd.DataFrame(rows)
    cv = rul.cross_validate(
        frame[["s"]],
        frame["left"].clip(upper=rul.KNEE),
        frame["unit"],
        {"max_iter": 50},
        actual=frame["left"],
        folds=4,
        cuts=3,
    )
    assert len(cv.point) == 8 * 3
    assert cv.rmse < frame["left"].std()  # the wear signal tells the cycles left
