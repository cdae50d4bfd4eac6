"""Retention of room messages: the rule that says when a meeting's messages expire, and the purge
that deletes them (run nightly by `meetings.tasks.purge_expired_messages`, see docs/privacy.md).

A meeting's room log (messages, and the reactions and deletion marks on them) expires when the
meeting ended more than its group's `message_retention_days` ago. The meeting ended when its room
closed: when a facilitator ended it, or else at the scheduled end plus the room's grace minutes
(`room_actions.closes_at`), the last instant anyone could write. A cancelled meeting counts from
its scheduled end too, so anything written before it was cancelled goes on the same day it would
have. Each entry must also itself be older than the retention period, so nothing written after a
meeting (a facilitator's later deletion mark) goes before its own time.

Reports are not touched: `Report.message` is set to NULL (on_delete=SET_NULL) and the report's
snapshot, a copy of the reported message and the ones around it, stays readable.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from groups.models import SupportGroup
from meetings import room_actions
from meetings.models import Meeting, Room, RoomEvent

logger = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    """What one purge run deleted. `messages` counts room log entries (messages, reactions and
    deletion marks); `meetings` the meetings this run deleted at least one of them from."""

    messages: int = 0
    meetings: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def transcript_expires_at(meeting: Meeting, room: Room) -> datetime:
    """The instant after which this meeting's room messages may be purged."""
    return room_actions.closes_at(meeting, room) + timedelta(days=meeting.group.message_retention_days)


def rooms_with_expired_messages(now: datetime) -> list[tuple[int, datetime]]:
    """(room id, cutoff) for each room whose meeting has expired and that still holds entries.
    Entries of that room created before the cutoff are expired. One query per distinct
    retention period in use (at most 365), whatever the number of groups or meetings."""
    grace = timedelta(minutes=settings.ROOM_GRACE_MINUTES)
    has_entries = Exists(RoomEvent.objects.filter(room=OuterRef("pk")))
    periods = SupportGroup.objects.order_by().values_list("message_retention_days", flat=True).distinct()
    found: list[tuple[int, datetime]] = []
    for days in sorted(periods):
        cutoff = now - timedelta(days=days)
        # The same instant as room_actions.closes_at, in SQL: ended by hand, or at the end + grace.
        closed_before_cutoff = Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, meeting__ends_at__lt=cutoff - grace)
        rooms = (
            Room.objects.filter(closed_before_cutoff, has_entries, meeting__group__message_retention_days=days)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        found.extend((room_id, cutoff) for room_id in rooms)
    return found


def count_expired_messages(now: datetime | None = None) -> int:
    """How many room log entries a purge run now would delete (for operators' dry runs)."""
    now = now or timezone.now()
    return sum(
        RoomEvent.objects.filter(room_id=room_id, created_at__lt=cutoff).count()
        for room_id, cutoff in rooms_with_expired_messages(now)
    )


def purge_expired_messages(*, now: datetime | None = None, batch_size: int | None = None) -> PurgeResult:
    """Delete every expired room log entry, `batch_size` rows per short transaction, and log
    the counts.

    Safe to run twice or at the same time: each batch locks the rows it is about to delete and
    skips rows another run has locked (PostgreSQL), or waits its turn for the write lock
    (SQLite, whose transactions here begin IMMEDIATE), and only counts rows it really deleted.
    Whatever the interleaving, the runs together delete each expired row once and nothing else.
    """
    now = now or timezone.now()
    size = settings.MESSAGE_PURGE_BATCH_SIZE if batch_size is None else batch_size
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {size!r}")
    result = PurgeResult()
    for room_id, cutoff in rooms_with_expired_messages(now):
        deleted_here = 0
        after_seq = 0
        while True:
            selected, deleted, last_seq = _purge_batch(room_id, cutoff, after_seq, size)
            if not selected:
                break
            result.batches += 1
            deleted_here += deleted
            after_seq = last_seq
            if selected < size:
                break
        if deleted_here:
            result.meetings += 1
            result.messages += deleted_here
    logger.info(
        "Purged %d expired room messages from %d meetings in %d batches",
        result.messages,
        result.meetings,
        result.batches,
    )
    return result


def _purge_batch(room_id: int, cutoff: datetime, after_seq: int, size: int) -> tuple[int, int, int]:
    """Delete the next `size` expired entries of one room after `after_seq`, in one transaction.
    Returns (rows selected, rows this run deleted, last seq selected)."""
    with transaction.atomic():
        # Walking the room's (room, seq) index by keyset keeps each batch cheap, even when the
        # rows already deleted still sit in the index (PostgreSQL, before vacuum). FOR UPDATE
        # also holds off a report being filed on these rows until they are gone.
        rows = list(
            RoomEvent.objects.select_for_update(skip_locked=True)
            .filter(room_id=room_id, seq__gt=after_seq, created_at__lt=cutoff)
            .order_by("seq")
            .values_list("pk", "seq")[:size]
        )
        if not rows:
            return 0, 0, after_seq
        # QuerySet.delete() applies each relation's on_delete: Report.message is SET_NULL, so a
        # report keeps its snapshot. Its count is the rows the DELETE really removed: a row
        # another run removed first counts for that run only.
        _total, per_model = RoomEvent.objects.filter(pk__in=[pk for pk, _seq in rows]).only("pk").delete()
        return len(rows), per_model.get(RoomEvent._meta.label, 0), rows[-1][1]
