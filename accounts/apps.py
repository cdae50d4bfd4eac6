from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts import checks  # noqa: F401 - registers the discreet-email check
        from accounts.sessions import on_login

        user_logged_in.connect(on_login, dispatch_uid="accounts.sessions.on_login")
