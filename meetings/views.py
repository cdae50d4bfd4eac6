"""Meeting pages. Thin: parse input, call meetings.actions, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from groups.actions import GroupAccess, require_member
from groups.views import group_page
from lib.errors import ActionError
from lib.forms import add_action_error, render_form_page
from meetings import actions, room_actions
from meetings.calendar import build_calendar
from meetings.forms import CancelForm, EditMeetingForm, MeetingForm, SeriesForm
from meetings.models import Meeting, MeetingSeries, Room, Rsvp
from meetings.recurrence import describe_rule, rule_fields, until_date


def _series_data(form: SeriesForm) -> actions.SeriesData:
    data = form.cleaned_data
    return actions.SeriesData(
        title=data["title"],
        rule=form.rule(),
        start_date=data["start_date"],
        start_time=data["start_time"],
        duration_minutes=data["duration_minutes"],
        capacity=data["capacity"],
        rota=list(data["rota"]),
    )


def _meeting_or_404(access: GroupAccess, public_id: str) -> Meeting:
    meeting = Meeting.objects.filter(group=access.group, public_id=public_id).first()
    if meeting is None:
        raise Http404("No such meeting")
    return meeting


@require_GET
@group_page(actions.require_scheduler)
def schedule(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    group = access.group
    series = [
        (item, describe_rule(item.rrule))
        for item in MeetingSeries.objects.filter(group=group, ended_at__isnull=True).prefetch_related("rota")
    ]
    return render(
        request,
        "meetings/schedule.html",
        {"group": group, "series": series, "meetings": actions.upcoming_meetings(group, limit=50)},
    )


@require_http_methods(["GET", "POST"])
@group_page(actions.require_scheduler)
def create_series(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    group = access.group
    form = SeriesForm(
        request.POST or None,
        group=group,
        initial={"start_date": timezone.localdate(), "frequency": "WEEKLY", "ends": "never"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_create_series(access, _series_data(form))
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The regular meeting is scheduled."))
            return redirect("meetings:schedule", slug=group.slug)
    return render_form_page(
        request, "meetings/series_form.html", {"group": group, "form": form, "creating": True}, form
    )


@require_http_methods(["GET", "POST"])
@group_page(actions.require_scheduler)
def edit_series(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    group = access.group
    series = MeetingSeries.objects.filter(group=group, public_id=public_id, ended_at__isnull=True).first()
    if series is None:
        raise Http404("No such series")
    fields = rule_fields(series.rrule)
    by_day = fields.get("BYDAY", "")
    initial = {
        "title": series.title,
        "frequency": fields["FREQ"],
        "interval": int(fields.get("INTERVAL", "1")),
        "weekdays": by_day.split(",") if fields["FREQ"] == "WEEKLY" else [],
        "month_week": int(by_day[:2]) if fields["FREQ"] == "MONTHLY" and by_day else None,
        "month_weekday": by_day[2:] if fields["FREQ"] == "MONTHLY" else None,
        "start_date": series.start_date,
        "start_time": series.start_time,
        "duration_minutes": series.duration_minutes,
        "capacity": series.capacity,
        "ends": "until" if "UNTIL" in fields else "count" if "COUNT" in fields else "never",
        "until": until_date(fields),
        "count": int(fields["COUNT"]) if "COUNT" in fields else None,
        "rota": [entry.membership for entry in series.rota_entries.all()],
    }
    form = SeriesForm(request.POST or None, group=group, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_update_series(access, series, _series_data(form))
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The regular meeting is updated from now on."))
            return redirect("meetings:schedule", slug=group.slug)
    return render_form_page(
        request, "meetings/series_form.html", {"group": group, "form": form, "series": series, "creating": False}, form
    )


@require_POST
@group_page(actions.require_scheduler)
def end_series(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    series = MeetingSeries.objects.filter(group=access.group, public_id=public_id, ended_at__isnull=True).first()
    if series is None:
        raise Http404("No such series")
    cancelled = actions.do_end_series(access, series)
    messages.success(
        request,
        ngettext(
            "The regular meeting has ended; %(count)d upcoming meeting was cancelled.",
            "The regular meeting has ended; %(count)d upcoming meetings were cancelled.",
            cancelled,
        )
        % {"count": cancelled},
    )
    return redirect("meetings:schedule", slug=access.group.slug)


@require_http_methods(["GET", "POST"])
@group_page(actions.require_scheduler)
def create_meeting(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    group = access.group
    form = MeetingForm(request.POST or None, group=group)
    if request.method == "POST" and form.is_valid():
        try:
            meeting = actions.do_create_meeting(access, **form.cleaned_data)
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The meeting is scheduled."))
            return redirect("meetings:detail", slug=group.slug, public_id=meeting.public_id)
    return render_form_page(
        request, "meetings/meeting_form.html", {"group": group, "form": form, "creating": True}, form
    )


@require_GET
@group_page(require_member)
def meeting_detail(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    meeting = _meeting_or_404(access, public_id)
    rsvp = None
    if access.membership is not None:
        rsvp = Rsvp.objects.filter(meeting=meeting, membership=access.membership).first()
    going = meeting.rsvps.filter(status=Rsvp.Status.GOING).select_related("membership").order_by("membership__handle")
    return render(
        request,
        "meetings/detail.html",
        {
            "group": access.group,
            "access": access,
            "meeting": meeting,
            "rsvp": rsvp,
            "position": actions.waitlist_position(rsvp) if rsvp else None,
            "going_count": going.count(),
            "waitlist_count": meeting.rsvps.filter(status=Rsvp.Status.WAITLISTED).count(),
            "attendees": list(going) if access.can_moderate else None,
            "open_for_rsvp": not meeting.is_cancelled and not meeting.has_started(),
            "can_rsvp": access.is_member,
        },
    )


@require_POST
@group_page(require_member)
def rsvp(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    meeting = _meeting_or_404(access, public_id)
    answer = request.POST.get("going")
    if not access.is_member or access.membership is None:
        messages.error(request, _("Only members of this group can answer for its meetings."))
    elif answer not in ("yes", "no"):
        messages.error(request, _("Answer going or not going."))
    else:
        try:
            result = actions.do_rsvp(access.membership, meeting, going=answer == "yes")
        except ActionError as error:
            messages.error(request, error.message)
        else:
            if result.status == Rsvp.Status.GOING:
                messages.success(request, _("You're going. See you there."))
            elif result.status == Rsvp.Status.WAITLISTED:
                messages.success(
                    request,
                    _(
                        "The meeting is full: you are number %(position)d on the waitlist. "
                        "You'll be told if a place opens."
                    )
                    % {"position": actions.waitlist_position(result) or 1},
                )
            else:
                messages.success(request, _("Noted: you're not going."))
    return redirect("meetings:detail", slug=access.group.slug, public_id=public_id)


@require_http_methods(["GET", "POST"])
@group_page(actions.require_scheduler)
def edit_meeting(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    group = access.group
    meeting = _meeting_or_404(access, public_id)
    local = timezone.localtime(meeting.starts_at, actions.recurrence.zone(group.timezone))
    initial = {
        "day": local.date(),
        "at": local.time().replace(second=0, microsecond=0),
        "duration_minutes": int((meeting.ends_at - meeting.starts_at).total_seconds() // 60),
        "capacity": meeting.capacity,
        "facilitator": meeting.facilitator,
        "backup": meeting.backup,
    }
    form = EditMeetingForm(request.POST or None, group=group, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_update_meeting(access, meeting, **form.cleaned_data)
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The meeting is updated."))
            return redirect("meetings:detail", slug=group.slug, public_id=public_id)
    return render_form_page(
        request,
        "meetings/meeting_form.html",
        {"group": group, "form": form, "meeting": meeting, "creating": False, "cancel_form": CancelForm()},
        form,
    )


@require_POST
@group_page(actions.require_scheduler)
def cancel_meeting(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    meeting = _meeting_or_404(access, public_id)
    form = CancelForm(request.POST)
    try:
        if not form.is_valid():
            raise ActionError(_("Say why the meeting is cancelled: the people going will see it."))
        actions.do_cancel_meeting(access, meeting, form.cleaned_data["reason"])
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("meetings:edit", slug=access.group.slug, public_id=public_id)
    messages.success(request, _("The meeting is cancelled and the people going are told."))
    return redirect("meetings:detail", slug=access.group.slug, public_id=public_id)


def _ics_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@group_page(require_member)
def meeting_ics(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    meeting = _meeting_or_404(access, public_id)
    user: User = request.user  # type: ignore[assignment]
    body = build_calendar([meeting], discreet=user.discreet_notifications, base_url=_base_url(request))
    return _ics_response(body, "appointment.ics" if user.discreet_notifications else f"{access.group.slug}.ics")


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


@login_required
@require_GET
def my_meetings(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    rows = []
    for meeting in actions.meetings_for(user):
        own = meeting.viewer_rsvps[0] if meeting.viewer_rsvps else None  # type: ignore[attr-defined]
        rows.append((meeting, own))
    return render(request, "meetings/mine.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    feed_url = None
    if request.method == "POST":
        if request.POST.get("action") == "remove":
            actions.do_remove_calendar_feed(user)
            messages.success(request, _("Your calendar address is removed and no longer works."))
            return redirect("meetings:calendar")
        token = actions.do_reset_calendar_feed(user)
        feed_url = request.build_absolute_uri(reverse("meetings:feed", args=[token]))
    has_feed = hasattr(user, "calendar_feed") and user.calendar_feed is not None
    return render(
        request, "meetings/calendar.html", {"feed_url": feed_url, "has_feed": has_feed or feed_url is not None}
    )


@never_cache
@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    user = actions.user_for_feed(token)
    body = build_calendar(
        actions.feed_meetings(user), discreet=user.discreet_notifications, base_url=_base_url(request)
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@group_page(require_member)
def room_page(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    """The live room's page; the socket itself decides who may enter, and says why not."""
    meeting = _meeting_or_404(access, public_id)
    return render(
        request,
        "meetings/room.html",
        {
            "group": access.group,
            "meeting": meeting,
            "access": access,
            "is_facilitator": access.membership is not None and room_actions.runs_meeting(access.membership, meeting),
            "ws_path": f"/ws/rooms/{meeting.public_id}/",
        },
    )


@require_GET
@group_page(actions.require_scheduler)
def transcript(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    """A closed room's messages, for the group's facilitators only (until retention removes them)."""
    meeting = _meeting_or_404(access, public_id)
    room = Room.objects.filter(meeting=meeting).first()
    if room is not None and room_actions.is_open(meeting, room):
        return render(
            request, "meetings/transcript.html", {"group": access.group, "meeting": meeting, "still_open": True}
        )
    written = room_actions.transcript(meeting)
    # Messages were written (the room numbered some) but none is left: retention deleted them.
    purged = room is not None and room.last_seq > 0 and not written
    return render(
        request,
        "meetings/transcript.html",
        {"group": access.group, "meeting": meeting, "messages": written, "purged": purged, "still_open": False},
    )
