"""Finding, joining and running a group, as the people involved see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notice, User
from groups.models import HandleChange, Invite, Membership, SupportGroup
from tests.conftest import add_member, make_group, make_user

pytestmark = pytest.mark.django_db


def join_url(group: SupportGroup) -> str:
    return reverse("groups:join", args=[group.slug])


def join(client: Client, group: SupportGroup, handle: str = "Gentle Willow", **extra: str):
    return client.post(join_url(group), {"handle": handle, "accept_guidelines": "on", **extra})


# --- Directory ---------------------------------------------------------------------------


def test_directory_finds_groups_by_topic_language_and_name(client: Client, circle: SupportGroup) -> None:
    make_group(name="Saturday Codependency", slug="saturday-codependency", language="es").topics.set([])
    page = client.get(reverse("groups:directory"), {"topic": "trauma-bonding"}).content.decode()
    assert "Tuesday Circle" in page and "Saturday Codependency" not in page
    page = client.get(reverse("groups:directory"), {"language": "es"}).content.decode()
    assert "Saturday Codependency" in page and "Tuesday Circle" not in page
    page = client.get(reverse("groups:directory"), {"q": "tuesday"}).content.decode()
    assert "Tuesday Circle" in page and "1 group found." in page


def test_directory_never_lists_unlisted_groups(client: Client, circle: SupportGroup) -> None:
    make_group(name="Hidden Circle", slug="hidden-circle", is_listed=False)
    assert "Hidden Circle" not in client.get(reverse("groups:directory")).content.decode()


def test_directory_paginates(client: Client, db: None) -> None:
    for number in range(25):
        make_group(name=f"Group {number:02}", slug=f"group-{number:02}")
    first = client.get(reverse("groups:directory")).content.decode()
    assert "Group 00" in first and "Group 19" in first and "Group 20" not in first
    assert "Page 1 of 2" in first
    second = client.get(reverse("groups:directory"), {"page": 2}).content.decode()
    assert "Group 20" in second and "Group 24" in second


def test_directory_bad_filters_are_explained(client: Client, circle: SupportGroup) -> None:
    response = client.get(reverse("groups:directory"), {"topic": "no-such-topic", "page": "banana"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


# --- Joining -------------------------------------------------------------------------------


def test_joining_an_open_group(client: Client, circle: SupportGroup, charlie: User) -> None:
    client.force_login(charlie)
    form = client.get(join_url(circle)).content.decode()
    assert "What is shared here stays here." in form  # the guidelines, to read before joining
    assert 'name="handle" value="' in form  # a suggested handle is offered
    response = join(client, circle, "Gentle Willow")
    assert response["Location"] == reverse("groups:detail", args=[circle.slug])
    membership = Membership.objects.get(group=circle, user=charlie)
    assert (membership.status, membership.role, membership.handle) == ("active", "member", "Gentle Willow")
    assert membership.guidelines_accepted_at is not None
    mine = client.get(reverse("groups:mine")).content.decode()
    assert "Tuesday Circle" in mine and "You are “Gentle Willow” here" in mine


def test_asking_to_join_an_approval_group_and_being_approved(
    client: Client, circle: SupportGroup, charlie: User, bob: User
) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.APPROVAL
    circle.save()
    client.force_login(charlie)
    response = join(client, circle, "Gentle Willow", message="I found you through my counsellor.")
    follow = client.get(response["Location"]).content.decode()
    assert "Your request is with the facilitators." in follow
    assert "You have asked to join." in follow
    membership = Membership.objects.get(group=circle, user=charlie)
    assert membership.status == "pending"

    facilitator = Client()
    facilitator.force_login(bob)
    queue = facilitator.get(reverse("groups:requests", args=[circle.slug])).content.decode()
    assert "Gentle Willow" in queue and "I found you through my counsellor." in queue
    assert "charlie@example.com" not in queue
    facilitator.post(
        reverse("groups:decide", args=[circle.slug, membership.public_id]),
        {"decision": "approve", "message": "Welcome, see you Tuesday."},
    )
    membership.refresh_from_db()
    assert membership.status == "active" and membership.decided_by.user == bob

    home = client.get(reverse("home")).content.decode()
    assert '<span class="badge">1<span class="visually-hidden"> unread</span></span>' in home
    notices = client.get(reverse("accounts:notices")).content.decode()
    assert "Your request to join Tuesday Circle was approved. Welcome!" in notices
    assert "Welcome, see you Tuesday." in notices
    assert Notice.objects.get(user=charlie).read_at is not None


def test_declined_request_is_told_and_can_ask_again(
    client: Client, circle: SupportGroup, charlie: User, bob: User
) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.APPROVAL
    circle.save()
    client.force_login(charlie)
    join(client, circle, "Gentle Willow")
    membership = Membership.objects.get(user=charlie)
    facilitator = Client()
    facilitator.force_login(bob)
    facilitator.post(reverse("groups:decide", args=[circle.slug, membership.public_id]), {"decision": "decline"})
    assert "Your request to join Tuesday Circle was declined." in Notice.objects.get(user=charlie).text
    join(client, circle, "Gentle Willow")
    membership.refresh_from_db()
    assert membership.status == "pending"


def test_a_request_is_answered_once(client: Client, circle: SupportGroup, charlie: User, bob: User) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.APPROVAL
    circle.save()
    membership = add_member(circle, charlie, "Gentle Willow", status="pending")
    client.force_login(bob)
    url = reverse("groups:decide", args=[circle.slug, membership.public_id])
    client.post(url, {"decision": "approve"})
    response = client.post(url, {"decision": "decline"}, follow=True)
    assert "This request has already been answered or withdrawn." in response.content.decode()
    membership.refresh_from_db()
    assert membership.status == "active"
    assert Notice.objects.filter(user=charlie).count() == 1


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ("Quiet Harbor", "already uses this name"),
        ("QUIET harbor", "already uses this name"),
        ("Quіet Harbor", "look-alike letters"),  # Cyrillic і
        ("Qu1et Harb0r", "already uses this name"),
        ("Moderator", "reserved"),
        ("", "This field is required."),
        ("x" * 33, "at most 32 characters"),
    ],
)
def test_bad_handles_on_joining_change_nothing(
    client: Client, circle: SupportGroup, charlie: User, handle: str, message: str
) -> None:
    client.force_login(charlie)
    response = join(client, circle, handle)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Membership.objects.filter(user=charlie).exists()


def test_guidelines_must_be_accepted(client: Client, circle: SupportGroup, charlie: User) -> None:
    client.force_login(charlie)
    response = client.post(join_url(circle), {"handle": "Gentle Willow"})
    assert response.status_code == 400
    assert "Please read and accept the group&#x27;s guidelines to join." in response.content.decode()
    assert not Membership.objects.filter(user=charlie).exists()


def test_second_join_request_is_refused(client: Client, circle: SupportGroup, charlie: User) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.APPROVAL
    circle.save()
    client.force_login(charlie)
    join(client, circle, "Gentle Willow")
    response = join(client, circle, "Another Name")
    assert response.status_code == 403
    assert "You have already asked to join." in response.content.decode()
    assert Membership.objects.get(user=charlie).handle == "Gentle Willow"


def test_member_joining_again_is_sent_to_the_group(alice_client: Client, circle: SupportGroup) -> None:
    response = join(alice_client, circle, "Another Name")
    assert response["Location"] == reverse("groups:detail", args=[circle.slug])
    assert Membership.objects.get(group=circle, handle="Quiet Harbor").handle == "Quiet Harbor"


def test_invite_only_group_cannot_be_joined_without_a_link(client: Client, circle: SupportGroup, charlie: User) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.INVITE
    circle.save()
    client.force_login(charlie)
    response = join(client, circle)
    assert response.status_code == 403
    assert "This group is invite only" in response.content.decode()
    assert not Membership.objects.filter(user=charlie).exists()


def test_banned_member_cannot_rejoin(client: Client, circle: SupportGroup, charlie: User) -> None:
    add_member(circle, charlie, "Gentle Willow", status="banned")
    client.force_login(charlie)
    response = join(client, circle, "New Name")
    assert response.status_code == 403
    assert "You can&#x27;t join this group." in response.content.decode()
    assert Membership.objects.get(user=charlie).status == "banned"


# --- Invites -------------------------------------------------------------------------------


def make_invite(client: Client, group: SupportGroup, **data: str) -> str:
    response = client.post(reverse("groups:invites", args=[group.slug]), {"valid_days": "7", "max_uses": "1", **data})
    page = response.content.decode()
    assert "Copy it now: it is shown only once." in page
    start = page.index('<p class="copy-link">') + len('<p class="copy-link">')
    return page[start : page.index("</p>", start)].replace("http://testserver", "")


def test_invite_link_opens_an_unlisted_invite_only_group(
    client: Client, circle: SupportGroup, bob: User, charlie: User
) -> None:
    circle.is_listed = False
    circle.join_policy = SupportGroup.JoinPolicy.INVITE
    circle.save()
    facilitator = Client()
    facilitator.force_login(bob)
    link = make_invite(facilitator, circle, label="for the new person")
    assert "for the new person" in facilitator.get(reverse("groups:invites", args=[circle.slug])).content.decode()
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert Invite.objects.get().token_hash != token  # only the hash is stored
    assert token not in facilitator.get(reverse("groups:invites", args=[circle.slug])).content.decode()

    client.force_login(charlie)
    assert client.get(reverse("groups:detail", args=[circle.slug])).status_code == 404
    page = client.get(link).content.decode()
    assert "Join Tuesday Circle" in page
    response = client.post(link, {"handle": "Gentle Willow", "accept_guidelines": "on"})
    assert response["Location"] == reverse("groups:detail", args=[circle.slug])
    assert Membership.objects.get(user=charlie).status == "active"
    assert Invite.objects.get().uses == 1


def test_invite_asks_a_visitor_to_log_in_first(client: Client, circle: SupportGroup, bob: User) -> None:
    facilitator = Client()
    facilitator.force_login(bob)
    link = make_invite(facilitator, circle)
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("problem", ["expired", "revoked", "used up", "unknown"])
def test_unusable_invite_is_explained_and_changes_nothing(
    client: Client, circle: SupportGroup, bob: User, charlie: User, problem: str
) -> None:
    facilitator = Client()
    facilitator.force_login(bob)
    link = make_invite(facilitator, circle, max_uses="1")
    invite = Invite.objects.get()
    expected = {
        "expired": "This invite link has expired.",
        "revoked": "This invite link was withdrawn by the group&#x27;s facilitators.",
        "used up": "This invite link has been used as many times as it allows.",
        "unknown": "This invite link isn&#x27;t valid.",
    }[problem]
    if problem == "expired":
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    elif problem == "revoked":
        facilitator.post(reverse("groups:revoke_invite", args=[circle.slug, invite.public_id]))
    elif problem == "used up":
        first = Client()
        first.force_login(make_user("first@example.com"))
        first.post(link, {"handle": "First Person", "accept_guidelines": "on"})
    else:
        link = link[:-6] + "xxxxx/"
    members_before = Membership.objects.count()
    uses_before = Invite.objects.get().uses
    client.force_login(charlie)
    response = client.post(link, {"handle": "Gentle Willow", "accept_guidelines": "on"})
    assert response.status_code == 410
    assert expected in response.content.decode()
    assert Membership.objects.count() == members_before
    assert Invite.objects.get().uses == uses_before


def test_bad_invite_settings_are_refused(client: Client, circle: SupportGroup, bob: User) -> None:
    client.force_login(bob)
    response = client.post(reverse("groups:invites", args=[circle.slug]), {"valid_days": "365", "max_uses": "0"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value is less than or equal to 90." in page
    assert "Ensure this value is greater than or equal to 1." in page
    assert not Invite.objects.exists()


# --- Handles in a group ----------------------------------------------------------------------


def test_handle_changes_once_in_30_days_and_history_is_for_facilitators(
    alice_client: Client, circle: SupportGroup, alice: User, bob: User
) -> None:
    url = reverse("groups:handle", args=[circle.slug])
    response = alice_client.post(url, {"handle": "Bright Meadow"}, follow=True)
    assert "Your name in this group is now Bright Meadow." in response.content.decode()
    again = alice_client.post(url, {"handle": "Brave Sparrow"})
    assert again.status_code == 400
    assert "once every 30 days" in again.content.decode()
    assert Membership.objects.get(group=circle, handle="Bright Meadow")

    facilitator = Client()
    facilitator.force_login(bob)
    members = facilitator.get(reverse("groups:members", args=[circle.slug])).content.decode()
    assert "Quiet Harbor → Bright Meadow" in members
    # Other members see only the current name.
    assert "Quiet Harbor" not in alice_client.get(reverse("groups:detail", args=[circle.slug])).content.decode()

    with time_machine.travel(timezone.now() + timedelta(days=31)):
        alice_client.force_login(alice)  # her session from a month ago has expired
        alice_client.post(url, {"handle": "Brave Sparrow"})
    assert HandleChange.objects.count() == 2


def test_handle_change_to_a_taken_name_is_refused(alice_client: Client, circle: SupportGroup) -> None:
    response = alice_client.post(reverse("groups:handle", args=[circle.slug]), {"handle": "calm heron"})
    assert response.status_code == 400
    assert "already uses this name" in response.content.decode()
    assert not HandleChange.objects.exists()


def test_former_members_handle_stays_reserved(client: Client, circle: SupportGroup, alice: User, charlie: User) -> None:
    Membership.objects.filter(user=alice).update(status="left")
    client.force_login(charlie)
    response = join(client, circle, "Quiet Harbor")
    assert response.status_code == 400
    assert Membership.objects.get(user=alice).display_handle == "former member"


# --- Roles and leaving -------------------------------------------------------------------------


def test_owner_appoints_and_removes_a_facilitator(client: Client, circle: SupportGroup, owen: User) -> None:
    alice_row = Membership.objects.get(group=circle, handle="Quiet Harbor")
    client.force_login(owen)
    url = reverse("groups:set_role", args=[circle.slug, alice_row.public_id])
    response = client.post(url, {"role": "facilitator"}, follow=True)
    assert "Quiet Harbor is now facilitator." in response.content.decode()
    assert "Quiet Harbor" in client.get(reverse("groups:detail", args=[circle.slug])).content.decode()
    client.post(url, {"role": "member"})
    alice_row.refresh_from_db()
    assert alice_row.role == "member"


def test_group_always_keeps_an_owner(client: Client, circle: SupportGroup, owen: User) -> None:
    owner_row = Membership.objects.get(user=owen)
    client.force_login(owen)
    response = client.post(
        reverse("groups:set_role", args=[circle.slug, owner_row.public_id]), {"role": "member"}, follow=True
    )
    assert "A group always needs an owner." in response.content.decode()
    owner_row.refresh_from_db()
    assert owner_row.role == "owner"


def test_owner_must_hand_over_before_leaving(client: Client, circle: SupportGroup, owen: User) -> None:
    client.force_login(owen)
    response = client.post(reverse("groups:leave", args=[circle.slug]))
    assert response.status_code == 400
    assert "Make another member an owner before you leave." in response.content.decode()
    bob_row = Membership.objects.get(group=circle, handle="Calm Heron")
    client.post(reverse("groups:set_role", args=[circle.slug, bob_row.public_id]), {"role": "owner"})
    response = client.post(reverse("groups:leave", args=[circle.slug]))
    assert response["Location"] == reverse("groups:mine")
    assert Membership.objects.get(user=owen).status == "left"


def test_member_leaves_and_can_come_back(alice_client: Client, circle: SupportGroup) -> None:
    confirm = alice_client.get(reverse("groups:leave", args=[circle.slug])).content.decode()
    assert "Your past messages will show as “former member”." in confirm
    alice_client.post(reverse("groups:leave", args=[circle.slug]))
    row = Membership.objects.get(group=circle, handle="Quiet Harbor")
    assert row.status == "left" and row.display_handle == "former member"
    assert 'href="/groups/tuesday-circle/"' not in alice_client.get(reverse("groups:mine")).content.decode()
    join(alice_client, circle, "Quiet Harbor")
    row.refresh_from_db()
    assert row.status == "active" and row.display_handle == "Quiet Harbor"


def test_bad_role_is_refused(client: Client, circle: SupportGroup, owen: User) -> None:
    alice_row = Membership.objects.get(group=circle, handle="Quiet Harbor")
    client.force_login(owen)
    response = client.post(
        reverse("groups:set_role", args=[circle.slug, alice_row.public_id]), {"role": "emperor"}, follow=True
    )
    assert "Choose member, facilitator or owner." in response.content.decode()
    alice_row.refresh_from_db()
    assert alice_row.role == "member"


# --- Creating and configuring --------------------------------------------------------------------


GROUP_DATA = {
    "name": "Thursday Circle",
    "slug": "thursday-circle",
    "description": "An evening group.",
    "topics": ["1"],
    "language": "en",
    "timezone": "America/Chicago",
    "join_policy": "approval",
    "is_listed": "on",
    "guidelines": "Be kind.",
    "message_retention_days": "30",
    "crisis_region": "us",
    "share_minutes": "3",
    "handle": "Evening Lantern",
}


def test_staff_create_a_group_and_own_it(client: Client, dana: User) -> None:
    client.force_login(dana)
    response = client.post(reverse("groups:create"), GROUP_DATA, follow=True)
    assert "Your group is ready. You are its owner." in response.content.decode()
    group = SupportGroup.objects.get(slug="thursday-circle")
    assert group.timezone == "America/Chicago" and group.join_policy == "approval"
    owner = Membership.objects.get(group=group)
    assert (owner.user, owner.role, owner.handle) == (dana, "owner", "Evening Lantern")


def test_members_cannot_create_groups_unless_the_site_allows(client: Client, alice: User, settings) -> None:
    client.force_login(alice)
    assert client.post(reverse("groups:create"), GROUP_DATA).status_code == 403
    assert not SupportGroup.objects.exists()
    settings.GROUP_CREATION_OPEN = True
    assert client.post(reverse("groups:create"), GROUP_DATA).status_code == 302
    assert SupportGroup.objects.get().memberships.get().user == alice


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "Not A Slug!", "Use lower-case letters, numbers and single hyphens"),
        ("slug", "tuesday-circle", "Another group already uses this web address."),
        ("slug", "no-contact", "This web address is used by Hearth itself"),
        ("slug", "mine", "This web address is used by Hearth itself"),
        ("timezone", "Moon/Base", "is not a timezone we know"),
        ("message_retention_days", "0", "greater than or equal to 1"),
        ("handle", "Admin", "reserved"),
        ("name", "", "This field is required."),
    ],
)
def test_bad_group_settings_create_nothing(
    client: Client, circle: SupportGroup, dana: User, field: str, value: str, message: str
) -> None:
    client.force_login(dana)
    response = client.post(reverse("groups:create"), {**GROUP_DATA, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert SupportGroup.objects.count() == 1


def test_owner_changes_settings(client: Client, circle: SupportGroup, owen: User) -> None:
    client.force_login(owen)
    data = {**GROUP_DATA, "slug": circle.slug, "name": "Tuesday Evening Circle", "allow_drop_ins": "on"}
    del data["handle"]
    response = client.post(reverse("groups:settings", args=[circle.slug]), data, follow=True)
    assert "The group&#x27;s settings are saved." in response.content.decode()
    circle.refresh_from_db()
    assert circle.name == "Tuesday Evening Circle" and circle.allow_drop_ins


def test_bad_settings_change_nothing(client: Client, circle: SupportGroup, owen: User) -> None:
    client.force_login(owen)
    data = {**GROUP_DATA, "slug": "Bad Slug", "name": "Renamed"}
    response = client.post(reverse("groups:settings", args=[circle.slug]), data)
    assert response.status_code == 400
    circle.refresh_from_db()
    assert (circle.slug, circle.name) == ("tuesday-circle", "Tuesday Circle")


def test_directory_finds_groups_by_meeting_day_and_time_in_my_timezone(
    client: Client, circle: SupportGroup, owen: User, charlie: User
) -> None:
    from datetime import UTC, date, datetime, time

    from groups.actions import access_group
    from meetings import actions as meetings

    make_group(name="Saturday Mornings", slug="saturday-mornings")
    with time_machine.travel(datetime(2026, 3, 2, 12, tzinfo=UTC), tick=False):
        meetings.do_create_series(
            access_group(owen, circle.slug),
            meetings.SeriesData("Circle", "FREQ=WEEKLY;BYDAY=TU;COUNT=3", date(2026, 3, 1), time(19, 0), 90, 12, []),
        )
        directory = reverse("groups:directory")
        # Tuesday 19:00 in London is Tuesday evening there…
        page = client.get(directory, {"day": "2", "part_of_day": "evening"}).content.decode()
        assert "Tuesday Circle" in page and "Saturday Mornings" not in page
        assert "Tuesday Circle" not in client.get(directory, {"day": "3"}).content.decode()
        # …and Wednesday night (00:30) in Kolkata (all three meetings are before the clocks change).
        charlie.timezone = "Asia/Kolkata"
        charlie.save()
        client.force_login(charlie)
        assert "Tuesday Circle" in client.get(directory, {"day": "3", "part_of_day": "night"}).content.decode()
        assert "Tuesday Circle" not in client.get(directory, {"day": "2"}).content.decode()


def test_option_groups_are_named_fieldsets(client: Client, circle: SupportGroup, dana: User, bob: User) -> None:
    client.force_login(dana)
    page = client.get(reverse("groups:create")).content.decode()
    assert '<legend>Topics <span class="required">(required)</span></legend>' in page
    assert "<legend>Who can join" in page
    assert 'for=""' not in page
    client.force_login(bob)
    schedule = client.get(reverse("meetings:create_series", args=[circle.slug])).content.decode()
    assert "<legend>Repeats" in schedule and "<legend>Facilitator rota</legend>" in schedule
    assert 'for=""' not in schedule
