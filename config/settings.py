"""Hearth settings: one module, driven by the environment.

With no environment at all Hearth runs on embedded defaults (SQLite under var/, an
in-memory channel layer, a filesystem Celery broker, local-memory cache, email written to
files). DATABASE_URL, REDIS_URL and EMAIL_URL switch to the real services. Every variable
is listed in .env.example.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from redis.connection import parse_url as parse_redis_url

from lib.env import email_settings, env, envbool, envint, envlist

# Lets model, form and manager classes be subscripted for type checking (ModelForm[User]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development."
        )
    SECRET_KEY = "dev-only-key-not-for-production-" + "x" * 32
# Rotating SECRET_KEY: the previous key(s) here keep sessions, password reset and unsubscribe
# links valid until they expire (docs/deploy.md). Comma-separated, newest first.
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. Set ALLOWED_HOSTS to the comma-separated host names "
        "Hearth is served on (for example hearth.example.org), or set DEBUG=1."
    )
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# The site's public address, for links in emails sent by background jobs (no request there).
SITE_URL = env("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "lib",
    "accounts",
    "groups",
    "meetings",
    "moderation",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lib.middleware.SafetyHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
    "moderation.middleware.SuspensionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Axes must come last: it turns a lockout raised during login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "lib.context_processors.safety",
                "lib.context_processors.notices",
                "moderation.context_processors.reports",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Several processes (ASGI server, worker, beat) share an SQLite file: WAL and immediate
# transactions keep writers from colliding with "database is locked".
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "hearth.sqlite3"),
            # A file, not memory, so that a live server or worker started by a test shares it.
            "TEST": {"NAME": str(VAR_DIR / "test-hearth.sqlite3")},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, broker ---------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hearth",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    # socket_timeout None: an idle room socket must not lose its layer subscription after
    # redis-py's default 5 s timeout (channels_redis issue 422, see STACK.md).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000}],
                # Pub/sub channels are shared by every database of a Redis server: with the
                # database in the prefix, an instance on db 1 (staging, a test run) and one on
                # db 0 cannot talk into each other's rooms (a room's group is named by its id).
                "prefix": env("CHANNEL_LAYER_PREFIX") or f"hearth.{parse_redis_url(REDIS_URL).get('db', 0)}",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {"visibility_timeout": 3600}
    if REDIS_URL
    else {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How often beat looks for due reminders and notice emails (tests run it faster).
DISPATCH_EVERY = timedelta(seconds=envint("DISPATCH_EVERY_SECONDS", 60))
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": timedelta(seconds=envint("SESSION_CLEANUP_SECONDS", 3600)),
    },
    "materialise-meetings": {"task": "meetings.tasks.materialise_meetings", "schedule": timedelta(hours=1)},
    "dispatch-reminders": {"task": "meetings.tasks.dispatch_reminders", "schedule": DISPATCH_EVERY},
    "dispatch-notices": {"task": "accounts.tasks.dispatch_notices", "schedule": DISPATCH_EVERY},
    "flag-meetings-needing-facilitator": {
        "task": "meetings.tasks.flag_meetings_needing_facilitator",
        "schedule": timedelta(minutes=15),
    },
    # Room messages past their group's retention period (docs/privacy.md), at a quiet hour.
    "purge-expired-messages": {
        "task": "meetings.tasks.purge_expired_messages",
        "schedule": crontab(hour=3, minute=30),
    },
    # Deleted accounts past their grace period lose their personal data (docs/privacy.md).
    "erase-deleted-accounts": {
        "task": "accounts.tasks.erase_deleted_accounts",
        "schedule": crontab(hour=4, minute=0),
    },
    # Proof that beat (and a worker) run: the staff console shows its age (docs/console.md).
    "beat-heartbeat": {"task": "console.tasks.beat_heartbeat", "schedule": timedelta(minutes=1)},
}
# The staff console reports a problem when the heartbeat is older than this, or when more jobs
# than QUEUE_LENGTH_ALERT wait in the Celery queue.
BEAT_STALE_AFTER_MINUTES = envint("BEAT_STALE_AFTER_MINUTES", 5)
QUEUE_LENGTH_ALERT = envint("QUEUE_LENGTH_ALERT", 1000)
# Rows the message purge deletes per transaction: small enough never to hold a long lock.
MESSAGE_PURGE_BATCH_SIZE = envint("MESSAGE_PURGE_BATCH_SIZE", 1000)
if MESSAGE_PURGE_BATCH_SIZE < 1:
    raise ImproperlyConfigured(f"MESSAGE_PURGE_BATCH_SIZE must be at least 1, got {MESSAGE_PURGE_BATCH_SIZE}")

# --- Email ----------------------------------------------------------------------------
EMAIL_URL = env("EMAIL_URL")
if EMAIL_URL:
    globals().update(email_settings(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
# A neutral sender: someone reading the inbox over a survivor's shoulder learns nothing.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Account notices <no-reply@localhost>")
# Discreet emails (the default) come from a sender that names nothing, and must never contain
# these words, a group's name or its topics: such an email is refused, not sent.
DISCREET_FROM_EMAIL = env("DISCREET_FROM_EMAIL", DEFAULT_FROM_EMAIL)
DISCREET_FORBIDDEN_WORDS = envlist(
    "DISCREET_FORBIDDEN_WORDS",
    [
        *("abuse", "abused", "abuser", "abusive", "trauma", "traumatic", "trauma bond", "recovery"),
        *("recovering", "support", "survivor", "survivors", "domestic", "violence", "coercive"),
        *("coercion", "narcissist", "narcissistic", "therapy", "counselling", "counseling", "victim"),
        *("healing", "shelter", "refuge", "peer group", "support group"),
    ],
)
SERVER_EMAIL = env("SERVER_EMAIL", "Hearth server <server@localhost>")

# --- Accounts and authentication ------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
# Days between deleting an account and erasing its personal data (docs/privacy.md).
ACCOUNT_ERASURE_GRACE_DAYS = envint("ACCOUNT_ERASURE_GRACE_DAYS", 14)
if ACCOUNT_ERASURE_GRACE_DAYS < 0:
    raise ImproperlyConfigured(f"ACCOUNT_ERASURE_GRACE_DAYS must be 0 or more, got {ACCOUNT_ERASURE_GRACE_DAYS}")
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one email from one
# address, that pair is locked out for AXES_COOLOFF_TIME.
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_RESET_ON_SUCCESS = True
# No log of every successful login's address and browser: the sessions page keeps what a
# person needs to see (docs/privacy.md), and nothing more is kept about where they log in from.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = envint("PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Two-factor authentication (docs/privacy.md). Staff must use it in production unless this
# says otherwise (off by default under DEBUG, for local development and tests); group owners
# only when asked for. The issuer is the name authenticator apps show beside the codes.
TWO_FACTOR_REQUIRED_FOR_STAFF = envbool("TWO_FACTOR_REQUIRED_FOR_STAFF", not DEBUG)
TWO_FACTOR_REQUIRED_FOR_OWNERS = envbool("TWO_FACTOR_REQUIRED_FOR_OWNERS", False)
TWO_FACTOR_ISSUER = env("TWO_FACTOR_ISSUER", "Hearth")

# --- Sessions and cookies --------------------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
SESSION_COOKIE_NAME = "hearth_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Security headers -----------------------------------------------------------------
# "same-origin", not "no-referrer": under no-referrer, browsers send `Origin: null` with
# Hearth's own form posts, and Django's CSRF check refuses every one of them (403). Other
# sites (the Quick exit site, crisis links) still get no Referer at all.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
if envbool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict CSP: no inline script or style anywhere; scripts are ES modules under static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en"
# Each language in its own name, so a person can find theirs whatever the page is in.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# WhiteNoise hands Django a synchronous file iterator, so under ASGI Django warns once per
# static file served. The files are small and cached by browsers; the warning is noise.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators", module="django.core.handlers.asgi"
)

# --- Safety chrome --------------------------------------------------------------------
# Where Quick exit sends people: a neutral, common site. location.replace() keeps Hearth
# out of the tab's Back history.
QUICK_EXIT_URL = env("QUICK_EXIT_URL", "https://weather.com/")
# Discreet mode (a per-device choice, docs/privacy.md): every tab, bookmark and history entry
# shows this neutral title and a plain icon instead of Hearth's.
DISCREET_TITLE = env("DISCREET_TITLE", "Notes")
# How long a new group keeps room messages after each meeting (each group can change it, 1-365).
MESSAGE_RETENTION_DAYS = envint("MESSAGE_RETENTION_DAYS", 30)
DISCREET_COOKIE_NAME = "hearth_discreet"
# Where personal data questions go, named on the privacy page (blank: site staff, via a report).
PRIVACY_CONTACT = env("PRIVACY_CONTACT")
# The crisis resources page: a JSON file with the same shape as lib.crisis.DEFAULT_RESOURCES
# replaces the built-in international list.
CRISIS_RESOURCES_FILE = env("CRISIS_RESOURCES_FILE")
CRISIS_RESOURCES = json.loads(Path(CRISIS_RESOURCES_FILE).read_text()) if CRISIS_RESOURCES_FILE else None

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}

FORM_RENDERER = "lib.forms.FormRenderer"

# --- Groups ---------------------------------------------------------------------------
# Staff, and people given the "groups.add_supportgroup" permission, can create groups; with
# this on, every member can.
GROUP_CREATION_OPEN = envbool("GROUP_CREATION_OPEN", False)
# The key of the no-contact list's email hashes (groups/no_contact.py). By default derived
# from SECRET_KEY with its own salt; set it on its own so that rotating SECRET_KEY keeps every
# member's list working (a new key makes every stored entry match nobody).
NO_CONTACT_KEY = (
    env("NO_CONTACT_KEY")
    or salted_hmac("hearth.no-contact.key", "v1", secret=SECRET_KEY, algorithm="sha256").hexdigest()
)

# --- Meeting rooms --------------------------------------------------------------------
ROOM_OPENS_MINUTES_BEFORE = envint("ROOM_OPENS_MINUTES_BEFORE", 10)
ROOM_GRACE_MINUTES = envint("ROOM_GRACE_MINUTES", 15)
ROOM_MESSAGES_PER_WINDOW = envint("ROOM_MESSAGES_PER_WINDOW", 5)
ROOM_RATE_WINDOW_SECONDS = envint("ROOM_RATE_WINDOW_SECONDS", 10)
ROOM_SOCKETS_PER_MEMBER = envint("ROOM_SOCKETS_PER_MEMBER", 3)
