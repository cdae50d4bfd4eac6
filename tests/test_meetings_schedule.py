"""Recurring schedules that are right in every timezone, and how they are shown."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import Notice, User
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from lib.timefmt import show_time
from meetings import actions
from meetings.models import Meeting, MeetingSeries, Rsvp
from meetings.recurrence import occurrences
from tests.conftest import utc

pytestmark = pytest.mark.django_db

WEEKLY_TUESDAY = "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU"


def tuesday_series(group: SupportGroup, owner: User, **overrides: object) -> MeetingSeries:
    data = {
        "title": "Tuesday circle",
        "rule": WEEKLY_TUESDAY,
        "start_date": date(2026, 3, 1),
        "start_time": time(19, 0),
        "duration_minutes": 90,
        "capacity": 12,
        "rota": list(group.memberships.filter(role__in=["owner", "facilitator"]).order_by("handle")),
    }
    data.update(overrides)
    return actions.do_create_series(access_group(owner, group.slug), actions.SeriesData(**data))  # type: ignore[arg-type]


# --- Daylight saving ------------------------------------------------------------------


def test_london_1900_is_1800_utc_in_summer_and_1900_utc_in_winter() -> None:
    found = occurrences(
        WEEKLY_TUESDAY,
        date(2026, 1, 1),
        time(19, 0),
        timedelta(minutes=90),
        "Europe/London",
        window_start=utc(2026, 3, 20),
        window_end=utc(2026, 11, 5),
    )
    starts = {item.series_date: item.starts_at for item in found}
    assert starts[date(2026, 3, 24)] == utc(2026, 3, 24, 19)  # before the clocks go forward (29 March)
    assert starts[date(2026, 3, 31)] == utc(2026, 3, 31, 18)  # British Summer Time
    assert starts[date(2026, 7, 14)] == utc(2026, 7, 14, 18)
    assert starts[date(2026, 10, 20)] == utc(2026, 10, 20, 18)
    assert starts[date(2026, 10, 27)] == utc(2026, 10, 27, 19)  # back to GMT (25 October)
    assert all(item.ends_at - item.starts_at == timedelta(minutes=90) for item in found)


@pytest.mark.parametrize(
    ("moment", "viewer", "local", "group_local"),
    [
        # Winter: London GMT, New York EST (-5), Kolkata IST (+5:30, never changes).
        (utc(2026, 1, 13, 19), "America/New_York", "Tue 13 Jan 2026, 14:00 EST", "19:00 in London"),
        (utc(2026, 1, 13, 19), "Asia/Kolkata", "Wed 14 Jan 2026, 00:30 IST", "Tue 19:00 in London"),
        # US clocks went forward on 8 March, UK's not until 29 March: only one side changed.
        (utc(2026, 3, 17, 19), "America/New_York", "Tue 17 Mar 2026, 15:00 EDT", "19:00 in London"),
        (utc(2026, 3, 17, 19), "Asia/Kolkata", "Wed 18 Mar 2026, 00:30 IST", "Tue 19:00 in London"),
        # Summer: both on daylight time.
        (utc(2026, 7, 14, 18), "America/New_York", "Tue 14 Jul 2026, 14:00 EDT", "19:00 in London"),
        (utc(2026, 7, 14, 18), "Asia/Kolkata", "Tue 14 Jul 2026, 23:30 IST", "19:00 in London"),
        # UK back on GMT on 25 October, US not until 1 November.
        (utc(2026, 10, 27, 19), "America/New_York", "Tue 27 Oct 2026, 15:00 EDT", "19:00 in London"),
        # Same zone as the group: no second time.
        (utc(2026, 7, 14, 18), "Europe/London", "Tue 14 Jul 2026, 19:00 BST", ""),
    ],
)
def test_times_are_shown_in_the_viewers_zone_with_the_groups_beside(
    moment: datetime, viewer: str, local: str, group_local: str
) -> None:
    shown = show_time(moment, viewer, "Europe/London", now=moment - timedelta(hours=3))
    assert shown.local == local
    assert shown.group_local == group_local
    assert shown.relative == "in 3 hours"


def test_relative_hints() -> None:
    moment = utc(2026, 7, 14, 18)
    assert show_time(moment, "UTC", "UTC", now=moment - timedelta(minutes=20)).relative == "in 20 minutes"
    assert show_time(moment, "UTC", "UTC", now=moment - timedelta(days=3)).relative == "in 3 days"
    assert show_time(moment, "UTC", "UTC", now=moment + timedelta(hours=2)).relative == "2 hours ago"


def test_series_materialises_eight_weeks_in_the_groups_zone(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        meetings = list(series.meetings.order_by("starts_at"))
    assert len(meetings) == 8
    assert meetings[0].starts_at == utc(2026, 3, 3, 19)
    assert meetings[4].starts_at == utc(2026, 3, 31, 18)  # the week after the clocks change
    # The rota takes turns, the next in turn as backup.
    handles = [(meeting.facilitator.handle, meeting.backup.handle) for meeting in meetings[:3]]
    assert handles == [
        ("Calm Heron", "Steady Lantern"),
        ("Steady Lantern", "Calm Heron"),
        ("Calm Heron", "Steady Lantern"),
    ]


def test_materialising_again_creates_nothing_twice(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        assert actions.materialise_all() == 0
    with time_machine.travel(utc(2026, 3, 9, 12), tick=False):
        assert actions.materialise_all() == 1  # the window rolled on by a week
        assert actions.materialise_all() == 0
    assert series.meetings.count() == 9


def test_monthly_on_the_first_sunday(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen, rule="FREQ=MONTHLY;INTERVAL=1;BYDAY=+1SU", start_time=time(18, 0))
    assert [m.series_date for m in series.meetings.order_by("starts_at")] == [date(2026, 4, 5)]


def test_count_ends_a_series(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen, rule=WEEKLY_TUESDAY + ";COUNT=3")
    assert series.meetings.count() == 3


# --- Changes ------------------------------------------------------------------------------


def test_editing_a_series_moves_upcoming_meetings_and_tells_people_going(
    circle: SupportGroup, owen: User, alice: User
) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        first = series.meetings.order_by("starts_at").first()
        alice_row = Membership.objects.get(user=alice)
        actions.do_rsvp(alice_row, first, going=True)
        actions.do_update_series(
            access_group(owen, circle.slug),
            series,
            actions.SeriesData("Tuesday circle", WEEKLY_TUESDAY, date(2026, 3, 1), time(20, 0), 60, 12, []),
        )
    first.refresh_from_db()
    assert first.starts_at == utc(2026, 3, 3, 20)
    assert first.ends_at == utc(2026, 3, 3, 21)
    assert Rsvp.objects.get(meeting=first).status == "going"  # her answer is kept
    notice = Notice.objects.get(user=alice)
    assert "Tuesday circle has moved to Tue 3 Mar 2026, 20:00 GMT." in notice.text


def test_rescheduled_single_meeting_is_left_alone_by_series_edits(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        first = series.meetings.order_by("starts_at").first()
        access = access_group(owen, circle.slug)
        actions.do_update_meeting(
            access, first, day=date(2026, 3, 4), at=time(19, 0), duration_minutes=90, capacity=12,
            facilitator=None, backup=None, reason="Room booked on Tuesday",
        )  # fmt: skip
        actions.do_update_series(
            access,
            series,
            actions.SeriesData("Tuesday circle", WEEKLY_TUESDAY, date(2026, 3, 1), time(20, 0), 60, 12, []),
        )
    first.refresh_from_db()
    assert first.starts_at == utc(2026, 3, 4, 19) and first.is_detached


def test_cancelled_meeting_stays_visible_marked_cancelled(
    client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        first = series.meetings.order_by("starts_at").first()
        actions.do_rsvp(Membership.objects.get(user=alice), first, going=True)
        client.force_login(owen)
        client.post(reverse("meetings:cancel", args=[circle.slug, first.public_id]), {"reason": "Facilitator is ill"})
        first.refresh_from_db()
        assert first.status == "cancelled"
        client.force_login(alice)
        page = client.get(reverse("groups:detail", args=[circle.slug])).content.decode()
        assert "Cancelled</strong>: Facilitator is ill" in page
        mine = client.get(reverse("meetings:mine")).content.decode()
        assert "Cancelled" in mine
    assert "Tuesday circle on Tue 3 Mar 2026, 19:00 GMT is cancelled. Reason: Facilitator is ill" in (
        Notice.objects.get(user=alice).text
    )


def test_ending_a_series_cancels_its_upcoming_meetings(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        series = tuesday_series(circle, owen)
        assert actions.do_end_series(access_group(owen, circle.slug), series) == 8
        assert actions.materialise_all() == 0
    assert not series.meetings.filter(status="scheduled").exists()


def test_meeting_without_facilitator_is_flagged_to_owners_once(circle: SupportGroup, owen: User) -> None:
    with time_machine.travel(utc(2026, 2, 28, 12), tick=False):
        series = tuesday_series(circle, owen, rota=[])
        assert actions.flag_meetings_needing_facilitator() == 0  # the first is 79 hours away
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        assert actions.flag_meetings_needing_facilitator() == 1  # now 31 hours away
        assert actions.flag_meetings_needing_facilitator() == 0  # once only
    notices = Notice.objects.filter(user=owen)
    assert notices.count() == 1
    assert "Tuesday circle on Tue 3 Mar 2026, 19:00 GMT needs a facilitator." in notices.get().text
    assert series.meetings.filter(needs_facilitator_flagged_at__isnull=False).count() == 1


def test_my_meetings_lists_every_group_in_my_timezone(
    client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    alice.timezone = "America/New_York"
    alice.save()
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        tuesday_series(circle, owen)
        client.force_login(alice)
        page = client.get(reverse("meetings:mine")).content.decode()
    assert "Tue 3 Mar 2026, 14:00 EST" in page
    assert "19:00 in London" in page
    assert "in 1 day" in page or "in 31 hours" in page
    assert page.count('class="card meeting') == 8


def test_one_off_meeting_in_the_groups_zone(client: Client, circle: SupportGroup, bob: User) -> None:
    client.force_login(bob)
    with time_machine.travel(utc(2026, 6, 1, 12), tick=False):
        response = client.post(
            reverse("meetings:create_meeting", args=[circle.slug]),
            {"title": "Summer special", "day": "2026-06-20", "at": "15:00", "duration_minutes": "60", "capacity": "5"},
        )
    assert response.status_code == 302
    meeting = Meeting.objects.get(title="Summer special")
    assert meeting.starts_at == utc(2026, 6, 20, 14) and meeting.series is None
