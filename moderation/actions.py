"""Moderation rules: reporting, the queue, sanctions, appeals, blocks and watched words.

Views and the room call these; nothing else writes moderation records. Every action is
written to the audit log (moderation.rules.audit) in the same transaction.

Who handles a report: the group's active facilitators and owners, except the person reported;
a report about someone who runs the group goes to owners and site staff only. Staff handle
everything, and alone suspend accounts site-wide. The reporter is never named to the person
reported, on any page or frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.actions import do_notify
from accounts.models import NoticeKind, User
from groups.actions import GroupAccess
from groups.models import Membership, SupportGroup
from lib.errors import ActionError
from lib.realtime import publish_on_commit, send_to_group_on_commit
from lib.timefmt import show_time
from meetings import events
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant, RoomPresence, Rsvp
from meetings.reminders import sync_reminders
from moderation.models import Appeal, Block, Report, ReportNote, Sanction, WatchedWord
from moderation.rules import audit, normalise

SNAPSHOT_AROUND = 5  # messages kept on each side of the reported one
MAX_TIMEOUT = timedelta(days=7)
MAX_DETAILS = 2000
MODERATORS_GROUP = "moderators.{group_id}"
CLOSE_REFUSED = 4403


# --- Who is acting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Moderator:
    """Someone handling reports in one group: a facilitator or owner there, or site staff."""

    user: User
    group: SupportGroup
    membership: Membership | None  # their own row in the group, if any
    is_staff: bool

    @property
    def label(self) -> str:
        """How the audit log and the notes name them: their handle, or "Site staff"."""
        if self.membership is not None and self.membership.is_active:
            return self.membership.handle
        return str(_("Site staff"))

    @property
    def is_owner(self) -> bool:
        return self.is_staff or (self.membership is not None and self.membership.is_owner and _present(self.membership))


def _present(membership: Membership) -> bool:
    """An active row not suspended from the group."""
    return membership.is_active and not membership.suspended_now()


def moderator_for(user: User, access: GroupAccess) -> Moderator | None:
    """The viewer as a moderator of this group, or None if they are not one."""
    membership = access.membership
    if not (access.is_staff or (membership is not None and membership.is_facilitator and _present(membership))):
        return None
    return Moderator(user=user, group=access.group, membership=membership, is_staff=access.is_staff)


def can_handle(moderator: Moderator, report: Report) -> bool:
    """Whether this moderator may see and act on this report."""
    if report.group_id != moderator.group.pk:
        return False
    if moderator.is_staff:
        return True
    own = moderator.membership
    if own is None or own.pk == report.subject_id or not own.is_facilitator or not _present(own):
        return False
    return own.is_owner or not report.about_facilitator


def reports_for(moderator: Moderator) -> QuerySet[Report]:
    """The group's reports this moderator may handle, newest first."""
    reports = Report.objects.filter(group=moderator.group)
    if moderator.is_staff:
        return reports
    own = moderator.membership
    if own is None:  # moderator_for never makes one; nothing to show
        return reports.none()
    reports = reports.exclude(subject=own)
    if not own.is_owner:
        reports = reports.filter(about_facilitator=False)
    return reports


def open_report_count(user: User) -> int:
    """Open reports in every group this person handles (one query): the count in their header.
    Staff count the reports escalated to them."""
    if not user.is_authenticated:
        return 0
    if user.is_staff:
        return Report.objects.filter(status__in=Report.OPEN_STATUSES, escalated_at__isnull=False).count()
    runs = Membership.objects.filter(
        user=user,
        group=OuterRef("group"),
        status=Membership.Status.ACTIVE,
        role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER],
    ).filter(Q(suspended_until__isnull=True) | Q(suspended_until__lte=timezone.now()))
    return (
        Report.objects.filter(status__in=Report.OPEN_STATUSES)
        .alias(handles=Exists(runs), owns=Exists(runs.filter(role=Membership.Role.OWNER)))
        .filter(Q(about_facilitator=False, handles=True) | Q(about_facilitator=True, owns=True))
        .exclude(subject__user=user)
        .count()
    )


def open_count_for(membership: Membership) -> int:
    """Open reports this member may handle in their group (0 if they handle none)."""
    if not membership.is_facilitator or not _present(membership):
        return 0
    reports = Report.objects.filter(group_id=membership.group_id, status__in=Report.OPEN_STATUSES).exclude(
        subject=membership
    )
    if not membership.is_owner:
        reports = reports.filter(about_facilitator=False)
    return reports.count()


def _recount(group: SupportGroup) -> None:
    """Ask every moderator's socket in this group's rooms to refresh its report count."""
    send_to_group_on_commit(MODERATORS_GROUP.format(group_id=group.pk), {"type": "reports.changed"})


def _tell_moderators(report: Report, text_for: Any) -> int:
    """An in-app notice (and email, as each chose) to everyone who may handle this report.
    Returns how many were told."""
    runs = report.group.memberships.filter(
        status=Membership.Status.ACTIVE, role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER]
    ).select_related("user")
    url = reverse("moderation:report", args=[report.group.slug, report.public_id])
    told = 0
    for membership in runs:
        if membership.pk == report.subject_id or not _present(membership):
            continue
        if report.about_facilitator and not membership.is_owner:
            continue
        with translation.override(membership.user.language):
            text = text_for(report)
        do_notify(membership.user, NoticeKind.MODERATION, text, url=url, group=report.group)
        told += 1
    return told


