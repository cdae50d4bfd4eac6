"""Who may open which groups URL: the permission matrix, written out as the spec.

Every URL name in groups/urls.py, by GET and POST, for each persona (see tests/groups_fixtures.py),
in a listed and in an unlisted group. Each cell is what the response must be:

    "200", "400", "403", "404", "405"  that status
    "login"                            302 to the login page, with ?next= this URL
    "→detail", "→mine", "→requests",   302 to the group's page of that name (or to the new
    "→invites", "→members", "→created"  group's page, for "→created")
    a trailing "*"                     …and the action took effect (checked specifically for
                                       each endpoint). Without "*" nothing in the database
                                       changed: no role, request, invite, name or group.

The rules: a listed group's page is public; an unlisted group answers 404, exactly as a
missing group, to anyone but staff and its active or pending members, and is reachable by
outsiders only through an invite link. Member pages (leave, name) are for active members;
facilitator pages (requests, decide, invites, revoke, members) for facilitators, owners and
staff; owner pages (settings, set_role) for owners and staff; /groups/new/ for staff. A banned
member is an outsider who can never join. A wrong method answers 405 before any group is
looked up (as for a group that does not exist, so it reveals nothing).

Cells where the code today disagrees with the spec are listed in DEVIATIONS and run as strict
xfails: they turn into failures the day the code is fixed, so the mark can then be removed.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

import groups.urls
from accounts.models import Notice, User
from groups.actions import do_add_no_contact
from groups.forms import GroupForm
from groups.handles import handle_key
from groups.models import HandleChange, Invite, Membership, NoContactEntry, SupportGroup, Topic
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import HANDLES, PERSONAS, GroupCast, build_cast, client_as, make_person

LISTED, UNLISTED = "listed", "unlisted"
NEW_GROUP_SLUG = "brand-new-circle"
NEW_HANDLE = "Fresh Juniper"
NEW_NAME = "Renamed Circle"

# fmt: off
# Persona order in every row:
#               anonymous   outsider    pending     member      facilitator owner       staff       banned
EXPECTED: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # --- Not about one group (the group column only changes which invite link is used) ---------------
    ("directory", "GET"): {
        LISTED:   ("200",       "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("200",       "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    ("directory", "POST"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("mine", "GET"): {
        LISTED:   ("login",     "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("login",     "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    ("mine", "POST"): {
        LISTED:   ("login",     "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("login",     "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("create", "GET"): {
        LISTED:   ("login",     "403",      "403",      "403",      "403",      "403",      "200",      "403"),
        UNLISTED: ("login",     "403",      "403",      "403",      "403",      "403",      "200",      "403"),
    },
    ("create", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "403",      "403",      "→created*", "403"),
        UNLISTED: ("login",     "403",      "403",      "403",      "403",      "403",      "→created*", "403"),
    },
    # The invite link shows even an unlisted group; members are sent to the group, applicants
    # and banned people are told why they can't join (403).
    ("invite", "GET"): {
        LISTED:   ("login",     "200",      "403",      "→detail",  "→detail",  "→detail",  "200",      "403"),
        UNLISTED: ("login",     "200",      "403",      "→detail",  "→detail",  "→detail",  "200",      "403"),
    },
    ("invite", "POST"): {
        LISTED:   ("login",     "→detail*", "403",      "→detail",  "→detail",  "→detail",  "→detail*", "403"),
        UNLISTED: ("login",     "→detail*", "403",      "→detail",  "→detail",  "→detail",  "→detail*", "403"),
    },
    # --- Public group pages -------------------------------------------------------------------------
    ("detail", "GET"): {
        LISTED:   ("200",       "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("404",       "404",      "200",      "200",      "200",      "200",      "200",      "404"),
    },
    ("detail", "POST"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("join", "GET"): {
        LISTED:   ("login",     "200",      "403",      "→detail",  "→detail",  "→detail",  "200",      "403"),
        UNLISTED: ("404",       "404",      "403",      "→detail",  "→detail",  "→detail",  "200",      "404"),
    },
    ("join", "POST"): {
        LISTED:   ("login",     "→detail*", "403",      "→detail",  "→detail",  "→detail",  "→detail*", "403"),
        UNLISTED: ("404",       "404",      "403",      "→detail",  "→detail",  "→detail",  "→detail*", "404"),
    },
    # --- Applicants and members ---------------------------------------------------------------------
    ("withdraw", "GET"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("withdraw", "POST"): {
        LISTED:   ("login",     "403",      "→mine*",   "→mine",    "→mine",    "→mine",    "403",      "→mine"),
        UNLISTED: ("404",       "404",      "→mine*",   "→mine",    "→mine",    "→mine",    "403",      "404"),
    },
    ("leave", "GET"): {
        LISTED:   ("login",     "403",      "403",      "200",      "200",      "200",      "403",      "403"),
        UNLISTED: ("404",       "404",      "403",      "200",      "200",      "200",      "403",      "404"),
    },
    # The only owner can't leave (400, "make another member an owner first").
    ("leave", "POST"): {
        LISTED:   ("login",     "403",      "403",      "→mine*",   "→mine*",   "400",      "403",      "403"),
        UNLISTED: ("404",       "404",      "403",      "→mine*",   "→mine*",   "400",      "403",      "404"),
    },
    ("handle", "GET"): {
        LISTED:   ("login",     "403",      "403",      "200",      "200",      "200",      "403",      "403"),
        UNLISTED: ("404",       "404",      "403",      "200",      "200",      "200",      "403",      "404"),
    },
    ("handle", "POST"): {
        LISTED:   ("login",     "403",      "403",      "→detail*", "→detail*", "→detail*", "403",      "403"),
        UNLISTED: ("404",       "404",      "403",      "→detail*", "→detail*", "→detail*", "403",      "404"),
    },
    # --- Owners -------------------------------------------------------------------------------------
    ("settings", "GET"): {
        LISTED:   ("login",     "403",      "403",      "403",      "403",      "200",      "200",      "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "403",      "200",      "200",      "404"),
    },
    ("settings", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "403",      "→detail*", "→detail*", "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "403",      "→detail*", "→detail*", "404"),
    },
    ("set_role", "GET"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("set_role", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "403",      "→members*", "→members*", "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "403",      "→members*", "→members*", "404"),
    },
    # --- Facilitators -------------------------------------------------------------------------------
    ("requests", "GET"): {
        LISTED:   ("login",     "403",      "403",      "403",      "200",      "200",      "200",      "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "200",      "200",      "200",      "404"),
    },
    ("requests", "POST"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("decide", "GET"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("decide", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "→requests*", "→requests*", "→requests*", "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "→requests*", "→requests*", "→requests*", "404"),
    },
    ("invites", "GET"): {
        LISTED:   ("login",     "403",      "403",      "403",      "200",      "200",      "200",      "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "200",      "200",      "200",      "404"),
    },
    ("invites", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "200*",     "200*",     "200*",     "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "200*",     "200*",     "200*",     "404"),
    },
    ("revoke_invite", "GET"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("revoke_invite", "POST"): {
        LISTED:   ("login",     "403",      "403",      "403",      "→invites*", "→invites*", "→invites*", "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "→invites*", "→invites*", "→invites*", "404"),
    },
    ("members", "GET"): {
        LISTED:   ("login",     "403",      "403",      "403",      "200",      "200",      "200",      "403"),
        UNLISTED: ("404",       "404",      "403",      "403",      "200",      "200",      "200",      "404"),
    },
    ("members", "POST"): {
        LISTED:   ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("405",       "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    # --- Each person's own no-contact list (not about one group); the entry removed is the member's
    ("no_contact", "GET"): {
        LISTED:   ("login",     "200",      "200",      "200",      "200",      "200",      "200",      "200"),
        UNLISTED: ("login",     "200",      "200",      "200",      "200",      "200",      "200",      "200"),
    },
    ("no_contact", "POST"): {
        LISTED:   ("login",     "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*"),  # noqa: E501
        UNLISTED: ("login",     "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*", "→no_contact*"),  # noqa: E501
    },
    ("remove_no_contact", "GET"): {
        LISTED:   ("login",     "405",      "405",      "405",      "405",      "405",      "405",      "405"),
        UNLISTED: ("login",     "405",      "405",      "405",      "405",      "405",      "405",      "405"),
    },
    ("remove_no_contact", "POST"): {
        LISTED:   ("login",     "404",      "404",      "→no_contact*", "404",  "404",      "404",      "404"),
        UNLISTED: ("login",     "404",      "404",      "→no_contact*", "404",  "404",      "404",      "404"),
    },
}
# fmt: on


class Deviation(NamedTuple):
    current: str  # what the code answers today
    reason: str


# (endpoint, method, group kind, persona) -> what the code answers today instead of the spec.
# Empty now. The last entries (an anonymous visitor to an unlisted group's login-required URLs
# was sent to log in instead of getting 404) went when group_page() put the group check first.
DEVIATIONS: dict[tuple[str, str, str, str], Deviation] = {}


# --- How each URL is reached, with what data, and what its action does ----------------------


def _group_url(name: str, *extra: Callable[[GroupCast], str]) -> Callable[[GroupCast], str]:
    return lambda cast: reverse(f"groups:{name}", args=[cast.group.slug, *(part(cast) for part in extra)])


URLS: dict[str, Callable[[GroupCast], str]] = {
    "directory": lambda cast: reverse("groups:directory"),
    "mine": lambda cast: reverse("groups:mine"),
    "create": lambda cast: reverse("groups:create"),
    "invite": lambda cast: reverse("groups:invite", args=[cast.invite_token]),
    "detail": _group_url("detail"),
    "join": _group_url("join"),
    "withdraw": _group_url("withdraw"),
    "leave": _group_url("leave"),
    "handle": _group_url("handle"),
    "settings": _group_url("settings"),
    "requests": _group_url("requests"),
    "decide": _group_url("decide", lambda cast: cast.memberships["pending"].public_id),
    "invites": _group_url("invites"),
    "revoke_invite": _group_url("revoke_invite", lambda cast: cast.invite.public_id),
    "members": _group_url("members"),
    "set_role": _group_url("set_role", lambda cast: cast.memberships["member"].public_id),
    "no_contact": lambda cast: reverse("groups:no_contact"),
    "remove_no_contact": lambda cast: reverse("groups:remove_no_contact", args=[_members_no_contact_entry(cast)]),
}


def _members_no_contact_entry(cast: GroupCast) -> str:
    """The member's own no-contact entry (made once per cast): only they may remove it."""
    entry = NoContactEntry.objects.filter(owner=cast.user("member")).first()
    if entry is None:
        entry, _shared = do_add_no_contact(cast.user("member"), "someone.far.away@example.org", "F")
    return entry.public_id


