"""One way to show a time to a person: their timezone, the group's beside it, and a hint."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


@dataclass(frozen=True)
class ShownTime:
    iso: str  # for <time datetime=…>
    local: str  # "Tue 14 Jan 2025, 19:00 GMT" in the viewer's timezone
    group_local: str  # "19:00 in London" when the group's clock reads differently, else ""
    relative: str  # "in 3 hours", "2 days ago"


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def place_name(timezone_name: str) -> str:
    """ "America/New_York" -> "New York"."""
    return timezone_name.rsplit("/", 1)[-1].replace("_", " ")


def relative_hint(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    future = seconds >= 0
    seconds = abs(seconds)
    if seconds < 60:
        return _("now")
    minutes = int(seconds // 60)
    hours = int(seconds // 3600)
    days = int(seconds // 86400)
    if minutes < 60:
        amount = ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    elif hours < 48:
        amount = ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    else:
        amount = ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    return (_("in %(amount)s") if future else _("%(amount)s ago")) % {"amount": amount}


def show_time(moment: datetime, viewer_timezone: str, group_timezone: str, now: datetime | None = None) -> ShownTime:
    """Format `moment` (aware) for a viewer, with the group's local time when it differs."""
    now = now or timezone.now()
    viewer_local = moment.astimezone(zone(viewer_timezone))
    group_local = moment.astimezone(zone(group_timezone))
    local = f"{dateformat.format(viewer_local, 'D j M Y, H:i')} {viewer_local.tzname()}"
    differs = viewer_local.utcoffset() != group_local.utcoffset()
    group_text = ""
    if differs:
        if group_local.date() != viewer_local.date():
            when = dateformat.format(group_local, "D H:i")
        else:
            when = dateformat.format(group_local, "H:i")
        group_text = _("%(time)s in %(place)s") % {"time": when, "place": place_name(group_timezone)}
    return ShownTime(moment.isoformat(), local, group_text, relative_hint(moment, now))


def duration_text(length: timedelta) -> str:
    minutes = int(length.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
