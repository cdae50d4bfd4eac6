"""The group health page and its CSV: for the group's facilitators and owners, and staff.

Both are made from the same rows (`health_tables`), so the download says exactly what the page
shows. Counts only: no message text, and no person, not even by handle.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import dateformat
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from console.charts import Series, bar_chart, describe
from console.health import GroupHealth, MeetingFigures, group_health
from groups import actions
from groups.views import group_page
from lib.timefmt import place_name

# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "section",
    "week_start",
    "meeting_start",
    "meeting_title",
    "meetings",
    "rsvps",
    "arrivals",
    "rsvps_arrived",
    "messages",
    "meetings_with_facilitator",
    "new_members",
    "returning_members",
    "reports_opened",
    "reports_resolved",
)


@dataclass(frozen=True)
class HealthFigure:
    """One chart and the table with its numbers."""

    key: str  # the id of the chart and of the table
    heading: str
    caption: str
    chart: SafeString
    columns: list[str]  # the first heads the row headers
    rows: list[tuple[str, list[str]]]  # (row header, cells)


@require_GET
@group_page(actions.require_facilitator)
def health(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    figures = group_health([access.group])[access.group.pk]
    return render(
        request,
        "console/health.html",
        {
            "group": access.group,
            "health": figures,
            "totals": figures.totals,
            "first_week": figures.weeks[0].start,
            "last_week": figures.weeks[-1].start,
            "place": place_name(access.group.timezone),
            "attendance_percent": _percent(figures.attendance_rate),
            "coverage_percent": _percent(figures.facilitator_coverage),
            "messages_per_meeting": (
                None if figures.messages_per_meeting is None else f"{figures.messages_per_meeting:.1f}"
            ),
            "figures": health_figures(figures),
        },
    )


@require_GET
@group_page(actions.require_facilitator)
def health_csv(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    figures = group_health([access.group])[access.group.pk]
    # A neutral file name: downloads folders are seen by whoever shares the device.
    name = f"group-health-{figures.until.astimezone(figures.since.tzinfo):%Y-%m-%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(figures))
    return response


def csv_rows(figures: GroupHealth) -> list[list[str]]:
    """One row per week, then one per meeting; the columns are CSV_COLUMNS (docs/console.md)."""
    rows = []
    for week in figures.weeks:
        rows.append(
            [
                "week",
                week.start.isoformat(),
                "",
                "",
                str(week.meetings),
                str(week.rsvps),
                str(week.arrivals),
                str(week.rsvps_arrived),
                str(week.messages),
                str(week.meetings_with_facilitator),
                str(week.new_members),
                str(week.returning_members),
                str(week.reports_opened),
                str(week.reports_resolved),
            ]
        )
    for meeting in figures.meetings:
        rows.append(
            [
                "meeting",
                meeting.week.isoformat(),
                meeting.starts_at.strftime("%Y-%m-%d %H:%M"),
                safe_cell(meeting.title),
                "1",
                str(meeting.rsvps),
                str(meeting.arrivals),
                str(meeting.rsvps_arrived),
                str(meeting.messages),
                "1" if meeting.had_facilitator else "0",
                "",
                "",
                "",
                "",
            ]
        )
    return rows


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def health_figures(figures: GroupHealth) -> list[HealthFigure]:
    """The page's charts, each with its table, in reading order."""
    weeks = figures.weeks
    week_labels = [_short(week.start) for week in weeks]
    week_headers = [_long(week.start) for week in weeks]
    meetings = figures.meetings
    meeting_labels = [_short(meeting.starts_at.date()) for meeting in meetings]
    meeting_headers = [_meeting_header(meeting) for meeting in meetings]
    period = _("%(count)d weeks from %(first)s, in %(place)s time.") % {
        "count": len(weeks),
        "first": _long(weeks[0].start),
        "place": place_name(figures.group.timezone),
    }
    shown: list[HealthFigure] = []

    rsvps = Series(_("Said going"), [meeting.rsvps for meeting in meetings])
    arrivals = Series(_("Came"), [meeting.arrivals for meeting in meetings])
    title = _("RSVPs and arrivals per meeting")
    shown.append(
        HealthFigure(
            key="attendance",
            heading=title,
            caption=_("RSVPs and arrivals for each meeting held"),
            chart=bar_chart(
                chart_id="chart-attendance",
                title=title,
                description=_meetings_description(len(meetings), period, [rsvps, arrivals], meeting_labels),
                labels=meeting_labels,
                series=[rsvps, arrivals],
            ),
            columns=[_("Meeting"), _("Said going"), _("Came"), _("Came, of those going")],
            rows=[
                (header, [str(meeting.rsvps), str(meeting.arrivals), str(meeting.rsvps_arrived)])
                for header, meeting in zip(meeting_headers, meetings, strict=True)
            ],
        )
    )

    messages = Series(_("Messages"), [meeting.messages for meeting in meetings])
    title = _("Messages per meeting")
    shown.append(
        HealthFigure(
            key="messages",
            heading=title,
            caption=_("Messages written in each meeting's room"),
            chart=bar_chart(
                chart_id="chart-messages",
                title=title,
                description=_meetings_description(len(meetings), period, [messages], meeting_labels),
                labels=meeting_labels,
                series=[messages],
            ),
            columns=[_("Meeting"), _("Messages")],
            rows=[(header, [str(meeting.messages)]) for header, meeting in zip(meeting_headers, meetings, strict=True)],
        )
    )

    weekly = [
        (
            "members",
            _("New and returning members per week"),
            _("Members who joined, and members who came back to a meeting, each week"),
            [(_("New members"), "new_members"), (_("Returning members"), "returning_members")],
            "",
        ),
        (
            "reports",
            _("Reports opened and resolved per week"),
            _("Reports filed, and reports resolved or dismissed, each week"),
            [(_("Reports opened"), "reports_opened"), (_("Reports resolved"), "reports_resolved")],
            _median_text(figures.median_hours_to_resolve),
        ),
        (
            "coverage",
            _("Facilitator coverage per week"),
            _("Meetings held, and meetings a facilitator was in, each week"),
            [(_("Meetings held"), "meetings"), (_("With a facilitator"), "meetings_with_facilitator")],
            "",
        ),
    ]
    for key, title, caption, columns, more in weekly:
        series = [Series(name, [getattr(week, field) for week in weeks]) for name, field in columns]
        shown.append(
            HealthFigure(
                key=key,
                heading=title,
                caption=caption,
                chart=bar_chart(
                    chart_id=f"chart-{key}",
                    title=title,
                    description=" ".join(part for part in (period, describe(series, week_labels), more) if part),
                    labels=week_labels,
                    series=series,
                ),
                columns=[_("Week of"), *(name for name, _field in columns)],
                rows=[
                    (header, [str(getattr(week, field)) for _name, field in columns])
                    for header, week in zip(week_headers, weeks, strict=True)
                ],
            )
        )
    return shown


def _meetings_description(count: int, period: str, series: list[Series], labels: list[str]) -> str:
    if not count:
        return period + " " + _("No meeting was held.")
    return period + " " + describe(series, labels)


def _median_text(median: float | None) -> str:
    if median is None:
        return _("No report was resolved.")
    return _("Median time to resolve: %(hours)s hours.") % {"hours": f"{median:.1f}"}


def _meeting_header(meeting: MeetingFigures) -> str:
    return f"{dateformat.format(meeting.starts_at, 'D j M Y, H:i')} · {meeting.title}"


def _short(day: date) -> str:
    return dateformat.format(day, "j M")


def _long(day: date) -> str:
    return dateformat.format(day, "j M Y")


def _percent(share: float | None) -> str | None:
    return None if share is None else f"{share * 100:.0f}%"
