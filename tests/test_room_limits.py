"""Every limit of the meeting room (docs/protocol.md), through config.asgi.application.

Each refusal is shown three ways: the error frame, the refused socket still open (it answers a
ping and still receives the room), and the other people in the room still sending and
receiving as before. Then: seq is gap-free under concurrent senders. Helpers and the
frame-recording fixture (no email or user id in any frame) are shared with
tests/test_room_protocol.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from accounts.models import User
from groups.models import Membership, SupportGroup
from meetings import room_actions as room_rules
from meetings.models import Meeting, RoomEvent
from tests.rooms import going, open_meeting
from tests.test_room_protocol import (
    Sock,
    _room_sockets,  # noqa: F401  (the autouse fixture: recorded frames, sockets closed after)
    chat,
    db,
    enter,
    event_count,
    member_id,
    new_member,
    recorded,
    refused,
    room_of,
)


async def gathering(circle: SupportGroup, alice: User, bob: User) -> tuple[Meeting, Sock, Sock, Sock]:
    """An open room with bob (facilitator), sam (member) and alice (member, the one refused)."""
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    bob_socket = await enter(bob, meeting)
    sam_socket = await enter(sam, meeting)
    alice_socket = await enter(alice, meeting)
    return meeting, bob_socket, sam_socket, alice_socket


async def room_still_works(refused_socket: Sock, *others: Sock) -> None:
    """The refused socket is open and answers; each other person sends, and everyone (the
    refused socket included) receives it."""
    await refused_socket.alive()
    everyone = [refused_socket, *others]
    for index, socket in enumerate(others):
        await chat(socket, f"Still here ({index})", *everyone)


# --- Frame-level limits -----------------------------------------------------------------------------

BIG = json.dumps({"type": "send", "client_id": "c-big", "body": "x" * 8200})
CASES: list[tuple[str, str, object]] = [
    ("frame_too_large", "frame over 8 KB", BIG),
    ("message_too_long", "2,001 characters", {"type": "send", "client_id": "c-long", "body": "é" * 2001}),
    ("empty_message", "spaces", {"type": "send", "client_id": "c-empty", "body": "   "}),
    ("empty_message", "whitespace", {"type": "send", "client_id": "c-blank", "body": " \n\t\u3000 "}),
    ("empty_message", "empty", {"type": "send", "client_id": "c-none", "body": ""}),
    ("malformed", "not JSON", '{"type": "send", "body": '),
    ("malformed", "a JSON array", '[{"type": "send", "client_id": "c-a", "body": "Hi"}]'),
    ("malformed", "a JSON string", '"ping"'),
    ("unknown_type", "unknown type", {"type": "shout", "body": "HELLO"}),
    ("unknown_type", "no type", {"client_id": "c-x", "body": "Hi"}),
    ("unknown_type", "type of the wrong kind", {"type": ["send"]}),
    ("invalid", "missing field", {"type": "send", "client_id": "c-nobody"}),
    ("invalid", "wrong kind", {"type": "send", "client_id": "c-int", "body": ["Hi"]}),
    ("invalid", "seq as text", {"type": "delete", "seq": "1"}),
    ("invalid", "binary frame", b'{"type": "ping"}'),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_each_refused_frame_leaves_the_socket_and_the_room_working(circle, alice, bob, settings) -> None:
    """One room for every case (a fresh room each would cost a database flush each): after
    each refusal, alice's socket answers and the others still send and receive."""
    settings.ROOM_MESSAGES_PER_WINDOW = 100  # the chatter between cases; rate limits are below
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    for code, case, frame in CASES:
        before = await db(event_count, meeting)
        if isinstance(frame, bytes):
            await alice_socket.send_bytes(frame)
        else:
            await alice_socket.send(frame)  # type: ignore[arg-type]
        error = await alice_socket.receive_type("error")
        assert error["code"] == code, (case, error)
        if code in ("message_too_long", "empty_message"):
            assert isinstance(frame, dict) and error["client_id"] == frame["client_id"], (case, error)
        assert await db(event_count, meeting) == before, case
        await bob_socket.quiet(0.05)
        await sam_socket.quiet(0.05)
        await room_still_works(alice_socket, sam_socket, bob_socket)
        assert await db(event_count, meeting) == before + 2, case
    assert await db(recorded, meeting) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_size_limits_at_their_edges(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    # 2,000 characters is allowed (6,000 bytes of UTF-8 in a frame under 8 KB).
    body = "€" * 2000
    await alice_socket.send({"type": "send", "client_id": "c-2000", "body": body})
    assert (await alice_socket.receive_type("ack"))["seq"] == 1
    assert (await bob_socket.receive_type("message"))["body"] == body
    # A frame of exactly 8,192 bytes is read (and then refused for its length, not its size);
    # one byte more is refused unread.
    exact = json.dumps({"type": "send", "client_id": "c-8k", "body": ""})
    exact = json.dumps({"type": "send", "client_id": "c-8k", "body": "x" * (8192 - len(exact))})
    assert len(exact.encode()) == 8192
    await alice_socket.send(exact)
    assert (await alice_socket.error("message_too_long"))["client_id"] == "c-8k"
    over = exact.replace('"body": "', '"body": "y', 1)
    assert len(over.encode()) == 8193
    await alice_socket.send(over)
    assert (await alice_socket.error("frame_too_large"))["message"] == "That frame is over 8 KB; nothing was done."
    assert await db(event_count, meeting) == 1
    await room_still_works(alice_socket, sam_socket, bob_socket)


# --- Rate limit ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_rate_limited_after_five_messages_in_ten_seconds(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    for index in range(5):
        await chat(alice_socket, f"Quick {index}", alice_socket, bob_socket, sam_socket)
    await alice_socket.send({"type": "send", "client_id": "c-sixth", "body": "One too many"})
    error = await alice_socket.error("rate_limited")
    assert error["retry_after"] == 10 and error["client_id"] == "c-sixth"
    assert await db(event_count, meeting) == 5
    await bob_socket.quiet(0.1)
    await sam_socket.quiet(0.1)
    await room_still_works(alice_socket, sam_socket, bob_socket)  # their own counters
    assert await db(event_count, meeting) == 7


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_rate_limit_holds_for_facilitators_too(circle, alice, bob) -> None:
    _meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    for index in range(5):
        await chat(bob_socket, f"Facilitators too {index}", bob_socket, alice_socket, sam_socket)
    await bob_socket.send({"type": "send", "client_id": "c-bob-6", "body": "Sixth"})
    assert (await bob_socket.error("rate_limited"))["retry_after"] == 10
    await room_still_works(bob_socket, alice_socket, sam_socket)


# --- Sockets per member ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_fourth_socket_is_refused(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    others = [await enter(alice, meeting), await enter(alice, meeting)]
    first = await refused(alice, meeting, "too_many_connections")
    assert first["message"] == "You are already in this room in 3 windows. Close one to join here."
    presence = [frame for frame in await sam_socket.alive() if frame["type"] == "presence"]
    assert presence[-1]["count"] == 3  # bob, sam, alice: people, not sockets
    for socket in [alice_socket, *others]:
        await room_still_works(socket, sam_socket, bob_socket)
    await others[0].close()
    await enter(alice, meeting)  # one closed: room for another
    # Facilitators have the same limit.
    await enter(bob, meeting)
    await enter(bob, meeting)
    await refused(bob, meeting, "too_many_connections")
    await room_still_works(alice_socket, sam_socket, bob_socket)


# --- Muted, slow mode, crosstalk, locked ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_muted_member_is_refused_and_the_room_goes_on(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    await bob_socket.send({"type": "mute", "member": await db(member_id, circle, alice), "minutes": 10})
    notice = await alice_socket.receive_type("notice")
    assert notice["kind"] == "muted" and notice["reason"] == ""
    assert notice["message"] == "A facilitator muted you for 10 minutes."
    await alice_socket.send({"type": "send", "client_id": "c-m", "body": "Let me speak"})
    error = await alice_socket.error("muted")
    assert error["until"] == notice["until"] and error["client_id"] == "c-m"
    assert await db(event_count, meeting) == 0
    await room_still_works(alice_socket, sam_socket, bob_socket)
    assert await db(recorded, meeting) == [("Calm Heron", "Quiet Harbor", "mute", "", {"minutes": 10})]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_slow_mode_spaces_members_but_not_facilitators(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    await bob_socket.send({"type": "slow_mode", "seconds": 30})
    for socket in (alice_socket, sam_socket, bob_socket):
        assert (await socket.receive_type("room"))["slow_mode"] == 30
    await chat(alice_socket, "First", alice_socket, bob_socket, sam_socket)
    await alice_socket.send({"type": "send", "client_id": "c-second", "body": "Second"})
    error = await alice_socket.error("slow_mode")
    assert error["client_id"] == "c-second" and 20 <= error["retry_after"] <= 30
    wait = error["retry_after"]
    assert error["message"] == f"Slow mode is on: one message every 30 seconds. You can write again in {wait} seconds."
    assert await db(event_count, meeting) == 1
    # Facilitators are exempt; another member has their own spacing.
    await chat(bob_socket, "Facilitator one", alice_socket, bob_socket, sam_socket)
    await chat(bob_socket, "Facilitator two", alice_socket, bob_socket, sam_socket)
    await room_still_works(alice_socket, sam_socket, bob_socket)
    await sam_socket.send({"type": "send", "client_id": "c-sam-2", "body": "Again"})
    await sam_socket.error("slow_mode")

    await bob_socket.send({"type": "slow_mode", "seconds": 0})
    assert (await alice_socket.receive_type("room"))["slow_mode"] == 0
    await chat(alice_socket, "Second, now", alice_socket, bob_socket, sam_socket)
    assert await db(recorded, meeting) == [
        ("Calm Heron", None, "slow_mode", "", {"seconds": 30}),
        ("Calm Heron", None, "slow_mode", "", {"seconds": 0}),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_crosstalk_during_a_share(circle, alice, bob, owen) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    owen_socket = await enter(owen, meeting)
    everyone = [alice_socket, sam_socket, bob_socket, owen_socket]
    seq = await chat(bob_socket, "Who would like to share?", *everyone)
    await bob_socket.send({"type": "phase", "phase": "shares", "no_crosstalk": True})
    await bob_socket.send({"type": "give_floor", "member": await db(member_id, circle, alice)})
    for socket in everyone:
        await socket.receive_type("room")
        assert (await socket.receive_type("room"))["sharer"]["handle"] == "Quiet Harbor"

    await sam_socket.send({"type": "send", "client_id": "c-cross", "body": "Me too!"})
    error = await sam_socket.error("crosstalk")
    assert error["client_id"] == "c-cross"
    # She can still react, and the sharer and the facilitators write.
    await sam_socket.send({"type": "react", "seq": seq, "reaction": "me_too"})
    sam_member = await db(lambda: Membership.objects.get(group=circle, handle="Still Water").public_id)
    for socket in everyone:
        assert (await socket.receive_type("reaction"))["member"] == sam_member
    await sam_socket.alive()
    await chat(alice_socket, "My share", *everyone)
    await chat(bob_socket, "Thank you", *everyone)
    await chat(owen_socket, "Thank you from me too", *everyone)

    # With no one on the floor during shares, members wait; crosstalk allowed: they write.
    await bob_socket.send({"type": "end_share"})
    for socket in everyone:
        assert (await socket.receive_type("room"))["sharer"] is None
    await alice_socket.send({"type": "send", "client_id": "c-after", "body": "One more thing"})
    await alice_socket.error("crosstalk")
    await bob_socket.send({"type": "phase", "phase": "shares", "no_crosstalk": False})
    assert (await sam_socket.receive_type("room"))["no_crosstalk"] is False
    await chat(sam_socket, "Now I can", *everyone)
    assert await db(event_count, meeting) == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_locked_room_refuses_a_new_entrant_and_goes_on(circle, alice, bob) -> None:
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    tess = await db(new_member, circle, "tess@example.com", "Tall Pine", meeting)
    await bob_socket.send({"type": "lock", "locked": True})
    assert (await alice_socket.receive_type("room"))["locked"] is True
    await refused(tess, meeting, "locked")
    await room_still_works(alice_socket, sam_socket, bob_socket)


# --- seq under concurrent senders ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_seq_is_gap_free_with_four_sockets_sending_at_once(circle, alice, bob, owen, settings) -> None:
    settings.ROOM_MESSAGES_PER_WINDOW = 1000
    meeting, bob_socket, sam_socket, alice_socket = await gathering(circle, alice, bob)
    sockets = [alice_socket, bob_socket, sam_socket, await enter(owen, meeting)]

    async def burst(index: int, socket: Sock) -> tuple[list[int], list[int]]:
        for number in range(20):
            await socket.send({"type": "send", "client_id": f"b{index}-{number}", "body": f"{index}/{number}"})
        acks: list[int] = []
        messages: list[int] = []
        while len(acks) < 20 or len(messages) < 80:
            frame = await socket.receive(timeout=10)
            if frame["type"] == "ack":
                assert frame["duplicate"] is False
                acks.append(frame["seq"])
            elif frame["type"] == "message":
                messages.append(frame["seq"])
            else:
                assert frame["type"] == "presence", frame
        return acks, messages

    results = await asyncio.gather(*(burst(index, socket) for index, socket in enumerate(sockets)))
    acked = sorted(seq for acks, _ in results for seq in acks)
    assert acked == list(range(1, 81))
    for acks, messages in results:
        assert acks == sorted(acks)  # one socket's messages in the order it sent them
        assert messages == list(range(1, 81))  # every socket: every message once, in order
    stored = await db(lambda: list(RoomEvent.objects.filter(room__meeting=meeting).values_list("seq", flat=True)))
    assert sorted(stored) == list(range(1, 81))
    assert await db(lambda: room_of(meeting).last_seq) == 80
    for socket in sockets:
        await socket.quiet(0.2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_seq_is_gap_free_when_server_threads_store_at_once(circle, alice, bob, owen, settings) -> None:
    """The consumers of one process run their database work on one thread, so the test above
    cannot race two transactions. Here four threads, each with its own database connection (as
    four server processes would), post at once: the room row lock keeps seq gap-free."""
    settings.ROOM_MESSAGES_PER_WINDOW = 1000
    meeting = await db(open_meeting, circle)
    sam = await db(new_member, circle, "sam@example.com", "Still Water", meeting)
    await db(going, meeting, alice)
    users = [alice, bob, owen, sam]
    sessions = [await db(room_rules.access_room, user, meeting.public_id) for user in users]
    start = threading.Barrier(len(sessions), timeout=10)

    def process(index: int, session: room_rules.RoomSession) -> list[tuple[int, bool]]:
        try:
            start.wait()
            posted = []
            for number in range(20):
                frame, created = room_rules.do_post_message(session, f"t{index}-{number}", f"{index}:{number}")
                posted.append((frame["seq"], created))
            # A resend from another "process": stored once.
            frame, created = room_rules.do_post_message(session, f"t{index}-0", "again")
            posted.append((frame["seq"], created))
            return posted
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(sessions)) as executor:
        results = await asyncio.gather(
            *(
                sync_to_async(process, thread_sensitive=False, executor=executor)(index, session)
                for index, session in enumerate(sessions)
            )
        )
    created = sorted(seq for posted in results for seq, fresh in posted if fresh)
    assert created == list(range(1, 81))
    for posted in results:
        assert posted[-1] == (posted[0][0], False)
    stored = await db(lambda: list(RoomEvent.objects.filter(room__meeting=meeting).values_list("seq", flat=True)))
    assert sorted(stored) == list(range(1, 81))
    assert await db(lambda: room_of(meeting).last_seq) == 80
    socket = await enter(bob, meeting, resume=None)
    await socket.send({"type": "resume", "last_seq": 0})
    replayed = [await socket.receive_type("message") for _ in range(80)]
    assert [frame["seq"] for frame in replayed] == list(range(1, 81))
    assert await socket.receive_type("caught_up") == {"type": "caught_up", "last_seq": 80, "more": False}
