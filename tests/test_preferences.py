"""The settings page: timezone and language; and whose email shows where. Notification
settings have their own page (test_notifications.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User

SETTINGS = reverse("accounts:settings")


def test_settings_need_login(client: Client) -> None:
    response = client.get(SETTINGS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_settings_page_shows_own_preferences(alice_client: Client, alice: User) -> None:
    page = alice_client.get(SETTINGS).content.decode()
    assert '<option value="Europe/London" selected>Europe/London</option>' in page
    assert "Reminders, emails, quiet hours and muted groups" in page  # the way to notification settings
    assert "alice@example.com" in page  # her own address, to her only
    assert '<label for="id_timezone">' in page
    assert '<label for="id_language">' in page


@pytest.mark.django_db
def test_saving_settings(alice_client: Client, alice: User) -> None:
    response = alice_client.post(SETTINGS, {"timezone": "Asia/Tokyo", "language": "es"}, follow=True)
    assert "Tu configuración está guardada." in response.content.decode()
    alice.refresh_from_db()
    assert (alice.timezone, alice.language) == ("Asia/Tokyo", "es")
    assert response["Content-Language"] == "es"


@pytest.mark.django_db
def test_pages_render_in_the_persons_timezone(alice_client: Client, alice: User) -> None:
    alice.timezone = "Asia/Tokyo"
    alice.save()
    response = alice_client.get(reverse("home"))
    assert response.context["TIME_ZONE"] == "Asia/Tokyo"
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks out of the request


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Atlantis/Capital", "language": "en"}, "“Atlantis/Capital” is not a timezone we know."),
        ({"timezone": "", "language": "en"}, "This field is required."),
        ({"timezone": "Europe/Paris", "language": "tlh"}, "Select a valid choice. tlh is not one of the available"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(
    alice_client: Client, alice: User, data: dict[str, str], message: str
) -> None:
    response = alice_client.post(SETTINGS, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    alice.refresh_from_db()
    assert (alice.timezone, alice.language, alice.discreet_notifications) == ("Europe/London", "en", True)


@pytest.mark.django_db
def test_no_page_shows_one_persons_email_to_another(client: Client, alice: User, bob: User) -> None:
    client.force_login(bob)
    for url in [reverse("home"), SETTINGS, reverse("help"), reverse("accounts:password_change")]:
        assert "alice@example.com" not in client.get(url).content.decode(), url


@pytest.mark.django_db
def test_signed_in_pages_are_never_cached(alice_client: Client) -> None:
    response = alice_client.get(SETTINGS)
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
