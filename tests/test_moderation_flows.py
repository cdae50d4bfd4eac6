"""Moderation as people meet it: reporting (and who may ever learn who reported), the queue,
each decision a facilitator can make and how it holds on the pages, appeals, the append-only
audit log, and what happens on bad input.

The people: in `circle` (Tuesday Circle) owen owns it ("Steady Lantern"), bob facilitates
("Calm Heron"), alice is a member ("Quiet Harbor"); here sam ("Distant Ember") is a member too,
and cora ("Silver Brook") a second facilitator. charlie is an outsider, dana is site staff. The
room's sockets are tested elsewhere: messages here are RoomEvent rows written directly.
"""

from __future__ import annotations

import html
import re
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.http import HttpResponse
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notice, NoticeKind, User
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from lib.errors import ActionError
from lib.timefmt import show_time
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant
from moderation import actions
from moderation.models import (
    Appeal,
    AuditEntry,
    AuditLogIsAppendOnly,
    Block,
    Report,
    ReportNote,
    Sanction,
    WatchedWord,
)
from tests.conftest import FROZEN_NOW, add_member, make_group, make_user
from tests.rooms import open_meeting

pytestmark = pytest.mark.django_db

ALICE, BOB, OWEN, SAM, CORA = "Quiet Harbor", "Calm Heron", "Steady Lantern", "Distant Ember", "Silver Brook"
REASON = "Mocking another member's story"
PRIVATE_NOTE = "Second complaint this month; watch the Thursday meetings"


# --- Helpers ---------------------------------------------------------------------------------


def text(response: HttpResponse) -> str:
    """What a person reads on the page: tags stripped, entities decoded, spaces collapsed."""
    raw = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(raw).split())


def committed() -> AbstractContextManager[Any]:
    """Run what waits for the commit (the emails), as the end of a real request would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, text(response)[:500])
    return text(response)


def post(client: Client, url: str, data: dict[str, Any]) -> str:
    """POST as a form does, follow the redirect, and return what the person then reads."""
    response = client.post(url, data, follow=True)
    assert response.status_code in (200, 400), (url, response.status_code, text(response)[:500])
    return text(response)


def moderator(user: User, group: SupportGroup) -> actions.Moderator:
    found = actions.moderator_for(user, access_group(user, group.slug))
    assert found is not None
    return found


def membership(group: SupportGroup, user: User) -> Membership:
    return Membership.objects.get(group=group, user=user)


def say(meeting: Meeting, member: Membership, body: str) -> RoomEvent:
    """A message in the meeting's room, as the room would have written it."""
    room, _created = Room.objects.get_or_create(meeting=meeting)
    room.last_seq += 1
    room.save(update_fields=["last_seq"])
    return RoomEvent.objects.create(room=room, seq=room.last_seq, kind="message", membership=member, body=body)


def member_url(group: SupportGroup, member: Membership, name: str = "member") -> str:
    return reverse(f"moderation:{name}", args=[group.slug, member.public_id])


def report_url(report: Report) -> str:
    return reverse("moderation:report", args=[report.group.slug, report.public_id])


def emails_to(user: User) -> list[EmailMultiAlternatives]:
    return [email for email in mail.outbox if email.to == [user.email]]  # type: ignore[misc]


def everything_in(email: EmailMultiAlternatives) -> str:
    parts = [email.message().as_string(), str(email.subject), str(email.from_email), str(email.body)]
    parts.extend(str(content) for content, _mimetype in email.alternatives)
    return "\n".join(parts)


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Report, ReportNote, Sanction, Appeal, WatchedWord, Block, AuditEntry, Notice)
    }


def standing_of(user: User) -> tuple[object, ...]:
    """Everything a decision sets on a person: their memberships and their account."""
    return (
        list(
            Membership.objects.filter(user=user)
            .order_by("pk")
            .values_list("status", "role", "timeout_until", "suspended_until", "banned_until")
        ),
        list(User.objects.filter(pk=user.pk).values_list("suspended_at", "suspension_ends_at")),
    )


def local(moment: Any, user: User, group: SupportGroup) -> str:
    return show_time(moment, user.timezone, group.timezone).local


@pytest.fixture
def sam(circle: SupportGroup) -> User:
    user = make_user("sam@example.com", timezone="Europe/London")
    add_member(circle, user, SAM)
    return user


@pytest.fixture
def cora(circle: SupportGroup) -> User:
    user = make_user("cora@example.com")
    add_member(circle, user, CORA, role="facilitator")
    return user


@pytest.fixture
def meeting(circle: SupportGroup, frozen: Any) -> Meeting:
    return open_meeting(circle)


def sanction_via_page(client: Client, group: SupportGroup, target: Membership, kind: str, **fields: Any) -> str:
    data = {"kind": kind, "reason": REASON, **fields}
    return post(client, member_url(group, target, "sanction"), data)


def datetime_field(moment: Any, user: User) -> str:
    """How a datetime-local input sends `moment` for this person (their timezone)."""
    from lib.timefmt import zone

    return moment.astimezone(zone(user.timezone)).strftime("%Y-%m-%dT%H:%M")


# --- Reporter protection -----------------------------------------------------------------------


def pages_of(group: SupportGroup, subject: Membership, others: list[Membership], meeting: Meeting) -> list[str]:
    """Every page the person reported can open that could ever carry a trace of a report."""
    urls = [
        reverse("groups:detail", args=[group.slug]),
        reverse("groups:mine"),
        member_url(group, subject),
        *(member_url(group, other) for other in others),
        reverse("moderation:standing"),
        reverse("accounts:notices"),
        reverse("meetings:detail", args=[group.slug, meeting.public_id]),
    ]
    if subject.is_facilitator:
        urls += [
            reverse("moderation:queue", args=[group.slug]),
            reverse("moderation:queue", args=[group.slug]) + "?status=all",
        ]
    return urls


@pytest.mark.parametrize("subject_name", ["bob", "sam"], ids=["facilitator-reported", "member-reported"])
def test_the_person_reported_never_learns_who_reported_them(
    request: pytest.FixtureRequest, circle: SupportGroup, alice: User, owen: User, sam: User, meeting: Meeting,
    subject_name: str,
) -> None:  # fmt: skip
    subject_user: User = request.getfixturevalue(subject_name)
    subject_user.discreet_notifications = False  # the full text by email: the most that could leak
    subject_user.save()
    subject = membership(circle, subject_user)
    reporter = membership(circle, alice)
    others = [membership(circle, owen), reporter]
    message = say(meeting, subject, "Nobody believes stories like yours.")
    as_subject = signed_in(subject_user)
    urls = pages_of(circle, subject, others, meeting)
    before = {url: read(as_subject, url) for url in urls}

    as_alice = signed_in(alice)
    with committed():
        shown = post(
            as_alice,
            member_url(circle, subject, "report_member"),
            {"category": "harassment", "wish": "keep_away", "details": "He mocks my story every week."},
        )
        actions.do_report_message(reporter, meeting.public_id, message.seq, category="harassment", wish="remove")
    assert "The person you reported won't know it was you." in shown
    assert Report.objects.filter(reporter=reporter, subject=subject).count() == 2

    # Nothing the reported person can open changed at all: no count, no badge, no hint.
    assert {url: read(as_subject, url) for url in urls} == before

    # The people who handle it see who reported (owen: bob's report is for owners only).
    handler = owen
    as_handler = signed_in(handler)
    member_report = Report.objects.get(reporter=reporter, subject=subject, message__isnull=True)
    page = read(as_handler, report_url(member_report))
    assert f"Reported by {ALICE}" in page
    assert "never shown to the person reported" in page

    # A decision is made from the report and the report closed: the person hears of the decision,
    # never of the reporter.
    with committed():
        post(
            as_handler,
            member_url(circle, subject, "sanction"),
            {
                "kind": "warn",
                "reason": "Please don't dismiss other people's stories",
                "report": member_report.public_id,
            },
        )
        post(as_handler, report_url(member_report), {"action": "close", "outcome": "resolved", "note": "Warned."})
    seen_by_subject = [read(as_subject, url) for url in urls]
    assert "Please don't dismiss other people's stories" in read(as_subject, reverse("moderation:standing"))
    emails = emails_to(subject_user)
    assert len(emails) == 1
    for words in [*seen_by_subject, *(everything_in(email) for email in emails)]:
        assert "reported by" not in words.casefold()
        assert "who reported" not in words.casefold()
        assert "He mocks my story" not in words
        assert "Warned." not in words
    for url, words in zip(urls, seen_by_subject, strict=True):
        # Pages that do not list members anyway never name alice.
        if url in (reverse("moderation:standing"), reverse("accounts:notices"), member_url(circle, subject)):
            assert ALICE not in words, url
    for email in emails:
        assert ALICE not in everything_in(email)
        assert "report" not in everything_in(email).casefold()


