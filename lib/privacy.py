"""What Hearth stores, for how long and who can see it: the privacy page, made from the settings
that decide it, so the page can never drift from what the code does (docs/privacy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


@dataclass(frozen=True)
class Record:
    """One kind of data: what it is, how long it is kept, who can see it."""

    what: str
    details: str
    kept: str
    seen_by: str


def days(count: int) -> str:
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}


def duration(delta: timedelta) -> str:
    """A setting's duration in the largest whole unit that fits ("14 days", "3 hours")."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return days(seconds // 86400)
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(seconds // 60, 1)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


# How long a group may keep its room messages after a meeting, in days (groups.models uses these).
RETENTION_SHORTEST_DAYS = 1
RETENTION_LONGEST_DAYS = 365


def default_retention_days() -> int:
    """A new group's retention, from MESSAGE_RETENTION_DAYS (30 unless set)."""
    return int(settings.MESSAGE_RETENTION_DAYS)


def retention_range() -> tuple[int, int, int]:
    """The default, shortest and longest time a group may keep room messages, in days."""
    return default_retention_days(), RETENTION_SHORTEST_DAYS, RETENTION_LONGEST_DAYS


def erasure_grace_days() -> int:
    return int(getattr(settings, "ACCOUNT_ERASURE_GRACE_DAYS", 14))


def records() -> list[Record]:
    """Every kind of personal data Hearth keeps, in the reader's language."""
    from accounts.notifications import UNSUBSCRIBE_MAX_AGE

    default, shortest, longest = retention_range()
    grace = days(erasure_grace_days())
    until_deleted = _("Until you delete your account, then erased after %(grace)s.") % {"grace": grace}
    return [
        Record(
            _("Your account"),
            _(
                "Your email address, a hash of your password (never the password itself), your "
                "timezone, language and notification choices."
            ),
            until_deleted,
            _("You and site staff. Other members never see your email address."),
        ),
        Record(
            _("Your names in groups"),
            _(
                "A different name (handle) in each group you join, your role, and when you joined. "
                "Names are not linked across groups."
            ),
            _(
                "While you are a member. After you leave, or delete your account, your messages "
                "show as “former member”; the name itself is erased with your account."
            ),
            _("The group's members see your name in that group only; its facilitators and site staff."),
        ),
        Record(
            _("Room messages"),
            _("What you write in a meeting room, and reactions."),
            _(
                "Each group chooses how long after a meeting its messages are kept: %(default)s unless "
                "it chose otherwise, never less than %(shortest)s or more than %(longest)s. A nightly "
                "job then deletes them."
            )
            % {"default": days(default), "shortest": days(shortest), "longest": days(longest)},
            _(
                "People in the room during the meeting, then only the group's facilitators "
                "(for follow-up) until the messages are deleted."
            ),
        ),
        Record(
            _("Reports"),
            _(
                "A report's reason, the outcome you asked for, and a copy of the reported message "
                "and a few messages around it."
            ),
            _("With the report, after the room's messages are deleted, so a decision can be reviewed and appealed."),
            _(
                "The group's facilitators and owners, and site staff. The person reported never "
                "learns who reported them."
            ),
        ),
        Record(
            _("Moderation decisions"),
            _("Warnings, time-outs, suspensions and bans, appeals, and a log of moderators' actions."),
            _("Kept, because decisions must stay accountable; the log cannot be edited."),
            _("You (decisions about you), the group's facilitators and owners, and site staff."),
        ),
        Record(
            _("Meetings and reminders"),
            _("Which meetings you said you'll attend, and the reminders and notices sent to you."),
            until_deleted,
            _("You, and the group's facilitators (who is coming)."),
        ),
        Record(
            _("Sessions and sign-in"),
            _(
                "For each device you are signed in on: a short browser description and when it was "
                "last active. Failed log-ins are counted per address to stop password guessing."
            ),
            _(
                "A session ends when you log out, after %(age)s, or when the browser closes if you "
                "didn't ask to stay logged in. Failed log-ins are forgotten after %(cooloff)s."
            )
            % {
                "age": duration(timedelta(seconds=settings.SESSION_COOKIE_AGE)),
                "cooloff": duration(settings.AXES_COOLOFF_TIME),
            },
            _("You (Settings → Sessions) and site staff."),
        ),
        Record(
            _("Two-factor authentication"),
            _("If you turn it on: the secret your authenticator app uses, and your recovery codes (hashed)."),
            _("Until you turn it off or delete your account."),
            _("Nobody: Hearth only checks codes against it."),
        ),
        Record(
            _("Your no-contact list"),
            _(
                "A keyed fingerprint of each email address you list, never the address, and the "
                "private label you chose."
            ),
            _("Until you remove an entry or delete your account."),
            _(
                "Only you. When it matches, the group's facilitators are told privately, without "
                "either email address; the person you listed is never told."
            ),
        ),
        Record(
            _("Your block list"),
            _("The members whose messages you chose to hide."),
            until_deleted,
            _("Only you."),
        ),
        Record(
            _("Emails"),
            _(
                "Emails are discreet unless you choose otherwise: a neutral sender and subject that "
                "name no group or topic. Each has an unsubscribe link valid for %(age)s."
            )
            % {"age": duration(UNSUBSCRIBE_MAX_AGE)},
            _("Hearth keeps a record of each email until you delete your account."),
            _("You, and your email provider."),
        ),
    ]
