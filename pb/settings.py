"""pb settings: one module; production differs only by environment variables.

DATABASE_URL      sqlite:///path or postgres://user:pass@host:port/name (default: SQLite db.sqlite3)
DJANGO_SECRET_KEY required when DJANGO_DEBUG is off
DJANGO_DEBUG      "1"/"true" to enable debug (default on for the local demo, off when a secret key is set)
DJANGO_ALLOWED_HOSTS comma-separated
PB_HMAC_KEY       key for hashing personal identifiers of the voter roll (defaults to the secret key)
PB_PUBLIC_URL     the site's public address, e.g. https://pb.example.org: printed on voting-code letters
                  (needed to print them; the address an official happened to use is never printed)
PB_ANONYMITY_K    the anonymity set K (default 20): ballots are sealed in batches of at least K per pot and
                  public turnout cells under K are merged (frozen into each election's definition at opening)
PB_SIGNING_KEY_FILE  council Ed25519 private key file (kept outside the database)
PB_AUDIT_KEY_FILE    the server's Ed25519 key that signs audit log checkpoints (default keys/audit.key; make
                     it with manage.py audit_keygen; made on first use only when DJANGO_DEBUG is on)
PB_SIGNING_CERT_FILE      X.509 certificate (ECDSA or RSA) that PAdES-signs every result PDF; its SHA-256
                          is named in the signed manifest (default keys/council-pades-cert.pem; make one with
                          manage.py council_certgen). Certification refuses without it.
PB_SIGNING_CERT_KEY_FILE  that certificate's private key (default keys/council-pades-key.pem, mode 0600)
PB_TRUSTED_PROXIES  comma-separated addresses or CIDR networks of the reverse proxies whose X-Forwarded-For
                    is believed (default "127.0.0.1,::1"); see pb/core/clientip.py and docs/deploy.md
PB_VOTER_IDENTITY_AGE  seconds a voter's identification (a signed cookie, ballots/roll/identity.py) is
                    accepted after it was made (default 14400, 4 hours; it also ends with the browser)
PB_THROTTLE_*       identification throttle (ballots/roll/throttle.py); PB_LOGIN_FAILURES and
                    PB_LOGIN_LOCKOUT_MINUTES: sign-in lock-out per account and address (django-axes)
PB_TECHNICAL_ERRORS "1" shows Django's technical error pages when debug is on (default off: the demo shows
                    the same pages as production)
PB_TASKS_BACKEND    "database" (default): background jobs are rows in this database, run by
                    `manage.py task_worker` processes; "immediate": run inside the request (no worker)
PB_HEALTH_MAX_QUEUE_AGE  /healthz answers 503 once a queued task has waited longer than this (seconds, 300)
PB_WORKER_LOST_SECONDS   a worker silent this long is dead: its running task is queued again (seconds, 60)
EMAIL_HOST          SMTP server for account e-mail (sign-up confirmation, password reset); unset: e-mail is
                    printed on the console (the demo). EMAIL_PORT (587; 465 with EMAIL_USE_SSL),
                    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS (STARTTLS, on unless EMAIL_USE_SSL),
                    EMAIL_USE_SSL, EMAIL_TIMEOUT (10 s), DEFAULT_FROM_EMAIL; see docs/deploy.md "E-mail"
PB_API_RATE_COUNT, PB_API_RATE_WINDOW  the open data API's limit per client address: COUNT requests per
                    WINDOW seconds (120 per 60; docs/api.md)
PB_MAP_TILE_URL     base map tiles, e.g. https://tile.example.org/{z}/{x}/{y}.png (default empty: the maps
                    draw the district shapes alone); PB_MAP_TILE_ATTRIBUTION: the tile provider's credit
"""

import datetime as dt
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme in {"sqlite", "sqlite3"}:
        path = unquote(parsed.path[1:] if parsed.path.startswith("//") else parsed.path)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or BASE_DIR / "db.sqlite3"}
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "pb",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
            "TEST": {"NAME": (unquote(parsed.path.lstrip("/")) or "pb") + "_test"},
            # Parameters bound on the server, and a statement run twice on a connection is prepared (parsed
            # and planned once from then on): the voter journey runs the same few queries on every request.
            # DJANGO_DB_PREPARE=0 behind a transaction-pooling PgBouncer older than 1.21 (no prepared
            # statements there).
            "OPTIONS": {
                "server_side_binding": True,
                "prepare_threshold": 2 if _env_bool("DJANGO_DB_PREPARE", True) else None,
            },
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")


