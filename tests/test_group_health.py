"""Group health: the figures on a small hand-made history, a fixed number of queries whatever
the number of meetings, the CSV against the page's tables, and who may see them."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from console.charts import Series, bar_chart
from console.health import group_health
from console.health_views import csv_rows
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from meetings import actions as meeting_actions
from meetings import retention, room_actions
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant, Rsvp
from moderation import actions as moderation_actions
from moderation.models import Report
from tests.conftest import FROZEN_NOW, add_member, make_group, make_user, one_off_meeting, utc
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import PERSONAS, GroupCast, build_cast, client_as, persona_people

NEW_YORK = "America/New_York"
_channels = iter(range(1_000_000))


# --- A small history, made with the real actions ----------------------------------------------


def enter(user: User, meeting: Meeting) -> room_actions.RoomSession:
    session = room_actions.access_room(user, meeting.public_id)
    room_actions.do_enter_room(session, f"test.channel.{next(_channels)}")
    return session


def say(session: room_actions.RoomSession, body: str) -> int:
    frame, _created = room_actions.do_post_message(session, f"c{next(_channels)}", body)
    return frame["seq"]


def close_report(user: User, group: SupportGroup, report: Report, *, action_taken: bool) -> None:
    moderator = moderation_actions.moderator_for(user, access_group(user, group.slug))
    assert moderator is not None
    moderation_actions.do_close_report(moderator, report, action_taken=action_taken)


def at_local(year: int, month: int, day: int, hour: int) -> datetime:
    from lib.timefmt import zone

    return datetime(year, month, day, hour, tzinfo=zone(NEW_YORK))


@pytest.fixture
def history(frozen, owen: User, bob: User, alice: User) -> SupportGroup:
    """A New York group, looked at on Monday 2 March 2026, 07:00 in New York (12:00 UTC).

    Meetings: Z (20 Nov, before the 12 weeks), A (Tue 17 Feb), C (25 Feb, cancelled), E (Thu
    26 Feb), B (Sun 1 Mar, 22:00 in New York: already Monday in UTC), D (5 Mar, to come).
    """
    frozen.move_to(utc(2025, 10, 1, 12))
    group = make_group(timezone=NEW_YORK)
    add_member(group, owen, "Steady Lantern", role="owner")
    add_member(group, bob, "Calm Heron", role="facilitator")
    add_member(group, alice, "Quiet Harbor")
    erin = make_user("erin@example.com")
    faye = make_user("faye@example.com")
    meeting = {
        name: one_off_meeting(group, owen, when)
        for name, when in {
            "Z": at_local(2025, 11, 20, 19),
            "A": at_local(2026, 2, 17, 19),
            "C": at_local(2026, 2, 25, 19),
            "E": at_local(2026, 2, 26, 19),
            "B": at_local(2026, 3, 1, 22),
            "D": at_local(2026, 3, 5, 19),
        }.items()
    }
    membership = {user: Membership.objects.get(group=group, user=user) for user in (owen, bob, alice)}

    # Z: alice and bob come (they are "returning" from then on).
    meeting_actions.do_rsvp(membership[alice], meeting["Z"], going=True)
    frozen.move_to(meeting["Z"].starts_at + timedelta(minutes=5))
    enter(alice, meeting["Z"])
    enter(bob, meeting["Z"])

    frozen.move_to(utc(2026, 2, 10, 15))  # faye joins: week of 9 Feb
    add_member(group, faye, "Bright Meadow")

    # A: alice said going and came, bob ran it; 3 messages; a report dismissed 12 hours later.
    meeting_actions.do_rsvp(membership[alice], meeting["A"], going=True)
    frozen.move_to(meeting["A"].starts_at + timedelta(minutes=5))
    alice_in_a = enter(alice, meeting["A"])
    bob_in_a = enter(bob, meeting["A"])
    seq = say(alice_in_a, "It has been a hard week.")
    say(alice_in_a, "Thank you for listening.")
    say(bob_in_a, "Welcome, everyone.")
    frozen.move_to(meeting["A"].starts_at + timedelta(minutes=10))
    first_report = moderation_actions.do_report_message(
        membership[bob], meeting["A"].public_id, seq, category="other", wish="inform"
    )
    frozen.move_to(meeting["A"].starts_at + timedelta(minutes=10, hours=12))
    close_report(owen, group, first_report, action_taken=False)

    frozen.move_to(utc(2026, 2, 24, 15))  # erin joins: week of 23 Feb
    membership[erin] = add_member(group, erin, "Open Field")
    meeting_actions.do_cancel_meeting(access_group(owen, group.slug), meeting["C"], "Snow")
    meeting_actions.do_rsvp(membership[erin], meeting["E"], going=True)
    meeting_actions.do_rsvp(membership[alice], meeting["B"], going=True)
    meeting_actions.do_rsvp(membership[erin], meeting["B"], going=True)

    # E: only erin, no facilitator; one message, reported and resolved 36 hours later.
    frozen.move_to(meeting["E"].starts_at + timedelta(minutes=5))
    seq = say(enter(erin, meeting["E"]), "I stayed away from him all week.")
    frozen.move_to(meeting["E"].starts_at + timedelta(minutes=10))
    second_report = moderation_actions.do_report_message(
        membership[alice], meeting["E"].public_id, seq, category="other", wish="inform"
    )
    frozen.move_to(meeting["E"].starts_at + timedelta(minutes=10, hours=36))
    close_report(bob, group, second_report, action_taken=True)

    # B: alice and erin said going; alice came, erin did not; owen ran it. A report stays open.
    frozen.move_to(meeting["B"].starts_at + timedelta(minutes=5))
    seq = say(enter(alice, meeting["B"]), "Back again.")
    say(enter(owen, meeting["B"]), "Good to see you.")
    frozen.move_to(meeting["B"].starts_at + timedelta(minutes=10))
    moderation_actions.do_report_message(membership[erin], meeting["B"].public_id, seq, category="other", wish="inform")

    frozen.move_to(FROZEN_NOW)
    # A's transcript expired on 28 Feb (closed 18 Feb + 10 days): the nightly purge may delete
    # its messages (test_messages_are_still_counted_after_the_purge does), not their count.
    SupportGroup.objects.filter(pk=group.pk).update(message_retention_days=10)
    group.refresh_from_db()
    return group


EXPECTED_WEEKS = {
    # week: (meetings, rsvps, arrivals, rsvps_arrived, new, returning, messages, opened, resolved, with facilitator)
    date(2026, 2, 9): (0, 0, 0, 0, 1, 0, 0, 0, 0, 0),
    date(2026, 2, 16): (1, 1, 2, 1, 0, 2, 3, 1, 1, 1),
    date(2026, 2, 23): (2, 3, 3, 2, 1, 1, 3, 2, 1, 1),
}


def week_tuple(week) -> tuple:
    return (
        week.meetings,
        week.rsvps,
        week.arrivals,
        week.rsvps_arrived,
        week.new_members,
        week.returning_members,
        week.messages,
        week.reports_opened,
        week.reports_resolved,
        week.meetings_with_facilitator,
    )


def test_weeks_are_the_groups_mondays_with_the_current_week_last(history: SupportGroup) -> None:
    health = group_health([history])[history.pk]
    starts = [week.start for week in health.weeks]
    assert starts[0] == date(2025, 12, 15)
    assert starts[-1] == date(2026, 3, 2)
    assert starts == [date(2025, 12, 15) + timedelta(weeks=n) for n in range(12)]
    assert health.since == at_local(2025, 12, 15, 0)
    assert len(group_health([history], weeks=4)[history.pk].weeks) == 4


def test_figures_of_each_week(history: SupportGroup) -> None:
    health = group_health([history])[history.pk]
    for week in health.weeks:
        assert week_tuple(week) == EXPECTED_WEEKS.get(week.start, (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), week.start


def test_figures_of_each_meeting(history: SupportGroup) -> None:
    """Cancelled and future meetings, and those before the weeks, are not counted. Sunday
    22:00 in New York belongs to that week although it is Monday in UTC."""
    health = group_health([history])[history.pk]
    rows = [
        (m.starts_at.strftime("%a %d %b %H:%M"), m.rsvps, m.arrivals, m.rsvps_arrived, m.messages, m.had_facilitator)
        for m in health.meetings
    ]
    assert rows == [
        ("Tue 17 Feb 19:00", 1, 2, 1, 3, True),
        ("Thu 26 Feb 19:00", 1, 1, 1, 1, False),
        ("Sun 01 Mar 22:00", 2, 2, 1, 2, True),
    ]
    assert [m.week for m in health.meetings] == [date(2026, 2, 16), date(2026, 2, 23), date(2026, 2, 23)]


def test_summary_figures(history: SupportGroup) -> None:
    health = group_health([history])[history.pk]
    assert health.attendance_rate == pytest.approx(3 / 4)
    assert health.facilitator_coverage == pytest.approx(2 / 3)
    assert health.median_hours_to_resolve == 24.0  # 12 and 36 hours
    assert sorted(health.hours_to_resolve) == [pytest.approx(12), pytest.approx(36)]
    assert health.messages_per_meeting == 2.0  # 3, 1 and 2
    totals = health.totals
    assert (totals.meetings, totals.rsvps, totals.arrivals, totals.new_members) == (3, 4, 5, 2)
    assert (totals.reports_opened, totals.reports_resolved, totals.meetings_with_facilitator) == (3, 2, 2)
    assert totals.messages == 6


def test_messages_are_still_counted_after_the_purge(history: SupportGroup, owen: User) -> None:
    """The count is the room's, not its rows': the nightly purge deletes A's messages (its
    transcript expired), and every figure stays as it was, on the page and in the CSV."""
    client = client_as(Client(), owen)
    before = group_health([history])[history.pk]
    csv_before = download(client, history)
    meeting_a = Meeting.objects.get(group=history, starts_at=at_local(2026, 2, 17, 19))
    assert RoomEvent.objects.filter(room__meeting=meeting_a, kind=RoomEvent.Kind.MESSAGE).count() == 3

    purged = retention.purge_expired_messages()

    assert purged.messages == 3
    assert purged.meetings == 1
    assert not RoomEvent.objects.filter(room__meeting=meeting_a).exists()
    after = group_health([history])[history.pk]
    assert [m.messages for m in after.meetings] == [3, 1, 2]
    assert after.totals.messages == 6
    assert [week_tuple(week) for week in after.weeks] == [week_tuple(week) for week in before.weeks]
    assert after.meetings == before.meetings
    assert download(client, history) == csv_before
    html = client.get(reverse("console:health", args=[history.slug])).content.decode()
    assert "2.0 on average" in html
    assert "not known" not in html.lower()


def test_an_empty_group_has_empty_weeks(frozen, owen: User) -> None:
    group = make_group(slug="quiet-circle")
    add_member(group, owen, "Steady Lantern", role="owner")
    health = group_health([group])[group.pk]
    assert len(health.weeks) == 12
    assert health.meetings == []
    assert health.attendance_rate is None
    assert health.facilitator_coverage is None
    assert health.median_hours_to_resolve is None
    assert health.weeks[-1].new_members == 1
    assert group_health([]) == {}


# --- A fixed number of queries ---------------------------------------------------------------


def bulk_history(group: SupportGroup, meetings: int, people: list[Membership]) -> None:
    """`meetings` past meetings over the last 11 weeks, each with RSVPs, arrivals, messages and
    a report, made with bulk_create."""
    now = timezone.now()
    spacing = timedelta(weeks=11) / meetings
    made = Meeting.objects.bulk_create(
        Meeting(
            group=group,
            title=f"Meeting {n}",
            starts_at=now - timedelta(weeks=11) + spacing * n,
            ends_at=now - timedelta(weeks=11) + spacing * n + timedelta(minutes=30),
            capacity=20,
            facilitator=people[0],
        )
        for n in range(meetings)
    )
    rooms = Room.objects.bulk_create(Room(meeting=meeting, last_seq=2, message_count=2) for meeting in made)
    Rsvp.objects.bulk_create(
        Rsvp(meeting=meeting, membership=person, status=Rsvp.Status.GOING) for meeting in made for person in people
    )
    RoomParticipant.objects.bulk_create(
        RoomParticipant(room=room, membership=person) for room in rooms for person in people[:2]
    )
    RoomEvent.objects.bulk_create(
        RoomEvent(room=room, seq=seq, kind=RoomEvent.Kind.MESSAGE, membership=people[1], body="hello")
        for room in rooms
        for seq in (1, 2)
    )
    Report.objects.bulk_create(
        Report(group=group, subject=people[1], meeting=meeting, category="other", closed_at=now, status="resolved")
        for meeting in made
    )


def group_with(slug: str, meetings: int) -> SupportGroup:
    group = make_group(slug=slug, name=slug)
    people = [
        add_member(
            group, make_user(f"{slug}-{n}@example.com"), f"Person {n}", role="facilitator" if n == 0 else "member"
        )
        for n in range(3)
    ]
    bulk_history(group, meetings, people)
    return group


@pytest.mark.parametrize("meetings", [10, 300])
def test_health_takes_four_queries_whatever_the_number_of_meetings(
    db: None, frozen, meetings: int, django_assert_num_queries
) -> None:
    groups = [group_with("first-circle", meetings), group_with("second-circle", meetings)]
    with django_assert_num_queries(4):
        figures = group_health(groups)
    assert sum(len(figures[group.pk].meetings) for group in groups) == 2 * meetings
    assert figures[groups[0].pk].totals.arrivals == 2 * meetings
    assert figures[groups[0].pk].totals.messages == 2 * meetings


def test_the_page_takes_as_many_queries_for_300_meetings_as_for_10(frozen, owen: User) -> None:
    counts = []
    for slug, meetings in (("small-circle", 10), ("large-circle", 300)):
        group = group_with(slug, meetings)
        add_member(group, owen, f"Owner {meetings}", role="owner")
        client = client_as(Client(), owen)
        for name in ("console:health", "console:health_csv"):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(reverse(name, args=[group.slug]))
            assert response.status_code == 200
            counts.append((name, len(queries)))
    assert counts[:2] == counts[2:]


# --- The page and its CSV ------------------------------------------------------------------------


class Tables(HTMLParser):
    """Each table of a page by id: its rows as lists of cell texts (headers included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: list[list[str]] | None = None
        self.cell: list[str] | None = None
        self.svgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = self.tables.setdefault(dict(attrs)["id"] or "", [])
        elif tag == "tr" and self.current is not None:
            self.current.append([])
        elif tag in ("td", "th") and self.current is not None:
            self.cell = []
        elif tag == "svg":
            self.svgs.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.current = None
        elif tag in ("td", "th") and self.current is not None and self.cell is not None:
            self.current[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def page_tables(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    return parser


def download(client: Client, group: SupportGroup) -> list[dict[str, str]]:
    response = client.get(reverse("console:health_csv", args=[group.slug]))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_csv_matches_the_tables_of_the_page(history: SupportGroup, owen: User) -> None:
    client = client_as(Client(), owen)
    response = client.get(reverse("console:health", args=[history.slug]))
    assert response.status_code == 200
    tables = page_tables(response.content.decode()).tables
    rows = download(client, history)
    weeks = [row for row in rows if row["section"] == "week"]
    meetings = [row for row in rows if row["section"] == "meeting"]
    assert len(weeks) == 12
    assert len(meetings) == 3

    def body(key: str) -> list[list[str]]:
        return tables[f"table-{key}"][1:]  # without the header row

    assert [cells[1:] for cells in body("attendance")] == [
        [row["rsvps"], row["arrivals"], row["rsvps_arrived"]] for row in meetings
    ]
    assert [cells[1:] for cells in body("messages")] == [[row["messages"]] for row in meetings]
    assert [cells[1:] for cells in body("members")] == [[row["new_members"], row["returning_members"]] for row in weeks]
    assert [cells[1:] for cells in body("reports")] == [
        [row["reports_opened"], row["reports_resolved"]] for row in weeks
    ]
    assert [cells[1:] for cells in body("coverage")] == [
        [row["meetings"], row["meetings_with_facilitator"]] for row in weeks
    ]
    # Row headers name the same meetings and weeks.
    assert [cells[0] for cells in body("attendance")] == [
        f"{datetime.fromisoformat(row['meeting_start']):%a %-d %b %Y, %H:%M} · {row['meeting_title']}"
        for row in meetings
    ]
    assert [cells[0] for cells in body("members")] == [
        f"{date.fromisoformat(row['week_start']):%-d %b %Y}" for row in weeks
    ]
    # And the CSV holds the figures themselves.
    week_of = {row["week_start"]: row for row in weeks}
    assert week_of["2026-02-23"]["messages"] == "3"
    assert week_of["2026-02-16"]["messages"] == "3"
    assert meetings[2]["meeting_start"] == "2026-03-01 22:00"
    assert meetings[2]["week_start"] == "2026-02-23"


def test_the_page_has_a_summary_and_charts_with_text_alternatives(history: SupportGroup, bob: User) -> None:
    response = client_as(Client(), bob).get(reverse("console:health", args=[history.slug]))
    html = response.content.decode()
    assert "75% of those who said they were going came" in html
    assert "67% of meetings had a facilitator in the room" in html
    assert "24.0 hours" in html
    assert "2.0 on average" in html
    parsed = page_tables(html)
    assert len(parsed.svgs) == 5
    for svg in parsed.svgs:
        assert svg["role"] == "img"
        ident = (svg["aria-labelledby"] or "").split()[0].removesuffix("-title")
        assert f'<title id="{ident}-title">' in html
        assert f'<desc id="{ident}-desc">' in html
        assert "style" not in svg
    assert "<style" not in html
    assert 'style="' not in html
    assert "Reports opened: 3 in all, highest 2 (23 Feb)." in html
    assert reverse("console:health_csv", args=[history.slug]) in html


def test_the_csv_names_nobody_and_quotes_no_message(history: SupportGroup, owen: User) -> None:
    response = client_as(Client(), owen).get(reverse("console:health_csv", args=[history.slug]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="group-health-2026-03-02.csv"'
    text = response.content.decode()
    for membership in Membership.objects.filter(group=history).select_related("user"):
        assert membership.handle not in text
        assert membership.user.email not in text
        assert membership.public_id not in text
    for body in RoomEvent.objects.values_list("body", flat=True):
        assert body not in text
    assert history.name not in text
    assert text.splitlines()[0] == (
        "section,week_start,meeting_start,meeting_title,meetings,rsvps,arrivals,rsvps_arrived,messages,"
        "meetings_with_facilitator,new_members,returning_members,reports_opened,reports_resolved"
    )


@pytest.mark.parametrize("title", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"])
def test_a_meeting_title_is_never_a_formula_in_the_csv(frozen, owen: User, title: str) -> None:
    group = make_group()
    add_member(group, owen, "Steady Lantern", role="owner")
    Meeting.objects.create(
        group=group,
        title=title,
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() - timedelta(days=1) + timedelta(hours=1),
        capacity=10,
    )
    rows = download(client_as(Client(), owen), group)
    meeting = next(row for row in rows if row["section"] == "meeting")
    assert meeting["meeting_title"] == "'" + title
    assert csv_rows(group_health([group])[group.pk])[-1][3] == "'" + title


def test_a_chart_escapes_its_text() -> None:
    svg = bar_chart(
        chart_id="x",
        title="<script>",
        description="a & b",
        labels=["<b>"],
        series=[Series('"quoted"', [1])],
    )
    assert "<script>" not in svg
    assert "&lt;b&gt;" in svg
    assert "a &amp; b" in svg
    assert 'role="img"' in svg


# --- Who may see it ------------------------------------------------------------------------------

# Persona order: anonymous, outsider, pending, member, facilitator, owner, staff, banned
EXPECTED = {
    "listed": ("login", "403", "403", "403", "200", "200", "200", "403"),
    "unlisted": ("404", "404", "403", "403", "200", "200", "200", "404"),
}


@pytest.mark.parametrize("url_name", ["console:health", "console:health_csv"])
@pytest.mark.parametrize("listed", ["listed", "unlisted"])
def test_permission_matrix(url_name: str, listed: str, listed_cast: GroupCast, unlisted_cast: GroupCast) -> None:
    cast = listed_cast if listed == "listed" else unlisted_cast
    url = reverse(url_name, args=[cast.group.slug])
    for persona, expected in zip(PERSONAS, EXPECTED[listed], strict=True):
        client = client_as(Client(), cast.user(persona))
        response = client.get(url)
        if expected == "login":
            assert response.status_code == 302, persona
            assert response["Location"].startswith(reverse("accounts:login")), persona
        else:
            assert str(response.status_code) == expected, persona
        if expected != "200":
            assert b"Said going" not in response.content
            assert b"section,week_start" not in response.content
        assert client.post(url).status_code == 405, persona


@pytest.mark.parametrize("listed", [True, False])
def test_a_facilitator_of_another_group_gets_nothing(db: None, listed: bool) -> None:
    mine = build_cast("my-circle", listed=listed)
    theirs = build_cast("their-circle", people=persona_people("their-"))
    for persona in ("facilitator", "owner"):
        client = client_as(Client(), theirs.user(persona))
        for name in ("console:health", "console:health_csv"):
            response = client.get(reverse(name, args=[mine.group.slug]))
            assert response.status_code == (403 if listed else 404)
            assert b"Said going" not in response.content
        assert client.get(reverse("console:health", args=[theirs.group.slug])).status_code == 200


def test_a_facilitator_who_left_or_was_made_a_member_loses_the_page(listed_cast: GroupCast) -> None:
    url = reverse("console:health", args=[listed_cast.group.slug])
    client = client_as(Client(), listed_cast.user("facilitator"))
    assert client.get(url).status_code == 200
    Membership.objects.filter(pk=listed_cast.memberships["facilitator"].pk).update(role=Membership.Role.MEMBER)
    assert client.get(url).status_code == 403


def test_someone_removed_before_they_came_is_no_arrival(history: SupportGroup) -> None:
    """A removal decided before the person came in leaves a row with `entered` off: not attendance."""
    meeting = Meeting.objects.get(group=history, title="Evening share", starts_at=at_local(2026, 3, 1, 22))
    faye = Membership.objects.get(group=history, handle="Bright Meadow")
    RoomParticipant.objects.create(room=meeting.room, membership=faye, entered=False, removed_at=timezone.now())
    health = group_health([history])[history.pk]
    assert [m.arrivals for m in health.meetings] == [2, 1, 2]
