"""Settings from the environment: embedded defaults, real services, and production refusals."""

from __future__ import annotations

import json
import os
import re
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


def deploy_env() -> dict[str, str]:
    """deploy/hearth.env.example (the systemd EnvironmentFile) as the processes would read it,
    with its placeholder secrets filled in and on this machine's folders."""
    env = {}
    for line in (ROOT / "deploy/hearth.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    env["SECRET_KEY"] = PRODUCTION["SECRET_KEY"]
    env["NO_CONTACT_KEY"] = PRODUCTION["SECRET_KEY"][::-1]
    return env


def test_deploy_env_file_names_only_real_settings() -> None:
    """Every variable the shipped EnvironmentFile sets (or shows commented out) is one Hearth
    reads, or one the units hand to uvicorn / Celery."""
    text = (ROOT / "deploy/hearth.env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    known = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    for_processes = {"FORWARDED_ALLOW_IPS", "HEARTH_WORKER_CONCURRENCY"}
    units = "".join(path.read_text() for path in (ROOT / "deploy/systemd").iterdir())
    assert "${HEARTH_WORKER_CONCURRENCY}" in units and "FORWARDED_ALLOW_IPS=" in units
    assert names - known - for_processes == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "BEHIND_TLS_PROXY", "VAR_DIR"} <= names


def test_deploy_env_file_passes_check_deploy_behind_the_proxy(tmp_path: Path) -> None:
    old_keys = ["old-" + PRODUCTION["SECRET_KEY"], "older-" + PRODUCTION["SECRET_KEY"]]
    env = {**deploy_env(), "VAR_DIR": str(tmp_path), "SECRET_KEY_FALLBACKS": f"{old_keys[0]}, {old_keys[1]}"}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    code = (
        "import django, json; django.setup(); from django.conf import settings;"
        "print(json.dumps([settings.SECURE_PROXY_SSL_HEADER, settings.SECRET_KEY_FALLBACKS,"
        " settings.SECURE_HSTS_SECONDS, settings.SECURE_SSL_REDIRECT, str(settings.STATIC_ROOT)]))"
    )
    shown = run(["-c", code], {"DJANGO_SETTINGS_MODULE": "config.settings", **env}, tmp_path)
    assert shown.returncode == 0, shown.stderr
    header, fallbacks, hsts, redirect, static_root = json.loads(shown.stdout)
    # nginx sends X-Forwarded-Proto (deploy/nginx/hearth-locations.conf): Django believes it.
    assert header == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert fallbacks == old_keys
    assert hsts == 31536000 and redirect is True
    # nginx's `root` is VAR_DIR: it serves $document_root/static/, which must be STATIC_ROOT.
    assert static_root == str(tmp_path / "static")


def test_rotated_secret_key_keeps_signed_values_valid(tmp_path: Path) -> None:
    """Made with the old key, still valid when it is a fallback; not once it is dropped."""
    old = {**PRODUCTION, "DJANGO_SETTINGS_MODULE": "config.settings"}
    sign = "import django; django.setup(); from django.core import signing; print(signing.dumps('hello'))"
    signed = run(["-c", sign], old, tmp_path)
    assert signed.returncode == 0, signed.stderr
    check = "import sys, django; django.setup(); from django.core import signing;print(signing.loads(sys.argv[1]))"
    new_key = PRODUCTION["SECRET_KEY"][::-1]
    rotated = run(
        ["-c", check, signed.stdout.strip()],
        {**old, "SECRET_KEY": new_key, "SECRET_KEY_FALLBACKS": PRODUCTION["SECRET_KEY"]},
        tmp_path,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "hello"
    dropped = run(["-c", check, signed.stdout.strip()], {**old, "SECRET_KEY": new_key}, tmp_path)
    assert dropped.returncode != 0 and "BadSignature" in dropped.stderr
