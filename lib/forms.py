"""Form rendering shared by every app: errors and help text are tied to their input."""

from __future__ import annotations

from typing import Any

from django.forms.boundfield import BoundField
from django.forms.renderers import DjangoTemplates


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
