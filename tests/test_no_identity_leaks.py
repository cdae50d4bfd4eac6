"""No page and no room frame shows anyone's email address or user id (issue 9, point 6).

An abuser may join a group to find someone: under a handle, nothing may link a member to an
account. So, in a world with every kind of record a group can hold (meetings live, upcoming,
cancelled and past, a series, RSVPs and a waitlist, an invite, a join request, room messages,
reports both ways, sanctions, appeals, a block, watched words, notices, a changed handle, a
former member, a site suspension, a no-contact list, other sessions, a deleted account…):

- **Pages**: every URL pattern of the project (walked from the resolver, so a page added later
  is covered, or the test fails until its arguments are added to `url_arguments`) is fetched
  as a member, a facilitator, an owner and a member of another group, following one redirect;
  forms are also sent with bad input, and the member downloads their data. No body or header
  may contain an email address (the viewer's own only on their own settings page and in their
  own data export), a user id as a number, a `user_id` field, or a database id in a URL.
- **Frames**: every frame type documented in docs/protocol.md (and every notice kind and
  error code) is made to happen on sockets of members and facilitators through the real ASGI
  app; every frame received is checked the same way.
- **Emails**: each email sent meanwhile shows no address but its recipient's (and the site's
  sender), and no user id.

People get large, distinctive ids (7340021, 7340022, …) so that finding one can't be chance.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.db import connections
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import lifecycle
from accounts.models import NoticeKind, User, UserSession
from accounts.notifications import unsubscribe_token
from groups import actions as group_actions
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from meetings import actions as meeting_actions
from meetings import room_actions
from meetings.models import Meeting
from moderation import actions as moderation
from moderation.models import Report, Sanction
from tests import rooms
from tests.conftest import PASSWORD, add_member, make_group, one_off_meeting
from tests.rooms import going, open_meeting
from tests.test_room_protocol import FRAMES, SOCKETS, Sock, db, enter, refused

PK_BASE = 7_340_021
# persona: the local part of their email (all at example.org); ids follow in this order.
PEOPLE = {
    "member": "alice.leakcheck",  # the viewer
    "facilitator": "bob.leakcheck",
    "owner": "owen.leakcheck",
    "outsider": "charlie.leakcheck",  # owns another group
    "staff": "dana.leakcheck",
    "peer": "sam.leakcheck",
    "former": "lena.leakcheck",  # wrote in the room, then left the group
    "applicant": "pia.leakcheck",  # asked to join, not answered
    "banned": "ben.leakcheck",
    "waiting": "wes.leakcheck",  # approved, then waitlisted
    "suspended": "sue.leakcheck",  # suspended from the group, and the account site-wide
    "quiet": "nora.leakcheck",  # a member who said nothing and goes nowhere
    "gone": "gus.leakcheck",  # wrote, reported, was warned, then deleted their account
}
HANDLES = {
    "member": "Quiet Harbor",
    "facilitator": "Calm Heron",
    "owner": "Steady Lantern",
    "peer": "Still Water",
    "former": "Far Shore",
    "applicant": "Patient Orchard",
    "banned": "Distant Ember",
    "waiting": "Gentle Willow",
    "suspended": "Clear Tide",
    "quiet": "Northern Lark",
    "gone": "Silver Brook",
}
SLUG = "leakcheck-circle"
OTHER_SLUG = "other-leakcheck"

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
USER_ID_FIELD = re.compile(r"user[_-]?id", re.IGNORECASE)
# Pages on which the viewer may see their own address (and nobody else's, ever): their
# settings, and their data export (the download is a POST to the same page).
OWN_ADDRESS_PAGES = {"accounts:settings", "accounts:export"}
# Addresses that belong to nobody: the example in the no-contact form's error message.
EXAMPLE_ADDRESSES = {"name@example.org"}


def make_people() -> dict[str, User]:
    return {
        persona: User.objects.create_user(
            email=f"{local}@example.org",
            password=PASSWORD,
            pk=PK_BASE + index,
            is_staff=persona == "staff",
            timezone="Europe/London",
        )
        for index, (persona, local) in enumerate(PEOPLE.items())
    }


def id_pattern(users: list[User]) -> re.Pattern[str]:
    return re.compile(r"(?<!\d)(?:" + "|".join(str(user.pk) for user in users) + r")(?!\d)")


def leaks(text: str, *, users: list[User], own: User | None = None) -> list[str]:
    """What in `text` identifies someone: email addresses (but `own`), user ids, user_id fields."""
    found = []
    for variant in {text, html.unescape(text), unquote(html.unescape(text))}:
        for address in EMAIL.findall(variant):
            if address.lower() not in EXAMPLE_ADDRESSES and (own is None or address.lower() != own.email.lower()):
                found.append(f"email {address}")
        lowered = variant.lower()
        for user in users:
            if user.email.lower() in lowered and (own is None or user.pk != own.pk):
                found.append(f"email of {user.pk}")
        found += [f"user id {match}" for match in id_pattern(users).findall(variant)]
        found += [f"field {match}" for match in USER_ID_FIELD.findall(variant)]
    return sorted(set(found))


def moderator_of(user: User, slug: str = SLUG) -> moderation.Moderator:
    moderator = moderation.moderator_for(user, access_group(user, slug))
    assert moderator is not None
    return moderator


# --- The world ---------------------------------------------------------------------------------


@dataclass
class World:
    people: dict[str, User]
    group: SupportGroup
    other: SupportGroup
    members: dict[str, Membership]
    meetings: dict[str, Meeting]
    series: Any
    invite: Any
    invite_token: str
    feed_token: str
    reports: list[Report]
    sanctions: dict[str, Sanction]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def users(self) -> list[User]:
        return list(self.people.values())


def post(user: User, meeting: Meeting, body: str, client_id: str) -> int:
    session = room_actions.access_room(user, meeting.public_id)
    frame, _created = room_actions.do_post_message(session, client_id, body)
    return int(frame["seq"])


def build_world() -> World:
    """Every kind of record, made through the real actions."""
    people = make_people()
    group = make_group(slug=SLUG, name="Leakcheck Circle", join_policy=SupportGroup.JoinPolicy.APPROVAL)
    other = make_group(slug=OTHER_SLUG, name="Other Circle")
    roles = {"owner": "owner", "facilitator": "facilitator"}
    members = {
        persona: add_member(group, people[persona], HANDLES[persona], role=roles.get(persona, "member"))
        for persona in ("owner", "facilitator", "member", "peer", "former", "banned", "suspended", "quiet", "gone")
    }
    add_member(other, people["outsider"], "Golden Sparrow", role="owner")
    add_member(other, people["member"], "Evening Star")
    owner_access = access_group(people["owner"], SLUG)
    facilitator_access = access_group(people["facilitator"], SLUG)

    # A join request answered (a notice), and one waiting.
    for persona in ("waiting", "applicant"):
        members[persona] = group_actions.do_join_group(
            people[persona],
            access_group(people[persona], SLUG),
            handle=HANDLES[persona],
            accepted_guidelines=True,
            message="I would like to listen for a while.",
        )
    group_actions.do_decide_request(facilitator_access, members["waiting"].public_id, approve=True, message="Welcome!")
    members["waiting"].refresh_from_db()
    invite, invite_token = group_actions.do_create_invite(facilitator_access, valid_days=7, max_uses=3, label="friend")
    group_actions.do_change_handle(members["member"], "Gentle Tide")

    # Meetings: live (its room open), upcoming and full with a waitlist, a series, cancelled, past.
    live = open_meeting(group)
    going(live, *(people[p] for p in ("member", "peer", "former", "banned", "suspended", "gone")))
    upcoming = one_off_meeting(group, people["owner"], timezone.now() + timedelta(days=3), capacity=2)
    for persona in ("member", "peer", "waiting"):
        meeting_actions.do_rsvp(members[persona], upcoming, going=True)
    series = meeting_actions.do_create_series(
        owner_access,
        meeting_actions.SeriesData(
            title="Weekly circle",
            rule="FREQ=WEEKLY;BYDAY=TU",
            start_date=timezone.localdate() + timedelta(days=1),
            start_time=time(19, 0),
            duration_minutes=90,
            capacity=10,
            rota=[members["facilitator"]],
        ),
    )
    cancelled = one_off_meeting(group, people["owner"], timezone.now() + timedelta(days=5))
    meeting_actions.do_rsvp(members["member"], cancelled, going=True)
    meeting_actions.do_cancel_meeting(owner_access, cancelled, "The facilitator is unwell.")
    past = Meeting.objects.create(
        group=group,
        title="Last week",
        starts_at=timezone.now() - timedelta(days=7),
        ends_at=timezone.now() - timedelta(days=7) + timedelta(minutes=90),
        capacity=10,
        facilitator=members["facilitator"],
    )
    upcoming_in_other = one_off_meeting(other, people["outsider"], timezone.now() + timedelta(days=2))
    feed_token = meeting_actions.do_reset_calendar_feed(people["member"])

    # The room: messages by everyone, one by a person who then left the group.
    moderation.do_add_watched_word(moderator_of(people["facilitator"]), None, "hopeless", "crisis")
    moderation.do_add_watched_word(moderator_of(people["facilitator"]), None, "scam", "flag")
    moderation.do_add_watched_word(None, people["staff"], "kill myself", "crisis")
    seq = {
        "member": post(people["member"], live, "Hello, I am new here.", "m-1"),
        "peer": post(people["peer"], live, "Welcome. This group is a scam, joking.", "p-1"),
        "facilitator": post(people["facilitator"], live, "Welcome, everyone.", "f-1"),
        "former": post(people["former"], live, "I may not stay long.", "l-1"),
        "crisis": post(people["member"], live, "Some days I feel hopeless.", "m-2"),
        "gone": post(people["gone"], live, "I will delete my account soon.", "g-1"),
    }
    # An earlier meeting today, ended by its facilitator: its transcript is for facilitators.
    earlier = open_meeting(group, starts_in=timedelta(minutes=-80))
    going(earlier, people["member"], people["former"], people["peer"], people["gone"])
    post(people["gone"], earlier, "Goodbye, everyone.", "g-e1")
    post(people["member"], earlier, "Thank you all for tonight.", "m-e1")
    post(people["former"], earlier, "It helped to be heard.", "l-e1")
    post(people["peer"], earlier, "Same time next week?", "p-e1")
    room_actions.do_end_room(room_actions.access_room(people["facilitator"], earlier.public_id), "Time is up.")
    group_actions.do_leave_group(members["former"])

    # Reports: by the member, against the member, about a facilitator (owners only), escalated.
    by_member = moderation.do_report_message(
        members["member"], live.public_id, seq["peer"], category="harassment", details="It hurt.", wish="inform"
    )
    against_member = moderation.do_report_message(
        members["peer"], live.public_id, seq["member"], category="spam", details="Odd.", wish="remove"
    )
    about_facilitator = moderation.do_report_member(
        members["member"], members["facilitator"].public_id, category="other", details="Bossy.", wish="inform"
    )
    about_former = moderation.do_report_member(
        members["peer"],
        members["former"].public_id,
        category="identity",
        details="Asked for my town.",
        wish="keep_away",
    )
    as_facilitator = moderator_of(people["facilitator"])
    as_owner = moderator_of(people["owner"])
    moderation.do_add_note(as_facilitator, against_member, "Looked at the context.")
    moderation.do_escalate(as_facilitator, about_former, "Could be someone looking for a member.")
    moderation.do_close_report(as_facilitator, by_member, action_taken=True, note="Talked to them.")

    # Sanctions: a warning (appealed), a timeout (appeal upheld), a deleted message, a removal
    # from a meeting, a suspension and a ban; a site-wide suspension (appealed).
    sanctions = {
        "warn": moderation.do_sanction(
            as_facilitator, members["member"].public_id, "warn", reason="Please stay on topic.", report=against_member
        ),
        "timeout": moderation.do_sanction(
            as_facilitator, members["peer"].public_id, "timeout", reason="Cool down.", minutes=30
        ),
        "delete": moderation.do_sanction(
            as_facilitator,
            members["peer"].public_id,
            "delete_message",
            reason="Hurtful.",
            meeting_public_id=live.public_id,
            message_seq=seq["peer"],
        ),
        "remove": moderation.do_sanction(
            as_facilitator, members["quiet"].public_id, "remove", reason="Not today.", meeting_public_id=live.public_id
        ),
        "suspend": moderation.do_sanction(
            as_owner,
            members["suspended"].public_id,
            "suspend",
            reason="A week off.",
            ends_at=timezone.now() + timedelta(days=7),
        ),
        "ban": moderation.do_sanction(as_owner, members["banned"].public_id, "ban", reason="Threats."),
        "site": moderation.do_suspend_account(
            people["staff"], people["suspended"], reason="Several groups.", ends_at=timezone.now() + timedelta(days=3)
        ),
    }
    moderation.do_appeal(people["member"], sanctions["warn"].public_id, "I was quoting my ex, not insulting anyone.")
    timeout_appeal = moderation.do_appeal(people["peer"], sanctions["timeout"].public_id, "It was a joke.")
    moderation.do_decide_appeal(as_owner, timeout_appeal.pk, overturn=False, note="It stands.")
    moderation.do_appeal(people["suspended"], sanctions["site"].public_id, "Please look again.")
    moderation.do_block(members["member"], members["peer"].public_id)
    # A place frees up: the waitlisted person gets it (a notice).
    meeting_actions.do_rsvp(members["peer"], upcoming, going=False)
    # The member's no-contact list: someone in their group (a private warning to them, an alert
    # to the facilitators that names nobody's email), and someone elsewhere.
    no_contact = [
        group_actions.do_add_no_contact(people["member"], people["peer"].email, "my ex")[0],
        group_actions.do_add_no_contact(people["member"], people["outsider"].email, "his brother")[0],
    ]
    # Someone deletes their account (its data is erased after a grace period: not yet).
    gone = moderation.do_report_message(
        members["gone"], live.public_id, seq["member"], category="other", details="Hm.", wish="inform"
    )
    moderation.do_sanction(as_facilitator, members["gone"].public_id, "warn", reason="Mind the guidelines.")
    lifecycle.do_delete_account(people["gone"])
    # Sessions on other devices, for the sessions pages.
    for persona in ("member", "facilitator"):
        Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0").force_login(people[persona])

    for membership in members.values():
        membership.refresh_from_db()
    return World(
        people=people,
        group=group,
        other=other,
        members=members,
        meetings={
            "live": live,
            "upcoming": upcoming,
            "series": series.meetings.order_by("starts_at").first(),
            "cancelled": cancelled,
            "past": past,
            "earlier": earlier,
        },
        series=series,
        invite=invite,
        invite_token=invite_token,
        feed_token=feed_token,
        reports=[by_member, against_member, about_facilitator, about_former, gone],
        sanctions=sanctions,
        extra={"other_meeting": upcoming_in_other, "no_contact": no_contact},
    )


# --- Every URL pattern -------------------------------------------------------------------------


def url_patterns() -> Iterator[tuple[str, list[str]]]:
    """(namespaced name, its keyword arguments) for every pattern but the admin's."""

    def walk(patterns: list[Any], namespace: str) -> Iterator[tuple[str, list[str]]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace == "admin" or entry.app_name == "admin":
                    continue
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry.url_patterns, inner)
            elif isinstance(entry, URLPattern):
                assert entry.name, f"the URL pattern {entry.pattern} has no name: name it so this test can fetch it"
                pattern = entry.pattern
                converters = getattr(pattern, "converters", None)
                names = list(converters) if converters else list(pattern.regex.groupindex)
                yield f"{namespace}{entry.name}", names

    yield from walk(get_resolver().url_patterns, "")


