"""The end of an account's life: exporting a person's own data, deleting the account, and
erasing what is left once the grace period is over (docs/privacy.md).

accounts is the lowest app, but these rules reach into every other one (memberships, RSVPs,
room messages, reports). Nothing below accounts' own models imports this module: the views,
the nightly task and the tests do, so the imports of higher apps here cannot loop.

- `build_export(user)`: the person's own data as a JSON-ready dict, and nobody else's.
- `check_deletion` / `do_delete_account`: deactivate at once, leave every group, end every
  session and room socket, and show the person as "former member" everywhere.
- `erasure_holds` / `do_erase_account` / `erase_deleted_accounts`: after
  ACCOUNT_ERASURE_GRACE_DAYS, replace or delete every piece of personal data, unless a
  moderation case still needs it (then on the first nightly run after the case closes).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import (
    Notice,
    NoticeKind,
    RecoveryCode,
    TwoFactor,
    User,
    UserSession,
    default_reminder_offsets,
    every_notice_kind,
)
from accounts.sessions import end_sessions
from groups import actions as group_actions
from groups.models import FORMER_MEMBER, HandleChange, Membership, NoContactEntry, SupportGroup
from lib.errors import ActionError
from meetings import actions as meeting_actions
from meetings.attendance import ATTENDED
from meetings.models import CalendarFeed, Meeting, Reminder, RoomEvent, RoomParticipant, RoomPresence, RotaEntry, Rsvp
from moderation import actions as moderation_actions
from moderation.models import Appeal, AuditEntry, Block, Report, ReportNote, Sanction

logger = logging.getLogger(__name__)

EXPORT_FORMAT_VERSION = 1
ERASED_EMAIL_DOMAIN = "invalid"  # RFC 2606: can never be a real address
ERASED_HANDLE_KEY_PREFIX = "erased:"  # real keys are letters and digits only (groups.handles)
ERASURE_BATCH_SIZE = 100
# Sanctions whose bar on the person is still running hold the erasure (see erasure_holds).
BARRING_KINDS = (
    Sanction.Kind.TIMEOUT,
    Sanction.Kind.SUSPEND,
    Sanction.Kind.BAN,
    Sanction.Kind.SITE_SUSPEND,
)


def former_member_label() -> str:
    """The text stored in place of a deleted person's handle and labels: "former member", in
    the site's language (pages in other languages show their own words through
    Membership.display_handle)."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(FORMER_MEMBER)


def confirmation_phrase() -> str:
    """What a person types to confirm the deletion, in the language of the page."""
    return _("delete my account")


def grace_period() -> timedelta:
    return timedelta(days=settings.ACCOUNT_ERASURE_GRACE_DAYS)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- Export ----------------------------------------------------------------------------------


def export_filename(now: datetime | None = None) -> str:
    return f"hearth-export-{timezone.localdate(now or timezone.now()):%Y-%m-%d}.json"


def build_export(user: User) -> dict[str, Any]:
    """Everything Hearth holds about `user` that is theirs, as plain JSON values.

    Nothing in it identifies anyone else: no other person's email, database id, member id or
    handle. Reports the person filed say what they wrote and what became of them, never whom
    they were about; blocks are only counted (a list of names would tell whoever reads this
    file on a shared device whom the person is keeping away from)."""
    memberships = list(Membership.objects.filter(user=user).select_related("group").order_by("requested_at", "pk"))
    own_ids = [membership.pk for membership in memberships]
    history: dict[int, list[HandleChange]] = {}
    for change in HandleChange.objects.filter(membership_id__in=own_ids).order_by("changed_at", "pk"):
        history.setdefault(change.membership_id, []).append(change)
    blocks = Counter(Block.objects.filter(blocker_id__in=own_ids).values_list("blocker_id", flat=True))
    return {
        "format": "hearth-export",
        "version": EXPORT_FORMAT_VERSION,
        "generated_at": _iso(timezone.now()),
        "profile": _export_profile(user),
        "memberships": [_export_membership(m, history.get(m.pk, []), blocks[m.pk]) for m in memberships],
        "rsvps": _export_rsvps(own_ids),
        "meetings_attended": _export_attendance(own_ids),
        "messages": _export_messages(own_ids),
        "reports_filed": _export_reports(own_ids),
        "decisions_about_you": _export_sanctions(user),
        "notices": _export_notices(user),
        "no_contact_list": {"entries": NoContactEntry.objects.filter(owner=user).count()},
        "calendar_feed": _export_calendar_feed(user),
    }


