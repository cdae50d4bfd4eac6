"""Helpers for room tests: a meeting whose room is open, and sockets through the real ASGI app."""

from __future__ import annotations

import copy
import json
import os
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from config.asgi import application
from groups.models import Membership, SupportGroup
from meetings.models import Meeting, Rsvp


def open_meeting(group: SupportGroup, *, capacity: int = 12, starts_in: timedelta = timedelta(minutes=5)) -> Meeting:
    """A meeting starting soon (its room is open), run by the group's first facilitator."""
    starts_at = timezone.now() + starts_in
    facilitator = group.memberships.filter(role="facilitator").first()
    return Meeting.objects.create(
        group=group,
        title="Evening share",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        capacity=capacity,
        facilitator=facilitator,
    )


def going(meeting: Meeting, *users: User) -> None:
    for user in users:
        membership = Membership.objects.get(group=meeting.group, user=user)
        Rsvp.objects.update_or_create(meeting=meeting, membership=membership, defaults={"status": "going"})


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Socket:
    """A WebsocketCommunicator through config.asgi.application (origin check, session auth)."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_type(self, kind: str, timeout: float = 3) -> dict[str, Any]:
        """The next frame of this type (frames of other types before it are skipped)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == kind:
                return frame

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def connect(
    user: User | None, meeting: Meeting | str, *, origin: str = "http://localhost", resume: int | None = 0
) -> tuple[Socket, dict[str, Any]]:
    """Open a socket to the meeting's room; returns it and its first frame (welcome or error).
    With `resume` set, the catch-up is asked for and read up to `caught_up`."""
    public_id = meeting if isinstance(meeting, str) else meeting.public_id
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/rooms/{public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    socket = Socket(communicator)
    if not connected:
        return socket, {"type": "rejected"}
    first = await socket.receive()
    if first["type"] == "welcome" and resume is not None:
        await socket.send({"type": "resume", "last_seq": resume})
        await socket.receive_type("caught_up")
    return socket, first


def isolate_channel_layer(test_settings: Any, tag: str = "") -> None:
    """On Redis, give this test process a channel-layer prefix of its own: pub/sub channels are
    server-wide, not per database, so another test run on the same Redis has rooms with the
    same pks. `test_settings` is pytest-django's `settings` fixture (undone after the test)."""
    layer = test_settings.CHANNEL_LAYERS["default"]
    if not layer["BACKEND"].endswith("RedisPubSubChannelLayer"):
        return
    isolated = copy.deepcopy(test_settings.CHANNEL_LAYERS)
    prefix = layer["CONFIG"].get("prefix", "asgi")
    isolated["default"]["CONFIG"]["prefix"] = f"{prefix}{'-' + tag if tag else ''}-{os.getpid()}"
    test_settings.CHANNEL_LAYERS = isolated
