"""Settings, read from the environment only.

Every value has a development default so a fresh clone runs with no configuration; with
``DEBUG`` off the process refuses to start while any development secret is still in use.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105
DEV_JWT_SIGNING_KEY = "dev-only-jwt-signing-key-not-for-production"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", DEV_JWT_SIGNING_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# Behind a TLS-terminating proxy: the origins the admin is reached at (https://…), and
# SECURE_PROXY_SSL_HEADER=1 to trust the proxy's X-Forwarded-Proto.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probes and the metrics scrape come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

if not DEBUG:
    insecure = [
        name
        for name, value, dev_value in (
            ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
            ("JWT_SIGNING_KEY", JWT_SIGNING_KEY, DEV_JWT_SIGNING_KEY),
        )
        if value == dev_value or len(value) < 32
    ]
    if insecure:
        raise ImproperlyConfigured(
            f"DEBUG is off but {', '.join(insecure)} still has its development default "
            "(or is shorter than 32 characters); set a real secret in the environment."
        )

INSTALLED_APPS = [
    "accounts.admin_config.BackOfficeAdminConfig",  # Django's admin, the back office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # thousands separators in the back office's counts
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "core",
    "tenancy",
    "accounts",
    "customers",
]

MIDDLEWARE = [
    "core.observability.RequestMiddleware",
    "core.api_errors.ApiErrorMiddleware",
    "customers.middleware.ReadLogJournalMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.RowSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
# PostgreSQL: the tables' owner for migrations (same database, other credentials); the role of
# DATABASE_URL then only reads and writes rows. See core/roles.py and docs/security.md.
MIGRATION_DATABASE_URL = os.environ.get("MIGRATION_DATABASE_URL", "")
# A NOLOGIN role with BYPASSRLS that owns the one function searching the trigram indexes under
# row-level security (customers/migrations/0007); without it searches are correct but slower.
DATABASE_SEARCH_ROLE = os.environ.get("DATABASE_SEARCH_ROLE", "")
# The database is a Citus coordinator whose customer tables are distributed
# (``manage.py distribute_tenants``): the row-security context is then bound by statements of
# its own, never in the same query as another statement (Citus sends a ``SET LOCAL``'s whole
# query text to the workers). A system check compares it with the database. docs/scaling.md.
DATABASE_DISTRIBUTED = env_bool("DATABASE_DISTRIBUTED", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The test database is a file beside the database, not in memory, so that a real task
    # worker started by the tests (another process) can open it too.
    _sqlite_path = Path(DATABASES["default"]["NAME"])
    _test_path = _sqlite_path.with_name(f"test_{_sqlite_path.name}")
    DATABASES["default"]["TEST"] = {"NAME": str(_test_path)}
    # The web server and the task worker write concurrently: take the write lock when a
    # transaction begins (no lock upgrades that fail), wait for it, and let readers go on (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Behind a connection pooler in transaction mode (PgBouncer ``pool_mode = transaction``): no
# server-side cursors, no session state (the row-security context never is: each statement or
# transaction binds its own, accounts.rowsecurity); see docs/scaling.md.
DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "")
if DATABASE_POOL_MODE not in ("", "session", "transaction"):
    raise ImproperlyConfigured("DATABASE_POOL_MODE is 'transaction', 'session' or unset.")
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# The statements every request runs by a unique key (the token's principal, a customer by its
# number) are prepared once per database session and their plans reused (core/plans.py); never
# behind a pooler in transaction mode or on a distributed database.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)

# Read replicas (comma-separated URLs): aliases replica1, replica2, ... (core/replicas.py). In
# the test suite they mirror the primary.
for _number, _url in enumerate(
    filter(None, (u.strip() for u in os.environ.get("DATABASE_REPLICA_URLS", "").split(","))),
    start=1,
):
    DATABASES[f"replica{_number}"] = {
        **dj_database_url.parse(_url, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"]),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["core.replicas.ReplicaRouter"] if len(DATABASES) > 1 else []
# After a principal writes, its reads go to the primary for this long (seconds).
READ_YOUR_WRITES_SECONDS = float(os.environ.get("READ_YOUR_WRITES_SECONDS", "5"))
# A replica further behind than this is skipped; each process checks it this often (seconds).
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "5"))
REPLICA_CHECK_SECONDS = float(os.environ.get("REPLICA_CHECK_SECONDS", "1"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.Employee"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while locked out (admin site)
    "accounts.backends.EmployeeBackend",  # Django's, behind the identities' row security
]
# Django's hashers, plus the one that verifies password hashes imported from Emporix.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "customers.passwords.EmporixPBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Served by WhiteNoise from STATIC_ROOT (`collectstatic`): compressed, with hashed names and a
# far-future cache header. The hashed names need the manifest `collectstatic` writes, so they
# are on by default only with DEBUG off.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collected files (development, tests) WhiteNoise finds them in the apps per request.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not STATIC_MANIFEST

# PostgreSQL cancels a web request's statement after this long (0: no limit); the client gets a
# 503. Commands and task workers are not limited.
REQUEST_STATEMENT_TIMEOUT_MS = int(os.environ.get("REQUEST_STATEMENT_TIMEOUT_MS", "5000"))

# Bodies over 10 MB are refused with 413 (enforced in core.api_errors).
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))  # seconds; a task waits, not a request
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@customers.local")
PASSWORD_RESET_URL = os.environ.get(
    "PASSWORD_RESET_URL", "http://127.0.0.1:8000/reset-password?token={token}"
)

# Background work (bulk jobs started in the back office, password-reset e-mails) goes through
# Django's Tasks API. The database backend needs no extra server; ``manage.py db_worker`` runs it.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# Where links in e-mails to staff (access requests, reviews) point.
BACK_OFFICE_URL = os.environ.get("BACK_OFFICE_URL", "http://127.0.0.1:8000")
# A back-office selection larger than this runs as a background job instead of in the request.
BULK_JOB_THRESHOLD = int(os.environ.get("BULK_JOB_THRESHOLD", "5000"))
# How long a built data-subject export waits for its one download.
PRIVACY_EXPORT_HOURS = int(os.environ.get("PRIVACY_EXPORT_HOURS", "24"))
# Customers per transaction in a background job; pause between batches (seconds) to leave room
# for other traffic; a running job whose worker stayed silent this long may be resumed.
BULK_JOB_BATCH_SIZE = int(os.environ.get("BULK_JOB_BATCH_SIZE", "2000"))
BULK_JOB_BATCH_PAUSE = float(os.environ.get("BULK_JOB_BATCH_PAUSE", "0"))
BULK_JOB_STALE_SECONDS = int(os.environ.get("BULK_JOB_STALE_SECONDS", "300"))

# The read-access log's journal (customers/read_log_journal.py): a directory on this server's
# own disk where each process writes the lines of the reads it answers, flushed to the disk
# before the answer leaves, and ships them into the log every second. Unset: each read writes
# its lines into the database itself, in its own transaction.
READ_LOG_JOURNAL = os.environ.get("READ_LOG_JOURNAL", "")

# Shared by every process when REDIS_URL is set (throttle counts, lockouts); local otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
# While Redis does not answer, each process counts in its own memory (core/cache.py).
CACHES = {
    "default": (
        {
            "BACKEND": "core.cache.SharedCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Brute force. Token endpoint (accounts.throttling): failures per client id or username from
# one address, per address, and per client id or username from every address, within a window.
TOKEN_FAILURE_LIMIT = int(os.environ.get("TOKEN_FAILURE_LIMIT", "10"))
TOKEN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("TOKEN_ADDRESS_FAILURE_LIMIT", "30"))
TOKEN_IDENTITY_FAILURE_LIMIT = int(os.environ.get("TOKEN_IDENTITY_FAILURE_LIMIT", "100"))
TOKEN_FAILURE_WINDOW = int(os.environ.get("TOKEN_FAILURE_WINDOW", "900"))  # seconds
# Admin login (django-axes): failures per username from one address, or per address, then a
# cool-off (a username alone is never locked: anyone could lock anyone out).
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
LOGIN_COOLOFF_MINUTES = int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15"))
AXES_ONLY_ADMIN_SITE = True
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.throttling.admin_lockout_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Local memory counts per process: right for one process (runserver, tests); with several
# processes set REDIS_URL so that they share the counts.
SILENCED_SYSTEM_CHECKS = [] if REDIS_URL else ["axes.W001"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The list indexes carry `restriction` as a non-key column so that PostgreSQL answers a
    # restricted list from the index alone; SQLite has no such columns and builds the same
    # index without it (models.W040 says exactly that on every migrate). Nothing to fix there.
    SILENCED_SYSTEM_CHECKS.append("models.W040")

ACCESS_TOKEN_LIFETIME = timedelta(seconds=int(os.environ.get("ACCESS_TOKEN_LIFETIME", "3600")))
JWT_ISSUER = os.environ.get("JWT_ISSUER", "customer-restrictions")

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": "",
    "ISSUER": JWT_ISSUER,
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "USER_ID_CLAIM": "sub",
    "JTI_CLAIM": "jti",
    "TOKEN_TYPE_CLAIM": "token_type",
    "LEEWAY": 0,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.fastjson.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Customer Service with restriction scopes",
    "DESCRIPTION": (
        "Emporix-compatible customer service. Every operation is limited by the OAuth scopes "
        "of the bearer token; scopes may carry a restriction suffix such as `--DE`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from this server (drf-spectacular-sidecar): no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The system's fonts: the docs load nothing from elsewhere (config/api_docs.py).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
            }
        }
    },
    # Sections in the order a newcomer reads them (drf-spectacular lists operations' tags in the
    # order given here first).
    "TAGS": [
        {"name": "OAuth", "description": "Tokens for API clients and employees."},
        {"name": "Customers", "description": "Customers, their search and their restriction."},
        {"name": "Addresses", "description": "A customer's addresses and their tags."},
        {"name": "Audit", "description": "Restriction history and the access-change log."},
        {
            "name": "Privacy",
            "description": "Data-subject requests: a customer's legal hold and its erasure.",
        },
        {"name": "Import and migration", "description": "Bulk import, password migration."},
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    # A response property is required only when every response has it (the shapes leave out
    # null properties and unexpanded ones); see customers.api.serializers.DocumentSerializer.
    "COMPONENT_NO_READ_ONLY_REQUIRED": True,
    "SCHEMA_PATH_PREFIX": r"/customer/",
}

# Metrics (/metrics): answered to these addresses, or to `Authorization: Bearer METRICS_TOKEN`.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# One line per request from core.observability (the `requests` logger), every record with its
# request id; LOG_FORMAT=json for one JSON object per line. Django's own loggers propagate to
# the root handler only (no second copy), and its per-request warnings ("Not Found: …") are left
# to the request line.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "core.observability.RequestContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
        # django-axes logs every start and login at INFO; its failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
