"""Two-factor authentication: TOTP codes from an authenticator app, and one-time recovery
codes (docs/privacy.md).

The TOTP secret is encrypted at rest (Fernet, with a key derived from SECRET_KEY; keys in
SECRET_KEY_FALLBACKS still decrypt) and is shown only while it is being set up. A code is
accepted one 30-second step either side of now, and once only: the step of the last code
accepted is stored, and a code of that step or an earlier one is refused. Recovery codes are
stored as salted SHA-256 hashes and used up by a conditional update.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import RecoveryCode, TwoFactor, User
from lib import ratelimit
from lib.errors import ActionError

if TYPE_CHECKING:
    from django.utils.safestring import SafeString

RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
STEP_SECONDS = 30
DRIFT_STEPS = 1

# Wrong codes for one account, counted over a window, across every pending login: beyond this,
# even a right code waits (someone who has the password can't keep guessing).
ATTEMPTS_PER_ACCOUNT = 10
ATTEMPT_WINDOW_SECONDS = 15 * 60
# Wrong codes allowed in one pending login before the password must be typed again.
WRONG_CODES_PER_LOGIN = 5
PENDING_LOGIN_SECONDS = 5 * 60
PENDING_KEY = "two_factor_pending"


# --- The secret, encrypted at rest ---------------------------------------------------------


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hmac.new(str(key).encode(), b"hearth.two-factor", "sha256").digest()))
            for key in keys
        ]
    )


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def new_secret() -> str:
    return pyotp.random_base32()


def grouped(secret: str) -> str:
    """ "JBSWY3DPEHPK3PXP" -> "JBSW Y3DP EHPK 3PXP", easier to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(secret: str) -> SafeString:
    """The authenticator app's QR code as inline SVG markup (no script, no style attribute:
    the page's strict CSP allows it). The label names no topic: only the site's issuer name."""
    from django.utils.safestring import mark_safe

    uri = pyotp.TOTP(secret).provisioning_uri(name=settings.TWO_FACTOR_ISSUER, issuer_name=settings.TWO_FACTOR_ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=5, light="#fff", title=_("QR code for your authenticator app"))
    return mark_safe(svg)  # noqa: S308 - made by segno from our own URI; no user text in it


# --- Who must use it ---------------------------------------------------------------------


def is_enabled(user: User) -> bool:
    return TwoFactor.objects.filter(user=user).exists()


def required_reason(user: User) -> str:
    """Why this person must use two-factor authentication ("" if they need not)."""
    if not user.is_authenticated:
        return ""
    if settings.TWO_FACTOR_REQUIRED_FOR_STAFF and user.is_staff:
        return _("Site staff must use two-factor authentication.")
    if settings.TWO_FACTOR_REQUIRED_FOR_OWNERS:
        # Groups build on accounts: imported here.
        from groups.models import Membership

        if Membership.objects.filter(user=user, role=Membership.Role.OWNER, status=Membership.Status.ACTIVE).exists():
            return _("Group owners must use two-factor authentication.")
    return ""


# --- Codes ---------------------------------------------------------------------------------


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _hash_recovery_code(code: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{salt}${hashlib.sha256(f'{salt}:{_normalise(code)}'.encode()).hexdigest()}"


def _new_recovery_codes(two_factor: TwoFactor) -> list[str]:
    codes = []
    for _i in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _j in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    two_factor.recovery_codes.all().delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(two_factor=two_factor, code_hash=_hash_recovery_code(code)) for code in codes]
    )
    return codes


