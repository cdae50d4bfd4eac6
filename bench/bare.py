"""A bare Channels broadcast consumer: the baseline bench/bench_room.py compares the room with.

It joins one group, and each text frame it receives is sent to everyone in that group as it is.
No database, no session, no checks: what the room costs beyond this is the room's own work.
Served by bench/asgi.py at /ws/bench/bare/; not a benchmark itself.
"""

from __future__ import annotations

import os
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

# Redis pub/sub channels are shared by every database of a Redis server: a per-run group name
# keeps two benchmark runs (or anything else) from hearing each other.
GROUP = "bench.bare." + os.environ.get("BENCH_BARE_GROUP", "default")


class BareBroadcastConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.channel_layer.group_send(GROUP, {"type": "bare.frame", "text": text_data})

    async def bare_frame(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])
