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
