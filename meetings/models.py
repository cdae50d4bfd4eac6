from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from groups.models import Membership, SupportGroup, public_id

MAX_DURATION_MINUTES = 12 * 60


class MeetingSeries(models.Model):
    """A recurring schedule: an RFC 5545 RRULE in the group's timezone, from a first date."""

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="series")
    title = models.CharField(_("title"), max_length=80)
    rrule = models.CharField(max_length=300)
    timezone = models.CharField(max_length=64)
    start_date = models.DateField(_("first meeting"))
    start_time = models.TimeField(_("time"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("length (minutes)"), validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    capacity = models.PositiveSmallIntegerField(_("places"), validators=[MinValueValidator(1), MaxValueValidator(500)])
    rota = models.ManyToManyField(Membership, through="RotaEntry", related_name="+", blank=True)
    created_at = models.DateTimeField(default=now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("start_time", "pk")
        verbose_name_plural = "meeting series"

    def __str__(self) -> str:
        return f"{self.title} ({self.group})"


class RotaEntry(models.Model):
    """One facilitator's place in a series' rota."""

    series = models.ForeignKey(MeetingSeries, on_delete=models.CASCADE, related_name="rota_entries")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ("position",)
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["series", "membership"], name="rota_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.position}: {self.membership.handle}"


class Meeting(models.Model):
    """One meeting, stored in UTC. Series meetings are materialised a few weeks ahead."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    group = models.ForeignKey(SupportGroup, on_delete=models.CASCADE, related_name="meetings")
    series = models.ForeignKey(MeetingSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="meetings")
    # The series date this meeting stands for, in the group's timezone: its identity within the
    # series, kept when a single meeting is moved.
    series_date = models.DateField(null=True, blank=True)
    title = models.CharField(max_length=80)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(500)])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    change_reason = models.CharField(max_length=300, blank=True)
    # Moved or changed on its own: later edits of the series leave it alone.
    is_detached = models.BooleanField(default=False)
    facilitator = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    backup = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    needs_facilitator_flagged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("starts_at", "pk")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["series", "series_date"], name="meeting_once_per_series_date"),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="meeting_ends_after_start"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["group", "starts_at"]), models.Index(fields=["starts_at"])]

    def __str__(self) -> str:
        return f"{self.title} at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def is_cancelled(self) -> bool:
        return self.status == self.Status.CANCELLED

    def has_started(self, at: object = None) -> bool:
        return self.starts_at <= (at or now())  # type: ignore[operator]


class Rsvp(models.Model):
    class Status(models.TextChoices):
        GOING = "going", _("Going")
        WAITLISTED = "waitlisted", _("On the waitlist")
        NOT_GOING = "not_going", _("Not going")

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="rsvps")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="rsvps")
    status = models.CharField(max_length=12, choices=Status.choices)
    # Order in the waitlist: the first to ask is the first promoted.
    waitlisted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["meeting", "membership"], name="rsvp_once_per_member"),
        ]
        indexes: ClassVar = [models.Index(fields=["meeting", "status", "waitlisted_at"])]

    def __str__(self) -> str:
        return f"{self.membership.handle}: {self.status}"


class CalendarFeed(models.Model):
    """A person's secret calendar address. Only its hash is kept; resetting replaces it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"Calendar feed of user {self.user_id}"
