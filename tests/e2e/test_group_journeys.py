"""Group and meeting journeys in a real Chromium: finding and joining groups, and meeting times.

The acceptance journeys of two issues:

- alice finds a group by topic, joins it with a chosen handle after accepting the guidelines, and
  sees it under "My groups"; for an approval group, bob approves her request and she is told.
- bob creates a weekly series; alice, in another timezone, sees it in her local time on
  "My meetings", RSVPs, and downloads the .ics.

The harness (conftest.py) fails a test whose pages broke the Content Security Policy or threw, or
during which the server logged an error; these tests also want no console error but the ones
they expect (a form answered 400 with its errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from icalendar import Calendar
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from groups.models import Membership, SupportGroup, Topic
from meetings.models import Meeting, MeetingSeries, Rsvp
from tests.conftest import PASSWORD, add_member, make_group
from tests.e2e.conftest import BROWSER_LOG, HearthServer

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# English names, whatever the locale of the process running the tests.
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def log_in(page: Page, server: HearthServer, user: User) -> None:
    """Log in through the login form, as a person would."""
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address (required)", exact=True).fill(user.email)
    page.get_by_label("Password (required)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def topic(slug: str, name: str) -> Topic:
    """The topic from the data migration (made again if an earlier transactional test flushed it)."""
    return Topic.objects.get_or_create(slug=slug, defaults={"name": name})[0]


def assert_console_was_quiet(request: pytest.FixtureRequest, *, expected: tuple[str, ...] = ()) -> None:
    """No console error in any of the test's browser contexts but the `expected` ones (regexes).

    The harness fails a test only on CSP violations and uncaught errors; this is stricter.
    """
    log = request.node.stash[BROWSER_LOG]
    log.drain()
    unexpected = [text for text in log.console_errors if not any(re.search(pattern, text) for pattern in expected)]
    assert not unexpected, "\n".join(unexpected)


# A form with errors answers 400, and Chromium logs that as a failed resource load.
FORM_ERROR_ON = r"^Failed to load resource: the server responded with a status of 400 \(Bad Request\) \(page {}\)$"


# --- Finding and joining groups -----------------------------------------------------------


def test_alice_finds_a_group_by_topic_joins_it_and_is_approved_into_another(
    transactional_db: None,
    new_page: NewPage,
    hearth_server: HearthServer,
    alice: User,
    bob: User,
    owen: User,
    request: pytest.FixtureRequest,
) -> None:
    trauma_bonding = topic("trauma-bonding", "Trauma bonding")
    codependency = topic("codependency", "Codependency")
    open_group = make_group(name="Tuesday Circle", slug="tuesday-circle")
    open_group.topics.set([trauma_bonding])
    add_member(open_group, owen, "Steady Lantern", role="owner")
    approval_group = make_group(
        name="Thursday Evening Circle",
        slug="thursday-evening-circle",
        description="A gentle evening group; facilitators welcome each new member.",
        join_policy=SupportGroup.JoinPolicy.APPROVAL,
    )
    approval_group.topics.set([trauma_bonding])
    add_member(approval_group, bob, "Calm Heron", role="facilitator")
    decoy = make_group(name="Codependency Corner", slug="codependency-corner")
    decoy.topics.set([codependency])
    add_member(decoy, owen, "Steady Lantern", role="owner")

    page = new_page()
    log_in(page, hearth_server, alice)

    # Find: the directory, filtered by topic with the select.
    main_nav(page).get_by_role("link", name="Find a group").click()
    expect(page.get_by_role("heading", name="Find a group", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Codependency Corner")).to_be_visible()
    page.get_by_label("Topic", exact=True).select_option(label="Trauma bonding")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/groups/\?.*\btopic=trauma-bonding\b"))
    expect(page.get_by_label("Topic", exact=True)).to_have_value("trauma-bonding")
    expect(page.get_by_role("status")).to_contain_text("2 groups found.")
    expect(page.get_by_role("link", name="Tuesday Circle")).to_be_visible()
    expect(page.get_by_role("link", name="Thursday Evening Circle")).to_be_visible()
    expect(page.get_by_role("link", name="Codependency Corner")).to_have_count(0)

    # Join the open group under a chosen handle, after accepting the guidelines.
    page.get_by_role("link", name="Tuesday Circle").click()
    expect(page).to_have_url(hearth_server.url + "/groups/tuesday-circle/")
    expect(page.get_by_role("heading", name="Tuesday Circle", level=1)).to_be_visible()
    page.get_by_role("link", name="Join this group").click()
    expect(page.get_by_role("heading", name="Join Tuesday Circle")).to_be_visible()
    expect(page.get_by_text("What is shared here stays here.")).to_be_visible()
    page.get_by_label("Your name in this group (required)", exact=True).fill("Quiet Harbor")
    guidelines = page.get_by_label("I have read the group's guidelines and agree to follow them")
    expect(guidelines).not_to_be_checked()
    page.locator("label", has_text="I have read the group's guidelines").click()
    expect(guidelines).to_be_checked()
    page.get_by_role("button", name="Join the group").click()

    expect(page).to_have_url(hearth_server.url + "/groups/tuesday-circle/")
    expect(page.get_by_text("Welcome to Tuesday Circle.")).to_be_visible()
    expect(page.get_by_text("You are “Quiet Harbor” in this group (Member).")).to_be_visible()
    membership = Membership.objects.get(group=open_group, user=alice)
    assert membership.status == Membership.Status.ACTIVE
    assert membership.handle == "Quiet Harbor"
    assert membership.guidelines_accepted_at is not None

    main_nav(page).get_by_role("link", name="My groups").click()
    expect(page.get_by_role("heading", name="My groups", level=1)).to_be_visible()
    open_card = page.locator("li.group-card", has=page.get_by_role("link", name="Tuesday Circle"))
    expect(open_card).to_contain_text("You are “Quiet Harbor” here · Member")

    # Ask to join the approval group.
    main_nav(page).get_by_role("link", name="Find a group").click()
    page.get_by_label("Topic", exact=True).select_option(label="Trauma bonding")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Thursday Evening Circle").click()
    expect(page.get_by_text("Join on approval")).to_be_visible()
    page.get_by_role("link", name="Ask to join").click()
    expect(page.get_by_role("heading", name="Ask to join Thursday Evening Circle")).to_be_visible()
    page.get_by_label("Your name in this group (required)", exact=True).fill("Still Water")
    page.get_by_role("button", name="Send my request").click()  # without accepting the guidelines
    expect(page.get_by_text("Please read and accept the group's guidelines to join.")).to_be_visible()
    assert not Membership.objects.filter(group=approval_group, user=alice).exists()
    expect(page.get_by_label("Your name in this group (required)", exact=True)).to_have_value("Still Water")
    page.locator("label", has_text="I have read the group's guidelines").click()
    expect(page.get_by_label("I have read the group's guidelines and agree to follow them")).to_be_checked()
    page.get_by_label("A note to the facilitators (optional)").fill("I found the group through a friend.")
    page.get_by_role("button", name="Send my request").click()

    expect(
        page.get_by_text("Your request is with the facilitators. You'll get a notice when they answer.")
    ).to_be_visible()
    expect(page.get_by_text("You have asked to join.")).to_be_visible()
    main_nav(page).get_by_role("link", name="My groups").click()
    pending_card = page.locator("li.group-card", has=page.get_by_role("link", name="Thursday Evening Circle"))
    expect(pending_card).to_contain_text("You are “Still Water” here · waiting for approval")
    expect(main_nav(page).locator(".badge")).to_have_count(0)

    # bob, in his own browser, approves the request.
    bob_page = new_page()
    log_in(bob_page, hearth_server, bob)
    bob_page.goto("/groups/thursday-evening-circle/")
    bob_page.get_by_role("link", name=re.compile(r"^Join requests")).click()
    expect(bob_page).to_have_url(hearth_server.url + "/groups/thursday-evening-circle/requests/")
    expect(bob_page.get_by_role("heading", name="Still Water")).to_be_visible()
    expect(bob_page.get_by_text("I found the group through a friend.")).to_be_visible()
    bob_page.get_by_role("button", name="Approve Still Water").click()
    expect(bob_page.get_by_text("Still Water is now a member.")).to_be_visible()
    expect(bob_page.get_by_text("No requests waiting.")).to_be_visible()
    assert Membership.objects.get(group=approval_group, user=alice).status == Membership.Status.ACTIVE

    # alice is told: a badge on Notices, and the notice itself.
    page.reload()
    notices_link = main_nav(page).get_by_role("link", name=re.compile(r"^Notices"))
    expect(notices_link.locator(".badge")).to_have_text(re.compile(r"^\s*1\s+unread\s*$"))
    expect(notices_link).to_have_accessible_name(re.compile(r"^Notices 1 unread$"))
    notices_link.click()
    expect(page.get_by_role("heading", name="Notices", level=1)).to_be_visible()
    notice = page.get_by_role("link", name="Your request to join Thursday Evening Circle was approved. Welcome!")
    expect(notice).to_be_visible()
    expect(main_nav(page).locator(".badge")).to_have_count(0)  # read now
    notice.click()
    expect(page).to_have_url(hearth_server.url + "/groups/thursday-evening-circle/")
    expect(page.get_by_text("You are “Still Water” in this group (Member).")).to_be_visible()

    main_nav(page).get_by_role("link", name="My groups").click()
    expect(pending_card).to_contain_text("You are “Still Water” here · Member")
    expect(open_card).to_contain_text("You are “Quiet Harbor” here · Member")
    expect(page.get_by_role("link", name="Codependency Corner")).to_have_count(0)

    join_page = re.escape(hearth_server.url + "/groups/thursday-evening-circle/join/")
    assert_console_was_quiet(request, expected=(FORM_ERROR_ON.format(join_page),))


# --- Meetings across timezones ------------------------------------------------------------


def shown_local(moment: datetime, zone: ZoneInfo) -> str:
    """ "Tue 1 Dec 2026, 14:00 EST", as "My meetings" shows a time."""
    local = moment.astimezone(zone)
    day, month = DAYS[local.weekday()][:3], MONTHS[local.month - 1]
    return f"{day} {local.day} {month} {local.year}, {local:%H:%M} {local.tzname()}"


def shown_group_local(moment: datetime, viewer_zone: ZoneInfo, group_zone: ZoneInfo, place: str) -> str:
    """ "19:00 in London", with the weekday when the group's date differs from the viewer's."""
    viewer, group = moment.astimezone(viewer_zone), moment.astimezone(group_zone)
    when = f"{DAYS[group.weekday()][:3]} {group:%H:%M}" if group.date() != viewer.date() else f"{group:%H:%M}"
    return f"{when} in {place}"


def test_bob_schedules_a_weekly_meeting_and_alice_in_new_york_rsvps_and_downloads_it(
    transactional_db: None,
    new_page: NewPage,
    hearth_server: HearthServer,
    circle: SupportGroup,
    alice: User,
    bob: User,
    request: pytest.FixtureRequest,
) -> None:
    assert circle.timezone == "Europe/London"
    alice.timezone = "America/New_York"
    alice.save(update_fields=["timezone"])
    assert alice.discreet_notifications, "discreet notifications are on by default"

    london_today = timezone.localdate(timezone=LONDON)
    meeting_day = london_today + timedelta(days=1)  # tomorrow in London: surely still to come
    weekday_name = DAYS[meeting_day.weekday()]

    # bob schedules a weekly meeting on tomorrow's weekday, at 19:00 London time.
    bob_page = new_page()
    log_in(bob_page, hearth_server, bob)
    bob_page.goto("/groups/tuesday-circle/")
    bob_page.get_by_role("navigation", name="Run this group").get_by_role("link", name="Schedule").click()
    expect(bob_page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    bob_page.get_by_role("link", name="New regular meeting").click()
    expect(bob_page.get_by_role("heading", name="New regular meeting", level=1)).to_be_visible()
    bob_page.get_by_label("Title (required)", exact=True).fill("Evening circle")
    bob_page.get_by_label("Weekly", exact=True).check()
    bob_page.get_by_label("Every (required)", exact=True).fill("1")
    bob_page.get_by_label(weekday_name, exact=True).check()
    bob_page.get_by_label("First meeting on or after (required)", exact=True).fill(london_today.isoformat())
    time_field = bob_page.get_by_label("Time, in the group's timezone (required)", exact=True)
    time_field.fill("19:00")
    expect(bob_page.get_by_text("Timezone: Europe/London")).to_be_visible()
    bob_page.get_by_label("Length (minutes) (required)", exact=True).fill("90")
    bob_page.get_by_label("Places (required)", exact=True).fill("12")
    bob_page.get_by_label("Keeps going", exact=True).check()
    bob_page.get_by_label("Calm Heron", exact=True).check()
    bob_page.get_by_role("button", name="Schedule").click()

    expect(bob_page).to_have_url(hearth_server.url + "/groups/tuesday-circle/schedule/")
    expect(bob_page.get_by_text("The regular meeting is scheduled.")).to_be_visible()
    series_card = bob_page.locator("li.card", has_text=f"Every {weekday_name}, 19:00 (Europe/London)")
    expect(series_card.get_by_role("heading", level=3)).to_have_text("Evening circle")
    expect(series_card).to_contain_text("90 minutes, 12 places")
    expect(series_card).to_contain_text("Rota: Calm Heron")

    series = MeetingSeries.objects.get(group=circle)
    assert series.title == "Evening circle"
    meeting = Meeting.objects.filter(series=series).order_by("starts_at").first()
    assert meeting is not None
    starts_in_london = meeting.starts_at.astimezone(LONDON)
    assert starts_in_london.date() == meeting_day
    assert (starts_in_london.hour, starts_in_london.minute) == (19, 0)
    assert meeting.starts_at > timezone.now()

    # alice, in New York, sees it in her time with London's beside it.
    page = new_page(timezone_id="America/New_York")
    log_in(page, hearth_server, alice)
    main_nav(page).get_by_role("link", name="My meetings").click()
    expect(page.get_by_role("heading", name="My meetings", level=1)).to_be_visible()
    expect(page.get_by_text("Times are in your timezone (America/New_York).")).to_be_visible()

    local_text = shown_local(meeting.starts_at, NEW_YORK)
    group_text = shown_group_local(meeting.starts_at, NEW_YORK, LONDON, "London")
    assert local_text != shown_local(meeting.starts_at, LONDON)
    meeting_link = f"/groups/tuesday-circle/meetings/{meeting.public_id}/"
    row = page.locator("li.meeting", has=page.locator(f'a[href="{meeting_link}"]'))
    expect(row).to_have_count(1)
    expect(row.get_by_role("heading")).to_have_text("Evening circle · Tuesday Circle")
    expect(row.locator("time")).to_have_text(local_text)
    expect(row.locator("time")).to_have_attribute("datetime", meeting.starts_at.isoformat())
    when = re.escape(f"{local_text} ({group_text}) · ")
    expect(row.locator("p").first).to_have_text(re.compile(rf"^{when}in \d+ (minutes?|hours?|days?)$"))
    expect(row).not_to_contain_text("You're going")

    # She opens it and says she is going.
    row.get_by_role("link", name="Evening circle").click()
    expect(page).to_have_url(hearth_server.url + meeting_link)
    expect(page.get_by_role("heading", name="Evening circle", level=1)).to_be_visible()
    expect(page.locator("p.lead time")).to_have_text(local_text)
    expect(page.locator("p.lead")).to_contain_text(f"({group_text})")
    expect(page.get_by_text(f"Until {meeting.ends_at.astimezone(NEW_YORK):%H:%M}")).to_be_visible()
    page.get_by_role("button", name="I'm going").click()
    expect(page).to_have_url(hearth_server.url + meeting_link)
    expect(page.get_by_text("You're going. See you there.")).to_be_visible()
    rsvp_section = page.get_by_role("region", name="Are you going?")
    expect(rsvp_section.get_by_role("status")).to_have_text("You're going.")
    expect(page.get_by_role("button", name="I'm going")).to_have_count(0)
    expect(page.get_by_role("button", name="I can't go after all")).to_be_visible()
    rsvp = Rsvp.objects.get(meeting=meeting, membership__user=alice)
    assert rsvp.status == Rsvp.Status.GOING

    # The .ics download is one discreet event at the meeting's time.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == "appointment.ics"
    body = download.path().read_bytes()
    calendar = Calendar.from_ical(body)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    start = event.decoded("dtstart")
    assert isinstance(start, datetime) and start.tzinfo is not None
    assert start == meeting.starts_at
    assert start.utcoffset() == timedelta(0)
    assert event.decoded("dtend") == meeting.ends_at
    assert str(event["summary"]) == "Appointment"
    unfolded = body.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode()
    for telling in (circle.name, circle.slug, "Hearth", "Evening circle"):
        assert telling.lower() not in unfolded.lower(), f"the .ics names {telling!r}"

    main_nav(page).get_by_role("link", name="My meetings").click()
    expect(row).to_contain_text("You're going")

    assert_console_was_quiet(request)