def _tell_staff(report: Report) -> None:
    for staff in User.objects.filter(is_staff=True, is_active=True):
        with translation.override(staff.language):
            text = _("A report in %(group)s was escalated to site staff.") % {"group": report.group.name}
        do_notify(
            staff,
            NoticeKind.MODERATION,
            text,
            url=reverse("moderation:report", args=[report.group.slug, report.public_id]),
        )


# --- Reporting ----------------------------------------------------------------------------


def _check_report_fields(category: str, wish: str, details: str) -> str:
    if category not in Report.Category.values or category == Report.Category.WATCHED_WORD:
        raise ActionError(_("Choose what is wrong from the list."), field="category")
    if wish not in Report.Wish.values:
        raise ActionError(_("Choose what you would like from the list."), field="wish")
    details = (details or "").strip()
    if len(details) > MAX_DETAILS:
        raise ActionError(_("Details can be up to %(max)d characters.") % {"max": MAX_DETAILS}, field="details")
    return details


def _about_facilitator(subject: Membership, meeting: Meeting | None) -> bool:
    if subject.is_facilitator:
        return True
    return meeting is not None and subject.pk in (meeting.facilitator_id, meeting.backup_id)


def snapshot(room: Room, seq: int) -> list[dict[str, Any]]:
    """The reported message with the messages around it, as they read now (handles, times)."""
    around = (
        RoomEvent.objects.filter(
            room=room,
            kind=RoomEvent.Kind.MESSAGE,
            seq__gte=max(seq - 60, 0),
            seq__lte=seq + 60,
        )
        .select_related("membership")
        .order_by("seq")
    )
    rows = list(around)
    index = next((i for i, event in enumerate(rows) if event.seq == seq), 0)
    kept = rows[max(index - SNAPSHOT_AROUND, 0) : index + SNAPSHOT_AROUND + 1]
    return [
        {
            "seq": event.seq,
            "member": event.membership.public_id,
            "handle": event.membership.display_handle,
            "at": events.iso(event.created_at),
            "body": None if event.deleted_at else event.body,
            "reported": event.seq == seq,
        }
        for event in kept
    ]


@transaction.atomic
def do_report_message(
    reporter: Membership, meeting_public_id: str, seq: int, *, category: str, details: str = "", wish: str
) -> Report:
    """Report one message of a meeting of the reporter's group."""
    if not reporter.is_active:
        raise ActionError(_("Only members of this group can report."))
    details = _check_report_fields(category, wish, details)
    message = (
        RoomEvent.objects.select_related("membership", "room__meeting")
        .filter(
            room__meeting__public_id=meeting_public_id,
            room__meeting__group_id=reporter.group_id,
            seq=seq,
            kind=RoomEvent.Kind.MESSAGE,
        )
        .first()
    )
    if message is None:
        raise ActionError(_("There is no such message in this group."))
    if message.membership_id == reporter.pk:
        raise ActionError(_("You can't report your own message. You can delete it instead."))
    if Report.objects.filter(reporter=reporter, message=message).exists():
        raise ActionError(_("You have already reported this message. The facilitators have it."))
    meeting = message.room.meeting
    subject = message.membership
    report = Report.objects.create(
        group_id=reporter.group_id,
        reporter=reporter,
        subject=subject,
        meeting=meeting,
        message=message,
        message_seq=message.seq,
        category=category,
        details=details,
        wish=wish,
        snapshot=snapshot(message.room, message.seq),
        about_facilitator=_about_facilitator(subject, meeting),
    )
    _filed(report)
    return report


@transaction.atomic
def do_report_member(
    reporter: Membership, subject_public_id: str, *, category: str, details: str = "", wish: str
) -> Report:
    """Report a member of the reporter's group (from their profile in the group)."""
    if not reporter.is_active:
        raise ActionError(_("Only members of this group can report."))
    details = _check_report_fields(category, wish, details)
    subject = Membership.objects.filter(group_id=reporter.group_id, public_id=subject_public_id).first()
    if subject is None or subject.status not in (Membership.Status.ACTIVE, Membership.Status.LEFT):
        raise ActionError(_("There is no such member in this group."))
    if subject.pk == reporter.pk:
        raise ActionError(_("You can't report yourself."))
    # A member report has no message_seq; `message` alone would not tell, since retention
    # empties it on message reports once the room's messages are purged.
    if Report.objects.filter(
        reporter=reporter, subject=subject, message_seq__isnull=True, status__in=Report.OPEN_STATUSES
    ).exists():
        raise ActionError(_("You have already reported this member. The facilitators have it."))
    report = Report.objects.create(
        group_id=reporter.group_id,
        reporter=reporter,
        subject=subject,
        category=category,
        details=details,
        wish=wish,
        about_facilitator=_about_facilitator(subject, None),
    )
    _filed(report)
    return report


