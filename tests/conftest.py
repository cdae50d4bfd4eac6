"""Shared fixtures: the named people of every Hearth test.

alice is a member, bob a facilitator, charlie an outsider, and dana site staff. Until groups
exist they differ only by name and staff status; later fixtures give them their roles.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from config.celery import app as celery_app

PASSWORD = "correct horse battery staple"  # noqa: S105 - test data


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
def dana(db: None) -> User:
    return make_user("dana@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Throttle counters and cached values never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Tasks run in-process (after commit) unless a test starts a real worker."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