_secret = os.environ.get("DJANGO_SECRET_KEY")
DEBUG = _env_bool("DJANGO_DEBUG", default=_secret is None)
if _secret is None:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    _secret = "insecure-local-demo-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = _secret
# What code letters print (ballots.roll.codes_pdf): the configured address, not request.get_host().
# The demo (DEBUG on, no PB_PUBLIC_URL) prints the address `make demo` serves; production must set it.
PB_PUBLIC_URL = os.environ.get("PB_PUBLIC_URL", "http://127.0.0.1:8000" if DEBUG else "").strip().rstrip("/")
# Also the root of the key that encrypts ballots waiting to be sealed (ballots.ballotbox.pending): keep it
# for the whole vote; pending ballots cast under another key cannot be sealed.
PB_HMAC_KEY = os.environ.get("PB_HMAC_KEY", SECRET_KEY)
PB_ANONYMITY_K = int(os.environ.get("PB_ANONYMITY_K", "20"))
PB_SIGNING_KEY_FILE = os.environ.get("PB_SIGNING_KEY_FILE", str(BASE_DIR / "keys" / "council.key"))
PB_AUDIT_KEY_FILE = os.environ.get("PB_AUDIT_KEY_FILE", str(BASE_DIR / "keys" / "audit.key"))
# Online identifications are audited without the chain's lock and chained by every Nth writer (pb.core.audit).
PB_AUDIT_FOLD_EVERY = int(os.environ.get("PB_AUDIT_FOLD_EVERY", "16"))
PB_SIGNING_CERT_FILE = os.environ.get(
    "PB_SIGNING_CERT_FILE", str(BASE_DIR / "keys" / "council-pades-cert.pem")
)
PB_SIGNING_CERT_KEY_FILE = os.environ.get(
    "PB_SIGNING_CERT_KEY_FILE", str(BASE_DIR / "keys" / "council-pades-key.pem")
)

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "import_export",
    "allauth",  # residents' accounts: sign-up with a confirmed e-mail, password reset (ACCOUNT_* below)
    "allauth.account",
    "pb.core",
    "proposals",
    "ballots",
    "tally",
    "axes",  # sign-in throttling (AXES_* below)
    "django_tasks_db",  # the task queue's table (TASKS below)
    "pb.worker",  # task workers: heartbeats, recovery of a dead worker's task, /healthz
    "pb.demo",  # `manage.py demo_load`: above every app, since it drives them all
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Our 404/403/500 pages even with DEBUG on (the demo): outside CommonMiddleware, so a missing slash is
    # still redirected before a 404 is replaced.
    "pb.core.errorpages.FriendlyErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before any view or CSRF check reads the body: NUL bytes (400) and per-endpoint body limits (413).
    "pb.core.middleware.RequestGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lock-out into our page
]

ROOT_URLCONF = "pb.urls"
WSGI_APPLICATION = "pb.wsgi.application"
ASGI_APPLICATION = "pb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pb.core.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": _database_from_url(os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Serialise writers instead of failing with "database is locked" under concurrent requests.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): 10 wrong passwords for one username from one address lock that pair for
# 15 minutes; the account stays open from other addresses, other accounts from this address. The first
# backend refuses a locked pair before the password is checked (pb.core.loginthrottle).
# The second checks the password for a username or a resident's e-mail address (allauth's, a ModelBackend).
AUTHENTICATION_BACKENDS = [
    "pb.core.loginthrottle.LoginThrottleBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("PB_LOGIN_FAILURES", "10"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=float(os.environ.get("PB_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "pb.core.clientip.client_ip"
AXES_USERNAME_CALLABLE = "pb.core.loginthrottle.login_username"
AXES_LOCKOUT_CALLABLE = "pb.core.loginthrottle.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"

# Residents' accounts (django-allauth; our part in pb.core.accounts). Residents sign up with an e-mail address
# they must confirm before they can sign in; officials and council members are made by administrators and sign
# in with their username (pb.core.accounts.stages). Sign-in lock-out is axes' alone (above), for every
# account: allauth's own sign-in limits are off; its limits on sign-up, reset and e-mail sending stay.
ACCOUNT_ADAPTER = "pb.core.accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    name: f"pb.core.accounts.forms.{cls}"
    for name, cls in [
        ("login", "LoginForm"),
        ("signup", "SignupForm"),
        ("reset_password", "ResetPasswordForm"),
        ("reset_password_from_key", "ResetPasswordKeyForm"),
        ("change_password", "ChangePasswordForm"),
        ("add_email", "AddEmailForm"),
    ]
}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True  # one address per account: a new one replaces the old once confirmed
ACCOUNT_CONFIRM_EMAIL_ON_GET = False  # the link opens a page with a button: mail scanners do not confirm
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[pb] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_RATE_LIMITS = {"login": None, "login_failed": None}
ACCOUNT_SESSION_REMEMBER = None  # a "Remember me" box: unticked, the session ends with the browser

