from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest

from moderation.models import Appeal, AuditEntry, Block, Report, ReportNote, Sanction, WatchedWord


class ReportNoteInline(admin.TabularInline[ReportNote, Report]):
    model = ReportNote
    extra = 0
    fields = ("created_at", "author_label", "body")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    list_display = ("group", "category", "status", "about_facilitator", "escalated_at", "created_at")
    list_filter = ("status", "category", "about_facilitator")
    search_fields = ("group__name", "details")
    raw_id_fields = ("group", "reporter", "subject", "meeting", "message", "assignee")
    readonly_fields = ("public_id", "snapshot", "created_at")
    inlines: ClassVar = [ReportNoteInline]


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin[Sanction]):
    """Decisions are made on the moderation pages (which enforce and record them); here they
    are only read."""

    list_display = ("kind", "group", "actor_label", "created_at", "ends_at", "lifted_at")
    list_filter = ("kind",)
    raw_id_fields = ("user", "group", "membership", "meeting", "report", "actor")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin[Appeal]):
    list_display = ("sanction", "status", "created_at", "decided_at")
    list_filter = ("status",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WatchedWord)
class WatchedWordAdmin(admin.ModelAdmin[WatchedWord]):
    list_display = ("phrase", "group", "action", "created_at")
    list_filter = ("action",)
    search_fields = ("phrase",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # added on the watched-words pages, which normalise and audit them

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin[Block]):
    list_display = ("blocker", "blocked", "created_at")
    raw_id_fields = ("blocker", "blocked")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """The audit log, to read and filter. Append-only: nothing can be added, changed or
    deleted here (nor through the ORM)."""

    list_display = ("created_at", "group", "actor_label", "action", "target_label", "reason")
    list_filter = ("action",)
    search_fields = ("actor_label", "target_label", "reason")
    date_hierarchy = "created_at"
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
