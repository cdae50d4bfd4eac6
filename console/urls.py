from django.urls import path

from console import group_views, health_views, staff_views

app_name = "console"

urlpatterns = [
    # Group health: charts and their CSV (facilitators, owners, staff)
    path("groups/<slug:slug>/health/", health_views.health, name="health"),
    path("groups/<slug:slug>/health.csv", health_views.health_csv, name="health_csv"),
    # Group console (facilitators, owners, staff) and a member's own attendance streak
    path("groups/<slug:slug>/console/", group_views.group_console, name="group"),
    path("groups/<slug:slug>/console/rota/", group_views.change_rota, name="rota"),
    path("groups/<slug:slug>/attendance-streak/", group_views.attendance_streak, name="attendance_streak"),
    # Staff console
    path("console/", staff_views.staff_console, name="staff"),
]