def _export_profile(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "date_joined": _iso(user.date_joined),
        "last_login": _iso(user.last_login),
        "timezone": user.timezone,
        "language": user.language,
        "discreet_notifications": user.discreet_notifications,
        "reminder_times": list(user.reminder_offsets),
        "notices_by_email": list(user.email_kinds),
        "notices_in_hearth": list(user.in_app_kinds),
        "quiet_hours": (
            {"start": user.quiet_hours_start.isoformat(), "end": user.quiet_hours_end.isoformat()}
            if user.quiet_hours_start and user.quiet_hours_end
            else None
        ),
        "two_factor_enabled": TwoFactor.objects.filter(user=user).exists(),
    }


def _export_membership(membership: Membership, changes: list[HandleChange], blocked: int) -> dict[str, Any]:
    return {
        "group": membership.group.name,
        "group_address": reverse("groups:detail", args=[membership.group.slug]),
        "handle": membership.handle,
        "handle_history": [
            {"from": change.old_handle, "to": change.new_handle, "at": _iso(change.changed_at)} for change in changes
        ],
        "role": membership.get_role_display(),
        "status": membership.get_status_display(),
        "asked_to_join_at": _iso(membership.requested_at),
        "request_message": membership.request_message,
        "answer_to_request": membership.decision_message,
        "joined_at": _iso(membership.joined_at),
        "left_at": _iso(membership.left_at),
        "guidelines_accepted_at": _iso(membership.guidelines_accepted_at),
        "muted": membership.muted,
        "show_attendance_streak": membership.show_attendance_streak,
        "members_you_blocked": blocked,
    }


def _export_attendance(own_ids: list[int]) -> list[dict[str, Any]]:
    """The meetings the person entered the room of, and when they first came in."""
    attended = (
        RoomParticipant.objects.filter(ATTENDED, membership_id__in=own_ids)
        .select_related("room__meeting__group")
        .order_by("first_joined_at", "pk")
    )
    return [
        {
            "group": row.room.meeting.group.name,
            "meeting": row.room.meeting.title,
            "starts_at": _iso(row.room.meeting.starts_at),
            "entered_at": _iso(row.first_joined_at),
        }
        for row in attended
    ]


def _export_rsvps(own_ids: list[int]) -> list[dict[str, Any]]:
    rsvps = Rsvp.objects.filter(membership_id__in=own_ids).select_related("meeting__group")
    return [
        {
            "group": rsvp.meeting.group.name,
            "meeting": rsvp.meeting.title,
            "starts_at": _iso(rsvp.meeting.starts_at),
            "ends_at": _iso(rsvp.meeting.ends_at),
            "meeting_cancelled": rsvp.meeting.is_cancelled,
            "answer": rsvp.get_status_display(),
            "answered_at": _iso(rsvp.updated_at),
        }
        for rsvp in rsvps.order_by("meeting__starts_at", "pk")
    ]


def _export_messages(own_ids: list[int]) -> list[dict[str, Any]]:
    """The person's own room messages. A deleted message is listed without its words: it was
    meant to be gone."""
    found = RoomEvent.objects.filter(membership_id__in=own_ids, kind=RoomEvent.Kind.MESSAGE).select_related(
        "room__meeting__group"
    )
    return [
        {
            "group": event.room.meeting.group.name,
            "meeting": event.room.meeting.title,
            "meeting_starts_at": _iso(event.room.meeting.starts_at),
            "at": _iso(event.created_at),
            "text": None if event.deleted_at else event.body,
            "deleted": event.deleted_at is not None,
        }
        for event in found.order_by("created_at", "pk")
    ]


