"""Helpers for tests that start real server or worker processes on the test database: ports,
the database URL to hand them, an SMTP server that keeps what it receives, and a room client that
keeps to docs/protocol.md (tests/test_room_processes.py, tests/test_cluster.py)."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from accounts.models import User
from groups.models import SupportGroup
from meetings.models import Meeting, Room
from tests.rooms import going, open_meeting

T = TypeVar("T")


class Processes:
    """The subprocesses of one test, each in its own process group with a log file (part of
    any failure message); the test's fixture always calls stop_all."""

    def __init__(self, log_dir: Path, *, wait_seconds: float, stop_seconds: float = 10) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.wait_seconds = wait_seconds
        self.stop_seconds = stop_seconds
        self.started: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append((name, process, log))
        return process

    def logs(self) -> str:
        parts = []
        for name, process, log in self.started:
            log.flush()
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
            parts.append(f"----- {name} (pid {process.pid}, exit code {process.poll()}) -----\n{text}")
        return "\n".join(parts)

    def check_running(self) -> None:
        for name, process, _log in self.started:
            if process.poll() is not None:
                pytest.fail(f"{name} exited early with code {process.returncode}\n{self.logs()}")

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """Poll `condition` until it returns something truthy; fail with the logs otherwise."""
        timeout = self.wait_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            self.check_running()
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not seen within {timeout:.0f} s\n{self.logs()}")
            time.sleep(0.2)

    def stop_all(self) -> None:
        """SIGTERM to all at once (a warm shutdown), then SIGKILL to any process group still
        there after stop_seconds."""
        running = [process for _name, process, _log in self.started if process.poll() is None]
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_seconds
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for _name, _process, log in self.started:
            log.close()


def processes_in_group(pgid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True, check=False)
    return [int(line) for line in result.stdout.split()]


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


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


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


