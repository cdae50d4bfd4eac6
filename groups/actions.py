"""Rules for groups and membership.

`access_*` fetch a group with the viewer's rights checked (shared by pages and, later, the
room's WebSocket consumer); `check_*` validate and raise ActionError with a message for the
person; `do_*` change state in one transaction.

Visibility: a listed group's page is public. An unlisted group exists, for anyone who is not
staff or a current member or applicant, only through an invite link: every other URL of it
answers 404, exactly as for a group that does not exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.actions import do_notify
from accounts.models import NoticeKind, User
from groups import no_contact
from groups.handles import clean_handle, handle_key, suggest_handle, validate_handle
from groups.models import HandleChange, Invite, Membership, NoContactEntry, SupportGroup, hash_invite_token
from lib.errors import ActionError
from lib.timefmt import show_time, zone

HANDLE_CHANGE_INTERVAL = timedelta(days=30)
VISIBLE_TO_SELF = (Membership.Status.ACTIVE, Membership.Status.PENDING)

Viewer = User | AnonymousUser


@dataclass(frozen=True)
class GroupAccess:
    """A group as one viewer may see it, with what they may do there."""

    group: SupportGroup
    membership: Membership | None  # the viewer's own row, whatever its status
    is_staff: bool

    @property
    def is_member(self) -> bool:
        """An active member, not suspended from the group just now."""
        return self.membership is not None and self.membership.is_active and not self.is_suspended

    @property
    def is_suspended(self) -> bool:
        return self.membership is not None and self.membership.suspended_now()

    @property
    def is_pending(self) -> bool:
        return self.membership is not None and self.membership.status == Membership.Status.PENDING

    @property
    def is_banned(self) -> bool:
        """Banned, and the ban has not run out."""
        return self.membership is not None and self.membership.ban_in_force()

    @property
    def can_see_members(self) -> bool:
        return self.is_member or self.is_staff

    @property
    def can_moderate(self) -> bool:
        """Facilitators, owners and staff: join requests, invites, handle history."""
        return self.is_staff or (self.is_member and self.membership is not None and self.membership.is_facilitator)

    @property
    def can_configure(self) -> bool:
        """Owners and staff: settings and roles."""
        return self.is_staff or (self.is_member and self.membership is not None and self.membership.is_owner)


def _membership_of(user: Viewer, group: SupportGroup) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(group=group, user=user).first()


def access_group(user: Viewer, slug: str) -> GroupAccess:
    """The group at `slug` if this viewer may know it exists, else Http404."""
    group = SupportGroup.objects.filter(slug=slug).first()
    if group is None:
        raise Http404("No such group")
    membership = _membership_of(user, group)
    access = GroupAccess(group, membership, bool(user.is_authenticated and user.is_staff))
    if not group.is_listed and not access.is_staff and (membership is None or membership.status not in VISIBLE_TO_SELF):
        raise Http404("No such group")
    return access


def require_member(access: GroupAccess) -> GroupAccess:
    if access.is_suspended and not access.is_staff and access.membership is not None:
        membership = access.membership
        until = show_time(membership.suspended_until, membership.user.timezone, access.group.timezone).local  # type: ignore[arg-type]
        message = _("You are suspended from this group until %(until)s.") % {"until": until}
        if membership.suspension_reason:
            message += " " + _("Reason: %(reason)s") % {"reason": membership.suspension_reason}
        raise PermissionDenied(message)
    if not (access.is_member or access.is_staff):
        raise PermissionDenied(_("Only members of this group can see this page."))
    return access


def require_facilitator(access: GroupAccess) -> GroupAccess:
    if not access.can_moderate:
        raise PermissionDenied(_("Only this group's facilitators can see this page."))
    return access


def require_owner(access: GroupAccess) -> GroupAccess:
    if not access.can_configure:
        raise PermissionDenied(_("Only this group's owners can see this page."))
    return access


def access_group_as_member(user: Viewer, slug: str) -> GroupAccess:
    return require_member(access_group(user, slug))


def access_group_as_facilitator(user: Viewer, slug: str) -> GroupAccess:
    return require_facilitator(access_group(user, slug))


def access_group_as_owner(user: Viewer, slug: str) -> GroupAccess:
    return require_owner(access_group(user, slug))


def can_create_groups(user: Viewer) -> bool:
    return bool(
        user.is_authenticated
        and (user.is_staff or settings.GROUP_CREATION_OPEN or user.has_perm("groups.add_supportgroup"))
    )


# --- Directory -------------------------------------------------------------------------


# Parts of the day, as local hours [start, end), for the "meets on" filter.
PARTS_OF_DAY = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22), "night": (22, 5)}


def _meets_at(weekday: int | None, part_of_day: str, viewer_timezone: str) -> Exists:
    """Groups with an upcoming meeting on that ISO weekday / part of day, in the viewer's zone."""
    from meetings.models import Meeting

    tz = zone(viewer_timezone)
    meetings = Meeting.objects.filter(
        group=OuterRef("pk"), status=Meeting.Status.SCHEDULED, starts_at__gt=timezone.now()
    ).annotate(local_weekday=ExtractIsoWeekDay("starts_at", tzinfo=tz), local_hour=ExtractHour("starts_at", tzinfo=tz))
    if weekday:
        meetings = meetings.filter(local_weekday=weekday)
    if part_of_day in PARTS_OF_DAY:
        start, end = PARTS_OF_DAY[part_of_day]
        hours = (
            Q(local_hour__gte=start, local_hour__lt=end)
            if start < end
            else Q(local_hour__gte=start) | Q(local_hour__lt=end)
        )
        meetings = meetings.filter(hours)
    return Exists(meetings)


