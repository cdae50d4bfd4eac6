from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import privacy_views, views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/verify/", views.login_verify, name="login_verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.preferences, name="settings"),
    path("notices/", views.notices, name="notices"),
    path("notices/<str:public_id>/", views.open_notice, name="notice"),
    path("notifications/", views.notification_settings, name="notifications"),
    path("export/", privacy_views.export_data, name="export"),
    path("delete/", privacy_views.delete_account, name="delete"),
    path("deleted/", privacy_views.account_deleted, name="deleted"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/end-others/", views.end_other_sessions, name="end_other_sessions"),
    path("sessions/<str:public_id>/end/", views.end_session, name="end_session"),
    path("two-factor/", views.two_factor_overview, name="two_factor"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("two-factor/recovery-codes/new/", views.regenerate_recovery_codes, name="regenerate_recovery_codes"),
    path("two-factor/off/", views.two_factor_disable, name="two_factor_disable"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
