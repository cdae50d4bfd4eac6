"""The group console (/groups/<slug>/console/): who may open it, what each role sees there, the
rota editing it offers, and its fixed number of queries. docs/console.md#group-console."""

from __future__ import annotations

import html
import itertools
from datetime import time, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.handles import handle_key
from groups.models import Membership, SupportGroup
from meetings.models import Meeting, MeetingSeries, Room, RoomParticipant, RotaEntry, Rsvp
from moderation.models import Report
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import HANDLES, PERSONAS, GroupCast, build_cast, client_as, make_person

# Persona order: anonymous outsider pending member facilitator owner staff banned
CONSOLE_GET = {
    "listed": ("login", "403", "403", "403", "200", "200", "200", "403"),
    "unlisted": ("404", "404", "403", "403", "200", "200", "200", "404"),
}
ROTA_POST = {
    "listed": ("login", "403", "403", "403", "302*", "302*", "302*", "403"),
    "unlisted": ("404", "404", "403", "403", "302*", "302*", "302*", "404"),
}


def _page(client: Client, url: str) -> str:
    return html.unescape(client.get(url).content.decode())


def _series(cast: GroupCast, *rota: str) -> MeetingSeries:
    """A weekly series (no meetings materialised) with these personas in its rota, in order."""
    series = MeetingSeries.objects.create(
        group=cast.group,
        title="Tuesday circle",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        timezone="UTC",
        start_date=timezone.localdate(),
        start_time=time(19, 0),
        duration_minutes=90,
        capacity=10,
    )
    for position, persona in enumerate(rota):
        RotaEntry.objects.create(series=series, membership=cast.memberships[persona], position=position)
    return series


def _rota(series: MeetingSeries) -> list[str]:
    return [entry.membership.handle for entry in series.rota_entries.select_related("membership").order_by("position")]


def _meeting(group: SupportGroup, *, starts_in: timedelta, **fields: object) -> Meeting:
    starts_at = timezone.now() + starts_in
    defaults: dict[str, object] = {"title": "Evening share", "capacity": 8}
    defaults.update(fields)
    return Meeting.objects.create(
        group=group, starts_at=starts_at, ends_at=starts_at + timedelta(minutes=90), **defaults
    )


def _check(response: HttpResponse, cell: str) -> None:
    status = cell.rstrip("*")
    if status == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    else:
        assert response.status_code == int(status), (cell, response.status_code)


# --- Who may open it ----------------------------------------------------------------------------


@pytest.mark.parametrize("listing", ["listed", "unlisted"])
def test_console_permission_matrix(client: Client, cast_factory, listing: str) -> None:
    cast = cast_factory(f"{listing}-circle", listed=listing == "listed")
    url = reverse("console:group", args=[cast.group.slug])
    for persona, cell in zip(PERSONAS, CONSOLE_GET[listing], strict=True):
        client.logout()
        response = client_as(client, cast.user(persona)).get(url)
        _check(response, cell)
        if cell == "200":
            assert "Group console" in response.content.decode()
    client.logout()
    assert client_as(client, cast.user("owner")).post(url).status_code == 405


@pytest.mark.parametrize("listing", ["listed", "unlisted"])
def test_rota_edit_permission_matrix(client: Client, cast_factory, listing: str) -> None:
    cast = cast_factory(f"{listing}-circle", listed=listing == "listed")
    series = _series(cast, "owner")
    url = reverse("console:rota", args=[cast.group.slug])
    for persona, cell in zip(PERSONAS, ROTA_POST[listing], strict=True):
        client.logout()
        before = _rota(series)
        change = "remove" if cast.handles["facilitator"] in before else "add"
        data = {"series": series.public_id, "change": change, "member": cast.memberships["facilitator"].public_id}
        response = client_as(client, cast.user(persona)).post(url, data)
        _check(response, cell)
        if cell.endswith("*"):
            assert response["Location"] == reverse("console:group", args=[cast.group.slug]) + "#rota"
            assert _rota(series) != before, persona
        else:
            assert _rota(series) == before, persona
    client.logout()
    assert client_as(client, cast.user("owner")).get(url).status_code == 405


