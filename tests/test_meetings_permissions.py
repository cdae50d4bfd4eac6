"""Who may open which meetings URL: the permission matrix, written out as the spec.

Every URL name in meetings/urls.py, by GET and POST, for each persona (see
tests/groups_fixtures.py), in a listed and in an unlisted group. Each cell is what the response
must be:

    "200", "403", "404", "405"   that status
    "login"                      302 to the login page, with ?next= this URL
    "→sched", "→detail"          302 to the group's schedule, or to a meeting's page
    a trailing "*"               …and the action took effect (checked specifically for each
                                 endpoint). Without "*" nothing in the database changed: no
                                 series, rota, meeting, RSVP, calendar address or notice.

The rules: facilitators, owners and staff manage a group's schedule (schedule page, create, edit
and end a series, create a one-off meeting, edit and cancel a meeting). Active members (and
staff) see meeting pages and download a meeting's .ics; members answer going or not (staff, who
hold no membership, are sent back to the meeting with nothing changed). Everyone else sees only
the upcoming meetings list on a listed group's page, without links. Pending applicants and
banned members are outsiders; an unlisted group answers 404 to anyone but staff and its active
or pending members, and a listed group's member pages answer 403 to outsiders. Anonymous visitors
are sent to log in on a listed group and get 404 on an unlisted one. /meetings/ and
/meetings/calendar/ need a login; the calendar feed needs only a valid, current token. A wrong
method answers 405 before any group is looked up (so it reveals nothing).

Cells where the code today disagrees with the spec would go in DEVIATIONS, as strict xfails
(none today). The query-count tests at the end that the code fails today (an N+1 on the group
page and the schedule) are strict xfails too: they fail the day the code is fixed, so the mark
can then be removed.

Everything runs at a frozen moment (NOW) so that the series' meetings are upcoming.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

import meetings.urls
from accounts.models import Notice, User
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from meetings import actions
from meetings.models import CalendarFeed, Meeting, MeetingSeries, RotaEntry, Rsvp
from tests.conftest import add_member
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import HANDLES, GroupCast, build_cast, client_as, make_person, new_group

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday morning
WEEKLY_TUESDAY = "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU"
SERIES_TITLE = "Tuesday circle"
NEW_SERIES_TITLE = "Thursday circle"
RENAMED_SERIES_TITLE = "Tuesday evening circle"
NEW_MEETING_TITLE = "Extra spring meeting"
NEW_CAPACITY = 20

LISTED, UNLISTED = "listed", "unlisted"
# The brief's persona order, used by every row below.
PERSONAS = ("anonymous", "outsider", "pending", "banned", "member", "facilitator", "owner", "staff")


@pytest.fixture(autouse=True)
def _frozen_time() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


# fmt: off
# Persona order in every row:
#                  anonymous   outsider    pending     banned      member      facilitator owner       staff
EXPECTED: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # --- Not about one group (the group column only changes whose meetings exist) ------------------
    ("mine", "GET"): {
        LISTED:   ("login",    "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("login",    "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    ("mine", "POST"): {
        LISTED:   ("login",    "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("login",    "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("calendar", "GET"): {
        LISTED:   ("login",    "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("login",    "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    # POST action=reset: a new calendar address, for anyone signed in.
    ("calendar", "POST"): {
        LISTED:   ("login",    "200*",     "200*",     "200*",     "200*",     "200*",     "200*",     "200*"),
        UNLISTED: ("login",    "200*",     "200*",     "200*",     "200*",     "200*",     "200*",     "200*"),
    },
    # The group member's valid feed address: the token is the only key, whoever holds it
    # (a calendar app is never signed in).
    ("feed", "GET"): {
        LISTED:   ("200",      "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("200",      "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    ("feed", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    # --- Facilitators, owners and staff: the schedule ---------------------------------------------
    ("schedule", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("schedule", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("create_series", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("create_series", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→sched*",  "→sched*",  "→sched*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→sched*",  "→sched*",  "→sched*"),
    },
    ("edit_series", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("edit_series", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→sched*",  "→sched*",  "→sched*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→sched*",  "→sched*",  "→sched*"),
    },
    ("end_series", "GET"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("end_series", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→sched*",  "→sched*",  "→sched*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→sched*",  "→sched*",  "→sched*"),
    },
    ("create_meeting", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("create_meeting", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→detail*", "→detail*", "→detail*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→detail*", "→detail*", "→detail*"),
    },
    ("edit", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("edit", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→detail*", "→detail*", "→detail*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→detail*", "→detail*", "→detail*"),
    },
    ("cancel", "GET"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("cancel", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "→detail*", "→detail*", "→detail*"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "→detail*", "→detail*", "→detail*"),
    },
    # --- Active members (and staff): one meeting ------------------------------------------------
    ("detail", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "200",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "200",      "200",      "200",      "200"),
    },
    ("detail", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("rsvp", "GET"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    # Staff may look but hold no membership to answer with: back to the meeting, nothing saved.
    ("rsvp", "POST"): {
        LISTED:   ("login",    "403",      "403",      "403",      "→detail*", "→detail*", "→detail*", "→detail"),
        UNLISTED: ("404",      "404",      "403",      "404",      "→detail*", "→detail*", "→detail*", "→detail"),
    },
    ("ics", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "200",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "200",      "200",      "200",      "200"),
    },
    ("ics", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    # The live room's page (the socket itself then decides who may enter, and says why not).
    ("room", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "200",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "200",      "200",      "200",      "200"),
    },
    ("room", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    # A closed room's transcript: the group's facilitators, owners and staff only.
    ("transcript", "GET"): {
        LISTED:   ("login",    "403",      "403",      "403",      "403",      "200",      "200",      "200"),
        UNLISTED: ("404",      "404",      "403",      "404",      "403",      "200",      "200",      "200"),
    },
    ("transcript", "POST"): {
        LISTED:   ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",      "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
}
# fmt: on


class Deviation(NamedTuple):
    current: str  # what the code answers today
    reason: str


# (endpoint, method, group kind, persona) -> what the code answers today instead of the spec.
DEVIATIONS: dict[tuple[str, str, str, str], Deviation] = {}


# --- The world each cell runs in ------------------------------------------------------------------


class World(NamedTuple):
    cast: GroupCast
    series: MeetingSeries
    meeting: Meeting  # the series' next meeting: the one the meeting URLs are about
    feed_token: str  # the cast member's calendar address


def create_series(group: SupportGroup, by: User, *, title: str = SERIES_TITLE, capacity: int = 12) -> MeetingSeries:
    access = access_group(by, group.slug)
    rota = list(
        group.memberships.filter(
            status=Membership.Status.ACTIVE, role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER]
        ).order_by("handle")
    )
    data = actions.SeriesData(
        title=title,
        rule=WEEKLY_TUESDAY,
        start_date=NOW.date(),
        start_time=time(19, 0),
        duration_minutes=90,
        capacity=capacity,
        rota=rota,
    )
    return actions.do_create_series(access, data)


def build_world(
    slug: str, *, listed: bool, handles: dict[str, str] | None = None, people: dict[str, User] | None = None
) -> World:
    cast = build_cast(slug, listed=listed, handles=handles, people=people)
    series = create_series(cast.group, cast.people["owner"])
    upcoming = list(series.meetings.order_by("starts_at"))
    assert len(upcoming) == 8 and upcoming[0].starts_at > NOW
    # Some answers already given, so a refused request that wiped or changed them would show.
    actions.do_rsvp(cast.memberships["member"], upcoming[1], going=True)
    actions.do_rsvp(cast.memberships["facilitator"], upcoming[1], going=False)
    # A banned person's answer from before the ban stays as it was.
    Rsvp.objects.create(meeting=upcoming[2], membership=cast.memberships["banned"], status=Rsvp.Status.GOING)
    token = actions.do_reset_calendar_feed(cast.people["member"])
    return World(cast, series, upcoming[0], token)


def _group_url(name: str, *extra: Callable[[World], str]) -> Callable[[World], str]:
    return lambda world: reverse(f"meetings:{name}", args=[world.cast.group.slug, *(part(world) for part in extra)])


def _series_id(world: World) -> str:
    return world.series.public_id


def _meeting_id(world: World) -> str:
    return world.meeting.public_id


URLS: dict[str, Callable[[World], str]] = {
    "mine": lambda world: reverse("meetings:mine"),
    "calendar": lambda world: reverse("meetings:calendar"),
    "feed": lambda world: reverse("meetings:feed", args=[world.feed_token]),
    "schedule": _group_url("schedule"),
    "create_series": _group_url("create_series"),
    "edit_series": _group_url("edit_series", _series_id),
    "end_series": _group_url("end_series", _series_id),
    "create_meeting": _group_url("create_meeting"),
    "detail": _group_url("detail", _meeting_id),
    "rsvp": _group_url("rsvp", _meeting_id),
    "edit": _group_url("edit", _meeting_id),
    "cancel": _group_url("cancel", _meeting_id),
    "ics": _group_url("ics", _meeting_id),
    "room": _group_url("room", _meeting_id),
    "transcript": _group_url("transcript", _meeting_id),
}


def series_form_data(title: str, weekday: str) -> dict[str, object]:
    return {
        "title": title,
        "frequency": "WEEKLY",
        "interval": "1",
        "weekdays": [weekday],
        "start_date": NOW.date().isoformat(),
        "start_time": "19:00",
        "duration_minutes": "90",
        "capacity": "12",
        "ends": "never",
    }


def edit_meeting_data(world: World) -> dict[str, object]:
    """The meeting at the same time (no move, so no reason needed), with more places."""
    meeting = world.meeting
    return {
        "day": meeting.starts_at.date().isoformat(),  # the group's timezone is UTC
        "at": meeting.starts_at.strftime("%H:%M"),
        "duration_minutes": str(int((meeting.ends_at - meeting.starts_at).total_seconds() // 60)),
        "capacity": str(NEW_CAPACITY),
        "facilitator": str(meeting.facilitator_id or ""),
        "backup": str(meeting.backup_id or ""),
        "reason": "",
    }


POST_DATA: dict[str, Callable[[World], dict[str, object]]] = {
    "calendar": lambda world: {"action": "reset"},
    "create_series": lambda world: series_form_data(NEW_SERIES_TITLE, "TH"),
    "edit_series": lambda world: series_form_data(RENAMED_SERIES_TITLE, "TU"),
    "create_meeting": lambda world: {
        "title": NEW_MEETING_TITLE,
        "day": (NOW.date() + timedelta(days=10)).isoformat(),
        "at": "18:30",
        "duration_minutes": "60",
        "capacity": "8",
        "facilitator": "",
        "backup": "",
    },
    "rsvp": lambda world: {"going": "yes"},
    "edit": edit_meeting_data,
    "cancel": lambda world: {"reason": "The facilitator is unwell."},
}


def _rsvp_status(world: World, user: User | None) -> str | None:
    return Rsvp.objects.filter(meeting=world.meeting, membership__user=user).values_list("status", flat=True).first()


def _fresh(world: World) -> Meeting:
    return Meeting.objects.get(pk=world.meeting.pk)


# The specific change each POST endpoint makes when it is allowed ("*" cells).
EFFECTS: dict[str, Callable[[World, User | None], bool]] = {
    "calendar": lambda world, user: CalendarFeed.objects.filter(user=user).exists(),
    "create_series": lambda world, user: (
        Meeting.objects.filter(group=world.cast.group, series__title=NEW_SERIES_TITLE).count() == 8
    ),
    "edit_series": lambda world, user: (
        MeetingSeries.objects.get(pk=world.series.pk).title == RENAMED_SERIES_TITLE
        and _fresh(world).title == RENAMED_SERIES_TITLE
    ),
    "end_series": lambda world, user: (
        MeetingSeries.objects.get(pk=world.series.pk).ended_at is not None
        and not world.series.meetings.filter(status=Meeting.Status.SCHEDULED).exists()
    ),
    "create_meeting": lambda world, user: Meeting.objects.filter(
        group=world.cast.group, title=NEW_MEETING_TITLE, series__isnull=True
    ).exists(),
    "rsvp": lambda world, user: _rsvp_status(world, user) == Rsvp.Status.GOING,
    "edit": lambda world, user: _fresh(world).capacity == NEW_CAPACITY,
    "cancel": lambda world, user: _fresh(world).status == Meeting.Status.CANCELLED,
}


def database_state() -> tuple[object, ...]:
    """Everything a meetings URL could change."""
    return (
        list(
            MeetingSeries.objects.order_by("pk").values_list(
                "pk", "group_id", "title", "rrule", "start_date", "start_time", "capacity", "ended_at"
            )
        ),
        list(RotaEntry.objects.order_by("pk").values_list("pk", "series_id", "membership_id", "position")),
        list(
            Meeting.objects.order_by("pk").values_list(
                "pk",
                "group_id",
                "series_id",
                "title",
                "starts_at",
                "ends_at",
                "capacity",
                "status",
                "change_reason",
                "is_detached",
                "facilitator_id",
                "backup_id",
            )
        ),
        list(Rsvp.objects.order_by("pk").values_list("pk", "meeting_id", "membership_id", "status", "waitlisted_at")),
        list(CalendarFeed.objects.order_by("pk").values_list("pk", "user_id", "token_hash")),
        Notice.objects.count(),
    )


def text(response: HttpResponse) -> str:
    """The page as a person reads it (entities such as &#x27; decoded)."""
    return html.unescape(response.content.decode())


def outcome(response: HttpResponse, url: str, world: World) -> str:
    if response.status_code != 302:
        return str(response.status_code)
    location = response["Location"]
    login = reverse("accounts:login")
    if location.startswith(login + "?"):
        assert parse_qs(urlsplit(location).query)["next"] == [url], location
        return "login"
    slug = world.cast.group.slug
    if location == reverse("meetings:schedule", args=[slug]):
        return "→sched"
    if location == reverse("meetings:detail", args=[slug, world.meeting.public_id]):
        return "→detail"
    created = Meeting.objects.filter(group=world.cast.group, title=NEW_MEETING_TITLE).first()
    if created is not None and location == reverse("meetings:detail", args=[slug, created.public_id]):
        return "→detail"
    return f"→{location}"


def _cells() -> list[object]:
    cells = []
    for endpoint, method in EXPECTED:
        for group_kind in (LISTED, UNLISTED):
            for persona in PERSONAS:
                key = (endpoint, method, group_kind, persona)
                marks = []
                if key in DEVIATIONS:
                    marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=DEVIATIONS[key].reason))
                cells.append(pytest.param(*key, marks=marks, id=f"{endpoint}-{method}-{group_kind}-{persona}"))
    return cells


