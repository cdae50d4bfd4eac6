"""The privacy page, made from settings; the device-safety page; discreet mode for a device."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from groups.models import SupportGroup

pytestmark = pytest.mark.django_db

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def title_of(html: str) -> str:
    match = TITLE.search(html)
    assert match is not None
    return match.group(1).strip()


def turn_discreet(client: Client, state: str, **extra: str) -> object:
    return client.post(reverse("discreet_mode"), {"discreet": state, **extra})


# --- The privacy page -------------------------------------------------------------------


def test_privacy_page_says_what_is_kept_how_long_and_who_sees_it(client: Client) -> None:
    page = client.get(reverse("privacy")).content.decode()
    assert "What Hearth keeps about you" in page
    for heading in ("Your account", "Room messages", "Reports", "Sessions and sign-in", "Your no-contact list"):
        assert heading in page
    # The numbers come from the settings the site runs with.
    assert "30 days unless" in page
    assert "never less than 1 day or more than 365 days" in page
    assert "erased after 14 days" in page
    assert "after 14 days, or when the browser closes" in page
    assert "Failed log-ins are forgotten after 15 minutes" in page
    assert "unsubscribe link valid for 90 days" in page


def test_privacy_page_follows_the_settings(client: Client, settings) -> None:
    settings.MESSAGE_RETENTION_DAYS = 7
    settings.ACCOUNT_ERASURE_GRACE_DAYS = 30
    settings.SESSION_COOKIE_AGE = 60 * 60 * 24
    page = client.get(reverse("privacy")).content.decode()
    assert "7 days unless" in page
    assert "erased after 30 days" in page
    assert "after 1 day, or when the browser closes" in page


def test_a_new_group_keeps_messages_for_the_configured_default(settings) -> None:
    settings.MESSAGE_RETENTION_DAYS = 12
    assert SupportGroup(name="Any").message_retention_days == 12


def test_privacy_page_names_the_contact_when_set(client: Client, settings) -> None:
    assert "Questions about your data" not in client.get(reverse("privacy")).content.decode()
    settings.PRIVACY_CONTACT = "privacy@hearth.example"
    assert "Questions about your data: privacy@hearth.example." in client.get(reverse("privacy")).content.decode()


def test_privacy_page_is_in_the_readers_language(client: Client) -> None:
    page = client.get(reverse("privacy"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Qué guarda Hearth sobre ti" in page
    assert "Mensajes de las salas" in page
    assert "30 días" in page
    safety = client.get(reverse("device_safety"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Activar el modo discreto" in safety


# --- Device safety and onboarding ---------------------------------------------------------


def test_device_safety_page_covers_private_browsing_history_and_quick_exit(client: Client) -> None:
    page = client.get(reverse("device_safety")).content.decode()
    for text in ("Use a private window", "Clear what's already there", "Leave quickly", "Turn discreet mode on"):
        assert text in page


def test_onboarding_links_to_device_safety(client: Client, alice) -> None:
    link = f'href="{reverse("device_safety")}"'
    signup = client.get(reverse("accounts:signup")).content.decode()
    assert link in signup.split('<main id="main"')[1], "the sign-up page itself, not only the footer"
    client.force_login(alice)
    welcome = client.get(reverse("home")).content.decode()
    assert link in welcome.split('<main id="main"')[1]
    assert link in client.get(reverse("accounts:settings")).content.decode()


# --- Discreet mode ----------------------------------------------------------------------


def test_discreet_mode_gives_every_page_a_neutral_title_and_icon(client: Client, alice, settings) -> None:
    assert title_of(client.get(reverse("accounts:login")).content.decode()) == "Log in · Hearth"
    response = turn_discreet(client, "on")
    assert response.status_code == 302
    assert response["Location"] == reverse("device_safety")
    page = client.get(response["Location"]).content.decode()
    assert "Discreet mode is on for this browser" in page
    for url in (reverse("home"), reverse("accounts:login"), reverse("help"), "/no/such/page/"):
        html = client.get(url).content.decode()
        assert title_of(html) == "Notes"
        assert "/static/img/plain.svg" in html and "/static/img/icon.svg" not in html
    client.force_login(alice)
    assert title_of(client.get(reverse("accounts:settings")).content.decode()) == "Notes"
    settings.DISCREET_TITLE = "Recipes"
    assert title_of(client.get(reverse("home")).content.decode()) == "Recipes"


def test_discreet_mode_is_a_long_lived_http_only_cookie_for_this_browser(client: Client) -> None:
    cookie = turn_discreet(client, "on").cookies["hearth_discreet"]
    assert cookie.value == "1"
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 365 * 24 * 3600
    # Another browser is not affected.
    assert title_of(Client().get(reverse("home")).content.decode()) == "Hearth"


def test_turning_discreet_mode_off(client: Client) -> None:
    turn_discreet(client, "on")
    response = turn_discreet(client, "off")
    assert response.cookies["hearth_discreet"].value == ""
    page = client.get(reverse("device_safety")).content.decode()
    assert "Discreet mode is off for this browser" in page
    assert title_of(page) == "Staying safe on this device · Hearth"


def test_discreet_mode_returns_to_the_page_it_was_turned_on_from(client: Client) -> None:
    response = turn_discreet(client, "on", next=reverse("help"))
    assert response["Location"] == reverse("help")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_discreet_mode_never_redirects_off_site(client: Client, target: str) -> None:
    response = turn_discreet(client, "on", next=target)
    assert response["Location"] == reverse("device_safety")


def test_discreet_mode_needs_a_post_with_a_csrf_token(client: Client) -> None:
    assert client.get(reverse("discreet_mode")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("discreet_mode"), {"discreet": "on"})
    assert response.status_code == 403
    assert "hearth_discreet" not in response.cookies


def test_any_other_value_turns_it_off(client: Client) -> None:
    turn_discreet(client, "on")
    turn_discreet(client, "<script>")
    assert title_of(client.get(reverse("home")).content.decode()) == "Hearth"
