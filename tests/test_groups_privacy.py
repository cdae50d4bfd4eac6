"""What group pages let people learn about each other: only per-group handles.

Every groups page, and the home, notices and settings pages, rendered as each persona, must not
contain any person's email (except your own, on your own settings page), any person's database
id (in a URL or anywhere else), or the handle a person uses in *another* group. Invite tokens are
shown once, right after the link is made, and stored only as a hash.

The people here get large, distinctive database ids, so that finding one in a page can't be a
coincidence (a topic id or a count).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups import actions
from groups.models import HandleChange, Invite, Membership
from meetings.models import Meeting, Rsvp
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import HANDLES, PERSONAS, GroupCast, build_cast, client_as, persona_people

PK_BASE = 48_151_620  # the people's ids: 48151620, 48151621, …
EARLIER_HANDLE = "Morning Dawn"  # the member's earlier handle in group A (history, facilitators only)


@pytest.fixture(autouse=True)
def _no_chance_handles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Join pages suggest a random handle from the same words the cast's handles are made of;
    now and then it came out as someone's handle in the other group, and the check below
    (rightly strict) failed by chance. Suggestions here are a name nobody in the world has."""
    monkeypatch.setattr(actions, "suggest_handle", lambda taken: "Wandering Comet")


@dataclass
class World:
    a: GroupCast  # listed
    b: GroupCast  # unlisted; the same people, other handles

    def cast(self, name: str) -> GroupCast:
        return {"a": self.a, "b": self.b}[name]

    def other(self, name: str) -> GroupCast:
        return {"a": self.b, "b": self.a}[name]


@pytest.fixture
def world(db: None) -> World:
    people = persona_people("p-", pk_base=PK_BASE)
    a = build_cast("harbour-circle", listed=True, people=people, handles=HANDLES["a"])
    b = build_cast("willow-room", listed=False, people=people, handles=HANDLES["b"])
    # The member renamed themselves in A once: the history is for A's facilitators.
    member_a = a.memberships["member"]
    HandleChange.objects.create(membership=member_a, old_handle=EARLIER_HANDLE, new_handle=member_a.handle)
    # In B the member asked to join and was approved: they have a real notice about it.
    member_b = b.memberships["member"]
    Membership.objects.filter(pk=member_b.pk).update(status=Membership.Status.PENDING, joined_at=None)
    facilitator_b = b.memberships["facilitator"]
    actions.do_decide_request(
        actions.GroupAccess(b.group, facilitator_b, False), member_b.public_id, approve=True, message="Welcome!"
    )
    # Each group has a meeting its facilitator leads, that its member is going to.
    for cast in (a, b):
        starts = timezone.now() + timedelta(days=2)
        meeting = Meeting.objects.create(
            group=cast.group,
            title=f"{cast.group.name} weekly",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            capacity=10,
            facilitator=cast.memberships["facilitator"],
            backup=cast.memberships["owner"],
        )
        Rsvp.objects.create(meeting=meeting, membership=cast.memberships["member"], status=Rsvp.Status.GOING)
    return World(a, b)


def pages_of(cast: GroupCast) -> dict[str, str]:
    slug = cast.group.slug
    group_pages = ("detail", "join", "leave", "handle", "settings", "requests", "invites", "members")
    pages = {
        "home": reverse("home"),
        "notices": reverse("accounts:notices"),
        "account settings": reverse("accounts:settings"),
        "directory": reverse("groups:directory"),
        "mine": reverse("groups:mine"),
        "create": reverse("groups:create"),
        "invite link": reverse("groups:invite", args=[cast.invite_token]),
    }
    pages.update({name: reverse(f"groups:{name}", args=[slug]) for name in group_pages})
    # The group's meeting pages (meetings app, same group rules) and the person's own.
    meeting = Meeting.objects.get(group=cast.group)
    pages["schedule"] = reverse("meetings:schedule", args=[slug])
    pages["meeting"] = reverse("meetings:detail", args=[slug, meeting.public_id])
    pages["my meetings"] = reverse("meetings:mine")
    pages["calendar"] = reverse("meetings:calendar")
    return pages


def page_text(response: HttpResponse) -> str:
    """The body as read (entities decoded), with the redirect target if any."""
    return html.unescape(response.content.decode()) + "\n" + response.get("Location", "")


URL_ATTRIBUTE = re.compile(r"""(?:href|action|src|data-[\w-]+)=["']([^"']*)["']""")


def numeric_path_segments(text: str) -> list[str]:
    """Every URL in the page with a purely numeric path segment (a database id)."""
    urls = URL_ATTRIBUTE.findall(text) + re.findall(r"https?://[^\s\"'<>]+", text)
    urls += re.findall(r"(?<![\w/])/(?:groups|accounts|meetings|rooms)/[^\s\"'<>]*", text)
    return [url for url in urls if any(part.isdigit() for part in urlsplit(url).path.split("/"))]


def assert_private(text: str, *, viewer: User | None, page: str, world: World, viewed: str) -> None:
    where = f"{page} as {viewer.email if viewer else 'anonymous'}"
    for person in User.objects.all():
        if not (page == "account settings" and person == viewer):
            assert person.email not in text, f"{where} shows {person.email}"
        assert str(person.pk) not in text, f"{where} shows the id of {person.email}"
    assert "@example.test" not in text or page == "account settings", f"{where} shows an email address"
    assert not numeric_path_segments(text), f"{where} has ids in URLs: {numeric_path_segments(text)}"
    other = world.other(viewed)
    for persona, membership in other.memberships.items():
        own = viewer is not None and membership.user_id == viewer.pk
        if own and page == "mine":
            continue  # your own page of your own groups lists your name in each
        assert membership.handle not in text, f"{where} shows {persona}'s handle in {other.group.name}"


