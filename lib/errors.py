"""The one error type actions raise for the person to read."""

from __future__ import annotations


class ActionError(Exception):
    """A rule said no. `message` is shown to the person as it is; nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
