"""Journeys through Hearth in a real Chromium, as a person would make them.

Each test gets a fresh browser profile; the server is real (uvicorn, the test database) and
Quick exit leads to a local stand-in "Weather" site. See conftest.py for the harness.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.conftest import PASSWORD, make_user
from tests.e2e.conftest import EXIT_SITE_TITLE, ExitSite, HearthServer

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]

SHIFT_PRESSES = 3


def sign_in_directly(page: Page, server: HearthServer, user: User) -> None:
    """Give the page's browser profile a signed-in session, without going through the form."""
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": server.url}])


def fill_sign_up_form(page: Page, email: str, password: str, confirmation: str) -> None:
    page.get_by_label("Email address (required)", exact=True).fill(email)
    page.get_by_label("Password (required)", exact=True).fill(password)
    page.get_by_label("Password confirmation (required)", exact=True).fill(confirmation)


def focused_element(page: Page) -> dict[str, str]:
    """The focused element: its id, text, and the outline drawn around it."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                tag: el.tagName.toLowerCase(),
                id: el.id,
                text: (el.innerText || el.value || "").trim(),
                outlineStyle: style.outlineStyle,
                outlineWidth: style.outlineWidth,
                focusVisible: String(el.matches(":focus-visible")),
                inHeader: String(el.closest("header") !== null),
            };
        }"""
    )


def assert_visibly_focused(element: dict[str, str]) -> None:
    assert element["focusVisible"] == "true", element
    assert element["outlineStyle"] != "none", element
    assert element["outlineWidth"] not in ("", "0px"), element


def assert_left_for_the_exit_site(page: Page, server: HearthServer, exit_site: ExitSite) -> None:
    """On the exit site, which learnt nothing about Hearth, and Back does not return to Hearth."""
    expect(page).to_have_url(exit_site.url)
    expect(page).to_have_title(EXIT_SITE_TITLE)
    assert exit_site.visits, "the exit site was not asked for its page"
    for headers in exit_site.headers_of_visits():
        assert "referer" not in headers, "the exit site learnt where the person came from"
    page.go_back()
    page.wait_for_load_state()
    assert not page.url.startswith(server.url), f"Back returned to Hearth: {page.url}"
    assert "Hearth" not in page.title()


# (a) ---------------------------------------------------------------------------------------


