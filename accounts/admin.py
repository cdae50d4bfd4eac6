from typing import ClassVar

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Notice, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email",)
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Preferences"), {"fields": ("timezone", "language")}),
        (
            _("Notifications"),
            {
                "fields": (
                    "discreet_notifications",
                    "reminder_offsets",
                    "email_kinds",
                    "in_app_kinds",
                    "quiet_hours_start",
                    "quiet_hours_end",
                )
            },
        ),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal: ClassVar = ("groups", "user_permissions")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin[Notice]):
    """Notices and their emails; filter by status to see emails that failed after every retry."""

    list_display = ("user", "kind", "text", "created_at", "read_at", "status", "attempts", "last_error")
    list_filter = ("status", "kind", "in_app")
    search_fields = ("user__email", "text")
    raw_id_fields = ("user", "group")
    date_hierarchy = "created_at"
    readonly_fields = ("public_id", "send_at", "claimed_at", "claim_token", "sent_at", "attempts", "last_error")
