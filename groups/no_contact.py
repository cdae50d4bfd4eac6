"""The no-contact list: people a member must never share a group with.

A member (the *lister*) lists email addresses. Only `email_key(address)` is stored: an
HMAC-SHA256, under settings.NO_CONTACT_KEY, of the address stripped and case-folded. The
address itself is never stored, logged or shown again, so matching compares keys in Python:

- the lister looks at or joins group G: the keys of G's active members' emails (one query,
  N HMACs) intersected with the lister's own keys (one query);
- someone (the *listed* person) becomes a member of G or asks to: their key, once, and the
  entries with that key whose owners are active in G (one indexed query). This runs for every
  join, match or not, so the listed person's request does the same work either way.

Who is told what (docs/privacy.md, "No-contact list"):

- the lister: privately, in their notice centre (always, whatever their in-app settings) and
  by email as they chose; discreet emails name nothing. They learn the group, never the
  listed person's handle there.
- the group's facilitators and owners: an alert naming the two handles in the group (so they
  can keep the two apart), never an email. Neither person of the pair is among them; when
  nobody else runs the group, site staff get it.
- the listed person: nothing. Their pages, messages, notices and emails are the same as for
  anyone else's join.

Rules and the alerts they send live here; `groups.actions` calls them from each way into a
group (open join, invite link, request, approval) and from adding an entry.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.actions import do_notify
from accounts.models import Notice, NoticeKind, User
from groups.models import Membership, NoContactEntry, SupportGroup
from lib.errors import ActionError
from lib.ratelimit import allow

MAX_ENTRIES = 50
MAX_LABEL_LENGTH = 40
MAX_EMAIL_LENGTH = 254
# Additions per member per day: enough for anyone's real list, too few to try address after
# address to find out who is in which group.
ADDS_PER_DAY = 20
DAY = 24 * 60 * 60


@dataclass(frozen=True)
class Conflict:
    """`listed` is on `lister`'s no-contact list, and both are in (or asking to join) a group."""

    lister: Membership
    listed: Membership


# --- Keys and input ----------------------------------------------------------------------


def normalise_email(address: str) -> str:
    """The form an address is hashed in: surrounding space removed, any letter case."""
    return address.strip().casefold()


def email_key(address: str) -> str:
    """The keyed hash stored instead of an address (64 hex characters)."""
    message = normalise_email(address).encode()
    return hmac.new(settings.NO_CONTACT_KEY.encode(), message, hashlib.sha256).hexdigest()


def check_email(raw: str) -> str:
    """The address if it can be listed, else ActionError saying what is wrong with it. The
    messages never repeat the address."""
    address = raw.strip()
    if not address:
        raise ActionError(_("Enter the email address of the person you want to avoid."), field="email")
    if len(address) > MAX_EMAIL_LENGTH:
        raise ActionError(
            _("This is too long for an email address (at most %(max)s characters).") % {"max": MAX_EMAIL_LENGTH},
            field="email",
        )
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in address):
        raise ActionError(_("An email address can't contain spaces or line breaks."), field="email")
    try:
        validate_email(address)
    except ValidationError:
        raise ActionError(
            _("This is not a complete email address. It needs a name, an @ and a domain, like name@example.org."),
            field="email",
        ) from None
    return address


def check_label(raw: str) -> str:
    """The private note, tidied; it must not hold an address (it is stored as typed)."""
    label = " ".join(raw.split())
    if len(label) > MAX_LABEL_LENGTH:
        raise ActionError(_("Keep the note to %(max)s characters or fewer.") % {"max": MAX_LABEL_LENGTH}, field="label")
    if "@" in label:
        raise ActionError(
            _(
                "Leave email addresses out of the note: it is kept as you type it. "
                "Use initials or a word only you understand."
            ),
            field="label",
        )
    return label


def check_can_add(owner: User, key: str) -> None:
    """ActionError if this key can't join the owner's list (own address, already there, full)."""
    if hmac.compare_digest(key, email_key(owner.email)):
        raise ActionError(_("That is the address of your own account."), field="email")
    entries = NoContactEntry.objects.filter(owner=owner)
    if entries.filter(email_key=key).exists():
        raise ActionError(_("This address is already on your list."), field="email")
    if entries.count() >= MAX_ENTRIES:
        raise ActionError(
            _("Your list is full (%(max)s people). Remove someone you no longer need on it to add another.")
            % {"max": MAX_ENTRIES}
        )
    if not allow(f"no-contact-add:{owner.pk}", ADDS_PER_DAY, DAY):
        raise ActionError(
            _("You have added %(max)s people today, the most in one day. Please add more tomorrow.")
            % {"max": ADDS_PER_DAY}
        )


