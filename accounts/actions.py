"""State changes for accounts. Views call these; they never write models themselves."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notice, NoticeKind, ReminderOffset, User
from accounts.notifications import after_quiet_hours, is_muted
from accounts.tasks import send_notice
from lib.errors import ActionError
from lib.tasks import enqueue_on_commit

if TYPE_CHECKING:
    from groups.models import SupportGroup


@transaction.atomic
def do_sign_up(email: str, password: str, timezone: str) -> User:
    """Create an active member account. The email is unique whatever its letter case."""
    return User.objects.create_user(email=email, password=password, timezone=timezone)


@transaction.atomic
def do_update_preferences(user: User, *, timezone: str, language: str) -> None:
    """Save a person's own settings; they apply from their next page. A new timezone moves
    their quiet hours, so their pending reminders are worked out again."""
    moved = timezone != user.timezone
    user.timezone = timezone
    user.language = language
    user.save(update_fields=["timezone", "language"])
    if moved:
        _resync_reminders(user)


@transaction.atomic
def do_update_notification_settings(
    user: User,
    *,
    reminder_offsets: list[str],
    email_kinds: list[str],
    in_app_kinds: list[str],
    discreet: bool,
    quiet_hours: tuple[time, time] | None,
    muted_group_ids: list[int],
) -> None:
    """Save how and when a person hears from Hearth. Pending reminders follow at once."""
    if set(reminder_offsets) - set(ReminderOffset.values):
        raise ActionError(_("Choose reminder times from the list."), field="reminder_offsets")
    if set(email_kinds) - set(NoticeKind.values) or set(in_app_kinds) - set(NoticeKind.values):
        raise ActionError(_("Choose notifications from the list."))
    if quiet_hours is not None and quiet_hours[0] == quiet_hours[1]:
        raise ActionError(_("Quiet hours need different start and end times."), field="quiet_hours_end")
    user.reminder_offsets = [offset for offset in ReminderOffset.values if offset in reminder_offsets]
    user.email_kinds = [kind for kind in NoticeKind.values if kind in email_kinds]
    user.in_app_kinds = [kind for kind in NoticeKind.values if kind in in_app_kinds]
    user.discreet_notifications = discreet
    user.quiet_hours_start, user.quiet_hours_end = quiet_hours or (None, None)
    user.save(
        update_fields=[
            "reminder_offsets",
            "email_kinds",
            "in_app_kinds",
            "discreet_notifications",
            "quiet_hours_start",
            "quiet_hours_end",
        ]
    )
    memberships = user.memberships.all()
    memberships.filter(group_id__in=muted_group_ids).update(muted=True)
    memberships.exclude(group_id__in=muted_group_ids).update(muted=False)
    _resync_reminders(user)


def _resync_reminders(user: User) -> None:
    # Reminders live in meetings, which builds on accounts; imported here to keep that order.
    from meetings.reminders import sync_user_reminders

    sync_user_reminders(user)


@transaction.atomic
def do_unsubscribe(user: User, kind: str) -> None:
    """Stop emails of one kind (a one-click unsubscribe link). Emails of that kind not yet
    sent are not sent; in-app notices carry on."""
    if kind in user.email_kinds:
        user.email_kinds = [k for k in user.email_kinds if k != kind]
        user.save(update_fields=["email_kinds"])
    Notice.objects.filter(user=user, kind=kind, status=Notice.Status.PENDING).update(status=Notice.Status.SKIPPED)


def do_notify(
    user: User,
    kind: NoticeKind,
    text: str,
    *,
    url: str = "",
    subject: str = "",
    group: SupportGroup | None = None,
    discreet_subject: str = "",
    discreet_text: str = "",
    send_now: bool = True,
) -> Notice:
    """Tell `user` something: in their notice centre and by email, as they chose for this kind.
    Render every text in their language before calling; the discreet ones must name no group,
    topic or meeting. The email goes once the transaction commits (or when quiet hours end);
    with send_now=False the caller sends it itself (see meetings.reminders)."""
    now = timezone.now()
    emailed = user.is_active and kind in user.email_kinds and not is_muted(user, group.pk if group else None)
    notice = Notice.objects.create(
        user=user,
        kind=kind,
        group=group,
        text=text[:500],
        subject=subject[:200],
        discreet_subject=discreet_subject[:200],
        discreet_text=discreet_text[:500],
        url=url,
        in_app=kind in user.in_app_kinds,
        status=Notice.Status.PENDING if emailed else Notice.Status.SKIPPED,
        send_at=after_quiet_hours(user, now),
    )
    if emailed and send_now and notice.send_at <= now:
        enqueue_on_commit(send_notice, notice.pk)
    return notice


@transaction.atomic
def do_mark_notices_read(user: User) -> int:
    return Notice.objects.filter(user=user, in_app=True, read_at__isnull=True).update(read_at=timezone.now())


@transaction.atomic
def do_open_notice(user: User, public_id: str) -> Notice | None:
    """The person followed a notice's link: it is read. None if it is not theirs."""
    notice = Notice.objects.filter(user=user, public_id=public_id).first()
    if notice is not None and notice.read_at is None:
        notice.read_at = timezone.now()
        notice.save(update_fields=["read_at"])
    return notice