def file_watched_word_report(message: RoomEvent, phrase: str) -> Report:
    """A flagged watched word files a report by itself (no reporter)."""
    meeting = message.room.meeting
    report = Report.objects.create(
        group_id=meeting.group_id,
        reporter=None,
        subject=message.membership,
        meeting=meeting,
        message=message,
        message_seq=message.seq,
        category=Report.Category.WATCHED_WORD,
        details=_("Watched word: %(phrase)s") % {"phrase": phrase},
        wish=Report.Wish.INFORM,
        snapshot=snapshot(message.room, message.seq),
        about_facilitator=_about_facilitator(message.membership, meeting),
    )
    _filed(report)
    return report


def _filed(report: Report) -> None:
    report.group = SupportGroup.objects.get(pk=report.group_id)
    audit(
        "report.filed",
        actor=report.reporter.user if report.reporter else None,
        actor_label=report.reporter.handle if report.reporter else str(_("Watched words")),
        group=report.group,
        target=report.subject,
        report=report.public_id,
        category=report.category,
    )
    told = _tell_moderators(
        report,
        lambda r: (
            _("A new report in %(group)s: %(category)s.")
            % {
                "group": r.group.name,
                "category": r.get_category_display(),
            }
        ),
    )
    if not told:
        # Nobody in the group may handle it (say, it is about the only owner): it would sit
        # unseen, so it goes to site staff at once.
        report.escalated_at = timezone.now()
        report.save(update_fields=["escalated_at"])
        audit(
            "report.escalated",
            actor=None,
            actor_label=str(_("Automatic")),
            group=report.group,
            target=report.subject,
            reason=str(_("Nobody in the group may handle this report.")),
            report=report.public_id,
        )
        _tell_staff(report)
    _recount(report.group)


# --- Handling reports --------------------------------------------------------------------


def get_report(moderator: Moderator, public_id: str) -> Report:
    report = (
        Report.objects.select_related("reporter", "subject__user", "assignee", "meeting", "group")
        .filter(group=moderator.group, public_id=public_id)
        .first()
    )
    if report is None or not can_handle(moderator, report):
        raise ActionError(_("There is no such report for you."))
    return report


def _locked(moderator: Moderator, report: Report) -> Report:
    # of=("self",): lock the report row only. The reporter is a nullable join (a watched word
    # files reports without one), and PostgreSQL refuses FOR UPDATE on an outer join's side.
    locked = (
        Report.objects.select_for_update(of=("self",))
        .select_related("group", "reporter__user", "subject")
        .get(pk=report.pk)
    )
    if not can_handle(moderator, locked):
        raise ActionError(_("There is no such report for you."))
    return locked


def _audit_report(moderator: Moderator, report: Report, action: str, *, reason: str = "") -> None:
    audit(
        action,
        actor=moderator.user,
        actor_label=moderator.label,
        group=report.group,
        target=report.subject,
        reason=reason,
        report=report.public_id,
    )


@transaction.atomic
def do_assign(moderator: Moderator, report: Report) -> None:
    """Take a report: it is yours, and in review."""
    report = _locked(moderator, report)
    if not report.is_open:
        raise ActionError(_("This report is closed."))
    if moderator.membership is None or not moderator.membership.is_active:
        raise ActionError(_("Only the group's facilitators can take reports; staff can escalate or close them."))
    report.assignee = moderator.membership
    report.status = Report.Status.IN_REVIEW
    report.save(update_fields=["assignee", "status"])
    _audit_report(moderator, report, "report.assigned")
    _recount(report.group)


@transaction.atomic
def do_add_note(moderator: Moderator, report: Report, body: str) -> ReportNote:
    report = _locked(moderator, report)
    body = (body or "").strip()
    if not body:
        raise ActionError(_("Write the note first."), field="body")
    if len(body) > MAX_DETAILS:
        raise ActionError(_("Notes can be up to %(max)d characters.") % {"max": MAX_DETAILS}, field="body")
    note = ReportNote.objects.create(report=report, author=moderator.user, author_label=moderator.label, body=body)
    _audit_report(moderator, report, "report.note")
    return note


@transaction.atomic
def do_escalate(moderator: Moderator, report: Report, reason: str) -> None:
    """Hand a report to site staff too (it stays in the group's queue)."""
    report = _locked(moderator, report)
    if not report.is_open:
        raise ActionError(_("This report is closed."))
    if report.escalated_at is not None:
        raise ActionError(_("This report is already with site staff."))
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(_("Say why site staff should look at it."), field="reason")
    report.escalated_at = timezone.now()
    report.save(update_fields=["escalated_at"])
    _audit_report(moderator, report, "report.escalated", reason=reason)
    _tell_staff(report)


