from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from lib import privacy as privacy_records
from lib.context_processors import discreet_mode as discreet_mode_on
from lib.crisis import all_regions, region_for_timezone
from lib.health import run_checks

DISCREET_COOKIE_MAX_AGE = 60 * 60 * 24 * 365


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
def get_help(request: HttpRequest) -> HttpResponse:
    """Crisis resources for the chosen region (a first guess from the person's timezone)."""
    regions = all_regions()
    region = request.GET.get("region", "")
    if region not in regions:
        user_timezone = getattr(request.user, "timezone", "") if request.user.is_authenticated else ""
        region = region_for_timezone(user_timezone)
    return render(
        request,
        "help.html",
        {"regions": regions, "region_code": region, "region": regions[region]},
    )


@require_GET
def device_safety(request: HttpRequest) -> HttpResponse:
    """Staying safe on a shared or watched device: private browsing, history, quick exit and
    the discreet mode switch."""
    return render(request, "safety.html", {"discreet": discreet_mode_on(request)})


@require_POST
def discreet_mode(request: HttpRequest) -> HttpResponse:
    """Turn discreet mode on or off for this device (a cookie: it works before logging in and
    doesn't follow the account to other devices)."""
    turn_on = request.POST.get("discreet") == "on"
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    response = redirect(target or "device_safety")
    if turn_on:
        response.set_cookie(
            settings.DISCREET_COOKIE_NAME,
            "1",
            max_age=DISCREET_COOKIE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        messages.success(
            request,
            _("Discreet mode is on for this browser: tabs and history show “%(title)s”.")
            % {"title": settings.DISCREET_TITLE},
        )
    else:
        response.delete_cookie(settings.DISCREET_COOKIE_NAME, samesite="Lax")
        messages.success(request, _("Discreet mode is off for this browser."))
    return response


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """What Hearth stores, for how long and who sees it, from the settings that decide it."""
    return render(
        request,
        "privacy.html",
        {
            "records": privacy_records.records(),
            "contact": settings.PRIVACY_CONTACT,
            "grace": privacy_records.days(privacy_records.erasure_grace_days()),
        },
    )


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's state as JSON; 503 if any is down (for load balancers and monitors)."""
    checks = await run_checks()
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, with the safety chrome (Quick exit needs its URL from the context)."""
    try:
        return render(request, "500.html", status=500)
    except Exception:  # noqa: BLE001 - the error page itself must not fail
        return HttpResponse(
            "Something went wrong on our side. Please try again.", status=500, content_type="text/plain"
        )
