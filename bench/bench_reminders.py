"""Reminder dispatch: 10,000 due reminders sent by two Celery worker processes on Redis.

Sets up a fresh database (a new PostgreSQL database beside DATABASE_URL's, or on the local
server at postgres://postgres@127.0.0.1:5432 when DATABASE_URL is unset; an SQLite file only if
no PostgreSQL answers), migrated first. Creates BENCH_GROUPS groups of BENCH_MEMBERS members,
BENCH_MEETINGS meetings per group at distinct minutes, every member going to every meeting of
their group, and one due reminder per (member, meeting): BENCH_GROUPS x BENCH_MEMBERS x
BENCH_MEETINGS rows (10 x 100 x 10 = 10,000). Half the people have discreet emails, and they are
spread over four timezones.

Starts an SMTP server in this process (aiosmtpd), then two `celery worker` processes (prefork,
BENCH_CONCURRENCY each) whose EMAIL_URL points at it. Then it runs the dispatch job two at a time
(`dispatch_reminders.delay()` twice every BENCH_DISPATCH_EVERY seconds, until nothing is left to
claim): the two dispatchers race for the same rows, and each claims 1,000 at most. Every email is
attributable to one reminder: (recipient, the "at HH:MM" of its subject) is unique per reminder.

Prints the time from the first dispatch to the last email, the rate, and the emails received,
duplicates (an email for a reminder beyond its first), misses (a reminder with no email) and
unexpected emails, and the rows' final states. Exits non-zero if duplicates, misses or unexpected
emails are not 0, or if it timed out.

    make bench-reminders
    BENCH_CONCURRENCY=2 REDIS_URL=redis://127.0.0.1:6379/12 \\
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_reminders.py

Tasks go through a queue of this run's own (set as the app's default queue in every process), so
a worker of some other Hearth on the same Redis database neither takes nor adds any.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Database, free_port, run_admin  # noqa: E402

GROUPS = int(os.environ.get("BENCH_GROUPS", "10"))
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "100"))  # per group (a meeting holds 500 at most)
MEETINGS = int(os.environ.get("BENCH_MEETINGS", "10"))  # per group, at distinct minutes
WORKERS = 2
# Pool processes per worker. On 2 CPUs, 2,000 reminders: 1 -> 18.5/s, 2 -> 22.6/s, 4 -> 25.1/s (each
# task waits on PostgreSQL and SMTP round trips, so a few more processes than cores pay).
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
DISPATCH_EVERY = float(os.environ.get("BENCH_DISPATCH_EVERY", "0.5"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "1800"))
WORKER_LOGLEVEL = os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING")  # INFO logs every task's run time
SETTLE_SECONDS = 3  # after the last email: late duplicates would arrive now
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL", "")
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
TIMEZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]
STARTUP_SECONDS = 60

# Runs one Celery command with the app's default queue (where `.delay()` sends, and what a
# worker reads) set to argv[1]; the rest is the usual `celery -A config ...` command line.
LAUNCHER = (
    "import sys\n"
    "from config.celery import app\n"
    "app.conf.task_default_queue = sys.argv[1]\n"
    "sys.exit(app.start(sys.argv[2:]))\n"
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Database ------------------------------------------------------------------------------


def bench_database() -> Database:
    """A fresh PostgreSQL database on DATABASE_URL's server or the local one (dropped at the
    end), or SQLite when there is no PostgreSQL and DATABASE_URL was not set."""
    import psycopg

    server = OUTER_DATABASE_URL or LOCAL_POSTGRES
    try:
        run_admin(server, "SELECT 1")
    except psycopg.Error as error:
        if OUTER_DATABASE_URL:
            raise SystemExit(f"bench-reminders: DATABASE_URL is set but PostgreSQL is unreachable: {error}") from None
        log(f"no PostgreSQL at {LOCAL_POSTGRES} ({type(error).__name__}): using SQLite")
        return Database("hearth_bench_reminders", "")
    return Database("hearth_bench_reminders", server)


# --- SMTP ----------------------------------------------------------------------------------


class Mailbox:
    """The aiosmtpd handler: counts emails per (recipient, "HH:MM" of the subject)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.total = 0
        self.last_at = 0.0
        self.odd: list[str] = []  # subjects not of a reminder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        subject = str(message["Subject"])
        when = subject.rsplit(" at ", 1)[-1] if subject.startswith("Reminder: ") else ""
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[(rcpt, when)] += 1
                self.total += 1
            if not when:
                self.odd.append(subject)
            self.last_at = time.perf_counter()
        return "250 Message accepted for delivery"


# --- Data ----------------------------------------------------------------------------------


