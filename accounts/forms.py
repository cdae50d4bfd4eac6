from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.tasks import send_password_reset_email
from accounts.timezones import UNKNOWN_TIMEZONE, timezone_choices, validate_timezone
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
        fields = ("timezone", "language", "discreet_notifications")
        labels: ClassVar = {"discreet_notifications": _("Discreet notifications")}


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
