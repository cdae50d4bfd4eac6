"""`make run-cluster`, as docs/deploy.md describes the topology: the script itself
(scripts/run-cluster.sh) starts nginx in front of 2 uvicorn processes, 2 Celery workers and 1 beat
on PostgreSQL (the test database) and Redis (the run's), and this test uses it from outside:

- two people's room sockets go THROUGH THE PROXY and land on different ASGI processes (nginx
  names the process that answered each handshake in X-Hearth-Upstream, a header only the local
  proxy adds); a message sent by one reaches the other, both ways;
- with both workers and the beat running, 50 reminders that fall due together are each emailed
  exactly once to an SMTP server in this test (aiosmtpd), and both workers took part;
- Ctrl-C (SIGINT to the script's process group, as a terminal sends it) stops every process.

It needs PostgreSQL and Redis (REDIS_URL and a PostgreSQL DATABASE_URL): on the embedded run
there is no shared channel layer or broker for a cluster, so it skips there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import User
from groups.handles import handle_key
from groups.models import Membership, SupportGroup
from meetings.models import Meeting, Reminder, RoomEvent, Rsvp
from tests.conftest import add_member, make_group
from tests.rooms import session_cookie
from tests.servers import (
    Mailbox,
    RoomClient,
    answers,
    close_all,
    connected,
    eventually,
    free_port,
    process_database_url,
    processes_in_group,
    room_with_people,
    smtp_server,
)

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL: with the in-memory channel layer, the "
        "filesystem broker and SQLite (embedded run) there is no cluster to start",
    ),
]

ROOT = Path(settings.BASE_DIR)
START_SECONDS = 90
STOP_SECONDS = 20
REMINDERS = 50
# After the last expected email: this many dispatch runs (one a second) must add nothing.
SETTLE_SECONDS = 3


@dataclass
class Cluster:
    process: subprocess.Popen[bytes]
    log_path: Path
    proxy_port: int
    asgi_ports: tuple[int, int]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"run-cluster.sh exited with code {self.process.returncode}\n{self.output()}", pytrace=False)

    def stop(self) -> list[int]:
        """Ctrl-C, as a terminal sends it (to the whole foreground group). Returns the processes
        of the group still alive afterwards (killed, but reported)."""
        group = self.process.pid
        if self.process.poll() is None:
            os.killpg(group, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_SECONDS)
        deadline = time.monotonic() + 5
        while (left := processes_in_group(group)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left or self.process.poll() is None:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(5)
        return left


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def cluster(transactional_db: None, mailbox: tuple[Mailbox, int], tmp_path: Path) -> Iterator[Cluster]:
    """scripts/run-cluster.sh on the test database, the run's Redis and free ports; stopped (and
    checked to have stopped everything) before the database is flushed."""
    proxy_port, port_a, port_b = distinct_free_ports(3)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    for key in ("DATABASE_URL", "REDIS_URL", "EMAIL_FILE_PATH", "CELERY_TASK_ALWAYS_EAGER", "SESSION_CLEANUP_SECONDS"):
        env.pop(key, None)
    env.update(
        CLUSTER_DATABASE_URL=process_database_url(),
        CLUSTER_REDIS_URL=settings.REDIS_URL,
        CLUSTER_VAR_DIR=str(tmp_path / "var"),
        CLUSTER_PORT=str(proxy_port),
        CLUSTER_ASGI_PORTS=f"{port_a} {port_b}",
        CLUSTER_CONCURRENCY="1",
        CLUSTER_START_TIMEOUT=str(START_SECONDS),
        DEBUG="1",
        EMAIL_URL=f"smtp://127.0.0.1:{mailbox[1]}",
        DISPATCH_EVERY_SECONDS="1",
    )
    log_path = tmp_path / "cluster.out"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "scripts/run-cluster.sh"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Cluster(process, log_path, proxy_port, (port_a, port_b))
    left: list[int] = []
    try:
        deadline = time.monotonic() + START_SECONDS + 10
        while "Hearth cluster is running at" not in running.output():
            running.check_running()
            if time.monotonic() > deadline:
                pytest.fail(f"run-cluster.sh did not come up within {START_SECONDS} s\n{running.output()}")
            time.sleep(0.2)
        yield running
    finally:
        left = running.stop()
    assert not left, f"processes left running after Ctrl-C: {left}\n{running.output()}"
    assert not answers(running.url + "/healthz"), "the proxy still answers after Ctrl-C"


def reminders_waiting(count: int) -> set[str]:
    """A group of `count` people going to a meeting in two hours, each with a reminder that is
    not due yet (a day away). Returns their addresses."""
    now = timezone.now()
    group = SupportGroup.objects.create(
        name="Cluster Circle", slug="cluster-circle", description="Cluster", guidelines="Be kind.", timezone="UTC"
    )
    unusable = make_password(None)
    User.objects.bulk_create(
        User(email=f"cluster-{n}@example.com", password=unusable, timezone="UTC", discreet_notifications=n % 2 == 0)
        for n in range(count)
    )
    users = list(User.objects.filter(email__startswith="cluster-").order_by("pk"))
    memberships = Membership.objects.bulk_create(
        Membership(
            group=group,
            user=user,
            handle=f"Lantern {n}",
            handle_key=handle_key(f"Lantern {n}"),
            role=Membership.Role.OWNER if n == 0 else Membership.Role.MEMBER,
            guidelines_accepted_at=now,
            joined_at=now,
        )
        for n, user in enumerate(users)
    )
    starts = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    meeting = Meeting.objects.create(
        group=group,
        title="Cluster meeting",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=count,
        facilitator=memberships[0],
    )
    Rsvp.objects.bulk_create(Rsvp(meeting=meeting, membership=m, status=Rsvp.Status.GOING) for m in memberships)
    Reminder.objects.bulk_create(
        Reminder(meeting=meeting, membership=m, kind="1h", send_at=now + timedelta(days=1)) for m in memberships
    )
    return {user.email for user in users}


@pytest.fixture
def people(db: None) -> dict[str, object]:
    """Made before the cluster starts: run-cluster.sh loads demo data only into an empty database."""
    group = make_group()
    alice = User.objects.create_user(email="alice@example.com")
    bob = User.objects.create_user(email="bob@example.com")
    add_member(group, alice, "Quiet Harbor")
    add_member(group, bob, "Calm Heron", role="facilitator")
    meeting = room_with_people(group, alice, bob)
    return {"alice": alice, "bob": bob, "meeting": meeting, "addresses": reminders_waiting(REMINDERS)}


def upstream(client: RoomClient) -> str:
    headers = {name.lower(): value for name, value in client.handshake_headers[-1].items()}
    return headers.get("x-hearth-upstream", "")


def test_the_cluster_carries_rooms_across_processes_and_sends_each_reminder_once(
    people: dict[str, object], cluster: Cluster, mailbox: tuple[Mailbox, int]
) -> None:
    started = time.monotonic()
    meeting = people["meeting"]
    assert isinstance(meeting, Meeting)
    room_url = f"ws://127.0.0.1:{cluster.proxy_port}/ws/rooms/{meeting.public_id}/"
    alice = RoomClient("alice", room_url, cluster.url, session_cookie(people["alice"]))  # type: ignore[arg-type]
    bob = RoomClient("bob", room_url, cluster.url, session_cookie(people["bob"]))  # type: ignore[arg-type]
    backends = {f"127.0.0.1:{port}" for port in cluster.asgi_ports}

    # --- A room message through the proxy, from one ASGI process to the other -----------------
    async def room() -> None:
        # One after the other: nginx's least_conn sends the second socket to the process that
        # holds none.
        await connected([alice])
        await connected([bob])
        assert {upstream(alice), upstream(bob)} == backends, (
            f"the two sockets should be on different processes: alice on {upstream(alice)!r}, "
            f"bob on {upstream(bob)!r}, processes {sorted(backends)}"
        )
        hello = await alice.send("Hello through the proxy")
        await eventually(
            lambda: hello in alice.acks and alice.acks[hello] in bob.shown, "alice -> bob", [alice, bob], 10
        )
        reply = await bob.send("Hello back, from the other process")
        await eventually(lambda: reply in bob.acks and bob.acks[reply] in alice.shown, "bob -> alice", [alice, bob], 10)
        await close_all([alice, bob])

    try:
        asyncio.run(room())
    except AssertionError as error:
        pytest.fail(f"{error}\n--- cluster output ---\n{cluster.output()}", pytrace=False)
    assert alice.shown == bob.shown == [1, 2]
    assert alice.connections == bob.connections == 1
    bodies = dict(RoomEvent.objects.filter(room__meeting=meeting).values_list("seq", "body"))
    assert bodies == {1: "Hello through the proxy", 2: "Hello back, from the other process"}
    room_seconds = time.monotonic() - started

    # --- 50 reminders due at once, 2 workers, 1 beat: each emailed exactly once ---------------
    box, _port = mailbox
    addresses = people["addresses"]
    assert isinstance(addresses, set)
    due = timezone.now()
    assert Reminder.objects.filter(status="pending").update(send_at=due) == REMINDERS

    def reminder_emails() -> Counter[str]:
        return Counter(rcpt for rcpt, subject in box.count().elements() if subject.startswith("Reminder"))

    deadline = time.monotonic() + 40
    while sum(reminder_emails().values()) < REMINDERS:
        cluster.check_running()
        if time.monotonic() > deadline:
            pytest.fail(
                f"{sum(reminder_emails().values())} of {REMINDERS} reminders arrived within 40 s\n{cluster.output()}",
                pytrace=False,
            )
        time.sleep(0.2)
    sent_seconds = (timezone.now() - due).total_seconds()
    time.sleep(SETTLE_SECONDS)  # a duplicate would land now
    cluster.check_running()

    counts = reminder_emails()
    duplicates = {address: n for address, n in counts.items() if n > 1}
    assert not duplicates, f"reminders emailed more than once: {duplicates}"
    assert set(counts) == addresses
    assert Counter(Reminder.objects.values_list("status", flat=True)) == {"sent": REMINDERS}
    # Both workers sent some: the exactly-once above held with two consumers racing.
    per_worker = Counter(
        match.group(1)
        for match in re.finditer(
            r"^\[(worker-\d)\] .*Task meetings\.tasks\.send_reminder\[[^]]+\] succeeded", cluster.output(), re.M
        )
    )
    assert sum(per_worker.values()) == REMINDERS, per_worker
    assert set(per_worker) == {"worker-1", "worker-2"}, f"one worker did all the sends: {per_worker}"
    print(  # noqa: T201 (shown with -s: the figures docs/deploy.md quotes)
        f"room round trip done {room_seconds:.1f} s after start-up; {REMINDERS} reminders in {sent_seconds:.1f} s, "
        f"per worker {dict(per_worker)}"
    )
