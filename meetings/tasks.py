"""Periodic meeting work, run by beat. Each job scans for due work and is safe to repeat."""

from __future__ import annotations

import logging
import smtplib

from celery import Task, shared_task

from meetings import actions, reminders

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
    ids = reminders.claim_due()
    for reminder_id in ids:
        send_reminder.delay(reminder_id)
    if ids:
        logger.info("Dispatched %d reminders", len(ids))
    return len(ids)


@shared_task(bind=True, max_retries=reminders.MAX_ATTEMPTS - 1)
def send_reminder(self: Task[[int], str], reminder_id: int) -> str:
    """Send one claimed reminder; on failure retry with backoff, then record it as failed."""
    try:
        return reminders.send_reminder(reminder_id)
    except (OSError, smtplib.SMTPException) as error:
        final = self.request.retries >= (self.max_retries or 0)
        reminders.record_failure(reminder_id, error, final=final)
        if final:
            logger.warning("Reminder %s failed for good: %s", reminder_id, error)
            return "failed"
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error
