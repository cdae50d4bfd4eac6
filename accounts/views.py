from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts import sessions as user_sessions
from accounts import two_factor
from accounts.actions import (
    do_mark_notices_read,
    do_open_notice,
    do_sign_up,
    do_unsubscribe,
    do_update_notification_settings,
    do_update_preferences,
)
from accounts.forms import (
    ConfirmIdentityForm,
    LoginForm,
    NotificationSettingsForm,
    PreferencesForm,
    QueuedPasswordResetForm,
    SignupForm,
    TwoFactorCodeForm,
)
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
        user = form.get_user()
        if two_factor.is_enabled(user):
            # Not logged in yet: the code comes first (accounts:login_verify).
            two_factor.start_pending_login(
                self.request,
                user,
                backend=getattr(user, "backend", "django.contrib.auth.backends.ModelBackend"),
                remember=bool(form.cleaned_data.get("remember")),
                next_url=self.get_success_url(),
            )
            return redirect("accounts:login_verify")
        response = super().form_valid(form)
        if not form.cleaned_data.get("remember"):
            self.request.session.set_expiry(0)
        return response

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        response.status_code = 400
        return response


@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    """The login's second step for someone with two-factor on: a code from their app, or a
    recovery code. A wrong code changes nothing but the count of wrong codes."""
    pending = two_factor.pending_login(request)
    if pending is None:
        messages.error(request, _("Please log in with your email and password first (a login waits 5 minutes)."))
        return redirect("accounts:login")
    user, details = pending
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not two_factor.allow_attempt(user):
            form.add_error(None, _("Too many codes were tried for this account. Wait 15 minutes, then try again."))
            return render(request, "accounts/login_verify.html", {"form": form}, status=429)
        try:
            used = two_factor.check_code(user, form.cleaned_data["code"])
        except ActionError as error:
            if two_factor.note_wrong_code(request, details):
                messages.error(request, _("Too many wrong codes. Log in again with your password."))
                return redirect("accounts:login")
            add_action_error(form, error)
        else:
            two_factor.end_pending_login(request)
            login(request, user, backend=str(details["backend"]))
            if not details.get("remember"):
                request.session.set_expiry(0)
            if used == "recovery":
                left = two_factor.recovery_codes_left(user)
                messages.warning(
                    request,
                    ngettext(
                        "You used a recovery code. %(count)d is left: make new ones in Two-factor authentication.",
                        "You used a recovery code. %(count)d are left: make new ones in Two-factor authentication.",
                        left,
                    )
                    % {"count": left},
                )
            next_url = str(details.get("next") or "")
            if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
                next_url = reverse("home")
            return redirect(next_url)
    return render_form_page(request, "accounts/login_verify.html", {"form": form}, form)


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
        this_device = user_sessions.current_row(self.request)
        response = super().form_valid(form)  # the session's key changes here
        user_sessions.keep_row_after_key_change(self.request, form.user, this_device)
        # The new password hash already refuses the other sessions; ending them also closes
        # their room sockets.
        user_sessions.end_sessions(form.user, keep_session_key=self.request.session.session_key)
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


# --- Sessions ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def sessions(request: HttpRequest) -> HttpResponse:
    """The person's logged-in sessions: browser, approximate times, this device marked."""
    user: User = request.user  # type: ignore[assignment]
    entries = user_sessions.sessions_of(user, request.session.session_key)
    return render(
        request,
        "accounts/sessions.html",
        {"entries": entries, "others": sum(1 for entry in entries if not entry.is_current)},
    )


@login_required
@require_http_methods(["POST"])
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    ended = user_sessions.do_end_other_sessions(user, request.session.session_key)
    if ended:
        messages.success(
            request,
            ngettext(
                "%(count)d other session was logged out, and its open rooms closed.",
                "%(count)d other sessions were logged out, and their open rooms closed.",
                ended,
            )
            % {"count": ended},
        )
    else:
        messages.info(request, _("There were no other sessions to log out."))
    return redirect("accounts:sessions")


@login_required
@require_http_methods(["POST"])
def end_session(request: HttpRequest, public_id: str) -> HttpResponse:
    """Log out one other session. Someone else's (or an unknown) id is a plain 404."""
    user: User = request.user  # type: ignore[assignment]
    try:
        row = user_sessions.access_other_session(user, public_id, request.session.session_key)
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("accounts:sessions")
    if row is None:
        raise Http404("No such session")
    user_sessions.do_end_session(user, row)
    messages.success(request, _("That session was logged out, and its open rooms closed."))
    return redirect("accounts:sessions")