def _export_reports(own_ids: list[int]) -> list[dict[str, Any]]:
    """Reports the person filed: what they said and what they were told. Not whom it was
    about, nor the snapshot (other people's messages)."""
    reports = Report.objects.filter(reporter_id__in=own_ids).select_related("group", "meeting")
    outcomes = {True: _("The facilitators took action."), False: _("The facilitators decided no action was needed.")}
    return [
        {
            "group": report.group.name,
            "meeting": report.meeting.title if report.meeting else None,
            "what_was_wrong": report.get_category_display(),
            "details": report.details,
            "what_you_asked_for": report.get_wish_display(),
            "status": report.get_status_display(),
            "outcome": None if report.is_open else outcomes.get(bool(report.action_taken)),
            "filed_at": _iso(report.created_at),
            "closed_at": _iso(report.closed_at),
        }
        for report in reports.order_by("created_at", "pk")
    ]


def _export_sanctions(user: User) -> list[dict[str, Any]]:
    """Moderation decisions about the person, as their standing page shows them (without who
    decided), with their appeals."""
    sanctions = Sanction.objects.filter(user=user).select_related("group", "appeal").order_by("created_at", "pk")
    rows = []
    for sanction in sanctions:
        appeal: Appeal | None = getattr(sanction, "appeal", None)
        rows.append(
            {
                "decision": sanction.get_kind_display(),
                "group": sanction.group.name if sanction.group else None,
                "reason": sanction.reason,
                "at": _iso(sanction.created_at),
                "ends_at": _iso(sanction.ends_at),
                "lifted_at": _iso(sanction.lifted_at),
                "appeal": (
                    {
                        "text": appeal.text,
                        "status": appeal.get_status_display(),
                        "answer": appeal.decision_note,
                        "at": _iso(appeal.created_at),
                        "decided_at": _iso(appeal.decided_at),
                    }
                    if appeal
                    else None
                ),
            }
        )
    return rows


def _export_notices(user: User) -> list[dict[str, Any]]:
    return [
        {
            "kind": notice.get_kind_display(),
            "text": notice.text,
            "at": _iso(notice.created_at),
            "read_at": _iso(notice.read_at),
        }
        for notice in Notice.objects.filter(user=user).order_by("created_at", "pk")
    ]


def _export_calendar_feed(user: User) -> dict[str, Any] | None:
    feed = CalendarFeed.objects.filter(user=user).first()
    # Only the secret address' hash is kept: there is no address to give back.
    return {"created_at": _iso(feed.created_at)} if feed else None


# --- Deletion --------------------------------------------------------------------------------


@dataclass
class Deletion:
    """What `do_delete_account` did, for the goodbye page and the log."""

    groups_left: int = 0
    requests_withdrawn: int = 0
    rsvps_cancelled: int = 0
    sessions_ended: int = 0
    ownerless_groups: list[str] = field(default_factory=list)


def check_deletion(user: User | AnonymousUser, password: str, confirmation: str) -> User:
    """The person proved it is them (their current password) and typed the confirmation;
    ActionError says which is missing. Nothing is changed."""
    if not isinstance(user, User) or not user.is_active:
        raise ActionError(_("Log in to delete your account."))
    if not password or not user.check_password(password):
        raise ActionError(_("That is not your current password."), field="password")
    typed = " ".join((confirmation or "").split()).casefold()
    if typed != confirmation_phrase().casefold():
        raise ActionError(
            _("Type “%(phrase)s” to confirm.") % {"phrase": confirmation_phrase()},
            field="confirmation",
        )
    return user


