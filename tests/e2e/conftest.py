"""End-to-end harness: a real ASGI server, a local "exit site" and Debian's Chromium.

- `hearth_server` (session): uvicorn serving config.asgi in a subprocess, on a free port, against
  the pytest-django test database (so browser tests use `transactional_db`: rows a test creates
  are committed, and the server sees them). It waits for /healthz before any test runs and is
  stopped at the end of the session; its output is attached to every failed test.
- `exit_site` (session): a tiny HTTP server on another free port, titled "Weather", that Quick
  exit leads to (Chromium here cannot reach the internet). It records the requests it gets.
- `new_page(**context_options)` / `page`: a page in a new browser context per test, on one
  Chromium per session. Console errors, uncaught page errors and Content Security Policy
  violations are collected; a test whose pages broke the CSP or threw fails (and so does a test
  during which the server logged an error).

Why the event-loop juggling: Playwright's sync API marks its private event loop as this thread's
running loop between calls (playwright/_impl/_greenlets.py, wait_for_future). Left set, Django's
async-safety check refuses every ORM call (SynchronousOnlyOperation) and pytest-asyncio cannot
run its loop, in the browser test and in every later test of the session. So the mark is parked
while no browser test runs, and set back when one starts; during a browser test the ORM is
allowed through DJANGO_ALLOW_ASYNC_UNSAFE (this thread is not really inside a coroutine: the
loop is suspended in a greenlet), and the connections those calls open are closed at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Playwright, WebError, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page as PlaywrightPage

from tests.servers import free_port, process_database_url

E2E_DIR = Path(__file__).resolve().parent
PROJECT_DIR = E2E_DIR.parent.parent

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# From STACK.md: without these, Debian's Chromium keeps trying to reach outside hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
STARTUP_TIMEOUT_SECONDS = 30
ACTION_TIMEOUT_MS = 10_000

EXIT_SITE_TITLE = "Weather"
EXIT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weather</title></head>
<body><h1>Weather</h1><p>Mostly sunny, 21 °C. Light breeze from the west.</p></body></html>
"""


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an e2e test (so `-m "not e2e"` leaves them all out)."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


# --- The exit site ------------------------------------------------------------------------


@dataclass
class ExitSite:
    url: str
    visits: list[dict[str, Any]] = field(default_factory=list)

    def headers_of_visits(self) -> list[dict[str, str]]:
        return [visit["headers"] for visit in self.visits]


