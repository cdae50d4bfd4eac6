"""Logging in and out by email, and the throttle after repeated failures."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD

LOGIN = reverse("accounts:login")


def log_in(client: Client, email: str, password: str = PASSWORD, **extra: str):
    return client.post(LOGIN, {"username": email, "password": password, **extra}, REMOTE_ADDR="203.0.113.7")


@pytest.mark.django_db
def test_login_by_email_in_any_letter_case(client: Client, alice: User) -> None:
    response = log_in(client, "Alice@EXAMPLE.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(alice.pk)


@pytest.mark.django_db
def test_login_ends_with_the_browser_unless_asked_to_remember(client: Client, alice: User) -> None:
    log_in(client, alice.email)
    assert client.session.get_expire_at_browser_close()
    client.logout()
    log_in(client, alice.email, remember="on")
    assert not client.session.get_expire_at_browser_close()


@pytest.mark.django_db
def test_wrong_password_gets_a_clear_message(client: Client, alice: User) -> None:
    response = log_in(client, alice.email, "not my password")
    assert response.status_code == 400
    assert "That email and password don&#x27;t match an account." in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_malformed_email_on_login_is_explained(client: Client) -> None:
    response = log_in(client, "alice-at-example")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


@pytest.mark.django_db
def test_repeated_failures_pause_logins_with_a_clear_message(client: Client, alice: User) -> None:
    for _ in range(4):
        assert log_in(client, alice.email, "guess").status_code == 400
    locked = log_in(client, "ALICE@example.com", "guess")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Logging in is paused for now" in page
    assert "try again in 15 minutes" in page
    # Even the right password is refused while the pause lasts.
    again = log_in(client, alice.email)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_lockout_is_per_account_and_address(client: Client, alice: User, bob: User) -> None:
    for _ in range(5):
        log_in(client, alice.email, "guess")
    assert log_in(client, bob.email).status_code == 302


@pytest.mark.django_db
def test_success_resets_the_failure_count(client: Client, alice: User) -> None:
    for _ in range(4):
        log_in(client, alice.email, "guess")
    assert log_in(client, alice.email).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, alice.email, "guess")
    assert log_in(client, alice.email).status_code == 302


@pytest.mark.django_db
def test_logout_is_a_post_and_ends_the_session(alice_client: Client) -> None:
    assert alice_client.get(reverse("accounts:logout")).status_code == 405
    response = alice_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in alice_client.session
    assert "Log in" in alice_client.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_inactive_account_cannot_log_in(client: Client, alice: User) -> None:
    alice.is_active = False
    alice.save()
    assert log_in(client, alice.email).status_code == 400