@pytest.mark.django_db
@pytest.mark.parametrize("viewed", ["a", "b"], ids=["in-listed-group", "in-unlisted-group"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_pages_show_no_email_no_user_id_and_no_handle_from_another_group(
    client: Client, world: World, persona: str, viewed: str
) -> None:
    cast = world.cast(viewed)
    viewer = cast.user(persona)
    client_as(client, viewer)
    statuses = {}
    for page, url in pages_of(cast).items():
        response = client.get(url)
        statuses[page] = response.status_code
        assert response.status_code < 500
        assert_private(page_text(response), viewer=viewer, page=page, world=world, viewed=viewed)

    # The checks can see what they look for: active members find their own handle on the
    # group page, and (signed in) their handle in each group on "My groups".
    if persona in ("member", "facilitator", "owner"):
        detail = page_text(client.get(pages_of(cast)["detail"]))
        assert cast.memberships[persona].handle in detail
        mine = page_text(client.get(reverse("groups:mine")))
        assert world.a.memberships[persona].handle in mine and world.b.memberships[persona].handle in mine
    if persona == "member":
        notices = page_text(client.get(reverse("accounts:notices")))
        assert "Your request to join Willow Room was approved." in notices
    if persona != "anonymous":
        settings_page = page_text(client.get(reverse("accounts:settings")))
        assert viewer.email in settings_page  # your own address, on your own settings page only
    assert statuses["home"] == 200


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_earlier_handles_are_shown_to_facilitators_only(client: Client, world: World, persona: str) -> None:
    client_as(client, world.a.user(persona))
    seen_on = [page for page, url in pages_of(world.a).items() if EARLIER_HANDLE in page_text(client.get(url))]
    assert seen_on == (["members"] if persona in ("facilitator", "owner", "staff") else [])


# --- Invite tokens ----------------------------------------------------------------------------


def text_columns() -> list[tuple[type[models.Model], str]]:
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField)
    ]


def stored_anywhere(secret: str) -> list[str]:
    """Where in the database `secret` is stored in the clear (sessions decoded)."""
    found = [
        f"{model._meta.label}.{name}"
        for model, name in text_columns()
        if model is not Session and model._default_manager.filter(**{f"{name}__contains": secret}).exists()
    ]
    found += [f"session {s.pk}" for s in Session.objects.all() if secret in repr(s.get_decoded())]
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["facilitator", "owner", "staff"])
def test_invite_token_is_shown_once_and_stored_only_as_a_hash(client: Client, world: World, persona: str) -> None:
    cast = world.a
    client_as(client, cast.user(persona))
    invites_url = reverse("groups:invites", args=[cast.group.slug])

    made = client.post(invites_url, {"label": "for my neighbour", "valid_days": "7", "max_uses": "1"})
    assert made.status_code == 200
    match = re.search(r'<p class="copy-link">(https?://[^<]+/groups/invite/([^/<]+)/)</p>', made.content.decode())
    assert match, "the new link is shown right after it is made"
    link, token = match.groups()
    assert len(token) >= 32
    # That page is never cached: the link can't come back from a shared device's cache.
    assert "no-store" in made["Cache-Control"]

    invite = Invite.objects.get(group=cast.group, label="for my neighbour")
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored_anywhere(token) == []
    assert stored_anywhere(cast.invite_token) == []

    # Afterwards: the list shows neither token nor hash, nor does any other page, to anyone.
    secrets_ = [token, link, invite.token_hash, cast.invite_token, cast.invite.token_hash]
    listing = page_text(client.get(invites_url))
    assert "for my neighbour" in listing and cast.invite.label in listing
    for viewer_persona in PERSONAS:
        viewer_client = client_as(Client(), cast.user(viewer_persona))
        for page, url in pages_of(cast).items():
            if page == "invite link":
                continue  # its URL is the fixture's token
            shown = page_text(viewer_client.get(url))
            for secret in secrets_:
                assert secret not in shown, f"{page} as {viewer_persona} shows an invite secret"

    # And the link works.
    outsider = client_as(Client(), cast.user("outsider"))
    assert outsider.get(urlsplit(link).path).status_code == 200


@pytest.mark.django_db
def test_invite_list_works_without_any_token(client: Client, world: World) -> None:
    """Invites made elsewhere (admin, another facilitator) list fine: nothing needs the token."""
    cast = world.a
    Invite.objects.create(
        group=cast.group,
        token_hash=hashlib.sha256(b"made-elsewhere").hexdigest(),
        label="from the admin",
        expires_at=timezone.now() + timedelta(days=1),
    )
    client_as(client, cast.user("facilitator"))
    listing = page_text(client.get(reverse("groups:invites", args=[cast.group.slug])))
    assert "from the admin" in listing and "made-elsewhere" not in listing
    # Revoking goes by the public id, never by a token or database id.
    assert reverse("groups:revoke_invite", args=[cast.group.slug, cast.invite.public_id]) in listing
