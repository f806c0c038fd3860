from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from devices.commands import (
    REDELIVER_AFTER,
    command_answer,
    command_fetch,
    command_issue,
    commands_expire,
)
from devices.models import Command, CommandStatus, Device


@pytest.mark.django_db
class TestCommandLifecycle:
    def test_issue_fetch_answer(self, device: Device, operator: Any) -> None:
        first = command_issue(device=device, kind="restart", by=operator)
        second = command_issue(
            device=device,
            kind="set_config",
            payload={"interval_seconds": 30, "thresholds": {"temperature": {"warn_high": 80}}},
        )
        device.refresh_from_db()
        assert device.desired_config["interval_seconds"] == 30
        assert command_fetch(device_id=device.id) == first  # oldest first
        fetched = command_fetch(device_id=device.id)
        assert fetched is not None and fetched.id == second.id
        assert fetched.status == CommandStatus.SENT and fetched.sent_at is not None
        assert command_fetch(device_id=device.id) is None
        answered = command_answer(
            device_id=device.id,
            command_id=second.id,
            response={"ok": True, "config": {"interval_seconds": 30}},
        )
        assert answered is not None and answered.status == CommandStatus.ACKED
        device.refresh_from_db()
        assert device.reported_config == {"interval_seconds": 30}
        failed = command_answer(
            device_id=device.id, command_id=first.id, response={"error": "busy"}
        )
        assert failed is not None and failed.status == CommandStatus.FAILED
        assert command_answer(device_id=device.id, command_id=first.id, response={}) is None
        assert Command.objects.get(pk=first.pk).created_by == operator

    def test_another_device_cannot_answer(self, device: Device, other_device: Device) -> None:
        command = command_issue(device=device, kind="restart")
        assert (
            command_answer(device_id=other_device.id, command_id=command.id, response={"ok": True})
            is None
        )
        assert Command.objects.get(pk=command.pk).status == CommandStatus.PENDING

    def test_unanswered_commands_expire(self, device: Device) -> None:
        stale = command_issue(device=device, kind="restart", ttl=timedelta(seconds=10))
        fresh = command_issue(device=device, kind="restart")
        assert commands_expire(now=timezone.now() + timedelta(seconds=11)) == 1
        assert Command.objects.get(pk=stale.pk).status == CommandStatus.EXPIRED
        assert Command.objects.get(pk=fresh.pk).status == CommandStatus.PENDING
        # an expired command is never delivered
        assert command_fetch(device_id=device.id, now=timezone.now()) == fresh


@pytest.mark.django_db
class TestCommandAPI:
    def test_operator_issues_viewer_reads(
        self, api_as: Any, operator: Any, viewer: Any, device: Device
    ) -> None:
        url = f"/api/v1/devices/{device.pk}/commands"
        created = api_as(operator).post(
            url, {"kind": "set_config", "payload": {"interval_seconds": 15}}, format="json"
        )
        assert created.status_code == 201, created.content
        assert created.json()["status"] == "pending"
        assert created.json()["created_by"] == "oscar-operator"
        listed = api_as(viewer).get(url).json()["results"]
        assert [c["kind"] for c in listed] == ["set_config"]
        assert api_as(viewer).post(url, {"kind": "restart"}, format="json").status_code == 403
        detail = api_as(viewer).get(f"/api/v1/devices/{device.pk}").json()
        assert detail["desired_config"] == {"interval_seconds": 15}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"kind": "explode"}, "kind"),
            ({"kind": "restart", "payload": {"now": True}}, "payload"),
            ({"kind": "set_config", "payload": {}}, "payload"),
            ({"kind": "set_config", "payload": {"interval_seconds": 0}}, "payload"),
            (
                {
                    "kind": "set_config",
                    "payload": {"thresholds": {"t": {"warn_low": 5, "warn_high": 1}}},
                },
                "payload",
            ),
            ({"kind": "set_config", "payload": {"colour": "red"}}, "payload"),
            (
                {"kind": "set_config", "payload": {"thresholds": {"nope": {"warn_high": 1}}}},
                "payload",
            ),
            ({"kind": "restart", "ttl_seconds": 1}, "ttl_seconds"),
            ({"kind": "simulate", "payload": {"fault": "meltdown"}}, "payload"),
            ({"kind": "simulate", "payload": {"fault": "spike", "metric": "mood"}}, "payload"),
            ({"kind": "simulate", "payload": {"fault": "drift", "minutes": 0}}, "payload"),
            ({"kind": "simulate", "payload": {"fault": "bearing", "minutes": 5}}, "payload"),
        ],
    )
    def test_bad_commands_are_400(
        self, api_as: Any, operator: Any, device: Device, body: dict[str, Any], field: str
    ) -> None:
        response = api_as(operator).post(
            f"/api/v1/devices/{device.pk}/commands", body, format="json"
        )
        assert response.status_code == 400
        assert field in response.json()
        assert not Command.objects.exists()

    def test_a_simulated_fault_is_queued_with_its_defaults(
        self, api_as: Any, operator: Any, viewer: Any, device: Device
    ) -> None:
        url = f"/api/v1/devices/{device.pk}/commands"
        body = {"kind": "simulate", "payload": {"fault": "spike"}}
        assert api_as(viewer).post(url, body, format="json").status_code == 403
        queued = api_as(operator).post(url, body, format="json")
        assert queued.status_code == 201, queued.json()
        command = Command.objects.get()
        assert (command.kind, command.payload) == (
            "simulate",
            {"fault": "spike", "metric": "temperature", "minutes": 30},
        )
        assert command_fetch(device_id=device.id) == command  # the device gets it as any other

    def test_foreign_device_is_404(self, api_as: Any, operator: Any, other_device: Device) -> None:
        url = f"/api/v1/devices/{other_device.pk}/commands"
        assert api_as(operator).post(url, {"kind": "restart"}, format="json").status_code == 404
        assert api_as(operator).get(url).status_code == 404


