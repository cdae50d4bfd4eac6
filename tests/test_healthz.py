"""/healthz: 200 when every dependency answers, 503 naming what is down, and never a long hang."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from channels.layers import get_channel_layer
from django.db import connections
from django.http import HttpResponse
from django.test import Client, override_settings

from config.celery import app as celery_app
from lib.health import check_channel_layer
from tests.servers import free_port

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "cache": "ok", "broker": "ok", "channel_layer": "ok"}
# A load balancer's probe gives up after a few seconds: a dead dependency must be reported sooner.
DOWN_SECONDS = 10


def get_healthz(client: Client, unblock: Callable[[], None] | None = None) -> tuple[HttpResponse, float]:
    """GET /healthz from a thread, so that a hang fails this test instead of stalling the run.

    `unblock` frees whatever the request is stuck on before the test fails.
    """
    outcome: dict[str, object] = {}

    def fetch() -> None:
        try:
            outcome["response"] = client.get("/healthz")
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = error
        finally:
            connections.close_all()  # this thread's own database connection

    started = time.monotonic()
    thread = threading.Thread(target=fetch, name="healthz-request", daemon=True)
    thread.start()
    thread.join(DOWN_SECONDS)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        if unblock is not None:
            unblock()
        thread.join(30)
        pytest.fail(f"/healthz gave no answer within {DOWN_SECONDS} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["response"], elapsed  # type: ignore[return-value]


def test_healthz_is_ok_on_the_current_configuration(client: Client) -> None:
    response, _elapsed = get_healthz(client)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": ALL_OK}
    assert "no-store" in response["Cache-Control"]


def test_healthz_reports_a_missing_broker_folder(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not str(celery_app.conf.broker_url).startswith("filesystem"):
        pytest.skip("only the embedded filesystem broker has folders")
    missing = tmp_path / "no-broker"
    monkeypatch.setitem(
        celery_app.conf,  # a mapping: setitem restores it properly, setattr would not
        "broker_transport_options",
        {
            "data_folder_in": str(missing / "queue"),
            "data_folder_out": str(missing / "queue"),
            "control_folder": str(missing / "control"),
        },
    )

    response, _elapsed = get_healthz(client)

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"].startswith("error: ")
    assert body["checks"] == {**ALL_OK, "broker": body["checks"]["broker"]}
    assert not missing.exists(), "a health check must not create the folders it checks"


# --- A private Redis that can die ------------------------------------------------------


class PrivateRedis:
    """A redis-server of one test's own (never the shared one)."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # works on a stopped (frozen) server too
            self.process.wait()

    def freeze(self) -> None:
        """Still accepting connections (the kernel does that), never answering."""
        self.process.send_signal(signal.SIGSTOP)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    log_path = tmp_path / "redis.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    private = PrivateRedis(process, f"redis://127.0.0.1:{port}/0")
    try:
        with redis.Redis.from_url(private.url, socket_connect_timeout=1) as probe:
            give_up = time.monotonic() + 10
            while True:
                try:
                    probe.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > give_up:
                        pytest.fail(f"redis-server did not start:\n{log_path.read_text()}")
                    time.sleep(0.05)
        yield private
    finally:
        private.kill()


def channel_layer_settings(url: str) -> dict[str, object]:
    """The channel layer config/settings.py builds for REDIS_URL."""
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_timeout": None, "max_connections": 1000}],
                "prefix": "hearth",
            },
        }
    }


@contextmanager
def redis_services_on(url: str) -> Iterator[None]:
    """Cache, channel layer and broker on `url`, configured as config/settings.py does for REDIS_URL.

    override_settings sends setting_changed, on which Django closes and forgets its cache
    connections and channels forgets its layers, both on entry and on exit. Everything is
    restored when the block ends, not by the shared `settings`/`monkeypatch` fixtures: those
    are torn down after conftest's cache.clear(), which must not reach a dead private Redis.
    """
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "hearth",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    with (
        override_settings(CACHES=caches, CHANNEL_LAYERS=channel_layer_settings(url)),
        pytest.MonkeyPatch.context() as mp,
    ):
        # Celery reads its own configuration; it is a mapping (setattr would not restore it).
        mp.setitem(celery_app.conf, "broker_url", url)
        mp.setitem(celery_app.conf, "broker_transport_options", {"visibility_timeout": 3600})
        yield


def assert_redis_services_down(response: HttpResponse, elapsed: float) -> None:
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    for name in ("cache", "channel_layer", "broker"):
        assert body["checks"][name].startswith("error: "), body
    assert elapsed < DOWN_SECONDS, f"/healthz took {elapsed:.1f} s to report Redis down"


@pytest.fixture
def redis_services(private_redis: PrivateRedis, client: Client) -> Iterator[PrivateRedis]:
    """Cache, channel layer and broker on the private Redis, with /healthz seeing it healthy."""
    with redis_services_on(private_redis.url):
        assert type(get_channel_layer()).__name__ == "RedisPubSubChannelLayer"
        check_private_redis_serves_everything(client, private_redis)
        yield private_redis


def check_private_redis_serves_everything(client: Client, private_redis: PrivateRedis) -> None:
    response, _elapsed = get_healthz(client)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": ALL_OK}
    # All three really went to the private server, not to a shared one.
    with redis.Redis.from_url(private_redis.url) as private:
        commands = private.info("commandstats")
    assert {"cmdstat_set", "cmdstat_get", "cmdstat_publish", "cmdstat_subscribe", "cmdstat_ping"} <= set(commands)


def test_healthz_reports_redis_dying(client: Client, redis_services: PrivateRedis) -> None:
    redis_services.kill()

    response, elapsed = get_healthz(client)

    assert_redis_services_down(response, elapsed)


def test_healthz_reports_an_unresponsive_redis_without_hanging(client: Client, redis_services: PrivateRedis) -> None:
    redis_services.freeze()

    response, elapsed = get_healthz(client, unblock=redis_services.kill)

    assert_redis_services_down(response, elapsed)


@pytest.mark.asyncio
async def test_failed_channel_layer_checks_leave_no_probe_channel_behind(private_redis: PrivateRedis) -> None:
    """An ASGI server keeps one event loop: what a failed check leaves there stays for good."""
    with override_settings(CHANNEL_LAYERS=channel_layer_settings(private_redis.url)):
        layer = get_channel_layer()
        await check_channel_layer()
        private_redis.kill()

        for _attempt in range(3):
            with pytest.raises((redis.RedisError, OSError)):
                await check_channel_layer()

        assert layer._get_layer().channels == {}
