"""Pages in Spanish: for a member who chose it, and for a visitor whose browser asks for it."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User

HOME = reverse("home")
SETTINGS = reverse("accounts:settings")
CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "es" / "LC_MESSAGES"


@pytest.fixture
def alice_in_spanish(alice: User) -> User:
    alice.language = "es"
    alice.save()
    return alice


@pytest.mark.django_db
def test_home_page_in_the_members_language(alice_client: Client, alice_in_spanish: User) -> None:
    response = alice_client.get(HOME)
    page = response.content.decode()
    assert '<html lang="es">' in page
    assert "Salida rápida" in page  # Quick exit
    assert "Pide ayuda ahora" in page  # Get help now
    assert "Configuración" in page  # Settings
    assert "Hola de nuevo" in page  # Welcome back
    assert "Quick exit" not in page
    assert "Welcome back" not in page
    assert response["Content-Language"] == "es"


@pytest.mark.django_db
def test_settings_page_in_the_members_language(alice_client: Client, alice_in_spanish: User) -> None:
    page = alice_client.get(SETTINGS).content.decode()
    assert '<html lang="es">' in page
    assert "<h1>Configuración</h1>" in page  # Settings
    assert "Recordatorios, correos, horas de silencio y grupos silenciados" in page
    assert "Guardar configuración" in page  # Save settings
    assert "Salida rápida" in page


@pytest.mark.django_db
def test_saving_settings_confirms_in_spanish(alice_client: Client, alice_in_spanish: User) -> None:
    response = alice_client.post(
        SETTINGS,
        {"timezone": "Europe/London", "language": "es"},
        follow=True,
    )
    page = response.content.decode()
    assert response.redirect_chain == [(SETTINGS, 302)]
    assert "Tu configuración está guardada." in page  # Your settings are saved.
    assert "Your settings are saved." not in page
    assert '<html lang="es">' in page
    alice_in_spanish.refresh_from_db()
    assert alice_in_spanish.language == "es"


@pytest.mark.django_db
def test_switching_to_spanish_confirms_in_spanish(alice_client: Client, alice: User) -> None:
    response = alice_client.post(
        SETTINGS,
        {"timezone": "Europe/London", "language": "es"},
        follow=True,
    )
    page = response.content.decode()
    assert '<html lang="es">' in page  # the next page is Spanish
    assert "Tu configuración está guardada." in page  # and so is the confirmation


@pytest.mark.django_db
def test_visitor_whose_browser_asks_for_spanish(client: Client) -> None:
    page = client.get(HOME, headers={"accept-language": "es"}).content.decode()
    assert '<html lang="es">' in page
    assert "Apoyo mutuo para dejar atrás el maltrato" in page  # Peer support for leaving abuse behind
    assert "Salida rápida" in page
    assert "Pide ayuda ahora" in page
    assert "Crear una cuenta" in page  # Create an account


@pytest.mark.django_db
def test_visitor_without_a_language_gets_english(client: Client) -> None:
    page = client.get(HOME).content.decode()
    assert '<html lang="en">' in page
    assert "Quick exit" in page


@pytest.mark.django_db
def test_members_choice_wins_over_the_browser(alice_client: Client, alice: User) -> None:
    page = alice_client.get(HOME, headers={"accept-language": "es"}).content.decode()
    assert '<html lang="en">' in page
    assert "Welcome back" in page


def _po_entries(path: Path) -> dict[tuple[str, str], list[str]]:
    """(msgctxt, msgid) -> its msgstr (or msgstr[n]) values, read without gettext tools."""
    entries: dict[tuple[str, str], list[str]] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (".*")$', line):
                key = match.group(1)
                fields[key] = ast.literal_eval(match.group(2))
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
        if fields.get("msgid"):
            key = (fields.get("msgctxt", ""), fields["msgid"])
            entries[key] = [value for name, value in fields.items() if name.startswith("msgstr")]
    return entries


def test_catalogue_is_fully_translated_and_compiled() -> None:
    """Every msgid has a Spanish translation, and the committed .mo matches the .po."""
    entries = _po_entries(CATALOGUE / "django.po")
    assert entries
    untranslated = [msgid for msgid, values in entries.items() if not all(values)]
    assert untranslated == []
    assert "#, fuzzy" not in (CATALOGUE / "django.po").read_text(encoding="utf-8")
    with (CATALOGUE / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for (context, msgid), values in entries.items():
        if len(values) == 1:
            found = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
        else:
            found = compiled.npgettext(context, msgid, msgid, 1) if context else compiled.ngettext(msgid, msgid, 1)
        assert found == values[0], (context, msgid)
