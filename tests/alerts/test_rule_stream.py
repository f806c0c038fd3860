"""What the ingest side hands the rule evaluator: only watched readings; for metrics only
threshold rules watch, the first and last reading of each run on one side of every level (a
batch of normal readings shrinks to two rows per device and metric, a crossing keeps the
readings either side of it); every reading where a rate rule watches."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from alerts.ingest import Levels, RuleStream, levels_of, zone

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)


def _stream(rules: list[tuple[Any, ...]]) -> RuleStream:
    stream = RuleStream(SimpleNamespace(pool=None))  # type: ignore[arg-type]
    stream.watched = levels_of(rules)
    return stream


def _rows(device: int, metric: str, values: list[float], tenant: int = 1) -> list[Any]:
    return [(T0 + timedelta(seconds=i), tenant, device, metric, v) for i, v in enumerate(values)]


def test_levels_and_zones() -> None:
    levels = levels_of(
        [
            (1, "temperature", "threshold", 85.0, 80.0, 30),
            (1, "temperature", "threshold", 75.0, None, 0),
            (1, "battery", "threshold", 30.0, 35.0, 0),
            (1, "battery", "rate", 10.0, None, 0),
            (1, "current", "zscore", 3.0, 1.0, 0),
        ]
    )
    assert levels == {
        (1, "temperature"): Levels((75.0, 80.0, 85.0), (timedelta(seconds=30),)),
        (1, "battery"): None,
        (1, "current"): None,  # a z-score needs every reading
    }
    cuts = (75.0, 80.0, 85.0)
    assert [zone(cuts, v) for v in (60, 75, 77, 80, 84, 85, 90)] == [0, 1, 2, 3, 4, 5, 6]


def test_a_run_on_one_side_keeps_its_first_and_last_reading_and_a_crossing_both_sides() -> None:
    stream = _stream([(1, "temperature", "threshold", 85.0, 80.0, 0)])
    stream.committed(_rows(7, "temperature", [60, 61, 62, 63, 90, 91, 92, 70, 71]))
    stream.committed(_rows(8, "temperature", [50, 51]) + _rows(7, "vibration", [9, 9]))
    kept = [(r[2], r[0] - MS0, r[4]) for r in stream.pending()]
    assert kept == [
        (7, 0, 60),
        (7, 3000, 63),  # normal: first and last
        (7, 4000, 90),
        (7, 6000, 92),  # hot: when it began, its latest
        (7, 7000, 70),
        (7, 8000, 71),
        (8, 0, 50),
        (8, 1000, 51),
    ]  # vibration is watched by no rule of the tenant


def test_every_reading_is_kept_where_a_rate_rule_watches_and_other_tenants_are_apart() -> None:
    stream = _stream(
        [(1, "battery", "rate", 10.0, None, 0), (2, "battery", "threshold", 30.0, None, 0)]
    )
    stream.committed(_rows(7, "battery", [90, 89, 88, 87]))
    stream.committed(_rows(9, "battery", [90, 89, 88, 87], tenant=2))
    assert [r[4] for r in stream.pending() if r[1] == 1] == [90, 89, 88, 87]
    assert [r[4] for r in stream.pending() if r[1] == 2] == [90, 87]


def test_an_older_reading_never_replaces_a_runs_newer_last() -> None:
    stream = _stream([(1, "temperature", "threshold", 85.0, None, 0)])
    rows = _rows(7, "temperature", [60, 61, 62])
    stream.committed([rows[0], rows[2], rows[1]])
    assert [r[4] for r in stream.pending()] == [60, 62]


def test_the_reading_where_a_rules_duration_is_reached_is_kept() -> None:
    stream = _stream(
        [
            (1, "temperature", "threshold", 85.0, None, 3),
            (1, "temperature", "threshold", 85.0, None, 5),
        ]
    )
    stream.committed(_rows(7, "temperature", [90, 91, 92, 93, 94, 95, 96, 97, 98]))
    # began at 0 s; 3 s and 5 s reached at 93 and 95 (each standing in for the last so far)
    assert [r[4] for r in stream.pending()] == [90, 93, 95, 98]


class _Redis:
    """Stands in for the stream's Redis client: down while ``up`` is false."""

    def __init__(self) -> None:
        self.up = False
        self.entries: list[list[Any]] = []

    async def xadd(self, key: str, fields: dict[str, str], **_: Any) -> None:
        if not self.up:
            raise ConnectionError("Connection refused")
        self.entries.append(json.loads(fields["rows"]))


def test_readings_flushed_while_redis_is_down_wait_and_go_in_order_once_it_answers(
    settings: Any,
) -> None:
    settings.ALERTS_BACKLOG_ROWS = 6
    stream = _stream([(1, "battery", "rate", 10.0, None, 0)])
    redis = stream.redis = _Redis()  # type: ignore[assignment]
    for start in (0, 3):  # two flushes while Redis restarts
        stream.committed(_rows(7, "battery", [start + 0.0, start + 1.0, start + 2.0]))
        with pytest.raises(ConnectionError):
            asyncio.run(stream.flush())
    assert redis.entries == []
    redis.up = True
    stream.committed(_rows(7, "battery", [6.0]))
    asyncio.run(stream.flush())
    # Seven rows for a backlog of six: the oldest went; the rest arrive in order.
    assert [[r[4] for r in e] for e in redis.entries] == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
    assert stream.backlog == []
    asyncio.run(stream.flush())  # nothing new: nothing sent twice
    assert len(redis.entries) == 1
