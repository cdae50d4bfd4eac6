"""Rules for meetings: schedules, single meetings, RSVPs and the waitlist, calendar feeds.

Times are stored in UTC; series rules live in the group's timezone (see recurrence.py).
RSVPs for one meeting are serialised by locking the meeting row, so two people taking the last
place at the same moment cannot both get it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.actions import do_notify
from accounts.models import NoticeKind, User
from groups.actions import GroupAccess, Viewer, access_group, require_member
from groups.models import Membership, SupportGroup
from lib.errors import ActionError
from lib.timefmt import show_time
from meetings import recurrence
from meetings.models import MAX_DURATION_MINUTES, CalendarFeed, Meeting, MeetingSeries, RotaEntry, Rsvp
from meetings.reminders import sync_meeting_reminders, sync_reminders

MATERIALISE_AHEAD = timedelta(weeks=8)

# Notices, rendered later in each recipient's own language.
MOVED = gettext_lazy("%(title)s has moved to %(when)s.")
CANCELLED = gettext_lazy("%(title)s on %(when)s is cancelled.")
SCHEDULE_CHANGED = gettext_lazy("The group's schedule changed.")
SERIES_ENDED = gettext_lazy("This regular meeting has ended.")
NEEDS_FACILITATOR_WITHIN = timedelta(hours=48)


# --- Access ------------------------------------------------------------------------------


def access_meeting(user: Viewer, slug: str, public_id: str) -> tuple[GroupAccess, Meeting]:
    """A meeting page is for the group's members (and staff); others get 403, or 404 if hidden."""
    access = require_member(access_group(user, slug))
    meeting = (
        Meeting.objects.filter(group=access.group, public_id=public_id)
        .select_related("facilitator", "backup", "series")
        .first()
    )
    if meeting is None:
        raise Http404("No such meeting")
    return access, meeting


def require_scheduler(access: GroupAccess) -> GroupAccess:
    if not access.can_moderate:
        raise PermissionDenied(_("Only this group's facilitators and owners manage its schedule."))
    return access


# --- Checks ------------------------------------------------------------------------------


def check_duration(minutes: int) -> timedelta:
    if not 1 <= minutes <= MAX_DURATION_MINUTES:
        raise ActionError(_("A meeting lasts from 1 minute to 12 hours."), field="duration_minutes")
    return timedelta(minutes=minutes)


def check_capacity(capacity: int, meeting: Meeting | None = None) -> int:
    if not 1 <= capacity <= 500:
        raise ActionError(_("A meeting has from 1 to 500 places."), field="capacity")
    if meeting is not None:
        going = meeting.rsvps.filter(status=Rsvp.Status.GOING).count()
        if capacity < going:
            raise ActionError(
                ngettext(
                    "%(going)d person is already going: places can't go below that.",
                    "%(going)d people are already going: places can't go below that.",
                    going,
                )
                % {"going": going},
                field="capacity",
            )
    return capacity


def check_facilitators(group: SupportGroup, *people: Membership | None) -> None:
    for person in people:
        if person is not None and (person.group_id != group.pk or not person.is_facilitator):
            raise ActionError(_("Only the group's facilitators can run its meetings."), field="facilitator")


def local_to_utc(day: date, at: time, timezone_name: str) -> datetime:
    return datetime.combine(day, at).replace(tzinfo=recurrence.zone(timezone_name)).astimezone(UTC)


# --- Series ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesData:
    title: str
    rule: str
    start_date: date
    start_time: time
    duration_minutes: int
    capacity: int
    rota: list[Membership]


def _checked_series(group: SupportGroup, data: SeriesData) -> SeriesData:
    if not data.title.strip():
        raise ActionError(_("Give the meeting a title."), field="title")
    rule = recurrence.check_rule(
        data.rule,
        data.start_date,
        data.start_time,
        group.timezone,
        today=timezone.localdate(timezone=recurrence.zone(group.timezone)),
    )
    check_duration(data.duration_minutes)
    check_capacity(data.capacity)
    check_facilitators(group, *data.rota)
    return SeriesData(
        data.title.strip(), rule, data.start_date, data.start_time, data.duration_minutes, data.capacity, data.rota
    )


