"""Periodic meeting work, run by beat. Each job scans for due work and is safe to repeat."""

from __future__ import annotations

import logging

from celery import shared_task

from meetings import actions, reminders, retention

logger = logging.getLogger(__name__)


@shared_task
def materialise_meetings() -> int:
    """Keep each series' meetings created eight weeks ahead."""
    created = actions.materialise_all()
    if created:
        logger.info("Materialised %d meetings", created)
    return created


@shared_task
def flag_meetings_needing_facilitator() -> int:
    """Tell owners about meetings within 48 hours that have nobody to run them."""
    return actions.flag_meetings_needing_facilitator()


@shared_task
def dispatch_reminders() -> int:
    """Claim the reminders that are due and queue one send task for each (every minute)."""
    token, ids = reminders.claim_due()
    for reminder_id in ids:
        send_reminder.delay(reminder_id, token)
    if ids:
        logger.info("Dispatched %d reminders", len(ids))
    return len(ids)


@shared_task
def send_reminder(reminder_id: int, token: str) -> str:
    """Send one claimed reminder (re-checked first). Its email is retried, if it fails, by
    the notice dispatch with backoff (see lib/outbox.py)."""
    if not isinstance(reminder_id, int) or not isinstance(token, str):
        logger.warning("send_reminder called with bad arguments: %r, %r", reminder_id, token)
        return "bad arguments"
    return reminders.send_reminder(reminder_id, token)


@shared_task
def purge_expired_messages() -> dict[str, int]:
    """Delete room messages older than their group's retention period, in batches (nightly).
    Takes no arguments: each run reads the groups' settings afresh, and a second run at the
    same time only finds less to do (meetings/retention.py)."""
    return retention.purge_expired_messages().as_dict()
