from typing import ClassVar

from django.contrib import admin
from django.http import HttpRequest

from meetings.models import Meeting, MeetingSeries, Reminder, Room, RotaEntry, Rsvp


class RotaEntryInline(admin.TabularInline[RotaEntry, MeetingSeries]):
    model = RotaEntry
    extra = 0
    raw_id_fields = ("membership",)


@admin.register(MeetingSeries)
class MeetingSeriesAdmin(admin.ModelAdmin[MeetingSeries]):
    list_display = ("title", "group", "rrule", "start_time", "timezone", "capacity", "ended_at")
    list_filter = ("group",)
    search_fields = ("title", "group__name")
    readonly_fields = ("public_id", "created_at")
    inlines: ClassVar = [RotaEntryInline]


class RsvpInline(admin.TabularInline[Rsvp, Meeting]):
    model = Rsvp
    extra = 0
    fields = ("membership", "status", "waitlisted_at", "updated_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin[Meeting]):
    list_display = ("title", "group", "starts_at", "status", "capacity", "facilitator")
    list_filter = ("status", "group")
    search_fields = ("title", "group__name")
    date_hierarchy = "starts_at"
    readonly_fields = ("public_id", "series", "series_date", "created_at", "needs_facilitator_flagged_at")
    raw_id_fields = ("facilitator", "backup")
    inlines: ClassVar = [RsvpInline]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    """Room state. Its controls are in the moderation audit log. Messages are not shown here:
    transcripts are for the group's own facilitators."""

    list_display = ("meeting", "phase", "locked", "slow_mode_seconds", "last_seq", "ended_at")
    readonly_fields = ("meeting", "last_seq", "opened_early_at", "ended_at", "sharer", "share_ends_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin[Reminder]):
    """Reminders and how they went; filter by status to see the ones that failed."""

    list_display = ("meeting", "membership", "kind", "send_at", "status", "attempts", "last_error")
    list_filter = ("status", "kind")
    date_hierarchy = "send_at"
    readonly_fields = (
        "meeting",
        "membership",
        "kind",
        "send_at",
        "claimed_at",
        "claim_token",
        "sent_at",
        "attempts",
        "last_error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
