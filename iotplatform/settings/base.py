"""Settings shared by every environment. All values come from the environment."""

from datetime import timedelta
from pathlib import Path

import environ

from iotplatform import redisplace

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# Real environment variables win over the .env file (read_env only sets missing keys).
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "iotplatform.tenancy",
    "devices",
    "telemetry",
    "analytics",
    "alerts",
    "frontend",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "iotplatform.middleware.ContentSecurityPolicyMiddleware",
    "iotplatform.middleware.QueryGuardMiddleware",
    "iotplatform.middleware.DatabaseBusyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iotplatform.tenancy.middleware.TenantMiddleware",
    "iotplatform.tenancy.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "iotplatform.urls"
ASGI_APPLICATION = "iotplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "iotplatform.tenancy.context_processors.tenancy",
                "frontend.context_processors.live",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL with TimescaleDB; plain PostgreSQL works too (readings stay a plain table).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5433/iotplatform"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Bounds on one statement and on waiting for a lock, in ms (0: none). The web server sets them
# for its processes (iotplatform/server.py: 15 s and 3 s) so a locked table or a runaway query
# is a clear 503 in bounded time; workers, migrations and commands run unbounded.
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=0)
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=0)
DATABASES["default"]["OPTIONS"] = {
    "options": f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS} "
    f"-c lock_timeout={DB_LOCK_TIMEOUT_MS}"
}
# A read replica (streaming replication of the primary) for the query API's reads of readings:
# series, statistics and exports (iotplatform.database.reader). Everything else, writes
# included, stays on the primary; the replica's lag shows as readings arriving a little later.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"].update(
        CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"],
        CONN_HEALTH_CHECKS=True,
        OPTIONS=dict(DATABASES["default"]["OPTIONS"]),
        TEST={"MIRROR": "default"},
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, Channels layer ---------------------------------
REDIS_URL: str = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# For failover: the Redis Sentinels watching the primary (host:port, comma-separated) and the
# name they know it by; REDIS_URL then gives only the database number and password
# (iotplatform/redisplace.py, docs/scaling.md).
REDIS = redisplace.place(
    REDIS_URL,
    env("REDIS_SENTINELS", default=""),
    env("REDIS_SENTINEL_MASTER", default="iot"),
    env("REDIS_SENTINEL_PASSWORD", default=""),
)
# How `manage.py backup` and `backup_check` run pg_dump and pg_restore: a command prefix (split
# like a shell's words) before the tool's name; empty: the tools on PATH, which must be of the
# server's major version (the compose stack: "docker compose exec -T db").
PG_CLIENT = env("PG_CLIENT", default="")
# --- MQTT: the platform's broker (Mosquitto with broker/iot_auth.c) and its bridge ----------------
MQTT_URL: str = env("MQTT_URL", default="mqtt://127.0.0.1:1884")
# Where the bridge keeps the digests of every valid credential for the broker's plugin to read.
MQTT_CREDENTIALS_FILE: str = env(
    "MQTT_CREDENTIALS_FILE", default=str(BASE_DIR / ".broker" / "credentials")
)
# The bridge's own login at the broker (username iot-bridge); by default derived from SECRET_KEY.
MQTT_BRIDGE_PASSWORD: str = env("MQTT_BRIDGE_PASSWORD", default="")
MQTT_BRIDGE_INFLIGHT = env.int("MQTT_BRIDGE_INFLIGHT", default=16)  # batches being stored

CACHES = {"default": redisplace.cache(REDIS, KEY_PREFIX="iot")}

# A consumer waits for its messages with a 5-second blocking pop; the socket must wait longer,
# or redis-py 8 times the read out and every idle page socket drops every 5 s
# (tests/platform/test_channels.py::test_an_idle_socket_stays_open).
CHANNEL_REDIS_HOST = redisplace.channel_host(REDIS, socket_timeout=30)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [CHANNEL_REDIS_HOST], "prefix": "iot:channels"},
    }
}

CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = redisplace.celery(REDIS)
CELERY_RESULT_BACKEND, CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = redisplace.celery(REDIS)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process of the worker is replaced after a task that leaves its peak RSS above this
# many KiB: a backstop — in the hour's soak the pool's two processes grew about 40 MiB together
# in the first half hour under the apply cycle, from about 240 MiB each, then held; a replaced
# process loads its models again. 0: never. Prefork pools only.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1024 * 1024
)
# After every task a pool process hands its freed C heap back to the system (glibc's
# malloc_trim: iotplatform/memory.py): in the soak a pool process's main heap
# went from 125-130 MiB held to 65 MiB resident.
CELERY_WORKER_MALLOC_TRIM = env.bool("CELERY_WORKER_MALLOC_TRIM", default=True)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Seconds after which beat is considered dead by the health check.
BEAT_HEARTBEAT_STALE_AFTER = env.int("BEAT_HEARTBEAT_STALE_AFTER", default=90)
# Where the MQTT bridge and the alert evaluator mark themselves alive for `manage.py
# healthcheck` (a directory of the host or container they run in).
ALIVE_DIR = env("ALIVE_DIR", default="/tmp")
BEAT_HEARTBEAT_KEY = "iot:beat:heartbeat"

