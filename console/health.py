"""Group health: counts over the last weeks of each group, for its health page and the staff
console (docs/console.md, "Group health", defines every figure).

`group_health(groups)` answers for any number of groups with four queries, whatever the number
of groups, meetings, members or reports: one for the meetings (each with its counts as
correlated subqueries, and its room's message count), one for attendance, one for new
memberships, one for reports. Weeks are cut in Python, because each group's weeks are in its
own timezone.

Only counts leave this module: no message text, no handle, no person.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, IntegerField, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from groups.models import Membership, SupportGroup
from lib.timefmt import zone
from meetings.attendance import ATTENDED
from meetings.models import Meeting, Room, RoomParticipant, Rsvp
from moderation.models import Report

DEFAULT_WEEKS = 12
RUNS_GROUP = (Membership.Role.FACILITATOR, Membership.Role.OWNER)
CLOSED_REPORT = (Report.Status.RESOLVED, Report.Status.DISMISSED)


@dataclass(frozen=True)
class MeetingFigures:
    """One meeting held (not cancelled, started by the time of the figures)."""

    starts_at: datetime  # in the group's timezone
    title: str
    rsvps: int  # "going" RSVPs
    arrivals: int  # people who entered the room (facilitators included)
    rsvps_arrived: int  # of the "going" RSVPs, how many entered
    messages: int  # messages posted (Room.message_count: kept after the transcript is deleted)
    had_facilitator: bool  # someone who runs the meeting entered its room

    @property
    def week(self) -> date:
        return week_start(self.starts_at.date())


@dataclass(frozen=True)
class WeekFigures:
    """One week, Monday to Sunday in the group's timezone (the last one runs until now)."""

    start: date
    meetings: int = 0
    rsvps: int = 0
    arrivals: int = 0
    rsvps_arrived: int = 0
    new_members: int = 0
    returning_members: int = 0
    messages: int = 0
    reports_opened: int = 0
    reports_resolved: int = 0
    meetings_with_facilitator: int = 0


