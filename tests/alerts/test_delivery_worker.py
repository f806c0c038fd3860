"""A worker killed in the middle of sending an alarm email never causes a second one, on the
real Celery worker, Redis broker and SMTP sink: killed before the message was handed over, the
next worker sends it once; killed after, it is recorded unconfirmed and never sent again, however
often its task is delivered again."""

import os
import signal
import time
from pathlib import Path

import pytest

from alerts.delivery import deliveries_sweep
from alerts.models import NotificationDelivery, NotificationProfile
from alerts.tasks import deliver
from iotplatform.tenancy.models import Tenant

from .. import factories, servers
from .notifying import hot_rule, inbox, people, raise_alarm

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LEASE = 3.0


def _worker_env(port: int) -> dict[str, str]:
    return {
        "TEST_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "ALERTS_DELIVERY_LEASE": str(LEASE),
    }


def _one_operator_email(tenant: Tenant) -> NotificationDelivery:
    """An alarm whose only message is an email to the operator, sent by the worker."""
    who = people(tenant)
    NotificationProfile.objects.create(tenant=tenant, user=who["admin"], email=False)
    device = factories.make_device(tenant)
    raise_alarm(hot_rule(tenant, device), device)
    return NotificationDelivery.objects.get()


def _status(row: NotificationDelivery) -> str:
    row.refresh_from_db()
    return row.status


def _kill(proc: "servers.subprocess.Popen[bytes]") -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_worker_killed_after_the_hand_over_leaves_one_email_never_two(
    tenant: Tenant, tmp_path: Path, settings: object
) -> None:
    box = tmp_path / "mail"
    # The sink keeps the message, then holds its answer: the worker is killed waiting for it.
    with servers.mail_sink(box, "--delay-data", "30", "--delay-count", "1") as port:
        with servers.celery_worker(**_worker_env(port)) as worker:
            row = _one_operator_email(tenant)
            servers.until(lambda: len(inbox(box)) == 1)
            assert _status(row) == "committed"
            _kill(worker)
        with servers.celery_worker(**_worker_env(port)):
            deliver.apply_async((row.pk,))  # its task delivered again, as a late ack does
            time.sleep(LEASE + 0.5)
            assert deliveries_sweep()["unconfirmed"] == 1
            deliver.apply_async((row.pk,))
            time.sleep(3)
            assert _status(row) == "unconfirmed"
            assert row.attempts == 1
    assert len(inbox(box)) == 1


def test_a_worker_killed_before_the_hand_over_is_followed_by_exactly_one_email(
    tenant: Tenant, tmp_path: Path
) -> None:
    box = tmp_path / "mail"
    # The sink holds its answer to the first recipient: the worker is killed mid-envelope.
    with servers.mail_sink(box, "--delay-rcpt", "30", "--delay-count", "1") as port:
        with servers.celery_worker(**_worker_env(port)) as worker:
            row = _one_operator_email(tenant)
            servers.until(lambda: _status(row) == "sending")
            time.sleep(1.0)
            assert _status(row) == "sending"
            _kill(worker)
        assert inbox(box) == []
        with servers.celery_worker(**_worker_env(port)):
            time.sleep(LEASE + 0.5)
            assert deliveries_sweep()["requeued"] == 1
            servers.until(lambda: _status(row) == "sent")
            deliveries_sweep()
            deliver.apply_async((row.pk,))
            time.sleep(2)
    assert len(inbox(box)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_worker_killed_after_handing_a_report_over_sends_no_second_report(
    tenant: Tenant, tmp_path: Path
) -> None:
    from datetime import UTC, datetime
    from datetime import time as clock

    from alerts.models import ReportRun
    from alerts.report_runs import run_make, runs_sweep
    from alerts.reports import schedule_save
    from alerts.tasks import report_send

    box = tmp_path / "mail"
    schedule = schedule_save(
        tenant=tenant, name="Daily", at=clock(7), emails=["plant@acme.example"]
    )
    run = run_make(schedule, at=datetime(2026, 3, 30, 7, 0, tzinfo=UTC))
    with servers.mail_sink(box, "--delay-data", "30", "--delay-count", "1") as port:
        with servers.celery_worker(**_worker_env(port)) as worker:
            report_send.apply_async((run.pk,))
            servers.until(lambda: len(inbox(box)) == 1)
            _kill(worker)
        assert ReportRun.objects.get(pk=run.pk).status == "committed"
        with servers.celery_worker(**_worker_env(port)):
            report_send.apply_async((run.pk,))  # delivered again, as a late ack does
            time.sleep(LEASE + 0.5)
            assert runs_sweep()["unconfirmed"] == 1
            report_send.apply_async((run.pk,))
            time.sleep(3)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("unconfirmed", 1)
    assert len(inbox(box)) == 1
