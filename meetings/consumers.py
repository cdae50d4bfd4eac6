"""The meeting room's WebSocket consumer. Thin: parse a frame, call room_actions, send.

Every frame is documented in docs/protocol.md. Bad input gets an `error` frame and the socket
stays open; only removal, the end of the meeting and the room's closing time close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.sessions import socket_group
from lib import open_sockets
from lib.realtime import frame_text
from meetings import events
from meetings import room_actions as room
from meetings.room_actions import RoomError, RoomSession
from moderation.actions import MODERATORS_GROUP

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 8 * 1024
PRESENCE_TOUCH_SECONDS = 60
CLOSE_REFUSED = 4403
CLOSE_ENDED = 4000
SKIP_TEXT = '{{"type":"skip","seq":{seq}}}'

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class RoomConsumer(AsyncJsonWebsocketConsumer):
    session: RoomSession | None = None
    caught_up_seq = 0
    _closer: asyncio.Task[None] | None = None
    # Members this person blocked: their messages and reactions are never sent to this socket.
    hidden: frozenset[str] = frozenset()
    groups_joined: tuple[str, ...] = ()
    # The open-report count this facilitator's socket was last told (None: not a facilitator).
    reports_open: int | None = None
    # Whether this socket is in lib.open_sockets' count (it is from the moment it is let in).
    counted = False

    # --- Connection ------------------------------------------------------------------

    async def connect(self) -> None:
        with translation.override(self._language()):
            await self._connect()

    async def _connect(self) -> None:
        await self.accept()
        public_id = self.scope["url_route"]["kwargs"]["meeting"]
        try:
            self.session = await database_sync_to_async(room.access_room)(self.scope["user"], public_id)
        except RoomError as error:
            # Refused with a reason the page can show, then closed.
            await self.send_frame(error.frame())
            await self.close(code=CLOSE_REFUSED)
            return
        session = self.session
        open_sockets.opened()  # the per-process count on the staff console (no I/O here)
        self.counted = True
        self.groups_joined = (session.room_group, session.member_group)
        if login_key := getattr(self.scope.get("session"), "session_key", None):
            # Ending this login (sessions page, password change, account deletion) closes it.
            self.groups_joined += (socket_group(login_key),)
        if session.is_facilitator:
            self.groups_joined += (
                events.facilitators_group(session.room_id),
                MODERATORS_GROUP.format(group_id=session.group_id),
            )
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        welcome = await database_sync_to_async(room.do_enter_room)(session, self.channel_name)
        self.hidden = frozenset(welcome["hidden"])
        self.reports_open = welcome.get("reports_open")
        await self.send_frame(welcome)
        self._closer = asyncio.create_task(self._close_when_room_closes())

    async def disconnect(self, code: int) -> None:
        if self._closer is not None:
            self._closer.cancel()
        if self.counted:
            self.counted = False
            open_sockets.closed()
        session = self.session
        if session is None:
            return
        self.session = None
        for group in self.groups_joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer is down (Redis restarting): still record the leaving
                logger.warning("Could not leave group %s", group, exc_info=True)
        try:
            await database_sync_to_async(room.do_leave_room)(session, self.channel_name)
        except Exception:
            logger.exception("Could not record that a socket left room %s", session.room_id)

    async def _close_when_room_closes(self) -> None:
        """Members read a room only while it is open: close the socket at closing time."""
        while self.session is not None:
            wait = (self.session.closes_at - timezone.now()).total_seconds()
            await asyncio.sleep(min(max(wait, 0), PRESENCE_TOUCH_SECONDS))
            if self.session is None:
                return
            if timezone.now() >= self.session.closes_at:
                await self.send_frame(
                    events.notice_frame("closed", _("The meeting's time is over: the room is closed."))
                )
                await self.close(code=CLOSE_ENDED)
                return
            await database_sync_to_async(room.do_touch_presence)(self.channel_name)

    # --- Frames from the client ------------------------------------------------------

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if bytes_data is not None or text_data is None:
            await self.send_error("invalid", _("Frames are JSON text."))
            return
        if len(text_data.encode()) > MAX_FRAME_BYTES:
            await self.send_error("frame_too_large", _("That frame is over 8 KB; nothing was done."))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("malformed", _("That frame isn't valid JSON; nothing was done."))
            return
        if not isinstance(content, dict):
            await self.send_error("malformed", _("A frame is a JSON object with a type."))
            return
        await self.receive_json(content)

    def _language(self) -> str:
        """Errors and notices for this socket in its person's language."""
        user = self.scope.get("user")
        return getattr(user, "language", None) or settings.LANGUAGE_CODE

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        with translation.override(self._language()):
            await self._receive(text_data, bytes_data)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if self.session is None:
            return
        kind = content.get("type")
        handler = self.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_error("unknown_type", _("Unknown frame type %(type)r.") % {"type": kind})
            return
        try:
            await handler(self, content)
        except RoomError as error:
            await self.send_frame(error.frame(), ref=content.get("client_id"))
            if error.closes:
                await self.close(code=CLOSE_REFUSED)
        except (KeyError, TypeError, ValueError):
            await self.send_frame(
                events.error_frame("invalid", _("That frame is missing a field or has one of the wrong kind.")),
                ref=content.get("client_id"),
            )

    async def on_resume(self, content: dict[str, Any]) -> None:
        last_seq = _int(content.get("last_seq", 0))
        frames, more, caught_up = await database_sync_to_async(room.events_after)(self._session(), last_seq)
        for frame in frames:
            await self.send_frame(frame)
        # Live frames up to here were in this catch-up (or the client had them already).
        self.caught_up_seq = max(self.caught_up_seq, caught_up)
        await self.send_frame({"type": "caught_up", "last_seq": caught_up, "more": more})

    async def on_send(self, content: dict[str, Any]) -> None:
        frame, created = await database_sync_to_async(room.do_post_message)(
            self._session(), content["client_id"], content["body"]
        )
        await self.send_frame(
            {"type": "ack", "client_id": frame["client_id"], "seq": frame["seq"], "duplicate": not created}
        )

    async def on_delete(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_delete_message)(
            self._session(), _int(content["seq"]), str(content.get("reason", ""))
        )

    async def on_react(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_react)(
            self._session(), _int(content["seq"]), str(content["reaction"]), _bool(content.get("on", True))
        )

    async def on_hand(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_set_hand)(self._session(), _bool(content["raised"]))

    async def on_ping(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_touch_presence)(self.channel_name)
        await self.send_frame({"type": "pong"})

    async def on_give_floor(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_give_floor)(self._session(), str(content["member"]))

    async def on_end_share(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_end_share)(self._session())

    async def on_phase(self, content: dict[str, Any]) -> None:
        no_crosstalk = content.get("no_crosstalk")
        await database_sync_to_async(room.do_set_phase)(
            self._session(), str(content["phase"]), None if no_crosstalk is None else _bool(no_crosstalk)
        )

    async def on_mute(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_mute)(
            self._session(), str(content["member"]), _int(content["minutes"]), str(content.get("reason", ""))
        )

    async def on_unmute(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_unmute)(self._session(), str(content["member"]))

    async def on_remove(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_remove)(
            self._session(), str(content["member"]), str(content.get("reason", ""))
        )

    async def on_lock(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_lock)(self._session(), _bool(content["locked"]))

    async def on_slow_mode(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_slow_mode)(self._session(), _int(content["seconds"]))

    async def on_open(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_open_early)(self._session())

    async def on_end(self, content: dict[str, Any]) -> None:
        await database_sync_to_async(room.do_end_room)(self._session(), str(content.get("reason", "")))

    async def on_report(self, content: dict[str, Any]) -> None:
        frame = await database_sync_to_async(room.do_report)(
            self._session(),
            _int(content["seq"]),
            str(content["category"]),
            str(content.get("details", "")),
            str(content.get("wish", "inform")),
        )
        await self.send_frame(frame)

    async def on_block(self, content: dict[str, Any]) -> None:
        frame = await database_sync_to_async(room.do_block_member)(
            self._session(), str(content["member"]), _bool(content.get("on", True))
        )
        await self.send_frame(frame)

    HANDLERS: ClassVar[dict[str, Callable[[RoomConsumer, dict[str, Any]], Awaitable[None]]]] = {
        "resume": on_resume,
        "send": on_send,
        "delete": on_delete,
        "react": on_react,
        "hand": on_hand,
        "ping": on_ping,
        "give_floor": on_give_floor,
        "end_share": on_end_share,
        "phase": on_phase,
        "mute": on_mute,
        "unmute": on_unmute,
        "remove": on_remove,
        "lock": on_lock,
        "slow_mode": on_slow_mode,
        "open": on_open,
        "end": on_end,
        "report": on_report,
        "block": on_block,
    }

    # --- Messages from the channel layer -------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """AsyncConsumer.dispatch without its hop to the database thread (close_old_connections)
        before every message: every database call here goes through database_sync_to_async,
        which closes old connections itself. With the hop, each live frame for each socket
        (100 sockets x 20 messages/s = 2,000 a second per process) queued on the one database
        thread, in front of the next message's do_post_message."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def room_frame(self, message: dict[str, Any]) -> None:
        """A frame published to the room, already serialised once for every socket."""
        seq = message.get("seq")
        if seq is not None and seq <= self.caught_up_seq:
            return  # already sent while catching up
        text = message["text"]
        if self.hidden and message.get("member") in self.hidden:
            # From someone this person blocked: only that the seq was used, so the page moves
            # past it at once instead of waiting for a gap to fill.
            text = SKIP_TEXT.format(seq=int(seq)) if seq is not None else None
            if text is None:
                return
        with contextlib.suppress(Exception):  # the client has gone: disconnect() is on its way
            await self.send(text_data=text)

    async def room_close(self, message: dict[str, Any]) -> None:
        """Removal or the end of the meeting: say why, then close this socket."""
        await self.send_frame(message["frame"])
        with contextlib.suppress(Exception):  # already gone
            await self.close(code=message.get("code", CLOSE_ENDED))

    async def blocks_changed(self, message: dict[str, Any]) -> None:
        """This person blocked or unblocked someone (here or on another page)."""
        if self.session is not None:
            self.hidden = frozenset(await database_sync_to_async(room.hidden_for)(self.session))

    async def reports_changed(self, message: dict[str, Any]) -> None:
        """A report in this group was filed or changed: send this facilitator their count, if
        it changed. A report they may not handle (one about them, or about a facilitator when
        they are not an owner) sends them nothing: a frame at that moment would tell them."""
        if self.session is None:
            return
        frame = await database_sync_to_async(room.reports_frame)(self.session)
        if frame["open"] != self.reports_open:
            self.reports_open = frame["open"]
            await self.send_frame(frame)

    # --- Helpers -----------------------------------------------------------------------

    def _session(self) -> RoomSession:
        if self.session is None:
            raise RoomError("closed", _("The room is closed."))
        return self.session

    async def send_frame(self, frame: dict[str, Any], ref: object = None) -> None:
        if ref is not None and isinstance(ref, str):
            frame = {**frame, "client_id": ref}
        with contextlib.suppress(Exception):
            await self.send(text_data=frame_text(frame))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_frame(events.error_frame(code, message))


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    return value
