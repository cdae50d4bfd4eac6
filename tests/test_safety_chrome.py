"""Safety chrome on every page: Quick exit, Get help now, strict headers, no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

PUBLIC_PAGES = [
    reverse("home"),
    reverse("help"),
    reverse("device_safety"),
    reverse("privacy"),
    reverse("accounts:login"),
    reverse("accounts:signup"),
    reverse("accounts:password_reset"),
    reverse("accounts:password_reset_done"),
    "/no/such/page/",
]
SIGNED_IN_PAGES = [reverse("home"), reverse("accounts:settings"), reverse("accounts:password_change")]


def assert_safety_chrome(html: str) -> None:
    assert 'id="quick-exit"' in html
    assert f'data-exit-url="{settings.QUICK_EXIT_URL}"' in html
    assert "Quick exit" in html
    assert f'href="{reverse("help")}"' in html and "Get help now" in html
    assert '<script type="module" src="/static/js/quick-exit.js">' in html


@pytest.mark.django_db
@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_every_public_page_has_quick_exit_and_help(client: Client, url: str) -> None:
    assert_safety_chrome(client.get(url).content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_every_signed_in_page_has_quick_exit_and_help(alice_client: Client, url: str) -> None:
    assert_safety_chrome(alice_client.get(url).content.decode())


@pytest.mark.django_db
def test_missing_page_is_a_friendly_404(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.django_db
def test_strict_security_headers(client: Client) -> None:
    response = client.get(reverse("home"))
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"]


def test_no_inline_script_or_handler_in_any_template() -> None:
    root = Path(settings.BASE_DIR)
    templates = [p for p in root.rglob("*.html") if ".venv" not in p.parts and "var" not in p.parts]
    assert templates
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    style_attr = re.compile(r"\sstyle\s*=", re.IGNORECASE)
    for template in templates:
        text = template.read_text()
        assert not inline_script.search(text), f"inline <script> in {template}"
        assert not handler.search(text), f"on*= handler in {template}"
        assert not style_attr.search(text), f"style= attribute in {template}"


@pytest.mark.django_db
def test_help_page_lists_resources_and_guesses_region_from_timezone(client: Client, alice) -> None:
    page = client.get(reverse("help")).content.decode()
    assert "If you are in danger right now:" in page
    assert "Find A Helpline" in page
    client.force_login(alice)  # Europe/London
    page = client.get(reverse("help")).content.decode()
    assert "National Domestic Abuse Helpline" in page and "0808 2000 247" in page
    page = client.get(reverse("help"), {"region": "au"}).content.decode()
    assert "1800RESPECT" in page


@pytest.mark.django_db
def test_help_page_ignores_an_unknown_region(client: Client) -> None:
    response = client.get(reverse("help"), {"region": "<script>"})
    assert response.status_code == 200
    assert "Find A Helpline" in response.content.decode()


@pytest.mark.django_db
def test_crisis_resources_come_from_a_configured_list(client: Client, settings) -> None:
    settings.CRISIS_RESOURCES = {
        "international": {
            "name": "Everywhere",
            "emergency": "Call 112.",
            "resources": [{"name": "Local Helpline", "contact": "0800 000 000"}],
        }
    }
    page = client.get(reverse("help")).content.decode()
    assert "Local Helpline" in page and "Call 112." in page
    assert "Find A Helpline" not in page


@pytest.mark.django_db
def test_quick_exit_target_is_configurable(client: Client, settings) -> None:
    settings.QUICK_EXIT_URL = "https://www.bbc.co.uk/weather"
    html = client.get(reverse("home")).content.decode()
    assert 'data-exit-url="https://www.bbc.co.uk/weather"' in html


@pytest.mark.django_db
def test_csrf_failure_is_explained_and_changes_nothing(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:signup"), {"email": "x@example.org"})
    assert response.status_code == 403
    assert "nothing was changed" in response.content.decode()