def group_form_data(group: SupportGroup, **changes: object) -> dict[str, object]:
    """The settings form as the group's owner would post it unchanged (whatever fields it has)."""
    data: dict[str, object] = {}
    for name in GroupForm.Meta.fields:
        if name == "topics":
            topics = list(group.topics.all()) if group.pk else list(Topic.objects.order_by("position")[:1])
            data[name] = [topic.pk for topic in topics]
            continue
        value = getattr(group, name)
        if value is True:
            data[name] = "on"
        elif value is not False:  # an unticked checkbox is not posted at all
            data[name] = value
    data.update(changes)
    return data


POST_DATA: dict[str, Callable[[GroupCast], dict[str, object]]] = {
    "create": lambda cast: group_form_data(
        SupportGroup(
            name="Brand New Circle",
            slug=NEW_GROUP_SLUG,
            description="New.",
            guidelines="Be kind.",
            timezone="Europe/London",
            crisis_region="international",
        ),
        handle="Bright Meadow",
    ),
    "invite": lambda cast: {"handle": NEW_HANDLE, "accept_guidelines": "on", "message": "Hello."},
    "join": lambda cast: {"handle": NEW_HANDLE, "accept_guidelines": "on", "message": "Hello."},
    "handle": lambda cast: {"handle": NEW_HANDLE},
    "settings": lambda cast: group_form_data(cast.group, name=NEW_NAME),
    "decide": lambda cast: {"decision": "approve", "message": "Welcome."},
    "invites": lambda cast: {"label": "for a neighbour", "valid_days": "7", "max_uses": "1"},
    "set_role": lambda cast: {"role": Membership.Role.FACILITATOR},
    "no_contact": lambda cast: {"email": "Someone.Listed@Example.org", "label": "N"},
}


