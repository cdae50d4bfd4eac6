"""Delete expired room messages now, as the nightly job does (docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meetings import retention


class Command(BaseCommand):
    help = "Delete room messages older than their group's retention period, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=None, help="rows per transaction (default: MESSAGE_PURGE_BATCH_SIZE)"
        )
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["dry_run"]:
            self.stdout.write(f"{retention.count_expired_messages()} expired room messages would be deleted.")
            return
        result = retention.purge_expired_messages(batch_size=batch_size)
        self.stdout.write(
            f"Deleted {result.messages} room messages from {result.meetings} meetings in {result.batches} batches."
        )
