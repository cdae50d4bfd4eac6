from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from accounts.models import ReminderOffset
from groups.models import Membership, SupportGroup, public_id
from lib.outbox import Delivery

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


class Room(models.Model):
    """The live text room of one meeting: its controls, the counter behind message `seq`, and
    how many messages were posted in it (`message_count`), which outlives the retention purge."""

    class Phase(models.TextChoices):
        OPENING = "opening", _("Opening")
        SHARES = "shares", _("Shares")
        OPEN_DISCUSSION = "open_discussion", _("Open discussion")
        CLOSING = "closing", _("Closing")

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="room")
    last_seq = models.PositiveIntegerField(default=0)
    # Messages posted (deleted ones included; not reactions or deletion marks): a count only, no
    # text and no person, so it stays when the messages themselves are purged. Raised in the
    # same locked update as `last_seq` (`room_actions._next_seq`).
    message_count = models.PositiveIntegerField(default=0)
    opened_early_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    locked = models.BooleanField(default=False)
    slow_mode_seconds = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.OPENING)
    no_crosstalk = models.BooleanField(default=True)
    sharer = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    share_ends_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Room of {self.meeting}"


class RoomEvent(models.Model):
    """One entry of a room's log, numbered by `seq` (1, 2, 3… with no gap): a message, a
    deletion or a reaction. Clients catch up by asking for what came after their last seq."""

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        DELETION = "deletion", _("Deletion")
        REACTION = "reaction", _("Reaction")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    # For deletions and reactions: the message they are about.
    target_seq = models.PositiveIntegerField(null=True, blank=True)
    reaction = models.CharField(max_length=16, blank=True)
    # Reactions can be taken back: the reaction event stays, marked off.
    reaction_on = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ("seq",)
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["room", "seq"], name="room_event_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "membership", "client_id"],
                condition=~models.Q(client_id=""),
                name="room_event_client_id_once",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["room", "membership", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"


class RoomPresence(models.Model):
    """One open socket of one member in a room (attendance is RoomParticipant, which stays)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="presences")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=now)
    seen_at = models.DateTimeField(default=now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["room", "seen_at"])]

    def __str__(self) -> str:
        return self.channel_name


class RoomParticipant(models.Model):
    """Everyone who entered a room, with their per-room state: hand, mute, removal.

    Also the **attendance record** (docs/console.md#attendance): one row per member per meeting,
    written the first time the room lets them in, whatever the sockets or re-entries after.
    A removal decided before the person ever came in needs a row too (to keep them out); it
    has `entered` off and is not attendance: count `meetings.attendance.ATTENDED` rows.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    first_joined_at = models.DateTimeField(default=now)
    entered = models.BooleanField(default=True)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    mute_reason = models.CharField(max_length=500, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["room", "membership"], name="room_participant_once"),
        ]

    def __str__(self) -> str:
        return f"{self.membership.handle} in {self.room}"


class Reminder(Delivery):
    """One reminder for one member about one meeting, at one of the member's chosen times.
    Created, moved and removed with their RSVP, their preferences and the meeting; claimed by
    the dispatch job (so never sent twice), then turned into a notice that is emailed."""

    Kind = ReminderOffset

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="reminders")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=8, choices=ReminderOffset.choices)

    class Meta:
        ordering = ("send_at", "pk")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["meeting", "membership", "kind"], name="reminder_once_per_kind"),
        ]
        indexes: ClassVar = [models.Index(fields=["status", "send_at"])]

    def __str__(self) -> str:
        return f"{self.kind} reminder, {self.status}"
