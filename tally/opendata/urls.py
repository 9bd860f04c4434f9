"""/api/v1/: the django-ninja routes, each wrapped by tally.opendata.http (rate limit, CORS, ETag)."""

from django.urls import URLPattern

from tally.opendata.http import open_data_view
from tally.opendata.views import api

_patterns, _app, _namespace = api.urls
app_name = "api-v1"  # reverse("api-v1:results", ...)
urlpatterns = [
    URLPattern(p.pattern, open_data_view(p.callback), p.default_args, p.name)
    if isinstance(p, URLPattern)
    else p
    for p in _patterns
]