# --- Two-factor authentication -----------------------------------------------------------------

SETUP_SECRET_KEY = "two_factor_setup_secret"  # noqa: S105 - the name of a session entry
NEW_CODES_KEY = "two_factor_new_codes"


@login_required
@require_http_methods(["GET"])
def two_factor_overview(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    enabled = two_factor.is_enabled(user)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "enabled": enabled,
            "codes_left": two_factor.recovery_codes_left(user) if enabled else 0,
            "required": two_factor.required_reason(user),
            "regenerate_form": ConfirmIdentityForm(auto_id="regenerate_%s"),
            "disable_form": ConfirmIdentityForm(auto_id="disable_%s"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan (or type) a new secret, then confirm with a code: only then is two-factor on."""
    user: User = request.user  # type: ignore[assignment]
    if two_factor.is_enabled(user):
        return redirect("accounts:two_factor")
    # Kept in the (server-side) session until confirmed, so a reload shows the same one.
    secret = request.session.get(SETUP_SECRET_KEY)
    if not isinstance(secret, str):
        secret = request.session[SETUP_SECRET_KEY] = two_factor.new_secret()
    form = TwoFactorCodeForm(request.POST or None, setup=True)
    if request.method == "POST" and form.is_valid():
        if not two_factor.allow_attempt(user):
            form.add_error(None, _("Too many codes were tried for this account. Wait 15 minutes, then try again."))
            return _setup_page(request, secret, form, status=429)
        try:
            codes = two_factor.do_enable_two_factor(user, secret, form.cleaned_data["code"])
        except ActionError as error:
            add_action_error(form, error)
        else:
            del request.session[SETUP_SECRET_KEY]
            request.session[NEW_CODES_KEY] = codes
            messages.success(request, _("Two-factor authentication is on."))
            return redirect("accounts:recovery_codes")
    return _setup_page(request, secret, form, status=400 if form.is_bound and form.errors else 200)


def _setup_page(request: HttpRequest, secret: str, form: TwoFactorCodeForm, *, status: int) -> HttpResponse:
    context = {
        "form": form,
        "qr_code": two_factor.qr_code_svg(secret),
        "secret": two_factor.grouped(secret),
        "required": two_factor.required_reason(request.user),  # type: ignore[arg-type]
    }
    return render(request, "accounts/two_factor_setup.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once: leaving the page forgets them."""
    codes = request.session.pop(NEW_CODES_KEY, None)
    if not codes:
        return redirect("accounts:two_factor")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_http_methods(["POST"])
def regenerate_recovery_codes(request: HttpRequest) -> HttpResponse:
    return _confirmed_two_factor_change(request, regenerate=True)


@login_required
@require_http_methods(["POST"])
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    return _confirmed_two_factor_change(request, regenerate=False)


def _confirmed_two_factor_change(request: HttpRequest, *, regenerate: bool) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ConfirmIdentityForm(request.POST, auto_id="regenerate_%s" if regenerate else "disable_%s")
    status = 400
    if form.is_valid():
        if not two_factor.allow_attempt(user):
            form.add_error(None, _("Too many codes were tried for this account. Wait 15 minutes, then try again."))
            status = 429
        else:
            try:
                if regenerate:
                    request.session[NEW_CODES_KEY] = two_factor.do_regenerate_recovery_codes(
                        user, form.cleaned_data["password_or_code"]
                    )
                else:
                    two_factor.do_disable_two_factor(user, form.cleaned_data["password_or_code"])
            except ActionError as error:
                add_action_error(form, error)
            else:
                if regenerate:
                    messages.success(request, _("New recovery codes are made; the old ones no longer work."))
                    return redirect("accounts:recovery_codes")
                messages.success(request, _("Two-factor authentication is off."))
                return redirect("accounts:two_factor")
    enabled = two_factor.is_enabled(user)
    context = {
        "enabled": enabled,
        "codes_left": two_factor.recovery_codes_left(user) if enabled else 0,
        "required": two_factor.required_reason(user),
        "regenerate_form": form if regenerate else ConfirmIdentityForm(auto_id="regenerate_%s"),
        "disable_form": ConfirmIdentityForm(auto_id="disable_%s") if regenerate else form,
    }
    return render(request, "accounts/two_factor.html", context, status=status)
