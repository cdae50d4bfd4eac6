from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html

from lib.timefmt import show_time

register = template.Library()


@register.simple_tag(takes_context=True)
def show_when(context: template.Context, moment: datetime, group_timezone: str) -> str:
    """<time> in the viewer's timezone, the group's local time beside it, and "in 3 hours"."""
    user = context.get("user")
    viewer_timezone = user.timezone if user is not None and user.is_authenticated else group_timezone
    shown = show_time(moment, viewer_timezone, group_timezone)
    if shown.group_local:
        return format_html(
            '<time datetime="{}">{}</time> <span class="meta">({}) · {}</span>',
            shown.iso,
            shown.local,
            shown.group_local,
            shown.relative,
        )
    return format_html(
        '<time datetime="{}">{}</time> <span class="meta">· {}</span>', shown.iso, shown.local, shown.relative
    )