def test_a_facilitator_cannot_see_a_report_about_a_fellow_facilitator(
    circle: SupportGroup, alice: User, bob: User, cora: User, owen: User, dana: User
) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, bob).public_id, category="harassment", wish="inform"
    )
    assert report.about_facilitator
    queue = reverse("moderation:queue", args=[circle.slug]) + "?status=all"
    for facilitator in (bob, cora):
        client = signed_in(facilitator)
        assert BOB not in read(client, queue).replace(f"taken by {BOB}", "")
        assert "No reports here." in read(client, queue)
        read(client, report_url(report), status=404)
        assert actions.open_report_count(facilitator) == 0
        assert "Reports 1" not in read(client, reverse("groups:detail", args=[circle.slug]))
    for handler in (owen, dana):
        client = signed_in(handler)
        assert "runs the group" in read(client, queue)
        assert ALICE in read(client, report_url(report))
    assert actions.open_report_count(owen) == 1


def test_the_reporter_hears_that_action_was_taken_without_what(
    circle: SupportGroup, alice: User, bob: User, sam: User
) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="threats", wish="keep_away"
    )
    as_bob = signed_in(bob)
    with committed():
        ends = datetime_field(timezone.now() + timedelta(days=3), bob)
        post(
            as_bob,
            member_url(circle, membership(circle, sam), "sanction"),
            {"kind": "suspend", "reason": "Threatening language", "ends_at": ends, "report": report.public_id},
        )
        shown = post(as_bob, report_url(report), {"action": "close", "outcome": "resolved", "note": PRIVATE_NOTE})
    assert "The report is closed, and the person who made it is told." in shown

    notices = read(signed_in(alice), reverse("accounts:notices"))
    assert "Your report in Tuesday Circle was reviewed, and the facilitators took action." in notices
    for secret in (SAM, "suspend", "Suspend", "Threatening language", PRIVATE_NOTE, BOB):
        assert secret not in notices
    # The email is discreet (alice's default): it names nothing at all.
    (email,) = emails_to(alice)
    assert email.subject == "An update on your account"
    for secret in ("Tuesday Circle", SAM, ALICE, "report", "suspend", "action", PRIVATE_NOTE):
        assert secret.casefold() not in everything_in(email).casefold()
    assert "There is an update for you." in email.body


def test_the_reporter_hears_that_no_action_was_needed(circle: SupportGroup, alice: User, bob: User, sam: User) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="spam", wish="inform"
    )
    with committed():
        post(signed_in(bob), report_url(report), {"action": "close", "outcome": "dismissed", "note": PRIVATE_NOTE})
    notices = read(signed_in(alice), reverse("accounts:notices"))
    assert "The facilitators decided no action was needed this time." in notices
    assert PRIVATE_NOTE not in notices
    assert Report.objects.get(pk=report.pk).status == Report.Status.DISMISSED
    assert len(emails_to(alice)) == 1


def test_no_email_to_the_reporter_when_they_turned_report_emails_off(
    circle: SupportGroup, alice: User, bob: User, sam: User
) -> None:
    alice.email_kinds = [kind for kind in NoticeKind.values if kind != NoticeKind.REPORTS]
    alice.save()
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="spam", wish="inform"
    )
    with committed():
        post(signed_in(bob), report_url(report), {"action": "close", "outcome": "resolved"})
    assert emails_to(alice) == []
    assert "the facilitators took action" in read(signed_in(alice), reverse("accounts:notices"))


# --- Sanctions through the pages -----------------------------------------------------------------


def test_a_warning_shows_on_the_members_standing_and_in_their_notices(
    circle: SupportGroup, bob: User, sam: User, frozen: Any
) -> None:
    shown = sanction_via_page(signed_in(bob), circle, membership(circle, sam), "warn")
    assert "Done: Warning." in shown
    as_sam = signed_in(sam)
    standing = read(as_sam, reverse("moderation:standing"))
    assert "Warning · Tuesday Circle" in standing
    assert f"Reason: {REASON}" in standing
    assert "Appeal this decision" in standing
    assert f"A warning from the facilitators of Tuesday Circle: {REASON}" in read(as_sam, reverse("accounts:notices"))
    # A warning bars nothing.
    read(as_sam, member_url(circle, membership(circle, sam)))


def test_a_timeout_sets_the_membership_and_the_standing_page_says_until_when(
    circle: SupportGroup, bob: User, sam: User, frozen: Any
) -> None:
    shown = sanction_via_page(signed_in(bob), circle, membership(circle, sam), "timeout", minutes="60")
    assert "Done: Timeout from writing." in shown
    row = membership(circle, sam)
    assert row.timeout_until == FROZEN_NOW + timedelta(hours=1)
    assert row.timeout_reason == REASON
    standing = read(signed_in(sam), reverse("moderation:standing"))
    assert f"until {local(row.timeout_until, sam, circle)}" in standing
    assert "in force" in standing
    # A timeout stops writing in rooms, not reading the group's pages.
    read(signed_in(sam), member_url(circle, row))


def test_a_timeout_longer_than_a_week_is_refused(circle: SupportGroup, bob: User, sam: User) -> None:
    before = row_counts(), standing_of(sam)
    shown = sanction_via_page(signed_in(bob), circle, membership(circle, sam), "timeout", minutes=str(8 * 24 * 60))
    assert "Select a valid choice." in shown or "A timeout lasts at most 7 days" in shown
    assert (row_counts(), standing_of(sam)) == before


def test_a_suspension_closes_the_group_to_the_member_with_its_reason_until_it_ends(
    circle: SupportGroup, bob: User, sam: User, meeting: Meeting, frozen: Any
) -> None:
    ends = FROZEN_NOW + timedelta(days=3)
    shown = sanction_via_page(
        signed_in(bob), circle, membership(circle, sam), "suspend", ends_at=datetime_field(ends, bob)
    )
    assert "Done: Suspended from the group." in shown
    row = membership(circle, sam)
    assert row.suspended_until == ends
    as_sam = signed_in(sam)
    group_pages = [
        member_url(circle, row),
        member_url(circle, membership(circle, bob)),
        reverse("meetings:detail", args=[circle.slug, meeting.public_id]),
        reverse("meetings:room", args=[circle.slug, meeting.public_id]),
        reverse("groups:leave", args=[circle.slug]),
    ]
    for url in group_pages:
        page = read(as_sam, url, status=403)
        assert f"You are suspended from this group until {local(ends, sam, circle)}." in page
        assert f"Reason: {REASON}" in page
    assert "until" in read(as_sam, reverse("moderation:standing"))

    frozen.move_to(ends - timedelta(minutes=1))
    read(as_sam, group_pages[0], status=403)
    frozen.move_to(ends + timedelta(minutes=1))
    for url in group_pages:
        read(as_sam, url)


def test_a_ban_makes_the_member_an_outsider_who_can_ask_to_join_again_only_after_it_ends(
    circle: SupportGroup, bob: User, sam: User, meeting: Meeting, frozen: Any
) -> None:
    ends = FROZEN_NOW + timedelta(days=30)
    sanction_via_page(signed_in(bob), circle, membership(circle, sam), "ban", ends_at=datetime_field(ends, bob))
    row = membership(circle, sam)
    assert (row.status, row.banned_until) == (Membership.Status.BANNED, ends)
    as_sam = signed_in(sam)
    for url in (
        member_url(circle, membership(circle, bob)),
        reverse("meetings:detail", args=[circle.slug, meeting.public_id]),
    ):
        assert "Only members of this group can see this page." in read(as_sam, url, status=403)
    join = reverse("groups:join", args=[circle.slug])
    assert "You can't join this group." in read(as_sam, join, status=403)
    response = as_sam.post(join, {"handle": "New Start", "accept_guidelines": "on"})
    assert response.status_code == 403
    assert membership(circle, sam).status == Membership.Status.BANNED

    frozen.move_to(ends + timedelta(minutes=1))
    as_sam = signed_in(sam)  # a month on: a new session
    read(as_sam, join)
    response = as_sam.post(join, {"handle": "New Start", "accept_guidelines": "on"})
    assert response.status_code == 302
    assert membership(circle, sam).status == Membership.Status.ACTIVE  # an open group
    read(as_sam, reverse("meetings:detail", args=[circle.slug, meeting.public_id]))


