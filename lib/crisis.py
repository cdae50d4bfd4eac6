"""Crisis resources shown on the "Get help now" page.

The built-in list covers a few regions and an international fallback; a deployment replaces
it with CRISIS_RESOURCES_FILE (JSON of the same shape). Hearth does not run these services.
"""

from __future__ import annotations

from typing import TypedDict

from django.conf import settings


class Resource(TypedDict, total=False):
    name: str
    contact: str
    url: str
    description: str


class Region(TypedDict):
    name: str
    emergency: str
    resources: list[Resource]


INTERNATIONAL = "international"

DEFAULT_RESOURCES: dict[str, Region] = {
    INTERNATIONAL: {
        "name": "International",
        "emergency": (
            "Call your local emergency number. 112 reaches emergency services from most mobile phones "
            "in Europe and many other countries."
        ),
        "resources": [
            {
                "name": "Find A Helpline",
                "url": "https://findahelpline.com/",
                "description": (
                    "Free, confidential helplines in more than 130 countries, searchable by topic, "
                    "including domestic violence."
                ),
            },
            {
                "name": "Befrienders Worldwide",
                "url": "https://befrienders.org/",
                "description": "Emotional support centres around the world for anyone in distress.",
            },
        ],
    },
    "us": {
        "name": "United States",
        "emergency": "Call 911.",
        "resources": [
            {
                "name": "National Domestic Violence Hotline",
                "contact": "Call 1-800-799-7233, or text START to 88788",
                "url": "https://www.thehotline.org/",
                "description": "24/7, free and confidential. Chat is available on the website.",
            },
            {
                "name": "988 Suicide & Crisis Lifeline",
                "contact": "Call or text 988",
                "url": "https://988lifeline.org/",
                "description": "24/7 support for anyone in emotional distress.",
            },
        ],
    },
    "uk": {
        "name": "United Kingdom",
        "emergency": "Call 999. If you cannot speak, call 999 from a mobile and press 55 when asked (Silent Solution).",
        "resources": [
            {
                "name": "National Domestic Abuse Helpline (Refuge)",
                "contact": "0808 2000 247",
                "url": "https://www.nationaldahelpline.org.uk/",
                "description": (
                    "24/7, free and confidential, for women experiencing domestic abuse and those supporting them."
                ),
            },
            {
                "name": "Men's Advice Line",
                "contact": "0808 801 0327",
                "url": "https://mensadviceline.org.uk/",
                "description": "For men experiencing domestic abuse.",
            },
            {
                "name": "Samaritans",
                "contact": "116 123",
                "url": "https://www.samaritans.org/",
                "description": "24/7, free, for anyone who is struggling.",
            },
        ],
    },
    "ie": {
        "name": "Ireland",
        "emergency": "Call 112 or 999.",
        "resources": [
            {
                "name": "Women's Aid National Freephone Helpline",
                "contact": "1800 341 900",
                "url": "https://www.womensaid.ie/",
                "description": "24/7 support for women experiencing domestic abuse.",
            },
            {
                "name": "Samaritans",
                "contact": "116 123",
                "url": "https://www.samaritans.org/",
                "description": "24/7, free, for anyone who is struggling.",
            },
        ],
    },
    "ca": {
        "name": "Canada",
        "emergency": "Call 911.",
        "resources": [
            {
                "name": "ShelterSafe",
                "url": "https://www.sheltersafe.ca/",
                "description": "Find a shelter or transition house near you, and its crisis line.",
            },
            {
                "name": "9-8-8 Suicide Crisis Helpline",
                "contact": "Call or text 988",
                "url": "https://988.ca/",
                "description": "24/7 support in English and French.",
            },
        ],
    },
    "au": {
        "name": "Australia",
        "emergency": "Call 000.",
        "resources": [
            {
                "name": "1800RESPECT",
                "contact": "1800 737 732",
                "url": "https://www.1800respect.org.au/",
                "description": "24/7 counselling for people affected by sexual assault, domestic or family violence.",
            },
            {
                "name": "Lifeline",
                "contact": "13 11 14",
                "url": "https://www.lifeline.org.au/",
                "description": "24/7 crisis support.",
            },
        ],
    },
    "nz": {
        "name": "New Zealand",
        "emergency": "Call 111.",
        "resources": [
            {
                "name": "Women's Refuge crisis line",
                "contact": "0800 733 843",
                "url": "https://womensrefuge.org.nz/",
                "description": "24/7 support for anyone experiencing family violence.",
            },
            {
                "name": "Need to talk?",
                "contact": "Call or text 1737",
                "url": "https://1737.org.nz/",
                "description": "Free, 24/7, with a trained counsellor.",
            },
        ],
    },
}

# A first guess at someone's region from their timezone; they can always pick another.
_TIMEZONE_REGIONS = {
    "Europe/London": "uk",
    "Europe/Belfast": "uk",
    "Europe/Dublin": "ie",
    "Australia/": "au",
    "Pacific/Auckland": "nz",
    "America/Toronto": "ca",
    "America/Vancouver": "ca",
    "America/Edmonton": "ca",
    "America/Winnipeg": "ca",
    "America/Halifax": "ca",
    "America/St_Johns": "ca",
    "America/Regina": "ca",
    "America/New_York": "us",
    "America/Chicago": "us",
    "America/Denver": "us",
    "America/Phoenix": "us",
    "America/Los_Angeles": "us",
    "America/Anchorage": "us",
    "Pacific/Honolulu": "us",
}


def all_regions() -> dict[str, Region]:
    return settings.CRISIS_RESOURCES or DEFAULT_RESOURCES


def region_for_timezone(timezone_name: str) -> str:
    regions = all_regions()
    for prefix, region in _TIMEZONE_REGIONS.items():
        if timezone_name.startswith(prefix) and region in regions:
            return region
    return INTERNATIONAL
