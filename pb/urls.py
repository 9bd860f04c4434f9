from allauth.account import views as account_views
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from pb.worker.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # load balancers (docs/deploy.md "Task workers")
    path("", include("pb.core.urls")),
    path("proposals/", include("proposals.urls")),
    path("vote/", include("ballots.urls")),
    path("results/", include("tally.urls")),
    path("projects/", include("tally.tracking.urls")),
    path("api/v1/", include("tally.opendata.urls")),  # open data (docs/api.md)
    path("notifications/", include("pb.core.notifications.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # One sign-in page for residents and officials (allauth's view, axes' lock-out: pb.core.loginthrottle).
    path("accounts/login/", account_views.login, name="login"),
    path("accounts/logout/", account_views.logout, name="logout"),
    path("accounts/password_reset/", RedirectView.as_view(pattern_name="account_reset_password")),
    path("accounts/", include("pb.core.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Our pages for errors (pb.core.errorpages); with DEBUG on, its middleware uses them too.
handler400 = "pb.core.errorpages.bad_request"
handler403 = "pb.core.errorpages.permission_denied"
handler404 = "pb.core.errorpages.page_not_found"
handler500 = "pb.core.errorpages.server_error"
