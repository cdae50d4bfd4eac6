from django.urls import path

from moderation import views

app_name = "moderation"

urlpatterns = [
    path("groups/<slug:slug>/members/<str:public_id>/", views.member, name="member"),
    path("groups/<slug:slug>/members/<str:public_id>/report/", views.report_member, name="report_member"),
    path("groups/<slug:slug>/members/<str:public_id>/block/", views.block, name="block"),
    path("groups/<slug:slug>/members/<str:public_id>/act/", views.sanction, name="sanction"),
    path("groups/<slug:slug>/members/<str:public_id>/suspend-account/", views.suspend_account, name="suspend_account"),
    path("groups/<slug:slug>/reports/", views.queue, name="queue"),
    path("groups/<slug:slug>/reports/<str:public_id>/", views.report, name="report"),
    path("groups/<slug:slug>/decisions/<str:public_id>/lift/", views.lift, name="lift"),
    path("groups/<slug:slug>/decisions/<str:public_id>/appeal/", views.appeal, name="appeal"),
    path("groups/<slug:slug>/watched-words/", views.words, name="words"),
    path("groups/<slug:slug>/audit/", views.audit, name="audit"),
    path("moderation/standing/", views.standing, name="standing"),
    path("moderation/standing/<str:public_id>/appeal/", views.file_appeal, name="file_appeal"),
    path("moderation/", views.console, name="console"),
    path("moderation/watched-words/", views.site_words, name="site_words"),
    path("moderation/audit/", views.site_audit, name="site_audit"),
    path("moderation/appeals/<str:public_id>/", views.site_appeal, name="site_appeal"),
    path("moderation/suspensions/<str:public_id>/lift/", views.lift_suspension, name="lift_suspension"),
]
