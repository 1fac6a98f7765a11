"""Public routes of share links (`/s/…`) and upload links (`/r/…`). No account needed."""

from django.urls import path, register_converter

from sharing import upload_views, views


class TokenConverter:
    """URL-safe base64 tokens; anything else is simply not a route (404)."""

    regex = r"[A-Za-z0-9_-]{16,128}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class OpaqueIdConverter(TokenConverter):
    regex = r"[A-Za-z0-9_-]{22}"


register_converter(TokenConverter, "sharetoken")
register_converter(OpaqueIdConverter, "opaque")

app_name = "sharing"

urlpatterns = [
    path("s/<sharetoken:token>", views.share_page, name="share"),
    path("s/<sharetoken:token>/download", views.share_download, name="share_download"),
    path("s/<sharetoken:token>/preview", views.share_preview, name="share_preview"),
    path(
        "s/<sharetoken:token>/folders/<opaque:folder_opaque>",
        views.share_page,
        name="share_folder",
    ),
    path(
        "s/<sharetoken:token>/folders/<opaque:folder_opaque>/download",
        views.share_folder_zip,
        name="share_folder_download",
    ),
    path(
        "s/<sharetoken:token>/files/<opaque:file_opaque>/download",
        views.share_file_download,
        name="share_file_download",
    ),
    path(
        "s/<sharetoken:token>/files/<opaque:file_opaque>/preview",
        views.share_preview,
        name="share_file_preview",
    ),
    path("r/<sharetoken:token>", upload_views.upload_page, name="upload_link"),
    path("r/<sharetoken:token>/upload", upload_views.upload_receive, name="upload_link_upload"),
]
