"""Group health: how long `console.health.group_health` takes for many groups at once (the staff
console's view), and how many queries.

Sets up a fresh SQLite database in a temporary VAR_DIR (or uses DATABASE_URL as it is: only
for a scratch database), with BENCH_GROUPS groups (50), each with 30 members and 3 meetings a
week over the last 12 weeks (and 12 weeks before them), each meeting with about 12 RSVPs,
9 arrivals and 40 messages, and a few reports. Then computes the figures of all groups
BENCH_RUNS times (5) and prints the time of each run and the number of queries.

    .venv/bin/python bench/bench_health.py
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUPS = int(os.environ.get("BENCH_GROUPS", "50"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MEMBERS = 30
WEEKS = 24  # 12 shown, 12 before them (returning members look back)
PER_WEEK = 3


def create_history() -> None:
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from groups.handles import handle_key
    from groups.models import Membership, SupportGroup
    from meetings.models import Meeting, Room, RoomEvent, RoomParticipant, Rsvp
    from moderation.models import Report

    rng = random.Random(7)
    now = timezone.now()
    with transaction.atomic():
        users = User.objects.bulk_create(User(email=f"bench{n}@example.test", password="!") for n in range(MEMBERS * 2))
        for g in range(GROUPS):
            group = SupportGroup.objects.create(
                name=f"Circle {g}",
                slug=f"circle-{g}",
                description="A circle.",
                guidelines="Be kind.",
                timezone=rng.choice(["Europe/London", "America/New_York", "Asia/Tokyo", "UTC"]),
            )
            people = Membership.objects.bulk_create(
                Membership(
                    group=group,
                    user=user,
                    handle=f"Member {n}",
                    handle_key=handle_key(f"Member {n}"),
                    role="owner" if n == 0 else "facilitator" if n < 3 else "member",
                    joined_at=now - timedelta(days=rng.randint(0, WEEKS * 7)),
                )
                for n, user in enumerate(rng.sample(users, MEMBERS))
            )
            meetings = Meeting.objects.bulk_create(
                Meeting(
                    group=group,
                    title=f"Meeting {n}",
                    starts_at=now - timedelta(weeks=WEEKS) + timedelta(days=7 * n / PER_WEEK, hours=1),
                    ends_at=now - timedelta(weeks=WEEKS) + timedelta(days=7 * n / PER_WEEK, hours=2),
                    capacity=20,
                    facilitator=people[1 + n % 2],
                    status="cancelled" if n % 17 == 0 else "scheduled",
                )
                for n in range(WEEKS * PER_WEEK)
            )
            past = [meeting for meeting in meetings if meeting.starts_at < now]
            rooms = Room.objects.bulk_create(Room(meeting=meeting, last_seq=40, message_count=40) for meeting in past)
            rsvps, participants, events, reports = [], [], [], []
            for meeting, room in zip(past, rooms, strict=True):
                going = rng.sample(people, 12)
                rsvps += [Rsvp(meeting=meeting, membership=person, status="going") for person in going]
                came = [*rng.sample(going, 8), people[1 + rng.randint(0, 1)]]
                participants += [RoomParticipant(room=room, membership=person) for person in set(came)]
                events += [
                    RoomEvent(room=room, seq=seq, kind="message", membership=rng.choice(came), body="words")
                    for seq in range(1, 41)
                ]
                if rng.random() < 0.3:
                    closed = meeting.starts_at + timedelta(hours=rng.randint(1, 72))
                    reports.append(
                        Report(
                            group=group,
                            subject=rng.choice(came),
                            meeting=meeting,
                            category="other",
                            created_at=meeting.starts_at,
                            closed_at=closed if closed < now else None,
                            status="resolved" if closed < now else "open",
                        )
                    )
            Rsvp.objects.bulk_create(rsvps)
            RoomParticipant.objects.bulk_create(participants)
            RoomEvent.objects.bulk_create(events, batch_size=2000)
            Report.objects.bulk_create(reports)


def main() -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        os.environ.setdefault("VAR_DIR", var_dir)
        os.environ.setdefault("DEBUG", "1")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        python = str(ROOT / ".venv/bin/python")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)

        import django

        django.setup()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from console.health import group_health
        from groups.models import SupportGroup
        from meetings.models import Meeting, RoomEvent, RoomParticipant

        started = time.perf_counter()
        create_history()
        print(
            f"set up {GROUPS} groups, {Meeting.objects.count()} meetings, "
            f"{RoomParticipant.objects.count()} arrivals, {RoomEvent.objects.count()} messages "
            f"in {time.perf_counter() - started:.1f} s ({connection.vendor})"
        )
        groups = list(SupportGroup.objects.all())
        timings = []
        for _run in range(RUNS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                figures = group_health(groups)
                timings.append((time.perf_counter() - started) * 1000)
        meetings = sum(len(health.meetings) for health in figures.values())
        print(f"group_health for {len(groups)} groups ({meetings} meetings in the 12 weeks): {len(queries)} queries")
        print(f"runs (ms): {', '.join(f'{t:.0f}' for t in timings)}; median {statistics.median(timings):.0f} ms")
        one = []
        for group in groups[:10]:
            started = time.perf_counter()
            group_health([group])
            one.append((time.perf_counter() - started) * 1000)
        print(f"one group at a time (the health page): median {statistics.median(one):.0f} ms")
        print("last run, database time per query (ms):", ", ".join(f"{float(q['time']) * 1000:.0f}" for q in queries))


if __name__ == "__main__":
    main()