@dataclass(frozen=True)
class GroupHealth:
    group: SupportGroup
    weeks: list[WeekFigures]  # oldest first; the current, partial week last
    meetings: list[MeetingFigures]  # in order of start
    hours_to_resolve: list[float]  # each report closed in the period: hours from filing to closing
    since: datetime  # the first week's Monday, 00:00 in the group's timezone
    until: datetime  # when the figures were taken

    @property
    def attendance_rate(self) -> float | None:
        """Share of "going" RSVPs whose member entered the room (0..1), None without RSVPs."""
        rsvps = sum(meeting.rsvps for meeting in self.meetings)
        if not rsvps:
            return None
        return sum(meeting.rsvps_arrived for meeting in self.meetings) / rsvps

    @property
    def median_hours_to_resolve(self) -> float | None:
        if not self.hours_to_resolve:
            return None
        return round(statistics.median(self.hours_to_resolve), 1)

    @property
    def facilitator_coverage(self) -> float | None:
        """Share of the meetings held that had a facilitator in the room (0..1), None without meetings."""
        if not self.meetings:
            return None
        return sum(meeting.had_facilitator for meeting in self.meetings) / len(self.meetings)

    @property
    def messages_per_meeting(self) -> float | None:
        """Average messages over the meetings held, None without meetings."""
        if not self.meetings:
            return None
        return sum(meeting.messages for meeting in self.meetings) / len(self.meetings)

    @property
    def totals(self) -> WeekFigures:
        """The whole period as one row (`start` is the first week's). `returning_members` adds up
        the weeks, so a person back in three weeks counts three times."""
        return _add_up(self.weeks[0].start, self.weeks)


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def group_health(
    groups: Sequence[SupportGroup], *, weeks: int = DEFAULT_WEEKS, now: datetime | None = None
) -> dict[int, GroupHealth]:
    """Health figures of each group over its last `weeks` weeks (the current one included),
    keyed by group pk. Four queries in all (none without groups)."""
    if weeks < 1:
        raise ValueError(f"weeks must be 1 or more, got {weeks!r}")
    groups = list(groups)
    if not groups:
        return {}
    now = now or timezone.now()
    by_id = {group.pk: group for group in groups}
    week_starts = {group.pk: _week_starts(group, weeks, now) for group in groups}
    since = {pk: _local_midnight(starts[0], by_id[pk]) for pk, starts in week_starts.items()}
    # One window wide enough for every group; each group's own start is applied in Python.
    earliest = min(since.values())

    held = _held_meetings(list(by_id), earliest, now)
    meetings = list(_meeting_rows(held))
    attendance = list(_attendance_rows(held))
    joined = list(
        Membership.objects.filter(group_id__in=list(by_id), joined_at__gte=earliest, joined_at__lte=now)
        .order_by()
        .values_list("group_id", "joined_at")
    )
    reports = list(
        Report.objects.filter(group_id__in=list(by_id))
        .filter(Q(created_at__gte=earliest, created_at__lte=now) | Q(closed_at__gte=earliest, closed_at__lte=now))
        .order_by()
        .values_list("group_id", "created_at", "closed_at", "status")
    )

    figures: dict[int, dict[str, defaultdict[date, int]]] = {pk: defaultdict(lambda: defaultdict(int)) for pk in by_id}
    per_group_meetings: dict[int, list[MeetingFigures]] = defaultdict(list)
    meeting_week: dict[int, tuple[int, date]] = {}
    for meeting in meetings:
        group = by_id[meeting.group_id]
        if meeting.starts_at < since[group.pk]:
            continue
        meeting.group = group  # the same row: no query for the group's timezone
        shown = _meeting_figures(meeting)
        per_group_meetings[group.pk].append(shown)
        meeting_week[meeting.pk] = (group.pk, shown.week)
        counts = figures[group.pk]
        counts["meetings"][shown.week] += 1
        counts["rsvps"][shown.week] += shown.rsvps
        counts["arrivals"][shown.week] += shown.arrivals
        counts["rsvps_arrived"][shown.week] += shown.rsvps_arrived
        counts["meetings_with_facilitator"][shown.week] += shown.had_facilitator
        counts["messages"][shown.week] += shown.messages

    returning: dict[tuple[int, date], set[int]] = defaultdict(set)
    for meeting_id, membership_id, first_attended in attendance:
        if meeting_id not in meeting_week:
            continue
        group_pk, week = meeting_week[meeting_id]
        if first_attended < _local_midnight(week, by_id[group_pk]):
            returning[(group_pk, week)].add(membership_id)
    for (group_pk, week), people in returning.items():
        figures[group_pk]["returning_members"][week] = len(people)

    for group_pk, joined_at in joined:
        group = by_id[group_pk]
        if joined_at is not None and joined_at >= since[group_pk]:
            figures[group_pk]["new_members"][_week_of(joined_at, group)] += 1

    hours: dict[int, list[float]] = defaultdict(list)
    for group_pk, created_at, closed_at, status in reports:
        group = by_id[group_pk]
        if since[group_pk] <= created_at <= now:
            figures[group_pk]["reports_opened"][_week_of(created_at, group)] += 1
        if closed_at is not None and status in CLOSED_REPORT and since[group_pk] <= closed_at <= now:
            figures[group_pk]["reports_resolved"][_week_of(closed_at, group)] += 1
            hours[group_pk].append((closed_at - created_at).total_seconds() / 3600)

    result = {}
    for pk, group in by_id.items():
        counts = figures[pk]
        rows = [
            WeekFigures(
                start=start,
                meetings=counts["meetings"][start],
                rsvps=counts["rsvps"][start],
                arrivals=counts["arrivals"][start],
                rsvps_arrived=counts["rsvps_arrived"][start],
                new_members=counts["new_members"][start],
                returning_members=counts["returning_members"][start],
                messages=counts["messages"][start],
                reports_opened=counts["reports_opened"][start],
                reports_resolved=counts["reports_resolved"][start],
                meetings_with_facilitator=counts["meetings_with_facilitator"][start],
            )
            for start in week_starts[pk]
        ]
        result[pk] = GroupHealth(
            group=group,
            weeks=rows,
            meetings=per_group_meetings[pk],
            hours_to_resolve=hours[pk],
            since=since[pk],
            until=now,
        )
    return result


# --- Weeks ---------------------------------------------------------------------------------


def _week_starts(group: SupportGroup, weeks: int, now: datetime) -> list[date]:
    current = week_start(now.astimezone(zone(group.timezone)).date())
    return [current - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def _local_midnight(day: date, group: SupportGroup) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone(group.timezone))


