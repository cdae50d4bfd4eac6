"""The staff console (/console/): who sees it, what it shows, and the system's state: the /healthz
checks, the Celery queue, the beat heartbeat and open room sockets per process, with a stopped
Redis shown as problems on a page that still renders."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import redis
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection, connections
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from kombu import Connection

from accounts.models import Notice, NoticeKind, User
from config.celery import app as celery_app
from console import system
from console.system import record_beat
from console.tasks import beat_heartbeat
from groups.models import Membership
from lib import open_sockets
from lib.outbox import Delivery
from meetings.models import Reminder, ReminderOffset, Room, RoomPresence
from moderation import actions as moderation
from moderation.models import Report, WatchedWord
from tests import rooms
from tests.conftest import FROZEN_NOW, add_member, make_user
from tests.groups_fixtures import *  # noqa: F403
from tests.groups_fixtures import GroupCast, build_cast, client_as, make_person
from tests.rooms import going, isolate_channel_layer, open_meeting
from tests.test_healthz import PrivateRedis, private_redis, redis_services_on  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

URL = "/console/"
# Nothing listening here: connections are refused at once, as when Redis has stopped.
DEAD_REDIS = "redis://127.0.0.1:1/0"
# The page must report a dead Redis well within a load balancer's patience.
DOWN_SECONDS = 8


def get_console(client: Client) -> str:
    response = client.get(URL)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def check_row(page: str, key: str) -> str:
    """The system state's table row for one check (its text, tags removed)."""
    found = re.search(rf'<tr data-check="{key}" class="([^"]+)">(.*?)</tr>', page, re.S)
    assert found, f"no {key} row on the console"
    return found.group(1) + " " + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(2)))


def alert(page: str) -> str:
    found = re.search(r'<div class="card card--warning" role="alert" data-problems>(.*?)</div>', page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


@pytest.fixture
def heartbeat_dir(settings, tmp_path: Path) -> Path:
    """The heartbeat's file (embedded run) in this test's own folder."""
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def staff_client(client: Client, heartbeat_dir: Path) -> Client:
    client.force_login(make_person("staff", staff=True))
    return client


# --- Who sees it --------------------------------------------------------------------------------


def suspended_member(cast: GroupCast) -> User:
    """A member suspended from the group (timed sanction on the membership)."""
    person = make_person("suspended")
    membership = add_member(cast.group, person, "Hidden Meadow")
    Membership.objects.filter(pk=membership.pk).update(suspended_until=timezone.now() + timedelta(days=3))
    return person


def suspended_account(cast: GroupCast) -> User:
    """A member whose account staff suspended site-wide."""
    person = make_person("suspended-account")
    add_member(cast.group, person, "Far Meadow")
    moderation.do_suspend_account(cast.people["staff"], person, reason="Spam in every group")
    return person


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonymous", 302),
        ("outsider", 403),
        ("pending", 403),
        ("member", 403),
        ("facilitator", 403),
        ("owner", 403),
        ("banned", 403),
        ("suspended", 403),
        ("suspended-account", 403),
        ("staff", 200),
    ],
)
def test_only_staff_see_the_staff_console(client: Client, heartbeat_dir: Path, persona: str, status: int) -> None:
    cast = build_cast("tuesday-circle")
    if persona == "suspended":
        person: User | None = suspended_member(cast)
    elif persona == "suspended-account":
        person = suspended_account(cast)
    else:
        person = cast.user(persona)

    response = client_as(client, person).get(URL)

    assert response.status_code == status
    page = response.content.decode()
    if status == 302:
        assert response["Location"].startswith(reverse("accounts:login"))
    else:
        assert ("Staff console" in page) == (status == 200)
        assert ("data-check=" in page) == (status == 200)


def test_staff_find_the_console_in_the_header(staff_client: Client) -> None:
    page = staff_client.get(reverse("moderation:console")).content.decode()
    assert f'href="{URL}"' in page


def test_members_are_not_shown_the_way_to_it(alice_client: Client) -> None:
    assert f'href="{URL}"' not in alice_client.get(reverse("groups:directory")).content.decode()


# --- Groups, moderation, watched words, failed notifications -----------------------------------------------