def test_new_person_signs_up_changes_timezone_logs_out_and_back_in(
    new_page: NewPage, hearth_server: HearthServer
) -> None:
    email = "new.person@example.org"
    page = new_page(timezone_id="America/Chicago")

    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    # The hidden timezone field took the browser's timezone.
    expect(page.locator("input[name=timezone]")).to_have_value("America/Chicago")
    fill_sign_up_form(page, email, PASSWORD, PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(hearth_server.url + "/")
    expect(page.get_by_text("Welcome to Hearth. Your account is ready.")).to_be_visible()
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    user = User.objects.get(email=email)
    assert user.timezone == "America/Chicago"

    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    timezone = page.get_by_label("Timezone (required)", exact=True)
    expect(timezone).to_have_value("America/Chicago")
    timezone.select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_text("Your settings are saved.")).to_be_visible()
    expect(page.get_by_label("Timezone (required)", exact=True)).to_have_value("Asia/Tokyo")
    # The saved timezone now differs from the browser's: the page offers the browser's.
    expect(page.get_by_text("Your browser's timezone is America/Chicago.")).to_be_visible()
    user.refresh_from_db()
    assert user.timezone == "Asia/Tokyo"

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(hearth_server.url + "/")
    expect(page.get_by_role("heading", name="Peer support for leaving abuse behind")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    # Someone else pressing Back on a shared device does not see the signed-in page again.
    page.go_back()
    page.wait_for_load_state()
    expect(page.get_by_text(email)).to_have_count(0)
    expect(page.get_by_role("heading", name="Settings")).to_have_count(0)

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address (required)", exact=True).fill(email)
    page.get_by_label("Password (required)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(hearth_server.url + "/")
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()


# (b) and (c) -------------------------------------------------------------------------------

PAGES = {
    "home": ("/", False),
    "login": ("/accounts/login/", False),
    "settings": ("/accounts/settings/", True),
}


def open_hearth_page(page: Page, server: HearthServer, which: str) -> None:
    """Open one Hearth page as the first page of a fresh tab (signed in if the page needs it)."""
    path, signed_in = PAGES[which]
    if signed_in:
        sign_in_directly(page, server, make_user("member@example.org"))
    page.goto(path)
    expect(page).to_have_url(server.url + path)
    expect(page.locator("#quick-exit")).to_be_visible()


@pytest.mark.parametrize("which", list(PAGES))
def test_pressing_shift_three_times_leaves_for_the_exit_site(
    page: Page, hearth_server: HearthServer, exit_site: ExitSite, which: str
) -> None:
    open_hearth_page(page, hearth_server, which)
    for _ in range(SHIFT_PRESSES):
        page.keyboard.press("Shift")
    assert_left_for_the_exit_site(page, hearth_server, exit_site)


def test_another_key_between_shift_presses_starts_the_count_again(page: Page, hearth_server: HearthServer) -> None:
    """Typing capitals in a form must not throw the person out of the site."""
    open_hearth_page(page, hearth_server, "login")
    email = page.get_by_label("Email address (required)", exact=True)
    email.press("Shift")
    email.press("Shift+A")  # the second Shift, then "A" starts the count again
    email.press("Shift")
    email.press("Shift")
    page.wait_for_timeout(300)
    expect(page).to_have_url(hearth_server.url + "/accounts/login/")
    expect(email).to_have_value("A")


@pytest.mark.parametrize("which", ["home", "settings"])
def test_quick_exit_button_leaves_for_the_exit_site(
    page: Page, hearth_server: HearthServer, exit_site: ExitSite, which: str
) -> None:
    open_hearth_page(page, hearth_server, which)
    page.get_by_role("link", name=re.compile(r"^Quick exit")).click()
    assert_left_for_the_exit_site(page, hearth_server, exit_site)


def test_quick_exit_replaces_the_page_it_was_used_on(
    page: Page, hearth_server: HearthServer, exit_site: ExitSite
) -> None:
    """After browsing several pages, Back from the exit site never shows the page left in a hurry.

    (Pages visited before it stay in the tab's history: location.replace() can only replace the
    current entry.)
    """
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    expect(page).to_have_url(hearth_server.url + "/accounts/login/")
    page.get_by_role("link", name=re.compile(r"^Quick exit")).click()
    expect(page).to_have_url(exit_site.url)
    page.go_back()
    page.wait_for_load_state()
    assert page.url != hearth_server.url + "/accounts/login/"


# (d) ---------------------------------------------------------------------------------------


def test_keyboard_reaches_skip_link_first_and_quick_exit_soon_after(
    new_page: NewPage, hearth_server: HearthServer, exit_site: ExitSite
) -> None:
    page = new_page()
    page.goto("/")

    page.keyboard.press("Tab")
    first = focused_element(page)
    assert first["text"] == "Skip to content", first
    assert_visibly_focused(first)
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    # In a fresh tab (the skip link above changed this one's history): every stop is visibly
    # focused, and Quick exit comes before anything outside the header.
    page = new_page()
    page.goto("/")
    stops = []
    for _ in range(15):
        page.keyboard.press("Tab")
        element = focused_element(page)
        assert_visibly_focused(element)
        stops.append(element)
        if element["id"] == "quick-exit":
            break
    else:
        pytest.fail(f"Quick exit was not reached with the keyboard; Tab went through {stops}")
    before = stops[1:-1]  # after the skip link
    assert all(stop["inHeader"] == "true" for stop in before), f"Tab leaves the header first: {stops}"

    page.keyboard.press("Enter")
    assert_left_for_the_exit_site(page, hearth_server, exit_site)


def test_skip_link_adds_nothing_to_the_tab_history(
    page: Page, hearth_server: HearthServer, exit_site: ExitSite
) -> None:
    """Quick exit can only replace the current history entry: a "#main" entry left behind by the
    skip link would bring Hearth back with one press of Back."""
    page.goto("/")
    history_length = page.evaluate("history.length")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.evaluate("history.length") == history_length
    assert page.url == hearth_server.url + "/"

    for _ in range(SHIFT_PRESSES):
        page.keyboard.press("Shift")
    assert_left_for_the_exit_site(page, hearth_server, exit_site)


# (e) ---------------------------------------------------------------------------------------


def test_sign_up_with_mismatched_passwords_shows_the_error_and_creates_nobody(
    page: Page, hearth_server: HearthServer
) -> None:
    email = "typo@example.org"
    page.goto("/accounts/signup/")
    fill_sign_up_form(page, email, PASSWORD, PASSWORD + " but different")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("alert")).to_contain_text("Please correct the following:")
    expect(page.get_by_text("The two password fields didn’t match.")).to_be_visible()
    expect(page.get_by_label("Email address (required)", exact=True)).to_have_value(email)
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    assert not User.objects.filter(email=email).exists()
    assert not User.objects.exists()
