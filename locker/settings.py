"""Locker's only settings module. Every value comes from the environment (see README)."""

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from locker import __version__, envfile
from locker.env import (
    base_url,
    env_bool,
    env_choice,
    env_duration,
    env_free_space,
    env_int,
    env_list,
    env_size,
    env_str,
    parse_duration,
)

# The release (locker/__init__.py), for code outside the locker app (storage's backup manifest).
LOCKER_VERSION = __version__

# locker.env next to the checkout (or LOCKER_ENV_FILE): the environment wins over it.
LOCKER_ENV_FILE = envfile.load()
BASE_DIR = Path(__file__).resolve().parent.parent
# A relative LOCKER_DATA_DIR is relative to the checkout, wherever a command is started from.
DATA_DIR = (BASE_DIR / Path(env_str("LOCKER_DATA_DIR") or "data").expanduser()).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_from_data_dir(filename: str, make) -> str:
    """Read a generated secret from the data dir, creating it (mode 0600) on first use."""
    path = DATA_DIR / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(make() + "\n")
    return path.read_text(encoding="utf-8").strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or _secret_from_data_dir(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
# Without LOCKER_BASE_URL: the address `make run` listens on (LOCKER_BIND, PORT).
LOCKER_BASE_URL = base_url()
_base_host = urlsplit(LOCKER_BASE_URL).hostname or "127.0.0.1"
_base_host = f"[{_base_host}]" if ":" in _base_host else _base_host
# The base URL's host is always served: links built from it must open.
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ",".join(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", _base_host]))
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", LOCKER_BASE_URL)
LOCKER_HTTPS = env_bool("LOCKER_HTTPS", False)

if (
    not DEBUG
    and any(host in ("*", "") for host in ALLOWED_HOSTS)
    and not env_bool("LOCKER_ALLOW_ANY_HOST", False)
):
    raise ImproperlyConfigured(
        f"ALLOWED_HOSTS must list the host names Locker is reached by (e.g. "
        f"locker.example.org), not {env_str('ALLOWED_HOSTS')!r}: a forged Host header would "
        "otherwise be believed. Behind a proxy that checks the host, LOCKER_ALLOW_ANY_HOST=true "
        "allows it."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    # Before django.contrib.auth, so that its changepassword command (which also revokes the
    # user's API tokens) is the one manage.py runs.
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "locker",
    "storage",
    "files",
    "sharing",
    "metrics",
    "doctor",
    "webhooks",
]

MIDDLEWARE = [
    # First, so that it times the whole stack (locker/metrics.py).
    "locker.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # After authentication: a logged-in user's language setting wins (locker/i18n.py).
    "locker.i18n.UserLanguageMiddleware",
    "accounts.audit.AuditContextMiddleware",
    # Before the two-factor guard: SSO sessions re-checked at the provider (accounts/oidc.py).
    "accounts.oidc.OidcSessionMiddleware",
    "accounts.twofactor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "locker.middleware.SecurityHeadersMiddleware",
    # `%00` in a query string: 400 before any view (PostgreSQL refuses NUL in strings).
    "locker.middleware.NulInQueryMiddleware",
    # A view's outage (database, cache, broker, storage down; disk full) → 503/507 naming it.
    "locker.outages.OutageMiddleware",
    # Axes must be last: it turns locked-out log-ins into its lock-out response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "locker.urls"
WSGI_APPLICATION = "locker.wsgi.application"

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
                "locker.context_processors.locker",
            ],
            # Sizes and times read the same on every page (|size, |size_exact, |when).
            "builtins": ["locker.templatetags.locker_format"],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'locker.sqlite3'}")
try:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
except ValueError:
    # The value is not repeated: it may hold a password.
    raise ImproperlyConfigured(
        "DATABASE_URL must be a URL such as postgres://user:password@host:5432/name or "
        f"sqlite:////path/to/locker.sqlite3, not a {DATABASE_URL.split(':')[0]}: URL."
    ) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    # A database that does not answer fails a request in seconds (503), not after minutes.
    _pg_options.setdefault("connect_timeout", 5)
    # No JIT compilation on our connections: PostgreSQL compiles a query whose estimated cost
    # passes `jit_above_cost`, which pays off for analytics running for seconds and adds tens of
    # milliseconds to a search or a count here (docs/architecture.md, "Name search"). A `jit`
    # setting already in the URL's `options` is kept.
    if "jit" not in _pg_options.get("options", ""):
        _pg_options["options"] = f"{_pg_options.get('options', '')} -c jit=off".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Take the write lock when a transaction starts, so concurrent writers queue instead of
        # failing with "database is locked" half-way through.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file as well: the in-memory test database (shared cache) answers concurrent
    # writers from the live server with "database table is locked" instead of waiting.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-locker.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttles and lock-outs must be shared by every process) --------------------------
LOCKER_CACHE_URL = env_str("LOCKER_CACHE_URL", "")
if LOCKER_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    from redis.exceptions import ConnectionError as _RedisConnectionError

    CACHES = {
        "default": {
            # Django's Redis cache plus an atomic counter for the rate limits (locker/cache.py).
            "BACKEND": "locker.cache.RedisCache",
            "LOCATION": LOCKER_CACHE_URL,
            "OPTIONS": {
                # A cache that does not answer fails a request in seconds (503), not never.
                "socket_connect_timeout": 3,
                "socket_timeout": 5,
                # A pooled connection that broke while idle (Redis restarted) is retried once on
                # a new one, instead of failing the first request after every outage.
                "retry_on_error": [_RedisConnectionError],
            },
        }
    }
elif LOCKER_CACHE_URL in ("", "db"):
    CACHES = {
        "default": {
            # Django's database cache plus an atomic counter for the rate limits.
            "BACKEND": "locker.cache.DatabaseCache",
            "LOCATION": "locker_cache",
        }
    }
else:
    raise ImproperlyConfigured(
        "LOCKER_CACHE_URL must be empty, 'db' or a redis:// URL, not one starting "
        f"{LOCKER_CACHE_URL.split(':')[0]!r}."
    )

# --- Accounts ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# LDAP / Active Directory (docs/sso-ldap.md): on when LOCKER_LDAP_URL is set. A password the
# local accounts do not take is then checked against the directory (accounts.ldap).
LOCKER_LDAP_URL = env_str("LOCKER_LDAP_URL", "")
LOCKER_LDAP_BIND_DN = env_str("LOCKER_LDAP_BIND_DN", "")
LOCKER_LDAP_BIND_PASSWORD = env_str("LOCKER_LDAP_BIND_PASSWORD", "")
LOCKER_LDAP_USER_BASE = env_str("LOCKER_LDAP_USER_BASE", "")
LOCKER_LDAP_USER_FILTER = env_str("LOCKER_LDAP_USER_FILTER", "(uid=%(user)s)")
LOCKER_LDAP_USERNAME_ATTR = env_str("LOCKER_LDAP_USERNAME_ATTR", "uid")
LOCKER_LDAP_EMAIL_ATTR = env_str("LOCKER_LDAP_EMAIL_ATTR", "mail")
LOCKER_LDAP_NAME_ATTR = env_str("LOCKER_LDAP_NAME_ATTR", "displayName")
LOCKER_LDAP_REQUIRE_GROUP = env_str("LOCKER_LDAP_REQUIRE_GROUP", "")
LOCKER_LDAP_STAFF_GROUP = env_str("LOCKER_LDAP_STAFF_GROUP", "")
LOCKER_LDAP_START_TLS = env_bool("LOCKER_LDAP_START_TLS", False)
LOCKER_LDAP_CA_FILE = env_str("LOCKER_LDAP_CA_FILE", "")
LOCKER_LDAP_TIMEOUT = env_duration("LOCKER_LDAP_TIMEOUT", "5s")
LOCKER_LDAP_MAX_CONNECTIONS = env_int("LOCKER_LDAP_MAX_CONNECTIONS", 4)  # per web process
if LOCKER_LDAP_URL:
    if not LOCKER_LDAP_URL.lower().startswith(("ldap://", "ldaps://")):
        raise ImproperlyConfigured(
            "LOCKER_LDAP_URL must start with ldap:// or ldaps://, such as "
            f"ldaps://ldap.example.org, not {LOCKER_LDAP_URL!r}."
        )
    if LOCKER_LDAP_START_TLS and LOCKER_LDAP_URL.lower().startswith("ldaps://"):
        raise ImproperlyConfigured(
            "LOCKER_LDAP_START_TLS is for ldap:// URLs; an ldaps:// URL is already encrypted."
        )
    if not LOCKER_LDAP_USER_BASE:
        raise ImproperlyConfigured(
            "LOCKER_LDAP_USER_BASE must be set with LOCKER_LDAP_URL, such as "
            "ou=people,dc=example,dc=org: where the users are searched."
        )
    if LOCKER_LDAP_USER_FILTER.count("%(user)s") != 1:
        raise ImproperlyConfigured(
            "LOCKER_LDAP_USER_FILTER must hold %(user)s once (where the username goes), such "
            f"as (uid=%(user)s), not {LOCKER_LDAP_USER_FILTER!r}."
        )
    if LOCKER_LDAP_MAX_CONNECTIONS < 1:
        raise ImproperlyConfigured(
            f"LOCKER_LDAP_MAX_CONNECTIONS must be 1 or more, not {LOCKER_LDAP_MAX_CONNECTIONS}."
        )
    if LOCKER_LDAP_CA_FILE and not os.access(LOCKER_LDAP_CA_FILE, os.R_OK):
        raise ImproperlyConfigured(
            f"LOCKER_LDAP_CA_FILE is {LOCKER_LDAP_CA_FILE!r}, which cannot be read."
        )
    AUTHENTICATION_BACKENDS.append("accounts.ldap.LdapBackend")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
LOCKER_SIGNUP = env_bool("LOCKER_SIGNUP", False)
LOCKER_DEFAULT_QUOTA = env_size("LOCKER_DEFAULT_QUOTA", "10G")
LOCKER_INVITATION_DAYS = env_int("LOCKER_INVITATION_DAYS", 7)
LOCKER_ADMIN_USERNAME = env_str("LOCKER_ADMIN_USERNAME", "admin")
LOCKER_ADMIN_PASSWORD = env_str("LOCKER_ADMIN_PASSWORD", "")
PASSWORD_RESET_TIMEOUT = 3 * 3600
LOCKER_AUDIT_DAYS = env_int("LOCKER_AUDIT_DAYS", 365)
LOCKER_REQUIRE_2FA = env_choice("LOCKER_REQUIRE_2FA", "none", ("none", "staff", "all"))
LOCKER_REAUTH_MINUTES = env_int("LOCKER_REAUTH_MINUTES", 10)

# Single sign-on with OpenID Connect (accounts/oidc.py, docs/sso.md): on when the issuer is set.
LOCKER_OIDC_ISSUER = env_str("LOCKER_OIDC_ISSUER", "").rstrip("/")
LOCKER_OIDC_CLIENT_ID = env_str("LOCKER_OIDC_CLIENT_ID", "")
LOCKER_OIDC_CLIENT_SECRET = env_str("LOCKER_OIDC_CLIENT_SECRET", "")
LOCKER_OIDC_SCOPES = env_str("LOCKER_OIDC_SCOPES", "openid email profile")
LOCKER_OIDC_USERNAME_CLAIM = env_str("LOCKER_OIDC_USERNAME_CLAIM", "preferred_username")
LOCKER_OIDC_GROUPS_CLAIM = env_str("LOCKER_OIDC_GROUPS_CLAIM", "groups")
LOCKER_OIDC_ALLOWED_GROUPS = env_list("LOCKER_OIDC_ALLOWED_GROUPS", "")
LOCKER_OIDC_STAFF_GROUP = env_str("LOCKER_OIDC_STAFF_GROUP", "")
LOCKER_OIDC_ALLOWED_DOMAINS = [d.lower() for d in env_list("LOCKER_OIDC_ALLOWED_DOMAINS", "")]
LOCKER_OIDC_CREATE_USERS = env_bool("LOCKER_OIDC_CREATE_USERS", True)
LOCKER_OIDC_LINK_BY_EMAIL = env_bool("LOCKER_OIDC_LINK_BY_EMAIL", False)
LOCKER_OIDC_BUTTON = env_str("LOCKER_OIDC_BUTTON", "")
LOCKER_OIDC_RECHECK_SECONDS = env_duration("LOCKER_OIDC_RECHECK", "5m")
LOCKER_OIDC_TIMEOUT = env_int("LOCKER_OIDC_TIMEOUT", 5)
LOCKER_PASSWORD_LOGIN = env_choice("LOCKER_PASSWORD_LOGIN", "all", ("all", "staff", "none"))
# Reverse proxies in front: the client's address is this many entries from the right of
# X-Forwarded-For (0: REMOTE_ADDR, and X-Forwarded-For is ignored). See locker.network.
LOCKER_PROXY_COUNT = env_int("LOCKER_PROXY_COUNT", 0)

# --- Metrics (/metrics, docs/operations.md) ---------------------------------------------------
# With a token, /metrics answers whoever sends it as a bearer token, and nobody else. Without
# one, it answers direct requests (no proxy header) from these addresses or networks; empty
# turns it off. Anything refused gets the site's 404.
LOCKER_METRICS_TOKEN = env_str("LOCKER_METRICS_TOKEN", "")
LOCKER_METRICS_ALLOW = []
for _network in env_list("LOCKER_METRICS_ALLOW", "127.0.0.1/32,::1/128"):
    try:
        LOCKER_METRICS_ALLOW.append(ipaddress.ip_network(_network, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"LOCKER_METRICS_ALLOW holds {_network!r}, which is not an IP address or network; "
            "expected a comma-separated list such as 127.0.0.1/32,10.0.0.0/8."
        ) from None
OTP_TOTP_ISSUER = env_str("LOCKER_OTP_ISSUER", "Locker")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # staff see devices in the admin, never their keys
# django-otp's own throttle counts wrong codes per device, so a stranger who knows the password
# could keep the owner out; accounts.twofactor limits guesses per log-in, address and account.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

# django-axes: lock out a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env_int("LOCKER_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_duration("LOCKER_LOGIN_COOLOFF", "15m") / 3600  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"
# Counted by the name as a directory compares it: "ada" and "ADA" are one lock-out (accounts.views).
AXES_USERNAME_CALLABLE = "accounts.views.lockout_username"
# The client address (and the IPv6 /64 every throttle counts by) comes from locker.network.
AXES_CLIENT_IP_CALLABLE = "locker.network.lockout_address"
AXES_VERBOSE = False

# --- Sessions, cookies and transport security -------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_duration("LOCKER_SESSION_AGE", "14d")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if LOCKER_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("LOCKER_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("LOCKER_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("LOCKER_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("LOCKER_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Internationalisation ---------------------------------------------------------------------
# The instance's default: pages when neither the user, the language switch nor the browser
# chooses, and e-mails to people without an account. Catalogues: locale/ (docs/web-ui.md).
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LANGUAGE_CODE = env_choice("LOCKER_LANGUAGE", "en", tuple(code for code, _name in LANGUAGES))
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language switch's cookie (locker/i18n.py); read by the server only.
LANGUAGE_COOKIE_NAME = "locker_language"
LANGUAGE_COOKIE_AGE = 365 * 86400
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = LOCKER_HTTPS
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("LOCKER_STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Content storage and encryption at rest ---------------------------------------------------
LOCKER_STORAGE = env_choice("LOCKER_STORAGE", "local", ("local", "s3"))
LOCKER_S3_BUCKET = env_str("LOCKER_S3_BUCKET", "locker")
LOCKER_S3_ENDPOINT_URL = env_str("LOCKER_S3_ENDPOINT_URL", "")
LOCKER_S3_REGION = env_str("LOCKER_S3_REGION", "us-east-1")
LOCKER_S3_ACCESS_KEY_ID = env_str("LOCKER_S3_ACCESS_KEY_ID", "")
LOCKER_S3_SECRET_ACCESS_KEY = env_str("LOCKER_S3_SECRET_ACCESS_KEY", "")
# One S3 client per process, shared by its threads (storage/backends/s3.py); a download holds one
# pooled connection while it streams, so the pool covers a web worker's threads.
LOCKER_S3_MAX_CONNECTIONS = env_int(
    "LOCKER_S3_MAX_CONNECTIONS", max(10, env_int("LOCKER_WEB_THREADS", 8) + 2)
)
if LOCKER_S3_MAX_CONNECTIONS < 1:
    raise ImproperlyConfigured(
        f"LOCKER_S3_MAX_CONNECTIONS must be at least 1, not {LOCKER_S3_MAX_CONNECTIONS}."
    )
# Plaintext that downloads may hold decrypted ahead of what they send, summed over every
# download of one process (storage/reader.py); 0 turns read-ahead off.
LOCKER_READ_AHEAD_MEMORY = env_size("LOCKER_READ_AHEAD_MEMORY", "8M")
if LOCKER_STORAGE == "local":
    _content_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "objects"), "file_permissions_mode": 0o600},
    }