def url_arguments(world: World) -> dict[str, list[dict[str, str]]]:
    """For each pattern with arguments beyond a group's slug: the values to fetch it with."""
    people, members, meetings = world.people, world.members, world.meetings
    slug = SLUG

    def notices_of(*personas: str) -> list[dict[str, str]]:
        return [
            {"public_id": notice.public_id}
            for persona in personas
            for notice in people[persona].notices.order_by("-pk")[:2]
        ]

    member_pages = [{"slug": slug, "public_id": membership.public_id} for membership in members.values()]
    meeting_pages = [{"slug": slug, "public_id": meeting.public_id} for meeting in meetings.values()]
    meeting_pages.append({"slug": OTHER_SLUG, "public_id": world.extra["other_meeting"].public_id})
    group_sanctions = [s for key, s in world.sanctions.items() if key != "site"]
    viewer = people["member"]
    return {
        "accounts:notice": notices_of("member", "facilitator", "peer", "waiting"),
        "accounts:unsubscribe": [
            {"token": unsubscribe_token(people[persona], kind)}
            for persona in ("member", "facilitator")
            for kind in (NoticeKind.MODERATION, NoticeKind.MEETING)
        ],
        "accounts:password_reset_confirm": [
            {
                "uidb64": urlsafe_base64_encode(force_bytes(viewer.pk)),
                "token": default_token_generator.make_token(viewer),
            }
        ],
        "accounts:end_session": [
            {"public_id": row.public_id} for row in UserSession.objects.filter(user__in=[viewer, people["facilitator"]])
        ],
        "groups:remove_no_contact": [{"public_id": entry.public_id} for entry in world.extra["no_contact"]],
        "groups:invite": [{"token": world.invite_token}],
        "groups:decide": [{"slug": slug, "public_id": members["applicant"].public_id}],
        "groups:revoke_invite": [{"slug": slug, "public_id": world.invite.public_id}],
        "groups:set_role": member_pages,
        "meetings:feed": [{"token": world.feed_token}],
        "meetings:edit_series": [{"slug": slug, "public_id": world.series.public_id}],
        "meetings:end_series": [{"slug": slug, "public_id": world.series.public_id}],
        **{
            f"meetings:{name}": meeting_pages
            for name in ("detail", "rsvp", "edit", "cancel", "ics", "room", "transcript")
        },
        **{
            f"moderation:{name}": member_pages
            for name in ("member", "report_member", "block", "sanction", "suspend_account")
        },
        "moderation:report": [{"slug": slug, "public_id": report.public_id} for report in world.reports],
        "moderation:lift": [{"slug": slug, "public_id": s.public_id} for s in group_sanctions],
        "moderation:appeal": [{"slug": slug, "public_id": s.public_id} for s in group_sanctions],
        "moderation:file_appeal": [{"public_id": s.public_id} for s in world.sanctions.values()],
        "moderation:site_appeal": [{"public_id": world.sanctions["site"].public_id}],
        "moderation:lift_suspension": [{"public_id": world.sanctions["site"].public_id}],
    }


