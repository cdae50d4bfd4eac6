from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from groups.models import Membership, SupportGroup
from meetings.models import MAX_DURATION_MINUTES
from meetings.recurrence import WEEKDAYS, build_rule

WEEKDAY_CHOICES = list(
    zip(
        WEEKDAYS,
        (
            pgettext_lazy("weekday label", "Monday"),
            pgettext_lazy("weekday label", "Tuesday"),
            pgettext_lazy("weekday label", "Wednesday"),
            pgettext_lazy("weekday label", "Thursday"),
            pgettext_lazy("weekday label", "Friday"),
            pgettext_lazy("weekday label", "Saturday"),
            pgettext_lazy("weekday label", "Sunday"),
        ),
        strict=True,
    )
)
MONTH_WEEK_CHOICES = [(1, _("First")), (2, _("Second")), (3, _("Third")), (4, _("Fourth")), (-1, _("Last"))]


class FacilitatorChoiceField(forms.ModelChoiceField[Membership]):
    def label_from_instance(self, obj: Membership) -> str:
        return obj.handle


class FacilitatorMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return obj.handle


def facilitators_queryset(group: SupportGroup) -> Any:
    return group.memberships.filter(
        status=Membership.Status.ACTIVE, role__in=[Membership.Role.FACILITATOR, Membership.Role.OWNER]
    ).order_by("handle")


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


class SeriesForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=80, initial=_("Weekly meeting"))
    frequency = forms.ChoiceField(
        label=_("Repeats"), choices=[("WEEKLY", _("Weekly")), ("MONTHLY", _("Monthly"))], widget=forms.RadioSelect
    )
    interval = forms.IntegerField(
        label=_("Every"),
        min_value=1,
        max_value=8,
        initial=1,
        help_text=_("1 = every week (or month), 2 = every other…"),
    )
    weekdays = forms.MultipleChoiceField(
        label=_("On (weekly)"), choices=WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    month_week = forms.TypedChoiceField(
        label=_("On the (monthly)"), choices=MONTH_WEEK_CHOICES, coerce=int, required=False
    )
    month_weekday = forms.ChoiceField(label=_("Day (monthly)"), choices=WEEKDAY_CHOICES, required=False)
    start_date = forms.DateField(label=_("First meeting on or after"), widget=DateInput)
    start_time = forms.TimeField(label=_("Time, in the group's timezone"), widget=TimeInput)
    duration_minutes = forms.IntegerField(
        label=_("Length (minutes)"), min_value=1, max_value=MAX_DURATION_MINUTES, initial=90
    )
    capacity = forms.IntegerField(label=_("Places"), min_value=1, max_value=500, initial=12)
    ends = forms.ChoiceField(
        label=_("Ends"),
        choices=[("never", _("Keeps going")), ("until", _("On a date")), ("count", _("After a number of meetings"))],
        initial="never",
        widget=forms.RadioSelect,
    )
    until = forms.DateField(label=_("Last date"), required=False, widget=DateInput)
    count = forms.IntegerField(label=_("Number of meetings"), min_value=1, max_value=200, required=False)
    rota = FacilitatorMultipleChoiceField(
        label=_("Facilitator rota"),
        queryset=Membership.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Meetings take turns through these facilitators; the next in turn is the backup."),
    )

    def __init__(self, *args: Any, group: SupportGroup, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["rota"]).queryset = facilitators_queryset(group)
        self.fields["start_time"].help_text = _("Timezone: %(zone)s") % {"zone": group.timezone}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        frequency = data.get("frequency")
        if frequency == "WEEKLY" and not data.get("weekdays"):
            self.add_error("weekdays", _("Choose at least one day of the week."))
        if frequency == "MONTHLY" and (data.get("month_week") in (None, "") or not data.get("month_weekday")):
            self.add_error("month_week", _("Choose which week and day of the month."))
        if data.get("ends") == "until" and not data.get("until"):
            self.add_error("until", _("Choose the last date."))
        if data.get("ends") == "count" and not data.get("count"):
            self.add_error("count", _("Say how many meetings."))
        return data

    def rule(self) -> str:
        data = self.cleaned_data
        return build_rule(
            frequency=data["frequency"],
            interval=data["interval"],
            weekdays=data.get("weekdays") or None,
            month_week=data.get("month_week") if data["frequency"] == "MONTHLY" else None,
            month_weekday=data.get("month_weekday") if data["frequency"] == "MONTHLY" else None,
            until=data.get("until") if data["ends"] == "until" else None,
            count=data.get("count") if data["ends"] == "count" else None,
        )


class MeetingForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=80)
    day = forms.DateField(label=_("Date"), widget=DateInput)
    at = forms.TimeField(label=_("Time, in the group's timezone"), widget=TimeInput)
    duration_minutes = forms.IntegerField(
        label=_("Length (minutes)"), min_value=1, max_value=MAX_DURATION_MINUTES, initial=90
    )
    capacity = forms.IntegerField(label=_("Places"), min_value=1, max_value=500, initial=12)
    facilitator = FacilitatorChoiceField(
        label=_("Facilitator"), queryset=Membership.objects.none(), required=False, empty_label=_("Nobody yet")
    )
    backup = FacilitatorChoiceField(
        label=_("Backup facilitator"), queryset=Membership.objects.none(), required=False, empty_label=_("Nobody")
    )

    def __init__(self, *args: Any, group: SupportGroup, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("facilitator", "backup"):
            cast(FacilitatorChoiceField, self.fields[name]).queryset = facilitators_queryset(group)
        self.fields["at"].help_text = _("Timezone: %(zone)s") % {"zone": group.timezone}


class EditMeetingForm(MeetingForm):
    reason = forms.CharField(
        label=_("Reason for a change of time (shown to the people going)"),
        max_length=300,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["title"]


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason (shown to the people going)"), max_length=300)