def directory_groups(
    *,
    query: str = "",
    topic: str = "",
    language: str = "",
    join_policy: str = "",
    weekday: int | None = None,
    part_of_day: str = "",
    viewer_timezone: str = "UTC",
) -> QuerySet[SupportGroup]:
    """Listed groups matching the filters, with what a directory card shows, in few queries."""
    groups = SupportGroup.objects.filter(is_listed=True)
    if weekday or part_of_day:
        groups = groups.filter(_meets_at(weekday, part_of_day, viewer_timezone))
    if query:
        groups = groups.filter(Q(name__icontains=query) | Q(description__icontains=query))
    if topic:
        groups = groups.filter(topics__slug=topic)
    if language:
        groups = groups.filter(language=language)
    if join_policy:
        groups = groups.filter(join_policy=join_policy)
    return (
        groups.annotate(member_count=Count("memberships", filter=Q(memberships__status=Membership.Status.ACTIVE)))
        .prefetch_related("topics")
        .order_by("name", "pk")
        .distinct()
    )


def facilitators_of(group: SupportGroup) -> list[Membership]:
    return list(
        group.memberships.filter(
            status=Membership.Status.ACTIVE, role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER]
        ).order_by("handle")
    )


def active_members_of(group: SupportGroup) -> QuerySet[Membership]:
    return group.memberships.filter(status=Membership.Status.ACTIVE).order_by("handle")


def memberships_of(user: User) -> QuerySet[Membership]:
    """A person's groups (current and asked-to-join), for "My groups"."""
    return (
        Membership.objects.filter(user=user, status__in=VISIBLE_TO_SELF).select_related("group").order_by("group__name")
    )


# --- Handles ---------------------------------------------------------------------------


def check_handle(group: SupportGroup, handle: str, *, exclude: Membership | None = None) -> str:
    """The tidied handle if it can be used in `group`, else ActionError naming the problem."""
    handle = clean_handle(handle)
    try:
        validate_handle(handle)
    except ValidationError as error:
        raise ActionError(error.messages[0], field="handle") from None
    taken = group.memberships.filter(handle_key=handle_key(handle))
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ActionError(
            _("Someone in this group already uses this name, or one that looks just like it. Please choose another."),
            field="handle",
        )
    return handle


def suggested_handle(group: SupportGroup) -> str:
    return suggest_handle(set(group.memberships.values_list("handle_key", flat=True)))


def _save_handle_or_explain(membership: Membership) -> None:
    """Save, turning a lost race for the same handle into the person's message."""
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise ActionError(
            _("Someone in this group just took this name. Please choose another."), field="handle"
        ) from None


