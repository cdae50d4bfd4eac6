"""Meeting reminders: rows that follow RSVPs, preferences and meetings, a dispatch job that
claims what is due, and a send step that re-checks everything, then makes a notice and emails it.

No long-ETA Celery tasks: the beat job scans for due rows every minute (see STACK.md); claims
are conditional UPDATEs (lib/outbox.py), so two dispatchers never send one reminder twice.

Each member picks their reminder times from a fixed set (accounts.models.ReminderOffset); a
reminder that would fall inside their quiet hours moves to when those end, and is dropped if
the meeting has started by then. A muted group sends no reminders.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.actions import do_notify
from accounts.models import REMINDER_OFFSET_DELTAS, NoticeKind, ReminderOffset, User
from accounts.notifications import after_quiet_hours, deliver, quiet_hours_end
from groups.models import Membership
from lib import outbox
from lib.timefmt import show_time, zone
from meetings.models import Meeting, Reminder, Rsvp

logger = logging.getLogger(__name__)

UNSENT = [Reminder.Status.PENDING, Reminder.Status.CLAIMED]


def planned_times(meeting: Meeting, membership: Membership, now: datetime) -> dict[str, datetime]:
    """When each of this member's reminders for this meeting should go out, after quiet hours.
    Two times that quiet hours push to the same moment become one reminder."""
    user = membership.user
    if membership.muted:
        return {}
    planned: dict[str, datetime] = {}
    for offset in ReminderOffset:  # longest first
        if offset.value not in user.reminder_offsets:
            continue
        send_at = after_quiet_hours(user, meeting.starts_at - REMINDER_OFFSET_DELTAS[offset])
        if now < send_at < meeting.starts_at and send_at not in planned.values():
            planned[offset.value] = send_at
    return planned


def sync_reminders(meeting: Meeting, membership: Membership) -> None:
    """Make this member's unsent reminders for this meeting match their RSVP, their
    preferences and the meeting's time: created, moved or removed."""
    unsent = Reminder.objects.filter(meeting=meeting, membership=membership, status__in=UNSENT)
    going = Rsvp.objects.filter(meeting=meeting, membership=membership, status=Rsvp.Status.GOING).exists()
    now = timezone.now()
    if not going or meeting.is_cancelled or meeting.starts_at <= now or not membership.is_active:
        unsent.delete()
        return
    planned = planned_times(meeting, membership, now)
    unsent.exclude(kind__in=list(planned)).delete()
    existing = {r.kind: r for r in Reminder.objects.filter(meeting=meeting, membership=membership)}
    for kind, send_at in planned.items():
        reminder = existing.get(kind)
        if reminder is None:
            Reminder.objects.create(meeting=meeting, membership=membership, kind=kind, send_at=send_at)
        elif reminder.status == Reminder.Status.PENDING and reminder.send_at != send_at:
            reminder.send_at = send_at
            reminder.save(update_fields=["send_at"])
        elif reminder.status in (Reminder.Status.SENT, Reminder.Status.SKIPPED) and send_at > now:
            # Moved later than a reminder already sent: remind again at the new time.
            Reminder.objects.filter(pk=reminder.pk).update(
                status=Reminder.Status.PENDING, send_at=send_at, claimed_at=None, sent_at=None, attempts=0
            )


def sync_meeting_reminders(meeting: Meeting) -> None:
    """After a meeting moved or was cancelled: every answer's reminders follow."""
    for rsvp in Rsvp.objects.filter(meeting=meeting).select_related("membership__user"):
        sync_reminders(meeting, rsvp.membership)
    if meeting.is_cancelled:
        Reminder.objects.filter(meeting=meeting, status=Reminder.Status.PENDING).delete()


def sync_user_reminders(user: User) -> None:
    """After a person changed their reminder times, quiet hours, mutes or timezone."""
    rsvps = Rsvp.objects.filter(
        membership__user=user, status=Rsvp.Status.GOING, meeting__starts_at__gt=timezone.now()
    ).select_related("meeting", "membership__user")
    for rsvp in rsvps:
        sync_reminders(rsvp.meeting, rsvp.membership)


def claim_due(now: datetime | None = None, limit: int = 1000) -> tuple[str, list[int]]:
    """Claim due reminders (and ones whose claim went stale): the claim's token and ids."""
    return outbox.claim_due(Reminder, now, limit)


def _still_wanted(reminder: Reminder) -> bool:
    meeting, membership = reminder.meeting, reminder.membership
    return (
        not meeting.is_cancelled
        and meeting.starts_at > timezone.now()
        and membership.is_active
        and membership.user.is_active
        and Rsvp.objects.filter(meeting=meeting, membership=membership, status=Rsvp.Status.GOING).exists()
    )


def send_reminder(reminder_id: int, token: str) -> str:
    """Send one reminder claimed with `token`, unless it is no longer wanted: a notice in the
    member's centre and an email, as they chose. Returns what happened."""
    reminder = (
        Reminder.objects.select_related("meeting__group", "membership__user")
        .filter(pk=reminder_id, status=Reminder.Status.CLAIMED, claim_token=token)
        .first()
    )
    if reminder is None:
        return "nothing to do"
    meeting, membership = reminder.meeting, reminder.membership
    user = membership.user
    if not _still_wanted(reminder) or membership.muted or reminder.kind not in user.reminder_offsets:
        outbox.mark(Reminder, reminder.pk, Reminder.Status.SKIPPED, token)
        return "skipped"
    later = quiet_hours_end(user, timezone.now())
    if later is not None:  # quiet hours changed since it was planned
        outbox.release(Reminder, reminder.pk, later, token)
        return "held for quiet hours"
    with translation.override(user.language):
        shown = show_time(meeting.starts_at, user.timezone, meeting.group.timezone)
        time = meeting.starts_at.astimezone(zone(user.timezone)).strftime("%H:%M")
        params = {"title": meeting.title, "group": meeting.group.name, "when": shown.local, "time": time}
        text = _("Reminder: %(title)s (%(group)s) on %(when)s.") % params
        subject = _("Reminder: %(title)s at %(time)s") % params
        discreet_subject = _("Reminder: appointment at %(time)s") % params
        discreet_text = _("This is a reminder of your appointment on %(when)s.") % params
    with transaction.atomic():
        # Marked first, on this claim's token: if the claim went stale and another run took the
        # row meanwhile, that run makes the notice, and this one makes none.
        if not outbox.mark(Reminder, reminder.pk, Reminder.Status.SENT, token):
            return "nothing to do"
        notice = do_notify(
            user,
            NoticeKind.REMINDER,
            text,
            url=reverse("meetings:detail", args=[meeting.group.slug, meeting.public_id]),
            subject=subject,
            group=meeting.group,
            discreet_subject=discreet_subject,
            discreet_text=discreet_text,
            send_now=False,
        )
    if notice.status == notice.Status.PENDING and notice.send_at <= timezone.now():
        deliver(notice.pk)  # here rather than as a second task; a failure is retried by dispatch
    return "sent"
