from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.timezones import validate_timezone
from lib.ids import public_id
from lib.outbox import Delivery


class NoticeKind(models.TextChoices):
    """What a notice is about. Each kind can be sent by email, shown in-app, both or neither,
    and every email carries a one-click unsubscribe for its kind."""

    REMINDER = "reminder", _("Reminders of meetings you are going to")
    MEETING = "meeting", _("A meeting you are going to moved or was cancelled")
    WAITLIST = "waitlist", _("A place opened up for you on a waitlist")
    MEMBERSHIP = "membership", _("Answers to your requests to join a group")
    FACILITATION = "facilitation", _("Meetings of your groups that need a facilitator")
    REPORTS = "reports", _("What happened to reports you made")
    MODERATION = "moderation", _("Moderation: reports to review, and decisions about you")


class ReminderOffset(models.TextChoices):
    """How long before a meeting a reminder goes out: one of a fixed set."""

    TWO_DAYS = "48h", _("2 days before")
    DAY = "24h", _("1 day before")
    THREE_HOURS = "3h", _("3 hours before")
    HOUR = "1h", _("1 hour before")
    QUARTER = "15m", _("15 minutes before")


REMINDER_OFFSET_DELTAS = {
    ReminderOffset.TWO_DAYS: timedelta(hours=48),
    ReminderOffset.DAY: timedelta(hours=24),
    ReminderOffset.THREE_HOURS: timedelta(hours=3),
    ReminderOffset.HOUR: timedelta(hours=1),
    ReminderOffset.QUARTER: timedelta(minutes=15),
}


def default_reminder_offsets() -> list[str]:
    return [ReminderOffset.DAY.value, ReminderOffset.HOUR.value]


def every_notice_kind() -> list[str]:
    return [kind.value for kind in NoticeKind]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are unique whatever their letter case, and log in whatever the case typed.
        return self.get(email__iexact=username)

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).strip(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account. Members never see each other's User: only per-group handles."""

    # unique=True for Django's checks; the constraint below is the rule that matters (any case).
    email = models.EmailField(
        _("email address"),
        max_length=254,
        unique=True,
        error_messages={"unique": _("An account with this email address already exists.")},
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Can log into the admin site and see every group.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    timezone = models.CharField(_("timezone"), max_length=64, default="UTC", validators=[validate_timezone])
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    discreet_notifications = models.BooleanField(
        _("discreet notifications"),
        default=True,
        help_text=_("Emails use a neutral sender and subject, and never name a group or topic."),
    )

    # Notification preferences (see docs/notifications.md).
    reminder_offsets = models.JSONField(_("reminder times"), default=default_reminder_offsets, blank=True)
    email_kinds = models.JSONField(_("notices sent by email"), default=every_notice_kind, blank=True)
    in_app_kinds = models.JSONField(_("notices shown in Hearth"), default=every_notice_kind, blank=True)
    quiet_hours_start = models.TimeField(_("quiet hours start"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours end"), null=True, blank=True)
    # A site-wide suspension by staff (moderation.actions): in force from suspended_at until
    # suspension_ends_at (None: until lifted).
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_ends_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=500, blank=True)
    # Account deletion (docs/privacy.md): deactivated at deleted_at; personal data erased at
    # erased_at, once the grace period is over and no moderation case holds it.
    deleted_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints: ClassVar = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_ci",
                violation_error_message=_("An account with this email address already exists."),
            ),
        ]

    def __str__(self) -> str:
        # Only staff surfaces (admin) ever render a User; members see handles.
        return self.email

    def suspension_in_force(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.suspended_at is not None and (self.suspension_ends_at is None or self.suspension_ends_at > at)

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).strip()


class Notice(Delivery):
    """One notification for one person: shown in their notice centre (when they want that kind
    in-app) and, through the delivery fields, emailed once (when they want it by email).

    `text` and `subject` name the meeting or group; the discreet variants never do. Both are
    rendered in the person's language when the notice is made.
    """

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    group = models.ForeignKey("groups.SupportGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.CharField(max_length=500)
    subject = models.CharField(max_length=200, blank=True)
    discreet_subject = models.CharField(max_length=200, blank=True)
    discreet_text = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes: ClassVar = [
            models.Index(fields=["user", "in_app", "read_at"]),
            models.Index(fields=["status", "send_at"], name="notice_due"),
        ]

    def __str__(self) -> str:
        return self.text


class UserSession(models.Model):
    """One logged-in session of a person, for their sessions page (docs/privacy.md).

    Deleting the session (log-out, expiry clean-up, "log out everywhere else") deletes this
    row with it. No IP address or raw User-Agent is kept: only a short browser description."""

    public_id = models.CharField(max_length=16, unique=True, default=public_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    session = models.OneToOneField("sessions.Session", on_delete=models.CASCADE, related_name="+")
    browser = models.CharField(max_length=40, blank=True)  # "Firefox"; "" when not recognised
    platform = models.CharField(max_length=40, blank=True)  # "Windows"; "" when not recognised
    created_at = models.DateTimeField(default=timezone.now)
    # Touched by accounts.middleware.SessionActivityMiddleware at most every few minutes.
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-last_seen_at", "-pk")

    def __str__(self) -> str:
        return f"{self.browser or '?'} / {self.platform or '?'}"


class TwoFactor(models.Model):
    """A person's TOTP two-factor authentication, once confirmed with a code.

    The secret is stored encrypted (accounts.two_factor) and never shown after setup.
    `last_step` is the time step of the last code accepted: a code is good once only."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor")
    encrypted_secret = models.TextField()
    last_step = models.BigIntegerField(default=0)
    enabled_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"two-factor #{self.pk}"


class RecoveryCode(models.Model):
    """A one-time code for logging in without the authenticator app. Only a salted hash is
    kept; `used_at` is set, once, by a conditional update."""

    two_factor = models.ForeignKey(TwoFactor, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=100)  # "salt$sha256-hex"
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code #{self.pk}"