# --- Matching ------------------------------------------------------------------------------


def keys_of(user: User) -> set[str]:
    return set(NoContactEntry.objects.filter(owner=user).values_list("email_key", flat=True))


def _active_in(group: SupportGroup) -> QuerySet[Membership]:
    return Membership.objects.filter(group=group, status=Membership.Status.ACTIVE).select_related("user", "group")


def listed_members(user: User, group: SupportGroup) -> list[Membership]:
    """Active members of `group` on `user`'s list. No list: one query, no hashing."""
    keys = keys_of(user)
    if not keys:
        return []
    return [member for member in _active_in(group).exclude(user=user) if email_key(member.user.email) in keys]


def listers_of(person: User, group: SupportGroup) -> list[Membership]:
    """Active members of `group` who have `person` on their list (one indexed query)."""
    key = email_key(person.email)
    return list(_active_in(group).exclude(user=person).filter(user__no_contact_entries__email_key=key))


def shared_with(owner: User, key: str) -> list[Conflict]:
    """Where the owner and the person behind `key` are both active members (two queries)."""
    mine = {membership.group_id: membership for membership in _active_in_any(owner)}
    if not mine:
        return []
    others = (
        Membership.objects.filter(group_id__in=mine, status=Membership.Status.ACTIVE)
        .exclude(user=owner)
        .select_related("user", "group")
    )
    return [Conflict(mine[other.group_id], other) for other in others if email_key(other.user.email) == key]


def _active_in_any(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user, status=Membership.Status.ACTIVE).select_related("group", "user")


def request_conflicts(group: SupportGroup, requests: list[Membership], viewer: User) -> dict[int, list[Conflict]]:
    """For the join-request queue: each pending request's conflicts with active members, both
    ways, in three queries however many requests and members. A conflict whose listed person
    is `viewer` is left out: the listed person is never shown a match."""
    if not requests:
        return {}
    found: dict[int, list[Conflict]] = defaultdict(list)
    by_user = {request.user_id: request for request in requests}
    keys_by_owner: dict[int, set[str]] = defaultdict(set)
    for owner_id, key in NoContactEntry.objects.filter(owner_id__in=by_user).values_list("owner_id", "email_key"):
        keys_by_owner[owner_id].add(key)
    members = list(_active_in(group))
    if keys_by_owner:
        member_keys = [(member, email_key(member.user.email)) for member in members]
        for request in requests:
            keys = keys_by_owner.get(request.user_id, set())
            found[request.pk] += [
                Conflict(request, member)
                for member, key in member_keys
                if key in keys and member.user_id != request.user_id
            ]
    members_by_user = {member.user_id: member for member in members}
    request_keys = {email_key(request.user.email): request for request in requests}
    listers = NoContactEntry.objects.filter(
        email_key__in=request_keys,
        owner__memberships__group=group,
        owner__memberships__status=Membership.Status.ACTIVE,
    ).values_list("owner_id", "email_key")
    for owner_id, key in listers:
        lister = members_by_user.get(owner_id)
        if lister is not None:
            found[request_keys[key].pk].append(Conflict(lister, request_keys[key]))
    return {
        request_id: visible
        for request_id, conflicts in found.items()
        if (visible := [conflict for conflict in conflicts if conflict.listed.user_id != viewer.pk])
    }


# --- Telling people ------------------------------------------------------------------------

# What a discreet email says: nothing about groups, lists or people.
DISCREET_TEXT = gettext_lazy("Something on your account needs your attention. Open the link to read it.")


