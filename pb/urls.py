from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from pb.worker.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # load balancers (docs/deploy.md "Task workers")
    path("", include("pb.core.urls")),
    path("proposals/", include("proposals.urls")),
    path("vote/", include("ballots.urls")),
    path("results/", include("tally.urls")),
    path("notifications/", include("pb.core.notifications.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Our pages for errors (pb.core.errorpages); with DEBUG on, its middleware uses them too.
handler400 = "pb.core.errorpages.bad_request"
handler403 = "pb.core.errorpages.permission_denied"
handler404 = "pb.core.errorpages.page_not_found"
handler500 = "pb.core.errorpages.server_error"
