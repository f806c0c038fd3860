"""The live vocabulary: group names within a tenant, and the pages using only its names."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from iotplatform import live

STATIC = Path(__file__).resolve().parents[2] / "frontend" / "static" / "frontend"


def test_a_message_never_goes_to_another_tenants_group() -> None:
    assert live._check_group(1, None) == "tenant.1"
    assert live._check_group(1, live.device_group(1, 5)) == "tenant.1.device.5"
    for foreign in ("tenant.12", "tenant.12.device.5", "tenant.2.device.1", "tenant.1x"):
        with pytest.raises(ValueError, match="not within tenant 1"):
            live.publish(tenant_id=1, event=live.Event.DEVICE_STATUS, data={}, group=foreign)


def test_pages_name_events_only_through_the_vocabulary() -> None:
    names = {event.name for event in live.Event}
    used = set()
    for script in STATIC.glob("*.js"):
        source = script.read_text()
        used |= set(re.findall(r"IoTLive\.events\.([A-Z_]+)", source))
        for literal in (event.value for event in live.Event):
            assert f'"{literal}"' not in source, f"{script.name} spells out {literal!r}"
    assert used and used <= names, used - names


@pytest.mark.django_db
def test_signed_in_pages_carry_the_vocabulary_as_data(page_as: Any, viewer: Any) -> None:
    page = page_as(viewer).get("/")
    assert page.status_code == 200
    config = page.context["live_config"]
    assert config["events"]["DEVICE_STATUS"] == "device.status"
    assert config["maxPointsPerMetric"] == live.MAX_POINTS_PER_METRIC
    assert config["closeCodes"] == {"SIGNED_OUT": 4401, "FORBIDDEN": 4403, "NOT_FOUND": 4404}
    assert b'<script id="live-config" type="application/json">' in page.content
    assert Client().get("/accounts/login/").context.get("live_config") is None