@pytest.mark.parametrize(("endpoint", "method", "group_kind", "persona"), _cells())
def test_permission_matrix(client: Client, endpoint: str, method: str, group_kind: str, persona: str) -> None:
    world = build_world(f"{group_kind}-circle", listed=group_kind == LISTED)
    user = world.cast.user(persona)
    client_as(client, user)
    url = URLS[endpoint](world)
    before = database_state()

    if method == "POST":
        response = client.post(url, POST_DATA.get(endpoint, lambda world: {})(world))
    else:
        response = client.get(url)

    changed = database_state() != before
    actual = outcome(response, url, world) + ("*" if changed else "")
    expected = EXPECTED[(endpoint, method)][group_kind][PERSONAS.index(persona)]
    deviation = DEVIATIONS.get((endpoint, method, group_kind, persona))
    if deviation is not None and actual not in (expected, deviation.current):
        pytest.fail(f"known deviation changed: expected {expected!r} (spec) or {deviation.current!r}, got {actual!r}")
    assert actual == expected, f"{method} {url} as {persona}: got {actual}, spec says {expected}"
    if expected.endswith("*"):
        assert EFFECTS[endpoint](world, user), f"{endpoint} answered {actual} but did not do its job"
    if actual in ("403", "404"):
        # A refusal never shows what it refuses.
        assert world.meeting.public_id not in response.content.decode()
        assert world.cast.handles["facilitator"] not in response.content.decode()


