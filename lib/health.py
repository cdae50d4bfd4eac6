"""Dependency checks behind /healthz. Each returns None when healthy, or what went wrong."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    value = cache.get(key)
    cache.delete(key)
    if value != "ok":
        raise RuntimeError("cache did not return the value just stored")


async def check_channel_layer() -> None:
    """Send a message to a fresh channel and read it back; every step is bounded."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    before = _probe_channels(layer)
    channel = None
    try:
        channel = await asyncio.wait_for(layer.new_channel("healthz."), TIMEOUT_SECONDS)
        await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), TIMEOUT_SECONDS)
        message = await asyncio.wait_for(layer.receive(channel), TIMEOUT_SECONDS)
    finally:
        # new_channel registers the channel before it subscribes: when that fails, `channel`
        # stays None but the registration is left behind, once per failed check.
        leftovers = {channel} if channel else _probe_channels(layer) - before
        for leftover in leftovers:
            try:
                await asyncio.wait_for(_forget_channel(layer, leftover), TIMEOUT_SECONDS)
            except Exception as error:  # noqa: BLE001 - report the check's own failure, not this one
                logger.info("healthz: could not drop probe channel %s: %s", leftover, error)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned an unexpected message")


def _probe_channels(layer: BaseChannelLayer) -> set[str]:
    """The probe channels this process holds for the current event loop."""
    if isinstance(layer, InMemoryChannelLayer):
        names = layer.channels
    elif hasattr(layer, "_get_layer"):  # RedisPubSubChannelLayer: one layer per event loop
        names = layer._get_layer().channels
    else:
        return set()
    return {name for name in names if "healthz." in name}


async def _forget_channel(layer: BaseChannelLayer, channel: str) -> None:
    """Drop the probe channel so that repeated checks leak no queue or subscription."""
    if isinstance(layer, InMemoryChannelLayer):
        layer.channels.pop(channel, None)
    elif hasattr(layer, "_get_layer"):  # RedisPubSubChannelLayer keeps one subscription per channel
        loop_layer = layer._get_layer()
        if loop_layer.channels.pop(channel, None) is not None:
            await loop_layer._get_shard(channel).unsubscribe(channel)


def check_broker() -> None:
    from config.celery import app

    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "control_folder"):
        if key in options and not Path(str(options[key])).is_dir():
            raise RuntimeError(f"broker folder {options[key]} is missing")
    # ensure_connection's timeout only bounds its retry loop: without socket timeouts, kombu's
    # Redis transport waits forever for a server that accepts connections but never answers.
    bounded = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}
    with app.connection_for_write(transport_options=bounded) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)


async def run_checks() -> dict[str, str]:
    """Run every check at once; the result maps each dependency to "ok" or "error: …".

    Each check is bounded by TIMEOUT_SECONDS, and they run side by side, so that a Redis that
    has stopped answering costs one timeout, not one per dependency that lives on it.
    """
    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": sync_to_async(check_database),
        # Network clients that are safe off the request's thread, so they can run alongside.
        "cache": sync_to_async(check_cache, thread_sensitive=False),
        "broker": sync_to_async(check_broker, thread_sensitive=False),
        "channel_layer": check_channel_layer,
    }
    outcomes = await asyncio.gather(*(_outcome(name, check) for name, check in checks.items()))
    return dict(zip(checks, outcomes, strict=True))


async def _outcome(name: str, check: Callable[[], Awaitable[None]]) -> str:
    try:
        await check()
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        logger.warning("healthz: %s is down: %s", name, error)
        return f"error: {type(error).__name__}"
    return "ok"