# E-mail (Django's mailers): printed on the console unless an SMTP server is configured (EMAIL_HOST). Tests
# get Django's in-memory outbox instead (pytest-django sets it up).
_EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
_EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)  # implicit TLS (port 465); otherwise STARTTLS (587)
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _EMAIL_HOST,
            "port": int(os.environ.get("EMAIL_PORT", "465" if _EMAIL_USE_SSL else "587")),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_ssl": _EMAIL_USE_SSL,
            "use_tls": _env_bool("EMAIL_USE_TLS", not _EMAIL_USE_SSL),
            "timeout": int(os.environ.get("EMAIL_TIMEOUT", "10")),
        },
    }
    if _EMAIL_HOST
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "pb <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("vi", _("Vietnamese")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["pb.core.formats"]  # digit grouping for vi and zh-hans amounts
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("PB_MEDIA_ROOT", BASE_DIR / "media"))
PB_VAR_DIR = Path(os.environ.get("PB_VAR_DIR", BASE_DIR / "var"))  # exported ballot files, PDFs
# Bounded work per request. Non-file form data is small; uploads above FILE_UPLOAD_MAX_MEMORY_SIZE go to a
# temporary file rather than memory. Request bodies are refused (413, from CONTENT_LENGTH, before they are
# read: pb.core.middleware) above PB_REQUEST_MAX_BYTES, except on the upload endpoints of PB_UPLOAD_LIMITS.
# docs/deploy.md "Upload limits": the proxy's client_max_body_size matches the largest.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MB, Django's default
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
PB_REQUEST_MAX_BYTES = int(os.environ.get("PB_REQUEST_MAX_BYTES", 6 * 1024 * 1024))  # a 5 MB image + text
# The public verify page: the result PDF plus the optional published files, in all (bigger: the CLI).
PB_VERIFY_MAX_BYTES = int(os.environ.get("PB_VERIFY_MAX_BYTES", 8 * 1024 * 1024))
# Per client address (ballots.roll.throttle.client_ip): at most COUNT verifications per WINDOW seconds,
# and at most CONCURRENCY verifications at once on the whole site, so verifying never takes the workers from
# voters.
PB_VERIFY_RATE_COUNT = int(os.environ.get("PB_VERIFY_RATE_COUNT", 10))
PB_VERIFY_RATE_WINDOW = int(os.environ.get("PB_VERIFY_RATE_WINDOW", 600))
PB_VERIFY_CONCURRENCY = int(os.environ.get("PB_VERIFY_CONCURRENCY", 2))
# The open data API (tally.opendata.http): requests per client address per window, counted in the cache.
PB_API_RATE_COUNT = int(os.environ.get("PB_API_RATE_COUNT", 120))
PB_API_RATE_WINDOW = int(os.environ.get("PB_API_RATE_WINDOW", 60))
PB_PROPOSAL_IMPORT_MAX_BYTES = int(os.environ.get("PB_PROPOSAL_IMPORT_MAX_BYTES", 5 * 1024 * 1024))
PB_ROLL_IMPORT_MAX_BYTES = int(os.environ.get("PB_ROLL_IMPORT_MAX_BYTES", 60 * 1024 * 1024))
PB_UPLOAD_LIMITS = {
    "tally:verify": PB_VERIFY_MAX_BYTES,
    "proposals:import": PB_PROPOSAL_IMPORT_MAX_BYTES,
    "ballots:roll": PB_ROLL_IMPORT_MAX_BYTES,
}
# A roll-import job with no progress for this long (its worker died or hangs) is marked failed (retryable).
PB_ROLL_JOB_STALL_SECONDS = int(os.environ.get("PB_ROLL_JOB_STALL_SECONDS", 300))

