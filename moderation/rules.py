"""Moderation rules the room and the pages ask about: watched words, personal blocks, and
the audit log's one way in. Queries only; no imports from the room (which imports these).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import User
from groups.models import Membership, SupportGroup
from moderation.models import AuditEntry, Block, WatchedWord

logger = logging.getLogger(__name__)

# Digits and symbols people swap for letters to slip past a filter.
SWAPS = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
        "+": "t",
    }
)
# Digits only: the reading of a message in which symbols are punctuation ("kill!" is "kill").
DIGIT_SWAPS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
SEPARATOR = re.compile(r"[^a-z]+")
RUNS = re.compile(r"(.)\1*")
# Severity when one message matches several words: refusing beats alerting beats flagging.
SEVERITY = {WatchedWord.Action.BLOCK: 3, WatchedWord.Action.CRISIS: 2, WatchedWord.Action.FLAG: 1}


def _tokens(text: str, *, symbols_as_letters: bool = True) -> list[str]:
    """Words as the filter sees them: no accents, one case, digits (and, unless told otherwise,
    symbols) read as the letters they stand for, and runs of single letters joined ("k i l l",
    "k.i.l.l" → "kill"). Repeated letters are kept: `_pattern` lets a message repeat a letter
    more often than the watched word does ("kiiill"), never less ("as" is not "ass")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.translate(SWAPS if symbols_as_letters else DIGIT_SWAPS)
    words = [word for word in SEPARATOR.split(text) if word]
    joined: list[str] = []
    letters: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            letters.append(word)
            continue
        if len(letters) >= 3:
            joined.append("".join(letters))
        else:
            joined.extend(letters)
        letters = []
        if word:
            joined.append(word)
    return joined


def normalise(phrase: str) -> str:
    """A watched word's key: two spellings with the same key are the same word ("Kill", "K1LL")."""
    return " ".join(_tokens(phrase))


@functools.lru_cache(maxsize=4096)
def _pattern(key: str) -> re.Pattern[str]:
    """The watched word as whole words, each letter at least as often as in the word:
    "kill" → "k{1,}i{1,}l{2,}" between spaces."""
    words = [
        "".join(f"{re.escape(run.group(1))}{{{len(run.group(0))},}}" for run in RUNS.finditer(word))
        for word in key.split()
    ]
    return re.compile(rf"(?<!\S){' '.join(words)}(?!\S)")


@dataclass(frozen=True)
class Match:
    action: str
    phrase: str


WORDS_CACHE_SECONDS = 3600


def _words_key(group_id: int | None) -> str:
    return f"watched-words:{group_id if group_id is not None else 'site'}"


def _watched_words(group_id: int | None) -> list[tuple[str, str, str]]:
    """(normalised, action, phrase) for one group, or site-wide. Cached, because every room
    message asks; any change to a watched word clears it (signals below)."""
    key = _words_key(group_id)
    try:
        cached = cache.get(key)
    except Exception:  # the cache is down: ask the database
        logger.warning("Watched-word cache unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    words = list(WatchedWord.objects.filter(group_id=group_id).values_list("normalised", "action", "phrase"))
    try:
        cache.set(key, words, WORDS_CACHE_SECONDS)
    except Exception:
        logger.warning("Watched-word cache unavailable", exc_info=True)
    return words


@receiver([post_save, post_delete], sender=WatchedWord)
def _forget_words(sender: type[WatchedWord], instance: WatchedWord, **kwargs: Any) -> None:
    try:
        cache.delete(_words_key(instance.group_id))
    except Exception:
        logger.warning("Watched-word cache unavailable", exc_info=True)


def watched_word_matches(group: SupportGroup | int, body: str) -> dict[str, str]:
    """Every action some watched word (this group's or site-wide) asks for in `body`, with the
    phrase that asked: {"block": "…", "crisis": "…"}. Whole words only: "kill" is found in
    "K1LL", "kill!" and "k i l l", never inside "skill"."""
    group_id = group if isinstance(group, int) else group.pk
    # Two readings: "$" and "!" may stand for letters ("$hit", "k!ll") or be punctuation ("kill!").
    readings = (normalise(body), " ".join(_tokens(body, symbols_as_letters=False)))
    found: dict[str, str] = {}
    for normalised, action, phrase in [*_watched_words(group_id), *_watched_words(None)]:
        if action in found or not normalised:
            continue
        if any(_pattern(normalised).search(reading) for reading in readings):
            found[action] = phrase
    return found


def watched_word_match(group: SupportGroup | int, body: str) -> Match | None:
    """The most serious watched word found in `body`, or None (see watched_word_matches)."""
    found = watched_word_matches(group, body)
    if not found:
        return None
    action = max(found, key=lambda name: SEVERITY[WatchedWord.Action(name)])
    return Match(action, found[action])


def hidden_members(membership_id: int) -> set[str]:
    """Public ids of the members this member has blocked: their messages are hidden for them."""
    return set(Block.objects.filter(blocker_id=membership_id).values_list("blocked__public_id", flat=True))


def has_blocked(blocker: Membership, blocked: Membership) -> bool:
    return Block.objects.filter(blocker=blocker, blocked=blocked).exists()


def audit(
    action: str,
    *,
    actor: User | int | None,
    actor_label: str,
    group: SupportGroup | int | None = None,
    target: Membership | None = None,
    target_label: str = "",
    reason: str = "",
    **detail: Any,
) -> AuditEntry:
    """Add an entry to the audit log (the only way entries are made). `actor` and `group`
    may be given as ids; `target_label` names a target that is not a membership (an account)."""
    return AuditEntry.objects.create(
        group_id=group.pk if isinstance(group, SupportGroup) else group,
        actor_id=actor.pk if isinstance(actor, User) else actor,
        actor_label=actor_label[:64],
        target=target,
        target_label=(target.handle if target is not None else target_label)[:64],
        action=action,
        reason=reason[:500],
        detail=detail,
    )