# --- The matrix itself ------------------------------------------------------------------------


def test_matrix_covers_every_meetings_url_by_get_and_post() -> None:
    names = {pattern.name for pattern in meetings.urls.urlpatterns}
    assert set(URLS) == names
    assert set(EXPECTED) == {(name, method) for name in names for method in ("GET", "POST")}
    for by_group in EXPECTED.values():
        assert set(by_group) == {LISTED, UNLISTED}
        assert all(len(row) == len(PERSONAS) for row in by_group.values())
    for endpoint, method, _group_kind, _persona in DEVIATIONS:
        assert (endpoint, method) in EXPECTED


def test_every_allowed_action_has_a_specific_check() -> None:
    starred = {
        endpoint for (endpoint, _method), rows in EXPECTED.items() for row in rows.values() for c in row if "*" in c
    }
    assert starred == set(EFFECTS)


# --- Rules the matrix can't show by status alone ----------------------------------------------

GROUP_SCOPED = [name for name in URLS if name not in ("mine", "calendar", "feed")]


@pytest.mark.parametrize("persona", ["anonymous", "outsider", "banned"])
def test_unlisted_group_meeting_urls_answer_exactly_like_a_missing_group(client: Client, persona: str) -> None:
    """Whoever may not see an unlisted group can't tell its meeting URLs from a missing group's."""
    world = build_world("hidden-circle", listed=False)
    client_as(client, world.cast.user(persona))
    before = database_state()
    for endpoint in GROUP_SCOPED:
        url = URLS[endpoint](world)
        missing_url = url.replace(f"/{world.cast.group.slug}/", "/nosuch-circle/", 1)
        for method in ("GET", "POST"):
            send = client.post if method == "POST" else client.get
            data = POST_DATA.get(endpoint, lambda world: {})(world) if method == "POST" else {}
            hidden, missing = send(url, data), send(missing_url, data)
            assert (hidden.status_code, hidden.get("Location")) == (missing.status_code, missing.get("Location")), (
                f"{method} {url} as {persona} differs from a missing group"
            )
            assert world.cast.group.name not in hidden.content.decode()
            assert SERIES_TITLE not in hidden.content.decode()
    assert database_state() == before


