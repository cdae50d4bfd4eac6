from typing import ClassVar

from django.contrib import admin

from groups.models import HandleChange, Invite, Membership, SupportGroup, Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin[Topic]):
    list_display = ("name", "slug", "position")
    prepopulated_fields: ClassVar = {"slug": ("name",)}


class MembershipInline(admin.TabularInline[Membership, SupportGroup]):
    model = Membership
    fields = ("handle", "role", "status", "joined_at")
    readonly_fields = ("joined_at",)
    extra = 0
    show_change_link = True


@admin.register(SupportGroup)
class SupportGroupAdmin(admin.ModelAdmin[SupportGroup]):
    list_display = ("name", "slug", "language", "join_policy", "is_listed", "created_at")
    list_filter = ("join_policy", "is_listed", "language", "topics")
    search_fields = ("name", "slug", "description")
    prepopulated_fields: ClassVar = {"slug": ("name",)}
    filter_horizontal = ("topics",)
    readonly_fields = ("created_at", "created_by")
    inlines: ClassVar = [MembershipInline]


class HandleChangeInline(admin.TabularInline[HandleChange, Membership]):
    model = HandleChange
    fields = ("old_handle", "new_handle", "changed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("handle", "group", "role", "status", "joined_at")
    list_filter = ("role", "status", "group")
    search_fields = ("handle", "group__name", "user__email")
    readonly_fields = ("public_id", "handle_key", "requested_at", "joined_at", "left_at", "decided_by")
    raw_id_fields = ("user", "group")
    inlines: ClassVar = [HandleChangeInline]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin[Invite]):
    list_display = ("group", "label", "uses", "max_uses", "expires_at", "revoked_at")
    list_filter = ("group",)
    readonly_fields = ("public_id", "token_hash", "uses", "created_by", "created_at")
