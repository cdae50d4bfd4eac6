from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.timezones import UNKNOWN_TIMEZONE, timezone_choices
from groups.handles import MAX_LENGTH
from groups.models import GROUP_LANGUAGES, Membership, SupportGroup, Topic, slug_validator, validate_slug_not_reserved
from lib.crisis import all_regions

HANDLE_HELP = _(
    "The only name people in this group will see. Use a different one in each group, and nothing "
    "that could identify you."
)


def crisis_region_choices() -> list[tuple[str, str]]:
    return [(code, region["name"]) for code, region in all_regions().items()]


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    topic = forms.ModelChoiceField(
        label=_("Topic"), queryset=Topic.objects.all(), to_field_name="slug", required=False, empty_label=_("Any topic")
    )
    language = forms.ChoiceField(
        label=_("Language"), choices=[("", _("Any language")), *GROUP_LANGUAGES], required=False
    )
    join_policy = forms.ChoiceField(
        label=_("Joining"), choices=[("", _("Any")), *SupportGroup.JoinPolicy.choices], required=False
    )
    day = forms.TypedChoiceField(
        label=_("Meets on"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=[
            ("", _("Any day")),
            (1, pgettext_lazy("weekday label", "Monday")),
            (2, pgettext_lazy("weekday label", "Tuesday")),
            (3, pgettext_lazy("weekday label", "Wednesday")),
            (4, pgettext_lazy("weekday label", "Thursday")),
            (5, pgettext_lazy("weekday label", "Friday")),
            (6, pgettext_lazy("weekday label", "Saturday")),
            (7, pgettext_lazy("weekday label", "Sunday")),
        ],
    )
    part_of_day = forms.ChoiceField(
        label=_("At"),
        required=False,
        choices=[
            ("", _("Any time")),
            ("morning", _("Morning (5–12)")),
            ("afternoon", _("Afternoon (12–17)")),
            ("evening", _("Evening (17–22)")),
            ("night", _("Night (22–5)")),
        ],
        help_text=_("In your timezone."),
    )


class HandleField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Your name in this group"))
        kwargs.setdefault("help_text", HANDLE_HELP)
        kwargs.setdefault("max_length", MAX_LENGTH)
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
        super().__init__(**kwargs)


class JoinForm(forms.Form):
    handle = HandleField()
    accept_guidelines = forms.BooleanField(
        label=_("I have read the group's guidelines and agree to follow them"),
        required=False,
    )
    message = forms.CharField(
        label=_("A note to the facilitators (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only the group's facilitators see it."),
    )


class HandleChangeForm(forms.Form):
    handle = HandleField(label=_("New name in this group"))


class GroupForm(forms.ModelForm[SupportGroup]):
    slug = forms.CharField(
        label=_("Web address"),
        max_length=60,
        validators=[slug_validator, validate_slug_not_reserved],
        help_text=_("Part of the group's address: lower-case letters, numbers and hyphens."),
    )
    timezone = forms.ChoiceField(
        label=_("Timezone"),
        choices=timezone_choices,
        help_text=_("Meetings are scheduled in this timezone."),
        error_messages={"invalid_choice": UNKNOWN_TIMEZONE},
    )
    crisis_region = forms.ChoiceField(
        label=_("Crisis resources region"),
        choices=crisis_region_choices,
        help_text=_("Which crisis resources members are shown in this group's rooms."),
    )
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"), queryset=Topic.objects.all(), widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = SupportGroup
        fields = (
            "name",
            "slug",
            "description",
            "topics",
            "language",
            "timezone",
            "join_policy",
            "is_listed",
            "guidelines",
            "message_retention_days",
            "crisis_region",
            "allow_drop_ins",
            "share_minutes",
        )
        widgets: ClassVar = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "guidelines": forms.Textarea(attrs={"rows": 8}),
            "join_policy": forms.RadioSelect,
        }


class CreateGroupForm(GroupForm):
    handle = HandleField(label=_("Your name in this group"))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("decline", _("Decline"))])
    message = forms.CharField(
        label=_("Message to the person (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class InviteForm(forms.Form):
    label = forms.CharField(label=_("Note for facilitators (optional)"), required=False, max_length=80)
    valid_days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=90, initial=7)
    max_uses = forms.IntegerField(
        label=_("Maximum uses"),
        min_value=1,
        max_value=500,
        required=False,
        initial=1,
        help_text=_("Leave empty for no limit."),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class NoContactForm(forms.Form):
    """Someone to add to your no-contact list. The address is checked by the action
    (groups.no_contact.check_email), which gives the message; it is never kept."""

    email = forms.CharField(
        label=_("Their email address"),
        required=False,
        help_text=_("Any address they might use to sign up. It is kept only as a scrambled fingerprint."),
        # No autocomplete: a browser must not offer this address to whoever uses the device next.
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    label = forms.CharField(
        label=_("A private note (optional)"),
        required=False,
        max_length=40,
        help_text=_(
            "Only you see it, to tell your entries apart. Use initials or a word only you understand, "
            "not a full name: someone with your device could read it."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def ask_to_confirm_no_contact(form: forms.Form) -> None:
    """The extra tick box on a join form when someone on the person's list is a member."""
    form.fields["confirm_no_contact"] = forms.BooleanField(
        label=_("I understand, and I want to join this group anyway"), required=False
    )
