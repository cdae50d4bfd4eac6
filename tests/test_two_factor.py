"""Two-factor authentication (docs/privacy.md): setting it up, logging in with a code or a
recovery code, refusing reused codes and guessing, requiring it for staff and owners, and
turning it off. Time is frozen so that codes are predictable."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import RecoveryCode, TwoFactor, User
from tests.conftest import PASSWORD, add_member, make_group

LOGIN = reverse("accounts:login")
VERIFY = reverse("accounts:login_verify")
SETUP = reverse("accounts:two_factor_setup")
OVERVIEW = reverse("accounts:two_factor")
CODES = reverse("accounts:recovery_codes")


def code(secret: str, frozen, offset_steps: int = 0) -> str:
    import time

    return pyotp.TOTP(secret).at(int(time.time()) + 30 * offset_steps)


def turn_on(client: Client, frozen) -> tuple[str, list[str]]:
    """Set up two-factor as a person would: read the key off the page, type the app's code,
    keep the recovery codes. Returns (secret, recovery codes)."""
    page = client.get(SETUP).content.decode()
    secret = re.search(r"data-two-factor-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", "")  # type: ignore[union-attr]
    response = client.post(SETUP, {"code": code(secret, frozen)})
    assert response.status_code == 302
    assert response["Location"] == CODES
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", client.get(CODES).content.decode())
    assert len(codes) == 10
    frozen.shift(timedelta(seconds=30))  # the setup code's step is used up
    return secret, codes


def password_step(client: Client, user: User, password: str = PASSWORD, **extra: str):
    return client.post(LOGIN, {"username": user.email, "password": password, **extra}, REMOTE_ADDR="203.0.113.7")


@pytest.fixture
def alice_2fa(alice: User, frozen) -> tuple[User, str, list[str]]:
    """alice with two-factor on, logged out."""
    client = Client()
    client.force_login(alice)
    secret, codes = turn_on(client, frozen)
    return alice, secret, codes


# --- Setting it up ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_setup_shows_a_qr_code_and_the_key_and_turns_on_with_a_code(alice_client: Client, alice: User, frozen) -> None:
    page = alice_client.get(SETUP)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'class="segno"' in html and "style=" not in html.split("<svg", 1)[1].split("</svg>")[0]
    assert "Two-factor authentication" in alice_client.get(reverse("accounts:settings")).content.decode()
    secret, codes = turn_on(alice_client, frozen)
    two_factor = TwoFactor.objects.get(user=alice)
    assert secret not in two_factor.encrypted_secret  # encrypted at rest
    assert all(code not in row.code_hash for row in RecoveryCode.objects.all() for code in codes)
    # Shown once: neither the key nor the codes appear again.
    assert alice_client.get(CODES)["Location"] == OVERVIEW
    assert alice_client.get(SETUP)["Location"] == OVERVIEW
    overview = alice_client.get(OVERVIEW).content.decode()
    assert 'data-two-factor-status="on"' in overview
    assert "You have 10 unused recovery codes." in overview
    assert secret not in overview and codes[0] not in overview


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["000000", "12345", "not a code", ""])
def test_wrong_code_at_setup_changes_nothing(alice_client: Client, alice: User, frozen, typed: str) -> None:
    first = alice_client.get(SETUP).content.decode()
    secret = re.search(r"data-two-factor-secret>([A-Z2-7 ]+)<", first).group(1)  # type: ignore[union-attr]
    if typed == "000000" and code(secret.replace(" ", ""), frozen) == typed:
        typed = "999999"
    response = alice_client.post(SETUP, {"code": typed})
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        "That code isn&#x27;t right. Type the 6 digits your authenticator app shows now for Hearth." in html
        or "Type the code your authenticator app shows." in html
    )
    assert not TwoFactor.objects.filter(user=alice).exists()
    assert not RecoveryCode.objects.exists()
    assert secret in html  # the same key, to try again


# --- Logging in -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_asks_for_the_code_after_the_password(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    client = Client()
    response = password_step(client, alice, remember="on", next="/groups/mine/")
    assert response.status_code == 302
    assert response["Location"] == VERIFY
    assert "_auth_user_id" not in client.session  # not logged in yet
    assert client.get(reverse("accounts:settings")).status_code == 302

    wrong = client.post(VERIFY, {"code": "000000" if code(secret, frozen) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert "That code isn&#x27;t right." in wrong.content.decode()
    assert "_auth_user_id" not in client.session

    done = client.post(VERIFY, {"code": code(secret, frozen)})
    assert done.status_code == 302
    assert done["Location"] == "/groups/mine/"  # `next` kept through the second step
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert not client.session.get_expire_at_browser_close()  # `remember` kept too
    assert client.get(VERIFY).status_code == 302  # the pending login is over


@pytest.mark.django_db
def test_code_one_step_either_side_is_accepted(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    for offset in (-1, 1):
        client = Client()
        password_step(client, alice)
        frozen.shift(timedelta(seconds=90))
        assert client.post(VERIFY, {"code": code(secret, frozen, offset)}).status_code == 302
        assert client.session.get_expire_at_browser_close()  # not remembered
    client = Client()
    password_step(client, alice)
    frozen.shift(timedelta(seconds=90))
    assert client.post(VERIFY, {"code": code(secret, frozen, -2)}).status_code == 400


@pytest.mark.django_db
def test_a_code_is_good_once(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    first = Client()
    password_step(first, alice)
    typed = code(secret, frozen)
    assert first.post(VERIFY, {"code": typed}).status_code == 302
    second = Client()
    password_step(second, alice)
    response = second.post(VERIFY, {"code": typed})
    assert response.status_code == 400
    assert "That code was used already." in response.content.decode()
    assert "_auth_user_id" not in second.session
    frozen.shift(timedelta(seconds=30))
    assert second.post(VERIFY, {"code": code(secret, frozen)}).status_code == 302


@pytest.mark.django_db
def test_recovery_code_logs_in_once(alice_2fa, frozen) -> None:
    alice, _secret, codes = alice_2fa
    client = Client()
    password_step(client, alice)
    response = client.post(VERIFY, {"code": codes[3].upper()}, follow=True)
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert "You used a recovery code. 9 are left" in response.content.decode()
    other = Client()
    password_step(other, alice)
    again = other.post(VERIFY, {"code": codes[3]})
    assert again.status_code == 400
    assert "_auth_user_id" not in other.session


@pytest.mark.django_db
def test_wrong_password_looks_the_same_with_or_without_two_factor(alice_2fa, bob: User, frozen) -> None:
    alice, _secret, _codes = alice_2fa
    with_2fa = password_step(Client(), alice, "not my password")
    without = password_step(Client(), bob, "not my password")
    assert with_2fa.status_code == without.status_code == 400
    strip = re.compile(r'name="(csrfmiddlewaretoken|username)" value="[^"]*"')
    assert strip.sub("", with_2fa.content.decode()) == strip.sub("", without.content.decode())


@pytest.mark.django_db
def test_five_wrong_codes_end_the_pending_login(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    client = Client()
    password_step(client, alice)
    wrong = "000000" if code(secret, frozen) != "000000" else "111111"
    for _ in range(4):
        assert client.post(VERIFY, {"code": wrong}).status_code == 400
    fifth = client.post(VERIFY, {"code": wrong}, follow=True)
    assert "Too many wrong codes. Log in again with your password." in fifth.content.decode()
    # Even the right code is too late now: the password comes first again.
    assert client.post(VERIFY, {"code": code(secret, frozen)})["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_guessing_across_logins_is_throttled_per_account(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    wrong = "000000" if code(secret, frozen) != "000000" else "111111"
    last_step = TwoFactor.objects.get(user=alice).last_step
    client = Client()
    for attempt in range(10):
        if attempt % 4 == 0:
            password_step(client, alice)  # a fresh pending login each few guesses
        client.post(VERIFY, {"code": wrong})
    password_step(client, alice)
    refused = client.post(VERIFY, {"code": code(secret, frozen)})
    assert refused.status_code == 429
    assert "Too many codes were tried for this account." in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert TwoFactor.objects.get(user=alice).last_step == last_step  # the refused code is still unused
    # The window ends (in the cache's own time: on Redis frozen time doesn't move it).
    from django.core.cache import cache

    cache.delete(f"ratelimit:two-factor:{alice.pk}")
    password_step(client, alice)
    assert client.post(VERIFY, {"code": code(secret, frozen)}).status_code == 302


@pytest.mark.django_db
def test_pending_login_expires(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    client = Client()
    password_step(client, alice)
    frozen.shift(timedelta(minutes=6))
    response = client.post(VERIFY, {"code": code(secret, frozen)}, follow=True)
    assert "Please log in with your email and password first" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_verify_page_without_a_password_step_goes_to_login(client: Client) -> None:
    assert client.get(VERIFY)["Location"] == LOGIN


@pytest.mark.django_db
def test_axes_still_counts_wrong_passwords_for_two_factor_accounts(alice_2fa, frozen) -> None:
    alice, _secret, _codes = alice_2fa
    client = Client()
    for _ in range(4):
        assert password_step(client, alice, "guess").status_code == 400
    assert password_step(client, alice, "guess").status_code == 429
    assert password_step(client, alice).status_code == 429  # the right password waits too


# --- Required for staff and owners ---------------------------------------------------------------


@pytest.mark.django_db
def test_staff_required_to_use_it_see_only_its_setup(dana: User, settings, frozen) -> None:
    settings.TWO_FACTOR_REQUIRED_FOR_STAFF = True
    client = Client()
    client.force_login(dana)
    for path in (reverse("home"), reverse("accounts:settings"), "/admin/", reverse("accounts:sessions")):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == SETUP
    assert client.get(reverse("help")).status_code == 200
    page = client.get(SETUP).content.decode()
    assert "Site staff must use two-factor authentication." in page
    turn_on(client, frozen)
    assert client.get("/admin/").status_code == 200
    # It can't be turned off while required.
    response = client.post(reverse("accounts:two_factor_disable"), {"password_or_code": PASSWORD})
    assert response.status_code == 400
    assert TwoFactor.objects.filter(user=dana).exists()
    assert client.post(reverse("accounts:logout")).status_code == 302


@pytest.mark.django_db
def test_group_owners_when_required(owen: User, alice: User, settings) -> None:
    group = make_group()
    add_member(group, owen, "Steady Lantern", role="owner")
    add_member(group, alice, "Quiet Harbor")
    owner, member = Client(), Client()
    owner.force_login(owen)
    member.force_login(alice)
    assert owner.get(reverse("home")).status_code == 200  # not required by default
    settings.TWO_FACTOR_REQUIRED_FOR_OWNERS = True
    assert owner.get(reverse("home"))["Location"] == SETUP
    assert "Group owners must use two-factor authentication." in owner.get(SETUP).content.decode()
    assert member.get(reverse("home")).status_code == 200


# --- Turning it off, new recovery codes ---------------------------------------------------------------


@pytest.mark.django_db
def test_turning_off_needs_the_password_or_a_code(alice_2fa, frozen) -> None:
    alice, secret, _codes = alice_2fa
    client = Client()
    client.force_login(alice)
    disable = reverse("accounts:two_factor_disable")
    response = client.post(disable, {"password_or_code": "not my password"})
    assert response.status_code == 400
    assert "That is neither your password nor a current code. Nothing was changed." in response.content.decode()
    assert TwoFactor.objects.filter(user=alice).exists()
    response = client.post(disable, {"password_or_code": code(secret, frozen)}, follow=True)
    assert "Two-factor authentication is off." in response.content.decode()
    assert not TwoFactor.objects.filter(user=alice).exists()
    assert not RecoveryCode.objects.exists()
    # Logging in is back to the password alone.
    assert password_step(Client(), alice)["Location"] == reverse("home")


@pytest.mark.django_db
def test_new_recovery_codes_replace_the_old(alice_2fa, frozen) -> None:
    alice, _secret, old_codes = alice_2fa
    client = Client()
    client.force_login(alice)
    regenerate = reverse("accounts:regenerate_recovery_codes")
    assert client.post(regenerate, {"password_or_code": ""}).status_code == 400
    assert client.post(regenerate, {"password_or_code": PASSWORD})["Location"] == CODES
    new_codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", client.get(CODES).content.decode())
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    login = Client()
    password_step(login, alice)
    assert login.post(VERIFY, {"code": old_codes[0]}).status_code == 400
    assert login.post(VERIFY, {"code": new_codes[0]}).status_code == 302
