"""ASGI entry for bench/bench_room.py: Hearth exactly as config.asgi serves it, plus one route,
/ws/bench/bare/, to the bare broadcast consumer of bench/bare.py. Not a benchmark itself.

    uvicorn bench.asgi:application
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.bare import BareBroadcastConsumer
from config.asgi import application as hearth  # sets Django up

BARE_PATH = "/ws/bench/bare/"
bare = BareBroadcastConsumer.as_asgi()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket" and scope["path"] == BARE_PATH:
        await bare(scope, receive, send)
    else:
        await hearth(scope, receive, send)
