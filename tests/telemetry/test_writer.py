from datetime import UTC, datetime, timedelta

from telemetry.ingest.writer import latest_params, rollup_aggregate, rollup_params

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_latest_values_are_upserted_in_one_lock_order() -> None:
    """Two ingest processes writing the same devices in opposite orders deadlocked on
    telemetry_latest; the upsert's rows are sorted by (device, metric) whatever the arrival."""
    rows = [
        (T0, 1, 9, "temp", 1.0),
        (T0, 1, 3, "vib", 2.0),
        (T0 + timedelta(seconds=1), 1, 9, "temp", 5.0),
        (T0, 1, 3, "amps", 3.0),
    ]
    devices, metrics, _, times, values = latest_params(rows) or []
    assert list(zip(devices, metrics, strict=True)) == [(3, "amps"), (3, "vib"), (9, "temp")]
    assert values == [3.0, 2.0, 5.0]  # the newest of each series
    assert times[2] == T0 + timedelta(seconds=1)
    assert latest_params(reversed(rows)) == latest_params(rows)


def test_rollups_are_sorted_too() -> None:
    rows = [(T0, 1, 9, "temp", 1.0), (T0, 1, 3, "temp", 2.0)]
    minutes, _ = rollup_aggregate(rows)
    assert rollup_params(minutes)[0] == [3, 9]
