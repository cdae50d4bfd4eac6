"""Demo data for `make run`, and the admin for staff only."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from groups.models import Membership, SupportGroup


@pytest.mark.django_db
def test_demo_data_is_idempotent(settings, capsys) -> None:
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.count() == 4
    assert User.objects.get(email="admin@example.com").is_staff
    assert SupportGroup.objects.count() == 5
    assert Membership.objects.count() == 8
    out = capsys.readouterr().out
    assert "0 accounts and 0 groups created; the rest were already there" in out
    assert "alice@example.com" in out


@pytest.mark.django_db
def test_demo_logins_work(settings, client: Client) -> None:
    settings.DEBUG = True
    call_command("seed_demo")
    response = client.post(
        reverse("accounts:login"), {"username": "bob@example.com", "password": "hearth-demo-password"}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_demo_data_refused_in_production(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refusing with DEBUG off"):
        call_command("seed_demo")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_staff_manage_users_in_the_admin(client: Client, dana: User, alice: User) -> None:
    client.force_login(dana)
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 200
    assert "alice@example.com" in response.content.decode()
    assert client.get(reverse("admin:accounts_user_change", args=[alice.pk])).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_members_and_visitors_cannot_open_the_admin(client: Client, alice: User, who: str) -> None:
    if who == "alice":
        client.force_login(alice)
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page",
    [
        "admin:groups_supportgroup_changelist",
        "admin:groups_membership_changelist",
        "admin:groups_invite_changelist",
        "admin:meetings_meetingseries_changelist",
        "admin:meetings_meeting_changelist",
        "admin:meetings_room_changelist",
        "admin:meetings_reminder_changelist",
        "admin:accounts_notice_changelist",
    ],
)
def test_staff_see_every_admin_list(client: Client, dana: User, settings, page: str) -> None:
    settings.DEBUG = True
    call_command("seed_demo")
    client.force_login(dana)
    assert client.get(reverse(page)).status_code == 200