def every_url(world: World) -> list[tuple[str, str]]:
    """(pattern name, path) for every pattern; fails naming any pattern it can't fill."""
    known = url_arguments(world)
    urls, missing = [], []
    for name, kwargs in url_patterns():
        if name in known:
            variants = known[name]
            assert variants, f"no values for {name}"
            for values in variants:
                assert set(values) == set(kwargs), f"{name} takes {kwargs}; the mapping gives {sorted(values)}"
        elif not kwargs:
            variants = [{}]
        elif kwargs == ["slug"]:
            variants = [{"slug": SLUG}, {"slug": OTHER_SLUG}]
        else:
            missing.append(f"{name} {kwargs}")
            continue
        urls += [(name, reverse(name, kwargs=values)) for values in variants]
    assert not missing, f"URL patterns this test can't fill (add them to url_arguments): {missing}"
    return urls


def body_text(response: HttpResponse) -> str:
    streaming = getattr(response, "streaming", False)
    content = b"".join(response.streaming_content) if streaming else response.content  # type: ignore[attr-defined]
    return content.decode("utf-8", errors="replace")


def header_text(response: HttpResponse) -> str:
    return "\n".join(f"{name}: {value}" for name, value in response.items())


# XML namespaces (the charts' SVG) are names, not links, and hold years, not ids.
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")


