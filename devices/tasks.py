"""Celery entry points of the devices app: thin wrappers over services."""

from celery import shared_task

from . import services


@shared_task(name="devices.offline_sweep", ignore_result=True)
def device_offline_sweep() -> int:
    """Beat, every few seconds: devices silent for 3 expected intervals go offline."""
    return services.device_offline_sweep()


@shared_task(name="devices.commands_expire", ignore_result=True)
def commands_expire() -> int:
    """Beat, every few seconds: unanswered commands past their expiry become expired."""
    from .commands import commands_expire as expire

    return expire()