def _status_of(cast: GroupCast, user: User | None) -> str | None:
    if user is None:
        return None
    return Membership.objects.filter(group=cast.group, user=user).values_list("status", flat=True).first()


# The specific change each POST endpoint makes when it is allowed ("*" cells).
EFFECTS: dict[str, Callable[[GroupCast, User | None], bool]] = {
    "create": lambda cast, user: SupportGroup.objects.filter(slug=NEW_GROUP_SLUG, created_by=user).exists(),
    "invite": lambda cast, user: (
        _status_of(cast, user) == Membership.Status.ACTIVE and Invite.objects.get(pk=cast.invite.pk).uses == 1
    ),
    "join": lambda cast, user: _status_of(cast, user) == Membership.Status.PENDING,
    "withdraw": lambda cast, user: _status_of(cast, user) == Membership.Status.LEFT,
    "leave": lambda cast, user: _status_of(cast, user) == Membership.Status.LEFT,
    "handle": lambda cast, user: Membership.objects.get(group=cast.group, user=user).handle == NEW_HANDLE,
    "settings": lambda cast, user: SupportGroup.objects.get(pk=cast.group.pk).name == NEW_NAME,
    "decide": lambda cast, user: (
        Membership.objects.get(pk=cast.memberships["pending"].pk).status == Membership.Status.ACTIVE
    ),
    "invites": lambda cast, user: Invite.objects.filter(group=cast.group, label="for a neighbour").count() == 1,
    "revoke_invite": lambda cast, user: Invite.objects.get(pk=cast.invite.pk).revoked_at is not None,
    "set_role": lambda cast, user: (
        Membership.objects.get(pk=cast.memberships["member"].pk).role == Membership.Role.FACILITATOR
    ),
    "no_contact": lambda cast, user: NoContactEntry.objects.filter(owner=user, label="N").exists(),
    "remove_no_contact": lambda cast, user: not NoContactEntry.objects.filter(owner=user).exists(),
}


