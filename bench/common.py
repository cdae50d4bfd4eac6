"""What the benchmark scripts share: a throw-away database and a free port."""

from __future__ import annotations

import secrets
import socket
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin_url(server: str) -> str:
    """The `postgres` maintenance database on the server of `server` (a database URL)."""
    return urlunsplit(urlsplit(server)._replace(path="/postgres"))


def run_admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


class Database:
    """A fresh PostgreSQL database named `<prefix>_<random>` on `server`'s server, dropped at
    the end; with no server, nothing (the bench runs on an SQLite file in its VAR_DIR)."""

    def __init__(self, prefix: str, server: str) -> None:
        self.server = server
        self.name = ""
        self.url = ""
        if not server:
            return
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = urlunsplit(urlsplit(server)._replace(path="/" + self.name))
        run_admin(server, f'CREATE DATABASE "{self.name}"')

    def describe(self) -> str:
        return f"PostgreSQL {self.name}" if self.name else "SQLite (temporary file)"

    def drop(self) -> None:
        if self.name:
            run_admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
