"""Periodic meeting work, run by beat. Each job scans for due work and is safe to repeat."""

from __future__ import annotations

import logging

from celery import shared_task

from meetings import actions

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