def database_state() -> tuple[object, ...]:
    """Everything a groups URL could change."""
    return (
        list(
            SupportGroup.objects.order_by("pk").values_list(
                "pk", "name", "slug", "description", "guidelines", "is_listed", "join_policy", "timezone"
            )
        ),
        list(SupportGroup.topics.through.objects.order_by("pk").values_list("supportgroup_id", "topic_id")),
        list(
            Membership.objects.order_by("pk").values_list(
                "pk", "group_id", "user_id", "handle", "role", "status", "decided_by_id", "left_at"
            )
        ),
        list(Invite.objects.order_by("pk").values_list("pk", "uses", "revoked_at", "max_uses", "expires_at")),
        HandleChange.objects.count(),
        Notice.objects.count(),
        list(NoContactEntry.objects.order_by("pk").values_list("pk", "owner_id", "email_key")),
    )


def text(response: HttpResponse) -> str:
    """The page as a person reads it (entities such as &#x27; decoded)."""
    return html.unescape(response.content.decode())


def outcome(response: HttpResponse, url: str, cast: GroupCast) -> str:
    if response.status_code != 302:
        return str(response.status_code)
    location = response["Location"]
    login = reverse("accounts:login")
    if location.startswith(login + "?"):
        assert parse_qs(urlsplit(location).query)["next"] == [url], location
        return "login"
    slug = cast.group.slug
    targets = {
        reverse("groups:detail", args=[slug]): "→detail",
        reverse("groups:mine"): "→mine",
        reverse("groups:requests", args=[slug]): "→requests",
        reverse("groups:invites", args=[slug]): "→invites",
        reverse("groups:members", args=[slug]): "→members",
        reverse("groups:detail", args=[NEW_GROUP_SLUG]): "→created",
        reverse("groups:no_contact"): "→no_contact",
    }
    return targets.get(location, f"→{location}")


def _cells() -> list[object]:
    cells = []
    for endpoint, method in EXPECTED:
        for group_kind in (LISTED, UNLISTED):
            for persona in PERSONAS:
                key = (endpoint, method, group_kind, persona)
                marks = []
                if key in DEVIATIONS:
                    marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=DEVIATIONS[key].reason))
                cells.append(pytest.param(*key, marks=marks, id=f"{endpoint}-{method}-{group_kind}-{persona}"))
    return cells


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "method", "group_kind", "persona"), _cells())
def test_permission_matrix(client: Client, settings, endpoint: str, method: str, group_kind: str, persona: str) -> None:
    settings.GROUP_CREATION_OPEN = False
    cast = build_cast(f"{group_kind}-circle", listed=group_kind == LISTED)
    user = cast.user(persona)
    client_as(client, user)
    url = URLS[endpoint](cast)
    before = database_state()

    data = POST_DATA.get(endpoint, lambda cast: {})(cast)
    response = client.post(url, data) if method == "POST" else client.get(url)

    changed = database_state() != before
    actual = outcome(response, url, cast) + ("*" if changed else "")
    expected = EXPECTED[(endpoint, method)][group_kind][PERSONAS.index(persona)]
    deviation = DEVIATIONS.get((endpoint, method, group_kind, persona))
    if deviation is not None and actual not in (expected, deviation.current):
        pytest.fail(f"known deviation changed: expected {expected!r} (spec) or {deviation.current!r}, got {actual!r}")
    assert actual == expected, f"{method} {url} as {persona}: got {actual}, spec says {expected}"
    if expected.endswith("*"):
        assert EFFECTS[endpoint](cast, user), f"{endpoint} answered {actual} but did not do its job"