class Mailbox:
    """The aiosmtpd handler: keeps every message it accepts (it runs in the controller's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self._received.append(Received(tuple(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def count(self) -> Counter[tuple[str, str]]:
        return Counter((rcpt, item.subject) for item in self.received() for rcpt in item.recipients)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free port of 127.0.0.1 (EMAIL_URL=smtp://127.0.0.1:<port>)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


# --- Rooms across processes ----------------------------------------------------------------

# How long a client may take to connect and catch up.
ROOM_WAIT_SECONDS = 20
# Frames that are entries of the room's log (they carry a seq).
LOG_KINDS = {"message", "deletion", "reaction"}
# As static/js/room.js: an entry out of order may just have been overtaken; wait before asking.
GAP_WAIT_SECONDS = 1.0
# Refusals of a `send` that say "not now" rather than "no": the client tries again later.
RETRY_LATER = {"rate_limited", "slow_mode"}


def room_with_people(group: SupportGroup, *users: User) -> Meeting:
    """An open meeting whose room has a random, large id.

    Redis pub/sub channels are shared by every database of a Redis server, and the layer's
    group for a room is named after its id: another Hearth run on the same Redis (another
    database number) would otherwise talk into this room (see the last test here).
    """
    meeting = open_meeting(group, capacity=500)
    Room.objects.create(meeting=meeting, pk=secrets.randbelow(10**12) + 10**9)
    going(meeting, *users)
    return meeting


# --- A client that keeps to docs/protocol.md -------------------------------------------------


class RoomClient:
    """One person's socket to one server, reconnecting (and resuming) when it closes; it keeps
    to docs/protocol.md as static/js/room.js does.

    It shows log entries strictly in seq order, each once: an entry already shown is ignored,
    one that comes early waits for those before it, and if a missing one does not come within
    GAP_WAIT_SECONDS (a broadcast lost) it asks `resume` from the last one shown. A `send` not
    acknowledged before a disconnect is sent again, with the same client_id, after the next
    catch-up.
    """

    def __init__(self, name: str, url: str, origin: str, cookie: str) -> None:
        self.name = name
        self.url = url
        self.origin = origin
        self.cookie = cookie
        self.shown: list[int] = []
        self.received: list[int] = []  # every log entry that arrived, repeats included
        self.last_seq = 0  # the highest seq shown (all before it are shown too)
        self.known_seq = 0  # the highest seq the server told of (an entry, an ack)
        self.pending: dict[str, dict[str, Any]] = {}  # client_id -> send frame, not acked yet
        self.acks: dict[str, int] = {}
        self.sent: list[str] = []
        self.connections = 0
        self.handshake_headers: list[dict[str, str]] = []  # the server's answer to each connection
        self.gap_resumes = 0  # resumes asked for because an entry never came live
        self.refusals: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.disconnects: list[str] = []
        # Per socket, after a catch-up: the server sends no entry at or below it, and none twice.
        self.unasked_repeats: list[int] = []
        self.ready = asyncio.Event()
        self.reconnect = True
        self.gap_wait = GAP_WAIT_SECONDS
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._early: dict[int, dict[str, Any]] = {}
        self._resuming = False
        self._caught_up_to = 0
        self._live_on_socket: set[int] = set()
        self._gap_check: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"client {self.name}")

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                async with ws_connect(
                    self.url,
                    origin=self.origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"},
                    proxy=None,
                    compression=None,
                    open_timeout=5,
                    close_timeout=2,
                    ping_interval=None,  # quiet means quiet: no keep-alive traffic from this side
                ) as ws:
                    self._ws = ws
                    self.connections += 1
                    if ws.response is not None:
                        self.handshake_headers.append(dict(ws.response.headers))
                    await self._serve(ws)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as error:
                self.disconnects.append(f"{type(error).__name__}: {error}")
            finally:
                self._ws = None
                self.ready.clear()
            if not self.reconnect:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _serve(self, ws: ClientConnection) -> None:
        first = json.loads(await ws.recv())
        if first["type"] != "welcome":
            self.refusals.append(first)
            await ws.wait_closed()
            return
        await self._resume(ws)
        async for text in ws:
            await self._on_frame(ws, json.loads(text))

    async def _resume(self, ws: ClientConnection) -> None:
        self._resuming = True
        await ws.send(json.dumps({"type": "resume", "last_seq": self.last_seq}))

    async def _on_frame(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in LOG_KINDS:
            self._on_log(frame["seq"])
        elif kind == "caught_up":
            self._resuming = False
            self._caught_up_to = frame["last_seq"]
            self._live_on_socket = set()
            if frame["more"]:
                await self._resume(ws)
                return
            self.ready.set()
            for pending in list(self.pending.values()):  # unacknowledged: the server stores it once
                await ws.send(json.dumps(pending))
            self._check_gap_soon()
        elif kind == "ack":
            self.pending.pop(frame["client_id"], None)
            self.acks[frame["client_id"]] = frame["seq"]
            self._expect(frame["seq"])  # the message itself should follow
        elif kind == "error":
            self.errors.append(frame)
            client_id = frame.get("client_id")
            if client_id in self.pending and frame["code"] not in RETRY_LATER:
                self.pending.pop(client_id)  # refused for good: nothing was stored
            elif client_id in self.pending:
                delay = min(float(frame.get("retry_after") or 0.5), 2.0)
                asyncio.get_running_loop().call_later(delay, self._in_background, lambda: self._resend(client_id))

    def _on_log(self, seq: int) -> None:
        self.received.append(seq)
        if not self._resuming:
            if seq <= self._caught_up_to or seq in self._live_on_socket:
                self.unasked_repeats.append(seq)
            self._live_on_socket.add(seq)
        if seq <= self.last_seq:
            return  # shown already
        if seq > self.last_seq + 1:
            self._early[seq] = {"seq": seq}
            self._expect(seq)
            return
        self._show(seq)
        while self.last_seq + 1 in self._early:
            self._show(self._early.pop(self.last_seq + 1)["seq"])
        self._early = {early: frame for early, frame in self._early.items() if early > self.last_seq}

    def _show(self, seq: int) -> None:
        self.shown.append(seq)
        self.last_seq = seq

    def _expect(self, seq: int) -> None:
        self.known_seq = max(self.known_seq, seq)
        self._check_gap_soon()

    def _check_gap_soon(self) -> None:
        if self._gap_check is None and self.known_seq > self.last_seq:
            self._gap_check = asyncio.get_running_loop().call_later(self.gap_wait, self._in_background, self._check_gap)

    async def _check_gap(self) -> None:
        self._gap_check = None
        ws = self._ws
        if self.known_seq > self.last_seq and ws is not None and self.ready.is_set() and not self._resuming:
            self.gap_resumes += 1
            with contextlib.suppress(ConnectionClosed):
                await self._resume(ws)

    async def _resend(self, client_id: str) -> None:
        ws, frame = self._ws, self.pending.get(client_id)
        if ws is not None and frame is not None and self.ready.is_set():
            with contextlib.suppress(ConnectionClosed):  # closed: resent after the next catch-up
                await ws.send(json.dumps(frame))

    def _in_background(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task is None or self._task.done():
            return  # closed
        task = asyncio.ensure_future(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def send(self, body: str) -> str:
        client_id = uuid.uuid4().hex
        frame = {"type": "send", "client_id": client_id, "body": body}
        self.pending[client_id] = frame
        self.sent.append(client_id)
        ws = self._ws
        if ws is not None and self.ready.is_set():
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(frame))
        return client_id

    async def close(self) -> None:
        self.reconnect = False
        if self._gap_check is not None:
            self._gap_check.cancel()
        ws = self._ws
        if ws is not None:
            await ws.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except TimeoutError:
                self._task.cancel()
        for task in list(self._background):
            task.cancel()

    def state(self) -> str:
        return (
            f"{self.name}: connections={self.connections} last_seq={self.last_seq} shown={len(self.shown)} "
            f"known={self.known_seq} early={sorted(self._early)[:5]} gap_resumes={self.gap_resumes} "
            f"pending={len(self.pending)} refusals={self.refusals} errors={self.errors[-3:]} "
            f"disconnects={self.disconnects[-3:]}"
        )


async def eventually(condition: Callable[[], bool], what: str, clients: list[RoomClient], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            states = "\n".join(client.state() for client in clients)
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{states}")
        await asyncio.sleep(0.05)


async def connected(clients: list[RoomClient], timeout: float = ROOM_WAIT_SECONDS) -> None:
    for client in clients:
        client.start()
    await eventually(
        lambda: all(client.ready.is_set() for client in clients), "all clients caught up", clients, timeout
    )


async def close_all(clients: list[RoomClient]) -> None:
    await asyncio.gather(*(client.close() for client in clients))
