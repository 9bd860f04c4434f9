from django.urls import path

from tally import views
from tally.opendata import embed
from tally.statistics import views as statistics_views

app_name = "tally"
urlpatterns = [
    path("verify/", views.verify_page, name="verify"),
    path("verify/<uuid:token>/", views.verify_result, name="verify_result"),
    path("key/", views.council_key, name="key"),
    path("<slug:slug>/", views.results, name="results"),
    path("<slug:slug>/statistics/", statistics_views.election_statistics, name="statistics"),
    path("<slug:slug>/embed/<slug:pot>/", embed.result_embed, name="embed"),
    path("<slug:slug>/log/", views.ballot_log, name="log"),
    path("<slug:slug>/log.json", views.ballot_log_json, name="log_json"),
    path("<slug:slug>/manage/", views.manage, name="manage"),
    path("<slug:slug>/manage/status/", views.run_status, name="run_status"),
    path("<slug:slug>/manage/<slug:action>/", views.manage_action, name="action"),
    path("<slug:slug>/manage/files/<str:name>", views.staff_file, name="staff_file"),
    path("<slug:slug>/files/<str:name>", views.published_file, name="file"),
]
