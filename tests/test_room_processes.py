"""The meeting room across real server processes on the Redis channel layer.

Each test starts uvicorn subprocesses serving config.asgi against the pytest-django test
database (the approach of tests/e2e/conftest.py) and talks to them with out-of-process
WebSocket clients (websockets), as browsers would: session cookie, Origin header.

- two processes serve one room: a message sent through one reaches a client on the other
  with the same seq, both ways;
- people on both processes writing at once: every socket gets every entry live, none twice;
- a Redis restart during a room (a private redis-server on a free port, never the shared one):
  reconnecting clients end with every message exactly once, as the database has them, and
  every socket's leaving is recorded;
- a socket that hears nothing for longer than redis-py's default socket timeout stays open and
  gets the next message;
- 100 sockets closing at once log no error, and all of them leave the room's presence;
- two Hearth instances on one Redis server (different database numbers) do not hear each
  other's rooms (Redis pub/sub ignores the database number).

The clients keep to docs/protocol.md as static/js/room.js does (order by seq, resume on a gap
or a reconnect, resend unacknowledged messages), so "exactly once" is what a person would see.

They need REDIS_URL: on the in-memory channel layer (the embedded run) there is nothing
between processes to test, so they skip there. On the Redis run an unreachable Redis fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from accounts.models import User
from groups.models import SupportGroup
from meetings.models import Meeting, RoomEvent, RoomPresence
from tests.conftest import add_member
from tests.rooms import session_cookie
from tests.servers import (
    RoomClient,
    close_all,
    connected,
    eventually,
    free_port,
    process_database_url,
    room_with_people,
)

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs REDIS_URL: with the in-memory channel layer (embedded run) no message can pass "
        "between server processes, so there is nothing to test",
    ),
]

STARTUP_SECONDS = 30
STOP_SECONDS = 10
WAIT_SECONDS = 20
SERVER_ERROR = re.compile(r"^.*(\bERROR\b|\bCRITICAL\b|Traceback|MaxConnectionsError).*$", re.MULTILINE)


# --- Server processes ---------------------------------------------------------------------


def _check_redis(url: str) -> None:
    """On the Redis run an unreachable Redis is a failure, never a skip."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(f"REDIS_URL is set but Redis at {url} is unreachable: {error}", pytrace=False)


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def room_url(self, meeting: Meeting) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{meeting.public_id}/"

    def output(self, since: int = 0) -> str:
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size


class Servers:
    """uvicorn processes serving Hearth on one database and one Redis; always stopped."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.redis_url = redis_url
        self.started: list[Server] = []

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
        for key in ("EMAIL_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            env.pop(key, None)
        mail_dir = self.workdir / "mail"
        mail_dir.mkdir(exist_ok=True)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="1",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            VAR_DIR=str(settings.VAR_DIR),
            CELERY_TASK_ALWAYS_EAGER="1",
            EMAIL_FILE_PATH=str(mail_dir),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # These tests are about delivery; the per-member rate limit is tested elsewhere.
            ROOM_MESSAGES_PER_WINDOW="1000",
        )
        return env

    def start(self, name: str) -> Server:
        uvicorn = Path(sys.executable).with_name("uvicorn")
        log_path = self.workdir / f"{name}.log"
        for attempt in range(3):  # the free port may be taken before uvicorn binds it
            port = free_port()
            command = [str(uvicorn), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
            command += ["--lifespan", "off", "--no-access-log"]
            with log_path.open("ab") as log:
                log.write(f"$ {' '.join(command)}\n".encode())
                process = subprocess.Popen(
                    command,
                    cwd=settings.BASE_DIR,
                    env=self.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = Server(name=name, port=port, process=process, log_path=log_path)
            self.started.append(server)
            problem = self._wait_until_healthy(server)
            if problem is None:
                return server
            self._stop(server)
            if attempt < 2 and "address already in use" in server.output().lower():
                continue
            pytest.fail(f"server {name} did not start: {problem}\n{self.logs()}", pytrace=False)
        raise AssertionError("unreachable")

    @staticmethod
    def _wait_until_healthy(server: Server) -> str | None:
        deadline = time.monotonic() + STARTUP_SECONDS
        last = "no answer yet"
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return f"exited with code {server.process.returncode}"
            try:
                with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return None
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}"
            except OSError as error:
                last = repr(error)
            time.sleep(0.1)
        return f"/healthz did not answer 200 within {STARTUP_SECONDS} s (last: {last})"

    @staticmethod
    def _stop(server: Server) -> None:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
            try:
                server.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(5)

    def check_running(self) -> None:
        for server in self.started:
            if server.process.poll() is not None:
                pytest.fail(f"server {server.name} exited with code {server.process.returncode}\n{self.logs()}")

    def logs(self) -> str:
        seen: set[Path] = set()
        parts = []
        for server in self.started:
            if server.log_path not in seen:
                seen.add(server.log_path)
                parts.append(f"----- {server.name} -----\n{server.output()}")
        return "\n".join(parts)

    def stop_all(self) -> None:
        for server in reversed(self.started):
            self._stop(server)


@pytest.fixture(scope="module")
def server_pair(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two server processes on the run's Redis, for the module (stopped before the database
    is torn down: depending on django_db_setup orders the teardowns)."""
    _check_redis(settings.REDIS_URL)
    with django_db_blocker.unblock():
        database_url = process_database_url()
    group = Servers(tmp_path_factory.mktemp("room-servers"), database_url, settings.REDIS_URL)
    try:
        yield group.start("server-a"), group.start("server-b")
    finally:
        group.stop_all()


