from __future__ import annotations

import hashlib
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.timezones import validate_timezone
from lib.ids import public_id
from lib.privacy import RETENTION_LONGEST_DAYS, RETENTION_SHORTEST_DAYS, default_retention_days

FORMER_MEMBER = _("former member")

# Languages a group can meet in (wider than the languages Hearth's pages are translated to).
GROUP_LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("pt", "Português"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
]

slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    _("Use lower-case letters, numbers and single hyphens between words, such as “tuesday-evening-circle”."),
    code="invalid_slug",
)

# Addresses taken by pages under /groups/: a group there could never be reached.
RESERVED_SLUGS = frozenset({"mine", "new", "no-contact", "invite"})


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(_("This web address is used by Hearth itself; choose another."), code="reserved_slug")


class Topic(models.Model):
    """What a group is about: trauma bonding, codependency, …"""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("position", "name")

    def __str__(self) -> str:
        return self.name


class SupportGroup(models.Model):
    class JoinPolicy(models.TextChoices):
        OPEN = "open", _("Open: anyone can join")
        APPROVAL = "approval", _("Approval: facilitators approve each request")
        INVITE = "invite", _("Invite only: join with an invite link")

    name = models.CharField(_("name"), max_length=80)
    slug = models.SlugField(
        _("web address"),
        max_length=60,
        unique=True,
        validators=[slug_validator, validate_slug_not_reserved],
        help_text=_("Part of the group's address: lower-case letters, numbers and hyphens."),
        error_messages={"unique": _("Another group already uses this web address.")},
    )
    description = models.TextField(_("description"), max_length=4000)
    guidelines = models.TextField(
        _("guidelines"),
        max_length=8000,
        help_text=_("Members must accept these to join. One guideline per line reads best."),
    )
    topics = models.ManyToManyField(Topic, related_name="groups", verbose_name=_("topics"))
    language = models.CharField(_("language"), max_length=8, choices=GROUP_LANGUAGES, default="en")
    timezone = models.CharField(_("timezone"), max_length=64, default="UTC", validators=[validate_timezone])
    join_policy = models.CharField(
        _("who can join"), max_length=10, choices=JoinPolicy.choices, default=JoinPolicy.APPROVAL
    )
    is_listed = models.BooleanField(
        _("listed in the directory"),
        default=True,
        help_text=_("Unlisted groups can only be found through a link."),
    )
    message_retention_days = models.PositiveSmallIntegerField(
        _("keep room messages for (days)"),
        default=default_retention_days,
        validators=[MinValueValidator(RETENTION_SHORTEST_DAYS), MaxValueValidator(RETENTION_LONGEST_DAYS)],
    )
    crisis_region = models.CharField(_("crisis resources region"), max_length=32, default="international")
    allow_drop_ins = models.BooleanField(
        _("drop-ins welcome"),
        default=False,
        help_text=_("Members may enter a meeting's room without having said they are going."),
    )
    share_minutes = models.PositiveSmallIntegerField(
        _("minutes for each share"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(15)],
        help_text=_("How long a member has the floor when a facilitator gives it to them."),
    )
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("name",)
        verbose_name = _("support group")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person in a group, under that group's handle. One row per (group, person)."""

    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        FACILITATOR = "facilitator", _("Facilitator")
        OWNER = "owner", _("Owner")

    class Status(models.TextChoices):
        PENDING = "pending", _("Asked to join")
        ACTIVE = "active", _("Member")
        DECLINED = "declined", _("Request declined")
        LEFT = "left", _("Left")
        BANNED = "banned", _("Banned")

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    handle = models.CharField(max_length=32)
    handle_key = models.CharField(max_length=96, editable=False)
    handle_changed_at = models.DateTimeField(null=True, blank=True)
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    request_message = models.TextField(blank=True, max_length=1000)
    decision_message = models.TextField(blank=True, max_length=1000)
    decided_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    guidelines_accepted_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(default=now)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # The member's own choice: no reminders and no emails about this group (notices still
    # appear in their notice centre).
    muted = models.BooleanField(_("muted"), default=False)
    # The member's own choice, off by default: their attendance streak on the group page, for
    # their eyes only (meetings.attendance). Nobody else ever sees it.
    show_attendance_streak = models.BooleanField(_("show me my attendance streak"), default=False)
    # Moderation, set by moderation.actions (the Sanction rows are the record). Each lifts
    # itself: it holds only while its time is in the future.
    timeout_until = models.DateTimeField(null=True, blank=True)
    timeout_reason = models.CharField(max_length=500, blank=True)
    suspended_until = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=500, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)  # with status banned; None: for good

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["group", "user"], name="membership_one_per_person"),
            # A handle (any case, any look-alike) belongs to one person in a group, even after
            # they leave: nobody can take over a former member's name.
            models.UniqueConstraint(fields=["group", "handle_key"], name="membership_handle_unique"),
        ]
        indexes: ClassVar = [models.Index(fields=["group", "status", "role"])]

    def __str__(self) -> str:
        return f"{self.handle} in {self.group}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def suspended_now(self, at: datetime | None = None) -> bool:
        return self.suspended_until is not None and self.suspended_until > (at or now())

    def timed_out_now(self, at: datetime | None = None) -> bool:
        return self.timeout_until is not None and self.timeout_until > (at or now())

    def ban_in_force(self, at: datetime | None = None) -> bool:
        return self.status == self.Status.BANNED and (self.banned_until is None or self.banned_until > (at or now()))

    @property
    def is_facilitator(self) -> bool:
        """Facilitators and owners run the group's rooms and queues."""
        return self.is_active and self.role in (self.Role.FACILITATOR, self.Role.OWNER)

    @property
    def is_owner(self) -> bool:
        return self.is_active and self.role == self.Role.OWNER

    @property
    def display_handle(self) -> str:
        """The name shown beside this person's messages: "former member" once they left."""
        if self.status in (self.Status.LEFT, self.Status.BANNED):
            return str(FORMER_MEMBER)
        return self.handle


class HandleChange(models.Model):
    """Handle history, for the group's facilitators only."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="handle_changes")
    old_handle = models.CharField(max_length=32)
    new_handle = models.CharField(max_length=32)
    changed_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("-changed_at",)

    def __str__(self) -> str:
        return f"{self.old_handle} → {self.new_handle}"


def hash_invite_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Invite(models.Model):
    """An invite link. Only the token's hash is stored: the link is shown once, at creation."""

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="invites")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(
        _("note for facilitators"), max_length=80, blank=True, help_text=_("For example who it was sent to.")
    )
    created_by = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(_("expires"))
    max_uses = models.PositiveIntegerField(_("maximum uses"), null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Invite to {self.group} ({self.label or self.public_id})"

    @property
    def is_usable(self) -> bool:
        return (
            self.revoked_at is None and self.expires_at > now() and (self.max_uses is None or self.uses < self.max_uses)
        )


class NoContactEntry(models.Model):
    """Someone a member must never share a group with, known only by a keyed hash of their
    email address (groups.no_contact.email_key). The address itself is never stored or logged."""

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="no_contact_entries")
    email_key = models.CharField(max_length=64, editable=False)
    label = models.CharField(_("private note"), max_length=40, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["owner", "email_key"], name="no_contact_once_per_person"),
        ]
        # When someone joins a group: whose lists hold them (one lookup by key).
        indexes: ClassVar = [models.Index(fields=["email_key"], name="no_contact_key")]

    def __str__(self) -> str:
        return f"No-contact entry {self.public_id}"