def test_groups_side_by_side_with_their_figures(staff_client: Client, django_assert_max_num_queries) -> None:
    first = build_cast("tuesday-circle")
    second = build_cast("thursday-circle", handles={k: f"{v} Two" for k, v in first.handles.items()})
    Report.objects.create(group=second.group, subject=second.memberships["member"], category="spam")
    for index in range(3):
        build_cast(f"extra-circle-{index}", handles={k: f"{v} X{index}" for k, v in first.handles.items()})

    with django_assert_max_num_queries(30):
        page = get_console(staff_client)

    for cast, reports in ((first, 0), (second, 1)):
        row = re.search(rf'<tr data-group="{cast.group.slug}">(.*?)</tr>', page, re.S)
        assert row, cast.group.slug
        cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
        # members (owner, facilitator, member: active only), meetings, attendance, open reports,
        # median hours to resolve, facilitator coverage
        assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells] == ["3", "0", "—", str(reports), "—", "—"]
        assert reverse("console:group", args=[cast.group.slug]) in row.group(1)
        assert reverse("console:health", args=[cast.group.slug]) in row.group(1)
        assert reverse("groups:detail", args=[cast.group.slug]) in row.group(1)


def test_query_count_does_not_grow_with_the_number_of_groups(staff_client: Client) -> None:
    build_cast("tuesday-circle")
    staff_client.get(URL)  # warm: the session and the like

    with CaptureQueriesContext(connection) as one_group:
        get_console(staff_client)
    for index in range(4):
        build_cast(
            f"more-circle-{index}",
            handles={k: f"Handle {k} {index}" for k in ("owner", "facilitator", "member", "pending", "banned")},
        )
    with CaptureQueriesContext(connection) as five_groups:
        get_console(staff_client)

    assert len(five_groups) == len(one_group)


def test_escalated_reports_suspensions_and_watched_words(staff_client: Client) -> None:
    cast = build_cast("tuesday-circle")
    staff = cast.people["staff"]
    escalated = [
        Report.objects.create(
            group=cast.group,
            subject=cast.memberships["member"],
            category=category,
            escalated_at=timezone.now() - timedelta(hours=hours),
        )
        for category, hours in (("threats", 5), ("hate", 1))
    ]
    Report.objects.create(group=cast.group, subject=cast.memberships["facilitator"], category="spam")  # not escalated
    Report.objects.create(
        group=cast.group,
        subject=cast.memberships["owner"],
        category="spam",
        escalated_at=timezone.now(),
        status=Report.Status.RESOLVED,
    )  # escalated, but closed
    suspended = make_person("suspended")
    moderation.do_suspend_account(staff, suspended, reason="Spamming every group")
    lifted = make_person("lifted")
    moderation.do_suspend_account(staff, lifted, reason="A mistake", ends_at=timezone.now() + timedelta(days=1))
    moderation.do_lift_account_suspension(staff, lifted.sanctions.get().public_id, "Wrong person")
    WatchedWord.objects.create(phrase="kill myself", normalised="kill myself", action="crisis")
    WatchedWord.objects.create(group=cast.group, phrase="ex", normalised="ex", action="flag")
    WatchedWord.objects.create(group=cast.group, phrase="address", normalised="address", action="block")

    page = get_console(staff_client)

    assert 'data-escalated="2"' in page
    assert "2 open reports are escalated to staff." in page
    assert page.index("Threats") < page.index("Hate")  # waiting longest first
    for report in escalated:
        assert reverse("moderation:report", args=[cast.group.slug, report.public_id]) in page
    assert 'data-suspended="1"' in page
    assert "Spamming every group" in page
    assert "A mistake" not in page
    assert suspended.email not in page  # addresses stay in the moderation console
    assert 'data-site-words="1"' in page
    assert "Groups watch 2 more of their own." in page
    assert reverse("moderation:console") in page
    assert reverse("moderation:site_words") in page


