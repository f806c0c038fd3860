"""The metric-key rule, defined once in devices.metrics and used by device types and ingestion."""

from datetime import UTC, datetime, timedelta

import pytest

from devices.metrics import is_metric_key
from telemetry.ingest.parse import parse_device


@pytest.mark.parametrize(
    "key", ["temperature", "t", "Temp_1", "motor.rpm", "phase-a", "9volt", "x" * 64]
)
def test_good_keys(key: str) -> None:
    assert is_metric_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "_reserved",
        ".hidden",
        "-dash",
        "bad key",
        "temp!",
        "x" * 65,
        # `$` would accept these: it matches before a trailing newline.
        "temp\n",
        "t\n",
        "temp\r\n",
        "\ntemp",
    ],
)
def test_bad_keys(key: str) -> None:
    assert not is_metric_key(key)


def test_ingestion_refuses_a_key_with_a_trailing_newline() -> None:
    now = datetime.now(UTC)
    parsed = parse_device({"temp\n": 1.0, "temp": 2.0}, now=now, max_future=timedelta(seconds=60))
    assert parsed.points == [(now, "temp", 2.0)]
    assert parsed.rejected == 1
    assert parsed.reasons[0]["key"] == "temp\\u000a"  # echoed escaped
    assert "bad metric key" in parsed.reasons[0]["reason"]