else:
    from botocore.config import Config as _S3Config

    _content_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": LOCKER_S3_BUCKET,
            "endpoint_url": LOCKER_S3_ENDPOINT_URL or None,
            "region_name": LOCKER_S3_REGION,
            "access_key": LOCKER_S3_ACCESS_KEY_ID or None,
            "secret_key": LOCKER_S3_SECRET_ACCESS_KEY or None,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            # Replaces the client config django-storages would build from the two options
            # above, so it repeats them. An unreachable S3 fails a request within seconds (503):
            # a 5 s connect timeout and 3 attempts instead of botocore's 60 s and 5.
            "client_config": _S3Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                connect_timeout=5,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }

STORAGES = {
    "default": _content_storage,
    "staticfiles": {
        "BACKEND": env_str(
            "LOCKER_STATICFILES_BACKEND",
            "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
# Master keys wrap each object's data key: "id:base64key,id2:base64key", newest first.
LOCKER_MASTER_KEYS = env_str("LOCKER_MASTER_KEYS") or _secret_from_data_dir(
    "master.key",
    lambda: "k{}:{}".format(
        secrets.token_hex(4), __import__("base64").b64encode(secrets.token_bytes(32)).decode()
    ),
)
LOCKER_MAX_UPLOAD_SIZE = env_size("LOCKER_MAX_UPLOAD_SIZE", "0")
LOCKER_TRASH_DAYS = env_int("LOCKER_TRASH_DAYS", 30)
LOCKER_PARTIAL_UPLOAD_HOURS = env_int("LOCKER_PARTIAL_UPLOAD_HOURS", 24)
# Levels of folders below the root (a top-level folder is level 1); see docs/files.md.
LOCKER_MAX_FOLDER_DEPTH = env_int("LOCKER_MAX_FOLDER_DEPTH", 64)
if not 1 <= LOCKER_MAX_FOLDER_DEPTH <= 1000:
    raise ImproperlyConfigured(
        f"LOCKER_MAX_FOLDER_DEPTH must be between 1 and 1000, not {LOCKER_MAX_FOLDER_DEPTH}."
    )
# Items one batch action of the Files page or POST /api/v1/files/batch/ may name (docs/files.md).
LOCKER_BATCH_MAX_ITEMS = env_int("LOCKER_BATCH_MAX_ITEMS", 1000)
if not 1 <= LOCKER_BATCH_MAX_ITEMS <= 10_000:
    raise ImproperlyConfigured(
        f"LOCKER_BATCH_MAX_ITEMS must be between 1 and 10000, not {LOCKER_BATCH_MAX_ITEMS}."
    )
# /healthz answers 503 when a local file system Locker writes to (the objects directory, the data
# dir) has less free space than this: a size (`1G`) or a share of the file system (`2%`).
LOCKER_MIN_FREE_SPACE = env_free_space("LOCKER_MIN_FREE_SPACE", "1G")
# Leases (docs/files.md, docs/tus.md): what a request holds comes back on its own this long
# after its holder stopped sending bytes (a crash, a kill -9, a client gone).
LOCKER_UPLOAD_LEASE = max(1, env_duration("LOCKER_UPLOAD_LEASE", "2m"))
LOCKER_TUS_LOCK_LEASE = max(1, env_duration("LOCKER_TUS_LOCK_LEASE", "10s"))
# The fewest bytes a tus PATCH that does not end its upload must bring (the last may be shorter;
# an upload may always come in 64 chunks): each PATCH costs a database commit and a re-sealed
# tail or a stored part, so thousands of 1-byte PATCHes must not be (docs/tus.md).
LOCKER_TUS_MIN_CHUNK = env_size("LOCKER_TUS_MIN_CHUNK", "1M")
# Outside the streaming upload endpoints, Django's multipart parsing (form views, the CSRF
# check) refuses file parts, and a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused by its
# Content-Length: nothing is spooled to a temporary file (locker/parsers.py). Files left in the
# temporary directory by an older version or a crash are removed by cleanup_partial_uploads.
FILE_UPLOAD_HANDLERS = ["locker.parsers.NoFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
(DATA_DIR / "tmp").mkdir(exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The Files page posts a batch as a form (one field per item, plus a few): Django's default
# limit of 1000 fields would refuse a full batch before Locker's own cap could answer.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, LOCKER_BATCH_MAX_ITEMS + 16)

# --- Slow clients (locker/slowclients.py, locker/gunicorn_worker.py; docs/operations.md) ------
# A request's headers must arrive within the header timeout; its body may pause at most the read
# timeout, and must average at least the minimum rate (bytes/s) over each read-timeout window.
LOCKER_REQUEST_HEADER_TIMEOUT = max(1, env_duration("LOCKER_REQUEST_HEADER_TIMEOUT", "20s"))
LOCKER_REQUEST_READ_TIMEOUT = max(1, env_duration("LOCKER_REQUEST_READ_TIMEOUT", "30s"))
LOCKER_REQUEST_MIN_RATE = env_size("LOCKER_REQUEST_MIN_RATE", "1K")
# The web worker reads a request's headers and the first DATA_UPLOAD_MAX_MEMORY_SIZE bytes of
# its body before giving it a thread; this bounds what that holds in memory, per worker process.
LOCKER_REQUEST_BUFFER = DATA_UPLOAD_MAX_MEMORY_SIZE
LOCKER_REQUEST_BUFFER_MEMORY = env_size("LOCKER_REQUEST_BUFFER_MEMORY", "64M")

# --- Sharing (share links and upload links; see docs/sharing.md) ------------------------------
LOCKER_SHARE_DEFAULT_EXPIRY = env_duration("LOCKER_SHARE_DEFAULT_EXPIRY", "7d")  # 0: never
LOCKER_SHARE_MAX_EXPIRY = (  # 0 or empty: no cap
    env_duration("LOCKER_SHARE_MAX_EXPIRY", "0") if os.environ.get("LOCKER_SHARE_MAX_EXPIRY") else 0
)
LOCKER_SHARE_ALLOW_NEVER = env_bool("LOCKER_SHARE_ALLOW_NEVER", True)
LOCKER_ANONYMISE_IPS = env_bool("LOCKER_ANONYMISE_IPS", False)
LOCKER_ACCESS_LOG_DAYS = env_int("LOCKER_ACCESS_LOG_DAYS", 90)
LOCKER_SHARE_PASSWORD_ATTEMPTS = env_int("LOCKER_SHARE_PASSWORD_ATTEMPTS", 10)
LOCKER_SHARE_PASSWORD_WINDOW = env_duration("LOCKER_SHARE_PASSWORD_WINDOW", "15m")
# E-mails of share links sent from the Share dialog: recipients per user per hour (a counter in
# the shared cache), so an account cannot be used to flood mailboxes.
LOCKER_SHARE_EMAIL_PER_HOUR = max(1, env_int("LOCKER_SHARE_EMAIL_PER_HOUR", 50))
# Uploads in progress through an upload link: how long one may idle before its reservation and
# bytes are given back, and how many may be open at once on one link.
LOCKER_UPLOAD_LINK_IDLE = max(1, env_duration("LOCKER_UPLOAD_LINK_IDLE", "15m"))
LOCKER_UPLOAD_LINK_MAX_OPEN = max(1, env_int("LOCKER_UPLOAD_LINK_MAX_OPEN", 10))
# Most uploads in progress at once per user (unfinished tus uploads and form uploads whose bytes
# are arriving; not those through the user's upload links, which have the cap above): 429.
LOCKER_MAX_OPEN_UPLOADS = max(1, env_int("LOCKER_MAX_OPEN_UPLOADS", 20))

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
LOCKER_BROKER_TIMEOUT = env_duration("LOCKER_BROKER_TIMEOUT", "3s")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # locker/broker.py: kombu's filesystem transport with atomic writes (see docs/workers.md).
    from locker.broker import transport_options as _filesystem_broker_options

    CELERY_BROKER_TRANSPORT_OPTIONS = _filesystem_broker_options(DATA_DIR / "broker")
else:
    _visibility_timeout = env_int("LOCKER_CELERY_VISIBILITY_TIMEOUT", 7200)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        # Look for messages of dead workers (unacked past the timeout) every few seconds, not
        # every 100 s (kombu's default is interval 10 s x throttle 10).
        "unacked_restore_interval": min(10, max(1, _visibility_timeout // 4)),
        "unacked_restore_throttle": 1,
        # Without these a broker that stops answering without closing the connection (a network
        # cut, a stalled server) holds every publish, and the web request doing it, until it
        # comes back; with them a command gives up and the worker reconnects.
        "socket_timeout": LOCKER_BROKER_TIMEOUT,
        "socket_connect_timeout": LOCKER_BROKER_TIMEOUT,
        "socket_keepalive": True,
    }
    # A publish during an outage tries twice, then the task is left to the requeue job.
    CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 0.5,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("LOCKER_CELERY_QUEUE", "celery")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_SOFT_TIME_LIMIT = env_duration("LOCKER_TASK_SOFT_TIME_LIMIT", "10m")
CELERY_TASK_TIME_LIMIT = env_duration("LOCKER_TASK_TIME_LIMIT", "15m")
# A worker process that grew past this (KiB) is replaced after its task; thumbnails also run in
# a child with its own hard memory limit (LOCKER_THUMBNAIL_MEMORY).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_size("LOCKER_WORKER_MAX_MEMORY", "512M") // 1024
CELERY_BEAT_SCHEDULE = {
    "ldap-members-recheck": {  # does nothing without LOCKER_LDAP_REQUIRE_GROUP
        "task": "accounts.tasks.ldap_members_recheck",
        "schedule": env_duration("LOCKER_LDAP_RECHECK_EVERY", "15m"),
    },
    "requeue-pending": {
        "task": "files.tasks.requeue_pending",
        "schedule": env_duration("LOCKER_REQUEUE_PENDING_EVERY", "30m"),
    },
    "cleanup-orphaned-objects": {
        "task": "files.tasks.cleanup_orphaned_objects",
        "schedule": env_duration("LOCKER_CLEANUP_ORPHANS_EVERY", "6h"),
    },
    "purge-trash": {
        "task": "files.tasks.purge_trash",
        "schedule": env_duration("LOCKER_PURGE_TRASH_EVERY", "1h"),
    },
    "cleanup-partial-uploads": {
        "task": "files.tasks.cleanup_partial_uploads",
        "schedule": env_duration("LOCKER_CLEANUP_PARTIAL_EVERY", "15m"),
    },
    "prune-audit": {
        "task": "accounts.tasks.prune_audit",
        "schedule": env_duration("LOCKER_PRUNE_AUDIT_EVERY", "1d"),
    },
    "cleanup-shares": {
        "task": "sharing.tasks.cleanup_shares",
        "schedule": env_duration("LOCKER_CLEANUP_SHARES_EVERY", "1h"),
    },
    "webhooks-requeue-due": {
        "task": "webhooks.tasks.requeue_due",
        "schedule": env_duration("LOCKER_WEBHOOK_REQUEUE_EVERY", "5m"),
    },
    "prune-idempotency-keys": {
        "task": "locker.tasks.prune_idempotency_keys",
        "schedule": env_duration("LOCKER_PRUNE_IDEMPOTENCY_EVERY", "1h"),
    },
}

# --- Webhooks (docs/webhooks.md) -----------------------------------------------------------------
LOCKER_WEBHOOK_ALLOW_PRIVATE = env_bool("LOCKER_WEBHOOK_ALLOW_PRIVATE", False)
LOCKER_WEBHOOK_MAX_PER_USER = env_int("LOCKER_WEBHOOK_MAX_PER_USER", 10)
LOCKER_WEBHOOK_URL_MAX_LENGTH = env_int("LOCKER_WEBHOOK_URL_MAX_LENGTH", 2000)
LOCKER_WEBHOOK_CONNECT_TIMEOUT = env_duration("LOCKER_WEBHOOK_CONNECT_TIMEOUT", "5s")
LOCKER_WEBHOOK_READ_TIMEOUT = env_duration("LOCKER_WEBHOOK_READ_TIMEOUT", "10s")
LOCKER_WEBHOOK_LOG_SIZE = env_int("LOCKER_WEBHOOK_LOG_SIZE", 50)
LOCKER_WEBHOOK_MAX_PENDING = env_int("LOCKER_WEBHOOK_MAX_PENDING", 1000)
try:
    LOCKER_WEBHOOK_RETRY_DELAYS = [
        parse_duration(delay)
        for delay in env_list("LOCKER_WEBHOOK_RETRY_DELAYS", "1m,5m,30m,1h,3h,6h,6h,6h")
    ]
except ValueError:
    raise ImproperlyConfigured(
        "LOCKER_WEBHOOK_RETRY_DELAYS must be durations separated by commas, such as 1m,5m,30m."
    ) from None

# --- Processing: scanning and thumbnails (docs/workers.md) --------------------------------------
LOCKER_SCANNER = env_choice("LOCKER_SCANNER", "none", ("none", "clamav", "command"))
LOCKER_CLAMD_URL = env_str("LOCKER_CLAMD_URL", "unix:///run/clamav/clamd.ctl")
LOCKER_SCAN_COMMAND = env_str("LOCKER_SCAN_COMMAND", "")
LOCKER_SCAN_TIMEOUT = env_duration("LOCKER_SCAN_TIMEOUT", "5m")
LOCKER_SCAN_RETRY_BACKOFF = env_duration("LOCKER_SCAN_RETRY_BACKOFF", "30s")
LOCKER_SHARE_REQUIRES_SCAN = env_bool("LOCKER_SHARE_REQUIRES_SCAN", True)
LOCKER_DELETE_INFECTED = env_bool("LOCKER_DELETE_INFECTED", False)
LOCKER_THUMBNAILS = env_bool("LOCKER_THUMBNAILS", True)
LOCKER_THUMBNAIL_MAX_INPUT = env_size("LOCKER_THUMBNAIL_MAX_INPUT", "200M")
LOCKER_THUMBNAIL_MAX_PIXELS = env_int("LOCKER_THUMBNAIL_MAX_PIXELS", 100_000_000)
LOCKER_THUMBNAIL_TIMEOUT = env_duration("LOCKER_THUMBNAIL_TIMEOUT", "60s")
LOCKER_THUMBNAIL_MEMORY = env_size("LOCKER_THUMBNAIL_MEMORY", "1G")
LOCKER_ORPHAN_GRACE_HOURS = env_int("LOCKER_ORPHAN_GRACE_HOURS", 48)
LOCKER_REQUEUE_PENDING_AFTER = env_duration("LOCKER_REQUEUE_PENDING_AFTER", "30m")
# Periodic jobs (docs/workers.md): rows handled per transaction, and how long one run may keep
# taking batches before it stops and leaves the rest to the next run (well under the soft limit).
LOCKER_JOB_BATCH_SIZE = env_int("LOCKER_JOB_BATCH_SIZE", 500)
if LOCKER_JOB_BATCH_SIZE < 1:
    raise ImproperlyConfigured(
        f"LOCKER_JOB_BATCH_SIZE must be at least 1, not {LOCKER_JOB_BATCH_SIZE}."
    )
LOCKER_JOB_TIME_BUDGET = env_duration("LOCKER_JOB_TIME_BUDGET", "4m")
if LOCKER_JOB_TIME_BUDGET >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "LOCKER_JOB_TIME_BUDGET must be shorter than LOCKER_TASK_SOFT_TIME_LIMIT, so that a "
        "periodic job stops on its own before it is interrupted."
    )
# How long emptying the trash works within the request; the rest goes on in a task.
LOCKER_TRASH_EMPTY_REQUEST_BUDGET = env_duration("LOCKER_TRASH_EMPTY_REQUEST_BUDGET", "2s")

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Locker <locker@localhost>")

# --- Idempotency-Key on the API's create requests (docs/api-idempotency.md) ---------------------
# How long a key's answer is kept for retries; how long a claim whose request never finished
# (its process died) blocks the key; the largest answer kept (a larger one is not replayed).
LOCKER_IDEMPOTENCY_TTL = env_duration("LOCKER_IDEMPOTENCY_TTL", "24h")
LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT = env_duration("LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT", "10m")
LOCKER_IDEMPOTENCY_MAX_ANSWER = env_size("LOCKER_IDEMPOTENCY_MAX_ANSWER", "256K")

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    # A token's scopes (accounts.scopes): every view declares `required_scopes`.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.TokenScopes",
    ],
    "DEFAULT_SCHEMA_CLASS": "accounts.api.schema.ScopedAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "locker.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "locker.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only, bounded in size and depth; the upload endpoints name their streaming parser.
    "DEFAULT_PARSER_CLASSES": ["locker.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Counted in the default (shared) cache, so the limits hold across processes and hosts.
    # Per client network (locker.network: LOCKER_PROXY_COUNT, IPv6 /64), never a client's
    # own X-Forwarded-For.
    "DEFAULT_THROTTLE_CLASSES": [
        "locker.throttle.AnonRateThrottle",
        "locker.throttle.UserRateThrottle",
    ],
    "NUM_PROXIES": LOCKER_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("LOCKER_API_RATE_ANON", "300/min"),
        "user": env_str("LOCKER_API_RATE_USER", "6000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Locker API",
    "DESCRIPTION": "Store files, share them with links and collect uploads.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Enums named after what they are, not after the field ("StatusEnum"), for generated clients.
    # Enums under stable names: a share's status, the codes of every error body (locker.errors,
    # docs/api-errors.md).
    "ENUM_NAME_OVERRIDES": {
        "ShareStatusEnum": "sharing.api.serializers.SHARE_STATUSES",
        "ErrorCodeEnum": "locker.errors.ErrorCode",
    },
    # The default hook, the errors every paginated list may answer (a bad cursor or page), the
    # error component on every 4xx/5xx answer those hooks added, then the public link routes.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "locker.api.document_list_errors",
        "locker.idempotency.document_idempotency_errors",
        "locker.conditional.document_preconditions",
        "locker.openapi.error_bodies",
        "sharing.public_schema.add_public_routes",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token"}
        }
    },
}

# Every line goes through one handler that masks link tokens and upload ids (locker/logmask.py);
# Django's own handlers for the "django" logger are replaced by it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"masked": {"()": "locker.logmask.MaskingFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "masked"}},
    "root": {"handlers": ["console"], "level": env_str("LOCKER_LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
    },
}
