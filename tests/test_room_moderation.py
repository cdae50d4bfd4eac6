"""Moderation in the meeting room (docs/protocol.md), through config.asgi.application.

Reports and personal blocks sent as frames; watched words on `send`; sanctions decided in the
moderation queue (moderation.actions) taking effect on sockets that are already open; room
controls in the audit log. Sockets, helpers and the frame-recording fixture (no email or user
id in any frame) are shared with tests/test_room_protocol.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.actions import access_group
from groups.models import SupportGroup
from lib.timefmt import show_time
from meetings.models import Meeting, RoomEvent
from moderation import actions as moderation
from moderation.models import AuditEntry, Block, Report, WatchedWord
from tests import rooms
from tests.conftest import add_member
from tests.rooms import going, open_meeting
from tests.test_room_protocol import (
    FRAMES,
    Sock,
    _room_sockets,  # noqa: F401  (the autouse fixture: recorded frames, sockets closed after)
    chat,
    db,
    enter,
    event_count,
    iso_close_to,
    member_id,
    membership,
    new_member,
    refused,
)

REPORTED = (
    "Thank you for telling the facilitators. They will look at it. The person you reported won't know it was you."
)


# --- Helpers -----------------------------------------------------------------------------------


def moderator_of(user: User, group: SupportGroup) -> moderation.Moderator:
    moderator = moderation.moderator_for(user, access_group(user, group.slug))
    assert moderator is not None
    return moderator


def reports(group: SupportGroup) -> list[tuple[str | None, str, str, str, str, bool, int | None]]:
    """(reporter handle, subject handle, category, wish, details, about a facilitator, seq), oldest first."""
    return [
        (
            report.reporter.handle if report.reporter else None,
            report.subject.handle,
            report.category,
            report.wish,
            report.details,
            report.about_facilitator,
            report.message_seq,
        )
        for report in Report.objects.filter(group=group).select_related("reporter", "subject").order_by("pk")
    ]


def report_count() -> int:
    return Report.objects.count()


async def gathering(circle: SupportGroup, alice: User, bob: User, owen: User) -> tuple[Meeting, dict[str, Sock]]:
    """An open room with bob (facilitator), owen (owner), sam (member) and alice (member)."""
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    sockets = {
        "bob": await enter(bob, meeting),
        "owen": await enter(owen, meeting),
        "sam": await enter(sam, meeting),
        "alice": await enter(alice, meeting),
    }
    for socket in sockets.values():
        await socket.quiet()
    return meeting, sockets


async def closed_at_once(socket: Sock, kind: str) -> dict[str, Any]:
    """The server's `notice` of `kind` and then its close (4403), each within one second. The
    notice comes first; only presence updates may come before it."""
    frames = []
    while True:
        output = await socket.communicator.receive_output(timeout=1)
        if output["type"] == "websocket.close":
            break
        assert output["type"] == "websocket.send", output
        FRAMES.append(output["text"])
        frames.append(json.loads(output["text"]))
    assert output.get("code") == 4403, output
    said = [frame for frame in frames if frame["type"] != "presence"]
    assert [(frame["type"], frame["kind"]) for frame in said] == [("notice", kind)], frames
    await socket.close()
    return said[0]


async def only_presence(socket: Sock) -> None:
    """The socket is open, and nothing but presence updates came to it (and, for a blocker,
    `skip` frames: a bare seq, saying nothing about who or what)."""
    for frame in await socket.alive():
        assert frame["type"] == "presence" or (set(frame) == {"type", "seq"} and frame["type"] == "skip"), frame


# --- report ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_report_answers_the_reporter_and_recounts_for_those_who_handle_it(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    everyone = list(sockets.values())
    sam_seq = await chat(sockets["sam"], "Nobody here understands anything", *everyone)
    bob_seq = await chat(sockets["bob"], "Let's keep to our own experience", *everyone)
    owen_seq = await chat(sockets["owen"], "Welcome, everyone", *everyone)

    # About a member: the reporter alone is answered; bob and owen (who handle it) get their count.
    await sockets["alice"].send(
        {"type": "report", "seq": sam_seq, "category": "harassment", "details": "Dismissive", "wish": "remove"}
    )
    reported = await sockets["alice"].next_frame()
    first = await db(lambda: Report.objects.get(message_seq=sam_seq).public_id)
    assert reported == {"type": "reported", "seq": sam_seq, "report": first, "message": REPORTED}
    assert await sockets["bob"].next_frame() == {"type": "reports", "open": 1}
    assert await sockets["owen"].next_frame() == {"type": "reports", "open": 1}
    for socket in everyone:
        await only_presence(socket)  # sam (reported) hears nothing at all

    # About bob, a facilitator: only the owner handles it. Bob gets nothing, not even his
    # unchanged count (a frame at that moment would tell him something was filed).
    await sockets["alice"].send({"type": "report", "seq": bob_seq, "category": "other"})
    reported = await sockets["alice"].next_frame()
    assert (reported["type"], reported["seq"]) == ("reported", bob_seq)
    assert await sockets["owen"].next_frame() == {"type": "reports", "open": 2}
    for socket in everyone:
        await only_presence(socket)

    # About owen, the owner: for site staff only. Nobody in the room hears anything.
    await sockets["sam"].send({"type": "report", "seq": owen_seq, "category": "spam", "wish": "keep_away"})
    assert (await sockets["sam"].next_frame())["type"] == "reported"
    for socket in everyone:
        await only_presence(socket)

    assert await db(reports, circle) == [
        ("Quiet Harbor", "Still Water", "harassment", "remove", "Dismissive", False, sam_seq),
        ("Quiet Harbor", "Calm Heron", "other", "inform", "", True, bob_seq),
        ("Still Water", "Steady Lantern", "spam", "keep_away", "", True, owen_seq),
    ]
    # A facilitator's welcome carries the count; a member's has none.
    _socket, welcome = await rooms.connect(bob, meeting)
    assert welcome["reports_open"] == 1
    _socket, welcome = await rooms.connect(owen, meeting)
    assert welcome["reports_open"] == 2
    _socket, welcome = await rooms.connect(alice, meeting)
    assert "reports_open" not in welcome
    # Closing a report recounts too.
    report = await db(lambda: Report.objects.get(public_id=first))
    await db(moderation.do_close_report, await db(moderator_of, bob, circle), report, action_taken=False)
    assert await sockets["bob"].receive_type("reports") == {"type": "reports", "open": 0}
    assert await sockets["owen"].receive_type("reports") == {"type": "reports", "open": 1}
    await only_presence(sockets["alice"])
    await only_presence(sockets["sam"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_report_refusals_store_nothing_and_keep_the_socket_open(circle, alice, bob, owen) -> None:
    _meeting, sockets = await gathering(circle, alice, bob, owen)
    everyone = list(sockets.values())
    own = await chat(sockets["alice"], "I had a hard week", *everyone)
    seq = await chat(sockets["sam"], "Me too", *everyone)
    await sockets["bob"].send({"type": "react", "seq": own, "reaction": "strength"})
    reaction = (await sockets["alice"].receive_type("reaction"))["seq"]
    await sockets["alice"].send({"type": "report", "seq": seq, "category": "spam"})
    assert (await sockets["alice"].receive_type("reported"))["seq"] == seq
    for socket in everyone:
        await socket.alive()
    assert await db(report_count) == 1

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"seq": own, "category": "harassment"}, "invalid", "You can't report your own message."),
        ({"seq": seq, "category": "harassment"}, "invalid", "You have already reported this message."),
        ({"seq": 999, "category": "harassment"}, "not_found", "There is no message 999."),
        ({"seq": reaction, "category": "harassment"}, "not_found", f"There is no message {reaction}."),
        ({"seq": seq, "category": "nonsense"}, "invalid", "Choose what is wrong from the list."),
        ({"seq": seq, "category": "watched_word"}, "invalid", "Choose what is wrong from the list."),
        ({"seq": seq, "category": "spam", "wish": "revenge"}, "invalid", "Choose what you would like"),
        ({"seq": seq, "category": "spam", "details": "x" * 2001}, "invalid", "Details can be up to 2000"),
        ({"category": "spam"}, "invalid", "missing a field"),
        ({"seq": seq}, "invalid", "missing a field"),
        ({"seq": str(seq), "category": "spam"}, "invalid", "missing a field"),
        ({"seq": True, "category": "spam"}, "invalid", "missing a field"),
    ]
    for fields, code, message in cases:
        await sockets["alice"].send({"type": "report", **fields})
        error = await sockets["alice"].error(code)
        assert message in error["message"], (fields, error)
        await only_presence(sockets["alice"])  # still open; nothing else came
    assert await db(report_count) == 1
    for socket in everyone:
        await only_presence(socket)  # nobody was told of any of it


# --- block -------------------------------------------------------------------------------------------


async def three_in_a_room(
    circle: SupportGroup, alice: User, bob: User, charlie: User
) -> tuple[Meeting, Sock, Sock, Sock]:
    """bob (facilitator), charlie (a member now: "Bright Fern") and alice, in an open room."""
    meeting = await db(open_meeting, circle)
    await db(add_member, circle, charlie, "Bright Fern")
    await db(going, meeting, alice, charlie)
    bob_socket = await enter(bob, meeting)
    charlie_socket = await enter(charlie, meeting)
    alice_socket = await enter(alice, meeting)
    for socket in (bob_socket, charlie_socket, alice_socket):
        await socket.quiet()
    return meeting, bob_socket, charlie_socket, alice_socket


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_block_hides_a_member_from_the_blocker_alone(circle, alice, bob, charlie) -> None:
    meeting, bob_socket, charlie_socket, alice_socket = await three_in_a_room(circle, alice, bob, charlie)
    charlie_member = await db(member_id, circle, charlie)
    everyone = (bob_socket, charlie_socket, alice_socket)
    welcome_seq = await chat(bob_socket, "Welcome", *everyone)
    before = await chat(charlie_socket, "Hi, I'm new", *everyone)

    await alice_socket.send({"type": "block", "member": charlie_member, "on": True})
    assert await alice_socket.next_frame() == {"type": "blocked", "member": charlie_member, "on": True}
    await only_presence(charlie_socket)  # he is not told
    await only_presence(bob_socket)

    # His new messages and reactions reach everyone else, never alice.
    hidden = await chat(charlie_socket, "You're all doing it wrong", charlie_socket, bob_socket)
    await charlie_socket.send({"type": "react", "seq": welcome_seq, "reaction": "thanks"})
    for socket in (bob_socket, charlie_socket):
        assert (await socket.receive_type("reaction"))["member"] == charlie_member
    await only_presence(alice_socket)
    after = await chat(bob_socket, "Quiet Harbor, would you like to share?", *everyone)
    mine = await chat(alice_socket, "Yes, thank you", *everyone)
    await charlie_socket.send({"type": "react", "seq": mine, "reaction": "me_too"})
    assert (await bob_socket.receive_type("reaction"))["target"] == mine
    await only_presence(alice_socket)
    # Catching up from 0 leaves out everything of his, the earlier message too.
    await alice_socket.send({"type": "resume", "last_seq": 0})
    replay = [await alice_socket.next_frame() for _ in range(4)]
    assert [(frame["type"], frame.get("seq")) for frame in replay] == [
        ("message", welcome_seq),
        ("message", after),
        ("message", mine),
        ("caught_up", None),
    ]
    assert replay[-1] == {"type": "caught_up", "last_seq": mine + 1, "more": False}
    assert before < hidden < after
    # A new socket of hers knows whom she hides.
    again, welcome = await rooms.connect(alice, meeting)
    assert welcome["hidden"] == [charlie_member]
    await chat(charlie_socket, "Still here", charlie_socket, bob_socket)
    await only_presence(again)
    await again.close()

    # Unblocking shows him again, live and in the catch-up.
    await alice_socket.send({"type": "block", "member": charlie_member, "on": False})
    while (frame := await alice_socket.next_frame())["type"] == "skip":  # his "Still here", as a bare seq
        assert set(frame) == {"type", "seq"}
    assert frame == {"type": "blocked", "member": charlie_member, "on": False}
    back = await chat(charlie_socket, "Sorry about earlier", *everyone)
    await alice_socket.send({"type": "resume", "last_seq": 0})
    replayed = []
    while (frame := await alice_socket.next_frame())["type"] != "caught_up":
        replayed.append(frame["seq"])
    assert replayed == list(range(1, back + 1))
    assert await db(lambda: Block.objects.count()) == 0
    await only_presence(charlie_socket)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_block_refusals(circle, alice, bob, charlie) -> None:
    _meeting, bob_socket, charlie_socket, alice_socket = await three_in_a_room(circle, alice, bob, charlie)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"member": await db(member_id, circle, alice)}, "invalid", "You can't block yourself."),
        ({"member": "NoSuchMember"}, "not_found", "There is no such member in this group."),
        ({"member": 5}, "not_found", "There is no such member in this group."),
        ({}, "invalid", "missing a field"),
        ({"member": await db(member_id, circle, charlie), "on": "yes"}, "invalid", "missing a field"),
    ]
    for fields, code, message in cases:
        await alice_socket.send({"type": "block", **fields})
        error = await alice_socket.error(code)
        assert message in error["message"], (fields, error)
        await only_presence(alice_socket)  # still open; nothing else came
    assert await db(lambda: Block.objects.count()) == 0
    await only_presence(bob_socket)
    await only_presence(charlie_socket)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_block_made_on_a_page_holds_on_open_sockets_in_every_room(circle, alice, bob, charlie) -> None:
    _meeting, bob_socket, charlie_socket, alice_socket = await three_in_a_room(circle, alice, bob, charlie)
    other = await db(open_meeting, circle, starts_in=timedelta(minutes=2))
    await db(going, other, alice, charlie)
    elsewhere = [await enter(alice, other), await enter(charlie, other)]
    charlie_member = await db(member_id, circle, charlie)
    url = reverse("moderation:block", args=[circle.slug, charlie_member])

    def post(data: dict[str, str]) -> int:
        client = Client()
        client.force_login(alice)
        return client.post(url, data).status_code

    assert await db(post, {}) == 302
    await chat(charlie_socket, "Hidden here", charlie_socket, bob_socket)
    await chat(elsewhere[1], "And hidden there", elsewhere[1])
    await only_presence(alice_socket)
    await only_presence(elsewhere[0])
    await chat(bob_socket, "Seen", bob_socket, charlie_socket, alice_socket)

    assert await db(post, {"on": "0"}) == 302
    await chat(charlie_socket, "Seen again", charlie_socket, bob_socket, alice_socket)
    await chat(elsewhere[1], "Seen there too", *elsewhere)

    # The same through moderation.actions, as any other page would.
    await db(moderation.do_block, await db(membership, circle, alice), charlie_member)
    await chat(charlie_socket, "Hidden once more", charlie_socket, bob_socket)
    await only_presence(alice_socket)


# --- watched words ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_watched_words_on_send(circle, alice, bob, owen, dana, settings) -> None:
    settings.ROOM_MESSAGES_PER_WINDOW = 100
    meeting, sockets = await gathering(circle, alice, bob, owen)
    everyone = list(sockets.values())
    moderator = await db(moderator_of, bob, circle)
    await db(moderation.do_add_watched_word, moderator, None, "kill", WatchedWord.Action.BLOCK)
    await db(moderation.do_add_watched_word, moderator, None, "pills", WatchedWord.Action.FLAG)
    await db(moderation.do_add_watched_word, None, dana, "end it all", WatchedWord.Action.CRISIS)  # site-wide
    alice_member = await db(member_id, circle, alice)

    # block: refused with the phrase named, nothing stored, nobody else gets anything.
    for index, body in enumerate(("I could kill him", "I could K1LL him", "I could k i l l him", "KIIILL")):
        await sockets["alice"].send({"type": "send", "client_id": f"c-block-{index}", "body": body})
        error = await sockets["alice"].error("watched_word")
        assert (
            error["message"]
            == "Your message wasn't sent: “kill” isn't allowed in this group. Please put it another way."
        )
        assert error["client_id"] == f"c-block-{index}"
    assert await db(event_count, meeting) == 0
    for socket in everyone:
        await only_presence(socket)
    # Not inside another word.
    await chat(sockets["alice"], "I'm learning a new skill", *everyone)

    # flag: delivered to everyone; a report is filed by itself; those who handle it get their count.
    flagged = await chat(sockets["alice"], "Has anyone stopped taking their p1lls?", *everyone)
    assert await db(reports, circle) == [
        (None, "Quiet Harbor", "watched_word", "inform", "Watched word: pills", False, flagged)
    ]
    assert await sockets["bob"].next_frame() == {"type": "reports", "open": 1}
    assert await sockets["owen"].next_frame() == {"type": "reports", "open": 1}
    for socket in everyone:
        await only_presence(socket)  # the sender is not told; sam hears nothing

    # crisis: delivered; the sender alone gets resources; the room's facilitators an alert.
    crisis = await chat(sockets["alice"], "Some days I want to 3nd it @ll", *everyone)
    notice = await sockets["alice"].next_frame()
    assert set(notice) == {"type", "kind", "message", "region", "emergency", "resources", "help_url"}
    assert (notice["type"], notice["kind"], notice["region"]) == ("notice", "crisis", "United Kingdom")
    assert notice["message"].startswith("You're not alone.") and "Only you can see this." in notice["message"]
    assert notice["emergency"].startswith("Call 999.")
    assert [resource["name"] for resource in notice["resources"]][-1] == "Samaritans"
    assert notice["help_url"] == reverse("help")
    for name in ("bob", "owen"):
        alert = await sockets[name].next_frame()
        assert alert == {
            "type": "alert",
            "kind": "crisis",
            "seq": crisis,
            "member": alice_member,
            "handle": "Quiet Harbor",
            "message": (
                f"Quiet Harbor may be in crisis (message {crisis}). Crisis resources were sent to them privately."
            ),
        }
    for socket in everyone:
        await only_presence(socket)  # one notice, one alert each; sam gets neither
    assert await db(report_count) == 1

    # The most serious word decides: a message with a blocked word and a flagged one is refused.
    await sockets["alice"].send({"type": "send", "client_id": "c-both", "body": "pills could kill"})
    await sockets["alice"].error("watched_word")
    assert await db(report_count) == 1
    for socket in everyone:
        await only_presence(socket)

    # A blocked word never silences a crisis: refused, but the sender still gets help and the
    # facilitators still hear (about a message nobody else saw).
    await sockets["alice"].send({"type": "send", "client_id": "c-crisis", "body": "I want to end it all, kill it"})
    frames = [await sockets["alice"].next_frame() for _ in range(2)]
    assert sorted((frame["type"], frame.get("kind") or frame.get("code")) for frame in frames) == [
        ("error", "watched_word"),
        ("notice", "crisis"),
    ]
    for name in ("bob", "owen"):
        alert = await sockets[name].next_frame()
        assert (alert["type"], alert["seq"]) == ("alert", None)
        assert alert["message"] == (
            "Quiet Harbor may be in crisis (in a message that was not sent). "
            "Crisis resources were sent to them privately."
        )
    for socket in everyone:
        await only_presence(socket)


# --- Sanctions from the moderation queue, on open sockets -----------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_timeout_and_warning_reach_the_open_socket(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    everyone = list(sockets.values())
    moderator = await db(moderator_of, bob, circle)
    alice_member = await db(member_id, circle, alice)
    seq = await chat(sockets["bob"], "Let's begin", *everyone)

    await db(moderation.do_sanction, moderator, alice_member, "warn", reason="Please stay on topic")
    notice = await sockets["alice"].next_frame()
    assert notice == {
        "type": "notice",
        "kind": "warning",
        "message": "A warning from the facilitators of Tuesday Circle: Please stay on topic",
        "reason": "Please stay on topic",
    }
    await chat(sockets["alice"], "Sorry, back to it", *everyone)  # a warning changes nothing else

    started = timezone.now()
    await db(moderation.do_sanction, moderator, alice_member, "timeout", reason="Please cool down", minutes=10)
    notice = await sockets["alice"].next_frame()
    assert set(notice) == {"type", "kind", "message", "until", "reason"}
    assert (notice["kind"], notice["reason"]) == ("timeout", "Please cool down")
    until = await db(lambda: membership(circle, alice).timeout_until)
    assert notice["until"] == until.isoformat()
    iso_close_to(notice["until"], started + timedelta(minutes=10))
    local = show_time(until, alice.timezone, circle.timezone).local
    assert (
        notice["message"] == f"You can't write in the rooms of Tuesday Circle until {local}. Reason: Please cool down"
    )
    for name in ("bob", "owen", "sam"):
        await only_presence(sockets[name])  # for her alone

    before = await db(event_count, meeting)
    await sockets["alice"].send({"type": "send", "client_id": "c-paused", "body": "But I wasn't done"})
    error = await sockets["alice"].error("timed_out")
    assert error["message"] == "A facilitator paused your writing in this group's rooms. Reason: Please cool down"
    assert (error["until"], error["client_id"]) == (notice["until"], "c-paused")
    assert await db(event_count, meeting) == before
    for socket in everyone:
        await only_presence(socket)
    # She still reads and reacts.
    await sockets["alice"].send({"type": "react", "seq": seq, "reaction": "thanks"})
    assert (await sockets["bob"].receive_type("reaction"))["reaction"] == "thanks"

    with time_machine.travel(until + timedelta(seconds=5), tick=True):
        await chat(sockets["alice"], "Thank you for waiting", *everyone)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_ban_closes_the_members_sockets_at_once(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    second = await enter(alice, meeting)
    await second.quiet()
    moderator = await db(moderator_of, bob, circle)

    await db(moderation.do_sanction, moderator, await db(member_id, circle, alice), "ban", reason="Threats")
    for socket in (sockets["alice"], second):
        notice = await closed_at_once(socket, "ban")
        assert notice == {
            "type": "notice",
            "kind": "ban",
            "message": (
                "You are banned from Tuesday Circle. Reason: Threats You can no longer be in this group's rooms."
            ),
        }
    await refused(alice, meeting, "not_found")
    people = (await sockets["bob"].receive_type("presence"))["people"]
    while "Quiet Harbor" in [person["handle"] for person in people]:
        people = (await sockets["bob"].receive_type("presence"))["people"]
    await chat(sockets["sam"], "Is everyone all right?", sockets["bob"], sockets["owen"], sockets["sam"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_group_suspension_closes_sockets_until_it_ends(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    moderator = await db(moderator_of, bob, circle)
    ends_at = timezone.now() + timedelta(hours=1)

    await db(
        moderation.do_sanction,
        moderator,
        await db(member_id, circle, alice),
        "suspend",
        reason="Take a break",
        ends_at=ends_at,
    )
    local = show_time(ends_at, alice.timezone, circle.timezone).local
    notice = await closed_at_once(sockets["alice"], "suspended")
    assert notice["message"] == (
        f"You are suspended from Tuesday Circle until {local}. Reason: Take a break "
        "You can no longer be in this group's rooms."
    )
    first = await refused(alice, meeting, "suspended")
    assert first["message"] == f"You are suspended from this group until {local}."
    await only_presence(sockets["sam"])

    with time_machine.travel(ends_at + timedelta(minutes=1), tick=True):
        back = await enter(alice, meeting)
        await chat(back, "I'm back", back, sockets["bob"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_site_suspension_closes_sockets_in_every_group(circle, alice, bob, owen, dana) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    from tests.conftest import make_group

    other_group = await db(make_group, name="Sunday Circle", slug="sunday-circle")
    await db(add_member, other_group, alice, "Far Harbor")
    await db(add_member, other_group, bob, "Calm Heron", role="facilitator")
    other = await db(open_meeting, other_group)
    await db(going, other, alice)
    elsewhere = await enter(alice, other)
    await elsewhere.quiet()
    ends_at = timezone.now() + timedelta(hours=1)  # the room is open for 110 minutes

    await db(moderation.do_suspend_account, dana, alice, reason="Spam everywhere", ends_at=ends_at)
    for socket in (sockets["alice"], elsewhere):
        notice = await closed_at_once(socket, "suspended")
        assert notice["message"] == "Your account is suspended. Reason: Spam everywhere"
    first = await refused(alice, meeting, "suspended")
    assert first["message"] == "Your account is suspended."
    await refused(alice, other, "suspended")
    await chat(sockets["sam"], "Carry on", sockets["sam"], sockets["bob"])

    with time_machine.travel(ends_at + timedelta(minutes=1), tick=True):
        back = await enter(alice, meeting)
        await chat(back, "I'm back", back, sockets["bob"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_remove_from_a_meeting_closes_that_socket_only(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    other = await db(open_meeting, circle, starts_in=timedelta(minutes=3))
    await db(going, other, alice)
    elsewhere = await enter(alice, other)
    moderator = await db(moderator_of, bob, circle)

    await db(
        moderation.do_sanction,
        moderator,
        await db(member_id, circle, alice),
        "remove",
        reason="Disruptive",
        meeting_public_id=meeting.public_id,
    )
    notice = await closed_at_once(sockets["alice"], "removed")
    assert notice == {
        "type": "notice",
        "kind": "removed",
        "message": "A facilitator removed you from this meeting. Reason: Disruptive",
        "reason": "Disruptive",
    }
    await refused(alice, meeting, "removed")
    await chat(elsewhere, "Still here in the other room", elsewhere)  # the other meeting: untouched
    await chat(sockets["sam"], "Carry on", sockets["sam"], sockets["bob"])


# --- Audit log -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_room_controls_are_in_the_audit_log(circle, alice, bob, owen) -> None:
    meeting, sockets = await gathering(circle, alice, bob, owen)
    everyone = list(sockets.values())
    alice_member = await db(member_id, circle, alice)
    sam_member = await db(lambda: membership(circle, User.objects.get(email="sam@example.com")).public_id)
    seq = await chat(sockets["alice"], "My cousin Jane Smith at 12 Elm Street", *everyone)
    bob_socket = sockets["bob"]
    frames: list[dict[str, Any]] = [
        {"type": "delete", "seq": seq, "reason": "Names someone"},
        {"type": "mute", "member": alice_member, "minutes": 5, "reason": "Too many messages"},
        {"type": "unmute", "member": alice_member},
        {"type": "give_floor", "member": sam_member},
        {"type": "end_share"},
        {"type": "phase", "phase": "shares", "no_crosstalk": False},
        {"type": "lock", "locked": True},
        {"type": "slow_mode", "seconds": 30},
        {"type": "remove", "member": alice_member, "reason": "Abusive"},
        {"type": "end", "reason": "Time is up"},
    ]
    for frame in frames[:-1]:
        await bob_socket.send(frame)
        await bob_socket.alive()
    await bob_socket.send(frames[-1])
    await bob_socket.receive_type("notice")

    def entries() -> list[tuple[str, int | None, str, int | None, str, str, dict[str, Any]]]:
        return [
            (e.action, e.actor_id, e.actor_label, e.target_id, e.target_label, e.reason, e.detail)
            for e in AuditEntry.objects.filter(action__startswith="room.").order_by("pk")
        ]

    alice_row = await db(lambda: membership(circle, alice).pk)
    sam_row = await db(lambda: membership(circle, User.objects.get(email="sam@example.com")).pk)
    m = {"meeting": meeting.public_id}
    assert await db(entries) == [
        ("room.delete_message", bob.pk, "Calm Heron", alice_row, "Quiet Harbor", "Names someone", {**m, "seq": seq}),
        ("room.mute", bob.pk, "Calm Heron", alice_row, "Quiet Harbor", "Too many messages", {**m, "minutes": 5}),
        ("room.unmute", bob.pk, "Calm Heron", alice_row, "Quiet Harbor", "", m),
        ("room.give_floor", bob.pk, "Calm Heron", sam_row, "Still Water", "", m),
        ("room.end_share", bob.pk, "Calm Heron", None, "", "", m),
        ("room.phase", bob.pk, "Calm Heron", None, "", "", {**m, "phase": "shares", "no_crosstalk": False}),
        ("room.lock", bob.pk, "Calm Heron", None, "", "", m),
        ("room.slow_mode", bob.pk, "Calm Heron", None, "", "", {**m, "seconds": 30}),
        ("room.remove", bob.pk, "Calm Heron", alice_row, "Quiet Harbor", "Abusive", m),
        ("room.end", bob.pk, "Calm Heron", None, "", "Time is up", m),
    ]
    assert await db(
        lambda: set(AuditEntry.objects.filter(action__startswith="room.").values_list("group_id", flat=True))
    ) == {circle.pk}

    # The owner reads them on the group's audit page.
    def page() -> str:
        client = Client()
        client.force_login(owen)
        response = client.get(reverse("moderation:audit", args=[circle.slug]))
        assert response.status_code == 200
        return response.content.decode()

    html = await db(page)
    for text in ("room.mute", "room.remove", "Calm Heron", "Quiet Harbor", "Too many messages", "Abusive"):
        assert text in html
    assert await db(lambda: RoomEvent.objects.filter(room__meeting=meeting).count()) == 2  # message, deletion
