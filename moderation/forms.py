from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from meetings.models import Meeting
from moderation.models import Appeal, Report, Sanction, WatchedWord

REPORTABLE = [(value, label) for value, label in Report.Category.choices if value != Report.Category.WATCHED_WORD]


class ReportForm(forms.Form):
    category = forms.ChoiceField(
        label=_("What is wrong?"),
        choices=REPORTABLE,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose what is wrong."),
            "invalid_choice": _("Choose what is wrong from the list."),
        },
    )
    wish = forms.ChoiceField(
        label=_("What would you like to happen?"),
        choices=Report.Wish.choices,
        widget=forms.RadioSelect,
        initial=Report.Wish.INFORM,
        error_messages={"invalid_choice": _("Choose what you would like from the list.")},
    )
    details = forms.CharField(
        label=_("Anything the facilitators should know (optional)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=2000,
        help_text=_("Only the people who handle reports read this. The person you report never learns it was you."),
    )


class SanctionForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Action"),
        choices=[(value, label) for value, label in Sanction.Kind.choices if value != Sanction.Kind.SITE_SUSPEND],
        error_messages={"invalid_choice": _("Choose an action from the list.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The member sees this reason."),
    )
    minutes = forms.TypedChoiceField(
        label=_("Timeout length"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=[
            ("", "—"),
            (15, _("15 minutes")),
            (60, _("1 hour")),
            (24 * 60, _("1 day")),
            (3 * 24 * 60, _("3 days")),
            (7 * 24 * 60, _("7 days")),
        ],
        help_text=_("For a timeout."),
    )
    ends_at = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("For a suspension (required) or a ban (leave empty for a permanent ban). In your timezone."),
    )
    meeting = forms.ChoiceField(
        label=_("Meeting"),
        required=False,
        help_text=_("For deleting a message or removing from a meeting."),
    )
    message_seq = forms.IntegerField(
        label=_("Message number"), required=False, min_value=1, help_text=_("For deleting a message.")
    )

    def __init__(self, *args: Any, meetings: list[Meeting], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["meeting"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (meeting.public_id, f"{meeting.title} ({meeting.starts_at:%d %b %Y %H:%M})") for meeting in meetings
        ]


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Private note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class EscalateForm(forms.Form):
    reason = forms.CharField(label=_("Why site staff should look at it"), max_length=500)


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("resolved", _("Action was taken")), ("dismissed", _("No action needed"))],
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose an outcome from the list.")},
    )
    note = forms.CharField(label=_("Private note (optional)"), required=False, max_length=2000)


class AppealForm(forms.Form):
    text = forms.CharField(
        label=_("Why should this decision change?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Someone other than the person who decided will read it. You can appeal each decision once."),
    )


class DecideAppealForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(Appeal.Status.UPHELD, _("Keep the decision")), (Appeal.Status.OVERTURNED, _("Overturn it"))],
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose a decision from the list.")},
    )
    note = forms.CharField(
        label=_("Note to the member (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class WatchedWordForm(forms.Form):
    phrase = forms.CharField(label=_("Word or phrase"), max_length=100)
    action = forms.ChoiceField(
        label=_("When someone writes it"),
        choices=WatchedWord.Action.choices,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose what happens from the list.")},
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False)
    actor = forms.CharField(label=_("By (name)"), required=False, max_length=64)
    target = forms.CharField(label=_("About (name)"), required=False, max_length=64)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("Any"))] + [(action, action) for action in actions]  # type: ignore[attr-defined]

    def filter(self, entries: Any) -> Any:
        data = self.cleaned_data
        if data.get("action"):
            entries = entries.filter(action=data["action"])
        if data.get("actor"):
            entries = entries.filter(actor_label__icontains=data["actor"])
        if data.get("target"):
            entries = entries.filter(target_label__icontains=data["target"])
        if data.get("since"):
            entries = entries.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            entries = entries.filter(created_at__date__lte=data["until"])
        return entries


class SuspendAccountForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, help_text=_("The person sees this reason."))
    ends_at = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty to suspend until lifted. In your timezone."),
    )