def tell_lister(user: User, group: SupportGroup) -> Notice:
    """The lister's private notice: someone on their list is in their group. It is shown in
    their notice centre even if they turned that kind off there: they asked for this warning."""
    with translation.override(user.language):
        text = _(
            "Someone on your no-contact list is now a member of %(group)s. They have not been told. "
            "The group's facilitators have been alerted privately so they can help keep you apart. "
            "You can leave the group at any time."
        ) % {"group": group.name}
        discreet = str(DISCREET_TEXT)
    notice = do_notify(
        user,
        NoticeKind.MODERATION,
        text,
        url=reverse("groups:detail", args=[group.slug]),
        group=group,
        discreet_text=discreet,
    )
    if not notice.in_app:
        Notice.objects.filter(pk=notice.pk).update(in_app=True)
        notice.in_app = True
    return notice


def _alert_text(conflict: Conflict, situation: str) -> str:
    names = {
        "group": conflict.listed.group.name,
        "lister": conflict.lister.handle,
        "listed": conflict.listed.handle,
    }
    if situation == "request":
        return (
            _(
                "A join request in %(group)s: %(listed)s is on the no-contact list of %(lister)s, so the two "
                "must not share the group. The request is flagged in the queue. %(listed)s has not been "
                "told and must never learn of it."
            )
            % names
        )
    if situation == "looked":
        return (
            _(
                "Someone who is not a member of %(group)s was about to join it, and %(listed)s is on their "
                "no-contact list. They were warned and have not joined. %(listed)s has not been told and "
                "must never learn of it. A no-contact list can be misused to look for someone: please "
                "keep an eye on %(listed)s's safety."
            )
            % names
        )
    return (
        _(
            "%(listed)s is on the no-contact list of %(lister)s, and both are now members of %(group)s. "
            "Please help keep them apart, and talk to site staff if you need to. %(lister)s has been "
            "told privately; %(listed)s has not been told and must never learn of it."
        )
        % names
    )


def alert_runners(group: SupportGroup, conflicts: Iterable[Conflict], situation: str) -> int:
    """A private alert per conflict to the group's present facilitators and owners, except
    either person of any pair; to site staff when nobody else runs the group. Returns how many
    alerts were made."""
    conflicts = list(conflicts)
    if not conflicts:
        return 0
    involved = {conflict.lister.user_id for conflict in conflicts} | {conflict.listed.user_id for conflict in conflicts}
    runners = [
        membership.user
        for membership in _active_in(group).filter(role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER])
        if membership.user_id not in involved and not membership.suspended_now()
    ]
    recipients = runners or list(User.objects.filter(is_staff=True, is_active=True).exclude(pk__in=involved))
    page = "groups:requests" if situation == "request" else "groups:members"
    url = reverse(page, args=[group.slug])
    made = 0
    for recipient in recipients:
        for conflict in conflicts:
            with translation.override(recipient.language):
                text = _alert_text(conflict, situation)
                discreet = str(DISCREET_TEXT)
            do_notify(recipient, NoticeKind.MODERATION, text, url=url, group=group, discreet_text=discreet)
            made += 1
    return made


def after_joining(membership: Membership, *, listed: list[Membership] | None = None, warned: bool = False) -> None:
    """Call when `membership` has just become active or pending, inside its transaction.

    `listed`: the joiner's own matches if already worked out; `warned`: the joiner saw and
    confirmed the warning on the join page, so needs no notice about their own list."""
    group, user = membership.group, membership.user
    if listed is None:
        listed = listed_members(user, group)
    conflicts = [Conflict(membership, member) for member in listed]
    listers = listers_of(user, group)
    conflicts += [Conflict(lister, membership) for lister in listers]
    if not conflicts:
        return
    if membership.status != Membership.Status.ACTIVE:
        alert_runners(group, conflicts, "request")
        return
    for lister in listers:
        tell_lister(lister.user, group)
    if listed and not warned:
        tell_lister(user, group)
    alert_runners(group, conflicts, "joined")


@transaction.atomic
def note_warning_shown(user: User, group: SupportGroup, listed: list[Membership]) -> None:
    """Someone not in `group` was shown the no-contact warning on its join page. Its
    facilitators hear of it once a day per person and group: a list could be used to find out
    whether someone is in a group, and this makes that visible to the people who run it."""
    if not listed or not allow(f"no-contact-looked:{user.pk}:{group.pk}", 1, DAY):
        return
    visitor = Membership(group=group, user=user, handle="")
    alert_runners(group, [Conflict(visitor, member) for member in listed], "looked")
