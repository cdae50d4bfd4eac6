"""Notifications as a person meets them: the settings page, the emails in their inbox (discreet
by default), the one-click unsubscribe link, quiet hours, muted groups and the notice centre.

Reminder rows themselves (creation, claims, retries) are in test_reminders.py; here they are
checked only as far as these settings move them.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.http import HttpResponse
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from accounts.actions import do_update_notification_settings
from accounts.checks import discreet_sender_check
from accounts.models import Notice, NoticeKind, User
from accounts.tasks import dispatch_notices, send_notice
from groups.actions import access_group, do_decide_request, do_join_group
from groups.models import Membership, SupportGroup
from lib.errors import ActionError
from meetings import actions
from meetings.models import Meeting, Reminder
from meetings.tasks import dispatch_reminders, send_reminder
from tests.conftest import FROZEN_NOW, add_member, make_group, one_off_meeting, utc

pytestmark = pytest.mark.django_db

NOTIFICATIONS = reverse("accounts:notifications")
NOTICES = reverse("accounts:notices")
EVERY_KIND = [kind.value for kind in NoticeKind]
MEETING_CHANGES = "A meeting you are going to moved or was cancelled"  # the "meeting" kind's label
# What an owner writes when cancelling or moving: it names the group and sensitive words.
REASON = "The Tuesday Circle room at the trauma support centre is closed"


# --- Helpers ---------------------------------------------------------------------------------


def text_of(response: HttpResponse) -> str:
    """What a person reads on the page: tags stripped, entities decoded, spaces collapsed."""
    raw = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(raw).split())


def legends(response: HttpResponse) -> list[str]:
    return [
        html.unescape(legend).strip() for legend in re.findall(r"<legend>(.*?)</legend>", response.content.decode())
    ]


def checkboxes(response: HttpResponse, name: str) -> dict[str, tuple[str, bool]]:
    """Each checkbox of a multiple-choice field: value -> (its label's text, ticked or not)."""
    pattern = rf'<label for="id_{name}_\d+">(<input [^>]*name="{name}"[^>]*>)\s*(.*?)</label>'
    found = {}
    for tag, label in re.findall(pattern, response.content.decode(), re.S):
        value = re.search(r'value="([^"]*)"', tag)
        assert value is not None
        found[value.group(1)] = (html.unescape(label).strip(), " checked" in tag)
    return found


def settings_data(**changes: Any) -> dict[str, Any]:
    """The settings form as the defaults submit it, with `changes`."""
    data: dict[str, Any] = {
        "reminder_offsets": ["24h", "1h"],
        "email_kinds": EVERY_KIND,
        "in_app_kinds": EVERY_KIND,
        "discreet_notifications": "on",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        "muted_groups": [],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def committed() -> AbstractContextManager[Any]:
    """Run what waits for the commit (the emails), as the end of a real request would: the
    test's own transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def meeting_at(group: SupportGroup, owner: User, starts: datetime, *, capacity: int = 12) -> Meeting:
    return one_off_meeting(group, owner, starts, capacity=capacity)


def going(user: User, meeting: Meeting, *, answer: bool = True) -> None:
    with committed():  # giving up a place emails the first person waiting
        actions.do_rsvp(Membership.objects.get(user=user, group=meeting.group), meeting, going=answer)


def reminder_rows(user: User) -> list[tuple[str, datetime, str]]:
    return list(
        Reminder.objects.filter(membership__user=user).order_by("send_at").values_list("kind", "send_at", "status")
    )


def set_quiet_hours(user: User, start: time, end: time) -> None:
    user.quiet_hours_start, user.quiet_hours_end = start, end
    user.save(update_fields=["quiet_hours_start", "quiet_hours_end"])


def cancel(owner: User, meeting: Meeting, reason: str = "Snow") -> None:
    with committed():
        actions.do_cancel_meeting(access_group(owner, meeting.group.slug), meeting, reason)


def move(owner: User, meeting: Meeting, day: date, at: time, reason: str = "Room change") -> None:
    with committed():
        actions.do_update_meeting(
            access_group(owner, meeting.group.slug), meeting, day=day, at=at, duration_minutes=90, capacity=12,
            facilitator=None, backup=None, reason=reason,
        )  # fmt: skip


def emails_to(user: User) -> list[EmailMultiAlternatives]:
    return [email for email in mail.outbox if email.to == [user.email]]  # type: ignore[misc]


def only_email_to(user: User) -> EmailMultiAlternatives:
    emails = emails_to(user)
    assert len(emails) == 1, [email.subject for email in mail.outbox]
    return emails[0]


def everything_in(email: EmailMultiAlternatives) -> str:
    """The whole email as sent (every header and part), and each part decoded as well."""
    parts = [email.message().as_string(), str(email.subject), str(email.from_email), str(email.body)]
    parts.extend(str(value) for value in email.extra_headers.values())
    parts.extend(str(content) for content, _mimetype in email.alternatives)
    return "\n".join(parts)


def unsubscribe_link(email: EmailMessage) -> str:
    """The path of the unsubscribe link in the email's text (the same one is in its header)."""
    match = re.search(r"To stop emails like this one: http://localhost:8000(/accounts/unsubscribe/\S+/)", email.body)
    assert match is not None, email.body
    return match.group(1)


def profile(user: User) -> tuple[Any, ...]:
    """Everything the settings page can change for a person, and their pending reminders."""
    user = User.objects.get(pk=user.pk)
    return (
        user.reminder_offsets,
        user.email_kinds,
        user.in_app_kinds,
        user.discreet_notifications,
        user.quiet_hours_start,
        user.quiet_hours_end,
        sorted(Membership.objects.filter(user=user).values_list("group_id", "muted")),
        reminder_rows(user),
    )


# --- 1. The settings page --------------------------------------------------------------------


def test_settings_page_labels_every_choice_and_shows_the_current_ones(alice_client: Client, circle) -> None:
    response = alice_client.get(NOTIFICATIONS)
    assert response.status_code == 200
    assert legends(response) == [
        "Remind me before meetings I'm going to",
        "Email me about",
        "Show in my notices on Hearth",
        "Mute these groups",
    ]
    assert checkboxes(response, "reminder_offsets") == {
        "48h": ("2 days before", False),
        "24h": ("1 day before", True),
        "3h": ("3 hours before", False),
        "1h": ("1 hour before", True),
        "15m": ("15 minutes before", False),
    }
    assert checkboxes(response, "email_kinds")["meeting"] == (MEETING_CHANGES, True)
    assert len(checkboxes(response, "in_app_kinds")) == len(NoticeKind)
    assert checkboxes(response, "muted_groups") == {str(circle.pk): ("Tuesday Circle", False)}
    page = response.content.decode()
    assert '<label for="id_quiet_hours_start">Quiet hours from</label>' in page
    assert '<label for="id_quiet_hours_end">Quiet hours until</label>' in page
    assert '<label for="id_discreet_notifications">Discreet emails</label>' in page
    assert "Times are in your timezone, Europe/London." in text_of(response)


def test_saving_settings_updates_the_person_and_their_memberships(alice_client: Client, alice: User, circle) -> None:
    data = settings_data(
        reminder_offsets=["15m", "48h"],
        email_kinds=["meeting", "reminder"],
        in_app_kinds=["waitlist", "meeting"],
        discreet_notifications=None,  # unticked
        quiet_hours_start="22:00",
        quiet_hours_end="07:00",
        muted_groups=[circle.pk],
    )
    response = alice_client.post(NOTIFICATIONS, data, follow=True)
    assert "Your notification settings are saved." in text_of(response)
    alice.refresh_from_db()
    assert alice.reminder_offsets == ["48h", "15m"]  # in the list's order, whatever the post's
    assert alice.email_kinds == ["reminder", "meeting"]
    assert alice.in_app_kinds == ["meeting", "waitlist"]
    assert alice.discreet_notifications is False
    assert (alice.quiet_hours_start, alice.quiet_hours_end) == (time(22), time(7))
    assert Membership.objects.get(user=alice).muted is True
    assert checkboxes(response, "muted_groups") == {str(circle.pk): ("Tuesday Circle", True)}
    assert 'value="22:00"' in response.content.decode()

    alice_client.post(NOTIFICATIONS, settings_data())  # and back
    alice.refresh_from_db()
    assert Membership.objects.get(user=alice).muted is False
    assert (alice.quiet_hours_start, alice.quiet_hours_end, alice.discreet_notifications) == (None, None, True)


def test_muted_group_list_shows_only_the_persons_active_groups(alice_client: Client, alice: User, circle) -> None:
    left = make_group(name="Thursday Circle", slug="thursday-circle")
    add_member(left, alice, "Quiet Harbor", status="left")
    asked = make_group(name="Friday Circle", slug="friday-circle")
    add_member(asked, alice, "Quiet Harbor", status="pending")
    make_group(name="Saturday Circle", slug="saturday-circle")  # not hers at all
    response = alice_client.get(NOTIFICATIONS)
    assert checkboxes(response, "muted_groups") == {str(circle.pk): ("Tuesday Circle", False)}
    for name in ("Thursday Circle", "Friday Circle", "Saturday Circle"):
        assert name not in text_of(response)


def test_someone_in_no_group_sees_no_mute_list(client: Client, charlie: User) -> None:
    client.force_login(charlie)
    response = client.get(NOTIFICATIONS)
    assert "Mute these groups" not in legends(response)
    assert client.post(NOTIFICATIONS, settings_data(muted_groups=None)).status_code == 302


def test_removing_a_reminder_time_removes_its_pending_reminder(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    alice_client.post(NOTIFICATIONS, settings_data(reminder_offsets=["24h"]))
    assert reminder_rows(alice) == [("24h", utc(2026, 3, 9, 19), "pending")]


def test_adding_a_reminder_time_adds_a_pending_reminder(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    alice_client.post(NOTIFICATIONS, settings_data(reminder_offsets=["24h", "1h", "15m"]))
    assert reminder_rows(alice) == [
        ("24h", utc(2026, 3, 9, 19), "pending"),
        ("1h", utc(2026, 3, 10, 18), "pending"),
        ("15m", utc(2026, 3, 10, 18, 45), "pending"),
    ]


def test_muting_a_group_removes_its_reminders_and_unmuting_brings_them_back(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    alice_client.post(NOTIFICATIONS, settings_data(muted_groups=[circle.pk]))
    assert reminder_rows(alice) == []
    alice_client.post(NOTIFICATIONS, settings_data(muted_groups=[]))
    assert [kind for kind, _at, _status in reminder_rows(alice)] == ["24h", "1h"]


def test_quiet_hours_covering_a_reminder_move_it_to_their_end(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    alice_client.post(NOTIFICATIONS, settings_data(quiet_hours_start="17:30", quiet_hours_end="18:30"))
    assert reminder_rows(alice) == [
        ("24h", utc(2026, 3, 9, 19), "pending"),
        ("1h", utc(2026, 3, 10, 18, 30), "pending"),  # 18:00 London is quiet: at 18:30 instead
    ]


# --- 2. Bad input ----------------------------------------------------------------------------

OTHER_GROUP = "a group she is not in"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"reminder_offsets": ["24h", "2h"]}, "Choose reminder times from the list."),
        ({"email_kinds": ["meeting", "newsletter"]}, "Choose notifications from the list."),
        ({"in_app_kinds": ["gossip"]}, "Choose notifications from the list."),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": "22:00"}, "Quiet hours need different start and end times."),
        (
            {"quiet_hours_start": "22:00", "quiet_hours_end": ""},
            "Give both a start and an end for quiet hours, or leave both empty.",
        ),
        (
            {"quiet_hours_start": "", "quiet_hours_end": "07:00"},
            "Give both a start and an end for quiet hours, or leave both empty.",
        ),
        ({"quiet_hours_start": "late", "quiet_hours_end": "07:00"}, "Enter a time such as 22:00."),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": "25:00"}, "Enter a time such as 07:00."),
        ({"muted_groups": [OTHER_GROUP]}, "Choose groups from the list."),
    ],
)
def test_bad_settings_are_refused_with_a_message_and_change_nothing(
    frozen, alice_client: Client, alice: User, owen: User, circle, bad: dict[str, Any], message: str
) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    before = profile(alice)
    # Every other field would change something, were the form accepted.
    data = settings_data(
        reminder_offsets=["48h"],
        email_kinds=["reminder"],
        discreet_notifications=None,
        quiet_hours_start="21:00",
        quiet_hours_end="06:00",
        muted_groups=[circle.pk],
    )
    data.update(bad)
    if data["muted_groups"] == [OTHER_GROUP]:
        data["muted_groups"] = [other.pk]
    response = alice_client.post(NOTIFICATIONS, data)
    assert response.status_code == 400
    assert message in text_of(response)
    assert "Please correct the following:" in text_of(response)
    assert profile(alice) == before


def test_the_action_refuses_an_unknown_reminder_time(frozen, alice: User, owen: User, circle) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    before = profile(alice)
    with pytest.raises(ActionError) as refused:
        do_update_notification_settings(
            alice, reminder_offsets=["2h"], email_kinds=[], in_app_kinds=[], discreet=False,
            quiet_hours=None, muted_group_ids=[circle.pk],
        )  # fmt: skip
    assert refused.value.message == "Choose reminder times from the list."
    assert profile(alice) == before


# --- 3. Unsubscribe links --------------------------------------------------------------------


@pytest.fixture
def cancellation_email(frozen, circle, owen: User, alice: User) -> EmailMessage:
    """Alice was going to a meeting that owen cancelled: the email she got about it."""
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    return only_email_to(alice)


def test_every_notice_email_carries_a_one_click_unsubscribe(cancellation_email: EmailMultiAlternatives) -> None:
    link = unsubscribe_link(cancellation_email)
    assert cancellation_email.extra_headers["List-Unsubscribe"] == f"<http://localhost:8000{link}>"
    assert cancellation_email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        f'<a href="http://localhost:8000{link}">Stop emails like this one</a>' in cancellation_email.alternatives[0][0]
    )
    assert cancellation_email.message()["List-Unsubscribe"] == f"<http://localhost:8000{link}>"  # as sent


def test_opening_the_unsubscribe_link_asks_first_and_changes_nothing(
    client: Client, alice: User, cancellation_email: EmailMessage
) -> None:
    response = client.get(unsubscribe_link(cancellation_email))  # as a mail scanner would, signed out
    assert response.status_code == 200
    assert f"Stop emails about “{MEETING_CHANGES}”?" in text_of(response)
    assert re.search(
        r'<form method="post">\s*<button type="submit">Stop these emails</button>', response.content.decode()
    )
    alice.refresh_from_db()
    assert alice.email_kinds == EVERY_KIND


def test_unsubscribing_stops_that_kind_of_email_only_and_drops_those_waiting(
    frozen, circle, owen: User, alice: User, cancellation_email: EmailMessage
) -> None:
    later = meeting_at(circle, owen, utc(2026, 3, 17, 19))
    going(alice, later)
    set_quiet_hours(alice, time(11), time(13))  # it is 12:00 in London: this change waits
    move(owen, later, date(2026, 3, 18), time(19))
    waiting = Notice.objects.get(user=alice, status="pending")
    assert waiting.send_at == utc(2026, 3, 2, 13)

    response = Client(enforce_csrf_checks=True).post(unsubscribe_link(cancellation_email))
    assert response.status_code == 200
    assert f"Done: you won't get emails about “{MEETING_CHANGES}” any more." in text_of(response)
    alice.refresh_from_db()
    assert alice.email_kinds == [kind for kind in EVERY_KIND if kind != "meeting"]
    waiting.refresh_from_db()
    assert waiting.status == "skipped"
    frozen.move_to(utc(2026, 3, 2, 13))
    assert dispatch_notices() == 0
    assert len(mail.outbox) == 1

    frozen.move_to(utc(2026, 3, 17, 19, 0, 30))  # the moved meeting's day-before reminder
    dispatch_reminders()
    assert [email.subject for email in emails_to(alice)][1:] == ["Reminder: appointment at 19:00"]


def test_after_unsubscribing_that_kind_still_shows_in_the_notice_centre(
    client: Client, circle, owen: User, alice: User, cancellation_email: EmailMessage
) -> None:
    client.post(unsubscribe_link(cancellation_email))
    later = meeting_at(circle, owen, utc(2026, 3, 17, 19))
    going(alice, later)
    cancel(owen, later, "Flooding")
    assert len(mail.outbox) == 1  # only the first cancellation
    client.force_login(alice)
    page = text_of(client.get(NOTICES))
    assert "Evening share on Tue 17 Mar 2026, 19:00 GMT is cancelled. Reason: Flooding" in page
    assert "Evening share on Tue 10 Mar 2026, 19:00 GMT is cancelled. Reason: Snow" in page


def test_one_click_unsubscribe_from_the_mail_client_needs_no_session_or_csrf_token(
    alice: User, cancellation_email: EmailMessage
) -> None:
    mail_client = Client(enforce_csrf_checks=True)
    response = mail_client.post(
        unsubscribe_link(cancellation_email),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert "meeting" not in alice.email_kinds


def tampered(path: str) -> str:
    token = path.removeprefix("/accounts/unsubscribe/").removesuffix("/")
    position = len(token) - 5  # inside the signature
    changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    return f"/accounts/unsubscribe/{changed}/"


def test_a_tampered_unsubscribe_link_is_refused_and_changes_nothing(
    client: Client, alice: User, cancellation_email: EmailMessage
) -> None:
    link = tampered(unsubscribe_link(cancellation_email))
    for response in (client.get(link), client.post(link)):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid." in text_of(response)
    alice.refresh_from_db()
    assert alice.email_kinds == EVERY_KIND


def test_an_unsubscribe_link_expires_after_ninety_days(
    frozen, client: Client, alice: User, cancellation_email: EmailMessage
) -> None:
    link = unsubscribe_link(cancellation_email)
    frozen.shift(timedelta(days=89))
    assert client.get(link).status_code == 200
    frozen.shift(timedelta(days=2))
    response = client.post(link)
    assert response.status_code == 400
    assert "This unsubscribe link has expired." in text_of(response)
    assert "Notification settings" in text_of(response)  # the way to do it by hand
    alice.refresh_from_db()
    assert alice.email_kinds == EVERY_KIND


def test_an_unsubscribe_link_of_a_deactivated_account_is_refused(
    client: Client, alice: User, cancellation_email: EmailMessage
) -> None:
    alice.is_active = False
    alice.save()
    response = client.post(unsubscribe_link(cancellation_email))
    assert response.status_code == 400
    assert "This unsubscribe link is not valid any more." in text_of(response)
    alice.refresh_from_db()
    assert alice.email_kinds == EVERY_KIND


# --- 4. Quiet hours --------------------------------------------------------------------------


def test_a_notice_made_in_quiet_hours_is_emailed_when_they_end(frozen, circle, owen: User, bob: User) -> None:
    set_quiet_hours(bob, time(22), time(7))  # bob lives in New York (EST, UTC-5)
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(bob, meeting)
    frozen.move_to(utc(2026, 3, 3, 4))  # 23:00 in New York
    cancel(owen, meeting)
    assert emails_to(bob) == []
    notice = Notice.objects.get(user=bob)
    assert (notice.status, notice.send_at) == ("pending", utc(2026, 3, 3, 12))  # 07:00 in New York
    frozen.move_to(utc(2026, 3, 3, 11, 59))
    assert dispatch_notices() == 0
    frozen.move_to(utc(2026, 3, 3, 12))
    assert dispatch_notices() == 1
    assert only_email_to(bob).subject == "Your appointment has changed"
    notice.refresh_from_db()
    assert notice.status == "sent"


@pytest.mark.parametrize(
    ("zone_name", "moment", "quiet_end"),
    [
        ("America/New_York", utc(2026, 3, 1, 3), utc(2026, 3, 1, 12)),  # 07:00 EST
        ("America/New_York", utc(2026, 3, 8, 3), utc(2026, 3, 8, 11)),  # clocks forward at 02:00: 07:00 EDT
        ("Europe/London", utc(2026, 3, 21, 23), utc(2026, 3, 22, 7)),  # 07:00 GMT
        ("Europe/London", utc(2026, 3, 28, 23), utc(2026, 3, 29, 6)),  # clocks forward at 01:00: 07:00 BST
        ("Europe/London", utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 7)),  # clocks back at 02:00 BST: 07:00 GMT
    ],
)
def test_quiet_hours_end_at_the_right_moment_around_daylight_saving_changes(
    circle, owen: User, alice: User, zone_name: str, moment: datetime, quiet_end: datetime
) -> None:
    alice.timezone = zone_name
    alice.save()
    set_quiet_hours(alice, time(22), time(7))
    with time_machine.travel(moment, tick=False):
        meeting = meeting_at(circle, owen, moment + timedelta(days=3))
        going(alice, meeting)
        cancel(owen, meeting)
    notice = Notice.objects.get(user=alice)
    assert (notice.status, notice.send_at) == ("pending", quiet_end)
    assert mail.outbox == []


def test_a_reminder_due_in_quiet_hours_waits_until_they_end(frozen, circle, owen: User, alice: User) -> None:
    set_quiet_hours(alice, time(22), time(7, 30))
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 8)))
    assert reminder_rows(alice) == [
        ("24h", utc(2026, 3, 9, 8), "pending"),
        ("1h", utc(2026, 3, 10, 7, 30), "pending"),  # 07:00 is quiet
    ]


