"""Room delivery through two uvicorn processes on the Redis channel layer, against a bare baseline.

Starts two ASGI servers (bench/asgi.py: Hearth as served, plus a bare broadcast route) in a
private VAR_DIR, on a fresh database (a new PostgreSQL database beside DATABASE_URL's if it is
set, else an SQLite file there), migrated first. Creates a group, a meeting whose room is open
and BENCH_CLIENTS members who are all going; connects them all to the room, spread over the two
servers (each resumes), then BENCH_SENDERS of them send BENCH_RATE messages per second in total
for BENCH_SECONDS. Each message carries its send time: every delivery's latency is measured.
Then the same with the bare broadcast consumer (same N, rate and time).

Prints latency percentiles, deliveries and messages per second, lost and duplicated deliveries
(every client must get every message exactly once), and the room's p50/p99 as ratios to the
bare consumer's. Figures, not assertions; the exit code is non-zero only if the harness failed.

    make bench-room
    BENCH_CLIENTS=200 BENCH_RATE=20 BENCH_SECONDS=20 REDIS_URL=redis://127.0.0.1:6379/12 \\
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_room.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Database, free_port  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "200"))
RATE = float(os.environ.get("BENCH_RATE", "20"))  # messages per second, all senders together
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
SENDERS = max(1, min(int(os.environ.get("BENCH_SENDERS", "4")), CLIENTS))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP", "1"))  # sent and checked, not timed
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL", "")

STARTUP_SECONDS = 30
CONNECT_SECONDS = 120  # all clients in and caught up
DRAIN_SECONDS = 15  # after the last send, for the last deliveries
CONNECT_AT_ONCE = 10
SERVER_ERROR = re.compile(r"^.*(\bERROR\b|\bCRITICAL\b|Traceback|MaxConnectionsError).*$", re.MULTILINE)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Database and servers ------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def errors(self) -> list[str]:
        return SERVER_ERROR.findall(self.log_path.read_text(errors="replace"))


def servers_cpu(servers: list[Server]) -> float:
    """CPU seconds the server processes have used so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for server in servers:
        try:
            fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def start_server(env: dict[str, str], var_dir: str, name: str) -> Server:
    port = free_port()
    log_path = Path(var_dir) / f"{name}.log"
    command = [str(ROOT / ".venv/bin/uvicorn"), "bench.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--lifespan", "off", "--no-access-log"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(port, process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server {name} exited:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"server {name} did not answer /healthz within {STARTUP_SECONDS} s:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


# --- The room ------------------------------------------------------------------------------


def create_room(count: int) -> tuple[str, list[str]]:
    """A group, an open meeting and `count` members who are going. Returns the meeting's public
    id and one session key per member."""
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User
    from groups.handles import handle_key
    from groups.models import Membership, SupportGroup
    from meetings.models import Meeting, Room, Rsvp

    now = timezone.now()
    group = SupportGroup.objects.create(
        name="Bench Circle",
        slug=f"bench-{secrets.token_hex(3)}",
        description="Benchmark",
        guidelines="Be kind.",
        timezone="UTC",
    )
    unusable = make_password(None)
    User.objects.bulk_create(User(email=f"bench{n}@example.com", password=unusable) for n in range(count))
    users = list(User.objects.filter(email__startswith="bench").order_by("pk"))
    memberships = Membership.objects.bulk_create(
        Membership(
            group=group,
            user=user,
            handle=f"Bench {n}",
            handle_key=handle_key(f"Bench {n}"),
            role=Membership.Role.FACILITATOR if n == 0 else Membership.Role.MEMBER,
            guidelines_accepted_at=now,
            joined_at=now,
        )
        for n, user in enumerate(users)
    )
    starts_at = now + timedelta(minutes=5)
    meeting = Meeting.objects.create(
        group=group,
        title="Bench meeting",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        capacity=500,
        facilitator=memberships[0],
    )
    # A random, large room id: Redis pub/sub channels are shared by every database of a Redis
    # server, so a small id could meet another Hearth's room of the same id on it.
    Room.objects.create(meeting=meeting, pk=secrets.randbelow(10**12) + 10**9)
    Rsvp.objects.bulk_create(Rsvp(meeting=meeting, membership=m, status=Rsvp.Status.GOING) for m in memberships)
    sessions = []
    for user in users:
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["hearth_session"].value)
    return meeting.public_id, sessions


# --- Clients -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """What one client got: per message key, how many times; and each delivery's latency."""

    counts: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    newest_seq: int = 0


@dataclass
class Result:
    name: str
    latencies: list[float]
    timed_seconds: float
    sent: int
    timed_sent: int
    stored: int
    deliveries: int
    lost: int
    duplicated: int
    refused: int
    connect_seconds: float
    server_cpu: float  # both servers' CPU time during the timed sends, in cores (1.0 = one core busy)
    ack_latencies: list[float]


def body_of(key: str, sent_at: float, timed: bool) -> str:
    return f"{key} {sent_at:.6f} {'t' if timed else 'w'}"


def read_body(body: str) -> tuple[str, float, bool]:
    key, sent_at, timed = body.split(" ")
    return key, float(sent_at), timed == "t"


class Run(ABC):
    """One measurement: N sockets, a send schedule, and what everyone received."""

    def __init__(
        self, name: str, urls: list[str], headers: list[dict[str, str]], origin: list[str], servers: list[Server]
    ) -> None:
        self.name = name
        self.servers = servers
        self.urls = urls
        self.headers = headers
        self.origins = origin
        self.sockets: list[Any] = []
        self.receivers = [Receiver() for _ in urls]
        self.readers: list[asyncio.Task[None]] = []
        self.keys: dict[str, bool] = {}  # every key sent -> timed?
        self.stored: set[str] = set()  # keys the server acknowledged (room only)
        self.refused: list[dict[str, Any]] = []
        self.out_of_order = 0  # log entries that arrived after a later one (room only)
        self.sent_at: dict[str, float] = {}
        self.ack_latencies: list[float] = []  # send -> ack: the message stored (room only)

    async def open(self, index: int) -> Any:
        from websockets.asyncio.client import connect

        return await connect(
            self.urls[index],
            origin=self.origins[index],
            additional_headers=self.headers[index],
            proxy=None,
            compression=None,
            open_timeout=30,
            close_timeout=5,
            ping_interval=None,
            max_queue=None,
        )

    async def join(self, index: int) -> Any:
        return await self.open(index)

    async def connect_all(self) -> float:
        started = time.perf_counter()
        limit = asyncio.Semaphore(CONNECT_AT_ONCE)

        async def one(index: int) -> Any:
            async with limit:
                return await self.join(index)

        self.sockets = await asyncio.wait_for(
            asyncio.gather(*(one(index) for index in range(len(self.urls)))), CONNECT_SECONDS
        )
        self.readers = [asyncio.create_task(self.read(index)) for index in range(len(self.sockets))]
        return time.perf_counter() - started

    async def read(self, index: int) -> None:
        from websockets.exceptions import ConnectionClosed

        receiver = self.receivers[index]
        with contextlib.suppress(ConnectionClosed):
            async for text in self.sockets[index]:
                now = time.time()
                self.on_frame(json.loads(text), receiver, now)

    @abstractmethod
    def on_frame(self, frame: dict[str, Any], receiver: Receiver, now: float) -> None:
        """Handle one frame a client received."""

    def record(self, receiver: Receiver, body: str, now: float) -> None:
        key, sent_at, timed = read_body(body)
        receiver.counts[key] = receiver.counts.get(key, 0) + 1
        if timed and receiver.counts[key] == 1:
            receiver.latencies.append((now - sent_at) * 1000)

    @abstractmethod
    async def send(self, sender: int, key: str, timed: bool) -> None:
        """Send one message from client `sender`."""

    def expected(self) -> set[str]:
        return set(self.keys)

    def complete(self) -> bool:
        expected = self.expected()
        return all(expected <= receiver.counts.keys() for receiver in self.receivers)

    async def measure(self) -> Result:
        connect_seconds = await self.connect_all()
        await asyncio.sleep(2)  # let the joins' presence broadcasts settle
        senders = list(range(SENDERS))  # clients 0, 1, 2, 3: on server A, B, A, B
        warmup = int(WARMUP_SECONDS * RATE)
        timed = int(SECONDS * RATE)
        started = time.perf_counter()
        timed_started = timed_ended = started
        cpu_started = 0.0
        for number in range(warmup + timed):
            if number == warmup:
                timed_started = time.perf_counter()
                cpu_started = servers_cpu(self.servers)
            due = started + number / RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            key = f"{self.name[0]}{number}"
            self.keys[key] = number >= warmup
            await self.send(senders[number % SENDERS], key, number >= warmup)
        timed_ended = time.perf_counter()
        server_cpu = (servers_cpu(self.servers) - cpu_started) / max(timed_ended - timed_started, 1e-9)
        deadline = time.monotonic() + DRAIN_SECONDS
        while not self.complete() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # late duplicates would arrive now
        await self.close_all()
        expected = self.expected()
        if os.environ.get("BENCH_DEBUG"):
            log(f"{self.name}: {self.out_of_order} deliveries arrived after a later seq")
            for index, receiver in enumerate(self.receivers):
                missing = expected - receiver.counts.keys()
                if missing:
                    log(f"{self.name} client {index} missed {sorted(missing)[:10]}")
        lost = sum(len(expected - receiver.counts.keys()) for receiver in self.receivers)
        duplicated = sum(max(0, n - 1) for receiver in self.receivers for n in receiver.counts.values())
        latencies = [ms for receiver in self.receivers for ms in receiver.latencies]
        return Result(
            name=self.name,
            latencies=latencies,
            timed_seconds=timed_ended - timed_started + 1 / RATE,
            sent=len(self.keys),
            timed_sent=timed,
            stored=len(expected),
            deliveries=len(latencies),
            lost=lost,
            duplicated=duplicated,
            refused=len(self.refused),
            connect_seconds=connect_seconds,
            server_cpu=server_cpu,
            ack_latencies=getattr(self, "ack_latencies", []),
        )

    async def close_all(self) -> None:
        async def close(ws: Any) -> None:
            with contextlib.suppress(Exception):
                await ws.close()

        await asyncio.gather(*(close(ws) for ws in self.sockets))
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


class RoomRun(Run):
    """Hearth's room: welcome, resume, then `send` frames; deliveries are `message` frames."""

    async def join(self, index: int) -> Any:
        ws = await self.open(index)
        welcome = json.loads(await ws.recv())
        if welcome["type"] != "welcome":
            raise SystemExit(f"client {index} was refused: {welcome}")
        await ws.send(json.dumps({"type": "resume", "last_seq": welcome["last_seq"]}))
        while json.loads(await ws.recv())["type"] != "caught_up":
            pass
        return ws

    def on_frame(self, frame: dict[str, Any], receiver: Receiver, now: float) -> None:
        kind = frame["type"]
        if kind == "message":
            self.record(receiver, frame["body"], now)
            if frame["seq"] < receiver.newest_seq:
                self.out_of_order += 1
            receiver.newest_seq = max(receiver.newest_seq, frame["seq"])
        elif kind == "ack":
            self.stored.add(frame["client_id"])
            if frame["client_id"] in self.sent_at:
                self.ack_latencies.append((now - self.sent_at[frame["client_id"]]) * 1000)
        elif kind == "error":
            self.refused.append(frame)

    async def send(self, sender: int, key: str, timed: bool) -> None:
        body = body_of(key, time.time(), timed)
        if timed:
            self.sent_at[key] = time.time()
        await self.sockets[sender].send(json.dumps({"type": "send", "client_id": key, "body": body}))

    def expected(self) -> set[str]:
        return self.stored  # what the server stored is what everyone must get


class BareRun(Run):
    """The bare consumer: whatever a client sends, everyone in the group gets as it is."""

    def on_frame(self, frame: dict[str, Any], receiver: Receiver, now: float) -> None:
        self.record(receiver, frame["body"], now)

    async def send(self, sender: int, key: str, timed: bool) -> None:
        await self.sockets[sender].send(json.dumps({"type": "message", "body": body_of(key, time.time(), timed)}))


# --- Report --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(ours: Result, bare: Result, database: str, errors: list[str], load: str) -> bool:
    print(
        f"Room delivery: 2 uvicorn processes, RedisPubSubChannelLayer ({REDIS_URL}), {database}\n"
        f"{CLIENTS} clients in one room (half on each server), {RATE:g} messages/s for {SECONDS:g} s "
        f"from {SENDERS} senders, after {WARMUP_SECONDS:g} s of warm-up; {os.cpu_count()} CPUs, "
        f"load average {load}"
    )
    header = (
        f"{'':<16} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'deliv/s':>8} {'msgs/s':>7} "
        f"{'sent':>5} {'lost':>5} {'dup':>5} {'refused':>7} {'connect s':>9} {'srv CPU':>7}"
    )
    print(header)
    print("-" * len(header))
    for result in (ours, bare):
        lat = result.latencies
        print(
            f"{result.name:<16} {percentile(lat, 0.5):>7.1f} {percentile(lat, 0.95):>7.1f} "
            f"{percentile(lat, 0.99):>7.1f} {max(lat, default=float('nan')):>7.1f} "
            f"{result.deliveries / result.timed_seconds:>8.0f} "
            f"{result.timed_sent / result.timed_seconds:>7.1f} {result.sent:>5} {result.lost:>5} "
            f"{result.duplicated:>5} {result.refused:>7} {result.connect_seconds:>9.1f} {result.server_cpu:>7.2f}"
        )
    p50 = percentile(ours.latencies, 0.5) / percentile(bare.latencies, 0.5)
    p99 = percentile(ours.latencies, 0.99) / percentile(bare.latencies, 0.99)
    print(f"{'room / bare':<16} {p50:>6.2f}x {'':>7} {p99:>6.2f}x")
    acks = ours.ack_latencies
    print(
        f"room send -> ack (stored): p50 {percentile(acks, 0.5):.1f} ms, p99 {percentile(acks, 0.99):.1f} ms; "
        f"srv CPU = both servers' CPU during the timed sends (1.00 = one core)"
    )
    checks = {
        "0 lost": ours.lost == 0 and ours.stored == ours.sent,
        "0 duplicated": ours.duplicated == 0,
        "p99 < 100 ms": percentile(ours.latencies, 0.99) < 100,
        "p50 <= 2x bare": p50 <= 2,
    }
    print("target: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks.items()))
    print(f"server log errors: {len(errors)}" + "".join(f"\n  {line}" for line in errors[:10]))
    return all(checks.values())


# --- Main ----------------------------------------------------------------------------------


def main() -> int:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise SystemExit(f"bench-room needs Redis at {REDIS_URL}: {error}") from None
    with tempfile.TemporaryDirectory(prefix="hearth-bench-room-") as var_dir:
        database = Database("hearth_bench", OUTER_DATABASE_URL)
        servers: list[Server] = []
        try:
            env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "EMAIL_URL")}
            env.update(
                DJANGO_SETTINGS_MODULE="config.settings",
                VAR_DIR=var_dir,
                # As in production: no query log, no debug cursor wrappers.
                DEBUG="0",
                SECRET_KEY=secrets.token_urlsafe(50),
                SECURE_SSL_REDIRECT="0",
                ALLOWED_HOSTS="127.0.0.1,localhost",
                REDIS_URL=REDIS_URL,
                CELERY_TASK_ALWAYS_EAGER="1",
                LOG_LEVEL="WARNING",
                PYTHONUNBUFFERED="1",
                # The per-member limit (5 per 10 s) would refuse the senders: out of the way.
                ROOM_MESSAGES_PER_WINDOW="1000000",
                BENCH_BARE_GROUP=secrets.token_hex(6),
            )
            if database.url:
                env["DATABASE_URL"] = database.url
            log(f"migrating {database.describe()} ...")
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            os.environ.clear()
            os.environ.update(env)
            import django

            django.setup()
            log(f"creating {CLIENTS} members ...")
            meeting, sessions = create_room(CLIENTS)
            from django.db import connections

            connections.close_all()
            servers = [start_server(env, var_dir, "server-a"), start_server(env, var_dir, "server-b")]
            ports = [servers[index % 2].port for index in range(CLIENTS)]
            origins = [f"http://127.0.0.1:{port}" for port in ports]
            try:
                from uvloop import run as run_loop
            except ImportError:
                run_loop = asyncio.run
            log("room: connecting and sending ...")
            load_before = os.getloadavg()[0]
            room = RoomRun(
                "hearth room",
                [f"ws://127.0.0.1:{port}/ws/rooms/{meeting}/" for port in ports],
                [{"Cookie": f"hearth_session={key}"} for key in sessions],
                origins,
                servers,
            )
            ours = run_loop(room.measure())
            log("bare consumer: connecting and sending ...")
            bare_run = BareRun(
                "bare broadcast",
                [f"ws://127.0.0.1:{port}/ws/bench/bare/" for port in ports],
                [{}] * CLIENTS,
                origins,
                servers,
            )
            bare = run_loop(bare_run.measure())
            errors = [line for server in servers for line in server.errors()]
            if room.refused:
                log(f"refused sends (first 3): {room.refused[:3]}")
            report(ours, bare, database.describe(), errors, f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}")
            return 0
        finally:
            for server in servers:
                stop_server(server)
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
