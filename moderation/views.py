"""Moderation pages. Thin: check who is asking, call moderation.actions, render.

Everything a moderator may see is filtered in moderation.actions (reports_for, can_handle,
may_decide); a page for something the viewer may not handle answers 404, the same as for
something that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from groups.actions import GroupAccess, require_member
from groups.models import Membership
from groups.views import group_page
from lib.errors import ActionError
from lib.forms import add_action_error, render_form_page
from meetings.models import Meeting
from moderation import actions
from moderation.actions import Moderator
from moderation.forms import (
    AppealForm,
    AuditFilterForm,
    CloseForm,
    DecideAppealForm,
    EscalateForm,
    NoteForm,
    ReportForm,
    SanctionForm,
    SuspendAccountForm,
    WatchedWordForm,
)
from moderation.models import Appeal, AuditEntry, Block, Sanction, WatchedWord

AUDIT_PER_PAGE = 50


def _moderator(request: HttpRequest, access: GroupAccess) -> Moderator:
    moderator = actions.moderator_for(request.user, access)  # type: ignore[arg-type]
    if moderator is None:
        raise PermissionDenied(_("Only this group's facilitators can see this page."))
    return moderator


def _require_moderator(access: GroupAccess) -> GroupAccess:
    if not access.can_moderate:
        raise PermissionDenied(_("Only this group's facilitators can see this page."))
    return access


def _require_owner(access: GroupAccess) -> GroupAccess:
    if not access.can_configure:
        raise PermissionDenied(_("Only this group's owners can see this page."))
    return access


def _form_errors_as_messages(request: HttpRequest, form: Any) -> None:
    """For forms posted from a page with several: say what was wrong above it."""
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))


def _member_or_404(access: GroupAccess, public_id: str) -> Membership:
    member = (
        Membership.objects.filter(group=access.group, public_id=public_id)
        .exclude(status__in=[Membership.Status.PENDING, Membership.Status.DECLINED])
        .first()
    )
    if member is None:
        raise Http404("No such member")
    return member


def _recent_meetings(access: GroupAccess) -> list[Meeting]:
    now = timezone.now()
    return list(
        Meeting.objects.filter(group=access.group, starts_at__gte=now - timedelta(days=30))
        .filter(starts_at__lte=now + timedelta(days=30))
        .order_by("-starts_at")[:40]
    )


# --- Member pages ------------------------------------------------------------------------


@require_GET
@group_page(require_member)
def member(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    """A member's profile inside the group: their handle and role, and what the viewer can do
    about them (report, block; for moderators, their record and actions)."""
    member = _member_or_404(access, public_id)
    moderator = actions.moderator_for(request.user, access)  # type: ignore[arg-type]
    own = access.membership
    context: dict[str, Any] = {
        "group": access.group,
        "access": access,
        "member": member,
        "is_self": own is not None and own.pk == member.pk,
        "blocked": own is not None and Block.objects.filter(blocker=own, blocked=member).exists(),
        "moderator": moderator,
    }
    if moderator is not None:
        context["sanctions"] = Sanction.objects.filter(membership=member).select_related("appeal")
        context["reports"] = list(actions.reports_for(moderator).filter(subject=member)[:20])
        context["sanction_form"] = SanctionForm(meetings=_recent_meetings(access))
        context["suspend_form"] = SuspendAccountForm() if access.is_staff else None
    return render(request, "moderation/member.html", context)


@require_http_methods(["GET", "POST"])
@group_page(require_member)
def report_member(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    member = _member_or_404(access, public_id)
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if access.membership is None or not access.is_member:
            raise PermissionDenied(_("Only members of this group can report."))
        try:
            actions.do_report_member(
                access.membership,
                member.public_id,
                category=form.cleaned_data["category"],
                details=form.cleaned_data["details"],
                wish=form.cleaned_data["wish"],
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(
                request,
                _("Thank you for telling the facilitators. The person you reported won't know it was you."),
            )
            return redirect("moderation:member", slug=access.group.slug, public_id=member.public_id)
    context = {"group": access.group, "member": member, "form": form}
    return render_form_page(request, "moderation/report_member.html", context, form)


@require_POST
@group_page(require_member)
def block(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    if access.membership is None or not access.is_member:
        raise PermissionDenied(_("Only members of this group can block."))
    on = request.POST.get("on") != "0"
    try:
        if on:
            target = actions.do_block(access.membership, public_id)
            messages.success(
                request,
                _("You won't see %(handle)s's messages any more. They are not told.")
                % {"handle": target.blocked.handle},
            )
        else:
            actions.do_unblock(access.membership, public_id)
            messages.success(request, _("You'll see their messages again."))
    except ActionError as error:
        messages.error(request, error.message)
    return redirect("moderation:member", slug=access.group.slug, public_id=public_id)


@require_POST
@group_page(_require_moderator)
def sanction(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    moderator = _moderator(request, access)
    report_id = request.POST.get("report", "")
    try:
        report = actions.get_report(moderator, report_id) if report_id else None
    except ActionError as error:  # a report this moderator can't handle: as if it did not exist
        raise Http404("No such report") from error
    form = SanctionForm(request.POST, meetings=_recent_meetings(access))
    back = (
        redirect("moderation:report", slug=access.group.slug, public_id=report.public_id)
        if report
        else redirect("moderation:member", slug=access.group.slug, public_id=public_id)
    )
    if not form.is_valid():
        _form_errors_as_messages(request, form)
        return back
    data = form.cleaned_data
    try:
        done = actions.do_sanction(
            moderator,
            public_id,
            data["kind"],
            reason=data["reason"],
            ends_at=data["ends_at"],
            minutes=data["minutes"],
            meeting_public_id=data["meeting"] or None,
            message_seq=data["message_seq"],
            report=report,
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Done: %(action)s.") % {"action": done.get_kind_display()})
    return back


@require_POST
@group_page(_require_moderator)
def lift(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    moderator = _moderator(request, access)
    try:
        done = actions.do_lift(moderator, public_id, request.POST.get("reason", ""))
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("moderation:queue", slug=access.group.slug)
    messages.success(request, _("Lifted."))
    assert done.membership is not None  # noqa: S101 - group sanctions always have one
    return redirect("moderation:member", slug=access.group.slug, public_id=done.membership.public_id)


@require_POST
@login_required
def suspend_account(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    """Staff suspend the account behind a member, everywhere."""
    user: User = request.user  # type: ignore[assignment]
    if not user.is_staff:
        raise PermissionDenied(_("Only site staff can suspend an account."))
    target = Membership.objects.select_related("user", "group").filter(group__slug=slug, public_id=public_id).first()
    if target is None:
        raise Http404("No such member")
    form = SuspendAccountForm(request.POST)
    if not form.is_valid():
        _form_errors_as_messages(request, form)
    else:
        try:
            actions.do_suspend_account(
                user, target.user, reason=form.cleaned_data["reason"], ends_at=form.cleaned_data["ends_at"]
            )
        except ActionError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The account is suspended."))
    return redirect("moderation:member", slug=slug, public_id=public_id)


# --- The queue ---------------------------------------------------------------------------


@require_GET
@group_page(_require_moderator)
def queue(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    moderator = _moderator(request, access)
    status = request.GET.get("status", "open")
    reports = actions.reports_for(moderator).select_related("subject", "assignee")
    if status == "open":
        reports = reports.filter(status__in=["open", "in_review"])
    elif status in ("resolved", "dismissed", "in_review"):
        reports = reports.filter(status=status)
    else:
        status = "all"
    appeals = [
        appeal
        for appeal in Appeal.objects.filter(sanction__group=access.group, status=Appeal.Status.PENDING).select_related(
            "sanction__membership", "sanction__actor"
        )
        if actions.may_decide(moderator, appeal)
    ]
    filters = [
        ("open", _("Open")),
        ("in_review", _("In review")),
        ("resolved", _("Resolved")),
        ("dismissed", _("Dismissed")),
        ("all", _("All")),
    ]
    context = {
        "group": access.group,
        "access": access,
        "reports": reports[:200],
        "status": status,
        "filters": filters,
        "appeals": appeals,
    }
    return render(request, "moderation/queue.html", context)


@require_http_methods(["GET", "POST"])
@group_page(_require_moderator)
def report(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    moderator = _moderator(request, access)
    try:
        found = actions.get_report(moderator, public_id)
    except ActionError as error:
        raise Http404("No such report") from error
    if request.method == "POST":
        _report_action(request, moderator, found)
        return redirect("moderation:report", slug=access.group.slug, public_id=public_id)
    context = {
        "group": access.group,
        "access": access,
        "report": found,
        "notes": found.notes.all(),
        "sanctions": found.sanctions.all(),
        "note_form": NoteForm(),
        "escalate_form": EscalateForm(),
        "close_form": CloseForm(),
        "sanction_form": SanctionForm(
            meetings=_recent_meetings(access),
            initial={"meeting": found.meeting.public_id if found.meeting else "", "message_seq": found.message_seq},
        ),
        "moderator": moderator,
    }
    return render(request, "moderation/report.html", context)


def _report_action(request: HttpRequest, moderator: Moderator, found: Any) -> None:
    action = request.POST.get("action")
    try:
        if action == "assign":
            actions.do_assign(moderator, found)
            messages.success(request, _("The report is yours, and in review."))
        elif action == "note":
            form = NoteForm(request.POST)
            if not form.is_valid():
                raise ActionError(_("Write the note first."))
            actions.do_add_note(moderator, found, form.cleaned_data["body"])
            messages.success(request, _("Note added."))
        elif action == "escalate":
            escalate = EscalateForm(request.POST)
            if not escalate.is_valid():
                raise ActionError(_("Say why site staff should look at it."))
            actions.do_escalate(moderator, found, escalate.cleaned_data["reason"])
            messages.success(request, _("Site staff have been asked to look at it."))
        elif action == "close":
            close = CloseForm(request.POST)
            if not close.is_valid():
                raise ActionError(_("Choose an outcome from the list."))
            taken = close.cleaned_data["outcome"] == "resolved"
            actions.do_close_report(moderator, found, action_taken=taken, note=close.cleaned_data["note"])
            messages.success(request, _("The report is closed, and the person who made it is told."))
        else:
            raise ActionError(_("Unknown action."))
    except ActionError as error:
        messages.error(request, error.message)


@require_http_methods(["GET", "POST"])
@group_page(_require_moderator)
def appeal(request: HttpRequest, access: GroupAccess, public_id: str) -> HttpResponse:
    """Decide an appeal against a decision in this group (not one's own decision)."""
    moderator = _moderator(request, access)
    found = (
        Appeal.objects.select_related("sanction__membership", "sanction__user")
        .filter(sanction__public_id=public_id, sanction__group=access.group)
        .first()
    )
    if found is None or not actions.may_decide(moderator, found):
        raise Http404("No such appeal")
    form = DecideAppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_decide_appeal(
                moderator,
                found.pk,
                overturn=form.cleaned_data["decision"] == Appeal.Status.OVERTURNED,
                note=form.cleaned_data["note"],
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The appeal is decided, and the member is told."))
            return redirect("moderation:queue", slug=access.group.slug)
    context = {"group": access.group, "appeal": found, "form": form}
    return render_form_page(request, "moderation/appeal.html", context, form)


# --- Watched words and the audit log -----------------------------------------------------


def _words_page(
    request: HttpRequest, moderator: Moderator | None, staff: User | None, context: dict[str, Any]
) -> HttpResponse:
    if request.method == "POST" and request.POST.get("op") == "remove":
        # Removing has no form to show an error on (the form on the page is for adding).
        word = request.POST.get("word", "")
        try:
            actions.do_remove_watched_word(moderator, staff, int(word) if word.isascii() and word.isdigit() else 0)
        except ActionError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("That word is no longer watched."))
        return redirect(request.path)
    form = WatchedWordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_add_watched_word(moderator, staff, form.cleaned_data["phrase"], form.cleaned_data["action"])
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The word is watched from now on."))
            return redirect(request.path)
    group = moderator.group if moderator else None
    context.update({"form": form, "words": WatchedWord.objects.filter(group=group)})
    if group is not None:
        context["site_words"] = WatchedWord.objects.filter(group__isnull=True)
    return render_form_page(request, "moderation/words.html", context, form)


@require_http_methods(["GET", "POST"])
@group_page(_require_moderator)
def words(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    return _words_page(request, _moderator(request, access), None, {"group": access.group})


def _audit_page(request: HttpRequest, entries: Any, context: dict[str, Any]) -> HttpResponse:
    names = sorted(set(entries.values_list("action", flat=True).distinct()))
    form = AuditFilterForm(request.GET or None, actions=names)
    if form.is_valid():
        entries = form.filter(entries)
    page = Paginator(entries.select_related("group"), AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    query = {key: value for key, value in request.GET.items() if key != "page" and value}
    context.update({"form": form, "page": page, "query": query})
    return render_form_page(request, "moderation/audit.html", context, form)


@require_GET
@group_page(_require_owner)
def audit(request: HttpRequest, access: GroupAccess) -> HttpResponse:
    return _audit_page(request, AuditEntry.objects.filter(group=access.group), {"group": access.group})


# --- One's own standing, and appeals -----------------------------------------------------


@require_GET
@login_required
def standing(request: HttpRequest) -> HttpResponse:
    """Decisions about the signed-in person, with their reasons, and a way to appeal each."""
    user: User = request.user  # type: ignore[assignment]
    items = [(item, AppealForm(prefix=item.public_id)) for item in actions.sanctions_of(user)]
    return render(request, "moderation/standing.html", {"items": items})


@require_POST
@login_required
def file_appeal(request: HttpRequest, public_id: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = AppealForm(request.POST, prefix=public_id)
    if not form.is_valid():
        messages.error(request, _("Say why the decision should change."))
        return redirect("moderation:standing")
    try:
        actions.do_appeal(user, public_id, form.cleaned_data["text"])
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your appeal is sent. Someone other than the person who decided will answer."))
    return redirect("moderation:standing")


# --- Site staff ---------------------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if not user.is_staff:
        raise PermissionDenied(_("Only site staff can see this page."))
    return user


@require_GET
@login_required
def console(request: HttpRequest) -> HttpResponse:
    """Staff: escalated reports in every group, suspended accounts and their appeals."""
    staff = _staff(request)
    escalated = actions.escalated_reports()
    suspended = list(actions.site_suspensions_in_force())
    site_appeals = Appeal.objects.filter(
        sanction__kind=Sanction.Kind.SITE_SUSPEND, status=Appeal.Status.PENDING
    ).exclude(sanction__actor=staff)
    return render(
        request,
        "moderation/console.html",
        {"escalated": escalated, "suspended": suspended, "site_appeals": site_appeals},
    )


@require_http_methods(["GET", "POST"])
@login_required
def site_words(request: HttpRequest) -> HttpResponse:
    return _words_page(request, None, _staff(request), {"group": None})


@require_GET
@login_required
def site_audit(request: HttpRequest) -> HttpResponse:
    _staff(request)
    return _audit_page(request, AuditEntry.objects.all(), {"group": None})


@require_http_methods(["GET", "POST"])
@login_required
def site_appeal(request: HttpRequest, public_id: str) -> HttpResponse:
    """Staff decide an appeal against a site-wide suspension (not their own decision)."""
    staff = _staff(request)
    found = Appeal.objects.select_related("sanction__user").filter(sanction__public_id=public_id).first()
    if found is None or found.sanction.kind != Sanction.Kind.SITE_SUSPEND or found.sanction.actor_id == staff.pk:
        raise Http404("No such appeal")
    form = DecideAppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        moderator = Moderator(user=staff, group=None, membership=None, is_staff=True)  # type: ignore[arg-type]
        try:
            actions.do_decide_appeal(
                moderator,
                found.pk,
                overturn=form.cleaned_data["decision"] == Appeal.Status.OVERTURNED,
                note=form.cleaned_data["note"],
            )
        except ActionError as error:
            add_action_error(form, error)
        else:
            messages.success(request, _("The appeal is decided, and the person is told."))
            return redirect("moderation:console")
    return render_form_page(request, "moderation/appeal.html", {"group": None, "appeal": found, "form": form}, form)


@require_POST
@login_required
def lift_suspension(request: HttpRequest, public_id: str) -> HttpResponse:
    staff = _staff(request)
    try:
        actions.do_lift_account_suspension(staff, public_id, request.POST.get("reason", ""))
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The suspension is lifted."))
    return redirect("moderation:console")
