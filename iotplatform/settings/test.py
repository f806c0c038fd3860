"""Test settings: the real services, kept apart from a developer's running platform.

Redis work goes to its own database number (TEST_REDIS_DB, default 9) so a `make run` beside
the test suite never picks up a test's task or WebSocket message, nor the reverse. The test
database, the Celery queue and the channel-layer prefix carry a tag of the checkout's path, so
two checkouts (a working tree and a CI clone) can run their suites at the same time.
"""

import dataclasses
import hashlib
from urllib.parse import urlsplit, urlunsplit

from iotplatform import redisplace

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, REDIS, REDIS_URL, env

CHECKOUT_TAG = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {"NAME": f"test_iotplatform_{CHECKOUT_TAG}"}

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="insecure-test-key")
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "models": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(BASE_DIR / ".models-test")},
    },
    "reports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(BASE_DIR / ".reports-test")},
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite calls the API from one address far faster than people do; the throttles' own tests
# set their rates.
API_RATE_PERSON = env("API_RATE_PERSON", default="1000000/minute")
API_RATE_ADDRESS = env("API_RATE_ADDRESS", default="1000000/minute")

_redis = urlsplit(REDIS_URL)
REDIS_URL = urlunsplit(_redis._replace(path="/" + env("TEST_REDIS_DB", default="9")))
REDIS = dataclasses.replace(REDIS, url=REDIS_URL)
CACHES = {"default": redisplace.cache(REDIS, KEY_PREFIX=f"iot-test-{CHECKOUT_TAG}")}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [redisplace.channel_host(REDIS, socket_timeout=30)],
            "prefix": f"iot-test-{CHECKOUT_TAG}:channels",
        },
    }
}
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = redisplace.celery(REDIS)
CELERY_RESULT_BACKEND, CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = redisplace.celery(REDIS)
CELERY_TASK_DEFAULT_QUEUE = f"test-{CHECKOUT_TAG}"
BEAT_HEARTBEAT_KEY = f"iot-test-{CHECKOUT_TAG}:beat:heartbeat"
LIVE_WATCH_KEY = f"iot-test-{CHECKOUT_TAG}:live:watch"
ANALYTICS_APPLY_LOCK_KEY = f"iot-test-{CHECKOUT_TAG}:analytics:apply"
ALERTS_STREAM_KEY = f"iot-test-{CHECKOUT_TAG}:alerts:readings"
ALERTS_STATE_PREFIX = f"iot-test-{CHECKOUT_TAG}:alerts:state"
# Kept in memory; a worker the tests start to deliver alarms sends through SMTP instead.
EMAIL_BACKEND = env("TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
# The project's own TimescaleDB (scripts/timescaledb.sh) brings its client tools.
PG_CLIENT = env("PG_CLIENT", default=f"bash {BASE_DIR / 'scripts' / 'timescaledb.sh'} client")
