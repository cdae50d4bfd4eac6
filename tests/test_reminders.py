"""Reminders: rows that follow RSVPs and meetings, claimed once, sent once, discreet."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse

from accounts.models import Notice, User
from accounts.tasks import dispatch_notices
from groups.actions import access_group, do_leave_group
from groups.models import Membership, SupportGroup
from lib import outbox
from meetings import actions, reminders
from meetings.models import Meeting, Reminder
from meetings.tasks import dispatch_reminders, send_reminder
from tests.conftest import FROZEN_NOW, one_off_meeting, utc

pytestmark = pytest.mark.django_db

NOW = FROZEN_NOW


def meeting_at(group: SupportGroup, owner: User, starts: datetime) -> Meeting:
    return one_off_meeting(group, owner, starts)


def rows(meeting: Meeting) -> list[tuple[str, datetime, str]]:
    return list(meeting.reminders.order_by("send_at").values_list("kind", "send_at", "status"))


def test_going_creates_reminders_a_day_and_an_hour_before(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    assert rows(meeting) == [("24h", utc(2026, 3, 9, 19), "pending"), ("1h", utc(2026, 3, 10, 18), "pending")]


def test_withdrawing_removes_them(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    row = Membership.objects.get(user=alice)
    actions.do_rsvp(row, meeting, going=True)
    actions.do_rsvp(row, meeting, going=False)
    assert rows(meeting) == []


def test_waitlisted_people_get_reminders_once_promoted(frozen, circle, owen, alice, bob) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    meeting.capacity = 1
    meeting.save()
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    actions.do_rsvp(Membership.objects.get(user=bob), meeting, going=True)
    assert meeting.reminders.filter(membership__user=bob).count() == 0
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=False)
    assert meeting.reminders.filter(membership__user=bob).count() == 2


def test_a_reschedule_moves_reminders_already_created(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    actions.do_update_meeting(
        access_group(owen, circle.slug), meeting, day=date(2026, 3, 12), at=time(20, 0), duration_minutes=90,
        capacity=12, facilitator=None, backup=None, reason="Room change",
    )  # fmt: skip
    assert rows(meeting) == [("24h", utc(2026, 3, 11, 20), "pending"), ("1h", utc(2026, 3, 12, 19), "pending")]


def test_a_cancelled_meeting_keeps_no_reminder(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    actions.do_cancel_meeting(access_group(owen, circle.slug), meeting, "Snow")
    assert rows(meeting) == []


def test_reminders_follow_local_time_across_daylight_saving(circle, owen, alice) -> None:
    """A weekly London 19:00 series: the day-before reminder is 19:00 UTC in winter, 18:00 in summer."""
    with time_machine.travel(utc(2026, 3, 20, 12), tick=False):
        series = actions.do_create_series(
            access_group(owen, circle.slug),
            actions.SeriesData("Circle", "FREQ=WEEKLY;BYDAY=TU", date(2026, 3, 1), time(19, 0), 90, 12, []),
        )
        row = Membership.objects.get(user=alice)
        for meeting in series.meetings.order_by("starts_at")[:2]:
            actions.do_rsvp(row, meeting, going=True)
    day_before = list(
        Reminder.objects.filter(kind="24h", membership__user=alice)
        .order_by("send_at")
        .values_list("send_at", flat=True)
    )
    assert day_before == [utc(2026, 3, 23, 19), utc(2026, 3, 30, 18)]  # clocks went forward on 29 March


def test_too_late_reminders_are_not_created(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, NOW + timedelta(hours=5))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    assert [kind for kind, _at, _status in rows(meeting)] == ["1h"]


# --- Dispatch and sending ------------------------------------------------------------------


def test_due_reminder_is_sent_once_and_discreetly(
    frozen, circle, owen, alice, django_capture_on_commit_callbacks
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    frozen.move_to(utc(2026, 3, 9, 19, 0, 30))
    assert dispatch_reminders() == 1  # eager in tests: sends at once
    assert dispatch_reminders() == 0
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["alice@example.com"]
    assert email.subject == "Reminder: appointment at 19:00"  # alice is in London
    assert email.from_email == "Account notices <no-reply@localhost>"
    html = email.alternatives[0][0]
    everything = " ".join([email.subject, email.body, html, email.from_email, *email.extra_headers.values()])
    for sensitive in ("Tuesday Circle", "tuesday-circle", "trauma", "Evening share", "Hearth", "support", "abuse"):
        assert sensitive.lower() not in everything.lower(), sensitive
    notice = Notice.objects.get(user=alice)
    assert f"http://localhost:8000/accounts/notices/{notice.public_id}/" in email.body  # a link naming nothing
    assert "This is a reminder of your appointment on Tue 10 Mar 2026, 19:00" in email.body
    assert Reminder.objects.get(kind="24h").status == "sent"
    assert (notice.kind, notice.status) == ("reminder", "sent")
    assert notice.text.startswith("Reminder: Evening share (Tuesday Circle) on Tue 10 Mar 2026, 19:00")


def test_reminder_names_the_meeting_when_not_discreet(frozen, circle, owen, alice) -> None:
    alice.discreet_notifications = False
    alice.timezone = "America/New_York"
    alice.save()
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    frozen.move_to(utc(2026, 3, 9, 19, 0, 5))
    dispatch_reminders()
    assert [email.subject for email in mail.outbox] == ["Reminder: Evening share at 15:00"]  # New York (EDT)
    assert "Tuesday Circle" in mail.outbox[0].body


def test_nothing_is_sent_for_a_member_who_left(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    do_leave_group(Membership.objects.get(user=alice))
    frozen.move_to(utc(2026, 3, 9, 19, 1))
    dispatch_reminders()
    assert mail.outbox == []
    assert Reminder.objects.get(kind="24h").status == "skipped"


def test_two_dispatchers_at_once_claim_disjoint_sets(circle, owen, alice) -> None:
    with time_machine.travel(NOW, tick=False):
        meetings = [meeting_at(circle, owen, NOW + timedelta(days=2, minutes=n)) for n in range(40)]
        for meeting in meetings:
            actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    later = NOW + timedelta(days=1, hours=12)
    _token, first = reminders.claim_due(later)
    _token, second = reminders.claim_due(later)
    assert len(first) == 40 and second == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_overlap(circle, owen, alice) -> None:
    """Real concurrent transactions on two threads and connections."""
    with time_machine.travel(NOW, tick=False):
        meetings = [meeting_at(circle, owen, NOW + timedelta(days=2, minutes=n)) for n in range(60)]
        for meeting in meetings:
            actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    later = NOW + timedelta(days=1, hours=12)
    claimed: list[list[int]] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        try:
            barrier.wait(timeout=10)
            claimed.append(reminders.claim_due(later, limit=1000)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(claimed[0] + claimed[1]) == sorted(Reminder.objects.filter(kind="24h").values_list("pk", flat=True))
    assert not set(claimed[0]) & set(claimed[1])


def test_stale_claims_are_taken_again(frozen, circle, owen, alice) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)
    due = utc(2026, 3, 9, 19, 1)
    assert len(reminders.claim_due(due)[1]) == 1  # then the worker died before sending
    assert reminders.claim_due(due + timedelta(minutes=5))[1] == []
    token, [reminder_id] = reminders.claim_due(due + timedelta(minutes=11))
    frozen.move_to(due + timedelta(minutes=11))
    assert send_reminder.delay(reminder_id, "an old claim's token").get() == "nothing to do"
    assert send_reminder.delay(reminder_id, token).get() == "sent"
    assert len(mail.outbox) == 1


def test_failed_sends_retry_with_backoff_then_show_as_failed_in_the_admin(
    frozen, circle, owen, alice, dana, monkeypatch, client
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    actions.do_rsvp(Membership.objects.get(user=alice), meeting, going=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken)
    moment = utc(2026, 3, 9, 19, 0, 30)
    frozen.move_to(moment)
    assert dispatch_reminders() == 1
    notice = Notice.objects.get(user=alice)
    assert (notice.status, notice.attempts, notice.send_at) == ("pending", 1, moment + timedelta(minutes=1))
    assert dispatch_notices() == 0  # not due again yet
    waits = []
    while notice.status == "pending":
        waits.append(notice.send_at - moment)
        moment = notice.send_at
        frozen.move_to(moment)
        assert dispatch_notices() == 1
        notice.refresh_from_db()
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]  # backoff
    assert (notice.status, notice.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert notice.last_error == "ConnectionRefusedError: mail server down"
    assert Reminder.objects.get(kind="24h").status == "sent"  # the reminder became the notice
    assert mail.outbox == []
    client.force_login(dana)
    page = client.get(reverse("admin:accounts_notice_changelist") + "?status__exact=failed").content.decode()
    assert "1 notice" in page