def set_rota(series: MeetingSeries, rota: list[Membership]) -> None:
    """Replace a series' rota with these facilitators, in this order."""
    series.rota_entries.all().delete()
    RotaEntry.objects.bulk_create(
        RotaEntry(series=series, membership=membership, position=index) for index, membership in enumerate(rota)
    )


class RotaChange:
    """What one edit of a rota does (the console's buttons)."""

    ADD = "add"  # to the end of the rota
    REMOVE = "remove"
    UP = "up"  # one place earlier
    DOWN = "down"
    ALL = (ADD, REMOVE, UP, DOWN)


def rota_of(series: MeetingSeries) -> list[Membership]:
    return [entry.membership for entry in series.rota_entries.select_related("membership")]


@transaction.atomic
def do_change_rota(access: GroupAccess, series_public_id: str, change: str, member_public_id: str) -> MeetingSeries:
    """Add a facilitator to a series' rota, take one out, or move one up or down.

    The same people may do this as may edit the series (facilitators, owners, staff). Only
    active facilitators and owners can be added, each once; someone who stopped facilitating
    can still be taken out or moved (materialising skips them). The rota decides who runs the
    meetings planned from now on; meetings already on the calendar keep who runs them (change
    one on its own page). On any error nothing changes.
    """
    require_scheduler(access)
    series = (
        MeetingSeries.objects.select_for_update()
        .filter(group=access.group, public_id=series_public_id, ended_at__isnull=True)
        .first()
    )
    if series is None:
        raise ActionError(_("This regular meeting has ended or does not exist."))
    if change not in RotaChange.ALL:
        raise ActionError(_("Choose add, remove, up or down."))
    person = Membership.objects.filter(group=access.group, public_id=member_public_id).first()
    if person is None:
        raise ActionError(_("There is nobody with that name in this group."), field="member")
    rota = rota_of(series)
    place = next((index for index, member in enumerate(rota) if member.pk == person.pk), None)
    handle = {"handle": person.handle}
    if change == RotaChange.ADD:
        if not person.is_facilitator:
            raise ActionError(_("Only the group's facilitators and owners can be in a rota."), field="member")
        if place is not None:
            raise ActionError(_("%(handle)s is already in this rota.") % handle, field="member")
        rota.append(person)
    elif place is None:
        raise ActionError(_("%(handle)s is not in this rota.") % handle, field="member")
    elif change == RotaChange.REMOVE:
        rota.pop(place)
    else:
        other = place - 1 if change == RotaChange.UP else place + 1
        if not 0 <= other < len(rota):
            message = _("%(handle)s is already first.") if other < 0 else _("%(handle)s is already last.")
            raise ActionError(message % handle, field="member")
        rota[place], rota[other] = rota[other], rota[place]
    set_rota(series, rota)
    return series


@transaction.atomic
def do_create_series(access: GroupAccess, data: SeriesData) -> MeetingSeries:
    """A recurring schedule; its meetings for the coming weeks exist at once."""
    require_scheduler(access)
    data = _checked_series(access.group, data)
    series = MeetingSeries.objects.create(
        group=access.group,
        title=data.title,
        rrule=data.rule,
        timezone=access.group.timezone,
        start_date=data.start_date,
        start_time=data.start_time,
        duration_minutes=data.duration_minutes,
        capacity=data.capacity,
    )
    set_rota(series, data.rota)
    materialise_series(series)
    return series


