"""Settings from the environment: embedded defaults, real services, and production refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k7#Qp2v9Lm4xR8tZ1wB6nY3cF5hJ0sD9gA2eU7iO4pK1lM8qW3",
    "ALLOWED_HOSTS": "hearth.example.org",
}
SHOW_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["BACKEND"],
    "email": settings.EMAIL_BACKEND,
    "email_host": getattr(settings, "EMAIL_HOST", ""),
    "secure_cookies": settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE,
    "hsts": settings.SECURE_HSTS_SECONDS,
}))
"""


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def shown_settings(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    result = run(["-c", SHOW_SETTINGS], {"DJANGO_SETTINGS_MODULE": "config.settings", **env}, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_services(tmp_path: Path) -> None:
    shown = shown_settings({"DEBUG": "1"}, tmp_path)
    assert shown["db"] == "django.db.backends.sqlite3"
    assert shown["db_name"] == str(tmp_path / "hearth.sqlite3")
    assert shown["layer"] == "channels.layers.InMemoryChannelLayer"
    assert shown["broker"] == "filesystem://"
    assert shown["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert shown["email"] == "django.core.mail.backends.filebased.EmailBackend"


def test_real_services_from_the_environment(tmp_path: Path) -> None:
    shown = shown_settings(
        {
            **PRODUCTION,
            "DATABASE_URL": "postgres://hearth@db.internal:5432/hearth",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "EMAIL_URL": "smtp+tls://mailer:s3cret@smtp.internal",
        },
        tmp_path,
    )
    assert shown["db"] == "django.db.backends.postgresql"
    assert shown["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert shown["broker"] == "redis://cache.internal:6379/0"
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert shown["email_host"] == "smtp.internal"
    assert shown["secure_cookies"] is True
    assert shown["hsts"] == 31536000


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_without_a_required_variable_refuses_to_start(tmp_path: Path, missing: str) -> None:
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = run(["manage.py", "check"], env, tmp_path)
    assert result.returncode != 0
    assert f"Hearth cannot start: {missing} is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_asgi_server_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    env = {key: value for key, value in PRODUCTION.items() if key != "SECRET_KEY"}
    result = run(["-c", "import config.asgi"], env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_malformed_boolean_is_named(tmp_path: Path) -> None:
    result = run(["manage.py", "check"], {**PRODUCTION, "DEBUG": "perhaps"}, tmp_path)
    assert result.returncode != 0
    assert "Hearth cannot start: DEBUG must be a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_csp_has_no_inline_scripts(tmp_path: Path) -> None:
    code = (
        "import django; django.setup();"
        "from django.conf import settings;"
        "import json; print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src']))"
    )
    result = run(["-c", code], {"DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["'self'"]
