"""What the staff console shows besides the system's state: every group's figures side by
side, moderation waiting for staff, watched words and failed notifications.

Counts and short lists only, in a fixed number of queries whatever the number of groups. Health
figures come from console.health, moderation's from moderation.actions; nothing here decides a
rule. Failed notifications show their kind, attempts and error, never an address or the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts.models import Notice
from console.health import GroupHealth, group_health
from groups.models import Membership, SupportGroup
from lib.outbox import Delivery
from meetings.models import Reminder
from moderation import actions as moderation
from moderation.models import Report, Sanction, WatchedWord

LATEST = 5
ERROR_CHARS = 160
# Anything shaped like an email address (SMTP errors quote the recipient).
ADDRESS = re.compile(r"[^\s@<>()\[\]{}'\",;:]+@[^\s@<>()\[\]{}'\",;:]+")


# --- Groups side by side --------------------------------------------------------------------


@dataclass
class GroupRow:
    group: SupportGroup
    members: int
    open_reports: int
    health: GroupHealth
    health_url: str | None  # None until the group health pages exist
    console_url: str | None

    @property
    def meetings(self) -> int:
        return len(self.health.meetings)


def group_rows() -> list[GroupRow]:
    """Every group, by name, with its member and open-report counts and its health over the last
    12 weeks (console.health: a fixed number of queries for all groups at once)."""
    groups = list(
        SupportGroup.objects.annotate(
            n_members=Count("memberships", filter=Q(memberships__status=Membership.Status.ACTIVE), distinct=True),
            n_open_reports=Count("reports", filter=Q(reports__status__in=Report.OPEN_STATUSES), distinct=True),
        ).order_by("name", "pk")
    )
    health = group_health(groups)
    return [
        GroupRow(
            group,
            members=group.n_members,
            open_reports=group.n_open_reports,
            health=health[group.pk],
            health_url=_url_if_routed("console:health", group),
            console_url=_url_if_routed("console:group", group),
        )
        for group in groups
    ]


def _url_if_routed(name: str, group: SupportGroup) -> str | None:
    try:
        return reverse(name, args=[group.slug])
    except NoReverseMatch:
        return None


# --- Moderation waiting for staff -----------------------------------------------------------


@dataclass
class ModerationSummary:
    escalated_count: int
    escalated: list[Report]  # the LATEST oldest-escalated, which have waited longest
    suspended_count: int
    suspended: list[Sanction]  # the LATEST newest
    site_words: int
    group_words: int


def moderation_summary() -> ModerationSummary:
    escalated = moderation.escalated_reports()
    suspended = moderation.site_suspensions_in_force()
    words = WatchedWord.objects.aggregate(
        site=Count("pk", filter=Q(group__isnull=True)), groups=Count("pk", filter=Q(group__isnull=False))
    )
    return ModerationSummary(
        escalated_count=escalated.count(),
        escalated=list(escalated.order_by("escalated_at", "pk")[:LATEST]),
        suspended_count=suspended.count(),
        suspended=list(suspended[:LATEST]),
        site_words=words["site"],
        group_words=words["groups"],
    )


# --- Failed notifications -------------------------------------------------------------------


@dataclass
class FailedDelivery:
    what: str  # "Email notice: New report", "Reminder: 1 hour before"
    attempts: int
    error: str  # addresses removed
    due_at: datetime


@dataclass
class FailedDeliveries:
    notices: int
    reminders: int
    notices_url: str
    reminders_url: str
    latest: list[FailedDelivery] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.notices + self.reminders


def scrub_error(text: str) -> str:
    """An error as staff may read it here: no email address, and short."""
    scrubbed = ADDRESS.sub(_("[address]"), text)
    return scrubbed if len(scrubbed) <= ERROR_CHARS else scrubbed[: ERROR_CHARS - 1] + "…"


def failed_deliveries() -> FailedDeliveries:
    """Notices and reminders that failed after every retry (lib.outbox), the latest few of both."""
    failed = Delivery.Status.FAILED
    notices = Notice.objects.filter(status=failed)
    reminders = Reminder.objects.filter(status=failed)
    columns = ("kind", "attempts", "last_error", "send_at")
    latest = [
        FailedDelivery(_("Email notice: %(kind)s") % {"kind": notice.get_kind_display()}, *_rest(notice))
        for notice in notices.only(*columns).order_by("-send_at", "-pk")[:LATEST]
    ] + [
        FailedDelivery(_("Reminder: %(kind)s") % {"kind": reminder.get_kind_display()}, *_rest(reminder))
        for reminder in reminders.only(*columns).order_by("-send_at", "-pk")[:LATEST]
    ]
    latest.sort(key=lambda row: row.due_at, reverse=True)
    query = f"?status__exact={failed.value}"
    return FailedDeliveries(
        notices=notices.count(),
        reminders=reminders.count(),
        notices_url=reverse("admin:accounts_notice_changelist") + query,
        reminders_url=reverse("admin:meetings_reminder_changelist") + query,
        latest=latest[:LATEST],
    )


def _rest(row: Notice | Reminder) -> tuple[int, str, datetime]:
    return row.attempts, scrub_error(row.last_error), row.send_at