@pytest.mark.parametrize("b_listed", [True, False], ids=["b-listed", "b-unlisted"])
@pytest.mark.parametrize("also_member_of_b", [False, True], ids=["a-only", "a-and-b"])
def test_rsvp_to_another_groups_meeting_through_this_groups_url_is_404(
    client: Client, b_listed: bool, also_member_of_b: bool
) -> None:
    group_a = build_world("circle-a", listed=True)
    group_b = build_world(
        "circle-b",
        listed=b_listed,
        handles=HANDLES["b"],
        people=group_a.cast.people if also_member_of_b else None,
    )
    member = group_a.cast.people["member"]
    client_as(client, member)
    before = database_state()
    url = reverse("meetings:rsvp", args=[group_a.cast.group.slug, group_b.meeting.public_id])
    for answer in ("yes", "no"):
        response = client.post(url, {"going": answer})
        assert response.status_code == 404
    assert database_state() == before
    assert not Rsvp.objects.filter(meeting=group_b.meeting).exists()
    # The action itself refuses too, should a view ever pass the wrong pair.
    with pytest.raises(actions.ActionError):
        actions.do_rsvp(group_a.cast.memberships["member"], group_b.meeting, going=True)
    assert database_state() == before


@pytest.mark.parametrize("b_listed", [True, False], ids=["b-listed", "b-unlisted"])
def test_member_of_one_group_cannot_see_another_groups_meeting(client: Client, b_listed: bool) -> None:
    group_a = build_world("circle-a", listed=True)
    group_b = build_world("circle-b", listed=b_listed, handles=HANDLES["b"])
    meeting_b = group_b.meeting
    client_as(client, group_a.cast.people["member"])
    slug_a, slug_b = group_a.cast.group.slug, group_b.cast.group.slug
    refused = "403" if b_listed else "404"
    cases = {
        # Through group B's own URLs: B's rules for an outsider.
        reverse("meetings:detail", args=[slug_b, meeting_b.public_id]): refused,
        reverse("meetings:ics", args=[slug_b, meeting_b.public_id]): refused,
        # Through group A's URLs, where the person is a member: no such meeting.
        reverse("meetings:detail", args=[slug_a, meeting_b.public_id]): "404",
        reverse("meetings:ics", args=[slug_a, meeting_b.public_id]): "404",
    }
    for url, expected in cases.items():
        response = client.get(url)
        assert str(response.status_code) == expected, url
        assert b"BEGIN:VCALENDAR" not in response.content
        assert group_b.cast.group.name not in response.content.decode()
    # "My meetings" lists A's meetings only.
    mine = text(client.get(reverse("meetings:mine")))
    assert group_a.meeting.public_id in mine
    assert meeting_b.public_id not in mine


