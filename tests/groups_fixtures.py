"""Groups with a full cast, for permission, privacy and query tests.

Import into a test module with ``from tests.groups_fixtures import *  # noqa: F403`` (fixtures
live here, not in conftest.py).

A *cast* is one support group with one separate person per persona:

- ``owner``, ``facilitator``, ``member``: active memberships with those roles;
- ``pending``: asked to join, not yet decided;
- ``banned``: was a member, now banned;
- ``outsider``: signed in, no membership; ``staff``: site staff, no membership;
- ``anonymous``: not signed in (no user).

Every membership has its own handle, and the group has one working invite link whose token is
kept on the cast (the database only has its hash).

People are created with unusable passwords and signed in with ``force_login`` (these tests
create thousands of people and never log in through the form).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from groups.handles import handle_key
from groups.models import Invite, Membership, SupportGroup, Topic, hash_invite_token

__all__ = [
    "HANDLES",
    "MEMBER_PERSONAS",
    "PERSONAS",
    "GroupCast",
    "build_cast",
    "cast_factory",
    "client_as",
    "listed_cast",
    "make_person",
    "new_group",
    "persona_people",
    "unlisted_cast",
]

PERSONAS = ("anonymous", "outsider", "pending", "member", "facilitator", "owner", "staff", "banned")
# Personas with a membership row in the cast's group, and its role and status.
MEMBER_PERSONAS: dict[str, tuple[str, str]] = {
    "owner": (Membership.Role.OWNER, Membership.Status.ACTIVE),
    "facilitator": (Membership.Role.FACILITATOR, Membership.Status.ACTIVE),
    "member": (Membership.Role.MEMBER, Membership.Status.ACTIVE),
    "pending": (Membership.Role.MEMBER, Membership.Status.PENDING),
    "banned": (Membership.Role.MEMBER, Membership.Status.BANNED),
}
# Default handles, one set per group "slot"; all valid handles (no reserved words), and no
# handle is a substring of page text, so a plain `in` finds exactly the handle.
HANDLES: dict[str, dict[str, str]] = {
    "a": {
        "owner": "Steady Lantern",
        "facilitator": "Calm Heron",
        "member": "Quiet Harbor",
        "pending": "Gentle Willow",
        "banned": "Distant Ember",
    },
    "b": {
        "owner": "Golden Sparrow",
        "facilitator": "Silver Brook",
        "member": "Northern Lark",
        "pending": "Patient Orchard",
        "banned": "Clear Tide",
    },
}

GUIDELINES = "Everything shared here stays here.\nSpeak from your own experience."
_emails = itertools.count(1)


def make_person(label: str, *, staff: bool = False, pk: int | None = None) -> User:
    """A person with an unusable password (tests sign in with force_login); `pk` to pin the id."""
    extra: dict[str, object] = {"is_staff": staff}
    if pk is not None:
        extra["pk"] = pk
    return User.objects.create_user(email=f"{label}-{next(_emails)}@example.test", password=None, **extra)


def new_group(
    slug: str,
    *,
    listed: bool = True,
    name: str | None = None,
    join_policy: str = SupportGroup.JoinPolicy.APPROVAL,
    created_by: User | None = None,
) -> SupportGroup:
    group = SupportGroup.objects.create(
        name=name or slug.replace("-", " ").title(),
        slug=slug,
        description=f"A peer support circle ({slug}).",
        guidelines=GUIDELINES,
        is_listed=listed,
        join_policy=join_policy,
        created_by=created_by,
    )
    group.topics.set(Topic.objects.order_by("position")[:2])
    return group


@dataclass
class GroupCast:
    group: SupportGroup
    people: dict[str, User]  # every persona but "anonymous"
    memberships: dict[str, Membership]  # the MEMBER_PERSONAS
    invite: Invite
    invite_token: str
    handles: dict[str, str] = field(default_factory=dict)

    def user(self, persona: str) -> User | None:
        return self.people.get(persona)

    def membership_of(self, persona: str) -> Membership | None:
        user = self.user(persona)
        if user is None:
            return None
        return Membership.objects.filter(group=self.group, user=user).first()


def persona_people(prefix: str = "", *, pk_base: int | None = None) -> dict[str, User]:
    """One new person per signed-in persona (outsider and staff included)."""
    people = {}
    for index, persona in enumerate(p for p in PERSONAS if p != "anonymous"):
        pk = None if pk_base is None else pk_base + index
        people[persona] = make_person(f"{prefix}{persona}", staff=persona == "staff", pk=pk)
    return people


def build_cast(
    slug: str,
    *,
    listed: bool = True,
    people: Mapping[str, User] | None = None,
    handles: Mapping[str, str] | None = None,
    join_policy: str = SupportGroup.JoinPolicy.APPROVAL,
) -> GroupCast:
    """A group with an owner, facilitator, member, pending applicant and banned member.

    Pass `people` to reuse the same persons in another group (with other `handles`).
    """
    people = dict(people) if people is not None else persona_people(f"{slug}-")
    handles = dict(handles or HANDLES["a"])
    assert len(set(handles.values())) == len(handles), "each membership needs its own handle"
    group = new_group(slug, listed=listed, join_policy=join_policy, created_by=people["owner"])
    now = timezone.now()
    memberships = {}
    for persona, (role, status) in MEMBER_PERSONAS.items():
        active_once = status != Membership.Status.PENDING
        memberships[persona] = Membership.objects.create(
            group=group,
            user=people[persona],
            handle=handles[persona],
            handle_key=handle_key(handles[persona]),
            role=role,
            status=status,
            guidelines_accepted_at=now,
            requested_at=now - timedelta(days=3),
            joined_at=now - timedelta(days=2) if active_once else None,
            left_at=now - timedelta(days=1) if status == Membership.Status.BANNED else None,
            request_message="I would like to listen for a while." if not active_once else "",
        )
    token = secrets.token_urlsafe(24)
    invite = Invite.objects.create(
        group=group,
        token_hash=hash_invite_token(token),
        label="for a friend",
        created_by=memberships["facilitator"],
        expires_at=now + timedelta(days=7),
        max_uses=5,
    )
    return GroupCast(group, people, memberships, invite, token, handles)


def client_as(client: Client, user: User | None) -> Client:
    """`client` signed in as `user`, or left anonymous for None."""
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def cast_factory(db: None) -> Callable[..., GroupCast]:
    """build_cast, as a fixture (so the database is set up)."""
    return build_cast


@pytest.fixture
def listed_cast(db: None) -> GroupCast:
    return build_cast("listed-circle", listed=True)


@pytest.fixture
def unlisted_cast(db: None) -> GroupCast:
    return build_cast("hidden-circle", listed=False, handles=HANDLES["b"])
