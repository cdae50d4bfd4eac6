"""Real Celery processes (a worker, and beat) against the test database and the test broker.

The rest of the suite runs tasks eagerly. These tests start `celery -A config worker` (and
`beat`) as subprocesses whose environment points at the same test database and the same broker
as this process: the same VAR_DIR, so the same filesystem broker folders, on the embedded run;
REDIS_URL passed through on the Redis run. Every subprocess is stopped by the fixture, and its
log is part of any failure message.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from accounts.tasks import send_password_reset_email
from config.celery import app as celery_app
from tests import servers
from tests.servers import process_database_url

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Each wait is bounded; a healthy run needs a few seconds (worker start-up is most of it).
WAIT_SECONDS = 45
STOP_SECONDS = 10
MAIL_SEPARATOR = b"-" * 79 + b"\n"  # what Django's file email backend writes after each message


class Processes(servers.Processes):
    """The worker and beat of one test (tests/servers.py: logs, waits, always stopped)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir, wait_seconds=WAIT_SECONDS, stop_seconds=STOP_SECONDS)

    def celery(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `celery -A config <args>` in its own process group."""
        return self.start(name, [sys.executable, "-m", "celery", "-A", "config", *args], env)


def process_env(mail_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker or beat: this process's, pointed at the test database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    for key in ("EMAIL_URL", "CELERY_TASK_ALWAYS_EAGER", "SESSION_CLEANUP_SECONDS"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        DATABASE_URL=process_database_url(),
        # Same VAR_DIR: the same filesystem broker folders as this process (embedded run).
        VAR_DIR=str(settings.VAR_DIR),
        EMAIL_FILE_PATH=str(mail_dir),
        **extra,
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    return env


def worker_args(*queues: str) -> list[str]:
    args = [
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--hostname",
        f"hearth-test-{uuid.uuid4().hex[:8]}@%h",
        # No other workers to sync with: start faster.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if queues:
        args += ["--queues", ",".join(queues)]
    return args


@pytest.fixture
def processes(transactional_db: None, tmp_path: Path) -> Iterator[Processes]:
    """Real workers run the tasks: no eager mode. Stopped before the database is flushed."""
    options = celery_app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            # A worker started with VAR_DIR=settings.VAR_DIR derives exactly these folders.
            assert Path(str(options[key])).is_relative_to(settings.VAR_DIR), options
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    group = Processes(tmp_path / "logs")
    try:
        yield group
    finally:
        group.stop_all()
        celery_app.conf.task_always_eager = was_eager


@pytest.fixture
def private_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """Route the reset email task to a queue only this test's worker reads.

    Neither a message left in the broker by an earlier run nor a worker started by someone
    else on the same Redis database can then add an email or take ours.
    """
    name = f"hearth-test-{uuid.uuid4().hex[:12]}"
    task = celery_app.tasks[send_password_reset_email.name]
    monkeypatch.setattr(task, "queue", name, raising=False)  # read by Task.apply_async
    monkeypatch.setattr(task, "_exec_options", None)  # Celery caches the routing options per task
    return name


def written_messages(mail_dir: Path) -> list[EmailMessage]:
    """Every complete message the file email backend has written to `mail_dir`."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR)[:-1]:  # the last piece is unfinished
            messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
    return messages  # type: ignore[return-value]


def test_password_reset_email_is_sent_by_a_real_worker(
    processes: Processes, private_queue: str, client: Client, alice: User, tmp_path: Path
) -> None:
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    processes.celery("worker", worker_args(private_queue), process_env(mail_dir))

    response = client.post(reverse("accounts:password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")

    processes.wait_for(lambda: written_messages(mail_dir), "the password reset email")
    time.sleep(1)  # a duplicate delivery would have landed by now
    messages = written_messages(mail_dir)
    assert len(messages) == 1, [message["Subject"] for message in messages]
    message = messages[0]
    assert message["Subject"] == "Your password reset link"
    assert message["To"] == "alice@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    link = re.search(r"http://testserver/accounts/password/reset/(?P<uid>[\w-]+)/(?P<token>[\w-]+)/", text)
    assert link is not None, text
    assert link["uid"] == urlsafe_base64_encode(force_bytes(alice.pk))
    assert link.group(0).endswith(reverse("accounts:password_reset_confirm", args=[link["uid"], link["token"]]))
    assert default_token_generator.check_token(alice, link["token"]), "the worker made a token that does not verify"
    processes.check_running()


def test_beat_and_worker_clear_expired_sessions(processes: Processes, tmp_path: Path) -> None:
    now = timezone.now()
    expired = Session.objects.create(
        session_key=uuid.uuid4().hex, session_data="e30:", expire_date=now - timedelta(minutes=5)
    )
    current = Session.objects.create(
        session_key=uuid.uuid4().hex, session_data="e30:", expire_date=now + timedelta(days=1)
    )
    env = process_env(tmp_path / "mail", SESSION_CLEANUP_SECONDS="1")
    processes.celery("worker", worker_args(), env)
    processes.celery(
        "beat",
        ["beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "celerybeat-schedule"), "--max-interval", "1"],
        env,
    )

    processes.wait_for(lambda: not Session.objects.filter(pk=expired.pk).exists(), "the expired session being deleted")
    assert Session.objects.filter(pk=current.pk).exists(), processes.logs()
    processes.check_running()