@transaction.atomic
def do_close_report(moderator: Moderator, report: Report, *, action_taken: bool, note: str = "") -> None:
    """Resolve (action was taken) or dismiss (none was needed). The reporter is told which,
    never what was done or to whom beyond what they reported."""
    report = _locked(moderator, report)
    if not report.is_open:
        raise ActionError(_("This report is already closed."))
    report.status = Report.Status.RESOLVED if action_taken else Report.Status.DISMISSED
    report.action_taken = action_taken
    report.closed_at = timezone.now()
    if report.assignee_id is None and moderator.membership is not None and moderator.membership.is_active:
        report.assignee = moderator.membership
    report.save(update_fields=["status", "action_taken", "closed_at", "assignee"])
    if note.strip():
        ReportNote.objects.create(report=report, author=moderator.user, author_label=moderator.label, body=note.strip())
    _audit_report(moderator, report, "report.resolved" if action_taken else "report.dismissed")
    reporter = report.reporter
    if reporter is not None:
        with translation.override(reporter.user.language):
            if action_taken:
                text = _(
                    "Your report in %(group)s was reviewed, and the facilitators took action. "
                    "Thank you for telling them."
                )
            else:
                text = _(
                    "Your report in %(group)s was reviewed. The facilitators decided no action was needed "
                    "this time. Thank you for telling them."
                )
            text = text % {"group": report.group.name}
        do_notify(
            reporter.user,
            NoticeKind.REPORTS,
            text,
            url=reverse("groups:detail", args=[report.group.slug]),
            group=report.group,
        )
    _recount(report.group)


# --- Sanctions ---------------------------------------------------------------------------

GROUP_KINDS = {
    Sanction.Kind.WARN,
    Sanction.Kind.DELETE_MESSAGE,
    Sanction.Kind.TIMEOUT,
    Sanction.Kind.REMOVE_FROM_MEETING,
    Sanction.Kind.SUSPEND,
    Sanction.Kind.BAN,
}


def close_sockets(memberships: list[Membership], kind: str, message: str) -> None:
    """Close every open room socket of these memberships at once, saying why (after commit)."""
    presences = RoomPresence.objects.filter(membership__in=memberships).values_list("room_id", "membership_id")
    for room_id, membership_id in set(presences):
        send_to_group_on_commit(
            events.member_group(room_id, membership_id),
            {"type": "room.close", "frame": events.notice_frame(kind, message), "code": CLOSE_REFUSED},
        )


def _tell_member_sockets(membership: Membership, frame: dict[str, Any]) -> None:
    rooms = set(RoomPresence.objects.filter(membership=membership).values_list("room_id", flat=True))
    for room_id in rooms:
        publish_on_commit(events.member_group(room_id, membership.pk), frame)


def _check_may_sanction(moderator: Moderator, target: Membership) -> None:
    if target.group_id != moderator.group.pk:
        raise ActionError(_("There is no such member in this group."))
    if moderator.membership is not None and target.pk == moderator.membership.pk:
        raise ActionError(_("You can't act on yourself."))
    # The role they hold in the group, banned or not: a ban does not make a facilitator
    # someone their co-facilitators may then lift or overturn.
    if target.role in (Membership.Role.FACILITATOR, Membership.Role.OWNER) and not moderator.is_owner:
        raise ActionError(_("Only owners and site staff can act on a facilitator."))
    if target.role == Membership.Role.OWNER and not moderator.is_staff:
        raise ActionError(_("Only site staff can act on an owner."))


def _until(ends_at: datetime | None, *, required: bool) -> datetime | None:
    if ends_at is None:
        if required:
            raise ActionError(_("Choose when it ends."), field="ends_at")
        return None
    if ends_at <= timezone.now():
        raise ActionError(_("The end must be in the future."), field="ends_at")
    return ends_at


def _when(moment: datetime | None, user: User, group: SupportGroup | None) -> str:
    if moment is None:
        return ""
    return show_time(moment, user.timezone, group.timezone if group else user.timezone).local


