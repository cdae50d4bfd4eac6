from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.actions import (
    do_mark_notices_read,
    do_open_notice,
    do_sign_up,
    do_unsubscribe,
    do_update_notification_settings,
    do_update_preferences,
)
from accounts.forms import LoginForm, NotificationSettingsForm, PreferencesForm, QueuedPasswordResetForm, SignupForm
from accounts.models import NoticeKind, User
from accounts.notifications import BadUnsubscribeLink, read_unsubscribe_token
from lib import ratelimit
from lib.errors import ActionError
from lib.forms import add_action_error, render_form_page

SIGNUPS_PER_HOUR_PER_ADDRESS = 20


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        address = request.META.get("REMOTE_ADDR", "")
        if not ratelimit.allow(f"signup:{address}", SIGNUPS_PER_HOUR_PER_ADDRESS, 3600):
            messages.error(request, _("Too many sign-ups from this connection. Please try again in an hour."))
            return render(request, "accounts/signup.html", {"form": form}, status=429)
        if form.is_valid():
            user = do_sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                timezone=form.cleaned_data["timezone"],
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # Safer on a shared device: logged out when the browser closes.
            request.session.set_expiry(0)
            messages.success(request, _("Welcome to Hearth. Your account is ready."))
            return redirect("home")
    return render_form_page(request, "accounts/signup.html", {"form": form}, form)


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        if not form.cleaned_data.get("remember"):
            self.request.session.set_expiry(0)
        return response

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        response.status_code = 400
        return response


def locked_out(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """What axes shows after too many failed logins for one email from one address."""
    from django.conf import settings

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PreferencesForm(request.POST or None, instance=user)
    if request.method == "POST":
        if form.is_valid():
            do_update_preferences(
                user,
                timezone=form.cleaned_data["timezone"],
                language=form.cleaned_data["language"],
            )
            # Confirm in the language just chosen: the next page is shown in it.
            with translation.override(user.language):
                messages.success(request, _("Your settings are saved."))
            return redirect("accounts:settings")
        user.refresh_from_db()
    return render_form_page(request, "accounts/settings.html", {"form": form}, form)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:settings")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, gettext_lazy("Your password is changed. Other devices were logged out."))
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


@login_required
@require_http_methods(["GET", "POST"])
def notices(request: HttpRequest) -> HttpResponse:
    """The person's in-app notices, newest first; opening the page marks them read."""
    user: User = request.user  # type: ignore[assignment]
    items = list(user.notices.filter(in_app=True)[:100])
    do_mark_notices_read(user)
    return render(request, "accounts/notices.html", {"notices": items})


@login_required
@require_http_methods(["GET"])
def open_notice(request: HttpRequest, public_id: str) -> HttpResponse:
    """Where every notice email links: an address that names nothing. Marks the notice read
    and goes on to what it is about. Someone else's notice is a plain 404."""
    notice = do_open_notice(request.user, public_id)  # type: ignore[arg-type]
    if notice is None:
        raise Http404("No such notice")
    if notice.url and url_has_allowed_host_and_scheme(notice.url, allowed_hosts=None):
        return redirect(notice.url)
    return redirect("accounts:notices")


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = NotificationSettingsForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            do_update_notification_settings(
                user,
                reminder_offsets=form.cleaned_data["reminder_offsets"],
                email_kinds=form.cleaned_data["email_kinds"],
                in_app_kinds=form.cleaned_data["in_app_kinds"],
                discreet=form.cleaned_data["discreet_notifications"],
                quiet_hours=form.quiet_hours,
                muted_group_ids=form.cleaned_data.get("muted_groups", []),
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("Your notification settings are saved."))
            return redirect("accounts:notifications")
    return render_form_page(request, "accounts/notifications.html", {"form": form}, form)


@csrf_exempt  # the signed link is the credential; mail clients POST it (RFC 8058 one-click)
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Stop one kind of email from a link in one. GET asks (mail scanners follow links);
    POST, from the page's button or the mail client's one-click, does it."""
    try:
        user, kind = read_unsubscribe_token(token)
    except BadUnsubscribeLink as error:
        return render(request, "accounts/unsubscribe.html", {"error": error.message}, status=400)
    context = {"kind_label": NoticeKind(kind).label, "done": False}
    if request.method == "POST":
        do_unsubscribe(user, kind)
        context["done"] = True
    return render(request, "accounts/unsubscribe.html", context)
