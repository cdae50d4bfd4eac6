"""iCalendar output: one meeting's .ics, and a person's feed.

With discreet notifications on, events read "Appointment" and name no group, topic or site,
so a calendar seen over someone's shoulder gives nothing away.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from meetings.models import Meeting


def build_calendar(meetings: Iterable[Meeting], *, discreet: bool, base_url: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Calendar//EN" if discreet else "-//Hearth//Meetings//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("Appointments") if discreet else _("Hearth meetings"))
    stamp = timezone.now()
    for meeting in meetings:
        event = Event()
        event.add("uid", f"{meeting.public_id}@calendar")
        event.add("dtstamp", stamp)
        event.add("dtstart", meeting.starts_at)
        event.add("dtend", meeting.ends_at)
        event.add("status", "CANCELLED" if meeting.is_cancelled else "CONFIRMED")
        if discreet:
            event.add("summary", _("Appointment"))
            event.add("url", f"{base_url}/meetings/")
        else:
            summary = f"{meeting.title} · {meeting.group.name}"
            if meeting.is_cancelled:
                summary = _("Cancelled: %(summary)s") % {"summary": summary}
            event.add("summary", summary)
            link = f"{base_url}/groups/{meeting.group.slug}/meetings/{meeting.public_id}/"
            event.add("url", link)
            event.add(
                "description",
                _("Online meeting of %(group)s. Join the room from %(link)s")
                % {"group": meeting.group.name, "link": link},
            )
        calendar.add_component(event)
    return calendar.to_ical()
