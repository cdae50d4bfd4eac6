"""The group health page in a real Chromium: its charts render, have names, and sit with their
tables (docs/console.md, "Group health")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from groups.models import SupportGroup
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant, Rsvp
from moderation.models import Report
from tests.conftest import add_member, make_user
from tests.e2e.conftest import HearthServer
from tests.e2e.test_group_journeys import log_in

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]

CHARTS = {
    "RSVPs and arrivals per meeting": "RSVPs and arrivals for each meeting held",
    "Messages per meeting": "Messages written in each meeting's room",
    "New and returning members per week": "Members who joined, and members who came back to a meeting, each week",
    "Reports opened and resolved per week": "Reports filed, and reports resolved or dismissed, each week",
    "Facilitator coverage per week": "Meetings held, and meetings a facilitator was in, each week",
}


def some_history(group: SupportGroup, owner: User) -> None:
    """Two meetings a week for ten weeks, with RSVPs, arrivals, messages and reports."""
    owner_row = add_member(group, owner, "Second Keeper", role="owner")
    people = [add_member(group, make_user(f"member{n}@example.com"), f"Member {n}") for n in range(6)]
    now = timezone.now()
    for n in range(20):
        starts = now - timedelta(days=70) + timedelta(days=3.5 * n)
        meeting = Meeting.objects.create(
            group=group, title=f"Circle {n}", starts_at=starts, ends_at=starts + timedelta(hours=1), capacity=12
        )
        room = Room.objects.create(meeting=meeting, last_seq=n % 5, message_count=n % 5)
        for person in people[: 2 + n % 5]:
            Rsvp.objects.create(meeting=meeting, membership=person, status=Rsvp.Status.GOING)
        for person in people[: 1 + n % 4]:
            RoomParticipant.objects.create(room=room, membership=person)
        if n % 3:
            RoomParticipant.objects.create(room=room, membership=owner_row)
        for seq in range(1, n % 5 + 1):
            RoomEvent.objects.create(room=room, seq=seq, kind=RoomEvent.Kind.MESSAGE, membership=people[0], body="hi")
        if n % 4 == 0:
            Report.objects.create(
                group=group,
                subject=people[0],
                category="other",
                created_at=starts,
                closed_at=starts + timedelta(hours=n + 2),
                status=Report.Status.RESOLVED,
            )


def test_owner_sees_the_charts_and_their_tables(
    new_page: NewPage, hearth_server: HearthServer, circle: SupportGroup, tmp_path: Path
) -> None:
    owner = make_user("keeper@example.com")
    some_history(circle, owner)
    page = new_page(viewport={"width": 1100, "height": 900})
    log_in(page, hearth_server, owner)
    page.goto(f"/groups/{circle.slug}/health/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Group health")
    expect(page.get_by_role("link", name="Download these figures (CSV)")).to_be_visible()

    for name, caption in CHARTS.items():
        chart = page.get_by_role("img", name=name, exact=True)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, (name, box)
        # The text alternative is its description: it says what the bars show.
        description = chart.evaluate("svg => svg.querySelector('desc').textContent")
        assert "in all" in description or "No meeting" in description, description
        assert chart.locator("rect.chart__bar").count() > 0
        table = page.get_by_role("table", name=caption, exact=True)
        expect(table).to_be_visible()
        expect(table.get_by_role("columnheader").first).to_be_visible()
        assert table.get_by_role("rowheader").count() > 0

    attendance = page.get_by_role("img", name="RSVPs and arrivals per meeting", exact=True)
    shot = tmp_path / "health-attendance.png"
    attendance.screenshot(path=str(shot))
    assert shot.stat().st_size > 2000
    whole = tmp_path / "health-page.png"
    page.screenshot(path=str(whole), full_page=True)
    assert whole.stat().st_size > shot.stat().st_size

    # Bars have painted colour: the solid series is not transparent.
    fill = page.locator("rect.chart__bar--solid").first.evaluate("rect => getComputedStyle(rect).fill")
    assert fill not in ("none", "rgba(0, 0, 0, 0)"), fill


def test_charts_stay_apart_in_forced_colours(
    new_page: NewPage, hearth_server: HearthServer, circle: SupportGroup, tmp_path: Path
) -> None:
    owner = make_user("keeper@example.com")
    some_history(circle, owner)
    page = new_page(forced_colors="active")
    log_in(page, hearth_server, owner)
    page.goto(f"/groups/{circle.slug}/health/")
    chart = page.get_by_role("img", name="Facilitator coverage per week", exact=True)
    expect(chart).to_be_visible()
    solid = page.locator("rect.chart__bar--solid").first.evaluate("rect => getComputedStyle(rect).fill")
    hatch_back = page.locator("rect.chart__hatch-back").first.evaluate("rect => getComputedStyle(rect).fill")
    assert solid != hatch_back, (solid, hatch_back)
    chart.screenshot(path=str(tmp_path / "forced-colours.png"))
    assert (tmp_path / "forced-colours.png").stat().st_size > 1000
