"""Recurrence rules (RFC 5545 RRULE) evaluated in the group's timezone.

A series says "every Tuesday at 19:00, Europe/London": the rule is expanded on naive local
datetimes and each occurrence is then placed in the zone, so it stays at 19:00 local across
daylight-saving changes (18:00 UTC in summer, 19:00 UTC in winter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil import rrule as dateutil_rrule
from django.utils import dateformat
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from lib.errors import ActionError
from lib.timefmt import zone

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ALLOWED_FREQUENCIES = {"WEEKLY", "MONTHLY"}
MAX_COUNT = 200
MAX_INTERVAL = 8
MAX_UNTIL = timedelta(days=2 * 365)


@dataclass(frozen=True)
class Occurrence:
    series_date: date  # the local date the rule produced
    starts_at: datetime  # aware, UTC
    ends_at: datetime


def build_rule(
    *,
    frequency: str,
    interval: int = 1,
    weekdays: list[str] | None = None,
    month_week: int | None = None,
    month_weekday: str | None = None,
    until: date | None = None,
    count: int | None = None,
) -> str:
    """An RRULE string from the schedule form's choices (validated by check_rule)."""
    parts = [f"FREQ={frequency}", f"INTERVAL={interval}"]
    if frequency == "WEEKLY" and weekdays:
        parts.append("BYDAY=" + ",".join(weekdays))
    if frequency == "MONTHLY" and month_week is not None and month_weekday:
        parts.append(f"BYDAY={month_week:+d}{month_weekday}")
    if until is not None:
        parts.append(f"UNTIL={until:%Y%m%d}T235959")
    if count is not None:
        parts.append(f"COUNT={count}")
    return ";".join(parts)


def _parse(rule: str, start: datetime) -> dateutil_rrule.rrule:
    try:
        parsed = dateutil_rrule.rrulestr(rule, dtstart=start, forceset=False)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ActionError(_("This repeat rule isn't valid."), field="rrule") from None
    if not isinstance(parsed, dateutil_rrule.rrule):
        raise ActionError(_("Use a single repeat rule."), field="rrule")
    return parsed


def check_rule(rule: str, start_date: date, start_time: time, timezone_name: str, *, today: date) -> str:
    """The rule if it can be used for a series, else ActionError saying what is wrong."""
    fields = dict(part.split("=", 1) for part in rule.upper().split(";") if "=" in part)
    frequency = fields.get("FREQ", "")
    if frequency not in ALLOWED_FREQUENCIES:
        raise ActionError(_("Meetings can repeat weekly or monthly."), field="rrule")
    try:
        interval = int(fields.get("INTERVAL", "1"))
        count = int(fields["COUNT"]) if "COUNT" in fields else None
    except ValueError:
        raise ActionError(_("This repeat rule isn't valid."), field="rrule") from None
    if not 1 <= interval <= MAX_INTERVAL:
        raise ActionError(_("Repeat every 1 to %(max)d weeks or months.") % {"max": MAX_INTERVAL}, field="rrule")
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise ActionError(_("A series can have 1 to %(max)d meetings.") % {"max": MAX_COUNT}, field="rrule")
    if "COUNT" in fields and "UNTIL" in fields:
        raise ActionError(_("End a series after a number of meetings or on a date, not both."), field="rrule")
    if frequency == "WEEKLY" and "BYDAY" in fields:
        days = fields["BYDAY"].split(",")
        if not days or any(day not in WEEKDAYS for day in days):
            raise ActionError(_("Choose at least one day of the week."), field="weekdays")
    parsed = _parse(rule, datetime.combine(start_date, start_time))
    until = parsed._until  # dateutil keeps the parsed UNTIL here
    if until is not None:
        if until.date() < start_date:
            raise ActionError(_("The series ends before its first meeting."), field="until")
        if until.date() - start_date > MAX_UNTIL:
            raise ActionError(_("A series can run for up to two years; set an earlier end."), field="until")
    if parsed.after(datetime.combine(today, time.min), inc=True) is None:
        raise ActionError(_("This schedule has no meeting from today on."), field="start_date")
    zone(timezone_name)
    return ";".join(f"{key}={value}" for key, value in fields.items())


def occurrences(
    rule: str,
    start_date: date,
    start_time: time,
    duration: timedelta,
    timezone_name: str,
    *,
    window_start: datetime,
    window_end: datetime,
) -> list[Occurrence]:
    """Occurrences whose start falls in [window_start, window_end) (aware datetimes)."""
    tz = zone(timezone_name)
    parsed = _parse(rule, datetime.combine(start_date, start_time))
    # Expand on local naive times with a day of slack each side, then filter exactly in UTC.
    local_from = window_start.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
    local_to = window_end.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    found = []
    for local in parsed.between(local_from, local_to, inc=True):
        starts_at = local.replace(tzinfo=tz).astimezone(UTC)
        if window_start <= starts_at < window_end:
            found.append(Occurrence(local.date(), starts_at, starts_at + duration))
    return found


def rule_fields(rule: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in rule.split(";") if "=" in part)


def until_date(fields: dict[str, str]) -> date | None:
    value = fields.get("UNTIL", "")
    return date(int(value[:4]), int(value[4:6]), int(value[6:8])) if len(value) >= 8 else None


def describe_rule(rule: str) -> str:
    """A short human description: "Every Tuesday", "Every 2 weeks on Mon, Thu", "Monthly, 1st Sunday"."""
    fields = rule_fields(rule)
    interval = int(fields.get("INTERVAL", "1"))
    names = dict(
        zip(
            WEEKDAYS,
            (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")),
            strict=True,
        )
    )
    if fields.get("FREQ") == "WEEKLY":
        days = [str(names[day]) for day in fields.get("BYDAY", "").split(",") if day in names]
        on = get_text_list(days, _("and"))
        text = (
            _("Every %(days)s") % {"days": on}
            if interval == 1
            else _("Every %(n)d weeks on %(days)s") % {"n": interval, "days": on}
        )
    else:
        by_day = fields.get("BYDAY", "")
        ordinals = {"+1": _("first"), "+2": _("second"), "+3": _("third"), "+4": _("fourth"), "-1": _("last")}
        ordinal = ordinals.get(by_day[:2], "")
        day = names.get(by_day[2:], "")
        text = (
            _("Every month on the %(nth)s %(day)s") % {"nth": ordinal, "day": day}
            if interval == 1
            else _("Every %(n)d months on the %(nth)s %(day)s") % {"n": interval, "nth": ordinal, "day": day}
        )
    if "COUNT" in fields:
        count = int(fields["COUNT"])
        text += ", " + ngettext("%(count)d time", "%(count)d times", count) % {"count": count}
    until = until_date(fields)
    if until is not None:
        text += ", " + _("until %(date)s") % {"date": dateformat.format(until, "j M Y")}
    return text
