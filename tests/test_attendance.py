"""Attendance (docs/console.md#attendance): entering a room records one arrival per member per
meeting, whatever the sockets; refused entries record none; and the member's own streak, shown
only to them when they ask for it."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.models import Membership, SupportGroup
from meetings.attendance import arrivals, streak_of
from meetings.models import Meeting, Room, RoomParticipant, Rsvp
from moderation.actions import do_sanction, moderator_for
from moderation.models import Sanction
from tests import rooms
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import HANDLES, PERSONAS, GroupCast, client_as
from tests.rooms import going, open_meeting
from tests.test_room_protocol import (
    _room_sockets,  # noqa: F401  (the autouse fixture: recorded frames, sockets closed after)
    db,
    enter,
    membership,
    new_member,
    refused,
    update,
)

# --- Recording -----------------------------------------------------------------------------------


def arrivals_of(meeting: Meeting) -> dict[str, int]:
    """Handle → attendance rows for this meeting."""
    counts: dict[str, int] = {}
    for row in arrivals().filter(room__meeting=meeting).select_related("membership"):
        counts[row.membership.handle] = counts.get(row.membership.handle, 0) + 1
    return counts


def first_joined(meeting: Meeting, user: User) -> object:
    return RoomParticipant.objects.get(room__meeting=meeting, membership__user=user).first_joined_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_one_arrival_per_member_whatever_the_sockets_and_reentries(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    sockets = [await enter(alice, meeting) for _ in range(3)]
    first = await db(first_joined, meeting, alice)
    await sockets[0].close()
    await sockets[1].close()
    sockets.append(await enter(alice, meeting))  # back in after leaving
    # The facilitator counts too, though they never said they were going.
    await enter(bob, meeting)
    await enter(bob, meeting)
    assert await db(arrivals_of, meeting) == {"Quiet Harbor": 1, "Calm Heron": 1}
    assert await db(first_joined, meeting, alice) == first  # the first arrival is kept


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_refused_entries_are_not_attendance(circle, alice, bob, charlie) -> None:
    meeting = await db(open_meeting, circle)
    await refused(charlie, meeting, "not_found")  # an outsider
    await refused(alice, meeting, "no_rsvp")  # not going, no drop-ins
    banned = await db(new_member, circle, "bea@example.com", "Far Shore", meeting)
    await db(update, await db(membership, circle, banned), status=Membership.Status.BANNED)
    await refused(banned, meeting, "not_found")
    later = await db(open_meeting, circle, starts_in=timedelta(days=2))
    await db(going, later, alice)
    await refused(alice, later, "not_open")
    cancelled = await db(open_meeting, circle)
    await db(going, cancelled, alice)
    await db(update, cancelled, status=Meeting.Status.CANCELLED)
    await refused(alice, cancelled, "cancelled")
    await refused(bob, cancelled, "cancelled")
    closed = await db(open_meeting, circle, starts_in=timedelta(minutes=-106))
    await db(going, closed, alice)
    await refused(alice, closed, "ended")
    await refused(bob, closed, "ended")
    assert await db(lambda: arrivals().count()) == 0


def _remove_before_arrival(group: SupportGroup, facilitator: User, target: User, meeting: Meeting) -> None:
    from groups.actions import access_group

    moderator = moderator_for(facilitator, access_group(facilitator, group.slug))
    assert moderator is not None
    do_sanction(
        moderator,
        membership(group, target).public_id,
        Sanction.Kind.REMOVE_FROM_MEETING,
        reason="Please take a break from this one.",
        meeting_public_id=meeting.public_id,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_removal_before_arriving_is_not_attendance_until_they_are_let_in(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    await db(_remove_before_arrival, circle, bob, alice, meeting)
    await refused(alice, meeting, "removed")
    assert await db(lambda: RoomParticipant.objects.filter(room__meeting=meeting).count()) == 1
    assert await db(arrivals_of, meeting) == {}
    # The removal is lifted: entering now is their arrival.
    await db(lambda: RoomParticipant.objects.filter(room__meeting=meeting).update(removed_at=None))
    await enter(alice, meeting)
    assert await db(arrivals_of, meeting) == {"Quiet Harbor": 1}


# --- The streak: the rule ------------------------------------------------------------------------


class History:
    """Meetings of one group in the past (or future), built in order, for one member."""

    def __init__(self, group: SupportGroup, member: Membership, other: Membership) -> None:
        self.group, self.member, self.other = group, member, other
        self.days_ago = 200

    def meeting(
        self,
        *,
        came: bool = False,
        said_going: bool = False,
        held: bool = True,
        cancelled: bool = False,
        days_ago: int | None = None,
        rsvp: str | None = None,
        removed_before: bool = False,
    ) -> Meeting:
        if days_ago is None:
            self.days_ago -= 7
            days_ago = self.days_ago
        starts_at = timezone.now() - timedelta(days=days_ago)
        meeting = Meeting.objects.create(
            group=self.group,
            title="Circle",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=90),
            capacity=10,
            status=Meeting.Status.CANCELLED if cancelled else Meeting.Status.SCHEDULED,
        )
        room = Room.objects.create(meeting=meeting)
        if said_going or rsvp:
            Rsvp.objects.create(meeting=meeting, membership=self.member, status=rsvp or Rsvp.Status.GOING)
        if came:
            RoomParticipant.objects.create(room=room, membership=self.member)
        if removed_before:
            RoomParticipant.objects.create(room=room, membership=self.member, entered=False, removed_at=starts_at)
        if held:
            RoomParticipant.objects.create(room=room, membership=self.other)
        return meeting


@pytest.fixture
def history(listed_cast: GroupCast) -> History:
    return History(listed_cast.group, listed_cast.memberships["member"], listed_cast.memberships["facilitator"])


def streak(history: History) -> tuple[int, int]:
    result = streak_of(history.member)
    return result.in_a_row, result.recent


def test_no_meetings_no_streak(history: History) -> None:
    assert streak(history) == (0, 0)


def test_each_meeting_come_to_adds_one(history: History) -> None:
    for _ in range(3):
        history.meeting(came=True, said_going=True)
    history.meeting(came=True)  # a drop-in counts too
    assert streak(history) == (4, 0)  # all longer ago than 12 weeks


def test_recent_counts_the_last_12_weeks_only(history: History) -> None:
    history.meeting(came=True, days_ago=12 * 7 + 1)
    history.meeting(came=True, days_ago=12 * 7 - 1)
    history.meeting(came=True, days_ago=3)
    assert streak(history) == (3, 2)


def test_a_meeting_said_going_to_and_not_come_to_starts_it_again(history: History) -> None:
    history.meeting(came=True, said_going=True)
    history.meeting(came=True, said_going=True)
    history.meeting(said_going=True)  # the one that ends it
    history.meeting(came=True, said_going=True)
    assert streak(history) == (1, 0)


@pytest.mark.parametrize(
    "gap",
    [
        {"said_going": False},  # not answered
        {"rsvp": Rsvp.Status.NOT_GOING},  # said no
        {"rsvp": Rsvp.Status.WAITLISTED},  # stayed on the waitlist
        {"said_going": True, "cancelled": True},  # cancelled
        {"said_going": True, "held": False},  # nobody came: it did not take place
        {"said_going": True, "removed_before": True},  # kept out by the facilitators
    ],
    ids=["not-answered", "said-no", "waitlisted", "cancelled", "not-held", "kept-out"],
)
def test_meetings_that_never_end_it(history: History, gap: dict[str, object]) -> None:
    history.meeting(came=True, said_going=True)
    history.meeting(**gap)  # type: ignore[arg-type]
    history.meeting(came=True, said_going=True)
    assert streak(history) == (2, 0)


def test_future_and_ongoing_meetings_are_ignored(history: History) -> None:
    history.meeting(came=True, said_going=True, days_ago=7)
    history.meeting(said_going=True, days_ago=-7)  # next week
    ongoing = history.meeting(said_going=True, days_ago=0)  # started just now, not come yet
    assert ongoing.starts_at <= timezone.now() < ongoing.ends_at
    assert streak(history) == (1, 1)
    # Coming to the ongoing one counts at once.
    RoomParticipant.objects.create(room=ongoing.room, membership=history.member)
    assert streak(history) == (2, 2)


def test_other_groups_do_not_count(history: History, cast_factory) -> None:
    history.meeting(came=True, said_going=True, days_ago=7)
    other = cast_factory("second-circle", handles=HANDLES["b"])
    History(other.group, other.memberships["member"], other.memberships["owner"]).meeting(came=True, days_ago=3)
    assert streak(history) == (1, 1)


# --- The streak: the switch and who sees it -----------------------------------------------------

STREAK_TEXT = "You've been to 2 meetings in a row · 2 in the last 12 weeks"


def test_the_streak_is_off_by_default_and_only_its_member_sees_it(
    client: Client, history: History, listed_cast: GroupCast
) -> None:
    cast_group = history.group
    history.meeting(came=True, said_going=True, days_ago=14)
    history.meeting(came=True, said_going=True, days_ago=7)
    member = history.member
    client.force_login(member.user)
    url = reverse("groups:detail", args=[cast_group.slug])
    page = html.unescape(client.get(url).content.decode())
    assert "in a row" not in page and "Show me my attendance streak" in page
    response = client.post(reverse("console:attendance_streak", args=[cast_group.slug]), {"show": "on"})
    assert response.status_code == 302 and response["Location"] == url + "#you"
    member.refresh_from_db()
    assert member.show_attendance_streak
    page = html.unescape(client.get(url).content.decode())
    assert STREAK_TEXT in page and "Only you see this." in page and "Hide my attendance streak" in page
    assert "missed" not in page.lower()
    # Nobody else sees it: not the facilitators, owners or staff, on the group page or the console.
    for persona in ("facilitator", "owner", "staff", "outsider"):
        client.logout()
        client.force_login(listed_cast.user(persona))  # type: ignore[arg-type]
        for other_url in (url, reverse("console:group", args=[cast_group.slug])):
            assert "in a row" not in html.unescape(client.get(other_url).content.decode())
    # Off again.
    client.force_login(member.user)
    client.post(reverse("console:attendance_streak", args=[cast_group.slug]), {"show": "off"})
    assert "in a row" not in html.unescape(client.get(url).content.decode())


def test_the_streak_wording_when_nothing_to_count_is_kind(client: Client, history: History) -> None:
    Membership.objects.filter(pk=history.member.pk).update(show_attendance_streak=True)
    client.force_login(history.member.user)
    page = html.unescape(client.get(reverse("groups:detail", args=[history.group.slug])).content.decode())
    assert "Your attendance will show here after your next meeting. Whenever you're ready." in page
    history.meeting(came=True, days_ago=7)
    history.meeting(said_going=True, days_ago=1)
    page = html.unescape(client.get(reverse("groups:detail", args=[history.group.slug])).content.decode())
    assert "You've been to 1 meeting in the last 12 weeks" in page


# Persona order: anonymous outsider pending member facilitator owner staff banned
STREAK_POST = ("login", "403", "403", "302*", "302*", "302*", "403", "403")


def test_streak_switch_permission_matrix(client: Client, listed_cast: GroupCast, unlisted_cast: GroupCast) -> None:
    for cast in (listed_cast, unlisted_cast):
        url = reverse("console:attendance_streak", args=[cast.group.slug])
        for persona, cell in zip(PERSONAS, STREAK_POST, strict=True):
            client.logout()
            if not cast.group.is_listed and persona in ("anonymous", "outsider", "banned"):
                cell = "404"
            response = client_as(client, cast.user(persona)).post(url, {"show": "on"})
            if cell == "login":
                assert response.status_code == 302 and "?next=" in response["Location"]
            else:
                assert response.status_code == int(cell.rstrip("*")), (persona, response.status_code)
            shown = Membership.objects.filter(group=cast.group, show_attendance_streak=True)
            if cell.endswith("*"):
                assert shown.filter(user=cast.user(persona)).exists()
            elif cast.user(persona) is not None:
                assert not shown.filter(user=cast.user(persona)).exists()
        # Only the people who switched it on have it on.
        assert set(shown.values_list("user", flat=True)) == {
            cast.user(persona).pk  # type: ignore[union-attr]
            for persona in ("member", "facilitator", "owner")
        }
        client.logout()
        client.force_login(cast.user("member"))  # type: ignore[arg-type]
        assert client.get(url).status_code == 405


def test_streak_switch_bad_value_changes_nothing(client: Client, listed_cast: GroupCast) -> None:
    client.force_login(listed_cast.user("member"))  # type: ignore[arg-type]
    url = reverse("console:attendance_streak", args=[listed_cast.group.slug])
    for value in ("", "yes", "ON"):
        response = client.post(url, {"show": value}, follow=True)
        assert "Choose to show or hide your attendance streak." in html.unescape(response.content.decode())
    assert not Membership.objects.filter(show_attendance_streak=True).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_streak_is_in_no_room_frame(circle, alice) -> None:
    await db(lambda: Membership.objects.filter(group=circle, user=alice).update(show_attendance_streak=True))
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    _socket, welcome = await rooms.connect(alice, meeting)
    assert welcome["type"] == "welcome"
    text = json.dumps(welcome).lower()
    assert "streak" not in text and "in_a_row" not in text and "attend" not in text