def numeric_path_segments(text: str) -> list[str]:
    """URLs in a page with a purely numeric path segment (a database id)."""
    urls = re.findall(r"""(?:href|action|src|data-[\w-]+)=["']([^"']*)["']""", text)
    urls += re.findall(r"https?://[^\s\"'<>]+", text)
    return [
        url for url in urls if url not in NAMESPACES and any(part.isdigit() for part in urlsplit(url).path.split("/"))
    ]


# Who fetches every page: a member, the group's facilitator and owner (the email of a member
# must not reach those who run the group either), and a member of another group. Site staff's
# own pages (the console, the site audit log) are not member-facing.
VIEWERS = ("member", "facilitator", "owner", "outsider")
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class PageCheck:
    """Fetches pages as one person and records what identifies someone, and what failed."""

    world: World
    persona: str
    problems: list[str]
    errors: list[str]
    client: Client = field(init=False)
    fetched: int = 0

    def __post_init__(self) -> None:
        self.client = Client()
        self.client.force_login(self.viewer)

    @property
    def viewer(self) -> User:
        return self.world.people[self.persona]

    def fetch(self, name: str, url: str, data: dict[str, str] | None = None) -> HttpResponse | None:
        """GET (or POST `data` to) the page, then GET where it redirects, checking both."""
        response = self._one(name, url, data)
        location = response.get("Location", "") if response is not None else ""
        if response is not None and response.status_code in REDIRECTS and location.startswith("/"):
            self._one(f"{name} → {location}", location, None)
        return response

    def _one(self, label: str, url: str, data: dict[str, str] | None) -> HttpResponse | None:
        where = f"{label} {'POST' if data is not None else 'GET'} {url} as {self.persona}"
        try:
            response = self.client.post(url, data) if data is not None else self.client.get(url)
        except Exception as error:  # noqa: BLE001 - a page that can't render is listed, not hidden
            self.errors.append(f"{where}: {type(error).__name__}: {error}")
            return None
        self.fetched += 1
        if response.status_code >= 500:
            self.errors.append(f"{where}: {response.status_code}")
        text = body_text(response) + "\n" + header_text(response)
        own = self.viewer if label.split(" ")[0] in OWN_ADDRESS_PAGES else None
        found = leaks(text, users=self.world.users, own=own)
        found += [f"database id in URL {url}" for url in numeric_path_segments(html.unescape(text))]
        if found:
            self.problems.append(f"{where} ({response.status_code}): {found}")
        return response


