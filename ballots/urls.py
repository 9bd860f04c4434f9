from django.urls import path

from ballots.roll import views as views_roll

app_name = "ballots"

# --- Roll helper: identification, voter roll, voting codes (ballots/views_roll.py) -----------------------
# Kept before the casting routes: "<slug>/identify/" must win over "<slug>/<pot_slug>/".
urlpatterns: list = [
    path("<slug:slug>/identify/", views_roll.identify, name="identify"),
    path("<slug:slug>/identify/forget/", views_roll.identify_forget, name="identify_forget"),
    path("<slug:slug>/booth/", views_roll.booth, name="booth"),
    path("manage/<slug:slug>/roll/", views_roll.roll_manage, name="roll"),
    path("manage/<slug:slug>/roll/export/", views_roll.roll_export, name="roll_export"),
    path("manage/<slug:slug>/roll/jobs/<uuid:job_id>/", views_roll.roll_job, name="roll_job"),
    path(
        "manage/<slug:slug>/roll/jobs/<uuid:job_id>/confirm/",
        views_roll.roll_job_confirm,
        name="roll_confirm",
    ),
    path("manage/<slug:slug>/roll/jobs/<uuid:job_id>/retry/", views_roll.roll_job_retry, name="roll_retry"),
    path(
        "manage/<slug:slug>/roll/jobs/<uuid:job_id>/discard/",
        views_roll.roll_job_discard,
        name="roll_discard",
    ),
    path(
        "manage/<slug:slug>/roll/jobs/<uuid:job_id>/errors/", views_roll.roll_job_errors, name="roll_errors"
    ),
    path("manage/<slug:slug>/codes/", views_roll.codes_manage, name="codes"),
    path("manage/<slug:slug>/codes/generate/", views_roll.codes_generate, name="codes_generate"),
    path("manage/<slug:slug>/codes/letters/<uuid:job_id>/", views_roll.codes_letters, name="codes_letters"),
    path("manage/<slug:slug>/codes/void/", views_roll.codes_void, name="codes_void"),
    path("manage/<slug:slug>/codes/reissue/", views_roll.codes_reissue, name="codes_reissue"),
    path(
        "manage/<slug:slug>/codes/mailmerge/<str:name>/", views_roll.codes_mailmerge, name="codes_mailmerge"
    ),
]
# --- end of the roll helper's block ----------------------------------------------------------------------

# --- Casting helper: pots, ballots, review, cast, receipt; paper batches and turnout (ballots/views.py) ----
# Fixed paths first; "<slug>/<pot_slug>/" comes last so it does not shadow them.
from ballots.casting import views  # noqa: E402
from ballots.reconciliation import views as reconciliation_views  # noqa: E402
from ballots.reminders import views as reminder_views  # noqa: E402

urlpatterns += [
    path("reminder/cancel/<str:token>/", reminder_views.reminder_cancel, name="reminder_cancel"),
    path("manage/<slug:slug>/reminders/", reminder_views.reminders_plan, name="reminders_plan"),
    path("manage/<slug:slug>/reminders/send/", reminder_views.reminders_send, name="reminders_send"),
    path("<slug:slug>/", views.pots, name="pots"),
    path("<slug:slug>/reminder/", reminder_views.reminder, name="reminder"),
    path("<slug:slug>/paper-voter/", views.paper_mark, name="paper_mark"),
    path("<slug:slug>/officials/turnout/", views.turnout, name="turnout"),
    path("<slug:slug>/officials/paper/", views.paper_batches, name="paper_batches"),
    path("<slug:slug>/officials/paper/<int:batch_id>/", views.paper_batch, name="paper_batch"),
    path("<slug:slug>/officials/reconciliation/", reconciliation_views.reconciliation, name="reconciliation"),
    path("<slug:slug>/<slug:pot_slug>/", views.ballot, name="ballot"),
    path("<slug:slug>/<slug:pot_slug>/check/", views.ballot_check, name="ballot_check"),
    path("<slug:slug>/<slug:pot_slug>/cast/", views.ballot_cast, name="ballot_cast"),
]
# --- end of the casting helper's block --------------------------------------------------------------------