def test_facilitator_cannot_manage_another_groups_schedule_through_their_own_group(client: Client) -> None:
    group_a = build_world("circle-a", listed=True)
    group_b = build_world("circle-b", listed=True, handles=HANDLES["b"])
    client_as(client, group_a.cast.people["facilitator"])
    slug_a = group_a.cast.group.slug
    meeting_b, series_b = group_b.meeting, group_b.series
    before = database_state()
    requests = [
        ("GET", reverse("meetings:edit_series", args=[slug_a, series_b.public_id]), {}),
        ("POST", reverse("meetings:edit_series", args=[slug_a, series_b.public_id]), POST_DATA["edit_series"](group_b)),
        ("POST", reverse("meetings:end_series", args=[slug_a, series_b.public_id]), {}),
        ("GET", reverse("meetings:edit", args=[slug_a, meeting_b.public_id]), {}),
        ("POST", reverse("meetings:edit", args=[slug_a, meeting_b.public_id]), edit_meeting_data(group_b)),
        ("POST", reverse("meetings:cancel", args=[slug_a, meeting_b.public_id]), POST_DATA["cancel"](group_b)),
    ]
    for method, url, data in requests:
        response = client.post(url, data) if method == "POST" else client.get(url)
        assert response.status_code == 404, f"{method} {url}"
    # And through B's own URLs: an outsider there.
    assert client.get(reverse("meetings:schedule", args=[group_b.cast.group.slug])).status_code == 403
    assert database_state() == before


def test_an_ended_series_cannot_be_edited_or_ended_again(client: Client) -> None:
    world = build_world("some-circle", listed=True)
    client_as(client, world.cast.people["facilitator"])
    assert client.post(URLS["end_series"](world)).status_code == 302
    before = database_state()
    assert client.get(URLS["edit_series"](world)).status_code == 404
    assert client.post(URLS["edit_series"](world), POST_DATA["edit_series"](world)).status_code == 404
    assert client.post(URLS["end_series"](world)).status_code == 404
    assert database_state() == before