def test_a_banned_member_of_an_unlisted_group_finds_nothing_there(bob: User, sam: User, owen: User) -> None:
    group = make_group(name="Hidden Circle", slug="hidden-circle", is_listed=False)
    add_member(group, owen, OWEN, role="owner")
    add_member(group, bob, BOB, role="facilitator")
    target = add_member(group, sam, SAM)
    actions.do_sanction(moderator(bob, group), target.public_id, "ban", reason=REASON)
    as_sam = signed_in(sam)
    for url in (
        reverse("groups:detail", args=[group.slug]),
        member_url(group, membership(group, bob)),
        reverse("groups:join", args=[group.slug]),
    ):
        read(as_sam, url, status=404)
    # …but their standing page still tells them what was decided, and why.
    standing = read(as_sam, reverse("moderation:standing"))
    assert "Banned from the group · Hidden Circle" in standing
    assert REASON in standing


def test_a_site_suspension_shows_the_suspension_page_everywhere_until_it_ends(
    circle: SupportGroup, dana: User, sam: User, frozen: Any
) -> None:
    ends = FROZEN_NOW + timedelta(days=2)
    shown = post(
        signed_in(dana),
        member_url(circle, membership(circle, sam), "suspend_account"),
        {"reason": "Threats sent to members of several groups", "ends_at": datetime_field(ends, dana)},
    )
    assert "The account is suspended." in shown
    assert User.objects.get(pk=sam.pk).suspension_ends_at == ends
    as_sam = signed_in(sam)
    closed = [
        reverse("home"),
        reverse("groups:directory"),
        reverse("groups:mine"),
        reverse("groups:detail", args=[circle.slug]),
        reverse("accounts:settings"),
        reverse("meetings:mine"),
        member_url(circle, membership(circle, sam)),
    ]
    for url in closed:
        page = read(as_sam, url, status=403)
        assert "Your account is suspended" in page
        assert "Reason: Threats sent to members of several groups" in page
        assert "See the decision and appeal it" in page
    for url in (reverse("moderation:standing"), reverse("accounts:notices"), reverse("help")):
        read(as_sam, url)
    assert "Account suspended" in read(as_sam, reverse("moderation:standing"))
    assert "Your account is suspended. Reason: Threats sent" in read(as_sam, reverse("accounts:notices"))
    assert as_sam.post(reverse("accounts:logout")).status_code == 302

    frozen.move_to(ends + timedelta(minutes=1))
    as_sam = signed_in(sam)
    for url in closed:
        read(as_sam, url)


def test_removing_from_a_meeting_marks_the_participant_removed(
    circle: SupportGroup, bob: User, sam: User, meeting: Meeting
) -> None:
    shown = sanction_via_page(signed_in(bob), circle, membership(circle, sam), "remove", meeting=meeting.public_id)
    assert "Done: Removed from a meeting." in shown
    participant = RoomParticipant.objects.get(room__meeting=meeting, membership=membership(circle, sam))
    assert participant.removed_at is not None
    assert "You were removed from a meeting of Tuesday Circle." in read(signed_in(sam), reverse("accounts:notices"))


def test_deleting_a_message_marks_it_deleted_and_appends_a_deletion(
    circle: SupportGroup, bob: User, sam: User, meeting: Meeting
) -> None:
    say(meeting, membership(circle, bob), "Welcome, everyone.")
    message = say(meeting, membership(circle, sam), "Something cruel.")
    shown = sanction_via_page(
        signed_in(bob), circle, membership(circle, sam), "delete_message", meeting=meeting.public_id,
        message_seq=str(message.seq),
    )  # fmt: skip
    assert "Done: Message deleted." in shown
    message.refresh_from_db()
    assert message.deleted_at is not None
    room = Room.objects.get(meeting=meeting)
    assert room.last_seq == 3
    deletion = RoomEvent.objects.get(room=room, seq=3)
    assert (deletion.kind, deletion.target_seq, deletion.membership) == (
        "deletion",
        message.seq,
        membership(circle, bob),
    )


def test_deleting_someone_elses_message_through_a_members_page_is_refused(
    circle: SupportGroup, bob: User, sam: User, alice: User, meeting: Meeting
) -> None:
    message = say(meeting, membership(circle, alice), "My own words.")
    before = row_counts(), list(RoomEvent.objects.values_list("seq", "deleted_at"))
    shown = sanction_via_page(
        signed_in(bob), circle, membership(circle, sam), "delete_message", meeting=meeting.public_id,
        message_seq=str(message.seq),
    )  # fmt: skip
    assert "There is no such message by this member in that meeting." in shown
    assert (row_counts(), list(RoomEvent.objects.values_list("seq", "deleted_at"))) == before


def _sanction_fields(kind: str, meeting: Meeting, message: RoomEvent, bob: User) -> dict[str, str]:
    later = datetime_field(timezone.now() + timedelta(days=2), bob)
    return {
        "warn": {},
        "timeout": {"minutes": "15"},
        "suspend": {"ends_at": later},
        "ban": {"ends_at": later},
        "remove": {"meeting": meeting.public_id},
        "delete_message": {"meeting": meeting.public_id, "message_seq": str(message.seq)},
    }[kind]


@pytest.mark.parametrize("kind", ["warn", "timeout", "suspend", "ban", "remove", "delete_message"])
def test_every_decision_is_written_to_the_audit_log(
    circle: SupportGroup, bob: User, sam: User, owen: User, meeting: Meeting, kind: str
) -> None:
    message = say(meeting, membership(circle, sam), "Something cruel.")
    sanction_via_page(
        signed_in(bob), circle, membership(circle, sam), kind, **_sanction_fields(kind, meeting, message, bob)
    )
    entry = AuditEntry.objects.get(action=f"sanction.{kind}")
    assert (entry.actor, entry.actor_label, entry.target_label, entry.reason) == (bob, BOB, SAM, REASON)
    assert entry.group == circle
    row = Sanction.objects.get(kind=kind)
    assert entry.detail["sanction"] == row.public_id
    # …and the owner reads it on the audit page.
    page = read(signed_in(owen), reverse("moderation:audit", args=[circle.slug]))
    assert f"{BOB} sanction.{kind} {SAM} {REASON}" in page


def test_a_site_suspension_is_written_to_the_audit_log_naming_the_account(
    circle: SupportGroup, dana: User, sam: User
) -> None:
    post(signed_in(dana), member_url(circle, membership(circle, sam), "suspend_account"), {"reason": REASON})
    entry = AuditEntry.objects.get(action="sanction.site_suspend")
    assert (entry.actor, entry.actor_label, entry.reason) == (dana, "Site staff", REASON)
    assert entry.target_label == sam.email
    assert f"Site staff sanction.site_suspend {sam.email} {REASON}" in read(
        signed_in(dana), reverse("moderation:site_audit")
    )


@pytest.mark.parametrize("kind", ["suspend", "ban"])
def test_an_end_in_the_past_is_refused_and_nothing_changes(
    circle: SupportGroup, bob: User, sam: User, kind: str, frozen: Any
) -> None:
    before = row_counts(), standing_of(sam)
    shown = sanction_via_page(
        signed_in(bob), circle, membership(circle, sam), kind,
        ends_at=datetime_field(FROZEN_NOW - timedelta(hours=1), bob),
    )  # fmt: skip
    assert "The end must be in the future." in shown
    assert (row_counts(), standing_of(sam)) == before


def test_a_suspension_needs_an_end(circle: SupportGroup, bob: User, sam: User) -> None:
    before = row_counts(), standing_of(sam)
    assert "Choose when it ends." in sanction_via_page(signed_in(bob), circle, membership(circle, sam), "suspend")
    assert (row_counts(), standing_of(sam)) == before


