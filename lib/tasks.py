"""Enqueueing Celery tasks from request and action code."""

from __future__ import annotations

import functools
from typing import Any

from celery import Task
from django.db import transaction


def enqueue_on_commit(task: Task[Any, Any], *args: Any) -> None:
    """Enqueue `task` with these arguments once the current transaction commits.

    Tasks take IDs and re-read state, so they must never run before the rows they read
    exist; if the transaction rolls back, nothing is enqueued at all.
    """
    transaction.on_commit(functools.partial(task.delay, *args))
