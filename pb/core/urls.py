from django.urls import path

from pb.core import views, views_jobs

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("elections/<slug:slug>/", views.election_detail, name="election"),
    path("elections/<slug:slug>/manage/", views.election_manage, name="manage"),
    path("elections/<slug:slug>/phase/", views.election_advance_view, name="advance"),
    path("jobs/<uuid:pk>/", views_jobs.job_detail, name="job"),
    path("jobs/<uuid:pk>/retry/", views_jobs.job_retry_view, name="job_retry"),
]
