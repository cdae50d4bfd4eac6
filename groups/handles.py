"""Per-group handles: how they are compared, which are refused, and suggestions.

Two handles are "the same" when their keys match. The key is the Unicode TR39 skeleton of
the NFKC form (look-alike characters mapped to one prototype: Cyrillic "а" to "a", "I" and
"1" to "l", "0" to "O"), case-folded, with spaces and punctuation dropped. So "Quiet Harbor",
"quiet-harbor", "QUlET HARBOR" and "Quіet Harbor" (Cyrillic і) all share one key.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from functools import cache
from pathlib import Path

import confusable_homoglyphs
from confusable_homoglyphs import confusables
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MIN_LENGTH = 2
MAX_LENGTH = 32

# Names that would make a member look like staff or speak for the site.
RESERVED_WORDS = (
    "admin",
    "administrator",
    "moderator",
    "facilitator",
    "staff",
    "hearth",
    "support",
    "official",
    "system",
    "owner",
    "helpdesk",
    "security",
    "police",
    "counsellor",
    "counselor",
    "therapist",
    "former member",
)
# Short ones only count as whole words ("mod" must not refuse "Modest Fern").
RESERVED_WHOLE_WORDS = ("mod", "mods", "host", "team", "bot", "root", "sysop")

ALLOWED = re.compile(r"^[\w .'\-]+$")
LOOKS_LIKE_CONTACT = re.compile(r"@|https?:|www\.|\.(com|org|net|uk|io)\b|\d{6,}", re.IGNORECASE)


@cache
def _prototypes() -> dict[str, str]:
    """Each confusable character mapped to its ASCII prototype, from the Unicode data."""
    data = json.loads((Path(confusable_homoglyphs.__file__).parent / "confusables.json").read_text())
    table: dict[str, str] = {}
    for char, entries in data.items():
        # Plain ASCII letters are their own prototypes; digits 0 and 1 pass for "o" and "l".
        if len(char) != 1 or (char.isascii() and char.isalnum() and char not in "01"):
            continue
        for entry in entries:
            glyph = entry["c"].strip("\u200e")
            if glyph.isascii() and glyph.isalnum():
                table[char] = glyph
                break
    return table


# After case folding, Latin letters that still pass for one another: "AIice" (capital i)
# reads as "Alice", "rn" as "m".
_ASCII_FOLDS = (("i", "l"), ("rn", "m"), ("vv", "w"))


def skeleton(text: str) -> str:
    """Case-insensitive skeleton: NFKC, case-folded, each look-alike mapped to its prototype."""
    prototypes = _prototypes()
    folded = unicodedata.normalize("NFKC", text).casefold()
    mapped = "".join(prototypes.get(char, char) for char in folded)
    return unicodedata.normalize("NFKC", mapped).casefold()


def handle_key(handle: str) -> str:
    """The comparison key: two handles with one key cannot both exist in a group."""
    key = "".join(char for char in skeleton(handle) if char.isalnum())
    for look_alike, prototype in _ASCII_FOLDS:
        key = key.replace(look_alike, prototype)
    return key


def clean_handle(handle: str) -> str:
    """Tidy a handle as typed: NFKC, single spaces, no leading or trailing space."""
    return " ".join(unicodedata.normalize("NFKC", handle).split())


def _reserved_forms() -> tuple[list[str], list[str]]:
    anywhere = [handle_key(word) for word in RESERVED_WORDS]
    whole = [handle_key(word) for word in RESERVED_WHOLE_WORDS]
    return anywhere, whole


def validate_handle(handle: str) -> None:
    """Raise ValidationError with a message for the person if `handle` cannot be used."""
    if len(handle) < MIN_LENGTH:
        raise ValidationError(_("Choose a name of at least %(min)d characters."), params={"min": MIN_LENGTH})
    if len(handle) > MAX_LENGTH:
        raise ValidationError(_("Choose a name of at most %(max)d characters."), params={"max": MAX_LENGTH})
    if LOOKS_LIKE_CONTACT.search(handle):
        raise ValidationError(
            _("This looks like an email address, web address or phone number. Pick a name that can't identify you."),
            code="identifying_handle",
        )
    if not ALLOWED.match(handle) or not any(char.isalnum() for char in handle):
        raise ValidationError(
            _("Use letters, numbers, spaces and . ' - _ only."),
            code="invalid_handle",
        )
    if confusables.is_dangerous(handle):
        raise ValidationError(
            _("This name mixes look-alike letters from different alphabets. Use one alphabet."),
            code="mixed_script_handle",
        )
    key = handle_key(handle)
    anywhere, whole = _reserved_forms()
    words = {handle_key(word) for word in re.split(r"[\s.'\-_]+", handle) if word}
    if any(word in key for word in anywhere) or words & set(whole):
        raise ValidationError(
            _("This name is reserved, or looks like a staff or site name. Please choose another."),
            code="reserved_handle",
        )


SUGGESTION_ADJECTIVES = (
    "Quiet", "Gentle", "Steady", "Brave", "Calm", "Bright", "Kind", "Hopeful", "Patient", "Warm",
    "Silver", "Golden", "Morning", "Evening", "Northern", "Distant", "Open", "Clear", "Soft", "Still",
)  # fmt: skip
SUGGESTION_NOUNS = (
    "Harbor", "Willow", "River", "Meadow", "Lantern", "Sparrow", "Cedar", "Tide", "Harvest", "Ember",
    "Heron", "Valley", "Orchard", "Brook", "Pine", "Lark", "Shore", "Fern", "Maple", "Dawn",
)  # fmt: skip


def suggest_handle(taken_keys: set[str]) -> str:
    """A friendly random name, such as "Quiet Harbor", not yet used in the group."""
    for _attempt in range(50):
        candidate = f"{secrets.choice(SUGGESTION_ADJECTIVES)} {secrets.choice(SUGGESTION_NOUNS)}"
        if handle_key(candidate) not in taken_keys:
            return candidate
    while True:
        candidate = (
            f"{secrets.choice(SUGGESTION_ADJECTIVES)} {secrets.choice(SUGGESTION_NOUNS)} {secrets.randbelow(90) + 10}"
        )
        if handle_key(candidate) not in taken_keys:
            return candidate