# What each persona finds on a listed group's page about its meetings.
# (sees the titles, has links to meeting pages, has the schedule link)
GROUP_PAGE_MEETINGS = {
    "anonymous": (True, False, False),
    "outsider": (True, False, False),
    "pending": (True, False, False),
    "banned": (True, False, False),
    "member": (True, True, False),
    "facilitator": (True, True, True),
    "owner": (True, True, True),
    "staff": (True, True, True),
}


@pytest.mark.parametrize(("persona", "expected"), GROUP_PAGE_MEETINGS.items())
def test_group_page_lists_upcoming_meetings_with_links_only_for_members(
    client: Client, persona: str, expected: tuple[bool, bool, bool]
) -> None:
    world = build_world("listed-circle", listed=True)
    client_as(client, world.cast.user(persona))
    response = client.get(reverse("groups:detail", args=[world.cast.group.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    sees_titles, sees_links, sees_schedule = expected
    assert (SERIES_TITLE in page) is sees_titles
    meeting_urls = [URLS[name](world) for name in ("detail", "rsvp", "ics", "edit", "cancel")]
    assert (URLS["detail"](world) in page) is sees_links
    if not sees_links:
        assert not any(url in page for url in meeting_urls)
        # No meeting URL at all, for any of the group's meetings.
        assert f"/groups/{world.cast.group.slug}/meetings/" not in page
    assert (URLS["schedule"](world) in page) is sees_schedule


# --- My meetings ------------------------------------------------------------------------------


def test_my_meetings_lists_only_groups_where_the_person_is_an_active_member(client: Client) -> None:
    person = make_person("several-groups")
    statuses = {
        "active-circle": Membership.Status.ACTIVE,
        "pending-circle": Membership.Status.PENDING,
        "banned-circle": Membership.Status.BANNED,
        "left-circle": Membership.Status.LEFT,
        "declined-circle": Membership.Status.DECLINED,
    }
    series = {}
    for slug, status in statuses.items():
        group = new_group(slug, listed=slug != "banned-circle")
        owner = make_person(f"{slug}-owner")
        add_member(group, owner, "Steady Lantern", role=Membership.Role.OWNER, status=Membership.Status.ACTIVE)
        membership = add_member(group, person, "Quiet Harbor", role=Membership.Role.MEMBER, status=status)
        series[slug] = create_series(group, owner, title=f"Meeting of {slug}")
        if status != Membership.Status.PENDING:
            # Answers given while still a member don't bring the meetings back.
            first = series[slug].meetings.order_by("starts_at").first()
            Rsvp.objects.create(meeting=first, membership=membership, status=Rsvp.Status.GOING)
    client_as(client, person)
    page = text(client.get(reverse("meetings:mine")))
    assert "Meeting of active-circle" in page
    for slug in statuses:
        if slug != "active-circle":
            assert f"Meeting of {slug}" not in page
            assert f"/groups/{slug}/" not in page


# --- Calendar feed ----------------------------------------------------------------------------

FEED_URL = re.compile(r"http://testserver/meetings/calendar/([A-Za-z0-9_-]+)\.ics")


def feed_uids(response: HttpResponse) -> dict[str, str]:
    """Meeting public ids in a feed, with each event's STATUS."""
    calendar = Calendar.from_ical(response.content)
    return {str(event["uid"]).removesuffix("@calendar"): str(event["status"]) for event in calendar.walk("VEVENT")}


def test_resetting_the_calendar_address_shows_the_new_one_once_and_kills_the_old_at_once(client: Client) -> None:
    world = build_world("listed-circle", listed=True)
    member = world.cast.people["member"]
    client_as(client, member)
    feed = Client()  # a calendar app: never signed in
    old_url = reverse("meetings:feed", args=[world.feed_token])
    assert feed.get(old_url).status_code == 200

    reset = client.post(reverse("meetings:calendar"), {"action": "reset"})
    assert reset.status_code == 200
    shown = FEED_URL.findall(text(reset))
    assert len(set(shown)) == 1, "the new address is shown"
    new_token = shown[0]
    assert new_token != world.feed_token
    # Only the hash is kept.
    stored = CalendarFeed.objects.get(user=member)
    assert stored.token_hash == hashlib.sha256(new_token.encode()).hexdigest()
    assert CalendarFeed.objects.filter(user=member).count() == 1

    # At once: the old address is gone, the new one works.
    assert feed.get(old_url).status_code == 404
    new_url = reverse("meetings:feed", args=[new_token])
    answer = feed.get(new_url)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    assert "no-store" in answer["Cache-Control"]

    # Shown once: the settings page never shows it again.
    again = text(client.get(reverse("meetings:calendar")))
    assert new_token not in again
    assert FEED_URL.search(again) is None
    assert "Make a new address" in again

    # Removing it: the address stops working at once too.
    removed = client.post(reverse("meetings:calendar"), {"action": "remove"})
    assert removed.status_code == 302
    assert feed.get(new_url).status_code == 404
    assert not CalendarFeed.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "x" * 43,
        # The stored hash itself is not a key.
        "HASH",
    ],
)
def test_feed_answers_404_to_anything_but_a_current_token(client: Client, token: str) -> None:
    world = build_world("listed-circle", listed=True)
    if token == "HASH":
        token = CalendarFeed.objects.get(user=world.cast.people["member"]).token_hash
    response = client.get(reverse("meetings:feed", args=[token]))
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


def test_feed_lists_only_meetings_the_person_is_going_to_or_waitlisted_for(client: Client) -> None:
    world = build_world("listed-circle", listed=True)
    cast = world.cast
    person, membership = cast.people["member"], cast.memberships["member"]
    upcoming = list(world.series.meetings.order_by("starts_at"))
    going, waitlisted, not_going, changed_mind, no_answer, cancelled = upcoming[:6]
    Rsvp.objects.filter(membership=membership).delete()

    actions.do_rsvp(membership, going, going=True)
    waitlisted.capacity = 1
    waitlisted.save(update_fields=["capacity"])
    actions.do_rsvp(cast.memberships["facilitator"], waitlisted, going=True)
    assert actions.do_rsvp(membership, waitlisted, going=True).status == Rsvp.Status.WAITLISTED
    actions.do_rsvp(membership, not_going, going=False)
    actions.do_rsvp(membership, changed_mind, going=True)
    actions.do_rsvp(membership, changed_mind, going=False)
    actions.do_rsvp(cast.memberships["owner"], no_answer, going=True)  # someone else's
    actions.do_rsvp(membership, cancelled, going=True)
    actions.do_cancel_meeting(access_group(cast.people["owner"], cast.group.slug), cancelled, "Room unavailable.")

    # Another group, where the same person was going, then was banned: not in the feed.
    other = build_world("other-circle", listed=False, handles=HANDLES["b"], people=cast.people)
    actions.do_rsvp(other.cast.memberships["member"], other.meeting, going=True)
    Membership.objects.filter(pk=other.cast.memberships["member"].pk).update(status=Membership.Status.BANNED)

    # (Building the other group gave the person a new calendar address: other.feed_token.)
    response = client.get(reverse("meetings:feed", args=[other.feed_token]))
    assert response.status_code == 200
    events = feed_uids(response)
    assert events == {
        going.public_id: "CONFIRMED",
        waitlisted.public_id: "CONFIRMED",
        # Kept, marked cancelled, so calendar apps drop it.
        cancelled.public_id: "CANCELLED",
    }
    assert person.email not in response.content.decode()


def test_a_deactivated_persons_feed_answers_404(client: Client) -> None:
    world = build_world("listed-circle", listed=True)
    actions.do_rsvp(world.cast.memberships["member"], world.meeting, going=True)
    url = reverse("meetings:feed", args=[world.feed_token])
    assert client.get(url).status_code == 200
    User.objects.filter(pk=world.cast.people["member"].pk).update(is_active=False)
    response = client.get(url)
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


@pytest.mark.parametrize(("discreet", "filename"), [(True, "appointment.ics"), (False, "listed-circle.ics")])
def test_a_meetings_ics_is_the_members_own_download(client: Client, discreet: bool, filename: str) -> None:
    world = build_world("listed-circle", listed=True)
    User.objects.filter(pk=world.cast.people["member"].pk).update(discreet_notifications=discreet)
    client_as(client, world.cast.people["member"])
    response = client.get(URLS["ics"](world))
    assert response.status_code == 200
    assert set(feed_uids(response)) == {world.meeting.public_id}
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert (world.cast.group.name.encode() in response.content) is not discreet


# --- Query counts -----------------------------------------------------------------------------


def member_of_groups(prefix: str, count: int) -> User:
    """A person in `count` groups, each with a weekly series materialised and answers given."""
    person = make_person(f"{prefix}-busy")
    for index in range(count):
        group = new_group(f"{prefix}-circle-{index:02d}", listed=index % 2 == 0)
        owner = make_person(f"{prefix}-owner-{index}")
        owner_membership = add_member(
            group, owner, "Steady Lantern", role=Membership.Role.OWNER, status=Membership.Status.ACTIVE
        )
        membership = add_member(
            group, person, "Quiet Harbor", role=Membership.Role.MEMBER, status=Membership.Status.ACTIVE
        )
        series = create_series(group, owner, title=f"Meeting {index}")
        first, second = series.meetings.order_by("starts_at")[:2]
        actions.do_rsvp(membership, first, going=True)
        actions.do_rsvp(membership, second, going=False)
        actions.do_rsvp(owner_membership, first, going=True)
    return person


def count_queries(client: Client, url: str) -> tuple[int, HttpResponse]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


# Measured: 5 for 2 groups and for 20 (100 meetings shown).
MY_MEETINGS_MAX_QUERIES = 6  # includes the header's open-report count


def test_my_meetings_queries_do_not_grow_with_groups(client: Client, django_assert_max_num_queries) -> None:
    few, many = member_of_groups("few", 2), member_of_groups("many", 20)
    client_as(client, few)
    few_count, few_page = count_queries(client, reverse("meetings:mine"))
    assert text(few_page).count("You're going") == 2

    client.logout()
    client_as(client, many)
    many_count, many_page = count_queries(client, reverse("meetings:mine"))
    assert text(many_page).count("You're going") == 20
    assert many_count == few_count, f"2 groups: {few_count} queries, 20 groups: {many_count}"
    with django_assert_max_num_queries(MY_MEETINGS_MAX_QUERIES):
        client.get(reverse("meetings:mine"))


def group_with_meetings(slug: str, count: int) -> GroupCast:
    cast = build_cast(slug, listed=True)
    facilitator = cast.memberships["facilitator"]
    Meeting.objects.bulk_create(
        Meeting(
            group=cast.group,
            title=f"Meeting {index}",
            starts_at=NOW + timedelta(days=1 + index, hours=10),
            ends_at=NOW + timedelta(days=1 + index, hours=11),
            capacity=10,
            facilitator=facilitator if index % 2 else None,
        )
        for index in range(count)
    )
    for meeting in Meeting.objects.filter(group=cast.group)[:6]:
        actions.do_rsvp(cast.memberships["member"], meeting, going=True)
    return cast


# Measured: the same for 1 and 30 meetings (upcoming_meetings() selects each meeting's group).
GROUP_PAGE_MAX_QUERIES = {"anonymous": 5, "member": 11}  # signed in: + the header's open-report count
SCHEDULE_MAX_QUERIES = 8


@pytest.mark.parametrize("persona", ["anonymous", "member"])
def test_group_page_queries_do_not_grow_with_meetings(client: Client, persona: str) -> None:
    one = group_with_meetings("one-meeting", 1)
    thirty = group_with_meetings("thirty-meetings", 30)
    counts = {}
    for cast in (one, thirty):
        client.logout()
        client_as(client, cast.user(persona))
        counts[cast.group.slug], page = count_queries(client, reverse("groups:detail", args=[cast.group.slug]))
        assert "Meeting 0" in text(page)
    assert counts["one-meeting"] == counts["thirty-meetings"], counts


@pytest.mark.parametrize("persona", ["anonymous", "member"])
def test_group_page_query_bound(client: Client, persona: str, django_assert_max_num_queries) -> None:
    cast = group_with_meetings("thirty-meetings", 30)
    client_as(client, cast.user(persona))
    with django_assert_max_num_queries(GROUP_PAGE_MAX_QUERIES[persona]):
        client.get(reverse("groups:detail", args=[cast.group.slug]))


def test_schedule_page_queries_do_not_grow_with_meetings(client: Client) -> None:
    one = group_with_meetings("one-meeting", 1)
    thirty = group_with_meetings("thirty-meetings", 30)
    counts = {}
    for cast in (one, thirty):
        client.logout()
        client_as(client, cast.people["facilitator"])
        counts[cast.group.slug], page = count_queries(client, reverse("meetings:schedule", args=[cast.group.slug]))
        assert "Meeting 0" in text(page)
    assert counts["one-meeting"] == counts["thirty-meetings"], counts


def test_schedule_page_query_bound(client: Client, django_assert_max_num_queries) -> None:
    cast = group_with_meetings("thirty-meetings", 30)
    client_as(client, cast.people["facilitator"])
    with django_assert_max_num_queries(SCHEDULE_MAX_QUERIES):
        client.get(reverse("meetings:schedule", args=[cast.group.slug]))


def test_feed_queries_do_not_grow_with_meetings(client: Client) -> None:
    counts = []
    for groups in (1, 6):
        person = member_of_groups(f"feed{groups}", groups)
        token = actions.do_reset_calendar_feed(person)
        count, response = count_queries(client, reverse("meetings:feed", args=[token]))
        assert len(feed_uids(response)) == groups
        counts.append(count)
    assert counts[0] == counts[1], counts