# --- The matrix itself ------------------------------------------------------------------------


def test_matrix_covers_every_groups_url_by_get_and_post() -> None:
    names = {pattern.name for pattern in groups.urls.urlpatterns}
    assert set(URLS) == names
    assert set(EXPECTED) == {(name, method) for name in names for method in ("GET", "POST")}
    for by_group in EXPECTED.values():
        assert set(by_group) == {LISTED, UNLISTED}
        assert all(len(row) == len(PERSONAS) for row in by_group.values())
    for endpoint, method, _group_kind, _persona in DEVIATIONS:
        assert (endpoint, method) in EXPECTED


def test_every_allowed_action_has_a_specific_check() -> None:
    starred = {
        endpoint for (endpoint, _method), rows in EXPECTED.items() for row in rows.values() for c in row if "*" in c
    }
    assert starred <= set(EFFECTS)


# --- Rules the matrix can't show by status alone ----------------------------------------------

GROUP_SCOPED = [
    name for name in URLS if name not in ("directory", "mine", "create", "invite", "no_contact", "remove_no_contact")
]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "outsider", "banned"])
def test_unlisted_group_answers_exactly_like_a_missing_one(client: Client, persona: str) -> None:
    """Whoever may not see an unlisted group can't tell it from a slug that doesn't exist."""
    cast = build_cast("hidden-circle", listed=False)
    client_as(client, cast.user(persona))
    missing_slug = "nosuch-circle"
    for endpoint in GROUP_SCOPED:
        url = URLS[endpoint](cast)
        missing_url = url.replace(f"/{cast.group.slug}/", f"/{missing_slug}/", 1)
        for method in ("GET", "POST"):
            send = client.post if method == "POST" else client.get
            hidden, missing = send(url), send(missing_url)
            hidden_location = hidden.get("Location", "").replace(cast.group.slug, missing_slug)
            assert (hidden.status_code, hidden_location) == (missing.status_code, missing.get("Location", "")), (
                f"{method} {url} as {persona} differs from a missing group"
            )
            assert cast.group.name not in hidden.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_directory_lists_listed_groups_only(client: Client, persona: str) -> None:
    listed = build_cast("listed-circle", listed=True)
    # The same people hold the same roles in an unlisted group: even its members and staff
    # don't find it in the directory.
    unlisted = build_cast("hidden-circle", listed=False, people=listed.people, handles=HANDLES["b"])
    client_as(client, listed.user(persona))
    html = client.get(reverse("groups:directory")).content.decode()
    assert listed.group.name in html
    assert unlisted.group.name not in html
    assert reverse("groups:detail", args=[unlisted.group.slug]) not in html
    assert "1 group found." in html


MEMBER_LIST_VISIBLE = {
    "anonymous": False,
    "outsider": False,
    "pending": False,
    "member": True,
    "facilitator": True,
    "owner": True,
    "staff": True,
    "banned": False,
}


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "sees_members"), MEMBER_LIST_VISIBLE.items())
@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
def test_member_list_on_group_page(client: Client, persona: str, sees_members: bool, listed: bool) -> None:
    cast = build_cast("some-circle", listed=listed)
    client_as(client, cast.user(persona))
    response = client.get(reverse("groups:detail", args=[cast.group.slug]))
    if response.status_code == 404:
        assert not listed and persona in ("anonymous", "outsider", "banned")
        return
    html = response.content.decode()
    assert ("Only members see this list." in html) is sees_members
    # The plain member is not a facilitator, so their handle shows only in the member list.
    assert (cast.handles["member"] in html) is sees_members
    # Applicants and banned people are never listed as members, whoever looks.
    assert cast.handles["pending"] not in html
    assert cast.handles["banned"] not in html
    # The facilitators' handles are public on a listed group's page (by design).
    assert cast.handles["facilitator"] in html


