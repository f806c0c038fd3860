"""The Celery application: Redis broker, django-celery-beat's DatabaseScheduler.

Beat entries come from one registry, :mod:`iotplatform.beat`; the DatabaseScheduler copies them
into the database on start, where admins can see them and pause them.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun
from django.conf import settings

from iotplatform.memory import malloc_trim

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotplatform.settings.local")

app = Celery("iotplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The project package is not an installed app; its platform-level tasks are found explicitly.
app.autodiscover_tasks(["iotplatform"])


@app.on_after_finalize.connect
def _load_beat_registry(sender: Celery, **kwargs: object) -> None:
    from iotplatform.beat import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE


@task_postrun.connect
def _memory_return(**kwargs: Any) -> None:
    """After every task, the freed C heap back to the system (``iotplatform.memory``)."""
    if settings.CELERY_WORKER_MALLOC_TRIM:
        malloc_trim()
