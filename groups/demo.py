"""Demo groups for `make run`: realistic, with facilitators. Idempotent."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import User
from groups.handles import handle_key
from groups.models import Membership, SupportGroup, Topic
from meetings.actions import materialise_series, set_rota
from meetings.models import Meeting, MeetingSeries, Rsvp

GUIDELINES = """Everything shared here stays here. Don't repeat, screenshot or copy what others say.
Speak from your own experience ("I"), and don't give advice unless someone asks for it.
No names, places or details that could identify you, anyone else, or the person who harmed you.
Be kind. Judgement, pressure and debate have no place in this room.
Take a break whenever you need to. The quick exit is always there.
If you are in danger, use "Get help now": this group is peer support, not emergency help."""

DEMO_GROUPS: list[dict[str, Any]] = [
    {
        "slug": "tuesday-evening-circle",
        "name": "Tuesday Evening Circle",
        "description": (
            "A weekly circle for people untangling a trauma bond: the pull back towards someone who hurt "
            "you, the guilt, the hope. Newcomers welcome; you can just listen."
        ),
        "topics": ["trauma-bonding", "leaving-and-staying-out"],
        "language": "en",
        "timezone": "Europe/London",
        "join_policy": SupportGroup.JoinPolicy.OPEN,
        "members": [
            ("admin", "owner", "Steady Lantern"),
            ("bob", "facilitator", "Calm Heron"),
            ("alice", "member", "Quiet Harbor"),
        ],
        "schedule": ("Tuesday evening circle", "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU", "19:00", 90, 12),
    },
    {
        "slug": "codependency-recovery-saturdays",
        "name": "Codependency Recovery Saturdays",
        "description": (
            "For people who lose themselves in caring for others. We share how we are learning to notice our own "
            "needs, set boundaries and keep them."
        ),
        "topics": ["codependency"],
        "language": "en",
        "timezone": "America/New_York",
        "join_policy": SupportGroup.JoinPolicy.APPROVAL,
        "members": [("bob", "owner", "Warm Cedar")],
        "schedule": ("Saturday morning share", "FREQ=WEEKLY;INTERVAL=1;BYDAY=SA", "10:00", 75, 10),
    },
    {
        "slug": "circulo-de-apoyo",
        "name": "Círculo de apoyo",
        "description": (
            "Un grupo en español para quienes están saliendo de una relación de maltrato. Compartimos "
            "experiencias y fuerza, sin juicios."
        ),
        "topics": ["domestic-abuse-recovery"],
        "language": "es",
        "timezone": "Europe/Madrid",
        "join_policy": SupportGroup.JoinPolicy.OPEN,
        "members": [("admin", "owner", "Alba Serena")],
        "schedule": ("Reunión semanal", "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO", "20:00", 90, 12),
    },
    {
        "slug": "family-and-friends",
        "name": "Family and Friends of Survivors",
        "description": (
            "When someone you love is in, or leaving, an abusive relationship. How to stay close without "
            "pushing, and how to look after yourself too."
        ),
        "topics": ["family-and-friends"],
        "language": "en",
        "timezone": "Australia/Sydney",
        "join_policy": SupportGroup.JoinPolicy.APPROVAL,
        "members": [("admin", "owner", "Golden Meadow"), ("bob", "facilitator", "Patient Fern")],
        "schedule": ("Monthly gathering", "FREQ=MONTHLY;INTERVAL=1;BYDAY=+1SU", "18:00", 90, 20),
    },
    {
        "slug": "coercive-control-private-circle",
        "name": "Coercive Control: Private Circle",
        "description": "A small, unlisted circle for people who were controlled day to day. Joining is by invite only.",
        "topics": ["coercive-control"],
        "language": "en",
        "timezone": "Europe/London",
        "join_policy": SupportGroup.JoinPolicy.INVITE,
        "is_listed": False,
        "members": [("bob", "owner", "Northern Pine")],
        "schedule": ("Thursday circle", "FREQ=WEEKLY;INTERVAL=1;BYDAY=TH", "19:30", 60, 8),
    },
]


def seed_demo_groups(people: dict[str, User]) -> int:
    """Create the demo groups and memberships that are missing; returns how many groups were new."""
    created = 0
    now = timezone.now()
    for spec in DEMO_GROUPS:
        spec = dict(spec)
        members = spec.pop("members")
        schedule = spec.pop("schedule")
        topics = Topic.objects.filter(slug__in=spec.pop("topics"))
        group, was_created = SupportGroup.objects.get_or_create(
            slug=spec["slug"], defaults={**spec, "guidelines": GUIDELINES, "created_by": people["admin"]}
        )
        if was_created:
            group.topics.set(topics)
            created += 1
        for person, role, handle in members:
            Membership.objects.get_or_create(
                group=group,
                user=people[person],
                defaults={
                    "handle": handle,
                    "handle_key": handle_key(handle),
                    "role": role,
                    "status": Membership.Status.ACTIVE,
                    "guidelines_accepted_at": now,
                    "joined_at": now,
                },
            )
        _seed_schedule(group, schedule)
    _seed_meeting_to_try(people)
    return created


def _seed_meeting_to_try(people: dict[str, User]) -> None:
    """A one-off meeting in Tuesday Evening Circle starting a few minutes from now, so the live
    room can be tried at once (bob facilitates, alice is going). Made again once it has passed."""
    group = SupportGroup.objects.get(slug="tuesday-evening-circle")
    if Meeting.objects.filter(group=group, series__isnull=True, ends_at__gt=timezone.now()).exists():
        return
    starts_at = timezone.now() + timedelta(minutes=5)
    bob = Membership.objects.get(group=group, user=people["bob"])
    meeting = Meeting.objects.create(
        group=group,
        title="Drop-in circle (demo)",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        capacity=12,
        facilitator=bob,
    )
    alice = Membership.objects.get(group=group, user=people["alice"])
    Rsvp.objects.create(meeting=meeting, membership=alice, status=Rsvp.Status.GOING)


def _seed_schedule(group: SupportGroup, schedule: tuple[str, str, str, int, int]) -> None:
    if MeetingSeries.objects.filter(group=group).exists():
        return
    title, rule, at, minutes, places = schedule
    rota = [membership for membership in group.memberships.all() if membership.is_facilitator]
    series = MeetingSeries.objects.create(
        group=group,
        title=title,
        rrule=rule,
        timezone=group.timezone,
        start_date=timezone.localdate(),
        start_time=time.fromisoformat(at),
        duration_minutes=minutes,
        capacity=places,
    )
    set_rota(series, rota)
    materialise_series(series)