@transaction.atomic
def do_sanction(
    moderator: Moderator,
    target_public_id: str,
    kind: str,
    *,
    reason: str,
    ends_at: datetime | None = None,
    minutes: int | None = None,
    meeting_public_id: str | None = None,
    message_seq: int | None = None,
    report: Report | None = None,
) -> Sanction:
    """Act on a member of the group. Enforced at once on every page and socket."""
    if kind not in GROUP_KINDS:
        raise ActionError(_("Choose an action from the list."), field="kind")
    target = (
        Membership.objects.select_for_update()
        .select_related("user", "group")
        .filter(group=moderator.group, public_id=target_public_id)
        .first()
    )
    if target is None:
        raise ActionError(_("There is no such member in this group."))
    _check_may_sanction(moderator, target)
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(_("Give a reason: the member will see it."), field="reason")
    if len(reason) > 500:
        raise ActionError(_("Keep the reason under 500 characters."), field="reason")
    if report is not None and (report.group_id != moderator.group.pk or not can_handle(moderator, report)):
        raise ActionError(_("There is no such report for you."))
    now = timezone.now()
    meeting: Meeting | None = None
    if kind in (Sanction.Kind.DELETE_MESSAGE, Sanction.Kind.REMOVE_FROM_MEETING):
        meeting = Meeting.objects.filter(group=moderator.group, public_id=meeting_public_id or "").first()
        if meeting is None:
            raise ActionError(_("Choose a meeting of this group."), field="meeting")
    if kind == Sanction.Kind.TIMEOUT:
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
            raise ActionError(_("Choose how long the timeout lasts."), field="minutes")
        if timedelta(minutes=minutes) > MAX_TIMEOUT:
            raise ActionError(_("A timeout lasts at most 7 days; suspend for longer."), field="minutes")
        ends_at = now + timedelta(minutes=minutes)
    elif kind == Sanction.Kind.SUSPEND:
        ends_at = _until(ends_at, required=True)
    elif kind == Sanction.Kind.BAN:
        ends_at = _until(ends_at, required=False)
    elif ends_at is not None:
        raise ActionError(_("Only timeouts, suspensions and bans have an end."), field="ends_at")
    if kind == Sanction.Kind.DELETE_MESSAGE and meeting is not None:
        _delete_message(moderator, target, meeting, message_seq, reason)
    elif kind == Sanction.Kind.REMOVE_FROM_MEETING and meeting is not None:
        _remove_from_meeting(target, meeting, reason)
    # A new timeout, suspension or ban never cuts short a longer one already in force: the
    # membership holds whichever ends last (and _lift falls back to it).
    elif kind == Sanction.Kind.TIMEOUT:
        if not target.timed_out_now() or _ends_later(ends_at, target.timeout_until):
            target.timeout_until, target.timeout_reason = ends_at, reason
            target.save(update_fields=["timeout_until", "timeout_reason"])
    elif kind == Sanction.Kind.SUSPEND:
        if not target.suspended_now() or _ends_later(ends_at, target.suspended_until):
            target.suspended_until, target.suspension_reason = ends_at, reason
            target.save(update_fields=["suspended_until", "suspension_reason"])
    elif kind == Sanction.Kind.BAN:
        if not target.ban_in_force() or _ends_later(ends_at, target.banned_until):
            target.banned_until = ends_at
        target.status = Membership.Status.BANNED
        target.left_at = now
        target.save(update_fields=["status", "banned_until", "left_at"])  # the role stays, for who may lift it
        _withdraw_rsvps(target)
    sanction = Sanction.objects.create(
        kind=kind,
        user=target.user,
        group=moderator.group,
        membership=target,
        meeting=meeting,
        message_seq=message_seq if kind == Sanction.Kind.DELETE_MESSAGE else None,
        report=report,
        reason=reason,
        actor=moderator.user,
        actor_label=moderator.label,
        ends_at=ends_at,
    )
    audit(
        f"sanction.{kind}",
        actor=moderator.user,
        actor_label=moderator.label,
        group=moderator.group,
        target=target,
        reason=reason,
        sanction=sanction.public_id,
        ends_at=events.iso(ends_at),
        report=report.public_id if report else None,
    )
    _tell_sanctioned(sanction, target)
    return sanction


def _delete_message(moderator: Moderator, target: Membership, meeting: Meeting, seq: int | None, reason: str) -> None:
    message = (
        RoomEvent.objects.select_for_update()
        .filter(room__meeting=meeting, seq=seq if isinstance(seq, int) else -1, kind=RoomEvent.Kind.MESSAGE)
        .first()
    )
    if message is None or message.membership_id != target.pk:
        raise ActionError(_("There is no such message by this member in that meeting."), field="message")
    if message.deleted_at is not None:
        raise ActionError(_("This message is already deleted."))
    room = Room.objects.select_for_update().get(pk=message.room_id)
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    room.last_seq += 1
    room.save(update_fields=["last_seq"])
    actor = moderator.membership if moderator.membership is not None else target
    deletion = RoomEvent.objects.create(
        room=room, seq=room.last_seq, kind=RoomEvent.Kind.DELETION, membership=actor, target_seq=message.seq
    )
    frame = events.event_frame(deletion, actor)
    publish_on_commit(events.room_group(room.pk), frame, seq=deletion.seq)


def _remove_from_meeting(target: Membership, meeting: Meeting, reason: str) -> None:
    room, _created = Room.objects.get_or_create(meeting=meeting)
    # Someone removed before they came in is kept out by this row, but did not attend.
    participant, _created = RoomParticipant.objects.get_or_create(
        room=room, membership=target, defaults={"entered": False}
    )
    participant.removed_at = timezone.now()
    participant.hand_raised_at = None
    participant.save(update_fields=["removed_at", "hand_raised_at"])
    with translation.override(target.user.language):
        message = _("A facilitator removed you from this meeting.") + " " + _("Reason: %(reason)s") % {"reason": reason}
    send_to_group_on_commit(
        events.member_group(room.pk, target.pk),
        {"type": "room.close", "frame": events.notice_frame("removed", message, reason=reason), "code": CLOSE_REFUSED},
    )


def _withdraw_rsvps(membership: Membership) -> None:
    upcoming = Rsvp.objects.filter(membership=membership, meeting__starts_at__gt=timezone.now()).select_related(
        "meeting"
    )
    for rsvp in upcoming:
        rsvp.status = Rsvp.Status.NOT_GOING
        rsvp.save(update_fields=["status"])
        sync_reminders(rsvp.meeting, membership)


