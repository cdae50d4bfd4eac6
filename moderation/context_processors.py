from __future__ import annotations

from django.http import HttpRequest

from moderation.actions import open_report_count


def reports(request: HttpRequest) -> dict[str, object]:
    """The open-report count in the header, for people who handle reports."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"open_report_count": open_report_count(user)}
