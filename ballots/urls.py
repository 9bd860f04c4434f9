from django.urls import path

from ballots import views_roll

app_name = "ballots"

# --- Roll helper: identification, voter roll, voting codes (ballots/views_roll.py) -----------------------
# Kept before the casting routes: "<slug>/identify/" must win over "<slug>/<pot_slug>/".
urlpatterns: list = [
    path("<slug:slug>/identify/", views_roll.identify, name="identify"),
    path("<slug:slug>/identify/forget/", views_roll.identify_forget, name="identify_forget"),
    path("<slug:slug>/booth/", views_roll.booth, name="booth"),
]
# --- end of the roll helper's block ----------------------------------------------------------------------
