import pandas as pd
import pytest

from analytics.ml.detectors import threshold_flags, zscore_flags


def test_threshold_flags_name_the_metric_and_how_far() -> None:
    frame = pd.DataFrame({"temperature": [70.0, 80.0, 90.0], "battery": [50.0, 25.0, 40.0]})
    flags = threshold_flags(
        frame,
        {"temperature": {"warn_high": 85.0}, "battery": {"warn_low": 30.0}, "absent": {}},
    )
    assert [(f.row, f.metric, f.value, f.score) for f in flags] == [
        (2, "temperature", 90.0, 5.0),
        (1, "battery", 25.0, 5.0),
    ]


def test_zscore_flags_the_jump_against_the_previous_window() -> None:
    steady = [10.0, 10.2, 9.8, 10.1, 9.9] * 4  # 20 readings: mean 10, std about 0.158
    frame = pd.DataFrame({"pressure": [*steady, 13.0], "flow": [5.0] * 21})
    flags = zscore_flags(frame)
    assert [(f.row, f.metric, f.detector) for f in flags] == [(20, "pressure", "zscore")]
    expected = (13.0 - 10.0) / pd.Series(steady).std()
    assert flags[0].score == pytest.approx(expected)
    assert flags[0].value == 13.0
    # A constant metric never divides by zero into a flag; a shorter history flags nothing.
    assert zscore_flags(frame.iloc[:20]) == []
