"""Minute means on the real database: each device over its own span in one query, and minutes
already read served to a later read instead of reading them again — the same frame either way."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from iotplatform.tenancy.models import Tenant
from telemetry import windows

from .. import factories
from .known_readings import write

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _minutes(tenant: Tenant, other: Tenant) -> tuple[list[int], int]:
    """Three devices of ``tenant`` with an hour of minutes of two metrics (b's second metric
    only in its even minutes), and one of ``other``."""
    ids = [factories.make_device(tenant).id for _ in range(3)]
    theirs = factories.make_device(other).id
    rows: list[tuple[datetime, int, int, str, float]] = []
    for k in range(60):
        at = T0 + timedelta(minutes=k, seconds=7)
        for n, device_id in enumerate(ids):
            rows.append((at, tenant.id, device_id, "t", 10.0 * n + k))
            rows.append((at + timedelta(seconds=30), tenant.id, device_id, "t", 10.0 * n + k + 1))
            if n != 1 or k % 2 == 0:
                rows.append((at, tenant.id, device_id, "v", 100.0 * n - k))
        rows.append((at, other.id, theirs, "t", 1e6))
    write(rows)
    return ids, theirs


def _read(tenant: Tenant, ids: list[int], metrics: list[str], a: int, b: int, **kw: Any) -> Any:
    return windows.minute_means(
        tenant_id=tenant.id,
        device_ids=ids,
        metrics=metrics,
        start=T0 + timedelta(minutes=a),
        end=T0 + timedelta(minutes=b),
        **kw,
    )


@pytest.mark.django_db
def test_spans_read_each_device_over_its_own(tenant: Tenant, other_tenant: Tenant) -> None:
    (a, b, _), theirs = _minutes(tenant, other_tenant)
    spans = {
        a: (T0 + timedelta(minutes=5), T0 + timedelta(minutes=8)),
        b: (T0 + timedelta(minutes=40), T0 + timedelta(minutes=44)),
        theirs: (T0, T0 + timedelta(minutes=60)),  # another tenant's: nothing
    }
    out = windows.minute_means_spans(tenant_id=tenant.id, spans=spans, metrics=["v", "t"])
    assert list(out.columns) == ["v", "t"]
    assert out.index.tolist() == [
        *[(a, pd.Timestamp(T0 + timedelta(minutes=k))) for k in (5, 6, 7)],
        *[(b, pd.Timestamp(T0 + timedelta(minutes=k))) for k in (40, 41, 42, 43)],
    ]
    assert out["t"].tolist() == [5.5, 6.5, 7.5, 50.5, 51.5, 52.5, 53.5]  # two readings a minute
    assert out["v"].iloc[:3].tolist() == [-5.0, -6.0, -7.0]
    assert out["v"].iloc[3:].isna().tolist() == [False, True, False, True]  # b: even minutes
    for device_id, (start, end) in spans.items():
        one = windows.minute_means(
            tenant_id=tenant.id, device_ids=[device_id], metrics=["v", "t"], start=start, end=end
        )
        mine = out[out.index.get_level_values("device") == device_id]
        pd.testing.assert_frame_equal(mine, one, check_index_type=False)


@pytest.mark.django_db
def test_minutes_held_give_what_a_read_gives(
    tenant: Tenant, other_tenant: Tenant, django_assert_num_queries: Any
) -> None:
    (a, b, c), _ = _minutes(tenant, other_tenant)
    held = windows.Held(_read(tenant, [a, b], ["t", "v"], 0, 50), T0, T0 + timedelta(minutes=50))
    # within its span and columns, for its devices: no query, the same frame
    with django_assert_num_queries(0):
        taken = _read(tenant, [a, b], ["v"], 10, 20, held=held)
    pd.testing.assert_frame_equal(taken, _read(tenant, [a, b], ["v"], 10, 20))
    assert len(taken) == 10 + 5  # b's v only in its even minutes: its other rows are no rows
    # a device it does not hold is read; the frame is sorted as one read is
    with django_assert_num_queries(1):
        mixed = _read(tenant, [c, a], ["t", "v"], 30, 40, held=held)
    pd.testing.assert_frame_equal(mixed, _read(tenant, [c, a], ["t", "v"], 30, 40))
    # past its span, or a column it lacks: read
    with django_assert_num_queries(1):
        later = _read(tenant, [a], ["t"], 45, 55, held=held)
    assert len(later) == 10
    with django_assert_num_queries(1):
        _read(tenant, [a], ["w"], 10, 20, held=held)
