"""Deleting an account and erasing it after the grace period (docs/privacy.md, "Account
deletion"), from the outside: the page, other people's pages and sockets, and the database."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client
from django.urls import reverse

from accounts import lifecycle
from accounts.actions import do_notify
from accounts.models import Notice, NoticeKind, User
from accounts.tasks import erase_deleted_accounts
from groups.actions import do_change_handle
from groups.models import HandleChange, Membership, SupportGroup
from meetings.actions import do_rsvp
from meetings.models import Meeting, Reminder, RoomEvent, Rsvp
from moderation import actions as moderation
from moderation.models import AuditEntry, Block, Report
from tests.conftest import PASSWORD, add_member, make_group, make_user, one_off_meeting, utc
from tests.rooms import going, open_meeting
from tests.test_export import message, moderator_of, past_meeting
from tests.test_room_protocol import (
    FRAMES,
    _room_sockets,  # noqa: F401  (autouse: frames recorded and checked for emails and ids)
    db,
    enter,
    refused,
)

URL = "/accounts/delete/"
CONFIRM = {"password": PASSWORD, "confirmation": "delete my account"}
SECRET_WORDS = "The flat on Elm Road"


def delete_through_page(client: Client) -> None:
    response = client.post(URL, CONFIRM)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:deleted")
    goodbye = client.get(response["Location"])
    assert goodbye.status_code == 200 and "Your account is deleted" in goodbye.content.decode()
    assert goodbye["Clear-Site-Data"] == '"cache", "storage"'


def mine(group: SupportGroup, user: User) -> Membership:
    return Membership.objects.get(group=group, user=user)


@pytest.fixture
def history(frozen, circle: SupportGroup, alice: User, bob: User, owen: User) -> dict[str, Any]:
    """alice's traces: a renamed handle, messages in a past meeting (one reported by bob,
    with her report of bob), an RSVP, a block and a notice."""
    member = mine(circle, alice)
    do_change_handle(member, "Quiet Meadow")
    meeting = past_meeting(circle)
    message(meeting, member, 1, SECRET_WORDS)
    bobs_words = message(meeting, mine(circle, bob), 2, "Bob answers")
    moderation.do_report_message(
        mine(circle, bob), meeting.public_id, 1, category="identity", details="Too much detail", wish="remove"
    )
    moderation.do_report_message(member, meeting.public_id, bobs_words.seq, category="other", wish="inform")
    later = one_off_meeting(circle, owen, utc(2026, 3, 9, 19))
    do_rsvp(member, later, going=True)
    moderation.do_block(member, mine(circle, bob).public_id)
    do_notify(alice, NoticeKind.MEMBERSHIP, "A note for Quiet Meadow only")
    return {"meeting": meeting, "later": later}


def close_reports(owen: User, circle: SupportGroup) -> None:
    for report in Report.objects.filter(status__in=Report.OPEN_STATUSES):
        moderation.do_close_report(moderator_of(owen, circle), report, action_taken=False)


# --- The page ------------------------------------------------------------------------------------


def test_page_explains_the_consequences(alice_client: Client) -> None:
    html = alice_client.get(URL).content.decode()
    assert "after 14 days" in html and "“former member”" in html and "can't be undone" in html
    assert 'name="password"' in html and 'name="confirmation"' in html and "Type “delete my account”." in html


@pytest.mark.parametrize(
    "data",
    [
        {"password": "wrong password", "confirmation": "delete my account"},
        {"password": PASSWORD, "confirmation": ""},
        {"password": PASSWORD, "confirmation": "yes"},
        {"confirmation": "delete my account"},
    ],
)
def test_wrong_password_or_confirmation_changes_nothing(circle, alice_client: Client, alice: User, data) -> None:
    response = alice_client.post(URL, data)
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.is_active and alice.deleted_at is None
    member = mine(circle, alice)
    assert member.status == "active" and member.handle == "Quiet Harbor"
    assert alice_client.get(reverse("accounts:settings")).status_code == 200  # still logged in


def test_goodbye_page_only_after_a_deletion(client: Client, db: None) -> None:
    assert client.get(reverse("accounts:deleted"))["Location"] == reverse("home")


# --- Deleting ----------------------------------------------------------------------------------


def test_deletion_deactivates_leaves_every_group_and_logs_out_everywhere(
    frozen, circle: SupportGroup, alice: User, owen: User, charlie: User, client: Client
) -> None:
    meeting = one_off_meeting(circle, owen, utc(2026, 3, 9, 19), capacity=1)
    add_member(circle, charlie, "Open Meadow")
    do_rsvp(mine(circle, alice), meeting, going=True)
    do_rsvp(mine(circle, charlie), meeting, going=True)  # waitlisted behind alice
    other = make_group(name="Sunday Garden", slug="sunday-garden", join_policy="approval")
    add_member(other, owen, "Warm Kettle", role="owner")
    add_member(other, alice, "Bright Wren", status="pending")
    assert Reminder.objects.filter(membership__user=alice).exists()
    elsewhere = Client()
    elsewhere.force_login(alice)
    assert elsewhere.get(reverse("accounts:settings")).status_code == 200
    client.force_login(alice)

    delete_through_page(client)

    alice.refresh_from_db()
    assert not alice.is_active and alice.deleted_at == utc(2026, 3, 2, 12) and alice.erased_at is None
    assert set(Membership.objects.filter(user=alice).values_list("status", "handle")) == {("left", "former member")}
    assert Rsvp.objects.get(membership__user=alice).status == "not_going"
    assert Rsvp.objects.get(membership__user=charlie).status == "going"  # the waitlist moved on
    assert not Reminder.objects.filter(membership__user=alice).exists()
    for session in (client, elsewhere):
        response = session.get(reverse("accounts:settings"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    # She can't log in, and the answer is the one for a wrong password.
    login = Client().post(reverse("accounts:login"), {"username": "alice@example.com", "password": PASSWORD})
    assert login.status_code == 400
    page = login.content.decode().lower()
    assert "inactive" not in page and "deleted" not in page and "correct" in page
    # Until erasure, the address can't sign up again.
    signup = Client().post(
        reverse("accounts:signup"),
        {"email": "alice@example.com", "password1": "a new long passphrase", "password2": "a new long passphrase"},
    )
    assert signup.status_code == 400 and not User.objects.filter(is_active=True, email="alice@example.com").exists()


def test_sole_owner_can_delete_and_staff_are_asked_to_appoint_one(
    frozen, circle: SupportGroup, owen: User, dana: User, client: Client
) -> None:
    client.force_login(owen)
    html = client.get(URL).content.decode()
    assert "You are the only owner of:" in html and "Tuesday Circle" in html
    delete_through_page(client)
    assert not circle.memberships.filter(status="active", role="owner").exists()
    [notice] = Notice.objects.filter(user=dana)
    assert "Tuesday Circle has no owner any more" in notice.text
    assert notice.url == reverse("groups:members", args=[circle.slug])


def test_deleting_twice_does_nothing_more(frozen, circle: SupportGroup, alice: User) -> None:
    lifecycle.do_delete_account(alice)
    alice.refresh_from_db()
    assert lifecycle.do_delete_account(alice) == lifecycle.Deletion()


def test_no_page_shows_her_handle_or_email_after_deletion(
    history: dict[str, Any], circle: SupportGroup, alice: User, bob: User, owen: User, alice_client: Client
) -> None:
    meeting = history["meeting"]
    bob_member = mine(circle, bob)
    her = mine(circle, alice)
    delete_through_page(alice_client)

    pages = [
        reverse("groups:detail", args=[circle.slug]),
        reverse("groups:members", args=[circle.slug]),
        reverse("moderation:member", args=[circle.slug, her.public_id]),
        reverse("moderation:queue", args=[circle.slug]) + "?status=all",
        reverse("moderation:audit", args=[circle.slug]),
        reverse("meetings:transcript", args=[circle.slug, meeting.public_id]),
        reverse("meetings:detail", args=[circle.slug, meeting.public_id]),
        reverse("meetings:detail", args=[circle.slug, history["later"].public_id]),
        *[reverse("moderation:report", args=[circle.slug, r.public_id]) for r in Report.objects.all()],
    ]
    seen = Client()
    seen.force_login(owen)  # the owner sees every report, including the one alice filed
    shown = []
    for url in pages:
        response = seen.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for trace in ("Quiet Harbor", "Quiet Meadow", "alice@example.com"):
            assert trace not in html, (url, trace)
        shown.append(html)
    transcript, reports = shown[5], shown[8:]
    assert SECRET_WORDS in transcript and "former member" in transcript  # kept until erasure, nameless
    assert all("former member" in html for html in reports)
    assert bob_member.handle in shown[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_her_room_socket_is_closed_and_the_room_shows_former_member(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    await alice_socket.send({"type": "send", "client_id": "a-1", "body": "Goodnight everyone"})
    await alice_socket.receive_type("ack")
    await alice_socket.receive_type("message")
    assert (await bob_socket.receive_type("message"))["handle"] == "Quiet Harbor"

    after_deletion = len(FRAMES)
    await db(lifecycle.do_delete_account, alice)

    kinds = []
    while True:
        output = await alice_socket.communicator.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
        FRAMES.append(output["text"])
        frame = json.loads(output["text"])
        if frame["type"] == "notice":
            kinds.append(frame["kind"])
    assert output["code"] == 4403 and kinds and kinds[0] in ("account_deleted", "logged_out")
    await alice_socket.close()  # the browser's side of the closing handshake
    await refused(alice, meeting, "not_found")

    # Someone arriving now reads her message under "former member"; nobody sees her handle.
    again = await enter(bob, meeting, resume=None)
    await again.send({"type": "resume", "last_seq": 0})
    frame = await again.receive_type("message")
    assert (frame["handle"], frame["body"]) == ("former member", "Goodnight everyone")
    await again.receive_type("caught_up")
    people = (await bob_socket.receive_type("presence"))["people"]
    while "former member" in [person["handle"] for person in people]:
        people = (await bob_socket.receive_type("presence"))["people"]
    assert not [text for text in FRAMES[after_deletion:] if "Quiet Harbor" in text]
    await bob_socket.close()
    await again.close()


# --- Erasure -------------------------------------------------------------------------------------


def traces_in_database(*needles: str) -> list[str]:
    """Every model (and row) whose stored values contain one of `needles`, any case."""
    found = []
    lowered = [needle.lower() for needle in needles]
    for model in apps.get_models():
        text = serializers.serialize("json", model._base_manager.all()).lower()
        found += [f"{model._meta.label}: {needle}" for needle in lowered if needle in text]
    return found


def test_erasure_after_the_grace_period_leaves_no_trace(
    history: dict[str, Any], frozen, circle: SupportGroup, alice: User, owen: User, alice_client: Client
) -> None:
    own_ids = list(Membership.objects.filter(user=alice).values_list("pk", flat=True))
    # A failed login attempt under her address is stored by the login throttle, too.
    Client().post(reverse("accounts:login"), {"username": "alice@example.com", "password": "wrong"})
    delete_through_page(alice_client)
    close_reports(owen, circle)
    needles = ("alice@example.com", "Quiet Harbor", "Quiet Meadow", SECRET_WORDS)

    frozen.shift(timedelta(days=13, hours=23))
    assert erase_deleted_accounts.delay().get() == {"erased": 0, "held": 0, "skipped": 0}
    assert User.objects.filter(email="alice@example.com").exists()

    frozen.shift(timedelta(hours=2))
    assert erase_deleted_accounts.delay().get() == {"erased": 1, "held": 0, "skipped": 0}
    assert traces_in_database(*needles) == []
    alice.refresh_from_db()
    assert alice.erased_at is not None and alice.email.endswith("@invalid") and not alice.has_usable_password()
    assert not Notice.objects.filter(user=alice).exists()
    assert not RoomEvent.objects.filter(membership_id__in=own_ids).exists()
    assert not Rsvp.objects.filter(membership_id__in=own_ids).exists()
    assert not HandleChange.objects.filter(membership_id__in=own_ids).exists()
    assert not Block.objects.filter(blocker_id__in=own_ids).exists()
    rows = Membership.objects.filter(pk__in=own_ids)
    assert {(m.status, m.handle) for m in rows} == {("left", "former member")}
    assert all(m.handle_key.startswith("erased:") for m in rows)
    # Other people's records stay: bob's report keeps its snapshot, with her line nameless.
    about_her = Report.objects.get(category="identity")
    assert [(line["handle"], line["body"]) for line in about_her.snapshot] == [
        ("former member", None),
        ("Calm Heron", "Bob answers"),
    ]
    assert Report.objects.get(category="other").details == ""
    assert AuditEntry.objects.filter(action="report.filed").count() == 2
    # The address is free again, and the task is safe to run again.
    assert erase_deleted_accounts.delay().get() == {"erased": 0, "held": 0, "skipped": 0}
    assert make_user("alice@example.com").is_active


def test_an_open_report_holds_erasure_until_it_is_closed(
    frozen, circle: SupportGroup, alice: User, bob: User, owen: User, settings
) -> None:
    settings.ACCOUNT_ERASURE_GRACE_DAYS = 3
    moderation.do_report_member(mine(circle, bob), mine(circle, alice).public_id, category="threats", wish="inform")
    lifecycle.do_delete_account(alice)
    frozen.shift(timedelta(days=4))
    assert lifecycle.erasure_holds(alice) == ["open report about them"]
    assert erase_deleted_accounts.delay().get() == {"erased": 0, "held": 1, "skipped": 0}
    assert User.objects.filter(email="alice@example.com").exists()
    report = Report.objects.get()
    assert report.subject.display_handle == "former member"

    close_reports(owen, circle)
    assert erase_deleted_accounts.delay().get() == {"erased": 1, "held": 0, "skipped": 0}
    assert not User.objects.filter(email="alice@example.com").exists()
    assert Report.objects.get().status == "dismissed"  # the case's record stays


def test_a_running_timed_sanction_holds_erasure_a_permanent_ban_does_not(
    frozen, circle: SupportGroup, alice: User, bob: User, charlie: User, settings
) -> None:
    settings.ACCOUNT_ERASURE_GRACE_DAYS = 1
    add_member(circle, charlie, "Open Meadow")
    moderator = moderator_of(bob, circle)
    moderation.do_sanction(
        moderator, mine(circle, alice).public_id, "suspend", reason="Cooling off", ends_at=utc(2026, 3, 20)
    )
    moderation.do_sanction(moderator, mine(circle, charlie).public_id, "ban", reason="Threats")
    lifecycle.do_delete_account(alice)
    lifecycle.do_delete_account(charlie)
    frozen.shift(timedelta(days=2))
    assert erase_deleted_accounts.delay().get() == {"erased": 1, "held": 1, "skipped": 0}
    assert not User.objects.filter(email="charlie@example.com").exists()
    frozen.move_to(utc(2026, 3, 20, 0, 1))
    assert erase_deleted_accounts.delay().get() == {"erased": 1, "held": 0, "skipped": 0}
    assert not User.objects.filter(email="alice@example.com").exists()


def test_erasure_is_nightly_and_configurable(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["erase-deleted-accounts"]
    assert entry["task"] == "accounts.tasks.erase_deleted_accounts"
    assert settings.ACCOUNT_ERASURE_GRACE_DAYS == 14
    assert "crontab" in type(entry["schedule"]).__name__


def test_a_meeting_she_was_to_run_loses_her(frozen, circle: SupportGroup, alice: User, owen: User) -> None:
    Membership.objects.filter(group=circle, user=alice).update(role="facilitator")
    meeting = one_off_meeting(circle, owen, utc(2026, 3, 9, 19))
    Meeting.objects.filter(pk=meeting.pk).update(facilitator=mine(circle, alice))
    lifecycle.do_delete_account(alice)
    assert Meeting.objects.get(pk=meeting.pk).facilitator is None


def test_former_member_is_shown_in_the_readers_language(
    frozen, history: dict[str, Any], circle: SupportGroup, alice: User, owen: User
) -> None:
    """Her stored handle becomes "former member" in the site's language; a reader of another
    language sees their own words, on the report's snapshot as in the transcript."""
    lifecycle.do_delete_account(alice)
    owen.language = "es"
    owen.save(update_fields=["language"])
    reader = Client()
    reader.force_login(owen)
    meeting = history["meeting"]
    pages = [
        reverse("meetings:transcript", args=[circle.slug, meeting.public_id]),
        *[reverse("moderation:report", args=[circle.slug, r.public_id]) for r in Report.objects.all()],
    ]
    for url in pages:
        html = reader.get(url).content.decode()
        assert "antiguo miembro" in html, url
        assert "former member" not in html, url