def _tell_sanctioned(sanction: Sanction, target: Membership) -> None:
    """The member is told what was decided and why, in-app and (as they chose) by email, and
    live in any room they are in. Never who reported them."""
    user = target.user
    group = target.group
    with translation.override(user.language):
        until = _when(sanction.ends_at, user, group)
        params = {"group": group.name, "reason": sanction.reason, "until": until}
        texts = {
            Sanction.Kind.WARN: _("A warning from the facilitators of %(group)s: %(reason)s"),
            Sanction.Kind.DELETE_MESSAGE: _(
                "The facilitators of %(group)s deleted a message of yours. Reason: %(reason)s"
            ),
            Sanction.Kind.TIMEOUT: _("You can't write in the rooms of %(group)s until %(until)s. Reason: %(reason)s"),
            Sanction.Kind.REMOVE_FROM_MEETING: _("You were removed from a meeting of %(group)s. Reason: %(reason)s"),
            Sanction.Kind.SUSPEND: _("You are suspended from %(group)s until %(until)s. Reason: %(reason)s"),
            Sanction.Kind.BAN: (
                _("You are banned from %(group)s until %(until)s. Reason: %(reason)s")
                if sanction.ends_at
                else _("You are banned from %(group)s. Reason: %(reason)s")
            ),
        }
        text = texts[Sanction.Kind(sanction.kind)] % params
        bar = _("You can no longer be in this group's rooms.")
    do_notify(user, NoticeKind.MODERATION, text, url=reverse("moderation:standing"), group=group)
    if sanction.kind == Sanction.Kind.SUSPEND:
        close_sockets([target], "suspended", f"{text} {bar}")  # the kind a site suspension sends too
    elif sanction.kind == Sanction.Kind.BAN:
        close_sockets([target], "ban", f"{text} {bar}")
    elif sanction.kind == Sanction.Kind.TIMEOUT:
        _tell_member_sockets(
            target, events.notice_frame("timeout", text, until=events.iso(sanction.ends_at), reason=sanction.reason)
        )
    elif sanction.kind == Sanction.Kind.WARN:
        _tell_member_sockets(target, events.notice_frame("warning", text, reason=sanction.reason))


@transaction.atomic
def do_suspend_account(staff: User, user: User, *, reason: str, ends_at: datetime | None = None) -> Sanction:
    """Site staff suspend an account everywhere: every page and socket refuses it at once."""
    if not staff.is_staff:
        raise ActionError(_("Only site staff can suspend an account."))
    if user.pk == staff.pk:
        raise ActionError(_("You can't act on yourself."))
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(_("Give a reason: the member will see it."), field="reason")
    ends_at = _until(ends_at, required=False)
    if not user.suspension_in_force() or _ends_later(ends_at, user.suspension_ends_at):
        user.suspended_at, user.suspension_ends_at, user.suspension_reason = timezone.now(), ends_at, reason[:500]
        user.save(update_fields=["suspended_at", "suspension_ends_at", "suspension_reason"])
    sanction = Sanction.objects.create(
        kind=Sanction.Kind.SITE_SUSPEND,
        user=user,
        reason=reason[:500],
        actor=staff,
        actor_label=str(_("Site staff")),
        ends_at=ends_at,
    )
    audit(
        "sanction.site_suspend",
        actor=staff,
        actor_label=str(_("Site staff")),
        target_label=user.email,  # staff-only entry (no group): the account, as the console names it
        reason=reason,
        sanction=sanction.public_id,
        ends_at=events.iso(ends_at),
    )
    with translation.override(user.language):
        text = _("Your account is suspended. Reason: %(reason)s") % {"reason": reason}
    do_notify(user, NoticeKind.MODERATION, text, url=reverse("moderation:standing"))
    close_sockets(list(user.memberships.all()), "suspended", text)
    return sanction


def _ends_later(ends_at: datetime | None, than: datetime | None) -> bool:
    """Whether a bar ending at `ends_at` (None: never) outlasts one ending at `than`."""
    return than is not None and (ends_at is None or ends_at > than)


def _longest_in_force(sanction: Sanction) -> Sanction | None:
    """Another sanction of the same kind on the same person (and meeting) still in force, the
    one that ends last; None if there is none."""
    now = timezone.now()
    others = (
        Sanction.objects.filter(kind=sanction.kind, user_id=sanction.user_id, lifted_at__isnull=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .exclude(pk=sanction.pk)
    )
    # A site suspension has no membership; the others are on the same one (or none) too.
    others = others.filter(membership=sanction.membership)
    if sanction.kind == Sanction.Kind.REMOVE_FROM_MEETING:
        others = others.filter(meeting=sanction.meeting)
    return max(others, key=lambda other: (other.ends_at is None, other.ends_at or now), default=None)


def _lift(sanction: Sanction) -> None:
    """Undo what a sanction set. Where another sanction of the same kind still holds on the
    person (two overlapping suspensions, say), its bar stays: lifting one never lifts the other."""
    sanction.lifted_at = timezone.now()
    sanction.save(update_fields=["lifted_at"])
    target = sanction.membership
    other = _longest_in_force(sanction)
    if sanction.kind == Sanction.Kind.SITE_SUSPEND:
        if other is None:
            User.objects.filter(pk=sanction.user_id).update(
                suspended_at=None, suspension_ends_at=None, suspension_reason=""
            )
        else:
            User.objects.filter(pk=sanction.user_id).update(
                suspension_ends_at=other.ends_at, suspension_reason=other.reason
            )
    elif target is None:
        return
    elif sanction.kind == Sanction.Kind.TIMEOUT:
        Membership.objects.filter(pk=target.pk).update(
            timeout_until=other.ends_at if other else None, timeout_reason=other.reason if other else ""
        )
    elif sanction.kind == Sanction.Kind.SUSPEND:
        Membership.objects.filter(pk=target.pk).update(
            suspended_until=other.ends_at if other else None, suspension_reason=other.reason if other else ""
        )
    elif sanction.kind == Sanction.Kind.BAN:
        banned = Membership.objects.filter(pk=target.pk, status=Membership.Status.BANNED)
        if other is None:
            banned.update(status=Membership.Status.LEFT, banned_until=None, role=Membership.Role.MEMBER)
        else:
            banned.update(banned_until=other.ends_at)
    elif sanction.kind == Sanction.Kind.REMOVE_FROM_MEETING and sanction.meeting_id and other is None:
        RoomParticipant.objects.filter(room__meeting_id=sanction.meeting_id, membership=target).update(removed_at=None)


@transaction.atomic
def do_lift(moderator: Moderator, sanction_public_id: str, reason: str) -> Sanction:
    sanction = Sanction.objects.select_for_update().filter(public_id=sanction_public_id, group=moderator.group).first()
    if sanction is None or sanction.membership is None:
        raise ActionError(_("There is no such decision in this group."))
    _check_may_sanction(moderator, sanction.membership)
    if not sanction.is_liftable:  # over, or done once and for all (a warning, a deletion)
        raise ActionError(_("This decision is no longer in force."))
    _lift(sanction)
    audit(
        "sanction.lifted",
        actor=moderator.user,
        actor_label=moderator.label,
        group=moderator.group,
        target=sanction.membership,
        reason=(reason or "").strip(),
        sanction=sanction.public_id,
    )
    return sanction


@transaction.atomic
def do_lift_account_suspension(staff: User, sanction_public_id: str, reason: str) -> Sanction:
    if not staff.is_staff:
        raise ActionError(_("Only site staff can lift a suspension."))
    sanction = (
        Sanction.objects.select_for_update()
        .filter(public_id=sanction_public_id, kind=Sanction.Kind.SITE_SUSPEND)
        .select_related("user")
        .first()
    )
    if sanction is None:
        raise ActionError(_("There is no such suspension."))
    if not sanction.is_in_force():
        raise ActionError(_("This decision is no longer in force."))
    _lift(sanction)
    audit(
        "sanction.lifted",
        actor=staff,
        actor_label=str(_("Site staff")),
        target_label=sanction.user.email,
        reason=(reason or "").strip(),
        sanction=sanction.public_id,
    )
    return sanction


def sanctions_of(user: User) -> QuerySet[Sanction]:
    """A person's own sanctions, newest first, for their standing page."""
    return Sanction.objects.filter(user=user).select_related("group", "appeal")


# --- What site staff watch ----------------------------------------------------------------


def escalated_reports() -> QuerySet[Report]:
    """Reports escalated to site staff and still open, in every group, newest first."""
    return Report.objects.filter(escalated_at__isnull=False, status__in=Report.OPEN_STATUSES).select_related(
        "group", "subject"
    )


def site_suspensions_in_force(at: datetime | None = None) -> QuerySet[Sanction]:
    """Site-wide account suspensions in force (not lifted, not ended), newest first."""
    at = at or timezone.now()
    return (
        Sanction.objects.filter(kind=Sanction.Kind.SITE_SUSPEND, lifted_at__isnull=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .select_related("user")
    )


# --- Appeals -----------------------------------------------------------------------------


@transaction.atomic
def do_appeal(user: User, sanction_public_id: str, text: str) -> Appeal:
    """Appeal one's own sanction, once."""
    sanction = Sanction.objects.select_for_update().filter(public_id=sanction_public_id).first()
    if sanction is None or sanction.user_id != user.pk:
        raise ActionError(_("There is no such decision about you."))
    if Appeal.objects.filter(sanction=sanction).exists():
        raise ActionError(_("You have already appealed this decision. Each decision can be appealed once."))
    text = (text or "").strip()
    if not text:
        raise ActionError(_("Say why the decision should change."), field="text")
    if len(text) > MAX_DETAILS:
        raise ActionError(_("Keep the appeal under %(max)d characters.") % {"max": MAX_DETAILS}, field="text")
    appeal = Appeal.objects.create(sanction=sanction, text=text)
    audit(
        "appeal.filed",
        actor=user,
        actor_label=sanction.membership.handle if sanction.membership else user.email,
        group=sanction.group,
        target=sanction.membership,
        target_label=user.email,  # only for a site suspension (no membership); staff-only entry
        sanction=sanction.public_id,
    )
    return appeal


def may_decide(moderator: Moderator, appeal: Appeal) -> bool:
    sanction = appeal.sanction
    if sanction.actor_id == moderator.user.pk:
        return False
    if sanction.group_id is None:
        return moderator.is_staff
    if sanction.group_id != moderator.group.pk:
        return False
    if moderator.is_staff:
        return True
    target = sanction.membership
    own = moderator.membership
    if own is None or target is None or own.pk == target.pk:
        return False
    if target.role == Membership.Role.OWNER:
        return False  # only staff decide about owners
    return own.is_owner or target.role == Membership.Role.MEMBER


@transaction.atomic
def do_decide_appeal(moderator: Moderator, appeal_id: int, *, overturn: bool, note: str = "") -> Appeal:
    """Keep or overturn a decision. Someone other than whoever made it decides."""
    appeal = (
        Appeal.objects.select_for_update(of=("self",))  # sanction.membership is a nullable (outer) join
        .select_related("sanction__membership", "sanction__user")
        .filter(pk=appeal_id)
        .first()
    )
    if appeal is None:
        raise ActionError(_("There is no such appeal."))
    if appeal.sanction.actor_id == moderator.user.pk:
        raise ActionError(_("Someone other than the person who made the decision must decide the appeal."))
    if not may_decide(moderator, appeal):
        raise ActionError(_("There is no such appeal."))
    if appeal.status != Appeal.Status.PENDING:
        raise ActionError(_("This appeal is already decided."))
    appeal.status = Appeal.Status.OVERTURNED if overturn else Appeal.Status.UPHELD
    appeal.decided_by = moderator.user
    appeal.decided_at = timezone.now()
    appeal.decision_note = (note or "").strip()[:1000]
    appeal.save()
    if overturn and appeal.sanction.is_in_force():
        _lift(appeal.sanction)
    audit(
        "appeal.overturned" if overturn else "appeal.upheld",
        actor=moderator.user,
        actor_label=moderator.label,
        group=appeal.sanction.group,
        target=appeal.sanction.membership,
        target_label=appeal.sanction.user.email,  # only for a site suspension (no membership)
        reason=appeal.decision_note,
        sanction=appeal.sanction.public_id,
    )
    user = appeal.sanction.user
    with translation.override(user.language):
        text = (
            _("Your appeal was accepted: the decision is overturned.")
            if overturn
            else _("Your appeal was reviewed: the decision stands.")
        )
        if appeal.decision_note:
            text += " " + appeal.decision_note
    do_notify(user, NoticeKind.MODERATION, text, url=reverse("moderation:standing"))
    return appeal


# --- Personal blocks ---------------------------------------------------------------------


def _blocks_changed(blocker: Membership) -> None:
    rooms = set(RoomPresence.objects.filter(membership=blocker).values_list("room_id", flat=True))
    for room_id in rooms:
        send_to_group_on_commit(events.member_group(room_id, blocker.pk), {"type": "blocks.changed"})


@transaction.atomic
def do_block(blocker: Membership, blocked_public_id: str) -> Block:
    """Hide a member's messages from oneself, everywhere in the group. They are not told."""
    if not blocker.is_active:
        raise ActionError(_("Only members of this group can block."))
    blocked = Membership.objects.filter(group_id=blocker.group_id, public_id=blocked_public_id).first()
    if blocked is None:
        raise ActionError(_("There is no such member in this group."))
    if blocked.pk == blocker.pk:
        raise ActionError(_("You can't block yourself."))
    block, _created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    _blocks_changed(blocker)
    return block


@transaction.atomic
def do_unblock(blocker: Membership, blocked_public_id: str) -> None:
    Block.objects.filter(blocker=blocker, blocked__public_id=blocked_public_id).delete()
    _blocks_changed(blocker)


# --- Watched words -----------------------------------------------------------------------


@transaction.atomic
def do_add_watched_word(moderator: Moderator | None, staff: User | None, phrase: str, action: str) -> WatchedWord:
    """A word for this group (a facilitator) or, with `staff` and no moderator, for every group."""
    phrase = (phrase or "").strip()
    key = normalise(phrase)
    # "!!!" reads as "iii" (symbols stand for letters): it would match every "I".
    if not key or not any(ch.isalpha() for ch in phrase):
        raise ActionError(_("Write a word or phrase with letters in it."), field="phrase")
    if len(phrase) > 100:
        raise ActionError(_("Keep it under 100 characters."), field="phrase")
    if action not in WatchedWord.Action.values:
        raise ActionError(_("Choose what happens from the list."), field="action")
    group = moderator.group if moderator is not None else None
    if moderator is None and (staff is None or not staff.is_staff):
        raise ActionError(_("Only site staff can watch words everywhere."))
    if WatchedWord.objects.filter(group=group, normalised=key).exists():
        raise ActionError(_("That word is already watched."), field="phrase")
    actor = moderator.user if moderator is not None else staff
    word = WatchedWord.objects.create(group=group, phrase=phrase, normalised=key, action=action, created_by=actor)
    audit(
        "watched_word.added",
        actor=actor,
        actor_label=moderator.label if moderator else str(_("Site staff")),
        group=group,
        reason=phrase,
        action_taken=action,
    )
    return word


@transaction.atomic
def do_remove_watched_word(moderator: Moderator | None, staff: User | None, word_id: int) -> None:
    group = moderator.group if moderator is not None else None
    if moderator is None and (staff is None or not staff.is_staff):
        raise ActionError(_("Only site staff can watch words everywhere."))
    word = WatchedWord.objects.filter(pk=word_id, group=group).first()
    if word is None:
        raise ActionError(_("That word isn't watched here."))
    actor = moderator.user if moderator is not None else staff
    audit(
        "watched_word.removed",
        actor=actor,
        actor_label=moderator.label if moderator else str(_("Site staff")),
        group=group,
        reason=word.phrase,
    )
    word.delete()
