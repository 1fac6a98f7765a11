from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularSwaggerSplitView

from locker import health, i18n, views
from locker.schema import SchemaView
from locker.slashless import slashless

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("files.api.urls")),
    path("", include("sharing.api.urls")),
    path("", include("webhooks.api.urls")),
    path("doctor/", include("doctor.urls")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: a path without its final slash is served as the path with it (locker/slashless.py).
    re_path(r"^(?P<path>.*[^/])$", slashless, name="api-slashless"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # The language switch (top bar of every page): a cookie, and the profile when logged in.
    path("language", i18n.language_set, name="language_set"),
    # Prometheus (metrics/): outside /api/v1, protected by its own rule (metrics/access.py).
    path("", include("metrics.urls")),
    # The admin's own log-in form would skip the second factor: use ours.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include(api_v1)),
    path("", include("files.urls")),
    path("", include("sharing.urls")),
    path("", include("webhooks.urls")),
]

handler404 = views.not_found
handler500 = views.server_error
handler403 = views.forbidden
handler400 = views.bad_request
