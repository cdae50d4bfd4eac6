"""Background work for accounts. Tasks take IDs, re-read state, and are safe to repeat."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import notifications
from accounts.models import Notice, User
from lib import outbox
from lib.email import send_templated_email

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset_email(user_id: int, domain: str, use_https: bool) -> None:
    """Email a password reset link, unless the account has gone inactive meanwhile."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    context = {
        "protocol": "https" if use_https else "http",
        "domain": domain,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    send_templated_email(user.email, "accounts/email/password_reset", context, language=user.language)


@shared_task
def clear_expired_sessions() -> int:
    """Delete expired sessions (run by beat); returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    if deleted:
        logger.info("Cleared %d expired sessions", deleted)
    return deleted


@shared_task
def send_notice(notice_id: int, token: str | None = None) -> str:
    """Email one notice, once (see accounts.notifications.deliver). A failed send is due again
    after a backoff and picked up by `dispatch_notices`; there are no long-ETA retries."""
    if not isinstance(notice_id, int) or not isinstance(token, str | None):
        logger.warning("send_notice called with bad arguments: %r, %r", notice_id, token)
        return "bad arguments"
    return notifications.deliver(notice_id, token)


@shared_task
def dispatch_notices() -> int:
    """Every minute: claim notice emails that are due (held back by quiet hours, or retrying
    after a failed send, or whose first send was lost) and queue one send for each."""
    token, ids = outbox.claim_due(Notice)
    for notice_id in ids:
        send_notice.delay(notice_id, token)
    if ids:
        logger.info("Dispatched %d notice emails", len(ids))
    return len(ids)


@shared_task
def erase_deleted_accounts() -> dict[str, int]:
    """Nightly: erase the personal data of accounts deleted more than the grace period ago,
    except those a moderation case still holds (docs/privacy.md). Safe to run twice."""
    # accounts.lifecycle builds on every app (and accounts.actions imports this module).
    from accounts import lifecycle

    return lifecycle.erase_deleted_accounts()
