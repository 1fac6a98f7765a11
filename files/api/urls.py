"""Exact paths of the files API: every one ends with `/` (the spellings without it, such as
the action paths' older `/files/<id>/content`, are served by locker.slashless)."""

from django.urls import path

from files.api import tus, views

folder_list = views.FolderViewSet.as_view({"get": "list", "post": "create"})
folder_detail = views.FolderViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)
folder_download = views.FolderViewSet.as_view({"get": "download"})
file_list = views.FileViewSet.as_view({"get": "list", "post": "create"})
file_detail = views.FileViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)
file_content = views.FileViewSet.as_view({"get": "content"})
file_thumbnail = views.FileViewSet.as_view({"get": "thumbnail"})
trash = views.TrashViewSet.as_view({"get": "list", "delete": "empty"})
trash_restore = views.TrashViewSet.as_view({"post": "restore"})
trash_item = views.TrashViewSet.as_view({"delete": "destroy"})
uploads = views.UploadInProgressViewSet.as_view({"get": "list"})
upload_detail = views.UploadInProgressViewSet.as_view({"delete": "destroy"})

urlpatterns = [
    path("folders/", folder_list, name="api-folder-list"),
    path("folders/<uuid:id>/", folder_detail, name="api-folder-detail"),
    path("folders/<uuid:id>/download/", folder_download, name="api-folder-download"),
    path("files/", file_list, name="api-file-list"),
    path("files/batch/", views.BatchView.as_view(), name="api-file-batch"),
    path("files/<uuid:id>/", file_detail, name="api-file-detail"),
    path("files/<uuid:id>/content/", file_content, name="api-file-content"),
    path("files/<uuid:id>/thumbnail/", file_thumbnail, name="api-file-thumbnail"),
    path("tus/", tus.TusCollectionView.as_view(), name="api-tus"),
    path("tus/<str:upload_id>", tus.TusUploadView.as_view(), name="api-tus-upload"),
    path("trash/", trash, name="api-trash"),
    path("trash/<uuid:id>/restore/", trash_restore, name="api-trash-restore"),
    path("trash/<uuid:id>/", trash_item, name="api-trash-item"),
    path("uploads/", uploads, name="api-upload-list"),
    path("uploads/<uuid:id>/", upload_detail, name="api-upload-detail"),
]
