from django.urls import path, register_converter

from proposals import views
from proposals.comments import views as comments
from proposals.follows import views as follows
from proposals.importing import views as importing_views
from proposals.supports import views as supports_views


class FormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(FormatConverter, "fmt")

app_name = "proposals"
urlpatterns = [
    path("<slug:slug>/", views.proposal_list, name="list"),
    path("<slug:slug>/new/", views.proposal_create, name="create"),
    path("<slug:slug>/mine/", views.proposals_mine, name="mine"),
    path("<slug:slug>/map/", views.proposal_map, name="map"),
    path("<slug:slug>/import/", importing_views.proposals_import, name="import"),
    path(
        "<slug:slug>/import/template.csv", importing_views.proposals_import_template, name="import_template"
    ),
    path("<slug:slug>/import/confirm/", importing_views.proposals_import_confirm, name="import_confirm"),
    path("<slug:slug>/import/<uuid:job_id>/", importing_views.proposals_import_job, name="import_job"),
    path(
        "<slug:slug>/import/<uuid:job_id>/retry/", importing_views.proposals_import_retry, name="import_retry"
    ),
    path("<slug:slug>/supports/", supports_views.supports_settings, name="supports_settings"),
    path("<slug:slug>/export.<fmt:fmt>", importing_views.proposals_export, name="export"),
    path("<slug:slug>/comments/reported/", comments.comments_moderation, name="comments_moderation"),
    path("<slug:slug>/<str:code>/", views.proposal_detail, name="detail"),
    path("<slug:slug>/<str:code>/edit/", views.proposal_edit, name="edit"),
    path("<slug:slug>/<str:code>/submit/", views.proposal_submit, name="submit"),
    path("<slug:slug>/<str:code>/review/", views.proposal_review, name="review"),
    path("<slug:slug>/<str:code>/merge/", views.proposal_merge, name="merge"),
    path("<slug:slug>/<str:code>/support/", supports_views.proposal_support, name="support"),
    path("<slug:slug>/<str:code>/follow/", follows.follow_toggle, name="follow"),
    path("<slug:slug>/<str:code>/comments/", comments.comment_create, name="comment_create"),
    path("<slug:slug>/<str:code>/comments/<int:pk>/edit/", comments.comment_edit, name="comment_edit"),
    path("<slug:slug>/<str:code>/comments/<int:pk>/report/", comments.comment_report, name="comment_report"),
    path("<slug:slug>/<str:code>/comments/<int:pk>/hide/", comments.comment_hide, name="comment_hide"),
    path("<slug:slug>/<str:code>/translate/", views.proposal_translate, name="translate"),
]