@pytest.fixture
def servers(server_pair: tuple[Server, Server], transactional_db: None) -> Iterator[tuple[Server, Server]]:
    """The module's two servers, left quiet at the end of the test: the last sockets' leaving
    must be done before the database is flushed (a TRUNCATE beside a server's transaction can
    deadlock)."""
    yield server_pair
    wait_until_nobody_is_present(None)
    time.sleep(0.3)  # the presence broadcast that follows the last deletion


class PrivateRedis:
    """A redis-server of our own on a free port, which a test may kill and start again."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: the Redis restart test needs a private one")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"the private redis-server did not start:\n{(self.workdir / 'redis.log').read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --- People and the room -------------------------------------------------------------------


def members(group: SupportGroup, count: int, prefix: str) -> list[User]:
    """Members with no usable password (cheap to make; sessions come from force_login)."""
    people = []
    for number in range(count):
        user = User.objects.create_user(email=f"{prefix}{number}@example.com")
        add_member(group, user, f"{prefix.title()} {number}")
        people.append(user)
    return people


def wait_until_nobody_is_present(meeting: Meeting | None, timeout: float = 5) -> int:
    """How many sockets are still recorded in the room (any room: None) once every client has
    closed. A socket's disconnect deletes its RoomPresence row; a consumer that died without
    running disconnect() leaves one."""
    present = RoomPresence.objects.all() if meeting is None else RoomPresence.objects.filter(room__meeting=meeting)
    deadline = time.monotonic() + timeout
    while present.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return present.count()


def db_seqs(meeting: Meeting) -> list[int]:
    return list(RoomEvent.objects.filter(room__meeting=meeting).order_by("seq").values_list("seq", flat=True))


def client_for(server: Server, meeting: Meeting, user: User, name: str) -> RoomClient:
    return RoomClient(name, server.room_url(meeting), server.url, session_cookie(user))


def run(scenario: Awaitable[None], servers: Servers | tuple[Server, ...]) -> None:
    """Run the clients' side of a test; any failure shows the servers' output."""
    try:
        asyncio.run(scenario)  # type: ignore[arg-type]
    except AssertionError as error:
        logs = servers.logs() if isinstance(servers, Servers) else "\n".join(s.output() for s in servers)
        pytest.fail(f"{error}\n--- server output ---\n{logs}", pytrace=False)


# --- Tests --------------------------------------------------------------------------------


def test_a_message_crosses_processes_with_its_seq(servers: tuple[Server, Server], circle, alice, bob) -> None:
    server_a, server_b = servers
    meeting = room_with_people(circle, alice, bob)
    alice_a = client_for(server_a, meeting, alice, "alice@A")
    bob_b = client_for(server_b, meeting, bob, "bob@B")
    clients = [alice_a, bob_b]

    async def scenario() -> None:
        await connected(clients)
        hello = await alice_a.send("Hello from process A")
        await eventually(lambda: hello in alice_a.acks and alice_a.acks[hello] in bob_b.shown, "A -> B", clients, 10)
        reply = await bob_b.send("Hello back from process B")
        await eventually(lambda: reply in bob_b.acks and bob_b.acks[reply] in alice_a.shown, "B -> A", clients, 10)
        assert alice_a.acks[hello] == 1 and bob_b.acks[reply] == 2
        await close_all(clients)

    run(scenario(), servers)
    assert alice_a.shown == bob_b.shown == db_seqs(meeting) == [1, 2]
    bodies = dict(RoomEvent.objects.filter(room__meeting=meeting).values_list("seq", "body"))
    assert bodies == {1: "Hello from process A", 2: "Hello back from process B"}
    assert alice_a.connections == bob_b.connections == 1
    assert not alice_a.unasked_repeats and not bob_b.unasked_repeats


def test_a_burst_through_both_processes_reaches_every_socket_live(
    servers: tuple[Server, Server], circle, alice, bob, owen
) -> None:
    """Four people on two processes all writing at once. Each process publishes what it
    stored, so entries may arrive out of seq order; still every socket gets every one live:
    none lost (no resume needed to fill a gap), none twice."""
    people = [alice, bob, owen, *members(circle, 3, "talker")]
    meeting = room_with_people(circle, *people)
    clients = [
        client_for(servers[number % 2], meeting, user, f"{user.email}@{'AB'[number % 2]}")
        for number, user in enumerate(people)
    ]
    senders, listeners = clients[:4], clients[4:]
    for listener in listeners:
        listener.gap_wait = 3.0  # slow is not lost: only a broadcast that never comes counts here
    per_sender = 50
    total = per_sender * len(senders)

    async def scenario() -> None:
        await connected(clients)

        async def burst(client: RoomClient) -> None:
            for number in range(per_sender):
                await client.send(f"{number} from {client.name}")

        await asyncio.gather(*(burst(client) for client in senders))
        await eventually(
            lambda: all(len(client.shown) == total and not client.pending for client in clients),
            f"all {total} messages at every socket",
            clients,
            WAIT_SECONDS,
        )
        await asyncio.sleep(1)  # a late repeat would show now
        await close_all(clients)

    run(scenario(), servers)
    log = db_seqs(meeting)
    assert log == list(range(1, total + 1))
    states = "\n".join(client.state() for client in clients)
    for client in clients:
        assert client.shown == log, states
        assert not client.unasked_repeats, f"{client.name} got {client.unasked_repeats} twice\n{states}"
        assert client.connections == 1, states
    # A listener resumes only when an entry never came live. (A sender may also resume when its
    # own entry comes over a second after its ack, behind the burst: that is no loss.)
    for client in listeners:
        assert client.gap_resumes == 0, f"{client.name} had to resume for a lost broadcast\n{states}"


def test_a_redis_restart_loses_and_repeats_nothing(
    private_redis: PrivateRedis, tmp_path: Path, circle, alice, bob, owen
) -> None:
    """Kill the channel layer's Redis mid-room and start it again on the same port: clients that
    reconnect and resume by seq end with exactly the database's log, each entry once."""
    group = Servers(tmp_path, process_database_url(), private_redis.url)
    try:
        server_a, server_b = group.start("server-a"), group.start("server-b")
        others = members(circle, 3, "reader")
        people = [alice, bob, owen, *others]
        meeting = room_with_people(circle, *people)
        clients = [
            client_for(server_a if number % 2 == 0 else server_b, meeting, user, f"{user.email}@{'AB'[number % 2]}")
            for number, user in enumerate(people)
        ]

        def everyone_has(count: int) -> bool:
            return all(len(client.shown) >= count and not client.pending for client in clients)

        async def scenario() -> None:
            await connected(clients)
            for client in clients:
                await client.send(f"before the restart, from {client.name}")
            await eventually(lambda: everyone_has(len(clients)), "messages before the restart", clients, 10)

            private_redis.kill()
            # Written while Redis is down: stored (or resent after reconnecting), never lost.
            for client in clients[:2]:
                await client.send(f"during the outage, from {client.name}")
            await asyncio.sleep(1.5)
            private_redis.start()

            for round_number in range(3):
                for client in clients:
                    await client.send(f"after the restart ({round_number}), from {client.name}")
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
            total = len(clients) * 4 + 2
            await eventually(lambda: everyone_has(total), "every message at every client", clients, WAIT_SECONDS)
            await close_all(clients)

        run(scenario(), group)
        group.check_running()
        # Everyone left: every socket's leaving was recorded, even those that met the outage.
        present = wait_until_nobody_is_present(meeting)
        log = db_seqs(meeting)
        sent = [client_id for client in clients for client_id in client.sent]
        stored = list(RoomEvent.objects.filter(room__meeting=meeting).values_list("client_id", flat=True))
        report = "\n".join(client.state() for client in clients) + "\n" + group.logs()
        assert log == list(range(1, len(clients) * 4 + 3)), report
        assert sorted(stored) == sorted(sent), f"each message stored exactly once\n{report}"
        for client in clients:
            assert client.shown == log, f"{client.name} shows {client.shown}, the log is {log}\n{report}"
            assert not client.unasked_repeats, f"{client.name} got {client.unasked_repeats} twice\n{report}"
            assert set(client.acks) == set(client.sent), report
        assert present == 0, f"{present} sockets still recorded as present after all closed\n{report}"
    finally:
        group.stop_all()


