"""The system's state on the staff console: each check says ok or problem, in plain words.

- the `/healthz` checks (lib.health): database, cache, task broker, channel layer;
- the Celery queue's length, read from the broker itself;
- the last beat run, from the heartbeat job beat queues every minute (console.tasks);
- open room sockets per ASGI process (lib.open_sockets), beside the database's presence rows.

Every check is bounded by CHECK_TIMEOUT_SECONDS and they all run at once, so a Redis that has
stopped (cache, broker and channel layer all live on it) costs one timeout, and the page still
renders, showing each check that could not be made as a problem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from redis.backoff import NoBackoff
from redis.retry import Retry

from lib import health, open_sockets
from lib.open_sockets import ProcessSockets
from meetings.models import RoomPresence

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2
HEARTBEAT_KEY = "beat:heartbeat"
HEARTBEAT_FILE_NAME = "beat-heartbeat"
# Presence rows are touched every minute (meetings.consumers.PRESENCE_TOUCH_SECONDS): one not
# touched for longer than this belongs to a socket whose server process went away.
PRESENCE_FRESH = timedelta(minutes=3)
# kombu's Redis transport keeps a queue's messages in one list per priority step.
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)


@dataclass
class SystemCheck:
    """One line of the system state: `ok`, a short `summary` and a plain `explanation`."""

    key: str
    label: str
    ok: bool
    summary: str
    explanation: str
    details: list[str] = field(default_factory=list)


# --- The beat heartbeat -------------------------------------------------------------------


def _cache_is_shared() -> bool:
    """Whether every process reads the same cache (Redis). The embedded local-memory cache is
    each process's own: the worker's heartbeat would never reach the web server through it."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _heartbeat_file() -> Path:
    return Path(settings.VAR_DIR) / HEARTBEAT_FILE_NAME


def record_beat(at: datetime | None = None) -> None:
    """Note that the heartbeat job ran now. In the cache when it is shared (no expiry: an old
    value is the point), else in a file under VAR_DIR (one machine, several processes)."""
    at = at or timezone.now()
    if _cache_is_shared():
        cache.set(HEARTBEAT_KEY, at, None)
        return
    path = _heartbeat_file()
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(at.isoformat())
    partial.replace(path)  # atomic: a reader never sees half a timestamp