def test_failed_notifications_without_addresses_or_text(staff_client: Client) -> None:
    cast = build_cast("tuesday-circle")
    member = cast.people["member"]
    Notice.objects.create(
        user=member,
        kind=NoticeKind.MODERATION,
        text="Secret notice text about Tuesday Circle",
        subject="Secret subject",
        status=Delivery.Status.FAILED,
        attempts=5,
        last_error=f"SMTPRecipientsRefused: {{'{member.email}': (550, b'No such user <{member.email}>')}}",
    )
    Notice.objects.create(user=member, kind=NoticeKind.REMINDER, text="Sent fine", status=Delivery.Status.SENT)
    meeting = open_meeting(cast.group)
    Reminder.objects.create(
        meeting=meeting,
        membership=cast.memberships["member"],
        kind=ReminderOffset.choices[0][0],
        status=Delivery.Status.FAILED,
        attempts=1,
        last_error="TemplateDoesNotExist: emails/reminder.txt",
    )

    page = get_console(staff_client)

    assert 'data-failed="2"' in page
    assert "1 notice email failed after every retry" in page
    assert "1 reminder failed." in page
    assert "Email notice: Moderation: reports to review, and decisions about you" in page
    assert "SMTPRecipientsRefused" in page
    assert "[address]" in page
    assert "TemplateDoesNotExist: emails/reminder.txt" in page
    assert "@" not in re.sub(r"<[^>]+>", "", page.split('id="failed"')[1])
    assert member.email not in page
    assert "Secret notice text" not in page
    assert "Secret subject" not in page
    assert reverse("admin:accounts_notice_changelist") + "?status__exact=failed" in page
    assert reverse("admin:meetings_reminder_changelist") + "?status__exact=failed" in page


def test_the_admin_link_lists_only_failed_notices(staff_client: Client) -> None:
    User.objects.filter(is_staff=True).update(is_superuser=True)
    person = make_user("failing@example.com")
    Notice.objects.create(user=person, kind=NoticeKind.REMINDER, text="Bounced notice", status=Delivery.Status.FAILED)
    Notice.objects.create(user=person, kind=NoticeKind.REMINDER, text="Delivered notice", status=Delivery.Status.SENT)

    response = staff_client.get(reverse("admin:accounts_notice_changelist") + "?status__exact=failed")

    assert response.status_code == 200
    assert "Bounced notice" in response.content.decode()
    assert "Delivered notice" not in response.content.decode()


# --- The system's state: everything fine --------------------------------------------------------


def test_a_healthy_system_shows_no_problem(staff_client: Client) -> None:
    record_beat()

    page = get_console(staff_client)

    assert "data-all-ok" in page
    assert 'role="alert" data-problems' not in page
    for key in ("database", "cache", "broker", "channel_layer", "queue", "beat", "sockets"):
        assert check_row(page, key).startswith("system-check--ok"), check_row(page, key)
    # The system comes before everything else on the page.
    assert page.index('id="system"') < page.index('id="groups"') < page.index('id="failed"')


# --- The beat heartbeat -----------------------------------------------------------------------------


def test_the_heartbeat_job_is_scheduled_every_minute() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["beat-heartbeat"]
    assert entry["task"] == "console.tasks.beat_heartbeat"
    assert entry["schedule"] == timedelta(minutes=1)
    assert beat_heartbeat.name in celery_app.tasks  # found by autodiscovery, as a worker finds it
    assert beat_heartbeat.name == entry["task"]


def test_a_fresh_heartbeat_is_ok(staff_client: Client, frozen) -> None:
    beat_heartbeat.delay()  # as the worker runs it (eager in tests)
    frozen.shift(timedelta(seconds=90))

    row = check_row(get_console(staff_client), "beat")

    assert row.startswith("system-check--ok"), row
    assert "Ran 1 minute ago" in row


def test_a_beat_that_has_not_run_for_6_minutes_is_a_problem(staff_client: Client, frozen) -> None:
    record_beat()
    frozen.shift(timedelta(minutes=6, seconds=10))

    page = get_console(staff_client)

    row = check_row(page, "beat")
    assert row.startswith("system-check--problem"), row
    assert "Beat has not run for 6 minutes" in row
    assert "Celery beat: Beat has not run for 6 minutes" in alert(page)


def test_the_limit_is_five_minutes(staff_client: Client, frozen) -> None:
    record_beat()
    frozen.shift(timedelta(minutes=4, seconds=59))
    assert check_row(get_console(staff_client), "beat").startswith("system-check--ok")
    frozen.shift(timedelta(seconds=2))
    assert "Beat has not run for 5 minutes" in check_row(get_console(staff_client), "beat")


def test_a_beat_never_seen_is_a_problem(staff_client: Client) -> None:
    page = get_console(staff_client)

    row = check_row(page, "beat")
    assert row.startswith("system-check--problem"), row
    assert "Never seen" in row
    assert "Celery beat: Never seen" in alert(page)


