"""The group console: one page where a group's facilitators, owners and staff see what needs
doing (meetings without a facilitator, join requests, reports), who is in the group and how
often they come, the facilitator rota and the settings. Also the member's own attendance-streak
switch. Thin: figures come from the apps' actions, rules stay there.

Who: `require_facilitator` (facilitators, owners, staff; members 403, hidden groups 404).
Owner-only things (settings, roles) stay on their owners' pages, linked from here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Min, Prefetch, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from groups.actions import (
    GroupAccess,
    do_show_attendance_streak,
    facilitators_of,
    pending_requests,
    require_facilitator,
    require_member,
)
from groups.models import Membership
from groups.views import group_page
from lib.errors import ActionError
from meetings.actions import MATERIALISE_AHEAD, NEEDS_FACILITATOR_WITHIN, do_change_rota, require_scheduler
from meetings.attendance import with_attendance
from meetings.models import Meeting, MeetingSeries, RotaEntry, Rsvp
from meetings.recurrence import describe_rule
from moderation.actions import moderator_for, reports_for
from moderation.models import Report

UPCOMING_WINDOW = timedelta(weeks=4)
MEMBERS_PER_PAGE = 50
REQUESTS_SHOWN = 3

ROLE_ORDER = Case(
    When(role=Membership.Role.OWNER, then=Value(0)),
    When(role=Membership.Role.FACILITATOR, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
# ?sort= on the members table: label, and the order (ties broken by handle).
MEMBER_SORTS: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "role": (gettext_lazy("Role"), (ROLE_ORDER, "handle")),
    "handle": (gettext_lazy("Name"), ("handle",)),
    "joined": (gettext_lazy("Joined"), (F("joined_at").desc(nulls_last=True), "handle")),
    "attended": (gettext_lazy("Last came"), (F("last_attended_at").desc(nulls_last=True), "handle")),
}


def needs_facilitator(meeting: Meeting) -> bool:
    """A scheduled meeting nobody is set to run: none named, or the one named has stopped
    facilitating (left, or is a member again)."""
    if meeting.is_cancelled:
        return False
    return meeting.facilitator is None or not meeting.facilitator.is_facilitator


def _runs(meeting: Meeting) -> bool:
    return meeting.facilitator is not None and meeting.facilitator.is_facilitator


def _upcoming(access: GroupAccess) -> list[Meeting]:
    now = timezone.now()
    meetings: list[Meeting] = list(
        Meeting.objects.filter(group=access.group, ends_at__gt=now, starts_at__lt=now + MATERIALISE_AHEAD)
        .annotate(
            going_count=Count("rsvps", filter=Q(rsvps__status=Rsvp.Status.GOING)),
            waitlist_count=Count("rsvps", filter=Q(rsvps__status=Rsvp.Status.WAITLISTED)),
        )
        .select_related("facilitator", "backup")
        .order_by("starts_at", "pk")
    )
    for meeting in meetings:
        meeting.needs_facilitator = needs_facilitator(meeting)  # type: ignore[attr-defined]
        meeting.backup_runs = meeting.backup is not None and meeting.backup.is_facilitator  # type: ignore[attr-defined]
        meeting.soon = meeting.starts_at <= now + NEEDS_FACILITATOR_WITHIN  # type: ignore[attr-defined]
    return meetings


def _reports(request: HttpRequest, access: GroupAccess) -> dict[str, Any]:
    moderator = moderator_for(request.user, access)  # type: ignore[arg-type]
    if moderator is None:
        return {"count": 0, "oldest": None}
    figures = (
        reports_for(moderator)
        .filter(status__in=Report.OPEN_STATUSES)
        .aggregate(count=Count("pk"), oldest=Min("created_at"))
    )
    return {"count": figures["count"], "oldest": figures["oldest"]}


def _members(request: HttpRequest, access: GroupAccess) -> dict[str, Any]:
    sort = request.GET.get("sort", "role")
    if sort not in MEMBER_SORTS:
        sort = "role"
    members = with_attendance(access.group.memberships.filter(status=Membership.Status.ACTIVE)).order_by(
        *MEMBER_SORTS[sort][1], "pk"
    )
    page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return {"page": page, "sort": sort, "sorts": [(key, label) for key, (label, _order) in MEMBER_SORTS.items()]}


def _rota(access: GroupAccess) -> list[dict[str, Any]]:
    entries = RotaEntry.objects.select_related("membership").order_by("position", "pk")
    series = MeetingSeries.objects.filter(group=access.group, ended_at__isnull=True).prefetch_related(
        Prefetch("rota_entries", queryset=entries, to_attr="ordered_entries")
    )
    return [
        {
            "series": item,
            "rule": describe_rule(item.rrule),
            "rota": [entry.membership for entry in item.ordered_entries],
        }
        for item in series
    ]


@require_GET
@group_page(require_facilitator)
def group_console(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    group = access.group
    upcoming = _upcoming(access)
    horizon = timezone.now() + UPCOMING_WINDOW
    requests = pending_requests(group)
    rota = _rota(access)
    facilitators = facilitators_of(group)
    for item in rota:
        in_rota = {member.pk for member in item["rota"]}
        item["addable"] = [person for person in facilitators if person.pk not in in_rota]
    return render(
        request,
        "console/group.html",
        {
            "group": group,
            "access": access,
            "meetings": [meeting for meeting in upcoming if meeting.starts_at < horizon],
            "unrun": [meeting for meeting in upcoming if meeting.needs_facilitator],  # type: ignore[attr-defined]
            "request_count": requests.count(),
            "first_requests": list(requests[:REQUESTS_SHOWN]),
            "reports": _reports(request, access),
            "members": _members(request, access),
            "rota": rota,
            "may_edit_rota": access.can_moderate,
            "topics": list(group.topics.all()),
        },
    )


@require_POST
@group_page(require_scheduler)
def change_rota(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    """One rota edit from the console; the result (or what was wrong) is said there."""
    try:
        series = do_change_rota(
            access,
            request.POST.get("series", ""),
            request.POST.get("change", ""),
            request.POST.get("member", ""),
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The rota of “%(title)s” is updated.") % {"title": series.title})
    return redirect(reverse("console:group", args=[access.group.slug]) + "#rota")


@require_POST
@group_page(require_member)
def attendance_streak(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    """The member's own switch for their attendance streak on the group page."""
    show = request.POST.get("show")
    if access.membership is None or not access.is_member:  # staff without a membership
        raise PermissionDenied(_("Only members of this group have an attendance streak here."))
    if show not in ("on", "off"):
        messages.error(request, _("Choose to show or hide your attendance streak."))
    else:
        try:
            do_show_attendance_streak(access.membership, show == "on")
        except ActionError as error:
            messages.error(request, error.message)
        else:
            if show == "on":
                messages.success(request, _("Your attendance streak is shown on this page, to you only."))
            else:
                messages.success(request, _("Your attendance streak is hidden."))
    return redirect(reverse("groups:detail", args=[access.group.slug]) + "#you")
