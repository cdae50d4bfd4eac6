"""Signing up: a real account on good input; a clear message and nothing created on bad input."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD

SIGNUP = reverse("accounts:signup")


def signup(client: Client, **overrides: str):
    data = {
        "email": "new.person@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "timezone": "Europe/Berlin",
    }
    data.update(overrides)
    return client.post(SIGNUP, data)


@pytest.mark.django_db
def test_signup_page_explains_email_stays_private(client: Client) -> None:
    page = client.get(SIGNUP).content.decode()
    assert "Create your account" in page
    assert "Nobody in a group sees your email" in page
    assert 'name="timezone"' in page and "data-browser-timezone" in page


@pytest.mark.django_db
def test_signup_creates_account_logs_in_and_keeps_browser_timezone(client: Client) -> None:
    response = signup(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get()
    assert user.email == "new.person@example.org"
    assert user.timezone == "Europe/Berlin"
    assert user.check_password(PASSWORD)
    home = client.get(reverse("home")).content.decode()
    assert "Welcome to Hearth. Your account is ready." in home
    assert "Welcome back" in home
    # Logged out when the browser closes, the safer default on a shared device.
    assert client.session.get_expire_at_browser_close()


@pytest.mark.django_db
def test_signup_without_browser_timezone_defaults_to_utc(client: Client) -> None:
    signup(client, timezone="")
    assert User.objects.get().timezone == "UTC"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": ""}, "This field is required."),
        ({"password1": "short", "password2": "short"}, "This password is too short."),
        ({"password1": "password123", "password2": "password123"}, "This password is too common."),
        ({"password1": "83920174651", "password2": "83920174651"}, "This password is entirely numeric."),
        ({"password2": "something else entirely"}, "The two password fields didn’t match."),
        ({"timezone": "Mars/Olympus_Mons"}, "“Mars/Olympus_Mons” is not a timezone we know."),
    ],
)
def test_bad_signup_input_gets_a_clear_message_and_creates_nothing(
    client: Client, overrides: dict[str, str], message: str
) -> None:
    response = signup(client, **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Please correct the following" in response.content.decode()
    assert not User.objects.exists()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_duplicate_email_in_other_letter_case_is_refused(client: Client, alice: User) -> None:
    response = signup(client, email="ALICE@Example.COM")
    assert response.status_code == 400
    assert "This email address can&#x27;t be used to sign up." in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_signup_fields_are_labelled_and_errors_are_announced(client: Client) -> None:
    page = signup(client, email="nope").content.decode()
    assert '<label for="id_email">' in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="id_email_errors id_email_helptext"' in page
    assert 'id="id_email_errors"' in page
    assert 'role="alert"' in page


@pytest.mark.django_db
def test_signed_in_person_is_sent_home_from_signup(alice_client: Client) -> None:
    assert alice_client.get(SIGNUP)["Location"] == reverse("home")


@pytest.mark.django_db
def test_signups_from_one_address_are_throttled(client: Client) -> None:
    for number in range(20):
        signup(client, email=f"person{number}@example.org")
        client.logout()
    response = signup(client, email="one.too.many@example.org")
    assert response.status_code == 429
    assert "Too many sign-ups from this connection" in response.content.decode()
    assert not User.objects.filter(email="one.too.many@example.org").exists()
