"""A fixed-window counter in the cache, shared by every process when the cache is Redis."""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt under `key`; False once more than `limit` fell in the window.

    When the cache cannot be reached (Redis restarting) the attempt is allowed: a limit that
    lapses for a few seconds is better than every room message and sign-up failing."""
    cache_key = f"ratelimit:{key}"
    try:
        cache.add(cache_key, 0, window_seconds)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, window_seconds)
            count = 1
        if count == 1:
            # Django's Redis incr is EXISTS then INCR: if the key expired between the two,
            # INCR made a new one with no expiry, and this window would never end (a member
            # refused for good). The first count of a window (re)sets the expiry.
            cache.touch(cache_key, window_seconds)
    except Exception:
        logger.warning("Rate limit store unavailable; allowing %s", key, exc_info=True)
        return True
    return count <= limit
