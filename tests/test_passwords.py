"""Changing a password, and resetting a forgotten one by (discreet) email."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.mark.django_db
def test_password_change_keeps_this_session_and_ends_others(client: Client, alice: User) -> None:
    other_device = Client()
    other_device.force_login(alice)
    client.force_login(alice)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your password is changed. Other devices were logged out." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert other_device.get(reverse("accounts:settings")).status_code == 302  # sent to log in


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, "old password"),
        ({"old_password": PASSWORD, "new_password1": "abc", "new_password2": "abc"}, "too short"),
        ({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "x" + NEW_PASSWORD}, "match"),
    ],
)
def test_bad_password_change_changes_nothing(
    alice_client: Client, alice: User, data: dict[str, str], message: str
) -> None:
    response = alice_client.post(reverse("accounts:password_change"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


@pytest.mark.django_db
def test_password_reset_by_discreet_email(client: Client, alice: User, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": "ALICE@example.com"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["alice@example.com"]
    assert email.subject == "Your password reset link"
    assert email.from_email == "Account notices <no-reply@localhost>"
    body = email.body
    for revealing in ("Hearth", "support", "abuse", "group"):
        assert revealing.lower() not in (email.subject + body).lower()
    html = email.alternatives[0][0]  # type: ignore[index]
    assert "Choose a new password" in html

    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", body)
    assert link
    form_page = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert "Your password is changed" in done.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    # The link works once.
    assert "This link no longer works" in client.get(link.group(1), follow=True).content.decode()


@pytest.mark.django_db
def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert "If an account uses that address" in response.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db
def test_reset_email_task_does_nothing_for_a_deactivated_account(alice: User) -> None:
    from accounts.tasks import send_password_reset_email

    alice.is_active = False
    alice.save()
    send_password_reset_email(alice.pk, "testserver", False)
    send_password_reset_email(987654, "testserver", False)  # no such user: nothing, no error
    assert mail.outbox == []


@pytest.mark.django_db
def test_password_reset_malformed_email_is_explained(client: Client) -> None:
    response = client.post(reverse("accounts:password_reset"), {"email": "not an email"})
    assert "Enter a valid email address." in response.content.decode()
    assert mail.outbox == []