@transaction.atomic
def do_change_handle(membership: Membership, new_handle: str) -> None:
    """Change a member's handle, at most once every 30 days; the old one goes to the history."""
    if not membership.is_active:
        raise ActionError(_("Only members can change their name in a group."))
    now = timezone.now()
    if membership.handle_changed_at and now - membership.handle_changed_at < HANDLE_CHANGE_INTERVAL:
        next_change = membership.handle_changed_at + HANDLE_CHANGE_INTERVAL
        raise ActionError(
            _("You can change your name in this group once every 30 days. Next possible on %(date)s.")
            % {"date": timezone.localtime(next_change).strftime("%d %B %Y")},
            field="handle",
        )
    handle = check_handle(membership.group, new_handle, exclude=membership)
    if handle == membership.handle:
        raise ActionError(_("That is already your name in this group."), field="handle")
    old = membership.handle
    membership.handle = handle
    membership.handle_key = handle_key(handle)
    membership.handle_changed_at = now
    _save_handle_or_explain(membership)
    HandleChange.objects.create(membership=membership, old_handle=old, new_handle=handle, changed_at=now)


# --- Creating and configuring ----------------------------------------------------------


@transaction.atomic
def do_create_group(creator: User, *, handle: str, topics: list[object], **fields: object) -> SupportGroup:
    """Create a group with its creator as first owner, under `handle`."""
    if not can_create_groups(creator):
        raise PermissionDenied(_("You can't create groups."))
    group = SupportGroup(created_by=creator, **fields)
    try:
        group.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ActionError(messages[0], field=field) from None
    group.save()
    group.topics.set(topics)  # type: ignore[arg-type]
    handle = check_handle(group, handle)
    now = timezone.now()
    Membership.objects.create(
        group=group,
        user=creator,
        handle=handle,
        handle_key=handle_key(handle),
        role=Membership.Role.OWNER,
        status=Membership.Status.ACTIVE,
        guidelines_accepted_at=now,
        joined_at=now,
    )
    return group


@transaction.atomic
def do_update_group(access: GroupAccess, *, topics: list[object], **fields: object) -> None:
    if not access.can_configure:
        raise PermissionDenied
    group = access.group
    for name, value in fields.items():
        setattr(group, name, value)
    group.full_clean()
    group.save()
    group.topics.set(topics)  # type: ignore[arg-type]


# --- Joining ---------------------------------------------------------------------------


def check_can_ask_to_join(access: GroupAccess, *, via_invite: bool = False) -> None:
    membership = access.membership
    if membership is not None:
        if membership.status == Membership.Status.ACTIVE:
            raise ActionError(_("You are already a member of this group."))
        if membership.status == Membership.Status.PENDING:
            raise ActionError(_("You have already asked to join. The facilitators will get back to you."))
        if membership.ban_in_force():
            raise ActionError(_("You can't join this group."))
    if access.group.join_policy == SupportGroup.JoinPolicy.INVITE and not via_invite:
        raise ActionError(_("This group is invite only: you can join with an invite link from its facilitators."))


@transaction.atomic
def do_join_group(
    user: User,
    access: GroupAccess,
    *,
    handle: str,
    accepted_guidelines: bool,
    message: str = "",
    invite_token: str | None = None,
    confirmed_no_contact: bool = False,
) -> Membership:
    """Join (open group or invite) or ask to join (approval group) under `handle`.

    An invite is used up atomically: two people racing for its last use cannot both get in.
    Someone on the person's no-contact list being a member stops them until they confirm;
    the facilitators are then alerted, and a listed person joining alerts whoever listed them
    (groups.no_contact). The listed person's join looks and works the same either way.
    """
    group = access.group
    invite = _claim_invite(group, invite_token) if invite_token else None
    check_can_ask_to_join(access, via_invite=invite is not None)
    if not accepted_guidelines:
        raise ActionError(_("Please read and accept the group's guidelines to join."), field="accept_guidelines")
    listed = no_contact.listed_members(user, group)
    if listed and not confirmed_no_contact:
        raise ActionError(
            _("Someone on your no-contact list is a member of this group. Tick the box to join anyway."),
            field="confirm_no_contact",
        )
    membership = access.membership or Membership(group=group, user=user)
    handle = check_handle(group, handle, exclude=membership if membership.pk else None)
    now = timezone.now()
    joins_now = invite is not None or group.join_policy == SupportGroup.JoinPolicy.OPEN
    membership.handle = handle
    membership.handle_key = handle_key(handle)
    membership.role = Membership.Role.MEMBER
    membership.status = Membership.Status.ACTIVE if joins_now else Membership.Status.PENDING
    membership.request_message = "" if joins_now else message.strip()[:1000]
    membership.decision_message = ""
    membership.decided_by = None
    membership.guidelines_accepted_at = now
    membership.requested_at = now
    membership.joined_at = now if joins_now else None
    membership.left_at = None
    _save_handle_or_explain(membership)
    no_contact.after_joining(membership, listed=listed, warned=True)
    return membership


