"""The meeting room protocol (docs/protocol.md), frame by frame, through config.asgi.application.

Every socket in these tests is opened by tests.rooms.connect (Origin check, session cookie,
AuthMiddlewareStack, the real RoomConsumer). Each received frame is recorded, and after every
test all of them are checked for an email address or a user id. The limits (rate, size,
slow mode, crosstalk…) are in tests/test_room_limits.py, which shares the helpers below.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.models import Membership, SupportGroup
from lib.realtime import publish
from lib.timefmt import show_time
from meetings import events
from meetings import room_actions as room_rules
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant
from moderation.models import AuditEntry
from tests import rooms
from tests.conftest import add_member, make_user
from tests.rooms import going, open_meeting

T = TypeVar("T")

# --- Recording sockets ----------------------------------------------------------------------

FRAMES: list[str] = []  # every frame any socket received in the current test, as sent
SOCKETS: list[Sock] = []
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
FORBIDDEN_KEYS = {"user", "user_id", "email", "id", "pk"}


class Sock(rooms.Socket):
    """tests.rooms.Socket that records what it receives and can read the server's close."""

    def __init__(self, communicator: Any) -> None:
        super().__init__(communicator)
        self.open = True
        SOCKETS.append(self)

    async def send(self, frame: dict[str, Any] | str) -> None:
        """As a browser's JSON.stringify: UTF-8 text, not \\u escapes."""
        text = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False)
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        text = await self.communicator.receive_from(timeout=timeout)
        FRAMES.append(text)
        return json.loads(text)

    async def next_frame(self, timeout: float = 3) -> dict[str, Any]:
        """The next frame that is not a presence update (those come whenever people come and
        go, and through Redis a socket's own entry may be announced to it late)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] != "presence":
                return frame

    async def error(self, code: str, timeout: float = 3) -> dict[str, Any]:
        frame = await self.receive_type("error", timeout)
        assert frame["code"] == code, frame
        assert isinstance(frame["message"], str) and frame["message"]
        return frame

    async def close_code(self, timeout: float = 3) -> int:
        """Read up to the server's close (recording frames on the way); its close code."""
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return int(output.get("code", 1000))
            assert output["type"] == "websocket.send", output
            FRAMES.append(output["text"])

    async def alive(self) -> list[dict[str, Any]]:
        """The socket is still open and answers a ping; the frames that came before the pong."""
        await self.send({"type": "ping"})
        before = []
        while True:
            output = await self.communicator.receive_output(3)
            assert output["type"] != "websocket.close", f"the socket was closed with code {output.get('code')}"
            FRAMES.append(output["text"])
            frame = json.loads(output["text"])
            if frame == {"type": "pong"}:
                return before
            before.append(frame)

    async def quiet(self, timeout: float = 0.3, allow: tuple[str, ...] = ("presence",)) -> None:
        """Nothing more arrives but (by default) presence updates: no log frame, no error."""
        while not await self.nothing(timeout):
            frame = await self.receive()
            assert frame["type"] in allow, frame

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def close(self) -> None:
        if self.open:
            self.open = False
            await self.communicator.disconnect()


@pytest_asyncio.fixture(autouse=True)
async def _room_sockets(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, settings: Any, transactional_db: None
) -> AsyncIterator[None]:
    """Sockets record their frames; all are closed after the test; no frame carries an email
    or a user id (the users of the test's fixtures are checked by pk as well)."""
    monkeypatch.setattr(rooms, "Socket", Sock)
    rooms.isolate_channel_layer(settings)
    FRAMES.clear()
    SOCKETS.clear()
    yield
    for socket in SOCKETS:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()
    users = [value for value in request.node.funcargs.values() if isinstance(value, User)]
    check_frames_are_anonymous(FRAMES, users)
    # Connections opened by the consumers' database thread, closed before the test database goes.
    await database_sync_to_async(connections.close_all)()


def check_frames_are_anonymous(frames: list[str], users: list[User]) -> None:
    ids = {str(user.pk) for user in users}
    emails = [user.email.lower() for user in users]
    for text in frames:
        assert not EMAIL.search(text), text
        lowered = text.lower()
        assert not any(email in lowered for email in emails), text
        _check_value(json.loads(text), ids, text)


def _check_value(value: object, ids: set[str], text: str) -> None:
    if isinstance(value, dict):
        assert not FORBIDDEN_KEYS & set(value), text
        for item in value.values():
            _check_value(item, ids, text)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, ids, text)
    elif isinstance(value, str):
        assert value not in ids, text


# --- Helpers -----------------------------------------------------------------------------------


async def db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await database_sync_to_async(function)(*args, **kwargs)


async def enter(user: User, meeting: Meeting, resume: int | None = 0) -> Sock:
    """A socket that was welcomed (and, by default, caught up from 0)."""
    socket, first = await rooms.connect(user, meeting, resume=resume)
    assert first["type"] == "welcome", first
    assert isinstance(socket, Sock)
    return socket


async def refused(user: User | None, meeting: Meeting | str, code: str) -> dict[str, Any]:
    """Connecting is answered by one error frame with `code`, then a close with 4403."""
    socket, first = await rooms.connect(user, meeting)
    assert first["type"] == "error" and first["code"] == code, first
    assert isinstance(socket, Sock)
    assert await socket.close_code() == 4403
    assert await socket.nothing(0.05)
    return first


_counter = itertools.count(1)


async def chat(sender: Sock, body: str, *everyone: Sock) -> int:
    """`sender` posts; it gets its ack; every socket in `everyone` gets the message (next)."""
    client_id = f"c-{next(_counter)}"
    await sender.send({"type": "send", "client_id": client_id, "body": body})
    ack = await sender.receive_type("ack")
    assert ack == {"type": "ack", "client_id": client_id, "seq": ack["seq"], "duplicate": False}
    for socket in everyone:
        message = await socket.receive_type("message")
        assert (message["seq"], message["body"], message["client_id"]) == (ack["seq"], body, client_id)
    return ack["seq"]


