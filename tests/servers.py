"""Helpers for tests that start real server or worker processes on the test database."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_database_url() -> str:
    """The URL of the database pytest-django set up, for the server process."""
    db = connection.settings_dict
    name = str(db["NAME"])
    if db["ENGINE"] == "django.db.backends.sqlite3":
        if connection.is_in_memory_db():
            pytest.fail(
                "server processes need an SQLite test database in a file that the server process can open; "
                f"this run uses {name!r}. Leave DATABASE_URL unset (settings then name var/test-hearth.sqlite3) "
                "or set DATABASES['default']['TEST']['NAME'] to a file."
            )
        return "sqlite:///" + str(Path(name).resolve())
    outer_url = os.environ.get("DATABASE_URL")
    if outer_url:
        # Keep the scheme, credentials, host and options of the outer run; swap the database name.
        return urlunsplit(urlsplit(outer_url)._replace(path="/" + quote(name)))
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}{db.get('HOST') or 'localhost'}{port}/{quote(name)}"
    pytest.fail(f"The e2e harness does not know how to hand database engine {db['ENGINE']} to the server")
