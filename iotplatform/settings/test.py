"""Test settings: the real services, kept apart from a developer's running platform.

Redis work goes to its own database number (TEST_REDIS_DB, default 9) so a `make run` beside
the test suite never picks up a test's task or WebSocket message, nor the reverse.
"""

from urllib.parse import urlsplit, urlunsplit

from .base import *  # noqa: F403
from .base import REDIS_URL, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="insecure-test-key")
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_redis = urlsplit(REDIS_URL)
REDIS_URL = urlunsplit(_redis._replace(path="/" + env("TEST_REDIS_DB", default="9")))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "iot-test",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "iot-test:channels"},
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