def test_a_quiet_socket_outlives_the_redis_socket_timeout(
    servers: tuple[Server, Server], circle, alice, bob, owen
) -> None:
    """redis-py's default socket timeout is 5 s; a room may be quiet for much longer."""
    server_a, server_b = servers
    meeting = room_with_people(circle, alice, bob, owen)
    since = [server.log_size() for server in servers]
    quiet_a = client_for(server_a, meeting, alice, "alice@A (quiet)")
    quiet_b = client_for(server_b, meeting, bob, "bob@B (quiet)")
    quiet = [quiet_a, quiet_b]
    sender = client_for(server_a, meeting, owen, "owen@A (sender)")

    async def scenario() -> None:
        await connected(quiet)
        for client in quiet:
            client.reconnect = False  # a reconnect would hide the very failure this looks for
        await asyncio.sleep(16)  # more than three times redis-py's default socket_timeout of 5 s
        assert all(client.ready.is_set() for client in quiet), "a quiet socket was closed"
        await connected([sender])
        await sender.send("Still here?")
        await eventually(lambda: all(client.shown == [1] for client in quiet), "the next message", quiet, 10)
        await quiet_b.send("Yes, still here")  # and the quiet socket can still write
        await eventually(lambda: all(client.shown == [1, 2] for client in quiet), "the reply", quiet, 10)
        await close_all([*quiet, sender])

    run(scenario(), servers)
    for client in quiet:
        assert client.connections == 1 and not client.disconnects, client.state()
    errors = [line for server, start in zip(servers, since, strict=True) for line in error_lines(server, start)]
    assert not errors, "\n".join(errors)


