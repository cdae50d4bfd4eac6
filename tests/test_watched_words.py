"""Watched words: what `moderation.rules.watched_word_match` finds in a message, and the pages
where facilitators (for their group) and staff (for every group) add and remove words.

The decision this file pins: matching is on **whole words only**. "kill" is found however it
is disguised (case, accents, digits or symbols for letters, a letter repeated, letters spaced
out or dotted, punctuation around it) but never inside a longer word: not in "skill",
"skilled", "overkill", "killjoy", and not in "kills" or "killing" either (a group that means
those forms watches them too). A letter may be repeated more often than in the watched word,
never less, so "as" is not "ass" and "shot" is not "shoot" (the Scunthorpe problem in small).
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from accounts.models import User
from groups.models import SupportGroup
from moderation.models import AuditEntry, WatchedWord
from moderation.rules import Match, normalise, watched_word_match
from tests.conftest import add_member, make_group, make_user

pytestmark = pytest.mark.django_db

BLOCK, FLAG, CRISIS = WatchedWord.Action.BLOCK, WatchedWord.Action.FLAG, WatchedWord.Action.CRISIS


def watch(phrase: str, action: str, group: SupportGroup | None = None) -> WatchedWord:
    return WatchedWord.objects.create(group=group, phrase=phrase, normalised=normalise(phrase), action=action)


def text(response: HttpResponse) -> str:
    raw = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(raw).split())


@pytest.fixture
def group(db: None) -> SupportGroup:
    return make_group()


# --- Normalising ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["kill", "Kill", "KILL", "k1ll", "kíll", "KÍLL", "k i l l", "k.i.l.l", "k-i-l-l", "ｋｉｌｌ"]
)
def test_disguised_spellings_normalise_to_the_same_key(spelling: str) -> None:
    assert normalise(spelling) == normalise("kill")


def test_phrases_normalise_word_by_word() -> None:
    assert normalise("  Kill   MYSELF ") == normalise("kill myself") == "kill myself"
    assert normalise("kill-myself") == "kill myself"


@pytest.mark.parametrize("symbols", ["", "   ", "...", "?.,;:", "—", "🙂🙂"])
def test_text_without_letters_or_swaps_normalises_to_nothing(symbols: str) -> None:
    assert normalise(symbols) == ""


# --- Matching ---------------------------------------------------------------------------------

DISGUISES = ["kill", "KILL", "k1ll", "k i l l", "k.i.l.l", "kíll", "kiiill", "KiLLLL", "k!ll", "k|ll"]


@pytest.mark.parametrize("action", [BLOCK, FLAG, CRISIS])
@pytest.mark.parametrize("spelling", DISGUISES)
def test_each_action_is_found_however_the_word_is_disguised(group: SupportGroup, action: str, spelling: str) -> None:
    watch("kill", action, group)
    assert watched_word_match(group, f"I will {spelling} him") == Match(action, "kill")
    assert watched_word_match(group.pk, spelling) == Match(action, "kill")


@pytest.mark.parametrize(
    "body",
    ["kill!", "kill.", "Kill?!", "(kill)", "“kill”", "'kill'", "kill,", "KILL!!!", "...kill...", "#kill", "kill🔪"],
)
def test_punctuation_around_a_word_does_not_hide_it(group: SupportGroup, body: str) -> None:
    watch("kill", BLOCK, group)
    assert watched_word_match(group, f"I'll {body} you") == Match(BLOCK, "kill")


@pytest.mark.parametrize(
    ("phrase", "body"),
    [("shit", "$hit"), ("ass", "@ss"), ("ass", "a$$"), ("hate", "h4te"), ("loser", "l0$3r"), ("die", "d!e")],
)
def test_symbols_and_digits_standing_for_letters(group: SupportGroup, phrase: str, body: str) -> None:
    watch(phrase, FLAG, group)
    assert watched_word_match(group, f"you {body}") == Match(FLAG, phrase)


@pytest.mark.parametrize(
    "body",
    [
        "I want to kill myself",
        "i want to KILL MYSELF tonight",
        "kill   myself",
        "k1ll mys3lf",
        "k i l l myself",
        "kill myself!",
        "Kill-myself",
    ],
)
def test_a_phrase_is_found_as_its_words_in_order(group: SupportGroup, body: str) -> None:
    watch("kill myself", CRISIS, group)
    assert watched_word_match(group, body) == Match(CRISIS, "kill myself")


@pytest.mark.parametrize(
    "body",
    ["myself kill", "kill yourself", "kill my self", "skill myself", "kill myselfie", "I killed myself laughing"],
)
def test_a_phrase_is_not_found_in_other_words_or_order(group: SupportGroup, body: str) -> None:
    watch("kill myself", CRISIS, group)
    assert watched_word_match(group, body) is None


@pytest.mark.parametrize(
    "body",
    ["skill", "skilled", "overkill", "killjoy", "kills", "killing", "killer", "Kilimanjaro", "kil", "k ill"],
)
def test_no_hits_inside_longer_words_or_other_words(group: SupportGroup, body: str) -> None:
    """Whole words only: "killjoy" does not match "kill" (nor do "kills" and "killing")."""
    watch("kill", BLOCK, group)
    assert watched_word_match(group, f"That was {body}, honestly") is None


@pytest.mark.parametrize(
    ("phrase", "body"),
    [
        ("ass", "I feel as if nobody listens"),
        ("ass", "My class starts at nine"),
        ("ass", "The assassin in the film"),
        ("ass", "Let it pass"),
        ("sex", "We moved to Essex"),
        ("cunt", "Born in Scunthorpe"),
        ("penis", "The train to Penistone"),
        ("shoot", "I took a shot at it"),
        ("hell", "Hello everyone"),
        ("hell", "I feel held here"),
        ("nazi", "Nazia shared first"),
        ("rape", "Grapes and tea"),
        ("die", "I had a diet coke"),
    ],
)
def test_scunthorpe_cases_do_not_match(group: SupportGroup, phrase: str, body: str) -> None:
    watch(phrase, BLOCK, group)
    assert watched_word_match(group, body) is None


def test_a_message_without_watched_words_matches_nothing(group: SupportGroup) -> None:
    watch("kill", BLOCK, group)
    for body in ("", "   ", "!!!", "I had a good week.", "🙂"):
        assert watched_word_match(group, body) is None


def test_nothing_matches_when_nothing_is_watched(group: SupportGroup) -> None:
    assert watched_word_match(group, "kill kill kill") is None


def test_group_words_hold_only_in_their_group_and_site_words_everywhere(group: SupportGroup) -> None:
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    watch("idiot", FLAG, group)
    watch("kill myself", CRISIS, None)
    assert watched_word_match(group, "you idiot") == Match(FLAG, "idiot")
    assert watched_word_match(other, "you idiot") is None
    assert watched_word_match(group, "I want to kill myself") == Match(CRISIS, "kill myself")
    assert watched_word_match(other, "I want to kill myself") == Match(CRISIS, "kill myself")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([("idiot", FLAG), ("kill myself", CRISIS)], CRISIS),
        ([("idiot", FLAG), ("worthless", BLOCK)], BLOCK),
        ([("kill myself", CRISIS), ("worthless", BLOCK)], BLOCK),
        ([("idiot", FLAG), ("kill myself", CRISIS), ("worthless", BLOCK)], BLOCK),
    ],
)
def test_the_most_severe_action_wins(group: SupportGroup, words: list[tuple[str, str]], expected: str) -> None:
    """Block, then crisis, then flag: in whichever order the words were added or appear."""
    for phrase, action in words:
        watch(phrase, action, group)
    for body in ("worthless idiot, I want to kill myself", "I want to kill myself, you worthless idiot"):
        assert watched_word_match(group, body).action == expected  # type: ignore[union-attr]
    for phrase, action in reversed(words):
        WatchedWord.objects.filter(phrase=phrase).delete()
        watch(phrase, action, group)
    assert watched_word_match(group, "idiot worthless I want to kill myself").action == expected  # type: ignore[union-attr]


def test_the_most_severe_action_wins_across_group_and_site_words(group: SupportGroup) -> None:
    watch("idiot", BLOCK, group)
    watch("kill myself", CRISIS, None)
    assert watched_word_match(group, "idiot, I want to kill myself") == Match(BLOCK, "idiot")
    watch("useless", CRISIS, group)
    watch("stupid", FLAG, None)
    assert watched_word_match(group, "stupid and useless") == Match(CRISIS, "useless")


def test_removing_a_word_stops_matching_at_once(group: SupportGroup) -> None:
    word = watch("idiot", FLAG, group)
    assert watched_word_match(group, "idiot") is not None  # now cached
    word.delete()
    assert watched_word_match(group, "idiot") is None
    watch("idiot", BLOCK, None)
    assert watched_word_match(group, "idiot") == Match(BLOCK, "idiot")


# --- The pages --------------------------------------------------------------------------------


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    group = make_group()
    other = make_group(name="Thursday Circle", slug="thursday-circle")
    bob, alice, dana = (
        make_user("bob@example.com"),
        make_user("alice@example.com"),
        make_user("dana@example.com", is_staff=True),
    )
    frank = make_user("frank@example.com")
    add_member(group, bob, "Calm Heron", role="facilitator")
    add_member(group, alice, "Quiet Harbor")
    add_member(other, frank, "Golden Sparrow", role="facilitator")
    return {"group": group, "other": other, "bob": bob, "alice": alice, "dana": dana, "frank": frank}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def words_url(group: SupportGroup | None) -> str:
    return reverse("moderation:words", args=[group.slug]) if group else reverse("moderation:site_words")


def words_state() -> list[tuple[Any, ...]]:
    return list(WatchedWord.objects.order_by("pk").values_list("group_id", "phrase", "normalised", "action"))


def test_a_facilitator_watches_and_unwatches_a_word_for_their_group(people: dict[str, Any]) -> None:
    group, bob = people["group"], people["bob"]
    as_bob = signed_in(bob)
    response = as_bob.post(words_url(group), {"op": "add", "phrase": "Worthless", "action": "block"}, follow=True)
    page = text(response)
    assert "The word is watched from now on." in page
    assert "Worthless Block: the message is not sent" in page
    word = WatchedWord.objects.get()
    assert (word.group, word.normalised, word.action, word.created_by) == (group, "worthless", "block", bob)
    assert watched_word_match(group, "you are w0rthless") == Match(BLOCK, "Worthless")
    assert watched_word_match(people["other"], "you are worthless") is None
    entry = AuditEntry.objects.get(action="watched_word.added")
    assert (entry.actor_label, entry.reason, entry.group) == ("Calm Heron", "Worthless", group)

    response = as_bob.post(words_url(group), {"op": "remove", "word": str(word.pk)}, follow=True)
    assert "That word is no longer watched." in text(response)
    assert not WatchedWord.objects.exists()
    assert watched_word_match(group, "worthless") is None
    assert AuditEntry.objects.filter(action="watched_word.removed", reason="Worthless").exists()


def test_staff_watch_words_everywhere_and_groups_see_them(people: dict[str, Any]) -> None:
    as_dana = signed_in(people["dana"])
    response = as_dana.post(words_url(None), {"op": "add", "phrase": "kill myself", "action": "crisis"}, follow=True)
    assert "The word is watched from now on." in text(response)
    word = WatchedWord.objects.get()
    assert word.group is None
    assert watched_word_match(people["other"], "I want to k1ll myself") == Match(CRISIS, "kill myself")
    group_page = text(signed_in(people["bob"]).get(words_url(people["group"])))
    assert "Watched in every group (site staff) kill myself · Crisis" in group_page
    entry = AuditEntry.objects.get(action="watched_word.added")
    assert (entry.actor_label, entry.group) == ("Site staff", None)


def test_a_facilitator_cannot_remove_a_site_word_or_another_groups_word(people: dict[str, Any]) -> None:
    site_word = watch("kill myself", CRISIS, None)
    elsewhere = watch("idiot", FLAG, people["other"])
    before = words_state(), AuditEntry.objects.count()
    as_bob = signed_in(people["bob"])
    for word in (str(site_word.pk), str(elsewhere.pk), "", "abc", "-1", "99999", "²", "1e3", "9" * 40):
        response = as_bob.post(words_url(people["group"]), {"op": "remove", "word": word}, follow=True)
        assert "That word isn't watched here." in text(response)
    # Staff on the site page can't remove a group's word either: each page has its own words.
    response = signed_in(people["dana"]).post(words_url(None), {"op": "remove", "word": str(elsewhere.pk)}, follow=True)
    assert "That word isn't watched here." in text(response)
    assert (words_state(), AuditEntry.objects.count()) == before


@pytest.mark.parametrize("again", ["kill", "KILL", "Kíll", "k1ll", " kill ", "k i l l", "K.I.L.L"])
def test_a_word_already_watched_is_refused_however_it_is_spelt(people: dict[str, Any], again: str) -> None:
    as_bob = signed_in(people["bob"])
    as_bob.post(words_url(people["group"]), {"op": "add", "phrase": "kill", "action": "flag"})
    before = words_state(), AuditEntry.objects.count()
    response = as_bob.post(words_url(people["group"]), {"op": "add", "phrase": again, "action": "block"})
    assert response.status_code == 400
    assert "That word is already watched." in text(response)
    assert (words_state(), AuditEntry.objects.count()) == before


def test_the_same_word_may_be_watched_in_a_group_and_site_wide(people: dict[str, Any]) -> None:
    signed_in(people["dana"]).post(words_url(None), {"op": "add", "phrase": "kill", "action": "flag"})
    response = signed_in(people["bob"]).post(
        words_url(people["group"]), {"op": "add", "phrase": "kill", "action": "block"}
    )
    assert response.status_code == 302
    signed_in(people["frank"]).post(words_url(people["other"]), {"op": "add", "phrase": "kill", "action": "crisis"})
    assert WatchedWord.objects.count() == 3
    assert watched_word_match(people["group"], "kill") == Match(BLOCK, "kill")
    assert watched_word_match(people["other"], "kill") == Match(CRISIS, "kill")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"phrase": "", "action": "block"}, "This field is required."),
        ({"phrase": "   ", "action": "block"}, "This field is required."),
        ({"phrase": "...", "action": "block"}, "Write a word or phrase with letters in it."),
        ({"phrase": "!!!", "action": "block"}, "Write a word or phrase with letters in it."),
        ({"phrase": "$$$", "action": "block"}, "Write a word or phrase with letters in it."),
        ({"phrase": "@ @ @", "action": "flag"}, "Write a word or phrase with letters in it."),
        ({"phrase": "1337", "action": "flag"}, "Write a word or phrase with letters in it."),
        ({"phrase": "🙂", "action": "flag"}, "Write a word or phrase with letters in it."),
        ({"phrase": "x" * 101, "action": "flag"}, "at most 100 characters"),
        ({"phrase": "idiot", "action": "ban"}, "Choose what happens from the list."),
        ({"phrase": "idiot"}, "This field is required."),
    ],
    ids=["empty", "blank", "dots", "bangs", "dollars", "ats", "digits", "emoji", "too-long", "bad-action", "no-action"],
)
def test_bad_words_are_refused_with_a_clear_message(people: dict[str, Any], data: dict[str, str], message: str) -> None:
    before = words_state(), AuditEntry.objects.count()
    for group in (people["group"], None):
        user = people["bob"] if group else people["dana"]
        response = signed_in(user).post(words_url(group), {"op": "add", **data})
        assert response.status_code == 400
        assert message in text(response)
    assert (words_state(), AuditEntry.objects.count()) == before
    # Whatever got through would have matched every "I": nothing does.
    assert watched_word_match(people["group"], "I am here") is None


@pytest.mark.parametrize("who", ["alice", "frank"])
def test_members_and_other_groups_facilitators_cannot_touch_the_words(people: dict[str, Any], who: str) -> None:
    word = watch("idiot", FLAG, people["group"])
    before = words_state()
    client = signed_in(people[who])
    assert client.get(words_url(people["group"])).status_code == 403
    assert client.post(words_url(people["group"]), {"op": "add", "phrase": "x", "action": "flag"}).status_code == 403
    assert client.post(words_url(people["group"]), {"op": "remove", "word": str(word.pk)}).status_code == 403
    assert client.post(words_url(None), {"op": "add", "phrase": "y", "action": "flag"}).status_code == 403
    assert words_state() == before
