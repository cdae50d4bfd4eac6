"""Rows that something must be delivered from, at a time, exactly once.

Reminders and notice emails share this shape. The per-minute dispatch job claims due rows with
one conditional UPDATE (`pending → claimed`, stamped with a token), which is correct on SQLite
and PostgreSQL alike: two dispatchers running at once never claim one row twice. A failed
delivery goes back to `pending` later (backoff), until the last attempt marks it failed.
No long-ETA Celery tasks anywhere (see STACK.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A claim older than this belongs to a worker that died: the row is claimed again.
STALE_CLAIM = timedelta(minutes=10)
MAX_ATTEMPTS = 5


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        CLAIMED = "claimed", _("Being sent")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Not sent")
        FAILED = "failed", _("Failed")

    send_at = models.DateTimeField(_("send at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which dispatch run claimed it: a run sends exactly the rows carrying its own token.
    claim_token = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True  # each subclass indexes (status, send_at): the dispatch scan


D = TypeVar("D", bound=Delivery)


def _claimable(now: datetime) -> Q:
    return Q(send_at__lte=now) & (
        Q(status=Delivery.Status.PENDING) | Q(status=Delivery.Status.CLAIMED, claimed_at__lt=now - STALE_CLAIM)
    )


def claim_due(model: type[D], now: datetime | None = None, limit: int = 1000) -> tuple[str, list[int]]:
    """Claim due rows (and ones whose claim went stale): returns the claim's token and the ids
    claimed. Two dispatchers running at once get disjoint sets."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    rows = model._default_manager
    ids = list(rows.filter(_claimable(now)).order_by("send_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return token, []
    rows.filter(_claimable(now), pk__in=ids).update(status=Delivery.Status.CLAIMED, claimed_at=now, claim_token=token)
    claimed = rows.filter(pk__in=ids, status=Delivery.Status.CLAIMED, claim_token=token)
    return token, list(claimed.values_list("pk", flat=True))


def claim_one(model: type[D], pk: int) -> str | None:
    """Claim one row if it is due and nobody holds it (a send queued straight after commit).
    Returns the claim's token, or None when there is nothing to claim."""
    now = timezone.now()
    token = secrets.token_hex(16)
    claimed = model._default_manager.filter(_claimable(now), pk=pk).update(
        status=Delivery.Status.CLAIMED, claimed_at=now, claim_token=token
    )
    return token if claimed else None


def mark(model: type[D], pk: int, status: str, token: str) -> bool:
    """Finish a row claimed with `token`: sent or skipped. False if the claim is no longer
    this one (it went stale and another run took the row): then that run finishes it."""
    changes: dict[str, object] = {"status": status}
    if status == Delivery.Status.SENT:
        changes["sent_at"] = timezone.now()
    return bool(
        model._default_manager.filter(pk=pk, status=Delivery.Status.CLAIMED, claim_token=token).update(**changes)
    )


def release(model: type[D], pk: int, send_at: datetime, token: str) -> None:
    """Give a row claimed with `token` back, due again at `send_at` (quiet hours hold it back)."""
    model._default_manager.filter(pk=pk, status=Delivery.Status.CLAIMED, claim_token=token).update(
        status=Delivery.Status.PENDING, send_at=send_at, claim_token=""
    )


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def fail(model: type[D], pk: int, error: BaseException) -> None:
    """Give up on a row at once (retrying cannot help)."""
    model._default_manager.filter(pk=pk).update(status=Delivery.Status.FAILED, last_error=_error_text(error))


def retry_later(model: type[D], pk: int, error: BaseException) -> bool:
    """A delivery failed: try again after 1, 2, 4, 8 minutes; after the last attempt, mark it
    failed (staff see failed rows in the admin). Returns True when it has failed for good."""
    row = model._default_manager.filter(pk=pk).only("attempts").first()
    if row is None:
        return True
    attempts = row.attempts + 1
    final = attempts >= MAX_ATTEMPTS
    model._default_manager.filter(pk=pk).update(
        attempts=attempts,
        last_error=_error_text(error),
        status=Delivery.Status.FAILED if final else Delivery.Status.PENDING,
        send_at=timezone.now() + timedelta(minutes=2 ** (attempts - 1)),
        claim_token="",
    )
    return final