@pytest.mark.django_db
class TestDeliveryUntilAnswered:
    def test_an_unanswered_command_is_delivered_again(self, device: Device) -> None:
        """A long poll that dropped after the command was handed over must not lose it."""
        command = command_issue(device=device, kind="restart")
        sent = command_fetch(device_id=device.id)
        assert sent == command
        assert command_fetch(device_id=device.id) is None  # just sent: the device has it
        later = timezone.now() + REDELIVER_AFTER + timedelta(seconds=1)
        again = command_fetch(device_id=device.id, now=later)
        assert again == command and again.status == CommandStatus.SENT
        command_answer(device_id=device.id, command_id=command.id, response={"ok": True})
        assert command_fetch(device_id=device.id, now=later + REDELIVER_AFTER * 2) is None

    @pytest.mark.parametrize(
        "response",
        [["ok"], "done", 1, {"config": {"interval_seconds": 0}}, {"config": {"speed": 3}}],
    )
    def test_a_malformed_answer_is_refused_and_the_command_stays_open(
        self, device: Device, response: Any
    ) -> None:
        command = command_issue(device=device, kind="set_config", payload={"interval_seconds": 30})
        command_fetch(device_id=device.id)
        with pytest.raises(ValidationError):
            command_answer(device_id=device.id, command_id=command.id, response=response)
        assert Command.objects.get(pk=command.pk).status == CommandStatus.SENT
        device.refresh_from_db()
        assert device.reported_config == {}
        answered = command_answer(
            device_id=device.id,
            command_id=command.id,
            response={"config": {"interval_seconds": 30}},
        )
        assert answered is not None and answered.status == CommandStatus.ACKED


@pytest.mark.django_db
class TestThresholdsNameRealMetrics:
    def test_a_threshold_for_a_metric_the_device_lacks_is_refused(self, device: Device) -> None:
        with pytest.raises(ValidationError, match="no metric 'tempreature'"):
            command_issue(
                device=device,
                kind="set_config",
                payload={"thresholds": {"tempreature": {"warn_high": 80}}},
            )
        device.refresh_from_db()
        assert device.desired_config == {}  # nothing half-written
        assert not Command.objects.filter(device=device).exists()

    def test_declared_and_reported_metrics_are_accepted(self, device: Device) -> None:
        command_issue(
            device=device,
            kind="set_config",
            payload={"thresholds": {"temperature": {"warn_high": 80}}},  # its type's
        )
        command_issue(
            device=device,
            kind="set_config",
            payload={"thresholds": {"humidity": {"warn_high": 90}}},
            reported_metrics=["humidity"],  # sent by the device, not declared by its type
        )
        device.refresh_from_db()
        assert device.desired_config["thresholds"] == {"humidity": {"warn_high": 90}}
