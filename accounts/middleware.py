from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Show every page in the signed-in person's own timezone and language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        if user.is_authenticated:
            response.headers.setdefault("Content-Language", user.language)
        return response


class SessionActivityMiddleware:
    """Keep the sessions page's "last active" time roughly right (written at most every few
    minutes; see accounts.sessions)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            from accounts.sessions import touch_session

            touch_session(request, user)
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Someone whose role requires two-factor authentication (TWO_FACTOR_REQUIRED_FOR_STAFF,
    TWO_FACTOR_REQUIRED_FOR_OWNERS) and has not turned it on sees only its setup, the
    help page and log-out until they do; the admin included."""

    OPEN_PREFIXES = ("/static/", "/accounts/two-factor/")
    OPEN_URL_NAMES = ("accounts:logout", "help", "healthz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.open_paths: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        user = request.user
        if (
            user.is_authenticated
            and (settings.TWO_FACTOR_REQUIRED_FOR_STAFF or settings.TWO_FACTOR_REQUIRED_FOR_OWNERS)
            and not self._is_open(request.path)
        ):
            from accounts import two_factor

            if two_factor.required_reason(user) and not two_factor.is_enabled(user):
                return redirect("accounts:two_factor_setup")
        return self.get_response(request)

    def _is_open(self, path: str) -> bool:
        if self.open_paths is None:
            self.open_paths = tuple(reverse(name) for name in self.OPEN_URL_NAMES)
        return path in self.open_paths or path.startswith(self.OPEN_PREFIXES)
