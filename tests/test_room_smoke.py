from __future__ import annotations

import pytest

from tests.rooms import connect, going, open_meeting


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_message_reaches_the_room(circle, alice, bob) -> None:
    from channels.db import database_sync_to_async

    meeting = await database_sync_to_async(open_meeting)(circle)
    await database_sync_to_async(going)(meeting, alice)
    bob_socket, welcome = await connect(bob, meeting)
    assert welcome["type"] == "welcome" and welcome["you"]["facilitator"] is True
    alice_socket, welcome = await connect(alice, meeting)
    assert welcome["you"]["handle"] == "Quiet Harbor"
    await alice_socket.send({"type": "send", "client_id": "c1", "body": "Hello everyone"})
    ack = await alice_socket.receive_type("ack")
    assert ack["seq"] == 1
    message = await bob_socket.receive_type("message")
    assert message["body"] == "Hello everyone" and message["handle"] == "Quiet Harbor"
    await alice_socket.close()
    await bob_socket.close()