def pending_requests(group: SupportGroup) -> QuerySet[Membership]:
    return group.memberships.filter(status=Membership.Status.PENDING).order_by("requested_at")


@transaction.atomic
def do_decide_request(access: GroupAccess, public_id: str, *, approve: bool, message: str = "") -> Membership:
    """Approve or decline a join request; the person is told, with the optional message."""
    if not access.can_moderate:
        raise PermissionDenied
    membership = (
        Membership.objects.select_for_update()
        .filter(group=access.group, public_id=public_id, status=Membership.Status.PENDING)
        .select_related("user", "group")
        .first()
    )
    if membership is None:
        raise ActionError(_("This request has already been answered or withdrawn."))
    now = timezone.now()
    membership.status = Membership.Status.ACTIVE if approve else Membership.Status.DECLINED
    membership.decision_message = message.strip()[:1000]
    membership.decided_by = access.membership
    membership.joined_at = now if approve else None
    membership.save()
    group = membership.group
    with translation.override(membership.user.language):
        if approve:
            text = _("Your request to join %(group)s was approved. Welcome!") % {"group": group.name}
        else:
            text = _("Your request to join %(group)s was declined.") % {"group": group.name}
        if membership.decision_message:
            text += " " + _("Message from the facilitators: %(message)s") % {"message": membership.decision_message}
    url = reverse("groups:detail", args=[group.slug]) if approve else ""
    do_notify(membership.user, NoticeKind.MEMBERSHIP, text, url=url, group=group)
    if approve:
        no_contact.after_joining(membership)
    return membership


# --- Invites ---------------------------------------------------------------------------


@transaction.atomic
def do_create_invite(
    access: GroupAccess, *, valid_days: int, max_uses: int | None, label: str = ""
) -> tuple[Invite, str]:
    """A new invite link. The token is returned once; only its hash is kept."""
    if not access.can_moderate:
        raise PermissionDenied
    if not 1 <= valid_days <= 90:
        raise ActionError(_("An invite can last from 1 to 90 days."), field="valid_days")
    if max_uses is not None and not 1 <= max_uses <= 500:
        raise ActionError(_("An invite can be used from 1 to 500 times, or leave it empty for no limit."))
    token = secrets.token_urlsafe(24)
    invite = Invite.objects.create(
        group=access.group,
        token_hash=hash_invite_token(token),
        label=label.strip()[:80],
        created_by=access.membership,
        expires_at=timezone.now() + timedelta(days=valid_days),
        max_uses=max_uses,
    )
    return invite, token


