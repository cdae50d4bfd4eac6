"""Reports, sanctions, appeals, watched words, personal blocks and the audit log.

Who may see and do what is decided in `moderation/actions.py`; these are the records.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from groups.models import Membership, SupportGroup
from lib.ids import public_id
from meetings.models import Meeting, RoomEvent


class Report(models.Model):
    """Someone asked the facilitators to look at a message or a member. The reporter is never
    shown to the person reported; the snapshot outlives the room's transcript."""

    class Category(models.TextChoices):
        HARASSMENT = "harassment", _("Harassment or bullying")
        THREATS = "threats", _("Threats")
        HATE = "hate", _("Hate")
        SPAM = "spam", _("Spam or advertising")
        SELF_HARM = "self_harm", _("Worried they may harm themselves")
        IDENTITY = "identity", _("Revealing someone's identity")
        IMPERSONATION = "impersonation", _("Pretending to be someone else")
        WATCHED_WORD = "watched_word", _("Flagged by a watched word")
        OTHER = "other", _("Something else")

    class Wish(models.TextChoices):
        INFORM = "inform", _("Let the facilitators know")
        REMOVE = "remove", _("Remove the message")
        KEEP_AWAY = "keep_away", _("Keep this person away from me")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_REVIEW = "in_review", _("In review")
        RESOLVED = "resolved", _("Resolved")
        DISMISSED = "dismissed", _("Dismissed")

    OPEN_STATUSES: ClassVar = (Status.OPEN, Status.IN_REVIEW)

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="reports")
    # None when a watched word filed it.
    reporter = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="reports_about")
    meeting = models.ForeignKey(Meeting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(RoomEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_seq = models.PositiveIntegerField(null=True, blank=True)
    category = models.CharField(_("what is wrong"), max_length=16, choices=Category.choices)
    details = models.TextField(_("details"), blank=True, max_length=2000)
    wish = models.CharField(_("what you would like"), max_length=12, choices=Wish.choices, default=Wish.INFORM)
    # The reported message with the ones around it, handles and times: kept when transcripts go.
    snapshot = models.JSONField(default=list, blank=True)
    # The person reported ran the group when reported: only owners and staff see it.
    about_facilitator = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    escalated_at = models.DateTimeField(null=True, blank=True)
    action_taken = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes: ClassVar = [models.Index(fields=["group", "status"])]

    def __str__(self) -> str:
        return f"{self.get_category_display()} report ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class ReportNote(models.Model):
    """A private note on a report, for the people handling it."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=64)
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        return f"Note on {self.report_id}"


class Sanction(models.Model):
    """Something done to a member: recorded here, enforced through the fields it sets on their
    membership or account (which lift themselves once their time has passed)."""

    class Kind(models.TextChoices):
        WARN = "warn", _("Warning")
        DELETE_MESSAGE = "delete_message", _("Message deleted")
        TIMEOUT = "timeout", _("Timeout from writing")
        REMOVE_FROM_MEETING = "remove", _("Removed from a meeting")
        SUSPEND = "suspend", _("Suspended from the group")
        BAN = "ban", _("Banned from the group")
        SITE_SUSPEND = "site_suspend", _("Account suspended")

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sanctions")
    # None for a site-wide suspension.
    group = models.ForeignKey(SupportGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    meeting = models.ForeignKey(Meeting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_seq = models.PositiveIntegerField(null=True, blank=True)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="sanctions")
    reason = models.CharField(_("reason"), max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=now)
    ends_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d})"

    def is_in_force(self, at: Any = None) -> bool:
        at = at or now()
        return self.lifted_at is None and (self.ends_at is None or self.ends_at > at)

    @property
    def is_liftable(self) -> bool:
        """Whether there is something to lift: a bar still in force (warnings and deletions are done)."""
        lasting = (
            self.Kind.TIMEOUT,
            self.Kind.REMOVE_FROM_MEETING,
            self.Kind.SUSPEND,
            self.Kind.BAN,
            self.Kind.SITE_SUSPEND,
        )
        return self.kind in lasting and self.is_in_force()


class Appeal(models.Model):
    """A sanctioned member asks for the decision to be looked at again: once per sanction,
    decided by someone other than whoever acted."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a decision")
        UPHELD = "upheld", _("Decision kept")
        OVERTURNED = "overturned", _("Decision overturned")

    sanction = models.OneToOneField(Sanction, on_delete=models.CASCADE, related_name="appeal")
    text = models.TextField(_("why the decision should change"), max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decision_note = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=now)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Appeal ({self.get_status_display()})"


class WatchedWord(models.Model):
    """A word or phrase the room watches for, in one group or (group None) everywhere."""

    class Action(models.TextChoices):
        BLOCK = "block", _("Block: the message is not sent, and the sender is told why")
        FLAG = "flag", _("Flag: the message is sent and reported to the facilitators")
        CRISIS = "crisis", _("Crisis: the sender gets crisis resources; facilitators are alerted")

    group = models.ForeignKey(SupportGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    phrase = models.CharField(_("word or phrase"), max_length=100)
    normalised = models.CharField(max_length=200, editable=False)
    action = models.CharField(max_length=8, choices=Action.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("phrase",)
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["group", "normalised"], name="watched_word_once_per_group"),
            models.UniqueConstraint(
                fields=["normalised"], condition=models.Q(group__isnull=True), name="watched_word_once_site_wide"
            ),
        ]

    def __str__(self) -> str:
        return self.phrase


class Block(models.Model):
    """One member hides another's messages, in one group, for themselves only. The blocked
    person is never told."""

    blocker = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="blocks")
    blocked = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once")]

    def __str__(self) -> str:
        return f"Block {self.pk}"


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    """Append-only: rows are added, never changed or removed through the ORM."""

    def update(self, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditLogIsAppendOnly


class AuditLogIsAppendOnly(Exception):
    def __init__(self) -> None:
        super().__init__("The audit log is append-only: entries cannot be changed or deleted.")


class AuditEntry(models.Model):
    """Every moderation action and room control: who, to whom, why, when. Append-only.

    References are kept without database constraints (and never cascade), so an entry outlives
    the group, meeting or person it names; labels keep what they were called at the time.
    """

    group = models.ForeignKey(
        SupportGroup, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=64)
    target = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    target_label = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=32)
    reason = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name_plural = "audit entries"
        indexes: ClassVar = [models.Index(fields=["group", "created_at"]), models.Index(fields=["action"])]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or kwargs.get("force_update"):
            raise AuditLogIsAppendOnly
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly
