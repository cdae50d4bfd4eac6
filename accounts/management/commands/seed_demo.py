"""Demo people for trying Hearth locally. Idempotent: a second run creates nothing twice."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from groups.demo import seed_demo_groups

DEMO_PASSWORD = "hearth-demo-password"  # noqa: S105 - local demo data only, refused when DEBUG is off

DEMO_PEOPLE = [
    # (email, role shown in the listing, is_staff)
    ("alice@example.com", "member", False),
    ("bob@example.com", "facilitator", False),
    ("charlie@example.com", "outsider", False),
    ("admin@example.com", "site admin", True),
]


class Command(BaseCommand):
    help = "Create the demo accounts and groups (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

    @transaction.atomic
    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("Demo accounts have a public password: refusing with DEBUG off (use --force).")
        created = 0
        people = {}
        for email, _role, is_staff in DEMO_PEOPLE:
            user, was_created = User.objects.get_or_create(
                email=email,
                defaults={"is_staff": is_staff, "is_superuser": is_staff, "timezone": "Europe/London"},
            )
            if was_created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                created += 1
            people[email.split("@")[0]] = user
        new_groups = seed_demo_groups(people)
        self.stdout.write(
            f"Demo data ready ({created} accounts and {new_groups} groups created; the rest were already there)."
        )
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, role, _staff in DEMO_PEOPLE:
            self.stdout.write(f"  {email:<22} {role}")