def test_a_site_suspension_ending_in_the_past_is_refused(circle: SupportGroup, dana: User, sam: User) -> None:
    before = row_counts(), standing_of(sam)
    shown = post(
        signed_in(dana),
        member_url(circle, membership(circle, sam), "suspend_account"),
        {"reason": REASON, "ends_at": datetime_field(timezone.now() - timedelta(days=1), dana)},
    )
    assert "The end must be in the future." in shown
    assert (row_counts(), standing_of(sam)) == before


@pytest.mark.parametrize(
    ("actor", "target", "refusal"),
    [
        ("bob", "owen", "Only owners and site staff can act on a facilitator."),
        ("bob", "cora", "Only owners and site staff can act on a facilitator."),
        ("bob", "bob", "You can't act on yourself."),
        ("owen", "owen", "You can't act on yourself."),
        ("owen", "second_owner", "Only site staff can act on an owner."),
        ("owen", "bob", None),
        ("owen", "sam", None),
        ("bob", "sam", None),
        ("dana", "owen", None),
        ("dana", "bob", None),
    ],
)
def test_who_may_act_on_whom(
    request: pytest.FixtureRequest, circle: SupportGroup, sam: User, cora: User, actor: str, target: str,
    refusal: str | None,
) -> None:  # fmt: skip
    second_owner = make_user("olive@example.com")
    add_member(circle, second_owner, "Golden Sparrow", role="owner")
    people = {"second_owner": second_owner, "sam": sam, "cora": cora}
    acting = people.get(actor) or request.getfixturevalue(actor)
    target_user = people.get(target) or request.getfixturevalue(target)
    before = row_counts(), standing_of(target_user)
    shown = sanction_via_page(signed_in(acting), circle, membership(circle, target_user), "warn")
    if refusal is None:
        assert "Done: Warning." in shown
        assert Sanction.objects.filter(user=target_user, actor=acting, kind="warn").exists()
    else:
        assert refusal in shown
        assert (row_counts(), standing_of(target_user)) == before


def test_staff_who_are_members_cannot_act_on_themselves(circle: SupportGroup, dana: User) -> None:
    own = add_member(circle, dana, "Bright Meadow")
    before = row_counts(), standing_of(dana)
    assert "You can't act on yourself." in sanction_via_page(signed_in(dana), circle, own, "warn")
    with pytest.raises(ActionError, match=re.escape("You can't act on yourself.")):
        actions.do_suspend_account(dana, dana, reason=REASON)
    assert (row_counts(), standing_of(dana)) == before


def test_a_sanction_citing_a_report_the_moderator_cannot_handle_is_404(
    circle: SupportGroup, alice: User, bob: User, sam: User
) -> None:
    """bob can't see a report about himself, so he can't cite it either (nor learn it exists)."""
    about_bob = actions.do_report_member(
        membership(circle, alice), membership(circle, bob).public_id, category="harassment", wish="inform"
    )
    before = row_counts()
    response = signed_in(bob).post(
        member_url(circle, membership(circle, sam), "sanction"),
        {"kind": "warn", "reason": REASON, "report": about_bob.public_id},
    )
    assert response.status_code == 404
    assert row_counts() == before


# --- Appeals ---------------------------------------------------------------------------------


def _suspend(circle: SupportGroup, by: User, user: User, days: int = 3) -> Sanction:
    return actions.do_sanction(
        moderator(by, circle),
        membership(circle, user).public_id,
        "suspend",
        reason=REASON,
        ends_at=timezone.now() + timedelta(days=days),
    )


def _appeal_url(sanction: Sanction) -> str:
    return reverse("moderation:file_appeal", args=[sanction.public_id])


def test_a_member_appeals_a_decision_once(circle: SupportGroup, bob: User, sam: User) -> None:
    decision = _suspend(circle, bob, sam)
    as_sam = signed_in(sam)
    field = f"{decision.public_id}-text"
    shown = post(as_sam, _appeal_url(decision), {field: "I was quoting my abuser, not insulting anyone."})
    assert "Your appeal is sent." in shown
    assert "Your appeal: Waiting for a decision" in shown
    before = row_counts()
    shown = post(as_sam, _appeal_url(decision), {field: "Please, again."})
    assert "You have already appealed this decision. Each decision can be appealed once." in shown
    assert row_counts() == before
    assert Appeal.objects.get(sanction=decision).text == "I was quoting my abuser, not insulting anyone."
    entry = AuditEntry.objects.get(action="appeal.filed")
    assert (entry.actor, entry.target_label) == (sam, SAM)


def test_an_empty_appeal_is_refused(circle: SupportGroup, bob: User, sam: User) -> None:
    decision = _suspend(circle, bob, sam)
    before = row_counts()
    shown = post(signed_in(sam), _appeal_url(decision), {f"{decision.public_id}-text": "   "})
    assert "Say why the decision should change." in shown
    assert row_counts() == before


def test_nobody_can_appeal_someone_elses_decision(circle: SupportGroup, bob: User, sam: User, alice: User) -> None:
    decision = _suspend(circle, bob, sam)
    before = row_counts()
    shown = post(signed_in(alice), _appeal_url(decision), {f"{decision.public_id}-text": "On sam's behalf."})
    assert "There is no such decision about you." in shown
    assert row_counts() == before
    with pytest.raises(ActionError, match=re.escape("There is no such decision about you.")):
        actions.do_appeal(alice, decision.public_id, "On sam's behalf.")
    assert row_counts() == before


def test_the_moderator_who_decided_cannot_decide_the_appeal(circle: SupportGroup, bob: User, sam: User) -> None:
    decision = _suspend(circle, bob, sam)
    actions.do_appeal(sam, decision.public_id, "Please look again.")
    as_bob = signed_in(bob)
    appeal_page = reverse("moderation:appeal", args=[circle.slug, decision.public_id])
    queue = read(as_bob, reverse("moderation:queue", args=[circle.slug]))
    assert "Appeals waiting for a decision" not in queue
    assert appeal_page not in as_bob.get(reverse("moderation:queue", args=[circle.slug])).content.decode()
    before = row_counts(), standing_of(sam)
    read(as_bob, appeal_page, status=404)
    assert as_bob.post(appeal_page, {"decision": "overturned"}).status_code == 404
    with pytest.raises(ActionError, match="Someone other than the person who made the decision"):
        actions.do_decide_appeal(moderator(bob, circle), decision.appeal.pk, overturn=True)
    assert (row_counts(), standing_of(sam)) == before
    assert Appeal.objects.get(sanction=decision).status == Appeal.Status.PENDING


@pytest.mark.parametrize("decider", ["owen", "cora", "dana"])
def test_another_moderator_overturns_and_the_suspension_is_gone(
    request: pytest.FixtureRequest, circle: SupportGroup, bob: User, sam: User, cora: User, decider: str
) -> None:
    decision = _suspend(circle, bob, sam)
    actions.do_appeal(sam, decision.public_id, "Please look again.")
    as_sam = signed_in(sam)
    read(as_sam, member_url(circle, membership(circle, sam)), status=403)
    deciding = cora if decider == "cora" else request.getfixturevalue(decider)
    as_decider = signed_in(deciding)
    appeal_page = reverse("moderation:appeal", args=[circle.slug, decision.public_id])
    assert appeal_page in as_decider.get(reverse("moderation:queue", args=[circle.slug])).content.decode()
    page = read(as_decider, appeal_page)
    assert "Please look again." in page and f"{BOB}" in page
    shown = post(as_decider, appeal_page, {"decision": "overturned", "note": "We misread the quote. Sorry."})
    assert "The appeal is decided, and the member is told." in shown

    appeal = Appeal.objects.get(sanction=decision)
    assert (appeal.status, appeal.decided_by) == (Appeal.Status.OVERTURNED, deciding)
    assert Sanction.objects.get(pk=decision.pk).lifted_at is not None
    assert membership(circle, sam).suspended_until is None
    read(as_sam, member_url(circle, membership(circle, sam)))
    notices = read(as_sam, reverse("accounts:notices"))
    assert "Your appeal was accepted: the decision is overturned. We misread the quote. Sorry." in notices
    assert AuditEntry.objects.filter(action="appeal.overturned", actor=deciding, target_label=SAM).exists()