@pytest.mark.django_db
@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
def test_banned_member_can_never_join(client: Client, listed: bool) -> None:
    cast = build_cast("some-circle", listed=listed)
    client_as(client, cast.people["banned"])
    before = database_state()
    detail = client.get(reverse("groups:detail", args=[cast.group.slug]))
    join = client.post(reverse("groups:join", args=[cast.group.slug]), POST_DATA["join"](cast))
    invite = client.post(reverse("groups:invite", args=[cast.invite_token]), POST_DATA["invite"](cast))
    if listed:
        assert detail.status_code == 200 and "You can't join this group." in text(detail)
        assert join.status_code == 403 and "You can't join this group." in text(join)
    else:
        assert (detail.status_code, join.status_code) == (404, 404)
    assert invite.status_code == 403 and "You can't join this group." in text(invite)
    assert database_state() == before


@pytest.mark.django_db
def test_unlisted_group_is_reachable_by_an_outsider_through_its_invite_link(client: Client) -> None:
    cast = build_cast("hidden-circle", listed=False)
    client_as(client, cast.people["outsider"])
    assert client.get(reverse("groups:detail", args=[cast.group.slug])).status_code == 404
    landing = client.get(reverse("groups:invite", args=[cast.invite_token]))
    assert landing.status_code == 200 and cast.group.name in landing.content.decode()
    # A wrong token (for example the stored hash itself) is refused.
    stored_hash = Invite.objects.get(pk=cast.invite.pk).token_hash
    assert stored_hash == hashlib.sha256(cast.invite_token.encode()).hexdigest()
    assert client.get(reverse("groups:invite", args=[stored_hash])).status_code == 410
    joined = client.post(reverse("groups:invite", args=[cast.invite_token]), POST_DATA["invite"](cast))
    assert joined.status_code == 302
    assert client.get(reverse("groups:detail", args=[cast.group.slug])).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "creation_open", "status"),
    [
        ("plain", False, 403),
        ("plain", True, 200),
        ("with_permission", False, 200),
        ("staff", False, 200),
    ],
)
def test_who_can_start_a_group(client: Client, settings, who: str, creation_open: bool, status: int) -> None:
    settings.GROUP_CREATION_OPEN = creation_open
    user = make_person(who, staff=who == "staff")
    if who == "with_permission":
        user.user_permissions.add(Permission.objects.get(codename="add_supportgroup"))
    client.force_login(user)
    assert client.get(reverse("groups:create")).status_code == status
    directory = client.get(reverse("groups:directory")).content.decode()
    assert (reverse("groups:create") in directory) is (status == 200)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Membership.Role.FACILITATOR, Membership.Role.OWNER])
@pytest.mark.parametrize(
    "status",
    [Membership.Status.PENDING, Membership.Status.BANNED, Membership.Status.LEFT, Membership.Status.DECLINED],
)
@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
def test_a_role_counts_only_while_the_membership_is_active(
    client: Client, role: str, status: str, listed: bool
) -> None:
    """A row that keeps its old role (say a facilitator who was banned) grants nothing."""
    cast = build_cast("some-circle", listed=listed)
    person = make_person("former")
    Membership.objects.create(
        group=cast.group,
        user=person,
        handle="Hopeful Valley",
        handle_key=handle_key("Hopeful Valley"),
        role=role,
        status=status,
    )
    client.force_login(person)
    hidden = not listed and status != Membership.Status.PENDING
    before = database_state()
    for endpoint, method in [
        ("requests", "GET"),
        ("invites", "GET"),
        ("members", "GET"),
        ("settings", "GET"),
        ("decide", "POST"),
        ("invites", "POST"),
        ("revoke_invite", "POST"),
        ("settings", "POST"),
        ("set_role", "POST"),
    ]:
        url = URLS[endpoint](cast)
        send = client.post if method == "POST" else client.get
        response = send(url, POST_DATA.get(endpoint, lambda cast: {})(cast))
        assert response.status_code == (404 if hidden else 403), f"{method} {url}"
    assert database_state() == before