class _ExitSiteHandler(BaseHTTPRequestHandler):
    server: _ExitSiteServer

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        self.server.site.visits.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        body = EXIT_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests look at `visits` instead."""


class _ExitSiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site: ExitSite


@pytest.fixture(scope="session")
def exit_site() -> Iterator[ExitSite]:
    server = _ExitSiteServer(("127.0.0.1", 0), _ExitSiteHandler)
    # "localhost", not 127.0.0.1 like Hearth: another site, so Hearth's cookies are not sent to it.
    server.site = ExitSite(url=f"http://localhost:{server.server_address[1]}/weather")
    thread = threading.Thread(target=server.serve_forever, name="e2e-exit-site", daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _forget_exit_site_visits(exit_site: ExitSite) -> None:
    exit_site.visits.clear()


# --- The ASGI server ----------------------------------------------------------------------


@dataclass
class HearthServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    mail_dir: Path

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def output(self, since: int = 0) -> str:
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")


class ServerDidNotStart(Exception):
    pass


def _uvicorn_command() -> list[str]:
    script = Path(sys.executable).with_name("uvicorn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "uvicorn"]


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerDidNotStart(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:500].decode(errors='replace')}"
        except OSError as error:
            last = repr(error)
        time.sleep(0.1)
    raise ServerDidNotStart(f"/healthz did not answer 200 within {STARTUP_TIMEOUT_SECONDS} s (last: {last})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def hearth_server(
    django_db_setup: None,
    django_db_blocker: Any,
    exit_site: ExitSite,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HearthServer]:
    """uvicorn serving Hearth against the test database, until the end of the session.

    Depending on django_db_setup makes the test database exist (migrated) before the server
    starts, and be torn down only after the server has stopped (Postgres cannot drop a
    database that still has connections).
    """
    with django_db_blocker.unblock():
        database_url = process_database_url()
    workdir = tmp_path_factory.mktemp("hearth-server")
    mail_dir = workdir / "mail"
    mail_dir.mkdir()
    log_path = workdir / "server.log"

    env = os.environ.copy()
    for name in ("EMAIL_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    env.update(
        DEBUG="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=database_url,
        CELERY_TASK_ALWAYS_EAGER="1",
        EMAIL_FILE_PATH=str(mail_dir),
        QUICK_EXIT_URL=exit_site.url,
        PYTHONUNBUFFERED="1",
    )
    if settings.REDIS_URL:  # the same Redis as the outer run: cache, channel layer and broker
        env["REDIS_URL"] = settings.REDIS_URL

    attempts = 3  # the free port may be taken between picking it and uvicorn binding it
    for attempt in range(1, attempts + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [*_uvicorn_command(), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--lifespan", "off"]  # Django's ASGI app has no lifespan support
        with log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = HearthServer(url=url, process=process, log_path=log_path, mail_dir=mail_dir)
        problem: ServerDidNotStart | None = None
        try:
            _wait_until_healthy(process, url)
        except ServerDidNotStart as error:
            problem = error
        if problem is None:
            break
        _stop(process)
        output = server.output()
        if attempt < attempts and "address already in use" in output.lower():
            continue
        pytest.fail(f"The Hearth server did not start: {problem}\n--- server output ---\n{output}", pytrace=False)
    try:
        yield server
    finally:
        _stop(server.process)


# --- The browser --------------------------------------------------------------------------


@dataclass
class BrowserSession:
    """Chromium driven by the sync API, with the running-loop mark parked between tests."""

    playwright: Playwright
    browser: Browser
    loop: asyncio.AbstractEventLoop | None

    def resume(self) -> None:
        running = asyncio._get_running_loop()
        if running is not None and running is not self.loop:
            pytest.fail("Browser tests use Playwright's sync API: they must not run inside an asyncio event loop")
        asyncio._set_running_loop(self.loop)

    def park(self) -> None:
        asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def browser_session() -> Iterator[BrowserSession]:
    if asyncio._get_running_loop() is not None:
        pytest.fail("Browser tests use Playwright's sync API: they must not run inside an asyncio event loop")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    # After a sync call, the loop Playwright runs in is the one marked running.
    session = BrowserSession(playwright=playwright, browser=browser, loop=asyncio._get_running_loop())
    session.park()
    try:
        yield session
    finally:
        session.resume()
        try:
            session.browser.close()
        finally:
            playwright.stop()
            session.park()


CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy")


@dataclass
class BrowserLog:
    """What the browser complained about during one test."""

    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        self.contexts.append(context)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.page.url if message.page else "?"
        text = f"{message.text} (page {where})"
        self.console_errors.append(text)
        if any(marker in message.text for marker in CSP_MARKERS):
            self.csp_violations.append(text)

    def _on_web_error(self, error: WebError) -> None:
        where = error.page.url if error.page else "?"
        self.page_errors.append(f"{error.error} (page {where})")

    def drain(self) -> None:
        """A round trip to each open page, so that its earlier console messages have arrived."""
        for context in self.contexts:
            for open_page in context.pages:
                with contextlib.suppress(PlaywrightError):  # navigating or closed: nothing to wait for
                    open_page.evaluate("0")

    def problems(self) -> list[str]:
        return [f"CSP violation: {text}" for text in self.csp_violations] + [
            f"uncaught page error: {text}" for text in self.page_errors
        ]

    def report(self) -> str:
        lines = [f"console error: {text}" for text in self.console_errors]
        lines += [f"uncaught page error: {text}" for text in self.page_errors]
        return "\n".join(lines)


BROWSER_LOG = pytest.StashKey[BrowserLog]()
SERVER_LOG_START = pytest.StashKey[tuple[HearthServer, int]]()
SERVER_ERROR_LINE = re.compile(r"^.*\b(ERROR|CRITICAL)\b.*$|^Traceback", re.MULTILINE)


@pytest.fixture
def new_page(
    browser_session: BrowserSession,
    hearth_server: HearthServer,
    transactional_db: None,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., PlaywrightPage]]:
    """Open a page in a new browser context: `new_page(timezone_id="America/Chicago")`.

    Relative URLs go to the Hearth server. Each call is a separate browser profile (cookies,
    storage, history); all are closed at the end of the test.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    log = BrowserLog()
    request.node.stash[BROWSER_LOG] = log
    request.node.stash[SERVER_LOG_START] = (hearth_server, hearth_server.log_size())
    browser_session.resume()

    def open_page(**context_options: Any) -> PlaywrightPage:
        options: dict[str, Any] = {"base_url": hearth_server.url, "locale": "en-GB"}
        options.update(context_options)
        context = browser_session.browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        log.watch(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        try:
            for context in log.contexts:
                context.close()
        finally:
            # While the loop is marked running, Django keeps database connections per context,
            # not per thread: ORM calls in the test body got connections of their own. Close
            # them now (pytest-django only closes the thread's), or they outlive the test and
            # Postgres refuses to drop the test database at the end.
            connections.close_all()
            browser_session.park()


@pytest.fixture
def page(new_page: Callable[..., PlaywrightPage]) -> PlaywrightPage:
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a passing browser test whose pages broke the CSP or threw, or whose server logged errors."""
    result = yield
    problems: list[str] = []
    log = item.stash.get(BROWSER_LOG, None)
    if log is not None:
        log.drain()
        problems += log.problems()
    started = item.stash.get(SERVER_LOG_START, None)
    if started is not None:
        server, since = started
        problems += [f"server: {match.group(0)}" for match in SERVER_ERROR_LINE.finditer(server.output(since))]
    if problems:
        pytest.fail("The browser or the server reported problems:\n" + "\n".join(problems), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Show what the browser and the server said during a failed test."""
    report: pytest.TestReport = yield
    if report.failed:
        log = item.stash.get(BROWSER_LOG, None)
        if log is not None and log.report():
            report.sections.append(("browser console", log.report()))
        started = item.stash.get(SERVER_LOG_START, None)
        if started is not None:
            server, since = started
            report.sections.append(("hearth server output", server.output(since) or "(nothing)"))
    return report