def _week_of(moment: datetime, group: SupportGroup) -> date:
    return week_start(moment.astimezone(zone(group.timezone)).date())


# --- Queries ---------------------------------------------------------------------------------


def _held_meetings(group_ids: list[int], earliest: datetime, now: datetime) -> Q:
    return Q(group_id__in=group_ids, starts_at__gte=earliest, starts_at__lte=now) & ~Q(status=Meeting.Status.CANCELLED)


def _count(queryset: Iterable[object], by: str) -> Coalesce:
    """A correlated COUNT(*) of `queryset` rows, grouped by `by` (0 when there are none)."""
    rows = queryset.order_by().values(by).annotate(n=Count("*")).values("n")  # type: ignore[attr-defined]
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _meeting_rows(held: Q) -> Iterable[Meeting]:
    """Each meeting held, with its room (if any, for its message count) and its counts: one query."""
    going = Rsvp.objects.filter(meeting=OuterRef("pk"), status=Rsvp.Status.GOING)
    entered = RoomParticipant.objects.filter(ATTENDED, room__meeting=OuterRef("pk"))
    arrived = RoomParticipant.objects.filter(
        ATTENDED, room__meeting=OuterRef("meeting_id"), membership=OuterRef("membership_id")
    )
    runs_it = entered.filter(
        Q(membership__role__in=RUNS_GROUP)
        | Q(membership=OuterRef("facilitator_id"))
        | Q(membership=OuterRef("backup_id"))
    )
    return (
        Meeting.objects.filter(held)
        .select_related("room")
        .only(
            "pk",
            "group_id",
            "title",
            "starts_at",
            "facilitator_id",
            "backup_id",
            "room__id",
            "room__message_count",
            "room__meeting_id",
        )
        .annotate(
            n_rsvps=_count(going, "meeting"),
            n_rsvps_arrived=_count(going.filter(Exists(arrived)), "meeting"),
            n_arrivals=_count(entered, "room"),
            any_facilitator=Exists(runs_it),
        )
        .order_by("starts_at", "pk")
    )


def _attendance_rows(held: Q) -> Iterable[tuple[int, int, datetime]]:
    """(meeting id, membership id, start of that member's first meeting attended in the group)
    for everyone who entered a meeting held in the window: one query."""
    first = (
        RoomParticipant.objects.filter(ATTENDED, membership=OuterRef("membership_id"))
        .exclude(room__meeting__status=Meeting.Status.CANCELLED)
        .order_by()
        .values("membership")
        .annotate(first=Min("room__meeting__starts_at"))
        .values("first")
    )
    return (
        RoomParticipant.objects.filter(ATTENDED, room__meeting__in=Meeting.objects.filter(held).values("pk"))
        .order_by()
        .annotate(first_attended=Subquery(first))
        .values_list("room__meeting_id", "membership_id", "first_attended")
    )


def _meeting_figures(meeting: Meeting) -> MeetingFigures:
    room: Room | None = getattr(meeting, "room", None)
    return MeetingFigures(
        starts_at=meeting.starts_at.astimezone(zone(meeting.group.timezone)),
        title=meeting.title,
        rsvps=meeting.n_rsvps,  # type: ignore[attr-defined]
        arrivals=meeting.n_arrivals,  # type: ignore[attr-defined]
        rsvps_arrived=meeting.n_rsvps_arrived,  # type: ignore[attr-defined]
        messages=0 if room is None else room.message_count,  # no room: nobody wrote
        had_facilitator=meeting.any_facilitator,  # type: ignore[attr-defined]
    )


def _add_up(start: date, weeks: Iterable[WeekFigures]) -> WeekFigures:
    rows = list(weeks)
    return WeekFigures(
        start=start,
        meetings=sum(row.meetings for row in rows),
        rsvps=sum(row.rsvps for row in rows),
        arrivals=sum(row.arrivals for row in rows),
        rsvps_arrived=sum(row.rsvps_arrived for row in rows),
        new_members=sum(row.new_members for row in rows),
        returning_members=sum(row.returning_members for row in rows),
        messages=sum(row.messages for row in rows),
        reports_opened=sum(row.reports_opened for row in rows),
        reports_resolved=sum(row.reports_resolved for row in rows),
        meetings_with_facilitator=sum(row.meetings_with_facilitator for row in rows),
    )
