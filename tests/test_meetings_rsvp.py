"""RSVP, capacity and the waitlist; bad schedule input; calendars."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from accounts.models import Notice, User
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from meetings import actions
from meetings.models import Meeting, MeetingSeries, Rsvp
from tests.conftest import add_member, make_group, make_user, one_off_meeting, utc

NEXT_TUESDAY = utc(2026, 3, 10, 19)


def one_off(group: SupportGroup, owner: User, *, capacity: int = 2, starts: datetime = NEXT_TUESDAY) -> Meeting:
    return one_off_meeting(group, owner, starts, capacity=capacity)


def rsvp(client: Client, meeting: Meeting, going: str = "yes"):
    return client.post(
        reverse("meetings:rsvp", args=[meeting.group.slug, meeting.public_id]), {"going": going}, follow=True
    )


# --- Capacity and waitlist ------------------------------------------------------------------


@pytest.mark.django_db
def test_third_rsvp_is_waitlisted_then_promoted_and_told(
    frozen, circle: SupportGroup, owen: User, bob: User, alice: User
) -> None:
    meeting = one_off(circle, owen, capacity=2)
    clients = {}
    for person in (alice, bob, owen):
        clients[person.email] = Client()
        clients[person.email].force_login(person)
    assert "You&#x27;re going. See you there." in rsvp(clients[alice.email], meeting).content.decode()
    rsvp(clients[bob.email], meeting)
    third = rsvp(clients[owen.email], meeting).content.decode()
    assert "The meeting is full: you are number 1 on the waitlist." in third
    assert "You're number 1 on the waitlist." in third
    assert Rsvp.objects.get(membership__user=owen).status == "waitlisted"

    withdrawn = rsvp(clients[bob.email], meeting, "no").content.decode()
    assert "Noted: you&#x27;re not going." in withdrawn
    assert Rsvp.objects.get(membership__user=owen).status == "going"
    notice = Notice.objects.get(user=owen)
    assert notice.text == "A place opened up: you are going to Evening share on Tue 10 Mar 2026, 19:00 GMT."
    assert (
        "You're going."
        in clients[owen.email].get(reverse("meetings:detail", args=[circle.slug, meeting.public_id])).content.decode()
    )


@pytest.mark.django_db
def test_waitlist_keeps_its_order(frozen, circle: SupportGroup, owen: User, bob: User, alice: User) -> None:
    meeting = one_off(circle, owen, capacity=1)
    rows = {person: Membership.objects.get(group=circle, user=person) for person in (alice, bob, owen)}
    actions.do_rsvp(rows[alice], meeting, going=True)
    first = actions.do_rsvp(rows[bob], meeting, going=True)
    frozen.shift(timedelta(seconds=1))
    second = actions.do_rsvp(rows[owen], meeting, going=True)
    assert (actions.waitlist_position(first), actions.waitlist_position(second)) == (1, 2)
    actions.do_rsvp(rows[alice], meeting, going=False)
    assert Rsvp.objects.get(membership=rows[bob]).status == "going"
    second.refresh_from_db()
    assert actions.waitlist_position(second) == 1


@pytest.mark.django_db
def test_raising_capacity_promotes_the_waitlist(
    frozen, circle: SupportGroup, owen: User, bob: User, alice: User
) -> None:
    meeting = one_off(circle, owen, capacity=1)
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    actions.do_rsvp(Membership.objects.get(user=bob), meeting, going=True)
    actions.do_update_meeting(
        access_group(owen, circle.slug), meeting, day=date(2026, 3, 10), at=time(19, 0), duration_minutes=90,
        capacity=2, facilitator=None, backup=None, reason="",
    )  # fmt: skip
    assert Rsvp.objects.get(membership__user=bob).status == "going"


@pytest.mark.django_db
def test_rsvp_twice_is_one_answer(frozen, circle: SupportGroup, owen: User, alice: User) -> None:
    meeting = one_off(circle, owen)
    row = Membership.objects.get(user=alice)
    actions.do_rsvp(row, meeting, going=True)
    actions.do_rsvp(row, meeting, going=True)
    assert Rsvp.objects.filter(meeting=meeting).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_people_racing_for_the_last_place_never_oversubscribe(circle: SupportGroup, owen: User) -> None:
    """Real concurrent transactions (two threads, two connections), many rounds."""
    people = [add_member(circle, make_user(f"racer{n}@example.com"), f"Racer {n}") for n in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def take_place(membership: Membership, meeting: Meeting) -> None:
        try:
            barrier.wait(timeout=10)
            actions.do_rsvp(membership, meeting, going=True)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    for round_number in range(10):
        meeting = one_off(circle, owen, capacity=1, starts=datetime.now(UTC) + timedelta(days=1, minutes=round_number))
        threads = [threading.Thread(target=take_place, args=(person, meeting)) for person in people]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        statuses = sorted(Rsvp.objects.filter(meeting=meeting).values_list("status", flat=True))
        assert statuses == ["going", "waitlisted"], f"round {round_number}: {statuses}"


# --- Bad input -----------------------------------------------------------------------------


SERIES_FORM = {
    "title": "Tuesday circle",
    "frequency": "WEEKLY",
    "interval": "1",
    "weekdays": ["TU"],
    "start_date": "2026-03-02",
    "start_time": "19:00",
    "duration_minutes": "90",
    "capacity": "12",
    "ends": "never",
}


@pytest.mark.django_db
def test_facilitator_schedules_a_weekly_series_through_the_form(
    frozen, client: Client, circle: SupportGroup, bob: User
) -> None:
    client.force_login(bob)
    response = client.post(reverse("meetings:create_series", args=[circle.slug]), SERIES_FORM, follow=True)
    page = response.content.decode()
    assert "The regular meeting is scheduled." in page
    assert "Every Tuesday" in page
    assert MeetingSeries.objects.get().meetings.count() == 8


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frequency": "DAILY"}, "Select a valid choice."),
        ({"weekdays": []}, "Choose at least one day of the week."),
        ({"weekdays": ["XX"]}, "Select a valid choice."),
        ({"interval": "0"}, "greater than or equal to 1"),
        ({"interval": "52"}, "less than or equal to 8"),
        ({"ends": "until", "until": "2026-02-01"}, "The series ends before its first meeting."),
        ({"ends": "until", "until": "2030-01-01"}, "A series can run for up to two years"),
        ({"ends": "until"}, "Choose the last date."),
        ({"ends": "count", "count": "0"}, "greater than or equal to 1"),
        ({"start_date": "2025-01-01", "ends": "count", "count": "2"}, "This schedule has no meeting from today on."),
        ({"duration_minutes": "0"}, "greater than or equal to 1"),
        ({"duration_minutes": "721"}, "less than or equal to 720"),
        ({"capacity": "0"}, "greater than or equal to 1"),
        ({"start_time": "25:00"}, "Enter a valid time."),
        ({"start_date": "not a date"}, "Enter a valid date."),
        ({"title": ""}, "This field is required."),
    ],
)
def test_bad_schedules_are_explained_and_create_nothing(
    frozen, client: Client, circle: SupportGroup, bob: User, changes: dict[str, object], message: str
) -> None:
    client.force_login(bob)
    response = client.post(reverse("meetings:create_series", args=[circle.slug]), {**SERIES_FORM, **changes})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MeetingSeries.objects.exists() and not Meeting.objects.exists()


@pytest.mark.parametrize(
    "rule",
    ["FREQ=SECONDLY", "FREQ=WEEKLY;INTERVAL=x", "FREQ=WEEKLY;BYDAY=XX", "FREQ=WEEKLY;COUNT=5000", "nonsense", ""],
)
def test_invalid_rules_are_refused(rule: str) -> None:
    from lib.errors import ActionError
    from meetings.recurrence import check_rule

    with pytest.raises(ActionError):
        check_rule(rule, date(2026, 3, 2), time(19), "Europe/London", today=date(2026, 3, 2))


@pytest.mark.django_db
def test_capacity_below_current_rsvps_is_refused(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User, bob: User
) -> None:
    meeting = one_off(circle, owen, capacity=3)
    for person in (alice, bob):
        actions.do_rsvp(Membership.objects.get(user=person), meeting, going=True)
    client.force_login(owen)
    response = client.post(
        reverse("meetings:edit", args=[circle.slug, meeting.public_id]),
        {"day": "2026-03-10", "at": "19:00", "duration_minutes": "90", "capacity": "1"},
    )
    assert response.status_code == 400
    assert "2 people are already going: places can&#x27;t go below that." in response.content.decode()
    meeting.refresh_from_db()
    assert meeting.capacity == 3


@pytest.mark.django_db
def test_moving_a_meeting_needs_a_reason_and_a_future_time(
    frozen, client: Client, circle: SupportGroup, owen: User
) -> None:
    meeting = one_off(circle, owen)
    client.force_login(owen)
    url = reverse("meetings:edit", args=[circle.slug, meeting.public_id])
    data = {"day": "2026-03-11", "at": "19:00", "duration_minutes": "90", "capacity": "2"}
    assert "Say why the meeting moves" in client.post(url, data).content.decode()
    past = client.post(url, {**data, "day": "2026-03-01", "reason": "Oops"}).content.decode()
    assert "Choose a time in the future." in past
    meeting.refresh_from_db()
    assert meeting.starts_at == utc(2026, 3, 10, 19)


@pytest.mark.django_db
def test_rsvp_to_a_cancelled_or_started_meeting_is_refused(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    cancelled = one_off(circle, owen)
    actions.do_cancel_meeting(access_group(owen, circle.slug), cancelled, "Snow")
    client.force_login(alice)
    assert "This meeting is cancelled." in rsvp(client, cancelled).content.decode()
    started = one_off(circle, owen, starts=utc(2026, 3, 2, 13))
    frozen.move_to(utc(2026, 3, 2, 13, 5))
    client.force_login(alice)
    assert "This meeting has already started: answers are closed." in rsvp(client, started).content.decode()
    assert not Rsvp.objects.exists()


@pytest.mark.django_db
def test_rsvp_to_a_past_meeting_is_refused(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    meeting = one_off(circle, owen)
    frozen.move_to(utc(2026, 3, 11))
    client.force_login(alice)
    assert "already started" in rsvp(client, meeting).content.decode()
    assert not Rsvp.objects.exists()


@pytest.mark.django_db
def test_rsvp_to_another_groups_meeting_is_refused(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User, charlie: User
) -> None:
    other = make_group(name="Other", slug="other")
    add_member(other, charlie, "Other Owner", role="owner")
    theirs = one_off(other, charlie)
    client.force_login(alice)
    response = client.post(reverse("meetings:rsvp", args=[circle.slug, theirs.public_id]), {"going": "yes"})
    assert response.status_code == 404
    with pytest.raises(Exception, match="Only members of this group"):
        actions.do_rsvp(Membership.objects.get(user=alice), theirs, going=True)
    assert not Rsvp.objects.exists()


@pytest.mark.django_db
def test_bad_rsvp_answer_changes_nothing(frozen, client: Client, circle: SupportGroup, owen: User, alice: User) -> None:
    meeting = one_off(circle, owen)
    client.force_login(alice)
    assert "Answer going or not going." in rsvp(client, meeting, "maybe").content.decode()
    assert not Rsvp.objects.exists()


# --- Calendars ------------------------------------------------------------------------------


def parse(body: bytes) -> Calendar:
    return Calendar.from_ical(body)


@pytest.mark.django_db
def test_meeting_ics_is_discreet_by_default(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    meeting = one_off(circle, owen)
    client.force_login(alice)
    response = client.get(reverse("meetings:ics", args=[circle.slug, meeting.public_id]))
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert 'filename="appointment.ics"' in response["Content-Disposition"]
    body = response.content
    events = parse(body).walk("VEVENT")
    assert len(events) == 1
    assert events[0]["SUMMARY"] == "Appointment"
    assert events[0].decoded("DTSTART") == utc(2026, 3, 10, 19)
    assert events[0].decoded("DTEND") == utc(2026, 3, 10, 20, 30)
    text = body.decode()
    for revealing in ("Tuesday Circle", "tuesday-circle", "Hearth", "trauma", "Evening share"):
        assert revealing not in text


@pytest.mark.django_db
def test_meeting_ics_names_the_group_when_not_discreet(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    alice.discreet_notifications = False
    alice.save()
    meeting = one_off(circle, owen)
    client.force_login(alice)
    event = parse(client.get(reverse("meetings:ics", args=[circle.slug, meeting.public_id])).content).walk("VEVENT")[0]
    assert event["SUMMARY"] == "Evening share · Tuesday Circle"
    assert event.decoded("DTSTART") == utc(2026, 3, 10, 19)


@pytest.mark.django_db
def test_calendar_feed_lists_my_meetings_and_resets(
    frozen, client: Client, circle: SupportGroup, owen: User, alice: User
) -> None:
    going = one_off(circle, owen)
    one_off(circle, owen, starts=utc(2026, 3, 17, 19))  # not answered: not in her calendar
    actions.do_rsvp(Membership.objects.get(user=alice), going, going=True)
    client.force_login(alice)
    page = client.post(reverse("meetings:calendar"), {"action": "reset"}).content.decode()
    assert "Copy it now: it is shown only once." in page
    start = page.index('<p class="copy-link">') + len('<p class="copy-link">')
    url = page[start : page.index("</p>", start)].replace("http://testserver", "")
    feed = Client().get(url)
    assert feed.status_code == 200
    events = parse(feed.content).walk("VEVENT")
    assert [event.decoded("DTSTART") for event in events] == [utc(2026, 3, 10, 19)]
    assert "Tuesday Circle" not in feed.content.decode()
    assert url not in client.get(reverse("meetings:calendar")).content.decode()  # never shown again

    client.post(reverse("meetings:calendar"), {"action": "reset"})
    assert Client().get(url).status_code == 404  # the old address stops at once


@pytest.mark.django_db
def test_unknown_feed_token_is_404(client: Client) -> None:
    assert client.get(reverse("meetings:feed", args=["not-a-token"])).status_code == 404


@pytest.mark.django_db
def test_group_page_shows_upcoming_meetings_to_visitors(
    frozen, client: Client, circle: SupportGroup, owen: User
) -> None:
    one_off(circle, owen)
    page = client.get(reverse("groups:detail", args=[circle.slug])).content.decode()
    assert "Evening share" in page and "Tue 10 Mar 2026, 19:00 GMT" in page
    assert "/meetings/" not in page.split("Upcoming meetings")[1].split("About")[0]  # no member-only link
