from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from lib.crisis import all_regions, region_for_timezone
from lib.health import run_checks


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
