from django.contrib import admin
from django.urls import include, path

from lib import views as lib_views

admin.site.site_header = "Hearth administration"
admin.site.site_title = "Hearth admin"

urlpatterns = [
    path("", lib_views.home, name="home"),
    path("help/", lib_views.get_help, name="help"),
    path("safety/", lib_views.device_safety, name="device_safety"),
    path("safety/discreet/", lib_views.discreet_mode, name="discreet_mode"),
    path("privacy/", lib_views.privacy, name="privacy"),
    path("healthz", lib_views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("groups/", include("groups.urls")),
    path("", include("meetings.urls")),
    path("", include("moderation.urls")),
    path("", include("console.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "lib.views.server_error"
