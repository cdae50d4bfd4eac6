"""Periodic jobs of the console."""

from __future__ import annotations

from celery import shared_task

from console.system import record_beat


@shared_task
def beat_heartbeat() -> None:
    """Beat queues this every minute; the staff console reports a problem when its last run is
    older than BEAT_STALE_AFTER_MINUTES (beat stopped, or no worker taking jobs). Running it
    twice, or late, only records a later time."""
    record_beat()
