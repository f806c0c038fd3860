"""The lifetime RUL's pure pieces: lives from recorded failures, the capped target, the frozen
baseline a long life's last days are measured against."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml import lifetime, wear
from analytics.ml.clock import Clock
from analytics.ml.lifetime_choice import SHARE_MARGIN, _closest

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _failures(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "device": [r[0] for r in rows],
            "failed_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "repaired_at": pd.to_datetime([r[2] for r in rows], utc=True),
        }
    )


def test_lives_run_from_the_first_reading_or_a_repair_to_the_next_failure() -> None:
    hours = [0, 5, 10, 11, 12, 20, 30, 40]
    minute = [T0 + pd.Timedelta(hours=h) for h in hours]
    device = ["a"] * 6 + ["b"] * 2
    failures = _failures(
        ("a", "2026-01-01 10:00", "2026-01-01 12:00"),  # down 10:00-12:00
        ("b", "2026-01-01 23:00", None),  # b fails before its rows, never repaired
    )
    lives = lifetime.lives_of(device, minute, failures)
    assert lives.life.tolist() == [0, 0, -1, -1, 1, 1, -1, -1]
    assert lives.failed_h[0] - lives.born_h[0] == pytest.approx(10.0)  # a's first life: 10 h
    assert lives.hours_left[1] == pytest.approx(5.0)
    assert np.isnan(lives.failed_h[4])  # the life after the repair has not failed yet
    assert lives.age_h[5] == pytest.approx(8.0)  # from the repair at 12:00
    # a first reading earlier than the rows read: the age counts from it
    known = lifetime.lives_of(device, minute, failures, first={"a": T0 - pd.Timedelta(hours=2)})
    assert known.age_h[0] == pytest.approx(2.0)
    # a life that began before the rows read (its first day unseen) is left out
    late = lifetime.lives_of(
        device, minute, failures, first={"a": T0}, since=T0 + pd.Timedelta(1, "h")
    )
    assert late.life[:2].tolist() == [-1, -1] and late.life[4] >= 0


def test_the_capped_target_keeps_a_censored_life_only_past_the_knee() -> None:
    minute = [T0 + pd.Timedelta(hours=h) for h in (0, 100, 500)]
    lives = lifetime.lives_of(["a"] * 3, minute, _failures())
    end_h = lives.now_h[-1] + 10.0  # the rows read end 10 h after the last
    hours, known = lifetime.lifetime_target(lives, end_h)
    assert hours.tolist() == [lifetime.KNEE_HOURS, lifetime.KNEE_HOURS, 10.0]
    assert known.tolist() == [True, True, False]  # 410 h and more left; 10 h or more: unknown


def test_a_frozen_baseline_gives_a_long_life_s_last_days_their_full_history_value() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    load = rng.uniform(0.2, 1.0, n)
    values = pd.DataFrame(
        {
            "current": 6 + 24 * load + rng.normal(0, 0.1, n),
            "temperature": 20 + 30 * load + 0.002 * np.arange(n) + rng.normal(0, 0.1, n),
        },
        index=pd.MultiIndex.from_arrays(
            [["d"] * n, pd.date_range(T0, periods=n, freq="min")], names=["device", "minute"]
        ),
    )
    times = values.index.get_level_values("minute")
    coefficients = wear.new_fit(values.to_numpy(), times, np.arange(n) < 2000)
    whole = lifetime.lives_of(["d"] * n, times, _failures())
    full = lifetime.life_features(values, whole, coefficients)
    # the last 2,880 minutes alone, the life's start and first-day baseline given
    tail = values.iloc[-2880:]
    cut = lifetime.lives_of(
        ["d"] * 2880, tail.index.get_level_values("minute"), _failures(), first={"d": T0}
    )
    base = wear.life_baseline(values.to_numpy(), times, coefficients)
    part = lifetime.life_features(tail, cut, coefficients, base=np.tile(base, (2880, 1)))
    last = full.iloc[-1]
    assert part.iloc[-1][list(full.columns)].to_numpy() == pytest.approx(last.to_numpy(), rel=1e-9)
    # without the baseline, the tail's own first day would be the zero: not the same
    wrong = lifetime.life_features(tail, cut, coefficients)
    assert wrong.iloc[-1]["temperature_hi1440"] != pytest.approx(last["temperature_hi1440"])


def test_a_new_device_s_unlabelled_anomalies_stay_out_of_its_fit() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    load = rng.uniform(0.2, 1.0, n)
    values = pd.DataFrame(
        {"current": 6 + 24 * load, "temperature": 20 + 30 * load + rng.normal(0, 0.1, n)},
        index=pd.MultiIndex.from_arrays(
            [["d"] * n, pd.date_range(T0, periods=n, freq="min")], names=["device", "minute"]
        ),
    )
    values.iloc[100:300, 1] += 15.0  # a level shift nobody labelled, on a tenth of the minutes
    lives = lifetime.lives_of(["d"] * n, values.index.get_level_values("minute"), _failures())
    times = values.index.get_level_values("minute")
    plain = wear.new_fit(values.to_numpy(), times, np.ones(n, dtype=bool))
    robust = lifetime.new_device_fit(values, lives)
    # temperature on current: 30 / 24 per unit, 20 - 6 x 30 / 24 = 12.5 at none
    assert robust[1][0] == pytest.approx(30 / 24, rel=1e-2)
    assert robust[1][-1] == pytest.approx(12.5, abs=0.1)
    assert abs(plain[1][-1] - 12.5) > 1.0  # the shift pulled the plain fit


@pytest.mark.parametrize("name", lifetime.CANDIDATES)
def test_a_candidate_s_own_features_are_the_full_set_s(name: str) -> None:
    rng = np.random.default_rng(2)
    n = 3000
    values = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n) + np.arange(n) / 1000},
        index=pd.MultiIndex.from_arrays(
            [["d"] * n, pd.date_range(T0, periods=n, freq="min")], names=["device", "minute"]
        ),
    )
    lives = lifetime.lives_of(["d"] * n, values.index.get_level_values("minute"), _failures())
    times = values.index.get_level_values("minute")
    coefficients = wear.new_fit(values.to_numpy(), times, np.ones(n, dtype=bool))
    full = lifetime.life_features(values, lives, coefficients)
    model = lifetime.LifetimeModel(name, ["a", "b"], coefficients, None, None, log=True)
    own = lifetime.life_features(values, lives, coefficients, **model.parts)
    wanted = (
        ["age_h", f"a_hi{model.projected}", f"b_hi{model.projected}"]
        if name == "trajectory"
        else [c for c in lifetime.candidate_columns(full, name) if not c.startswith("proj_")]
    )
    assert set(wanted) <= set(own.columns) <= set(full.columns)
    assert own[wanted].equals(full[wanted])


def test_a_version_stored_before_the_clock_and_the_half_day_median_reads_as_it_was_trained() -> (
    None
):
    model = lifetime.LifetimeModel("trajectory", ["a"], [], None, None, log=True)
    for name in ("clock", "projected", "levels"):
        del model.__dict__[name]  # as an older pickle holds it
    assert model.clock is None and model.projected == 1440 != lifetime.PROJECTED
    assert model.parts["windows"] == (1440,) and model.history_readings == 1440
    assert model.levels is None and model.indicators == ["a"] and model.parts["levels"] is None


def test_of_shares_within_the_margin_the_smaller_rmse_is_chosen() -> None:
    names = ["a", "b", "c"]
    shares = {"a": 0.72, "b": 0.72 - SHARE_MARGIN / 2, "c": 0.72 - 2 * SHARE_MARGIN}
    rmses = {"a": 57.0, "b": 19.0, "c": 5.0}  # c misses the margin however small its RMSE
    assert _closest(names, shares, rmses) == "b"
    assert _closest(names, shares, {**rmses, "b": 60.0}) == "a"
    assert _closest(names, shares, {**rmses, "b": float("nan")}) == "a"  # no RMSE: never better
    assert _closest(["x", "y"], {"x": 0.5, "y": 0.5}, {"x": 3.0, "y": 3.0}) == "y"  # the later


def test_the_window_candidate_s_own_features_read_on_the_use_clock() -> None:
    # Its features (``parts``: no indicators) hold no age; on a clock they are as they are.
    model = lifetime.LifetimeModel(
        "window", ["a"], [], None, None, log=False, clock=Clock(tuple([1.2] * 120 + [0.5] * 48))
    )
    assert model.parts["windows"] == ()
    index = pd.MultiIndex.from_arrays(
        [["d"] * 3, pd.date_range(T0, periods=3, freq="min")], names=["device", "minute"]
    )
    features = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=index)
    assert lifetime.on_clock(features, model.clock).equals(features)
    aged = features.assign(age_h=[10.0, 10.0, 10.0])
    assert not lifetime.on_clock(aged, model.clock)["age_h"].equals(aged["age_h"])


def test_a_trajectory_whose_library_reads_gains_keeps_the_levels_they_need() -> None:
    # Two lives whose wear takes a share off the metric under a swinging load: their gains
    # follow the path, so the library reads them, and the model keeps the levels the apply
    # cycle computes them with (its baseline then holds the gains' zeros too).
    rows, lives = [], []
    for k, total in enumerate((300.0, 400.0)):
        age = np.arange(0.0, total, 0.5)
        expected = 20 + 40 * (0.6 + 0.3 * np.sin(2 * np.pi * age / 24))
        gain = -0.5 * (age / total) ** 2 + np.random.default_rng(k).normal(0, 2e-4, len(age))
        rows.append(pd.DataFrame({"a_hi720": gain * expected, "a%_hi720": gain, "age_h": age}))
        born = 1000.0 * k
        lives.append((np.full(len(age), k), np.full(len(age), born), born + total, born + age))
    features = pd.concat(rows, ignore_index=True)
    index = pd.MultiIndex.from_arrays(
        [
            np.repeat(["d0", "d1"], [len(r) for r in rows]),
            pd.date_range(T0, periods=len(features), freq="min"),
        ],
        names=["device", "minute"],
    )
    features.index = index
    life = lifetime.Lives(
        np.concatenate([x[0] for x in lives]),
        np.concatenate([x[1] for x in lives]),
        np.concatenate([np.full(len(x[0]), x[2]) for x in lives]),
        np.concatenate([x[3] for x in lives]),
    )
    levels = np.array([44.0])

    def fit(frame: pd.DataFrame) -> lifetime.LifetimeModel:
        return lifetime.lifetime_fit(
            frame, ["a"], [], life, "trajectory", end_h=2000.0, every=1, levels=levels
        )

    model = fit(features)
    assert model.library is not None and model.library.reads_gains
    assert model.levels is levels and model.parts["levels"] is levels
    assert model.indicators == ["a", "a%"]
    # Without the gains among the features: the indicators alone, no levels kept.
    alone = fit(features.drop(columns="a%_hi720"))
    assert alone.library is not None and not alone.library.reads_gains and alone.levels is None


def test_the_features_of_some_rows_alone_are_those_rows_of_every_row_s() -> None:
    # Lives of 3,000, 1,500, 40 and 2,880 minutes, a tenth of one metric missing, one life's
    # zero given: the rows asked for include lives' first minutes, the minute before and after
    # the first day, and the minute a rolling median first has enough readings.
    rng = np.random.default_rng(3)
    parts = []
    for device, n in enumerate([3000, 1500, 40, 2880]):
        load = rng.uniform(0.2, 1.0, n)
        part = pd.DataFrame(
            {
                "a": 5 + 10 * load + rng.normal(0, 0.3, n) + np.arange(n) / 500,
                "b": 20 + 30 * load + rng.normal(0, 0.5, n),
            },
            index=pd.MultiIndex.from_arrays(
                [[device] * n, pd.date_range(T0, periods=n, freq="min")],
                names=["device", "minute"],
            ),
        )
        part.iloc[rng.choice(n, n // 10), 0] = np.nan
        parts.append(part)
    values = pd.concat(parts)
    device = values.index.get_level_values("device").to_numpy()
    times = values.index.get_level_values("minute")
    hours = wear.epoch_hours(times)
    lives = lifetime.Lives(
        device.astype(np.int64), hours[0] - device, np.full(len(values), np.nan), hours
    )
    coefficients = wear.new_fit(values.fillna(0).to_numpy(), times, np.ones(len(values), bool))
    base = np.full((len(values), 4), np.nan)
    base[device == 0] = [0.1, -0.2, 0.01, np.nan]
    levels = np.array([10.0, 40.0])
    full = lifetime.life_features(values, lives, coefficients, base=base, levels=levels)
    ends = np.cumsum([len(p) for p in parts]) - 1
    at = np.unique(np.r_[rng.choice(len(values), 200, replace=False), ends, 0, 59, 60, 1439, 1440])
    some = lifetime.life_features(values, lives, coefficients, base=base, levels=levels, at=at)
    assert some.index.equals(full.index[at])
    assert list(some.columns) == list(full.columns)
    assert some.to_numpy() == pytest.approx(full.iloc[at].to_numpy(), rel=1e-12, nan_ok=True)
    assert np.isfinite(some["a%_dhi"]).any() and np.isnan(some["a_hi1440"]).any()
