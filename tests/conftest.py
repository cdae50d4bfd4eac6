"""Shared fixtures: the named people of every Hearth test.

alice is a member, bob a facilitator, owen a group owner, charlie an outsider, and dana site
staff. The `circle` fixture gives them their roles in one group.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from config.celery import app as celery_app

PASSWORD = "correct horse battery staple"


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the real-services run, an unreachable PostgreSQL or Redis fails the run at once."""
    import os

    import redis

    if url := os.environ.get("REDIS_URL"):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except redis.RedisError as error:
            pytest.exit(f"REDIS_URL is set but Redis is unreachable: {error}", returncode=3)
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        import psycopg

        try:
            psycopg.connect(
                host=db["HOST"],
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db["PASSWORD"],
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except psycopg.Error as error:
            pytest.exit(f"DATABASE_URL is set but PostgreSQL is unreachable: {error}", returncode=3)


def make_user(email: str, **extra: object) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, **extra)


@pytest.fixture
def alice(db: None) -> User:
    return make_user("alice@example.com", timezone="Europe/London")


@pytest.fixture
def bob(db: None) -> User:
    return make_user("bob@example.com", timezone="America/New_York")


@pytest.fixture
def charlie(db: None) -> User:
    return make_user("charlie@example.com")


@pytest.fixture
def owen(db: None) -> User:
    return make_user("owen@example.com", timezone="Europe/Dublin")


@pytest.fixture
def dana(db: None) -> User:
    return make_user("dana@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Throttle counters and cached values never leak from one test into the next."""
    _clear_hearth_cache()
    yield
    _clear_hearth_cache()


def _clear_hearth_cache() -> None:
    """Delete Hearth's cache keys only: on Redis, cache.clear() would FLUSHDB the database the
    broker queues and the channel layer share."""
    from django.conf import settings

    if not settings.REDIS_URL:
        cache.clear()  # local memory of this process only
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=cache.make_key("*"), count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Tasks run in-process (after commit) unless a test starts a real worker."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


def make_group(**fields: object):
    from groups.models import SupportGroup, Topic

    defaults: dict[str, object] = {
        "name": "Tuesday Circle",
        "slug": "tuesday-circle",
        "description": "A weekly circle for people untangling a trauma bond.",
        "guidelines": "What is shared here stays here.\nSpeak from your own experience.",
        "timezone": "Europe/London",
        "join_policy": SupportGroup.JoinPolicy.OPEN,
    }
    group = SupportGroup.objects.create(**{**defaults, **fields})
    group.topics.set(Topic.objects.filter(slug="trauma-bonding"))
    return group


def add_member(group, user: User, handle: str, role: str = "member", status: str = "active"):
    from django.utils import timezone

    from groups.handles import handle_key
    from groups.models import Membership

    now = timezone.now()
    return Membership.objects.create(
        group=group,
        user=user,
        handle=handle,
        handle_key=handle_key(handle),
        role=role,
        status=status,
        guidelines_accepted_at=now,
        joined_at=now if status == "active" else None,
    )


@pytest.fixture
def circle(owen: User, bob: User, alice: User):
    """An open, listed group: owen owns it, bob facilitates, alice is a member."""
    group = make_group()
    add_member(group, owen, "Steady Lantern", role="owner")
    add_member(group, bob, "Calm Heron", role="facilitator")
    add_member(group, alice, "Quiet Harbor")
    return group


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest, settings) -> None:
    """A cheap hasher for speed, except where a real server process checks the passwords."""
    if "e2e" not in request.keywords and "processes" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def utc(*args: int):
    from datetime import UTC, datetime

    return datetime(*args, tzinfo=UTC)


# A Monday noon in March 2026, before the UK's clocks go forward (29 March).
FROZEN_NOW = utc(2026, 3, 2, 12)


@pytest.fixture
def frozen():
    """Time stands still at FROZEN_NOW (move it with .move_to / .shift)."""
    import time_machine

    with time_machine.travel(FROZEN_NOW, tick=False) as traveller:
        yield traveller


def one_off_meeting(group, owner: User, starts, *, capacity: int = 12):
    """A one-off meeting at `starts` (aware), scheduled by `owner` in the group's timezone."""
    from groups.actions import access_group
    from lib.timefmt import zone
    from meetings import actions

    local = starts.astimezone(zone(group.timezone))
    return actions.do_create_meeting(
        access_group(owner, group.slug),
        title="Evening share",
        day=local.date(),
        at=local.time(),
        duration_minutes=90,
        capacity=capacity,
        facilitator=None,
        backup=None,
    )
