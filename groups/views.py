"""Group pages. Thin: parse input, call groups.actions, render."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from groups import actions, no_contact
from groups.forms import (
    CreateGroupForm,
    DecisionForm,
    DirectoryFilterForm,
    GroupForm,
    HandleChangeForm,
    InviteForm,
    JoinForm,
    NoContactForm,
    RoleForm,
    ask_to_confirm_no_contact,
)
from groups.models import HandleChange, Invite, Membership, NoContactEntry
from lib.errors import ActionError
from lib.forms import add_action_error, render_form_page
from meetings.actions import upcoming_meetings
from meetings.attendance import streak_of
from moderation.actions import open_count_for

GROUPS_PER_PAGE = 20
GROUP_FIELDS = [field for field in GroupForm.Meta.fields if field != "topics"]


GroupView = Callable[..., HttpResponse]


def group_page(require: Callable[[actions.GroupAccess], actions.GroupAccess]) -> Callable[[GroupView], GroupView]:
    """For pages of one group that need a signed-in person with some role.

    The group's visibility is checked first, so that an unlisted group answers 404 to
    everyone who may not know it, signed in or not, instead of a telling login redirect.
    """

    def decorator(view: GroupView) -> GroupView:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            access = actions.access_group(request.user, slug)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            return view(request, require(access), *args, **kwargs)

        return wrapper

    return decorator


@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    form = DirectoryFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "query": data["q"].strip(),
            "topic": data["topic"].slug if data["topic"] else "",
            "language": data["language"],
            "join_policy": data["join_policy"],
            "weekday": data["day"],
            "part_of_day": data["part_of_day"],
            "viewer_timezone": getattr(request.user, "timezone", "UTC"),
        }
    page = Paginator(actions.directory_groups(**filters), GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    query = {key: value for key, value in request.GET.items() if key != "page" and value}
    return render_form_page(
        request,
        "groups/directory.html",
        {
            "form": form,
            "page": page,
            "query_string": urlencode(query),
            "filtered": bool(query),
            "can_create": actions.can_create_groups(request.user),
        },
        form,
    )


@login_required
@require_GET
def my_groups(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return render(request, "groups/mine.html", {"memberships": actions.memberships_of(user)})


@login_required
@require_http_methods(["GET", "POST"])
def create_group(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not actions.can_create_groups(user):
        raise PermissionDenied(_("Creating groups is open to site staff and people they choose."))
    form = CreateGroupForm(request.POST or None, initial={"timezone": user.timezone, "language": user.language})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            group = actions.do_create_group(
                user,
                handle=data["handle"],
                topics=list(data["topics"]),
                **{field: data[field] for field in GROUP_FIELDS},
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("Your group is ready. You are its owner."))
            return redirect("groups:detail", slug=group.slug)
    return render_form_page(request, "groups/group_form.html", {"form": form, "creating": True}, form)


@require_GET
def group_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access = actions.access_group(request.user, slug)
    group = access.group
    return render(
        request,
        "groups/detail.html",
        {
            "access": access,
            "group": group,
            "topics": list(group.topics.all()),
            "facilitators": actions.facilitators_of(group),
            "member_count": actions.active_members_of(group).count(),
            "members": list(actions.active_members_of(group)) if access.can_see_members else None,
            "pending_count": actions.pending_requests(group).count() if access.can_moderate else 0,
            "group_report_count": open_count_for(access.membership)
            if access.can_moderate and access.membership is not None
            else 0,
            "meetings": upcoming_meetings(group, limit=6),
            # The member's own streak, if they asked for it: only ever shown to themself.
            "streak": streak_of(access.membership)
            if access.is_member and access.membership is not None and access.membership.show_attendance_streak
            else None,
        },
    )


def _join_page(request: HttpRequest, access: actions.GroupAccess, *, invite_token: str | None = None) -> HttpResponse:
    """The join form, for a group page or an invite link."""
    group = access.group
    try:
        actions.check_can_ask_to_join(access, via_invite=invite_token is not None)
    except ActionError as error:
        if access.is_member:
            messages.info(request, error.message)
            return redirect("groups:detail", slug=group.slug)
        return render(request, "groups/cannot_join.html", {"group": group, "reason": error.message}, status=403)
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = JoinForm(request.POST or None, initial={"handle": actions.suggested_handle(group)})
    # Someone on this person's no-contact list is a member: warn them, and ask them to confirm.
    listed = no_contact.listed_members(user, group)
    if listed:
        ask_to_confirm_no_contact(form)
    if request.method == "POST" and form.is_valid():
        try:
            membership = actions.do_join_group(
                user,
                access,
                handle=form.cleaned_data["handle"],
                accepted_guidelines=form.cleaned_data["accept_guidelines"],
                message=form.cleaned_data["message"],
                invite_token=invite_token,
                confirmed_no_contact=form.cleaned_data.get("confirm_no_contact", False),
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            if membership.is_active:
                messages.success(request, _("Welcome to %(group)s.") % {"group": group.name})
            else:
                messages.success(
                    request, _("Your request is with the facilitators. You'll get a notice when they answer.")
                )
            if listed:
                messages.info(
                    request,
                    _(
                        "The group's facilitators have been told privately that someone here is on your "
                        "no-contact list, so they can help keep you apart. Nobody else has been told."
                    ),
                )
            return redirect("groups:detail", slug=group.slug)
    if listed:
        no_contact.note_warning_shown(user, group, listed)
    joins_now = invite_token is not None or group.join_policy == group.JoinPolicy.OPEN
    return render_form_page(
        request,
        "groups/join.html",
        {"group": group, "form": form, "joins_now": joins_now, "no_contact_warning": bool(listed)},
        form,
    )


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    return _join_page(request, actions.access_group(request.user, slug))


@require_http_methods(["GET", "POST"])
def invite_landing(request: HttpRequest, token: str) -> HttpResponse:
    try:
        access = actions.access_group_by_invite(request.user, token)
    except ActionError as error:
        return render(request, "groups/invite_invalid.html", {"reason": error.message}, status=410)
    return _join_page(request, access, invite_token=token)


@require_http_methods(["GET", "POST"])
@group_page(actions.require_member)
def leave(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    if access.membership is None or not access.is_member:
        raise PermissionDenied(_("You are not a member of this group."))
    if request.method == "POST":
        try:
            actions.do_leave_group(access.membership)
        except ActionError as error:
            messages.error(request, error.message)
            return render(request, "groups/leave.html", {"group": access.group}, status=400)
        messages.success(request, _("You have left %(group)s.") % {"group": access.group.name})
        return redirect("groups:mine")
    return render(request, "groups/leave.html", {"group": access.group})


@require_POST
@group_page(lambda access: access)
def withdraw(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    if access.membership is None:
        raise PermissionDenied
    try:
        actions.do_withdraw_request(access.membership)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your request to join is withdrawn."))
    return redirect("groups:mine")


@require_http_methods(["GET", "POST"])
@group_page(actions.require_member)
def change_handle(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    slug = access.group.slug
    if not access.is_member or access.membership is None:
        raise PermissionDenied(_("Only members have a name in this group."))
    form = HandleChangeForm(request.POST or None, initial={"handle": access.membership.handle})
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_change_handle(access.membership, form.cleaned_data["handle"])
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(
                request, _("Your name in this group is now %(handle)s.") % {"handle": access.membership.handle}
            )
            return redirect("groups:detail", slug=slug)
    return render_form_page(
        request, "groups/handle.html", {"group": access.group, "form": form, "access": access}, form
    )


@require_http_methods(["GET", "POST"])
@group_page(actions.require_owner)
def group_settings(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    group = access.group
    form = GroupForm(request.POST or None, instance=group)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            actions.do_update_group(
                access, topics=list(data["topics"]), **{field: data[field] for field in GROUP_FIELDS}
            )
            messages.success(request, _("The group's settings are saved."))
            return redirect("groups:detail", slug=group.slug)
        group.refresh_from_db()
    return render_form_page(request, "groups/group_form.html", {"form": form, "group": group, "creating": False}, form)


@require_GET
@group_page(actions.require_facilitator)
def join_requests(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    requests = list(actions.pending_requests(access.group).select_related("user"))
    # A request that conflicts with a member's no-contact list is flagged (never to the listed person).
    conflicts = no_contact.request_conflicts(access.group, requests, request.user)  # type: ignore[arg-type]
    return render(
        request,
        "groups/requests.html",
        {
            "group": access.group,
            "requests": requests,
            "rows": [(row, conflicts.get(row.pk, [])) for row in requests],
            "form": DecisionForm(),
        },
    )


@require_POST
@group_page(actions.require_facilitator)
def decide_request(request: HttpRequest, access: actions.GroupAccess, public_id: str) -> HttpResponse:
    slug = access.group.slug
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose approve or decline."))
        return redirect("groups:requests", slug=slug)
    try:
        membership = actions.do_decide_request(
            access,
            public_id,
            approve=form.cleaned_data["decision"] == "approve",
            message=form.cleaned_data["message"],
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        if membership.is_active:
            messages.success(request, _("%(handle)s is now a member.") % {"handle": membership.handle})
        else:
            messages.success(request, _("The request from %(handle)s was declined.") % {"handle": membership.handle})
    return redirect("groups:requests", slug=slug)


@require_http_methods(["GET", "POST"])
@group_page(actions.require_facilitator)
def invites(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    form = InviteForm(request.POST or None)
    new_link = None
    if request.method == "POST" and form.is_valid():
        try:
            _invite, token = actions.do_create_invite(
                access,
                valid_days=form.cleaned_data["valid_days"],
                max_uses=form.cleaned_data["max_uses"],
                label=form.cleaned_data["label"],
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            new_link = request.build_absolute_uri(reverse("groups:invite", args=[token]))
            form = InviteForm()
    return render_form_page(
        request,
        "groups/invites.html",
        {
            "group": access.group,
            "form": form,
            "new_link": new_link,
            "invites": Invite.objects.filter(group=access.group).select_related("created_by"),
        },
        form,
    )


@require_POST
@group_page(actions.require_facilitator)
def revoke_invite(request: HttpRequest, access: actions.GroupAccess, public_id: str) -> HttpResponse:
    slug = access.group.slug
    try:
        actions.do_revoke_invite(access, public_id)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The invite link is withdrawn and no longer works."))
    return redirect("groups:invites", slug=slug)


@require_GET
@group_page(actions.require_facilitator)
def members(request: HttpRequest, access: actions.GroupAccess) -> HttpResponse:
    group = access.group
    history: dict[int, list[HandleChange]] = {}
    for change in HandleChange.objects.filter(membership__group=group):
        history.setdefault(change.membership_id, []).append(change)
    rows = [(member, history.get(member.pk, [])) for member in actions.active_members_of(group)]
    return render(
        request,
        "groups/members.html",
        {"group": group, "access": access, "rows": rows, "roles": Membership.Role.choices},
    )


@require_POST
@group_page(actions.require_owner)
def set_role(request: HttpRequest, access: actions.GroupAccess, public_id: str) -> HttpResponse:
    slug = access.group.slug
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose member, facilitator or owner."))
        return redirect("groups:members", slug=slug)
    try:
        target = actions.do_set_role(access, public_id, form.cleaned_data["role"])
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(handle)s is now %(role)s.") % {"handle": target.handle, "role": target.get_role_display().lower()},
        )
        if access.membership is not None and target.pk == access.membership.pk and not access.is_staff:
            return redirect("groups:detail", slug=slug)  # stepped down: the members page may be closed now
    return redirect("groups:members", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def no_contact_list(request: HttpRequest) -> HttpResponse:
    """The member's own no-contact list: add by email (kept only as a keyed hash), remove."""
    user: User = request.user  # type: ignore[assignment]
    form = NoContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["email"]
        try:
            _entry, shared = actions.do_add_no_contact(user, address, form.cleaned_data["label"])
        except ActionError as error:
            add_action_error(form, error)
            if _is_complete_address(address):
                # Refused for another reason (already listed, own address, list full): the
                # address is not shown back, so the page never holds a listed address.
                data = request.POST.copy()
                data["email"] = ""
                form.data = data
        else:
            messages.success(request, _("Added to your list. Nobody has been told."))
            if shared:
                groups = ", ".join(sorted({conflict.listed.group.name for conflict in shared}))
                messages.warning(
                    request,
                    _(
                        "The person you just added is a member of a group you are in: %(groups)s. They have "
                        "not been told. The group's facilitators have been alerted privately so they can help "
                        "keep you apart. You can leave a group at any time."
                    )
                    % {"groups": groups},
                )
            return redirect("groups:no_contact")
    entries = list(NoContactEntry.objects.filter(owner=user))
    return render_form_page(
        request,
        "groups/no_contact.html",
        {"form": form, "entries": entries, "max_entries": no_contact.MAX_ENTRIES},
        form,
    )


def _is_complete_address(address: str) -> bool:
    try:
        no_contact.check_email(address)
    except ActionError:
        return False
    return True


@login_required
@require_POST
def remove_no_contact(request: HttpRequest, public_id: str) -> HttpResponse:
    actions.do_remove_no_contact(request.user, public_id)  # type: ignore[arg-type]
    messages.success(request, _("Removed from your list."))
    return redirect("groups:no_contact")
