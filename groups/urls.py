from django.urls import path

from groups import views

app_name = "groups"

urlpatterns = [
    path("", views.directory, name="directory"),
    path("mine/", views.my_groups, name="mine"),
    path("new/", views.create_group, name="create"),
    path("invite/<str:token>/", views.invite_landing, name="invite"),
    path("no-contact/", views.no_contact_list, name="no_contact"),
    path("no-contact/<str:public_id>/remove/", views.remove_no_contact, name="remove_no_contact"),
    path("<slug:slug>/", views.group_detail, name="detail"),
    path("<slug:slug>/join/", views.join, name="join"),
    path("<slug:slug>/withdraw/", views.withdraw, name="withdraw"),
    path("<slug:slug>/leave/", views.leave, name="leave"),
    path("<slug:slug>/name/", views.change_handle, name="handle"),
    path("<slug:slug>/settings/", views.group_settings, name="settings"),
    path("<slug:slug>/requests/", views.join_requests, name="requests"),
    path("<slug:slug>/requests/<str:public_id>/", views.decide_request, name="decide"),
    path("<slug:slug>/invites/", views.invites, name="invites"),
    path("<slug:slug>/invites/<str:public_id>/revoke/", views.revoke_invite, name="revoke_invite"),
    path("<slug:slug>/members/", views.members, name="members"),
    path("<slug:slug>/members/<str:public_id>/role/", views.set_role, name="set_role"),
]