# --- Device ingestion (telemetry/ingest/) ----------------------------------------------------
INGEST_MAX_POINTS = env.int("INGEST_MAX_POINTS", default=10_000)  # per request
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=4 * 1024 * 1024)
INGEST_MAX_FUTURE_SECONDS = env.int("INGEST_MAX_FUTURE_SECONDS", default=300)  # clock sanity
INGEST_DEVICE_RATE = env.int("INGEST_DEVICE_RATE", default=20)  # requests/s per device
INGEST_TENANT_RATE = env.int("INGEST_TENANT_RATE", default=250_000)  # points/s per tenant
INGEST_AUTH_CACHE_SECONDS = env.float("INGEST_AUTH_CACHE_SECONDS", default=10.0)
INGEST_WRITERS = env.int("INGEST_WRITERS", default=2)  # concurrent group-commit transactions
INGEST_MAX_BATCH_ROWS = env.int("INGEST_MAX_BATCH_ROWS", default=50_000)
# How long a message waits for a database connection (the database restarting or unreachable)
# before it is answered 503, nothing stored; the pool reconnects on its own meanwhile.
INGEST_STORAGE_WAIT = env.float("INGEST_STORAGE_WAIT", default=5.0)  # seconds
INGEST_LIVE_INTERVAL = env.float("INGEST_LIVE_INTERVAL", default=0.1)  # live pushes, seconds
INGEST_SEEN_INTERVAL = env.float("INGEST_SEEN_INTERVAL", default=1.0)  # last_seen flush
# What runs after each ingest transaction commits, in order (telemetry/ingest/consumers.py):
# apps add their consumer here instead of telemetry importing them.
INGEST_AFTER_COMMIT = [
    "telemetry.ingest.live.LivePush",
    "telemetry.ingest.seen.LastSeen",
    "alerts.ingest.RuleStream",
]
# The alert rules' evaluation (alerts/ingest.py, alerts/evaluator.py): the readings of metrics
# that enabled threshold and rate rules watch go to a Redis stream the evaluator reads with a
# consumer group; what it keeps of each (device, rule) between batches under the state prefix.
ALERTS_STREAM_KEY = "iot:alerts:readings"
# Entries (one per ingest process per flush, ten a second at most), trimmed approximately; the
# evaluator deletes what it has evaluated, so this only bounds the stream while no evaluator
# runs (then the oldest readings are lost and the alarms judged from the new ones). Small on
# purpose: at full ingest speed an entry holds some 150 KB, and a stream of 2,000 of them cost
# the ingest benchmark half its rate (this machine, Redis beside the database).
ALERTS_STREAM_MAXLEN = env.int("ALERTS_STREAM_MAXLEN", default=200)
ALERTS_STATE_PREFIX = "iot:alerts:state"
ALERTS_FLUSH_INTERVAL = env.float("ALERTS_FLUSH_INTERVAL", default=0.1)  # seconds
# Watched readings an ingest process keeps while Redis cannot take them (a restart): some
# 100 bytes each, so the default holds about 50 MB.
ALERTS_BACKLOG_ROWS = env.int("ALERTS_BACKLOG_ROWS", default=500_000)
ALERTS_RULES_REFRESH = env.float("ALERTS_RULES_REFRESH", default=5.0)  # seconds
# Alarm notifications (alerts/notify.py, alerts/delivery.py, alerts/channels/).
ALERTS_STORM_LIMIT = env.int("ALERTS_STORM_LIMIT", default=10)  # openings a minute, then digests
ALERTS_DELIVERY_ATTEMPTS = env.int("ALERTS_DELIVERY_ATTEMPTS", default=6)
ALERTS_RETRY_BASE = env.float("ALERTS_RETRY_BASE", default=10.0)  # seconds, doubled each retry
ALERTS_DELIVERY_LEASE = env.float("ALERTS_DELIVERY_LEASE", default=60.0)  # a sender's claim
ALERTS_SEND_TIMEOUT = env.float("ALERTS_SEND_TIMEOUT", default=10.0)  # SMS and webhook sockets
# Text messages: "twilio" (Twilio's Messages API at SMS_URL, or anything speaking it, such as
# the development gateway `make run` starts) or "console" (the worker's log).
SMS_BACKEND = env("SMS_BACKEND", default="console")
SMS_URL = env("SMS_URL", default="https://api.twilio.com")
SMS_ACCOUNT_SID = env("SMS_ACCOUNT_SID", default="")
SMS_AUTH_TOKEN = env("SMS_AUTH_TOKEN", default="")
SMS_FROM = env("SMS_FROM", default="")  # a number, or a Messaging Service SID (MG…)
# Reports: attachments larger than this together go as one zip; a zip larger than the second
# is not attached at all (most mail servers refuse messages over 20-25 MB): the email links to it.
REPORTS_ZIP_OVER_BYTES = env.int("REPORTS_ZIP_OVER_BYTES", default=5 * 1024 * 1024)
REPORTS_ATTACH_MAX_BYTES = env.int("REPORTS_ATTACH_MAX_BYTES", default=15 * 1024 * 1024)
# Where people reach the site: the links in emails and text messages.
PUBLIC_URL = env("PUBLIC_URL", default="http://127.0.0.1:8000")
# The analytics apply cycle's lock (one cycle at a time across every worker).
ANALYTICS_APPLY_LOCK_KEY = "iot:analytics:apply"
ANALYTICS_APPLY_SECONDS = env.float("ANALYTICS_APPLY_SECONDS", default=0.0)
# Threads the models' native code (OpenMP in scikit-learn's boosting, BLAS) may use inside one
# worker process. The worker runs two processes on two cores: left alone, each would start a
# thread per core and their spinning threads fight (a RUL fit took 24 s beside another process
# instead of 1.5 s alone).
ANALYTICS_THREADS = env.int("ANALYTICS_THREADS", default=1)
# Live pages: at most one push to a page per LIVE_PAGE_INTERVAL seconds; the devices whose
# detail page is open are kept in a Redis sorted set so ingestion sends them every point.
LIVE_PAGE_INTERVAL = env.float("LIVE_PAGE_INTERVAL", default=0.25)
LIVE_WATCH_KEY = "iot:live:watch"
# Every open socket re-checks its session and membership this often (seconds), beside the
# revoke messages sent on sign-out and membership changes: a lost message cannot keep one open.
LIVE_ACCESS_RECHECK_SECONDS = env.float("LIVE_ACCESS_RECHECK_SECONDS", default=30.0)

# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute force: django-axes counts failed sign-ins (login page, admin, the API's Basic auth: all go
# through authenticate()) per account and per address; past the limit that account or address
# is refused until the cool-off ends, and a success resets the count. Platform staff see and
# clear lockouts in the Django admin (Axes' "access attempts").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one over the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "iotplatform.authentication.lockout_response"
AXES_VERBOSE = False

LOGIN_URL = "login"
# seconds a password reset link works
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=86400)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- I18N / time -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by the app itself: no CDN anywhere) --------------------------------
STATIC_URL = "static/"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "frontend.finders.PackageFinder",  # plotly.min.js from the installed plotly package
]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Trained models (analytics/artefacts.py): a private directory, never served, never written by
# anything a tenant or a device sends; artefacts are loaded only when their checksum matches.
MODEL_STORAGE_DIR = env.path("MODEL_STORAGE_DIR", default=BASE_DIR / ".models")
# Reports produced (alerts/report_runs.py): one zip per report, private, downloaded through the
# API by the tenant's members only.
REPORT_STORAGE_DIR = env.path("REPORT_STORAGE_DIR", default=BASE_DIR / ".reports")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "models": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MODEL_STORAGE_DIR), "file_permissions_mode": 0o600},
    },
    "reports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(REPORT_STORAGE_DIR), "file_permissions_mode": 0o600},
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)

# --- Email ------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://127.0.0.1:8025")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="IoT Platform <iot@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds

# --- REST API ---------------------------------------------------------------------------------
# The longest any tenant keeps its readings; a tenant's admin picks its own retention up to it.
RETENTION_MAX_DAYS = env.int("RETENTION_MAX_DAYS", default=1825)
# The people API's rates (iotplatform/throttling.py): per signed-in person, per address.
API_RATE_PERSON: str = env("API_RATE_PERSON", default="1200/minute")
API_RATE_ADDRESS: str = env("API_RATE_ADDRESS", default="3000/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "iotplatform.authentication.LockoutAwareBasicAuthentication",
        "iotplatform.tenancy.tokens.PersonalTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "iotplatform.throttling.PersonRateThrottle",
        "iotplatform.throttling.AddressRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "iotplatform.renderers.FiniteJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "iotplatform.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "iotplatform.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_PARSER_CLASSES": [
        "iotplatform.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "ENUM_NAME_OVERRIDES": {
        "ModelKindEnum": "analytics.models.ModelKind.choices",
        "TrainingStatusEnum": "analytics.models.TrainingStatus.choices",
        "DeviceStatusEnum": "devices.models.DeviceStatus.choices",
        "AlarmStatusEnum": "alerts.models.AlarmStatus.choices",
        "ConditionKindEnum": "alerts.models.ConditionKind.choices",
        "SeverityEnum": "alerts.models.Severity.choices",
        "DeliveryStatusEnum": "alerts.models.DeliveryStatus.choices",
    },
    "TITLE": "IoT Platform API",
    "DESCRIPTION": "Multi-tenant telemetry, devices, alerts and predictive maintenance.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "telemetry.ingest.openapi.add_device_endpoints",
        "iotplatform.openapi.declare_errors",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
