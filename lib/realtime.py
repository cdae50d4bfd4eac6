"""Publishing realtime events: serialised once, sent to a channel-layer group after commit."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def frame_text(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        # The database holds the truth: a client that missed this catches up by seq.
        logger.exception("Could not send %s to %s", message.get("type"), group)


def publish(group: str, frame: dict[str, Any], *, seq: int | None = None, member: str | None = None) -> None:
    """Send `frame` to every socket in `group` now. The JSON text is made once, here, and each
    consumer writes it to its socket as it is: no per-socket serialisation on the hot path.
    `seq` travels beside the text so a consumer can drop a frame it already sent, and `member`
    (the author) so it can drop one from someone its person blocked."""
    message: dict[str, Any] = {"type": "room.frame", "text": frame_text(frame)}
    if seq is not None:
        message["seq"] = seq
    if member is not None:
        message["member"] = member
    _group_send(group, message)


def publish_on_commit(group: str, frame: dict[str, Any], *, seq: int | None = None, member: str | None = None) -> None:
    """Publish once the current transaction commits (never a frame for a rolled-back change)."""
    transaction.on_commit(lambda: publish(group, frame, seq=seq, member=member))


def send_to_group_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send a raw channel-layer message (a control for consumers, not a frame) after commit."""
    transaction.on_commit(lambda: _group_send(group, message))