def test_a_reminder_is_not_made_when_the_meeting_starts_before_quiet_hours_end(
    frozen, circle, owen: User, alice: User
) -> None:
    set_quiet_hours(alice, time(22), time(7, 30))
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 7, 15)))
    assert reminder_rows(alice) == [("24h", utc(2026, 3, 9, 7, 30), "pending")]  # no 1h: 07:30 is too late


def test_two_reminders_pushed_to_the_same_moment_become_one(frozen, circle, owen: User, alice: User) -> None:
    alice.reminder_offsets = ["3h", "1h"]
    alice.save()
    set_quiet_hours(alice, time(22), time(8))
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 9)))
    assert reminder_rows(alice) == [("3h", utc(2026, 3, 10, 8), "pending")]  # 06:00 and 08:00 are both 08:00
    frozen.move_to(utc(2026, 3, 10, 8, 0, 30))
    assert dispatch_reminders() == 1
    assert [email.subject for email in mail.outbox] == ["Reminder: appointment at 09:00"]


# --- 5. Reminders follow a moved meeting -----------------------------------------------------


def test_a_reschedule_moves_reminders_into_and_out_of_quiet_hours(frozen, circle, owen: User, alice: User) -> None:
    set_quiet_hours(alice, time(22), time(7))
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    move(owen, meeting, date(2026, 3, 12), time(7, 30))
    assert reminder_rows(alice) == [
        ("24h", utc(2026, 3, 11, 7, 30), "pending"),
        ("1h", utc(2026, 3, 12, 7), "pending"),  # 06:30 is quiet
    ]
    move(owen, meeting, date(2026, 3, 13), time(19))
    assert reminder_rows(alice) == [("24h", utc(2026, 3, 12, 19), "pending"), ("1h", utc(2026, 3, 13, 18), "pending")]


