"""How a page's pending events are merged into one frame (the consumer's throttling)."""

from frontend.consumers import LiveBatch
from iotplatform.live import MAX_POINTS_PER_METRIC


def test_latest_values_keep_the_newest_point() -> None:
    batch = LiveBatch()
    batch.add("telemetry", {"devices": {"1": {"t": [2000, 5.0]}, "2": {"t": [1000, 1.0]}}})
    batch.add("telemetry", {"devices": {"1": {"t": [1000, 9.0], "p": [1500, 3.0]}}})
    assert batch.events() == [
        {
            "type": "telemetry",
            "data": {
                "devices": {"1": {"t": [2000, 5.0], "p": [1500, 3.0]}, "2": {"t": [1000, 1.0]}}
            },
        }
    ]


def test_device_points_are_concatenated_and_capped() -> None:
    batch = LiveBatch()
    batch.add("device.telemetry", {"device": 7, "points": {"t": [[1, 1.0], [2, 2.0]]}})
    batch.add("device.telemetry", {"device": 7, "points": {"t": [[3, 3.0]]}})
    assert batch.events() == [
        {
            "type": "device.telemetry",
            "data": {"device": 7, "points": {"t": [[1, 1.0], [2, 2.0], [3, 3.0]]}},
        }
    ]
    big = LiveBatch()
    big.add("device.telemetry", {"device": 7, "points": {"t": [[i, 0.0] for i in range(5000)]}})
    kept = big.events()[0]["data"]["points"]["t"]
    assert len(kept) == MAX_POINTS_PER_METRIC and kept[-1][0] == 4999


def test_status_changes_collapse_per_device_and_other_events_keep_their_order() -> None:
    batch = LiveBatch()
    assert not batch
    batch.add("device.status", {"device": 1, "from": "offline", "to": "healthy"})
    batch.add("command.status", {"id": 1, "status": "sent"})
    batch.add("device.status", {"device": 1, "from": "healthy", "to": "anomaly"})
    batch.add("command.status", {"id": 1, "status": "acked"})
    assert batch
    assert batch.events() == [
        {"type": "device.status", "data": {"device": 1, "from": "offline", "to": "anomaly"}},
        {"type": "command.status", "data": {"id": 1, "status": "sent"}},
        {"type": "command.status", "data": {"id": 1, "status": "acked"}},
    ]