def bad_posts(world: World) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(persona, pattern, arguments, data): forms sent with bad input, whose pages echo it."""
    members, people = world.members, world.people
    someone = {"slug": SLUG, "public_id": members["peer"].public_id}
    return [
        ("member", "accounts:export", {}, {"password": "not my password"}),
        ("member", "accounts:settings", {}, {"timezone": "Nowhere/Else", "language": "xx"}),
        ("member", "accounts:delete", {}, {"password": "wrong", "confirmation": "no"}),
        ("member", "groups:no_contact", {}, {"email": "bob.leakcheck@", "label": ""}),
        # A real address, refused (already listed): the page must not show it back.
        ("member", "groups:no_contact", {}, {"email": people["peer"].email, "label": "again"}),
        ("member", "groups:handle", {"slug": SLUG}, {"handle": "Site Admin"}),
        ("member", "moderation:report_member", someone, {"category": "bogus", "details": "x", "wish": "never"}),
        ("member", "moderation:block", someone, {"on": "1"}),
        ("outsider", "groups:join", {"slug": SLUG}, {"handle": "Still Water", "accept_guidelines": "on"}),
        ("facilitator", "moderation:sanction", someone, {"kind": "bogus", "reason": ""}),
        (
            "facilitator",
            "moderation:sanction",
            {"slug": SLUG, "public_id": members["owner"].public_id},
            {"kind": "warn", "reason": "x"},
        ),
        ("facilitator", "moderation:words", {"slug": SLUG}, {"op": "add", "phrase": "!!!", "action": "crisis"}),
        (
            "facilitator",
            "groups:decide",
            {"slug": SLUG, "public_id": members["applicant"].public_id},
            {"decision": "maybe"},
        ),
        ("facilitator", "groups:invites", {"slug": SLUG}, {"label": "x", "valid_days": "900", "max_uses": "0"}),
        ("owner", "groups:set_role", {"slug": SLUG, "public_id": members["member"].public_id}, {"role": "emperor"}),
        (
            "owner",
            "moderation:appeal",
            {"slug": SLUG, "public_id": world.sanctions["warn"].public_id},
            {"decision": "?"},
        ),
    ]


@pytest.mark.django_db
def test_no_page_shows_an_email_or_a_user_id(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        world = build_world()
        urls = every_url(world)
        problems: list[str] = []
        errors: list[str] = []
        checks = {persona: PageCheck(world, persona, problems, errors) for persona in VIEWERS}
        for check in checks.values():
            for name, path in urls:
                check.fetch(name, path)
        # Forms sent with bad input show the page again, with what was sent.
        for persona, name, kwargs, data in bad_posts(world):
            checks[persona].fetch(name, reverse(name, kwargs=kwargs), data)
        # The member's data export: their own address may be in it, nobody else's.
        download = checks["member"].fetch("accounts:export", reverse("accounts:export"), {"password": PASSWORD})
    assert not errors, "pages that could not be checked:\n" + "\n".join(errors)
    assert not problems, "pages that identify people:\n" + "\n".join(problems)
    assert sum(check.fetched for check in checks.values()) > len(VIEWERS) * len(urls)

    # The checks see what they look for: the export holds the member's own address (so it was
    # read), the settings page too, and an id or an address would be found.
    assert download is not None and download.status_code == 200, download
    assert world.people["member"].email in body_text(download)
    settings_page = body_text(checks["member"].client.get(reverse("accounts:settings")))
    assert leaks(settings_page, users=world.users) == [f"email {world.people['member'].email}", f"email of {PK_BASE}"]
    assert leaks(f"/groups/x/?u={PK_BASE + 3}&&#64;", users=world.users) == [f"user id {PK_BASE + 3}"]
    # …and the pages checked hold the records: the world is on them.
    shown = {
        ("facilitator", "moderation:report", world.reports[1].public_id): ["Gentle Tide", "Looked at the context."],
        ("facilitator", "meetings:transcript", world.meetings["earlier"].public_id): [
            "It helped to be heard.",
            "former member",
        ],
        ("facilitator", "moderation:member", world.members["member"].public_id): ["Please stay on topic."],
        ("owner", "moderation:queue", None): ["Warning: Gentle Tide"],
        ("owner", "moderation:appeal", world.sanctions["warn"].public_id): ["I was quoting my ex"],
        ("owner", "moderation:audit", None): ["sanction.warn", "appeal.filed", "Gentle Tide"],
        ("member", "accounts:notices", None): ["Please stay on topic."],
        ("member", "meetings:feed", world.feed_token): ["BEGIN:VCALENDAR", "BEGIN:VEVENT"],
    }
    for (persona, name, argument), texts in shown.items():
        kwargs = {"token": argument} if name == "meetings:feed" else {"public_id": argument} if argument else {}
        if name.startswith(("moderation:", "meetings:transcript")):
            kwargs["slug"] = SLUG
        page = html.unescape(body_text(checks[persona].client.get(reverse(name, kwargs=kwargs))))
        assert all(text in page for text in texts), (name, persona, texts)

    # Emails sent meanwhile (notices, reminders…): each shows only its recipient's address.
    assert len(mail.outbox) >= 3
    check_emails(world.users)


def check_emails(users: list[User]) -> None:
    senders = {
        parseaddr(value)[1].lower()
        for value in (django_settings.DEFAULT_FROM_EMAIL, django_settings.DISCREET_FROM_EMAIL)
    }
    for message in mail.outbox:
        assert len(message.to) == 1 and not message.cc and not message.bcc, message.to
        recipient = next(user for user in users if user.email.lower() == message.to[0].lower())
        parts = [
            message.subject,
            str(message.body),
            *(str(content) for content, _ in getattr(message, "alternatives", [])),
        ]
        parts += [f"{name}: {value}" for name, value in message.message().items() if name.lower() not in ("to", "from")]
        found = [
            problem
            for problem in leaks("\n".join(parts), users=users, own=recipient)
            if problem.removeprefix("email ").lower() not in senders
        ]
        assert not found, f"an email to {recipient.pk} identifies someone: {found}\n{message.subject}"
        assert parseaddr(message.from_email)[1].lower() in senders, message.from_email


# --- Every frame -------------------------------------------------------------------------------

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
# The notice kinds of docs/protocol.md ("`kind` is `muted` …", and those the moderation queue and
# watched words add). Each must also appear in the doc: a kind added there must be added here.
NOTICE_KINDS = {"muted", "unmuted", "removed", "ended", "closed", "timeout", "warning", "suspended", "ban", "crisis"}


def documented() -> tuple[set[str], set[str]]:
    """The server → client frame types and the error codes of docs/protocol.md."""
    text = PROTOCOL.read_text()
    server = text.split("## Server → client", 1)[1].split("## Client → server", 1)[0]
    types = set(re.findall(r'"type": "(\w+)"', server))
    for heading in re.findall(r"^### (.*)$", server, re.M):
        types |= set(re.findall(r"`(\w+)`", heading))
    codes = set()
    for row in re.findall(r"^\| (`.*?) \|", text, re.M):
        codes |= set(re.findall(r"`(\w+)`", row))
    for kind in NOTICE_KINDS:
        assert f"`{kind}`" in server, f"notice kind {kind} is not in docs/protocol.md any more"
    assert set(re.findall(r'"kind": "(\w+)"', server.split("### `alert`")[0])) <= NOTICE_KINDS
    return types, codes


@pytest_asyncio.fixture
async def room_sockets(monkeypatch: pytest.MonkeyPatch, settings: Any, transactional_db: None) -> AsyncIterator[None]:
    """Sockets record every frame they receive (test_room_protocol's Sock); all closed after."""
    monkeypatch.setattr(rooms, "Socket", Sock)
    rooms.isolate_channel_layer(settings, "leaks")
    FRAMES.clear()
    SOCKETS.clear()
    yield
    for socket in SOCKETS:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()
    await database_sync_to_async(connections.close_all)()


@dataclass
class Room:
    people: dict[str, User]
    group: SupportGroup
    members: dict[str, Membership]
    meeting: Meeting
    later: Meeting
    cancelled: Meeting
    past: Meeting
    ending: Meeting
    tiny: Meeting


def build_room() -> Room:
    people = make_people()
    group = make_group(slug=SLUG, name="Leakcheck Circle")
    roles = {"owner": "owner", "facilitator": "facilitator"}
    members = {
        persona: add_member(group, people[persona], HANDLES[persona], role=roles.get(persona, "member"))
        for persona in HANDLES
        if persona != "applicant"
    }
    as_facilitator = moderator_of(people["facilitator"])
    moderation.do_add_watched_word(as_facilitator, None, "hopeless", "crisis")
    moderation.do_add_watched_word(as_facilitator, None, "scam", "flag")
    moderation.do_add_watched_word(as_facilitator, None, "idiot", "block")
    meeting = open_meeting(group)
    going(meeting, *(people[p] for p in ("member", "peer", "former", "banned", "suspended", "waiting", "gone")))
    later = open_meeting(group, starts_in=timedelta(days=2))
    going(later, people["member"])
    cancelled = open_meeting(group)
    going(cancelled, people["member"])
    Meeting.objects.filter(pk=cancelled.pk).update(status=Meeting.Status.CANCELLED)
    past = open_meeting(group, starts_in=timedelta(days=-1))
    going(past, people["member"])
    now = timezone.now()
    ending = Meeting.objects.create(
        group=group,
        title="Ending",
        starts_at=now - timedelta(minutes=60),
        ends_at=now + timedelta(seconds=3),
        capacity=5,
    )
    going(ending, people["member"])
    tiny = open_meeting(group, capacity=1)
    return Room(people, group, members, meeting, later, cancelled, past, ending, tiny)


async def ask(socket: Sock, frame: dict[str, Any] | str, answer: str, **expected: Any) -> dict[str, Any]:
    """Send a frame; the next frame of type `answer` (checked against `expected`)."""
    await socket.send(frame)
    got = await socket.receive_type(answer)
    for key, value in expected.items():
        assert got.get(key) == value, (frame, got)
    return got


_client_ids = iter(range(1, 10_000))


async def say(socket: Sock, body: str) -> int:
    """Post a message; its seq once stored (the ack)."""
    client_id = f"say-{next(_client_ids)}"
    ack = await ask(socket, {"type": "send", "client_id": client_id, "body": body}, "ack", client_id=client_id)
    return int(ack["seq"])


async def notice(socket: Sock, kind: str) -> dict[str, Any]:
    """The next notice of this kind (earlier frames, notices of other kinds included, skipped)."""
    while (frame := await socket.receive_type("notice", timeout=6))["kind"] != kind:
        pass
    return frame


async def until_closed(socket: Sock) -> int:
    code = await socket.close_code()
    socket.open = False
    return code


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_no_frame_shows_an_email_or_a_user_id(room_sockets: None, settings: Any) -> None:
    settings.ROOM_GRACE_MINUTES = 0  # the `ending` meeting's room closes when it ends
    settings.ROOM_MESSAGES_PER_WINDOW = 50
    world = await db(build_room)
    people, members, meeting = world.people, world.members, world.meeting
    member_id = {persona: membership.public_id for persona, membership in members.items()}

    closing = await enter(people["member"], world.ending)
    fac = await enter(people["facilitator"], meeting)
    own = await enter(people["owner"], meeting)
    me = await enter(people["member"], meeting)
    peer = await enter(people["peer"], meeting)
    former = await enter(people["former"], meeting)
    banned = await enter(people["banned"], meeting)
    suspended = await enter(people["suspended"], meeting)
    waiting = await enter(people["waiting"], meeting)
    gone = await enter(people["gone"], meeting)

    # Presence, pong, hands, the floor, crosstalk.
    await ask(me, {"type": "ping"}, "pong")
    await ask(me, {"type": "hand", "raised": True}, "hands")
    await ask(fac, {"type": "phase", "phase": "shares", "no_crosstalk": True}, "room")
    await ask(peer, {"type": "send", "client_id": "x-1", "body": "Me too!"}, "error", code="crosstalk")
    await ask(fac, {"type": "give_floor", "member": member_id["member"]}, "room")
    await say(me, "This is my share.")
    await ask(fac, {"type": "end_share"}, "room")
    await ask(fac, {"type": "phase", "phase": "open_discussion"}, "room")

    # The log: messages, reactions, deletions; a report, a block and a skip.
    peer_seq = await say(peer, "Thank you for sharing.")
    await ask(me, {"type": "react", "seq": peer_seq, "reaction": "thanks", "on": True}, "reaction")
    await say(former, "I may not stay long.")
    await ask(
        me,
        {"type": "report", "seq": peer_seq, "category": "harassment", "details": "Unkind.", "wish": "inform"},
        "reported",
    )
    await fac.receive_type("reports")
    await ask(me, {"type": "block", "member": member_id["peer"], "on": True}, "blocked", on=True)
    await say(peer, "Hello again.")
    await me.receive_type("skip")
    await ask(me, {"type": "block", "member": member_id["peer"], "on": False}, "blocked", on=False)
    await say(peer, "This sounds like a scam.")  # a flag word: a report by itself
    await own.receive_type("reports")
    await say(me, "Some days I feel hopeless.")  # a crisis word
    await notice(me, "crisis")
    await fac.receive_type("alert")
    mine = await say(me, "A message I take back.")
    await ask(me, {"type": "delete", "seq": mine}, "deletion")
    await ask(me, {"type": "resume", "last_seq": 0}, "caught_up")

    # Errors for bad frames and rules saying no.
    await ask(me, "not json", "error", code="malformed")
    await ask(me, {"type": "dance"}, "error", code="unknown_type")
    await ask(me, {"type": "send", "body": "no client id"}, "error", code="invalid")
    await ask(me, {"type": "send", "client_id": "e-1", "body": "x" * 9000}, "error", code="frame_too_large")
    await ask(me, {"type": "send", "client_id": "e-2", "body": "   "}, "error", code="empty_message")
    await ask(me, {"type": "send", "client_id": "e-3", "body": "y" * 2001}, "error", code="message_too_long")
    await ask(me, {"type": "send", "client_id": "e-4", "body": "You idiot"}, "error", code="watched_word")
    await ask(me, {"type": "delete", "seq": mine}, "error", code="already_deleted")
    await ask(me, {"type": "delete", "seq": peer_seq}, "error", code="not_allowed")
    await ask(
        me, {"type": "mute", "member": member_id["peer"], "minutes": 5, "reason": "x"}, "error", code="not_facilitator"
    )
    await ask(me, {"type": "report", "seq": 9999, "category": "spam"}, "error", code="not_found")
    await ask(fac, {"type": "open"}, "error", code="already_open")
    await ask(fac, {"type": "slow_mode", "seconds": 30}, "room")
    await say(waiting, "Hello, first time.")
    await ask(waiting, {"type": "send", "client_id": "s-2", "body": "And again."}, "error", code="slow_mode")
    await ask(fac, {"type": "slow_mode", "seconds": 0}, "room")
    settings.ROOM_MESSAGES_PER_WINDOW = 1
    for attempt in range(3):
        await waiting.send({"type": "send", "client_id": f"r-{attempt}", "body": f"Quickly {attempt}"})
        answer = await waiting.next_frame()
        while answer["type"] not in ("ack", "error"):
            answer = await waiting.next_frame()
        if answer["type"] == "error":
            assert answer["code"] == "rate_limited", answer
            break
    else:
        pytest.fail("no rate_limited error")
    settings.ROOM_MESSAGES_PER_WINDOW = 50

    # Facilitator controls from the room: mute, unmute, remove.
    await fac.send({"type": "mute", "member": member_id["member"], "minutes": 5, "reason": "Please pause."})
    await notice(me, "muted")
    await ask(me, {"type": "send", "client_id": "mu-1", "body": "Can I?"}, "error", code="muted")
    await fac.send({"type": "unmute", "member": member_id["member"]})
    await notice(me, "unmuted")
    await fac.send({"type": "remove", "member": member_id["waiting"], "reason": "Not today."})
    await notice(waiting, "removed")
    assert await until_closed(waiting) == 4403

    # Decisions from the moderation queue, on open sockets.
    def decide(persona: str, kind: str, **options: Any) -> None:
        moderation.do_sanction(
            moderator_of(people["facilitator"]), member_id[persona], kind, reason="Per the guidelines.", **options
        )

    await db(decide, "member", "warn")
    await notice(me, "warning")
    await db(decide, "member", "timeout", minutes=10)
    await notice(me, "timeout")
    await ask(me, {"type": "send", "client_id": "t-1", "body": "Still here?"}, "error", code="timed_out")
    await db(decide, "peer", "delete_message", meeting_public_id=meeting.public_id, message_seq=peer_seq)
    await me.receive_type("deletion")
    await db(decide, "former", "remove", meeting_public_id=meeting.public_id)
    await notice(former, "removed")
    await db(decide, "suspended", "suspend", ends_at=timezone.now() + timedelta(days=2))
    await notice(suspended, "suspended")
    await db(decide, "banned", "ban")
    await notice(banned, "ban")
    # Someone deletes their account: their socket is told and closed (not in docs/protocol.md
    # yet, so its notice kind is not required below; its frames are checked all the same).
    await say(gone, "I have to go for good.")
    await db(lifecycle.do_delete_account, people["gone"])
    for socket in (former, suspended, banned, gone):
        assert await until_closed(socket) == 4403

    # The person who wrote in the room leaves the group: "former member" in a catch-up.
    await db(group_actions.do_leave_group, await db(Membership.objects.get, pk=members["former"].pk))
    caught = await enter(people["member"], meeting, resume=None)
    await caught.send({"type": "resume", "last_seq": 0})
    log = []
    while (frame := await caught.receive())["type"] != "caught_up":
        log.append(frame)
    assert any(frame.get("handle") == "former member" for frame in log), log
    await caught.close()

    # Refusals on connect, each an error frame.
    await refused(people["outsider"], meeting, "not_found")
    await refused(people["waiting"], meeting, "removed")
    await refused(people["suspended"], meeting, "suspended")
    await refused(people["member"], world.later, "not_open")
    await refused(people["member"], world.cancelled, "cancelled")
    await refused(people["member"], world.past, "ended")
    await refused(people["quiet"], meeting, "no_rsvp")
    await ask(fac, {"type": "lock", "locked": True}, "room")
    await refused(people["quiet"], meeting, "locked")
    await ask(fac, {"type": "lock", "locked": False}, "room")
    extra = [await enter(people["member"], meeting, resume=None) for _ in range(2)]
    await refused(people["member"], meeting, "too_many_connections")
    for socket in extra:
        await socket.close()
    await db(SupportGroup.objects.filter(pk=world.group.pk).update, allow_drop_ins=True)
    await (await enter(people["quiet"], world.tiny)).close()
    await refused(people["peer"], world.tiny, "full")
    await db(SupportGroup.objects.filter(pk=world.group.pk).update, allow_drop_ins=False)

    # A facilitator early in a room that is not open yet; then opening it.
    early = await enter(people["facilitator"], world.later)
    await ask(early, {"type": "send", "client_id": "o-1", "body": "Anyone?"}, "error", code="closed")
    await ask(early, {"type": "open"}, "room")

    # The meeting's time is over in one room; the facilitator ends the other.
    await notice(closing, "closed")
    assert await until_closed(closing) == 4000
    await fac.send({"type": "end", "reason": "Thank you all."})
    for socket in (fac, own, me, peer):
        assert await until_closed(socket) == 4000
    await early.close()

    # Everything received, by members and facilitators, names nobody.
    frames = [json.loads(text) for text in FRAMES]
    users = list(people.values())
    problems = [f"{found}: {text}" for text in FRAMES if (found := leaks(text, users=users))]
    problems += [text for text in FRAMES if forbidden_keys(json.loads(text))]
    assert not problems, "frames that identify people:\n" + "\n".join(problems)
    assert len(frames) > 150
    assert leaks(json.dumps({"type": "x", "member": str(PK_BASE + 1)}), users=users) == [f"user id {PK_BASE + 1}"]
    assert forbidden_keys({"type": "x", "people": [{"user_id": 1}]})

    # …and the frames seen cover everything docs/protocol.md documents.
    types, codes = documented()
    seen = {frame["type"] for frame in frames}
    assert types - seen == set(), f"documented frame types this test never saw: {types - seen}"
    kinds = {frame["kind"] for frame in frames if frame["type"] == "notice"}
    assert NOTICE_KINDS - kinds == set(), f"notice kinds this test never saw: {NOTICE_KINDS - kinds}"
    errors = {frame["code"] for frame in frames if frame["type"] == "error"}
    assert codes - errors == set(), f"documented error codes this test never saw: {codes - errors}"
    assert len(types) >= 15 and len(codes) >= 25

    # Emails sent meanwhile (notices of decisions) name only their recipient.
    await db(check_emails, users)


FORBIDDEN_KEYS = {"user", "user_id", "email", "id", "pk"}


def forbidden_keys(value: object) -> bool:
    if isinstance(value, dict):
        return bool(FORBIDDEN_KEYS & set(value)) or any(forbidden_keys(item) for item in value.values())
    if isinstance(value, list):
        return any(forbidden_keys(item) for item in value)
    return False
