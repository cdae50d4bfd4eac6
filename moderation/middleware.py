"""A site-wide suspension holds on every page (sockets check it themselves)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from lib.timefmt import show_time


class SuspensionMiddleware:
    """A suspended account sees why, and where to appeal, instead of any page. Logging out,
    getting help, notices and its own standing page stay open. Lifts itself at its end."""

    OPEN_URL_NAMES = ("accounts:logout", "help", "moderation:standing", "accounts:notices")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.open_paths: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.suspension_in_force():
            if self.open_paths is None:
                self.open_paths = tuple(reverse(name) for name in self.OPEN_URL_NAMES)
            path = request.path
            if not (
                path in self.open_paths or path.startswith(("/static/", "/moderation/standing/", "/accounts/notices/"))
            ):
                until = (
                    show_time(user.suspension_ends_at, user.timezone, user.timezone).local
                    if user.suspension_ends_at
                    else ""
                )
                return render(request, "moderation/suspended.html", {"until": until}, status=403)
        return self.get_response(request)