def test_a_facilitator_of_another_group_is_refused_like_on_other_group_pages(client: Client, db: None) -> None:
    people = {persona: make_person(f"x-{persona}", staff=persona == "staff") for persona in PERSONAS[1:]}
    build_cast("first-circle", people=people)
    other = build_cast("other-circle", handles=HANDLES["b"])
    hidden = build_cast("hidden-circle", listed=False, handles={k: v + " Two" for k, v in HANDLES["b"].items()})
    client.force_login(people["facilitator"])
    for cast, status in ((other, 403), (hidden, 404)):
        assert client.get(reverse("console:group", args=[cast.group.slug])).status_code == status
        assert client.get(reverse("groups:requests", args=[cast.group.slug])).status_code == status
        series = _series(cast, "owner")
        response = client.post(
            reverse("console:rota", args=[cast.group.slug]),
            {"series": series.public_id, "change": "remove", "member": cast.memberships["owner"].public_id},
        )
        assert response.status_code == status
        assert _rota(series) == [cast.handles["owner"]]


def test_a_suspended_facilitator_cannot_open_the_console(client: Client, listed_cast: GroupCast) -> None:
    Membership.objects.filter(pk=listed_cast.memberships["facilitator"].pk).update(
        suspended_until=timezone.now() + timedelta(days=1)
    )
    client.force_login(listed_cast.user("facilitator"))
    assert client.get(reverse("console:group", args=[listed_cast.group.slug])).status_code == 403


# --- What it shows -------------------------------------------------------------------------------


@pytest.fixture
def busy(listed_cast: GroupCast) -> GroupCast:
    """The listed cast with meetings (one without a facilitator), attendance, and a report."""
    cast = listed_cast
    group, ms = cast.group, cast.memberships
    run = _meeting(
        group, starts_in=timedelta(days=2), title="Run meeting", facilitator=ms["facilitator"], backup=ms["owner"]
    )
    Rsvp.objects.create(meeting=run, membership=ms["member"], status=Rsvp.Status.GOING)
    _meeting(group, starts_in=timedelta(days=1), title="Unrun meeting")
    _meeting(group, starts_in=timedelta(days=40), title="Far unrun meeting")
    _meeting(group, starts_in=timedelta(days=3), title="Called off", status=Meeting.Status.CANCELLED)
    past = _meeting(group, starts_in=-timedelta(days=7), title="Last week")
    room = Room.objects.create(meeting=past)
    RoomParticipant.objects.create(room=room, membership=ms["member"])
    Report.objects.create(group=group, subject=ms["member"], category=Report.Category.OTHER)
    _series(cast, "facilitator", "owner")
    return cast


def test_owner_sees_every_section_and_the_owner_links(client: Client, busy: GroupCast) -> None:
    client.force_login(busy.user("owner"))
    page = _page(client, reverse("console:group", args=[busy.group.slug]))
    for text in (
        "Upcoming meetings",
        "Run meeting",
        busy.handles["facilitator"],
        "1 of 8",
        "Needs a facilitator",
        "Meetings that need a facilitator",
        "within 48 hours",
        "Choose a facilitator",
        "1 person is waiting for an answer.",
        busy.handles["pending"],
        "1 open report, waiting for",
        "Members",
        "Last came",
        "Facilitator rota",
        "Tuesday circle",
        "Group settings",
        "Approval: facilitators approve each request",
        "Change settings",
        "Audit log",
        "You manage this group",
    ):
        assert text in page, text
    assert (
        reverse("meetings:edit", args=[busy.group.slug, Meeting.objects.get(title="Unrun meeting").public_id]) in page
    )
    assert reverse("groups:settings", args=[busy.group.slug]) in page
    assert reverse("groups:requests", args=[busy.group.slug]) in page
    assert reverse("moderation:queue", args=[busy.group.slug]) in page
    # Four weeks ahead in the table; the far meeting still needs a facilitator, so it is listed there.
    table = page.split('id="meetings-title"')[1].split('id="unrun-title"')[0]
    unrun = page.split('id="unrun-title"')[1].split('id="requests-title"')[0]
    assert "Far unrun meeting" not in table and "Far unrun meeting" in unrun
    assert "Unrun meeting" in table and "Called off" in table and "Called off" not in unrun
    assert "Cancelled" in page
    # Banned and pending people are not members; the pending person shows among requests only.
    members_table = page.split('id="members-title"')[1].split('id="rota-title"')[0]
    assert busy.handles["banned"] not in members_table
    assert busy.handles["pending"] not in members_table
    assert busy.handles["member"] in members_table


def test_facilitator_sees_the_console_with_settings_read_only(client: Client, busy: GroupCast) -> None:
    client.force_login(busy.user("facilitator"))
    page = _page(client, reverse("console:group", args=[busy.group.slug]))
    assert "You facilitate this group" in page
    assert "Only the group's owners change these." in page
    assert "Approval: facilitators approve each request" in page
    assert reverse("groups:settings", args=[busy.group.slug]) not in page
    assert "Change settings" not in page
    # Facilitators edit the schedule, the rota included (as on the series form).
    assert reverse("console:rota", args=[busy.group.slug]) in page
    assert "Move down" in page