@transaction.atomic
def do_update_series(access: GroupAccess, series: MeetingSeries, data: SeriesData) -> None:
    """Change a series from now on. Past meetings and ones moved on their own stay as they are;
    upcoming ones follow the new rule, keeping their RSVPs where their date still fits."""
    require_scheduler(access)
    data = _checked_series(access.group, data)
    upcoming = list(
        series.meetings.filter(starts_at__gt=timezone.now(), is_detached=False, status=Meeting.Status.SCHEDULED)
    )
    for meeting in upcoming:
        going = meeting.rsvps.filter(status=Rsvp.Status.GOING).count()
        if data.capacity < going:
            raise ActionError(
                ngettext(
                    "%(going)d person is going to the meeting on %(date)s: places can't go below that.",
                    "%(going)d people are going to the meeting on %(date)s: places can't go below that.",
                    going,
                )
                % {"going": going, "date": meeting.series_date},
                field="capacity",
            )
    series.title = data.title
    series.rrule = data.rule
    series.start_date = data.start_date
    series.start_time = data.start_time
    series.duration_minutes = data.duration_minutes
    series.capacity = data.capacity
    series.save()
    set_rota(series, data.rota)
    wanted = {occurrence.series_date: occurrence for occurrence in _series_window(series)}
    for meeting in upcoming:
        occurrence = wanted.pop(meeting.series_date, None) if meeting.series_date else None
        if occurrence is None:
            _cancel(meeting, SCHEDULE_CHANGED)
            continue
        moved = occurrence.starts_at != meeting.starts_at
        meeting.title = data.title
        meeting.starts_at = occurrence.starts_at
        meeting.ends_at = occurrence.ends_at
        meeting.capacity = data.capacity
        meeting.save()
        _promote_waitlist(meeting)
        if moved:
            sync_meeting_reminders(meeting)
            _tell_attendees(meeting, MOVED, reason=SCHEDULE_CHANGED)
    materialise_series(series)


@transaction.atomic
def do_end_series(access: GroupAccess, series: MeetingSeries) -> int:
    """Stop a series: its upcoming meetings are cancelled (and people told). Returns how many."""
    require_scheduler(access)
    series.ended_at = timezone.now()
    series.save(update_fields=["ended_at"])
    upcoming = series.meetings.filter(starts_at__gt=timezone.now(), status=Meeting.Status.SCHEDULED, is_detached=False)
    count = 0
    for meeting in upcoming:
        _cancel(meeting, SERIES_ENDED)
        count += 1
    return count


def _series_window(series: MeetingSeries, now: datetime | None = None) -> list[recurrence.Occurrence]:
    now = now or timezone.now()
    return recurrence.occurrences(
        series.rrule,
        series.start_date,
        series.start_time,
        timedelta(minutes=series.duration_minutes),
        series.timezone,
        window_start=now,
        window_end=now + MATERIALISE_AHEAD,
    )


def materialise_series(series: MeetingSeries, now: datetime | None = None) -> int:
    """Create the series' missing meetings in the coming weeks. Idempotent; returns how many."""
    if series.ended_at is not None:
        return 0
    existing = set(series.meetings.values_list("series_date", flat=True))
    rota = [entry.membership for entry in series.rota_entries.select_related("membership")]
    rota = [person for person in rota if person.is_facilitator]
    index = series.meetings.count()
    new = []
    for occurrence in _series_window(series, now):
        if occurrence.series_date in existing:
            continue
        facilitator = rota[index % len(rota)] if rota else None
        backup = rota[(index + 1) % len(rota)] if len(rota) > 1 else None
        new.append(
            Meeting(
                group_id=series.group_id,
                series=series,
                series_date=occurrence.series_date,
                title=series.title,
                starts_at=occurrence.starts_at,
                ends_at=occurrence.ends_at,
                capacity=series.capacity,
                facilitator=facilitator,
                backup=backup,
            )
        )
        index += 1
    # ignore_conflicts: a concurrent run that made the same meeting first wins, harmlessly.
    Meeting.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def materialise_all(now: datetime | None = None) -> int:
    total = 0
    for series in MeetingSeries.objects.filter(ended_at__isnull=True):
        with transaction.atomic():
            total += materialise_series(series, now)
    return total


# --- Single meetings ---------------------------------------------------------------------


