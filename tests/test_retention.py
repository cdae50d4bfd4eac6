"""Retention of room messages (docs/privacy.md, meetings/retention.py).

A meeting's messages go once it ended more than its group's retention period ago, counted from
when its room closed; report snapshots stay readable; the nightly purge works in batches and is
safe to run twice or at the same time. Messages are written through the room's own actions.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from datetime import datetime, timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from celery.schedules import crontab
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse

from accounts.models import User
from config.celery import app as celery_app
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from meetings import actions, retention, room_actions
from meetings.models import Meeting, Room, RoomEvent
from meetings.room_actions import RoomSession
from meetings.tasks import purge_expired_messages
from moderation import actions as moderation
from moderation.models import Report, WatchedWord
from moderation.rules import normalise
from tests.conftest import add_member, make_group, one_off_meeting, utc

# The circle meets on Monday 2 March 2026 at 18:00 UTC (London is on UTC then) for 90 minutes:
# the meeting ends at 19:30 and its room closes 15 minutes later (ROOM_GRACE_MINUTES).
MEETING_AT = utc(2026, 3, 2, 18)
CLOSES_AT = utc(2026, 3, 2, 19, 45)
# 30 days (the default retention) after the room closed.
EXPIRES_AT = CLOSES_AT + timedelta(days=30)
ONE_SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _room_settings(settings) -> None:
    settings.ROOM_GRACE_MINUTES = 15
    settings.ROOM_OPENS_MINUTES_BEFORE = 10
    settings.ROOM_MESSAGES_PER_WINDOW = 1000  # a test writes faster than anyone would


@pytest.fixture
def charlie_in_circle(circle: SupportGroup, charlie: User) -> Membership:
    return add_member(circle, charlie, "Bright Willow")


# --- Helpers -----------------------------------------------------------------------------------


def meeting_at(group: SupportGroup, starts: datetime, *people: User) -> Meeting:
    """A one-off meeting, scheduled by the group's owner, with `people` going (time must be
    before `starts`)."""
    owner = group.memberships.get(role="owner").user
    meeting = one_off_meeting(group, owner, starts)
    for user in people:
        actions.do_rsvp(Membership.objects.get(group=group, user=user), meeting, going=True)
    return meeting


def enter(user: User, meeting: Meeting) -> RoomSession:
    return room_actions.access_room(user, meeting.public_id)


def say(session: RoomSession, body: str) -> int:
    frame, _created = room_actions.do_post_message(session, uuid.uuid4().hex, body)
    return int(frame["seq"])


def hold(frozen, meeting: Meeting, lines: list[tuple[User, str]]) -> list[int]:
    """Go to five minutes into the meeting and write `lines` in its room; returns their seqs."""
    frozen.move_to(meeting.starts_at + timedelta(minutes=5))
    sessions: dict[int, RoomSession] = {}
    seqs = []
    for user, body in lines:
        if user.pk not in sessions:
            sessions[user.pk] = enter(user, meeting)
        seqs.append(say(sessions[user.pk], body))
    return seqs


def bodies(meeting: Meeting) -> list[str]:
    return list(RoomEvent.objects.filter(room__meeting=meeting, kind="message").values_list("body", flat=True))


def entries(meeting: Meeting) -> int:
    return RoomEvent.objects.filter(room__meeting=meeting).count()


def second_group(owen: User, **fields: object) -> SupportGroup:
    group = make_group(name="Thursday Circle", slug="thursday-circle", **fields)
    add_member(group, owen, "Steady Lantern", role="owner")
    return group


# --- When messages expire ----------------------------------------------------------------------


@pytest.mark.django_db
def test_messages_go_one_second_after_the_retention_period_and_not_before(
    frozen, circle: SupportGroup, alice: User, bob: User
) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    frozen.move_to(MEETING_AT + timedelta(minutes=5))
    alice_session = enter(alice, meeting)
    first = say(alice_session, "The first time I said it out loud.")
    say(enter(bob, meeting), "Thank you for trusting us with that.")
    room_actions.do_react(alice_session, first, "thanks", True)
    # The last minute of the grace period still counts as the meeting.
    frozen.move_to(CLOSES_AT - ONE_SECOND)
    say(alice_session, "One more thing before I go.")
    assert entries(meeting) == 4

    frozen.move_to(EXPIRES_AT - ONE_SECOND)
    assert retention.purge_expired_messages().as_dict() == {"messages": 0, "meetings": 0, "batches": 0}
    assert entries(meeting) == 4

    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.purge_expired_messages().as_dict() == {"messages": 4, "meetings": 1, "batches": 1}
    assert entries(meeting) == 0
    # Only the messages go: the meeting, its RSVPs and its room (with its seq counter and its
    # message count, which leaves the reaction out) stay.
    room = Room.objects.get(meeting=meeting)
    assert (room.last_seq, room.message_count) == (4, 3)
    assert meeting.rsvps.filter(status="going").count() == 1


@pytest.mark.django_db
def test_a_meeting_ended_early_counts_from_when_it_was_ended(frozen, circle: SupportGroup, bob: User) -> None:
    meeting = meeting_at(circle, MEETING_AT)
    hold(frozen, meeting, [(bob, "Welcome, everyone.")])
    ended_at = MEETING_AT + timedelta(minutes=20)
    frozen.move_to(ended_at)
    room_actions.do_end_room(enter(bob, meeting), "Short meeting tonight")

    frozen.move_to(ended_at + timedelta(days=30) - ONE_SECOND)
    assert retention.purge_expired_messages().messages == 0
    frozen.move_to(ended_at + timedelta(days=30) + ONE_SECOND)
    assert retention.purge_expired_messages().messages == 1
    assert bodies(meeting) == []


@pytest.mark.django_db
def test_a_cancelled_meeting_counts_from_its_scheduled_end(frozen, circle: SupportGroup, owen: User, bob: User) -> None:
    """Its room was open a few minutes early, someone wrote, then it was called off."""
    meeting = meeting_at(circle, MEETING_AT)
    frozen.move_to(MEETING_AT - timedelta(minutes=8))
    say(enter(bob, meeting), "Sorry, I have to call tonight off.")
    actions.do_cancel_meeting(access_group(owen, circle.slug), meeting, "The facilitator is ill")
    meeting.refresh_from_db()
    assert meeting.is_cancelled

    frozen.move_to(EXPIRES_AT - ONE_SECOND)
    assert retention.purge_expired_messages().messages == 0
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.purge_expired_messages().messages == 1


@pytest.mark.django_db
def test_each_group_keeps_messages_for_its_own_period(
    frozen, circle: SupportGroup, owen: User, alice: User, bob: User
) -> None:
    weekly = second_group(owen, message_retention_days=7)
    add_member(weekly, alice, "Morning Tide")
    in_circle = meeting_at(circle, MEETING_AT, alice)
    in_weekly = meeting_at(weekly, MEETING_AT, alice)
    hold(frozen, in_circle, [(alice, "Kept for thirty days.")])
    hold(frozen, in_weekly, [(alice, "Kept for a week.")])

    frozen.move_to(CLOSES_AT + timedelta(days=7) + ONE_SECOND)
    result = retention.purge_expired_messages()
    assert (result.messages, result.meetings) == (1, 1)
    assert bodies(in_weekly) == []
    assert bodies(in_circle) == ["Kept for thirty days."]


@pytest.mark.django_db
def test_a_changed_retention_applies_at_the_next_run(frozen, circle: SupportGroup, alice: User) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    hold(frozen, meeting, [(alice, "Still here?")])

    # Made longer before the 30 days were up: the messages stay past day 30.
    circle.message_retention_days = 60
    circle.save(update_fields=["message_retention_days"])
    frozen.move_to(EXPIRES_AT + timedelta(days=1))
    assert retention.purge_expired_messages().messages == 0
    assert bodies(meeting) == ["Still here?"]

    # Made shorter later: the next run deletes what is now past it.
    circle.message_retention_days = 7
    circle.save(update_fields=["message_retention_days"])
    assert retention.purge_expired_messages().messages == 1
    assert bodies(meeting) == []


@pytest.mark.django_db
def test_recent_meetings_and_meetings_not_over_keep_their_messages(
    frozen, circle: SupportGroup, alice: User, bob: User
) -> None:
    old = meeting_at(circle, MEETING_AT, alice)
    recent = meeting_at(circle, MEETING_AT + timedelta(days=28), alice)
    running = meeting_at(circle, EXPIRES_AT + timedelta(hours=1), alice)
    hold(frozen, old, [(alice, "A month ago.")])
    hold(frozen, recent, [(alice, "Last week.")])
    hold(frozen, running, [(alice, "Right now."), (bob, "We hear you.")])

    assert retention.purge_expired_messages().messages == 1
    assert bodies(old) == []
    assert bodies(recent) == ["Last week."]
    assert bodies(running) == ["Right now.", "We hear you."]


# --- Reports and the transcript ------------------------------------------------------------------


def reported_meeting(frozen, circle: SupportGroup, alice: User, bob: User, charlie: User) -> tuple[Meeting, Report]:
    """charlie writes something cruel in the meeting, alice reports it from the room."""
    meeting = meeting_at(circle, MEETING_AT, alice, charlie)
    seqs = hold(
        frozen,
        meeting,
        [
            (bob, "Welcome, everyone."),
            (charlie, "Nobody here will ever believe you."),
            (alice, "That hurt to read."),
        ],
    )
    room_actions.do_report(enter(alice, meeting), seqs[1], "harassment", "", "remove")
    return meeting, Report.objects.get(message_seq=seqs[1])


@pytest.mark.django_db
def test_a_reported_message_is_purged_but_its_report_and_snapshot_stay(
    frozen, client: Client, circle: SupportGroup, alice: User, bob: User, charlie: User, dana: User, charlie_in_circle
) -> None:
    meeting, report = reported_meeting(frozen, circle, alice, bob, charlie)
    report_page = reverse("moderation:report", args=[circle.slug, report.public_id])
    transcript = reverse("meetings:transcript", args=[circle.slug, meeting.public_id])
    client.force_login(bob)
    frozen.move_to(CLOSES_AT)
    assert "Nobody here will ever believe you." in client.get(transcript).content.decode()

    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.purge_expired_messages().messages == 3
    assert entries(meeting) == 0

    report.refresh_from_db()
    assert report.message is None
    assert report.message_seq == 2
    assert report.meeting == meeting
    assert [line["body"] for line in report.snapshot] == [
        "Welcome, everyone.",
        "Nobody here will ever believe you.",
        "That hurt to read.",
    ]
    # The facilitator, and site staff, still read the reported words on the report's page.
    for reader in (bob, dana):
        client.force_login(reader)
        page = client.get(report_page)
        assert page.status_code == 200
        assert "Nobody here will ever believe you." in page.content.decode()
    # The transcript has nothing left to show, and says why.
    client.force_login(bob)
    page = client.get(transcript).content.decode()
    assert page.count("Nobody here will ever believe you.") == 0
    assert "Welcome, everyone." not in page
    assert "have been deleted" in page


@pytest.mark.django_db
def test_a_purged_message_report_is_not_taken_for_a_report_about_the_member(
    frozen, circle: SupportGroup, alice: User, bob: User, charlie: User, charlie_in_circle: Membership
) -> None:
    _meeting, report = reported_meeting(frozen, circle, alice, bob, charlie)
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    retention.purge_expired_messages()

    member_report = moderation.do_report_member(
        Membership.objects.get(group=circle, user=alice),
        charlie_in_circle.public_id,
        category="harassment",
        wish="inform",
    )
    assert member_report.pk != report.pk
    assert Report.objects.filter(group=circle).count() == 2


@pytest.mark.django_db
def test_a_meeting_nobody_wrote_in_says_so_not_that_it_was_deleted(
    frozen, client: Client, circle: SupportGroup, bob: User
) -> None:
    meeting = meeting_at(circle, MEETING_AT)
    frozen.move_to(MEETING_AT + timedelta(minutes=5))
    enter(bob, meeting)
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    retention.purge_expired_messages()
    client.force_login(bob)
    page = client.get(reverse("meetings:transcript", args=[circle.slug, meeting.public_id])).content.decode()
    assert "Nothing was written in this meeting's room." in page
    assert "have been deleted" not in page


# --- The message count, which outlives the purge ----------------------------------------------


def message_count(meeting: Meeting) -> int:
    return Room.objects.values_list("message_count", flat=True).get(meeting=meeting)


@pytest.mark.django_db
def test_the_room_counts_messages_not_reactions_or_deletion_marks(
    frozen, circle: SupportGroup, alice: User, bob: User
) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    first, _second, third = hold(frozen, meeting, [(alice, "One."), (bob, "Two."), (alice, "Three.")])
    alice_session = enter(alice, meeting)
    room_actions.do_react(alice_session, first, "thanks", True)
    room_actions.do_react(alice_session, first, "thanks", False)
    room_actions.do_delete_message(alice_session, third)  # a deleted message was still posted
    room = Room.objects.get(meeting=meeting)
    assert (room.last_seq, room.message_count) == (6, 3)

    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.purge_expired_messages().messages == 6
    assert entries(meeting) == 0
    assert message_count(meeting) == 3


@pytest.mark.django_db
def test_a_resent_message_counts_once(frozen, circle: SupportGroup, alice: User, monkeypatch) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    frozen.move_to(MEETING_AT + timedelta(minutes=5))
    session = enter(alice, meeting)
    frame, created = room_actions.do_post_message(session, "c-1", "Hello.")
    assert created
    # A resend on the same socket: the stored message comes back, nothing is stored.
    again, created = room_actions.do_post_message(session, "c-1", "Hello.")
    assert (created, again["seq"]) == (False, frame["seq"])
    assert message_count(meeting) == 1

    # The same client_id racing in on another socket: the first look misses it, the insert
    # fails on the unique constraint, and its savepoint gives back the seq and the count.
    real_filter = RoomEvent.objects.filter
    first_look = iter([True])

    def missing_on_first_look(*args: object, **kwargs: object):
        found = real_filter(*args, **kwargs)
        return found.none() if "client_id" in kwargs and next(first_look, False) else found

    monkeypatch.setattr(RoomEvent.objects, "filter", missing_on_first_look)
    raced, created = room_actions.do_post_message(session, "c-1", "Hello.")
    monkeypatch.undo()
    assert next(first_look, None) is None  # the race really was taken
    assert (created, raced["seq"]) == (False, frame["seq"])
    room = Room.objects.get(meeting=meeting)
    assert (room.last_seq, room.message_count) == (1, 1)
    say(session, "And a new one.")
    room.refresh_from_db()
    assert (room.last_seq, room.message_count) == (2, 2)


@pytest.mark.django_db
def test_a_refused_message_does_not_count(frozen, circle: SupportGroup, alice: User, bob: User) -> None:
    WatchedWord.objects.create(
        group=circle, phrase="address", normalised=normalise("address"), action=WatchedWord.Action.BLOCK
    )
    meeting = meeting_at(circle, MEETING_AT, alice)
    frozen.move_to(MEETING_AT + timedelta(minutes=5))
    alice_session = enter(alice, meeting)
    room_actions.do_enter_room(alice_session, "test.channel.alice")
    say(alice_session, "Hello.")
    with pytest.raises(room_actions.RoomError) as refused:
        say(alice_session, "My address is 1 High Street.")
    assert refused.value.code == "watched_word"
    bob_session = enter(bob, meeting)
    room_actions.do_mute(bob_session, Membership.objects.get(group=circle, user=alice).public_id, 5, "")
    with pytest.raises(room_actions.RoomError) as refused:
        say(alice_session, "But…")
    assert refused.value.code == "muted"
    room = Room.objects.get(meeting=meeting)
    assert (room.last_seq, room.message_count) == (1, 1)


@pytest.mark.django_db
def test_the_migration_counts_the_messages_still_kept(frozen, circle: SupportGroup, alice: User, bob: User) -> None:
    """The data step of 0007: each room gets its kept messages (deleted ones included), a room
    already purged what is left."""
    migration = importlib.import_module("meetings.migrations.0007_room_message_count")
    purged = meeting_at(circle, MEETING_AT, alice)
    kept = meeting_at(circle, MEETING_AT + timedelta(days=20), alice)
    silent = meeting_at(circle, MEETING_AT + timedelta(days=21), alice)
    hold(frozen, purged, [(alice, "Old.")])
    first, second = hold(frozen, kept, [(alice, "Newer."), (bob, "Indeed.")])
    room_actions.do_react(enter(bob, kept), first, "thanks", True)
    room_actions.do_delete_message(enter(bob, kept), second)
    room_actions.room_for(silent)
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    retention.purge_expired_messages()
    Room.objects.update(message_count=0)  # as the column is when just added

    # The step only reads the schema editor's connection (a real one needs no transaction on SQLite).
    migration.count_kept_messages(django_apps, SimpleNamespace(connection=connection))

    assert [message_count(meeting) for meeting in (purged, kept, silent)] == [0, 2, 0]


# --- Batches, repeats, concurrency -------------------------------------------------------------


@pytest.mark.django_db
def test_a_purge_works_in_batches(frozen, circle: SupportGroup, alice: User) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    hold(frozen, meeting, [(alice, f"Message {n}") for n in range(5)])
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.count_expired_messages() == 5
    assert retention.purge_expired_messages(batch_size=2).as_dict() == {"messages": 5, "meetings": 1, "batches": 3}
    assert entries(meeting) == 0


@pytest.mark.django_db
def test_a_second_run_finds_nothing_left_to_delete(frozen, circle: SupportGroup, alice: User, bob: User) -> None:
    expired = meeting_at(circle, MEETING_AT, alice)
    kept = meeting_at(circle, MEETING_AT + timedelta(days=20), alice)
    hold(frozen, expired, [(alice, "Old news."), (bob, "Indeed.")])
    hold(frozen, kept, [(alice, "Newer.")])
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert retention.purge_expired_messages().messages == 2
    assert retention.purge_expired_messages().as_dict() == {"messages": 0, "meetings": 0, "batches": 0}
    assert bodies(kept) == ["Newer."]


@pytest.mark.django_db
def test_the_nightly_scan_costs_the_same_few_queries_however_many_meetings_passed(
    frozen, circle: SupportGroup, owen: User, bob: User, django_assert_max_num_queries
) -> None:
    second_group(owen, message_retention_days=7)
    meetings = [meeting_at(circle, MEETING_AT + timedelta(hours=3 * n)) for n in range(6)]
    for meeting in meetings:
        hold(frozen, meeting, [(bob, "Hello.")])
    frozen.move_to(EXPIRES_AT + timedelta(days=2))
    retention.purge_expired_messages()
    # Nothing left: one query for the retention periods in use, one per period.
    with django_assert_max_num_queries(3):
        assert retention.purge_expired_messages().messages == 0


def _run_in_thread(barrier: threading.Barrier, results: list, errors: list[BaseException]) -> None:
    try:
        barrier.wait(timeout=10)
        results.append(retention.purge_expired_messages(batch_size=3))
    except BaseException as error:  # noqa: BLE001 - reported by the test
        errors.append(error)
    finally:
        close_old_connections()
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_delete_each_expired_message_once_and_fail_nothing(
    frozen, circle: SupportGroup, alice: User, bob: User, charlie: User
) -> None:
    """Two real transactions (two threads, two connections) racing over the same rooms. On
    PostgreSQL each batch skips the rows the other run has locked; on SQLite they take turns
    for the write lock (IMMEDIATE transactions, busy timeout), never "database is locked"."""
    add_member(circle, charlie, "Bright Willow")
    weekly = second_group(circle.memberships.get(role="owner").user, message_retention_days=7)
    add_member(weekly, alice, "Morning Tide")
    add_member(weekly, bob, "Calm Heron", role="facilitator")
    expired = [meeting_at(circle, MEETING_AT + timedelta(hours=2 * n), alice, charlie) for n in range(3)]
    expired.append(meeting_at(weekly, MEETING_AT + timedelta(days=10), alice))
    kept = [
        meeting_at(circle, MEETING_AT + timedelta(days=25), alice),
        meeting_at(weekly, MEETING_AT + timedelta(days=30), alice),
    ]
    for n, meeting in enumerate(expired + kept):
        people = [alice, bob, charlie] if n < 3 else [alice, bob]
        seqs = hold(frozen, meeting, [(people[i % len(people)], f"Line {i} of meeting {n}") for i in range(17)])
        if n == 0:
            # A report on a message that expires: both runs may reach it, neither may lose it.
            room_actions.do_report(enter(alice, meeting), seqs[2], "harassment", "", "inform")
    kept_ids = set(RoomEvent.objects.filter(room__meeting__in=kept).values_list("pk", flat=True))

    frozen.move_to(EXPIRES_AT + timedelta(days=1))
    expired_count = retention.count_expired_messages()
    assert expired_count == RoomEvent.objects.filter(room__meeting__in=expired).count() == 4 * 17

    barrier = threading.Barrier(2)
    results: list[retention.PurgeResult] = []
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_run_in_thread, args=(barrier, results, errors)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 2
    assert sum(result.messages for result in results) == expired_count
    assert not RoomEvent.objects.filter(room__meeting__in=expired).exists()
    assert set(RoomEvent.objects.values_list("pk", flat=True)) == kept_ids
    report = Report.objects.get()
    assert report.message is None
    assert [line["reported"] for line in report.snapshot].count(True) == 1
    assert retention.purge_expired_messages().messages == 0


# --- Task, beat, command -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_nightly_task_purges_through_celery(frozen, circle: SupportGroup, alice: User) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    hold(frozen, meeting, [(alice, "Gone by April.")])
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    assert purge_expired_messages.delay().get() == {"messages": 1, "meetings": 1, "batches": 1}
    assert bodies(meeting) == []
    assert purge_expired_messages.delay().get() == {"messages": 0, "meetings": 0, "batches": 0}


def test_beat_runs_the_purge_every_night() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-messages"]
    assert entry["task"] == "meetings.tasks.purge_expired_messages"
    assert entry["task"] in celery_app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert (schedule.hour, schedule.minute) == ({3}, {30})
    assert settings.CELERY_TIMEZONE == "UTC"


@pytest.mark.django_db
def test_operators_can_count_and_purge_by_hand(frozen, circle: SupportGroup, alice: User) -> None:
    meeting = meeting_at(circle, MEETING_AT, alice)
    hold(frozen, meeting, [(alice, "One."), (alice, "Two."), (alice, "Three.")])
    frozen.move_to(EXPIRES_AT + ONE_SECOND)
    out = StringIO()
    call_command("purge_expired_messages", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "3 expired room messages would be deleted."
    assert entries(meeting) == 3
    out = StringIO()
    call_command("purge_expired_messages", "--batch-size", "2", stdout=out)
    assert out.getvalue().strip() == "Deleted 3 room messages from 1 meetings in 2 batches."
    assert entries(meeting) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("size", [0, -5])
def test_a_batch_size_below_one_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retention.purge_expired_messages(batch_size=size)


@pytest.mark.django_db
def test_transcript_expiry_uses_the_rooms_close_and_the_groups_period(frozen, circle: SupportGroup) -> None:
    meeting = meeting_at(circle, MEETING_AT)
    room = room_actions.room_for(meeting)
    assert retention.transcript_expires_at(meeting, room) == EXPIRES_AT
    circle.message_retention_days = 1
    circle.save(update_fields=["message_retention_days"])
    meeting.refresh_from_db()
    assert retention.transcript_expires_at(meeting, room) == CLOSES_AT + timedelta(days=1)
