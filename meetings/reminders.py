"""Meeting reminders: rows that follow RSVPs and meetings, a dispatch job that claims what is
due, and a send step that re-checks everything before it emails.

No long-ETA Celery tasks: the beat job scans for due rows every minute (see STACK.md).
Claiming is one conditional UPDATE (`status = pending → claimed`), correct on SQLite and
PostgreSQL alike, so two dispatchers running at once never claim one row twice.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.actions import do_notify
from groups.models import Membership
from lib.email import send_templated_email
from lib.timefmt import show_time, zone
from meetings.models import Meeting, Reminder, Rsvp

logger = logging.getLogger(__name__)

OFFSETS = {Reminder.Kind.DAY_BEFORE: timedelta(hours=24), Reminder.Kind.HOUR_BEFORE: timedelta(hours=1)}
# A claim older than this belongs to a worker that died: the row is claimed again.
STALE_CLAIM = timedelta(minutes=10)
MAX_ATTEMPTS = 5


def sync_reminders(meeting: Meeting, membership: Membership) -> None:
    """Make this member's unsent reminders for this meeting match their RSVP and its time:
    created when going, moved when the meeting moves, removed otherwise."""
    pending = Reminder.objects.filter(
        meeting=meeting, membership=membership, status__in=[Reminder.Status.PENDING, Reminder.Status.CLAIMED]
    )
    going = Rsvp.objects.filter(meeting=meeting, membership=membership, status=Rsvp.Status.GOING).exists()
    now = timezone.now()
    if not going or meeting.is_cancelled or meeting.starts_at <= now or not membership.is_active:
        pending.delete()
        return
    for kind, offset in OFFSETS.items():
        send_at = meeting.starts_at - offset
        existing = Reminder.objects.filter(meeting=meeting, membership=membership, kind=kind).first()
        if existing is None:
            if send_at > now:
                Reminder.objects.create(meeting=meeting, membership=membership, kind=kind, send_at=send_at)
        elif existing.status == Reminder.Status.PENDING and existing.send_at != send_at:
            if send_at > now:
                existing.send_at = send_at
                existing.save(update_fields=["send_at"])
            else:
                existing.delete()  # the meeting moved too close for this one
        elif existing.status in (Reminder.Status.SENT, Reminder.Status.SKIPPED) and send_at > now:
            # Moved later than a reminder already sent: remind again at the new time.
            existing.status = Reminder.Status.PENDING
            existing.send_at = send_at
            existing.claimed_at = existing.sent_at = None
            existing.attempts = 0
            existing.save()


def sync_meeting_reminders(meeting: Meeting) -> None:
    """After a meeting moved or was cancelled: every answer's reminders follow."""
    for rsvp in Rsvp.objects.filter(meeting=meeting).select_related("membership"):
        sync_reminders(meeting, rsvp.membership)
    if meeting.is_cancelled:
        Reminder.objects.filter(meeting=meeting, status=Reminder.Status.PENDING).delete()


def claim_due(now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Claim due reminders (and ones whose claim went stale) and return their ids. Two
    dispatchers running at once get disjoint sets."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    due = Reminder.objects.filter(send_at__lte=now).filter(
        Q(status=Reminder.Status.PENDING) | Q(status=Reminder.Status.CLAIMED, claimed_at__lt=now - STALE_CLAIM)
    )
    ids = list(due.order_by("send_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    Reminder.objects.filter(pk__in=ids).filter(
        Q(status=Reminder.Status.PENDING) | Q(status=Reminder.Status.CLAIMED, claimed_at__lt=now - STALE_CLAIM)
    ).update(status=Reminder.Status.CLAIMED, claimed_at=now, claim_token=token)
    return list(
        Reminder.objects.filter(pk__in=ids, status=Reminder.Status.CLAIMED, claim_token=token).values_list(
            "pk", flat=True
        )
    )


def _still_wanted(reminder: Reminder) -> bool:
    meeting, membership = reminder.meeting, reminder.membership
    return (
        not meeting.is_cancelled
        and meeting.starts_at > timezone.now()
        and membership.is_active
        and membership.user.is_active
        and Rsvp.objects.filter(meeting=meeting, membership=membership, status=Rsvp.Status.GOING).exists()
    )


def send_reminder(reminder_id: int) -> str:
    """Send one claimed reminder, unless it is no longer wanted. Returns what happened.
    Raises on a failed send (the task retries); the row stays claimed meanwhile."""
    reminder = Reminder.objects.select_related("meeting__group", "membership__user").filter(pk=reminder_id).first()
    if reminder is None or reminder.status != Reminder.Status.CLAIMED:
        return "nothing to do"
    if not _still_wanted(reminder):
        Reminder.objects.filter(pk=reminder.pk).update(status=Reminder.Status.SKIPPED)
        return "skipped"
    Reminder.objects.filter(pk=reminder.pk).update(attempts=reminder.attempts + 1)
    user = reminder.membership.user
    meeting = reminder.meeting
    with translation.override(user.language):
        shown = show_time(meeting.starts_at, user.timezone, meeting.group.timezone)
        local = meeting.starts_at.astimezone(zone(user.timezone))
        context = {
            "discreet": user.discreet_notifications,
            "when": shown.local,
            "time": local.strftime("%H:%M"),
            "title": meeting.title,
            "group": meeting.group.name,
            "url": settings.SITE_URL
            + (
                reverse("meetings:mine")
                if user.discreet_notifications
                else reverse("meetings:detail", args=[meeting.group.slug, meeting.public_id])
            ),
        }
        send_templated_email(user.email, "meetings/email/reminder", context, language=user.language)
        text = (
            _("Reminder: appointment at %(time)s.") % {"time": context["time"]}
            if user.discreet_notifications
            else _("Reminder: %(title)s (%(group)s) on %(when)s.") % context
        )
    do_notify(user, text, reverse("meetings:mine"))
    Reminder.objects.filter(pk=reminder.pk, status=Reminder.Status.CLAIMED).update(
        status=Reminder.Status.SENT, sent_at=timezone.now()
    )
    return "sent"


@transaction.atomic
def record_failure(reminder_id: int, error: BaseException, *, final: bool) -> None:
    """A send failed: keep the error; after the last retry the row is marked failed (staff
    see failed reminders in the admin)."""
    Reminder.objects.filter(pk=reminder_id).update(
        last_error=f"{type(error).__name__}: {error}"[:300],
        **({"status": Reminder.Status.FAILED} if final else {}),
    )
