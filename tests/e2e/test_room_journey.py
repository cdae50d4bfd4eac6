"""The live meeting room in a real Chromium: two people, two browser profiles, one room.

The acceptance journeys of the room page (static/js/room.js over docs/protocol.md):

- bob facilitates, alice shares: she enters, raises her hand, bob gives her the floor, she
  writes, bob reads it and mutes her with a reason; she is told why and cannot write.
- the connection drops: the page says so, reconnects, resumes, and shows what was said
  meanwhile exactly once, including the message she wrote while offline and one whose
  acknowledgement was lost with the connection.

The socket is cut with Playwright's WebSocket routing (page.route_web_socket), so the page's
code has no test hook. Set E2E_SCREENSHOT_DIR to keep screenshots of both roles' pages, at
desktop and mobile widths.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Locator, Page, WebSocketRoute, expect

from accounts.models import User
from groups.models import SupportGroup
from meetings.models import Meeting, RoomEvent, RoomPresence
from moderation.models import AuditEntry
from tests.conftest import PASSWORD
from tests.e2e.conftest import BROWSER_LOG, EXIT_SITE_TITLE, ExitSite, HearthServer
from tests.rooms import going, open_meeting

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]

DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
WS_ROOMS = re.compile(r"/ws/rooms/")


# --- Helpers --------------------------------------------------------------------------------


def log_in(page: Page, server: HearthServer, user: User) -> None:
    """Log in through the login form, as a person would."""
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address (required)", exact=True).fill(user.email)
    page.get_by_label("Password (required)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/")


def sign_in_directly(page: Page, server: HearthServer, user: User) -> None:
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": server.url}])


def room_url(meeting: Meeting) -> str:
    return f"/groups/{meeting.group.slug}/meetings/{meeting.public_id}/room/"


def enter_from_the_meeting_page(page: Page, meeting: Meeting) -> None:
    page.goto(f"/groups/{meeting.group.slug}/meetings/{meeting.public_id}/")
    page.get_by_role("link", name="Enter the room").click()
    expect(page).to_have_url(re.compile(re.escape(room_url(meeting)) + "$"))
    expect(page).to_have_title("Meeting")  # neutral, whatever the meeting is called
    expect(status(page)).to_have_text("Caught up")


def status(page: Page) -> Locator:
    return page.locator("#room-status")


def messages(page: Page) -> Locator:
    return page.locator("#room-messages > li")


def message_bodies(page: Page) -> list[str]:
    return page.locator("#room-messages > li .msg__body").all_text_contents()


def write(page: Page, text: str) -> None:
    composer = page.get_by_label("Your message", exact=True)
    composer.fill(text)
    composer.press("Enter")


def assert_console_was_quiet(request: pytest.FixtureRequest) -> None:
    """No console error at all in any of the test's browser contexts (the harness itself fails
    a test only on CSP violations and uncaught errors)."""
    log = request.node.stash[BROWSER_LOG]
    log.drain()
    assert not log.console_errors, "\n".join(log.console_errors)


def screenshots(page: Page, name: str) -> None:
    """Keep the page at desktop and mobile widths, when E2E_SCREENSHOT_DIR says where."""
    folder = os.environ.get("E2E_SCREENSHOT_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


@pytest.fixture
def make_meeting(
    new_page: NewPage, transactional_db: None, circle: SupportGroup, alice: User, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Meeting]]:
    """Meetings of the circle that bob facilitates and alice said she is going to."""
    made: list[Meeting] = []

    def make(starts_in: timedelta = timedelta(minutes=5)) -> Meeting:
        meeting = open_meeting(circle, starts_in=starts_in)
        going(meeting, alice)
        made.append(meeting)
        return meeting

    yield make
    # Leave the rooms before the test database is emptied: a socket closing after that would
    # find no room to leave, and the server would log it as an error during the next test.
    for context in request.node.stash[BROWSER_LOG].contexts:
        context.close()
    deadline = time.monotonic() + 10
    while RoomPresence.objects.filter(room__meeting__in=made).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def meeting(make_meeting: Callable[..., Meeting]) -> Meeting:
    """Starting in 5 minutes: its room is open."""
    return make_meeting()


# --- The journey ----------------------------------------------------------------------------


def test_bob_gives_alice_the_floor_reads_her_share_and_mutes_her(
    new_page: NewPage,
    hearth_server: HearthServer,
    meeting: Meeting,
    alice: User,
    bob: User,
    request: pytest.FixtureRequest,
) -> None:
    bob_page = new_page(viewport=DESKTOP)
    log_in(bob_page, hearth_server, bob)
    enter_from_the_meeting_page(bob_page, meeting)
    controls = bob_page.get_by_role("region", name="Facilitator controls")
    expect(controls).to_be_visible()
    expect(bob_page.locator("#room-you")).to_have_text("You are “Calm Heron” here.")
    # Shares, with no crosstalk.
    controls.get_by_label("Phase", exact=True).select_option("shares")
    controls.get_by_label("No crosstalk during shares").check()
    controls.get_by_role("button", name="Set phase").click()
    expect(bob_page.locator("#room-state")).to_contain_text("Phase: Shares")
    expect(bob_page.locator("#room-state")).to_contain_text("No crosstalk")

    alice_page = new_page(viewport=DESKTOP)
    log_in(alice_page, hearth_server, alice)
    enter_from_the_meeting_page(alice_page, meeting)
    expect(alice_page.get_by_role("region", name="Facilitator controls")).to_be_hidden()
    expect(alice_page.locator("#room-state")).to_contain_text("Phase: Shares")

    # bob sees her arrive.
    presence = bob_page.locator("#room-presence")
    expect(presence.locator("li", has_text="Quiet Harbor")).to_be_visible()
    expect(bob_page.locator("#room-presence-count")).to_have_text("2")

    # Before her turn, she may not write (no crosstalk), and keeps her words.
    write(alice_page, "Can I go next?")
    expect(alice_page.locator("#room-composer-alert")).to_contain_text("It's someone's turn to share")
    expect(alice_page.get_by_label("Your message", exact=True)).to_have_value("Can I go next?")
    alice_page.get_by_label("Your message", exact=True).fill("")

    # She raises her hand; bob gives her the floor.
    hand = alice_page.get_by_role("button", name="Raise hand")
    expect(hand).to_have_attribute("aria-pressed", "false")
    hand.click()
    lower = alice_page.get_by_role("button", name="Lower hand")
    expect(lower).to_have_attribute("aria-pressed", "true")
    queue = bob_page.locator("#room-hands")
    expect(queue.locator("li", has_text="Quiet Harbor")).to_be_visible()
    bob_page.get_by_role("button", name="Give the floor to Quiet Harbor").click()

    floor = alice_page.locator("#room-floor")
    expect(floor).to_contain_text("You have the floor.")
    timer = alice_page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^\d+:\d\d left$"))
    first = timer.text_content()
    expect(timer).not_to_have_text(first or "", timeout=3000)  # it counts down
    expect(alice_page.get_by_role("button", name="Raise hand")).to_have_attribute("aria-pressed", "false")
    expect(queue.locator("li")).to_have_count(0)
    expect(bob_page.locator("#room-floor")).to_contain_text("Quiet Harbor has the floor.")
    expect(bob_page.get_by_role("button", name="End share")).to_be_enabled()

    # Her share reaches bob, as text, once.
    share = "It has been a hard week, but I <b>noticed</b> the pattern this time."
    write(alice_page, share)
    expect(bob_page.locator("#room-messages > li", has_text="It has been a hard week")).to_have_count(1)
    assert message_bodies(bob_page) == [share]  # shown as text, never as markup
    assert bob_page.locator("#room-messages b").count() == 0
    expect(messages(alice_page)).to_have_count(1)
    expect(alice_page.locator("#room-pending > li")).to_have_count(0)
    expect(alice_page.get_by_label("Your message", exact=True)).to_have_value("")
    # bob offers support with a reaction; both see it pressed or counted.
    bob_message = messages(bob_page).first
    thanks = bob_message.get_by_role("button", name=re.compile(r"^Thank you"))
    thanks.click()
    expect(thanks).to_have_attribute("aria-pressed", "true")
    expect(messages(alice_page).first.get_by_role("button", name=re.compile(r"^Thank you"))).to_contain_text("1")

    screenshots(bob_page, "room-facilitator")
    screenshots(alice_page, "room-member")

    # bob mutes her, with a reason, through the in-page form.
    bob_page.get_by_role("button", name="Mute Quiet Harbor", exact=True).click()
    mute_form = bob_page.locator("#room-mute-form")
    expect(mute_form.get_by_role("group", name="Mute Quiet Harbor")).to_be_visible()
    expect(mute_form.get_by_label("For how many minutes (1 to 1440)")).to_be_focused()
    mute_form.get_by_label("For how many minutes (1 to 1440)").fill("10")
    mute_form.get_by_label("Reason (they will see it)").fill("Please keep to the guidelines.")
    mute_form.get_by_role("button", name="Mute", exact=True).click()
    expect(mute_form).to_be_hidden()
    expect(bob_page.locator("#room-controls-feedback")).to_have_text("Quiet Harbor is muted for 10 minutes.")

    notice = alice_page.get_by_role("alert").filter(has_text="muted")
    expect(notice).to_contain_text("A facilitator muted you for 10 minutes.")
    expect(notice).to_contain_text("Reason: Please keep to the guidelines.")
    expect(notice).to_contain_text("You are muted until")
    expect(alice_page.get_by_label("Your message", exact=True)).to_be_disabled()
    expect(alice_page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    # She can still read and react.
    expect(messages(alice_page).first.get_by_role("button", name=re.compile(r"^Me too"))).to_be_enabled()

    action = AuditEntry.objects.get(action="room.mute")
    assert action.reason == "Please keep to the guidelines."
    assert (action.actor_label, action.target_label) == ("Calm Heron", "Quiet Harbor")
    assert action.detail == {"minutes": 10, "meeting": meeting.public_id}
    screenshots(alice_page, "room-member-muted")
    assert_console_was_quiet(request)


# --- Dropped connections --------------------------------------------------------------------


class SocketCutter:
    """Routes the page's room sockets through Playwright, so a test can cut them, keep the page
    offline, or lose what the server sends (an ack, a broadcast) on the way."""

    def __init__(self) -> None:
        self.offline = False
        self.lose_from_server = False
        self.connections: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.refused = 0
        self.lost: list[str] = []

    def handle(self, route: WebSocketRoute) -> None:
        if self.offline:
            self.refused += 1
            route.close(code=1006, reason="offline")
            return
        server = route.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if self.lose_from_server:
                self.lost.append(message if isinstance(message, str) else message.decode())
            else:
                route.send(message)

        server.on_message(from_server)
        self.connections.append((route, server))

    def cut(self) -> None:
        """Drop the current connection: the server's side, then the page's (as a network
        failure would, without a closing handshake the page could tell from one)."""
        route, server = self.connections[-1]
        server.close(code=1011, reason="dropped")
        route.close(code=1006, reason="dropped")


def wait_for(page: Page, condition: Callable[[], Any], what: str, timeout_ms: int = 10_000) -> None:
    """Poll `condition` (a database query), letting Playwright run its callbacks meanwhile."""
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"Timed out waiting for {what}")


def test_the_room_reconnects_resumes_and_shows_everything_exactly_once(
    new_page: NewPage,
    hearth_server: HearthServer,
    meeting: Meeting,
    alice: User,
    bob: User,
    request: pytest.FixtureRequest,
) -> None:
    bob_page = new_page(viewport=DESKTOP)
    sign_in_directly(bob_page, hearth_server, bob)
    bob_page.goto(room_url(meeting))
    expect(status(bob_page)).to_have_text("Caught up")

    alice_page = new_page(viewport=DESKTOP)
    sign_in_directly(alice_page, hearth_server, alice)
    cutter = SocketCutter()
    alice_page.route_web_socket(WS_ROOMS, cutter.handle)
    alice_page.goto(room_url(meeting))
    expect(status(alice_page)).to_have_text("Caught up")

    write(bob_page, "Welcome, everyone.")
    expect(messages(alice_page)).to_have_count(1)

    # The connection drops, and stays down for a while.
    cutter.offline = True
    cutter.cut()
    expect(status(alice_page)).to_contain_text(re.compile(r"^Offline — reconnecting in \d+s$"))
    reconnect_now = alice_page.get_by_role("button", name="Reconnect now")
    expect(reconnect_now).to_be_visible()
    # She writes meanwhile: the message waits, shown as not yet delivered.
    write(alice_page, "Sorry, my connection is patchy.")
    expect(alice_page.locator("#room-pending > li")).to_have_count(1)
    expect(alice_page.locator("#room-pending > li")).to_contain_text("Sending…")
    # The room goes on without her.
    write(bob_page, "While you were away: one.")
    write(bob_page, "While you were away: two.")
    expect(messages(bob_page)).to_have_count(3)
    # ...and bob deletes a message she had already seen.
    messages(bob_page).first.get_by_role("button", name=re.compile(r"^Delete the message from Calm Heron")).click()
    expect(messages(bob_page).first).to_contain_text("This message was deleted.")
    wait_for(alice_page, lambda: cutter.refused >= 1, "a refused reconnection attempt")
    expect(status(alice_page)).to_contain_text("Offline — reconnecting in")

    # Back online: she reconnects, resumes from her last seq, and her message goes once.
    cutter.offline = False
    reconnect_now.click()
    expect(status(alice_page)).to_have_text("Caught up")
    expected = [
        "This message was deleted.",
        "While you were away: one.",
        "While you were away: two.",
        "Sorry, my connection is patchy.",
    ]
    expect(messages(alice_page)).to_have_count(4)
    assert message_bodies(alice_page) == expected
    expect(alice_page.locator("#room-pending > li")).to_have_count(0)
    expect(messages(bob_page)).to_have_count(4)
    assert message_bodies(bob_page) == expected

    # A message stored, whose ack and broadcast are lost with the connection: after the
    # reconnection it is shown once, and stored once.
    cutter.lose_from_server = True
    write(alice_page, "Did that go through?")
    wait_for(
        alice_page,
        lambda: RoomEvent.objects.filter(room__meeting=meeting, body="Did that go through?").exists(),
        "the message to be stored",
    )
    expect(alice_page.locator("#room-pending > li")).to_have_count(1)  # no ack seen
    cutter.cut()
    cutter.lose_from_server = False
    expect(status(alice_page)).to_have_text("Caught up", timeout=15_000)  # the backoff's first steps
    expect(messages(alice_page)).to_have_count(5)
    assert message_bodies(alice_page) == [*expected, "Did that go through?"]
    expect(alice_page.locator("#room-pending > li")).to_have_count(0)
    expect(messages(bob_page)).to_have_count(5)

    log = list(RoomEvent.objects.filter(room__meeting=meeting).order_by("seq").values_list("seq", "kind", "body"))
    assert log == [
        (1, "message", "Welcome, everyone."),  # deleted: kept for the facilitators' transcript
        (2, "message", "While you were away: one."),
        (3, "message", "While you were away: two."),
        (4, "deletion", ""),
        (5, "message", "Sorry, my connection is patchy."),
        (6, "message", "Did that go through?"),
    ]
    # Each reconnection caught up from where the page was.
    assert len(cutter.connections) == 3
    assert_console_was_quiet(request)


# --- Before and after -----------------------------------------------------------------------


def test_alice_waits_bob_opens_the_room_early_and_ends_the_meeting(
    new_page: NewPage,
    hearth_server: HearthServer,
    make_meeting: Callable[..., Meeting],
    alice: User,
    bob: User,
    request: pytest.FixtureRequest,
) -> None:
    meeting = make_meeting(starts_in=timedelta(minutes=40))  # the room opens in 30 minutes

    bob_page = new_page(viewport=DESKTOP)
    sign_in_directly(bob_page, hearth_server, bob)
    bob_page.goto(room_url(meeting))
    expect(status(bob_page)).to_have_text("Caught up")  # facilitators may come in before
    open_now = bob_page.get_by_role("button", name="Open the room now")
    expect(open_now).to_be_visible()

    alice_page = new_page(viewport=DESKTOP)
    sign_in_directly(alice_page, hearth_server, alice)
    sockets: list[str] = []
    alice_page.on("websocket", lambda socket: sockets.append(socket.url))
    alice_page.goto(room_url(meeting))
    expect(status(alice_page)).to_have_text(re.compile(r"^The room opens at .+\. Trying again in a minute\.$"))
    expect(alice_page.locator("#room-layout")).to_be_hidden()
    expect(alice_page.get_by_label("Your message", exact=True)).to_be_hidden()
    screenshots(alice_page, "room-member-not-open")
    screenshots(bob_page, "room-facilitator-before-opening")

    open_now.click()
    expect(open_now).to_be_hidden()
    wait_for(bob_page, lambda: AuditEntry.objects.filter(action="room.open_early").exists(), "the room to open")
    # She need not wait the minute.
    alice_page.get_by_role("button", name="Reconnect now").click()
    expect(status(alice_page)).to_have_text("Caught up")
    expect(alice_page.get_by_label("Your message", exact=True)).to_be_enabled()
    expect(bob_page.locator("#room-presence-count")).to_have_text("2")
    expect(open_now).to_be_hidden()

    # bob ends the meeting, after a confirmation step in the page.
    bob_page.get_by_role("button", name="End the meeting…").click()
    confirm = bob_page.get_by_role("group", name="End the meeting for everyone?")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_label("Reason (optional, kept in the record)")).to_be_focused()
    confirm.get_by_role("button", name="Keep it going").click()
    expect(confirm).to_be_hidden()
    expect(bob_page.get_by_role("button", name="End the meeting…")).to_be_focused()
    bob_page.get_by_role("button", name="End the meeting…").click()
    confirm.get_by_label("Reason (optional, kept in the record)").fill("We finished early tonight.")
    confirm.get_by_role("button", name="Yes, end the meeting").click()

    ended = "The facilitators ended the meeting. Thank you for being here."
    for page in (alice_page, bob_page):
        expect(status(page)).to_have_text(ended)
        expect(page.locator("#room-layout")).to_be_hidden()
        expect(page.get_by_role("link", name="Back to the meeting's page")).to_be_visible()
        expect(page.get_by_role("button", name="Reconnect now")).to_be_hidden()
    expect(alice_page).to_have_title("Meeting")
    screenshots(alice_page, "room-member-ended")
    assert AuditEntry.objects.get(action="room.end").reason == "We finished early tonight."
    # No reconnecting after the end.
    connections = len(sockets)
    alice_page.wait_for_timeout(2000)
    assert len(sockets) == connections == 2
    assert_console_was_quiet(request)


def test_a_reaction_to_a_message_deleted_meanwhile_does_not_put_her_out_of_the_room(
    new_page: NewPage,
    hearth_server: HearthServer,
    exit_site: ExitSite,
    meeting: Meeting,
    alice: User,
    bob: User,
    request: pytest.FixtureRequest,
) -> None:
    """The server answers `not_found` (and today also closes the socket with 4403, which
    docs/protocol.md says it should not); the page says so, stays in the room (reconnecting if
    need be), and catches up. And Quick exit works from the room."""
    bob_page = new_page(viewport=DESKTOP)
    sign_in_directly(bob_page, hearth_server, bob)
    bob_page.goto(room_url(meeting))
    expect(status(bob_page)).to_have_text("Caught up")
    alice_page = new_page(viewport=DESKTOP)
    sign_in_directly(alice_page, hearth_server, alice)
    cutter = SocketCutter()
    alice_page.route_web_socket(WS_ROOMS, cutter.handle)
    alice_page.goto(room_url(meeting))
    expect(status(alice_page)).to_have_text("Caught up")

    write(bob_page, "Posted in the wrong room, sorry.")
    expect(messages(alice_page)).to_have_count(1)
    # bob deletes it; the deletion does not reach alice's page (yet).
    cutter.lose_from_server = True
    messages(bob_page).first.get_by_role("button", name=re.compile(r"^Delete the message")).click()
    expect(messages(bob_page).first).to_contain_text("This message was deleted.")
    wait_for(alice_page, lambda: any('"deletion"' in frame for frame in cutter.lost), "the deletion to be lost")
    cutter.lose_from_server = False

    messages(alice_page).first.get_by_role("button", name=re.compile(r"^Me too")).click()
    expect(alice_page.locator("#room-composer-alert")).to_have_text("There is no message 1.")
    expect(status(alice_page)).to_have_text("Caught up")
    write(bob_page, "Welcome, everyone.")
    expect(messages(alice_page)).to_have_count(2)
    expect(messages(alice_page).first).to_contain_text("This message was deleted.")
    assert message_bodies(alice_page) == ["This message was deleted.", "Welcome, everyone."]
    expect(alice_page.locator("#room-layout")).to_be_visible()
    expect(alice_page.get_by_label("Your message", exact=True)).to_be_enabled()
    write(alice_page, "Thank you.")
    expect(messages(bob_page)).to_have_count(3)

    # Quick exit works from the room, even while she is typing.
    alice_page.get_by_label("Your message", exact=True).fill("I need to")
    for _ in range(3):
        alice_page.keyboard.press("Shift")
    expect(alice_page).to_have_url(exit_site.url)
    expect(alice_page).to_have_title(EXIT_SITE_TITLE)
    assert_console_was_quiet(request)
