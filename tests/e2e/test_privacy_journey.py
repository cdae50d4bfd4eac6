"""Privacy and device safety in a real Chromium: from sign-up to the device-safety page, and
discreet mode switched on and off with the keyboard (docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

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