@transaction.atomic
def do_create_meeting(
    access: GroupAccess,
    *,
    title: str,
    day: date,
    at: time,
    duration_minutes: int,
    capacity: int,
    facilitator: Membership | None,
    backup: Membership | None,
) -> Meeting:
    """A one-off meeting, at a local time in the group's timezone."""
    require_scheduler(access)
    if not title.strip():
        raise ActionError(_("Give the meeting a title."), field="title")
    length = check_duration(duration_minutes)
    check_capacity(capacity)
    check_facilitators(access.group, facilitator, backup)
    starts_at = local_to_utc(day, at, access.group.timezone)
    if starts_at <= timezone.now():
        raise ActionError(_("Choose a time in the future."), field="day")
    return Meeting.objects.create(
        group=access.group,
        title=title.strip(),
        starts_at=starts_at,
        ends_at=starts_at + length,
        capacity=capacity,
        facilitator=facilitator,
        backup=backup,
    )


@transaction.atomic
def do_update_meeting(
    access: GroupAccess,
    meeting: Meeting,
    *,
    day: date,
    at: time,
    duration_minutes: int,
    capacity: int,
    facilitator: Membership | None,
    backup: Membership | None,
    reason: str,
) -> None:
    """Reschedule one meeting, change its places or who runs it. Attendees are told of a move."""
    require_scheduler(access)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.is_cancelled:
        raise ActionError(_("This meeting is cancelled."))
    if meeting.has_started():
        raise ActionError(_("This meeting has already started."))
    length = check_duration(duration_minutes)
    check_capacity(capacity, meeting)
    check_facilitators(access.group, facilitator, backup)
    if facilitator is not None and backup is not None and facilitator.pk == backup.pk:
        raise ActionError(_("The backup must be someone other than the facilitator."), field="backup")
    starts_at = local_to_utc(day, at, access.group.timezone)
    moved = starts_at != meeting.starts_at or starts_at + length != meeting.ends_at
    if moved and starts_at <= timezone.now():
        raise ActionError(_("Choose a time in the future."), field="day")
    if moved and not reason.strip():
        raise ActionError(_("Say why the meeting moves: the people going will see it."), field="reason")
    meeting.starts_at = starts_at
    meeting.ends_at = starts_at + length
    meeting.capacity = capacity
    meeting.facilitator = facilitator
    meeting.backup = backup
    if facilitator is not None:
        meeting.needs_facilitator_flagged_at = None
    if moved:
        meeting.is_detached = True
        meeting.change_reason = reason.strip()[:300]
    meeting.save()
    _promote_waitlist(meeting)
    if moved:
        sync_meeting_reminders(meeting)
        _tell_attendees(meeting, MOVED, reason=meeting.change_reason)


@transaction.atomic
def do_cancel_meeting(access: GroupAccess, meeting: Meeting, reason: str) -> None:
    require_scheduler(access)
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.is_cancelled:
        raise ActionError(_("This meeting is already cancelled."))
    if meeting.has_started():
        raise ActionError(_("This meeting has already started."))
    if not reason.strip():
        raise ActionError(_("Say why the meeting is cancelled: the people going will see it."), field="reason")
    _cancel(meeting, reason.strip())


def _cancel(meeting: Meeting, reason: str | Promise) -> None:
    meeting.status = Meeting.Status.CANCELLED
    with translation.override(settings.LANGUAGE_CODE):  # what the meeting page shows everyone
        meeting.change_reason = str(reason)[:300]
    meeting.is_detached = True
    meeting.save(update_fields=["status", "change_reason", "is_detached"])
    sync_meeting_reminders(meeting)
    _tell_attendees(meeting, CANCELLED, reason=reason)


def _tell_attendees(meeting: Meeting, template: Promise, *, reason: str | Promise) -> None:
    """An in-app notice to everyone going or waitlisted, in their own language and timezone
    (the texts arrive lazy, and are rendered inside each recipient's language)."""
    rsvps = meeting.rsvps.filter(status__in=[Rsvp.Status.GOING, Rsvp.Status.WAITLISTED]).select_related(
        "membership__user", "meeting__group"
    )
    url = reverse("meetings:detail", args=[meeting.group.slug, meeting.public_id])
    for rsvp in rsvps:
        user = rsvp.membership.user
        with translation.override(user.language):
            when = show_time(meeting.starts_at, user.timezone, meeting.group.timezone).local
            text = str(template) % {"title": meeting.title, "when": when}
            subject = text
            if reason:
                text += " " + _("Reason: %(reason)s") % {"reason": str(reason)}
        do_notify(user, NoticeKind.MEETING, text, url=url, subject=subject, group=meeting.group)


