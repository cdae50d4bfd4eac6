"""Configuration that would make every discreet email unsendable, or leak in its headers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from accounts.notifications import contains_word


@register()
def discreet_sender_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Discreet emails carry SITE_URL in their links and DISCREET_FROM_EMAIL as the sender;
    if either contains a word from DISCREET_FORBIDDEN_WORDS, every one of them is refused."""
    errors = []
    for name in ("SITE_URL", "DISCREET_FROM_EMAIL"):
        value = str(getattr(settings, name, ""))
        for word in settings.DISCREET_FORBIDDEN_WORDS:
            if word and contains_word(value, word):
                errors.append(
                    Error(
                        f"{name} contains {word!r}, a word discreet emails must never contain.",
                        hint="Use a neutral address, or change DISCREET_FORBIDDEN_WORDS.",
                        id="hearth.E001",
                    )
                )
    return errors
