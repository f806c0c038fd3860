"""The analytics tests' shared plant: three pumps with an active anomaly model, and the live
events the services hand over."""

from datetime import timedelta
from typing import Any

import pytest

from analytics import artefacts, training
from iotplatform import live

from . import plant

M = plant.END  # the minute scored


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    artefacts._cache.clear()


@pytest.fixture
def trained(db: None, tenant) -> list[Any]:
    """Three pumps with two days of normal operation before M and an active anomaly model."""
    devices = plant.pumps(tenant, 3)
    plant.store(plant.normal(devices, start=M - timedelta(days=2), minutes=2 * 1440 - 5))
    outcome = training.anomaly_train(tenant=tenant, device_type=devices[0].type, end=M)
    assert outcome.activated, outcome.message
    return devices


@pytest.fixture
def published(monkeypatch) -> list[dict[str, Any]]:
    """Live events as the services hand them to the channel layer (after commit); the real
    transport to a page is exercised end to end in test_end_to_end."""
    sent: list[dict[str, Any]] = []

    def record(*, tenant_id: int, event: Any, data: Any, group: Any = None) -> None:
        sent.append({"tenant": tenant_id, "event": str(event), "data": data})

    monkeypatch.setattr(live, "publish", record)
    return sent
