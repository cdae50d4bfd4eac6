"""Reminders end to end: a real Celery worker and beat email them to a real SMTP server.

Like tests/test_celery_processes.py, the worker and beat are subprocesses on the test database
and the run's broker: the filesystem:// broker in the same VAR_DIR on the embedded run, Redis on
the REDIS_URL run (an unreachable Redis fails that run in tests/conftest.py, never skips it).
Beat runs the dispatch jobs every second (DISPATCH_EVERY_SECONDS=1); the worker claims, re-checks
and sends, to an aiosmtpd server this test starts (EMAIL_URL=smtp://127.0.0.1:<port>).

Every task of this test goes through a queue of its own (the app's default queue, set in each
process): a message left in the broker by an earlier run, or a worker someone else started on
the same broker, can neither add an email nor take one of ours.

The people: owen (discreet, Dublin), bob (not discreet, New York) and alice (discreet, London)
are going to a meeting whose one-hour reminder falls due a few seconds after the processes
start; frank said he was going, then left the group; alice and bob were going to a second
meeting that was cancelled; alice is also going to a third, whose reminder is hours away.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import kombu
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Notice, NoticeKind, User
from config.celery import app as celery_app
from groups.actions import access_group, do_leave_group
from groups.models import Membership, SupportGroup
from lib.timefmt import zone
from meetings import actions
from meetings.models import Meeting, Reminder
from tests import servers
from tests.conftest import add_member, make_group
from tests.servers import Mailbox, process_database_url, smtp_server

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Every wait is bounded; a healthy run needs a few seconds beyond LEAD.
WAIT_SECONDS = 60
STOP_SECONDS = 10
# The due reminders fall due this long after the meetings are created: after the worker and
# beat are up, so beat's schedule (not a catch-up at start) sends them.
LEAD = timedelta(seconds=6)
# After everything expected has arrived: this many dispatch runs (one a second) must add nothing.
SETTLE_SECONDS = 3

# Runs one Celery command with the app's default queue (where beat and `.delay()` send, and what
# a worker reads) set to argv[1]; the rest is the usual `celery -A config ...` command line.
LAUNCHER = (
    "import sys\n"
    "from config.celery import app\n"
    "app.conf.task_default_queue = sys.argv[1]\n"
    "sys.exit(app.start(sys.argv[2:]))\n"
)


# --- SMTP ----------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


# --- Processes -----------------------------------------------------------------------------


class Processes(servers.Processes):
    """The worker and beat of one test, on the test's own queue (tests/servers.py: logs,
    waits, always stopped)."""

    def __init__(self, log_dir: Path, queue: str) -> None:
        super().__init__(log_dir, wait_seconds=WAIT_SECONDS, stop_seconds=STOP_SECONDS)
        self.queue = queue

    def celery(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start `celery <args>` on this test's queue, in its own process group."""
        self.start(name, [sys.executable, "-c", LAUNCHER, self.queue, *args], env)


def delete_queue(name: str) -> None:
    """Drop whatever this test left in its queue (best effort: the broker may be gone)."""
    try:
        with celery_app.connection_for_write() as connection:
            queue = kombu.Queue(name, kombu.Exchange(name, type="direct"), routing_key=name)
            bound = queue(connection.default_channel)
            bound.declare()
            bound.purge()
            bound.delete()
        control = (celery_app.conf.broker_transport_options or {}).get("control_folder")
        if control:  # the filesystem transport keeps one file per exchange
            (Path(str(control)) / f"{name}.exchange").unlink(missing_ok=True)
    except Exception as error:  # noqa: BLE001 (cleanup must not hide the test's own outcome)
        print(f"could not delete queue {name}: {error}", file=sys.stderr)  # noqa: T201


