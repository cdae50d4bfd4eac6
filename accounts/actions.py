"""State changes for accounts. Views call these; they never write models themselves."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Notice, User


@transaction.atomic
def do_sign_up(email: str, password: str, timezone: str) -> User:
    """Create an active member account. The email is unique whatever its letter case."""
    return User.objects.create_user(email=email, password=password, timezone=timezone)


@transaction.atomic
def do_update_preferences(user: User, *, timezone: str, language: str, discreet_notifications: bool) -> None:
    """Save a person's own settings; they apply from their next page."""
    user.timezone = timezone
    user.language = language
    user.discreet_notifications = discreet_notifications
    user.save(update_fields=["timezone", "language", "discreet_notifications"])


def do_notify(user: User, text: str, url: str = "") -> Notice:
    """Leave `user` an in-app notice. Render `text` in their language before calling."""
    return Notice.objects.create(user=user, text=text[:500], url=url)


@transaction.atomic
def do_mark_notices_read(user: User) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
