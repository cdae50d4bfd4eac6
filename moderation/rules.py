"""Moderation rules the room and the pages ask about: watched words, personal blocks, and
the audit log's one way in. Queries only; no imports from the room (which imports these).
"""

from __future__ import annotations

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
SEPARATOR = re.compile(r"[^a-z]+")
REPEATS = re.compile(r"(.)\1+")
# Severity when one message matches several words: refusing beats alerting beats flagging.
SEVERITY = {WatchedWord.Action.BLOCK: 3, WatchedWord.Action.CRISIS: 2, WatchedWord.Action.FLAG: 1}


def _tokens(text: str) -> list[str]:
    """Words as the filter sees them: no accents, one case, digits read as the letters they
    stand for, repeated letters squeezed ("kiiill" → "kil"), and runs of single letters joined
    ("k i l l", "k.i.l.l" → "kil")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().translate(SWAPS)
    words = [REPEATS.sub(r"\1", word) for word in SEPARATOR.split(text) if word]
    joined: list[str] = []
    letters: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            letters.append(word)
            continue
        if len(letters) >= 3:
            joined.append(REPEATS.sub(r"\1", "".join(letters)))
        else:
            joined.extend(letters)
        letters = []
        if word:
            joined.append(word)
    return joined


def normalise(phrase: str) -> str:
    return " ".join(_tokens(phrase))


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


def watched_word_match(group: SupportGroup | int, body: str) -> Match | None:
    """The most serious watched word (this group's or site-wide) found in `body` as whole
    words, or None. "kill" is found in "K1LL" and "k i l l", never inside "skill"."""
    group_id = group if isinstance(group, int) else group.pk
    padded = f" {normalise(body)} "
    found: Match | None = None
    for normalised, action, phrase in [*_watched_words(group_id), *_watched_words(None)]:
        if not normalised or f" {normalised} " not in padded:
            continue
        if found is None or SEVERITY[WatchedWord.Action(action)] > SEVERITY[WatchedWord.Action(found.action)]:
            found = Match(action, phrase)
    return found


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
    reason: str = "",
    **detail: Any,
) -> AuditEntry:
    """Add an entry to the audit log (the only way entries are made). `actor` and `group`
    may be given as ids."""
    return AuditEntry.objects.create(
        group_id=group.pk if isinstance(group, SupportGroup) else group,
        actor_id=actor.pk if isinstance(actor, User) else actor,
        actor_label=actor_label[:64],
        target=target,
        target_label=(target.handle if target is not None else "")[:64],
        action=action,
        reason=reason[:500],
        detail=detail,
    )
