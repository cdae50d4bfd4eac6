"""Background work for accounts. Tasks take IDs, re-read state, and are safe to repeat."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
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