def test_the_embedded_heartbeat_is_a_file_every_process_reads(heartbeat_dir: Path) -> None:
    if system._cache_is_shared():
        pytest.skip("with a shared cache (Redis) the heartbeat lives in the cache")
    record_beat(FROZEN_NOW)
    assert (heartbeat_dir / "beat-heartbeat").read_text() == FROZEN_NOW.isoformat()
    assert system.last_beat() == FROZEN_NOW


# --- The Celery queue -----------------------------------------------------------------------------


@pytest.fixture
def private_queue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A default queue of this test's own, on the configured kind of broker (filesystem in the
    embedded run, Redis in the real-services one), so that no worker takes its messages."""
    name = f"console-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", name)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    if str(celery_app.conf.broker_url).startswith("filesystem"):
        folders = {"data_folder_in": tmp_path / "queue", "data_folder_out": tmp_path / "queue"}
        folders["control_folder"] = tmp_path / "control"
        for folder in folders.values():
            folder.mkdir(exist_ok=True)
        monkeypatch.setitem(
            celery_app.conf, "broker_transport_options", {key: str(path) for key, path in folders.items()}
        )
    yield name
    if str(celery_app.conf.broker_url).startswith("redis"):
        with redis.Redis.from_url(str(celery_app.conf.broker_url)) as client:
            client.delete(name, *(f"{name}\x06\x16{step}" for step in (3, 6, 9)))


def send_jobs(count: int) -> None:
    """Real task messages, sent as the web server sends them."""
    with Connection(celery_app.conf.broker_url, transport_options=celery_app.conf.broker_transport_options) as conn:
        for _index in range(count):
            celery_app.send_task("console.tasks.beat_heartbeat", connection=conn)


def test_queue_length_counts_the_jobs_waiting(staff_client: Client, private_queue: str) -> None:
    assert system.queue_length() == 0
    send_jobs(3)

    assert system.queue_length() == 3
    row = check_row(get_console(staff_client), "queue")
    assert row.startswith("system-check--ok"), row
    assert "3 jobs waiting" in row


def test_a_long_queue_is_a_problem(staff_client: Client, private_queue: str, settings) -> None:
    settings.QUEUE_LENGTH_ALERT = 2
    send_jobs(3)

    page = get_console(staff_client)

    row = check_row(page, "queue")
    assert row.startswith("system-check--problem"), row
    assert "More than 2 jobs are waiting" in row
    assert "Task queue: 3 jobs waiting" in alert(page)


def test_the_queue_length_is_read_from_the_configured_broker() -> None:
    kind = "redis" if django_settings.REDIS_URL else "filesystem"
    assert str(celery_app.conf.broker_url).startswith(kind)
    assert isinstance(system.queue_length(), int)


# --- A stopped Redis --------------------------------------------------------------------------------


def test_a_stopped_redis_is_shown_as_problems_quickly(staff_client: Client) -> None:
    with redis_services_on(DEAD_REDIS):
        started = time.monotonic()
        response = staff_client.get(URL)
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < DOWN_SECONDS, f"the console took {elapsed:.1f} s with Redis down"
    page = response.content.decode()
    for key in ("cache", "broker", "channel_layer", "queue", "beat", "sockets"):
        assert check_row(page, key).startswith("system-check--problem"), check_row(page, key)
    assert check_row(page, "database").startswith("system-check--ok")
    assert "The cache (Redis) did not answer" in check_row(page, "beat")
    summary = alert(page)
    for label in ("Cache: Not answering", "Task broker: Not answering", "Channel layer: Not answering"):
        assert label in summary
    assert "Task queue: Unknown" in summary
    assert "Celery beat: Unknown" in summary


def test_a_redis_that_stopped_answering_is_shown_as_problems_without_hanging(
    staff_client: Client,
    private_redis: PrivateRedis,  # noqa: F811 - the fixture imported above
) -> None:
    """Frozen: it still accepts connections (the kernel does that) and never answers."""
    with redis_services_on(private_redis.url):
        record_beat()
        private_redis.freeze()
        started = time.monotonic()
        try:
            response = staff_client.get(URL)
        finally:
            elapsed = time.monotonic() - started
            private_redis.kill()

    assert response.status_code == 200
    assert elapsed < DOWN_SECONDS, f"the console took {elapsed:.1f} s with Redis frozen"
    page = response.content.decode()
    for key in ("cache", "broker", "channel_layer", "queue", "beat", "sockets"):
        assert check_row(page, key).startswith("system-check--problem"), check_row(page, key)


def test_a_stopped_redis_does_not_touch_the_room_sockets_count() -> None:
    """Publishing the count logs and gives up: it never raises into the consumer."""
    with redis_services_on(DEAD_REDIS):
        open_sockets.publish(3)  # no exception


# --- Open room sockets per process ---------------------------------------------------------------------


@pytest_asyncio.fixture
async def room_sockets(settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[None]:
    """Sockets through the real ASGI app, with this process's count published without delay."""
    monkeypatch.setattr(open_sockets, "MIN_INTERVAL_SECONDS", 0.05)
    settings.VAR_DIR = tmp_path
    isolate_channel_layer(settings)
    yield
    # Connections opened by the consumers' database thread, closed before the test database goes.
    await database_sync_to_async(connections.close_all)()