def test_staff_see_the_console_of_any_group(client: Client, busy: GroupCast) -> None:
    client.force_login(busy.user("staff"))
    page = _page(client, reverse("console:group", args=[busy.group.slug]))
    assert "1 open report" in page and "Change settings" in page


def test_a_meeting_whose_facilitator_stepped_down_needs_one(client: Client, listed_cast: GroupCast) -> None:
    cast = listed_cast
    _meeting(cast.group, starts_in=timedelta(days=5), title="Orphaned", facilitator=cast.memberships["facilitator"])
    Membership.objects.filter(pk=cast.memberships["facilitator"].pk).update(role=Membership.Role.MEMBER)
    client.force_login(cast.user("owner"))
    page = _page(client, reverse("console:group", args=[cast.group.slug]))
    unrun = page.split('id="unrun-title"')[1].split('id="requests-title"')[0]
    assert "Orphaned" in unrun


def test_members_show_last_attended_and_count_and_sort(client: Client, busy: GroupCast) -> None:
    client.force_login(busy.user("owner"))
    url = reverse("console:group", args=[busy.group.slug])
    page = _page(client, url)
    last_week = timezone.localtime(Meeting.objects.get(title="Last week").starts_at)
    row = page.split(busy.handles["member"] + "</a>")[1].split("</tr>")[0]
    assert f"{last_week.day} {last_week:%b %Y}" in row and "<td>1</td>" in row
    by_role = _page(client, url + "?sort=role")
    assert by_role.index(busy.handles["owner"] + "</a>") < by_role.index(busy.handles["member"] + "</a>")
    by_attendance = _page(client, url + "?sort=attended")
    assert by_attendance.index(busy.handles["member"] + "</a>") < by_attendance.index(busy.handles["owner"] + "</a>")
    assert client.get(url + "?sort=nonsense&page=99").status_code == 200


def test_links_to_the_console_are_shown_to_those_who_may_open_it(client: Client, listed_cast: GroupCast) -> None:
    url = reverse("console:group", args=[listed_cast.group.slug])
    for persona, shown in (("member", False), ("facilitator", True), ("owner", True), ("staff", True)):
        client.force_login(listed_cast.user(persona))
        assert (url in client.get(reverse("groups:detail", args=[listed_cast.group.slug])).content.decode()) is shown
        if persona != "staff":
            assert (url in client.get(reverse("groups:mine")).content.decode()) is shown


# --- Editing the rota ------------------------------------------------------------------------------


def _edit(client: Client, cast: GroupCast, series: MeetingSeries, change: str, member: str) -> str:
    response = client.post(
        reverse("console:rota", args=[cast.group.slug]),
        {"series": series.public_id, "change": change, "member": member},
        follow=True,
    )
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_owner_adds_moves_and_removes_facilitators(client: Client, listed_cast: GroupCast) -> None:
    cast = listed_cast
    series = _series(cast, "facilitator")
    client.force_login(cast.user("owner"))
    owner, facilitator = cast.memberships["owner"], cast.memberships["facilitator"]
    page = _edit(client, cast, series, "add", owner.public_id)
    assert "The rota of “Tuesday circle” is updated." in page
    assert _rota(series) == [cast.handles["facilitator"], cast.handles["owner"]]
    _edit(client, cast, series, "up", owner.public_id)
    assert _rota(series) == [cast.handles["owner"], cast.handles["facilitator"]]
    _edit(client, cast, series, "down", owner.public_id)
    assert _rota(series) == [cast.handles["facilitator"], cast.handles["owner"]]
    _edit(client, cast, series, "remove", facilitator.public_id)
    assert _rota(series) == [cast.handles["owner"]]


def test_facilitator_may_edit_the_rota_as_on_the_series_form(client: Client, listed_cast: GroupCast) -> None:
    series = _series(listed_cast, "owner")
    client.force_login(listed_cast.user("facilitator"))
    _edit(client, listed_cast, series, "add", listed_cast.memberships["facilitator"].public_id)
    assert _rota(series) == [listed_cast.handles["owner"], listed_cast.handles["facilitator"]]