def test_an_upheld_appeal_keeps_the_decision(circle: SupportGroup, bob: User, owen: User, sam: User) -> None:
    decision = _suspend(circle, bob, sam)
    actions.do_appeal(sam, decision.public_id, "Please look again.")
    appeal_page = reverse("moderation:appeal", args=[circle.slug, decision.public_id])
    post(signed_in(owen), appeal_page, {"decision": "upheld", "note": "The guidelines are clear."})
    assert Appeal.objects.get(sanction=decision).status == Appeal.Status.UPHELD
    assert membership(circle, sam).suspended_now()
    as_sam = signed_in(sam)
    read(as_sam, member_url(circle, membership(circle, sam)), status=403)
    assert "Your appeal was reviewed: the decision stands. The guidelines are clear." in read(
        as_sam, reverse("accounts:notices")
    )
    assert "Your appeal: Decision kept · The guidelines are clear." in read(as_sam, reverse("moderation:standing"))
    # Decided once.
    assert signed_in(owen).get(appeal_page).status_code in (200, 404)
    with pytest.raises(ActionError, match=re.escape("This appeal is already decided.")):
        actions.do_decide_appeal(moderator(owen, circle), decision.appeal.pk, overturn=True)


def test_an_overturned_ban_lets_the_person_ask_to_join_again(
    circle: SupportGroup, bob: User, owen: User, sam: User
) -> None:
    decision = actions.do_sanction(moderator(bob, circle), membership(circle, sam).public_id, "ban", reason=REASON)
    as_sam = signed_in(sam)
    post(as_sam, _appeal_url(decision), {f"{decision.public_id}-text": "It was a misunderstanding."})
    post(
        signed_in(owen),
        reverse("moderation:appeal", args=[circle.slug, decision.public_id]),
        {"decision": "overturned"},
    )
    assert membership(circle, sam).status == Membership.Status.LEFT
    read(as_sam, reverse("groups:join", args=[circle.slug]))


def test_overturning_an_earlier_suspension_keeps_a_later_longer_one(
    circle: SupportGroup, bob: User, owen: User, cora: User, sam: User, frozen: Any
) -> None:
    """Two suspensions overlap; the appeal against the first must not end the second."""
    first = _suspend(circle, bob, sam, days=3)
    second = actions.do_sanction(
        moderator(owen, circle), membership(circle, sam).public_id, "suspend", reason="Threats",
        ends_at=FROZEN_NOW + timedelta(days=30),
    )  # fmt: skip
    actions.do_appeal(sam, first.public_id, "The first one was a misunderstanding.")
    post(signed_in(cora), reverse("moderation:appeal", args=[circle.slug, first.public_id]), {"decision": "overturned"})
    assert Sanction.objects.get(pk=first.pk).lifted_at is not None
    assert membership(circle, sam).suspended_until == second.ends_at
    page = read(signed_in(sam), member_url(circle, membership(circle, sam)), status=403)
    assert "Reason: Threats" in page


def test_a_shorter_suspension_does_not_cut_a_longer_one_short(
    circle: SupportGroup, bob: User, owen: User, sam: User, frozen: Any
) -> None:
    longer = actions.do_sanction(
        moderator(owen, circle), membership(circle, sam).public_id, "suspend", reason="Threats",
        ends_at=FROZEN_NOW + timedelta(days=30),
    )  # fmt: skip
    _suspend(circle, bob, sam, days=1)
    assert membership(circle, sam).suspended_until == longer.ends_at
    frozen.move_to(FROZEN_NOW + timedelta(days=2))
    read(signed_in(sam), member_url(circle, membership(circle, sam)), status=403)


def test_lifting_one_of_two_timeouts_keeps_the_other(circle: SupportGroup, bob: User, owen: User, sam: User) -> None:
    target = membership(circle, sam).public_id
    short = actions.do_sanction(moderator(bob, circle), target, "timeout", reason="Spam", minutes=15)
    long = actions.do_sanction(moderator(owen, circle), target, "timeout", reason="Insults", minutes=24 * 60)
    actions.do_lift(moderator(owen, circle), short.public_id, "Sorted")
    row = membership(circle, sam)
    assert (row.timeout_until, row.timeout_reason) == (long.ends_at, "Insults")
    actions.do_lift(moderator(owen, circle), long.public_id, "Sorted")
    assert membership(circle, sam).timeout_until is None


def test_overturning_one_ban_keeps_a_second_permanent_one(
    circle: SupportGroup, bob: User, owen: User, cora: User, sam: User
) -> None:
    target = membership(circle, sam).public_id
    first = actions.do_sanction(
        moderator(bob, circle), target, "ban", reason=REASON, ends_at=timezone.now() + timedelta(days=7)
    )
    actions.do_sanction(moderator(owen, circle), target, "ban", reason="Doxxing a member")
    assert membership(circle, sam).banned_until is None
    actions.do_appeal(sam, first.public_id, "Please.")
    actions.do_decide_appeal(moderator(cora, circle), first.appeal.pk, overturn=True)
    row = membership(circle, sam)
    assert (row.status, row.banned_until) == (Membership.Status.BANNED, None)
    assert "You can't join this group." in read(signed_in(sam), reverse("groups:join", args=[circle.slug]), status=403)


def test_lifting_one_site_suspension_keeps_another(circle: SupportGroup, dana: User, sam: User) -> None:
    other_staff = make_user("sol@example.com", is_staff=True)
    first = actions.do_suspend_account(dana, sam, reason="Spam", ends_at=timezone.now() + timedelta(days=1))
    second = actions.do_suspend_account(other_staff, sam, reason="Threats to staff")
    actions.do_lift_account_suspension(other_staff, first.public_id, "Spam was a mistake")
    user = User.objects.get(pk=sam.pk)
    assert user.suspension_in_force()
    assert (user.suspension_ends_at, user.suspension_reason) == (second.ends_at, "Threats to staff")


def test_a_site_suspension_appeal_is_decided_by_other_staff(circle: SupportGroup, dana: User, sam: User) -> None:
    other_staff = make_user("sol@example.com", is_staff=True)
    decision = actions.do_suspend_account(dana, sam, reason=REASON)
    as_sam = signed_in(sam)
    # The suspended person can still appeal: the standing pages stay open to them.
    shown = post(as_sam, _appeal_url(decision), {f"{decision.public_id}-text": "It wasn't me."})
    assert "Your appeal is sent." in shown
    site_appeal = reverse("moderation:site_appeal", args=[decision.public_id])
    assert site_appeal not in signed_in(dana).get(reverse("moderation:console")).content.decode()
    read(signed_in(dana), site_appeal, status=404)
    as_sol = signed_in(other_staff)
    assert site_appeal in as_sol.get(reverse("moderation:console")).content.decode()
    post(as_sol, site_appeal, {"decision": "overturned", "note": "Someone else used the account."})
    assert not User.objects.get(pk=sam.pk).suspension_in_force()
    read(as_sam, reverse("groups:mine"))
    assert "Your appeal was accepted" in read(as_sam, reverse("accounts:notices"))


# --- The queue ---------------------------------------------------------------------------------


def test_the_queue_moves_reports_through_open_in_review_resolved_and_dismissed(
    circle: SupportGroup, alice: User, bob: User, sam: User, owen: User
) -> None:
    first = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="harassment", wish="inform"
    )
    second = actions.do_report_member(
        membership(circle, owen), membership(circle, sam).public_id, category="spam", wish="inform"
    )
    as_bob = signed_in(bob)
    queue = reverse("moderation:queue", args=[circle.slug])

    def listed(status: str) -> str:
        return read(as_bob, f"{queue}?status={status}")

    assert "Harassment or bullying" in listed("open") and "Spam or advertising" in listed("open")
    assert "No reports here." in listed("in_review")

    shown = post(as_bob, report_url(first), {"action": "assign"})
    assert "The report is yours, and in review." in shown
    assert f"In review · taken by {BOB}" in shown
    assert Report.objects.get(pk=first.pk).assignee == membership(circle, bob)
    assert "Harassment or bullying" in listed("in_review")
    assert "Harassment or bullying" in listed("open")  # "open" lists everything not closed
    assert "Spam or advertising" not in listed("in_review")

    post(as_bob, report_url(first), {"action": "close", "outcome": "resolved"})
    post(as_bob, report_url(second), {"action": "close", "outcome": "dismissed"})
    assert "No reports here." in listed("open")
    assert "Harassment or bullying" in listed("resolved") and "Spam or advertising" not in listed("resolved")
    assert "Spam or advertising" in listed("dismissed") and "Harassment or bullying" not in listed("dismissed")
    all_reports = listed("all")
    assert "Harassment or bullying" in all_reports and "Spam or advertising" in all_reports
    assert "Closed: action was taken." in read(as_bob, report_url(first))
    # A closed report can't be closed again.
    assert "This report is already closed." in post(
        as_bob, report_url(first), {"action": "close", "outcome": "dismissed"}
    )
    assert Report.objects.get(pk=first.pk).status == Report.Status.RESOLVED
    assert [entry.action for entry in AuditEntry.objects.filter(target_label=SAM).order_by("pk")] == [
        "report.filed",
        "report.filed",
        "report.assigned",
        "report.resolved",
        "report.dismissed",
    ]


