"""Public routes of share links (`/s/…`) and upload links (`/r/…`). No account needed."""

from django.urls import path, register_converter

from sharing import owner_views, tus_views, upload_views, views


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
    path("s/<sharetoken:token>/thumbnail", views.share_thumbnail, name="share_thumbnail"),
    path(
        "s/<sharetoken:token>/files/<opaque:file_opaque>/thumbnail",
        views.share_thumbnail,
        name="share_file_thumbnail",
    ),
    path("r/<sharetoken:token>", upload_views.upload_page, name="upload_link"),
    # The owner's pages.
    path("shares/", owner_views.shares_page, name="shares"),
    path("shares/new", owner_views.ShareNewView.as_view(), name="share_new"),
    path("shares/send", owner_views.send_page, name="send"),
    path("shares/<uuid:share_id>/", owner_views.ShareDetailView.as_view(), name="share_detail"),
    path("shares/<uuid:share_id>/qr.svg", owner_views.ShareQrView.as_view(), name="share_qr"),
    path(
        "shares/<uuid:share_id>/created",
        owner_views.ShareCreatedView.as_view(),
        name="share_created",
    ),
    path(
        "shares/<uuid:share_id>/revoke", owner_views.ShareRevokeView.as_view(), name="share_revoke"
    ),
    path("shares/uploads/new", owner_views.UploadLinkNewView.as_view(), name="upload_link_new"),
    path(
        "shares/uploads/<uuid:link_id>/",
        owner_views.UploadLinkDetailView.as_view(),
        name="upload_link_detail",
    ),
    path(
        "shares/uploads/<uuid:link_id>/qr.svg",
        owner_views.UploadLinkQrView.as_view(),
        name="upload_link_qr",
    ),
    path(
        "shares/uploads/<uuid:link_id>/created",
        owner_views.UploadLinkCreatedView.as_view(),
        name="upload_link_created",
    ),
    path(
        "shares/uploads/<uuid:link_id>/revoke",
        owner_views.UploadLinkRevokeView.as_view(),
        name="upload_link_revoke",
    ),
    path(
        "shares/uploads/<uuid:link_id>/in-progress/<uuid:reservation_id>/cancel",
        owner_views.upload_link_upload_cancel,
        name="upload_link_upload_cancel",
    ),
    path("r/<sharetoken:token>/upload", upload_views.upload_receive, name="upload_link_upload"),
    path("r/<sharetoken:token>/tus/", tus_views.tus_collection, name="upload_link_tus"),
    path(
        "r/<sharetoken:token>/tus/<str:upload_id>",
        tus_views.tus_upload,
        name="upload_link_tus_upload",
    ),
]
