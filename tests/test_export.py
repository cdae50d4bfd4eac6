"""Downloading one's own data (docs/privacy.md, "Data export"), from the outside: the page,
the re-entered password, the file, and what is not in it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.actions import do_notify
from accounts.models import NoticeKind, User
from groups.actions import access_group, do_change_handle
from groups.models import Membership, NoContactEntry, SupportGroup
from meetings.actions import do_rsvp
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant
from moderation import actions as moderation
from tests.conftest import PASSWORD, _clear_hearth_cache, add_member, make_group, make_user, one_off_meeting, utc

URL = "/accounts/export/"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# The only numbers the file may hold: a format version and counts. Never an id.
NUMBER_KEYS = {"version", "members_you_blocked", "entries"}
FORBIDDEN_KEYS = {"id", "pk", "user", "user_id", "member", "member_id", "public_id", "email_key", "reporter", "subject"}


def message(meeting: Meeting, membership: Membership, seq: int, body: str) -> RoomEvent:
    room, _ = Room.objects.get_or_create(meeting=meeting)
    room.last_seq = max(room.last_seq, seq)
    room.save(update_fields=["last_seq"])
    return RoomEvent.objects.create(room=room, seq=seq, kind=RoomEvent.Kind.MESSAGE, membership=membership, body=body)


def past_meeting(group: SupportGroup) -> Meeting:
    starts = utc(2026, 3, 1, 19)
    return Meeting.objects.create(
        group=group, title="Sunday share", starts_at=starts, ends_at=starts + timedelta(minutes=90), capacity=12
    )


def moderator_of(user: User, group: SupportGroup) -> moderation.Moderator:
    found = moderation.moderator_for(user, access_group(user, group.slug))
    assert found is not None
    return found


@pytest.fixture
def busy_alice(frozen, circle: SupportGroup, alice: User, bob: User, owen: User, charlie: User) -> dict[str, Any]:
    """alice with a little of everything, among other people's data in two groups."""
    other = make_group(name="Sunday Garden", slug="sunday-garden")
    add_member(other, charlie, "Hidden Fox", role="owner")
    add_member(other, alice, "Bright Wren")
    mine = Membership.objects.get(group=circle, user=alice)
    bobs = Membership.objects.get(group=circle, user=bob)
    do_change_handle(mine, "Quiet Meadow")  # history: Quiet Harbor → Quiet Meadow

    meeting = past_meeting(circle)
    later = one_off_meeting(circle, owen, utc(2026, 3, 9, 19))
    do_rsvp(mine, later, going=True)
    do_rsvp(bobs, later, going=True)
    message(meeting, mine, 1, "I finally slept through the night")
    bob_said = message(meeting, bobs, 2, "Bob's own words stay with Bob")
    message(meeting, mine, 3, "Thank you for listening")
    for membership in (mine, bobs):
        RoomParticipant.objects.create(room=meeting.room, membership=membership, first_joined_at=meeting.starts_at)
    moderation.do_report_message(
        mine, meeting.public_id, bob_said.seq, category="harassment", details="This felt aimed at me", wish="inform"
    )
    moderation.do_block(mine, bobs.public_id)
    moderation.do_sanction(moderator_of(bob, circle), mine.public_id, "warn", reason="Please keep to the guidelines")
    do_notify(alice, NoticeKind.MEMBERSHIP, "Welcome to the circle")
    NoContactEntry.objects.create(owner=alice, email_key="0" * 64, label="private")
    return {"other": other, "meeting": meeting, "later": later}


def download(client: Client, **data: str) -> dict[str, Any]:
    response = client.post(URL, {"password": PASSWORD, **data})
    assert response.status_code == 200, response.content.decode()[:500]
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="hearth-export-2026-03-02.json"'
    text = response.content.decode()
    assert text.startswith('{\n  "format": "hearth-export",\n  "version": 1,')  # indented, versioned
    return json.loads(text)


def walk(value: object, path: str = "") -> list[tuple[str, object]]:
    """Every (key path, leaf value) of the file, keys included as leaves."""
    if isinstance(value, dict):
        found: list[tuple[str, object]] = []
        for key, item in value.items():
            found.append((f"{path}.{key}#key", key))
            found.extend(walk(item, f"{path}.{key}"))
        return found
    if isinstance(value, list):
        return [leaf for item in value for leaf in walk(item, f"{path}[]")]
    return [(path, value)]


def assert_only_about(data: dict[str, Any], owner: User, strangers: dict[str, list[str]]) -> None:
    """Nothing in the file names anyone but `owner`: no other email, id or handle, and no
    number that is not a count."""
    others = list(User.objects.exclude(pk=owner.pk))
    other_ids = {str(user.pk) for user in others}
    other_members = set(Membership.objects.exclude(user=owner).values_list("public_id", flat=True))
    for path, leaf in walk(data):
        if path.endswith("#key"):
            assert leaf not in FORBIDDEN_KEYS, path
            continue
        if isinstance(leaf, bool) or leaf is None:
            continue
        if isinstance(leaf, int | float):
            assert path.rsplit(".", 1)[-1] in NUMBER_KEYS, (path, leaf)
            continue
        assert isinstance(leaf, str), (path, leaf)
        assert leaf not in other_ids, (path, leaf)
        for address in EMAIL.findall(leaf):
            assert address == owner.email, (path, leaf)
        for user in others:
            assert user.email.lower() not in leaf.lower(), (path, leaf)
        for public_id in other_members:
            assert public_id not in leaf, (path, leaf)
        for text in strangers["texts"]:
            assert text.lower() not in leaf.lower(), (path, leaf)