def test_private_notes_are_seen_only_by_the_people_handling_the_report(
    circle: SupportGroup, alice: User, bob: User, sam: User, owen: User
) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="harassment", wish="inform"
    )
    shown = post(signed_in(bob), report_url(report), {"action": "note", "body": PRIVATE_NOTE})
    assert "Note added." in shown
    assert PRIVATE_NOTE in shown
    assert PRIVATE_NOTE in read(signed_in(owen), report_url(report))
    assert ReportNote.objects.get(report=report).author_label == BOB
    with committed():
        post(signed_in(bob), report_url(report), {"action": "close", "outcome": "resolved", "note": "Closing note."})
    for person in (alice, sam):
        client = signed_in(person)
        read(client, report_url(report), status=403)
        for url in (
            reverse("moderation:standing"),
            reverse("accounts:notices"),
            reverse("groups:detail", args=[circle.slug]),
            member_url(circle, membership(circle, sam)),
            member_url(circle, membership(circle, alice)),
        ):
            page = read(client, url)
            assert PRIVATE_NOTE not in page and "Closing note." not in page
        for email in emails_to(person):
            assert PRIVATE_NOTE not in everything_in(email)


def test_an_empty_note_is_refused(circle: SupportGroup, alice: User, bob: User, sam: User) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="harassment", wish="inform"
    )
    before = row_counts()
    assert "Write the note first." in post(signed_in(bob), report_url(report), {"action": "note", "body": ""})
    assert row_counts() == before


def test_escalating_hands_the_report_to_site_staff(
    circle: SupportGroup, alice: User, bob: User, sam: User, dana: User
) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="threats", wish="keep_away"
    )
    as_dana = signed_in(dana)
    assert "None waiting." in read(as_dana, reverse("moderation:console"))
    shown = post(signed_in(bob), report_url(report), {"action": "escalate", "reason": "Threats of violence"})
    assert "Site staff have been asked to look at it." in shown
    assert Report.objects.get(pk=report.pk).escalated_at is not None
    console = read(as_dana, reverse("moderation:console"))
    assert f"Tuesday Circle: Threats · {SAM}" in console
    assert "A report in Tuesday Circle was escalated to site staff." in read(as_dana, reverse("accounts:notices"))
    assert actions.open_report_count(dana) == 1
    entry = AuditEntry.objects.get(action="report.escalated")
    assert (entry.actor_label, entry.reason) == (BOB, "Threats of violence")
    # Staff handle it from the group's report page; it stays in the group's queue too.
    assert ALICE in read(as_dana, report_url(report))
    assert "with site staff" in read(signed_in(bob), reverse("moderation:queue", args=[circle.slug]))
    assert "This report is already with site staff." in post(
        signed_in(bob), report_url(report), {"action": "escalate", "reason": "Again"}
    )
    post(as_dana, report_url(report), {"action": "close", "outcome": "resolved"})
    assert "None waiting." in read(as_dana, reverse("moderation:console"))


def test_a_report_nobody_in_the_group_may_handle_goes_to_site_staff_at_once(
    circle: SupportGroup, alice: User, bob: User, owen: User, dana: User
) -> None:
    """A report about the only owner would otherwise sit where no one can see it."""
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, owen).public_id, category="threats", wish="keep_away"
    )
    report.refresh_from_db()
    assert report.about_facilitator and report.escalated_at is not None
    assert f"Tuesday Circle: Threats · {OWEN}" in read(signed_in(dana), reverse("moderation:console"))
    assert "A report in Tuesday Circle was escalated to site staff." in read(
        signed_in(dana), reverse("accounts:notices")
    )
    entry = AuditEntry.objects.get(action="report.escalated")
    assert (entry.actor, entry.actor_label, entry.target_label) == (None, "Automatic", OWEN)
    # Still hidden from everyone in the group, owen included.
    for person in (owen, bob):
        read(signed_in(person), report_url(report), status=404)
        assert not Notice.objects.filter(user=person).exists()
    # With a second owner present, it goes to them and not to staff.
    second = actions.do_report_member(
        membership(circle, alice), membership(circle, bob).public_id, category="harassment", wish="inform"
    )
    second.refresh_from_db()
    assert second.escalated_at is None


def test_escalating_needs_a_reason(circle: SupportGroup, alice: User, bob: User, sam: User) -> None:
    report = actions.do_report_member(
        membership(circle, alice), membership(circle, sam).public_id, category="threats", wish="inform"
    )
    before = row_counts()
    assert "Say why site staff should look at it." in post(
        signed_in(bob), report_url(report), {"action": "escalate", "reason": ""}
    )
    assert row_counts() == before
    assert Report.objects.get(pk=report.pk).escalated_at is None


# --- The audit log is append-only (acceptance 4) -------------------------------------------------


@pytest.fixture
def entry(circle: SupportGroup, bob: User, sam: User) -> AuditEntry:
    actions.do_sanction(moderator(bob, circle), membership(circle, sam).public_id, "warn", reason=REASON)
    return AuditEntry.objects.get(action="sanction.warn")


def audit_rows() -> list[tuple[object, ...]]:
    return list(AuditEntry.objects.order_by("pk").values_list())


def _change_and_save(entry: AuditEntry) -> None:
    entry.reason = "Nothing happened"
    entry.save()


def _force_insert_again(entry: AuditEntry) -> None:
    entry.reason = "Nothing happened"
    entry.save(force_insert=True)


def _bulk_update(entry: AuditEntry) -> None:
    entry.reason = "Nothing happened"
    AuditEntry.objects.bulk_update([entry], ["reason"])


WAYS_TO_TAMPER = {
    "queryset update": lambda entry: AuditEntry.objects.update(reason="Nothing happened"),
    "filtered update": lambda entry: AuditEntry.objects.filter(pk=entry.pk).update(reason="x"),
    "queryset delete": lambda entry: AuditEntry.objects.filter(pk=entry.pk).delete(),
    "delete all": lambda entry: AuditEntry.objects.all().delete(),
    "save after change": _change_and_save,
    "save as new with the same id": _force_insert_again,
    "instance delete": lambda entry: entry.delete(),
    "bulk_update": _bulk_update,
    "update_or_create": lambda entry: AuditEntry.objects.update_or_create(pk=entry.pk, defaults={"reason": "x"}),
}


@pytest.mark.parametrize("way", list(WAYS_TO_TAMPER))
def test_audit_entries_cannot_be_changed_or_deleted(entry: AuditEntry, way: str) -> None:
    before = audit_rows()
    with pytest.raises(AuditLogIsAppendOnly):
        WAYS_TO_TAMPER[way](entry)
    assert audit_rows() == before


def test_audit_entries_outlive_the_group_and_the_people_they_name(
    circle: SupportGroup, bob: User, sam: User, dana: User, entry: AuditEntry
) -> None:
    before = audit_rows()
    SupportGroup.objects.filter(pk=circle.pk).delete()
    User.objects.filter(pk__in=[bob.pk, sam.pk]).delete()
    assert audit_rows() == before
    page = read(signed_in(dana), reverse("moderation:site_audit"))
    assert f"{BOB} sanction.warn {SAM} {REASON}" in page