async def wait_for_count(expected: int, seconds: float = 5) -> None:
    """Until this process's published count is `expected` (its writes are throttled)."""
    me = open_sockets.process_id()
    give_up = time.monotonic() + seconds
    while True:
        processes = await database_sync_to_async(open_sockets.live_processes)()
        mine = [entry.count for entry in processes if entry.process == me]
        if mine == [expected]:
            return
        if time.monotonic() > give_up:
            pytest.fail(f"this process reported {mine}, not {expected}")
        await asyncio.sleep(0.05)


def sockets_line(count: int) -> str:
    return f"{open_sockets.process_id()}: {count} socket{'' if count == 1 else 's'}, reported"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_open_room_sockets_are_counted_per_process(circle, alice: User, bob: User, room_sockets: None) -> None:
    staff = await database_sync_to_async(make_person)("staff", staff=True)
    client = AsyncClient()
    await client.aforce_login(staff)
    meeting = await database_sync_to_async(open_meeting)(circle)
    await database_sync_to_async(going)(meeting, alice)
    before = open_sockets.open_count()

    sockets = [(await rooms.connect(person, meeting))[0] for person in (alice, bob)]
    try:
        await wait_for_count(before + 2)
        page = (await client.get(URL)).content.decode()
        row = check_row(page, "sockets")
        assert row.startswith("system-check--ok"), row
        assert sockets_line(before + 2) in row
        assert await database_sync_to_async(RoomPresence.objects.count)() == 2
        assert "The database records 2 open room sockets." in row
    finally:
        for socket in sockets:
            await socket.close()

    await wait_for_count(before)
    row = check_row((await client.get(URL)).content.decode(), "sockets")
    assert sockets_line(before) in row
    assert "The database records 0 open room sockets." in row


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_refused_socket_is_not_counted(circle, charlie: User, room_sockets: None) -> None:
    meeting = await database_sync_to_async(open_meeting)(circle)
    before = open_sockets.open_count()

    socket, first = await rooms.connect(charlie, meeting)  # not a member
    try:
        assert first["type"] == "error"
        assert open_sockets.open_count() == before
    finally:
        await socket.close()
    assert open_sockets.open_count() == before


def test_processes_that_stop_reporting_drop_off_the_list(frozen) -> None:
    open_sockets.publish(4)
    me = open_sockets.process_id()
    assert [(entry.process, entry.count) for entry in open_sockets.live_processes()] == [(me, 4)]
    # Another process that registered and then died: its entry expires, the index keeps its name.
    cache.set(open_sockets.INDEX_KEY, [*cache.get(open_sockets.INDEX_KEY), "gone-host:1"], None)
    assert [entry.process for entry in open_sockets.live_processes()] == [me]


def test_stale_presence_rows_are_pointed_out(staff_client: Client, circle) -> None:
    meeting = open_meeting(circle)
    room = Room.objects.create(meeting=meeting)
    RoomPresence.objects.create(
        room=room,
        membership=circle.memberships.get(role="member"),
        channel_name="specific.dead!1",
        seen_at=timezone.now() - timedelta(minutes=10),
    )

    row = check_row(get_console(staff_client), "sockets")

    assert "1 presence row has not been touched for over 3 minutes" in row
