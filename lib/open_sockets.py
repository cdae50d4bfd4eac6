"""How many room sockets each ASGI process holds open, for the staff console.

Each process counts its own sockets in memory (`opened` / `closed`, called by the room
consumer on connect and disconnect: an integer change, never I/O) and a background task
publishes the count to the cache under a key of its own, with a time to live:

- at once on the first change, then at most once every MIN_INTERVAL_SECONDS while sockets come
  and go (a burst of reconnects after a restart is one write, not one per socket);
- every REFRESH_SECONDS while the process holds sockets, so its entry never expires while it
  lives. A process that dies stops refreshing, and its entry expires after TTL_SECONDS.

Nothing is written per message. The cache writes run in a worker thread, so a Redis that has
stopped answering never holds up the event loop; they log and give up. An index key lists the
processes that published, so the console can read every entry (the cache cannot list keys).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 5.0
REFRESH_SECONDS = 30.0
TTL_SECONDS = 90
INDEX_KEY = "open-sockets:processes"


@dataclass(frozen=True, order=True)
class ProcessSockets:
    """One ASGI process's last report: `process` is "host:pid"."""

    process: str
    count: int
    updated_at: datetime


class _Census:
    """This process's count and the task that publishes it (one per event loop)."""

    open = 0
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event | None = None


_census = _Census()


def process_id() -> str:
    """This process, as the console names it: host name and process id (read at each call, so a
    forked worker gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_count() -> int:
    """The room sockets this process holds open now."""
    return _census.open


def opened() -> None:
    """A room socket was let in (call from the consumer, inside the event loop)."""
    _census.open += 1
    _wake()


def closed() -> None:
    """A room socket that `opened` counted has gone."""
    _census.open = max(0, _census.open - 1)
    _wake()


def _wake() -> None:
    loop = asyncio.get_running_loop()
    task = _census.task
    # A task of another loop belongs to a loop that has ended (tests run one loop per test).
    if task is None or task.done() or task.get_loop() is not loop or _census.changed is None:
        _census.changed = asyncio.Event()
        _census.task = loop.create_task(_publish_while_open(_census.changed), name="open-sockets-publisher")
    else:
        _census.changed.set()


async def _publish_while_open(changed: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while True:
        changed.clear()
        count = _census.open
        await loop.run_in_executor(None, publish, count)
        if count == 0 and not changed.is_set():
            return  # the entry says 0 until it expires; the next socket starts a new task
        try:
            await asyncio.wait_for(changed.wait(), REFRESH_SECONDS)
        except TimeoutError:
            continue  # nothing changed: refresh the entry before it expires
        await asyncio.sleep(MIN_INTERVAL_SECONDS)  # let a burst of changes settle into one write


def _key(process: str) -> str:
    return f"open-sockets:{process}"


def publish(count: int) -> None:
    """Write this process's count (blocking: run it off the event loop). Never raises."""
    me = process_id()
    try:
        cache.set(_key(me), {"count": count, "updated_at": timezone.now()}, TTL_SECONDS)
        known = cache.get(INDEX_KEY) or []
        if me not in known:
            # Registering is rare (a new process, or the index was lost): drop processes whose
            # entries expired while at it. Two processes registering at the same moment may
            # overwrite each other; the one left out adds itself again at its next refresh.
            alive = cache.get_many([_key(process) for process in known])
            cache.set(INDEX_KEY, [p for p in known if _key(p) in alive] + [me], None)
    except Exception as error:  # noqa: BLE001 - a cache outage must not touch the room sockets
        logger.warning("Could not publish the open room socket count: %s", error)


def live_processes() -> list[ProcessSockets]:
    """Every process whose report has not expired, by name. Raises when the cache is down."""
    known = cache.get(INDEX_KEY) or []
    entries = cache.get_many([_key(process) for process in known])
    return sorted(
        ProcessSockets(process, entry["count"], entry["updated_at"])
        for process in known
        if (entry := entries.get(_key(process)))
    )
