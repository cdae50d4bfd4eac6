"""Moderation from the meeting room, in a real Chromium (static/js/room.js, docs/protocol.md).

The acceptance journey: alice reports a message in the room; bob (facilitator) sees the live
count, opens the report with its snapshot, times out the author, whose next message is refused
with the reason; alice is told that action was taken. Three browser profiles: alice and
charlie ("Bright Fern", the author: a plain member, so that bob may handle a report about him)
are members going to the meeting, bob facilitates.

And blocking: alice blocks charlie; what he writes next reaches bob but not her, the room goes
on for her without waiting for it, and unblocking shows him again. And what the room tells one
person: a watched word refused (the draft kept), crisis resources shown only to the writer while
the facilitators get a private alert, and a warning.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from groups.models import SupportGroup
from meetings.models import Meeting, RoomPresence
from moderation.models import Block, Report, Sanction, WatchedWord
from moderation.rules import normalise
from tests.conftest import add_member
from tests.e2e.conftest import BROWSER_LOG, HearthServer
from tests.e2e.test_room_journey import (
    DESKTOP,
    assert_console_was_quiet,
    messages,
    room_url,
    screenshots,
    sign_in_directly,
    status,
    write,
)
from tests.rooms import going, open_meeting

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]

THE_MESSAGE = "Nobody here cares what you think, Quiet Harbor. Just stop talking."
REASON = "Please keep to the guidelines."


@pytest.fixture
def meeting(
    new_page: NewPage, circle: SupportGroup, alice: User, charlie: User, request: pytest.FixtureRequest
) -> Iterator[Meeting]:
    """A meeting of the circle starting in 5 minutes (its room is open); bob facilitates,
    alice and charlie said they are going."""
    add_member(circle, charlie, "Bright Fern")
    made = open_meeting(circle)
    going(made, alice, charlie)
    yield made
    # Leave the room before the test database is emptied (see test_room_journey.make_meeting).
    for context in request.node.stash[BROWSER_LOG].contexts:
        context.close()
    deadline = time.monotonic() + 10
    while RoomPresence.objects.filter(room__meeting=made).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def enter(new_page: NewPage, server: HearthServer, user: User, meeting: Meeting) -> Page:
    page = new_page(viewport=DESKTOP)
    sign_in_directly(page, server, user)
    page.goto(room_url(meeting))
    expect(status(page)).to_have_text("Caught up")
    return page


def visible_bodies(page: Page) -> list[str]:
    return page.locator("#room-messages > li:visible .msg__body").all_text_contents()


def message_from(page: Page, text: str) -> Locator:
    return page.locator("#room-messages > li", has_text=text)


def feedback(page: Page) -> Locator:
    return page.locator("#room-feedback")


# --- The journey ----------------------------------------------------------------------------


def test_alice_reports_bob_times_out_the_author_and_alice_is_told(
    new_page: NewPage,
    hearth_server: HearthServer,
    meeting: Meeting,
    alice: User,
    bob: User,
    charlie: User,
    request: pytest.FixtureRequest,
) -> None:
    bob_page = enter(new_page, hearth_server, bob, meeting)
    reports_link = bob_page.locator("#room-reports").get_by_role("link")
    expect(reports_link).to_have_text(re.compile(r"^Reports: 0"))
    expect(reports_link).to_have_attribute("target", "_blank")
    charlie_page = enter(new_page, hearth_server, charlie, meeting)
    alice_page = enter(new_page, hearth_server, alice, meeting)
    # Members have no report count and no facilitators' alerts.
    expect(alice_page.locator("#room-reports")).to_be_hidden()
    expect(alice_page.locator("#room-alerts-panel")).to_be_hidden()

    write(charlie_page, THE_MESSAGE)
    expect(message_from(alice_page, THE_MESSAGE)).to_have_count(1)
    # No menu on one's own messages.
    expect(message_from(charlie_page, THE_MESSAGE).get_by_role("button", name=re.compile(r"^More"))).to_have_count(0)

    # alice opens the message's menu, then Report…
    more = message_from(alice_page, THE_MESSAGE).get_by_role("button", name="More for message 1 from Bright Fern")
    expect(more).to_have_attribute("aria-expanded", "false")
    more.click()
    expect(more).to_have_attribute("aria-expanded", "true")
    menu = message_from(alice_page, THE_MESSAGE).locator(".msg__menu")
    expect(menu.get_by_role("button", name="Block Bright Fern")).to_be_visible()
    # Escape closes it and gives the focus back.
    menu.get_by_role("button", name="Report…").focus()
    alice_page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(more).to_be_focused()
    # From the keyboard, the menu opens into its first action.
    alice_page.keyboard.press("Enter")
    expect(menu.get_by_role("button", name="Report…")).to_be_focused()
    alice_page.keyboard.press("Enter")

    dialog = alice_page.get_by_role("dialog", name="Report a message")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Message from Bright Fern at")
    expect(dialog).to_contain_text(THE_MESSAGE)
    expect(dialog.get_by_label("Harassment or bullying")).to_be_focused()
    categories = dialog.get_by_role("group", name=re.compile(r"^What is wrong\?"))
    for label in (
        "Harassment or bullying",
        "Threats",
        "Hate",
        "Spam or advertising",
        "Worried they may harm themselves",
        "Revealing someone's identity",
        "Pretending to be someone else",
        "Something else",
    ):
        expect(categories.get_by_role("radio", name=label, exact=True)).not_to_be_checked()
    wishes = dialog.get_by_role("group", name="What would you like?")
    expect(wishes.get_by_role("radio", name="Let the facilitators know")).to_be_checked()
    expect(wishes.get_by_role("radio", name="Remove the message")).to_be_visible()
    expect(wishes.get_by_role("radio", name="Keep this person away from me")).to_be_visible()
    # Sent without a category: the dialog says what is missing and stays.
    dialog.get_by_role("button", name="Send the report").click()
    expect(dialog.get_by_role("alert")).to_have_text("Choose what is wrong.")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Harassment or bullying")).to_be_focused()
    dialog.get_by_label("Harassment or bullying").check()
    dialog.get_by_label("Anything the facilitators should know (optional)").fill("Second time this week.")
    screenshots(alice_page, "room-report-dialog")
    dialog.get_by_role("button", name="Send the report").click()

    expect(dialog).to_be_hidden()
    expect(feedback(alice_page)).to_have_text(
        "Thank you for telling the facilitators. They will look at it. The person you reported won't know it was you."
    )
    expect(feedback(alice_page)).to_have_attribute("role", "status")
    expect(more).to_be_focused()
    report = Report.objects.get()
    assert (report.category, report.wish, report.details) == ("harassment", "inform", "Second time this week.")
    assert report.subject.handle == "Bright Fern"

    # Reporting it again: the server says no, and the dialog keeps the answer.
    more.click()
    menu.get_by_role("button", name="Report…").click()
    dialog.get_by_label("Threats").check()
    dialog.get_by_role("button", name="Send the report").click()
    expect(dialog.get_by_role("alert")).to_have_text(
        "You have already reported this message. The facilitators have it."
    )
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(more).to_be_focused()
    assert Report.objects.count() == 1

    # bob's count follows, live; the queue opens in a new tab, and he stays in the room.
    expect(reports_link).to_have_text(re.compile(r"^Reports: 1"))
    with bob_page.context.expect_page() as opened:
        reports_link.click()
    queue = opened.value
    queue.wait_for_load_state()
    expect(queue.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    queue.get_by_role("link", name="Harassment or bullying").click()
    expect(queue.get_by_role("heading", name="Harassment or bullying", level=1)).to_be_visible()
    snapshot = queue.locator(".snapshot")
    expect(snapshot.locator("[aria-current='true']")).to_contain_text(THE_MESSAGE)
    expect(snapshot).to_contain_text("Bright Fern")
    expect(queue.locator(".card", has_text="Second time this week.")).to_be_visible()

    # He times the author out for 15 minutes, with a reason.
    act = queue.locator("form", has=queue.get_by_role("button", name="Do it"))
    act.get_by_label("Action").select_option("timeout")
    act.get_by_label(re.compile(r"^Reason")).fill(REASON)
    act.get_by_label("Timeout length").select_option("15")
    act.get_by_role("button", name="Do it").click()
    expect(queue.locator(".messages")).to_contain_text("Done: Timeout from writing.")
    sanction = Sanction.objects.get()
    assert (sanction.kind, sanction.reason, sanction.report_id) == ("timeout", REASON, report.pk)

    # The author's room says so at once, and he can't write.
    notice = charlie_page.locator("#room-notice")
    expect(notice).to_contain_text("You can't write in the rooms of Tuesday Circle until")
    expect(notice).to_contain_text(f"Reason: {REASON} You can still read and react.")
    expect(notice).to_have_attribute("role", "alert")
    expect(charlie_page.get_by_label("Your message", exact=True)).to_be_disabled()
    screenshots(charlie_page, "room-timed-out")

    # bob closes the report: action was taken.
    close = queue.locator("form", has=queue.get_by_role("button", name="Close and tell the reporter"))
    close.get_by_label("Action was taken").check()
    close.get_by_role("button", name="Close and tell the reporter").click()
    expect(queue.get_by_text("Closed: action was taken.")).to_be_visible()
    expect(reports_link).to_have_text(re.compile(r"^Reports: 0"))
    expect(status(bob_page)).to_have_text("Caught up")  # still in the room

    # His next message is refused with the reason: a client that still sends one (a page
    # opened before, a script) gets the server's refusal, and nothing reaches the room.
    charlie_page.evaluate(
        """() => new Promise((resolve) => {
            const path = document.getElementById("room").dataset.wsPath;
            const socket = new WebSocket(`ws://${location.host}${path}`);
            socket.onmessage = (event) => {
                const frame = JSON.parse(event.data);
                if (frame.type === "welcome") {
                    socket.send(JSON.stringify({type: "send", client_id: "late", body: "Sorry, let me explain."}));
                } else if (frame.type === "error") {
                    window.refusal = frame;
                    socket.close();
                    resolve();
                }
            };
        })"""
    )
    refusal = charlie_page.evaluate("() => window.refusal")
    assert refusal["code"] == "timed_out"
    assert refusal["message"] == f"A facilitator paused your writing in this group's rooms. Reason: {REASON}"
    assert visible_bodies(bob_page) == [THE_MESSAGE]

    # Coming back to the room, the page says so before he types: why, and until when.
    charlie_page.reload()
    expect(status(charlie_page)).to_have_text("Caught up")
    composer = charlie_page.get_by_label("Your message", exact=True)
    expect(composer).to_be_disabled()
    expect(charlie_page.locator("#room-notice")).to_contain_text(f"Reason: {REASON}")
    expect(charlie_page.locator("#room-notice")).to_contain_text("You are muted until")

    # alice is told that action was taken (without what, or to whom).
    notices = alice_page.context.new_page()
    notices.goto("/accounts/notices/")
    expect(notices.locator(".notices")).to_contain_text(
        "Your report in Tuesday Circle was reviewed, and the facilitators took action."
    )
    expect(notices.locator(".notices")).not_to_contain_text("Bright Fern")
    assert_console_was_quiet(request)


# --- Blocking -------------------------------------------------------------------------------


def test_alice_blocks_the_author_and_his_next_message_reaches_bob_but_not_her(
    new_page: NewPage,
    hearth_server: HearthServer,
    meeting: Meeting,
    alice: User,
    bob: User,
    charlie: User,
    request: pytest.FixtureRequest,
) -> None:
    bob_page = enter(new_page, hearth_server, bob, meeting)
    charlie_page = enter(new_page, hearth_server, charlie, meeting)
    alice_page = enter(new_page, hearth_server, alice, meeting)

    write(charlie_page, "First, from me.")
    write(bob_page, "Welcome, both of you.")
    expect(messages(alice_page)).to_have_count(2)

    message_from(alice_page, "First, from me.").get_by_role("button", name=re.compile(r"^More for message 1")).click()
    message_from(alice_page, "First, from me.").get_by_role("button", name="Block Bright Fern").click()
    expect(feedback(alice_page)).to_have_text(
        "You blocked Bright Fern. Their messages are hidden from you. They are not told."
    )
    expect(message_from(alice_page, "First, from me.")).to_be_hidden()
    expect(alice_page.locator("#room-log")).to_be_focused()
    blocked = alice_page.get_by_role("region", name="Blocked people")
    expect(blocked.locator("li")).to_have_text(re.compile(r"^Bright Fern"))
    assert Block.objects.filter(blocker__user=alice, blocked__user=charlie).exists()

    # He writes again: bob reads it, alice never gets it, and the room goes on for her.
    write(charlie_page, "Second, from me.")
    expect(message_from(bob_page, "Second, from me.")).to_have_count(1)
    write(bob_page, "Let's begin.")
    expect(message_from(alice_page, "Let's begin.")).to_be_visible()
    assert visible_bodies(alice_page) == ["Welcome, both of you.", "Let's begin."]
    expect(message_from(alice_page, "Second, from me.")).to_have_count(0)
    expect(status(alice_page)).to_have_text("Caught up")
    assert visible_bodies(bob_page) == ["First, from me.", "Welcome, both of you.", "Second, from me.", "Let's begin."]
    # He is not told.
    expect(charlie_page.locator("#room-notice")).to_be_empty()

    # After a reload too (welcome.hidden), and she can unblock from the side panel.
    alice_page.reload()
    expect(status(alice_page)).to_have_text("Caught up")
    assert visible_bodies(alice_page) == ["Welcome, both of you.", "Let's begin."]
    unblock = blocked.get_by_role("button", name="Unblock Bright Fern")
    screenshots(alice_page, "room-blocked")
    unblock.click()
    expect(feedback(alice_page)).to_have_text("You unblocked Bright Fern. Their messages show again.")
    expect(blocked).to_be_hidden()
    expect(alice_page.locator("#room-messages > li:visible")).to_have_count(4)
    assert visible_bodies(alice_page) == [
        "First, from me.",
        "Welcome, both of you.",
        "Second, from me.",
        "Let's begin.",
    ]
    assert not Block.objects.exists()
    assert_console_was_quiet(request)


# --- Watched words, crisis, warnings --------------------------------------------------------


def test_watched_words_crisis_resources_facilitator_alerts_and_a_warning(
    new_page: NewPage,
    hearth_server: HearthServer,
    meeting: Meeting,
    alice: User,
    bob: User,
    charlie: User,
    request: pytest.FixtureRequest,
) -> None:
    for phrase, action in (("idiot", "block"), ("end it all", "crisis")):
        WatchedWord.objects.create(group=meeting.group, phrase=phrase, normalised=normalise(phrase), action=action)
    bob_page = enter(new_page, hearth_server, bob, meeting)
    charlie_page = enter(new_page, hearth_server, charlie, meeting)
    alice_page = enter(new_page, hearth_server, alice, meeting)

    # A refused word: not sent, the reason said, the words kept to rephrase.
    write(charlie_page, "You are an idiot.")
    expect(charlie_page.locator("#room-composer-alert")).to_have_text(
        "Your message wasn't sent: “idiot” isn't allowed in this group. Please put it another way."
    )
    expect(charlie_page.get_by_label("Your message", exact=True)).to_have_value("You are an idiot.")
    expect(charlie_page.get_by_label("Your message", exact=True)).to_be_enabled()
    expect(charlie_page.locator("#room-pending > li")).to_have_count(0)

    # Words of crisis: the message goes, the writer alone gets help, the facilitators an alert.
    write(charlie_page, "Some days I just want to end it all.")
    expect(message_from(bob_page, "end it all")).to_have_count(1)
    crisis = charlie_page.get_by_role("region", name="Help is there right now")
    expect(crisis).to_be_visible()
    expect(crisis.get_by_role("alert")).to_have_text(
        "You're not alone. If you are in danger or thinking of harming yourself, help is there right now. "
        "Only you can see this."
    )
    expect(crisis.locator(".emergency")).to_contain_text("In an emergency (International):")
    expect(crisis.locator(".emergency")).to_contain_text("Call your local emergency number.")
    helpline = crisis.get_by_role("link", name=re.compile(r"^Find A Helpline"))
    expect(helpline).to_have_attribute("href", "https://findahelpline.com/")
    expect(helpline).to_have_attribute("target", "_blank")
    expect(helpline).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(helpline).to_have_accessible_name("Find A Helpline (opens in a new tab)")
    more_help = crisis.get_by_role("link", name=re.compile(r"^More ways to get help"))
    expect(more_help).to_have_attribute("href", "/help/")
    expect(more_help).to_have_attribute("target", "_blank")
    screenshots(charlie_page, "room-crisis")

    alerts = bob_page.get_by_role("region", name="Alerts for facilitators")
    expect(alerts.get_by_role("alert")).to_contain_text(
        "Bright Fern may be in crisis (message 1). Crisis resources were sent to them privately."
    )
    screenshots(bob_page, "room-facilitator-alert")
    alerts.get_by_role("link", name="Go to the message").click()
    expect(message_from(bob_page, "end it all")).to_be_focused()
    alerts.get_by_role("button", name="Dismiss the alert about Bright Fern").click()
    expect(alerts).to_be_hidden()
    # Nobody else sees any of it.
    expect(message_from(alice_page, "end it all")).to_have_count(1)
    expect(alice_page.locator("#room-crisis")).to_be_hidden()
    expect(alice_page.locator("#room-alerts-panel")).to_be_hidden()
    expect(bob_page.locator("#room-crisis")).to_be_hidden()
    crisis.get_by_role("button", name="Hide this").click()
    expect(crisis).to_be_hidden()
    expect(charlie_page.get_by_label("Your message", exact=True)).to_be_focused()

    # A warning from the member's page: shown to him at once, until he dismisses it.
    member = bob_page.context.new_page()
    membership = meeting.group.memberships.get(user=charlie)
    member.goto(f"/groups/{meeting.group.slug}/members/{membership.public_id}/")
    act = member.locator("form", has=member.get_by_role("button", name="Do it"))
    act.get_by_label("Action").select_option("warn")
    act.get_by_label(re.compile(r"^Reason")).fill("Please be kind to each other.")
    act.get_by_role("button", name="Do it").click()
    expect(member.locator(".messages")).to_contain_text("Done: Warning.")
    warning = charlie_page.locator("#room-warning")
    expect(warning.get_by_role("alert")).to_have_text(
        "A warning from the facilitators of Tuesday Circle: Please be kind to each other."
    )
    expect(charlie_page.get_by_label("Your message", exact=True)).to_be_enabled()  # a warning only
    screenshots(charlie_page, "room-warning")
    warning.get_by_role("button", name="I understand").click()
    expect(warning).to_be_hidden()
    expect(charlie_page.get_by_label("Your message", exact=True)).to_be_focused()
    expect(alice_page.locator("#room-warning")).to_be_hidden()
    assert_console_was_quiet(request)
