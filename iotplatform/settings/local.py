"""Local development: safe defaults, static files served straight from the apps."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="insecure-local-development-key-change-me")
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The project's own TimescaleDB (scripts/timescaledb.sh) brings its client tools.
PG_CLIENT = env("PG_CLIENT", default=f"bash {BASE_DIR / 'scripts' / 'timescaledb.sh'} client")
