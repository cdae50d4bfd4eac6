from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """The email as axes counts failures: one counter whatever letter case was typed."""
    source: Any = credentials or (request.POST if request is not None else {})
    return str(source.get("username", "")).strip().lower()