PB_MAP_TILE_URL = os.environ.get("PB_MAP_TILE_URL", "").strip()
PB_MAP_TILE_ATTRIBUTION = os.environ.get("PB_MAP_TILE_ATTRIBUTION", "").strip()
PB_DISTRICT_SHAPE_MAX_BYTES = int(os.environ.get("PB_DISTRICT_SHAPE_MAX_BYTES", 2 * 1024 * 1024))
# The tile server's origin ("{s}" subdomains become a wildcard) is the only other place images come from.
_TILE_ORIGIN = urlparse(PB_MAP_TILE_URL)
_TILE_HOSTS = (
    [f"{_TILE_ORIGIN.scheme}://{_TILE_ORIGIN.netloc.replace('{s}', '*')}"] if _TILE_ORIGIN.netloc else []
)

# Content Security Policy (Django 6 built-in): no inline script, htmx is vendored.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", *_TILE_HOSTS],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# The client's address (pb.core.clientip): X-Forwarded-For is read only from these proxies.
PB_TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("PB_TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if p.strip()
]
# Identification throttle (ballots/throttle.py): free failures per address and per code/reference, then
# delays of PB_THROTTLE_DELAY x 2^k seconds, never more than PB_THROTTLE_DELAY_MAX; failures forgotten after
# PB_THROTTLE_WINDOW idle seconds; PB_THROTTLE_SPACE_FAILURES failures of an election's codes (or roll
# match) within PB_THROTTLE_SPACE_WINDOW seconds raise an alert for officials and shorten the free budget.
PB_THROTTLE_IP_FAILURES = int(os.environ.get("PB_THROTTLE_IP_FAILURES", "5"))
PB_THROTTLE_TARGET_FAILURES = int(os.environ.get("PB_THROTTLE_TARGET_FAILURES", "5"))
PB_THROTTLE_DELAY = float(os.environ.get("PB_THROTTLE_DELAY", "2"))
PB_THROTTLE_DELAY_MAX = float(os.environ.get("PB_THROTTLE_DELAY_MAX", "60"))
PB_THROTTLE_WINDOW = int(os.environ.get("PB_THROTTLE_WINDOW", "900"))
PB_THROTTLE_SPACE_FAILURES = int(os.environ.get("PB_THROTTLE_SPACE_FAILURES", "300"))
PB_THROTTLE_SPACE_WINDOW = int(os.environ.get("PB_THROTTLE_SPACE_WINDOW", "60"))
# Django's technical 404/500 pages (URLconf listing, tracebacks) only when asked for, even with DEBUG on.
PB_TECHNICAL_ERRORS = _env_bool("PB_TECHNICAL_ERRORS", False)
SESSION_COOKIE_HTTPONLY = True
# Database sessions (Django's default engine): ending a session (a booth device handed over, an official
# signing out) deletes it on the server, so a copy of the cookie is worth nothing afterwards. A voter's
# identification is not in the session but a signed cookie of its own (ballots/roll/identity.py); leaving
# revokes its copies on the server too (the roll entry's identity version).
CSRF_FAILURE_VIEW = "pb.core.errorpages.csrf_failure"  # an expired form, said plainly (also in the demo)
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the <body hx-headers>, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's health check comes over plain HTTP
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Background jobs (django.tasks). "database": django-tasks-db keeps the queue in this database (no extra
# service) and `manage.py task_worker` processes run it; "immediate": inside the request (no worker). Queues:
# "default" for counts, certification and imports; "public" for work the public can trigger, run by workers
# of its own so a flood of it never delays a count (docs/deploy.md "Task workers").
PB_TASKS_BACKEND = os.environ.get("PB_TASKS_BACKEND", "database").strip().lower()
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
if PB_TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"PB_TASKS_BACKEND must be one of {sorted(_TASK_BACKENDS)}")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[PB_TASKS_BACKEND], "QUEUES": ["default", "public"]}}
PB_HEALTH_MAX_QUEUE_AGE = int(os.environ.get("PB_HEALTH_MAX_QUEUE_AGE", "300"))
PB_WORKER_LOST_SECONDS = int(os.environ.get("PB_WORKER_LOST_SECONDS", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