@pytest.mark.parametrize(
    ("change", "who", "message"),
    [
        ("add", "unknown", "There is nobody with that name in this group."),
        ("add", "member", "Only the group's facilitators and owners can be in a rota."),
        ("add", "pending", "Only the group's facilitators and owners can be in a rota."),
        ("add", "banned", "Only the group's facilitators and owners can be in a rota."),
        ("add", "other-group", "There is nobody with that name in this group."),
        ("add", "facilitator", "Calm Heron is already in this rota."),
        ("remove", "owner", "Steady Lantern is not in this rota."),
        ("up", "facilitator", "Calm Heron is already first."),
        ("down", "facilitator", "Calm Heron is already last."),
        ("shuffle", "facilitator", "Choose add, remove, up or down."),
        ("", "facilitator", "Choose add, remove, up or down."),
    ],
)
def test_bad_rota_edits_say_why_and_change_nothing(
    client: Client, listed_cast: GroupCast, change: str, who: str, message: str
) -> None:
    cast = listed_cast
    series = _series(cast, "facilitator")
    if who == "unknown":
        member = "no-such-person"
    elif who == "other-group":
        member = build_cast("other-circle", handles=HANDLES["b"]).memberships["facilitator"].public_id
    else:
        member = cast.memberships[who].public_id
    client.force_login(cast.user("owner"))
    page = _edit(client, cast, series, change, member)
    assert message in page
    assert "is updated" not in page
    assert _rota(series) == [cast.handles["facilitator"]]


def test_an_ended_or_unknown_series_cannot_be_edited(client: Client, listed_cast: GroupCast) -> None:
    cast = listed_cast
    series = _series(cast, "facilitator")
    MeetingSeries.objects.filter(pk=series.pk).update(ended_at=timezone.now())
    client.force_login(cast.user("owner"))
    for public_id in (series.public_id, "nope"):
        response = client.post(
            reverse("console:rota", args=[cast.group.slug]),
            {"series": public_id, "change": "add", "member": cast.memberships["owner"].public_id},
            follow=True,
        )
        assert "This regular meeting has ended or does not exist." in html.unescape(response.content.decode())
    assert _rota(series) == [cast.handles["facilitator"]]


def test_the_rota_decides_who_runs_newly_planned_meetings(client: Client, listed_cast: GroupCast) -> None:
    from meetings.actions import materialise_series

    cast = listed_cast
    series = _series(cast, "facilitator")
    client.force_login(cast.user("owner"))
    _edit(client, cast, series, "add", cast.memberships["owner"].public_id)
    _edit(client, cast, series, "up", cast.memberships["owner"].public_id)
    materialise_series(series)
    first = series.meetings.order_by("starts_at").select_related("facilitator", "backup").first()
    assert first is not None
    assert (first.facilitator.handle, first.backup.handle) == (cast.handles["owner"], cast.handles["facilitator"])  # type: ignore[union-attr]


# --- Cost ------------------------------------------------------------------------------------------

_numbers = itertools.count()


def _grow(cast: GroupCast, count: int) -> None:
    """`count` more active members, each having come to a past meeting and answered a coming one."""
    start = next(_numbers) * 1000
    people = User.objects.bulk_create(User(email=f"grow-{start + i}@example.test", password="!") for i in range(count))
    now = timezone.now()
    members = Membership.objects.bulk_create(
        Membership(
            group=cast.group,
            user=person,
            handle=f"Member {start + i}",
            handle_key=handle_key(f"Member {start + i}"),
            joined_at=now,
        )
        for i, person in enumerate(people)
    )
    past = _meeting(cast.group, starts_in=-timedelta(days=1 + next(_numbers)))
    room = Room.objects.create(meeting=past)
    RoomParticipant.objects.bulk_create(RoomParticipant(room=room, membership=member) for member in members)
    coming = Meeting.objects.filter(group=cast.group, starts_at__gt=now).first()
    assert coming is not None
    Rsvp.objects.bulk_create(Rsvp(meeting=coming, membership=member, status=Rsvp.Status.GOING) for member in members)
    Membership.objects.bulk_create(
        Membership(
            group=cast.group,
            user=person,
            handle=f"Asker {start + i}",
            handle_key=handle_key(f"Asker {start + i}"),
            status=Membership.Status.PENDING,
        )
        for i, person in enumerate(
            User.objects.bulk_create(User(email=f"ask-{start + i}@example.test", password="!") for i in range(count))
        )
    )


@pytest.mark.parametrize("persona", ["owner", "facilitator", "staff"])
def test_the_console_costs_the_same_queries_with_5_and_50_members(
    client: Client, busy: GroupCast, persona: str
) -> None:
    client.force_login(busy.user(persona))
    url = reverse("console:group", args=[busy.group.slug])
    counts = []
    for size in (5, 45):  # 5 and then 50 members more
        _grow(busy, size)
        client.get(url)  # warm the session and caches alike
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # Measured and pinned: session, user, group, own membership, messages, header counts, then the
    # meetings, requests (count, first few), reports, members (count, page), series + rotas,
    # facilitators and topics.
    assert counts[0] <= 16, counts
