"""The directory and a group's page cost a small, fixed number of queries, however big Hearth gets.

Each test renders a page with 5 groups (the viewed group having 5 members), then grows the site
to 500 groups (the viewed group to 500 members) and renders it again: the count must not move,
and both stay under a pinned bound (measured, on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.handles import handle_key
from groups.models import Membership, SupportGroup, Topic
from meetings.models import Meeting
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import make_person

SMALL, LARGE = 5, 500

# Measured, then pinned (the same on SQLite and PostgreSQL).
# Directory: the paginator's count, the page of groups (member counts annotated), their topics
# (prefetched) and the topic filter's choices. Group page: the group, its topics, facilitators,
# member count and upcoming meetings.
MAX_QUERIES = {
    ("directory", "anonymous"): 4,
    ("directory", "member"): 10,  # + session, user, 2 permission lookups, unread notices, open reports
    ("detail", "anonymous"): 5,
    ("detail", "member"): 11,  # + session, user, own membership, member list, unread notices, open reports
}

_serial = itertools.count()


def add_people(count: int) -> list[User]:
    start = next(_serial) * 10_000
    return User.objects.bulk_create(
        User(email=f"bulk-{start + i}@example.test", password="!unusable") for i in range(count)
    )


def add_groups(first: int, last: int) -> list[SupportGroup]:
    """Listed groups number first..last-1, each with two topics, an owner and a facilitator."""
    topics = list(Topic.objects.order_by("position"))
    groups = SupportGroup.objects.bulk_create(
        SupportGroup(
            name=f"Circle {number:04d}",
            slug=f"circle-{number:04d}",
            description="A peer support circle.",
            guidelines="Be kind.",
            join_policy=SupportGroup.JoinPolicy.APPROVAL,
        )
        for number in range(first, last)
    )
    SupportGroup.topics.through.objects.bulk_create(
        SupportGroup.topics.through(supportgroup_id=group.pk, topic_id=topics[(index + k) % len(topics)].pk)
        for index, group in enumerate(groups)
        for k in (0, 1)
    )
    owner, facilitator = add_people(2)  # the same two people run every group
    roles = ((owner, Membership.Role.OWNER, "Steady Lantern"), (facilitator, Membership.Role.FACILITATOR, "Calm Heron"))
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(
            group=group,
            user=user,
            handle=handle,
            handle_key=handle_key(handle),
            role=role,
            status=Membership.Status.ACTIVE,
            joined_at=now,
        )
        for group in groups
        for user, role, handle in roles
    )
    return groups


def add_members(group: SupportGroup, count: int, offset: int) -> None:
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(
            group=group,
            user=user,
            handle=f"Member {offset + i:04d}",
            handle_key=handle_key(f"Member {offset + i:04d}"),
            status=Membership.Status.ACTIVE,
            joined_at=now,
        )
        for i, user in enumerate(add_people(count))
    )


def active_count(group: SupportGroup) -> int:
    return group.memberships.filter(status=Membership.Status.ACTIVE).count()


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
@pytest.mark.parametrize("page", ["directory", "detail"])
def test_page_queries_do_not_grow_with_groups_or_members(
    client: Client, django_assert_max_num_queries, django_assert_num_queries, page: str, viewer: str
) -> None:
    viewed = add_groups(0, SMALL)[0]
    if viewer == "member":
        person = make_person("viewer")
        Membership.objects.create(
            group=viewed, user=person, handle="Quiet Harbor", handle_key=handle_key("Quiet Harbor")
        )
        client.force_login(person)
    add_members(viewed, SMALL - active_count(viewed), offset=0)
    url = reverse("groups:directory") if page == "directory" else reverse("groups:detail", args=[viewed.slug])
    client.get(url)  # warm any per-process caches

    with django_assert_max_num_queries(MAX_QUERIES[page, viewer]) as small:
        response = client.get(url)
    assert response.status_code == 200
    small_count = len(small.captured_queries)
    text = response.content.decode()
    assert f"{SMALL} groups found." in text if page == "directory" else f"{SMALL} members" in text

    add_groups(SMALL, LARGE)
    add_members(viewed, LARGE - active_count(viewed), offset=SMALL)
    assert SupportGroup.objects.count() == LARGE and active_count(viewed) == LARGE

    with django_assert_num_queries(small_count):
        response = client.get(url)
    assert response.status_code == 200
    text = response.content.decode()
    if page == "directory":
        assert f"{LARGE} groups found." in text
        assert text.count('class="card group-card"') == 20  # one page
    else:
        assert f"{LARGE} members" in text
        assert ("Member 0499" in text) is (viewer == "member")  # the member list is for members


def add_meetings(group: SupportGroup, count: int, offset: int = 0) -> None:
    soon = timezone.now() + timedelta(days=1)
    Meeting.objects.bulk_create(
        Meeting(
            group=group,
            title=f"Weekly circle {i}",
            starts_at=soon + timedelta(days=7 * i),
            ends_at=soon + timedelta(days=7 * i, hours=1),
            capacity=10,
        )
        for i in range(offset, offset + count)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
def test_group_page_queries_do_not_grow_with_its_meetings(
    client: Client, django_assert_num_queries, viewer: str
) -> None:
    """Each meeting row shows the group's time: the group comes with the meetings, not per row."""
    viewed = add_groups(0, SMALL)[0]
    if viewer == "member":
        person = make_person("viewer")
        Membership.objects.create(
            group=viewed, user=person, handle="Quiet Harbor", handle_key=handle_key("Quiet Harbor")
        )
        client.force_login(person)
    url = reverse("groups:detail", args=[viewed.slug])
    add_meetings(viewed, 1)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert "Weekly circle 0" in client.get(url).content.decode()
    add_meetings(viewed, 9, offset=1)  # the page shows the next 6
    with django_assert_num_queries(len(one.captured_queries)):
        assert "Weekly circle 5" in client.get(url).content.decode()