def test_export_page_explains_and_get_does_not_download(alice_client: Client) -> None:
    response = alice_client.get(URL)
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    html = response.content.decode()
    assert "Download your data" in html and 'name="password"' in html and "csrfmiddlewaretoken" in html
    assert "anyone who opens this file" in html


def test_settings_link_to_export_and_deletion(alice_client: Client) -> None:
    html = alice_client.get(reverse("accounts:settings")).content.decode()
    links = html[html.index("data-privacy-links") :]
    assert 'href="/accounts/export/"' in links and 'href="/accounts/delete/"' in links


def test_export_holds_the_members_own_data(busy_alice, alice_client: Client, alice: User) -> None:
    data = download(alice_client)
    assert data["generated_at"] == "2026-03-02T12:00:00+00:00"
    assert data["profile"]["email"] == "alice@example.com"
    assert data["profile"]["timezone"] == "Europe/London"
    memberships = {row["group"]: row for row in data["memberships"]}
    assert memberships["Tuesday Circle"]["handle"] == "Quiet Meadow"
    assert memberships["Tuesday Circle"]["handle_history"] == [
        {"from": "Quiet Harbor", "to": "Quiet Meadow", "at": "2026-03-02T12:00:00+00:00"}
    ]
    assert memberships["Tuesday Circle"]["members_you_blocked"] == 1
    assert memberships["Sunday Garden"]["handle"] == "Bright Wren"
    assert [(r["meeting"], r["answer"]) for r in data["rsvps"]] == [("Evening share", "Going")]
    assert [m["text"] for m in data["messages"]] == ["I finally slept through the night", "Thank you for listening"]
    [report] = data["reports_filed"]
    assert report["details"] == "This felt aimed at me" and report["status"] == "Open" and report["outcome"] is None
    [decision] = data["decisions_about_you"]
    assert decision["decision"] == "Warning" and decision["reason"] == "Please keep to the guidelines"
    assert "Welcome to the circle" in [notice["text"] for notice in data["notices"]]
    assert data["no_contact_list"] == {"entries": 1}
    [attended] = data["meetings_attended"]
    assert attended["group"] == "Tuesday Circle" and attended["entered_at"] == attended["starts_at"]
    assert memberships["Tuesday Circle"]["show_attendance_streak"] is False


def test_export_names_nobody_else(busy_alice, alice_client: Client, alice: User) -> None:
    data = download(alice_client)
    strangers = {
        "texts": ["Calm Heron", "Steady Lantern", "Hidden Fox", "Bob's own words"],
    }
    assert_only_about(data, alice, strangers)


def test_a_report_outcome_is_what_the_reporter_was_told(busy_alice, alice_client: Client, owen: User, circle) -> None:
    from moderation.models import Report

    report = Report.objects.get()
    moderation.do_close_report(moderator_of(owen, circle), report, action_taken=True, note="Spoke with them")
    [filed] = download(alice_client)["reports_filed"]
    assert filed["status"] == "Resolved" and filed["outcome"] == "The facilitators took action."
    assert "Spoke with them" not in json.dumps(download(alice_client))


def test_wrong_or_missing_password_downloads_nothing(busy_alice, alice_client: Client) -> None:
    for data in ({}, {"password": "not my password"}):
        response = alice_client.post(URL, data)
        assert response.status_code == 400
        assert "Content-Disposition" not in response
    response = alice_client.post(URL, {"password": "not my password"})
    assert "That is not your current password." in response.content.decode()


def test_export_of_another_account_cannot_be_asked_for(busy_alice, client: Client, alice: User, bob: User) -> None:
    """There is no way to name someone else's export: ids and emails in the request are ignored,
    and logged-out requests go to the login page."""
    response = client.post(URL, {"password": PASSWORD, "user": alice.pk, "email": alice.email})
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    assert "Content-Disposition" not in response
    response = client.get(URL)
    assert response.status_code == 302

    client.force_login(bob)
    query = f"?user={alice.pk}&user_id={alice.pk}&email={alice.email}"
    response = client.post(URL + query, {"password": PASSWORD, "user": alice.pk, "email": alice.email})
    data = json.loads(response.content)
    assert data["profile"]["email"] == "bob@example.com"
    assert_only_about(data, bob, {"texts": ["Quiet Meadow", "Quiet Harbor", "Bright Wren", "I finally slept"]})
    # alice's password is not what proves bob is bob, and nothing about alice changed.
    client.force_login(alice)
    assert download(client)["profile"]["email"] == "alice@example.com"


def test_exporting_changes_nothing(busy_alice, alice_client: Client, alice: User) -> None:
    from django.apps import apps

    def counts() -> dict[str, int]:
        return {model._meta.label: model._base_manager.count() for model in apps.get_models()}

    before = counts()
    download(alice_client)
    after = counts()
    # The session's activity row may be touched; nothing else is added or removed.
    assert {k: v for k, v in after.items() if v != before[k]} == {}


def test_exports_are_limited_per_hour(busy_alice, alice_client: Client, frozen) -> None:
    for _ in range(5):
        download(alice_client)
    response = alice_client.post(URL, {"password": PASSWORD})
    assert response.status_code == 429 and "Content-Disposition" not in response
    # A new window (the cache's own clock: Redis' TTL does not follow frozen time) allows again.
    _clear_hearth_cache()
    download(alice_client)


def test_an_account_with_nothing_yet_exports_cleanly(frozen, client: Client, db: None) -> None:
    newcomer = make_user("new@example.com")
    client.force_login(newcomer)
    data = download(client)
    assert data["memberships"] == [] and data["messages"] == [] and data["reports_filed"] == []
    assert data["profile"]["email"] == "new@example.com"
