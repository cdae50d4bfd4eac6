"""Pages for a person's own data: downloading it, and deleting the account (docs/privacy.md).

Thin: the rules are in accounts.lifecycle. Both pages ask for the current password again,
because whoever holds an unlocked device is not necessarily its owner.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts import lifecycle
from accounts.models import User
from groups.models import Membership
from lib import ratelimit
from lib.errors import ActionError
from lib.forms import add_action_error, render_form_page

EXPORTS_PER_HOUR = 5
DELETION_ATTEMPTS_PER_HOUR = 10
DELETED_FLAG = "account_deleted"


class ReauthenticationForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=gettext_lazy("We ask again in case someone else is using this device."),
    )


class DeleteAccountForm(ReauthenticationForm):
    confirmation = forms.CharField(
        label=gettext_lazy("Confirmation"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirmation"].help_text = _("Type “%(phrase)s”.") % {"phrase": lifecycle.confirmation_phrase()}


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


@login_required
@require_http_methods(["GET", "POST"])
def export_data(request: HttpRequest) -> HttpResponse:
    """GET explains what the file holds; POST with the password downloads it. Always the
    person's own data: nothing in the request can name another account."""
    user: User = request.user  # type: ignore[assignment]
    form = ReauthenticationForm(_posted(request))
    if request.method == "POST":
        if not ratelimit.allow(f"export:{user.pk}", EXPORTS_PER_HOUR, 3600):
            messages.error(
                request, _("You have downloaded your data several times in the last hour. Please try later.")
            )
            return render(request, "accounts/export.html", {"form": form}, status=429)
        if form.is_valid():
            if user.check_password(form.cleaned_data["password"]):
                return _download(lifecycle.build_export(user), lifecycle.export_filename())
            form.add_error("password", _("That is not your current password."))
    return render_form_page(request, "accounts/export.html", {"form": form}, form)


def _download(data: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """GET explains what deleting does; POST with the password and the typed confirmation
    deletes the account, logs this device out and shows the goodbye page."""
    user: User = request.user  # type: ignore[assignment]
    form = DeleteAccountForm(_posted(request))
    context = {
        "form": form,
        "grace_days": settings.ACCOUNT_ERASURE_GRACE_DAYS,
        "sole_owner_of": _groups_only_they_own(user),
    }
    if request.method == "POST":
        if not ratelimit.allow(f"delete-account:{user.pk}", DELETION_ATTEMPTS_PER_HOUR, 3600):
            messages.error(request, _("Too many attempts. Please try again in an hour."))
            return render(request, "accounts/delete.html", context, status=429)
        if form.is_valid():
            try:
                lifecycle.check_deletion(user, form.cleaned_data["password"], form.cleaned_data["confirmation"])
            except ActionError as error:
                add_action_error(form, error)
            else:
                lifecycle.do_delete_account(user)
                logout(request)
                request.session[DELETED_FLAG] = True
                return redirect("accounts:deleted")
    return render_form_page(request, "accounts/delete.html", context, form)


def _groups_only_they_own(user: User) -> list[str]:
    owned = Membership.objects.filter(user=user, status=Membership.Status.ACTIVE, role=Membership.Role.OWNER)
    names = []
    for membership in owned.select_related("group"):
        owners = Membership.objects.filter(
            group_id=membership.group_id, status=Membership.Status.ACTIVE, role=Membership.Role.OWNER
        )
        if owners.count() == 1:
            names.append(membership.group.name)
    return names


@require_GET
def account_deleted(request: HttpRequest) -> HttpResponse:
    """The goodbye page, once, right after a deletion; the browser is asked to forget this
    site's stored data (helpful on a shared device)."""
    if not request.session.pop(DELETED_FLAG, False):
        return redirect("home")
    response = render(request, "accounts/deleted.html", {"grace_days": settings.ACCOUNT_ERASURE_GRACE_DAYS})
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response
