from __future__ import annotations

from datetime import time
from typing import Any, ClassVar

from django import forms
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _

from accounts.models import NoticeKind, ReminderOffset, User
from accounts.tasks import send_password_reset_email
from accounts.timezones import UNKNOWN_TIMEZONE, timezone_choices, validate_timezone
from groups.models import Membership
from lib.tasks import enqueue_on_commit


class SignupForm(BaseUserCreationForm):
    """Email and password; the timezone comes from the browser (a script fills it in)."""

    usable_password = None  # Everyone who signs up sets a password.
    timezone = forms.CharField(
        widget=forms.HiddenInput(attrs={"data-browser-timezone": "true"}),
        initial="UTC",
        required=False,
        validators=[validate_timezone],
    )

    class Meta:
        model = User
        fields = ("email", "timezone")
        widgets: ClassVar = {"email": forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})}
        help_texts: ClassVar = {
            "email": _("Only you and site staff ever see it: other members only see the name you pick in each group."),
        }

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("This email address can't be used to sign up. If it is yours, log in or reset your password."),
                code="duplicate_email",
            )
        return email

    def clean_timezone(self) -> str:
        return self.cleaned_data.get("timezone") or "UTC"


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email address"),
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    remember = forms.BooleanField(
        label=_("Keep me logged in on this device"),
        required=False,
        help_text=_("Leave this off on a shared or borrowed device: you are logged out when the browser closes."),
    )

    error_messages: dict[str, Any] = {  # noqa: RUF012 - same shape as the base class
        **AuthenticationForm.error_messages,
        "invalid_login": _("That email and password don't match an account. Check both and try again."),
    }


class PreferencesForm(forms.ModelForm[User]):
    timezone = forms.ChoiceField(
        label=_("Timezone"),
        choices=timezone_choices,
        help_text=_("Meeting times are shown in this timezone."),
        error_messages={"invalid_choice": UNKNOWN_TIMEZONE},
    )

    class Meta:
        model = User
        fields = ("timezone", "language")


class NotificationSettingsForm(forms.Form):
    """How and when a person hears from Hearth. Unknown choices are refused by name."""

    reminder_offsets = forms.MultipleChoiceField(
        label=_("Remind me before meetings I'm going to"),
        choices=ReminderOffset.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Choose reminder times from the list.")},
        help_text=_("Leave all unticked for no reminders."),
    )
    email_kinds = forms.MultipleChoiceField(
        label=_("Email me about"),
        choices=NoticeKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Choose notifications from the list.")},
    )
    in_app_kinds = forms.MultipleChoiceField(
        label=_("Show in my notices on Hearth"),
        choices=NoticeKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Choose notifications from the list.")},
    )
    discreet_notifications = forms.BooleanField(
        label=_("Discreet emails"),
        required=False,
        help_text=_(
            "A neutral sender and subject such as “Reminder: appointment at 19:00”, no group, topic or "
            "meeting named anywhere in the email: only a link. Recommended if anyone else can see your inbox."
        ),
    )
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"invalid": _("Enter a time such as 22:00.")},
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"invalid": _("Enter a time such as 07:00.")},
        help_text=_(
            "In your timezone. Emails and reminders due in these hours wait until they end; a "
            "reminder is dropped if its meeting has started by then. Leave both empty for none."
        ),
    )
    muted_groups = forms.TypedMultipleChoiceField(
        label=_("Mute these groups"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Choose groups from the list.")},
        help_text=_("No reminders and no emails about them. Their notices still appear on Hearth."),
    )

    def __init__(self, data: Any = None, *, user: User) -> None:
        memberships = user.memberships.filter(status=Membership.Status.ACTIVE).select_related("group")
        initial = {
            "reminder_offsets": user.reminder_offsets,
            "email_kinds": user.email_kinds,
            "in_app_kinds": user.in_app_kinds,
            "discreet_notifications": user.discreet_notifications,
            "quiet_hours_start": user.quiet_hours_start,
            "quiet_hours_end": user.quiet_hours_end,
            "muted_groups": [m.group_id for m in memberships if m.muted],
        }
        super().__init__(data, initial=initial)
        choices = [(m.group_id, m.group.name) for m in memberships.order_by("group__name")]
        if choices:
            self.fields["muted_groups"].choices = choices  # type: ignore[attr-defined]
        else:
            del self.fields["muted_groups"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("quiet_hours_start"), data.get("quiet_hours_end")
        if (start is None) != (end is None) and not self.has_error("quiet_hours_start"):
            if not self.has_error("quiet_hours_end"):
                self.add_error(
                    "quiet_hours_end", _("Give both a start and an end for quiet hours, or leave both empty.")
                )
        elif start is not None and start == end:
            self.add_error("quiet_hours_end", _("Quiet hours need different start and end times."))
        return data

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        start, end = self.cleaned_data.get("quiet_hours_start"), self.cleaned_data.get("quiet_hours_end")
        return (start, end) if start is not None and end is not None else None


class QueuedPasswordResetForm(PasswordResetForm):
    """Send the reset email from the Celery worker, once the request has committed."""

    def save(  # type: ignore[override]
        self,
        domain_override: str | None = None,
        use_https: bool = False,
        request: Any = None,
        **kwargs: Any,
    ) -> None:
        domain = domain_override or (request.get_host() if request is not None else "localhost")
        for user in self.get_users(self.cleaned_data["email"]):
            enqueue_on_commit(send_password_reset_email, user.pk, domain, use_https)


class TwoFactorCodeForm(forms.Form):
    """A code from the authenticator app (or, when logging in, a recovery code)."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "autocapitalize": "off"}
        ),
        error_messages={"required": _("Type the code your authenticator app shows.")},
    )

    def __init__(self, *args: Any, setup: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["code"]
        if setup:
            field.help_text = _("The 6 digits your app shows for Hearth now.")
            field.widget.attrs.update({"inputmode": "numeric", "pattern": "[0-9 ]*"})
        else:
            field.help_text = _("The 6 digits your authenticator app shows, or one of your recovery codes.")


class ConfirmIdentityForm(forms.Form):
    """Before a change to two-factor authentication: the password, or a current code."""

    password_or_code = forms.CharField(
        label=_("Your password, or a code from your app"),
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Type your password, or a code from your authenticator app.")},
    )