@transaction.atomic
def do_delete_account(user: User) -> Deletion:
    """Delete an account now: it can no longer log in, every session and room socket of it
    ends, it leaves every group (RSVPs cancelled, waitlists moved on, reminders and pending
    emails dropped, join requests withdrawn) and every page, frame and moderation record shows
    it as "former member". Its personal data is erased later by `do_erase_account`.

    Check with `check_deletion` first. Safe to call twice: the second call does nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    done = Deletion()
    if user.deleted_at is not None:
        return done
    now = timezone.now()
    user.is_active = False
    user.deleted_at = now
    user.save(update_fields=["is_active", "deleted_at"])

    memberships = list(Membership.objects.filter(user=user).select_related("group"))
    with translation.override(user.language):
        goodbye = _("Your account was deleted. You are logged out.")
    # Looked up now, sent once the deletion is committed: every room socket closes at once.
    moderation_actions.close_sockets(memberships, "account_deleted", goodbye)
    for membership in memberships:
        if membership.status == Membership.Status.ACTIVE:
            done.rsvps_cancelled += _cancel_rsvps(membership, now)
            if membership.role == Membership.Role.OWNER and _sole_owner(membership):
                done.ownerless_groups.append(membership.group.name)
                # Never trap someone in an account because they run a group: the group goes on
                # without an owner, and site staff are told to appoint one.
                membership.role = Membership.Role.FACILITATOR
            group_actions.do_leave_group(membership)
            done.groups_left += 1
        elif membership.status == Membership.Status.PENDING:
            group_actions.do_withdraw_request(membership)
            done.requests_withdrawn += 1
    _stop_running_meetings(memberships, now)
    Reminder.objects.filter(membership__in=memberships).exclude(status=Reminder.Status.SENT).delete()
    Notice.objects.filter(user=user, status=Notice.Status.PENDING).update(status=Notice.Status.SKIPPED)
    _hide_handles(user, memberships)
    done.sessions_ended = end_sessions(user)
    for group in {m.group for m in memberships if m.group.name in done.ownerless_groups}:
        _tell_staff_group_has_no_owner(group)
    logger.info(
        "Account %s deleted: left %d groups, withdrew %d requests, cancelled %d RSVPs, ended %d sessions",
        user.pk,
        done.groups_left,
        done.requests_withdrawn,
        done.rsvps_cancelled,
        done.sessions_ended,
    )
    return done


def _cancel_rsvps(membership: Membership, now: datetime) -> int:
    """Not going to any meeting to come: a place freed goes to the waitlist (meetings.actions)."""
    upcoming = Rsvp.objects.filter(
        membership=membership,
        status__in=[Rsvp.Status.GOING, Rsvp.Status.WAITLISTED],
        meeting__starts_at__gt=now,
        meeting__status=Meeting.Status.SCHEDULED,
    ).select_related("meeting")
    cancelled = 0
    for rsvp in upcoming:
        meeting_actions.do_rsvp(membership, rsvp.meeting, going=False)
        cancelled += 1
    return cancelled


def _sole_owner(membership: Membership) -> bool:
    owners = Membership.objects.select_for_update().filter(
        group=membership.group, status=Membership.Status.ACTIVE, role=Membership.Role.OWNER
    )
    return len(owners) <= 1


def _stop_running_meetings(memberships: list[Membership], now: datetime) -> None:
    """Off every rota, and no longer facilitator or backup of meetings to come (the facilitation
    job then flags those meetings to the group's owners)."""
    RotaEntry.objects.filter(membership__in=memberships).delete()
    upcoming = Meeting.objects.filter(starts_at__gt=now)
    upcoming.filter(facilitator__in=memberships).update(facilitator=None, needs_facilitator_flagged_at=None)
    upcoming.filter(backup__in=memberships).update(backup=None)


def _hide_handles(user: User, memberships: list[Membership]) -> None:
    """Replace the person's handles (and email, where staff records carry it) with "former
    member" in every row that stores the text. The handle keys stay: nobody can take the
    name of someone who just left while people still remember it (released at erasure)."""
    label = former_member_label()
    handles = {m.handle for m in memberships}
    handles |= set(HandleChange.objects.filter(membership__in=memberships).values_list("old_handle", flat=True))
    handles.discard(label)
    HandleChange.objects.filter(membership__in=memberships).delete()
    Membership.objects.filter(pk__in=[m.pk for m in memberships]).update(handle=label)
    _rewrite_snapshots(memberships, erase_words=False)
    Sanction.objects.filter(actor=user, actor_label__in=handles).update(actor_label=label)
    ReportNote.objects.filter(author=user, author_label__in=handles).update(author_label=label)
    _redact_audit_labels(user, memberships, handles)


def _redact_audit_labels(user: User, memberships: list[Membership], handles: set[str]) -> None:
    """The audit log is append-only: no action, time, reason or reference in it ever changes.
    The one exception is this redaction of the labels that name a deleted person (their
    handle, or their email on staff-only entries): the entry still points at the same
    membership and account, which are anonymous from now on."""
    label = former_member_label()
    entries = AuditEntry._base_manager.all()  # past the append-only guard, for this only
    entries.filter(actor_id=user.pk, actor_label__in=handles | {user.email}).update(actor_label=label)
    entries.filter(target__in=memberships, target_label__in=handles).update(target_label=label)
    entries.filter(target_label__iexact=user.email).update(target_label=label)
    entries.filter(actor_label__iexact=user.email).update(actor_label=label)


def _rewrite_snapshots(memberships: list[Membership], *, erase_words: bool) -> int:
    """Report snapshots keep the messages around a reported one, with their authors' handles:
    the person's lines show "former member" (and, at erasure, lose their words)."""
    member_ids = {m.public_id for m in memberships}
    label = former_member_label()
    changed = 0
    reports = Report.objects.filter(group_id__in={m.group_id for m in memberships}).exclude(snapshot=[])
    for report in reports.only("pk", "snapshot").iterator():
        lines = report.snapshot if isinstance(report.snapshot, list) else []
        touched = False
        for line in lines:
            if isinstance(line, dict) and line.get("member") in member_ids:
                line["handle"] = label
                if erase_words:
                    line["body"] = None
                    line["erased"] = True
                touched = True
        if touched:
            Report.objects.filter(pk=report.pk).update(snapshot=lines)
            changed += 1
    return changed


def _tell_staff_group_has_no_owner(group: SupportGroup) -> None:
    url = reverse("groups:members", args=[group.slug])
    for staff in User.objects.filter(is_staff=True, is_active=True):
        with translation.override(staff.language):
            text = _(
                "%(group)s has no owner any more: its only owner deleted their account. "
                "Please make one of its members an owner."
            ) % {"group": group.name}
        from accounts.actions import do_notify  # accounts.actions imports tasks, which import us

        do_notify(staff, NoticeKind.MODERATION, text, url=url, group=group)


# --- Erasure ----------------------------------------------------------------------------------


def erasure_holds(user: User, now: datetime | None = None) -> list[str]:
    """The moderation cases that keep a deleted account's data for now (empty: none):
    an open report about them or filed by them, a pending appeal of theirs, or a bar on them
    (timeout, suspension, ban) that is still running and ends at a set time.

    A permanent ban does not hold: the ban's record stays, anonymous, and keeping the email
    for ever would stop nothing (anyone can sign up with another address)."""
    now = now or timezone.now()
    holds = []
    own = Membership.objects.filter(user=user)
    open_reports = Report.objects.filter(status__in=Report.OPEN_STATUSES)
    if open_reports.filter(subject__in=own).exists():
        holds.append("open report about them")
    if open_reports.filter(reporter__in=own).exists():
        holds.append("open report they filed")
    if Appeal.objects.filter(sanction__user=user, status=Appeal.Status.PENDING).exists():
        holds.append("pending appeal")
    if Sanction.objects.filter(
        user=user, kind__in=BARRING_KINDS, lifted_at__isnull=True, ends_at__isnull=False, ends_at__gt=now
    ).exists():
        holds.append("sanction in force")
    return holds


def due_for_erasure(now: datetime | None = None) -> QuerySet[User]:
    """Deleted accounts whose grace period is over and which are not erased yet."""
    now = now or timezone.now()
    return User.objects.filter(deleted_at__isnull=False, deleted_at__lte=now - grace_period(), erased_at__isnull=True)


@transaction.atomic
def do_erase_account(user_id: int, now: datetime | None = None) -> str:
    """Erase a deleted account's personal data, keeping only anonymous rows that other
    people's records point at ("former member" memberships, reports, sanctions, the audit log).
    Returns "erased", "held" (a moderation case needs it), or "skipped" (not due, or already
    erased: safe to run twice, or in two workers at once)."""
    now = now or timezone.now()
    user = due_for_erasure(now).select_for_update().filter(pk=user_id).first()
    if user is None:
        return "skipped"
    holds = erasure_holds(user, now)
    if holds:
        logger.info("Erasure of account %s held: %s", user.pk, ", ".join(holds))
        return "held"
    email = user.email
    memberships = list(Membership.objects.filter(user=user))
    own_ids = [m.pk for m in memberships]
    _hide_handles(user, memberships)  # anything labelled since the deletion (staff acting on a held case)
    _rewrite_snapshots(memberships, erase_words=True)

    Notice.objects.filter(user=user).delete()
    Reminder.objects.filter(membership_id__in=own_ids).delete()
    Rsvp.objects.filter(membership_id__in=own_ids).delete()
    RoomEvent.objects.filter(membership_id__in=own_ids).delete()
    RoomPresence.objects.filter(membership_id__in=own_ids).delete()
    RoomParticipant.objects.filter(membership_id__in=own_ids).delete()
    HandleChange.objects.filter(membership_id__in=own_ids).delete()
    Block.objects.filter(blocker_id__in=own_ids).delete()
    NoContactEntry.objects.filter(owner=user).delete()
    CalendarFeed.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(two_factor__user=user).delete()
    TwoFactor.objects.filter(user=user).delete()
    end_sessions(user)
    UserSession.objects.filter(user=user).delete()
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(username__iexact=email).delete()
    # What they wrote in reports, appeals and requests; the records themselves stay.
    Report.objects.filter(reporter_id__in=own_ids).update(details="")
    Appeal.objects.filter(sanction__user=user).update(text="")
    for membership in memberships:
        Membership.objects.filter(pk=membership.pk).update(
            handle=former_member_label(),
            # Released: the key was the name itself, in another spelling.
            handle_key=f"{ERASED_HANDLE_KEY_PREFIX}{secrets.token_hex(16)}",
            request_message="",
            decision_message="",
            timeout_reason="",
            suspension_reason="",
            muted=False,
        )

    user.email = f"erased-{secrets.token_hex(12)}@{ERASED_EMAIL_DOMAIN}"
    user.set_unusable_password()
    user.last_login = None
    user.is_staff = False
    user.is_superuser = False
    user.timezone = "UTC"
    user.language = settings.LANGUAGE_CODE
    user.discreet_notifications = True
    user.reminder_offsets = default_reminder_offsets()
    user.email_kinds = every_notice_kind()
    user.in_app_kinds = every_notice_kind()
    user.quiet_hours_start = user.quiet_hours_end = None
    user.suspension_reason = ""
    user.erased_at = now
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
    logger.info("Account %s erased (%d memberships kept as former member)", user.pk, len(own_ids))
    return "erased"


def erase_deleted_accounts(now: datetime | None = None, batch_size: int = ERASURE_BATCH_SIZE) -> dict[str, int]:
    """Erase every deleted account that is due, in batches, one transaction per account.
    Held accounts are looked at again on every run. Returns the counts by outcome."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    last_pk = 0
    while True:
        batch = list(
            due_for_erasure(now).filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            break
        for user_id in batch:
            counts[do_erase_account(user_id, now)] += 1
        last_pk = batch[-1]
    result = {outcome: counts[outcome] for outcome in ("erased", "held", "skipped")}
    logger.info("Erasure run: %(erased)d erased, %(held)d held, %(skipped)d skipped", result)
    return result
