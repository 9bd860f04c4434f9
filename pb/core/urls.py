from django.urls import path

from pb.core import views
from pb.core.districts import views as district_views
from pb.core.jobs import views as jobs_views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("elections/<slug:slug>/", views.election_detail, name="election"),
    path("elections/<slug:slug>/manage/", views.election_manage, name="manage"),
    path("elections/<slug:slug>/manage/translations/", views.election_translate, name="translate"),
    path("elections/<slug:slug>/phase/", views.election_advance_view, name="advance"),
    path("jobs/<uuid:pk>/", jobs_views.job_detail, name="job"),
    path("jobs/<uuid:pk>/retry/", jobs_views.job_retry_view, name="job_retry"),
    path("elections/<slug:slug>/districts/", district_views.election_districts, name="districts"),
    path("elections/<slug:slug>/districts.geojson", district_views.election_shapes_geojson, name="shapes"),
]
