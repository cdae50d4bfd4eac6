"""The sessions page: where a person is logged in, and "log out everywhere else" (docs/privacy.md).

Sessions and their room sockets are tested from the outside: the Django test Client for pages,
and sockets through config.asgi.application carrying each client's own session cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, UserSession
from accounts.sessions import describe_browser, end_sessions
from config.asgi import application
from meetings.models import Meeting
from tests.conftest import PASSWORD
from tests.rooms import going, isolate_channel_layer, open_meeting

T = TypeVar("T")

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87"
)
SESSIONS = reverse("accounts:sessions")
END_OTHERS = reverse("accounts:end_other_sessions")


def logged_in_client(user: User, user_agent: str) -> Client:
    """A browser that logged in with the password (not force_login): the real login path."""
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post(
        reverse("accounts:login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="203.0.113.7"
    )
    assert response.status_code == 302, response.content.decode()
    return client


def session_key(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def public_id_of(client: Client) -> str:
    return UserSession.objects.get(session_id=session_key(client)).public_id


# --- The page -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_page_lists_own_sessions_with_browser_and_approximate_time_only(alice: User, bob: User, frozen) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    frozen.shift(timedelta(days=3))
    phone = logged_in_client(alice, SAFARI_IPHONE)
    logged_in_client(bob, CHROME_ANDROID)  # bob's session is never on alice's page
    frozen.shift(timedelta(minutes=20))

    page = phone.get(SESSIONS)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("data-session=") == 2
    assert "Safari on iPhone" in html
    assert "Firefox on Windows" in html
    assert "Chrome on Android" not in html
    assert public_id_of(laptop) in html
    # This device first and marked; the other with approximate times, in alice's timezone.
    assert html.index("Safari on iPhone") < html.index("This device") < html.index("Firefox on Windows")
    assert "Active 3 days ago" in html
    assert "Signed in 3 days ago (Mon 2 Mar 2026, 12:00 GMT)" in html
    assert "Signed in 20 minutes ago" in html
    assert "203.0.113.7" not in html  # no address is kept or shown
    assert not UserSession.objects.filter(user=alice, browser__contains="Mozilla").exists()


@pytest.mark.django_db
def test_last_active_time_is_touched_at_most_every_few_minutes(alice: User, frozen) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    phone = logged_in_client(alice, SAFARI_IPHONE)
    frozen.shift(timedelta(minutes=2))
    laptop.get(reverse("accounts:settings"))
    assert "Active 2 minutes ago" in phone.get(SESSIONS).content.decode()  # not written yet
    frozen.shift(timedelta(minutes=10))
    laptop.get(reverse("accounts:settings"))
    frozen.shift(timedelta(minutes=1))
    assert "Active 1 minute ago" in phone.get(SESSIONS).content.decode()


@pytest.mark.django_db
def test_logged_out_and_expired_sessions_leave_the_list(alice: User, frozen) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    logged_in_client(alice, CHROME_ANDROID).post(reverse("accounts:logout"))
    remembered = Client(HTTP_USER_AGENT=SAFARI_IPHONE)
    remembered.post(reverse("accounts:login"), {"username": alice.email, "password": PASSWORD, "remember": "on"})
    assert "Chrome on Android" not in laptop.get(SESSIONS).content.decode()
    assert UserSession.objects.filter(user=alice).count() == 2

    # Days later, laptop's session (the browser's) was cleaned up; the remembered one is shown
    # until it expires too.
    frozen.shift(timedelta(days=15))
    from accounts.tasks import clear_expired_sessions

    clear_expired_sessions()
    assert not UserSession.objects.filter(user=alice).exists()
    assert remembered.get(SESSIONS).status_code == 302  # expired: log in again


@pytest.mark.django_db
def test_sessions_page_needs_login(client: Client) -> None:
    response = client.get(SESSIONS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_sessions_page_query_count_is_fixed(alice: User, django_assert_max_num_queries) -> None:
    clients = [logged_in_client(alice, agent) for agent in (FIREFOX_WINDOWS, SAFARI_IPHONE, CHROME_ANDROID)]
    with django_assert_max_num_queries(8):
        clients[0].get(SESSIONS)


def test_browser_is_described_in_two_words() -> None:
    assert describe_browser(FIREFOX_WINDOWS) == ("Firefox", "Windows")
    assert describe_browser(SAFARI_IPHONE) == ("Safari", "iPhone")
    assert describe_browser(CHROME_ANDROID) == ("Chrome", "Android")
    assert describe_browser(EDGE_WINDOWS) == ("Edge", "Windows")
    assert describe_browser("curl/8.0") == ("", "")
    assert describe_browser("") == ("", "")


# --- Ending sessions ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_log_out_one_other_session(alice: User) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    phone = logged_in_client(alice, SAFARI_IPHONE)
    tablet = logged_in_client(alice, CHROME_ANDROID)
    response = laptop.post(reverse("accounts:end_session", args=[public_id_of(phone)]), follow=True)
    assert "That session was logged out" in response.content.decode()
    assert phone.get(reverse("accounts:settings")).status_code == 302
    assert tablet.get(reverse("accounts:settings")).status_code == 200
    assert laptop.get(reverse("accounts:settings")).status_code == 200


@pytest.mark.django_db
def test_someone_elses_session_id_is_a_404_and_changes_nothing(alice: User, bob: User) -> None:
    alice_laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    bob_phone = logged_in_client(bob, SAFARI_IPHONE)
    before = set(Session.objects.values_list("session_key", flat=True))
    response = alice_laptop.post(reverse("accounts:end_session", args=[public_id_of(bob_phone)]))
    assert response.status_code == 404
    assert alice_laptop.post(reverse("accounts:end_session", args=["no-such-session"])).status_code == 404
    assert set(Session.objects.values_list("session_key", flat=True)) == before
    assert bob_phone.get(reverse("accounts:settings")).status_code == 200
    # A GET never ends anything.
    assert alice_laptop.get(END_OTHERS).status_code == 405


@pytest.mark.django_db
def test_this_device_is_not_ended_by_its_id(alice: User) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    response = laptop.post(reverse("accounts:end_session", args=[public_id_of(laptop)]), follow=True)
    assert "That is the device you are using now" in response.content.decode()
    assert laptop.get(reverse("accounts:settings")).status_code == 200


@pytest.mark.django_db
def test_log_out_everywhere_else_with_nothing_else(alice: User) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    assert "You are not logged in anywhere else." in laptop.get(SESSIONS).content.decode()
    response = laptop.post(END_OTHERS, follow=True)
    assert "There were no other sessions to log out." in response.content.decode()


@pytest.mark.django_db
def test_end_sessions_keeps_only_the_given_session(alice: User, bob: User) -> None:
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    phone = logged_in_client(alice, SAFARI_IPHONE)
    bobs = logged_in_client(bob, CHROME_ANDROID)
    assert end_sessions(alice, keep_session_key=session_key(laptop)) == 1
    assert phone.get(reverse("accounts:settings")).status_code == 302
    assert laptop.get(reverse("accounts:settings")).status_code == 200
    assert end_sessions(alice) == 1
    assert laptop.get(reverse("accounts:settings")).status_code == 302
    assert bobs.get(reverse("accounts:settings")).status_code == 200


# --- Sockets: two clients -----------------------------------------------------------------------


async def db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await database_sync_to_async(function)(*args, **kwargs)


@pytest_asyncio.fixture
async def isolated_layer(settings: Any, transactional_db: None) -> AsyncIterator[list[WebsocketCommunicator]]:
    """A channel-layer prefix of this process's own on Redis (pub/sub channels are shared by
    every database of a server); every socket opened is closed after the test."""
    isolate_channel_layer(settings, "sessions")
    opened: list[WebsocketCommunicator] = []
    yield opened
    for communicator in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await communicator.disconnect()
    await database_sync_to_async(connections.close_all)()


async def room_socket(opened: list[WebsocketCommunicator], client: Client, meeting: Meeting) -> WebsocketCommunicator:
    """A room socket opened with this client's own session cookie, welcomed."""
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={session_key(client)}"
    communicator = WebsocketCommunicator(
        application,
        f"/ws/rooms/{meeting.public_id}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie.encode())],
    )
    opened.append(communicator)
    connected, _ = await communicator.connect()
    assert connected
    welcome = json.loads(await communicator.receive_from(timeout=3))
    assert welcome["type"] == "welcome", welcome
    return communicator


