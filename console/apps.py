from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The running side of Hearth: group consoles, group health, the staff console. Views over
    the other apps, with no models of its own: it depends on all of them, none on it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "console"
    verbose_name = "Consoles"
