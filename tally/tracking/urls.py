from django.urls import path

from tally.tracking import views

app_name = "tracking"
urlpatterns = [
    path("", views.projects, name="projects"),
    path("feed.atom", views.UpdatesFeed(), name="feed"),
    path("<slug:slug>/<str:code>/", views.project, name="project"),
    path("<slug:slug>/<str:code>/manage/", views.project_manage, name="manage"),
]
