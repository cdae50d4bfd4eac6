"""Identifiers for URLs."""

from __future__ import annotations

import secrets


def public_id() -> str:
    """A random, unguessable identifier for URLs (never a database id)."""
    return secrets.token_urlsafe(9)
