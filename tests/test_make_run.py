"""`make run`'s process script, as a person uses it: the site comes up, a task enqueued by a
request runs in its worker, and Ctrl-C stops every process it started."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import answers, free_port, processes_in_group

pytestmark = pytest.mark.processes

ROOT = Path(settings.BASE_DIR)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_script_serves_processes_tasks_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    # `make run` runs on the embedded defaults, whatever this test run uses.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"DEBUG": "1", "VAR_DIR": str(tmp_path), "PORT": str(port)})
    python = str(ROOT / ".venv/bin/python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([python, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)

    log = (tmp_path / "run.log").open("w")
    runner = subprocess.Popen(
        ["bash", "scripts/run-all.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(base + "/healthz"), 60, "the ASGI server")
        wait_for(lambda: "ready." in (tmp_path / "run.log").read_text(), 60, "the Celery worker")
        wait_for(lambda: "Demo logins" in (tmp_path / "run.log").read_text(), 30, "the address and demo logins")
        assert len(processes_in_group(runner.pid)) >= 4  # the script, the server, the worker, beat

        # A password reset: the request enqueues the email task, the worker sends it.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = opener.open(base + "/accounts/password/reset/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "email": "alice@example.com"}).encode()
        request = urllib.request.Request(base + "/accounts/password/reset/", data=data, headers={"Referer": base + "/"})
        assert "Check your email" in opener.open(request, timeout=10).read().decode()
        mail = tmp_path / "mail"
        wait_for(lambda: mail.is_dir() and any(mail.iterdir()), 60, "the reset email from the worker")
        assert "Subject: Your password reset link" in next(mail.iterdir()).read_text()
    finally:
        # Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
        os.killpg(runner.pid, signal.SIGINT)
        try:
            runner.wait(timeout=30)
        finally:
            log.close()
    wait_for(lambda: not processes_in_group(runner.pid), 20, "every process to stop")
    output = (tmp_path / "run.log").read_text()
    assert "Stopped." in output
