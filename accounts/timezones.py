"""The IANA timezones people can choose from."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@cache
def timezone_names() -> tuple[str, ...]:
    # Only Area/Location names (plus UTC): "Europe/London", not "GB" or "Etc/GMT+3".
    names = {
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    }
    return ("UTC", *sorted(names))


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in timezone_names()]


UNKNOWN_TIMEZONE = _("“%(value)s” is not a timezone we know. Choose one from the list, such as Europe/London.")


def validate_timezone(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(UNKNOWN_TIMEZONE, code="invalid_timezone", params={"value": value})
