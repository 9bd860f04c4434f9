from django.urls import path

from pb.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("elections/<slug:slug>/", views.election_detail, name="election"),
    path("elections/<slug:slug>/manage/", views.election_manage, name="manage"),
    path("elections/<slug:slug>/manage/translations/", views.election_translate, name="translate"),
    path("elections/<slug:slug>/phase/", views.election_advance_view, name="advance"),
]