# --- RSVPs and the waitlist --------------------------------------------------------------


@transaction.atomic
def do_rsvp(membership: Membership, meeting: Meeting, *, going: bool) -> Rsvp:
    """Say going or not going. When the meeting is full, going means the waitlist.

    The meeting row is locked first, so concurrent RSVPs for one meeting take turns.
    """
    meeting = Meeting.objects.select_for_update().select_related("group").get(pk=meeting.pk)
    if meeting.group_id != membership.group_id or not membership.is_active:
        raise ActionError(_("Only members of this group can answer for its meetings."))
    if meeting.is_cancelled:
        raise ActionError(_("This meeting is cancelled."))
    if meeting.has_started():
        raise ActionError(_("This meeting has already started: answers are closed."))
    rsvp = Rsvp.objects.filter(meeting=meeting, membership=membership).first()
    now = timezone.now()
    if going:
        if rsvp is not None and rsvp.status in (Rsvp.Status.GOING, Rsvp.Status.WAITLISTED):
            return rsvp
        taken = meeting.rsvps.filter(status=Rsvp.Status.GOING).count()
        status = Rsvp.Status.GOING if taken < meeting.capacity else Rsvp.Status.WAITLISTED
        rsvp = rsvp or Rsvp(meeting=meeting, membership=membership)
        rsvp.status = status
        rsvp.waitlisted_at = now if status == Rsvp.Status.WAITLISTED else None
        rsvp.updated_at = now
        rsvp.save()
        sync_reminders(meeting, membership)
        return rsvp
    rsvp = rsvp or Rsvp(meeting=meeting, membership=membership)
    was_going = rsvp.status == Rsvp.Status.GOING
    rsvp.status = Rsvp.Status.NOT_GOING
    rsvp.waitlisted_at = None
    rsvp.updated_at = now
    rsvp.save()
    sync_reminders(meeting, membership)
    if was_going:
        _promote_waitlist(meeting)
    return rsvp


def _promote_waitlist(meeting: Meeting) -> None:
    """Give free places to the waitlist, first come first served, and tell each person."""
    free = meeting.capacity - meeting.rsvps.filter(status=Rsvp.Status.GOING).count()
    if free <= 0 or meeting.is_cancelled or meeting.has_started():
        return
    promoted = list(
        meeting.rsvps.filter(status=Rsvp.Status.WAITLISTED)
        .order_by("waitlisted_at", "pk")
        .select_related("membership__user")[:free]
    )
    for rsvp in promoted:
        rsvp.status = Rsvp.Status.GOING
        rsvp.waitlisted_at = None
        rsvp.updated_at = timezone.now()
        rsvp.save(update_fields=["status", "waitlisted_at", "updated_at"])
        sync_reminders(meeting, rsvp.membership)
        user = rsvp.membership.user
        with translation.override(user.language):
            when = show_time(meeting.starts_at, user.timezone, meeting.group.timezone).local
            text = _("A place opened up: you are going to %(title)s on %(when)s.") % {
                "title": meeting.title,
                "when": when,
            }
        url = reverse("meetings:detail", args=[meeting.group.slug, meeting.public_id])
        do_notify(user, NoticeKind.WAITLIST, text, url=url, group=meeting.group)


def waitlist_position(rsvp: Rsvp) -> int | None:
    if rsvp.status != Rsvp.Status.WAITLISTED or rsvp.waitlisted_at is None:
        return None
    ahead = rsvp.meeting.rsvps.filter(status=Rsvp.Status.WAITLISTED).filter(
        Q(waitlisted_at__lt=rsvp.waitlisted_at) | Q(waitlisted_at=rsvp.waitlisted_at, pk__lt=rsvp.pk)
    )
    return ahead.count() + 1


