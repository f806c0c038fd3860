"""The one-minute frames against hand-computed tiny cases."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml import frames

T0 = 1_790_000_040_000  # ms, a minute boundary (1790000040 s = 29833334 minutes)
M = 60_000


def minute(k: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + k * M, unit="ms", tz="UTC")


def test_minute_means_average_each_metric_per_device_and_minute() -> None:
    readings = pd.DataFrame(
        {
            "ts": [T0, T0 + 30_000, T0 + 59_999, T0 + M, T0 + 10, T0 + 2 * M + 5],
            "device": ["b", "b", "b", "b", "a", "a"],
            "metric": ["t", "t", "v", "t", "t", "t"],
            "value": [1.0, 3.0, 7.0, 10.0, 5.0, 6.0],
        }
    )
    out = frames.minute_means(readings)
    assert list(out.index.names) == ["device", "minute"]
    assert out.index.tolist() == [
        ("a", minute(0)),
        ("a", minute(2)),
        ("b", minute(0)),
        ("b", minute(1)),
    ]
    assert out["t"].tolist() == [5.0, 6.0, 2.0, 10.0]  # b's first minute: (1 + 3) / 2
    assert out["v"].isna().tolist() == [True, True, False, True]
    assert out.loc[("b", minute(0)), "v"] == 7.0
    # datetimes give the same frame as milliseconds
    as_times = readings.assign(ts=pd.to_datetime(readings["ts"], unit="ms", utc=True))
    pd.testing.assert_frame_equal(frames.minute_means(as_times), out, check_index_type=False)


def _index(rows: list[tuple[str, int]]) -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples([(d, minute(k)) for d, k in rows], names=frames.INDEX)


def test_labelled_minutes_mark_every_minute_a_window_meets() -> None:
    index = _index([("a", k) for k in range(6)] + [("b", 0), ("b", 1), ("b", 3)])
    labels = pd.DataFrame(
        {
            "device": ["a", "a", "b", "b", "c"],
            "kind": ["level_shift", "spike", "drift", "outage", "spike"],
            # a: 0:30 to 2:00 (minutes 0, 1, 2) and a spike at 4:59; b: 1:10 to 2:50 (minute 1,
            # the device sent nothing in minute 2), an outage over minute 3; c: no readings
            "start_ms": [T0 + 30_000, T0 + 5 * M - 1, T0 + M + 10_000, T0 + 3 * M, T0],
            "end_ms": [T0 + 2 * M, T0 + 5 * M - 1, T0 + 2 * M + 50_000, T0 + 3 * M, T0],
        }
    )
    everything = frames.labelled_minutes(labels, index)
    assert everything.tolist() == [1, 1, 1, 0, 1, 0, 0, 1, 1]
    values = frames.labelled_minutes(labels, index, kinds=("spike", "level_shift", "drift"))
    assert values.tolist() == [1, 1, 1, 0, 1, 0, 0, 1, 0]
    assert values.index.equals(index)


def test_windows_flagged_says_which_labelled_windows_got_a_flag() -> None:
    index = _index([("a", k) for k in range(6)] + [("b", 0), ("b", 1)])
    flags = pd.Series([0, 0, 1, 0, 0, 0, 0, 0], index=index, dtype=bool)
    labels = pd.DataFrame(
        {
            "device": ["a", "a", "b", "b", "a"],
            "kind": ["drift", "stuck", "spike", "spike", "outage"],
            "start_ms": [T0, T0 + 3 * M, T0 + M, T0 + 9 * M, T0],
            "end_ms": [T0 + 2 * M, T0 + 5 * M, T0 + M, T0 + 9 * M, T0 + 6 * M],
        },
        index=[10, 11, 12, 13, 14],
    )
    out = frames.windows_flagged(labels, flags, kinds=("drift", "stuck", "spike"))
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out.iloc[:3].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(out.loc[13])  # b sent nothing in minute 9


def test_rul_at_takes_each_minutes_latest_row() -> None:
    rul = pd.DataFrame(
        {
            "ts": [T0 + 30_000, T0, T0 + M, T0 + 2 * M, T0],
            "device": ["a", "a", "a", "a", "b"],
            "rul_seconds": [570, 600, 540, 480, 90_000],
            "censored": [0, 0, 0, 0, 1],
        }
    )
    index = _index([("a", 0), ("a", 1), ("a", 3), ("b", 0)])
    out = frames.rul_at(rul, index)
    assert out["rul_seconds"].iloc[[0, 1, 3]].tolist() == [570.0, 540.0, 90_000.0]
    assert np.isnan(out["rul_seconds"].iloc[2])  # no row in that minute
    assert out["censored"].tolist() == [False, False, False, True]
    assert out.index.equals(index)


def test_an_unsorted_index_is_refused() -> None:
    index = _index([("b", 0), ("a", 0)])
    labels = pd.DataFrame({"device": ["a"], "kind": ["spike"], "start_ms": [T0], "end_ms": [T0]})
    with pytest.raises(ValueError, match="sorted"):
        frames.labelled_minutes(labels, index)
