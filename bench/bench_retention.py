"""Retention purge: how fast the nightly job deletes a large backlog of expired room messages.

Sets up a fresh database, migrated first: an SQLite file in a temporary VAR_DIR by default, or,
with DATABASE_URL set, a new PostgreSQL database beside that one's (dropped at the end; the
database DATABASE_URL names is never touched). Creates BENCH_EXPIRED expired room messages
(200,000) and BENCH_RECENT recent ones (20,000), BENCH_PER_MEETING to a meeting (500), with a
report on one message of every tenth expired meeting, then runs
`meetings.retention.purge_expired_messages` once with MESSAGE_PURGE_BATCH_SIZE (1,000).

Prints the time to purge, rows per second, batches and the slowest batch, and checks the result:
every expired message gone, every recent one and every report kept. Exits non-zero otherwise.

    make bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_retention.py
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Database  # noqa: E402

EXPIRED = int(os.environ.get("BENCH_EXPIRED", "200000"))
RECENT = int(os.environ.get("BENCH_RECENT", "20000"))
PER_MEETING = int(os.environ.get("BENCH_PER_MEETING", "500"))
BATCH_SIZE = int(os.environ.get("MESSAGE_PURGE_BATCH_SIZE", "1000"))
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL", "")
CHUNK = 5000  # rows per bulk insert


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def create_messages() -> tuple[list[int], list[int]]:
    """A group with two members, expired and recent meetings with their rooms and messages, and
    a few reports. Returns the expired and the recent meetings' room ids."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import User
    from groups.handles import handle_key
    from groups.models import Membership, SupportGroup
    from meetings.models import Meeting, Room, RoomEvent
    from moderation.actions import snapshot
    from moderation.models import Report

    now = timezone.now()
    group = SupportGroup.objects.create(
        name="Bench Circle", slug="bench-circle", description="Benchmark", guidelines="Be kind.", timezone="UTC"
    )
    members = [
        Membership.objects.create(
            group=group,
            user=User.objects.create(email=f"bench-{n}@example.com", password=make_password(None)),
            handle=f"Bench {n}",
            handle_key=handle_key(f"Bench {n}"),
            status=Membership.Status.ACTIVE,
            joined_at=now,
        )
        for n in range(2)
    ]

    def meetings(count: int, first_start: datetime) -> list[int]:
        rows = Meeting.objects.bulk_create(
            Meeting(
                group=group,
                title="Evening share",
                starts_at=first_start + timedelta(hours=2 * n),
                ends_at=first_start + timedelta(hours=2 * n, minutes=90),
                capacity=12,
            )
            for n in range(count)
        )
        rooms = Room.objects.bulk_create(Room(meeting=meeting, last_seq=PER_MEETING) for meeting in rows)
        room_ids = [room.pk for room in rooms]
        # Plain executemany: model instances would take most of the run to build.
        table = connection.ops.quote_name(RoomEvent._meta.db_table)
        insert = (
            f"INSERT INTO {table} (room_id, seq, kind, membership_id, client_id, body, reaction, reaction_on, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s)"
        )
        values = [
            (
                room.pk,
                seq,
                RoomEvent.Kind.MESSAGE.value,
                members[seq % 2].pk,
                f"c{seq}",
                f"Message {seq} of a meeting long past, about the length of a real one.",
                True,
                connection.ops.adapt_datetimefield_value(meeting.starts_at + timedelta(seconds=seq)),
            )
            for room, meeting in zip(rooms, rows, strict=True)
            for seq in range(1, PER_MEETING + 1)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            for offset in range(0, len(values), CHUNK):
                cursor.executemany(insert, values[offset : offset + CHUNK])
        return room_ids

    expired_meetings = EXPIRED // PER_MEETING
    expired = meetings(expired_meetings, now - timedelta(days=group.message_retention_days + 60))
    recent = meetings(RECENT // PER_MEETING, now - timedelta(days=group.message_retention_days // 2))
    for room_id in expired[::10]:
        room = Room.objects.get(pk=room_id)
        message = RoomEvent.objects.get(room=room, seq=PER_MEETING // 2)
        Report.objects.create(
            group=group,
            reporter=members[0],
            subject=message.membership,
            meeting=room.meeting,
            message=message,
            message_seq=message.seq,
            category=Report.Category.HARASSMENT,
            snapshot=snapshot(room, message.seq),
        )
    return expired, recent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hearth-bench-retention-") as var_dir:
        database = Database("hearth_bench_retention", OUTER_DATABASE_URL)
        try:
            env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
            env.update(
                DJANGO_SETTINGS_MODULE="config.settings",
                VAR_DIR=var_dir,
                # As in production: no query log, no debug cursor wrappers.
                DEBUG="0",
                SECRET_KEY=secrets.token_urlsafe(50),
                ALLOWED_HOSTS="localhost",
                LOG_LEVEL="WARNING",
                MESSAGE_PURGE_BATCH_SIZE=str(BATCH_SIZE),
            )
            env.pop("REDIS_URL", None)  # not needed: no broker, cache or layer is used here
            if database.url:
                env["DATABASE_URL"] = database.url
            log(f"migrating {database.describe()} ...")
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            os.environ.clear()
            os.environ.update(env)
            import django

            django.setup()
            return run(database.describe())
        finally:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            database.drop()


def run(described: str) -> int:
    from django.db import connection

    from meetings import retention
    from meetings.models import RoomEvent
    from moderation.models import Report

    log(f"creating {EXPIRED:,} expired and {RECENT:,} recent room messages ...")
    started = time.perf_counter()
    expired, recent = create_messages()
    log(f"  created in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    reports = Report.objects.count()

    # Time each batch (how long each transaction holds its locks) by wrapping the batch function.
    batch_seconds: list[float] = []
    one_batch = retention._purge_batch

    def timed_batch(room_id: int, cutoff: datetime, after_seq: int, size: int) -> tuple[int, int, int]:
        begun = time.perf_counter()
        try:
            return one_batch(room_id, cutoff, after_seq, size)
        finally:
            batch_seconds.append(time.perf_counter() - begun)

    retention._purge_batch = timed_batch
    started = time.perf_counter()
    result = retention.purge_expired_messages()
    seconds = time.perf_counter() - started
    retention._purge_batch = one_batch

    left_expired = RoomEvent.objects.filter(room_id__in=expired).count()
    left_recent = RoomEvent.objects.filter(room_id__in=recent).count()
    reports_after = Report.objects.count()
    snapshots = Report.objects.exclude(snapshot=[]).filter(message__isnull=True).count()
    print(f"purge of expired room messages on {described}, batches of {BATCH_SIZE:,}")
    print(f"  deleted      {result.messages:>9,} rows from {result.meetings:,} meetings in {result.batches:,} batches")
    print(f"  time         {seconds:>9.2f} s  ({result.messages / seconds:,.0f} rows/s)")
    print(
        f"  per batch    {1000 * sum(batch_seconds) / max(len(batch_seconds), 1):>9.1f} ms mean, "
        f"{1000 * max(batch_seconds, default=0):.1f} ms slowest"
    )
    print(f"  kept         {left_recent:>9,} recent rows, {reports_after} of {reports} reports ({snapshots} snapshots)")
    again = retention.purge_expired_messages()
    print(f"  second run   {again.messages:>9,} rows")
    ok = (
        result.messages == EXPIRED
        and left_expired == 0
        and left_recent == RECENT
        and reports_after == reports == snapshots
        and again.messages == 0
    )
    if not ok:
        print("FAILED: the purge did not delete exactly the expired rows", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
