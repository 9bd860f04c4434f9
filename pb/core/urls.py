from django.urls import path

from pb.core import districtviews, views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("elections/<slug:slug>/", views.election_detail, name="election"),
    path("elections/<slug:slug>/manage/", views.election_manage, name="manage"),
    path("elections/<slug:slug>/phase/", views.election_advance_view, name="advance"),
    path("elections/<slug:slug>/districts/", districtviews.election_districts, name="districts"),
    path("elections/<slug:slug>/districts.geojson", districtviews.election_shapes_geojson, name="shapes"),
]
