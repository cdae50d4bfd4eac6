"""How a notice reaches a person: their notice centre, and one email.

Every kind of notification (reminders, meeting changes, waitlist places, join answers,
facilitator gaps, report outcomes) is a `Notice` row. `actions.do_notify` makes it and decides
from the person's preferences whether it is shown in-app and whether it is emailed; the email is
then sent straight after commit, or by the per-minute dispatch when quiet hours hold it back or
a send failed and is due again. `deliver` sends only with a claim on the row, so it goes once.

Discreet emails (the default) have a neutral sender, subject and body, name no group, topic or
meeting, and carry only a link. `assert_discreet` refuses to send one that would leak.
"""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Notice, NoticeKind, User
from lib import outbox
from lib.timefmt import zone

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "hearth.unsubscribe"
UNSUBSCRIBE_MAX_AGE = timedelta(days=90)

# What a discreet email says instead of the notice: nothing an onlooker could read into.
DISCREET_SUBJECTS = {
    NoticeKind.REMINDER: gettext_lazy("Reminder: appointment"),
    NoticeKind.MEETING: gettext_lazy("Your appointment has changed"),
    NoticeKind.WAITLIST: gettext_lazy("Your appointment is confirmed"),
    NoticeKind.MEMBERSHIP: gettext_lazy("An update on your account"),
    NoticeKind.FACILITATION: gettext_lazy("An appointment needs attention"),
    NoticeKind.REPORTS: gettext_lazy("An update on your account"),
    NoticeKind.MODERATION: gettext_lazy("An update on your account"),
}


class DiscreetLeak(Exception):
    """A discreet email would have named something it must not: it is never sent."""


# --- Quiet hours -------------------------------------------------------------------------


def quiet_hours_end(user: User, moment: datetime) -> datetime | None:
    """When the person's quiet hours end, if `moment` falls inside them (their timezone, DST
    included); None when it does not, or they have none."""
    start, end = user.quiet_hours_start, user.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    tz = zone(user.timezone)
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    day: date = local.date()
    if start < end:
        if not start <= clock < end:
            return None
    elif clock >= start:  # overnight, before midnight: they end tomorrow
        day += timedelta(days=1)
    elif clock >= end:
        return None
    # An end inside a spring-forward gap is read with the offset before the change: 02:30 on
    # that night becomes 03:30 (a later, never an earlier, moment).
    return datetime.combine(day, end, tzinfo=tz).astimezone(moment.tzinfo)


def after_quiet_hours(user: User, moment: datetime) -> datetime:
    return quiet_hours_end(user, moment) or moment


def is_muted(user: User, group_id: int | None) -> bool:
    if group_id is None:
        return False
    return user.memberships.filter(group_id=group_id, muted=True).exists()


# --- Unsubscribe links -------------------------------------------------------------------


def unsubscribe_token(user: User, kind: str) -> str:
    return signing.dumps({"u": user.pk, "k": kind}, salt=UNSUBSCRIBE_SALT, compress=True)