def test_a_meeting_moved_later_after_its_reminder_went_out_is_reminded_again(
    frozen, circle, owen: User, alice: User
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    frozen.move_to(utc(2026, 3, 9, 19, 0, 30))
    dispatch_reminders()
    move(owen, meeting, date(2026, 3, 12), time(20))
    assert reminder_rows(alice) == [("24h", utc(2026, 3, 11, 20), "pending"), ("1h", utc(2026, 3, 12, 19), "pending")]
    frozen.move_to(utc(2026, 3, 11, 20, 0, 30))
    dispatch_reminders()
    assert [email.subject for email in mail.outbox] == [
        "Reminder: appointment at 19:00",
        "Your appointment has changed",
        "Reminder: appointment at 20:00",
    ]


def test_a_weekly_meeting_is_reminded_at_the_same_local_time_either_side_of_a_clock_change(
    circle, owen: User, alice: User, bob: User
) -> None:
    """19:00 London every Tuesday, 24 and 31 March (the UK's clocks go forward on the 29th).
    Alice (London, quiet until 19:30) is reminded at 19:30 her time both weeks; bob (New York,
    whose clocks went forward on the 8th) reads 15:00, then 14:00."""
    set_quiet_hours(alice, time(18, 30), time(19, 30))
    with time_machine.travel(utc(2026, 3, 20, 12), tick=False):
        series = actions.do_create_series(
            access_group(owen, circle.slug),
            actions.SeriesData("Circle", "FREQ=WEEKLY;BYDAY=TU", date(2026, 3, 1), time(19, 0), 90, 12, []),
        )
        for meeting in series.meetings.order_by("starts_at")[:2]:
            going(alice, meeting)
            going(bob, meeting)
    day_before = [(at, status) for kind, at, status in reminder_rows(alice) if kind == "24h"]
    assert day_before == [(utc(2026, 3, 23, 19, 30), "pending"), (utc(2026, 3, 30, 18, 30), "pending")]
    for moment in (utc(2026, 3, 23, 19, 31), utc(2026, 3, 30, 18, 31)):
        with time_machine.travel(moment, tick=False):
            dispatch_reminders()
    assert [email.subject for email in emails_to(alice)] == ["Reminder: appointment at 19:00"] * 2
    assert [email.subject for email in emails_to(bob)] == [
        "Reminder: appointment at 15:00",
        "Reminder: appointment at 14:00",
    ]


# --- 6. Discreet emails ----------------------------------------------------------------------


@dataclass
class Cast:
    group: SupportGroup
    owen: User
    bob: User
    alice: User
    charlie: User
    frozen: Any


@dataclass
class Sent:
    """Who was told, and what a non-discreet email should name."""

    recipient: User
    meeting: Meeting | None
    names: str


@pytest.fixture
def cast(frozen, circle, owen: User, bob: User, alice: User, charlie: User) -> Cast:
    return Cast(circle, owen, bob, alice, charlie, frozen)


def a_reminder(cast: Cast) -> Sent:
    meeting = meeting_at(cast.group, cast.owen, utc(2026, 3, 10, 19))
    going(cast.alice, meeting)
    cast.frozen.move_to(utc(2026, 3, 9, 19, 0, 30))
    dispatch_reminders()
    return Sent(cast.alice, meeting, "Evening share")


def a_cancellation(cast: Cast) -> Sent:
    meeting = meeting_at(cast.group, cast.owen, utc(2026, 3, 10, 19))
    going(cast.alice, meeting)
    cancel(cast.owen, meeting, REASON)
    return Sent(cast.alice, meeting, "Evening share")


def a_move(cast: Cast) -> Sent:
    meeting = meeting_at(cast.group, cast.owen, utc(2026, 3, 10, 19))
    going(cast.alice, meeting)
    move(cast.owen, meeting, date(2026, 3, 12), time(20), REASON)
    return Sent(cast.alice, meeting, "Evening share")


def a_waitlist_place(cast: Cast) -> Sent:
    meeting = meeting_at(cast.group, cast.owen, utc(2026, 3, 10, 19), capacity=1)
    going(cast.bob, meeting)
    going(cast.alice, meeting)  # waitlisted
    going(cast.bob, meeting, answer=False)
    return Sent(cast.alice, meeting, "Evening share")


def a_join_answer(approve: bool) -> Callable[[Cast], Sent]:
    def answer(cast: Cast) -> Sent:
        cast.group.join_policy = SupportGroup.JoinPolicy.APPROVAL
        cast.group.save()
        request = do_join_group(
            cast.charlie,
            access_group(cast.charlie, cast.group.slug),
            handle="Bright Fern",
            accepted_guidelines=True,
            message="I left an abusive partner last year.",
        )
        message = "Welcome to the Tuesday Circle, a support group for survivors."
        if not approve:
            message = "The Tuesday Circle is full; try the Thursday survivors' group."
        with committed():
            do_decide_request(
                access_group(cast.owen, cast.group.slug), request.public_id, approve=approve, message=message
            )
        return Sent(cast.charlie, None, "Tuesday Circle")

    return answer


def a_facilitator_gap(cast: Cast) -> Sent:
    meeting = meeting_at(cast.group, cast.owen, FROZEN_NOW + timedelta(hours=30))  # nobody runs it
    with committed():
        assert actions.flag_meetings_needing_facilitator() == 1
    return Sent(cast.owen, meeting, "Evening share")


NOTICES_IN_THE_PRODUCT = {
    "reminder": a_reminder,
    "meeting cancelled": a_cancellation,
    "meeting moved": a_move,
    "waitlist place": a_waitlist_place,
    "join approved": a_join_answer(approve=True),
    "join declined": a_join_answer(approve=False),
    "needs a facilitator": a_facilitator_gap,
}


def sensitive_words(sent: Sent) -> list[str]:
    group = SupportGroup.objects.get(memberships__user=sent.recipient)
    words = [group.name, group.slug, *group.topics.values_list("name", flat=True)]
    words.extend(group.memberships.values_list("handle", flat=True))
    if sent.meeting is not None:
        words.append(sent.meeting.title)
    words.extend(settings.DISCREET_FORBIDDEN_WORDS)
    return words


@pytest.mark.parametrize("story", NOTICES_IN_THE_PRODUCT)
def test_discreet_emails_name_no_group_topic_meeting_handle_or_sensitive_word(cast: Cast, story: str) -> None:
    sent = NOTICES_IN_THE_PRODUCT[story](cast)
    email = only_email_to(sent.recipient)
    assert email.from_email == settings.DISCREET_FROM_EMAIL
    seen = everything_in(email).casefold()
    leaks = [word for word in sensitive_words(sent) if word.casefold() in seen]
    assert leaks == [], email.message().as_string()
    notice = Notice.objects.get(user=sent.recipient)
    assert sent.names in notice.text  # what the email leaves out, the notice centre shows
    assert f"http://localhost:8000/accounts/notices/{notice.public_id}/" in email.body  # a link naming nothing
    assert notice.status == "sent"


@pytest.mark.parametrize("story", NOTICES_IN_THE_PRODUCT)
def test_emails_name_the_meeting_or_group_when_not_discreet(cast: Cast, story: str) -> None:
    User.objects.update(discreet_notifications=False)
    sent = NOTICES_IN_THE_PRODUCT[story](cast)
    email = only_email_to(sent.recipient)
    assert sent.names in email.subject
    assert sent.names in email.body
    assert email.from_email == settings.DEFAULT_FROM_EMAIL


@override_settings(DISCREET_FORBIDDEN_WORDS=["lantern", "appointment"])
def test_a_discreet_email_containing_a_configured_word_is_refused_and_logged(
    cast: Cast, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="accounts.notifications"):
        sent = a_reminder(cast)  # its discreet subject is "Reminder: appointment at 19:00"
    assert mail.outbox == []
    notice = Notice.objects.get(user=sent.recipient)
    assert notice.status == "failed"
    assert "forbidden word" in notice.last_error
    assert f"Notice {notice.pk} not emailed" in caplog.text
    assert "appointment" not in caplog.text  # the log does not repeat the word either
    client.force_login(sent.recipient)
    assert "Reminder: Evening share (Tuesday Circle)" in text_of(client.get(NOTICES))  # still shown in-app


DISCREET_SUBJECTS_IN_SPANISH = {
    "reminder": "Recordatorio: cita a las 19:00",
    "meeting cancelled": "Tu cita ha cambiado",
    "meeting moved": "Tu cita ha cambiado",
    "waitlist place": "Tu cita está confirmada",
    "join approved": "Novedades en tu cuenta",
    "join declined": "Novedades en tu cuenta",
    "needs a facilitator": "Una cita necesita atención",
}


@pytest.mark.parametrize("story", NOTICES_IN_THE_PRODUCT)
def test_discreet_emails_are_in_the_persons_language(cast: Cast, story: str) -> None:
    User.objects.update(language="es")
    email = only_email_to(NOTICES_IN_THE_PRODUCT[story](cast).recipient)
    assert email.subject == DISCREET_SUBJECTS_IN_SPANISH[story]
    assert "Para no recibir más correos como este: http://localhost:8000/accounts/unsubscribe/" in email.body
    assert '<html lang="es">' in email.alternatives[0][0]


def test_a_discreet_reminder_gives_the_time_in_the_persons_timezone(cast: Cast) -> None:
    User.objects.filter(pk=cast.alice.pk).update(language="es", timezone="America/New_York")
    email = only_email_to(a_reminder(cast).recipient)  # 19:00 UTC on 10 March: 15:00 in New York (EDT)
    assert email.subject == "Recordatorio: cita a las 15:00"
    assert "Te recordamos tu cita del " in email.body
    assert "15:00 EDT." in email.body


def test_a_cancellation_is_in_the_persons_language_and_timezone(cast: Cast) -> None:
    User.objects.filter(pk=cast.alice.pk).update(
        language="es", timezone="America/New_York", discreet_notifications=False
    )
    email = only_email_to(a_cancellation(cast).recipient)
    assert email.subject.startswith("Evening share del ")
    assert email.subject.endswith("15:00 EDT se ha cancelado.")


# --- 7. Muted groups and channels ------------------------------------------------------------


def test_a_muted_group_sends_no_reminders_and_no_emails_but_its_notices_still_show(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    Membership.objects.filter(user=alice).update(muted=True)
    going(alice, meeting)
    assert reminder_rows(alice) == []
    cancel(owen, meeting)
    assert mail.outbox == []
    assert Notice.objects.get(user=alice).status == "skipped"
    assert "Evening share on Tue 10 Mar 2026, 19:00 GMT is cancelled." in text_of(alice_client.get(NOTICES))


def test_muting_one_group_leaves_the_others_emails_alone(frozen, alice: User, owen: User, circle) -> None:
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    add_member(other, owen, "Steady Lantern", role="owner")
    add_member(other, alice, "Quiet Harbor")
    Membership.objects.filter(user=alice, group=circle).update(muted=True)
    for group in (circle, other):
        meeting = meeting_at(group, owen, utc(2026, 3, 10, 19))
        going(alice, meeting)
        cancel(owen, meeting)
    assert len(emails_to(alice)) == 1
    assert Notice.objects.get(user=alice, group=other).status == "sent"


def test_without_meeting_emails_a_cancellation_is_only_in_the_notice_centre(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    alice_client.post(NOTIFICATIONS, settings_data(email_kinds=[k for k in EVERY_KIND if k != "meeting"]))
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    assert mail.outbox == []
    assert "Notices 1 unread" in text_of(alice_client.get(reverse("home")))
    assert "Evening share on Tue 10 Mar 2026, 19:00 GMT is cancelled." in text_of(alice_client.get(NOTICES))


def test_without_meeting_notices_in_app_a_cancellation_is_only_emailed(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    alice_client.post(NOTIFICATIONS, settings_data(in_app_kinds=[k for k in EVERY_KIND if k != "meeting"]))
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    assert only_email_to(alice).subject == "Your appointment has changed"
    home = text_of(alice_client.get(reverse("home")))
    assert "Notices" in home
    assert "unread" not in home
    page = text_of(alice_client.get(NOTICES))
    assert "is cancelled" not in page
    assert "No notices yet." in page


# --- 8. The notice centre --------------------------------------------------------------------


def test_the_header_counts_unread_notices_and_the_list_shows_them_newest_first(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    first = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    second = meeting_at(circle, owen, utc(2026, 3, 17, 19))
    going(alice, first)
    going(alice, second)
    cancel(owen, first)
    frozen.shift(timedelta(minutes=5))
    move(owen, second, date(2026, 3, 18), time(19))
    assert "Notices 2 unread" in text_of(alice_client.get(reverse("home")))
    page = text_of(alice_client.get(NOTICES))
    moved = page.index("Evening share has moved to Wed 18 Mar 2026, 19:00 GMT. Reason: Room change")
    cancelled = page.index("Evening share on Tue 10 Mar 2026, 19:00 GMT is cancelled. Reason: Snow")
    assert moved < cancelled
    assert "unread" not in text_of(alice_client.get(reverse("home")))  # seeing the list read them


def test_opening_a_notice_marks_it_read_and_goes_to_the_meeting(
    frozen, alice_client: Client, alice: User, owen: User, circle
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    notice = Notice.objects.get(user=alice)
    response = alice_client.get(reverse("accounts:notice", args=[notice.public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("meetings:detail", args=[circle.slug, meeting.public_id])
    notice.refresh_from_db()
    assert notice.read_at == FROZEN_NOW
    assert "unread" not in text_of(alice_client.get(reverse("home")))


def test_another_persons_notice_is_not_found_and_stays_unread(
    frozen, client: Client, alice: User, bob: User, owen: User, circle
) -> None:
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    notice = Notice.objects.get(user=alice)
    client.force_login(bob)
    assert client.get(reverse("accounts:notice", args=[notice.public_id])).status_code == 404
    notice.refresh_from_db()
    assert notice.read_at is None


def test_notices_need_login(client: Client) -> None:
    for url in (NOTICES, reverse("accounts:notice", args=["abcdefghijkl"]), NOTIFICATIONS):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login") + "?next=")


# --- 9. Configuration ------------------------------------------------------------------------


def test_a_site_address_with_a_sensitive_word_fails_the_system_check() -> None:
    assert discreet_sender_check() == []
    with override_settings(SITE_URL="https://survivor-support.example"):
        errors = discreet_sender_check()
    assert {error.id for error in errors} == {"hearth.E001"}
    assert [error.msg for error in errors] == [
        "SITE_URL contains 'support', a word discreet emails must never contain.",
        "SITE_URL contains 'survivor', a word discreet emails must never contain.",
    ]


# --- 10. Task arguments ----------------------------------------------------------------------


def test_tasks_given_bad_arguments_do_nothing(frozen, alice: User, owen: User, circle) -> None:
    going(alice, meeting_at(circle, owen, utc(2026, 3, 10, 19)))
    before = reminder_rows(alice)
    assert send_notice.delay("abc").get() == "bad arguments"  # type: ignore[arg-type]
    assert send_reminder.delay("x", 5).get() == "bad arguments"  # type: ignore[arg-type]
    assert reminder_rows(alice) == before
    assert Notice.objects.count() == 0
    assert mail.outbox == []


def test_a_notice_send_with_someone_elses_claim_does_nothing(frozen, alice: User, owen: User, circle) -> None:
    set_quiet_hours(alice, time(11), time(13))  # it is 12:00 in London: the email waits
    meeting = meeting_at(circle, owen, utc(2026, 3, 10, 19))
    going(alice, meeting)
    cancel(owen, meeting)
    notice = Notice.objects.get(user=alice)
    assert send_notice.delay(notice.pk, "not the claim's token").get() == "nothing to do"
    notice.refresh_from_db()
    assert notice.status == "pending"
    assert mail.outbox == []
