"""Privacy and device safety in a real Chromium: from sign-up to the device-safety page, and
discreet mode switched on and off with the keyboard (docs/privacy.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.conftest import PASSWORD
from tests.e2e.conftest import HearthServer
from tests.e2e.test_journeys import assert_visibly_focused, focused_element

pytestmark = pytest.mark.e2e

NewPage = Callable[..., Page]


def icon_of(page: Page) -> str:
    return page.locator("link[rel=icon]").get_attribute("href") or ""


def test_discreet_mode_from_sign_up_with_the_keyboard(new_page: NewPage, hearth_server: HearthServer) -> None:
    page = new_page()
    page.goto(f"{hearth_server.url}/accounts/signup/")
    expect(page).to_have_title("Sign up · Hearth")
    page.locator("main").get_by_role("link", name="staying safe on this device").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staying safe on this device")
    assert icon_of(page).endswith("/img/icon.svg")

    button = page.get_by_role("button", name="Turn discreet mode on")
    button.focus()
    assert_visibly_focused(focused_element(page))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Discreet mode is on for this browser")
    expect(page).to_have_title("Notes")
    assert icon_of(page).endswith("/img/plain.svg")

    # Every page, signed out, names nothing in the tab.
    for path in ("/", "/accounts/login/", "/help/", "/groups/", "/privacy/"):
        page.goto(f"{hearth_server.url}{path}")
        expect(page).to_have_title("Notes")
        assert icon_of(page).endswith("/img/plain.svg")

    page.goto(f"{hearth_server.url}/safety/")
    page.get_by_role("button", name="Turn discreet mode off").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Discreet mode is off for this browser")
    expect(page).to_have_title("Staying safe on this device · Hearth")


def test_privacy_page_reads_as_a_table_with_headers(new_page: NewPage, hearth_server: HearthServer) -> None:
    page = new_page()
    page.goto(f"{hearth_server.url}/")
    page.get_by_role("contentinfo").get_by_role("link", name="Privacy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What Hearth keeps about you")
    table = page.get_by_role("table", name="Each kind of data, how long it is kept and who can see it")
    expect(table.get_by_role("columnheader")).to_have_text(["What", "How long", "Who can see it"])
    expect(table.get_by_role("rowheader", name="Room messages")).to_be_visible()


def log_in(page: Page, server: HearthServer, email: str) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Email address", exact=False).first.fill(email)
    page.get_by_label("Password", exact=False).first.fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()


def test_two_factor_set_up_then_required_at_the_next_log_in(
    new_page: NewPage, hearth_server: HearthServer, alice: User
) -> None:
    page = new_page()
    log_in(page, hearth_server, alice.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome back")
    page.goto(f"{hearth_server.url}/accounts/settings/")
    page.get_by_role("link", name=re.compile("two-factor", re.I)).first.click()
    page.get_by_role("link", name=re.compile("Set up|Turn on", re.I)).first.click()
    expect(page.locator("[data-qr-code] svg")).to_be_visible()
    secret = page.locator("[data-two-factor-secret]").inner_text().replace(" ", "").strip()
    page.get_by_role("main").get_by_role("textbox").first.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("main")).to_contain_text("recovery", ignore_case=True)

    page.get_by_role("button", name="Log out").click()
    log_in(page, hearth_server, alice.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    code = page.get_by_role("main").get_by_role("textbox").first
    code.fill("000000")
    code.press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    # The next step's code: the one just shown may count as used by the set-up.
    next_code = pyotp.TOTP(secret).at(time.time() + 30)
    page.get_by_role("main").get_by_role("textbox").first.fill(next_code)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome back")


def test_log_out_everywhere_else_from_a_second_browser(
    new_page: NewPage, hearth_server: HearthServer, alice: User
) -> None:
    stolen = new_page()
    log_in(stolen, hearth_server, alice.email)
    mine = new_page()
    log_in(mine, hearth_server, alice.email)
    mine.goto(f"{hearth_server.url}/accounts/sessions/")
    expect(mine.locator("[data-session]")).to_have_count(2)
    expect(mine.locator(".session--current")).to_contain_text("This device")
    mine.get_by_role("button", name="Log out everywhere else").click()
    expect(mine.get_by_role("status")).to_be_visible()
    expect(mine.locator("[data-session]")).to_have_count(1)

    stolen.goto(f"{hearth_server.url}/accounts/settings/")
    expect(stolen).to_have_url(re.compile(r"/accounts/login/"))
    mine.goto(f"{hearth_server.url}/accounts/settings/")
    expect(mine.get_by_role("heading", level=1)).to_have_text("Settings")