class BadUnsubscribeLink(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    """The person and kind a link stops; raises BadUnsubscribeLink with what to tell them."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_MAX_AGE)
    except signing.SignatureExpired as error:
        raise BadUnsubscribeLink(
            _(
                "This unsubscribe link has expired. Log in and choose which emails you get "
                "in your notification settings."
            )
        ) from error
    except signing.BadSignature as error:
        raise BadUnsubscribeLink(
            _(
                "This unsubscribe link is not valid. Copy the whole link from the email, "
                "or log in and change your notification settings."
            )
        ) from error
    user_id, kind = (data.get("u"), data.get("k")) if isinstance(data, dict) else (None, None)
    user = User.objects.filter(pk=user_id, is_active=True).first() if isinstance(user_id, int) else None
    if user is None or kind not in NoticeKind.values:
        raise BadUnsubscribeLink(_("This unsubscribe link is not valid any more."))
    return user, kind


def unsubscribe_url(user: User, kind: str) -> str:
    return settings.SITE_URL + reverse("accounts:unsubscribe", args=[unsubscribe_token(user, kind)])


# --- Emails ------------------------------------------------------------------------------


def forbidden_words(notice: Notice) -> list[str]:
    """What a discreet email about this notice must never contain."""
    words = [word for word in settings.DISCREET_FORBIDDEN_WORDS if word]
    if notice.group is not None:
        words += [notice.group.name, notice.group.slug]
        words.extend(notice.group.topics.values_list("name", flat=True))
        words.extend(notice.user.memberships.filter(group=notice.group).values_list("handle", flat=True))
    return words


def contains_word(text: str, word: str) -> bool:
    """Whole-word and case-blind: "Support" in "peer_support.org" counts, "supported" not."""
    return re.search(rf"(?<![^\W_]){re.escape(word.casefold())}(?![^\W_])", text.casefold()) is not None


def assert_discreet(message: EmailMultiAlternatives, words: list[str]) -> None:
    """Raise DiscreetLeak if the sender, subject, headers or any body part contains a word."""
    raw = message.message().as_string()
    parts = [raw, str(message.subject), str(message.from_email), str(message.body)]
    parts.extend(str(content) for content, _mimetype in message.alternatives)
    text = "\n".join(parts)
    for word in words:
        if contains_word(text, word):
            raise DiscreetLeak(f"discreet email would contain a forbidden word ({len(word)} letters)")


def build_email(notice: Notice) -> EmailMultiAlternatives:
    """The email for a notice, in the recipient's language, plain text and HTML, with a
    one-click unsubscribe for its kind."""
    user = notice.user
    discreet = user.discreet_notifications
    with translation.override(user.language):
        context: dict[str, Any] = {
            "discreet": discreet,
            "text": notice.discreet_text if discreet else notice.text,
            "url": settings.SITE_URL + reverse("accounts:notice", args=[notice.public_id]),
            "unsubscribe_url": unsubscribe_url(user, notice.kind),
            "kind_label": NoticeKind(notice.kind).label,
            "settings_url": settings.SITE_URL + reverse("accounts:notifications"),
        }
        if discreet:
            subject = notice.discreet_subject or str(DISCREET_SUBJECTS[NoticeKind(notice.kind)])
        else:
            subject = notice.subject or notice.text
        text = render_to_string("accounts/email/notice_body.txt", context)
        html = render_to_string("accounts/email/notice_body.html", context)
    sender = settings.DISCREET_FROM_EMAIL if discreet else settings.DEFAULT_FROM_EMAIL
    headers = {
        "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    message = EmailMultiAlternatives(" ".join(subject.split())[:200], text, sender, [user.email], headers=headers)
    message.attach_alternative(html, "text/html")
    if discreet:
        assert_discreet(message, forbidden_words(notice))
    return message


def deliver(notice_id: int, token: str | None = None) -> str:
    """Email one notice, once. With `token`, the dispatch job has claimed it already; without,
    claim it here (the send queued straight after commit). Returns what happened."""
    if token is None:
        token = outbox.claim_one(Notice, notice_id)
        if token is None:
            return "nothing to do"
    notice = (
        Notice.objects.select_related("user", "group")
        .filter(pk=notice_id, status=Notice.Status.CLAIMED, claim_token=token)
        .first()
    )
    if notice is None:
        return "nothing to do"
    user = notice.user
    if not user.is_active or notice.kind not in user.email_kinds or is_muted(user, notice.group_id):
        outbox.mark(Notice, notice.pk, Notice.Status.SKIPPED, token)
        return "skipped"
    later = quiet_hours_end(user, timezone.now())
    if later is not None:
        outbox.release(Notice, notice.pk, later, token)
        return "held for quiet hours"
    try:
        build_email(notice).send()
    except DiscreetLeak as error:
        logger.error("Notice %s not emailed: %s", notice.pk, error)
        outbox.fail(Notice, notice.pk, error)
        return "failed"
    except (OSError, smtplib.SMTPException) as error:
        final = outbox.retry_later(Notice, notice.pk, error)
        if final:
            logger.warning("Notice %s email failed for good: %s", notice.pk, error)
        return "failed" if final else "will retry"
    outbox.mark(Notice, notice.pk, Notice.Status.SENT, token)
    return "sent"
