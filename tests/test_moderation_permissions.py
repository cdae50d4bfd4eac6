"""Who may open which moderation URL: the permission matrix, written out as the spec.

Every URL name in moderation/urls.py, by GET and POST, for each persona of one listed group
(see `build_world`). Each cell is what the response must be:

    "200", "400", "403", "404", "405"  that status
    "login"                            302 to the login page, with ?next= this URL
    "→member", "→report", "→queue",    302 to that moderation page (the reported member's page,
    "→words", "→standing", "→console", the report in the URL, …)
    "→site_words"
    a trailing "*"                     …and the action took effect (checked specifically for
                                       each endpoint in EFFECTS). Without "*" nothing in the
                                       database changed: no report, note, decision, appeal,
                                       word, block, membership, suspension or notice.

The rules: member pages (a member's profile, reporting and blocking them) are for the group's
active members; the queue, reports, decisions, watched words and lifting are for its
facilitators, owners and staff; the audit log for owners and staff; the site console, site
words, site audit, site appeals and account suspensions for staff only. A wrong method answers
405 before anything is looked up. A report or an appeal the viewer may not handle answers 404,
exactly as one that does not exist: the person reported never learns a report about them
exists, and a report about a facilitator is hidden from every facilitator (only owners and staff
handle it). The moderator who made a decision can't decide its appeal (404).

Every refusal (403) says in words why; none shows the reporter's handle. Every cell also checks
that the audit log's existing rows are untouched: pages only ever add to it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import moderation.urls
from accounts.models import Notice, User
from groups.actions import access_group
from groups.models import Membership, SupportGroup
from moderation import actions
from moderation.models import Appeal, AuditEntry, Block, Report, ReportNote, Sanction, WatchedWord
from tests.conftest import add_member, make_group, make_user

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "outsider",  # signed in, no membership anywhere near
    "member",  # alice, an ordinary member
    "reporter",  # filed the reports in this world
    "reported",  # the member reported (and sanctioned, and appealing)
    "facilitator",  # bob
    "co_facilitator",  # a second facilitator of the same group
    "other_facilitator",  # facilitates another group, not a member here
    "owner",  # owen
    "staff",  # dana
    "banned",  # banned from this group
    "suspended",  # suspended from this group for a week
)

HANDLES = {
    "member": "Quiet Harbor",
    "reporter": "Gentle Willow",
    "reported": "Distant Ember",
    "facilitator": "Calm Heron",
    "co_facilitator": "Silver Brook",
    "owner": "Steady Lantern",
    "banned": "Clear Tide",
    "suspended": "Patient Orchard",
}
REASON = "Repeated insults in the open discussion"
NOTE = "Spoke with them after the meeting"
NEW_PHRASE = "worthless"
APPEAL_TEXT = "I was quoting someone else, not insulting anyone."
THE_GENERIC_403 = "This page isn't open to your account."

# fmt: off
# Persona order in every row:
#  anon     outsider member  reporter reported  facil    co_fac   other_fac owner    staff    banned  suspended
EXPECTED: dict[tuple[str, str], tuple[str, ...]] = {
    # --- Member pages --------------------------------------------------------------------------------
    ("member", "GET"):
    ("login", "403",   "200",   "200",   "200",    "200",   "200",   "403",    "200",   "200",   "403",  "403"),
    ("member", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("report_member", "GET"):
    ("login", "403",   "200",   "200",   "200",    "200",   "200",   "403",    "200",   "200",   "403",  "403"),
    # The reporter already has an open report about this member; nobody can report themselves;
    # staff have no membership to report from.
    ("report_member", "POST"):
    ("login", "403",   "→member*", "400", "400",   "→member*", "→member*", "403", "→member*", "403", "403", "403"),
    ("block", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    # Blocking oneself is refused with a message on the member's page.
    ("block", "POST"):
    ("login", "403",   "→member*", "→member*", "→member", "→member*", "→member*", "403", "→member*", "403", "403",
     "403"),
    # --- Acting on a member --------------------------------------------------------------------------
    ("sanction", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("sanction", "POST"):
    ("login", "403",   "403",   "403",   "403",    "→member*", "→member*", "403", "→member*", "→member*", "403", "403"),
    ("suspend_account", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("suspend_account", "POST"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "→member*", "403", "403"),
    ("lift", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("lift", "POST"):
    ("login", "403",   "403",   "403",   "403",    "→member*", "→member*", "403", "→member*", "→member*", "403", "403"),
    # --- The queue -----------------------------------------------------------------------------------
    ("queue", "GET"):
    ("login", "403",   "403",   "403",   "403",    "200",   "200",   "403",    "200",   "200",   "403",  "403"),
    ("queue", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    # A report about an ordinary member (POST: a private note).
    ("report", "GET"):
    ("login", "403",   "403",   "403",   "403",    "200",   "200",   "403",    "200",   "200",   "403",  "403"),
    ("report", "POST"):
    ("login", "403",   "403",   "403",   "403",    "→report*", "→report*", "403", "→report*", "→report*", "403", "403"),
    # A report about bob, who facilitates: hidden from him and from every other facilitator.
    ("report_about_facilitator", "GET"):
    ("login", "403",   "403",   "403",   "403",    "404",   "404",   "403",    "200",   "200",   "403",  "403"),
    ("report_about_facilitator", "POST"):
    ("login", "403",   "403",   "403",   "403",    "404",   "404",   "403",    "→report*", "→report*", "403", "403"),
    # Deciding the appeal against bob's decision: anyone who handles the group but bob.
    ("appeal", "GET"):
    ("login", "403",   "403",   "403",   "403",    "404",   "200",   "403",    "200",   "200",   "403",  "403"),
    ("appeal", "POST"):
    ("login", "403",   "403",   "403",   "403",    "404",   "→queue*", "403", "→queue*", "→queue*", "403", "403"),
    ("words", "GET"):
    ("login", "403",   "403",   "403",   "403",    "200",   "200",   "403",    "200",   "200",   "403",  "403"),
    ("words", "POST"):
    ("login", "403",   "403",   "403",   "403",    "→words*", "→words*", "403", "→words*", "→words*", "403", "403"),
    ("audit", "GET"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "200",   "200",   "403",  "403"),
    ("audit", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    # --- One's own standing --------------------------------------------------------------------------
    ("standing", "GET"):
    ("login", "200",   "200",   "200",   "200",    "200",   "200",   "200",    "200",   "200",   "200",  "200"),
    ("standing", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("file_appeal", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    # Only the person the decision is about can appeal it; anyone else is told there is no such
    # decision about them (the same words as for a decision that does not exist).
    ("file_appeal", "POST"):
    ("login", "→standing", "→standing", "→standing", "→standing*", "→standing", "→standing", "→standing",
     "→standing", "→standing", "→standing", "→standing"),
    # --- Site staff ----------------------------------------------------------------------------------
    ("console", "GET"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "200",   "403",  "403"),
    ("console", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("site_words", "GET"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "200",   "403",  "403"),
    ("site_words", "POST"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "→site_words*", "403", "403"),
    ("site_audit", "GET"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "200",   "403",  "403"),
    ("site_audit", "POST"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("site_appeal", "GET"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "200",   "403",  "403"),
    ("site_appeal", "POST"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "→console*", "403", "403"),
    ("lift_suspension", "GET"):
    ("405",   "405",   "405",   "405",   "405",    "405",   "405",   "405",    "405",   "405",   "405",  "405"),
    ("lift_suspension", "POST"):
    ("login", "403",   "403",   "403",   "403",    "403",   "403",   "403",    "403",   "→console*", "403", "403"),
}
# fmt: on

# The matrix has two rows for the "report" URL: about a member and about a facilitator.
URL_NAME = {"report_about_facilitator": "report"}


# --- The world ------------------------------------------------------------------------------


@dataclass
class World:
    group: SupportGroup
    people: dict[str, User]
    memberships: dict[str, Membership]
    member_report: Report  # reporter → reported
    facilitator_report: Report  # reporter → bob
    timeout: Sanction  # bob timed the reported member out; they appealed
    appeal: Appeal
    warning: Sanction  # bob warned the reported member; not appealed yet
    site_suspension: Sanction  # another staff member suspended someone's account; appealed
    site_appeal: Appeal
    word: WatchedWord

    def user(self, persona: str) -> User | None:
        return self.people.get(persona)


def moderator(user: User, group: SupportGroup) -> actions.Moderator:
    found = actions.moderator_for(user, access_group(user, group.slug))
    assert found is not None
    return found


def build_world(*, listed: bool = True) -> World:
    people = {
        "outsider": make_user("charlie@example.com"),
        "member": make_user("alice@example.com"),
        "reporter": make_user("rita@example.com"),
        "reported": make_user("sam@example.com"),
        "facilitator": make_user("bob@example.com"),
        "co_facilitator": make_user("cora@example.com"),
        "other_facilitator": make_user("frank@example.com"),
        "owner": make_user("owen@example.com"),
        "staff": make_user("dana@example.com", is_staff=True, is_superuser=True),
        "banned": make_user("bart@example.com"),
        "suspended": make_user("suki@example.com"),
    }
    group = make_group(is_listed=listed)
    roles = {"owner": "owner", "facilitator": "facilitator", "co_facilitator": "facilitator"}
    memberships = {
        persona: add_member(group, people[persona], handle, role=roles.get(persona, "member"))
        for persona, handle in HANDLES.items()
    }
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    add_member(other, people["other_facilitator"], "Golden Sparrow", role="facilitator")

    bob, owen = moderator(people["facilitator"], group), moderator(people["owner"], group)
    reported = memberships["reported"].public_id
    actions.do_sanction(bob, memberships["banned"].public_id, "ban", reason="Threats to another member")
    actions.do_sanction(
        owen,
        memberships["suspended"].public_id,
        "suspend",
        reason="Shared another member's workplace",
        ends_at=timezone.now() + timedelta(days=7),
    )
    member_report = actions.do_report_member(
        memberships["reporter"], reported, category="harassment", details="He mocks my story.", wish="keep_away"
    )
    facilitator_report = actions.do_report_member(
        memberships["reporter"],
        memberships["facilitator"].public_id,
        category="harassment",
        details="The facilitator keeps cutting me off.",
        wish="inform",
    )
    timeout = actions.do_sanction(bob, reported, "timeout", reason=REASON, minutes=24 * 60)
    appeal = actions.do_appeal(people["reported"], timeout.public_id, APPEAL_TEXT)
    warning = actions.do_sanction(bob, reported, "warn", reason="Please keep to the guidelines")
    word = actions.do_add_watched_word(bob, None, "idiot", "flag")

    other_staff = make_user("sol@example.com", is_staff=True)
    suspended_account = make_user("eve@example.com")
    site_suspension = actions.do_suspend_account(other_staff, suspended_account, reason="Spam in many groups")
    site_appeal = actions.do_appeal(suspended_account, site_suspension.public_id, "It was not spam.")
    return World(
        group,
        people,
        memberships,
        member_report,
        facilitator_report,
        timeout,
        appeal,
        warning,
        site_suspension,
        site_appeal,
        word,
    )


def _group_url(name: str, *extra: Callable[[World], str]) -> Callable[[World], str]:
    return lambda world: reverse(f"moderation:{name}", args=[world.group.slug, *(part(world) for part in extra)])


def _reported(world: World) -> str:
    return world.memberships["reported"].public_id


URLS: dict[str, Callable[[World], str]] = {
    "member": _group_url("member", _reported),
    "report_member": _group_url("report_member", _reported),
    "block": _group_url("block", _reported),
    "sanction": _group_url("sanction", _reported),
    "suspend_account": _group_url("suspend_account", _reported),
    "queue": _group_url("queue"),
    "report": _group_url("report", lambda world: world.member_report.public_id),
    "report_about_facilitator": _group_url("report", lambda world: world.facilitator_report.public_id),
    "lift": _group_url("lift", lambda world: world.timeout.public_id),
    "appeal": _group_url("appeal", lambda world: world.timeout.public_id),
    "words": _group_url("words"),
    "audit": _group_url("audit"),
    "standing": lambda world: reverse("moderation:standing"),
    "file_appeal": lambda world: reverse("moderation:file_appeal", args=[world.warning.public_id]),
    "console": lambda world: reverse("moderation:console"),
    "site_words": lambda world: reverse("moderation:site_words"),
    "site_audit": lambda world: reverse("moderation:site_audit"),
    "site_appeal": lambda world: reverse("moderation:site_appeal", args=[world.site_suspension.public_id]),
    "lift_suspension": lambda world: reverse("moderation:lift_suspension", args=[world.site_suspension.public_id]),
}

POST_DATA: dict[str, Callable[[World], dict[str, object]]] = {
    "report_member": lambda world: {"category": "threats", "wish": "inform", "details": "He said he knows my street."},
    "block": lambda world: {"on": "1"},
    "sanction": lambda world: {"kind": "warn", "reason": REASON},
    "suspend_account": lambda world: {"reason": REASON},
    "report": lambda world: {"action": "note", "body": NOTE},
    "report_about_facilitator": lambda world: {"action": "note", "body": NOTE},
    "lift": lambda world: {"reason": "Calmer now"},
    "appeal": lambda world: {"decision": "upheld", "note": "The guidelines are clear."},
    "words": lambda world: {"op": "add", "phrase": NEW_PHRASE, "action": "flag"},
    "file_appeal": lambda world: {f"{world.warning.public_id}-text": APPEAL_TEXT},
    "site_words": lambda world: {"op": "add", "phrase": NEW_PHRASE, "action": "block"},
    "site_appeal": lambda world: {"decision": "overturned", "note": "Checked: it was not spam."},
    "lift_suspension": lambda world: {"reason": "Mistaken identity"},
}


def _reported_user(world: World) -> User:
    return User.objects.get(pk=world.people["reported"].pk)


# The specific change each POST endpoint makes when it is allowed ("*" cells).
EFFECTS: dict[str, Callable[[World, User | None], bool]] = {
    "report_member": lambda world, user: Report.objects.filter(
        reporter__user=user, subject=world.memberships["reported"], category="threats"
    ).exists(),
    "block": lambda world, user: Block.objects.filter(
        blocker__user=user, blocked=world.memberships["reported"]
    ).exists(),
    "sanction": lambda world, user: (
        Sanction.objects.filter(
            actor=user, membership=world.memberships["reported"], kind="warn", reason=REASON
        ).exists()
        and AuditEntry.objects.filter(actor=user, action="sanction.warn", reason=REASON).exists()
    ),
    "suspend_account": lambda world, user: _reported_user(world).suspension_in_force(),
    "report": lambda world, user: ReportNote.objects.filter(
        report=world.member_report, author=user, body=NOTE
    ).exists(),
    "report_about_facilitator": lambda world, user: ReportNote.objects.filter(
        report=world.facilitator_report, author=user, body=NOTE
    ).exists(),
    "lift": lambda world, user: (
        Sanction.objects.get(pk=world.timeout.pk).lifted_at is not None
        and Membership.objects.get(pk=world.memberships["reported"].pk).timeout_until is None
    ),
    "appeal": lambda world, user: Appeal.objects.filter(
        pk=world.appeal.pk, status=Appeal.Status.UPHELD, decided_by=user
    ).exists(),
    "words": lambda world, user: WatchedWord.objects.filter(group=world.group, phrase=NEW_PHRASE).exists(),
    "file_appeal": lambda world, user: Appeal.objects.filter(sanction=world.warning, text=APPEAL_TEXT).exists(),
    "site_words": lambda world, user: WatchedWord.objects.filter(group__isnull=True, phrase=NEW_PHRASE).exists(),
    "site_appeal": lambda world, user: (
        Appeal.objects.filter(pk=world.site_appeal.pk, status=Appeal.Status.OVERTURNED, decided_by=user).exists()
        and not User.objects.get(pk=world.site_suspension.user_id).suspension_in_force()
    ),
    "lift_suspension": lambda world, user: not User.objects.get(pk=world.site_suspension.user_id).suspension_in_force(),
}


def database_state() -> tuple[object, ...]:
    """Everything a moderation URL could change."""
    return (
        list(
            Report.objects.order_by("pk").values_list(
                "pk", "status", "assignee_id", "escalated_at", "action_taken", "closed_at", "details"
            )
        ),
        list(ReportNote.objects.order_by("pk").values_list("pk", "body")),
        list(Sanction.objects.order_by("pk").values_list("pk", "kind", "membership_id", "ends_at", "lifted_at")),
        list(Appeal.objects.order_by("pk").values_list("pk", "status", "decided_by_id", "decision_note")),
        list(WatchedWord.objects.order_by("pk").values_list("pk", "group_id", "normalised", "action")),
        list(Block.objects.order_by("pk").values_list("pk", "blocker_id", "blocked_id")),
        list(
            Membership.objects.order_by("pk").values_list(
                "pk", "status", "role", "timeout_until", "suspended_until", "banned_until"
            )
        ),
        list(User.objects.order_by("pk").values_list("pk", "suspended_at", "suspension_ends_at")),
        AuditEntry.objects.count(),
        Notice.objects.count(),
    )


def audit_rows() -> list[tuple[object, ...]]:
    return list(
        AuditEntry.objects.order_by("pk").values_list(
            "pk", "group_id", "actor_id", "actor_label", "target_id", "target_label", "action", "reason", "created_at"
        )
    )


def text(response: HttpResponse) -> str:
    """What a person reads on the page: tags stripped, entities decoded, spaces collapsed."""
    raw = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(raw).split())


def outcome(response: HttpResponse, url: str, world: World) -> str:
    if response.status_code != 302:
        return str(response.status_code)
    location = response["Location"]
    login = reverse("accounts:login")
    if location.startswith(login + "?"):
        assert parse_qs(urlsplit(location).query)["next"] == [url], location
        return "login"
    slug = world.group.slug
    reports = (world.member_report, world.facilitator_report)
    targets = {
        reverse("moderation:member", args=[slug, _reported(world)]): "→member",
        reverse("moderation:queue", args=[slug]): "→queue",
        reverse("moderation:words", args=[slug]): "→words",
        reverse("moderation:standing"): "→standing",
        reverse("moderation:console"): "→console",
        reverse("moderation:site_words"): "→site_words",
        **{reverse("moderation:report", args=[slug, report.public_id]): "→report" for report in reports},
    }
    return targets.get(location, f"→{location}")


def client_as(client: Client, user: User | None) -> Client:
    if user is not None:
        client.force_login(user)
    return client


def _cells() -> list[object]:
    return [
        pytest.param(endpoint, method, persona, id=f"{endpoint}-{method}-{persona}")
        for endpoint, method in EXPECTED
        for persona in PERSONAS
    ]


@pytest.mark.parametrize(("endpoint", "method", "persona"), _cells())
def test_permission_matrix(client: Client, endpoint: str, method: str, persona: str) -> None:
    world = build_world()
    user = world.user(persona)
    client_as(client, user)
    url = URLS[endpoint](world)
    before, audit_before = database_state(), audit_rows()

    if method == "POST":
        response = client.post(url, POST_DATA.get(endpoint, lambda world: {})(world))
    else:
        response = client.get(url)

    changed = database_state() != before
    actual = outcome(response, url, world) + ("*" if changed else "")
    expected = EXPECTED[(endpoint, method)][PERSONAS.index(persona)]
    assert actual == expected, f"{method} {url} as {persona}: got {actual}, spec says {expected}"
    if expected.endswith("*"):
        assert EFFECTS[endpoint](world, user), f"{endpoint} answered {actual} but did not do its job"
    # The audit log only ever grows: no page changes or removes an entry.
    assert audit_rows()[: len(audit_before)] == audit_before
    page = text(response)
    if actual == "403":
        assert THE_GENERIC_403 not in page, "a refusal says why"
        assert re.search(
            r"Only (site staff|members of this group|this group.s (facilitators|owners))|You are suspended from", page
        ), page
    if actual in ("403", "404", "405"):
        # A refusal shows nothing of what it refuses: no reporter, no details.
        assert HANDLES["reporter"] not in page
        assert "mocks my story" not in page
        assert "cutting me off" not in page


# --- The matrix itself ------------------------------------------------------------------------


def test_matrix_covers_every_moderation_url_by_get_and_post() -> None:
    names = {pattern.name for pattern in moderation.urls.urlpatterns}
    assert {URL_NAME.get(endpoint, endpoint) for endpoint in URLS} == names
    assert set(EXPECTED) == {(endpoint, method) for endpoint in URLS for method in ("GET", "POST")}
    assert all(len(row) == len(PERSONAS) for row in EXPECTED.values())


def test_every_allowed_action_has_a_specific_check() -> None:
    starred = {endpoint for (endpoint, _method), row in EXPECTED.items() for cell in row if "*" in cell}
    assert starred == set(EFFECTS)


# --- Rules the matrix can't show by status alone ----------------------------------------------


@pytest.mark.parametrize("persona", ["anonymous", "outsider", "banned", "other_facilitator"])
def test_an_unlisted_groups_moderation_urls_answer_exactly_like_a_missing_groups(client: Client, persona: str) -> None:
    """Whoever may not see an unlisted group can't tell its moderation URLs from a missing group's."""
    world = build_world(listed=False)
    client_as(client, world.user(persona))
    slug = world.group.slug
    before = database_state()
    checked = 0
    for endpoint in URLS:
        url = URLS[endpoint](world)
        if f"/groups/{slug}/" not in url:
            continue
        missing_url = url.replace(f"/groups/{slug}/", "/groups/nosuch-circle/", 1)
        for method in ("GET", "POST"):
            data = POST_DATA.get(endpoint, lambda world: {})(world) if method == "POST" else {}
            send = client.post if method == "POST" else client.get
            hidden, missing = send(url, data), send(missing_url, data)
            answer = (hidden.status_code, hidden.get("Location", "").replace(slug, "nosuch-circle"))
            assert answer == (missing.status_code, missing.get("Location", "")), f"{method} {url} as {persona}"
            assert "Tuesday Circle" not in text(hidden)
            checked += 1
    assert checked == 2 * 12  # every group-scoped endpoint, by GET and POST
    assert database_state() == before


def test_a_second_facilitator_never_learns_of_a_report_about_a_fellow_facilitator(client: Client) -> None:
    world = build_world()
    for persona in ("facilitator", "co_facilitator"):
        user = world.user(persona)
        assert user is not None
        client_as(client, user)
        queue = text(client.get(reverse("moderation:queue", args=[world.group.slug]) + "?status=all"))
        assert "runs the group" not in queue
        assert "cutting me off" not in queue
        assert actions.open_report_count(user) == 1  # the report about the ordinary member only
        member_page = text(
            client.get(
                reverse("moderation:member", args=[world.group.slug, world.memberships["facilitator"].public_id])
            )
        )
        assert "Reports about this member" not in member_page
    for persona in ("owner", "staff"):
        user = world.user(persona)
        assert user is not None
        client_as(client, user)
        queue = text(client.get(reverse("moderation:queue", args=[world.group.slug]) + "?status=all"))
        assert "Calm Heron (runs the group)" in queue
        member_page = text(
            client.get(
                reverse("moderation:member", args=[world.group.slug, world.memberships["facilitator"].public_id])
            )
        )
        assert "Reports about this member" in member_page