def test_the_admin_shows_the_audit_log_but_cannot_add_change_or_delete(dana: User, entry: AuditEntry) -> None:
    as_dana = signed_in(dana)
    before = audit_rows()
    changelist = read(as_dana, reverse("admin:moderation_auditentry_changelist"))
    assert "sanction.warn" in changelist
    assert "Add audit entry" not in changelist
    change = reverse("admin:moderation_auditentry_change", args=[entry.pk])
    page = as_dana.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert as_dana.post(change, {"reason": "Nothing happened", "action": "x", "actor_label": "x"}).status_code == 403
    delete = reverse("admin:moderation_auditentry_delete", args=[entry.pk])
    assert as_dana.post(delete, {"post": "yes"}).status_code == 403
    assert as_dana.get(reverse("admin:moderation_auditentry_add")).status_code == 403
    bulk = as_dana.post(
        reverse("admin:moderation_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302, 403)
    assert audit_rows() == before
    assert admin_site.is_registered(AuditEntry)


def test_no_moderation_page_changes_an_existing_entry(
    circle: SupportGroup, alice: User, bob: User, owen: User, sam: User, dana: User, meeting: Meeting
) -> None:
    """A whole day of moderation only adds rows: every earlier row reads exactly as before."""
    message = say(meeting, membership(circle, sam), "Something cruel.")
    as_bob, as_owen = signed_in(bob), signed_in(owen)
    seen: list[tuple[object, ...]] = []

    def still_there() -> None:
        rows = audit_rows()
        assert rows[: len(seen)] == seen
        seen[:] = rows

    post(
        signed_in(alice),
        member_url(circle, membership(circle, sam), "report_member"),
        {"category": "spam", "wish": "inform"},
    )
    still_there()
    report = Report.objects.get()
    for data in ({"action": "assign"}, {"action": "note", "body": "n"}, {"action": "escalate", "reason": "r"}):
        post(as_bob, report_url(report), data)
        still_there()
    for kind in ("warn", "timeout", "delete_message", "suspend"):
        sanction_via_page(
            as_bob, circle, membership(circle, sam), kind, **_sanction_fields(kind, meeting, message, bob)
        )
        still_there()
    suspension = Sanction.objects.get(kind="suspend")
    post(signed_in(sam), _appeal_url(suspension), {f"{suspension.public_id}-text": "Please."})
    still_there()
    post(as_owen, reverse("moderation:appeal", args=[circle.slug, suspension.public_id]), {"decision": "overturned"})
    still_there()
    post(as_bob, reverse("moderation:words", args=[circle.slug]), {"op": "add", "phrase": "idiot", "action": "flag"})
    still_there()
    word = WatchedWord.objects.get()
    post(as_bob, reverse("moderation:words", args=[circle.slug]), {"op": "remove", "word": str(word.pk)})
    still_there()
    post(as_bob, report_url(report), {"action": "close", "outcome": "resolved"})
    still_there()
    read(as_owen, reverse("moderation:audit", args=[circle.slug]) + "?action=sanction.warn")
    read(signed_in(dana), reverse("moderation:site_audit"))
    still_there()
    assert len(seen) >= 13


def test_owners_and_staff_filter_the_audit_log(
    circle: SupportGroup, alice: User, bob: User, owen: User, sam: User, dana: User, frozen: Any
) -> None:
    bob_mod, owen_mod = moderator(bob, circle), moderator(owen, circle)
    actions.do_sanction(bob_mod, membership(circle, sam).public_id, "warn", reason="First warning")
    frozen.move_to(FROZEN_NOW + timedelta(days=3))
    actions.do_sanction(owen_mod, membership(circle, alice).public_id, "warn", reason="Second warning")
    actions.do_sanction(owen_mod, membership(circle, sam).public_id, "timeout", reason="Third strike", minutes=60)
    frozen.move_to(FROZEN_NOW + timedelta(days=6))
    audit = reverse("moderation:audit", args=[circle.slug])

    def reasons(client: Client, query: str, url: str = audit) -> set[str]:
        page = read(client, f"{url}?{query}")
        return {reason for reason in ("First warning", "Second warning", "Third strike") if reason in page}

    for client, url in ((signed_in(owen), audit), (signed_in(dana), reverse("moderation:site_audit"))):
        assert reasons(client, "", url) == {"First warning", "Second warning", "Third strike"}
        assert reasons(client, "action=sanction.warn", url) == {"First warning", "Second warning"}
        assert reasons(client, "actor=calm", url) == {"First warning"}
        assert reasons(client, f"actor={OWEN}", url) == {"Second warning", "Third strike"}
        assert reasons(client, "target=distant", url) == {"First warning", "Third strike"}
        assert reasons(client, "since=2026-03-04", url) == {"Second warning", "Third strike"}
        assert reasons(client, "until=2026-03-03", url) == {"First warning"}
        assert reasons(client, "since=2026-03-06&until=2026-03-10", url) == set()
        assert reasons(client, "action=sanction.timeout&target=distant", url) == {"Third strike"}
    # Only this group's entries on the group's page.
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    add_member(other, owen, "Other Lantern", role="owner")
    add_member(other, sam, "Other Ember")
    actions.do_sanction(moderator(owen, other), membership(other, sam).public_id, "warn", reason="Elsewhere")
    assert "Elsewhere" not in read(signed_in(owen), audit)
    assert "Elsewhere" in read(signed_in(dana), reverse("moderation:site_audit"))


# --- Bad input (acceptance 7) --------------------------------------------------------------------


@pytest.fixture
def reports_world(circle: SupportGroup, alice: User, sam: User, meeting: Meeting) -> dict[str, Any]:
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    sam_there = add_member(other, sam, "Far Ember")
    alice_there = add_member(other, alice, "Far Harbor")
    other_meeting = open_meeting(other)
    return {
        "alice": membership(circle, alice),
        "sam": membership(circle, sam),
        "own": say(meeting, membership(circle, alice), "My own words."),
        "sams": say(meeting, membership(circle, sam), "Something cruel."),
        "elsewhere": say(other_meeting, sam_there, "Something cruel elsewhere."),
        "other_meeting": other_meeting,
        "alice_there": alice_there,
    }


def test_reporting_ones_own_message_is_refused(reports_world: dict[str, Any], meeting: Meeting) -> None:
    before = row_counts()
    with pytest.raises(ActionError, match="You can't report your own message"):
        actions.do_report_message(
            reports_world["alice"], meeting.public_id, reports_world["own"].seq, category="spam", wish="inform"
        )
    assert row_counts() == before


def test_reporting_a_message_of_another_group_is_refused(reports_world: dict[str, Any]) -> None:
    """Through alice's membership in Tuesday Circle, Thursday Circle's meeting does not exist."""
    before = row_counts()
    with pytest.raises(ActionError, match=re.escape("There is no such message in this group.")):
        actions.do_report_message(
            reports_world["alice"],
            reports_world["other_meeting"].public_id,
            reports_world["elsewhere"].seq,
            category="harassment",
            wish="inform",
        )
    assert row_counts() == before


@pytest.mark.parametrize("seq", [99, 0, -1])
def test_reporting_a_message_that_does_not_exist_is_refused(
    reports_world: dict[str, Any], meeting: Meeting, seq: int
) -> None:
    before = row_counts()
    with pytest.raises(ActionError, match=re.escape("There is no such message in this group.")):
        actions.do_report_message(reports_world["alice"], meeting.public_id, seq, category="spam", wish="inform")
    with pytest.raises(ActionError, match=re.escape("There is no such message in this group.")):
        actions.do_report_message(reports_world["alice"], "nosuchmeeting", 1, category="spam", wish="inform")
    assert row_counts() == before


def test_reporting_the_same_message_twice_is_refused(reports_world: dict[str, Any], meeting: Meeting) -> None:
    seq = reports_world["sams"].seq
    report = actions.do_report_message(reports_world["alice"], meeting.public_id, seq, category="spam", wish="inform")
    assert report.snapshot[-1]["body"] == "Something cruel." and report.snapshot[-1]["reported"]
    before = row_counts()
    with pytest.raises(ActionError, match=re.escape("You have already reported this message.")):
        actions.do_report_message(reports_world["alice"], meeting.public_id, seq, category="threats", wish="remove")
    assert row_counts() == before


def test_reporting_the_same_member_twice_while_open_is_refused(circle: SupportGroup, alice: User, sam: User) -> None:
    url = member_url(circle, membership(circle, sam), "report_member")
    as_alice = signed_in(alice)
    post(as_alice, url, {"category": "spam", "wish": "inform"})
    before = row_counts()
    response = as_alice.post(url, {"category": "threats", "wish": "inform"})
    assert response.status_code == 400
    assert "You have already reported this member. The facilitators have it." in text(response)
    assert row_counts() == before


def test_reporting_oneself_is_refused(circle: SupportGroup, alice: User) -> None:
    before = row_counts()
    response = signed_in(alice).post(
        member_url(circle, membership(circle, alice), "report_member"), {"category": "spam", "wish": "inform"}
    )
    assert response.status_code == 400
    assert "You can't report yourself." in text(response)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"category": "nonsense", "wish": "inform"}, "Choose what is wrong from the list."),
        ({"category": "watched_word", "wish": "inform"}, "Choose what is wrong from the list."),
        ({"wish": "inform"}, "Choose what is wrong."),
        ({"category": "spam", "wish": "revenge"}, "Choose what you would like from the list."),
        ({"category": "spam", "wish": "inform", "details": "x" * 2001}, "at most 2000 characters"),
    ],
    ids=["unknown-category", "watched-word-category", "no-category", "unknown-wish", "details-too-long"],
)
def test_bad_report_forms_are_refused_with_a_clear_message(
    circle: SupportGroup, alice: User, sam: User, data: dict[str, str], message: str
) -> None:
    before = row_counts()
    response = signed_in(alice).post(member_url(circle, membership(circle, sam), "report_member"), data)
    assert response.status_code == 400
    assert message in text(response)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"category": "nonsense", "wish": "inform"}, "Choose what is wrong from the list."),
        ({"category": "watched_word", "wish": "inform"}, "Choose what is wrong from the list."),
        ({"category": "spam", "wish": "revenge"}, "Choose what you would like from the list."),
        ({"category": "spam", "wish": "inform", "details": "x" * 2001}, "Details can be up to 2000 characters."),
    ],
)
def test_bad_message_reports_are_refused_by_the_action(
    reports_world: dict[str, Any], meeting: Meeting, fields: dict[str, str], message: str
) -> None:
    before = row_counts()
    with pytest.raises(ActionError, match=re.escape(message)):
        actions.do_report_message(reports_world["alice"], meeting.public_id, reports_world["sams"].seq, **fields)
    with pytest.raises(ActionError, match=re.escape(message)):
        actions.do_report_member(reports_world["alice"], reports_world["sam"].public_id, **fields)
    assert row_counts() == before