@transaction.atomic
def do_revoke_invite(access: GroupAccess, public_id: str) -> None:
    if not access.can_moderate:
        raise PermissionDenied
    revoked = Invite.objects.filter(group=access.group, public_id=public_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise ActionError(_("This invite was already revoked."))


def resolve_invite(token: str) -> Invite:
    """The invite behind a link, or ActionError saying why the link no longer works."""
    invite = Invite.objects.select_related("group").filter(token_hash=hash_invite_token(token)).first()
    if invite is None:
        raise ActionError(_("This invite link isn't valid. Check that it was copied whole."))
    if invite.revoked_at is not None:
        raise ActionError(_("This invite link was withdrawn by the group's facilitators."))
    if invite.expires_at <= timezone.now():
        raise ActionError(_("This invite link has expired. Ask the person who sent it for a new one."))
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise ActionError(_("This invite link has been used as many times as it allows."))
    return invite


def _claim_invite(group: SupportGroup, token: str) -> Invite:
    invite = resolve_invite(token)
    if invite.group_id != group.pk:
        raise ActionError(_("This invite link isn't valid. Check that it was copied whole."))
    claimed = (
        Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    if not claimed:
        raise ActionError(_("This invite link has been used as many times as it allows."))
    return invite


def access_group_by_invite(user: Viewer, token: str) -> GroupAccess:
    """The invited-to group, visible through its link even when unlisted."""
    invite = resolve_invite(token)
    group = invite.group
    return GroupAccess(group, _membership_of(user, group), bool(user.is_authenticated and user.is_staff))


# --- Roles and leaving -----------------------------------------------------------------


def _owner_count(group: SupportGroup) -> int:
    return group.memberships.filter(status=Membership.Status.ACTIVE, role=Membership.Role.OWNER).count()


@transaction.atomic
def do_set_role(access: GroupAccess, public_id: str, role: str) -> Membership:
    """Owners appoint and remove facilitators and owners; a group always keeps an owner."""
    if not access.can_configure:
        raise PermissionDenied
    if role not in Membership.Role.values:
        raise ActionError(_("Unknown role."))
    # Lock the group's owner rows so two owners stepping down at once can't leave none.
    list(
        Membership.objects.select_for_update().filter(
            group=access.group, status=Membership.Status.ACTIVE, role=Membership.Role.OWNER
        )
    )
    target = Membership.objects.filter(group=access.group, public_id=public_id, status=Membership.Status.ACTIVE).first()
    if target is None:
        raise ActionError(_("This person is no longer a member of the group."))
    if target.role == role:
        raise ActionError(_("%(handle)s already has that role.") % {"handle": target.handle})
    if target.role == Membership.Role.OWNER and _owner_count(access.group) <= 1:
        raise ActionError(_("A group always needs an owner. Make someone else an owner first."))
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def do_leave_group(membership: Membership) -> None:
    """Leave a group. The handle stays reserved and past messages show "former member"."""
    if not membership.is_active:
        raise ActionError(_("You are not a member of this group."))
    if membership.role == Membership.Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            group=membership.group, status=Membership.Status.ACTIVE, role=Membership.Role.OWNER
        )
        if len(owners) <= 1:
            raise ActionError(_("You are this group's only owner. Make another member an owner before you leave."))
    membership.status = Membership.Status.LEFT
    membership.role = Membership.Role.MEMBER
    membership.left_at = timezone.now()
    membership.save(update_fields=["status", "role", "left_at"])


@transaction.atomic
def do_show_attendance_streak(membership: Membership, show: bool) -> None:
    """The member's own choice to see their attendance streak on the group page (only they
    ever see it; meetings.attendance.streak_of says how it is counted)."""
    if not membership.is_active:
        raise ActionError(_("Only members of this group have an attendance streak here."))
    Membership.objects.filter(pk=membership.pk).update(show_attendance_streak=show)
    membership.show_attendance_streak = show


@transaction.atomic
def do_withdraw_request(membership: Membership) -> None:
    if membership.status != Membership.Status.PENDING:
        raise ActionError(_("There is no request to withdraw."))
    membership.status = Membership.Status.LEFT
    membership.left_at = timezone.now()
    membership.save(update_fields=["status", "left_at"])


# --- No-contact list (rules in groups.no_contact) ---------------------------------------------


@transaction.atomic
def do_add_no_contact(owner: User, email: str, label: str = "") -> tuple[NoContactEntry, list[no_contact.Conflict]]:
    """Put someone on the owner's no-contact list: only the email's keyed hash is stored.

    Returns the entry and the owner's groups that person is already in; for each, the owner
    gets a private notice and the group's facilitators an alert, as when the person joins."""
    address = no_contact.check_email(email)
    label = no_contact.check_label(label)
    User.objects.select_for_update().filter(pk=owner.pk).first()  # one change to a list at a time: the cap holds
    key = no_contact.email_key(address)
    no_contact.check_can_add(owner, key)
    entry = NoContactEntry.objects.create(owner=owner, email_key=key, label=label)
    shared = no_contact.shared_with(owner, key)
    for conflict in shared:
        no_contact.tell_lister(owner, conflict.listed.group)
        no_contact.alert_runners(conflict.listed.group, [conflict], "joined")
    return entry, shared


@transaction.atomic
def do_remove_no_contact(owner: User, public_id: str) -> None:
    """Take someone off the owner's list; another person's entry answers 404, unchanged."""
    deleted, _rows = NoContactEntry.objects.filter(owner=owner, public_id=public_id).delete()
    if not deleted:
        raise Http404("No such entry")
