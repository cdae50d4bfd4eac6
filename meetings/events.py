"""Every frame the room sends, shaped in one place (see docs/protocol.md).

Frames carry handles and per-group member ids (Membership.public_id), never an email or a
user id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy

from groups.models import Membership
from meetings.models import Room, RoomEvent, RoomParticipant

REACTIONS = {
    "thanks": gettext_lazy("Thank you"),
    "me_too": gettext_lazy("Me too"),
    "strength": gettext_lazy("Sending strength"),
}


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def facilitators_group(room_id: int) -> str:
    """The sockets of the people running this room (private alerts)."""
    return f"room.{room_id}.facilitators"


def member_group(room_id: int, membership_id: int) -> str:
    return f"room.{room_id}.member.{membership_id}"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def person(membership: Membership) -> dict[str, str]:
    return {"member": membership.public_id, "handle": membership.display_handle}


def event_frame(event: RoomEvent, author: Membership) -> dict[str, Any]:
    """A log entry as a frame. A deleted message keeps its place but not its words."""
    frame: dict[str, Any] = {"type": event.kind, "seq": event.seq, **person(author), "at": iso(event.created_at)}
    if event.kind == RoomEvent.Kind.MESSAGE:
        frame["client_id"] = event.client_id
        if event.deleted_at is None:
            frame["body"] = event.body
        else:
            frame["body"] = None
            frame["deleted"] = True
    elif event.kind == RoomEvent.Kind.DELETION:
        frame["target"] = event.target_seq
    else:
        frame.update({"target": event.target_seq, "reaction": event.reaction, "on": event.reaction_on})
    return frame


def state_frame(room: Room, sharer: Membership | None) -> dict[str, Any]:
    return {
        "type": "room",
        "phase": room.phase,
        "no_crosstalk": room.no_crosstalk,
        "locked": room.locked,
        "slow_mode": room.slow_mode_seconds,
        "sharer": person(sharer) if sharer else None,
        "share_ends_at": iso(room.share_ends_at) if sharer else None,
        "ended": room.ended_at is not None,
    }


def presence_frame(present: Iterable[tuple[Membership, bool]]) -> dict[str, Any]:
    people = [{**person(membership), "facilitator": facilitator} for membership, facilitator in present]
    return {"type": "presence", "count": len(people), "people": people}


def hands_frame(participants: Iterable[RoomParticipant]) -> dict[str, Any]:
    return {"type": "hands", "queue": [person(participant.membership) for participant in participants]}


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def notice_frame(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """A message to one person from the room itself: muted, unmuted, removed, room ended."""
    return {"type": "notice", "kind": kind, "message": message, **extra}
