"""Form rendering shared by every app: errors and help text are tied to their input."""

from __future__ import annotations

from typing import Any

from django.forms import BaseForm
from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lib.errors import ActionError


class AccessibleBoundField(BoundField):
    """Point aria-describedby at the field's errors as well as its help text."""

    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        described_by = []
        if self.help_text:
            described_by.append(f"{self.auto_id}_helptext")
        if self.form.is_bound and self.errors:
            described_by.insert(0, f"{self.auto_id}_errors")
            attrs["aria-invalid"] = "true"
        if described_by and self.auto_id:
            attrs["aria-describedby"] = " ".join(described_by)
        return attrs


class FormRenderer(DjangoTemplates):
    bound_field_class = AccessibleBoundField


def add_action_error(form: BaseForm, error: ActionError) -> None:
    """Show a rule's refusal on the form, beside the field it names (or at the top)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def render_form_page(
    request: HttpRequest, template: str, context: dict[str, Any], form: BaseForm | None = None
) -> HttpResponse:
    """Render a page with a form, answering 400 when the form has errors."""
    status = 400 if form is not None and form.is_bound and form.errors else 200
    return render(request, template, context, status=status)