def create_reminders() -> set[tuple[str, str]]:
    """Groups, members, meetings, RSVPs and due reminders. Returns the expected emails: one
    (recipient, local "HH:MM" of the meeting) per reminder."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from groups.handles import handle_key
    from groups.models import Membership, SupportGroup
    from lib.timefmt import zone
    from meetings.models import Meeting, Reminder, Rsvp

    now = timezone.now()
    unusable = make_password(None)
    # Meetings from two hours ahead, six minutes apart: distinct minutes in every timezone.
    first = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    expected: set[tuple[str, str]] = set()
    for g in range(GROUPS):
        group = SupportGroup.objects.create(
            name=f"Bench Circle {g}",
            slug=f"bench-circle-{g}",
            description="Benchmark",
            guidelines="Be kind.",
            timezone="UTC",
        )
        User.objects.bulk_create(
            User(
                email=f"bench-{g}-{n}@example.com",
                password=unusable,
                timezone=TIMEZONES[n % len(TIMEZONES)],
                discreet_notifications=n % 2 == 0,
            )
            for n in range(MEMBERS)
        )
        users = list(User.objects.filter(email__startswith=f"bench-{g}-").order_by("pk"))
        memberships = Membership.objects.bulk_create(
            Membership(
                group=group,
                user=user,
                handle=f"Bench {n}",
                handle_key=handle_key(f"Bench {n}"),
                role=Membership.Role.OWNER if n == 0 else Membership.Role.MEMBER,
                guidelines_accepted_at=now,
                joined_at=now,
            )
            for n, user in enumerate(users)
        )
        meetings = Meeting.objects.bulk_create(
            Meeting(
                group=group,
                title=f"Bench meeting {m}",
                starts_at=first + timedelta(minutes=6 * m),
                ends_at=first + timedelta(minutes=6 * m + 60),
                capacity=min(MEMBERS, 500),
                facilitator=memberships[0],
            )
            for m in range(MEETINGS)
        )
        Rsvp.objects.bulk_create(
            Rsvp(meeting=meeting, membership=membership, status=Rsvp.Status.GOING)
            for meeting in meetings
            for membership in memberships
        )
        # Due since a moment ago, as if the hour-before time had just passed.
        Reminder.objects.bulk_create(
            Reminder(meeting=meeting, membership=membership, kind="1h", send_at=now - timedelta(seconds=1))
            for meeting in meetings
            for membership in memberships
        )
        for meeting in meetings:
            for user in users:
                expected.add((user.email, meeting.starts_at.astimezone(zone(user.timezone)).strftime("%H:%M")))
    return expected


# --- Workers -------------------------------------------------------------------------------


class Worker:
    def __init__(self, name: str, queue: str, env: dict[str, str], var_dir: str) -> None:
        self.hostname = f"{name}-{secrets.token_hex(3)}@{socket.gethostname()}"
        self.log_path = Path(var_dir) / f"{name}.log"
        self.log: IO[bytes] = self.log_path.open("wb")
        command = [sys.executable, "-c", LAUNCHER, queue, "worker", "--pool", "prefork"]
        command += ["--concurrency", str(CONCURRENCY), "--loglevel", WORKER_LOGLEVEL, "--hostname", self.hostname]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"worker {self.hostname} exited:\n{self.log_path.read_text(errors='replace')}")

    def errors(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def wait_until_ready(workers: list[Worker]) -> None:
    from config.celery import app

    names = [worker.hostname for worker in workers]
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check()
        replies = app.control.ping(destination=names, timeout=1.0)
        if {name for reply in replies for name in reply} >= set(names):
            return
    raise SystemExit(f"the workers did not answer a ping within {STARTUP_SECONDS} s")


# --- Run -----------------------------------------------------------------------------------


def statuses(model: Any) -> dict[str, int]:
    from django.db.models import Count

    return dict(model.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))


def run(expected: set[tuple[str, str]], mailbox: Mailbox, workers: list[Worker]) -> tuple[float, bool]:
    """Dispatch (two at once) until every email is in, or TIMEOUT. Returns the time from the
    first dispatch to the last email, and whether it finished."""
    from meetings.models import Reminder
    from meetings.tasks import dispatch_reminders

    total = len(expected)
    started = time.perf_counter()
    deadline = started + TIMEOUT
    next_report = started + 5
    while time.perf_counter() < deadline:
        for worker in workers:
            worker.check()
        with mailbox.lock:
            received = mailbox.total
        if received >= total:
            break
        if Reminder.objects.filter(status=Reminder.Status.PENDING).exists():
            dispatch_reminders.delay()  # two dispatchers racing for the same rows
            dispatch_reminders.delay()
        if time.perf_counter() >= next_report:
            log(f"  {time.perf_counter() - started:5.1f} s: {received} emails, reminders {statuses(Reminder)}")
            next_report += 5
        time.sleep(DISPATCH_EVERY)
    finished = mailbox.total >= total
    return (mailbox.last_at if finished else time.perf_counter()) - started, finished


def report(
    expected: set[tuple[str, str]],
    mailbox: Mailbox,
    seconds: float,
    finished: bool,
    database: str,
    errors: list[str],
    load: str,
) -> bool:
    from accounts.models import Notice
    from meetings.models import Reminder

    counts = mailbox.counts
    duplicates = sum(n - 1 for key, n in counts.items() if key in expected and n > 1)
    misses = sum(1 for key in expected if counts[key] == 0)
    unexpected = sum(n for key, n in counts.items() if key not in expected)
    reminder_rows, notice_rows = statuses(Reminder), statuses(Notice)
    failed = sum(n for status, n in reminder_rows.items() if status != "sent")
    failed += sum(n for status, n in notice_rows.items() if status != "sent")
    print(
        f"Reminder dispatch: {WORKERS} Celery workers (prefork, concurrency {CONCURRENCY} each) on Redis "
        f"({REDIS_URL}), {database}, SMTP to aiosmtpd in-process; two dispatch_reminders every "
        f"{DISPATCH_EVERY:g} s; {os.cpu_count()} CPUs, load average {load}"
    )
    print(f"reminders        {len(expected):>8}")
    print(f"time taken (s)   {seconds:>8.1f}" + ("" if finished else f"  (TIMED OUT after {TIMEOUT:g} s)"))
    print(f"rate (per s)     {mailbox.total / seconds if seconds else 0:>8.1f}")
    print(f"emails received  {mailbox.total:>8}")
    print(f"duplicates       {duplicates:>8}")
    print(f"misses           {misses:>8}")
    print(f"unexpected       {unexpected:>8}" + (f"  e.g. {mailbox.odd[:3]}" if mailbox.odd else ""))
    print(f"failed rows      {failed:>8}  (reminders {reminder_rows}, notices {notice_rows})")
    print(f"worker log errors {len(errors):>7}" + "".join(f"\n  {line}" for line in errors[:10]))
    ok = finished and duplicates == 0 and misses == 0 and unexpected == 0
    print("target: 0 duplicates, 0 misses: " + ("ok" if ok else "MISSED"))
    return ok


def main() -> int:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise SystemExit(f"bench-reminders needs Redis at {REDIS_URL} (set REDIS_URL): {error}") from None
    from aiosmtpd.controller import Controller

    with tempfile.TemporaryDirectory(prefix="hearth-bench-reminders-") as var_dir:
        database = bench_database()
        mailbox = Mailbox()
        smtp_port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        workers: list[Worker] = []
        queue = f"hearth-bench-{secrets.token_hex(6)}"
        try:
            env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "EMAIL_FILE_PATH")}
            env.update(
                DJANGO_SETTINGS_MODULE="config.settings",
                VAR_DIR=var_dir,
                # As in production: no query log, no debug cursor wrappers.
                DEBUG="0",
                SECRET_KEY=secrets.token_urlsafe(50),
                ALLOWED_HOSTS="127.0.0.1,localhost",
                REDIS_URL=REDIS_URL,
                EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
                CELERY_TASK_ALWAYS_EAGER="0",
                LOG_LEVEL="WARNING",
                PYTHONUNBUFFERED="1",
            )
            if database.url:
                env["DATABASE_URL"] = database.url
            log(f"migrating {database.describe()} ...")
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            os.environ.clear()
            os.environ.update(env)
            import django

            django.setup()
            from django.db import connections

            from config.celery import app

            app.conf.task_default_queue = queue
            log(f"creating {GROUPS * MEMBERS * MEETINGS} due reminders ...")
            expected = create_reminders()
            connections.close_all()
            controller.start()
            workers = [Worker(f"bench-worker-{n}", queue, env, var_dir) for n in range(WORKERS)]
            wait_until_ready(workers)
            log("dispatching ...")
            load_before = os.getloadavg()[0]
            seconds, finished = run(expected, mailbox, workers)
            load = f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}"
            time.sleep(SETTLE_SECONDS)
            errors = [line for worker in workers for line in worker.errors()]
            ok = report(expected, mailbox, seconds, finished, database.describe(), errors, load)
            return 0 if ok else 1
        finally:
            for worker in workers:
                worker.stop()
            with contextlib.suppress(Exception):
                controller.stop()
            with contextlib.suppress(redis.RedisError):  # whatever is left of this run's queue
                client = redis.Redis.from_url(REDIS_URL)
                keys = [*client.scan_iter(match=f"{queue}*"), *client.scan_iter(match=f"_kombu.binding*.{queue}")]
                if keys:
                    client.delete(*keys)
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
