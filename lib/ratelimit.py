"""A fixed-window counter in the cache, shared by every process when the cache is Redis."""

from __future__ import annotations

from django.core.cache import cache


def allow(key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt under `key`; False once more than `limit` fell in the window."""
    cache_key = f"ratelimit:{key}"
    cache.add(cache_key, 0, window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, window_seconds)
        count = 1
    return count <= limit
