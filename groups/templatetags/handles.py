"""Showing stored handles: a deleted person's is stored as "former member" in the site's
language (accounts.lifecycle), and shown in the reader's."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils import translation

from groups.models import FORMER_MEMBER

register = template.Library()


@register.filter
def shown_handle(value: object) -> str:
    """A handle as stored (a membership's, or a line of a report's snapshot), with "former
    member" in the reader's language."""
    text = "" if value is None else str(value)
    with translation.override(settings.LANGUAGE_CODE):
        stored = str(FORMER_MEMBER)
    return str(FORMER_MEMBER) if text == stored else text