def membership(group: SupportGroup, user: User) -> Membership:
    return Membership.objects.get(group=group, user=user)


def member_id(group: SupportGroup, user: User) -> str:
    return membership(group, user).public_id


def new_member(group: SupportGroup, email: str, handle: str, meeting: Meeting | None = None) -> User:
    user = make_user(email)
    add_member(group, user, handle)
    if meeting is not None:
        going(meeting, user)
    return user


def room_of(meeting: Meeting) -> Room:
    return Room.objects.get(meeting=meeting)


def recorded(meeting: Meeting) -> list[tuple[str | None, str | None, str, str, dict[str, Any]]]:
    """The room's controls in the audit log: (actor handle, target handle, action, reason, detail)."""
    entries = AuditEntry.objects.filter(action__startswith="room.", detail__meeting=meeting.public_id).order_by("pk")
    return [
        (
            entry.actor_label or None,
            entry.target_label or None,
            entry.action.removeprefix("room."),
            entry.reason,
            {key: value for key, value in entry.detail.items() if key != "meeting"},
        )
        for entry in entries
    ]


def event_count(meeting: Meeting) -> int:
    return RoomEvent.objects.filter(room__meeting=meeting).count()


def update(model: Any, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(model, name, value)
    model.save(update_fields=list(fields))


def iso_close_to(value: str, expected: datetime, seconds: float = 5) -> None:
    assert abs((datetime.fromisoformat(value) - expected).total_seconds()) < seconds, (value, expected)


# --- welcome, presence, pong -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_welcome_presence_per_person_and_pong(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket, welcome = await rooms.connect(bob, meeting)
    assert set(welcome) == {
        "type", "you", "room", "presence", "hands", "last_seq", "closes_at", "reactions", "hidden", "reports_open"
    }  # fmt: skip
    assert (welcome["hidden"], welcome["reports_open"]) == ([], 0)  # blocked by bob; open reports for him
    bob_member = await db(member_id, circle, bob)
    alice_member = await db(member_id, circle, alice)
    assert welcome["you"] == {
        "member": bob_member,
        "handle": "Calm Heron",
        "facilitator": True,
        "muted_until": None,
        "mute_reason": "",
    }
    assert welcome["room"] == {
        "type": "room",
        "phase": "opening",
        "no_crosstalk": True,
        "locked": False,
        "slow_mode": 0,
        "sharer": None,
        "share_ends_at": None,
        "ended": False,
        "open": True,
        "opens_at": (meeting.starts_at - timedelta(minutes=10)).isoformat(),
    }
    bob_person = {"member": bob_member, "handle": "Calm Heron", "facilitator": True}
    alice_person = {"member": alice_member, "handle": "Quiet Harbor", "facilitator": False}
    assert welcome["presence"] == {"type": "presence", "count": 1, "people": [bob_person]}
    assert welcome["hands"] == {"type": "hands", "queue": []}
    assert welcome["last_seq"] == 0
    assert welcome["closes_at"] == (meeting.ends_at + timedelta(minutes=15)).isoformat()
    assert welcome["reactions"] == {"thanks": "Thank you", "me_too": "Me too", "strength": "Sending strength"}

    await bob_socket.quiet()  # his own entry's presence (it may come after caught_up)

    # Presence counts people, not sockets: alice in two windows is one person.
    first, welcome = await rooms.connect(alice, meeting)
    assert welcome["you"] == {
        "member": alice_member,
        "handle": "Quiet Harbor",
        "facilitator": False,
        "muted_until": None,
        "mute_reason": "",
    }
    both = {"type": "presence", "count": 2, "people": [bob_person, alice_person]}
    assert await bob_socket.receive_type("presence") == both
    second, welcome = await rooms.connect(alice, meeting)
    assert welcome["presence"] == both
    assert await bob_socket.receive_type("presence") == both
    await first.close()
    assert await bob_socket.receive_type("presence") == both
    await second.close()
    assert await bob_socket.receive_type("presence") == {"type": "presence", "count": 1, "people": [bob_person]}

    await bob_socket.send({"type": "ping"})
    assert await bob_socket.next_frame() == {"type": "pong"}
    await bob_socket.quiet()


# --- The log: message, deletion, reaction, caught_up -------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_message_reaction_deletion_frames_and_replay(circle, alice, bob, owen) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    alice_member = await db(member_id, circle, alice)
    bob_member = await db(member_id, circle, bob)

    await alice_socket.send({"type": "send", "client_id": "c-hello", "body": "  Hello everyone \n"})
    ack = await alice_socket.receive_type("ack")
    assert ack == {"type": "ack", "client_id": "c-hello", "seq": 1, "duplicate": False}
    message = await bob_socket.receive_type("message")
    assert set(message) == {"type", "seq", "member", "handle", "at", "client_id", "body"}
    assert message["seq"] == 1 and message["member"] == alice_member and message["handle"] == "Quiet Harbor"
    assert message["body"] == "Hello everyone" and message["client_id"] == "c-hello"
    iso_close_to(message["at"], timezone.now())
    assert await alice_socket.receive_type("message") == message  # the sender sees it too, once

    # A reaction, and the same reaction taken back ("on": false).
    await bob_socket.send({"type": "react", "seq": 1, "reaction": "strength"})
    reaction = await alice_socket.receive_type("reaction")
    assert {key: reaction[key] for key in ("type", "seq", "member", "handle", "target", "reaction", "on")} == {
        "type": "reaction",
        "seq": 2,
        "member": bob_member,
        "handle": "Calm Heron",
        "target": 1,
        "reaction": "strength",
        "on": True,
    }
    assert set(reaction) == {"type", "seq", "member", "handle", "at", "target", "reaction", "on"}
    await bob_socket.send({"type": "react", "seq": 1, "reaction": "strength", "on": True})  # already on
    await bob_socket.send({"type": "react", "seq": 1, "reaction": "strength", "on": False})
    taken_back = await alice_socket.receive_type("reaction")
    assert (taken_back["seq"], taken_back["target"], taken_back["on"]) == (3, 1, False)
    await bob_socket.send({"type": "react", "seq": 1, "reaction": "thanks", "on": False})  # was never on
    await bob_socket.alive()
    await alice_socket.quiet()
    assert await db(event_count, meeting) == 3

    # The author deletes her message: a deletion entry; no audit entry for one's own message.
    await alice_socket.send({"type": "delete", "seq": 1})
    deletion = await bob_socket.receive_type("deletion")
    assert set(deletion) == {"type", "seq", "member", "handle", "at", "target"}
    assert (deletion["seq"], deletion["member"], deletion["target"]) == (4, alice_member, 1)
    assert await db(recorded, meeting) == []

    # Replay from 0: the deleted message keeps its place without its words.
    late = await enter(owen, meeting, resume=None)
    await late.send({"type": "resume", "last_seq": 0})
    replay = [await late.receive_type("message")]
    replay += [await late.next_frame() for _ in range(3)]
    assert [frame["seq"] for frame in replay] == [1, 2, 3, 4]
    assert replay[0]["body"] is None and replay[0]["deleted"] is True and replay[0]["client_id"] == "c-hello"
    assert [frame["type"] for frame in replay] == ["message", "reaction", "reaction", "deletion"]
    assert replay[1]["at"] == reaction["at"] and replay[3] == deletion
    assert await late.next_frame() == {"type": "caught_up", "last_seq": 4, "more": False}
    # Resuming from the end: nothing, then caught_up.
    await late.send({"type": "resume", "last_seq": 4})
    assert await late.next_frame() == {"type": "caught_up", "last_seq": 4, "more": False}

    # A person who left the group shows as "former member".
    await chat(bob_socket, "Welcome", bob_socket, alice_socket, late)
    await db(update, await db(membership, circle, alice), status=Membership.Status.LEFT)
    await late.send({"type": "resume", "last_seq": 0})
    replay = [await late.next_frame() for _ in range(5)]
    assert replay[0]["handle"] == "former member" and replay[3]["handle"] == "former member"
    assert replay[4]["handle"] == "Calm Heron" and replay[4]["body"] == "Welcome"
    assert (await late.receive_type("caught_up"))["last_seq"] == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_deleting_another_persons_message(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    sam_socket = await enter(sam, meeting)
    seq = await chat(alice_socket, "Something I regret", alice_socket, bob_socket, sam_socket)

    # A member may not delete someone else's message.
    await sam_socket.send({"type": "delete", "seq": seq, "reason": "mine now"})
    await sam_socket.error("not_allowed")
    await sam_socket.alive()
    await alice_socket.quiet()
    await bob_socket.quiet()

    # A facilitator may, and it is recorded with the reason.
    await bob_socket.send({"type": "delete", "seq": seq, "reason": "Names a third party"})
    for socket in (alice_socket, bob_socket, sam_socket):
        deletion = await socket.receive_type("deletion")
        assert (deletion["target"], deletion["handle"], deletion["seq"]) == (seq, "Calm Heron", seq + 1)
    assert await db(recorded, meeting) == [
        ("Calm Heron", "Quiet Harbor", "delete_message", "Names a third party", {"seq": seq})
    ]
    await alice_socket.send({"type": "delete", "seq": seq})
    await alice_socket.error("already_deleted")
    await alice_socket.alive()
    stored = await db(lambda: RoomEvent.objects.get(room__meeting=meeting, seq=seq))
    assert stored.deleted_at is not None


# --- hands, give_floor, end_share, phase --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_hands_give_floor_end_share_and_phase(circle, alice, bob) -> None:
    await db(update, circle, share_minutes=7)
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    sam_socket = await enter(sam, meeting)
    alice_person = {"member": await db(member_id, circle, alice), "handle": "Quiet Harbor"}
    sam_person = {"member": await db(member_id, circle, sam), "handle": "Still Water"}

    await alice_socket.send({"type": "hand", "raised": True})
    assert await bob_socket.receive_type("hands") == {"type": "hands", "queue": [alice_person]}
    await sam_socket.send({"type": "hand", "raised": True})
    assert await bob_socket.receive_type("hands") == {"type": "hands", "queue": [alice_person, sam_person]}
    await alice_socket.send({"type": "hand", "raised": True})  # already raised: nothing new
    await alice_socket.alive()
    await bob_socket.quiet()
    _late, welcome = await rooms.connect(bob, meeting)  # a new socket sees the queue in its welcome
    assert welcome["hands"] == {"type": "hands", "queue": [alice_person, sam_person]}

    # The phase, with no crosstalk.
    await bob_socket.send({"type": "phase", "phase": "shares", "no_crosstalk": True})
    for socket in (alice_socket, sam_socket, bob_socket):
        state = await socket.receive_type("room")
        assert (state["phase"], state["no_crosstalk"], state["sharer"]) == ("shares", True, None)

    # give_floor: her hand goes down, she is the sharer for the group's share_minutes.
    await bob_socket.send({"type": "give_floor", "member": alice_person["member"]})
    for socket in (alice_socket, sam_socket, bob_socket):
        assert await socket.receive_type("hands") == {"type": "hands", "queue": [sam_person]}
        state = await socket.receive_type("room")
        assert state["sharer"] == alice_person and state["phase"] == "shares" and state["ended"] is False
        iso_close_to(state["share_ends_at"], timezone.now() + timedelta(minutes=7))
    participant = await db(
        lambda: RoomParticipant.objects.get(room__meeting=meeting, membership__user=alice).hand_raised_at
    )
    assert participant is None

    await bob_socket.send({"type": "end_share"})
    state = await sam_socket.receive_type("room")
    assert state["sharer"] is None and state["share_ends_at"] is None and state["phase"] == "shares"
    await sam_socket.send({"type": "hand", "raised": False})
    assert await bob_socket.receive_type("hands") == {"type": "hands", "queue": []}

    await bob_socket.send({"type": "phase", "phase": "open_discussion"})
    state = await sam_socket.receive_type("room")
    assert (state["phase"], state["no_crosstalk"]) == ("open_discussion", True)
    await bob_socket.send({"type": "phase", "phase": "closing", "no_crosstalk": False})
    state = await sam_socket.receive_type("room")
    assert (state["phase"], state["no_crosstalk"]) == ("closing", False)

    assert await db(recorded, meeting) == [
        ("Calm Heron", None, "phase", "", {"phase": "shares", "no_crosstalk": True}),
        ("Calm Heron", "Quiet Harbor", "give_floor", "", {}),
        ("Calm Heron", None, "end_share", "", {}),
        ("Calm Heron", None, "phase", "", {"phase": "open_discussion", "no_crosstalk": True}),
        ("Calm Heron", None, "phase", "", {"phase": "closing", "no_crosstalk": False}),
    ]


# --- mute, unmute ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_mute_and_unmute(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    alice_member = await db(member_id, circle, alice)
    seq = await chat(bob_socket, "Let's begin", bob_socket, alice_socket)

    reason = "Please keep to the guidelines."
    await bob_socket.send({"type": "mute", "member": alice_member, "minutes": 5, "reason": reason})
    notice = await alice_socket.receive_type("notice")
    assert set(notice) == {"type", "kind", "message", "until", "reason"}
    assert notice["kind"] == "muted" and notice["reason"] == reason
    assert notice["message"] == f"A facilitator muted you for 5 minutes. Reason: {reason}"
    iso_close_to(notice["until"], timezone.now() + timedelta(minutes=5))
    await bob_socket.alive()
    await bob_socket.quiet()  # the notice is for her alone

    before = await db(event_count, meeting)
    await alice_socket.send({"type": "send", "client_id": "c-muted", "body": "But…"})
    error = await alice_socket.error("muted")
    assert error["until"] == notice["until"] and error["client_id"] == "c-muted"
    assert reason in error["message"]
    assert await db(event_count, meeting) == before
    await bob_socket.quiet()
    # Muted people still read and react.
    await alice_socket.send({"type": "react", "seq": seq, "reaction": "thanks"})
    assert (await bob_socket.receive_type("reaction"))["reaction"] == "thanks"
    _socket, welcome = await rooms.connect(alice, meeting)
    assert (welcome["you"]["muted_until"], welcome["you"]["mute_reason"]) == (notice["until"], reason)
    await _socket.close()

    await bob_socket.send({"type": "unmute", "member": alice_member})
    notice = await alice_socket.receive_type("notice")
    assert notice == {"type": "notice", "kind": "unmuted", "message": "You can write again."}
    await chat(alice_socket, "Thank you", alice_socket, bob_socket)

    # Out of range, or oneself: invalid, nothing recorded.
    for frame in (
        {"type": "mute", "member": alice_member, "minutes": 0},
        {"type": "mute", "member": alice_member, "minutes": 24 * 60 + 1},
        {"type": "mute", "member": await db(member_id, circle, bob), "minutes": 5},
    ):
        await bob_socket.send(frame)
        await bob_socket.error("invalid")
    await bob_socket.alive()
    assert await db(recorded, meeting) == [
        ("Calm Heron", "Quiet Harbor", "mute", reason, {"minutes": 5}),
        ("Calm Heron", "Quiet Harbor", "unmute", "", {}),
    ]


# --- remove -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_remove_closes_every_socket_and_cannot_rejoin(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    sam_socket = await enter(sam, meeting)
    alice_sockets = [await enter(alice, meeting), await enter(alice, meeting)]
    await alice_sockets[0].send({"type": "hand", "raised": True})
    await bob_socket.receive_type("hands")

    await bob_socket.send({"type": "remove", "member": await db(member_id, circle, alice), "reason": "Abusive"})
    for socket in alice_sockets:
        notice = await socket.receive_type("notice")
        assert notice == {
            "type": "notice",
            "kind": "removed",
            "message": "A facilitator removed you from this meeting. Reason: Abusive",
            "reason": "Abusive",
        }
        assert await socket.close_code() == 4403
        await socket.close()
    assert await bob_socket.receive_type("hands") == {"type": "hands", "queue": []}
    assert await db(recorded, meeting) == [("Calm Heron", "Quiet Harbor", "remove", "Abusive", {})]

    first = await refused(alice, meeting, "removed")
    assert first["message"] == "A facilitator removed you from this meeting."
    # Everyone else carries on.
    await chat(sam_socket, "Is everyone all right?", sam_socket, bob_socket)
    await chat(bob_socket, "We are.", sam_socket, bob_socket)
    await bob_socket.send({"type": "remove", "member": await db(member_id, circle, bob), "reason": ""})
    await bob_socket.error("invalid")


# --- lock -------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_lock_refuses_new_entrants_only(circle, alice, bob, owen) -> None:
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    earlier = await enter(alice, meeting)
    await earlier.close()

    await bob_socket.send({"type": "lock", "locked": True})
    assert (await bob_socket.receive_type("room"))["locked"] is True
    first = await refused(sam, meeting, "locked")
    assert first["message"] == "The facilitators have closed this room to new arrivals."
    back = await enter(alice, meeting)  # had been in: may come back
    await enter(owen, meeting)  # facilitators are not new arrivals to refuse
    await chat(back, "I'm back", back, bob_socket)

    await bob_socket.send({"type": "lock", "locked": False})
    assert (await back.receive_type("room"))["locked"] is False
    await enter(sam, meeting)
    assert await db(recorded, meeting) == [
        ("Calm Heron", None, "lock", "", {}),
        ("Calm Heron", None, "unlock", "", {}),
    ]


# --- open, not_open, closed, already_open --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_not_open_then_opened_early(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle, starts_in=timedelta(minutes=60))
    await db(going, meeting, alice)
    opening = show_time(meeting.starts_at - timedelta(minutes=10), alice.timezone, circle.timezone).local
    first = await refused(alice, meeting, "not_open")
    assert first["message"] == f"The room opens at {opening}."

    # Facilitators may connect before it opens; the room itself is still closed.
    bob_socket, welcome = await rooms.connect(bob, meeting)
    assert welcome["room"]["open"] is False
    assert welcome["room"]["opens_at"] == (meeting.starts_at - timedelta(minutes=10)).isoformat()
    await bob_socket.send({"type": "send", "client_id": "c-early", "body": "Testing"})
    assert (await bob_socket.error("closed"))["client_id"] == "c-early"
    await bob_socket.send({"type": "hand", "raised": True})
    await bob_socket.error("closed")

    await bob_socket.send({"type": "open"})
    state = await bob_socket.receive_type("room")
    assert state["type"] == "room" and state["ended"] is False and state["open"] is True
    assert await db(recorded, meeting) == [("Calm Heron", None, "open_early", "", {})]
    opened = await db(lambda: room_of(meeting).opened_early_at)
    assert opened is not None and opened <= timezone.now()
    assert state["opens_at"] == opened.isoformat()

    alice_socket = await enter(alice, meeting)  # 60 minutes early, after `open`
    await chat(alice_socket, "Hello, early", alice_socket, bob_socket)
    await bob_socket.send({"type": "open"})
    await bob_socket.error("already_open")
    await bob_socket.alive()


# --- end, transcript -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_end_closes_everyone_and_transcript_goes_to_facilitators(circle, alice, bob, owen) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    url = reverse("meetings:transcript", args=[circle.slug, meeting.public_id])

    def page(user: User) -> tuple[int, str]:
        client = Client()
        client.force_login(user)
        response = client.get(url)
        return response.status_code, response.content.decode()

    bob_socket = await enter(bob, meeting)
    owen_socket = await enter(owen, meeting)
    alice_sockets = [await enter(alice, meeting), await enter(alice, meeting)]
    everyone = [bob_socket, owen_socket, *alice_sockets]
    await chat(alice_sockets[0], "This helped me tonight", *everyone)
    await chat(bob_socket, "Thank you all", *everyone)

    status, html = await db(page, bob)
    assert status == 200 and "The room is still open" in html and "This helped me tonight" not in html

    await alice_sockets[0].send({"type": "end"})
    await alice_sockets[0].error("not_facilitator")
    await bob_socket.send({"type": "end", "reason": "Time is up"})
    for socket in everyone:
        notice = await socket.receive_type("notice")
        assert notice == {
            "type": "notice",
            "kind": "ended",
            "message": "The facilitators ended the meeting. Thank you for being here.",
        }
        assert await socket.close_code() == 4000
        await socket.close()
    assert await db(recorded, meeting) == [("Calm Heron", None, "end", "Time is up", {})]
    assert await db(lambda: room_of(meeting).ended_at) is not None

    await refused(alice, meeting, "ended")
    await refused(bob, meeting, "ended")

    status, html = await db(page, bob)
    assert status == 200 and "still open" not in html
    assert "This helped me tonight" in html and "Thank you all" in html and "Quiet Harbor" in html
    status, html = await db(page, alice)
    assert status == 403 and "This helped me tonight" not in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_room_closing_time_sends_closed_notice(circle, alice, bob, settings) -> None:
    settings.ROOM_GRACE_MINUTES = 0

    def meeting_ending_now() -> Meeting:
        now = timezone.now()
        meeting = Meeting.objects.create(
            group=circle, title="Ending now", starts_at=now - timedelta(minutes=60), ends_at=now, capacity=12
        )
        going(meeting, alice)
        update(meeting, ends_at=timezone.now() + timedelta(seconds=2))
        return meeting

    meeting = await db(meeting_ending_now)
    alice_socket, welcome = await rooms.connect(alice, meeting)
    assert welcome["closes_at"] == meeting.ends_at.isoformat()
    bob_socket = await enter(bob, meeting)
    for socket in (alice_socket, bob_socket):
        notice = await socket.receive_type("notice", timeout=4)
        assert notice == {
            "type": "notice",
            "kind": "closed",
            "message": "The meeting's time is over: the room is closed.",
        }
        assert await socket.close_code() == 4000
    assert timezone.now() >= meeting.ends_at
    await refused(alice, meeting, "ended")


# --- Refusals on connect ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_every_refusal_on_connect(circle, alice, bob, charlie) -> None:
    meeting = await db(open_meeting, circle)

    # not_found: an outsider, a meeting that does not exist, and nobody signed in: one answer.
    answers = [
        await refused(charlie, meeting, "not_found"),
        await refused(alice, "NoSuchMeeting1", "not_found"),
        await refused(None, meeting, "not_found"),
    ]
    assert len({answer["message"] for answer in answers}) == 1
    # A member who left the group is an outsider too.
    left = await db(new_member, circle, "lena@example.com", "Far Shore", meeting)
    await db(update, await db(membership, circle, left), status=Membership.Status.LEFT)
    await refused(left, meeting, "not_found")

    # A foreign Origin is refused before the consumer runs.
    for user in (alice, bob):
        _socket, first = await rooms.connect(user, meeting, origin="http://evil.example")
        assert first == {"type": "rejected"}
    assert await db(lambda: RoomParticipant.objects.filter(room__meeting=meeting).count()) == 0

    # no_rsvp: not going, and the group takes no drop-ins.
    first = await refused(alice, meeting, "no_rsvp")
    assert first["message"] == "This room is for people who said they are going."

    # cancelled.
    cancelled = await db(open_meeting, circle)
    await db(going, cancelled, alice)
    await db(update, cancelled, status=Meeting.Status.CANCELLED)
    await refused(alice, cancelled, "cancelled")
    await refused(bob, cancelled, "cancelled")

    # ended: its closing time has passed (15 minutes after its end).
    past = await db(open_meeting, circle, starts_in=timedelta(minutes=-106))
    await db(going, past, alice)
    await refused(alice, past, "ended")
    await refused(bob, past, "ended")
    within_grace = await db(open_meeting, circle, starts_in=timedelta(minutes=-100))
    await db(going, within_grace, alice)
    await enter(alice, within_grace)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_drop_ins_until_full(circle, alice, bob) -> None:
    await db(update, circle, allow_drop_ins=True)
    meeting = await db(open_meeting, circle, capacity=2)
    await db(going, meeting, alice)
    sam = await db(new_member, circle, "sam@example.com", "Still Water")
    tess = await db(new_member, circle, "tess@example.com", "Tall Pine")
    bob_socket = await enter(bob, meeting)  # 1 entered
    await enter(sam, meeting)  # a drop-in: 2 entered, as many as the places
    first = await refused(tess, meeting, "full")
    assert first["message"] == "The room is full."
    await enter(alice, meeting)  # she said she was going
    await bob_socket.alive()


# --- caught_up with more --------------------------------------------------------------------------


def _fill_log(meeting: Meeting, author: User, count: int) -> None:
    """`count` messages stored at once (as if written earlier), and the room's counter set."""
    room = room_rules.room_for(meeting)
    author_membership = membership(meeting.group, author)
    RoomEvent.objects.bulk_create(
        RoomEvent(
            room=room,
            seq=seq,
            kind=RoomEvent.Kind.MESSAGE,
            membership=author_membership,
            client_id=f"bulk-{seq}",
            body=f"Line {seq}",
        )
        for seq in range(1, count + 1)
    )
    update(room, last_seq=count)


async def _read_log(socket: Sock, last_seq: int) -> tuple[list[int], dict[str, Any]]:
    await socket.send({"type": "resume", "last_seq": last_seq})
    seqs: list[int] = []
    while True:
        frame = await socket.receive()
        if frame["type"] == "caught_up":
            return seqs, frame
        if frame["type"] == "presence":  # its own entry
            continue
        assert frame["type"] == "message", frame
        seqs.append(frame["seq"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_caught_up_says_more_over_500_entries(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(_fill_log, meeting, alice, 620)
    socket, welcome = await rooms.connect(bob, meeting, resume=None)
    assert welcome["last_seq"] == 620
    seqs, caught_up = await _read_log(socket, 0)
    assert seqs == list(range(1, 501))
    assert caught_up == {"type": "caught_up", "last_seq": 500, "more": True}
    seqs, caught_up = await _read_log(socket, 500)
    assert seqs == list(range(501, 621))
    assert caught_up == {"type": "caught_up", "last_seq": 620, "more": False}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_caught_up_with_exactly_500_entries_says_no_more(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(_fill_log, meeting, alice, 500)
    socket = await enter(bob, meeting, resume=None)
    seqs, caught_up = await _read_log(socket, 0)
    assert seqs == list(range(1, 501))
    assert caught_up == {"type": "caught_up", "last_seq": 500, "more": False}


# --- Reconnect and resend ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_reconnect_gets_exactly_what_it_missed_and_a_resend_is_stored_once(
    circle, alice, bob, owen, settings
) -> None:
    settings.ROOM_MESSAGES_PER_WINDOW = 50
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    owen_socket = await enter(owen, meeting)
    alice_socket = await enter(alice, meeting)
    last_seq = await chat(bob_socket, "Before the tunnel", bob_socket, owen_socket, alice_socket)
    await alice_socket.close()

    sent = []
    for index in range(10):
        sender = bob_socket if index % 2 else owen_socket
        sent.append((await chat(sender, f"While away {index}", bob_socket, owen_socket), f"While away {index}"))

    alice_socket, welcome = await rooms.connect(alice, meeting, resume=None)
    assert welcome["last_seq"] == last_seq + 10
    await alice_socket.send({"type": "resume", "last_seq": last_seq})
    missed = [await alice_socket.receive_type("message") for _ in range(10)]
    assert [(frame["seq"], frame["body"]) for frame in missed] == sent
    assert [frame["seq"] for frame in missed] == list(range(last_seq + 1, last_seq + 11))
    assert await alice_socket.next_frame() == {"type": "caught_up", "last_seq": last_seq + 10, "more": False}
    await alice_socket.quiet()

    # She sends; the connection drops before she sees the ack; she resends after resuming.
    frame = {"type": "send", "client_id": "c-7f1c", "body": "Did this arrive?"}
    await alice_socket.send(frame)
    ack = await alice_socket.receive_type("ack")
    assert ack == {"type": "ack", "client_id": "c-7f1c", "seq": last_seq + 11, "duplicate": False}
    for socket in (bob_socket, owen_socket):
        assert (await socket.receive_type("message"))["client_id"] == "c-7f1c"
    await alice_socket.close()
    count = await db(event_count, meeting)

    alice_socket, _ = await rooms.connect(alice, meeting, resume=None)
    await alice_socket.send({"type": "resume", "last_seq": last_seq + 10})
    assert (await alice_socket.receive_type("message"))["client_id"] == "c-7f1c"
    assert (await alice_socket.next_frame())["type"] == "caught_up"
    await alice_socket.send(frame)
    assert await alice_socket.receive_type("ack") == {
        "type": "ack",
        "client_id": "c-7f1c",
        "seq": last_seq + 11,
        "duplicate": True,
    }
    assert await db(event_count, meeting) == count
    assert await db(lambda: room_of(meeting).last_seq) == last_seq + 11
    for socket in (alice_socket, bob_socket, owen_socket):
        await socket.quiet(0.5)  # nobody receives it twice


# --- Errors from every rule that says no ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_facilitator_controls_are_refused_to_members(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    bob_member = await db(member_id, circle, bob)
    for frame in (
        {"type": "give_floor", "member": bob_member},
        {"type": "end_share"},
        {"type": "phase", "phase": "shares", "no_crosstalk": False},
        {"type": "mute", "member": bob_member, "minutes": 5, "reason": "x"},
        {"type": "unmute", "member": bob_member},
        {"type": "remove", "member": bob_member, "reason": "x"},
        {"type": "lock", "locked": True},
        {"type": "slow_mode", "seconds": 30},
        {"type": "open"},
        {"type": "end", "reason": "x"},
    ):
        await alice_socket.send(frame)
        assert (await alice_socket.error("not_facilitator"))["message"] == (
            "Only the meeting's facilitators can do that."
        )
    await alice_socket.alive()
    await bob_socket.quiet()
    assert await db(recorded, meeting) == []
    state = await db(room_of, meeting)
    assert (state.phase, state.locked, state.slow_mode_seconds, state.ended_at) == ("opening", False, 0, None)
    await chat(alice_socket, "Still here", alice_socket, bob_socket)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_invalid_values_are_refused(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    seq = await chat(alice_socket, "A message to react to", alice_socket, bob_socket)
    alice_member = await db(member_id, circle, alice)
    for socket, frame in (
        (alice_socket, {"type": "send", "client_id": "", "body": "Hi"}),
        (alice_socket, {"type": "send", "client_id": "x" * 65, "body": "Hi"}),
        (alice_socket, {"type": "send", "client_id": 7, "body": "Hi"}),
        (alice_socket, {"type": "send", "client_id": "c-body", "body": 42}),
        (alice_socket, {"type": "send", "body": "no client id"}),
        (alice_socket, {"type": "delete", "seq": str(seq)}),
        (alice_socket, {"type": "delete"}),
        (alice_socket, {"type": "react", "seq": seq, "reaction": "like"}),
        (alice_socket, {"type": "react", "seq": True, "reaction": "thanks"}),
        (alice_socket, {"type": "hand"}),
        (alice_socket, {"type": "resume", "last_seq": -1}),
        (alice_socket, {"type": "resume", "last_seq": "3"}),
        (bob_socket, {"type": "phase", "phase": "dancing"}),
        (bob_socket, {"type": "phase"}),
        (bob_socket, {"type": "slow_mode", "seconds": 301}),
        (bob_socket, {"type": "slow_mode", "seconds": -1}),
        (bob_socket, {"type": "slow_mode", "seconds": "30"}),
        (bob_socket, {"type": "mute", "member": alice_member}),
        (bob_socket, {"type": "mute", "member": alice_member, "minutes": 2.5}),
        (bob_socket, {"type": "give_floor"}),
        (bob_socket, {"type": "lock"}),
    ):
        await socket.send(frame)
        await socket.error("invalid")
    await alice_socket.alive()
    await bob_socket.alive()
    assert await db(event_count, meeting) == 1
    assert await db(recorded, meeting) == []
    await chat(bob_socket, "All fine", alice_socket, bob_socket)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_not_found_message_or_person_keeps_the_socket_open(circle, alice, bob) -> None:
    """Regression (failed at 0f39ad7): every not_found closed the socket with 4403."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    seq = await chat(alice_socket, "Soon gone", alice_socket, bob_socket)
    await alice_socket.send({"type": "delete", "seq": seq})
    await bob_socket.receive_type("deletion")
    # A reaction racing a deletion, a stale seq, an unknown member: errors, nothing more.
    await bob_socket.send({"type": "react", "seq": seq, "reaction": "thanks"})
    await bob_socket.error("not_found")
    await bob_socket.alive()
    await alice_socket.send({"type": "delete", "seq": 999})
    await alice_socket.error("not_found")
    await alice_socket.alive()
    await bob_socket.send({"type": "mute", "member": "nobody123", "minutes": 5})
    await bob_socket.error("not_found")
    await bob_socket.alive()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_give_floor_to_a_removed_member_leaves_the_facilitator_in(circle, alice, bob) -> None:
    """Regression (failed at 0f39ad7): the facilitator got code `removed` and was disconnected."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    alice_member = await db(member_id, circle, alice)
    await bob_socket.send({"type": "remove", "member": alice_member, "reason": "x"})
    assert await alice_socket.close_code() == 4403
    await bob_socket.send({"type": "give_floor", "member": alice_member})
    error = await bob_socket.receive_type("error")
    assert error["code"] in ("invalid", "not_found"), error  # not `removed`: bob was not removed
    await bob_socket.alive()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_member_banned_from_the_group_can_no_longer_post(circle, alice, bob) -> None:
    """Regression (failed at 0f39ad7): membership was re-checked only on resume, so a banned
    member kept posting on an open socket."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    await db(update, await db(membership, circle, alice), status=Membership.Status.BANNED)
    await alice_socket.send({"type": "send", "client_id": "c-banned", "body": "You can't stop me"})
    answer = await alice_socket.next_frame()
    assert (answer["type"], answer.get("code")) == ("error", "not_found"), answer
    assert await alice_socket.close_code() == 4403
    assert await db(event_count, meeting) == 0
    await bob_socket.quiet()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_invalid_send_echoes_its_client_id(circle, alice) -> None:
    """Regression (failed at 0f39ad7): the invalid error of a missing field had no client_id."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    socket = await enter(alice, meeting)
    await socket.send({"type": "send", "client_id": "c-nobody"})
    assert (await socket.error("invalid")).get("client_id") == "c-nobody"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_boolean_fields_of_the_wrong_kind_are_invalid(circle, alice, bob) -> None:
    """Regression (failed at 0f39ad7): bool() made "on": "false" add a reaction."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    alice_socket = await enter(alice, meeting)
    seq = await chat(bob_socket, "Hello", alice_socket, bob_socket)
    await alice_socket.send({"type": "react", "seq": seq, "reaction": "thanks", "on": "false"})
    answer = [frame["type"] for frame in await alice_socket.alive() if frame["type"] != "presence"]
    assert answer == ["error"], answer
    await alice_socket.send({"type": "hand", "raised": "no"})
    answer = [frame["type"] for frame in await alice_socket.alive() if frame["type"] != "presence"]
    assert answer == ["error"], answer
    assert await db(event_count, meeting) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_log_frames_published_out_of_order_all_reach_the_socket(circle, alice, bob) -> None:
    """Regression (failed at 0f39ad7): a live frame below the highest seq already sent was
    dropped, so frames published out of order by two server processes were lost."""
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    alice_socket = await enter(alice, meeting)

    def two_processes_store_then_publish_in_the_other_order() -> None:
        # Process A stores seq 1, process B seq 2; B's on_commit publish runs first.
        _fill_log(meeting, bob, 2)
        room = room_of(meeting)
        author = membership(circle, bob)
        first, second = RoomEvent.objects.filter(room=room).order_by("seq")
        for event in (second, first):
            publish(events.room_group(room.pk), events.event_frame(event, author), seq=event.seq)

    await db(two_processes_store_then_publish_in_the_other_order)
    assert (await alice_socket.receive_type("message"))["seq"] == 2
    assert not await alice_socket.nothing(0.5), "seq 1 was dropped"
    assert (await alice_socket.receive_type("message"))["seq"] == 1


# --- Privacy -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_frames_carry_no_email_or_user_id(circle, alice, bob, owen, settings) -> None:
    settings.ROOM_MESSAGES_PER_WINDOW = 50
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    owen_socket = await enter(owen, meeting)
    alice_socket = await enter(alice, meeting)
    sam_socket = await enter(sam, meeting)
    everyone = [bob_socket, owen_socket, alice_socket, sam_socket]
    alice_member = await db(member_id, circle, alice)
    sam_member = await db(member_id, circle, sam)

    seq = await chat(alice_socket, "Hi all", *everyone)
    await chat(sam_socket, "Hello", *everyone)
    await sam_socket.send({"type": "react", "seq": seq, "reaction": "me_too"})
    await alice_socket.send({"type": "hand", "raised": True})
    await bob_socket.send({"type": "phase", "phase": "shares"})
    await bob_socket.send({"type": "give_floor", "member": alice_member})
    await bob_socket.send({"type": "mute", "member": sam_member, "minutes": 1, "reason": "Wait"})
    await sam_socket.receive_type("notice")
    await bob_socket.send({"type": "unmute", "member": sam_member})
    await sam_socket.receive_type("notice")
    await bob_socket.send({"type": "delete", "seq": seq, "reason": "oops"})
    await bob_socket.send({"type": "slow_mode", "seconds": 10})
    await alice_socket.send({"type": "send", "client_id": "c-x", "body": "   "})
    await alice_socket.error("empty_message")
    for socket in everyone:
        await socket.receive_type("deletion")
        await socket.receive_type("room")
        await socket.send({"type": "resume", "last_seq": 0})
        await socket.receive_type("caught_up")
    extra = await enter(alice, meeting)
    await extra.close()
    await bob_socket.send({"type": "end", "reason": "done"})
    for socket in everyone:
        assert await socket.close_code() == 4000

    assert len(FRAMES) > 60
    seen = {json.loads(text)["type"] for text in FRAMES}
    assert seen >= {"welcome", "message", "deletion", "reaction", "caught_up", "ack", "room", "presence"}
    assert seen >= {"hands", "notice", "error"}
    users = [alice, bob, owen, sam]
    check_frames_are_anonymous(FRAMES, users)
    pks = {user.pk for user in users}
    user_emails = {user.email for user in users}
    assert all(email not in text for email in user_emails for text in FRAMES)
    # Per-group member ids are not user ids.
    members = {frame["you"]["member"] for frame in map(json.loads, FRAMES) if frame["type"] == "welcome"}
    assert len(members) == 4 and not members & {str(pk) for pk in pks}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_resume_beyond_the_log_does_not_swallow_live_frames(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    socket = await enter(bob, meeting, resume=None)
    await socket.send({"type": "resume", "last_seq": 999})
    caught_up = await socket.receive_type("caught_up")
    assert caught_up["last_seq"] == 0
    alice_socket = await enter(alice, meeting)
    await alice_socket.send({"type": "send", "client_id": "after", "body": "Still here"})
    message = await socket.receive_type("message")
    assert (message["seq"], message["body"]) == (1, "Still here")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_removing_the_sharer_ends_their_share(circle, alice, bob) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    facilitator = await enter(bob, meeting)
    await enter(alice, meeting)
    alice_id = (await db(lambda: Membership.objects.get(user=alice))).public_id
    await facilitator.send({"type": "give_floor", "member": alice_id})
    state = await facilitator.receive_type("room")
    assert state["sharer"]["handle"] == "Quiet Harbor"
    await facilitator.send({"type": "remove", "member": alice_id, "reason": "Guidelines"})
    state = await facilitator.receive_type("room")
    assert state["sharer"] is None and state["share_ends_at"] is None
