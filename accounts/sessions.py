"""A person's logged-in sessions: recording, listing and ending them (docs/privacy.md).

Each logged-in session has a `UserSession` row (made at login, touched by
`SessionActivityMiddleware` at most every few minutes, deleted with its session). Ending a
session deletes the session itself, so its next page is the login page, and closes its room
sockets, which joined a channel-layer group named from a hash of the session key.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User, UserSession
from lib.errors import ActionError
from lib.realtime import send_to_group_on_commit
from lib.timefmt import relative_hint, show_time

# How often a session's "last active" time is written (seconds): an approximate time is all
# the sessions page shows, and one write per page would be wasteful.
TOUCH_EVERY_SECONDS = 5 * 60
SEEN_KEY = "hearth_seen_at"


# --- Channel-layer group of a session's sockets --------------------------------------------


def socket_group(session_key: str) -> str:
    """The channel-layer group of every room socket opened with this session. Named from a
    hash: the raw key is a credential and must not travel through Redis."""
    return "session." + hashlib.sha256(f"hearth.session-sockets:{session_key}".encode()).hexdigest()[:40]


# --- The browser, described simply -------------------------------------------------------

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS", "Firefox"),
    ("CriOS", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_PLATFORMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_browser(user_agent: str) -> tuple[str, str]:
    """("Firefox", "Windows") from a User-Agent header; "" for a part not recognised. Only
    these two words are kept, never the header itself."""
    user_agent = user_agent[:512]
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    platform = next((name for token, name in _PLATFORMS if token in user_agent), "")
    return browser, platform


def browser_text(browser: str, platform: str) -> str:
    if browser and platform:
        return _("%(browser)s on %(platform)s") % {"browser": browser, "platform": platform}
    if browser:
        return browser
    if platform:
        return _("A browser on %(platform)s") % {"platform": platform}
    return _("An unknown browser")


# --- Recording -----------------------------------------------------------------------------


def record_session(request: HttpRequest, user: User, *, created_at: datetime | None = None) -> UserSession | None:
    """Make (or refresh) the row of the request's session, which must be saved already (login
    saves it). None when the session has gone meanwhile (ended from another device)."""
    session_key = request.session.session_key
    if not session_key:
        return None
    browser, platform = describe_browser(request.META.get("HTTP_USER_AGENT", ""))
    now = timezone.now()
    try:
        with transaction.atomic():
            row, _created = UserSession.objects.update_or_create(
                session_id=session_key,
                defaults={"user": user, "browser": browser, "platform": platform, "last_seen_at": now},
                create_defaults={
                    "user": user,
                    "browser": browser,
                    "platform": platform,
                    "last_seen_at": now,
                    "created_at": created_at or now,
                },
            )
    except IntegrityError:  # the session was deleted between loading and here
        return None
    request.session[SEEN_KEY] = int(time.time())
    return row


def touch_session(request: HttpRequest, user: User) -> None:
    """Note that this session is in use, at most every TOUCH_EVERY_SECONDS. A logged-in
    session without a row (its key changed) gets one."""
    seen = request.session.get(SEEN_KEY)
    if isinstance(seen, int) and time.time() - seen < TOUCH_EVERY_SECONDS:
        return
    session_key = request.session.session_key
    if session_key and UserSession.objects.filter(session_id=session_key, user=user).update(
        last_seen_at=timezone.now()
    ):
        request.session[SEEN_KEY] = int(time.time())
        return
    record_session(request, user)


def current_row(request: HttpRequest) -> UserSession | None:
    key = request.session.session_key
    return UserSession.objects.filter(session_id=key).first() if key else None


def keep_row_after_key_change(request: HttpRequest, user: User, before: UserSession | None) -> None:
    """The session's key changed (a password change cycles it, deleting the old session and
    its row): give the new key a row, keeping when this device signed in."""
    record_session(request, user, created_at=before.created_at if before else None)


# --- Listing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionEntry:
    public_id: str
    browser: str  # "Firefox on Windows"
    is_current: bool
    active: str  # "Active 5 minutes ago"
    signed_in: str  # "Signed in 3 days ago"
    signed_in_local: str  # "Mon 2 Mar 2026, 12:00 GMT", in the person's timezone
    signed_in_iso: str


def _ago(moment: datetime, now: datetime) -> str:
    if (now - moment).total_seconds() < 60:
        return _("just now")
    return relative_hint(moment, now)


def sessions_of(user: User, current_key: str | None) -> list[SessionEntry]:
    """The person's sessions that are still valid, this device first, then the most recently
    active. Times are approximate and in the person's timezone. One query."""
    now = timezone.now()
    rows = UserSession.objects.filter(user=user, session__expire_date__gt=now)
    entries = []
    for row in rows:
        is_current = row.session_id == current_key
        signed_in = show_time(row.created_at, user.timezone, user.timezone, now)
        entries.append(
            SessionEntry(
                public_id=row.public_id,
                browser=browser_text(row.browser, row.platform),
                is_current=is_current,
                active=_("Active now") if is_current else _("Active %(when)s") % {"when": _ago(row.last_seen_at, now)},
                signed_in=_("Signed in %(when)s") % {"when": _ago(row.created_at, now)},
                signed_in_local=signed_in.local,
                signed_in_iso=signed_in.iso,
            )
        )
    entries.sort(key=lambda entry: not entry.is_current)  # stable: the rest stay newest first
    return entries


# --- Ending --------------------------------------------------------------------------------


def _end(user: User, session_keys: list[str]) -> int:
    """Delete these sessions (their rows go with them) and close their room sockets after
    commit. The caller holds the transaction."""
    if not session_keys:
        return 0
    # Lower layer than the room (meetings builds on accounts): imported here.
    from meetings.consumers import CLOSE_REFUSED
    from meetings.events import notice_frame

    Session.objects.filter(session_key__in=session_keys).delete()
    with translation.override(user.language):
        frame = notice_frame("logged_out", _("You were logged out. Log in again to come back."))
    for key in session_keys:
        send_to_group_on_commit(socket_group(key), {"type": "room.close", "frame": frame, "code": CLOSE_REFUSED})
    return len(session_keys)


def end_sessions(user: User, *, keep_session_key: str | None = None) -> int:
    """End every session of `user` except `keep_session_key`, and close their sockets.
    Returns how many sessions ended."""
    with transaction.atomic():
        rows = UserSession.objects.filter(user=user)
        if keep_session_key:
            rows = rows.exclude(session_id=keep_session_key)
        return _end(user, list(rows.values_list("session_id", flat=True)))


def access_other_session(user: User, public_id: str, current_key: str | None) -> UserSession | None:
    """One of the person's other sessions, by its opaque id; None if there is no such session
    of theirs (someone else's id included)."""
    row = UserSession.objects.filter(user=user, public_id=public_id).first()
    if row is not None and row.session_id == current_key:
        raise ActionError(_("That is the device you are using now. To leave it, use Log out."))
    return row


def do_end_session(user: User, row: UserSession) -> None:
    """End one other session of the person and close its sockets."""
    with transaction.atomic():
        _end(user, [row.session_id])


def do_end_other_sessions(user: User, current_key: str | None) -> int:
    """ "Log out everywhere else": every session but this one ends, with its sockets."""
    return end_sessions(user, keep_session_key=current_key)


def on_login(sender: object, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    """user_logged_in: every login (with a password, after two-factor, after sign-up) gets its
    row on the sessions page."""
    if request is not None and hasattr(request, "session"):
        record_session(request, user)