def last_beat() -> datetime | None:
    """When the heartbeat job last ran (None: never seen). Raises when the store is down."""
    if _cache_is_shared():
        value = cache.get(HEARTBEAT_KEY)
        return value if isinstance(value, datetime) else None
    try:
        return datetime.fromisoformat(_heartbeat_file().read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        logger.warning("The beat heartbeat file %s holds no time", _heartbeat_file())
        return None


def check_beat(now: datetime | None = None) -> SystemCheck:
    now = now or timezone.now()
    label = _("Celery beat")
    stale_after = timedelta(minutes=settings.BEAT_STALE_AFTER_MINUTES)
    try:
        last = last_beat()
    except Exception as error:  # noqa: BLE001 - the store being down is itself what to report
        logger.warning("Could not read the beat heartbeat: %s", error)
        return SystemCheck(
            "beat",
            label,
            False,
            _("Unknown"),
            _(
                "The cache (Redis) did not answer, so the time of the last beat run cannot be read. "
                "While Redis is down, beat cannot queue jobs either."
            ),
        )
    if last is None:
        return SystemCheck(
            "beat",
            label,
            False,
            _("Never seen"),
            _(
                "The heartbeat job, which beat queues every minute, has never run. Beat may not be "
                "started, or no worker is taking jobs. Run exactly one beat (docs/operations.md)."
            ),
        )
    age = now - last
    minutes = max(0, int(age.total_seconds() // 60))
    if age > stale_after:
        return SystemCheck(
            "beat",
            label,
            False,
            ngettext("Beat has not run for %(minutes)d minute", "Beat has not run for %(minutes)d minutes", minutes)
            % {"minutes": minutes},
            _(
                "The heartbeat job, which beat queues every minute, last ran at %(time)s. Beat may be "
                "stopped, or no worker is taking jobs (see the queue length): reminders, notice emails "
                "and clean-ups are not running."
            )
            % {"time": timezone.localtime(last).strftime("%Y-%m-%d %H:%M:%S %Z")},
        )
    if minutes < 1:
        summary = _("Ran less than a minute ago")
    else:
        summary = ngettext("Ran %(minutes)d minute ago", "Ran %(minutes)d minutes ago", minutes) % {"minutes": minutes}
    return SystemCheck(
        "beat",
        label,
        True,
        summary,
        ngettext(
            "Beat queues the periodic jobs; it is a problem when the heartbeat is more than %(limit)d minute old.",
            "Beat queues the periodic jobs; it is a problem when the heartbeat is more than %(limit)d minutes old.",
            settings.BEAT_STALE_AFTER_MINUTES,
        )
        % {"limit": settings.BEAT_STALE_AFTER_MINUTES},
    )


# --- The Celery queue ---------------------------------------------------------------------


def queue_length() -> int:
    """Messages waiting in the default Celery queue, read from the broker (blocking, bounded)."""
    from config.celery import app

    queue = app.conf.task_default_queue or "celery"
    url = str(app.conf.broker_url or "")
    if url.startswith("filesystem"):
        folder = Path(str((app.conf.broker_transport_options or {})["data_folder_in"]))
        suffix = f".{queue}.msg"
        # The transport names each message "<time>_<uuid>.<queue>.msg".
        return sum(1 for name in os.listdir(folder) if name.partition(".")[2] == suffix[1:])
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(
            url,
            socket_timeout=CHECK_TIMEOUT_SECONDS,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            with client.pipeline(transaction=False) as pipe:
                for step in REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{queue}{REDIS_PRIORITY_SEPARATOR}{step}" if step else queue)
                return sum(pipe.execute())
        finally:
            client.close()
    raise RuntimeError(f"cannot read the queue length of a {url.partition(':')[0]} broker")


def check_queue() -> SystemCheck:
    label = _("Task queue")
    limit = settings.QUEUE_LENGTH_ALERT
    try:
        length = queue_length()
    except Exception as error:  # noqa: BLE001 - any failure means "unknown", itself a problem
        logger.warning("Could not read the Celery queue length: %s", error)
        return SystemCheck(
            "queue",
            label,
            False,
            _("Unknown"),
            _(
                "The broker did not answer (%(error)s), so nobody can tell how many jobs wait. "
                "Emails and reminders are not being queued while it is down."
            )
            % {"error": type(error).__name__},
        )
    summary = ngettext("%(count)d job waiting", "%(count)d jobs waiting", length) % {"count": length}
    if length > limit:
        return SystemCheck(
            "queue",
            label,
            False,
            summary,
            _(
                "More than %(limit)d jobs are waiting: the workers cannot keep up, or none is running. "
                "A burst just after reminders are dispatched is normal; a queue that stays long is not."
            )
            % {"limit": limit},
        )
    return SystemCheck(
        "queue",
        label,
        True,
        summary,
        _("Jobs waiting for a worker; it is a problem above %(limit)d.") % {"limit": limit},
    )


# --- Open room sockets --------------------------------------------------------------------


@dataclass
class PresenceCounts:
    fresh: int
    stale: int


def presence_counts(now: datetime | None = None) -> PresenceCounts:
    """Room presence rows (one per open socket), split by whether they were touched lately."""
    from django.db.models import Count, Q

    cutoff = (now or timezone.now()) - PRESENCE_FRESH
    counts = RoomPresence.objects.aggregate(
        fresh=Count("pk", filter=Q(seen_at__gte=cutoff)), stale=Count("pk", filter=Q(seen_at__lt=cutoff))
    )
    return PresenceCounts(counts["fresh"], counts["stale"])


def check_sockets(processes: list[ProcessSockets] | Exception, presence: PresenceCounts) -> SystemCheck:
    label = _("Open room sockets")
    in_database = ngettext(
        "The database records %(count)d open room socket.",
        "The database records %(count)d open room sockets.",
        presence.fresh,
    ) % {"count": presence.fresh}
    if isinstance(processes, Exception):
        return SystemCheck(
            "sockets",
            label,
            False,
            _("Unknown per process"),
            _("The cache (Redis) did not answer, so the servers' own counts cannot be read.") + " " + in_database,
        )
    reported = sum(process.count for process in processes)
    if processes:
        summary = ngettext(
            "%(count)d open, in %(processes)d server process",
            "%(count)d open, in %(processes)d server processes",
            len(processes),
        ) % {"count": reported, "processes": len(processes)}
    else:
        summary = _("None open")
    notes = [
        _("A server process is listed while it holds room sockets, and for 90 seconds after."),
        in_database,
    ]
    if reported != presence.fresh:
        notes.append(
            _(
                "The two figures differ while sockets open and close; a difference that lasts means a "
                "server process stopped reporting."
            )
        )
    if presence.stale:
        notes.append(
            ngettext(
                "%(count)d presence row has not been touched for over 3 minutes: its server process went "
                "away without closing it.",
                "%(count)d presence rows have not been touched for over 3 minutes: their server process "
                "went away without closing them.",
                presence.stale,
            )
            % {"count": presence.stale}
        )
    return SystemCheck(
        "sockets",
        label,
        True,
        summary,
        " ".join(notes),
        details=[
            ngettext(
                "%(process)s: %(count)d socket, reported %(time)s",
                "%(process)s: %(count)d sockets, reported %(time)s",
                process.count,
            )
            % {
                "process": process.process,
                "count": process.count,
                "time": timezone.localtime(process.updated_at).strftime("%H:%M:%S"),
            }
            for process in processes
        ],
    )


# --- The /healthz checks ------------------------------------------------------------------

HEALTH_LABELS = {
    "database": (gettext_lazy("Database"), gettext_lazy("Every page and the rooms' messages depend on it.")),
    "cache": (
        gettext_lazy("Cache"),
        gettext_lazy("Throttles, the beat heartbeat and the socket counts below live in it."),
    ),
    "broker": (
        gettext_lazy("Task broker"),
        gettext_lazy("Emails, reminders and periodic jobs are queued through it."),
    ),
    "channel_layer": (
        gettext_lazy("Channel layer"),
        gettext_lazy("Live rooms pass every message between people and server processes through it."),
    ),
}


def health_checks(results: dict[str, str]) -> list[SystemCheck]:
    """The /healthz results (lib.health.run_checks) as console lines."""
    checks = []
    for key, state in results.items():
        label, role = HEALTH_LABELS.get(key, (key, ""))
        if state == "ok":
            checks.append(SystemCheck(key, str(label), True, _("Answering"), str(role)))
        else:
            kind = re.sub(r"^error:\s*", "", state)
            checks.append(
                SystemCheck(
                    key,
                    str(label),
                    False,
                    _("Not answering"),
                    _("%(role)s It failed its check (%(error)s).") % {"role": role, "error": kind},
                )
            )
    return checks


# --- All at once --------------------------------------------------------------------------


async def _bounded(call: Callable[[], Awaitable[Any]], seconds: float) -> Any:
    """The call's result, or the exception it raised (a timeout included)."""
    try:
        return await asyncio.wait_for(call(), seconds)
    except Exception as error:  # noqa: BLE001 - the caller reports it
        return error


async def system_state() -> list[SystemCheck]:
    """Every check, run side by side; problems first, in a stable order."""
    # Network clients, safe off the request's thread: they run beside it, each in a thread of its own.
    healthz, queue, beat, processes, presence = await asyncio.gather(
        _bounded(health.run_checks, health.TIMEOUT_SECONDS + 1),
        _bounded(sync_to_async(check_queue, thread_sensitive=False), CHECK_TIMEOUT_SECONDS + 1),
        _bounded(sync_to_async(check_beat, thread_sensitive=False), CHECK_TIMEOUT_SECONDS + 1),
        _bounded(sync_to_async(open_sockets.live_processes, thread_sensitive=False), CHECK_TIMEOUT_SECONDS + 1),
        sync_to_async(presence_counts)(),
    )
    checks: list[SystemCheck] = []
    if isinstance(healthz, Exception):
        healthz = dict.fromkeys(HEALTH_LABELS, f"error: {type(healthz).__name__}")
    checks.extend(health_checks(healthz))
    checks.append(queue if isinstance(queue, SystemCheck) else _timed_out("queue", _("Task queue"), queue))
    checks.append(beat if isinstance(beat, SystemCheck) else _timed_out("beat", _("Celery beat"), beat))
    checks.append(check_sockets(processes, presence))
    return sorted(checks, key=lambda check: check.ok)  # stable: problems first, order kept


def _timed_out(key: str, label: str, error: Exception) -> SystemCheck:
    return SystemCheck(
        key,
        label,
        False,
        _("Unknown"),
        _("The check did not finish in time (%(error)s): Redis or the broker is not answering.")
        % {"error": type(error).__name__},
    )