@pytest.fixture
def processes(transactional_db: None, tmp_path: Path) -> Iterator[Processes]:
    """Real processes run the tasks: no eager mode, and this process sends to the test's queue
    too (the cancellation notices). Stopped before the database is flushed."""
    options = celery_app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            # A worker started with VAR_DIR=settings.VAR_DIR derives exactly these folders.
            assert Path(str(options[key])).is_relative_to(settings.VAR_DIR), options
    queue = f"hearth-test-{uuid.uuid4().hex[:12]}"
    was_eager, default_queue = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    group = Processes(tmp_path / "logs", queue)
    try:
        yield group
    finally:
        group.stop_all()
        celery_app.conf.task_always_eager = was_eager
        celery_app.conf.task_default_queue = default_queue
        delete_queue(queue)


def process_env(smtp_port: int) -> dict[str, str]:
    """A worker's or beat's environment: this process's, on the test database and broker, with
    email to the test's SMTP server and the dispatch jobs every second."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    for key in ("EMAIL_FILE_PATH", "CELERY_TASK_ALWAYS_EAGER", "SESSION_CLEANUP_SECONDS"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        DATABASE_URL=process_database_url(),
        VAR_DIR=str(settings.VAR_DIR),  # the same filesystem broker folders (embedded run)
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        DISPATCH_EVERY_SECONDS="1",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    return env


def start_worker_and_beat(processes: Processes, smtp_port: int, tmp_path: Path) -> None:
    env = process_env(smtp_port)
    processes.celery(
        "worker",
        [
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            f"hearth-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
    )
    processes.celery(
        "beat",
        ["beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "celerybeat-schedule"), "--max-interval", "1"],
        env,
    )


# --- The people and their meetings ---------------------------------------------------------


def person(email: str, **extra: object) -> User:
    """Nobody logs in here: no password, so no slow hashing (real hashers in process tests)."""
    return User.objects.create_user(email=email, password=None, **extra)


def meeting(group: SupportGroup, owner: User, title: str, starts: datetime, facilitator: Membership) -> Meeting:
    local = starts.astimezone(zone(group.timezone))
    return actions.do_create_meeting(
        access_group(owner, group.slug),
        title=title,
        day=local.date(),
        at=local.time(),
        duration_minutes=60,
        capacity=12,
        facilitator=facilitator,
        backup=None,
    )


def decoded(message: EmailMessage) -> str:
    """Sender, subject and every text part, decoded (a word cannot hide in an encoding)."""
    parts = [str(message["From"]), str(message["Subject"])]
    parts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return "\n".join(parts)


def hh_mm(moment: datetime, timezone_name: str) -> str:
    return moment.astimezone(zone(timezone_name)).strftime("%H:%M")


def test_due_reminders_reach_smtp_once_and_only_for_who_is_still_going(
    processes: Processes, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, smtp_port = smtp
    owen = person("owen@example.com", timezone="Europe/Dublin")
    bob = person("bob@example.com", timezone="America/New_York", discreet_notifications=False)
    alice = person("alice@example.com", timezone="Europe/London")
    frank = person("frank@example.com", timezone="Europe/London", discreet_notifications=False)
    group = make_group()
    owner = add_member(group, owen, "Steady Lantern", role="owner")
    facilitator = add_member(group, bob, "Calm Heron", role="facilitator")
    member = add_member(group, alice, "Quiet Harbor")
    leaver = add_member(group, frank, "Open Meadow")

    # The one-hour reminders of the first two meetings fall due LEAD from now.
    soon = timezone.now() + timedelta(hours=1) + LEAD
    share = meeting(group, owen, "Evening share", soon, facilitator)
    check_in = meeting(group, owen, "Morning check-in", soon, facilitator)
    later = meeting(group, owen, "Weekend circle", soon + timedelta(hours=2), facilitator)
    for membership in (owner, facilitator, member, leaver):
        actions.do_rsvp(membership, share, going=True)
    for membership in (facilitator, member):
        actions.do_rsvp(membership, check_in, going=True)
    actions.do_rsvp(member, later, going=True)
    do_leave_group(Membership.objects.get(pk=leaver.pk))
    # Tells alice and bob by email (kind "meeting"), through the worker.
    actions.do_cancel_meeting(access_group(owen, group.slug), check_in, "The room is not available")

    assert Reminder.objects.filter(meeting=share, kind="1h", status="pending").count() == 4
    assert not Reminder.objects.filter(meeting=check_in).exists()  # cancelling removed them
    assert list(Reminder.objects.filter(meeting=later).values_list("kind", flat=True)) == ["1h"]

    start_worker_and_beat(processes, smtp_port, tmp_path)
    reminders = {
        ("owen@example.com", f"Reminder: appointment at {hh_mm(share.starts_at, owen.timezone)}"): 1,
        ("alice@example.com", f"Reminder: appointment at {hh_mm(share.starts_at, alice.timezone)}"): 1,
        ("bob@example.com", f"Reminder: Evening share at {hh_mm(share.starts_at, bob.timezone)}"): 1,
    }

    def everything_arrived() -> bool:
        counts = mailbox.count()
        cancellations = [rcpt for (rcpt, subject) in counts if not subject.startswith("Reminder")]
        return all(counts[key] >= 1 for key in reminders) and len(cancellations) >= 2

    processes.wait_for(everything_arrived, "three reminder emails and two cancellation emails")
    time.sleep(SETTLE_SECONDS)  # a duplicate, or a reminder that should not go, would land now
    processes.check_running()

    counts = mailbox.count()
    assert {key: n for key, n in counts.items() if key[1].startswith("Reminder")} == reminders, processes.logs()
    # Besides the reminders, only the cancellation of the second meeting, once each.
    others = sorted(key for key, n in counts.items() if not key[1].startswith("Reminder") for _ in range(n))
    assert len(others) == 2, others
    assert others[0] == ("alice@example.com", "Your appointment has changed")  # discreet: names nothing
    assert others[1][0] == "bob@example.com"
    assert others[1][1].startswith("Morning check-in on ") and others[1][1].endswith(" is cancelled."), others
    assert "frank@example.com" not in {rcpt for rcpt, _subject in counts}

    # The rows agree: sent once, the leaver's skipped, the later one still waiting.
    statuses = dict(Reminder.objects.filter(meeting=share).values_list("membership__user__email", "status"))
    assert statuses == {
        "owen@example.com": "sent",
        "bob@example.com": "sent",
        "alice@example.com": "sent",
        "frank@example.com": "skipped",
    }
    assert list(Reminder.objects.filter(meeting=later).values_list("status", flat=True)) == ["pending"]
    notices = Counter(Notice.objects.values_list("user__email", "kind", "status"))
    assert notices == {
        ("owen@example.com", NoticeKind.REMINDER, "sent"): 1,
        ("bob@example.com", NoticeKind.REMINDER, "sent"): 1,
        ("alice@example.com", NoticeKind.REMINDER, "sent"): 1,
        ("bob@example.com", NoticeKind.MEETING, "sent"): 1,
        ("alice@example.com", NoticeKind.MEETING, "sent"): 1,
    }

    # What each reminder email is made of.
    by_recipient = {item.recipients[0]: item.message for item in mailbox.received() if "Reminder" in item.subject}
    for address, message in by_recipient.items():
        assert message["To"] == address
        # Folded onto a second line (the link is long): unfolded, it keeps the fold's space.
        unsubscribe = str(message["List-Unsubscribe"]).strip()
        assert unsubscribe.startswith("<http://localhost:8000/accounts/unsubscribe/"), unsubscribe
        assert unsubscribe.endswith("/>"), unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Auto-Submitted"] == "auto-generated"
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert plain is not None and html is not None, message.as_string()
        assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
        notice = Notice.objects.get(user__email=address, kind=NoticeKind.REMINDER)
        assert f"/accounts/notices/{notice.public_id}/" in plain.get_content()
    discreet = decoded(by_recipient["alice@example.com"]).casefold()
    for word in ("Tuesday Circle", "tuesday-circle", "Evening share", "Quiet Harbor", "trauma"):
        assert word.casefold() not in discreet, word
    assert "Tuesday Circle" in decoded(by_recipient["bob@example.com"])