def _totp_step(secret: str, code: str) -> int | None:
    """The time step (within the allowed drift) whose code this is, or None."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(timezone.now().timestamp()) // STEP_SECONDS
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _use_totp(two_factor: TwoFactor, code: str) -> bool:
    """True if `code` is a current TOTP code not used before; it is then used up."""
    try:
        secret = decrypt_secret(two_factor.encrypted_secret)
    except InvalidToken:  # SECRET_KEY changed without keeping the old one in the fallbacks
        return False
    step = _totp_step(secret, code)
    if step is None:
        return False
    if step <= two_factor.last_step:
        raise ActionError(_("That code was used already. Wait for your app to show the next one, then type it."))
    # Conditional: of two logins racing with the same code, one wins.
    if not TwoFactor.objects.filter(pk=two_factor.pk, last_step__lt=step).update(last_step=step):
        raise ActionError(_("That code was used already. Wait for your app to show the next one, then type it."))
    two_factor.last_step = step
    return True


def _use_recovery_code(two_factor: TwoFactor, code: str) -> bool:
    normalised = _normalise(code)
    if len(normalised) != 10:
        return False
    for row in two_factor.recovery_codes.filter(used_at__isnull=True):
        salt = row.code_hash.split("$", 1)[0]
        if hmac.compare_digest(row.code_hash, _hash_recovery_code(normalised, salt)):
            # Conditional: a code is good once, even for two logins at the same moment.
            return bool(RecoveryCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()))
    return False


def check_code(user: User, code: str) -> str:
    """Use up a TOTP or recovery code of `user`: "totp" or "recovery". Raises ActionError,
    changing nothing, when the code is wrong or was used already."""
    two_factor = TwoFactor.objects.filter(user=user).first()
    if two_factor is None:
        raise ActionError(_("Two-factor authentication is off for this account."))
    code = code.strip()
    if _use_totp(two_factor, _normalise(code)):
        return "totp"
    if _use_recovery_code(two_factor, code):
        return "recovery"
    raise ActionError(
        _("That code isn't right. Type the 6 digits your authenticator app shows now, or a recovery code."),
        field="code",
    )


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(two_factor__user=user, used_at__isnull=True).count()


# --- Turning it on and off -------------------------------------------------------------------


@transaction.atomic
def do_enable_two_factor(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor on with the secret shown during setup, once the person proves their
    app has it with a current code. Returns the recovery codes, to show once. A wrong code
    changes nothing."""
    if TwoFactor.objects.filter(user=user).exists():
        raise ActionError(_("Two-factor authentication is already on."))
    step = _totp_step(secret, _normalise(code))
    if step is None:
        raise ActionError(
            _("That code isn't right. Type the 6 digits your authenticator app shows now for Hearth."), field="code"
        )
    two_factor = TwoFactor.objects.create(user=user, encrypted_secret=encrypt_secret(secret), last_step=step)
    return _new_recovery_codes(two_factor)


def _check_identity(user: User, password_or_code: str) -> None:
    """The person proves it is them: their password, or a current code (used up)."""
    if password_or_code and user.check_password(password_or_code):
        return
    try:
        check_code(user, password_or_code)
    except ActionError:
        raise ActionError(
            _("That is neither your password nor a current code. Nothing was changed."), field="password_or_code"
        ) from None


@transaction.atomic
def do_regenerate_recovery_codes(user: User, password_or_code: str) -> list[str]:
    """New recovery codes; the old ones stop working. Returns the new ones, to show once."""
    two_factor = TwoFactor.objects.select_for_update().filter(user=user).first()
    if two_factor is None:
        raise ActionError(_("Two-factor authentication is off for this account."))
    _check_identity(user, password_or_code)
    return _new_recovery_codes(two_factor)


@transaction.atomic
def do_disable_two_factor(user: User, password_or_code: str) -> None:
    """Turn two-factor off (not allowed while the person's role requires it)."""
    two_factor = TwoFactor.objects.filter(user=user).first()
    if two_factor is None:
        raise ActionError(_("Two-factor authentication is already off."))
    reason = required_reason(user)
    if reason:
        raise ActionError(reason + " " + _("It can't be turned off."))
    _check_identity(user, password_or_code)
    two_factor.delete()


def allow_attempt(user: User) -> bool:
    """Count one code typed for this account; False once too many fell in the window."""
    return ratelimit.allow(f"two-factor:{user.pk}", ATTEMPTS_PER_ACCOUNT, ATTEMPT_WINDOW_SECONDS)


# --- The login's second step ------------------------------------------------------------------


def start_pending_login(request: HttpRequest, user: User, *, backend: str, remember: bool, next_url: str) -> None:
    """The password was right and two-factor is on: the session is not logged in yet. It
    remembers, for a few minutes, who is logging in and how, until a code is given."""
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": backend,
        "remember": remember,
        "next": next_url,
        "until": int(timezone.now().timestamp()) + PENDING_LOGIN_SECONDS,
        "wrong": 0,
    }


def pending_login(request: HttpRequest) -> tuple[User, dict[str, object]] | None:
    """The person half-way through logging in, and the login's details; None when there is no
    pending login, or it expired (it is then forgotten)."""
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or int(pending.get("until", 0)) < timezone.now().timestamp():
        request.session.pop(PENDING_KEY, None)
        return None
    return user, pending


def note_wrong_code(request: HttpRequest, pending: dict[str, object]) -> bool:
    """Count a wrong code against the pending login; True (and the login forgotten) once
    there were too many."""
    wrong = int(pending.get("wrong", 0)) + 1  # type: ignore[call-overload]
    if wrong >= WRONG_CODES_PER_LOGIN:
        request.session.pop(PENDING_KEY, None)
        return True
    request.session[PENDING_KEY] = {**pending, "wrong": wrong}
    return False


def end_pending_login(request: HttpRequest) -> None:
    request.session.pop(PENDING_KEY, None)
