from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def discreet_mode(request: HttpRequest) -> bool:
    """Whether this device asked for discreet mode: a neutral title and icon on every page."""
    return request.COOKIES.get(settings.DISCREET_COOKIE_NAME) == "1"


def safety(request: HttpRequest) -> dict[str, object]:
    """What the safety chrome on every page needs."""
    return {
        "QUICK_EXIT_URL": settings.QUICK_EXIT_URL,
        "DISCREET_MODE": discreet_mode(request),
        "DISCREET_TITLE": settings.DISCREET_TITLE,
    }


def notices(request: HttpRequest) -> dict[str, object]:
    """The unread-notice count in the header (one query, signed-in pages only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Only notices shown in-app: the ones they chose to get by email alone never appear in the
    # list, so they could never be read and the count would never go down.
    return {"unread_notice_count": user.notices.filter(in_app=True, read_at__isnull=True).count()}