# --- Reading -----------------------------------------------------------------------------


def upcoming_meetings(group: SupportGroup, *, limit: int = 10) -> list[Meeting]:
    """The group's next meetings (cancelled ones too, marked), with the going count."""
    return list(
        Meeting.objects.filter(group=group, ends_at__gt=timezone.now())
        .annotate(going_count=Count("rsvps", filter=Q(rsvps__status=Rsvp.Status.GOING)))
        .select_related("group", "facilitator", "backup")
        .order_by("starts_at")[:limit]
    )


def meetings_for(user: User, *, limit: int = 100) -> QuerySet[Meeting]:
    """Upcoming meetings of every group the person is an active member of, with their RSVP."""
    return (
        Meeting.objects.filter(
            ends_at__gt=timezone.now(),
            group__memberships__user=user,
            group__memberships__status=Membership.Status.ACTIVE,
        )
        .select_related("group")
        .prefetch_related(
            Prefetch("rsvps", queryset=Rsvp.objects.filter(membership__user=user), to_attr="viewer_rsvps")
        )
        .order_by("starts_at")[:limit]
    )


def flag_meetings_needing_facilitator(now: datetime | None = None) -> int:
    """Tell a group's owners, once, about each meeting within 48 hours that has no facilitator."""
    now = now or timezone.now()
    due = Meeting.objects.filter(
        status=Meeting.Status.SCHEDULED,
        facilitator__isnull=True,
        needs_facilitator_flagged_at__isnull=True,
        starts_at__gt=now,
        starts_at__lte=now + NEEDS_FACILITATOR_WITHIN,
    ).select_related("group")
    flagged = 0
    for meeting in due:
        # Claim with a conditional update: two beats running at once tell owners only once.
        claimed = Meeting.objects.filter(pk=meeting.pk, needs_facilitator_flagged_at__isnull=True).update(
            needs_facilitator_flagged_at=now
        )
        if not claimed:
            continue
        flagged += 1
        owners = meeting.group.memberships.filter(
            status=Membership.Status.ACTIVE, role=Membership.Role.OWNER
        ).select_related("user")
        url = reverse("meetings:edit", args=[meeting.group.slug, meeting.public_id])
        for owner in owners:
            with translation.override(owner.user.language):
                when = show_time(meeting.starts_at, owner.user.timezone, meeting.group.timezone).local
                text = _("%(title)s on %(when)s needs a facilitator.") % {"title": meeting.title, "when": when}
            do_notify(owner.user, NoticeKind.FACILITATION, text, url=url, group=meeting.group)
    return flagged


# --- Calendar feeds ----------------------------------------------------------------------


def hash_feed_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def do_reset_calendar_feed(user: User) -> str:
    """A new secret feed address; the old one stops working at once. Returns the token."""
    token = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(
        user=user, defaults={"token_hash": hash_feed_token(token), "created_at": timezone.now()}
    )
    return token


@transaction.atomic
def do_remove_calendar_feed(user: User) -> None:
    CalendarFeed.objects.filter(user=user).delete()


def user_for_feed(token: str) -> User:
    feed = CalendarFeed.objects.select_related("user").filter(token_hash=hash_feed_token(token)).first()
    if feed is None or not feed.user.is_active:
        raise Http404("No such calendar")
    return feed.user


def feed_meetings(user: User) -> QuerySet[Meeting]:
    """What a person's calendar shows: meetings they are going to (or waitlisted for), from a
    month back; cancelled ones stay, marked cancelled, so calendars drop them."""
    return (
        Meeting.objects.filter(
            rsvps__membership__user=user,
            rsvps__membership__status=Membership.Status.ACTIVE,
            rsvps__status__in=[Rsvp.Status.GOING, Rsvp.Status.WAITLISTED],
            starts_at__gte=timezone.now() - timedelta(days=30),
        )
        .select_related("group")
        .order_by("starts_at")
    )
