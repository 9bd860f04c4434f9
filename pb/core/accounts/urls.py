from django.urls import path

from pb.core.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.account_home, name="home"),
    path("data/", views.account_data, name="data"),
    path("delete/", views.account_delete_view, name="delete"),
]
