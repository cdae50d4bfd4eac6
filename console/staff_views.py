"""The staff console: the system's state first, then every group side by side, moderation
waiting for staff, watched words and failed notifications (docs/console.md).

Staff only, as the moderation console: signing in is asked of anonymous visitors, and anyone
else signed in gets 403. The system checks and the page's figures are gathered at once, each
check bounded (console.system), so a stopped Redis shows as problems instead of a slow or broken
page; the session lives in the database, so staff stay signed in while Redis is down.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from console import staff
from console.system import system_state


def _figures() -> dict[str, object]:
    return {
        "groups": staff.group_rows(),
        "moderation": staff.moderation_summary(),
        "failed": staff.failed_deliveries(),
    }


@require_GET
@login_required
async def staff_console(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    if not user.is_staff:
        raise PermissionDenied(_("Only site staff can see this page."))
    checks, figures = await asyncio.gather(system_state(), sync_to_async(_figures)())
    problems = [check for check in checks if not check.ok]
    context = {"checks": checks, "problems": problems, **figures}
    return await sync_to_async(render)(request, "console/staff.html", context)
