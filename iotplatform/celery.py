"""The Celery application: Redis broker, django-celery-beat's DatabaseScheduler.

Beat entries come from one registry, :mod:`iotplatform.beat`; the DatabaseScheduler copies them
into the database on start, where admins can see them and pause them.
"""

import os

from celery import Celery

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
