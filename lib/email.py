"""One way to send an email to a person: plain text and HTML, in their language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation


def send_templated_email(
    to: str,
    template_prefix: str,
    context: dict[str, Any],
    *,
    language: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Render `<prefix>_subject.txt`, `<prefix>_body.txt` and `<prefix>_body.html`, and send.

    The subject is rendered on one line; callers keep it neutral (see DESIGN.md: an abuser
    may read the inbox).
    """
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"{template_prefix}_subject.txt", context).split())
        text = render_to_string(f"{template_prefix}_body.txt", context)
        html = render_to_string(f"{template_prefix}_body.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers=headers)
    message.attach_alternative(html, "text/html")
    message.send()