async def closed_with_notice(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """The `notice` frame (presence updates may come before it), then a close with 4403."""
    notice = None
    while True:
        output = await communicator.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            assert output.get("code") == 4403, output
            assert notice is not None
            return notice
        frame = json.loads(output["text"])
        if frame["type"] == "notice":
            notice = frame


async def still_open(communicator: WebsocketCommunicator) -> None:
    """The socket answers a ping: it was not closed."""
    await communicator.send_to(text_data=json.dumps({"type": "ping"}))
    while True:
        output = await communicator.receive_output(timeout=2)
        assert output["type"] == "websocket.send", output
        if json.loads(output["text"])["type"] == "pong":
            return


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_log_out_everywhere_else_ends_the_other_client_and_closes_its_socket(
    isolated_layer: list[WebsocketCommunicator], circle, alice: User
) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    client_a = await db(logged_in_client, alice, FIREFOX_WINDOWS)
    client_b = await db(logged_in_client, alice, SAFARI_IPHONE)
    socket_a = await room_socket(isolated_layer, client_a, meeting)
    socket_b = await room_socket(isolated_layer, client_b, meeting)

    page = await db(lambda: client_a.get(SESSIONS).content.decode())
    assert "Safari on iPhone" in page

    response = await db(lambda: client_a.post(END_OTHERS, follow=True))
    assert "1 other session was logged out, and its open rooms closed." in response.content.decode()

    notice = await closed_with_notice(socket_b)
    assert notice == {
        "type": "notice",
        "kind": "logged_out",
        "message": "You were logged out. Log in again to come back.",
    }
    # B's next page is the login page; A still works, and A's socket stays open.
    next_page = await db(lambda: client_b.get(reverse("meetings:mine")))
    assert next_page.status_code == 302
    assert next_page["Location"].startswith(reverse("accounts:login"))
    assert (await db(lambda: client_a.get(reverse("meetings:mine")))).status_code == 200
    await still_open(socket_a)
    remaining = await db(lambda: list(UserSession.objects.filter(user=alice).values_list("session_id", flat=True)))
    assert remaining == [session_key(client_a)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_logging_out_one_session_closes_only_its_socket(
    isolated_layer: list[WebsocketCommunicator], circle, alice: User
) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    laptop = await db(logged_in_client, alice, FIREFOX_WINDOWS)
    phone = await db(logged_in_client, alice, SAFARI_IPHONE)
    tablet = await db(logged_in_client, alice, CHROME_ANDROID)
    phone_socket = await room_socket(isolated_layer, phone, meeting)
    tablet_socket = await room_socket(isolated_layer, tablet, meeting)
    target = await db(public_id_of, phone)
    await db(lambda: laptop.post(reverse("accounts:end_session", args=[target])))
    assert (await closed_with_notice(phone_socket))["kind"] == "logged_out"
    await still_open(tablet_socket)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_password_change_closes_the_other_devices_sockets(
    isolated_layer: list[WebsocketCommunicator], circle, alice: User
) -> None:
    meeting = await db(open_meeting, circle)
    await db(going, meeting, alice)
    laptop = await db(logged_in_client, alice, FIREFOX_WINDOWS)
    phone = await db(logged_in_client, alice, SAFARI_IPHONE)
    laptop_socket = await room_socket(isolated_layer, laptop, meeting)
    phone_socket = await room_socket(isolated_layer, phone, meeting)
    new = "a brand new passphrase 42"
    response = await db(
        lambda: laptop.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        )
    )
    assert response.status_code == 302
    assert (await closed_with_notice(phone_socket))["kind"] == "logged_out"
    await still_open(laptop_socket)
    # This device stays on the list, with when it signed in.
    page = await db(lambda: laptop.get(SESSIONS).content.decode())
    assert page.count("data-session=") == 1
    assert "Firefox on Windows" in page


@pytest.mark.django_db
def test_sessions_from_before_tracking_are_ended_too(alice: User) -> None:
    """A logged-in session whose row is missing (its key changed) gets one on its next page."""
    laptop = logged_in_client(alice, FIREFOX_WINDOWS)
    phone = logged_in_client(alice, SAFARI_IPHONE)
    UserSession.objects.filter(session_id=session_key(phone)).delete()
    session = phone.session
    session["hearth_seen_at"] = int((timezone.now() - timedelta(hours=1)).timestamp())
    session.save()
    phone.get(reverse("accounts:settings"))
    laptop.post(END_OTHERS)
    assert phone.get(reverse("accounts:settings")).status_code == 302
