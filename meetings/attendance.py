"""Attendance: who came to which meeting, and a member's own streak.

The record is `RoomParticipant`: `room_actions.do_enter_room` writes one row per member per
meeting the first time the room lets them in (facilitators included), and leaves it alone on
every later socket or re-entry. A refused entry (not a member, banned, suspended, not going,
room locked, full, not open yet, closed, cancelled) never reaches it. The one row that is not
an arrival is a removal decided before the person came in: it has `entered` off.
docs/console.md#attendance describes the figures built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from groups.models import Membership
from meetings.models import Meeting, RoomParticipant, Rsvp

# The rows that are attendance ("arrivals"): filter RoomParticipant with this.
ATTENDED = Q(entered=True)
RECENT_WEEKS = 12


def arrivals() -> QuerySet[RoomParticipant]:
    """Every attendance row: one per member per meeting they came to."""
    return RoomParticipant.objects.filter(ATTENDED)


def with_attendance(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """Memberships annotated with `attended_count` and `last_attended_at` (the start of the
    last meeting they came to, or None), in the same query whatever their number."""
    own = arrivals().filter(membership=OuterRef("pk"))
    count = own.order_by().values("membership").annotate(total=Count("pk")).values("total")
    last = own.order_by("-room__meeting__starts_at").values("room__meeting__starts_at")[:1]
    return memberships.annotate(
        attended_count=Coalesce(Subquery(count, output_field=IntegerField()), 0),
        last_attended_at=Subquery(last),
    )


@dataclass(frozen=True)
class Streak:
    """What a member who asked for it sees about themself, and nobody else ever does."""

    in_a_row: int  # meetings come to since the last one they said they'd go to and didn't
    recent: int  # meetings come to in the last RECENT_WEEKS weeks


def streak_of(membership: Membership, now: datetime | None = None) -> Streak:
    """The member's streak in their group (three queries, whatever the history).

    The kindest rule we could make precise: only meetings that have started and were not
    cancelled count. Each one the member came to adds one. The streak starts again only after
    a meeting they said they would go to (still "going" when it began), that ended, that
    someone came to (so it took place), and that they did not come to. Meetings they did not
    answer, said no to, stayed on the waitlist for, were kept out of, or that are still going
    on never end it.
    """
    now = now or timezone.now()
    past = Meeting.objects.filter(group_id=membership.group_id, status=Meeting.Status.SCHEDULED, starts_at__lte=now)
    came = arrivals().filter(membership=membership)
    missed = (
        past.filter(ends_at__lte=now)
        .filter(Exists(Rsvp.objects.filter(meeting=OuterRef("pk"), membership=membership, status=Rsvp.Status.GOING)))
        .filter(Exists(arrivals().filter(room__meeting=OuterRef("pk"))))
        .exclude(Exists(RoomParticipant.objects.filter(room__meeting=OuterRef("pk"), membership=membership)))
        .order_by("-starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    since_missed = came.filter(room__meeting__in=past)
    if missed is not None:
        since_missed = since_missed.filter(room__meeting__starts_at__gt=missed)
    recent = came.filter(
        room__meeting__in=past, room__meeting__starts_at__gte=now - timedelta(weeks=RECENT_WEEKS)
    ).count()
    return Streak(in_a_row=since_missed.count(), recent=recent)
