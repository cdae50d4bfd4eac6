"""Handle rules: one name per person per group, whatever the case or look-alike letters."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from groups.handles import clean_handle, handle_key, suggest_handle, validate_handle


@pytest.mark.parametrize(
    "variant",
    [
        "quiet harbor",
        "QUIET HARBOR",
        "Quiet-Harbor",
        "Qu1et Harbor",
        "QUlET HARBOR",
        "Ｑｕｉｅｔ Ｈａｒｂｏｒ",
        "Quiet  Harbor.",
    ],
)
def test_look_alike_handles_share_one_key(variant: str) -> None:
    assert handle_key(variant) == handle_key("Quiet Harbor")


def test_cyrillic_look_alike_shares_the_key() -> None:
    assert handle_key("Quіet Harbor") == handle_key("Quiet Harbor")  # Cyrillic і
    assert handle_key("Аlice") == handle_key("Alice")  # Cyrillic А


def test_different_names_have_different_keys() -> None:
    assert handle_key("Quiet Harbor") != handle_key("Quiet Meadow")
    assert handle_key("Zoë") != handle_key("Zoe")


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ("x", "at least 2 characters"),
        ("A" * 33, "at most 32 characters"),
        ("Admin", "reserved"),
        ("ADM1N", "reserved"),
        ("The Moderator", "reserved"),
        ("hearth helper", "reserved"),
        ("Support Team", "reserved"),
        ("Mod", "reserved"),
        ("Former Member", "reserved"),
        ("аdmin", "look-alike letters"),  # Cyrillic а mixed with Latin
        ("alice@example.com", "email address"),
        ("see www.example.org", "web address"),
        ("Sam 07700900123", "phone number"),
        ("<script>", "letters, numbers"),
        ("!!!", "letters, numbers"),
    ],
)
def test_refused_handles_say_why(handle: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        validate_handle(clean_handle(handle))
    assert message in error.value.messages[0]


@pytest.mark.parametrize("handle", ["Quiet Harbor", "Modest Fern", "Zoë", "Мария", "J.R.", "O'Brien-Smith", "sam_2"])
def test_ordinary_handles_are_fine(handle: str) -> None:
    validate_handle(clean_handle(handle))


def test_clean_handle_tidies_spaces_and_width() -> None:
    assert clean_handle("  Quiet   Harbor ") == "Quiet Harbor"
    assert clean_handle("Ｑｕｉｅｔ") == "Quiet"


def test_suggestions_avoid_taken_names() -> None:
    taken = {handle_key(suggest_handle(set())) for _ in range(30)}
    for _ in range(20):
        assert handle_key(suggest_handle(taken)) not in taken
