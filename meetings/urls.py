from django.urls import path

from meetings import views

app_name = "meetings"

urlpatterns = [
    path("meetings/", views.my_meetings, name="mine"),
    path("meetings/calendar/", views.calendar_settings, name="calendar"),
    path("meetings/calendar/<str:token>.ics", views.calendar_feed, name="feed"),
    path("groups/<slug:slug>/schedule/", views.schedule, name="schedule"),
    path("groups/<slug:slug>/schedule/new/", views.create_series, name="create_series"),
    path("groups/<slug:slug>/schedule/<str:public_id>/", views.edit_series, name="edit_series"),
    path("groups/<slug:slug>/schedule/<str:public_id>/end/", views.end_series, name="end_series"),
    path("groups/<slug:slug>/meetings/new/", views.create_meeting, name="create_meeting"),
    path("groups/<slug:slug>/meetings/<str:public_id>/", views.meeting_detail, name="detail"),
    path("groups/<slug:slug>/meetings/<str:public_id>/rsvp/", views.rsvp, name="rsvp"),
    path("groups/<slug:slug>/meetings/<str:public_id>/edit/", views.edit_meeting, name="edit"),
    path("groups/<slug:slug>/meetings/<str:public_id>/cancel/", views.cancel_meeting, name="cancel"),
    path("groups/<slug:slug>/meetings/<str:public_id>/calendar.ics", views.meeting_ics, name="ics"),
    path("groups/<slug:slug>/meetings/<str:public_id>/room/", views.room_page, name="room"),
    path("groups/<slug:slug>/meetings/<str:public_id>/transcript/", views.transcript, name="transcript"),
]
