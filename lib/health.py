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
    """Send a message to a fresh channel and read it back."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel("healthz.")
    try:
        await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), TIMEOUT_SECONDS)
        message = await asyncio.wait_for(layer.receive(channel), TIMEOUT_SECONDS)
    finally:
        await _forget_channel(layer, channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned an unexpected message")


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
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)


SYNC_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


async def run_checks() -> dict[str, str]:
    """Run every check; the result maps each dependency to "ok" or "error: …"."""
    results = {}
    for name, check in SYNC_CHECKS.items():
        results[name] = await _outcome(name, sync_to_async(check))
    results["channel_layer"] = await _outcome("channel_layer", check_channel_layer)
    return results


async def _outcome(name: str, check: Callable[[], Awaitable[None]]) -> str:
    try:
        await check()
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        logger.warning("healthz: %s is down: %s", name, error)
        return f"error: {type(error).__name__}"
    return "ok"
