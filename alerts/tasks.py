"""Celery tasks of the alerts app: thin, the work is in ``delivery``."""

from celery import shared_task

from . import delivery


@shared_task(name="alerts.deliver", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver(pk: int) -> str:
    return delivery.delivery_send(pk)


@shared_task(name="alerts.deliveries_sweep", ignore_result=True)
def deliveries_sweep() -> dict[str, int]:
    return delivery.deliveries_sweep()


@shared_task(name="alerts.evaluate_states", ignore_result=True)
def evaluate_states() -> dict[str, int]:
    from .states import states_evaluate_locked

    return states_evaluate_locked()


@shared_task(name="alerts.report_run", ignore_result=True)
def report_run(schedule: int) -> str:
    """Beat's tick of a report schedule: the period's run made (once) and emailed (once)."""
    from .models import ReportSchedule
    from .report_runs import run_make, run_send

    found = ReportSchedule.objects.select_related("tenant").filter(pk=schedule).first()
    if found is None or not found.enabled:
        return "no schedule"
    return run_send(run_make(found).pk)


@shared_task(
    name="alerts.report_send", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def report_send(pk: int) -> str:
    from .report_runs import run_send

    return run_send(pk)


@shared_task(name="alerts.reports_sweep", ignore_result=True)
def reports_sweep() -> dict[str, int]:
    from .report_runs import runs_sweep

    return runs_sweep()
