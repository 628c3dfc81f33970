"""Trust Fabric settings.

One settings module, configured from the environment only (django-environ). With no
environment at all it runs the embedded profile: SQLite under var/, Celery eager, e-mail
to files, Slack off, DEBUG on. The production profile is the same module with
DJANGO_DEBUG=false and the variables documented in .env.example.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_DEBUG is false.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "django_celery_beat",
    "apps.core",
    "apps.graphs",
    "apps.policy_studio",
    "apps.queries",
    "apps.provenance.apps.ProvenanceConfig",
    "apps.jit_approvals.apps.JitApprovalsConfig",
    "apps.zk_proofs",
    "apps.pilots",
    "apps.tenant_rollups",
    "apps.pcq_ops.apps.PcqOpsConfig",
]

MIDDLEWARE = [
    "apps.core.middleware.RequestContextMiddleware",
    "apps.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.TenantMiddleware",
    "apps.core.middleware.DomainErrorMiddleware",
    # Last, so a lockout answers before any view runs (django-axes requirement).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trustfabric.urls"
WSGI_APPLICATION = "trustfabric.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.tenancy",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'trustfabric.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-trustfabric.sqlite3")}
    # IMMEDIATE: an atomic block takes SQLite's write lock when it starts, so concurrent
    # writers wait (up to the timeout) instead of failing with "database is locked" on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Regional failover (runbooks/dr.md): "host:port,host:port" lists every region; libpq
    # connects to whichever one accepts writes, so a promoted replica takes over without a
    # settings change or a restart.
    if _failover := env.list("DATABASE_FAILOVER_HOSTS", default=[]):
        _pairs = [h.rsplit(":", 1) for h in _failover]
        DATABASES["default"]["HOST"] = ",".join(h for h, _ in _pairs)
        DATABASES["default"]["PORT"] = ",".join(p for _, p in _pairs)
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"target_session_attrs": "read-write", "connect_timeout": 2}
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Cache (per-tenant throttling, login lockout) ---------------------------------------
def cache_config(url: str) -> dict:
    """django-environ's config for a cache URL; Redis through apps/core/cache.py (one client
    per pool). Tests build their per-worker caches with it too."""
    config = environ.Env.cache_url_config(url)
    if config["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        config["BACKEND"] = "apps.core.cache.RedisCache"
    return config


CACHES = {"default": cache_config(env.str("CACHE_URL", default="") or "locmemcache://trustfabric")}

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # django-guardian: no anonymous object permissions.

# Login throttling (django-axes): lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- I18N / static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")

# --- Request limits ----------------------------------------------------------------------
# 8 MB: a ZK-TX round of 65,536 blinded points is ~4.5 MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=8 * 1024 * 1024)
# Hard cap on any request body; larger bodies are refused before they are read.
TF_MAX_REQUEST_BYTES = env.int("TF_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)

# --- ZK-TX ---------------------------------------------------------------------------------
# Wraps each session's transcript data key (base64 of 32 bytes). Empty: derived from SECRET_KEY
# (embedded profile only; production sets its own). Rotating it makes old transcripts unreadable.
ZK_TRANSCRIPT_KEY = env.str("TF_ZK_TRANSCRIPT_KEY", default="")
ZK_TRANSCRIPT_RETENTION_DAYS = env.int("TF_ZK_TRANSCRIPT_RETENTION_DAYS", default=30)
# Processes for chunk verification inside a worker task (1 = in the task's own process).
ZK_VERIFY_PROCESSES = env.int("TF_ZK_VERIFY_PROCESSES", default=2)

# Loaded dataset versions kept in each process (graph + planner statistics).
TF_GRAPH_CACHE_SIZE = env.int("TF_GRAPH_CACHE_SIZE", default=8)

# PCQ: where the embedded profile keeps generated Ed25519 keys (production: PCQ_<ROLE>_KEY),
# and the reference measurements the simulated attestation is appraised against.
PCQ_KEY_DIR = env.path("PCQ_KEY_DIR", default=VAR_DIR / "keys")
PCQ_KEYS = {
    "executor": env.str("PCQ_EXECUTOR_KEY", default=""),
    "verifier": env.str("PCQ_VERIFIER_KEY", default=""),
    "witness": env.str("PCQ_WITNESS_KEY", default=""),
    "log": env.str("PCQ_LOG_KEY", default=""),
    "tee_device": env.str("PCQ_TEE_DEVICE_KEY", default=""),
}
PCQ_REFERENCE_VALUES = env.path(
    "PCQ_REFERENCE_VALUES", default=BASE_DIR / "apps" / "provenance" / "reference_values.json"
)
# A worker's claim on a verification is a lease: longer than the task's hard time limit
# (900 s), so a live worker never loses it; once it expires (the worker died), the sweep
# re-queues the verification and another worker takes it over. Unclaimed ones older than
# PCQ_VERIFY_REQUEUE_AFTER_SECONDS are re-queued too (their message was lost).
PCQ_VERIFY_LEASE_SECONDS = env.int("PCQ_VERIFY_LEASE_SECONDS", default=960)
PCQ_VERIFY_REQUEUE_AFTER_SECONDS = env.int("PCQ_VERIFY_REQUEUE_AFTER_SECONDS", default=300)

# --- REST framework ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.throttling.TenantRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.SafeJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# ZK-TX admission (apps/zk_proofs/admission.py, runbooks/zk-tx.md).
ZK_ADMISSION_MAX_QUEUE = env.int("TF_ZK_ADMISSION_MAX_QUEUE", default=500)
ZK_ADMISSION_RETRY_AFTER_SECONDS = env.int("TF_ZK_ADMISSION_RETRY_AFTER_SECONDS", default=5)
ZK_BREAKER_FAILURES = env.int("TF_ZK_BREAKER_FAILURES", default=5)
ZK_BREAKER_WINDOW_SECONDS = env.int("TF_ZK_BREAKER_WINDOW_SECONDS", default=60)
ZK_BREAKER_COOLDOWN_SECONDS = env.int("TF_ZK_BREAKER_COOLDOWN_SECONDS", default=30)
# Worker latency (submission to verified, p95 over the last minute) as a second signal.
ZK_ADMISSION_MAX_LATENCY_SECONDS = env.float("TF_ZK_ADMISSION_MAX_LATENCY_SECONDS", default=60.0)
# Fair scheduler (apps/zk_proofs/scheduler.py): DRR credit per turn in chunk proofs, the lease
# a worker holds on a job (renewed while it runs), attempts before a job is dropped.
ZK_SCHED_QUANTUM = env.float("TF_ZK_SCHED_QUANTUM", default=8.0)
ZK_SCHED_LEASE_SECONDS = env.float("TF_ZK_SCHED_LEASE_SECONDS", default=30.0)
ZK_SCHED_MAX_ATTEMPTS = env.int("TF_ZK_SCHED_MAX_ATTEMPTS", default=3)
# Requests per tenant per period, shared by every user and token of the tenant.
TF_API_TENANT_RATE = env.str("TF_API_TENANT_RATE", default="1200/min")
# How long a web process remembers a token that authenticated (apps/core/api/authentication.py);
# revocations through the app apply at once, edits made straight in the database within this.
TF_API_TOKEN_CACHE_SECONDS = env.float("TF_API_TOKEN_CACHE_SECONDS", default=10.0)

# --- Metrics (/metrics, apps/core/metrics.py, docs/slo.md) ----------------------------------
# Without a token only loopback may scrape; with one, "Authorization: Bearer <token>".
TF_METRICS_TOKEN = env.str("TF_METRICS_TOKEN", default="")
TF_METRICS_MAX_TENANTS = env.int("TF_METRICS_MAX_TENANTS", default=100)
TF_METRICS_QUEUES = env.list("TF_METRICS_QUEUES", default=["celery"])
TF_FAIRNESS_WINDOW_SECONDS = env.int("TF_FAIRNESS_WINDOW_SECONDS", default=60)
TF_FAIRNESS_LATENCY_SECONDS = env.float("TF_FAIRNESS_LATENCY_SECONDS", default=0.5)
# What each tenant's prod should run ({tenant: {policy: version}}); /metrics reports drift.
TF_POLICY_REGISTRY_FILE = env.str("TF_POLICY_REGISTRY_FILE", default="")
# The Studio lifecycle (docs/studio.md): environment names, first to last (the last is prod),
# and how long a low-risk auto-merge soaks before it is applied unless a reviewer objects.
TF_STUDIO_ENVIRONMENTS = env.list("TF_STUDIO_ENVIRONMENTS", default=["dev", "stage", "prod"])
TF_STUDIO_SOAK_SECONDS = env.int("TF_STUDIO_SOAK_SECONDS", default=3600)
TF_PRICE_PER_CPU_HOUR = env.float("TF_PRICE_PER_CPU_HOUR", default=0.04)

SPECTACULAR_SETTINGS = {
    "TITLE": "Trust Fabric API",
    "DESCRIPTION": "Policies (LAC), proof-carrying queries (PCQ), JIT approvals and ZK-TX deconfliction.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.document_error_answers",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DataClassEnum": "apps.graphs.models.DATA_CLASS_CHOICES",
        "QueryRunStatusEnum": "apps.queries.models.QueryRun.Status",
        "AccessRequestStatusEnum": "apps.jit_approvals.models.AccessRequest.Status",
        "VerificationStatusEnum": "apps.provenance.models.Verification.Status",
    },
}

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or "cache+memory://")
# No broker configured = embedded profile: run tasks inline, in the caller's process.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged (acks_late) message after the visibility timeout: it
# must exceed the longest task time limit (integrity checks: 1800 s), or a slow task would
# be delivered twice while still running. Work lost with a killed worker comes back sooner,
# through the sweeps (e.g. provenance.verification_sweep).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Queues by task, so each kind of work can get its own workers (docs/scaling.md):
# notifications are I/O-bound and latency-sensitive (a thread pool), verification and ZK
# are CPU-bound (prefork, one process per core), everything else goes to "default".
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "jit.deliver": {"queue": "notifications"},
    "jit.slack_update": {"queue": "notifications"},
    "provenance.*": {"queue": "verification"},
    "zk.*": {"queue": "zk"},
}
# Declared, so a worker started without -Q consumes all four (the single-machine setup).
CELERY_TASK_QUEUES = tuple(Queue(name) for name in ("default", "notifications", "verification", "zk"))

# --- E-mail ----------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="filemail://")
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
else:
    vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Trust Fabric <trustfabric@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Weekly digests (docs/digests.md): local hour on Monday from which a tenant's digest is due,
# and whether the e-mail carries a tracking image (off: the signed link is the read tracker).
TF_DIGEST_SEND_HOUR = env.int("TF_DIGEST_SEND_HOUR", default=7)
TF_DIGEST_TRACKING_IMAGE = env.bool("TF_DIGEST_TRACKING_IMAGE", default=False)
# PCQ operations (docs/pcq-ops.md): flake reruns, quarantine lifetime and release, paging,
# suppression-rule limits and the breadth guard.
# Decides per query run whether its manifest is replayed (rate per tenant and dataset).
PCQ_REPLAY_SAMPLER = "apps.pcq_ops.services.sampling_decide"
TF_PCQ_FLAKE_RERUNS = env.int("TF_PCQ_FLAKE_RERUNS", default=5)
TF_PCQ_QUARANTINE_MAX_DAYS = env.int("TF_PCQ_QUARANTINE_MAX_DAYS", default=14)
TF_PCQ_QUARANTINE_RELEASE_RUNS = env.int("TF_PCQ_QUARANTINE_RELEASE_RUNS", default=3)
TF_PCQ_PAGE_MIN_SEVERITY = env.str("TF_PCQ_PAGE_MIN_SEVERITY", default="warning")
TF_PCQ_PAGE_GROUP_MINUTES = env.int("TF_PCQ_PAGE_GROUP_MINUTES", default=60)
TF_PCQ_SUPPRESSION_MAX_HOURS = env.int("TF_PCQ_SUPPRESSION_MAX_HOURS", default=168)
TF_PCQ_SUPPRESSION_MIN_MATCHERS = env.int("TF_PCQ_SUPPRESSION_MIN_MATCHERS", default=2)
TF_PCQ_SUPPRESSION_MAX_SHARE = env.float("TF_PCQ_SUPPRESSION_MAX_SHARE", default=0.5)
TF_PCQ_SUPPRESSION_REMIND_HOURS = env.int("TF_PCQ_SUPPRESSION_REMIND_HOURS", default=24)
TF_PCQ_BREADTH_WINDOW_DAYS = env.int("TF_PCQ_BREADTH_WINDOW_DAYS", default=7)

# --- Slack (off unless both are set) ----------------------------------------------------
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
SLACK_ENABLED = bool(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)
# Where approval requests go: "dm" (each approver with a verified Slack link) or "channel".
SLACK_APPROVALS_MODE = env.str("SLACK_APPROVALS_MODE", default="dm")
SLACK_APPROVALS_CHANNEL = env.str("SLACK_APPROVALS_CHANNEL", default="")

# --- JIT notification outbox and request path ---------------------------------------------
# A delivering worker holds a row this long; after it, the row counts as abandoned (its worker
# died) and the beat sweep re-queues it. Longer than the deliver task's time limit (60 s).
JIT_OUTBOX_LEASE_SECONDS = env.int("JIT_OUTBOX_LEASE_SECONDS", default=90)
# A pending or failed row nobody touched for this long lost its broker message: re-queued.
# Longer than the longest retry backoff (120 s).
JIT_OUTBOX_STALE_SECONDS = env.int("JIT_OUTBOX_STALE_SECONDS", default=300)
JIT_OUTBOX_MAX_ATTEMPTS = 7  # the first try and the deliver task's 6 retries
# Who may approve a dataset, shared by a burst of requests (fan-out only; decisions re-check).
JIT_ELIGIBILITY_CACHE_SECONDS = env.int("JIT_ELIGIBILITY_CACHE_SECONDS", default=5)
# Pilot appeals (apps/pilots/appeals.py, runbooks/partner-support.md).
PILOT_APPEAL_SLA_HOURS = env.int("TF_PILOT_APPEAL_SLA_HOURS", default=24)
PILOT_APPEAL_REMIND_HOURS = env.int("TF_PILOT_APPEAL_REMIND_HOURS", default=12)

# --- Security (production profile) ------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# django-csp: no inline scripts or styles anywhere; everything is served from 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# --- Logging: structured JSON with request id and tenant id, secrets redacted -------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.core.logging.RedactSecretsFilter"}},
    "formatters": {
        "json": {"()": "apps.core.logging.build_formatter", "renderer": "json"},
        "console": {"()": "apps.core.logging.build_formatter", "renderer": "console"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
