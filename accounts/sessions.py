"""A person's logged-in sessions: listing them and ending them (docs/privacy.md)."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import User


def end_sessions(user: User, *, keep_session_key: str | None = None) -> int:
    """End every session of `user` except `keep_session_key`, and close their sockets.
    Returns how many sessions ended."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.session_key == keep_session_key:
            continue
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended
