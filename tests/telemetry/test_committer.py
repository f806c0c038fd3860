"""The group committer's isolation: one message the database refuses never changes another
message's answer, whoever shares its transaction."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.ingest.committer import GroupCommitter
from telemetry.ingest.writer import Key, Row

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class FakeDatabase:
    """Transactions that keep their rows only when they commit; a row whose metric is
    "poison" makes the write fail the way the database refuses a value."""

    def __init__(self, *, down: bool = False) -> None:
        self.rows: list[Row] = []
        self.transactions = 0
        self.down = down

    @asynccontextmanager
    async def connection(self) -> AsyncIterator["FakeDatabase"]:
        if self.down:
            raise psycopg.OperationalError("connection refused")
        yield self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.pending: list[Row] = []
        yield  # an exception here skips the commit below: nothing of the transaction stays
        self.rows.extend(self.pending)
        self.transactions += 1

    async def write(self, conn: Any, rows: Sequence[Row]) -> set[Key] | None:
        await asyncio.sleep(0)  # others queue up meanwhile
        if any(r[3] == "poison" for r in rows):
            raise psycopg.errors.NumericValueOutOfRange("value out of range: overflow")
        self.pending.extend(rows)
        return None


def message(tenant: int, device: int, n: int, poisoned: bool) -> list[Row]:
    rows = [(T0 + timedelta(seconds=i), tenant, device, "temp", float(i)) for i in range(n)]
    if poisoned:
        rows.append((T0, tenant, device, "poison", 1e308))
    return rows


async def submit_all(db: FakeDatabase, messages: list[list[Row]]) -> list[Any]:
    committer = GroupCommitter(
        db,  # type: ignore[arg-type]
        writers=1,
        max_rows=10_000,
        on_commit=lambda rows: None,
        write=db.write,
    )
    try:
        return await asyncio.gather(
            *(committer.submit(rows) for rows in messages), return_exceptions=True
        )
    finally:
        await committer.close()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=8),
    poisoned=st.data(),
)
def test_a_poisoned_message_never_changes_another_answer(sizes: list[int], poisoned: Any) -> None:
    bad = poisoned.draw(st.sets(st.integers(0, len(sizes) - 1), max_size=len(sizes) - 1))
    messages = [message(i % 3, i, n, i in bad) for i, n in enumerate(sizes)]
    db = FakeDatabase()
    answers = asyncio.run(submit_all(db, messages))
    for i, (n, answer) in enumerate(zip(sizes, answers, strict=True)):
        if i in bad:
            assert isinstance(answer, psycopg.errors.NumericValueOutOfRange)
        else:
            assert answer == (n, 0)  # exactly what it would have been alone
    # Everything of the good messages is stored once, nothing of a poisoned one.
    expected = sorted(r for i, rows in enumerate(messages) if i not in bad for r in rows)
    assert sorted(db.rows) == expected


def test_an_unreachable_database_fails_the_batch_once_not_once_per_message() -> None:
    db = FakeDatabase(down=True)
    answers = asyncio.run(submit_all(db, [message(1, i, 2, False) for i in range(4)]))
    assert all(isinstance(a, psycopg.OperationalError) for a in answers)
    assert db.rows == []


@pytest.mark.parametrize("n", [1, 3])
def test_healthy_messages_share_transactions(n: int) -> None:
    db = FakeDatabase()
    answers = asyncio.run(submit_all(db, [message(1, i, 2, False) for i in range(n)]))
    assert answers == [(2, 0)] * n
    assert db.transactions <= 2  # the first alone, the rest together


@pytest.mark.django_db(transaction=True)
def test_two_writers_storing_overlapping_readings_in_opposite_orders_never_deadlock(
    tenant: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Two ingest processes, each with its group commit, get the same resend at once with its
    readings in opposite orders: each transaction takes its rows in one order, so one waits for
    the other instead of both waiting for each other (PostgreSQL would abort one after its
    deadlock_timeout and the write be tried again)."""
    from psycopg_pool import AsyncConnectionPool

    from iotplatform.database import conninfo
    from telemetry.models import Reading

    from .. import factories

    device = factories.make_device(tenant)

    async def main() -> list[Any]:
        pools = [AsyncConnectionPool(conninfo(), min_size=1, max_size=2, open=False,
                                     kwargs={"autocommit": True}) for _ in range(2)]  # fmt: skip
        for pool in pools:
            await pool.open()
        committers = [
            GroupCommitter(pool, writers=1, max_rows=10_000, on_commit=lambda rows: None)
            for pool in pools
        ]
        answers: list[tuple[int, int]] = []
        try:
            for n in range(15):
                rows = [(T0 + timedelta(hours=n, seconds=i), tenant.id, device.id, m, 1.0)
                        for i in range(200) for m in ("temp", "flow")]  # fmt: skip
                answers += await asyncio.gather(
                    committers[0].submit(rows), committers[1].submit(rows[::-1])
                )
        finally:
            for committer, pool in zip(committers, pools, strict=True):
                await committer.close()
                await pool.close()
        return answers

    with caplog.at_level("WARNING", logger="telemetry.ingest.committer"):
        answers = asyncio.run(main())
    assert "rolled back" not in caplog.text
    for first, second in zip(answers[::2], answers[1::2], strict=True):
        assert sorted([first, second]) == [(0, 400), (400, 0)]  # stored once, once a duplicate
    assert Reading.objects.filter(device=device).count() == 15 * 400