def error_lines(server: Server, since: int) -> list[str]:
    return [f"{server.name}: {match.group(0)}" for match in SERVER_ERROR.finditer(server.output(since))]


def test_a_hundred_sockets_closing_at_once_log_no_error(servers: tuple[Server, Server], circle) -> None:
    """A mass disconnect (everyone's wifi drops) must not exhaust the layer's Redis connections."""
    people = members(circle, 50, "leaver")
    meeting = room_with_people(circle, *people)
    since = [server.log_size() for server in servers]
    # Two sockets per person (the limit is ROOM_SOCKETS_PER_MEMBER = 3), one on each server.
    clients = [
        client_for(server, meeting, user, f"{user.email}@{server.name}") for user in people for server in servers
    ]
    assert len(clients) == 100

    async def scenario() -> None:
        await connected(clients, timeout=60)
        for client in clients:
            client.reconnect = False
        await asyncio.gather(*(client.close() for client in clients))

    run(scenario(), servers)
    left = wait_until_nobody_is_present(meeting)
    time.sleep(0.5)  # let the last disconnects finish logging
    errors = [line for server, start in zip(servers, since, strict=True) for line in error_lines(server, start)]
    output = "\n".join(
        f"----- {server.name} -----\n{server.output(start)}" for server, start in zip(servers, since, strict=True)
    )
    assert not errors, "\n".join(errors) + "\n" + output
    assert left == 0, f"{left} sockets still present after closing\n{output}"
    for client in clients:
        assert not client.refusals, client.state()


def test_instances_on_other_redis_databases_do_not_share_rooms(
    private_redis: PrivateRedis, tmp_path: Path, circle, alice, bob
) -> None:
    """Redis pub/sub channels ignore the database number. Two Hearth instances on one Redis
    server (staging on db 1 beside production on db 0, or two CI runs) must not hear each
    other's rooms. Both instances here read one database, so the other's room has our room's
    id, as it would by chance with small ids."""
    database_url = process_database_url()
    ours = Servers(tmp_path, database_url, private_redis.url_for(0))
    theirs = Servers(tmp_path, database_url, private_redis.url_for(1))
    try:
        our_server, their_server = ours.start("ours-db0"), theirs.start("theirs-db1")
        meeting = room_with_people(circle, alice, bob)
        listener = client_for(our_server, meeting, alice, "alice@ours")
        other = client_for(their_server, meeting, bob, "bob@theirs")

        async def scenario() -> None:
            await connected([listener, other])
            said = await other.send("Said in the other instance's room")
            await eventually(lambda: said in other.acks, "the other instance's ack", [other], 10)
            await asyncio.sleep(1)  # time enough for a stray broadcast to arrive
            await close_all([listener, other])

        run(scenario(), (our_server, their_server))
        assert listener.received == [], (
            f"a room on Redis db 1 reached a socket of the instance on db 0: {listener.received}"
        )
    finally:
        theirs.stop_all()
        ours.stop_all()