def test_someone_who_left_cannot_report(reports_world: dict[str, Any], meeting: Meeting) -> None:
    alice = reports_world["alice"]
    Membership.objects.filter(pk=alice.pk).update(status=Membership.Status.LEFT)
    alice.refresh_from_db()
    before = row_counts()
    with pytest.raises(ActionError, match=re.escape("Only members of this group can report.")):
        actions.do_report_message(alice, meeting.public_id, reports_world["sams"].seq, category="spam", wish="inform")
    assert row_counts() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "flogging", "reason": REASON}, "Choose an action from the list."),
        ({"kind": "site_suspend", "reason": REASON}, "Choose an action from the list."),
        ({"kind": "warn", "reason": ""}, "This field is required."),
        ({"kind": "warn", "reason": "x" * 501}, "at most 500 characters"),
        ({"kind": "timeout", "reason": REASON}, "Choose how long the timeout lasts."),
        (
            {"kind": "warn", "reason": REASON, "ends_at": "2099-01-01T10:00"},
            "Only timeouts, suspensions and bans have an end.",
        ),
        ({"kind": "remove", "reason": REASON}, "Choose a meeting of this group."),
        ({"kind": "suspend", "reason": REASON, "ends_at": "not a date"}, "Enter a valid date/time."),
    ],
    ids=[
        "unknown-kind",
        "site-kind",
        "no-reason",
        "long-reason",
        "timeout-length",
        "end-on-warning",
        "no-meeting",
        "bad-date",
    ],
)
def test_bad_decisions_are_refused_with_a_clear_message(
    circle: SupportGroup, bob: User, sam: User, data: dict[str, str], message: str
) -> None:
    before = row_counts(), standing_of(sam)
    assert message in post(signed_in(bob), member_url(circle, membership(circle, sam), "sanction"), data)
    assert (row_counts(), standing_of(sam)) == before


def test_a_decision_about_a_member_of_another_group_is_404_or_refused(
    circle: SupportGroup, bob: User, sam: User
) -> None:
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    elsewhere = add_member(other, sam, "Far Ember")
    before = row_counts(), standing_of(sam)
    response = signed_in(bob).post(
        member_url(circle, elsewhere, "sanction"), {"kind": "warn", "reason": REASON}, follow=True
    )
    assert "There is no such member in this group." in text(response)
    assert (row_counts(), standing_of(sam)) == before


def test_lifting_a_decision_that_is_over_is_refused(circle: SupportGroup, bob: User, sam: User, frozen: Any) -> None:
    timeout = actions.do_sanction(
        moderator(bob, circle), membership(circle, sam).public_id, "timeout", reason=REASON, minutes=15
    )
    warning = actions.do_sanction(moderator(bob, circle), membership(circle, sam).public_id, "warn", reason=REASON)
    frozen.move_to(FROZEN_NOW + timedelta(minutes=16))
    as_bob = signed_in(bob)
    before = row_counts(), standing_of(sam), list(Sanction.objects.values_list("lifted_at"))
    # A timeout that ran out, and a warning (which bars nothing, so there is nothing to lift).
    for decision in (timeout, warning):
        shown = post(as_bob, reverse("moderation:lift", args=[circle.slug, decision.public_id]), {})
        assert "This decision is no longer in force." in shown
    assert (row_counts(), standing_of(sam), list(Sanction.objects.values_list("lifted_at"))) == before


def test_lifting_a_suspension_through_the_page_restores_access(
    circle: SupportGroup, bob: User, owen: User, sam: User
) -> None:
    decision = _suspend(circle, bob, sam)
    shown = post(
        signed_in(owen), reverse("moderation:lift", args=[circle.slug, decision.public_id]), {"reason": "Talked"}
    )
    assert "Lifted." in shown
    read(signed_in(sam), member_url(circle, membership(circle, sam)))
    entry = AuditEntry.objects.get(action="sanction.lifted")
    assert (entry.actor_label, entry.target_label, entry.reason) == (OWEN, SAM, "Talked")


def test_blocking_hides_nothing_from_the_blocked_member(circle: SupportGroup, alice: User, sam: User) -> None:
    as_sam = signed_in(sam)
    urls = [
        member_url(circle, membership(circle, alice)),
        member_url(circle, membership(circle, sam)),
        reverse("moderation:standing"),
        reverse("accounts:notices"),
        reverse("groups:detail", args=[circle.slug]),
    ]
    before = {url: read(as_sam, url) for url in urls}
    shown = post(signed_in(alice), member_url(circle, membership(circle, sam), "block"), {"on": "1"})
    assert f"You won't see {SAM}'s messages any more. They are not told." in shown
    assert {url: read(as_sam, url) for url in urls} == before
    assert not AuditEntry.objects.filter(action__startswith="block").exists()
    shown = post(signed_in(alice), member_url(circle, membership(circle, sam), "block"), {"on": "0"})
    assert "You'll see their messages again." in shown
    assert not Block.objects.exists()


def test_a_banned_facilitator_stays_out_of_reach_of_their_co_facilitators(circle, owen, bob) -> None:
    """A ban does not turn a facilitator into a member their fellow facilitators may then lift
    or overturn: that stays with owners and staff."""
    fern = make_user("fern@example.com")
    add_member(circle, fern, "Bright Fern", role="facilitator")
    by_owner = actions.moderator_for(owen, access_group(owen, circle.slug))
    by_bob = actions.moderator_for(bob, access_group(bob, circle.slug))
    assert by_owner is not None and by_bob is not None
    fern_member = Membership.objects.get(user=fern)
    ban = actions.do_sanction(by_owner, fern_member.public_id, "ban", reason="Shared a member's address")
    fern_member.refresh_from_db()
    assert (fern_member.status, fern_member.role) == ("banned", "facilitator")
    with pytest.raises(ActionError, match=r"Only owners and site staff can act on a facilitator\."):
        actions.do_lift(by_bob, ban.public_id, "Seems harsh")
    appeal = actions.do_appeal(fern, ban.public_id, "It was a mistake")
    assert not actions.may_decide(by_bob, appeal)
    fern_member.refresh_from_db()
    assert fern_member.status == "banned"
    actions.do_lift(by_owner, ban.public_id, "Talked it through")
    fern_member.refresh_from_db()
    assert (fern_member.status, fern_member.role) == ("left", "member")  # may ask to join again, as a member
